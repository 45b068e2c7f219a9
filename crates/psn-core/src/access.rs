//! Access grants (DESIGN.md "Data plane"): deny by default; a grant names a service (optionally
//! one method and path pattern of it) and who may call it: one subsystem, a whole member, or a
//! member class. Pure logic, enforced by the provider gateway.

use crate::names::{ClassCode, MemberId, NameError, NetworkId, ServiceId, SubsystemId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Who a grant is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Grantee {
    /// One consumer subsystem, `GB/LA/E10000016/revenues`.
    Subsystem(SubsystemId),
    /// Every subsystem of a member, `GB/LA/E10000016`.
    Member(MemberId),
    /// Every subsystem of every member of a class, `GB/LA`.
    Class(NetworkId, ClassCode),
}

impl Grantee {
    /// Whether a calling subsystem falls under this grantee.
    pub fn covers(&self, client: &SubsystemId) -> bool {
        match self {
            Grantee::Subsystem(s) => s == client,
            Grantee::Member(m) => client.member() == m,
            Grantee::Class(network, class) => {
                client.member().network() == network && client.member().class() == class
            }
        }
    }
}

impl FromStr for Grantee {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split('/').count() {
            2 => {
                let (network, class) = s.split_once('/').unwrap_or_default();
                Ok(Grantee::Class(network.parse()?, class.parse()?))
            }
            3 => Ok(Grantee::Member(s.parse()?)),
            _ => Ok(Grantee::Subsystem(s.parse()?)),
        }
    }
}

impl fmt::Display for Grantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grantee::Subsystem(s) => s.fmt(f),
            Grantee::Member(m) => m.fmt(f),
            Grantee::Class(n, c) => write!(f, "{n}/{c}"),
        }
    }
}

impl Serialize for Grantee {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Grantee {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// One grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// Stable id assigned by the authority.
    pub id: String,
    /// The service.
    pub service: ServiceId,
    /// Who may call it.
    pub grantee: Grantee,
    /// Only this method, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Only paths matching this pattern (exact, or a prefix ending in `*`), if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl Grant {
    /// Whether this grant allows the call. `path` is the path below the service, without query.
    pub fn allows(
        &self,
        client: &SubsystemId,
        service: &ServiceId,
        method: &str,
        path: &str,
    ) -> bool {
        &self.service == service
            && self.grantee.covers(client)
            && self.method.as_deref().is_none_or(|m| m == method)
            && self
                .path
                .as_deref()
                .is_none_or(|p| match p.strip_suffix('*') {
                    Some(prefix) => path.starts_with(prefix),
                    None => path == p,
                })
    }
}

/// Checks a method restriction: an HTTP token in capitals, e.g. `GET`.
pub fn validate_method(method: &str) -> Result<(), String> {
    if method.is_empty() || method.len() > 16 || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "method {method:?} must be 1 to 16 capital letters, e.g. GET"
        ));
    }
    Ok(())
}

/// Checks a path pattern: starts with `/`, printable ASCII without `..`, `*` only at the end.
pub fn validate_path_pattern(pattern: &str) -> Result<(), String> {
    let body = pattern.strip_suffix('*').unwrap_or(pattern);
    if !pattern.starts_with('/')
        || pattern.len() > 512
        || body.contains('*')
        || body.contains("..")
        || body.contains('?')
        || !body.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(format!(
            "path pattern {:?} must start with '/', be printable ASCII without '..' or '?', and use '*' only at the end",
            pattern.chars().take(80).collect::<String>()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> SubsystemId {
        "GB/LA/E10000016/revenues".parse().expect("id")
    }
    fn service() -> ServiceId {
        "GB/GOV/D6/eligibility/fsm-check".parse().expect("id")
    }
    fn grant(grantee: &str, method: Option<&str>, path: Option<&str>) -> Grant {
        Grant {
            id: "g".into(),
            service: service(),
            grantee: grantee.parse().expect("grantee"),
            method: method.map(Into::into),
            path: path.map(Into::into),
        }
    }

    #[test]
    fn grantees_cover_subsystem_member_and_class() {
        for g in ["GB/LA/E10000016/revenues", "GB/LA/E10000016", "GB/LA"] {
            assert!(
                grant(g, None, None).allows(&client(), &service(), "GET", "/check"),
                "{g}"
            );
        }
        for g in [
            "GB/LA/E10000016/payroll",
            "GB/LA/E10000019",
            "GB/NHS",
            "GB-KENT/LA",
        ] {
            assert!(
                !grant(g, None, None).allows(&client(), &service(), "GET", "/check"),
                "{g}"
            );
        }
        let other: ServiceId = "GB/GOV/D6/eligibility/fsm-check.v2".parse().expect("id");
        assert!(!grant("GB/LA", None, None).allows(&client(), &other, "GET", "/check"));
    }

    #[test]
    fn method_and_path_restrict() {
        let g = grant("GB/LA", Some("GET"), Some("/check/*"));
        assert!(g.allows(&client(), &service(), "GET", "/check/QQ123456C"));
        assert!(!g.allows(&client(), &service(), "POST", "/check/QQ123456C"));
        assert!(!g.allows(&client(), &service(), "GET", "/admin"));
        let exact = grant("GB/LA", None, Some("/check"));
        assert!(exact.allows(&client(), &service(), "GET", "/check"));
        assert!(!exact.allows(&client(), &service(), "GET", "/check/x"));
    }

    #[test]
    fn grantees_round_trip_and_bad_ones_are_refused() {
        for g in ["GB/LA/E10000016/revenues", "GB/LA/E10000016", "GB/LA"] {
            assert_eq!(g.parse::<Grantee>().expect("parse").to_string(), g);
        }
        for bad in ["", "GB", "GB/la", "GB/LA/E1/x/y/z", "GB//E10000016"] {
            assert!(bad.parse::<Grantee>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn patterns_and_methods_are_validated() {
        for ok in ["/", "/check", "/check/*"] {
            assert!(validate_path_pattern(ok).is_ok(), "{ok}");
        }
        for bad in [
            "check",
            "/a/../b",
            "/a*b",
            "/a?x=1",
            "/a b",
            &format!("/{}", "a".repeat(600)),
        ] {
            assert!(validate_path_pattern(bad).is_err(), "{bad:?}");
        }
        assert!(validate_method("GET").is_ok());
        for bad in ["", "get", "G-T", "VERYLONGMETHODNAMEX"] {
            assert!(validate_method(bad).is_err(), "{bad:?}");
        }
    }
}
