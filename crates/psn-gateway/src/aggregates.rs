//! Per-minute aggregates for the authority (DESIGN.md "Operational monitoring and SLAs"),
//! derived from the audit log rather than counted beside it.
//!
//! Every `push_interval` the gateway reads the records appended since the authority's cursor for
//! it, folds them into rows per (minute, side, kind, service, client, outcome) with latency
//! histograms, and pushes the batch. The authority stores a batch only if it starts at its
//! cursor, and moves the cursor in the same transaction. So:
//!
//! - nothing is lost: the audit log is the buffer, on disk, across authority downtime and
//!   gateway restarts (the gateway keeps no state of its own);
//! - nothing is counted twice: a batch whose acknowledgement was lost is refused as a conflict
//!   when retried, and the gateway resumes from the cursor the authority holds;
//! - the aggregates always add up to the log's record counts.
//!
//! Each round also hands the authority the log's latest checkpoint (its latest durable seal)
//! when it has moved on, so that someone outside the gateway remembers how far the log had got
//! (docs/audit.md "Checkpoints"). A refused checkpoint is logged and does not hold up the
//! aggregates: it means the log was cut back or rewritten, which is for the operator to explain.

use crate::datadir::GatewayDir;
use crate::plane::probe::PROBE_METHOD;
use crate::plane::Shared;
use crate::GatewayError;
use psn_api::{AuthorityClient, ClientError};
use psn_audit::{AuditRecord, Role};
use psn_core::aggregate::{
    AggregateBatch, AggregateCounts, AggregateKey, LogCursor, Outcome, SampleKind, Side,
    MAX_BATCH_ROWS, UNKNOWN,
};
use psn_core::checkpoint::Checkpoint;
use psn_core::names::{ServiceId, SubsystemId};
use psn_core::problem::ProblemType;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Longest the final delivery at shutdown may take.
const FINAL_PUSH: Duration = Duration::from_secs(10);

/// How one record is counted: its side, kind and outcome by the network's rules.
pub fn classify(record: &AuditRecord) -> (Side, SampleKind, Outcome) {
    let side = match record.role {
        Role::Consumer => Side::Consumer,
        Role::Provider => Side::Provider,
    };
    let kind = if record.method == PROBE_METHOD {
        SampleKind::Probe
    } else {
        SampleKind::Exchange
    };
    let times = &record.times;
    let outcome = Outcome::classify(
        side,
        record.status,
        record.problem.as_deref(),
        side == Side::Consumer && record.peer.is_some() && times.response_in_ms.is_some(),
        times.response_out_ms.is_some(),
    );
    (side, kind, outcome)
}

/// What a record's service and client are counted as: themselves when the network knows them,
/// [`UNKNOWN`] otherwise (a refused request may name anything), so the authority's reports
/// grow with the registry, never with what requests claim.
pub trait Known {
    /// Whether `service` exists.
    fn service(&self, service: &ServiceId) -> bool;
    /// Whether `client` is a registered subsystem that may appear on `side`: on the consumer
    /// side only this gateway's own member's (another member's name there is an impersonation
    /// attempt, which the authority would rightly refuse to file).
    fn client(&self, side: Side, client: &SubsystemId) -> bool;
}

impl Known for Shared {
    fn service(&self, service: &ServiceId) -> bool {
        self.knows_service(service)
    }

    fn client(&self, side: Side, client: &SubsystemId) -> bool {
        let own = side == Side::Provider || client.member() == self.settings.gateway.member();
        own && self.view.borrow().has_subsystem(client)
    }
}

/// The service and client `record` is counted under. A probe's are the gateway's own.
fn labels(record: &AuditRecord, side: Side, known: &impl Known) -> (String, String) {
    if record.method == PROBE_METHOD {
        return (record.service.clone(), record.client.clone());
    }
    let service = match record.service.parse::<ServiceId>() {
        Ok(service) if known.service(&service) => record.service.clone(),
        _ => UNKNOWN.to_owned(),
    };
    let client = match record.client.parse::<SubsystemId>() {
        Ok(client) if known.client(side, &client) => record.client.clone(),
        _ => UNKNOWN.to_owned(),
    };
    (service, client)
}

/// Folds records into rows.
pub fn aggregate(
    records: &[AuditRecord],
    known: &impl Known,
) -> BTreeMap<AggregateKey, AggregateCounts> {
    let mut rows: BTreeMap<AggregateKey, AggregateCounts> = BTreeMap::new();
    for record in records {
        let (side, kind, outcome) = classify(record);
        let times = &record.times;
        let (service, client) = labels(record, side, known);
        let key = AggregateKey {
            minute: times.received_ms.div_euclid(60_000),
            side,
            kind,
            service,
            client,
            outcome,
        };
        let counts = rows.entry(key).or_default();
        counts.count += 1;
        let span = |from: i64, to: i64| u64::try_from(to.saturating_sub(from)).unwrap_or(0);
        if let Some(out) = times.response_out_ms {
            counts.total.record(span(times.received_ms, out));
        }
        if let (Some(forwarded), Some(back)) = (times.forwarded_ms, times.response_in_ms) {
            counts.upstream.record(span(forwarded, back));
        }
    }
    rows
}

/// Whether a delivery round left records behind.
enum Round {
    CaughtUp,
    More,
}

/// Delivers aggregates until shutdown, then once more (bounded) so a clean stop leaves nothing
/// behind that the next start would have to send.
pub async fn run(dir: GatewayDir, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let interval = shared.settings.monitoring.push_interval;
    let mut pusher = Pusher {
        dir,
        shared,
        cursor: None,
        endpoint: 0,
        checkpoint: None,
    };
    let mut backoff = Duration::from_secs(1);
    loop {
        let wait = match pusher.round().await {
            Ok(Round::More) => Duration::ZERO,
            Ok(Round::CaughtUp) => {
                backoff = Duration::from_secs(1);
                interval
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "aggregates not delivered; the audit log keeps them");
                let wait = backoff;
                backoff = (backoff * 2).min(interval.max(Duration::from_secs(60)));
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => break,
        }
    }
    let last = async { while let Ok(Round::More) = pusher.round().await {} };
    if tokio::time::timeout(FINAL_PUSH, last).await.is_err() {
        tracing::warn!("final aggregate delivery did not finish; the next start sends the rest");
    }
}

/// Hands the authority the log's final seal once a clean stop has closed the log (bounded by
/// the final delivery's time), so the authority holds how far the log had got when the gateway
/// stopped, not only its last periodic seal.
pub async fn hand_over_final_checkpoint(shared: &Shared) {
    let Some(latest) = shared.audit.checkpoint() else {
        return;
    };
    let dir = GatewayDir::new(shared.audit.data_dir());
    let clients = match crate::serve::authority_client(&dir) {
        Ok(clients) => clients,
        Err(e) => {
            tracing::warn!(error = %e, "final checkpoint not delivered");
            return;
        }
    };
    let push = async {
        for client in &clients {
            match client.push_checkpoint(&latest).await {
                Ok(_) => return,
                Err(e) => tracing::warn!(error = %e, "final checkpoint not delivered here"),
            }
        }
    };
    if tokio::time::timeout(FINAL_PUSH, push).await.is_err() {
        tracing::warn!("final checkpoint delivery did not finish");
    }
}

struct Pusher {
    dir: GatewayDir,
    shared: Arc<Shared>,
    /// The authority's cursor for this gateway, once known (`Some(None)`: no batch yet).
    cursor: Option<Option<LogCursor>>,
    /// Which authority endpoint to use (moves on after a transport failure).
    endpoint: usize,
    /// The last checkpoint the authority accepted from this process.
    checkpoint: Option<Arc<Checkpoint>>,
}

impl Pusher {
    async fn round(&mut self) -> Result<Round, GatewayError> {
        let clients = crate::serve::authority_client(&self.dir)?;
        let Some(client) = clients.get(self.endpoint % clients.len().max(1)) else {
            return Err(GatewayError::Setup("no authority endpoint".into()));
        };
        let outcome = self.deliver(client).await;
        if !matches!(outcome, Err(ClientError::Transport { .. })) {
            self.hand_over_checkpoint(client).await;
        }
        if let Err(e) = &outcome {
            match e {
                ClientError::Transport { .. } => self.endpoint += 1,
                e if e.problem_type() == Some(ProblemType::Conflict) => {
                    tracing::info!("the authority's aggregate cursor moved on; resuming from it");
                    self.cursor = None;
                }
                _ => {}
            }
        }
        outcome.map_err(Into::into)
    }

    /// Pushes the log's latest checkpoint if the authority has not accepted it yet.
    async fn hand_over_checkpoint(&mut self, client: &AuthorityClient) {
        let Some(latest) = self.shared.audit.checkpoint() else {
            return;
        };
        if self.checkpoint.as_ref() == Some(&latest) {
            return;
        }
        match client.push_checkpoint(&latest).await {
            Ok(_) => self.checkpoint = Some(latest),
            Err(e) if e.problem_type().is_some() => tracing::error!(
                error = %e,
                segment = latest.segment,
                entry = latest.entry,
                "the authority refuses this gateway's audit checkpoint"
            ),
            Err(e) => tracing::warn!(error = %e, "checkpoint not delivered; retrying next round"),
        }
    }

    async fn deliver(&mut self, client: &AuthorityClient) -> Result<Round, ClientError> {
        let from = match self.cursor {
            Some(cursor) => cursor,
            None => {
                let cursor = client.aggregate_cursor().await?.cursor;
                self.cursor = Some(cursor);
                cursor
            }
        };
        let root = self.dir.root().to_path_buf();
        let tail =
            tokio::task::spawn_blocking(move || psn_audit::read_after(&root, from, MAX_BATCH_ROWS))
                .await
                .map_err(|e| {
                    ClientError::Unexpected(format!("reading the audit log stopped: {e}"))
                })?
                .map_err(|e| ClientError::Unexpected(format!("reading the audit log: {e}")))?;
        if let Some(gap) = &tail.gap {
            tracing::warn!(?gap, "audit records before this point cannot be aggregated");
        }
        let Some(to) = tail.to else {
            return Ok(Round::CaughtUp);
        };
        if from == Some(to) {
            return Ok(Round::CaughtUp);
        }
        let full = tail.records.len() >= MAX_BATCH_ROWS;
        let batch = AggregateBatch::new(from, to, aggregate(&tail.records, self.shared.as_ref()));
        let accepted = client.push_aggregates(&batch).await?;
        self.cursor = Some(accepted.cursor);
        self.shared.metrics.aggregated(batch.records);
        self.shared
            .aggregated
            .send_modify(|n| *n = n.saturating_add(batch.records));
        Ok(if full { Round::More } else { Round::CaughtUp })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use psn_audit::HopTimes;

    /// The network of these tests: one service and one client.
    struct Network;

    impl Known for Network {
        fn service(&self, service: &ServiceId) -> bool {
            service.to_string() == "GB/GOV/D6/eligibility/fsm-check"
        }

        fn client(&self, side: Side, client: &SubsystemId) -> bool {
            let own = side == Side::Provider || client.member().to_string() == "GB/LA/E10000016";
            own && ["GB/LA/E10000016/revenues", "GB/LA/E10000008/revenues"]
                .contains(&client.to_string().as_str())
        }
    }

    fn record(role: Role, method: &str, status: u16, problem: Option<&str>) -> AuditRecord {
        AuditRecord {
            message_id: "m".into(),
            role,
            client: "GB/LA/E10000016/revenues".into(),
            service: "GB/GOV/D6/eligibility/fsm-check".into(),
            method: method.into(),
            path: "/x".into(),
            purpose: None,
            times: HopTimes {
                received_ms: 60_000 * 29_000_000 + 59_990,
                forwarded_ms: Some(60_000 * 29_000_000 + 59_995),
                response_in_ms: Some(60_000 * 29_000_001 + 100),
                response_out_ms: Some(60_000 * 29_000_001 + 110),
            },
            request_digest: None,
            response_digest: None,
            status,
            request_bytes: 0,
            response_bytes: 0,
            peer: Some("GB/GOV/D6@gw1".into()),
            peer_serial: None,
            peer_proof: None,
            problem: problem.map(str::to_owned),
            request_body_stored: false,
            response_body_stored: false,
        }
    }

    #[test]
    fn records_fold_into_rows_by_minute_of_arrival_and_outcome() {
        let records = [
            record(Role::Consumer, "GET", 200, None),
            record(Role::Consumer, "POST", 200, None),
            record(Role::Consumer, "GET", 500, None),
            record(Role::Consumer, PROBE_METHOD, 200, None),
            record(Role::Provider, "GET", 200, None),
        ];
        let rows = aggregate(&records, &Network);
        assert_eq!(rows.len(), 4);
        let ok = rows
            .iter()
            .find(|(k, _)| {
                k.side == Side::Consumer
                    && k.kind == SampleKind::Exchange
                    && k.outcome == Outcome::Ok
            })
            .map(|(k, c)| (k.minute, c.count, c.total.sum_ms, c.upstream.sum_ms));
        // Arrived in minute 29,000,000, even though the response left in the next one.
        assert_eq!(ok, Some((29_000_000, 2, 2 * 120, 2 * 105)));
        let probe = rows.keys().find(|k| k.kind == SampleKind::Probe);
        assert_eq!(probe.map(|k| k.outcome), Some(Outcome::Ok));
        let backend = rows.keys().find(|k| k.outcome == Outcome::Backend);
        assert!(backend.is_some());
        let total: u64 = rows.values().map(|c| c.count).sum();
        assert_eq!(total, records.len() as u64);
    }

    #[test]
    fn unfinished_and_relayed_faults_are_told_apart() {
        let mut unfinished = record(Role::Consumer, "GET", 200, None);
        unfinished.times.response_out_ms = None;
        assert_eq!(classify(&unfinished).2, Outcome::Unfinished);
        let audit = Some("urn:psn:problem:audit-unavailable");
        // Relayed from the provider gateway (its answer came back)…
        let relayed = record(Role::Consumer, "GET", 503, audit);
        assert_eq!(classify(&relayed).2, Outcome::ProviderGateway);
        // …or raised here before anything was forwarded.
        let mut local = record(Role::Consumer, "GET", 503, audit);
        local.peer = None;
        local.times.forwarded_ms = None;
        local.times.response_in_ms = None;
        assert_eq!(classify(&local).2, Outcome::ConsumerGateway);
    }

    #[test]
    fn services_and_clients_the_network_does_not_know_fold_into_one_label() {
        let mut records = Vec::new();
        for (service, client) in [
            (
                "GB/GOV/D6/eligibility/no-such-service",
                "GB/LA/E10000016/revenues",
            ),
            (
                "GB/GOV/D6/eligibility/another-invented-one",
                "GB/LA/E10000016/revenues",
            ),
            ("", "GB/LA/E10000016/revenues"),
            (
                "GB/GOV/D6/eligibility/fsm-check",
                "GB/LA/E10000016/impostor",
            ),
            (
                "GB/GOV/D6/eligibility/fsm-check",
                "not a subsystem <script>",
            ),
            // Registered, but another member's: an impersonation attempt on the consumer side.
            (
                "GB/GOV/D6/eligibility/fsm-check",
                "GB/LA/E10000008/revenues",
            ),
        ] {
            let mut r = record(
                Role::Consumer,
                "GET",
                404,
                Some("urn:psn:problem:unknown-service"),
            );
            r.service = service.into();
            r.client = client.into();
            records.push(r);
        }
        let rows = aggregate(&records, &Network);
        let labels: std::collections::BTreeSet<(String, String)> = rows
            .keys()
            .map(|k| (k.service.clone(), k.client.clone()))
            .collect();
        let expected: std::collections::BTreeSet<(String, String)> = [
            (UNKNOWN, "GB/LA/E10000016/revenues"),
            ("GB/GOV/D6/eligibility/fsm-check", UNKNOWN),
        ]
        .into_iter()
        .map(|(s, c)| (s.to_owned(), c.to_owned()))
        .collect();
        assert_eq!(labels, expected);
        assert_eq!(rows.values().map(|c| c.count).sum::<u64>(), 6);
        let mut probe = record(Role::Provider, PROBE_METHOD, 200, None);
        probe.client = "GB/GOV/D6@gw1".into();
        let rows = aggregate(&[probe], &Network);
        assert!(
            rows.keys().all(|k| k.client == "GB/GOV/D6@gw1"),
            "a probe keeps its gateway"
        );
    }
}
