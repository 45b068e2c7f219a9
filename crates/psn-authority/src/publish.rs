//! Building, signing and publishing the global configuration. A new version is published after
//! every registry change (one build covers any number of changes that arrive while it runs) and
//! before the current one is half-way to expiry, so gateways never run on a configuration close to
//! its end while the authority is up.

use crate::store::{ConfigRecord, Increment, Snapshot, Store, StoreError, StoredVersion};
use axum::body::Bytes;
use psn_core::config::{
    AuthorityInfo, ConfigDocument, FederatedNetwork, GatewayEntry, GlobalConfig, CONFIG_FORMAT,
};
use psn_core::config_delta::{ConfigDelta, ContentError, HeldConfig, Keyed, UnsignedConfig};
use psn_core::encoding::{b64url, sha256};
use psn_core::names::{MemberId, NetworkId};
use psn_core::shared_list::SharedList;
use psn_pki::ConfigSigner;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{watch, Mutex};

mod increment;

/// A published configuration, ready to serve.
#[derive(Debug)]
pub struct Published {
    /// Version number.
    pub version: u64,
    /// `"v{version}"`, the HTTP entity tag.
    pub etag: String,
    /// Expiry.
    pub expires_at: OffsetDateTime,
    /// The document ([`psn_core::config::ConfigDocument`] JSON), written on first use when the
    /// version was worked out from the last one.
    document: tokio::sync::OnceCell<Bytes>,
    /// What the document is written from until it is.
    source: std::sync::Mutex<Option<(String, Arc<GlobalConfig>)>>,
}

impl Published {
    /// The version's whole document, as a download of `/v1/config` gives it.
    pub async fn document(&self) -> Result<Bytes, PublishError> {
        self.document
            .get_or_try_init(|| async {
                let (head, config) = self
                    .source
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone()
                    .ok_or(PublishError::NoDocument(self.version))?;
                let document = tokio::task::spawn_blocking(move || {
                    ConfigDocument::write(&head, &config).map_err(ContentError::from)
                })
                .await
                .map_err(|e| PublishError::Stopped(e.to_string()))??;
                // The document stands on its own now; the publisher's next change need not copy
                // the entries this version shared with it.
                *self
                    .source
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                Ok(Bytes::from(document))
            })
            .await
            .cloned()
    }
}

/// A version's document as it is announced.
enum Body {
    /// Written already.
    Written(Bytes),
    /// To be written from the signed head and the entries.
    From(String, Arc<GlobalConfig>),
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

impl AuthorityDescription {
    /// The document's section about the authority.
    pub fn info(&self) -> AuthorityInfo {
        AuthorityInfo {
            endpoints: self.endpoints.clone(),
            ca_certificate: self.ca_certificate.clone(),
        }
    }
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
        authority: description.info(),
        classes: snapshot.classes.clone(),
        members: shared(&snapshot.members),
        subsystems: shared(&snapshot.subsystems),
        gateways: snapshot
            .gateways
            .iter()
            .map(|(id, address)| {
                Arc::new(GatewayEntry {
                    id: id.clone(),
                    address: address.clone(),
                })
            })
            .collect(),
        services: shared(&snapshot.services),
        federation: Vec::new(),
        revoked_serials: sorted_serials(&snapshot.revoked_serials),
    };
    with_partners(config, &snapshot.federation)
}

/// Copies of `entries`, each behind its own shared pointer as the document holds them.
fn shared<T: Clone>(entries: &[T]) -> SharedList<T> {
    entries.iter().cloned().map(Arc::new).collect()
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
        config.members = with_more(&config.members, &view.members, |m| &m.id, from_here);
        config.subsystems = with_more(
            &config.subsystems,
            &view.subsystems,
            |s| s.member(),
            from_here,
        );
        config.gateways = with_more(
            &config.gateways,
            &view.gateways,
            |g| g.id.member(),
            from_here,
        );
        config.services = with_more(
            &config.services,
            &view.services,
            |s| s.id.member(),
            from_here,
        );
    }
    config.federation = trusted.into_values().map(|(_, entry)| entry).collect();
    config
}

/// `list` with the entries of `more` whose member `from_here` accepts, sorted by id text.
fn with_more<T: Clone + Keyed>(
    list: &SharedList<T>,
    more: &[T],
    member: impl Fn(&T) -> &MemberId,
    from_here: impl Fn(&MemberId) -> bool,
) -> SharedList<T> {
    let mut merged: Vec<Arc<T>> = list.iter().cloned().collect();
    merged.extend(
        more.iter()
            .filter(|entry| from_here(member(entry)))
            .cloned()
            .map(Arc::new),
    );
    sort_by_text(&mut merged, |entry| entry.key());
    SharedList::from(merged)
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

/// The last version this process built, with the tree over its entries and the registry
/// generation it reflects, and the versions before it as deltas, for gateways that hold one of
/// them (DESIGN.md "delta at scale").
struct DeltaHistory {
    latest: HeldConfig,
    generation: i64,
    /// One delta per version step, oldest first, ending at `latest`.
    steps: VecDeque<Arc<ConfigDelta>>,
    /// The bodies served to `latest` from each base asked for, so that the gateways a version
    /// wakes together share one composition and serialisation; forgotten with each new latest.
    bodies: BTreeMap<u64, DeltaBody>,
}

/// A delta's JSON as served, with the version it produces.
#[derive(Debug, Clone)]
pub struct DeltaBody {
    /// The version the delta produces.
    pub version: u64,
    /// The delta ([`ConfigDelta`] JSON).
    pub json: Bytes,
}

/// The delta bodies a history keeps, in bytes, whatever the steps hold: bodies from older bases
/// can approach a quarter of the document each; past this they are composed per request.
const MAX_KEPT_BODY_BYTES: usize = 8 << 20;

impl DeltaHistory {
    fn new(latest: HeldConfig, generation: i64) -> Self {
        Self {
            latest,
            generation,
            steps: VecDeque::new(),
            bodies: BTreeMap::new(),
        }
    }

    /// [`Self::since`] as served, composed and serialised once per base while it fits within
    /// [`MAX_KEPT_BODY_BYTES`].
    fn body_since(&mut self, from: u64) -> Result<Option<DeltaBody>, ContentError> {
        if let Some(body) = self.bodies.get(&from) {
            return Ok(Some(body.clone()));
        }
        let Some(delta) = self.since(from) else {
            return Ok(None);
        };
        let body = DeltaBody {
            version: delta.version,
            json: Bytes::from(serde_json::to_vec(&delta)?),
        };
        let kept: usize = self.bodies.values().map(|b| b.json.len()).sum();
        if kept + body.json.len() <= MAX_KEPT_BODY_BYTES {
            self.bodies.insert(from, body.clone());
        }
        Ok(Some(body))
    }

    /// The entries a delta may name before sending the whole document is the better deal: a
    /// quarter of the document's, and never fewer than [`MIN_DELTA_BUDGET`].
    fn budget(&self) -> usize {
        let config = self.latest.config();
        let entries = config.members.len()
            + config.subsystems.len()
            + config.gateways.len()
            + config.services.len();
        (entries / 4).max(MIN_DELTA_BUDGET)
    }

    /// Replaces the latest version with one built whole, whose delta from the latest is `step`
    /// (computed by [`step_between`]); forgets the steps if there is none (a version published
    /// elsewhere came between).
    fn replace(&mut self, latest: HeldConfig, generation: i64, step: Option<ConfigDelta>) {
        match step {
            Some(step) if step.from_version == self.latest.config().version => {
                self.steps.push_back(Arc::new(step));
            }
            _ => self.steps.clear(),
        }
        self.latest = latest;
        self.generation = generation;
        self.bodies.clear();
        self.trim();
    }

    /// Makes the latest version's successor from `increment`: works out the delta, has the
    /// tree give the head it produces, signs the head and takes the changes. The new version's
    /// delta is returned and kept as a step.
    fn extend(
        &mut self,
        increment: &Increment,
        publisher: &Publisher,
        version: u64,
        issued_at: OffsetDateTime,
    ) -> Result<Arc<ConfigDelta>, PublishError> {
        let mut delta = increment::delta_of(
            self.latest.config(),
            increment,
            &publisher.description,
            version,
        );
        let expires_at = issued_at + publisher.description.validity;
        let proposed = self.latest.propose(&delta, issued_at, expires_at)?;
        delta.head = publisher.signer.sign_head(proposed.head())?;
        let staged = proposed.signed(&delta)?;
        self.latest.commit(staged)?;
        let delta = Arc::new(delta);
        self.steps.push_back(delta.clone());
        self.bodies.clear();
        self.generation = increment.generation;
        self.trim();
        Ok(delta)
    }

    /// Forgets the oldest steps past [`DELTA_STEPS`] or the budget.
    fn trim(&mut self) {
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
    /// The entries built do not form a configuration (a list out of order, say).
    #[error("building the configuration: {0}")]
    Content(#[from] ContentError),
    /// A version's document can no longer be written.
    #[error("configuration version {0} has no document to serve")]
    NoDocument(u64),
    /// The authority is stopping.
    #[error("the authority stopped while writing the configuration: {0}")]
    Stopped(String),
    /// A stored version does not check against its signed head.
    #[error("stored configuration: {0}")]
    Stored(#[from] psn_pki::ConfigVerifyError),
}

/// Where [`Publisher::restore_documents`] starts a version from: the stored document of the
/// version before, or the version it just restored.
enum Base {
    Document(String),
    Held(HeldConfig),
}

impl Base {
    /// The version `delta` (JSON) makes from this one, its document's digest and its document,
    /// each checked as a gateway checks them.
    fn with_delta(
        self,
        delta: &str,
        ca_der: &[u8],
        network: &NetworkId,
    ) -> Result<(HeldConfig, String, String), PublishError> {
        let mut held = match self {
            Base::Held(held) => held,
            Base::Document(document) => {
                psn_pki::verify_config(&document, ca_der, network, usize::MAX)?.held
            }
        };
        let delta: ConfigDelta = serde_json::from_str(delta).map_err(ContentError::from)?;
        let (head, _) = psn_pki::verify_config_head(&delta.head, ca_der, network)?;
        held.apply(&delta, &head)?;
        let document = held.document().map_err(ContentError::from)?;
        let digest = b64url(&sha256(document.as_bytes()));
        Ok((held, digest, document))
    }
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

    /// The changes from version `from` to the latest published version as served (JSON), when
    /// this process published every version in between and they are few enough to beat the
    /// whole document. The gateways a version wakes together share one serialisation.
    pub fn delta_since(&self, from: u64) -> Result<Option<DeltaBody>, ContentError> {
        match self.history().as_mut() {
            Some(history) => history.body_since(from),
            None => Ok(None),
        }
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
            .map(|h| h.latest.shared())
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
    ///
    /// A version is worked out from the last one this process built when the registry's change
    /// log says only some members' entries changed since ([`Store::increment_since`]); otherwise
    /// it is built whole from a snapshot of the registry. Either way it is stored before it is
    /// announced.
    pub async fn publish(&self) -> Result<Arc<Published>, PublishError> {
        let mut force = self.lock.lock().await;
        if *force {
            if let Err(e) = self.restore_documents().await {
                tracing::warn!(error = %e, "could not restore the documents of versions stored as deltas; they stay without");
            }
        }
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
                    let document = Body::Written(Bytes::from(document));
                    return Ok(self.announce(latest.version, latest.expires_at, document));
                }
            }
        }
        let version = latest.as_ref().map_or(1, |l| l.version + 1);
        // The base: the last version this process built, if it is the newest stored.
        let base = self
            .history()
            .as_ref()
            .filter(|h| latest.as_ref().map(|l| l.version) == Some(h.latest.config().version))
            .map(|h| h.generation);
        let increment = match base {
            Some(since) if !*force => self.store.increment_since(since).await?,
            _ => None,
        };
        let published = match increment {
            Some(increment) => self.publish_increment(&increment, version, now).await,
            None => self.publish_whole(version, now).await,
        };
        if published.is_err() {
            // What this process holds may be ahead of what was stored; the next version is
            // built whole.
            *self.history() = None;
        }
        *force = false;
        published
    }

    /// Writes the whole documents of versions stored as deltas whose documents were never
    /// written, because the process stopped between storing the version and writing its
    /// document. Each is the version before it with its delta applied, checked against the
    /// delta's signed head as a gateway checks it, so the document written is the one gateways
    /// that took the delta hold. Returns how many were written.
    async fn restore_documents(&self) -> Result<usize, PublishError> {
        let missing = self.store.versions_without_documents().await?;
        if missing.is_empty() {
            return Ok(0);
        }
        let ca_der: Arc<[u8]> = psn_pki::parse_pem_certificates(&self.description.ca_certificate)?
            .into_iter()
            .next()
            .map(|der| der.to_vec().into())
            .ok_or_else(|| psn_pki::PkiError::Unreadable {
                what: "CA certificate",
                reason: "no certificate".into(),
            })?;
        let network = self.description.network.clone();
        let mut held: Option<HeldConfig> = None;
        let mut restored = 0;
        for version in missing {
            let base = match held.take() {
                Some(held) if held.config().version + 1 == version => Base::Held(held),
                _ => match self.store.config_version(version - 1).await? {
                    Some(ConfigRecord {
                        document: Some(document),
                        ..
                    }) => Base::Document(document),
                    _ => {
                        tracing::warn!(
                            version,
                            "the version before has no document; this one stays without"
                        );
                        continue;
                    }
                },
            };
            let Some(delta) = self
                .store
                .config_version(version)
                .await?
                .and_then(|r| r.delta)
            else {
                continue;
            };
            let (ca_der, network) = (ca_der.clone(), network.clone());
            let (next, digest, document) =
                tokio::task::spawn_blocking(move || base.with_delta(&delta, &ca_der, &network))
                    .await
                    .map_err(|e| PublishError::Stopped(e.to_string()))??;
            self.store
                .set_config_document(version, &digest, &document)
                .await?;
            tracing::info!(
                version,
                "restored the document of a version stored as a delta"
            );
            held = Some(next);
            restored += 1;
        }
        Ok(restored)
    }

    /// Publishes `version` worked out from the last one: only the changed members' entries are
    /// read, hashed and signed for. The version is stored as its delta; its whole document is
    /// written once it is announced.
    async fn publish_increment(
        &self,
        increment: &Increment,
        version: u64,
        now: OffsetDateTime,
    ) -> Result<Arc<Published>, PublishError> {
        let extended = self.history().as_mut().map(|history| {
            let delta = history.extend(increment, self, version, now)?;
            Ok::<_, PublishError>((delta, history.latest.shared()))
        });
        // The caller found the last version held; should it be gone, the version is built whole.
        let Some(extended) = extended else {
            return self.publish_whole(version, now).await;
        };
        let (delta, config) = extended?;
        let stored = serde_json::to_string(delta.as_ref()).map_err(ContentError::from)?;
        self.store
            .insert_config(
                version,
                increment.generation,
                now,
                config.expires_at,
                StoredVersion::Delta(&stored),
            )
            .await?;
        tracing::info!(
            version,
            members = increment.members.len(),
            entries = delta.entries(),
            "published configuration worked out from the last version"
        );
        let expires_at = config.expires_at;
        let published = self.announce(version, expires_at, Body::From(delta.head.clone(), config));
        let store = self.store.clone();
        let writing = published.clone();
        tokio::spawn(async move {
            let written = async {
                let document = writing.document().await?;
                // Hashing and checking tens of megabytes stays off the runtime's threads.
                let (digest, text) = tokio::task::spawn_blocking(move || {
                    let digest = b64url(&sha256(&document));
                    String::from_utf8(document.to_vec())
                        .map(|text| (digest, text))
                        .map_err(|e| ContentError::Serialise(e.to_string()))
                })
                .await
                .map_err(|e| PublishError::Stopped(e.to_string()))??;
                store
                    .set_config_document(writing.version, &digest, &text)
                    .await?;
                Ok::<(), PublishError>(())
            };
            if let Err(e) = written.await {
                tracing::warn!(version = writing.version, error = %e, "could not store the configuration's whole document; its delta is stored");
            }
        });
        Ok(published)
    }

    /// Publishes `version` built whole from a snapshot of the registry.
    async fn publish_whole(
        &self,
        version: u64,
        now: OffsetDateTime,
    ) -> Result<Arc<Published>, PublishError> {
        let snapshot = self.store.snapshot().await?;
        let config = build_config(&snapshot, &self.description, version, now);
        let unsigned = UnsignedConfig::new(config)?;
        let head = self.signer.sign_head(unsigned.head())?;
        let held = unsigned.signed(head);
        let document = held.document().map_err(ContentError::from)?;
        let digest = b64url(&sha256(document.as_bytes()));
        let config = held.shared();
        // The delta for gateways is worked out on another core while the version is stored;
        // both are done before the version is announced.
        let step = {
            let previous = self.history().as_ref().map(|h| h.latest.shared());
            let config = config.clone();
            let head = held.head().to_owned();
            tokio::task::spawn_blocking(move || step_between(previous.as_deref(), &config, &head))
        };
        let stored = self.store.insert_config(
            version,
            snapshot.generation,
            now,
            config.expires_at,
            StoredVersion::Whole {
                digest: &digest,
                document: &document,
            },
        );
        let (step, stored) = tokio::join!(step, stored);
        stored?;
        {
            let mut history = self.history();
            match history.as_mut() {
                Some(history) => history.replace(held, snapshot.generation, step.ok().flatten()),
                None => *history = Some(DeltaHistory::new(held, snapshot.generation)),
            }
        }
        tracing::info!(
            version,
            members = config.members.len(),
            gateways = config.gateways.len(),
            services = config.services.len(),
            bytes = document.len(),
            "published configuration"
        );
        let document = Body::Written(Bytes::from(document));
        Ok(self.announce(version, config.expires_at, document))
    }

    /// Makes `version` the current one.
    fn announce(&self, version: u64, expires_at: OffsetDateTime, body: Body) -> Arc<Published> {
        let (document, source) = match body {
            Body::Written(document) => (tokio::sync::OnceCell::from(document), None),
            Body::From(head, config) => (tokio::sync::OnceCell::new(), Some((head, config))),
        };
        let published = Arc::new(Published {
            version,
            etag: format!("\"v{version}\""),
            expires_at,
            document,
            source: std::sync::Mutex::new(source),
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
                .map(|i| {
                    Arc::new(MemberEntry {
                        id: format!("GB/LA/M{i:05}").parse().expect("member"),
                        name: format!("Member {i}"),
                        status: MemberStatus::Active,
                        sector: None,
                        region: None,
                    })
                })
                .collect(),
            subsystems: Default::default(),
            gateways: Default::default(),
            services: Default::default(),
            federation: vec![],
            revoked_serials: vec![],
        })
    }

    /// Stands for a version's signed head: these tests look at the changes, not the signature.
    const HEAD: &str = "head";

    /// `config` held as the publisher holds what it built.
    fn held(config: &GlobalConfig) -> HeldConfig {
        UnsignedConfig::new(config.clone())
            .expect("sorted lists")
            .signed(HEAD.into())
    }

    fn history_through(sizes: &[usize]) -> DeltaHistory {
        let mut history = DeltaHistory::new(held(&config(1, sizes[0])), 1);
        for (i, size) in sizes.iter().enumerate().skip(1) {
            let next = config(i as u64 + 1, *size);
            let step = step_between(Some(history.latest.config()), &next, HEAD);
            history.replace(held(&next), i as i64 + 1, step);
        }
        history
    }

    #[test]
    fn a_body_is_served_from_one_serialisation_until_the_next_version() {
        let mut history = history_through(&[1, 2, 3]);
        let first = history.body_since(2).expect("body").expect("held");
        let again = history.body_since(2).expect("body").expect("held");
        assert_eq!(
            first.json.as_ptr(),
            again.json.as_ptr(),
            "one serialisation"
        );
        let served: ConfigDelta = serde_json::from_slice(&first.json).expect("delta");
        assert_eq!(Some(served), history.since(2));
        assert_eq!(first.version, 3);
        let next = config(4, 5);
        let step = step_between(Some(history.latest.config()), &next, HEAD);
        history.replace(held(&next), 4, step);
        let after = history.body_since(2).expect("body").expect("held");
        assert_eq!(
            after.version, 4,
            "the next version's body, not the kept one"
        );
        assert!(history.body_since(9).expect("body").is_none());
    }

    #[test]
    fn a_gateway_steps_behind_gets_one_composed_delta() {
        let history = history_through(&[1, 2, 3, 5]);
        let delta = history.since(1).expect("delta from 1");
        assert_eq!((delta.from_version, delta.version), (1, 4));
        assert_eq!(delta.members.upsert.len(), 4);
        let upserted: Vec<&MemberEntry> = delta.members.upsert.iter().collect();
        let latest = config(4, 5);
        let listed: Vec<&MemberEntry> = latest.members.iter_from(1).map(|m| m.as_ref()).collect();
        assert_eq!(upserted, listed);
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
        let step = step_between(Some(history.latest.config()), &skipped, HEAD);
        assert!(step.is_none(), "version 4 was published elsewhere");
        history.replace(held(&skipped), 5, step);
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
                subsystems: Default::default(),
                gateways: Default::default(),
                services: Default::default(),
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
