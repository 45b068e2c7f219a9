//! Per-minute exchange aggregates (DESIGN.md "Operational monitoring and SLAs"): what a gateway
//! tells the authority about the exchanges and probes in its audit log, so the authority can
//! compute SLA attainment and attribute each breach.
//!
//! Aggregates are derived from the audit log, never kept beside it: a batch covers the records
//! between two [`LogCursor`]s and the authority accepts a batch only if it starts where the
//! gateway's previous one ended. The log is the buffer (it survives restarts and authority
//! downtime) and the cursor check makes delivery exactly-once, so the aggregates always add up
//! to the log's record counts.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A position in a gateway's audit log: the next entry to read is entry `position` of segment
/// `segment` (entry 0 is the segment's header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogCursor {
    /// Segment sequence number.
    pub segment: u64,
    /// Entry index within the segment.
    pub position: u64,
}

impl fmt::Display for LogCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.segment, self.position)
    }
}

/// Which gateway of the exchange recorded the samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The calling member's gateway: it sees the exchange as the consumer experiences it.
    Consumer,
    /// The providing member's gateway: it sees the backend.
    Provider,
}

impl Side {
    /// The lowercase word used in storage and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Consumer => "consumer",
            Side::Provider => "provider",
        }
    }
}

/// What produced the samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SampleKind {
    /// A member's own request.
    Exchange,
    /// A gateway's availability probe (no member traffic involved).
    Probe,
}

impl SampleKind {
    /// The lowercase word used in storage and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SampleKind::Exchange => "exchange",
            SampleKind::Probe => "probe",
        }
    }
}

/// How an exchange ended, and whose doing it was. The network fixes these rules, not the
/// provider: a consumer's own 4xx never counts against an SLA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A response below 400.
    Ok,
    /// A 4xx: the caller's request was refused (by psn or the backend). Counts against nobody.
    ClientError,
    /// The provider's backend failed: its own 5xx, refused connection or timeout.
    Backend,
    /// The provider's gateway or the path to it failed: unreachable, timed out, an invalid
    /// statement, or a psn fault it raised.
    ProviderGateway,
    /// The consumer's own gateway failed before the provider was involved.
    ConsumerGateway,
    /// The exchange was broken off mid-response (caller gone, stream reset): attributed to
    /// nobody, reported for completeness.
    Unfinished,
}

impl Outcome {
    /// Every outcome, in report order.
    pub const ALL: &'static [Outcome] = &[
        Outcome::Ok,
        Outcome::ClientError,
        Outcome::Backend,
        Outcome::ProviderGateway,
        Outcome::ConsumerGateway,
        Outcome::Unfinished,
    ];

    /// The snake_case word used in storage and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ClientError => "client_error",
            Outcome::Backend => "backend",
            Outcome::ProviderGateway => "provider_gateway",
            Outcome::ConsumerGateway => "consumer_gateway",
            Outcome::Unfinished => "unfinished",
        }
    }

    /// Whether the outcome counts as a failure of the provider side (backend, provider gateway
    /// or its connectivity) for availability.
    pub fn is_provider_failure(self) -> bool {
        matches!(self, Outcome::Backend | Outcome::ProviderGateway)
    }

    /// Classifies one recorded exchange. `problem` is the psn problem type URI the record
    /// carries; `provider_answered` says the provider gateway's response reached this gateway
    /// (so a psn fault in it was raised over there); `finished` that the response was released
    /// in full.
    pub fn classify(
        side: Side,
        status: u16,
        problem: Option<&str>,
        provider_answered: bool,
        finished: bool,
    ) -> Outcome {
        if !finished {
            return Outcome::Unfinished;
        }
        let problem = problem.and_then(|uri| uri.strip_prefix("urn:psn:problem:"));
        match problem {
            None if status < 400 => Outcome::Ok,
            None if status < 500 => Outcome::ClientError,
            // A 5xx psn did not raise is the backend's own answer.
            None => Outcome::Backend,
            Some("backend-unreachable" | "backend-timeout") => Outcome::Backend,
            Some("provider-unreachable" | "provider-timeout" | "proof-invalid") => {
                Outcome::ProviderGateway
            }
            Some(_) if status < 500 => Outcome::ClientError,
            // Any other psn fault: whose gateway raised it?
            Some(_) if side == Side::Provider || provider_answered => Outcome::ProviderGateway,
            Some(_) => Outcome::ConsumerGateway,
        }
    }
}

/// The label a gateway counts a service or client under when the configuration does not know
/// it (a request naming a service that does not exist, a refused `PSN-Client`): metrics and
/// aggregates then grow with the network's registry, never with what requests claim.
pub const UNKNOWN: &str = "unknown";

/// Sub-buckets per power of two: a recorded latency is known to within 1/16 (6.25%).
const SUB_BUCKETS: u64 = 16;
/// Latencies above this (one day) are counted as this.
pub const MAX_LATENCY_MS: u64 = 86_400_000;

/// A mergeable latency histogram, milliseconds: exact below 32 ms, then sixteen buckets per
/// power of two. Sparse, so an idle minute costs nothing; merging is adding counts, so minutes,
/// gateways and batches combine in any order to the same result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyHistogram {
    /// Count per bucket index (see [`LatencyHistogram::bucket_of`]).
    pub buckets: BTreeMap<u32, u64>,
    /// Sum of the recorded latencies, for means.
    pub sum_ms: u64,
}

impl LatencyHistogram {
    /// The bucket a latency falls in.
    pub fn bucket_of(ms: u64) -> u32 {
        let ms = ms.min(MAX_LATENCY_MS);
        if ms < 2 * SUB_BUCKETS {
            return ms as u32;
        }
        let exponent = 63 - u64::from(ms.leading_zeros());
        let sub = (ms >> (exponent - 4)) & (SUB_BUCKETS - 1);
        (2 * SUB_BUCKETS + (exponent - 5) * SUB_BUCKETS + sub) as u32
    }

    /// The largest latency that falls in bucket `index`.
    pub fn upper_bound(index: u32) -> u64 {
        let index = u64::from(index);
        if index < 2 * SUB_BUCKETS {
            return index;
        }
        let exponent = (index - 2 * SUB_BUCKETS) / SUB_BUCKETS + 5;
        let sub = (index - 2 * SUB_BUCKETS) % SUB_BUCKETS;
        let width = 1u64 << (exponent - 4);
        ((SUB_BUCKETS + sub) << (exponent - 4)) + width - 1
    }

    /// Counts one latency.
    pub fn record(&mut self, ms: u64) {
        *self.buckets.entry(Self::bucket_of(ms)).or_default() += 1;
        self.sum_ms = self.sum_ms.saturating_add(ms.min(MAX_LATENCY_MS));
    }

    /// Adds another histogram's counts to this one.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (index, count) in &other.buckets {
            let slot = self.buckets.entry(*index).or_default();
            *slot = slot.saturating_add(*count);
        }
        self.sum_ms = self.sum_ms.saturating_add(other.sum_ms);
    }

    /// How many latencies were recorded.
    pub fn count(&self) -> u64 {
        self.buckets
            .values()
            .fold(0u64, |sum, c| sum.saturating_add(*c))
    }

    /// The mean, if anything was recorded.
    pub fn mean_ms(&self) -> Option<f64> {
        let count = self.count();
        (count > 0).then(|| self.sum_ms as f64 / count as f64)
    }

    /// The latency at or below which `percentile` percent of the recorded ones fall, as the
    /// upper bound of its bucket (so a reported p95 is never lower than the true one).
    pub fn percentile(&self, percentile: f64) -> Option<u64> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = ((percentile / 100.0) * count as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (index, c) in &self.buckets {
            seen = seen.saturating_add(*c);
            if seen >= rank {
                return Some(Self::upper_bound(*index));
            }
        }
        self.buckets.keys().last().map(|i| Self::upper_bound(*i))
    }

    /// Checks a histogram received from elsewhere: known buckets, no empty ones, a plausible
    /// sum.
    pub fn validate(&self) -> Result<(), String> {
        let last = Self::bucket_of(MAX_LATENCY_MS);
        if let Some((index, _)) = self.buckets.iter().find(|(i, _)| **i > last) {
            return Err(format!(
                "histogram bucket {index} is beyond the last ({last})"
            ));
        }
        if self.buckets.values().any(|c| *c == 0) {
            return Err("histogram buckets must not be empty".into());
        }
        if self.sum_ms > self.count().saturating_mul(MAX_LATENCY_MS) {
            return Err("histogram sum is larger than its counts allow".into());
        }
        Ok(())
    }
}

/// What one aggregate row is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateKey {
    /// The minute the requests arrived in, Unix minutes (Unix seconds / 60).
    pub minute: i64,
    /// Which side recorded them.
    pub side: Side,
    /// Member traffic or probes.
    pub kind: SampleKind,
    /// The service.
    pub service: String,
    /// The consumer subsystem (`{member}/{subsystem}`); for a provider's probe of its own
    /// backend, the provider gateway.
    pub client: String,
    /// How they ended.
    pub outcome: Outcome,
}

/// Counts and latencies for one key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateCounts {
    /// Exchanges (or probes).
    pub count: u64,
    /// Time from the request arriving at this gateway to the response leaving it.
    pub total: LatencyHistogram,
    /// Time spent beyond this gateway: at a consumer gateway the network plus the provider
    /// side, at a provider gateway the backend.
    pub upstream: LatencyHistogram,
}

impl AggregateCounts {
    /// Adds another key's counts.
    pub fn merge(&mut self, other: &AggregateCounts) {
        self.count = self.count.saturating_add(other.count);
        self.total.merge(&other.total);
        self.upstream.merge(&other.upstream);
    }
}

/// One row of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateRow {
    /// What it is about.
    pub key: AggregateKey,
    /// Its numbers.
    pub counts: AggregateCounts,
}

/// The last minute a row may name (the end of year 9999, the calendar's end).
pub const LAST_MINUTE: i64 = 253_402_300_799 / 60;

impl AggregateRow {
    /// What the row says on its own: a plausible minute, a service id or [`UNKNOWN`], and a
    /// client that is a subsystem or [`UNKNOWN`] (for a probe also the probing gateway).
    pub fn check(&self) -> Result<(), String> {
        use crate::names::{GatewayId, ServiceId, SubsystemId};
        let key = &self.key;
        if !(0..=LAST_MINUTE).contains(&key.minute) {
            return Err(format!("row minute {} is not a plausible time", key.minute));
        }
        if key.service != UNKNOWN {
            key.service
                .parse::<ServiceId>()
                .map_err(|e| format!("row service: {e}"))?;
        }
        match (key.kind, key.client.parse::<SubsystemId>()) {
            (_, Ok(_)) => Ok(()),
            _ if key.client == UNKNOWN => Ok(()),
            (SampleKind::Exchange, Err(e)) => {
                Err(format!("an exchange row's client must be a subsystem: {e}"))
            }
            (SampleKind::Probe, Err(_)) => key.client.parse::<GatewayId>().map(drop).map_err(|e| {
                format!("a probe row's client must be a subsystem or the probing gateway: {e}")
            }),
        }
    }

    /// Whether `gateway` may report this checked row: on the consumer side, exchanges and
    /// probes of its member's own subsystems, and its own probes; on the provider side, its
    /// member's own services (a probe naming a gateway must name the reporter itself). Why not,
    /// if not.
    pub fn reported_by(&self, gateway: &crate::names::GatewayId) -> Result<(), String> {
        use crate::names::{ServiceId, SubsystemId};
        let key = &self.key;
        let subsystem = key.client.parse::<SubsystemId>().ok();
        if subsystem.is_none() && key.client != UNKNOWN && key.client != gateway.to_string() {
            return Err(format!(
                "a probe naming a gateway must name the probing gateway itself, not {}",
                key.client
            ));
        }
        match key.side {
            Side::Consumer => match subsystem.filter(|c| c.member() != gateway.member()) {
                Some(client) => Err(format!(
                    "client {client} is not a subsystem of {}",
                    gateway.member()
                )),
                None => Ok(()),
            },
            Side::Provider if key.service == UNKNOWN => Ok(()),
            Side::Provider => {
                let service: ServiceId = key.service.parse().map_err(|e| format!("{e}"))?;
                if service.member() == gateway.member() {
                    Ok(())
                } else {
                    Err(format!(
                        "service {service} is provided by {}, not {}",
                        service.member(),
                        gateway.member()
                    ))
                }
            }
        }
    }

    /// The network, other than the reporter's own, whose name the row carries: the service's on
    /// the consumer side, the client's on the provider side. A cross-network exchange's row
    /// concerns that network too.
    pub fn other_network<'a>(&'a self, own: &str) -> Option<&'a str> {
        let name = match self.key.side {
            Side::Consumer => &self.key.service,
            Side::Provider => &self.key.client,
        };
        let network = name.split('/').next().filter(|_| name != UNKNOWN)?;
        (network != own).then_some(network)
    }
}

/// Most rows in one batch; a gateway splits larger spans of its log.
pub const MAX_BATCH_ROWS: usize = 5_000;

/// What a gateway pushes to the authority: the aggregates of the records in its audit log from
/// `from` (exclusive of nothing before it; `None` is the start of the log) up to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateBatch {
    /// Where the batch starts; must equal the authority's cursor for this gateway.
    pub from: Option<LogCursor>,
    /// Where the next batch starts.
    pub to: LogCursor,
    /// Audit records the batch covers (equal to the sum of the rows' counts).
    pub records: u64,
    /// The aggregates, one row per key.
    pub rows: Vec<AggregateRow>,
}

impl AggregateBatch {
    /// Builds a batch from accumulated rows.
    pub fn new(
        from: Option<LogCursor>,
        to: LogCursor,
        rows: BTreeMap<AggregateKey, AggregateCounts>,
    ) -> Self {
        let rows: Vec<AggregateRow> = rows
            .into_iter()
            .map(|(key, counts)| AggregateRow { key, counts })
            .collect();
        let records = rows.iter().map(|r| r.counts.count).sum();
        Self {
            from,
            to,
            records,
            rows,
        }
    }

    /// Checks a batch received from a gateway before anything of it is stored.
    pub fn validate(&self) -> Result<(), String> {
        if self.rows.len() > MAX_BATCH_ROWS {
            return Err(format!(
                "a batch may carry at most {MAX_BATCH_ROWS} rows, this one has {}",
                self.rows.len()
            ));
        }
        if self.from.is_some_and(|from| from == self.to) && !self.rows.is_empty() {
            return Err("an empty span of the log cannot carry rows".into());
        }
        let mut keys = std::collections::HashSet::new();
        let mut sum = 0u64;
        for row in &self.rows {
            if !keys.insert(&row.key) {
                return Err(format!("row {:?} appears twice", row.key));
            }
            let c = &row.counts;
            if c.count == 0 {
                return Err("a row must count at least one record".into());
            }
            c.total.validate()?;
            c.upstream.validate()?;
            if c.total.count() > c.count || c.upstream.count() > c.count {
                return Err("a row's histograms count more than the row".into());
            }
            if row.key.service.is_empty() || row.key.service.len() > 512 {
                return Err("a row's service must be 1 to 512 bytes".into());
            }
            if row.key.client.is_empty() || row.key.client.len() > 512 {
                return Err("a row's client must be 1 to 512 bytes".into());
            }
            sum = sum.saturating_add(c.count);
        }
        if sum != self.records {
            return Err(format!(
                "the rows count {sum} records, the batch says {}",
                self.records
            ));
        }
        Ok(())
    }
}

/// The authority's answer to a batch, and to a gateway asking where to resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateCursor {
    /// Where the gateway's next batch must start; `None` before its first batch.
    pub cursor: Option<LogCursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_exact_when_small_and_within_a_sixteenth_above() {
        for ms in 0..32 {
            assert_eq!(
                LatencyHistogram::upper_bound(LatencyHistogram::bucket_of(ms)),
                ms
            );
        }
        let mut previous = 0;
        for ms in [
            32,
            33,
            47,
            63,
            64,
            100,
            499,
            500,
            501,
            4_999,
            60_000,
            MAX_LATENCY_MS,
        ] {
            let index = LatencyHistogram::bucket_of(ms);
            let upper = LatencyHistogram::upper_bound(index);
            assert!(upper >= ms, "{ms} above its bucket's bound {upper}");
            assert!(
                (upper - ms) as f64 <= ms as f64 / 16.0,
                "{ms} bucket too wide"
            );
            assert!(index >= previous);
            previous = index;
            // The bucket below ends before this value.
            assert!(LatencyHistogram::upper_bound(index - 1) < ms);
        }
        assert_eq!(
            LatencyHistogram::bucket_of(u64::MAX),
            LatencyHistogram::bucket_of(MAX_LATENCY_MS)
        );
    }

    #[test]
    fn percentiles_merge_and_round_up() {
        let mut a = LatencyHistogram::default();
        let mut b = LatencyHistogram::default();
        for ms in 1..=90 {
            a.record(ms);
        }
        for _ in 0..10 {
            b.record(1_000);
        }
        assert_eq!(a.percentile(50.0), Some(45));
        a.merge(&b);
        assert_eq!(a.count(), 100);
        // 90 ms lies in the bucket 88..=91.
        assert_eq!(a.percentile(90.0), Some(91));
        let p95 = a.percentile(95.0).unwrap_or_default();
        assert!((1_000..=1_063).contains(&p95), "p95 {p95}");
        assert_eq!(a.sum_ms, (1..=90).sum::<u64>() + 10_000);
        assert_eq!(LatencyHistogram::default().percentile(95.0), None);
    }

    #[test]
    fn outcomes_follow_the_network_rules() {
        use Outcome::*;
        let p = |t: &str| format!("urn:psn:problem:{t}");
        let c = Side::Consumer;
        assert_eq!(Outcome::classify(c, 200, None, true, true), Ok);
        assert_eq!(Outcome::classify(c, 404, None, true, true), ClientError);
        assert_eq!(Outcome::classify(c, 500, None, true, true), Backend);
        assert_eq!(Outcome::classify(c, 200, None, true, false), Unfinished);
        let cases = [
            ("access-denied", 403, false, ClientError),
            ("invalid-request", 400, false, ClientError),
            ("backend-timeout", 504, true, Backend),
            ("backend-unreachable", 502, true, Backend),
            ("provider-unreachable", 502, false, ProviderGateway),
            ("provider-timeout", 504, false, ProviderGateway),
            ("proof-invalid", 502, true, ProviderGateway),
            ("audit-unavailable", 503, true, ProviderGateway),
            ("audit-unavailable", 503, false, ConsumerGateway),
            ("config-expired", 503, false, ConsumerGateway),
        ];
        for (kind, status, answered, expected) in cases {
            assert_eq!(
                Outcome::classify(c, status, Some(&p(kind)), answered, true),
                expected,
                "{kind}"
            );
        }
        assert_eq!(
            Outcome::classify(Side::Provider, 503, Some(&p("internal")), false, true),
            ProviderGateway
        );
    }

    fn row(service: &str, count: u64) -> AggregateRow {
        let mut counts = AggregateCounts {
            count,
            ..Default::default()
        };
        for _ in 0..count {
            counts.total.record(12);
        }
        AggregateRow {
            key: AggregateKey {
                minute: 29_000_000,
                side: Side::Consumer,
                kind: SampleKind::Exchange,
                service: service.into(),
                client: "GB/GOV/1/app".into(),
                outcome: Outcome::Ok,
            },
            counts,
        }
    }

    #[test]
    fn batches_are_checked_before_they_are_stored() {
        let to = LogCursor {
            segment: 1,
            position: 4,
        };
        let good = AggregateBatch {
            from: None,
            to,
            records: 3,
            rows: vec![row("a", 1), row("b", 2)],
        };
        assert_eq!(good.validate(), Ok(()));
        let json = serde_json::to_string(&good).unwrap_or_default();
        let back: AggregateBatch = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, good);

        let mut wrong_sum = good.clone();
        wrong_sum.records = 4;
        assert!(wrong_sum.validate().is_err());
        let mut twice = good.clone();
        twice.rows.push(row("a", 1));
        twice.records = 4;
        assert!(twice.validate().unwrap_err().contains("twice"));
        let mut empty = good.clone();
        empty.rows[0].counts.count = 0;
        empty.rows[0].counts.total = LatencyHistogram::default();
        empty.records = 2;
        assert!(empty.validate().is_err());
        let mut overfull = good.clone();
        overfull.rows[0].counts.total.record(1);
        assert!(overfull.validate().unwrap_err().contains("histograms"));
        let mut far = good.clone();
        far.rows[0].counts.total.buckets = BTreeMap::from([(100_000, 1)]);
        assert!(far.validate().unwrap_err().contains("beyond"));
        let mut huge = good;
        huge.rows = (0..=MAX_BATCH_ROWS)
            .map(|i| row(&i.to_string(), 1))
            .collect();
        huge.records = huge.rows.len() as u64;
        assert!(huge.validate().unwrap_err().contains("at most"));
        for hostile in [
            r#"{"from":null,"to":{"segment":1,"position":2},"records":0,"rows":[],"extra":1}"#,
            r#"{"from":null,"to":{"segment":-1,"position":2},"records":0,"rows":[]}"#,
            r#"{"from":null,"to":{"segment":1,"position":2},"records":0,"rows":[{"key":{"minute":1}}]}"#,
        ] {
            assert!(
                serde_json::from_str::<AggregateBatch>(hostile).is_err(),
                "{hostile}"
            );
        }
    }
}
