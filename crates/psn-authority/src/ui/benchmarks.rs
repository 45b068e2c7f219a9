//! The benchmark pages (docs/ui.md, "Benchmarks"). Every figure comes from the authority's
//! benchmarks facade (`crate::benchmarks`), the same code behind `/v1/benchmarks` and
//! `psn benchmark`, which applies the publication rules; these handlers only read the query or
//! form, decide what the person's role lets them ask for, and turn the facade's answer into
//! plain values for the templates (`templates/benchmark*.html`) and the charts
//! (`ui/benchmark_charts.rs`).
//!
//! - `/ui/benchmarks`: the metric definitions, the peer model and a form to open a report.
//! - `/ui/benchmarks/report` (and `.csv`, `.json`): one process and year for one member.
//! - `/ui/benchmarks/peers`: a member's automatic peer group and why each peer is one.
//! - `/ui/benchmarks/returns` (and `.csv`): a member's returns; its member-admins submit more.
//! - `/ui/benchmarks/groups`: a member's saved peer groups; its member-admins change them.
//!
//! A member's people see their own member's report, returns and groups only; the network's
//! people (operator, assessor) name any member and change nothing.

use super::benchmark_charts::{self as charts, money, Offer, Subject};
use super::paging::encode;
use super::render::{error_page, render, Failure};
use super::session::{forged_form, Viewer};
use super::signin::unreadable_form;
use super::views::Layout;
use super::Ui;
use crate::benchmarks::{self as bench, BenchmarkError, Submission};
use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use psn_api::{
    Band, BenchmarkReport, FinancialYear, PeerChoice, PersonRole, PublicationRule, ReportRequest,
    RowStatus, SavingBasis, SubmitOutcome,
};
use psn_core::names::{MemberId, NetworkId, ServiceId};
use serde::Deserialize;
use std::sync::Arc;
use time::OffsetDateTime;

/// Largest returns form, sent percent-encoded: pasted CSV of a few thousand rows. Larger files
/// go through `psn benchmark submit --file` or the API, which take psn-benchmark's own limit.
pub const RETURNS_FORM_LIMIT: usize = 1024 * 1024;

/// The CSV columns a return has, as the returns page describes them (psn-benchmark's `returns`
/// module reads them): (column, what it holds).
const RETURN_COLUMNS: [(&str, &str); 10] = [
    ("process", "The process id, such as psn:4004"),
    ("year", "The financial year, such as 2024-25"),
    (
        "cost",
        "Total cost of the process in the year, in pounds: digits with at most two decimals, no £ or commas",
    ),
    ("volume", "Units handled in the year, at least 1"),
    ("unit", "The metric's unit, exactly as the metrics table gives it, such as invoice paid"),
    ("fte", "Full-time equivalent staff (optional)"),
    ("satisfaction", "Share of service users satisfied, percent, 0 to 100 (optional)"),
    ("note", "Why the figures are what they are, or what a correction changes (optional)"),
    ("confirm_outlier", "yes to confirm a figure flagged as an outlier (optional)"),
    ("publish_now", "yes to publish before the embargo ends (optional)"),
];

/// Why a benchmark page could not be shown: a page failure, or a refusal the facade explained.
enum Fault {
    Page(Failure),
    Refused(String),
}

impl From<Failure> for Fault {
    fn from(f: Failure) -> Self {
        Fault::Page(f)
    }
}

impl From<BenchmarkError> for Fault {
    fn from(e: BenchmarkError) -> Self {
        match e {
            BenchmarkError::Invalid(m) => Fault::Page(Failure::BadRequest(m)),
            BenchmarkError::NotFound(m) => Fault::Page(Failure::NotFound(m)),
            BenchmarkError::Forbidden(m) => Fault::Refused(m),
            BenchmarkError::Store(e) => Fault::Page(Failure::from(e)),
        }
    }
}

impl Viewer {
    /// The error page for a benchmark fault; a refusal keeps the facade's words, which say
    /// which member's figures the person may see.
    fn refuse(&self, fault: Fault) -> Response {
        match fault {
            Fault::Page(f) => self.fail(f),
            Fault::Refused(message) => error_page(
                Some(self.signed_in()),
                StatusCode::FORBIDDEN,
                "You do not have access to this page",
                message,
            ),
        }
    }

    /// The member whose people they are, if they are a member's.
    fn own_member(&self) -> Option<&MemberId> {
        match self.person.role {
            PersonRole::MemberAdmin | PersonRole::MemberViewer => self.person.member.as_ref(),
            PersonRole::Operator | PersonRole::Assessor => None,
        }
    }

    /// Who the facade serves: a member's people as their member, the network's as operator.
    fn bench_viewer(&self) -> bench::Viewer {
        match self.own_member() {
            Some(m) => bench::Viewer::Member(m.clone()),
            None => bench::Viewer::Operator,
        }
    }

    /// The member a member-admin changes benchmarks for; nobody else changes them.
    fn bench_admin(&self) -> Option<MemberId> {
        match (&self.person.role, &self.person.member) {
            (PersonRole::MemberAdmin, Some(m)) => Some(m.clone()),
            _ => None,
        }
    }

    fn actor(&self) -> String {
        format!("person:{}", self.person.username)
    }

    /// The member a page is about: a member's people get their own (naming another is refused,
    /// with the rule), the network's people the one they name, or none yet.
    fn subject(&self, named: Option<&str>) -> Result<Option<MemberId>, Fault> {
        let named = named
            .map(|m| {
                m.parse::<MemberId>()
                    .map_err(|e| Fault::Page(Failure::BadRequest(e.to_string())))
            })
            .transpose()?;
        self.subject_of(named)
    }

    fn subject_of(&self, named: Option<MemberId>) -> Result<Option<MemberId>, Fault> {
        match (self.own_member(), named) {
            (Some(own), Some(named)) if &named != own => Err(Fault::Refused(format!(
                "You can see {own}'s own benchmark figures only. Other members' figures appear in \
                 your reports as peers once they are published."
            ))),
            (Some(own), _) => Ok(Some(own.clone())),
            (None, named) => Ok(named),
        }
    }
}

/// A query string as named values: each name at most once and only those in `allowed`; empty
/// values count as absent (a GET form sends its empty fields).
fn query(raw: &RawQuery, allowed: &[&'static str]) -> Result<Vec<(&'static str, String)>, Fault> {
    let pairs = crate::search::query_pairs(raw.0.as_deref())
        .map_err(|e| Failure::BadRequest(e.to_string()))?;
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for (name, value) in pairs {
        let Some(known) = allowed.iter().find(|a| **a == name) else {
            return Err(Failure::BadRequest(format!(
                "this page takes {}, not {:?}",
                allowed.join(", "),
                name.chars().take(40).collect::<String>()
            ))
            .into());
        };
        if out.iter().any(|(n, _)| n == known) {
            return Err(Failure::BadRequest(format!("{known} is given more than once")).into());
        }
        let value = value.trim();
        if value.chars().count() > 200 || value.chars().any(char::is_control) {
            return Err(
                Failure::BadRequest(format!("{known} is not a value this page takes")).into(),
            );
        }
        if !value.is_empty() {
            out.push((known, value.to_owned()));
        }
    }
    Ok(out)
}

fn value<'a>(pairs: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

/// Whole pounds with thousands separators, `£156,000`, of the amount's size: callers word its
/// sign (see `saving_words`).
fn pounds(v: f64) -> String {
    if !v.is_finite() {
        return "not available".into();
    }
    // Finite and rounded: the cast saturates at worst, for sums no council has.
    format!("£{}", charts::thousands(v.abs().round() as u64))
}

/// A count with thousands separators.
fn count(n: u64) -> String {
    charts::thousands(n)
}

/// A saving in words: a negative one is what standing apart saves, never a bare minus sign.
fn saving_words(v: f64) -> String {
    if v < 0.0 {
        format!("standing apart saves {}", pounds(-v))
    } else {
        pounds(v)
    }
}

/// A band as a tag: its colour and, always, its words.
fn band_tag(band: Band) -> (&'static str, &'static str) {
    match band {
        Band::Green => ("govuk-tag--green", "Green: at or below the lower quartile"),
        Band::Amber => ("govuk-tag--yellow", "Amber: between the quartiles"),
        Band::Red => ("govuk-tag--red", "Red: above the upper quartile"),
    }
}

fn rule_words(rule: PublicationRule) -> &'static str {
    match rule {
        PublicationRule::Embargo => "Embargo on members' own figures",
        PublicationRule::KContributors => "Too few contributors",
    }
}

/// One metric in the table of what is benchmarked.
pub struct MetricLine {
    pub process: String,
    pub label: String,
    pub office: &'static str,
    pub unit: String,
    pub volume: String,
    pub cost_includes: String,
    pub plausible: String,
    pub references: Vec<String>,
}

/// One variable of the peer model.
pub struct VariableLine {
    pub name: String,
    pub label: String,
    pub how: String,
    pub weight: String,
    pub source: String,
}

/// `GET /ui/benchmarks`.
#[derive(Template)]
#[template(path = "benchmarks.html")]
pub struct OverviewPage {
    pub layout: Layout,
    pub metrics_version: String,
    pub metrics: Vec<MetricLine>,
    pub model_version: String,
    pub model_class: String,
    pub model_k: u32,
    pub model_method: String,
    pub variables: Vec<VariableLine>,
    /// The member a member's person reports on (fixed); none for the network's people.
    pub own_member: Option<String>,
    /// The member's saved peer groups, for the report form.
    pub groups: Vec<String>,
}

/// `GET /ui/benchmarks`: what is benchmarked, how peers are found, and the report form.
pub async fn overview(State(ui): State<Arc<Ui>>, viewer: Viewer) -> Response {
    match overview_page(&ui, &viewer).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.refuse(f),
    }
}

async fn overview_page(ui: &Ui, viewer: &Viewer) -> Result<OverviewPage, Fault> {
    let a = &ui.authority;
    let set = bench::metrics(a);
    let model = bench::model(a);
    let groups = match viewer.own_member() {
        Some(m) => bench::peer_groups(a, m)
            .await?
            .groups
            .into_iter()
            .map(|g| g.name)
            .collect(),
        None => Vec::new(),
    };
    Ok(overview_view(viewer, set, model, groups))
}

/// The overview from the published definitions and the member's group names.
fn overview_view(
    viewer: &Viewer,
    set: &psn_api::MetricSet,
    model: &psn_api::PeerModel,
    groups: Vec<String>,
) -> OverviewPage {
    OverviewPage {
        layout: viewer.frame("/ui/benchmarks"),
        metrics_version: set.version.clone(),
        metrics: set
            .metrics
            .iter()
            .map(|m| MetricLine {
                process: m.process.clone(),
                label: m.label.clone(),
                office: match m.office {
                    psn_api::Office::BackOffice => "Back office",
                    psn_api::Office::FrontOffice => "Front office",
                },
                unit: m.unit.clone(),
                volume: m.volume.clone(),
                cost_includes: m.cost_includes.clone(),
                plausible: format!(
                    "{} to {} per {}",
                    money(m.plausible_low),
                    money(m.plausible_high),
                    m.unit
                ),
                references: m
                    .references
                    .iter()
                    .map(|r| {
                        let figures: Vec<String> =
                            [("low", r.low), ("typical", r.typical), ("high", r.high)]
                                .iter()
                                .filter_map(|(what, v)| v.map(|v| format!("{what} {}", money(v))))
                                .collect();
                        format!("{}: {} ({})", r.label, figures.join(", "), r.source)
                    })
                    .collect(),
            })
            .collect(),
        model_version: model.version.clone(),
        model_class: model.class.clone(),
        model_k: model.k,
        model_method: model.method.clone(),
        variables: model
            .variables
            .iter()
            .map(|v| VariableLine {
                name: v.name.clone(),
                label: v.label.clone(),
                how: match (v.kind, v.log) {
                    (psn_api::VariableKind::Numeric, true) => "number, logged, standardised",
                    (psn_api::VariableKind::Numeric, false) => "number, standardised",
                    (psn_api::VariableKind::Categorical, _) => "category: same or different",
                    (psn_api::VariableKind::Location, _) => "latitude and longitude, standardised",
                }
                .to_owned(),
                weight: format!("{}", v.weight),
                source: v.source.clone(),
            })
            .collect(),
        own_member: viewer.own_member().map(ToString::to_string),
        groups,
    }
}

/// The report's request from the query (read as the API reads it), with the member a person
/// may ask about.
fn report_request(viewer: &Viewer, raw: &RawQuery) -> Result<ReportRequest, Fault> {
    let pairs = crate::search::query_pairs(raw.0.as_deref())
        .map_err(|e| Failure::BadRequest(e.to_string()))?;
    let mut request = ReportRequest::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.trim())))
        .map_err(Failure::BadRequest)?;
    let member = viewer.subject_of(request.member.take())?.ok_or_else(|| {
        Failure::BadRequest(
            "name a member: the report takes member=ID, such as GB/LA/E10000016".into(),
        )
    })?;
    request.member = Some(member);
    Ok(request)
}

/// The report's query string, for its download links.
fn report_query(r: &ReportRequest) -> String {
    r.to_pairs()
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

async fn fetch_report(
    ui: &Ui,
    viewer: &Viewer,
    raw: &RawQuery,
) -> Result<(ReportRequest, BenchmarkReport), Fault> {
    let request = report_request(viewer, raw)?;
    let report = bench::report(
        &ui.authority,
        &viewer.bench_viewer(),
        &request,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok((request, report))
}

/// A part kept back, and the rule.
pub struct WithheldLine {
    pub part: String,
    pub rule: &'static str,
    pub detail: String,
}

/// A peer in the report.
pub struct PeerLine {
    pub rank: usize,
    pub member: String,
    pub name: String,
    pub distance: String,
    pub cost: String,
}

/// A projected saving.
pub struct SavingLine {
    pub basis: String,
    pub service: Option<String>,
    pub low: String,
    pub central: String,
    pub high: String,
    pub formula: String,
}

/// A provider of the process.
pub struct ProviderLine {
    /// The provider's network when it is a federated partner's (no service or member page
    /// here).
    pub partner_network: Option<String>,
    pub service: String,
    pub title: String,
    pub provider: String,
    pub provider_name: String,
    pub price: String,
    pub per_unit: String,
    pub availability: String,
    pub latency: String,
    pub calls: String,
    pub consumers: u64,
}

/// `GET /ui/benchmarks/report`.
#[derive(Template)]
#[template(path = "benchmark_report.html")]
pub struct ReportPage {
    pub layout: Layout,
    pub process: String,
    pub label: String,
    pub year: String,
    pub unit: String,
    pub cost_includes: String,
    pub metrics_version: String,
    pub model_version: String,
    pub generated: String,
    pub synthetic: bool,
    pub member: String,
    pub member_name: String,
    /// The headline: (what, value); empty when the member made no return.
    pub headline: Vec<(String, String)>,
    pub band: Option<(&'static str, &'static str)>,
    pub peers_choice: String,
    pub peer_median: Option<String>,
    pub withheld: Vec<WithheldLine>,
    pub distribution: charts::DistributionChart,
    pub published: Vec<String>,
    pub quartiles: Option<(String, String, String, u64)>,
    pub scatter: charts::ScatterChart,
    pub peers: Vec<PeerLine>,
    pub savings: Vec<SavingLine>,
    pub providers: Vec<ProviderLine>,
    pub query: String,
}

/// `GET /ui/benchmarks/report?process=&member=&peers=&year=`.
pub async fn report(State(ui): State<Arc<Ui>>, viewer: Viewer, raw: RawQuery) -> Response {
    match fetch_report(&ui, &viewer, &raw).await {
        Ok((request, report)) => render(
            StatusCode::OK,
            &report_page(&viewer, &request, report, &ui.authority.network),
        ),
        Err(f) => viewer.refuse(f),
    }
}

/// The report page; `own` is this network, whose services have pages here (a federated
/// partner's are shown with their network instead).
fn report_page(
    viewer: &Viewer,
    request: &ReportRequest,
    r: BenchmarkReport,
    own: &NetworkId,
) -> ReportPage {
    let partner_network = |service: &ServiceId| {
        (service.member().network() != own).then(|| service.member().network().to_string())
    };
    let member_id = request
        .member
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let unit = r.metric.unit.clone();
    let subject = r.member.as_ref().map(|m| Subject {
        name: &m.name,
        cost_per_unit: m.cost_per_unit,
    });
    let distribution = charts::distribution(
        &unit,
        &r.published_costs,
        r.distribution.as_ref(),
        subject.as_ref(),
    );
    let offers: Vec<Offer<'_>> = r
        .providers
        .iter()
        .filter_map(|p| {
            let (low, high) = p.price_per_unit?;
            Some(Offer {
                title: &p.title,
                low,
                high,
                availability: p.availability_percent?,
            })
        })
        .collect();
    let scatter = charts::scatter(&unit, &offers, subject.as_ref());
    let mut headline = Vec::new();
    let mut band = None;
    if let Some(m) = &r.member {
        headline.push((format!("Cost per {unit}"), money(m.cost_per_unit)));
        headline.push(("Total cost".into(), pounds(m.cost)));
        headline.push(("Volume".into(), format!("{} {unit}", count(m.volume))));
        if let Some(fte) = m.fte {
            headline.push(("Staff".into(), format!("{fte:.1} FTE")));
        }
        if let Some(u) = m.units_per_fte {
            headline.push((
                "Units per FTE".into(),
                format!("{} {unit} a year", count(u.round().max(0.0) as u64)),
            ));
        }
        if let Some(s) = m.satisfaction_percent {
            headline.push(("Satisfaction".into(), format!("{s:.0}%")));
        }
        headline.push((
            "Percentile".into(),
            m.percentile.map_or_else(
                || "not published".into(),
                |p| format!("{p:.0}% of contributors have a lower cost per {unit}"),
            ),
        ));
        band = m.band.map(band_tag);
    }
    ReportPage {
        layout: viewer.frame("/ui/benchmarks"),
        process: r.process.id.clone(),
        label: r.process.label.clone(),
        year: r.year.to_string(),
        cost_includes: r.metric.cost_includes.clone(),
        metrics_version: r.metrics_version.clone(),
        model_version: r.model_version.clone(),
        generated: super::pages::when(r.generated_at),
        synthetic: r.synthetic,
        member_name: r
            .member
            .as_ref()
            .map_or_else(|| member_id.clone(), |m| m.name.clone()),
        member: member_id,
        headline,
        band,
        peers_choice: match &r.peers_choice {
            PeerChoice::Auto => "the automatic peer group".into(),
            PeerChoice::Group(name) => format!("the saved peer group {name}"),
        },
        peer_median: r.peer_quartiles.as_ref().map(|q| money(q.median)),
        withheld: r
            .withheld
            .iter()
            .map(|w| WithheldLine {
                part: w.part.clone(),
                rule: rule_words(w.rule),
                detail: w.detail.clone(),
            })
            .collect(),
        published: r.published_costs.iter().map(|v| money(*v)).collect(),
        quartiles: r
            .distribution
            .as_ref()
            .map(|q| (money(q.q1), money(q.median), money(q.q3), q.contributors)),
        distribution,
        scatter,
        peers: r
            .peers
            .iter()
            .enumerate()
            .map(|(i, p)| PeerLine {
                rank: i + 1,
                member: p.member.to_string(),
                name: p.name.clone(),
                distance: p
                    .distance
                    .map_or_else(|| "saved group".into(), |d| format!("{d:.3}")),
                cost: p
                    .cost_per_unit
                    .filter(|_| p.published)
                    .map_or_else(|| "not published".into(), money),
            })
            .collect(),
        savings: r
            .savings
            .iter()
            .map(|s| {
                let (basis, service) = match &s.basis {
                    SavingBasis::PeersMedian => {
                        ("At the peers' median cost per unit".to_owned(), None)
                    }
                    SavingBasis::Provider {
                        service,
                        title,
                        provider_name,
                        price,
                        ..
                    } => (
                        format!("Buying {title} from {provider_name} at {price}"),
                        partner_network(service)
                            .is_none()
                            .then(|| service.to_string()),
                    ),
                };
                SavingLine {
                    basis,
                    service,
                    low: saving_words(s.low),
                    central: saving_words(s.central),
                    high: saving_words(s.high),
                    formula: s.formula.clone(),
                }
            })
            .collect(),
        providers: r
            .providers
            .iter()
            .map(|p| ProviderLine {
                partner_network: partner_network(&p.service),
                service: p.service.to_string(),
                title: p.title.clone(),
                provider: p.provider.to_string(),
                provider_name: p.provider_name.clone(),
                price: p
                    .price
                    .as_ref()
                    .map_or_else(|| "not in this unit".into(), ToString::to_string),
                per_unit: p.price_per_unit.map_or_else(
                    || "not comparable".into(),
                    |(lo, hi)| format!("{} to {}", money(lo), money(hi)),
                ),
                availability: p
                    .availability_percent
                    .map_or_else(|| "not measured".into(), |a| format!("{a:.2}%")),
                latency: p.latency_p50_ms.zip(p.latency_p95_ms).map_or_else(
                    || "not measured".into(),
                    |(a, b)| format!("{a} ms / {b} ms"),
                ),
                calls: format!("{:.1}", p.calls_per_day),
                consumers: p.consumers,
            })
            .collect(),
        unit,
        query: report_query(request),
    }
}

/// A download: `body` as an attachment named `name`.
fn attachment(content_type: &'static str, name: &str, body: String) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

/// A file name from a process and year: letters, digits and `-` only.
fn file_name(process: &str, year: FinancialYear, extension: &str) -> String {
    let safe: String = process
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    format!("benchmark-{safe}-{year}.{extension}")
}

/// `GET /ui/benchmarks/report.csv`: the report as psn-benchmark writes it for the CLI.
pub async fn report_csv(State(ui): State<Arc<Ui>>, viewer: Viewer, raw: RawQuery) -> Response {
    match fetch_report(&ui, &viewer, &raw).await {
        Ok((_, r)) => attachment(
            "text/csv; charset=utf-8",
            &file_name(&r.process.id, r.year, "csv"),
            psn_benchmark::export::report_csv(&r),
        ),
        Err(f) => viewer.refuse(f),
    }
}

/// `GET /ui/benchmarks/report.json`: the report as the API returns it.
pub async fn report_json(State(ui): State<Arc<Ui>>, viewer: Viewer, raw: RawQuery) -> Response {
    match fetch_report(&ui, &viewer, &raw).await {
        Ok((_, r)) => match serde_json::to_string_pretty(&r) {
            Ok(json) => attachment(
                "application/json",
                &file_name(&r.process.id, r.year, "json"),
                json,
            ),
            Err(e) => viewer.fail(Failure::Internal(e.to_string())),
        },
        Err(f) => viewer.refuse(f),
    }
}

/// One variable's part in a peer's distance.
pub struct ShareLine {
    pub variable: String,
    pub share: String,
    pub member_value: String,
    pub peer_value: String,
}

/// A peer and why.
pub struct PeerWhy {
    pub rank: u32,
    pub member: String,
    pub name: String,
    pub distance: String,
    pub shares: Vec<ShareLine>,
}

/// `GET /ui/benchmarks/peers`.
#[derive(Template)]
#[template(path = "benchmark_peers.html")]
pub struct PeersPage {
    pub layout: Layout,
    pub member_input: String,
    pub fixed: bool,
    pub member: Option<String>,
    pub name: String,
    pub model_version: String,
    pub peers: Vec<PeerWhy>,
}

/// `GET /ui/benchmarks/peers?member=`: the automatic peer group, with each variable's share.
/// The peer model works on open data, so anyone signed in may see any member's peers.
pub async fn peers(State(ui): State<Arc<Ui>>, viewer: Viewer, raw: RawQuery) -> Response {
    match peers_page(&ui, &viewer, &raw).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.refuse(f),
    }
}

async fn peers_page(ui: &Ui, viewer: &Viewer, raw: &RawQuery) -> Result<PeersPage, Fault> {
    let pairs = query(raw, &["member"])?;
    let named = value(&pairs, "member")
        .map(|m| {
            m.parse::<MemberId>()
                .map_err(|e| Failure::BadRequest(e.to_string()))
        })
        .transpose()?;
    let subject = named.or_else(|| viewer.own_member().cloned());
    let mut page = PeersPage {
        layout: viewer.frame("/ui/benchmarks"),
        member_input: subject
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        fixed: false,
        member: None,
        name: String::new(),
        model_version: bench::model(&ui.authority).version.clone(),
        peers: Vec::new(),
    };
    let Some(subject) = subject else {
        return Ok(page);
    };
    let model = bench::model(&ui.authority);
    let label = |name: &str| {
        model
            .variables
            .iter()
            .find(|v| v.name == name)
            .map_or_else(|| name.to_owned(), |v| v.label.clone())
    };
    let list = bench::peers(&ui.authority, &subject).await?;
    page.fixed = true;
    page.member = Some(list.member.to_string());
    page.name = list.name;
    page.model_version = list.model_version;
    page.peers = list
        .peers
        .into_iter()
        .map(|p| PeerWhy {
            rank: p.rank,
            member: p.member.to_string(),
            name: p.name,
            distance: format!("{:.3}", p.distance),
            shares: p
                .shares
                .into_iter()
                .map(|s| ShareLine {
                    variable: label(&s.variable),
                    share: format!("{:.1}%", s.share_percent),
                    member_value: s.member_value,
                    peer_value: s.peer_value,
                })
                .collect(),
        })
        .collect();
    Ok(page)
}

/// A stored return, one version.
pub struct ReturnLine {
    pub process: String,
    pub year: String,
    pub version: u32,
    pub superseded: bool,
    pub cost: String,
    pub volume: String,
    pub cost_per_unit: String,
    pub fte: String,
    pub satisfaction: String,
    pub note: String,
    pub flags: Vec<&'static str>,
    pub submitted: String,
}

/// One row's verdict.
pub struct RowLine {
    pub line: u64,
    pub process: String,
    pub year: String,
    pub status: &'static str,
    pub tag_class: &'static str,
    pub problems: Vec<String>,
}

/// What a submission did.
pub struct OutcomeView {
    pub stored: bool,
    pub dry_run: bool,
    /// The verdict in one sentence.
    pub summary: String,
    /// Problems for the error summary: (row anchor, text); empty when nothing was refused.
    pub problems: Vec<(String, String)>,
    /// Problems not listed in the error summary (they are in the table).
    pub more: usize,
    pub rows: Vec<RowLine>,
}

/// Most problems the error summary lists before pointing to the table.
const SUMMARY_PROBLEMS: usize = 10;

fn outcome_view(o: SubmitOutcome) -> OutcomeView {
    let refused = o.refused + o.needs_confirmation > 0;
    let summary = if refused {
        format!(
            "Nothing was stored: {} {} refused and {} {} an outlier to confirm.",
            o.refused,
            if o.refused == 1 {
                "row was"
            } else {
                "rows were"
            },
            o.needs_confirmation,
            if o.needs_confirmation == 1 {
                "row has"
            } else {
                "rows have"
            },
        )
    } else if o.dry_run {
        format!(
            "Checked only, nothing stored: {} {} would be accepted and {} stored as {}.",
            o.accepted,
            if o.accepted == 1 { "row" } else { "rows" },
            o.corrected,
            if o.corrected == 1 {
                "a correction"
            } else {
                "corrections"
            },
        )
    } else {
        format!(
            "Stored: {} new {} and {} {}.",
            o.accepted,
            if o.accepted == 1 { "return" } else { "returns" },
            o.corrected,
            if o.corrected == 1 {
                "correction"
            } else {
                "corrections"
            },
        )
    };
    let mut problems = Vec::new();
    let rows: Vec<RowLine> = o
        .rows
        .into_iter()
        .map(|r| {
            let (status, tag_class) = match r.status {
                RowStatus::Accepted => ("accepted", "govuk-tag--green"),
                RowStatus::Corrected => ("correction", "govuk-tag--blue"),
                RowStatus::NeedsConfirmation => ("outlier to confirm", "govuk-tag--yellow"),
                RowStatus::Refused => ("refused", "govuk-tag--red"),
            };
            let mut texts = r.problems;
            if r.status == RowStatus::NeedsConfirmation {
                texts.push(
                    "If the figure is right, set confirm_outlier to yes on this row and submit again."
                        .into(),
                );
            }
            for p in &texts {
                problems.push((format!("line-{}", r.line), format!("Line {}: {p}", r.line)));
            }
            RowLine {
                line: r.line,
                process: r.process.unwrap_or_default(),
                year: r.year.unwrap_or_default(),
                status,
                tag_class,
                problems: texts,
            }
        })
        .collect();
    let more = problems.len().saturating_sub(SUMMARY_PROBLEMS);
    problems.truncate(SUMMARY_PROBLEMS);
    OutcomeView {
        stored: o.stored,
        dry_run: o.dry_run,
        summary,
        problems: if refused { problems } else { Vec::new() },
        more: if refused { more } else { 0 },
        rows,
    }
}

/// `GET /ui/benchmarks/returns`.
#[derive(Template)]
#[template(path = "benchmark_returns.html")]
pub struct ReturnsPage {
    pub layout: Layout,
    pub csrf: String,
    pub member: Option<String>,
    pub member_input: String,
    pub may_submit: bool,
    pub returns: Vec<ReturnLine>,
    pub columns: &'static [(&'static str, &'static str)],
    pub limit: String,
    pub csv: String,
    /// A form problem that is not a row's (an empty form).
    pub error: Option<String>,
    pub outcome: Option<OutcomeView>,
}

async fn returns_page(
    ui: &Ui,
    viewer: &Viewer,
    member: Option<MemberId>,
) -> Result<ReturnsPage, Fault> {
    let returns = match &member {
        Some(m) => bench::returns(&ui.authority, m)
            .await?
            .returns
            .into_iter()
            .map(|r| {
                let mut flags = Vec::new();
                if r.synthetic {
                    flags.push("synthetic");
                }
                if r.outlier_confirmed {
                    flags.push("outlier confirmed");
                }
                if r.publish_now {
                    flags.push("published early");
                }
                ReturnLine {
                    process: r.process,
                    year: r.year.to_string(),
                    version: r.version,
                    superseded: r.superseded,
                    cost: pounds(r.cost_pence as f64 / 100.0),
                    volume: count(r.volume),
                    cost_per_unit: money(r.cost_per_unit),
                    fte: r.fte.map_or_else(String::new, |f| format!("{f:.1}")),
                    satisfaction: r
                        .satisfaction_percent
                        .map_or_else(String::new, |s| format!("{s:.0}%")),
                    note: r.note.unwrap_or_default(),
                    flags,
                    submitted: format!(
                        "{}, {}",
                        r.submitted_by,
                        super::pages::when(r.submitted_at)
                    ),
                }
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(ReturnsPage {
        layout: viewer.frame("/ui/benchmarks"),
        csrf: viewer.csrf.clone(),
        member_input: member.as_ref().map(ToString::to_string).unwrap_or_default(),
        member: member.as_ref().map(ToString::to_string),
        may_submit: viewer.bench_admin().is_some(),
        returns,
        columns: &RETURN_COLUMNS,
        limit: format!("{} KiB", RETURNS_FORM_LIMIT / 1024),
        csv: String::new(),
        error: None,
        outcome: None,
    })
}

/// `GET /ui/benchmarks/returns?member=`: a member's returns, every version.
pub async fn returns(State(ui): State<Arc<Ui>>, viewer: Viewer, raw: RawQuery) -> Response {
    let page = async {
        let pairs = query(&raw, &["member", "stored", "corrected"])?;
        let member = viewer.subject(value(&pairs, "member"))?;
        let mut page = returns_page(&ui, &viewer, member).await?;
        // After a submission was stored (post, redirect, get): say what was stored.
        if let Some(accepted) = value(&pairs, "stored") {
            let number = |name: &str, text: Option<&str>| {
                text.unwrap_or("0")
                    .parse::<u64>()
                    .map_err(|_| Failure::BadRequest(format!("{name} must be a whole number")))
            };
            page.outcome = Some(outcome_view(SubmitOutcome {
                stored: true,
                dry_run: false,
                accepted: number("stored", Some(accepted))?,
                corrected: number("corrected", value(&pairs, "corrected"))?,
                needs_confirmation: 0,
                refused: 0,
                rows: Vec::new(),
            }));
        }
        Ok::<_, Fault>(page)
    };
    match page.await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.refuse(f),
    }
}

/// `GET /ui/benchmarks/returns.csv?member=`.
pub async fn returns_csv(State(ui): State<Arc<Ui>>, viewer: Viewer, raw: RawQuery) -> Response {
    let csv = async {
        let pairs = query(&raw, &["member"])?;
        let member = viewer.subject(value(&pairs, "member"))?.ok_or_else(|| {
            Failure::BadRequest("name a member: member=ID, such as GB/LA/E10000016".into())
        })?;
        let list = bench::returns(&ui.authority, &member).await?;
        Ok::<_, Fault>(psn_benchmark::export::returns_csv(&list))
    };
    match csv.await {
        Ok(csv) => attachment("text/csv; charset=utf-8", "returns.csv", csv),
        Err(f) => viewer.refuse(f),
    }
}

/// The returns form.
#[derive(Deserialize)]
pub struct ReturnsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    csv: String,
    /// `check` validates only; anything else submits.
    #[serde(default)]
    action: String,
}

/// `POST /ui/benchmarks/returns`: check or submit pasted CSV, for a member-admin's member.
pub async fn submit_returns(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    form: Result<Form<ReturnsForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return unreadable_form(&e),
    };
    if !viewer.sent_csrf(&form.csrf) {
        return forged_form();
    }
    let Some(member) = viewer.bench_admin() else {
        return viewer.fail(Failure::Forbidden);
    };
    let mut page = match returns_page(&ui, &viewer, Some(member.clone())).await {
        Ok(page) => page,
        Err(f) => return viewer.refuse(f),
    };
    if form.csv.trim().is_empty() {
        page.error = Some("Paste your returns as CSV, with the header row first".into());
        return render(StatusCode::BAD_REQUEST, &page);
    }
    let dry_run = form.action == "check";
    // Browsers send a textarea's line breaks as CRLF (HTML's form encoding); as LF, each row's
    // line number in the verdicts is the line the person pasted.
    let csv = form.csv.replace("\r\n", "\n");
    let outcome = bench::submit(
        &ui.authority,
        &member,
        &viewer.actor(),
        Submission::Csv(csv.as_bytes()),
        dry_run,
        OffsetDateTime::now_utc(),
    )
    .await;
    match outcome {
        Ok(o) => {
            let status = if o.refused + o.needs_confirmation > 0 {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            if o.stored {
                // Post, redirect, get: the history shows what was stored, and reloading the page
                // cannot store it again as a correction.
                return Redirect::to(&format!(
                    "/ui/benchmarks/returns?stored={}&corrected={}",
                    o.accepted, o.corrected
                ))
                .into_response();
            }
            page.csv = form.csv;
            page.outcome = Some(outcome_view(o));
            render(status, &page)
        }
        Err(BenchmarkError::Invalid(message)) => {
            page.csv = form.csv;
            page.error = Some(message);
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => viewer.refuse(e.into()),
    }
}

/// A saved peer group.
pub struct GroupLine {
    pub name: String,
    pub members: Vec<String>,
    pub saved: String,
}

/// A rejected form: which field, and what to do.
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

/// `GET /ui/benchmarks/groups`.
#[derive(Template)]
#[template(path = "benchmark_groups.html")]
pub struct GroupsPage {
    pub layout: Layout,
    pub csrf: String,
    pub member: Option<String>,
    pub member_input: String,
    pub may_change: bool,
    pub groups: Vec<GroupLine>,
    pub name: String,
    pub members: String,
    pub error: Option<FieldError>,
}

async fn groups_page(
    ui: &Ui,
    viewer: &Viewer,
    member: Option<MemberId>,
) -> Result<GroupsPage, Fault> {
    let groups = match &member {
        Some(m) => bench::peer_groups(&ui.authority, m)
            .await?
            .groups
            .into_iter()
            .map(|g| GroupLine {
                name: g.name,
                members: g.members.iter().map(ToString::to_string).collect(),
                saved: super::pages::when(g.saved_at),
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(GroupsPage {
        layout: viewer.frame("/ui/benchmarks"),
        csrf: viewer.csrf.clone(),
        member_input: member.as_ref().map(ToString::to_string).unwrap_or_default(),
        member: member.as_ref().map(ToString::to_string),
        may_change: viewer.bench_admin().is_some(),
        groups,
        name: String::new(),
        members: String::new(),
        error: None,
    })
}

/// `GET /ui/benchmarks/groups?member=`.
pub async fn groups(State(ui): State<Arc<Ui>>, viewer: Viewer, raw: RawQuery) -> Response {
    let page = async {
        let pairs = query(&raw, &["member"])?;
        let member = viewer.subject(value(&pairs, "member"))?;
        groups_page(&ui, &viewer, member).await
    };
    match page.await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.refuse(f),
    }
}

/// The save form: a name and member ids one a line.
#[derive(Deserialize)]
pub struct GroupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    members: String,
}

/// Most lines the members field is read for: a group holds at most 100.
const MAX_GROUP_LINES: usize = 200;

/// The member ids of the members field, or what is wrong with it.
fn group_members(text: &str) -> Result<Vec<MemberId>, String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.len() > MAX_GROUP_LINES {
        return Err(format!("Give at most {MAX_GROUP_LINES} member ids"));
    }
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            l.parse::<MemberId>()
                .map_err(|e| format!("Line {} is not a member id: {e}", i + 1))
        })
        .collect()
}

/// `POST /ui/benchmarks/groups`: save a peer group for a member-admin's member.
pub async fn save_group(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    form: Result<Form<GroupForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return unreadable_form(&e),
    };
    if !viewer.sent_csrf(&form.csrf) {
        return forged_form();
    }
    let Some(owner) = viewer.bench_admin() else {
        return viewer.fail(Failure::Forbidden);
    };
    let name = form.name.trim();
    let problem = match (
        psn_api::check_group_name(name),
        group_members(&form.members),
    ) {
        (Err(e), _) => Some(FieldError {
            field: "name",
            message: format!("Enter a name: {e}"),
        }),
        (Ok(()), Err(message)) => Some(FieldError {
            field: "members",
            message,
        }),
        (Ok(()), Ok(members)) => {
            let saved =
                bench::save_peer_group(&ui.authority, &owner, &viewer.actor(), name, &members)
                    .await;
            match saved {
                Ok(_) => None,
                Err(BenchmarkError::Invalid(message) | BenchmarkError::NotFound(message)) => {
                    Some(FieldError {
                        field: "members",
                        message,
                    })
                }
                Err(other) => return viewer.refuse(other.into()),
            }
        }
    };
    match problem {
        None => Redirect::to("/ui/benchmarks/groups").into_response(),
        Some(error) => match groups_page(&ui, &viewer, Some(owner)).await {
            Ok(mut page) => {
                page.name = form.name;
                page.members = form.members;
                page.error = Some(error);
                render(StatusCode::BAD_REQUEST, &page)
            }
            Err(f) => viewer.refuse(f),
        },
    }
}

/// The delete form.
#[derive(Deserialize)]
pub struct DeleteGroupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

/// `POST /ui/benchmarks/groups/delete`.
pub async fn delete_group(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    form: Result<Form<DeleteGroupForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return unreadable_form(&e),
    };
    if !viewer.sent_csrf(&form.csrf) {
        return forged_form();
    }
    let Some(owner) = viewer.bench_admin() else {
        return viewer.fail(Failure::Forbidden);
    };
    match bench::delete_peer_group(&ui.authority, &owner, &viewer.actor(), form.name.trim()).await {
        Ok(()) => Redirect::to("/ui/benchmarks/groups").into_response(),
        Err(e) => viewer.refuse(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use psn_api::{
        MeasuredProvider, MemberPosition, PeerFigure, PersonView, ProcessLabel, Quartiles, Saving,
        Withheld,
    };

    fn kent_admin() -> Viewer {
        Viewer {
            person: PersonView {
                id: "p1".into(),
                username: "kent-admin".into(),
                member: Some(member("GB/LA/E10000016")),
                role: PersonRole::MemberAdmin,
                oidc_provider: None,
                disabled: false,
                locked_until: None,
                created_at: OffsetDateTime::UNIX_EPOCH,
                updated_at: OffsetDateTime::UNIX_EPOCH,
            },
            csrf: "token".into(),
            token_hash: "hash".into(),
        }
    }

    fn member(id: &str) -> MemberId {
        id.parse().expect("member id")
    }

    /// A report with every part the page shows: synthetic, a part withheld, an unpublished
    /// peer, a saving that is negative at its cautious end, and a provider.
    fn sample_report() -> BenchmarkReport {
        let set = psn_benchmark::metrics::embedded().expect("metrics");
        let metric = psn_benchmark::metrics::find(&set, "psn:4004")
            .expect("psn:4004")
            .clone();
        let kent = member("GB/LA/E10000016");
        BenchmarkReport {
            process: ProcessLabel {
                id: "psn:4004".into(),
                label: metric.label.clone(),
            },
            metric,
            metrics_version: set.version.clone(),
            model_version: "2026.1".into(),
            year: FinancialYear { start: 2024 },
            generated_at: OffsetDateTime::UNIX_EPOCH,
            synthetic: true,
            distribution: Some(Quartiles {
                contributors: 7,
                q1: 2.0,
                median: 3.0,
                q3: 4.0,
            }),
            member: Some(MemberPosition {
                member: kent.clone(),
                name: "Kent <b>County</b> Council".into(),
                cost: 408_000.0,
                volume: 120_000,
                cost_per_unit: 3.4,
                fte: Some(8.0),
                units_per_fte: Some(15_000.0),
                satisfaction_percent: None,
                percentile: Some(57.0),
                band: Some(Band::Amber),
            }),
            peers_choice: PeerChoice::Auto,
            peers: vec![PeerFigure {
                member: member("GB/LA/E10000008"),
                name: "Devon County Council".into(),
                distance: Some(0.12),
                cost_per_unit: None,
                volume: None,
                published: false,
            }],
            peer_quartiles: None,
            savings: vec![Saving {
                basis: SavingBasis::PeersMedian,
                formula: "(£3.40 − £3.00) × 120,000 invoices paid = £48,000".into(),
                low: -12_000.0,
                central: 48_000.0,
                high: 96_000.0,
            }],
            providers: vec![MeasuredProvider {
                service: "GB/LA/E10000016/finance/payables".parse().expect("service"),
                title: "Payables for councils".into(),
                provider: kent,
                provider_name: "Kent County Council".into(),
                price: None,
                price_per_unit: Some((1.5, 2.5)),
                availability_percent: Some(99.5),
                latency_p50_ms: Some(20),
                latency_p95_ms: Some(80),
                calls_per_day: 12.0,
                consumers: 3,
            }],
            withheld: vec![Withheld {
                part: "peers' median".into(),
                rule: PublicationRule::KContributors,
                detail: "3 of 15 peers published figures; at least 5 are needed.".into(),
            }],
            published_costs: vec![1.0, 2.0, 3.0, 3.4, 4.0, 5.0, 6.0],
        }
    }

    #[test]
    fn the_report_page_shows_every_part_in_words() {
        let viewer = kent_admin();
        let request = kent_request();
        let html = report_page(
            &viewer,
            &request,
            sample_report(),
            &"GB".parse().expect("network"),
        )
        .render()
        .expect("renders");
        for expected in [
            "Accounts payable: Kent &#60;b&#62;County&#60;/b&#62; Council",
            "Synthetic figures",
            "peers&#39; median not shown (Too few contributors).",
            "Amber: between the quartiles",
            "57% of contributors have a lower cost per invoice paid",
            "standing apart saves £12,000",
            "£48,000",
            "not published",
            "<desc id=\"distribution-desc\">",
            "marked with a diamond: £3.40",
            "Payables for councils £1.50 to £2.50, 99.50%",
            "/ui/benchmarks/report.csv?process=psn%3A4004&#38;member=GB%2FLA%2FE10000016&#38;year=2024-25",
            "/ui/services/GB/LA/E10000016/finance/payables",
        ] {
            assert!(html.contains(expected), "{expected} in {html}");
        }
        assert!(!html.contains("<b>County"), "names are escaped");
        assert!(!html.contains("NaN") && !html.contains("style="));
        assert!(!html.contains("-12"), "no bare minus on a saving");
    }

    /// Kent's report on accounts payable for 2024-25, peers chosen for it.
    fn kent_request() -> ReportRequest {
        ReportRequest {
            process: "psn:4004".into(),
            member: Some(member("GB/LA/E10000016")),
            peers: PeerChoice::Auto,
            year: Some(FinancialYear { start: 2024 }),
        }
    }

    #[test]
    fn a_federated_partners_provider_is_shown_with_its_network_not_linked() {
        let viewer = kent_admin();
        let request = kent_request();
        let mut report = sample_report();
        let partner: ServiceId = "GB-KENT/LA/E06000035/finance/payables"
            .parse()
            .expect("service");
        report.providers[0].service = partner.clone();
        report.providers[0].provider = partner.member().clone();
        let html = report_page(&viewer, &request, report, &"GB".parse().expect("network"))
            .render()
            .expect("renders");
        assert!(html.contains("GB-KENT network"), "{html}");
        assert!(
            !html.contains("/ui/services/GB-KENT") && !html.contains("/ui/members/GB-KENT"),
            "a partner's service has no page here: {html}"
        );
    }

    fn returns_form(viewer: &Viewer) -> ReturnsPage {
        ReturnsPage {
            layout: viewer.frame("/ui/benchmarks"),
            csrf: viewer.csrf.clone(),
            member: Some("GB/LA/E10000016".into()),
            member_input: "GB/LA/E10000016".into(),
            may_submit: true,
            returns: Vec::new(),
            columns: &RETURN_COLUMNS,
            limit: "1024 KiB".into(),
            csv: String::new(),
            error: None,
            outcome: None,
        }
    }

    #[test]
    fn a_refused_submission_links_each_problem_to_its_row() {
        let viewer = kent_admin();
        let mut page = returns_form(&viewer);
        page.csv = "process,year\n</textarea><script>".into();
        page.outcome = Some(outcome_view(SubmitOutcome {
            stored: false,
            dry_run: true,
            accepted: 1,
            corrected: 0,
            needs_confirmation: 1,
            refused: 1,
            rows: vec![
                psn_api::RowVerdict {
                    line: 2,
                    process: Some("psn:4004".into()),
                    year: Some("2024-25".into()),
                    status: RowStatus::Accepted,
                    problems: Vec::new(),
                },
                psn_api::RowVerdict {
                    line: 3,
                    process: Some("psn:4004".into()),
                    year: Some("2023-24".into()),
                    status: RowStatus::NeedsConfirmation,
                    problems: vec!["£90.00 per invoice paid is above the plausible £20.00".into()],
                },
                psn_api::RowVerdict {
                    line: 4,
                    process: Some("=cmd".into()),
                    year: None,
                    status: RowStatus::Refused,
                    problems: vec!["unknown process".into(), "no year".into()],
                },
            ],
        }));
        let html = page.render().expect("renders");
        for expected in [
            "<title>Error: Benchmark returns",
            "There is a problem: nothing was stored",
            "Nothing was stored: 1 row was refused and 1 row has an outlier to confirm.",
            "<a href=\"#line-3\">Line 3: £90.00 per invoice paid",
            "set confirm_outlier to yes",
            "<a href=\"#line-4\">Line 4: no year</a>",
            "id=\"line-2\"",
            "&#60;/textarea&#62;&#60;script&#62;",
        ] {
            assert!(html.contains(expected), "{expected} in {html}");
        }
        let mut page = returns_form(&viewer);
        page.outcome = Some(outcome_view(SubmitOutcome {
            stored: true,
            dry_run: false,
            accepted: 2,
            corrected: 1,
            needs_confirmation: 0,
            refused: 0,
            rows: Vec::new(),
        }));
        let html = page.render().expect("renders");
        assert!(html.contains("Stored: 2 new returns and 1 correction."));
        assert!(!html.contains("govuk-error-summary"));
    }

    #[test]
    fn a_refused_group_names_its_field() {
        let viewer = kent_admin();
        let page = GroupsPage {
            layout: viewer.frame("/ui/benchmarks"),
            csrf: viewer.csrf.clone(),
            member: Some("GB/LA/E10000016".into()),
            member_input: String::new(),
            may_change: true,
            groups: vec![GroupLine {
                name: "south".into(),
                members: vec!["GB/LA/E10000008".into()],
                saved: "2026-01-01 00:00 UTC".into(),
            }],
            name: "bad name".into(),
            members: String::new(),
            error: Some(FieldError {
                field: "name",
                message: "Enter a name".into(),
            }),
        };
        let html = page.render().expect("renders");
        assert!(
            html.contains("<a href=\"#name\">Enter a name</a>"),
            "{html}"
        );
        assert!(html.contains("id=\"name-error\""));
        assert!(html.contains("Delete<span class=\"govuk-visually-hidden\"> group south</span>"));
    }

    #[test]
    fn the_overview_lists_every_metric_and_the_model() {
        let set = psn_benchmark::metrics::embedded().expect("metrics");
        let model = psn_benchmark::peers::embedded_model().expect("model");
        let viewer = kent_admin();
        let html = overview_view(&viewer, &set, &model, vec!["south".into()])
            .render()
            .expect("renders");
        assert!(set.metrics.len() >= 10);
        for m in &set.metrics {
            assert!(
                html.contains(&format!("value=\"{}\"", m.process)),
                "{}",
                m.process
            );
        }
        for v in &model.variables {
            assert!(html.contains(&format!("({})", v.name)), "{}", v.name);
        }
        assert!(html.contains("<option value=\"south\">Saved group: south</option>"));
        assert!(
            html.contains("(your own)"),
            "a member's person reports on their own"
        );
        assert!(!html.contains("id=\"member\""));
    }

    #[test]
    fn amounts_read_as_words_with_no_bare_minus() {
        assert_eq!(pounds(156_000.4), "£156,000");
        assert_eq!(pounds(999.5), "£1,000");
        assert_eq!(pounds(0.0), "£0");
        assert_eq!(count(1_589_100), "1,589,100");
        assert_eq!(saving_words(-12_345.0), "standing apart saves £12,345");
        assert_eq!(saving_words(2_500.0), "£2,500");
        assert_eq!(pounds(f64::NAN), "not available");
    }

    #[test]
    fn group_members_are_read_one_a_line() {
        let ok = group_members("GB/LA/E10000016\n\n  GB/LA/E10000008  \r\n").expect("ids");
        assert_eq!(ok.len(), 2);
        let bad = group_members("GB/LA/E10000016\nnot an id").expect_err("refused");
        assert!(bad.starts_with("Line 2 is not a member id"), "{bad}");
        assert!(group_members(&"GB/LA/E10000016\n".repeat(201)).is_err());
    }

    #[test]
    fn file_names_carry_no_header_breaking_characters() {
        let year = FinancialYear { start: 2024 };
        assert_eq!(
            file_name("psn:4004", year, "csv"),
            "benchmark-psn-4004-2024-25.csv"
        );
        assert_eq!(
            file_name("a\"b\r\nc", year, "json"),
            "benchmark-a-b--c-2024-25.json"
        );
    }
}
