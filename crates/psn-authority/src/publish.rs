//! Building, signing and publishing the global configuration. A new version is published after
//! every registry change (one build covers any number of changes that arrive while it runs) and
//! before the current one is half-way to expiry, so gateways never run on a configuration close to
//! its end while the authority is up.

use crate::store::{Snapshot, Store, StoreError};
use axum::body::Bytes;
use psn_core::config::{
    AuthorityInfo, FederatedNetwork, GatewayEntry, GlobalConfig, CONFIG_FORMAT,
};
use psn_core::config_delta::ConfigDelta;
use psn_core::encoding::{b64url, sha256};
use psn_core::names::{MemberId, NetworkId};
use psn_pki::ConfigSigner;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{watch, Mutex};

/// A published configuration, ready to serve.
#[derive(Debug)]
pub struct Published {
    /// Version number.
    pub version: u64,
    /// `"v{version}"`, the HTTP entity tag.
    pub etag: String,
    /// The document ([`psn_core::config::ConfigDocument`] JSON).
    pub document: Bytes,
    /// Expiry.
    pub expires_at: OffsetDateTime,
}

/// What the configuration says about the authority itself.
#[derive(Debug, Clone)]
pub struct AuthorityDescription {
    /// Network id.
    pub network: NetworkId,
    /// Public API URLs.
    pub endpoints: Vec<String>,
    /// CA certificate PEM.
    pub ca_certificate: String,
    /// Validity of each version.
    pub validity: Duration,
}

/// Builds a configuration document from a registry snapshot. Pure, so the benchmark can time it
/// apart from the database.
pub fn build_config(
    snapshot: &Snapshot,
    description: &AuthorityDescription,
    version: u64,
    issued_at: OffsetDateTime,
) -> GlobalConfig {
    let config = GlobalConfig {
        format: CONFIG_FORMAT.to_owned(),
        network: description.network.clone(),
        version,
        issued_at,
        expires_at: issued_at + description.validity,
        authority: AuthorityInfo {
            endpoints: description.endpoints.clone(),
            ca_certificate: description.ca_certificate.clone(),
        },
        classes: snapshot.classes.clone(),
        members: snapshot.members.clone(),
        subsystems: snapshot.subsystems.clone(),
        gateways: snapshot
            .gateways
            .iter()
            .map(|(id, address)| GatewayEntry {
                id: id.clone(),
                address: address.clone(),
            })
            .collect(),
        services: snapshot.services.clone(),
        federation: Vec::new(),
        revoked_serials: sorted_serials(&snapshot.revoked_serials),
    };
    with_partners(config, &snapshot.federation)
}

/// Serials in byte order, each once: every keyed list of the document is sorted by its text.
fn sorted_serials(serials: &[String]) -> Vec<String> {
    let mut serials = serials.to_vec();
    serials.sort_unstable();
    serials.dedup();
    serials
}

/// Merges what each federated partner exports into the document's lists, under the partner's
/// own names, and lists the partner with its CA, version and expiry (DESIGN.md "Federation").
/// A partner's entries were checked to be in its own namespace when its view arrived; the
/// lists stay sorted by id text in byte order, so deltas and gateways treat them like any other.
fn with_partners(mut config: GlobalConfig, partners: &[crate::store::Received]) -> GlobalConfig {
    if partners.is_empty() {
        return config;
    }
    let trusted = trusted_networks(&config.network, partners);
    for partner in partners {
        let view = &partner.view;
        // Each network's names come from the one view trusted for it, so two views of the same
        // network can never mix.
        let from_here = |member: &MemberId| {
            trusted
                .get(member.network())
                .is_some_and(|(source, _)| source == &partner.network)
        };
        config
            .members
            .extend(view.members.iter().filter(|m| from_here(&m.id)).cloned());
        config.subsystems.extend(
            view.subsystems
                .iter()
                .filter(|s| from_here(s.member()))
                .cloned(),
        );
        config.gateways.extend(
            view.gateways
                .iter()
                .filter(|g| from_here(g.id.member()))
                .cloned(),
        );
        config.services.extend(
            view.services
                .iter()
                .filter(|s| from_here(s.id.member()))
                .cloned(),
        );
    }
    config.federation = trusted.into_values().map(|(_, entry)| entry).collect();
    sort_by_text(&mut config.members, |m| m.id.to_string());
    sort_by_text(&mut config.subsystems, ToString::to_string);
    sort_by_text(&mut config.gateways, |g| g.id.to_string());
    sort_by_text(&mut config.services, |s| s.id.to_string());
    config
}

/// For each other network whose names this configuration carries: the partner whose view is
/// trusted for it, and the entry saying whose CA vouches for those names. A partner speaks for
/// itself; a network it relays is taken from it only when that network is not a partner too,
/// from the relay holding its newest version, and never this network's own. A relayed
/// network's names are trusted no longer than the relaying view.
fn trusted_networks(
    own: &NetworkId,
    partners: &[crate::store::Received],
) -> BTreeMap<NetworkId, (NetworkId, FederatedNetwork)> {
    let mut trusted: BTreeMap<NetworkId, (NetworkId, FederatedNetwork)> = partners
        .iter()
        .map(|p| {
            let entry = FederatedNetwork {
                network: p.network.clone(),
                ca_certificate: p.ca_certificate.clone(),
                version: p.view.version,
                expires_at: p.view.expires_at,
                revoked_serials: p.view.revoked_serials.clone(),
                via: None,
            };
            (p.network.clone(), (p.network.clone(), entry))
        })
        .collect();
    for partner in partners {
        for relayed in partner.view.relayed.iter().filter(|r| &r.network != own) {
            let newer = match trusted.get(&relayed.network) {
                None => true,
                Some((_, held)) => held.via.is_some() && held.version < relayed.version,
            };
            if newer {
                let entry = FederatedNetwork {
                    expires_at: relayed.expires_at.min(partner.view.expires_at),
                    via: Some(partner.network.clone()),
                    ..relayed.clone()
                };
                trusted.insert(relayed.network.clone(), (partner.network.clone(), entry));
            }
        }
    }
    trusted
}

/// Sorts by id text in byte order, dropping repeats (a partner never repeats this network's
/// names, but a list must hold each id once).
fn sort_by_text<T>(items: &mut Vec<T>, text: impl Fn(&T) -> String) {
    let mut keyed: Vec<(String, T)> = items.drain(..).map(|item| (text(&item), item)).collect();
    keyed.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    keyed.dedup_by(|a, b| a.0 == b.0);
    items.extend(keyed.into_iter().map(|(_, item)| item));
}

/// How many steps back a gateway can be and still be sent a delta.
const DELTA_STEPS: usize = 64;

/// Deltas are kept up to this many entries whatever the document's size: small networks'
/// documents are small, and so is any delta of theirs.
const MIN_DELTA_BUDGET: usize = 1_000;

/// The versions this process published, as deltas, for gateways that hold one of them
/// (DESIGN.md "delta at scale"). Only the latest document is kept whole.
struct DeltaHistory {
    latest: Arc<GlobalConfig>,
    /// One delta per version step, oldest first, ending at `latest`.
    steps: VecDeque<Arc<ConfigDelta>>,
}

impl DeltaHistory {
    /// The entries a delta may name before sending the whole document is the better deal: a
    /// quarter of the document's, and never fewer than [`MIN_DELTA_BUDGET`].
    fn budget(&self) -> usize {
        let config = &self.latest;
        let entries = config.members.len()
            + config.subsystems.len()
            + config.gateways.len()
            + config.services.len();
        (entries / 4).max(MIN_DELTA_BUDGET)
    }

    /// Records the step to `config`, whose delta from the latest is `step` (computed by
    /// [`step_between`]); forgets the steps if there is none (a version published elsewhere came
    /// between).
    fn advance(&mut self, config: Arc<GlobalConfig>, step: Option<ConfigDelta>) {
        match step {
            Some(step) if step.from_version == self.latest.version => {
                self.steps.push_back(Arc::new(step));
            }
            _ => self.steps.clear(),
        }
        self.latest = config;
        let budget = self.budget();
        while self.steps.len() > DELTA_STEPS
            || self.steps.iter().map(|s| s.entries()).sum::<usize>() > budget
        {
            self.steps.pop_front();
        }
    }

    /// One delta from version `from` to the latest, if the steps reach back that far.
    fn since(&self, from: u64) -> Option<ConfigDelta> {
        let first = self.steps.iter().position(|s| s.from_version == from)?;
        let mut steps = self.steps.iter().skip(first).map(|s| s.as_ref().clone());
        let first = steps.next()?;
        steps.try_fold(first, |delta, step| delta.then(step).ok())
    }
}

/// The delta from `previous` to `config` if it is one version step.
fn step_between(
    previous: Option<&GlobalConfig>,
    config: &GlobalConfig,
    head: &str,
) -> Option<ConfigDelta> {
    let previous = previous.filter(|p| p.version + 1 == config.version)?;
    ConfigDelta::between(previous, config, head).ok()
}

/// Publishes configuration versions and lets requests wait for the next one.
pub struct Publisher {
    store: Arc<Store>,
    signer: ConfigSigner,
    description: AuthorityDescription,
    lock: Mutex<bool>,
    current: watch::Sender<Option<Arc<Published>>>,
    history: std::sync::Mutex<Option<DeltaHistory>>,
}

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Signing failed.
    #[error("signing the configuration: {0}")]
    Sign(#[from] psn_pki::PkiError),
}

impl Publisher {
    /// A publisher; the first [`Self::publish`] always builds a fresh version so that the
    /// document reflects this process's endpoints.
    pub fn new(store: Arc<Store>, signer: ConfigSigner, description: AuthorityDescription) -> Self {
        Self {
            store,
            signer,
            description,
            lock: Mutex::new(true),
            current: watch::channel(None).0,
            history: std::sync::Mutex::new(None),
        }
    }

    /// The changes from version `from` to the latest published version, when this process
    /// published every version in between and they are few enough to beat the whole document.
    pub fn delta_since(&self, from: u64) -> Option<ConfigDelta> {
        self.history().as_ref()?.since(from)
    }

    fn history(&self) -> std::sync::MutexGuard<'_, Option<DeltaHistory>> {
        self.history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The configuration signer, which also signs this network's federation documents.
    pub fn signer(&self) -> &ConfigSigner {
        &self.signer
    }

    /// The latest document this process built, when it built the one announced.
    pub fn latest_config(&self) -> Option<Arc<GlobalConfig>> {
        let current = self.current()?;
        self.history()
            .as_ref()
            .map(|h| h.latest.clone())
            .filter(|c| c.version == current.version)
    }

    /// The latest published version, if any.
    pub fn current(&self) -> Option<Arc<Published>> {
        self.current.borrow().clone()
    }

    /// A receiver that wakes when a new version is published.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<Published>>> {
        self.current.subscribe()
    }

    /// Publishes a new version if the registry changed since the last one, the last one is
    /// half-way to expiry, or none exists; otherwise returns the current one. Concurrent calls
    /// share one build.
    pub async fn publish(&self) -> Result<Arc<Published>, PublishError> {
        let mut force = self.lock.lock().await;
        let generation = self.store.generation().await?;
        let latest = self.store.latest_config().await?;
        let now = OffsetDateTime::now_utc();
        if let Some(latest) = &latest {
            let fresh = latest.expires_at - now > self.description.validity / 2;
            if !*force && latest.generation == generation && fresh {
                if let Some(current) = self.current().filter(|c| c.version == latest.version) {
                    return Ok(current);
                }
                let stored = self.store.config_version(latest.version).await?;
                if let Some(document) = stored.and_then(|r| r.document) {
                    *self.history() = None;
                    return Ok(self.announce(latest.version, document, latest.expires_at));
                }
            }
        }
        let snapshot = self.store.snapshot().await?;
        let version = latest.map_or(1, |l| l.version + 1);
        let config = build_config(&snapshot, &self.description, version, now);
        let signed = self.signer.sign(&config)?;
        let digest = b64url(&sha256(signed.document.as_bytes()));
        let config = Arc::new(config);
        // The delta for gateways is worked out on another core while the version is stored;
        // both are done before the version is announced.
        let step = {
            let previous = self.history().as_ref().map(|h| h.latest.clone());
            let config = config.clone();
            let head = signed.head.clone();
            tokio::task::spawn_blocking(move || step_between(previous.as_deref(), &config, &head))
        };
        let stored = self.store.insert_config(
            version,
            snapshot.generation,
            now,
            config.expires_at,
            &digest,
            &signed.document,
        );
        let (step, stored) = tokio::join!(step, stored);
        stored?;
        *force = false;
        {
            let mut history = self.history();
            match history.as_mut() {
                Some(history) => history.advance(config.clone(), step.ok().flatten()),
                None => {
                    *history = Some(DeltaHistory {
                        latest: config.clone(),
                        steps: VecDeque::new(),
                    })
                }
            }
        }
        tracing::info!(
            version,
            members = config.members.len(),
            gateways = config.gateways.len(),
            services = config.services.len(),
            bytes = signed.document.len(),
            "published configuration"
        );
        Ok(self.announce(version, signed.document, config.expires_at))
    }

    fn announce(
        &self,
        version: u64,
        document: String,
        expires_at: OffsetDateTime,
    ) -> Arc<Published> {
        let published = Arc::new(Published {
            version,
            etag: format!("\"v{version}\""),
            document: Bytes::from(document),
            expires_at,
        });
        self.current.send_replace(Some(published.clone()));
        published
    }

    /// Keeps the configuration current until `shutdown`: picks up changes made by other
    /// authority processes sharing the database and refreshes before expiry.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = self.publish().await {
                        tracing::error!(error = %e, "configuration publishing failed; will retry");
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use psn_core::config::{MemberEntry, MemberStatus, CONFIG_FORMAT};

    fn config(version: u64, members: usize) -> Arc<GlobalConfig> {
        let issued_at = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        Arc::new(GlobalConfig {
            format: CONFIG_FORMAT.into(),
            network: "GB".parse().expect("network"),
            version,
            issued_at,
            expires_at: issued_at + time::Duration::days(7),
            authority: AuthorityInfo {
                endpoints: vec![],
                ca_certificate: String::new(),
            },
            classes: vec![],
            members: (0..members)
                .map(|i| MemberEntry {
                    id: format!("GB/LA/M{i:05}").parse().expect("member"),
                    name: format!("Member {i}"),
                    status: MemberStatus::Active,
                    sector: None,
                    region: None,
                })
                .collect(),
            subsystems: vec![],
            gateways: vec![],
            services: vec![],
            federation: vec![],
            revoked_serials: vec![],
        })
    }

    /// Stands for a version's signed head: these tests look at the changes, not the signature.
    const HEAD: &str = "head";

    fn history_through(sizes: &[usize]) -> DeltaHistory {
        let mut history = DeltaHistory {
            latest: config(1, sizes[0]),
            steps: VecDeque::new(),
        };
        for (i, size) in sizes.iter().enumerate().skip(1) {
            let next = config(i as u64 + 1, *size);
            let step = step_between(Some(&history.latest), &next, HEAD);
            history.advance(next, step);
        }
        history
    }

    #[test]
    fn a_gateway_steps_behind_gets_one_composed_delta() {
        let history = history_through(&[1, 2, 3, 5]);
        let delta = history.since(1).expect("delta from 1");
        assert_eq!((delta.from_version, delta.version), (1, 4));
        assert_eq!(delta.members.upsert.len(), 4);
        assert_eq!(delta.members.upsert, config(4, 5).members[1..].to_vec());
        assert_eq!(history.since(3).map(|d| d.members.upsert.len()), Some(2));
        assert!(history.since(4).is_none(), "nothing from the latest");
        assert!(
            history.since(9).is_none(),
            "nothing from a version never published"
        );
    }

    #[test]
    fn a_gap_or_a_delta_bigger_than_the_budget_leaves_only_the_whole_document() {
        let mut history = history_through(&[1, 2, 3]);
        let skipped = config(5, 4);
        let step = step_between(Some(&history.latest), &skipped, HEAD);
        assert!(step.is_none(), "version 4 was published elsewhere");
        history.advance(skipped, step);
        assert!(history.since(1).is_none() && history.since(3).is_none());

        let history = history_through(&[1, 2, MIN_DELTA_BUDGET + 10]);
        assert!(history.since(1).is_none(), "over the budget");
        assert!(history.since(2).is_none());
    }

    fn member(id: &str) -> MemberEntry {
        MemberEntry {
            id: id.parse().expect("member"),
            name: id.into(),
            status: MemberStatus::Active,
            sector: None,
            region: None,
        }
    }

    /// `partner`'s view of its own `members`, relaying `relayed` as (network, version).
    fn received(
        partner: &str,
        version: u64,
        members: &[&str],
        relayed: &[(&str, u64)],
    ) -> crate::store::Received {
        let issued_at = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        crate::store::Received {
            network: partner.parse().expect("network"),
            ca_certificate: format!("{partner} CA"),
            view: psn_core::federation::View {
                format: psn_core::federation::VIEW_FORMAT.into(),
                network: partner.parse().expect("network"),
                audience: "GB".parse().expect("network"),
                version,
                issued_at,
                expires_at: issued_at + time::Duration::days(version as i64),
                members: members.iter().map(|m| member(m)).collect(),
                subsystems: vec![],
                gateways: vec![],
                services: vec![],
                revoked_serials: vec![],
                listings: vec![],
                reexport: false,
                relayed: relayed
                    .iter()
                    .map(|(network, version)| FederatedNetwork {
                        network: network.parse().expect("network"),
                        ca_certificate: format!("{network} CA via {partner}"),
                        version: *version,
                        expires_at: issued_at + time::Duration::days(30),
                        revoked_serials: vec![],
                        via: None,
                    })
                    .collect(),
            },
        }
    }

    #[test]
    fn each_network_is_trusted_from_one_view_a_partner_before_any_relay() {
        let partners = [
            // Kent is a partner, and also relayed by both hubs: Kent's own word is taken.
            received("GB-KENT", 4, &["GB-KENT/LA/E10000016"], &[]),
            // Both hubs relay Yorkshire; the newer version wins. Hub A also relays GB itself,
            // which this network never takes from anyone.
            received(
                "GB-HUBA",
                2,
                &[
                    "GB-KENT/LA/E06000035",
                    "GB-YORKS/LA/E08000001",
                    "GB/LA/E10000014",
                ],
                &[("GB-KENT", 9), ("GB-YORKS", 3), ("GB", 9)],
            ),
            received(
                "GB-HUBB",
                3,
                &["GB-YORKS/LA/E08000016"],
                &[("GB-KENT", 9), ("GB-YORKS", 7)],
            ),
        ];
        let merged = with_partners((*config(1, 1)).clone(), &partners);
        let trusted: Vec<(String, u64, Option<String>)> = merged
            .federation
            .iter()
            .map(|f| {
                (
                    f.network.to_string(),
                    f.version,
                    f.via.as_ref().map(ToString::to_string),
                )
            })
            .collect();
        assert_eq!(
            trusted,
            [
                ("GB-HUBA".to_owned(), 2, None),
                ("GB-HUBB".to_owned(), 3, None),
                ("GB-KENT".to_owned(), 4, None),
                ("GB-YORKS".to_owned(), 7, Some("GB-HUBB".to_owned())),
            ]
        );
        let yorks = &merged.federation[3];
        assert_eq!(yorks.ca_certificate, "GB-YORKS CA via GB-HUBB");
        assert_eq!(
            yorks.expires_at, partners[2].view.expires_at,
            "a relayed network is trusted no longer than the view relaying it"
        );
        let members: Vec<String> = merged.members.iter().map(|m| m.id.to_string()).collect();
        assert_eq!(
            members,
            [
                "GB-KENT/LA/E10000016",
                "GB-YORKS/LA/E08000016",
                "GB/LA/M00000"
            ],
            "names come only from the view trusted for their network"
        );
    }
}
