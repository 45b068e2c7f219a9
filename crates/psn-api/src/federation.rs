//! Federation (docs/federation.md): this network's anchor, the partners it trusts, what it
//! exports to each, and how fresh each partner's configuration is.

use psn_core::aggregate::AggregateRow;
use psn_core::names::{ClassCode, GatewayId, MemberId, NetworkId, ServiceId};
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
///
/// Members and services of another partner may be listed by id too: they are relayed to this
/// partner when, and only while, their own network's view lets this network re-export them.
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
    /// Whether the partner may relay what this policy exports to its own partners (region →
    /// national → region). Off by default.
    #[serde(default)]
    pub reexport: bool,
}

impl ExportPolicy {
    /// Whether the policy is within bounds and names only this network's members and services,
    /// or those of another partner (`partners`) to relay to `audience`; never the audience's own.
    pub fn check(
        &self,
        own: &NetworkId,
        audience: &NetworkId,
        partners: &[NetworkId],
    ) -> Result<(), String> {
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
        let exportable = |network: &NetworkId| {
            network == own || (network != audience && partners.contains(network))
        };
        let foreign = self
            .members
            .iter()
            .find(|m| !exportable(m.network()))
            .map(ToString::to_string)
            .or_else(|| {
                self.services
                    .iter()
                    .find(|s| !exportable(s.member().network()))
                    .map(ToString::to_string)
            });
        match foreign {
            Some(name) => Err(format!(
                "{name} is neither of network {own} nor of another partner of it; a network exports its own members and services, and relays only another partner's"
            )),
            None => Ok(()),
        }
    }

    /// Whether the policy relays `member` of another network: by id or through one of its
    /// services, never by class (a class names this network's members only).
    pub fn relays_member(&self, member: &MemberId) -> bool {
        self.members.contains(member) || self.services.iter().any(|s| s.member() == member)
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

/// Replacing a partner's anchor with a newer one (`PUT /v1/federation/partners/{network}/anchor`):
/// its authority moved, or its signer or CA was renewed. The export policy, the last good view
/// and the freshness are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorRenewal {
    /// The partner's new signed anchor, issued after the one held.
    pub anchor: String,
    /// The fingerprint confirmed with the partner's operator out of band.
    pub fingerprint: String,
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
    /// Other networks whose names this network trusts on this partner's word (relayed by it,
    /// not partners of this network themselves).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relays: Vec<RelayedNetwork>,
}

/// A network a partner relays to this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayedNetwork {
    /// The relayed network.
    pub network: NetworkId,
    /// Its configuration version the relayed names come from.
    pub version: u64,
    /// When they stop being trusted (the earlier of its expiry and the relaying view's).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// How many of its names this network trusts.
    pub received: Received,
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

/// Most outbox entries one answer to `GET /v1/federation/aggregates` carries.
pub const MAX_FORWARDED_BATCHES: usize = 16;
/// The most an answer to `GET /v1/federation/aggregates` may weigh (16 entries of at most
/// 5,000 rows each fit well within it).
pub const MAX_FORWARDED_BYTES: usize = 64 * 1024 * 1024;

/// One gateway batch's rows that concern the asking partner: exchanges between this network's
/// gateway and the partner's services or subsystems, as this network filed them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardedBatch {
    /// Its place in this network's outbox for the partner; strictly increasing.
    pub seq: u64,
    /// The gateway of this network that reported the rows.
    pub gateway: GatewayId,
    /// The rows.
    pub rows: Vec<AggregateRow>,
}

/// The answer to a partner's pull of the aggregates that concern it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardedAggregates {
    /// Entries after the one asked from, oldest first, at most [`MAX_FORWARDED_BATCHES`].
    pub items: Vec<ForwardedBatch>,
}
