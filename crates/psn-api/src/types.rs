//! Request and response bodies. Identifiers are typed, so a malformed one is refused while the
//! body is parsed, with the identifier's own error message.

use psn_core::access::{Grant, Grantee};
use psn_core::config::MemberStatus;
use psn_core::names::{
    GatewayCode, GatewayId, MemberClass, MemberId, ServiceId, SubsystemCode, SubsystemId,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A member to register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    /// `{network}/{class}/{code}`; the code must match its class's scheme.
    pub id: MemberId,
    /// Official name.
    pub name: String,
    /// Sector facet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// Region facet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// A certificate issued to a gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateView {
    /// Serial, lowercase hex.
    pub serial: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// When it was revoked, if it was.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// A gateway as the registry holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayView {
    /// `{member}@{code}`.
    pub id: GatewayId,
    /// Peer-facing `host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// `active` or `revoked`.
    pub status: String,
    /// Certificates issued to it, newest first.
    #[serde(default)]
    pub certificates: Vec<CertificateView>,
}

/// A member as the registry holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    /// `{network}/{class}/{code}`.
    pub id: MemberId,
    /// Official name.
    pub name: String,
    /// Membership status.
    pub status: MemberStatus,
    /// Why the status was last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// Sector facet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// Region facet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Registration time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Subsystems (only in single-member responses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subsystems: Vec<SubsystemId>,
    /// Gateways (only in single-member responses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<GatewayView>,
}

/// One page of members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberList {
    /// The page.
    pub items: Vec<MemberView>,
    /// Matching members in all pages.
    pub total: u64,
    /// Page size used.
    pub limit: u64,
    /// Offset used.
    pub offset: u64,
}

/// Filters for listing members.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberQuery {
    /// Only this class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Only this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<MemberStatus>,
    /// Only this sector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// Name or code contains this text (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Page size (default 100, at most 10,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Offset into the ordered list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// A bulk registration; members that already exist are left as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// Members to register.
    pub members: Vec<NewMember>,
}

/// A member the import refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRejection {
    /// The identifier as given.
    pub id: String,
    /// Why it was refused.
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Newly registered.
    pub created: Vec<MemberId>,
    /// Already registered; unchanged.
    pub existing: Vec<MemberId>,
    /// Refused, with reasons.
    pub rejected: Vec<ImportRejection>,
    /// The configuration version that includes the new members.
    pub config_version: u64,
}

/// A status change with its reason, kept in the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A member after a change, with the configuration version that reflects it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberChanged {
    /// The member now.
    pub member: MemberView,
    /// First configuration version reflecting the change.
    pub config_version: u64,
}

/// A subsystem to add to a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSubsystem {
    /// Lowercase code.
    pub code: SubsystemCode,
}

/// A subsystem after it was added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubsystemAdded {
    /// Its full identifier.
    pub id: SubsystemId,
    /// First configuration version listing it.
    pub config_version: u64,
}

/// A request for a one-time enrolment token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Member whose gateway will enrol.
    pub member: MemberId,
    /// Code the gateway enrols as.
    pub gateway: GatewayCode,
    /// Lifetime in seconds (default 24 h, at most 30 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
}

/// A token, shown once; the authority keeps only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenIssued {
    /// The token text to hand to the member.
    pub token: String,
    /// The gateway it enrols.
    pub gateway: GatewayId,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// A gateway's revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayRevoked {
    /// The gateway.
    pub gateway: GatewayId,
    /// Serials added to the configuration's revocation list.
    pub revoked_serials: Vec<String>,
    /// First configuration version without it.
    pub config_version: u64,
}

/// One entry of the administrative audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminEvent {
    /// Position in the trail.
    pub seq: u64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who: `operator:{name}`, `gateway:{id}` or `system`.
    pub actor: String,
    /// What, e.g. `member.suspend`.
    pub action: String,
    /// On what.
    pub target: String,
    /// Details of the change.
    pub detail: serde_json::Value,
}

/// A page of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminEventList {
    /// Events in order.
    pub items: Vec<AdminEvent>,
}

/// Member classes of the network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassList {
    /// Classes ordered by code.
    pub items: Vec<MemberClass>,
}

/// A gateway's enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    /// The enrolment token text.
    pub token: String,
    /// PEM signing request naming the gateway.
    pub csr: String,
    /// Peer-facing `host:port`, if already known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// What an enrolled gateway receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolResponse {
    /// The gateway's identity.
    pub gateway: GatewayId,
    /// PEM: the gateway certificate followed by the network CA.
    pub certificate_chain: String,
    /// The current signed configuration.
    pub config: String,
}

/// A certificate renewal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    /// PEM signing request naming the same gateway (a fresh key is recommended).
    pub csr: String,
}

/// A renewed certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewResponse {
    /// PEM: the gateway certificate followed by the network CA.
    pub certificate_chain: String,
}

/// A gateway telling the authority where peers reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressUpdate {
    /// `host:port`.
    pub address: String,
}

/// Health of the authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// Network id.
    pub network: String,
    /// Latest published configuration version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_version: Option<u64>,
}

/// A service's catalogue listing, published by its provider's gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceListing {
    /// `{subsystem}/{service}`; the subsystem must belong to the publishing member.
    pub id: ServiceId,
    /// Short title.
    pub title: String,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// Process identifiers, e.g. `lgsl:4`.
    #[serde(default)]
    pub processes: Vec<String>,
}

/// Every service level declaration in the network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaList {
    /// By service id.
    pub items: Vec<psn_core::sla::SlaDeclaration>,
}

/// A service to withdraw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceRef {
    /// The service.
    pub id: ServiceId,
}

/// A grant to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewGrant {
    /// One of the calling member's services.
    pub service: ServiceId,
    /// Subsystem, member or class that may call it.
    pub grantee: Grantee,
    /// Only this method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Only this path pattern (exact, or prefix ending in `*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// A grant to withdraw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRef {
    /// Grant id.
    pub id: String,
}

/// The grants on a member's services, as delivered to its gateways only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantList {
    /// Grants.
    pub items: Vec<Grant>,
    /// Configuration version at the time of reading.
    pub config_version: u64,
}

/// Validates a peer-facing address: `host:port`, host a DNS name or IP literal, port non-zero.
pub fn validate_address(address: &str) -> Result<(), String> {
    if address.len() > 261 {
        return Err("address is longer than host:port can be".into());
    }
    if let Ok(addr) = address.parse::<std::net::SocketAddr>() {
        return if addr.port() == 0 {
            Err("port must not be 0".into())
        } else {
            Ok(())
        };
    }
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| "address must be host:port".to_owned())?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 => {}
        _ => return Err(format!("port {port:?} must be a number from 1 to 65535")),
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(format!("host {host:?} is not a DNS name or IP address"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_validated() {
        for ok in [
            "127.0.0.1:8443",
            "[::1]:443",
            "gw1.kent.gov.uk:8443",
            "localhost:1",
        ] {
            assert_eq!(validate_address(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "127.0.0.1",
            "127.0.0.1:0",
            "host:70000",
            "ho st:80",
            "-host:80",
            "a..b:80",
            "evil/path:80",
            ":80",
            &format!("{}:80", "a".repeat(300)),
        ] {
            assert!(validate_address(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn unknown_fields_and_bad_identifiers_are_refused() {
        let extra = r#"{"id":"GB/LA/E10000016","name":"Kent","admin":true}"#;
        assert!(serde_json::from_str::<NewMember>(extra).is_err());
        let bad = r#"{"id":"GB/LA/../x","name":"Kent"}"#;
        assert!(serde_json::from_str::<NewMember>(bad).is_err());
        let good = r#"{"id":"GB/LA/E10000016","name":"Kent County Council"}"#;
        assert!(serde_json::from_str::<NewMember>(good).is_ok());
    }
}
