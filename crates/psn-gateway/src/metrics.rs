//! Prometheus metrics of one gateway (DESIGN.md "Operational monitoring"), served on the internal
//! listener at `/metrics`. Exchanges are counted from their audit records, at the one place every
//! exchange ends, so the metrics and the audit log never disagree about what happened.

use crate::plane::Shared;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use psn_audit::{AuditRecord, Health};
use psn_core::problem::ProblemType;
use time::OffsetDateTime;

/// What an exchange is counted by.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExchangeLabels {
    /// `consumer` or `provider`.
    role: &'static str,
    service: String,
    /// `2xx`, `4xx`, `5xx`…, or `incomplete` when the response was never released whole.
    status_class: String,
    /// The psn problem slug when psn refused or failed the exchange, else empty.
    problem: String,
}

/// What a probe is counted by.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeLabels {
    /// `consumer` (of a provider gateway) or `provider` (of its own backend).
    role: &'static str,
    service: String,
    /// The outcome class the aggregates give it (`ok`, `backend`, `provider_gateway`…).
    outcome: &'static str,
}

/// What a refusal that was counted but not recorded is broken down by.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UnrecordedLabels {
    role: &'static str,
    /// The psn problem slug.
    problem: &'static str,
}

/// How a configuration version arrived.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConfigUpdateLabels {
    /// `delta` or `document`.
    via: &'static str,
}

/// Which clock this gateway's is compared with (the series appears once it has been).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClockLabels {
    /// `authority`: the network's reference clock.
    reference: &'static str,
}

/// What a latency is broken down by.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    role: &'static str,
    service: String,
}

type Histograms = Family<LatencyLabels, Histogram, fn() -> Histogram>;

/// Latency buckets from 0.5 ms to about 16 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The gateway's metrics. Exchange metrics are updated as exchanges end; state gauges
/// (configuration, certificate, audit log, peers) are read when scraped.
pub struct GatewayMetrics {
    registry: Registry,
    exchanges: Family<ExchangeLabels, Counter>,
    probes: Family<ProbeLabels, Counter>,
    aggregated: Counter,
    unrecorded: Family<UnrecordedLabels, Counter>,
    head_refusals: Counter,
    config_updates: Family<ConfigUpdateLabels, Counter>,
    duration: Histograms,
    upstream: Histograms,
    config_version: Gauge,
    clock_offset: Family<ClockLabels, Gauge>,
    config_expires_in: Gauge,
    certificate_expires_in: Gauge,
    audit_writable: Gauge,
    audit_unsealed: Gauge,
    audit_segment: Gauge,
    audit_archived: Gauge,
    peer_connections: Gauge,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl GatewayMetrics {
    /// Registers every metric under the `psn_gateway` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("psn_gateway");
        let exchanges = Family::<ExchangeLabels, Counter>::default();
        registry.register(
            "exchanges",
            "Exchanges ended at this gateway, by role, service, status class and psn problem",
            exchanges.clone(),
        );
        let probes = Family::<ProbeLabels, Counter>::default();
        registry.register(
            "probes",
            "Availability probes recorded at this gateway, by role, service and outcome",
            probes.clone(),
        );
        let aggregated = Counter::default();
        registry.register(
            "aggregated_records",
            "Audit records delivered to the authority as per-minute aggregates",
            aggregated.clone(),
        );
        let unrecorded = Family::<UnrecordedLabels, Counter>::default();
        registry.register(
            "refusals_unrecorded",
            "Refusals of requests whose caller or target was never established, counted but not recorded in the audit log because they came faster than [audit] unidentified_refusals_per_second",
            unrecorded.clone(),
        );
        let head_refusals = Counter::default();
        registry.register(
            "head_refusals",
            "Requests on the internal listener the HTTP library refused below psn's handlers (malformed, or beyond its hard limits), answered with a problem but recorded nowhere else",
            head_refusals.clone(),
        );
        let config_updates = Family::<ConfigUpdateLabels, Counter>::default();
        registry.register(
            "config_updates",
            "New configuration versions taken, by how they arrived: as a delta applied to the held version, or as a whole document",
            config_updates.clone(),
        );
        let duration = Histograms::new_with_constructor(latency_histogram);
        registry.register(
            "exchange_duration_seconds",
            "Time from the request's arrival at this gateway to the response's release",
            duration.clone(),
        );
        let upstream = Histograms::new_with_constructor(latency_histogram);
        registry.register(
            "upstream_duration_seconds",
            "Time from forwarding the request (to the peer gateway, or the backend) to the response head",
            upstream.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let config_version = gauge(
            &mut registry,
            "config_version",
            "Version of the signed configuration in force",
        );
        let clock_offset = Family::<ClockLabels, Gauge>::default();
        registry.register(
            "clock_offset_seconds",
            "The reference clock minus this gateway's, at the last configuration fetch; beyond 300 either way the gateway refuses exchanges with clock-skew",
            clock_offset.clone(),
        );
        let config_expires_in = gauge(
            &mut registry,
            "config_expires_in_seconds",
            "Seconds until the configuration in force expires (negative: expired)",
        );
        let certificate_expires_in = gauge(
            &mut registry,
            "certificate_expires_in_seconds",
            "Seconds until the gateway's certificate expires",
        );
        let audit_writable = gauge(
            &mut registry,
            "audit_writable",
            "1 while the audit log accepts records, 0 when it cannot be written",
        );
        let audit_unsealed = gauge(
            &mut registry,
            "audit_unsealed_records",
            "Audit records not yet covered by a seal",
        );
        let audit_segment = gauge(
            &mut registry,
            "audit_segment",
            "Sequence number of the active audit segment",
        );
        let audit_archived = gauge(
            &mut registry,
            "audit_archived_segments",
            "Audit segments compressed into the archive since the gateway started",
        );
        let peer_connections = gauge(
            &mut registry,
            "peer_connections",
            "Pooled mutual-TLS connections to peer gateways",
        );
        Self {
            registry,
            exchanges,
            probes,
            aggregated,
            unrecorded,
            head_refusals,
            config_updates,
            duration,
            upstream,
            config_version,
            clock_offset,
            config_expires_in,
            certificate_expires_in,
            audit_writable,
            audit_unsealed,
            audit_segment,
            audit_archived,
            peer_connections,
        }
    }

    /// Counts a configuration version taken.
    pub fn config_updated(&self, via: crate::config_store::Arrival) {
        self.config_updates
            .get_or_create(&ConfigUpdateLabels { via: via.as_str() })
            .inc();
    }

    /// Counts audit records delivered to the authority.
    pub fn aggregated(&self, records: u64) {
        self.aggregated.inc_by(records);
    }

    /// What counts the internal listener's refusals below psn's handlers.
    pub fn head_refusal_counter(&self) -> psn_listener::RefusalCounter {
        let counter = self.head_refusals.clone();
        std::sync::Arc::new(move || {
            counter.inc();
        })
    }

    /// Counts a refusal that was not recorded (see [`Self::observe`] for the exchange count it
    /// also gets).
    pub fn refusal_unrecorded(&self, role: psn_audit::Role, problem: ProblemType) {
        self.unrecorded
            .get_or_create(&UnrecordedLabels {
                role: role.as_str(),
                problem: problem.slug(),
            })
            .inc();
    }

    /// Counts one ended exchange (or probe) from its audit record. `service` is the label the
    /// record's service is counted under: its id when the configuration or this gateway knows
    /// it, [`psn_core::aggregate::UNKNOWN`] otherwise, so requests naming services that do not
    /// exist cannot add series without bound.
    pub fn observe(&self, record: &AuditRecord, service: &str) {
        let role = record.role.as_str();
        if record.method == crate::plane::probe::PROBE_METHOD {
            let (_, _, outcome) = crate::aggregates::classify(record);
            self.probes
                .get_or_create(&ProbeLabels {
                    role,
                    service: service.to_owned(),
                    outcome: outcome.as_str(),
                })
                .inc();
            return;
        }
        let times = record.times;
        let status_class = match times.response_out_ms {
            Some(_) => format!("{}xx", record.status / 100),
            None => "incomplete".to_owned(),
        };
        let problem = record
            .problem
            .as_deref()
            .and_then(|uri| uri.strip_prefix("urn:psn:problem:"))
            .unwrap_or_default()
            .to_owned();
        self.exchanges
            .get_or_create(&ExchangeLabels {
                role,
                service: service.to_owned(),
                status_class,
                problem,
            })
            .inc();
        let latency = LatencyLabels {
            role,
            service: service.to_owned(),
        };
        let seconds = |from: i64, to: i64| (to - from).max(0) as f64 / 1000.0;
        if let Some(out) = times.response_out_ms {
            self.duration
                .get_or_create(&latency)
                .observe(seconds(times.received_ms, out));
        }
        if let (Some(forwarded), Some(back)) = (times.forwarded_ms, times.response_in_ms) {
            self.upstream
                .get_or_create(&latency)
                .observe(seconds(forwarded, back));
        }
    }

    /// The Prometheus text exposition, with state gauges read now.
    pub fn render(&self, shared: &Shared, peer_connections: usize) -> String {
        let now = OffsetDateTime::now_utc();
        let view = shared.view();
        self.config_version
            .set(i64::try_from(view.config.version).unwrap_or(i64::MAX));
        self.config_expires_in
            .set((view.config.expires_at - now).whole_seconds());
        if let Some(offset) = shared.clock.offset() {
            self.clock_offset
                .get_or_create(&ClockLabels {
                    reference: "authority",
                })
                .set(offset.whole_seconds());
        }
        self.certificate_expires_in
            .set((shared.signing().not_after - now).whole_seconds());
        let audit = shared.audit.status();
        self.audit_writable
            .set(i64::from(audit.health == Health::Ok));
        self.audit_unsealed
            .set(i64::try_from(audit.unsealed_records).unwrap_or(i64::MAX));
        self.audit_segment
            .set(i64::try_from(audit.segment).unwrap_or(i64::MAX));
        self.audit_archived
            .set(i64::try_from(*shared.audit_archived.borrow()).unwrap_or(i64::MAX));
        self.peer_connections
            .set(i64::try_from(peer_connections).unwrap_or(i64::MAX));
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        text
    }
}
