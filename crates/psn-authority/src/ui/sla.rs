//! The SLA report pages: the network's (or one provider's) attainment and breaches, and one
//! service's report with its availability and latency over time as charts. Both are computed by
//! `crate::report`, exactly as `GET /v1/slas/report` computes them.

use super::chart::{availability_range, latency_range, Series};
use super::pages::{find_service, when, ServicePath};
use super::paging::{self, pagination, PAGE_SIZE};
use super::render::{render, Failure};
use super::session::Viewer;
use super::views::*;
use super::Ui;
use crate::report::{sla_report, ReportError};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use psn_api::{
    Breach, BreachEvidence, ConsumerAttainment, Objective, SeriesPoint, ServiceReport, SlaReport,
    SlaReportQuery, WindowReport,
};
use psn_core::names::MemberId;
use serde::Deserialize;
use std::sync::Arc;
use time::OffsetDateTime;

/// The periods a report page offers, ending now.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize, Default)]
pub enum Period {
    #[serde(rename = "1d")]
    Day,
    #[serde(rename = "7d")]
    Week,
    #[default]
    #[serde(rename = "30d")]
    Month,
    #[serde(rename = "90d")]
    Quarter,
}

impl Period {
    const ALL: [Period; 4] = [Period::Day, Period::Week, Period::Month, Period::Quarter];

    fn key(self) -> &'static str {
        match self {
            Period::Day => "1d",
            Period::Week => "7d",
            Period::Month => "30d",
            Period::Quarter => "90d",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Period::Day => "Last 24 hours",
            Period::Week => "Last 7 days",
            Period::Month => "Last 30 days",
            Period::Quarter => "Last 90 days",
        }
    }

    fn length(self) -> time::Duration {
        match self {
            Period::Day => time::Duration::days(1),
            Period::Week => time::Duration::days(7),
            Period::Month => time::Duration::days(30),
            Period::Quarter => time::Duration::days(90),
        }
    }

    /// The charts' step: about a hundred points whatever the period.
    fn step_seconds(self) -> u64 {
        match self {
            Period::Day => 15 * 60,
            Period::Week => 2 * 3600,
            Period::Month => 6 * 3600,
            Period::Quarter => 86_400,
        }
    }

    /// How a step's start is labelled on the time axis.
    fn axis_label(self, t: OffsetDateTime) -> String {
        match self {
            Period::Day => format!("{:02}:{:02}", t.hour(), t.minute()),
            _ => format!("{} {}", t.day(), &format!("{}", t.month())[..3]),
        }
    }

    /// Links to every period, this one current, onto `base` (which ends in `?` or `&`).
    fn links(self, base: &str) -> Vec<PeriodLink> {
        Self::ALL
            .iter()
            .map(|p| PeriodLink {
                href: format!("{base}period={}", p.key()),
                text: p.words(),
                current: *p == self,
            })
            .collect()
    }
}

/// The network report's query: period, provider and page.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    #[serde(default)]
    period: Option<Period>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    page: Option<u64>,
}

/// One service's report query: its period.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ServiceReportQuery {
    #[serde(default)]
    period: Option<Period>,
}

pub(super) fn report_failure(e: ReportError) -> Failure {
    match e {
        ReportError::Invalid(m) => Failure::BadRequest(m),
        ReportError::Store(e) => e.into(),
    }
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "not measured".into(), |v| format!("{v:.3}%"))
}

fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "none".into(), |v| format!("{v:.0} ms"))
}

/// A breach's evidence in words.
fn evidence(b: &Breach) -> String {
    let e: &BreachEvidence = &b.evidence;
    match b.objective {
        Objective::Availability => {
            let o = e.outcomes.unwrap_or_default();
            format!(
                "{} failures of {} exchanges judged: backend {}, provider gateway {}.",
                count(e.failures.unwrap_or(0)),
                count(e.eligible.unwrap_or(0)),
                count(o.backend),
                count(o.provider_gateway)
            )
        }
        Objective::Latency => {
            let split = e.time_split.unwrap_or_default();
            format!(
                "At least {} of {} successful exchanges over the threshold. Mean time: backend {}, network and provider gateway {}, consumer gateway {}.",
                count(e.over_threshold.unwrap_or(0)),
                count(e.ok_exchanges.unwrap_or(0)),
                ms(split.backend_ms),
                ms(split.network_and_provider_gateway_ms),
                ms(split.consumer_gateway_ms)
            )
        }
    }
}

fn attribution_words(b: &Breach) -> &'static str {
    match b.attribution {
        psn_api::Attribution::Backend => "Provider's backend",
        psn_api::Attribution::ProviderGateway => "Provider's gateway or the network",
        psn_api::Attribution::ConsumerSide => "Consumers' side",
    }
}

fn breach_line(b: &Breach) -> BreachLine {
    let measured = match b.objective {
        Objective::Availability => format!("{:.3}%", b.measured),
        Objective::Latency => format!("{:.0} ms", b.measured),
    };
    BreachLine {
        service: b.service.to_string(),
        window: format!("{} to {}", when(b.window_start), when(b.window_end)),
        objective: b.objective.as_str(),
        target: b.target.clone(),
        measured,
        attribution: attribution_words(b),
        evidence: evidence(b),
    }
}

/// A service over the whole period: its windows summed.
fn service_line(s: &ServiceReport) -> SlaServiceLine {
    let breaches: usize = s.windows.iter().map(|w| w.breaches.len()).sum();
    let met = s.windows.iter().filter(|w| w.breaches.is_empty()).count();
    SlaServiceLine {
        id: s.service.to_string(),
        sla: s
            .sla
            .as_ref()
            .map_or_else(|| "None declared".into(), ToString::to_string),
        availability: percent(s.period.availability_percent),
        windows: if s.sla.is_some() {
            format!("{met} of {}", s.windows.len())
        } else {
            "no objectives".into()
        },
        breaches,
    }
}

fn parse_provider(text: Option<&str>) -> Result<Option<MemberId>, Failure> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    text.parse().map(Some).map_err(|_| {
        Failure::BadRequest(format!(
            "{text} is not a member id; a provider is a member id such as GB/LA/E10000016."
        ))
    })
}

/// `GET /ui/sla`: the network's providers, or one provider's services, over a period.
pub async fn network(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Response {
    match network_page(&ui, &viewer, query).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.fail(f),
    }
}

async fn network_page(
    ui: &Ui,
    viewer: &Viewer,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<SlaPage, Failure> {
    let Query(q) = query.map_err(|e| Failure::BadRequest(e.body_text()))?;
    super::pages::check_filters(&[&q.provider], q.page)?;
    let page = q.page.unwrap_or(1);
    let period = q.period.unwrap_or_default();
    let provider = parse_provider(q.provider.as_deref())?;
    let now = OffsetDateTime::now_utc();
    let report = sla_report(
        &ui.authority,
        &SlaReportQuery {
            provider: provider.clone(),
            since: Some(now - period.length()),
            until: Some(now),
            ..SlaReportQuery::default()
        },
        now,
    )
    .await
    .map_err(report_failure)?;
    let provider_text = provider
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let filter = if provider_text.is_empty() {
        String::new()
    } else {
        format!("provider={}&", paging::encode(&provider_text))
    };
    let (providers, services, breaches, total) = if provider.is_some() {
        let services: Vec<SlaServiceLine> = report.services.iter().map(service_line).collect();
        let breaches = report.breaches.iter().map(breach_line).collect();
        (Vec::new(), services, breaches, 0)
    } else {
        let total = report.providers.len() as u64;
        let providers = report
            .providers
            .iter()
            .skip(usize::try_from(paging::offset(page)).unwrap_or(usize::MAX))
            .take(PAGE_SIZE as usize)
            .map(|p| SlaProviderLine {
                id: p.provider.to_string(),
                services: p.services,
                eligible: count(p.eligible),
                failures: count(p.failures),
                availability: percent(p.availability_percent),
                breaches: p.breaches,
            })
            .collect();
        (providers, Vec::new(), Vec::new(), total)
    };
    Ok(SlaPage {
        layout: viewer.frame("/ui/sla"),
        period: period.words(),
        period_key: period.key(),
        periods: period.links(&format!("/ui/sla?{filter}")),
        provider: provider_text,
        providers,
        providers_total: total,
        services,
        breaches,
        pagination: pagination(
            "/ui/sla",
            &format!("{filter}period={}", period.key()),
            page,
            total,
        ),
    })
}

/// `GET /ui/services/{…}/sla`: one service's report, with charts.
pub async fn service(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    Path(parts): Path<ServicePath>,
    query: Result<Query<ServiceReportQuery>, QueryRejection>,
) -> Response {
    match service_page(&ui, &viewer, parts, query).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.fail(f),
    }
}

async fn service_page(
    ui: &Ui,
    viewer: &Viewer,
    parts: ServicePath,
    query: Result<Query<ServiceReportQuery>, QueryRejection>,
) -> Result<ServiceSlaPage, Failure> {
    let (id, record) = find_service(ui, parts).await?;
    let Query(q) = query.map_err(|e| Failure::BadRequest(e.body_text()))?;
    let period = q.period.unwrap_or_default();
    let now = OffsetDateTime::now_utc();
    let report: SlaReport = sla_report(
        &ui.authority,
        &SlaReportQuery {
            service: Some(id.clone()),
            since: Some(now - period.length()),
            until: Some(now),
            step: Some(period.step_seconds()),
            ..SlaReportQuery::default()
        },
        now,
    )
    .await
    .map_err(report_failure)?;
    let base = format!("/ui/services/{id}/sla?");
    let empty = ServiceReport {
        service: id.clone(),
        provider: id.member().clone(),
        sla: None,
        windows: Vec::new(),
        consumers: Vec::new(),
        period: psn_api::ServicePeriod::default(),
        series: Vec::new(),
    };
    let s = report.services.first().unwrap_or(&empty);
    let shows_consumers = viewer.may_see_private(id.member());
    Ok(ServiceSlaPage {
        layout: viewer.frame("/ui/sla"),
        id: id.to_string(),
        title: record.title,
        provider: id.member().to_string(),
        period: period.words(),
        periods: period.links(&base),
        summary: service_line(s),
        charts: charts(s, period),
        points: s.series.iter().map(point_line).collect(),
        windows: s.windows.iter().map(window_line).collect(),
        breaches: report.breaches.iter().map(breach_line).collect(),
        consumers: shows_consumers.then(|| s.consumers.iter().map(consumer_line).collect()),
    })
}

fn window_line(w: &WindowReport) -> WindowLine {
    WindowLine {
        window: format!("{} to {}", when(w.start), when(w.end)),
        source: w.source.as_str(),
        judged: count(w.eligible),
        failures: count(w.failures),
        availability: percent(w.availability_percent),
        target: w
            .availability_target
            .map_or_else(|| "none".into(), |t| format!("{t}%")),
        latency: w.latency.measured_ms.map_or_else(
            || "none".into(),
            |m| format!("p{} {} ms", w.latency.percentile, m),
        ),
        latency_target: w
            .latency
            .target_ms
            .map_or_else(|| "none".into(), |t| format!("{t} ms")),
        breaches: w.breaches.len(),
    }
}

fn consumer_line(c: &ConsumerAttainment) -> ConsumerLine {
    ConsumerLine {
        id: c.consumer.to_string(),
        judged: count(c.eligible),
        failures: count(c.failures),
        availability: percent(c.availability_percent),
    }
}

fn point_line(p: &SeriesPoint) -> PointLine {
    PointLine {
        start: when(p.start),
        judged: count(p.eligible),
        failures: count(p.failures),
        availability: percent(p.availability_percent),
        latency: p
            .latency_ms
            .map_or_else(|| "none".into(), |m| format!("{m} ms")),
    }
}

/// The availability and latency charts of a service's series.
fn charts(s: &ServiceReport, period: Period) -> Vec<super::chart::Chart> {
    let times: Vec<String> = s
        .series
        .iter()
        .map(|p| period.axis_label(p.start))
        .collect();
    let availability: Vec<Option<f64>> = s.series.iter().map(|p| p.availability_percent).collect();
    let latency: Vec<Option<f64>> = s
        .series
        .iter()
        .map(|p| p.latency_ms.map(|m| m as f64))
        .collect();
    let availability_target = s.sla.as_ref().map(|sla| sla.availability_percent);
    let latency_target = s
        .sla
        .as_ref()
        .and_then(|sla| sla.latency)
        .map(|l| f64::from(l.under_ms));
    let percentile = s
        .sla
        .as_ref()
        .and_then(|sla| sla.latency)
        .map_or(crate::attainment::DEFAULT_PERCENTILE, |l| l.percentile);
    vec![
        Series {
            id: "availability-chart",
            title: format!("Availability, {}", period.words().to_lowercase()),
            unit: "%",
            values: &availability,
            times: &times,
            range: availability_range(&availability, availability_target),
            target: availability_target,
            decimals: 1,
        }
        .draw(),
        Series {
            id: "latency-chart",
            title: format!("Latency (p{percentile}), {}", period.words().to_lowercase()),
            unit: " ms",
            values: &latency,
            times: &times,
            range: latency_range(&latency, latency_target),
            target: latency_target,
            decimals: 0,
        }
        .draw(),
    ]
}
