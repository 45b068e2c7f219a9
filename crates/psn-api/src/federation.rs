//! Federation (docs/federation.md): this network's anchor, the partners it trusts, what it
//! exports to each, and how fresh each partner's configuration is.

use psn_core::names::{ClassCode, MemberId, NetworkId, ServiceId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The most entries each list of an export policy may hold.
pub const MAX_POLICY_ENTRIES: usize = 10_000;

/// What this network lets one partner see. Nothing by default.
///
/// A member is exported when its class or its id is listed, or when one of its services is:
/// the partner then knows it, its subsystems and its gateways, so its subsystems may call the
/// partner's services and the partner's gateways may check its certificates. Services are
/// exported only when listed by id, so exporting a member never publishes its services by
/// accident.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportPolicy {
    /// Member classes exported whole, e.g. `LA`.
    #[serde(default)]
    pub classes: Vec<ClassCode>,
    /// Members exported.
    #[serde(default)]
    pub members: Vec<MemberId>,
    /// Services exported (their members with them).
    #[serde(default)]
    pub services: Vec<ServiceId>,
}

impl ExportPolicy {
    /// Whether the policy is within bounds and names only this network's members and services.
    pub fn check(&self, own: &NetworkId) -> Result<(), String> {
        for (what, len) in [
            ("classes", self.classes.len()),
            ("members", self.members.len()),
            ("services", self.services.len()),
        ] {
            if len > MAX_POLICY_ENTRIES {
                return Err(format!(
                    "the export policy lists {len} {what}; at most {MAX_POLICY_ENTRIES}"
                ));
            }
        }
        let foreign = self
            .members
            .iter()
            .find(|m| m.network() != own)
            .map(ToString::to_string)
            .or_else(|| {
                self.services
                    .iter()
                    .find(|s| s.member().network() != own)
                    .map(ToString::to_string)
            });
        match foreign {
            Some(name) => Err(format!(
                "{name} is not of network {own}; a network exports only its own members and services"
            )),
            None => Ok(()),
        }
    }

    /// Whether the policy exports `member` (by class, by id, or through one of its services).
    pub fn exports_member(&self, member: &MemberId) -> bool {
        self.classes.contains(member.class())
            || self.members.contains(member)
            || self.services.iter().any(|s| s.member() == member)
    }

    /// Whether the policy exports `service`.
    pub fn exports_service(&self, service: &ServiceId) -> bool {
        self.services.contains(service)
    }
}

/// This network's signed anchor (`GET /v1/federation/anchor`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchorIssued {
    /// This network.
    pub network: NetworkId,
    /// The signed anchor (compact JWS), for the partner's operator.
    pub anchor: String,
    /// base64url SHA-256 of the CA's public key, to read out to the partner's operator.
    pub fingerprint: String,
    /// Until when the partner may import it.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Importing a partner's anchor (`POST /v1/federation/partners`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerImport {
    /// The partner's signed anchor.
    pub anchor: String,
    /// The fingerprint the operator confirmed with the partner's operator out of band; the
    /// import is refused unless it is the anchor's.
    pub fingerprint: String,
    /// What this network exports to the partner (nothing if absent).
    #[serde(default)]
    pub policy: ExportPolicy,
}

/// How current a partner's configuration is, as this authority holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FreshnessState {
    /// Imported, but no view of the partner has been received yet.
    Pending,
    /// Received within the allowed number of polling intervals.
    Active,
    /// Not received for longer: the last good view is still used until it expires.
    Degraded,
    /// The last good view has expired: exchanges with the partner fail closed.
    Expired,
}

impl FreshnessState {
    /// The lowercase word used on the wire and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Degraded => "degraded",
            Self::Expired => "expired",
        }
    }
}

/// A partner's freshness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freshness {
    /// The state.
    pub state: FreshnessState,
    /// The partner's configuration version the held view comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// When a view or a "nothing newer" answer last arrived.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_success_at: Option<OffsetDateTime>,
    /// Seconds since then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<u64>,
    /// When the held view expires.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
    /// Why the last attempt failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the last attempt failed.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_error_at: Option<OffsetDateTime>,
}

/// A federated partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerView {
    /// The partner network.
    pub network: NetworkId,
    /// Its CA's fingerprint, as confirmed at import.
    pub fingerprint: String,
    /// Its authority's endpoints.
    pub endpoints: Vec<String>,
    /// When it was imported.
    #[serde(with = "time::serde::rfc3339")]
    pub imported_at: OffsetDateTime,
    /// Who imported it.
    pub imported_by: String,
    /// What this network exports to it.
    pub policy: ExportPolicy,
    /// How many of its members, services and gateways this network currently trusts.
    pub received: Received,
    /// How current its configuration is.
    pub freshness: Freshness,
}

/// Counts of what a partner exports to this network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    /// Members.
    pub members: u64,
    /// Gateways.
    pub gateways: u64,
    /// Services.
    pub services: u64,
}

/// Every partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerList {
    /// Partners in network order.
    pub items: Vec<PartnerView>,
}
