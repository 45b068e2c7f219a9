//! Lightweight configuration followers (issue 22, part 4): many clients that follow the
//! configuration as a gateway does, without a data plane, to estimate how the time for a change to
//! reach every gateway grows with their number.
//!
//! Each follower has its own mutual-TLS connection to the authority (with a gateway's identity,
//! so the authority does for it what it does for a gateway: the long poll, the delta, the note of
//! the version it holds) and long-polls `GET /v1/config/delta` from the version it holds. When a
//! delta arrives it checks the head's signature and the changes against the root, as a gateway's
//! store does. The followers share one held version, read-only while they check: a real gateway
//! holds its own copy, but the cost of the check, not the memory of a thousand copies, is what
//! is measured. Once every follower has checked a round's delta, the shared version takes it and
//! the next round begins.
//!
//! A round suspends or reinstates a member and times, from the start of that call, until each
//! follower holds the new version. The followers run in this process on the same two cores as
//! the authority (and the running gateways), so the figures are pessimistic for a network whose
//! gateways have machines of their own.

use super::stats::Summary;
use anyhow::{bail, Context};
use psn_api::{AuthorityClient, ConfigFetch, DeltaFetch, StatusChange};
use psn_core::config_delta::HeldConfig;
use psn_core::names::{MemberId, NetworkId};
use serde::Serialize;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// What the followers measured.
#[derive(Debug, Clone, Serialize)]
pub struct FollowerFigures {
    /// How many followers.
    pub followers: usize,
    /// Each round, in order.
    pub rounds: Vec<FollowerRound>,
    /// Time from the start of the change until a follower held it, over every follower of
    /// every round (milliseconds).
    pub held: Option<Summary>,
    /// Time from the start of the change until the last follower held it, over rounds.
    pub last: Option<Summary>,
    /// The suspension call itself (registry change and publish), the anchor (milliseconds).
    pub call: Option<Summary>,
}

/// One change followed.
#[derive(Debug, Clone, Serialize)]
pub struct FollowerRound {
    /// The version the change produced.
    pub version: u64,
    /// The suspension or reinstatement call (milliseconds).
    pub call_ms: f64,
    /// From the start of the call until each follower held the version (milliseconds).
    pub held: Option<Summary>,
}

impl FollowerFigures {
    /// An estimate of the time until the last of `n` followers holds a change, p99 over rounds:
    /// each round's first follower's time stays, and each further follower adds what one cost
    /// here (the spread between the first and the last, shared out), as if the work per
    /// follower stayed the same. Followers on machines of their own would do better.
    pub fn estimate_ms(&self, n: usize) -> Option<f64> {
        let lasts: Vec<f64> = self
            .rounds
            .iter()
            .filter_map(|r| r.held)
            .map(|held| {
                let per = (held.max - held.min) / self.followers.saturating_sub(1).max(1) as f64;
                held.min + per * n.saturating_sub(1) as f64
            })
            .collect();
        Summary::of(&lasts).map(|s| s.p99)
    }
}

/// Where the followers follow: the authority, with the identity each follower presents.
pub struct FollowSetting<'a> {
    /// The authority's URL.
    pub url: &'a str,
    /// The network CA (DER).
    pub ca_der: &'a [u8],
    /// The network.
    pub network: &'a NetworkId,
    /// An enrolled gateway, whose identity every follower presents.
    pub identity: &'a psn_gateway::GatewayDir,
    /// An operator of the authority, who makes the changes.
    pub operator: &'a AuthorityClient,
    /// The member suspended and reinstated in turn; left active.
    pub toggle: &'a MemberId,
}

/// What a follower reports: the version it now holds and when, or why it stopped.
type Report = Result<(u64, Instant), String>;

/// Runs `followers` followers through `rounds` changes, each bounded by `timeout`.
pub async fn run(
    at: FollowSetting<'_>,
    followers: usize,
    rounds: usize,
    timeout: Duration,
) -> anyhow::Result<FollowerFigures> {
    let held = match at.operator.config(None, None).await? {
        ConfigFetch::Document { document, .. } => {
            let max = psn_gateway::MAX_CONFIG_BYTES;
            psn_pki::verify_config(&document, at.ca_der, at.network, max)?.held
        }
        ConfigFetch::NotModified => bail!("the authority sent no configuration"),
    };
    let versions = watch::channel(held.config().version).0;
    let base = Arc::new(RwLock::new(held));
    let (reports, mut received) = mpsc::channel::<Report>(followers.max(1));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..followers {
        let (identity, _) = at.identity.load_identity()?;
        let follower = Follower {
            client: AuthorityClient::gateway(at.url, at.ca_der, identity)?,
            ca_der: at.ca_der.to_vec(),
            network: at.network.clone(),
            base: base.clone(),
            versions: versions.subscribe(),
        };
        let reports = reports.clone();
        tasks.spawn(async move {
            if let Err(e) = follower.follow(&reports).await {
                let _ = reports.send(Err(format!("{e:#}"))).await;
            }
        });
    }
    let change = StatusChange {
        reason: Some("follower benchmark".into()),
    };
    let (mut done, mut every, mut suspended) = (Vec::new(), Vec::new(), false);
    for _ in 0..rounds {
        let start = Instant::now();
        let changed = if suspended {
            at.operator.reinstate_member(at.toggle, &change).await?
        } else {
            at.operator.suspend_member(at.toggle, &change).await?
        };
        let call_ms = ms(start.elapsed());
        suspended = !suspended;
        let version = changed.config_version;
        let mut times = Vec::with_capacity(followers);
        let deadline = tokio::time::Instant::now() + timeout;
        while times.len() < followers {
            let report = tokio::time::timeout_at(deadline, received.recv()).await;
            match report {
                Ok(Some(Ok((held, when)))) if held == version => {
                    times.push(ms(when.saturating_duration_since(start)));
                }
                Ok(Some(Ok((held, _)))) => bail!("a follower held version {held}, not {version}"),
                Ok(Some(Err(e))) => bail!("a follower stopped: {e}"),
                Ok(None) | Err(_) => bail!(
                    "{} of {followers} followers held version {version} within {timeout:?}",
                    times.len()
                ),
            }
        }
        done.push(FollowerRound {
            version,
            call_ms,
            held: Summary::of(&times),
        });
        every.extend(times);
        take(at.operator, at.ca_der, at.network, &base, version).await?;
        versions.send_replace(version);
    }
    tasks.abort_all();
    if suspended {
        at.operator
            .reinstate_member(at.toggle, &StatusChange::default())
            .await?;
    }
    let lasts: Vec<f64> = done.iter().filter_map(|r| r.held.map(|h| h.max)).collect();
    let calls: Vec<f64> = done.iter().map(|r| r.call_ms).collect();
    Ok(FollowerFigures {
        followers,
        held: Summary::of(&every),
        last: Summary::of(&lasts),
        call: Summary::of(&calls),
        rounds: done,
    })
}

/// One follower: its own connection, and the version all followers share.
struct Follower {
    client: AuthorityClient,
    ca_der: Vec<u8>,
    network: NetworkId,
    base: Arc<RwLock<HeldConfig>>,
    versions: watch::Receiver<u64>,
}

impl Follower {
    /// Long-polls for the delta from the shared version, checks it as a gateway's store does
    /// (the head's signature, then the changes against the root) and reports; then waits for the
    /// shared version to take it.
    async fn follow(mut self, reports: &mpsc::Sender<Report>) -> anyhow::Result<()> {
        const WAIT: Duration = Duration::from_secs(30);
        loop {
            let from = *self.versions.borrow_and_update();
            let delta = match self.client.config_delta(from, Some(WAIT)).await? {
                DeltaFetch::NotModified => continue,
                DeltaFetch::Unavailable => bail!("the authority holds no delta from {from}"),
                DeltaFetch::Delta(delta) => delta,
            };
            let (head, _) = psn_pki::verify_config_head(&delta.head, &self.ca_der, &self.network)?;
            {
                let base = self
                    .base
                    .read()
                    .map_err(|_| anyhow::anyhow!("the shared version was poisoned"))?;
                base.stage(&delta, &head)?;
            }
            reports
                .send(Ok((delta.version, Instant::now())))
                .await
                .context("the benchmark stopped listening")?;
            while *self.versions.borrow_and_update() == from {
                self.versions.changed().await?;
            }
        }
    }
}

/// Moves the shared version to `version` by its delta, once every follower checked it.
async fn take(
    operator: &AuthorityClient,
    ca_der: &[u8],
    network: &NetworkId,
    base: &RwLock<HeldConfig>,
    version: u64,
) -> anyhow::Result<()> {
    let from = base
        .read()
        .map_err(|_| anyhow::anyhow!("the shared version was poisoned"))?
        .config()
        .version;
    let DeltaFetch::Delta(delta) = operator.config_delta(from, None).await? else {
        bail!("the authority sent no delta from version {from}");
    };
    if delta.version != version {
        bail!(
            "the delta from {from} leads to {}, not {version}",
            delta.version
        );
    }
    let (head, _) = psn_pki::verify_config_head(&delta.head, ca_der, network)?;
    base.write()
        .map_err(|_| anyhow::anyhow!("the shared version was poisoned"))?
        .apply(&delta, &head)?;
    Ok(())
}

fn ms(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}
