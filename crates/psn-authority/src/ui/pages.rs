//! The pages for what the registry holds: the network overview, members, one member, its grants,
//! services, gateways and people; and the accessibility statement, open to everyone.

use super::paging::{self, encode, pagination, PAGE_SIZE};
use super::render::{layout, render, Failure};
use super::session::Viewer;
use super::views::*;
use super::Ui;
use crate::store::{EventFilter, ServiceFilter, ServiceRecord};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use psn_api::{ConfigHeld, GatewaySummary, GatewayView, MemberQuery};
use psn_core::names::MemberId;
use serde::Deserialize;
use std::sync::Arc;
use time::OffsetDateTime;

/// Longest filter text.
const MAX_FILTER: usize = 100;
/// Highest page number a link may ask for (far beyond any registry; keeps offsets small).
const MAX_PAGE: u64 = 1_000_000;

/// List filters and page, from the query string.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    page: Option<u64>,
}

/// Refuses over-long filters, control characters and page numbers out of range.
pub(super) fn check_filters(texts: &[&Option<String>], page: Option<u64>) -> Result<(), Failure> {
    for text in texts.iter().copied().flatten() {
        if text.chars().count() > MAX_FILTER || text.chars().any(char::is_control) {
            return Err(Failure::BadRequest(format!(
                "A filter has at most {MAX_FILTER} characters and no control characters."
            )));
        }
    }
    if page.is_some_and(|p| p == 0 || p > MAX_PAGE) {
        return Err(Failure::BadRequest(format!(
            "A page number is between 1 and {MAX_PAGE}."
        )));
    }
    Ok(())
}

impl ListQuery {
    fn checked(query: Result<Query<ListQuery>, QueryRejection>) -> Result<Self, Failure> {
        let Query(q) = query.map_err(|e| Failure::BadRequest(e.body_text()))?;
        check_filters(&[&q.q, &q.class], q.page)?;
        Ok(q)
    }

    fn page(&self) -> u64 {
        self.page.unwrap_or(1)
    }

    fn text(&self) -> Option<String> {
        self.q.clone().filter(|t| !t.trim().is_empty())
    }

    fn class(&self) -> Option<String> {
        self.class.clone().filter(|c| !c.is_empty())
    }
}

impl Viewer {
    pub(super) fn frame(&self, current: &'static str) -> Layout {
        layout(current, Some(self.signed_in()))
    }

    pub(super) fn signed_in(&self) -> SignedIn {
        SignedIn::new(
            &self.person,
            &self.csrf,
            self.people_scope().is_some(),
            self.sees_events(),
        )
    }

    /// The error page for `failure`, framed for this person.
    pub(super) fn fail(&self, failure: Failure) -> Response {
        failure.page(Some(self.signed_in()))
    }
}

pub(super) fn when(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// `GET /ui/accessibility`, open without signing in.
pub async fn accessibility() -> Response {
    render(
        StatusCode::OK,
        &AccessibilityPage {
            layout: layout("", None),
        },
    )
}

/// Any other path under `/ui/`.
pub async fn not_found() -> Response {
    Failure::NotFound(
        "There is no page at this address. Check it, or start from the overview.".into(),
    )
    .into_response()
}

/// `GET /ui/`: the network at a glance.
pub async fn overview(State(ui): State<Arc<Ui>>, viewer: Viewer) -> Response {
    match overview_page(&ui, &viewer).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.fail(f),
    }
}

async fn overview_page(ui: &Ui, viewer: &Viewer) -> Result<OverviewPage, Failure> {
    let store = &ui.authority.store;
    let classes = store.classes().await?;
    let by_class = store
        .member_counts_by_class()
        .await?
        .into_iter()
        .map(|(code, count)| {
            let code = code.unwrap_or_default();
            let label = classes
                .iter()
                .find(|c| c.code().as_str() == code)
                .map_or_else(|| code.clone(), |c| format!("{code}: {}", c.description()));
            CountRow {
                key: code,
                label,
                count,
            }
        })
        .collect::<Vec<_>>();
    let by_region = store
        .member_counts_by_region()
        .await?
        .into_iter()
        .map(|(region, count)| CountRow {
            key: String::new(),
            label: region.unwrap_or_else(|| "No region recorded".into()),
            count,
        })
        .collect();
    let (_, gateways_total) = store.gateway_page(0, 0).await?;
    let latest = ui.authority.publisher.current().map(|p| p.version);
    let now = OffsetDateTime::now_utc();
    let held = store.active_gateway_configs().await?;
    let gateway_states = ConfigState::ALL
        .iter()
        .map(|state| {
            let (tag_class, tag) = state.tag();
            let count = held
                .iter()
                .filter(|h| ConfigState::of(**h, latest, now) == *state)
                .count();
            StateCount {
                tag_class,
                tag,
                count: u64::try_from(count).unwrap_or(u64::MAX),
            }
        })
        .collect();
    let (_, services_total) = store.service_page(&ServiceFilter::default(), 0, 0).await?;
    let published = ui.authority.publisher.current();
    Ok(OverviewPage {
        layout: viewer.frame("/ui/"),
        network: ui.authority.network.to_string(),
        config_version: published.as_ref().map(|p| p.version),
        config_expires: published.as_ref().map(|p| when(p.expires_at)),
        members_total: by_class.iter().map(|c| c.count).sum(),
        gateways_total,
        gateway_states,
        services_total,
        by_class,
        by_region,
    })
}

/// `GET /ui/members`: filter by text and class, paginated.
pub async fn members(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let result = match ListQuery::checked(query) {
        Ok(q) => members_page(&ui, &viewer, &q).await,
        Err(f) => Err(f),
    };
    match result {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.fail(f),
    }
}

async fn members_page(ui: &Ui, viewer: &Viewer, q: &ListQuery) -> Result<MembersPage, Failure> {
    let store = &ui.authority.store;
    let query = MemberQuery {
        class: q.class(),
        q: q.text(),
        ..MemberQuery::default()
    };
    let (members, total) = store
        .list_members(&query, PAGE_SIZE, paging::offset(q.page()))
        .await?;
    let mut filters = String::new();
    if let Some(text) = q.text() {
        filters.push_str(&format!("q={}&", encode(&text)));
    }
    if let Some(class) = q.class() {
        filters.push_str(&format!("class={}&", encode(&class)));
    }
    let classes = store
        .classes()
        .await?
        .iter()
        .map(|c| ClassOption {
            code: c.code().to_string(),
            description: c.description().to_owned(),
            selected: q.class().as_deref() == Some(c.code().as_str()),
        })
        .collect();
    Ok(MembersPage {
        layout: viewer.frame("/ui/members"),
        q: q.q.clone().unwrap_or_default(),
        classes,
        total,
        members: members
            .into_iter()
            .map(|m| MemberLine {
                id: m.id.to_string(),
                name: m.name,
                region: m.region.unwrap_or_default(),
                status: m.status.as_str().to_owned(),
            })
            .collect(),
        pagination: pagination("/ui/members", &filters, q.page(), total),
    })
}

fn member_id(network: &str, class: &str, code: &str) -> Result<MemberId, Failure> {
    format!("{network}/{class}/{code}")
        .parse()
        .map_err(|_| Failure::NotFound(format!("{network}/{class}/{code} is not a member id.")))
}

async fn find_member(ui: &Ui, id: &MemberId) -> Result<psn_api::MemberView, Failure> {
    ui.authority
        .store
        .member(id)
        .await?
        .ok_or_else(|| Failure::NotFound(format!("There is no member {id}.")))
}

/// A service page's path segments: network, class, code, subsystem, service.
pub(super) type ServicePath = (String, String, String, String, String);

/// The service a page's path names, and its catalogue entry; not found otherwise.
pub(super) async fn find_service(
    ui: &Ui,
    (network, class, code, subsystem, service): ServicePath,
) -> Result<(psn_core::names::ServiceId, ServiceRecord), Failure> {
    let text = format!("{network}/{class}/{code}/{subsystem}/{service}");
    let id: psn_core::names::ServiceId = text
        .parse()
        .map_err(|_| Failure::NotFound(format!("{text} is not a service id.")))?;
    let record = ui
        .authority
        .store
        .service(&id)
        .await?
        .ok_or_else(|| Failure::NotFound(format!("There is no service {id}.")))?;
    Ok((id, record))
}

fn service_lines(services: Vec<ServiceRecord>) -> Vec<ServiceLine> {
    services
        .into_iter()
        .map(|s| ServiceLine {
            id: s.id.to_string(),
            title: s.title,
            processes: s.processes.join(", "),
        })
        .collect()
}

/// A gateway that has not asked for the configuration for this long is out of touch: one that
/// follows it long-polls at least every minute (`MAX_WAIT` of the API).
const OUT_OF_TOUCH: time::Duration = time::Duration::minutes(5);

/// Where a gateway's configuration stands against the latest published version.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ConfigState {
    Current,
    Behind,
    OutOfTouch,
    NeverFetched,
}

impl ConfigState {
    const ALL: [ConfigState; 4] = [
        ConfigState::Current,
        ConfigState::Behind,
        ConfigState::OutOfTouch,
        ConfigState::NeverFetched,
    ];

    /// How `held` compares with the `latest` version as of `now`. Out of touch trumps behind:
    /// a gateway that stopped asking is the problem to look at first.
    fn of(held: Option<ConfigHeld>, latest: Option<u64>, now: OffsetDateTime) -> Self {
        match held {
            None => ConfigState::NeverFetched,
            Some(h) if now - h.fetched_at > OUT_OF_TOUCH => ConfigState::OutOfTouch,
            Some(h) if latest.is_some_and(|l| l > h.version) => ConfigState::Behind,
            Some(_) => ConfigState::Current,
        }
    }

    fn tag(self) -> (&'static str, &'static str) {
        match self {
            ConfigState::Current => ("govuk-tag--green", "Current"),
            ConfigState::Behind => ("govuk-tag--yellow", "Behind"),
            ConfigState::OutOfTouch => ("govuk-tag--red", "Out of touch"),
            ConfigState::NeverFetched => ("govuk-tag--grey", "Never fetched"),
        }
    }
}

/// How `held` compares with the `latest` published version, as of `now`, in words.
fn config_freshness(
    held: Option<ConfigHeld>,
    latest: Option<u64>,
    now: OffsetDateTime,
) -> ConfigFreshness {
    let (tag_class, tag) = ConfigState::of(held, latest, now).tag();
    let detail = match held {
        None => "It has not fetched the configuration.".into(),
        Some(held) => {
            let lag = match latest.map_or(0, |l| l.saturating_sub(held.version)) {
                0 => String::new(),
                1 => ", 1 version behind".into(),
                n => format!(", {n} versions behind"),
            };
            format!(
                "Version {}{lag}, last fetched {}.",
                held.version,
                when(held.fetched_at)
            )
        }
    };
    ConfigFreshness {
        tag_class,
        tag,
        detail,
    }
}

fn gateway_line(g: &GatewayView, latest: Option<u64>, now: OffsetDateTime) -> GatewayLine {
    let current = g.certificates.iter().find(|c| c.revoked_at.is_none());
    GatewayLine {
        id: g.id.to_string(),
        member: g.id.member().to_string(),
        address: g.address.clone().unwrap_or_default(),
        status: g.status.clone(),
        certificate_until: current.map(|c| when(c.not_after)).unwrap_or_default(),
        last_delivery: String::new(),
        config: config_freshness(g.config, latest, now),
    }
}

/// `GET /ui/members/{network}/{class}/{code}`: what every signed-in person may see of a member.
pub async fn member(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    Path((network, class, code)): Path<(String, String, String)>,
) -> Response {
    match member_page(&ui, &viewer, &network, &class, &code).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.fail(f),
    }
}

async fn member_page(
    ui: &Ui,
    viewer: &Viewer,
    network: &str,
    class: &str,
    code: &str,
) -> Result<MemberPage, Failure> {
    let id = member_id(network, class, code)?;
    let member = find_member(ui, &id).await?;
    let filter = ServiceFilter {
        text: None,
        member: Some(id.clone()),
    };
    let (services, _) = ui
        .authority
        .store
        .service_page(&filter, u64::from(u32::MAX), 0)
        .await?;
    let latest = ui.authority.publisher.current().map(|p| p.version);
    let now = OffsetDateTime::now_utc();
    Ok(MemberPage {
        layout: viewer.frame("/ui/members"),
        may_see_grants: viewer.may_see_private(&id),
        subsystems: member.subsystems.iter().map(ToString::to_string).collect(),
        gateways: member
            .gateways
            .iter()
            .map(|g| gateway_line(g, latest, now))
            .collect(),
        services: service_lines(services),
        member: MemberFacts {
            id: member.id.to_string(),
            name: member.name,
            status: member.status.as_str().to_owned(),
            status_reason: member.status_reason,
            sector: member.sector.unwrap_or_default(),
            region: member.region.unwrap_or_default(),
        },
    })
}

/// `GET /ui/members/{network}/{class}/{code}/grants`: the member's own people and the network's
/// only; another member's people get 403.
pub async fn grants(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    Path((network, class, code)): Path<(String, String, String)>,
) -> Response {
    match grants_page(&ui, &viewer, &network, &class, &code).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.fail(f),
    }
}

async fn grants_page(
    ui: &Ui,
    viewer: &Viewer,
    network: &str,
    class: &str,
    code: &str,
) -> Result<GrantsPage, Failure> {
    let id = member_id(network, class, code)?;
    if !viewer.may_see_private(&id) {
        return Err(Failure::Forbidden);
    }
    let member = find_member(ui, &id).await?;
    let grants = ui.authority.store.grants_of(&id).await?;
    Ok(GrantsPage {
        layout: viewer.frame("/ui/members"),
        member_id: id.to_string(),
        member_name: member.name,
        grants: grants.into_iter().map(grant_line).collect(),
    })
}

fn grant_line(g: psn_core::access::Grant) -> GrantLine {
    GrantLine {
        id: g.id,
        service: g.service.to_string(),
        grantee: g.grantee.to_string(),
        method: g.method.unwrap_or_else(|| "any method".into()),
        path: g.path.unwrap_or_else(|| "any path".into()),
    }
}

/// `GET /ui/services`: filter by text, paginated.
pub async fn services(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let result = match ListQuery::checked(query) {
        Ok(q) => services_page(&ui, &viewer, &q).await,
        Err(f) => Err(f),
    };
    match result {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.fail(f),
    }
}

async fn services_page(ui: &Ui, viewer: &Viewer, q: &ListQuery) -> Result<ServicesPage, Failure> {
    let filter = ServiceFilter {
        text: q.text(),
        member: None,
    };
    let (services, total) = ui
        .authority
        .store
        .service_page(&filter, PAGE_SIZE, paging::offset(q.page()))
        .await?;
    let filters = q
        .text()
        .map(|t| format!("q={}&", encode(&t)))
        .unwrap_or_default();
    Ok(ServicesPage {
        layout: viewer.frame("/ui/services"),
        q: q.q.clone().unwrap_or_default(),
        total,
        services: service_lines(services),
        pagination: pagination("/ui/services", &filters, q.page(), total),
    })
}

/// `GET /ui/services/{network}/{class}/{code}/{subsystem}/{service}`: the listing and declared
/// SLA for everyone; the grants only for the provider's people and the network's.
pub async fn service(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    Path(parts): Path<ServicePath>,
) -> Response {
    match service_page(&ui, &viewer, parts).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.fail(f),
    }
}

async fn service_page(
    ui: &Ui,
    viewer: &Viewer,
    parts: ServicePath,
) -> Result<ServicePage, Failure> {
    let (id, _) = find_service(ui, parts).await?;
    let store = &ui.authority.store;
    let now = OffsetDateTime::now_utc();
    let entry = crate::catalogue::entry(&ui.authority, &id, now)
        .await
        .map_err(|e| match e {
            crate::catalogue::EntryError::NotListed(_) => Failure::NotFound(e.to_string()),
            crate::catalogue::EntryError::Report(r) => super::sla::report_failure(r),
        })?;
    let grants = if viewer.may_see_private(id.member()) {
        let all = store.grants_of(id.member()).await?;
        Some(
            all.into_iter()
                .filter(|g| g.service == id)
                .map(grant_line)
                .collect(),
        )
    } else {
        None
    };
    let compliance = super::compliance_review::provision_tag(ui, id.member()).await?;
    Ok(ServicePage {
        layout: viewer.frame("/ui/services"),
        compliance,
        id: id.to_string(),
        measured: measured_lines(&entry, now),
        terms: terms_lines(&entry.listing.details),
        title: entry.listing.title,
        description: entry.listing.description,
        processes: entry.listing.processes.join(", "),
        provider_id: entry.provider.id.to_string(),
        provider_name: entry.provider.name,
        sla: entry.sla.map(|s| s.to_string()),
        grants,
        openapi: entry.openapi.map(|d| {
            format!(
                "{} bytes, uploaded {}, SHA-256 {}",
                d.bytes,
                when(d.uploaded_at),
                d.sha256
            )
        }),
    })
}

/// A listing's terms, as rows of a summary list.
fn terms_lines(d: &psn_api::ListingDetails) -> Vec<(String, String)> {
    use psn_api::{Classification, Lifecycle, Price, PriceInterval, ServiceType, WhoMayApply};
    let lifecycle = match d.lifecycle {
        Lifecycle::Discovery => "Discovery".to_owned(),
        Lifecycle::Alpha => "Alpha".into(),
        Lifecycle::Beta => "Beta".into(),
        Lifecycle::Live => "Live".into(),
        Lifecycle::Deprecated => match d.sunset {
            Some(day) => format!("Deprecated: answers until {day}"),
            None => "Deprecated".into(),
        },
        Lifecycle::Withdrawn => "Withdrawn".into(),
    };
    let service_type = match d.service_type {
        ServiceType::Rest => "REST",
        ServiceType::Soap => "SOAP",
        ServiceType::Events => "Events",
        ServiceType::Files => "Files",
    };
    let who = match d.who_may_apply {
        WhoMayApply::AnyMember => "Any member".to_owned(),
        WhoMayApply::MemberClasses => format!(
            "Members of these classes: {}",
            d.member_classes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        WhoMayApply::ByRequest => "By invitation of the provider".into(),
    };
    let classification = match d.classification {
        Classification::Official => "OFFICIAL",
        Classification::OfficialSensitive => "OFFICIAL-SENSITIVE",
    };
    let pounds = |pence: u64| format!("£{}.{:02}", pence / 100, pence % 100);
    let price = match &d.price {
        Price::Free {} => "Free".to_owned(),
        Price::PerUnit {
            min_pence,
            max_pence,
            unit,
            interval,
        } => {
            let per = match interval {
                PriceInterval::Each => String::new(),
                PriceInterval::Month => " a month".into(),
                PriceInterval::Year => " a year".into(),
            };
            if min_pence == max_pence {
                format!("{} per {unit}{per}", pounds(*min_pence))
            } else {
                format!(
                    "{} to {} per {unit}{per}",
                    pounds(*min_pence),
                    pounds(*max_pence)
                )
            }
        }
    };
    let none = |v: &str| {
        if v.is_empty() {
            "None given".to_owned()
        } else {
            v.to_owned()
        }
    };
    vec![
        (
            "Version".into(),
            none(d.version.as_deref().unwrap_or_default()),
        ),
        ("Lifecycle".into(), lifecycle),
        ("Type".into(), service_type.into()),
        ("Who may apply".into(), who),
        ("Classification".into(), classification.into()),
        (
            "Contact".into(),
            none(d.contact.as_deref().unwrap_or_default()),
        ),
        ("Price".into(), price),
        ("Onboarding terms".into(), none(&d.onboarding_terms)),
        (
            "Areas served".into(),
            if d.areas.is_empty() {
                "Wherever its consumers are".into()
            } else {
                d.areas.join(", ")
            },
        ),
    ]
}

/// What a listing's measured columns say, as rows of a summary list.
fn measured_lines(entry: &psn_api::CatalogueEntry, now: OffsetDateTime) -> Vec<(String, String)> {
    let m = &entry.measured;
    let p = &m.period;
    let ms = |v: Option<u64>| v.map_or_else(|| "not measured".into(), |v| format!("{v} ms"));
    let healthy = entry
        .gateways
        .iter()
        .filter(|g| {
            g.status == "active"
                && ConfigState::of(g.config, entry.config_version, now) == ConfigState::Current
        })
        .count();
    vec![
        (
            "Availability".into(),
            p.availability_percent.map_or_else(
                || "not measured".into(),
                |a| format!("{a:.3}% ({} failed of {} judged)", p.failures, p.eligible),
            ),
        ),
        (
            "Latency".into(),
            format!(
                "median {}, 95th percentile {}",
                ms(p.latency_p50_ms),
                ms(p.latency_p95_ms)
            ),
        ),
        ("Calls per day".into(), format!("{:.1}", m.calls_per_day)),
        ("Consuming members".into(), m.consumers.to_string()),
        (
            "Last breach".into(),
            m.last_breach.as_ref().map_or_else(
                || "none".into(),
                |b| {
                    format!(
                        "{} in the window from {}, attributed to {}",
                        b.objective.as_str(),
                        when(b.window_start),
                        b.attribution.as_str().replace('_', " ")
                    )
                },
            ),
        ),
        (
            "Provider's gateways".into(),
            format!(
                "{healthy} of {} active with the current configuration",
                entry.gateways.len()
            ),
        ),
    ]
}

/// `GET /ui/gateways`: every gateway, paginated, with when it last reported.
pub async fn gateways(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let result = match ListQuery::checked(query) {
        Ok(q) => gateways_page(&ui, &viewer, &q).await,
        Err(f) => Err(f),
    };
    match result {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.fail(f),
    }
}

fn gateway_row_line(g: GatewaySummary, latest: Option<u64>, now: OffsetDateTime) -> GatewayLine {
    GatewayLine {
        member: g.id.member().to_string(),
        id: g.id.to_string(),
        address: g.address.unwrap_or_default(),
        status: g.status,
        certificate_until: String::new(),
        last_delivery: g.last_delivery.map(when).unwrap_or_else(|| "never".into()),
        config: config_freshness(g.config, latest, now),
    }
}

async fn gateways_page(ui: &Ui, viewer: &Viewer, q: &ListQuery) -> Result<GatewaysPage, Failure> {
    let (gateways, total) = ui
        .authority
        .store
        .gateway_page(PAGE_SIZE, paging::offset(q.page()))
        .await?;
    let config_version = ui.authority.publisher.current().map(|p| p.version);
    let now = OffsetDateTime::now_utc();
    Ok(GatewaysPage {
        layout: viewer.frame("/ui/gateways"),
        config_version,
        total,
        gateways: gateways
            .into_iter()
            .map(|g| gateway_row_line(g, config_version, now))
            .collect(),
        pagination: pagination("/ui/gateways", "", q.page(), total),
    })
}

/// Audit trail filters and page, from the query string.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    page: Option<u64>,
}

impl EventQuery {
    fn checked(query: Result<Query<EventQuery>, QueryRejection>) -> Result<Self, Failure> {
        let Query(q) = query.map_err(|e| Failure::BadRequest(e.body_text()))?;
        check_filters(&[&q.action, &q.target, &q.actor], q.page)?;
        Ok(q)
    }

    fn filter(&self) -> EventFilter {
        let given = |v: &Option<String>| v.clone().filter(|t| !t.trim().is_empty());
        EventFilter {
            action: given(&self.action),
            target: given(&self.target),
            actor: given(&self.actor),
        }
    }
}

/// `GET /ui/events`: the audit trail, filtered, newest first; the network's people only.
pub async fn events(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    query: Result<Query<EventQuery>, QueryRejection>,
) -> Response {
    if !viewer.sees_events() {
        return viewer.fail(Failure::Forbidden);
    }
    let result = match EventQuery::checked(query) {
        Ok(q) => events_page(&ui, &viewer, &q).await,
        Err(f) => Err(f),
    };
    match result {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.fail(f),
    }
}

async fn events_page(ui: &Ui, viewer: &Viewer, q: &EventQuery) -> Result<EventsPage, Failure> {
    let filter = q.filter();
    let page = q.page.unwrap_or(1);
    let (events, total) = ui
        .authority
        .store
        .event_page(&filter, PAGE_SIZE, paging::offset(page))
        .await?;
    let mut filters = String::new();
    for (name, value) in [
        ("action", &filter.action),
        ("target", &filter.target),
        ("actor", &filter.actor),
    ] {
        if let Some(v) = value {
            filters.push_str(&format!("{name}={}&", encode(v)));
        }
    }
    Ok(EventsPage {
        layout: viewer.frame("/ui/events"),
        action: q.action.clone().unwrap_or_default(),
        target: q.target.clone().unwrap_or_default(),
        actor: q.actor.clone().unwrap_or_default(),
        total,
        events: events
            .into_iter()
            .map(|e| EventLine {
                at: when(e.at),
                actor: e.actor,
                action: e.action,
                target: e.target,
            })
            .collect(),
        pagination: pagination("/ui/events", &filters, page, total),
    })
}

/// `GET /ui/people`: operators see everyone, a member-admin their member's people; others 403.
pub async fn people(State(ui): State<Arc<Ui>>, viewer: Viewer) -> Response {
    let Some(scope) = viewer.people_scope() else {
        return viewer.fail(Failure::Forbidden);
    };
    let people = match ui.authority.store.people(scope.as_ref()).await {
        Ok(p) => p,
        Err(e) => return viewer.fail(e.into()),
    };
    let now = OffsetDateTime::now_utc();
    let page = PeoplePage {
        layout: viewer.frame("/ui/people"),
        people: people
            .into_iter()
            .map(|p| PersonLine {
                state: if p.disabled {
                    "disabled".into()
                } else if p.locked_until.is_some_and(|u| u > now) {
                    "locked".into()
                } else {
                    "active".into()
                },
                sign_in: p.oidc_provider.map_or_else(
                    || "password".to_owned(),
                    |name| format!("OpenID Connect: {name}"),
                ),
                username: p.username,
                role: p.role.as_str(),
                member: p.member.map(|m| m.to_string()).unwrap_or_default(),
            })
            .collect(),
    };
    render(StatusCode::OK, &page)
}
