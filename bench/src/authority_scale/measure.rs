//! In-process measurements of the two halves of a configuration change: the authority's build
//! (the real `Publisher` on the seeded registry, and each of its steps alone) and a gateway's
//! load of the result (each step of what `psn gateway serve` does with a new version), each
//! repeated so that a median, a minimum and a maximum can be given.

use super::stats::Summary;
use anyhow::{bail, Context};
use psn_api::AuthorityClient;
use psn_authority::datadir::DataDir;
use psn_authority::publish::{build_config, AuthorityDescription, Publisher};
use psn_authority::store::Store;
use psn_core::config::MemberStatus;
use psn_core::names::{MemberId, NetworkId};
use psn_gateway::{ConfigStore, GatewayDir};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// One measured step: its samples (milliseconds) and their summary.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// What was timed.
    pub name: &'static str,
    /// Every sample, in the order taken.
    pub samples_ms: Vec<f64>,
    /// Their summary.
    pub summary: Option<Summary>,
}

impl Step {
    /// A step of `samples_ms`, summarised.
    pub(super) fn new(name: &'static str, samples_ms: Vec<f64>) -> Self {
        let summary = Summary::of(&samples_ms);
        Self {
            name,
            samples_ms,
            summary,
        }
    }

    /// The median, if anything was measured.
    pub fn median(&self) -> Option<f64> {
        self.summary.map(|s| s.p50)
    }
}

/// The configuration build at the authority.
#[derive(Debug, Clone, Serialize)]
pub struct BuildFigures {
    /// Reading the registry (one transaction).
    pub snapshot: Step,
    /// Building the document from the snapshot.
    pub build: Step,
    /// The tree over its entries, the head signed (JWS, EdDSA) and the document written.
    pub sign: Step,
    /// The authority's publish after one member's change, as a suspension runs it: the change
    /// log and the member's rows read, the delta worked out from the last version, the tree
    /// updated, the head signed and the delta stored (the whole document follows it).
    pub publish: Step,
    /// Part of `publish`: reading the latest stored version's number and generation, which the
    /// publisher does first (and every second) to decide whether to build.
    pub latest: Step,
    /// Size of the signed document, bytes.
    pub document_bytes: usize,
    /// What the document lists.
    pub members: usize,
    /// Subsystems listed.
    pub subsystems: usize,
    /// Gateways listed.
    pub gateways: usize,
    /// Services listed.
    pub services: usize,
}

impl BuildFigures {
    /// A whole build's median: snapshot, build, tree and signature.
    pub fn whole_median(&self) -> Option<f64> {
        Some(self.snapshot.median()? + self.build.median()? + self.sign.median()?)
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Times the authority's configuration build on the registry in `dir` (the authority must not be
/// running). The whole publish is timed after real registry changes: `toggle` is suspended and
/// reinstated in turn, so each publish has something new to build, and is left active.
pub async fn build(
    dir: &DataDir,
    public_url: &str,
    toggle: &MemberId,
    repetitions: usize,
) -> anyhow::Result<BuildFigures> {
    let settings = dir
        .load_settings()
        .map_err(anyhow::Error::msg)
        .context("the authority's settings")?;
    let read = |path: std::path::PathBuf| {
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    };
    let signer = psn_pki::ConfigSigner::load(&read(dir.signer_key())?, &read(dir.signer_cert())?)?;
    let description = AuthorityDescription {
        network: settings.network.clone(),
        endpoints: vec![public_url.to_owned()],
        ca_certificate: read(dir.ca_cert())?,
        validity: settings.config_validity,
    };
    let store = Arc::new(Store::open(&dir.database_url(&settings)).await?);
    let result = build_with(&store, signer, description, toggle, repetitions).await;
    store.close().await;
    result
}

async fn build_with(
    store: &Arc<Store>,
    signer: psn_pki::ConfigSigner,
    description: AuthorityDescription,
    toggle: &MemberId,
    repetitions: usize,
) -> anyhow::Result<BuildFigures> {
    let (mut snapshots, mut builds, mut signs, mut publishes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let now = time::OffsetDateTime::now_utc();
    let mut last = None;
    for _ in 0..repetitions {
        let start = Instant::now();
        let snapshot = store.snapshot().await?;
        snapshots.push(ms(start));
        let start = Instant::now();
        let config = build_config(&snapshot, &description, 1, now);
        builds.push(ms(start));
        let start = Instant::now();
        let signed = signer.sign(&config)?;
        signs.push(ms(start));
        last = Some((config, signed.document));
    }
    let Some((config, document)) = last else {
        bail!("no build was measured (repetitions must be at least 1)");
    };
    let publisher = Publisher::new(store.clone(), signer, description);
    // The first publish of a publisher always builds; it is the authority's start, not a change.
    publisher.publish().await?;
    let mut status = MemberStatus::Active;
    for _ in 0..repetitions {
        status = match status {
            MemberStatus::Active => MemberStatus::Suspended,
            _ => MemberStatus::Active,
        };
        store
            .set_member_status("benchmark", toggle, status, Some("build benchmark"))
            .await?;
        let start = Instant::now();
        publisher.publish().await?;
        publishes.push(ms(start));
    }
    let mut latest = Vec::new();
    for _ in 0..repetitions {
        let start = Instant::now();
        store.latest_config().await?;
        latest.push(ms(start));
    }
    if status != MemberStatus::Active {
        store
            .set_member_status("benchmark", toggle, MemberStatus::Active, None)
            .await?;
    }
    Ok(BuildFigures {
        snapshot: Step::new("snapshot", snapshots),
        build: Step::new("build", builds),
        sign: Step::new("sign", signs),
        publish: Step::new("publish", publishes),
        latest: Step::new("latest version", latest),
        document_bytes: document.len(),
        members: config.members.len(),
        subsystems: config.subsystems.len(),
        gateways: config.gateways.len(),
        services: config.services.len(),
    })
}

/// A gateway's load of a new version, step by step.
#[derive(Debug, Clone, Serialize)]
pub struct LoadFigures {
    /// Downloading the signed document from the running authority (one client, loopback TLS).
    pub download: Step,
    /// Verifying the whole document: parsing it, checking the signed head and its signer's
    /// chain, and every entry against the head's root.
    pub verify_parse: Step,
    /// Part of `verify_parse`: parsing the document JSON (names are validated as they are read).
    pub parse: Step,
    /// Part of `verify_parse`: the signed head's Ed25519 signature and its signer's chain.
    pub head: Step,
    /// Part of `verify_parse`: hashing every entry into the tree and comparing its root.
    pub tree: Step,
    /// Indexing the configuration for per-request lookups (the gateway's `View`).
    pub index: Step,
    /// The gateway's whole acceptance: verify and parse, then write the version twice (history
    /// and current) durably, as `psn gateway serve` does before using it.
    pub accept: Step,
    /// Fetching the grants on the gateway's services, which it does with every new version.
    pub grants: Step,
    /// Downloading the delta for one suspension or reinstatement, which is how a running
    /// gateway follows a change.
    pub delta_download: Step,
    /// Checking that delta and making its changes in memory, as a running gateway does: the
    /// head's signature, the changed entries against the new root, the lists changed (the
    /// document is shared with the data plane's index, so it is copied before it changes).
    pub delta_apply: Step,
    /// Accepting that delta: check it as `delta_apply`, write it durably, make the changes.
    pub delta_accept: Step,
}

impl LoadFigures {
    /// Median of the whole path a version takes through one gateway with nothing else running:
    /// download, acceptance (verify, parse, durable writes), grants, index.
    pub fn path_median(&self) -> Option<f64> {
        self.path_through(&self.download, &self.accept)
    }

    /// The same path when the new version arrives as a delta, as it does for a running gateway
    /// after a change.
    pub fn delta_path_median(&self) -> Option<f64> {
        self.path_through(&self.delta_download, &self.delta_accept)
    }

    /// Median of a version's path through one gateway, arriving by `download` and `accept`.
    fn path_through(&self, download: &Step, accept: &Step) -> Option<f64> {
        Some(download.median()? + accept.median()? + self.grants.median()? + self.index.median()?)
    }
}

/// Times the three costly parts of `psn_pki::verify_config` one by one (milliseconds): parsing
/// the document, checking its signed head, checking every entry against the head's root.
fn verify_steps(
    document: &str,
    ca_der: &[u8],
    network: &NetworkId,
) -> anyhow::Result<(f64, f64, f64)> {
    let start = Instant::now();
    let document: psn_core::config::ConfigDocument = serde_json::from_str(document)?;
    let parse = ms(start);
    let start = Instant::now();
    let (head, _) = psn_pki::verify_config_head(&document.head, ca_der, network)?;
    let signature = ms(start);
    let start = Instant::now();
    let held = psn_core::config_delta::HeldConfig::new(document.head, &head, document.config)?;
    let tree = ms(start);
    drop(held);
    Ok((parse, signature, tree))
}

/// Where [`load`] works: the running authority, the network, and the member whose status it
/// toggles to make a change for each delta.
pub struct LoadSetting<'a> {
    /// An operator of the running authority.
    pub operator: &'a AuthorityClient,
    /// The network.
    pub network: &'a NetworkId,
    /// The network CA (DER).
    pub ca_der: &'a [u8],
    /// An enrolled gateway whose identity fetches grants.
    pub provider: &'a GatewayDir,
    /// A member no gateway of the run belongs to; left active.
    pub toggle: &'a MemberId,
    /// Holds throwaway caches.
    pub scratch: &'a Path,
}

/// Times each step of a gateway's load of the authority's current configuration, whole and
/// then as a delta after a suspension or reinstatement of `toggle`.
pub async fn load(at: LoadSetting<'_>, repetitions: usize) -> anyhow::Result<LoadFigures> {
    let LoadSetting {
        operator,
        network,
        ca_der,
        provider,
        toggle,
        scratch,
    } = at;
    let (mut downloads, mut verifies, mut indexes, mut accepts, mut grants) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut delta_downloads, mut delta_applies, mut delta_accepts) =
        (Vec::new(), Vec::new(), Vec::new());
    let mut suspended = false;
    let (mut parses, mut heads, mut trees) = (Vec::new(), Vec::new(), Vec::new());
    let max = psn_gateway::MAX_CONFIG_BYTES;
    for i in 0..repetitions {
        let start = Instant::now();
        let document = match operator.config(None, None).await? {
            psn_api::ConfigFetch::Document { document, .. } => document,
            psn_api::ConfigFetch::NotModified => bail!("the authority sent no configuration"),
        };
        downloads.push(ms(start));

        let start = Instant::now();
        let verified = psn_pki::verify_config(&document, ca_der, network, max)?;
        verifies.push(ms(start));

        let (parse, head, tree) = verify_steps(&document, ca_der, network)?;
        parses.push(parse);
        heads.push(head);
        trees.push(tree);

        let mut following = verified.held;
        let start = Instant::now();
        let view = psn_gateway::plane::state::View::new(following.shared(), Arc::new(Vec::new()));
        indexes.push(ms(start));

        let dir = GatewayDir::new(scratch.join(format!("load-{i}")));
        let mut cache = ConfigStore::open(&dir, network.clone(), ca_der.to_vec())?;
        let start = Instant::now();
        cache.accept(&document, time::OffsetDateTime::now_utc())?;
        accepts.push(ms(start));

        let held = cache.current().map_or(0, |c| c.version);
        let change = psn_api::StatusChange {
            reason: Some("load benchmark".into()),
        };
        let changed = if suspended {
            operator.reinstate_member(toggle, &change).await?
        } else {
            operator.suspend_member(toggle, &change).await?
        };
        suspended = !suspended;
        let start = Instant::now();
        let psn_api::DeltaFetch::Delta(delta) = operator.config_delta(held, None).await? else {
            bail!("the authority sent no delta from version {held}");
        };
        delta_downloads.push(ms(start));
        let start = Instant::now();
        let (head, _) = psn_pki::verify_config_head(&delta.head, ca_der, network)?;
        following.apply(&delta, &head)?;
        delta_applies.push(ms(start));
        drop(view);
        let start = Instant::now();
        let accepted = cache.accept_delta(&delta, time::OffsetDateTime::now_utc())?;
        delta_accepts.push(ms(start));
        if accepted != psn_gateway::Accepted::New(changed.config_version) {
            bail!(
                "the delta gave {accepted:?}, not version {}",
                changed.config_version
            );
        }
        drop(cache);
        std::fs::remove_dir_all(dir.root())
            .with_context(|| format!("removing {}", dir.root().display()))?;

        let start = Instant::now();
        psn_gateway::admin::grants(provider).await?;
        grants.push(ms(start));
    }
    if suspended {
        operator
            .reinstate_member(toggle, &psn_api::StatusChange::default())
            .await?;
    }
    Ok(LoadFigures {
        download: Step::new("download", downloads),
        verify_parse: Step::new("verify and parse", verifies),
        parse: Step::new("parse", parses),
        head: Step::new("head", heads),
        tree: Step::new("tree", trees),
        index: Step::new("index", indexes),
        accept: Step::new("accept", accepts),
        grants: Step::new("grants", grants),
        delta_download: Step::new("delta download", delta_downloads),
        delta_apply: Step::new("delta apply", delta_applies),
        delta_accept: Step::new("delta accept", delta_accepts),
    })
}
