//! What every request reads: the configuration in force (indexed), the grants on this member's
//! services, and this gateway's identity. Replaced wholesale when the authority publishes, so a
//! request sees one consistent version.

use hashbrown::{DefaultHashBuilder, HashTable};
use psn_core::access::Grant;
use psn_core::config::{GatewayEntry, GlobalConfig, MemberEntry, MemberStatus, ServiceEntry};
use psn_core::names::{GatewayId, MemberId, NetworkId, ServiceId, SubsystemId};
use psn_core::shared_list::SharedList;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use time::OffsetDateTime;

/// Positions in one of the configuration's lists, found by the hash of an id. The index copies
/// nothing out of the document, which at national scale lists hundreds of thousands of ids, so
/// a new version is indexed in a few milliseconds and every lookup compares against the
/// document itself. The id of an entry is read by one function, for indexing and finding alike.
#[derive(Debug)]
struct Positions<T, K: ?Sized> {
    table: HashTable<usize>,
    id: fn(&T) -> &K,
}

impl<T, K: Hash + PartialEq + ?Sized> Positions<T, K> {
    /// Indexes the entries of `items` that `keep` selects, by `id`.
    fn of(
        items: &SharedList<T>,
        hasher: &DefaultHashBuilder,
        id: fn(&T) -> &K,
        keep: impl Fn(&T) -> bool,
    ) -> Self {
        let mut table = HashTable::with_capacity(items.len());
        for (position, item) in items.iter().enumerate().filter(|(_, item)| keep(item)) {
            table.insert_unique(hasher.hash_one(id(item)), position, |&p| {
                items.get(p).map_or(0, |item| hasher.hash_one(id(item)))
            });
        }
        Self { table, id }
    }

    /// The positions of the indexed entries of `items` (the list indexed) whose id is `wanted`.
    fn find<'a>(
        &'a self,
        hasher: &DefaultHashBuilder,
        items: &'a SharedList<T>,
        wanted: &'a K,
    ) -> impl Iterator<Item = usize> + 'a {
        self.table
            .iter_hash(hasher.hash_one(wanted))
            .copied()
            .filter(move |&p| items.get(p).is_some_and(|item| (self.id)(item) == wanted))
    }

    /// Whether an indexed entry of `items` has the id `wanted`.
    fn contains(&self, hasher: &DefaultHashBuilder, items: &SharedList<T>, wanted: &K) -> bool {
        self.find(hasher, items, wanted).next().is_some()
    }
}

/// Selects every entry of a list.
fn all<T>(_: &T) -> bool {
    true
}

/// One configuration version, indexed for the lookups made on every request.
#[derive(Debug)]
pub struct View {
    /// The document.
    pub config: Arc<GlobalConfig>,
    hasher: DefaultHashBuilder,
    active_members: Positions<MemberEntry, MemberId>,
    gateways: Positions<GatewayEntry, GatewayId>,
    gateways_by_member: Positions<GatewayEntry, MemberId>,
    services: Positions<ServiceEntry, ServiceId>,
    subsystems: Positions<SubsystemId, SubsystemId>,
    revoked: HashSet<String>,
    partners: HashMap<NetworkId, Partner>,
    /// Grants on this member's services.
    pub grants: Arc<Vec<Grant>>,
}

/// What a gateway needs of a federated network beyond the entries merged into the lists.
#[derive(Debug)]
struct Partner {
    version: u64,
    expires_at: OffsetDateTime,
    revoked: HashSet<String>,
}

impl View {
    /// Indexes a configuration with the grants delivered for it.
    pub fn new(config: Arc<GlobalConfig>, grants: Arc<Vec<Grant>>) -> Self {
        let hasher = DefaultHashBuilder::default();
        Self {
            active_members: Positions::of(
                &config.members,
                &hasher,
                |m| &m.id,
                |m| m.status == MemberStatus::Active,
            ),
            gateways: Positions::of(&config.gateways, &hasher, |g| &g.id, all),
            gateways_by_member: Positions::of(&config.gateways, &hasher, |g| g.id.member(), all),
            services: Positions::of(&config.services, &hasher, |s| &s.id, all),
            subsystems: Positions::of(&config.subsystems, &hasher, |s| s, all),
            revoked: config.revoked_serials.iter().cloned().collect(),
            partners: config
                .federation
                .iter()
                .map(|f| {
                    let partner = Partner {
                        version: f.version,
                        expires_at: f.expires_at,
                        revoked: f.revoked_serials.iter().cloned().collect(),
                    };
                    (f.network.clone(), partner)
                })
                .collect(),
            hasher,
            config,
            grants,
        }
    }

    /// Whether the configuration is past its validity window.
    pub fn expired(&self, now: OffsetDateTime) -> bool {
        !self.config.is_valid_at(now)
    }

    fn is_active(&self, member: &MemberId) -> bool {
        self.active_members
            .contains(&self.hasher, &self.config.members, member)
    }

    /// Whether a peer presenting this identity and certificate serial is trusted now: listed,
    /// its member active, and its serial revoked neither by this network nor, for a partner's
    /// gateway, by the partner. A partner's gateway needs the partner in the federation list.
    pub fn trusts(&self, gateway: &GatewayId, serial: &str) -> bool {
        let network = gateway.member().network();
        let partner_allows = network == &self.config.network
            || self
                .partners
                .get(network)
                .is_some_and(|p| !p.revoked.contains(serial));
        partner_allows
            && self
                .gateways
                .contains(&self.hasher, &self.config.gateways, gateway)
            && self.is_active(gateway.member())
            && !self.revoked.contains(serial)
    }

    /// Why exchanges with `network` must fail closed at `now`, if they must: it is a federated
    /// partner whose configuration, as this network last received it, has expired. This
    /// network's own names, and networks it does not federate with, are never refused here.
    pub fn partner_expired(&self, network: &NetworkId, now: OffsetDateTime) -> Option<String> {
        let partner = self.partners.get(network)?;
        (now >= partner.expires_at).then(|| {
            format!(
                "network {network}'s configuration version {} expired at {}; its authority has been unreachable too long",
                partner.version, partner.expires_at
            )
        })
    }

    /// The provider's gateways that have announced an address, in the configuration's order.
    pub fn gateways_of(&self, member: &MemberId) -> Vec<GatewayEntry> {
        let gateways = &self.config.gateways;
        let mut positions: Vec<usize> = self
            .gateways_by_member
            .find(&self.hasher, gateways, member)
            .collect();
        positions.sort_unstable();
        positions
            .into_iter()
            .filter_map(|p| gateways.get(p))
            .filter(|g| g.address.is_some())
            .map(|g| GatewayEntry::clone(g))
            .collect()
    }

    /// Whether the service is listed and its provider active.
    pub fn has_service(&self, service: &ServiceId) -> bool {
        self.services
            .contains(&self.hasher, &self.config.services, service)
            && self.is_active(service.member())
    }

    /// Whether the subsystem is registered to an active member.
    pub fn has_subsystem(&self, subsystem: &SubsystemId) -> bool {
        self.subsystems
            .contains(&self.hasher, &self.config.subsystems, subsystem)
            && self.is_active(subsystem.member())
    }

    /// Whether any grant allows the call.
    pub fn allows(
        &self,
        client: &SubsystemId,
        service: &ServiceId,
        method: &str,
        path: &str,
    ) -> bool {
        self.grants
            .iter()
            .any(|g| g.allows(client, service, method, path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use psn_core::config::{AuthorityInfo, MemberEntry, ServiceEntry, CONFIG_FORMAT};

    fn member(code: &str, status: MemberStatus) -> Arc<MemberEntry> {
        member_of(&format!("GB/LA/{code}"), status)
    }

    fn gateway(id: &str, address: Option<&str>) -> Arc<GatewayEntry> {
        Arc::new(GatewayEntry {
            id: id.parse().expect("gateway"),
            address: address.map(str::to_owned),
        })
    }

    fn view() -> View {
        let now = OffsetDateTime::now_utc();
        let config = GlobalConfig {
            format: CONFIG_FORMAT.into(),
            network: "GB".parse().expect("network"),
            version: 7,
            issued_at: now,
            expires_at: now + time::Duration::days(7),
            authority: AuthorityInfo {
                endpoints: vec![],
                ca_certificate: String::new(),
            },
            classes: vec![],
            members: vec![
                member("A1", MemberStatus::Active),
                member("B2", MemberStatus::Suspended),
                member("C3", MemberStatus::Active),
            ]
            .into(),
            subsystems: ["GB/LA/A1/sys", "GB/LA/B2/sys"]
                .iter()
                .map(|s| Arc::new(s.parse().expect("subsystem")))
                .collect(),
            gateways: vec![
                gateway("GB/LA/A1@gw1", Some("a1.example:8443")),
                gateway("GB/LA/A1@gw2", None),
                gateway("GB/LA/A1@gw3", Some("a1-3.example:8443")),
                gateway("GB/LA/B2@gw1", Some("b2.example:8443")),
            ]
            .into(),
            services: ["GB/LA/A1/sys/check", "GB/LA/B2/sys/check"]
                .map(|id| {
                    Arc::new(ServiceEntry {
                        id: id.parse().expect("service"),
                        title: "check".into(),
                        processes: vec![],
                    })
                })
                .into_iter()
                .collect(),
            federation: vec![],
            revoked_serials: vec!["0bad".into()],
        };
        View::new(Arc::new(config), Arc::new(vec![]))
    }

    #[test]
    fn a_partners_gateways_need_the_partner_listed_current_and_its_serials_unrevoked() {
        let now = OffsetDateTime::now_utc();
        let mut config = Arc::unwrap_or_clone(view().config);
        config
            .members
            .push(member_of("GB-KENT/LA/E10000016", MemberStatus::Active));
        config.gateways.push(gateway(
            "GB-KENT/LA/E10000016@gw1",
            Some("kent.example:8443"),
        ));
        let kent: GatewayId = "GB-KENT/LA/E10000016@gw1".parse().expect("gateway");
        let kent_network: NetworkId = "GB-KENT".parse().expect("network");
        let unlisted = View::new(Arc::new(config.clone()), Arc::new(vec![]));
        assert!(
            !unlisted.trusts(&kent, "01"),
            "listed names of a network not federated are not trusted"
        );
        config.federation.push(psn_core::config::FederatedNetwork {
            network: kent_network.clone(),
            ca_certificate: String::new(),
            version: 3,
            expires_at: now + time::Duration::hours(1),
            revoked_serials: vec!["0kent".into()],
            via: None,
        });
        let listed = View::new(Arc::new(config), Arc::new(vec![]));
        assert!(listed.trusts(&kent, "01"));
        assert!(!listed.trusts(&kent, "0kent"), "revoked by its own network");
        let own: GatewayId = "GB/LA/A1@gw1".parse().expect("gateway");
        assert!(
            listed.trusts(&own, "0kent"),
            "a partner's revocations apply to its own gateways only"
        );
        assert_eq!(listed.partner_expired(&kent_network, now), None);
        let later = now + time::Duration::hours(2);
        let why = listed
            .partner_expired(&kent_network, later)
            .expect("expired");
        assert!(
            why.contains("GB-KENT") && why.contains("version 3"),
            "{why}"
        );
        assert_eq!(
            listed.partner_expired(&"GB".parse().expect("network"), later),
            None,
            "this network's own names are never refused as a partner's"
        );
    }

    fn member_of(id: &str, status: MemberStatus) -> Arc<MemberEntry> {
        Arc::new(MemberEntry {
            id: id.parse().expect("member"),
            name: id.into(),
            status,
            sector: None,
            region: None,
        })
    }

    #[test]
    fn lookups_answer_from_the_document_and_its_statuses() {
        let view = view();
        let id = |s: &str| -> GatewayId { s.parse().expect("gateway") };
        assert!(view.trusts(&id("GB/LA/A1@gw1"), "01"));
        assert!(!view.trusts(&id("GB/LA/A1@gw1"), "0bad"), "revoked serial");
        assert!(!view.trusts(&id("GB/LA/A1@gw9"), "01"), "unlisted gateway");
        assert!(!view.trusts(&id("GB/LA/B2@gw1"), "01"), "suspended member");
        assert!(!view.trusts(&id("GB/LA/Z9@gw1"), "01"), "unknown member");

        let a1: MemberId = "GB/LA/A1".parse().expect("member");
        let addresses: Vec<_> = view
            .gateways_of(&a1)
            .into_iter()
            .filter_map(|g| g.address)
            .collect();
        assert_eq!(addresses, ["a1.example:8443", "a1-3.example:8443"]);
        assert!(view
            .gateways_of(&"GB/LA/C3".parse().expect("member"))
            .is_empty());

        assert!(view.has_service(&"GB/LA/A1/sys/check".parse().expect("service")));
        assert!(!view.has_service(&"GB/LA/B2/sys/check".parse().expect("service")));
        assert!(!view.has_service(&"GB/LA/A1/sys/other".parse().expect("service")));
        assert!(view.has_subsystem(&"GB/LA/A1/sys".parse().expect("subsystem")));
        assert!(!view.has_subsystem(&"GB/LA/B2/sys".parse().expect("subsystem")));
        assert!(!view.has_subsystem(&"GB/LA/C3/sys".parse().expect("subsystem")));
    }
}
