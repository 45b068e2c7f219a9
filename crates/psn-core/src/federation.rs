//! Federation (DESIGN.md "Federation"): the documents two networks' authorities exchange so that
//! members of one call services of the other as if local, while each network's gateways keep one
//! root of trust, their own authority's configuration signature.
//!
//! The flow: each network's operator exports an [`Anchor`] (its network id, authority endpoints,
//! CA and configuration-signing certificate, signed by that signer), hands it to the partner out
//! of band, and the partner imports it after confirming its fingerprint. From then on the
//! partner's authority follows this network's [`View`]: what this network's export policy lets
//! that partner see, signed afresh for each configuration version and addressed to that partner
//! alone. The partner's authority asks for it with an [`Assertion`], a short-lived request
//! signed by its own configuration signer, so neither authority's TLS listener needs to trust
//! the other's CA. What a view carries reaches the partner's gateways merged into the partner's
//! own signed configuration, with a [`crate::config::FederatedNetwork`] entry saying whose CA
//! vouches for those names, which version they came from and when they stop being trusted.
//!
//! Signatures and certificate checks live in `psn-pki`; this module is the data and the checks
//! that need no key.

use crate::clock::NotInForce;
use crate::config::{GatewayEntry, MemberEntry, ServiceEntry};
use crate::names::{MemberId, NetworkId, ServiceId, SubsystemId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The `format` of anchors.
pub const ANCHOR_FORMAT: &str = "psn-federation-anchor/1";
/// The JWS `typ` of a signed anchor.
pub const ANCHOR_JWS_TYPE: &str = "psn-federation-anchor+json";
/// The `format` of exported views.
pub const VIEW_FORMAT: &str = "psn-federation-view/1";
/// The JWS `typ` of a signed view.
pub const VIEW_JWS_TYPE: &str = "psn-federation-view+json";
/// The JWS `typ` of a partner authority's signed request.
pub const ASSERTION_JWS_TYPE: &str = "psn-federation-assertion+json";
/// How long an assertion may be valid: long enough for one long poll and clock skew, short
/// enough that a captured one is soon worthless.
pub const MAX_ASSERTION_SECONDS: i64 = 300;
/// The most an anchor, view or assertion may weigh before it is parsed.
pub const MAX_ANCHOR_BYTES: usize = 64 * 1024;

/// A network's trust anchor, for another network's operator to import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// [`ANCHOR_FORMAT`].
    pub format: String,
    /// The network the anchor introduces.
    pub network: NetworkId,
    /// Base URLs of its authority's API, in order of preference.
    pub endpoints: Vec<String>,
    /// Its CA certificate (PEM): the root its gateways' and signer's certificates chain to.
    pub ca_certificate: String,
    /// Its configuration signer's certificate (PEM), which signed this anchor.
    pub signer_certificate: String,
    /// When it was written.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// After this instant the anchor may no longer be imported.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl Anchor {
    /// The checks that need no key: the format, at least one `https` endpoint, and `now` within
    /// the validity window.
    pub fn check(&self, now: OffsetDateTime) -> Result<(), String> {
        if self.format != ANCHOR_FORMAT {
            return Err(format!("format {:?} is not {ANCHOR_FORMAT:?}", self.format));
        }
        if self.endpoints.is_empty() || self.endpoints.len() > 8 {
            return Err("an anchor names between one and eight authority endpoints".into());
        }
        if let Some(bad) = self.endpoints.iter().find(|e| {
            !e.starts_with("https://") || e.len() > 256 || e.contains(char::is_whitespace)
        }) {
            return Err(format!("endpoint {bad:?} is not an https URL"));
        }
        if self.expires_at <= self.issued_at {
            return Err("the anchor expires before it was issued".into());
        }
        match crate::clock::in_force(self.issued_at, self.expires_at, now) {
            Ok(()) => Ok(()),
            Err(NotInForce::Expired) => Err(format!("the anchor expired at {}", self.expires_at)),
            Err(NotInForce::IssuedAhead) => {
                Err(format!("the anchor is not valid until {}", self.issued_at))
            }
        }
    }
}

/// What one network exports to one partner, derived from one of its configuration versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct View {
    /// [`VIEW_FORMAT`].
    pub format: String,
    /// The exporting network.
    pub network: NetworkId,
    /// The partner it is addressed to; any other network refuses it.
    pub audience: NetworkId,
    /// The exporting network's configuration version it was derived from.
    pub version: u64,
    /// When it was signed.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// When the configuration it was derived from expires; after this the partner fails closed.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Exported members (status included, so a partner's refusals can say why).
    pub members: Vec<MemberEntry>,
    /// Subsystems of exported active members.
    pub subsystems: Vec<SubsystemId>,
    /// Gateways of exported active members.
    pub gateways: Vec<GatewayEntry>,
    /// Exported services.
    pub services: Vec<ServiceEntry>,
    /// Revoked serials of the exporting network's certificates.
    #[serde(default)]
    pub revoked_serials: Vec<String>,
    /// Catalogue listings of exported services, so the partner's catalogue finds them (absent
    /// from views written before listings were exported, hence the default).
    #[serde(default)]
    pub listings: Vec<ListingSummary>,
    /// Whether the exporting network lets the reader relay what this view exports to the
    /// reader's own partners (region → national → region).
    #[serde(default)]
    pub reexport: bool,
    /// Other networks whose names this view relays, each with what the reader's gateways need
    /// to trust them (CA, version, expiry, revoked serials). Only the exporting network's own
    /// partners that allowed re-export appear here, never a network relayed to it: a name
    /// travels at most one hop further than its own network's partners.
    #[serde(default)]
    pub relayed: Vec<crate::config::FederatedNetwork>,
}

/// Most networks one view may relay.
pub const MAX_RELAYED_NETWORKS: usize = 32;

/// Longest listing title a view carries, in characters (the catalogue's own limit).
pub const MAX_LISTING_TITLE: usize = 512;
/// Longest listing description a view carries, in characters (the catalogue's own limit).
pub const MAX_LISTING_DESCRIPTION: usize = 4096;
/// Most processes, or areas, one listing in a view names.
pub const MAX_LISTING_ITEMS: usize = 32;
/// Longest short field of a listing in a view (provider name, sector, process id, area, …).
pub const MAX_LISTING_FIELD: usize = 200;

/// What a person needs to find and judge a partner's service in the catalogue: the provider's
/// listing cut to its searchable facts. The provider and its class are the service id's own
/// parts, so they are not repeated (a repeat could contradict the id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListingSummary {
    /// The service; one of the view's exported services.
    pub service: ServiceId,
    /// Its title.
    pub title: String,
    /// What it does.
    #[serde(default)]
    pub description: String,
    /// Process ids of the exporting network's taxonomy (`lgsl:4`).
    #[serde(default)]
    pub processes: Vec<String>,
    /// The provider's official name.
    pub provider_name: String,
    /// The provider's sector, where the exporting registry has one.
    #[serde(default)]
    pub sector: Option<String>,
    /// The provider's region, where the exporting registry has one.
    #[serde(default)]
    pub region: Option<String>,
    /// Areas served.
    #[serde(default)]
    pub areas: Vec<String>,
    /// `rest`, `soap`, `events` or `files`.
    pub service_type: String,
    /// `discovery`, `alpha`, `beta`, `live`, `deprecated` or `withdrawn`.
    pub lifecycle: String,
    /// `any-member`, `member-classes` or `by-request`.
    pub who_may_apply: String,
    /// What it costs per unit; none when it is free.
    #[serde(default)]
    pub price: Option<ListingPrice>,
    /// When it was first published (the catalogue's "newest" order).
    #[serde(with = "time::serde::rfc3339")]
    pub published_at: OffsetDateTime,
}

/// A per-unit charge, as the provider's listing states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListingPrice {
    /// Lowest charge per unit, pence.
    pub min_pence: u64,
    /// Highest charge per unit, pence.
    pub max_pence: u64,
    /// What one unit is (`employee`).
    pub unit: String,
    /// `each`, `month` or `year`.
    pub interval: String,
}

impl ListingSummary {
    /// The field at fault and why, if any text is too long, holds control characters (a
    /// description may hold line breaks), or a list is too long: what a partner sends is shown
    /// to this network's people, so it is bounded like this network's own listings.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let text = |field: &'static str, value: &str, max: usize, lines: bool| {
            if value.chars().count() > max {
                return Err((field, format!("is over {max} characters")));
            }
            if value
                .chars()
                .any(|c| c.is_control() && !(lines && c == '\n'))
            {
                return Err((field, "holds control characters".to_owned()));
            }
            Ok(())
        };
        let list = |field: &'static str, values: &[String]| {
            if values.len() > MAX_LISTING_ITEMS {
                return Err((field, format!("names over {MAX_LISTING_ITEMS} values")));
            }
            values
                .iter()
                .try_for_each(|v| text(field, v, MAX_LISTING_FIELD, false))
        };
        text("title", &self.title, MAX_LISTING_TITLE, false)?;
        text(
            "description",
            &self.description,
            MAX_LISTING_DESCRIPTION,
            true,
        )?;
        list("processes", &self.processes)?;
        list("areas", &self.areas)?;
        for (field, value) in [
            ("provider_name", Some(&self.provider_name)),
            ("sector", self.sector.as_ref()),
            ("region", self.region.as_ref()),
            ("service_type", Some(&self.service_type)),
            ("lifecycle", Some(&self.lifecycle)),
            ("who_may_apply", Some(&self.who_may_apply)),
            ("price", self.price.as_ref().map(|p| &p.unit)),
            ("price", self.price.as_ref().map(|p| &p.interval)),
        ] {
            value.map_or(Ok(()), |v| text(field, v, MAX_LISTING_FIELD, false))?;
        }
        match &self.price {
            Some(p) if p.min_pence > p.max_pence => {
                Err(("price", "has a minimum above its maximum".to_owned()))
            }
            _ => Ok(()),
        }
    }
}

/// Why a view is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// Not the format this version reads.
    #[error("format {0:?} is not {VIEW_FORMAT:?}")]
    Format(String),
    /// Addressed to, or issued by, another network than expected.
    #[error("the view is {found}, expected {expected}")]
    WrongParties {
        /// What the reader expected, `{network} → {audience}`.
        expected: String,
        /// What the view says.
        found: String,
    },
    /// Names an entry outside the exporting network and the networks it relays.
    #[error(
        "the view names {0}, which is neither in the exporting network nor a network it relays"
    )]
    Foreign(String),
    /// Relays a network it may not: the exporting or the reading network itself, one relayed
    /// twice or one that was itself relayed, or too many.
    #[error("the view may not relay {0}")]
    Relay(String),
    /// Older than one already accepted.
    #[error("the view is version {found}, older than version {held} already accepted")]
    Rollback {
        /// The version held.
        held: u64,
        /// The version offered.
        found: u64,
    },
    /// Past its expiry.
    #[error("the view expired at {0}")]
    Expired(OffsetDateTime),
    /// Lists a service the view does not export (or lists one twice): a partner's catalogue
    /// shows only what it may call.
    #[error("the view lists {0}, which it does not export (or lists it twice)")]
    UnexportedListing(String),
    /// A listing's field is oversized or malformed.
    #[error("the view's listing of {service}: {field} {reason}")]
    ListingField {
        /// The listing's service.
        service: String,
        /// The field at fault.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

impl View {
    /// Everything a reader checks once the signature has verified: the format, the parties, that
    /// every entry is the exporting network's own, that the version does not go back, and
    /// expiry.
    pub fn check(
        &self,
        from: &NetworkId,
        to: &NetworkId,
        held: Option<u64>,
        now: OffsetDateTime,
    ) -> Result<(), ViewError> {
        if self.format != VIEW_FORMAT {
            return Err(ViewError::Format(self.format.clone()));
        }
        if &self.network != from || &self.audience != to {
            return Err(ViewError::WrongParties {
                expected: format!("{from} → {to}"),
                found: format!("{} → {}", self.network, self.audience),
            });
        }
        self.check_relayed(from, to)?;
        let own = |member: &MemberId| {
            member.network() == from || self.relayed.iter().any(|r| &r.network == member.network())
        };
        let foreign = self
            .members
            .iter()
            .map(|m| (&m.id, m.id.to_string()))
            .find(|(id, _)| !own(id))
            .map(|(_, text)| text)
            .or_else(|| {
                self.subsystems
                    .iter()
                    .find(|s| !own(s.member()))
                    .map(ToString::to_string)
            })
            .or_else(|| {
                self.gateways
                    .iter()
                    .find(|g| !own(g.id.member()))
                    .map(|g| g.id.to_string())
            })
            .or_else(|| {
                self.services
                    .iter()
                    .find(|s| !own(s.id.member()))
                    .map(|s| s.id.to_string())
            })
            .or_else(|| {
                self.listings
                    .iter()
                    .find(|l| !own(l.service.member()))
                    .map(|l| l.service.to_string())
            });
        if let Some(foreign) = foreign {
            return Err(ViewError::Foreign(foreign));
        }
        let mut unlisted: std::collections::BTreeSet<&ServiceId> =
            self.services.iter().map(|s| &s.id).collect();
        for listing in &self.listings {
            if !unlisted.remove(&listing.service) {
                return Err(ViewError::UnexportedListing(listing.service.to_string()));
            }
            listing
                .check()
                .map_err(|(field, reason)| ViewError::ListingField {
                    service: listing.service.to_string(),
                    field,
                    reason,
                })?;
        }
        if let Some(held) = held.filter(|held| self.version < *held) {
            return Err(ViewError::Rollback {
                held,
                found: self.version,
            });
        }
        if now >= self.expires_at {
            return Err(ViewError::Expired(self.expires_at));
        }
        Ok(())
    }
}

impl View {
    /// The relayed networks are few, each once, none the exporting or reading network, none
    /// relayed to the exporter in turn.
    fn check_relayed(&self, from: &NetworkId, to: &NetworkId) -> Result<(), ViewError> {
        if self.relayed.len() > MAX_RELAYED_NETWORKS {
            return Err(ViewError::Relay(format!(
                "{} networks; at most {MAX_RELAYED_NETWORKS}",
                self.relayed.len()
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for relayed in &self.relayed {
            let network = &relayed.network;
            if network == from || network == to || !seen.insert(network) {
                return Err(ViewError::Relay(network.to_string()));
            }
            if let Some(via) = &relayed.via {
                return Err(ViewError::Relay(format!(
                    "{network}, which {via} relayed to it"
                )));
            }
        }
        Ok(())
    }

    /// Whether `other` exports exactly the same names (members with their status, subsystems,
    /// gateways with their addresses, services, revoked serials, and the networks it relays
    /// with their versions and expiry) whatever its own version and times:
    /// a partner publishes a new version for every change of its own, most of which change
    /// nothing it exports, and a reader republishes only for what does (otherwise two partners
    /// would republish each other's versions back and forth for ever).
    pub fn same_names(&self, other: &View) -> bool {
        self.members == other.members
            && self.subsystems == other.subsystems
            && self.gateways == other.gateways
            && self.services == other.services
            && self.revoked_serials == other.revoked_serials
            && self.reexport == other.reexport
            && self.relayed == other.relayed
    }

    /// Whether more than half of the view's life has passed at `now`: a reader then takes a
    /// newer view of the same names too, so the expiry its gateways hold stays well ahead.
    pub fn past_half_life(&self, now: OffsetDateTime) -> bool {
        now >= self.issued_at + (self.expires_at - self.issued_at) / 2
    }
}

/// A partner authority's request for its view, signed by that partner's configuration signer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assertion {
    /// The asking network.
    pub network: NetworkId,
    /// The network asked.
    pub audience: NetworkId,
    /// When it was signed.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// When it stops being accepted; at most [`MAX_ASSERTION_SECONDS`] after `issued_at`.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl Assertion {
    /// Whether the assertion is addressed to `audience` and valid at `now` (five minutes of
    /// clock skew allowed before `issued_at`).
    pub fn check(&self, audience: &NetworkId, now: OffsetDateTime) -> Result<(), String> {
        if &self.audience != audience {
            return Err(format!(
                "the request is addressed to {}, not {audience}",
                self.audience
            ));
        }
        if (self.expires_at - self.issued_at).whole_seconds() > MAX_ASSERTION_SECONDS {
            return Err(format!(
                "the request is valid for more than {MAX_ASSERTION_SECONDS} seconds"
            ));
        }
        if crate::clock::in_force(self.issued_at, self.expires_at, now).is_err() {
            return Err(format!(
                "the request is valid from {} to {}, not now",
                self.issued_at, self.expires_at
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MemberStatus;

    fn member(id: &str) -> MemberEntry {
        MemberEntry {
            id: id.parse().expect("member"),
            name: id.into(),
            status: MemberStatus::Active,
            sector: None,
            region: None,
        }
    }

    fn view(now: OffsetDateTime) -> View {
        View {
            format: VIEW_FORMAT.into(),
            network: "GB".parse().expect("network"),
            audience: "GB-KENT".parse().expect("network"),
            version: 7,
            issued_at: now,
            expires_at: now + time::Duration::days(7),
            members: vec![member("GB/GOV/D6")],
            subsystems: vec!["GB/GOV/D6/eligibility".parse().expect("subsystem")],
            gateways: vec![GatewayEntry {
                id: "GB/GOV/D6@gw1".parse().expect("gateway"),
                address: Some("127.0.0.1:1".into()),
            }],
            services: vec![ServiceEntry {
                id: "GB/GOV/D6/eligibility/fsm-check".parse().expect("service"),
                title: "FSM check".into(),
                processes: vec![],
            }],
            revoked_serials: vec![],
            listings: vec![listing("GB/GOV/D6/eligibility/fsm-check")],
            reexport: false,
            relayed: vec![],
        }
    }

    fn relayed(network: &str) -> crate::config::FederatedNetwork {
        crate::config::FederatedNetwork {
            network: network.parse().expect("network"),
            ca_certificate: "CA".into(),
            version: 3,
            expires_at: OffsetDateTime::now_utc() + time::Duration::days(1),
            revoked_serials: vec![],
            via: None,
        }
    }

    #[test]
    fn a_view_names_only_its_own_network_and_the_networks_it_relays() {
        let now = OffsetDateTime::now_utc();
        let gb: NetworkId = "GB".parse().expect("network");
        let hants: NetworkId = "GB-HANTS".parse().expect("network");
        let mut relaying = view(now);
        relaying.audience = hants.clone();
        relaying.relayed.push(relayed("GB-KENT"));
        relaying.members.push(member("GB-KENT/LA/E10000016"));
        assert_eq!(relaying.check(&gb, &hants, None, now), Ok(()));
        let mut unrelayed = relaying.clone();
        unrelayed.members.push(member("GB-YORKS/LA/E08000016"));
        assert_eq!(
            unrelayed.check(&gb, &hants, None, now),
            Err(ViewError::Foreign("GB-YORKS/LA/E08000016".into()))
        );
        type Spoil = fn(&mut View);
        let refused: [(&str, Spoil); 5] = [
            ("the reader's own network", |v| {
                v.relayed.push(relayed("GB-HANTS"))
            }),
            ("the exporter itself", |v| v.relayed.push(relayed("GB"))),
            ("a network twice", |v| v.relayed.push(relayed("GB-KENT"))),
            ("a second hop", |v| {
                let mut second = relayed("GB-YORKS");
                second.via = Some("GB-NORTH".parse().expect("network"));
                v.relayed.push(second)
            }),
            ("too many", |v| {
                v.relayed = (0..=MAX_RELAYED_NETWORKS)
                    .map(|i| relayed(&format!("GB-R{i}")))
                    .collect()
            }),
        ];
        for (what, spoil) in refused {
            let mut bad = relaying.clone();
            spoil(&mut bad);
            assert!(
                matches!(bad.check(&gb, &hants, None, now), Err(ViewError::Relay(_))),
                "{what}: {:?}",
                bad.check(&gb, &hants, None, now)
            );
        }
        let mut changed = relaying.clone();
        changed.relayed[0].revoked_serials.push("01".into());
        assert!(
            !relaying.same_names(&changed),
            "a relayed revocation is a change"
        );
    }

    fn listing(service: &str) -> ListingSummary {
        ListingSummary {
            service: service.parse().expect("service"),
            title: "FSM check".into(),
            description: "Whether a child may have free school meals.\nBy return.".into(),
            processes: vec!["lgsl:4".into()],
            provider_name: "Department for Education".into(),
            sector: None,
            region: None,
            areas: vec!["England".into()],
            service_type: "rest".into(),
            lifecycle: "live".into(),
            who_may_apply: "any-member".into(),
            price: Some(ListingPrice {
                min_pence: 0,
                max_pence: 5,
                unit: "check".into(),
                interval: "each".into(),
            }),
            published_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_views_listings_are_of_its_exported_services_and_bounded() {
        let now = OffsetDateTime::now_utc();
        let gb: NetworkId = "GB".parse().expect("network");
        let kent: NetworkId = "GB-KENT".parse().expect("network");
        let check = |view: &View| view.check(&gb, &kent, None, now);
        let mut unexported = view(now);
        unexported
            .listings
            .push(listing("GB/GOV/D6/eligibility/not-exported"));
        assert_eq!(
            check(&unexported),
            Err(ViewError::UnexportedListing(
                "GB/GOV/D6/eligibility/not-exported".into()
            ))
        );
        let mut twice = view(now);
        twice
            .listings
            .push(listing("GB/GOV/D6/eligibility/fsm-check"));
        assert!(matches!(
            check(&twice),
            Err(ViewError::UnexportedListing(_))
        ));
        let mut foreign = view(now);
        foreign
            .listings
            .push(listing("GB-KENT/LA/E10000016/app/claims"));
        assert_eq!(
            check(&foreign),
            Err(ViewError::Foreign("GB-KENT/LA/E10000016/app/claims".into()))
        );
        type Spoil = fn(&mut ListingSummary);
        let spoilt: [(&str, Spoil); 7] = [
            ("title", |l| l.title = "x".repeat(MAX_LISTING_TITLE + 1)),
            ("title", |l| l.title = "a\nb".into()),
            ("description", |l| {
                l.description = "x".repeat(MAX_LISTING_DESCRIPTION + 1)
            }),
            ("processes", |l| {
                l.processes = vec!["lgsl:1".into(); MAX_LISTING_ITEMS + 1]
            }),
            ("areas", |l| {
                l.areas = vec!["x".repeat(MAX_LISTING_FIELD + 1)]
            }),
            ("provider_name", |l| l.provider_name = "\u{7}".into()),
            ("price", |l| {
                l.price = Some(ListingPrice {
                    min_pence: 9,
                    max_pence: 1,
                    unit: "check".into(),
                    interval: "each".into(),
                })
            }),
        ];
        for (expected, spoil) in spoilt {
            let mut bad = view(now);
            spoil(&mut bad.listings[0]);
            assert!(
                matches!(check(&bad), Err(ViewError::ListingField { field, .. }) if field == expected),
                "{expected}: {:?}",
                check(&bad)
            );
        }
    }

    #[test]
    fn a_view_without_listings_still_reads() {
        let now = OffsetDateTime::now_utc();
        let mut older = serde_json::to_value(view(now)).expect("json");
        older.as_object_mut().expect("object").remove("listings");
        let read: View = serde_json::from_value(older).expect("an older view parses");
        assert!(read.listings.is_empty());
    }

    #[test]
    fn a_view_is_checked_for_its_parties_namespace_order_and_expiry() {
        let now = OffsetDateTime::now_utc();
        let gb: NetworkId = "GB".parse().expect("network");
        let kent: NetworkId = "GB-KENT".parse().expect("network");
        let yorks: NetworkId = "GB-YORKS".parse().expect("network");
        assert_eq!(view(now).check(&gb, &kent, Some(7), now), Ok(()));
        assert!(matches!(
            view(now).check(&gb, &yorks, None, now),
            Err(ViewError::WrongParties { .. })
        ));
        assert!(matches!(
            view(now).check(&kent, &kent, None, now),
            Err(ViewError::WrongParties { .. })
        ));
        assert_eq!(
            view(now).check(&gb, &kent, Some(8), now),
            Err(ViewError::Rollback { held: 8, found: 7 })
        );
        let later = now + time::Duration::days(8);
        assert!(matches!(
            view(now).check(&gb, &kent, None, later),
            Err(ViewError::Expired(_))
        ));
        let mut smuggled = view(now);
        smuggled.members.push(member("GB-KENT/LA/E10000016"));
        assert_eq!(
            smuggled.check(&gb, &kent, None, now),
            Err(ViewError::Foreign("GB-KENT/LA/E10000016".into()))
        );
        let mut smuggled = view(now);
        smuggled.gateways.push(GatewayEntry {
            id: "GB-KENT/LA/E10000016@gw1".parse().expect("gateway"),
            address: None,
        });
        assert!(matches!(
            smuggled.check(&gb, &kent, None, now),
            Err(ViewError::Foreign(_))
        ));
        let mut wrong = view(now);
        wrong.format = "psn-federation-view/2".into();
        assert!(matches!(
            wrong.check(&gb, &kent, None, now),
            Err(ViewError::Format(_))
        ));
    }

    #[test]
    fn a_new_version_of_the_same_names_is_told_apart_from_a_change() {
        let now = OffsetDateTime::now_utc();
        let held = view(now);
        let mut next = view(now + time::Duration::minutes(1));
        next.version = 8;
        next.expires_at += time::Duration::minutes(1);
        assert!(held.same_names(&next), "only the version and times moved");
        next.members[0].status = crate::config::MemberStatus::Suspended;
        assert!(!held.same_names(&next), "a suspension is a change");
        let mut moved = view(now);
        moved.gateways[0].address = Some("127.0.0.1:2".into());
        assert!(
            !held.same_names(&moved),
            "a gateway's new address is a change"
        );
        assert!(!held.past_half_life(now + time::Duration::days(3)));
        assert!(held.past_half_life(now + time::Duration::days(4)));
    }

    #[test]
    fn an_assertion_is_short_lived_and_addressed() {
        let now = OffsetDateTime::now_utc();
        let gb: NetworkId = "GB".parse().expect("network");
        let assertion = Assertion {
            network: "GB-KENT".parse().expect("network"),
            audience: gb.clone(),
            issued_at: now,
            expires_at: now + time::Duration::seconds(120),
        };
        assert_eq!(assertion.check(&gb, now), Ok(()));
        assert!(assertion
            .check(&"GB-YORKS".parse().expect("network"), now)
            .is_err());
        assert!(assertion
            .check(&gb, now + time::Duration::seconds(121))
            .is_err());
        let long = Assertion {
            expires_at: now + time::Duration::hours(1),
            ..assertion
        };
        assert!(long.check(&gb, now).is_err());
    }

    #[test]
    fn an_anchor_needs_https_endpoints_and_a_live_window() {
        let now = OffsetDateTime::now_utc();
        let anchor = Anchor {
            format: ANCHOR_FORMAT.into(),
            network: "GB".parse().expect("network"),
            endpoints: vec!["https://127.0.0.1:8443".into()],
            ca_certificate: String::new(),
            signer_certificate: String::new(),
            issued_at: now,
            expires_at: now + time::Duration::days(30),
        };
        assert_eq!(anchor.check(now), Ok(()));
        assert!(anchor.check(now + time::Duration::days(31)).is_err());
        let plain = Anchor {
            endpoints: vec!["http://127.0.0.1:8443".into()],
            ..anchor.clone()
        };
        assert!(plain.check(now).is_err());
        let none = Anchor {
            endpoints: vec![],
            ..anchor
        };
        assert!(none.check(now).is_err());
    }
}
