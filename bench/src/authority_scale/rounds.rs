//! Suspension rounds: a member is suspended through the operator API while the benchmark holds
//! a connection as that member to every running provider gateway; each gateway's refusal is
//! timed from the moment the suspension was sent, then the member is reinstated and the round
//! ends only once every gateway accepts it again, so rounds never overlap.

use super::network::{Authority, Provider, Victim};
use super::peer::{Held, PeerClient, Probe};
use super::process::Process;
use anyhow::{anyhow, bail, Context};
use psn_api::StatusChange;
use psn_core::names::ServiceId;
use serde::Serialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::time::Instant;

/// How often a gateway that does not accept the reinstated member yet is asked again. Waiting
/// for reinstatement is synchronisation between rounds, not the measurement.
const REINSTATE_POLL: Duration = Duration::from_millis(100);

/// Share of the machine's CPU capacity over a round that other work may take before the round
/// counts as contended. Not zero: the kernel's own work for the gateways (writing back their
/// configuration files, networking) is counted as other work too, about 5% in a quiet run.
pub const CONTENDED_SHARE: f64 = 0.10;

/// Whether other work took more than [`CONTENDED_SHARE`] of `cpus` over `duration_ms`.
pub fn is_contended(other_cpu_seconds: f64, duration_ms: f64, cpus: usize) -> bool {
    other_cpu_seconds > CONTENDED_SHARE * cpus as f64 * duration_ms / 1000.0
}

/// Whether a round ran against one gateway alone or the whole fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// One gateway running, nothing competing with it: a gateway's own reload.
    Solo,
    /// Every gateway running: the fan-out of one version to all of them.
    Fleet,
    /// Every gateway running, the member one of a federated regional network suspended by its
    /// own authority: the partner's publish, this authority's poll of its view and publish, and
    /// the fan-out (docs/federation.md).
    Federated,
}

/// One gateway's part in a round.
#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    /// The gateway.
    pub gateway: String,
    /// From sending the suspension to the gateway closing the member's connection.
    pub refused_ms: f64,
    /// From the suspension call's answer (the new version is published by then) to the refusal.
    pub after_publish_ms: f64,
    /// From sending the suspension to the gateway's own log line saying it applied the version
    /// (its clock is this machine's), if the line was found.
    pub applied_logged_ms: Option<f64>,
    /// What a fresh connection as the member found right after the refusal.
    pub confirmation: String,
    /// The configuration version the gateway reported in force after the refusal.
    pub version_after: u64,
    /// From sending the reinstatement to the gateway accepting the member again.
    pub reinstated_ms: f64,
}

/// One suspension and reinstatement.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    /// 1-based, within its kind.
    pub round: usize,
    /// Solo or fleet.
    pub kind: Kind,
    /// The member suspended.
    pub member: String,
    /// When the suspension was sent.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// How long the suspension call took: the registry change plus the authority's publish.
    pub suspend_call_ms: f64,
    /// From sending the suspension to the authority's log line saying it published the version.
    pub published_logged_ms: Option<f64>,
    /// The version that suspends the member.
    pub config_version: u64,
    /// How long the reinstatement call took.
    pub reinstate_call_ms: f64,
    /// The version that reinstates the member.
    pub reinstate_version: u64,
    /// Until the last gateway refused the member.
    pub all_refused_ms: f64,
    /// Until the last gateway accepted the member again, from sending the reinstatement.
    pub all_reinstated_ms: f64,
    /// CPU seconds the gateways used from the suspension until the last refusal.
    pub gateway_cpu_seconds: f64,
    /// CPU seconds the authority used in the same interval.
    pub authority_cpu_seconds: f64,
    /// Megabytes the gateways wrote to storage in the same interval.
    pub gateway_written_mb: f64,
    /// CPU seconds the rest of the machine used in the same interval: everything busy but the
    /// gateways, the authority and this benchmark. Far from zero means something else competed
    /// for the CPUs and the round's times are inflated.
    pub other_cpu_seconds: f64,
    /// Whether other work competed for the CPUs (see [`is_contended`]): the round's times are
    /// then inflated by it.
    pub contended: bool,
    /// Each gateway's part.
    pub observations: Vec<Observation>,
}

/// What a round needs of a provider gateway.
struct Target {
    name: String,
    external: SocketAddr,
    service: ServiceId,
    log: PathBuf,
}

/// Whose member the victim is: this network's (the measured authority suspends it), or a
/// federated partner's, whose own authority suspends it.
pub enum Registrar<'a> {
    /// The measured authority.
    Own,
    /// A partner network's authority; `ca_der` is the measured network's CA, which the victim's
    /// gateway identity needs to check the providers' certificates.
    Partner {
        authority: &'a Authority,
        ca_der: &'a [u8],
        network: &'a psn_core::names::NetworkId,
    },
}

/// Runs one round against `providers` (all running), suspending `victim` through `registrar`.
pub async fn run(
    authority: &mut Authority,
    registrar: &Registrar<'_>,
    providers: &mut [Provider],
    victim: &Victim,
    kind: Kind,
    round: usize,
    timeout: Duration,
) -> anyhow::Result<Round> {
    let (operator, partner, partners) = match registrar {
        Registrar::Own => (authority.operator.clone(), None, Vec::new()),
        Registrar::Partner {
            authority: partner,
            ca_der,
            network,
        } => (
            partner.operator.clone(),
            Some(&partner.process),
            vec![((*network).clone(), ca_der.to_vec())],
        ),
    };
    let client = PeerClient::new(&victim.dir, &partners)?;
    let targets: Vec<Target> = providers
        .iter()
        .map(|p| {
            Ok(Target {
                name: p.id.to_string(),
                external: p.external,
                service: p.service.clone(),
                log: p.process()?.log().to_path_buf(),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    // Before: every gateway holds a connection from the member and answers its probe.
    let mut held = Vec::new();
    for target in &targets {
        let mut connection = client.hold(target.external).await.map_err(|probe| {
            anyhow!(
                "before suspending {}, {} did not accept it: {probe:?}",
                victim.member,
                target.name
            )
        })?;
        match connection.probe(target.external, &target.service).await {
            Probe::Answered(200) => held.push(connection),
            other => bail!(
                "before suspending {}, {} answered its probe with {other:?}",
                victim.member,
                target.name
            ),
        }
    }
    let before = usage(&authority.process, partner, providers)?;

    let started_at = OffsetDateTime::now_utc();
    let sent = Instant::now();
    let change = StatusChange {
        reason: Some(format!("authority-scale benchmark, {kind:?} round {round}")),
    };
    let suspended = operator
        .suspend_member(&victim.member, &change)
        .await
        .with_context(|| format!("suspending {}", victim.member))?;
    let answered = Instant::now();

    let deadline = sent + timeout;
    let mut watches = tokio::task::JoinSet::new();
    for (index, (target, connection)) in targets.iter().zip(held).enumerate() {
        let (client, external, service) = (client.clone(), target.external, target.service.clone());
        watches.spawn(async move {
            let outcome = watch_refusal(&client, external, &service, connection, deadline).await;
            (index, outcome)
        });
    }
    let mut refusals: Vec<Option<(Instant, Probe)>> = vec![None; targets.len()];
    let mut failures = Vec::new();
    while let Some(joined) = watches.join_next().await {
        let (index, outcome) = joined.context("a refusal watcher failed")?;
        match outcome {
            Ok(refusal) => refusals[index] = Some(refusal),
            Err(e) => failures.push(format!("{}: {e:#}", targets[index].name)),
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} of {} gateways did not refuse suspended {} within {timeout:?}:\n  {}",
            failures.len(),
            targets.len(),
            victim.member,
            failures.join("\n  ")
        );
    }
    let after = usage(&authority.process, partner, providers)?;
    for provider in providers.iter_mut() {
        provider.ensure_running()?;
    }
    let mut versions = Vec::new();
    for provider in providers.iter() {
        versions.push(provider.version().await?);
    }

    let reinstate_sent = Instant::now();
    let reinstated = operator
        .reinstate_member(&victim.member, &StatusChange { reason: None })
        .await
        .with_context(|| format!("reinstating {}", victim.member))?;
    let reinstate_answered = Instant::now();
    let reinstate_deadline = reinstate_sent + timeout;
    let mut waits = tokio::task::JoinSet::new();
    for (index, target) in targets.iter().enumerate() {
        let (client, external, service) = (client.clone(), target.external, target.service.clone());
        waits.spawn(async move {
            let outcome = wait_accepted(&client, external, &service, reinstate_deadline).await;
            (index, outcome)
        });
    }
    let mut accepted_again = vec![None; targets.len()];
    while let Some(joined) = waits.join_next().await {
        let (index, outcome) = joined.context("a reinstatement watcher failed")?;
        let at = outcome.with_context(|| {
            format!(
                "{} did not accept reinstated {}",
                targets[index].name, victim.member
            )
        })?;
        accepted_again[index] = Some(at);
    }

    // The log cross-checks name this network's versions; a partner's suspension is published
    // under the partner's, so they do not apply to federated rounds.
    let own = partner.is_none();
    let published_logged_ms = own
        .then(|| {
            logged_ms(
                authority.process.log(),
                "published configuration",
                suspended.config_version,
                started_at,
            )
        })
        .flatten();
    let mut observations = Vec::new();
    for (index, target) in targets.iter().enumerate() {
        let (Some((refused_at, confirmation)), Some(accepted_at), Some(version_after)) = (
            refusals[index].clone(),
            accepted_again[index],
            versions.get(index).copied(),
        ) else {
            bail!("{}: the round lost its observation", target.name);
        };
        observations.push(Observation {
            gateway: target.name.clone(),
            refused_ms: millis(refused_at - sent),
            after_publish_ms: millis(refused_at.saturating_duration_since(answered)),
            applied_logged_ms: own
                .then(|| {
                    logged_ms(
                        &target.log,
                        "configuration updated",
                        suspended.config_version,
                        started_at,
                    )
                })
                .flatten(),
            confirmation: format!("{confirmation:?}"),
            version_after,
            reinstated_ms: millis(accepted_at - reinstate_sent),
        });
    }
    let all_refused_ms = observations
        .iter()
        .map(|o| o.refused_ms)
        .fold(0.0, f64::max);
    let all_reinstated_ms = observations
        .iter()
        .map(|o| o.reinstated_ms)
        .fold(0.0, f64::max);
    let other_cpu_seconds = (after.machine - before.machine)
        - (after.gateways - before.gateways)
        - (after.authority - before.authority)
        - (after.bench - before.bench);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(Round {
        round,
        kind,
        member: victim.member.to_string(),
        started_at,
        suspend_call_ms: millis(answered - sent),
        published_logged_ms,
        config_version: suspended.config_version,
        reinstate_call_ms: millis(reinstate_answered - reinstate_sent),
        reinstate_version: reinstated.config_version,
        all_refused_ms,
        all_reinstated_ms,
        gateway_cpu_seconds: after.gateways - before.gateways,
        authority_cpu_seconds: after.authority - before.authority,
        gateway_written_mb: (after.gateway_bytes.saturating_sub(before.gateway_bytes)) as f64 / 1e6,
        other_cpu_seconds,
        contended: is_contended(other_cpu_seconds, all_refused_ms, cpus),
        observations,
    })
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Waits for the gateway to close the member's held connection, then confirms with a fresh
/// connection that the member is refused. A connection closed for any other reason (the
/// member still answered afterwards) is replaced and watched again.
async fn watch_refusal(
    client: &PeerClient,
    external: SocketAddr,
    service: &ServiceId,
    mut connection: Held,
    deadline: Instant,
) -> anyhow::Result<(Instant, Probe)> {
    loop {
        let closed_at = tokio::time::timeout_at(deadline, &mut connection.closed)
            .await
            .map_err(|_| anyhow!("the member's connection was still open at the deadline"))?
            .map_err(|_| anyhow!("the connection watcher ended without reporting"))?;
        match client.probe_fresh(external, service).await {
            refused @ Probe::Refused(_) => return Ok((closed_at, refused)),
            Probe::Unreachable(e) => bail!("the gateway stopped accepting connections: {e}"),
            Probe::Answered(_) => {
                connection = client.hold(external).await.map_err(|probe| {
                    anyhow!("reconnecting after an unrelated close failed: {probe:?}")
                })?;
            }
        }
    }
}

/// Asks the gateway's probe as the member, with fresh connections, until it answers 200.
async fn wait_accepted(
    client: &PeerClient,
    external: SocketAddr,
    service: &ServiceId,
    deadline: Instant,
) -> anyhow::Result<Instant> {
    loop {
        match client.probe_fresh(external, service).await {
            Probe::Answered(200) => return Ok(Instant::now()),
            Probe::Unreachable(e) => bail!("the gateway stopped accepting connections: {e}"),
            Probe::Answered(_) | Probe::Refused(_) => {}
        }
        if Instant::now() + REINSTATE_POLL > deadline {
            bail!("still refused at the deadline");
        }
        tokio::time::sleep(REINSTATE_POLL).await;
    }
}

/// CPU seconds used so far by the authority and by all gateways together, and the bytes the
/// gateways have written to storage.
struct Usage {
    authority: f64,
    gateways: f64,
    gateway_bytes: u64,
    bench: f64,
    machine: f64,
}

/// CPU and writes so far; a partner authority's CPU counts with the measured authority's.
fn usage(
    authority: &Process,
    partner: Option<&Process>,
    providers: &[Provider],
) -> anyhow::Result<Usage> {
    let (mut gateways, mut gateway_bytes) = (0.0, 0);
    for provider in providers {
        let process = provider.process()?;
        gateways += process.cpu_seconds()?;
        gateway_bytes += process.written_bytes()?;
    }
    Ok(Usage {
        authority: authority.cpu_seconds()? + partner.map_or(Ok(0.0), Process::cpu_seconds)?,
        gateways,
        gateway_bytes,
        bench: super::process::own_cpu_seconds()?,
        machine: super::process::machine_busy_seconds()?,
    })
}

/// Milliseconds from `since` to the first line of a JSON log whose message is `message` and
/// whose `version` field is `version`; `None` if there is no such line (it is a cross-check,
/// not the measurement).
fn logged_ms(log: &Path, message: &str, version: u64, since: OffsetDateTime) -> Option<f64> {
    let text = std::fs::read_to_string(log).ok()?;
    let at = logged_at(&text, message, version)?;
    Some((at - since).as_seconds_f64() * 1000.0)
}

/// The timestamp of the first JSON log line (as `psn --log-format json` writes them) with this
/// message and version.
pub fn logged_at(text: &str, message: &str, version: u64) -> Option<OffsetDateTime> {
    text.lines().find_map(|line| {
        let entry: serde_json::Value = serde_json::from_str(line).ok()?;
        let fields = entry.get("fields")?;
        if fields.get("message")?.as_str()? != message
            || fields.get("version")?.as_u64()? != version
        {
            return None;
        }
        let timestamp = entry.get("timestamp")?.as_str()?;
        OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::{is_contended, logged_at};

    #[test]
    fn a_round_is_contended_when_others_took_a_tenth_of_the_machine() {
        // 10 s on 2 CPUs: 20 CPU seconds of capacity, 2 of them may go to other work.
        assert!(!is_contended(1.9, 10_000.0, 2));
        assert!(is_contended(2.1, 10_000.0, 2));
        assert!(!is_contended(-0.1, 500.0, 2));
    }
    use time::macros::datetime;

    #[test]
    fn finds_the_line_of_the_version_asked_for() {
        let log = concat!(
            "gateway GB/LA/E10000016@gw1 serving: internal http://127.0.0.1:1 external x\n",
            r#"{"timestamp":"2026-11-23T16:40:01.000100Z","level":"INFO","fields":{"message":"configuration updated","version":6},"target":"psn_gateway::serve"}"#,
            "\n",
            r#"{"timestamp":"2026-11-23T16:40:02.250000Z","level":"INFO","fields":{"message":"configuration updated","version":7},"target":"psn_gateway::serve"}"#,
            "\n",
            r#"{"timestamp":"2026-11-23T16:40:03Z","level":"INFO","fields":{"message":"something else","version":8}}"#,
        );
        assert_eq!(
            logged_at(log, "configuration updated", 7),
            Some(datetime!(2026-11-23 16:40:02.25 UTC))
        );
        assert_eq!(logged_at(log, "configuration updated", 8), None);
        assert_eq!(logged_at(log, "published configuration", 7), None);
    }
}
