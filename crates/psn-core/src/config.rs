//! The global configuration: the one document through which the authority tells every gateway
//! who is in the network and whom to trust (DESIGN.md "Trust"). The authority signs a small head
//! (a JWS) whose root covers every entry of the document through the tree of
//! [`crate::config_tree`]; the document travels as the head beside the entries
//! ([`ConfigDocument`]). The signature and certificate checks live in `psn-pki`.

use crate::names::{GatewayId, MemberClass, MemberId, NetworkId, ServiceId, SubsystemId};
use crate::shared_list::SharedList;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use time::OffsetDateTime;

/// The `format` of documents this version of psn writes; readers refuse other major formats.
pub const CONFIG_FORMAT: &str = "psn-config/2";

/// The JWS `typ` of a signed configuration head.
pub const CONFIG_JWS_TYPE: &str = "psn-config-head+json";

/// Media type of a [`ConfigDocument`] on the wire.
pub const CONFIG_MEDIA_TYPE: &str = "application/psn-config+json";

/// What the authority signs for one version: the version's facts and the root of the tree over
/// its entries ([`crate::config_tree`]). Small whatever the network's size, so checking its
/// signature costs the same for one member as for twenty-five thousand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigHead {
    /// [`CONFIG_FORMAT`].
    pub format: String,
    /// The network the version governs.
    pub network: NetworkId,
    /// The version number.
    pub version: u64,
    /// When the authority built it.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// When gateways stop trusting it.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// [`crate::config_tree::TREE_ALGORITHM`].
    pub tree: String,
    /// The tree's root (base64url).
    pub root: String,
    /// How many entries the tree covers.
    pub entries: u64,
}

impl ConfigHead {
    /// Whether the version is within its validity window at `now` (as
    /// [`GlobalConfig::is_valid_at`]).
    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        crate::clock::in_force(self.issued_at, self.expires_at, now).is_ok()
    }

    /// Whether `config` carries this head's facts (its entries are checked by the tree).
    pub fn describes(&self, config: &GlobalConfig) -> bool {
        self.format == config.format
            && self.network == config.network
            && self.version == config.version
            && self.issued_at == config.issued_at
            && self.expires_at == config.expires_at
    }
}

/// A configuration version as it travels and is stored: the signed head (a compact JWS) beside
/// the document whose entries its root covers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigDocument {
    /// The compact JWS over the [`ConfigHead`].
    pub head: String,
    /// The document.
    pub config: GlobalConfig,
}

impl ConfigDocument {
    /// The document's JSON, written from borrowed parts: a national-scale configuration is not
    /// copied to be sent or stored.
    pub fn write(head: &str, config: &GlobalConfig) -> Result<String, serde_json::Error> {
        #[derive(Serialize)]
        struct Borrowed<'a> {
            head: &'a str,
            config: &'a GlobalConfig,
        }
        serde_json::to_string(&Borrowed { head, config })
    }
}

/// Membership status, as recorded by the authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberStatus {
    /// May consume and provide services.
    Active,
    /// Temporarily removed from trust (compliance lapse, operator action); may be reinstated.
    Suspended,
    /// Has left the network for good.
    Left,
}

impl MemberStatus {
    /// The lowercase word used in storage and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Left => "left",
        }
    }
}

impl std::str::FromStr for MemberStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            "left" => Ok(Self::Left),
            other => Err(format!("unknown member status {other:?}")),
        }
    }
}

/// Where and how to reach the authority, and the root of the network's trust.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorityInfo {
    /// Base URLs of the authority's API, in order of preference.
    pub endpoints: Vec<String>,
    /// The network CA certificate (PEM) that gateway and signer certificates chain to.
    pub ca_certificate: String,
}

/// A member as every gateway sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberEntry {
    /// `{network}/{class}/{code}`.
    pub id: MemberId,
    /// Official name.
    pub name: String,
    /// Only active members are trusted; others are listed so that refusals can say why.
    pub status: MemberStatus,
    /// Sector facet, e.g. `local-government`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// Region facet, e.g. `South East`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// A gateway trusted by the network. Gateways of members that are not active, and revoked
/// gateways, are absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayEntry {
    /// `{member}@{code}`; its certificate's URI SAN is `GatewayId::to_uri`.
    pub id: GatewayId,
    /// `host:port` of its external (peer-facing) listener, once it has told the authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// A catalogue summary of a service, enough for a gateway to route and a person to recognise it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEntry {
    /// `{subsystem}/{service}`.
    pub id: ServiceId,
    /// Short human title.
    pub title: String,
    /// Process identifiers, e.g. `lgsl:4`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<String>,
}

/// Another network whose authority this one trusts (DESIGN.md "Federation"). The members,
/// subsystems, gateways and services it exports to this network are listed in this document's
/// own lists, under that network's names; this entry says which CA vouches for those names and
/// until when they are to be trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederatedNetwork {
    /// The other network's id.
    pub network: NetworkId,
    /// Its CA certificate (PEM): the only root its gateways' certificates are checked against,
    /// and only for names in that network.
    pub ca_certificate: String,
    /// The version of its configuration the exported entries come from.
    pub version: u64,
    /// When that configuration expires: after this, exchanges with the network fail closed
    /// (`partner-config-expired`) while this network's own traffic continues.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Serial numbers its authority revoked; they apply to its gateways' certificates only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked_serials: Vec<String>,
    /// The partner whose view relayed this network's names, when it is not a partner of this
    /// network itself (region → national → region): that partner vouched for the CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<NetworkId>,
}

impl FederatedNetwork {
    /// Whether the partner's exported entries may still be trusted at `now`.
    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        now < self.expires_at
    }
}

/// The document whose entries a signed head covers. Unknown fields are refused, here and in
/// every entry: the entries are checked through what they say, so nothing may be said that the
/// check cannot see.
///
/// The keyed lists hold their entries behind shared pointers: a version made from the last one
/// by a delta shares every unchanged entry with it, so a gateway whose data plane still serves
/// the last version copies pointers, not 175,000 entries, when it takes a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    /// [`CONFIG_FORMAT`].
    pub format: String,
    /// The network this document governs.
    pub network: NetworkId,
    /// Strictly increasing; a gateway never accepts a version lower than one it holds.
    pub version: u64,
    /// When the authority built it.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// After this instant gateways stop trusting it (graceful staleness ends here).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The authority's endpoints and CA.
    pub authority: AuthorityInfo,
    /// Member classes and their code schemes.
    pub classes: Vec<MemberClass>,
    /// Every member with its status.
    pub members: SharedList<MemberEntry>,
    /// Subsystems of active members.
    pub subsystems: SharedList<SubsystemId>,
    /// Trusted gateways.
    pub gateways: SharedList<GatewayEntry>,
    /// Services of active members.
    pub services: SharedList<ServiceEntry>,
    /// Trust anchors of federated networks.
    #[serde(default)]
    pub federation: Vec<FederatedNetwork>,
    /// Serial numbers (lowercase hex) of certificates that must no longer be accepted even though
    /// they have not expired.
    #[serde(default)]
    pub revoked_serials: Vec<String>,
}

impl GlobalConfig {
    /// Whether the document is still within its validity window at `now`.
    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        crate::clock::in_force(self.issued_at, self.expires_at, now).is_ok()
    }

    /// An index for the lookups gateways make on every connection.
    pub fn index(&self) -> ConfigIndex<'_> {
        ConfigIndex {
            members: self.members.iter().map(|m| (&m.id, m.as_ref())).collect(),
            gateways: self.gateways.iter().map(|g| (&g.id, g.as_ref())).collect(),
            revoked: self.revoked_serials.iter().map(String::as_str).collect(),
        }
    }
}

/// Hash lookups over a [`GlobalConfig`]; built once per accepted version.
#[derive(Debug)]
pub struct ConfigIndex<'a> {
    members: HashMap<&'a MemberId, &'a MemberEntry>,
    gateways: HashMap<&'a GatewayId, &'a GatewayEntry>,
    revoked: HashSet<&'a str>,
}

impl ConfigIndex<'_> {
    /// The member's entry, whatever its status.
    pub fn member(&self, id: &MemberId) -> Option<&MemberEntry> {
        self.members.get(id).copied()
    }

    /// The gateway's entry if it is trusted.
    pub fn gateway(&self, id: &GatewayId) -> Option<&GatewayEntry> {
        self.gateways.get(id).copied()
    }

    /// Whether a peer presenting this gateway identity and certificate serial is to be trusted:
    /// the gateway is listed, its member is active and the serial is not revoked.
    pub fn trusts(&self, id: &GatewayId, serial_hex: &str) -> bool {
        self.gateway(id).is_some()
            && self
                .member(id.member())
                .is_some_and(|m| m.status == MemberStatus::Active)
            && !self.revoked.contains(serial_hex)
    }
}

/// How a gateway keeps a configuration version in its data directory's `config/`: whole
/// (`v{N}.json`, the document) or as the delta that produced it (`v{N}.delta.json`). The gateway
/// writes these names and `psn audit verify` reads them, so both go through here. A version kept
/// both ways is read whole ([`StoredForm::Document`] orders after [`StoredForm::Delta`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StoredForm {
    /// The delta from the version before, with this version's signed head.
    Delta,
    /// The whole document.
    Document,
}

impl StoredForm {
    /// The file name of `version` kept this way.
    pub fn file_name(self, version: u64) -> String {
        match self {
            Self::Delta => format!("v{version}.delta.json"),
            Self::Document => format!("v{version}.json"),
        }
    }

    /// The version a file name keeps and how, when it is exactly a name [`Self::file_name`]
    /// gives: `v012.json` or `v+12.json` are not, since the version's own name differs.
    pub fn of_file_name(name: &str) -> Option<(u64, Self)> {
        let name = name.strip_prefix('v')?;
        let (number, form) = match name.strip_suffix(".delta.json") {
            Some(number) => (number, Self::Delta),
            None => (name.strip_suffix(".json")?, Self::Document),
        };
        let canonical = number.bytes().all(|b| b.is_ascii_digit())
            && (number == "0" || !number.starts_with('0'));
        let version = number.parse().ok().filter(|_| canonical)?;
        Some((version, form))
    }
}

#[cfg(test)]
mod tests {
    use super::StoredForm;

    #[test]
    fn stored_file_names_read_back_and_others_are_not_taken_for_versions() {
        for version in [0, 1, 12, u64::MAX] {
            for form in [StoredForm::Delta, StoredForm::Document] {
                assert_eq!(
                    StoredForm::of_file_name(&form.file_name(version)),
                    Some((version, form))
                );
            }
        }
        for name in [
            "v012.json",
            "v+12.json",
            "v-1.json",
            "v.json",
            "v12.delta.json.tmp",
            "v12.JSON",
            "12.json",
            "v18446744073709551616.json",
            "v1 .json",
            "v١٢.json",
            "grants.json",
        ] {
            assert_eq!(StoredForm::of_file_name(name), None, "{name}");
        }
    }
}
