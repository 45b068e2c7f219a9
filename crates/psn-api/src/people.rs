//! People who sign in to the web UI: who they act for (a member, or the network operator) and
//! their role. The same types serve the `/v1/people` API, the CLI and the authority's store.
//!
//! A person is identified by a generated id and signs in either with a username and password or
//! through one OpenID Connect provider of the authority (docs/ui.md), whose claims set their
//! member and role; what a role allows is the same either way.

use psn_core::names::MemberId;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;

/// Longest username (an e-mail address at most 254 characters, RFC 5321).
pub const MAX_USERNAME: usize = 254;

/// What a person may do (docs/ui.md has the full matrix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PersonRole {
    /// Runs the network: sees and manages everything.
    Operator,
    /// Acts for one member: its services, grants, access requests, compliance submissions.
    MemberAdmin,
    /// Reads what its member may see.
    MemberViewer,
    /// Reviews compliance across the network; reads, changes nothing in the registry.
    Assessor,
}

impl PersonRole {
    /// Every role, in the order pages list them.
    pub const ALL: [PersonRole; 4] = [
        PersonRole::Operator,
        PersonRole::MemberAdmin,
        PersonRole::MemberViewer,
        PersonRole::Assessor,
    ];

    /// The role's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            PersonRole::Operator => "operator",
            PersonRole::MemberAdmin => "member-admin",
            PersonRole::MemberViewer => "member-viewer",
            PersonRole::Assessor => "assessor",
        }
    }

    /// Checks the pairing of role and member: member roles need one, the operator must not have
    /// one, and an assessor may have one or not: a peer assessor from another council belongs
    /// to that council (and so never reviews it), a network assessor to the operator.
    pub fn check_member(self, member: Option<&MemberId>) -> Result<(), String> {
        match (self, member) {
            (PersonRole::MemberAdmin | PersonRole::MemberViewer, None) => {
                Err(format!("a {} must belong to a member", self.as_str()))
            }
            (PersonRole::Operator, Some(m)) => Err(format!(
                "an operator belongs to the network operator, not to member {m}"
            )),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for PersonRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PersonRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PersonRole::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown role {s:?}; one of operator, member-admin, member-viewer, assessor"
                )
            })
    }
}

/// Checks a username: 1 to 254 characters of lower-case letters, digits and `.@_+-`, so that it
/// is unambiguous in a URL path, a log line and an e-mail address alike.
pub fn check_username(username: &str) -> Result<(), String> {
    if username.is_empty() || username.len() > MAX_USERNAME {
        return Err(format!("a username has 1 to {MAX_USERNAME} characters"));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || ".@_+-".contains(c);
    if !username.chars().all(allowed) {
        return Err(
            "a username has only lower-case letters, digits and . @ _ + - (an e-mail address works)"
                .into(),
        );
    }
    Ok(())
}

/// A person as the registry holds them (never with the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonView {
    /// Generated id, stable across username changes.
    pub id: String,
    /// What they sign in with.
    pub username: String,
    /// The member they act for; absent for the network operator's people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberId>,
    /// Role.
    pub role: PersonRole,
    /// The OpenID Connect provider (its `name` in `authority.toml`) they sign in with; absent
    /// for people who sign in with a password. The two never mix: such people have no password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_provider: Option<String>,
    /// Disabled people cannot sign in and their sessions have ended.
    pub disabled: bool,
    /// Until when sign-in is locked after repeated wrong passwords.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub locked_until: Option<OffsetDateTime>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A person to create; the authority generates their first password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPerson {
    /// Username (see [`check_username`]).
    pub username: String,
    /// The member they act for (member roles only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberId>,
    /// Role.
    pub role: PersonRole,
}

/// A new role, and the member it is held for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    /// Role.
    pub role: PersonRole,
    /// The member (member roles only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberId>,
}

/// A person with a freshly generated one-time password, shown once and stored only as a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonPassword {
    /// The person.
    pub person: PersonView,
    /// The password to hand over.
    pub password: String,
}

/// Every person, by username.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonList {
    /// People.
    pub items: Vec<PersonView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assessor_may_belong_to_a_member_the_operator_may_not() {
        let kent: MemberId = "GB/LA/E10000016".parse().expect("member");
        assert!(PersonRole::Assessor.check_member(Some(&kent)).is_ok());
        assert!(PersonRole::Assessor.check_member(None).is_ok());
        assert!(PersonRole::Operator.check_member(None).is_ok());
        assert!(PersonRole::Operator.check_member(Some(&kent)).is_err());
        for role in [PersonRole::MemberAdmin, PersonRole::MemberViewer] {
            assert!(role.check_member(Some(&kent)).is_ok());
            assert!(role.check_member(None).is_err());
        }
    }
}
