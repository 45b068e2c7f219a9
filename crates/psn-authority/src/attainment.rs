//! SLA attainment and breaches (DESIGN.md "Operational monitoring and SLAs"; the rules are
//! written out for people in docs/sla.md). Pure: it folds the aggregate rows the store hands it,
//! one at a time, against the providers' declarations, and says per service and window what was
//! measured, which objectives were missed, and whose doing each miss was. Nothing here touches
//! the database or the clock, so every rule is tested on its own.

use psn_api::{
    Attribution, AvailabilitySource, Breach, BreachEvidence, ConsumerAttainment, LatencyAttainment,
    Objective, OutcomeCounts, ProviderAttainment, SeriesPoint, ServicePeriod, ServiceReport,
    SlaReport, TimeSplit, WindowReport,
};
use psn_core::aggregate::{AggregateRow, LatencyHistogram, Outcome, SampleKind, Side};
use psn_core::names::{GatewayId, MemberId, ServiceId, SubsystemId};
use psn_core::sla::SlaDeclaration;
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;

/// The percentile shown for services that declare no latency objective.
pub const DEFAULT_PERCENTILE: f64 = 95.0;

/// The member a row's client belongs to: the consumer subsystem's member, or for probes the
/// probing gateway's member.
pub fn client_member(client: &str) -> Option<MemberId> {
    if client.contains('@') {
        client.parse::<GatewayId>().ok().map(|g| g.member().clone())
    } else {
        client
            .parse::<SubsystemId>()
            .ok()
            .map(|s| s.member().clone())
    }
}

/// Which rows a report looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Only this service.
    pub service: Option<ServiceId>,
    /// Only the services of this provider member.
    pub provider: Option<MemberId>,
    /// Only rows whose client belongs to this member.
    pub consumer: Option<MemberId>,
}

impl Scope {
    fn covers_service(&self, service: &ServiceId) -> bool {
        self.service.as_ref().is_none_or(|s| s == service)
            && self.provider.as_ref().is_none_or(|p| p == service.member())
    }
}

/// What one window has gathered so far.
struct WindowAcc {
    start: OffsetDateTime,
    end: OffsetDateTime,
    /// Consumer-side exchanges and probes within support hours.
    consumers: OutcomeCounts,
    /// Provider-side probes within support hours (the fallback source).
    provider_probes: OutcomeCounts,
    /// Consumer-side successful exchanges: total time.
    ok_total: LatencyHistogram,
    /// Consumer-side successful exchanges: time beyond the consumer gateway.
    ok_upstream: LatencyHistogram,
    /// Provider-side successful exchanges: time in the backend.
    backend: LatencyHistogram,
}

impl WindowAcc {
    fn new(start: OffsetDateTime, end: OffsetDateTime) -> Self {
        Self {
            start,
            end,
            consumers: OutcomeCounts::default(),
            provider_probes: OutcomeCounts::default(),
            ok_total: LatencyHistogram::default(),
            ok_upstream: LatencyHistogram::default(),
            backend: LatencyHistogram::default(),
        }
    }
}

impl WindowAcc {
    /// Counts one row that falls in this window; `supported` says whether its minute is within
    /// the service's support hours (outside them, only latency is kept).
    fn add(&mut self, row: &AggregateRow, supported: bool) {
        let (key, counts) = (&row.key, &row.counts);
        let ok_exchange = key.kind == SampleKind::Exchange && key.outcome == Outcome::Ok;
        match key.side {
            Side::Consumer => {
                if supported {
                    self.consumers.add(key.outcome, counts.count);
                }
                if ok_exchange {
                    self.ok_total.merge(&counts.total);
                    self.ok_upstream.merge(&counts.upstream);
                }
            }
            Side::Provider => {
                if key.kind == SampleKind::Probe && supported {
                    self.provider_probes.add(key.outcome, counts.count);
                }
                if ok_exchange {
                    self.backend.merge(&counts.upstream);
                }
            }
        }
    }

    /// The source availability is judged from: the consumers' experience, else the provider's
    /// own probes, else nothing.
    fn availability_source(&self) -> (AvailabilitySource, OutcomeCounts) {
        if self.consumers.total() > 0 {
            (AvailabilitySource::Consumers, self.consumers)
        } else if self.provider_probes.total() > 0 {
            (AvailabilitySource::ProviderProbes, self.provider_probes)
        } else {
            (AvailabilitySource::None, OutcomeCounts::default())
        }
    }

    /// This step as a point of a series, its latency at `percentile`.
    fn point(&self, percentile: f64) -> SeriesPoint {
        let (source, outcomes) = self.availability_source();
        let (eligible, failures) = (outcomes.eligible(), outcomes.failures());
        SeriesPoint {
            start: self.start,
            end: self.end,
            source,
            eligible,
            failures,
            availability_percent: availability(eligible, failures),
            latency_ms: self.ok_total.percentile(percentile),
            ok_exchanges: self.ok_total.count(),
        }
    }
}

/// What one service has gathered so far.
struct ServiceAcc {
    id: ServiceId,
    sla: Option<SlaDeclaration>,
    windows: Vec<WindowAcc>,
    /// Its steps over time, when the report has a series step.
    series: Vec<WindowAcc>,
    consumers: BTreeMap<String, (MemberId, OutcomeCounts)>,
    /// Consumers' exchanges (not probes) of every outcome, at any hour.
    exchanges: u64,
}

/// The most steps a series may have: enough for a chart a page wide, and a bound on what one
/// report holds whatever is asked.
pub const MAX_SERIES_STEPS: u64 = 1_000;

/// A report being computed: create it, [`Attainment::add`] every stored row of the period,
/// then [`Attainment::finish`].
pub struct Attainment {
    since: OffsetDateTime,
    until: OffsetDateTime,
    scope: Scope,
    slas: HashMap<ServiceId, SlaDeclaration>,
    /// By service id text, so the report lists services in id order.
    services: BTreeMap<String, ServiceAcc>,
    /// The step of each service's series, if the report has them.
    step: Option<time::Duration>,
}

/// `[since, until)` cut into `step`s, the last clipped; empty without a step.
fn steps(
    step: Option<time::Duration>,
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> Vec<WindowAcc> {
    let Some(step) = step.filter(|s| s.is_positive()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut start = since;
    while start < until {
        let end = start.saturating_add(step).min(until);
        out.push(WindowAcc::new(start, end));
        start = end;
    }
    out
}

/// The accumulator `at` falls in, of accumulators in time order that tile the period.
fn containing(accs: &mut [WindowAcc], at: OffsetDateTime) -> Option<&mut WindowAcc> {
    let index = accs.partition_point(|w| w.start <= at);
    index.checked_sub(1).and_then(|i| accs.get_mut(i))
}

/// The windows of a service over `[since, until)`: its SLA's calendar windows clipped to the
/// period, or the whole period as one window without an SLA.
fn windows(
    sla: Option<&SlaDeclaration>,
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> Vec<WindowAcc> {
    let Some(sla) = sla else {
        return vec![WindowAcc::new(since, until)];
    };
    let mut out = Vec::new();
    let mut start = since;
    while start < until {
        let mut end = sla.window.end_of(start).min(until);
        if end <= start {
            end = until;
        }
        out.push(WindowAcc::new(start, end));
        start = end;
    }
    out
}

impl Attainment {
    /// A report over `[since, until)` for the rows in `scope`, against these declarations.
    /// Services with a declaration (within the scope's service and provider) are reported even
    /// without rows, unless the report is about one consumer.
    pub fn new(
        since: OffsetDateTime,
        until: OffsetDateTime,
        scope: Scope,
        slas: Vec<SlaDeclaration>,
    ) -> Self {
        let slas: HashMap<ServiceId, SlaDeclaration> =
            slas.into_iter().map(|s| (s.service.clone(), s)).collect();
        let mut report = Self {
            since,
            until,
            scope,
            slas,
            services: BTreeMap::new(),
            step: None,
        };
        if report.scope.consumer.is_none() {
            let declared: Vec<ServiceId> = report
                .slas
                .keys()
                .filter(|s| report.scope.covers_service(s))
                .cloned()
                .collect();
            for service in declared {
                report.service(&service);
            }
        }
        report
    }

    /// Also reports every service over time in steps of `step` (the caller bounds the number
    /// of steps by [`MAX_SERIES_STEPS`]). Call before adding rows.
    pub fn with_series(mut self, step: time::Duration) -> Self {
        self.step = Some(step);
        for acc in self.services.values_mut() {
            acc.series = steps(self.step, self.since, self.until);
        }
        self
    }

    fn service(&mut self, id: &ServiceId) -> &mut ServiceAcc {
        let (slas, since, until, step) = (&self.slas, self.since, self.until, self.step);
        self.services.entry(id.to_string()).or_insert_with(|| {
            let sla = slas.get(id).cloned();
            ServiceAcc {
                id: id.clone(),
                windows: windows(sla.as_ref(), since, until),
                series: steps(step, since, until),
                sla,
                consumers: BTreeMap::new(),
                exchanges: 0,
            }
        })
    }

    /// Counts one stored row. Rows outside the period or the scope, or naming something that
    /// is not a service, are left out.
    pub fn add(&mut self, row: &AggregateRow) {
        let key = &row.key;
        let Ok(service) = key.service.parse::<ServiceId>() else {
            return;
        };
        if !self.scope.covers_service(&service) {
            return;
        }
        let Some(at) = key
            .minute
            .checked_mul(60)
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        else {
            return;
        };
        if at < self.since || at >= self.until {
            return;
        }
        let member = client_member(&key.client);
        if let Some(consumer) = &self.scope.consumer {
            if member.as_ref() != Some(consumer) {
                return;
            }
        }
        let acc = self.service(&service);
        let supported = acc
            .sla
            .as_ref()
            .and_then(|s| s.support_hours.as_ref())
            .is_none_or(|h| h.contains(at));
        let Some(window) = containing(&mut acc.windows, at) else {
            return;
        };
        window.add(row, supported);
        if let Some(step) = containing(&mut acc.series, at) {
            step.add(row, supported);
        }
        if key.side == Side::Consumer && key.kind == SampleKind::Exchange {
            acc.exchanges = acc.exchanges.saturating_add(row.counts.count);
        }
        if key.side == Side::Consumer && supported {
            if let Some(member) = member {
                acc.consumers
                    .entry(member.to_string())
                    .or_insert_with(|| (member, OutcomeCounts::default()))
                    .1
                    .add(key.outcome, row.counts.count);
            }
        }
    }

    /// The report.
    pub fn finish(self) -> SlaReport {
        let mut services = Vec::with_capacity(self.services.len());
        let mut providers: BTreeMap<String, ProviderAttainment> = BTreeMap::new();
        let mut all_breaches = Vec::new();
        for (_, acc) in self.services {
            let windows: Vec<WindowReport> = acc
                .windows
                .iter()
                .map(|w| window_report(&acc.id, acc.sla.as_ref(), w))
                .collect();
            let period = period_summary(&acc);
            let provider = acc.id.member().clone();
            let totals =
                providers
                    .entry(provider.to_string())
                    .or_insert_with(|| ProviderAttainment {
                        provider: provider.clone(),
                        services: 0,
                        eligible: 0,
                        failures: 0,
                        availability_percent: None,
                        breaches: 0,
                    });
            totals.services += 1;
            for w in &windows {
                totals.eligible = totals.eligible.saturating_add(w.eligible);
                totals.failures = totals.failures.saturating_add(w.failures);
                totals.breaches += w.breaches.len() as u64;
                all_breaches.extend(w.breaches.iter().cloned());
            }
            let consumers = acc
                .consumers
                .into_values()
                .map(|(consumer, outcomes)| ConsumerAttainment {
                    consumer,
                    eligible: outcomes.eligible(),
                    failures: outcomes.failures(),
                    availability_percent: outcomes.availability_percent(),
                    outcomes,
                })
                .collect();
            let percentile = acc
                .sla
                .as_ref()
                .and_then(|s| s.latency)
                .map_or(DEFAULT_PERCENTILE, |l| l.percentile);
            services.push(ServiceReport {
                period,
                series: acc.series.iter().map(|s| s.point(percentile)).collect(),
                service: acc.id,
                provider,
                sla: acc.sla,
                windows,
                consumers,
            });
        }
        let providers = providers
            .into_values()
            .map(|mut p| {
                p.availability_percent = availability(p.eligible, p.failures);
                p
            })
            .collect();
        SlaReport {
            since: self.since,
            until: self.until,
            consumer: self.scope.consumer,
            services,
            providers,
            breaches: all_breaches,
            step_seconds: self
                .step
                .and_then(|s| u64::try_from(s.whole_seconds()).ok()),
        }
    }
}

/// A service's windows taken together.
fn period_summary(acc: &ServiceAcc) -> ServicePeriod {
    let mut ok_total = LatencyHistogram::default();
    let (mut eligible, mut failures) = (0u64, 0u64);
    for w in &acc.windows {
        let (_, outcomes) = w.availability_source();
        eligible = eligible.saturating_add(outcomes.eligible());
        failures = failures.saturating_add(outcomes.failures());
        ok_total.merge(&w.ok_total);
    }
    ServicePeriod {
        eligible,
        failures,
        availability_percent: availability(eligible, failures),
        latency_p50_ms: ok_total.percentile(50.0),
        latency_p95_ms: ok_total.percentile(95.0),
        exchanges: acc.exchanges,
    }
}

/// Percent of `eligible` that did not fail; `None` when nothing was eligible.
fn availability(eligible: u64, failures: u64) -> Option<f64> {
    (eligible > 0).then(|| 100.0 * eligible.saturating_sub(failures) as f64 / eligible as f64)
}

/// Whether availability falls short of `target` percent, compared exactly in whole numbers
/// (targets have at most four decimals), so 999 of 1,000 meets 99.9%.
fn below_target(eligible: u64, failures: u64, target: f64) -> bool {
    if eligible == 0 {
        return false;
    }
    let target = (target * 10_000.0).round().max(0.0) as u128;
    let good = u128::from(eligible.saturating_sub(failures));
    good * 1_000_000 < target * u128::from(eligible)
}

/// Recorded latencies certainly above `threshold_ms`: those in buckets that lie wholly above it.
fn over_threshold(histogram: &LatencyHistogram, threshold_ms: u64) -> u64 {
    histogram
        .buckets
        .iter()
        .filter(|(index, _)| {
            let lowest = match index.checked_sub(1) {
                Some(below) => LatencyHistogram::upper_bound(below).saturating_add(1),
                None => 0,
            };
            lowest > threshold_ms
        })
        .fold(0u64, |sum, (_, count)| sum.saturating_add(*count))
}

fn time_split(w: &WindowAcc) -> TimeSplit {
    let total = w.ok_total.mean_ms();
    let upstream = w.ok_upstream.mean_ms();
    let backend = w.backend.mean_ms();
    TimeSplit {
        consumer_gateway_ms: total.zip(upstream).map(|(t, u)| (t - u).max(0.0)),
        network_and_provider_gateway_ms: upstream.map(|u| (u - backend.unwrap_or(0.0)).max(0.0)),
        backend_ms: backend,
    }
}

/// Whose the largest share of the time was; ties go to the provider's side, backend first.
fn latency_attribution(split: &TimeSplit) -> Attribution {
    let mut best = (Attribution::ConsumerSide, f64::NEG_INFINITY);
    for (who, ms) in [
        (Attribution::Backend, split.backend_ms),
        (
            Attribution::ProviderGateway,
            split.network_and_provider_gateway_ms,
        ),
        (Attribution::ConsumerSide, split.consumer_gateway_ms),
    ] {
        if let Some(ms) = ms {
            if ms > best.1 {
                best = (who, ms);
            }
        }
    }
    best.0
}

fn window_report(service: &ServiceId, sla: Option<&SlaDeclaration>, w: &WindowAcc) -> WindowReport {
    let (source, outcomes) = w.availability_source();
    let (eligible, failures) = (outcomes.eligible(), outcomes.failures());
    let target = sla.and_then(|s| s.latency);
    let percentile = target.map_or(DEFAULT_PERCENTILE, |l| l.percentile);
    let latency = LatencyAttainment {
        percentile,
        measured_ms: w.ok_total.percentile(percentile),
        target_ms: target.map(|l| l.under_ms),
        ok_exchanges: w.ok_total.count(),
    };
    let split = time_split(w);
    let mut breaches = Vec::new();
    if let Some(sla) = sla {
        let breach = |objective, target, measured, attribution, evidence| Breach {
            service: service.clone(),
            window_start: w.start,
            window_end: w.end,
            objective,
            target,
            measured,
            attribution,
            evidence,
        };
        if below_target(eligible, failures, sla.availability_percent) {
            let attribution = if outcomes.provider_gateway > outcomes.backend {
                Attribution::ProviderGateway
            } else {
                Attribution::Backend
            };
            breaches.push(breach(
                Objective::Availability,
                format!("{}%", sla.availability_percent),
                availability(eligible, failures).unwrap_or(0.0),
                attribution,
                BreachEvidence {
                    outcomes: Some(outcomes),
                    eligible: Some(eligible),
                    failures: Some(failures),
                    ..BreachEvidence::default()
                },
            ));
        }
        if let (Some(target), Some(measured)) = (sla.latency, latency.measured_ms) {
            if measured > u64::from(target.under_ms) {
                breaches.push(breach(
                    Objective::Latency,
                    format!("p{}<{}ms", target.percentile, target.under_ms),
                    measured as f64,
                    latency_attribution(&split),
                    BreachEvidence {
                        ok_exchanges: Some(latency.ok_exchanges),
                        over_threshold: Some(over_threshold(
                            &w.ok_total,
                            u64::from(target.under_ms),
                        )),
                        time_split: Some(split),
                        ..BreachEvidence::default()
                    },
                ));
            }
        }
    }
    WindowReport {
        start: w.start,
        end: w.end,
        source,
        outcomes,
        eligible,
        failures,
        availability_percent: availability(eligible, failures),
        availability_target: sla.map(|s| s.availability_percent),
        latency,
        time_split: split,
        breaches,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use psn_core::aggregate::{AggregateCounts, AggregateKey};
    use psn_core::sla::SlaWindow;

    const FSM: &str = "GB/GOV/D6/eligibility/fsm-check";
    const PAYROLL: &str = "GB/LA/E10000014/payroll/hub";
    const KENT: &str = "GB/LA/E10000016/revenues";
    const LINCS: &str = "GB/LA/E10000019/revenues";

    fn at(text: &str) -> OffsetDateTime {
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn minute(text: &str) -> i64 {
        at(text).unix_timestamp() / 60
    }

    fn id<T: std::str::FromStr>(text: &str) -> T
    where
        T::Err: std::fmt::Display,
    {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// `count` exchanges at `when`, each `total` ms at the gateway of which `upstream` beyond it.
    #[allow(clippy::too_many_arguments)]
    fn row(
        when: &str,
        side: Side,
        kind: SampleKind,
        service: &str,
        client: &str,
        outcome: Outcome,
        count: u64,
        total_upstream: Option<(u64, u64)>,
    ) -> AggregateRow {
        let mut counts = AggregateCounts {
            count,
            ..AggregateCounts::default()
        };
        if let Some((total, upstream)) = total_upstream {
            for _ in 0..count {
                counts.total.record(total);
                counts.upstream.record(upstream);
            }
        }
        AggregateRow {
            key: AggregateKey {
                minute: minute(when),
                side,
                kind,
                service: service.into(),
                client: client.into(),
                outcome,
            },
            counts,
        }
    }

    fn consumer(when: &str, client: &str, outcome: Outcome, count: u64) -> AggregateRow {
        let times = (outcome == Outcome::Ok).then_some((120, 100));
        row(
            when,
            Side::Consumer,
            SampleKind::Exchange,
            FSM,
            client,
            outcome,
            count,
            times,
        )
    }

    fn fsm_sla() -> SlaDeclaration {
        SlaDeclaration {
            service: id(FSM),
            availability_percent: 99.9,
            window: SlaWindow::Day,
            latency: Some(id("p95<500ms")),
            support_hours: None,
        }
    }

    fn report(rows: &[AggregateRow], scope: Scope, slas: Vec<SlaDeclaration>) -> SlaReport {
        let mut a = Attainment::new(
            at("2024-01-08T00:00:00Z"),
            at("2024-01-11T00:00:00Z"),
            scope,
            slas,
        );
        for r in rows {
            a.add(r);
        }
        a.finish()
    }

    #[test]
    fn backend_failures_breach_availability_and_are_the_backends() {
        let rows = [
            consumer("2024-01-08T10:00:00Z", KENT, Outcome::Ok, 990),
            consumer("2024-01-08T10:01:00Z", KENT, Outcome::Backend, 8),
            consumer("2024-01-08T10:02:00Z", KENT, Outcome::ProviderGateway, 2),
            // The next day meets the target exactly: 999 of 1,000 is 99.9%.
            consumer("2024-01-09T10:00:00Z", KENT, Outcome::Ok, 999),
            consumer("2024-01-09T10:00:00Z", KENT, Outcome::Backend, 1),
        ];
        let r = report(&rows, Scope::default(), vec![fsm_sla()]);
        assert_eq!(r.services.len(), 1);
        let s = &r.services[0];
        assert_eq!(s.windows.len(), 3, "three days");
        let day1 = &s.windows[0];
        assert_eq!(day1.source, AvailabilitySource::Consumers);
        assert_eq!((day1.eligible, day1.failures), (1000, 10));
        assert_eq!(day1.availability_percent, Some(99.0));
        assert_eq!(day1.breaches.len(), 1);
        let b = &day1.breaches[0];
        assert_eq!(b.objective, Objective::Availability);
        assert_eq!(b.target, "99.9%");
        assert_eq!(b.measured, 99.0);
        assert_eq!(b.attribution, Attribution::Backend);
        assert_eq!(b.window_start, at("2024-01-08T00:00:00Z"));
        assert_eq!(b.window_end, at("2024-01-09T00:00:00Z"));
        let outcomes = b.evidence.outcomes.unwrap_or_default();
        assert_eq!(
            (outcomes.ok, outcomes.backend, outcomes.provider_gateway),
            (990, 8, 2)
        );
        assert_eq!(
            (b.evidence.eligible, b.evidence.failures),
            (Some(1000), Some(10))
        );
        let day2 = &s.windows[1];
        assert_eq!(day2.availability_percent, Some(99.9));
        assert!(day2.breaches.is_empty(), "exactly on target is no breach");
        let day3 = &s.windows[2];
        assert_eq!(day3.source, AvailabilitySource::None);
        assert_eq!(day3.availability_percent, None);
        assert!(day3.breaches.is_empty());
        assert_eq!(r.breaches, vec![b.clone()]);
        assert_eq!(r.providers.len(), 1);
        let p = &r.providers[0];
        assert_eq!(
            (p.services, p.eligible, p.failures, p.breaches),
            (1, 2000, 11, 1)
        );
        assert_eq!(p.availability_percent, Some(100.0 * 1989.0 / 2000.0));
    }

    #[test]
    fn an_unreachable_provider_is_the_provider_gateways() {
        let rows = [
            consumer("2024-01-08T10:00:00Z", KENT, Outcome::Ok, 90),
            consumer("2024-01-08T10:01:00Z", KENT, Outcome::ProviderGateway, 9),
            consumer("2024-01-08T10:02:00Z", KENT, Outcome::Backend, 1),
        ];
        let r = report(&rows, Scope::default(), vec![fsm_sla()]);
        let b = &r.breaches[0];
        assert_eq!(b.attribution, Attribution::ProviderGateway);
        assert_eq!(b.measured, 90.0);
    }

    #[test]
    fn a_consumers_own_errors_count_against_nobody() {
        let rows = [
            consumer("2024-01-08T10:00:00Z", KENT, Outcome::Ok, 100),
            consumer("2024-01-08T10:01:00Z", KENT, Outcome::ClientError, 50),
            consumer("2024-01-08T10:01:00Z", KENT, Outcome::ConsumerGateway, 5),
            consumer("2024-01-08T10:01:00Z", KENT, Outcome::Unfinished, 3),
        ];
        let r = report(&rows, Scope::default(), vec![fsm_sla()]);
        let w = &r.services[0].windows[0];
        assert_eq!(w.availability_percent, Some(100.0));
        assert_eq!((w.eligible, w.failures), (100, 0));
        assert_eq!(
            (
                w.outcomes.client_error,
                w.outcomes.consumer_gateway,
                w.outcomes.unfinished
            ),
            (50, 5, 3),
            "shown as evidence"
        );
        assert!(r.breaches.is_empty());
    }

    fn timed(when: &str, side: Side, total: u64, upstream: u64, count: u64) -> AggregateRow {
        let client = KENT;
        row(
            when,
            side,
            SampleKind::Exchange,
            FSM,
            client,
            Outcome::Ok,
            count,
            Some((total, upstream)),
        )
    }

    #[test]
    fn slow_exchanges_breach_latency_and_go_to_the_largest_share_of_the_time() {
        // (consumer total, consumer upstream, provider total, provider upstream) -> attribution
        for (c_total, c_up, p_total, p_up, expected) in [
            (900, 880, 860, 850, Attribution::Backend),
            (900, 880, 60, 50, Attribution::ProviderGateway),
            (900, 100, 95, 90, Attribution::ConsumerSide),
        ] {
            let rows = [
                timed("2024-01-08T10:00:00Z", Side::Consumer, c_total, c_up, 100),
                timed("2024-01-08T10:00:00Z", Side::Provider, p_total, p_up, 100),
            ];
            let r = report(&rows, Scope::default(), vec![fsm_sla()]);
            let w = &r.services[0].windows[0];
            let measured = w.latency.measured_ms.unwrap_or_default();
            assert!(
                (c_total..=c_total + c_total / 16).contains(&measured),
                "{measured}"
            );
            assert_eq!(w.latency.target_ms, Some(500));
            assert_eq!(r.breaches.len(), 1);
            let b = &r.breaches[0];
            assert_eq!(b.objective, Objective::Latency);
            assert_eq!(b.target, "p95<500ms");
            assert_eq!(b.attribution, expected, "{c_total} {c_up} {p_up}");
            assert_eq!(b.evidence.ok_exchanges, Some(100));
            assert_eq!(b.evidence.over_threshold, Some(100));
            let split = b.evidence.time_split.unwrap_or_default();
            assert_eq!(split.consumer_gateway_ms, Some((c_total - c_up) as f64));
            assert_eq!(split.backend_ms, Some(p_up as f64));
            assert_eq!(
                split.network_and_provider_gateway_ms,
                Some(c_up.saturating_sub(p_up) as f64)
            );
        }
        // Fast enough: no breach, and the percentile is still shown.
        let rows = [timed("2024-01-08T10:00:00Z", Side::Consumer, 120, 100, 10)];
        let r = report(&rows, Scope::default(), vec![fsm_sla()]);
        assert!(r.breaches.is_empty());
        // Reported as the upper bound of 120's bucket (120..=123).
        assert_eq!(
            r.services[0].windows[0].latency.measured_ms,
            Some(LatencyHistogram::upper_bound(LatencyHistogram::bucket_of(
                120
            )))
        );
    }

    #[test]
    fn probes_count_for_availability_but_not_latency() {
        let rows = [
            row(
                "2024-01-08T10:00:00Z",
                Side::Consumer,
                SampleKind::Probe,
                FSM,
                "GB/LA/E10000016@gw1",
                Outcome::Ok,
                10,
                Some((5_000, 4_900)),
            ),
            row(
                "2024-01-08T10:00:00Z",
                Side::Consumer,
                SampleKind::Probe,
                FSM,
                "GB/LA/E10000016@gw1",
                Outcome::ProviderGateway,
                10,
                None,
            ),
        ];
        let r = report(&rows, Scope::default(), vec![fsm_sla()]);
        let w = &r.services[0].windows[0];
        assert_eq!(w.availability_percent, Some(50.0));
        assert_eq!(w.latency.measured_ms, None, "probes are not member traffic");
        assert_eq!(r.breaches.len(), 1);
        assert_eq!(r.breaches[0].attribution, Attribution::ProviderGateway);
        assert_eq!(r.services[0].consumers[0].consumer, id("GB/LA/E10000016"));
    }

    #[test]
    fn without_consumer_rows_the_providers_own_probes_stand_in() {
        let probe = |outcome, count| {
            row(
                "2024-01-08T10:00:00Z",
                Side::Provider,
                SampleKind::Probe,
                FSM,
                "GB/GOV/D6@gw1",
                outcome,
                count,
                None,
            )
        };
        let rows = [
            probe(Outcome::Ok, 50),
            probe(Outcome::Backend, 50),
            // The next day has consumer traffic, so the probes there are not used.
            consumer("2024-01-09T10:00:00Z", KENT, Outcome::Ok, 10),
            row(
                "2024-01-09T10:00:00Z",
                Side::Provider,
                SampleKind::Probe,
                FSM,
                "GB/GOV/D6@gw1",
                Outcome::Backend,
                10,
                None,
            ),
        ];
        let r = report(&rows, Scope::default(), vec![fsm_sla()]);
        let windows = &r.services[0].windows;
        assert_eq!(windows[0].source, AvailabilitySource::ProviderProbes);
        assert_eq!(windows[0].availability_percent, Some(50.0));
        assert_eq!(windows[0].breaches[0].attribution, Attribution::Backend);
        assert_eq!(windows[1].source, AvailabilitySource::Consumers);
        assert_eq!(windows[1].availability_percent, Some(100.0));
        assert!(windows[1].breaches.is_empty());
        assert!(r.services[0]
            .consumers
            .iter()
            .all(|c| c.consumer != id("GB/GOV/D6")));
    }

    #[test]
    fn failures_outside_support_hours_do_not_count() {
        let sla = SlaDeclaration {
            service: id(PAYROLL),
            availability_percent: 99.0,
            window: SlaWindow::Week,
            latency: None,
            support_hours: Some(id("mon-fri 08:00-18:00")),
        };
        let payroll = |when: &str, outcome, count| {
            row(
                when,
                Side::Consumer,
                SampleKind::Exchange,
                PAYROLL,
                KENT,
                outcome,
                count,
                None,
            )
        };
        // Monday 1 July 2024 is in BST: 07:30 UTC is 08:30 in London, 06:30 UTC is 07:30.
        let mut a = Attainment::new(
            at("2024-07-01T00:00:00Z"),
            at("2024-07-08T00:00:00Z"),
            Scope::default(),
            vec![sla],
        );
        for r in [
            payroll("2024-07-01T06:30:00Z", Outcome::Backend, 500),
            payroll("2024-07-01T17:00:00Z", Outcome::Backend, 500),
            payroll("2024-07-06T12:00:00Z", Outcome::Backend, 500),
            payroll("2024-07-01T07:30:00Z", Outcome::Ok, 99),
        ] {
            a.add(&r);
        }
        let r = a.finish();
        let s = &r.services[0];
        // The week starts at midnight BST on Monday 1 July, before `since`.
        assert_eq!(s.windows.len(), 2);
        assert_eq!(s.windows[0].start, at("2024-07-01T00:00:00Z"));
        assert_eq!(s.windows[0].end, at("2024-07-07T23:00:00Z"));
        assert_eq!(s.windows[0].availability_percent, Some(100.0));
        assert!(r.breaches.is_empty());
        assert_eq!(s.consumers[0].eligible, 99);

        // One failure inside the hours: 08:30 BST.
        let mut a = Attainment::new(
            at("2024-07-01T00:00:00Z"),
            at("2024-07-08T00:00:00Z"),
            Scope::default(),
            vec![SlaDeclaration {
                service: id(PAYROLL),
                availability_percent: 99.5,
                window: SlaWindow::Week,
                latency: None,
                support_hours: Some(id("mon-fri 08:00-18:00")),
            }],
        );
        a.add(&payroll("2024-07-01T07:30:00Z", Outcome::Ok, 99));
        a.add(&payroll("2024-07-01T07:31:00Z", Outcome::Backend, 1));
        let r = a.finish();
        assert_eq!(r.breaches.len(), 1);
        assert_eq!(r.breaches[0].measured, 99.0);
    }

    #[test]
    fn services_without_an_sla_have_one_window_and_no_breaches() {
        let rows = [
            consumer("2024-01-08T10:00:00Z", KENT, Outcome::Ok, 1),
            consumer("2024-01-10T10:00:00Z", KENT, Outcome::Backend, 1),
        ];
        let r = report(&rows, Scope::default(), vec![]);
        let s = &r.services[0];
        assert_eq!(s.sla, None);
        assert_eq!(s.windows.len(), 1);
        assert_eq!(s.windows[0].start, at("2024-01-08T00:00:00Z"));
        assert_eq!(s.windows[0].end, at("2024-01-11T00:00:00Z"));
        assert_eq!(s.windows[0].availability_percent, Some(50.0));
        assert_eq!(s.windows[0].latency.percentile, DEFAULT_PERCENTILE);
        assert!(r.breaches.is_empty());
    }

    #[test]
    fn consumers_and_providers_are_reported_and_filtered() {
        let payroll_row = row(
            "2024-01-08T10:00:00Z",
            Side::Consumer,
            SampleKind::Exchange,
            PAYROLL,
            KENT,
            Outcome::Ok,
            7,
            None,
        );
        let rows = vec![
            consumer("2024-01-08T10:00:00Z", KENT, Outcome::Ok, 100),
            consumer("2024-01-08T10:00:00Z", LINCS, Outcome::Ok, 80),
            consumer("2024-01-08T10:00:00Z", LINCS, Outcome::Backend, 20),
            payroll_row,
            // Outside the period, and not a service: left out.
            consumer("2024-01-11T00:00:00Z", KENT, Outcome::Backend, 1000),
            consumer("2024-01-07T23:59:00Z", KENT, Outcome::Backend, 1000),
            row(
                "2024-01-08T10:00:00Z",
                Side::Consumer,
                SampleKind::Exchange,
                "not/a/service",
                KENT,
                Outcome::Backend,
                1000,
                None,
            ),
        ];
        let r = report(&rows, Scope::default(), vec![fsm_sla()]);
        assert_eq!(
            r.services
                .iter()
                .map(|s| s.service.to_string())
                .collect::<Vec<_>>(),
            vec![FSM, PAYROLL]
        );
        let fsm = &r.services[0];
        let by: Vec<(String, u64, u64)> = fsm
            .consumers
            .iter()
            .map(|c| (c.consumer.to_string(), c.eligible, c.failures))
            .collect();
        assert_eq!(
            by,
            vec![
                ("GB/LA/E10000016".into(), 100, 0),
                ("GB/LA/E10000019".into(), 100, 20)
            ]
        );
        assert_eq!(fsm.consumers[1].availability_percent, Some(80.0));
        assert_eq!(r.providers.len(), 2);
        assert_eq!(r.providers[0].provider, id("GB/GOV/D6"));
        assert_eq!(
            (
                r.providers[0].eligible,
                r.providers[0].failures,
                r.providers[0].breaches
            ),
            (200, 20, 1)
        );
        assert_eq!(r.providers[1].provider, id("GB/LA/E10000014"));
        assert_eq!(r.providers[1].availability_percent, Some(100.0));

        // One consumer: only its rows, so Kent's day meets the target.
        let kent = report(
            &rows,
            Scope {
                consumer: Some(id("GB/LA/E10000016")),
                ..Scope::default()
            },
            vec![fsm_sla()],
        );
        assert_eq!(kent.consumer, Some(id("GB/LA/E10000016")));
        assert_eq!(kent.services.len(), 2);
        assert_eq!(kent.services[0].consumers.len(), 1);
        assert!(kent.breaches.is_empty());
        let lincs = report(
            &rows,
            Scope {
                consumer: Some(id("GB/LA/E10000019")),
                ..Scope::default()
            },
            vec![fsm_sla()],
        );
        assert_eq!(lincs.services.len(), 1, "Lincolnshire does not use payroll");
        assert_eq!(lincs.breaches.len(), 1);

        // One service, one provider.
        let only = |scope: Scope| {
            report(&rows, scope, vec![fsm_sla()])
                .services
                .iter()
                .map(|s| s.service.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            only(Scope {
                service: Some(id(PAYROLL)),
                ..Scope::default()
            }),
            vec![PAYROLL]
        );
        assert_eq!(
            only(Scope {
                provider: Some(id("GB/GOV/D6")),
                ..Scope::default()
            }),
            vec![FSM]
        );
        assert!(only(Scope {
            provider: Some(id("GB/NHS/RJ1")),
            ..Scope::default()
        })
        .is_empty());
    }

    #[test]
    fn declared_services_without_rows_are_reported_as_without_data() {
        let r = report(&[], Scope::default(), vec![fsm_sla()]);
        assert_eq!(r.services.len(), 1);
        assert!(r.services[0]
            .windows
            .iter()
            .all(|w| w.source == AvailabilitySource::None && w.breaches.is_empty()));
        assert_eq!(r.providers[0].availability_percent, None);
    }

    #[test]
    fn thresholds_are_compared_exactly() {
        assert!(!below_target(1000, 1, 99.9));
        assert!(below_target(1000, 2, 99.9));
        assert!(!below_target(3, 0, 100.0));
        assert!(below_target(3, 1, 66.6667));
        assert!(!below_target(3, 1, 66.6666));
        assert!(!below_target(0, 0, 99.9));
        let mut h = LatencyHistogram::default();
        for ms in [100, 499, 500, 501, 530, 600] {
            h.record(ms);
        }
        // 499, 500 and 501 share the bucket 496..=511; 530 and 600 lie wholly above 500.
        assert_eq!(over_threshold(&h, 500), 2);
        assert_eq!(over_threshold(&h, 50), 6);
    }
}
