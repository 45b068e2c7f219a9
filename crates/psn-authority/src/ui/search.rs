//! The catalogue pages: `/ui/catalogue`, search in the "filter a list" pattern (a form of facet
//! checkboxes with their counts beside the results, applied by a button, so it works without
//! JavaScript), and `/ui/partners`, the partner finder for a process or a member. Both read the
//! same search and partner code as `/v1/catalogue/search` and `/v1/catalogue/partners`.

use super::paging::encode;
use super::render::{render, Failure};
use super::session::Viewer;
use super::views::Layout;
use super::Ui;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use psn_api::{
    FacetCounts, Highlighted, ListingCard, MemberPartners, ProcessPartners, SearchRequest,
    SearchSort, SEARCH_FACETS,
};
use psn_core::names::NetworkId;
use std::sync::Arc;

/// Text split into the parts a search matched and those it did not.
pub struct Part {
    /// The text.
    pub text: String,
    /// Whether it matched (shown marked).
    pub matched: bool,
}

/// The parts of highlighted text; ranges that are out of order, overlapping or not on character
/// boundaries are shown unmarked rather than trusted.
fn parts(h: &Highlighted) -> Vec<Part> {
    let mut out = Vec::new();
    let mut at = 0;
    for [start, end] in &h.highlights {
        let (Some(before), Some(matched)) = (h.text.get(at..*start), h.text.get(*start..*end))
        else {
            continue;
        };
        if !before.is_empty() {
            out.push(Part {
                text: before.to_owned(),
                matched: false,
            });
        }
        out.push(Part {
            text: matched.to_owned(),
            matched: true,
        });
        at = *end;
    }
    if let Some(rest) = h.text.get(at..).filter(|r| !r.is_empty()) {
        out.push(Part {
            text: rest.to_owned(),
            matched: false,
        });
    }
    out
}

/// A facet value as a checkbox.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub count: u64,
    pub selected: bool,
    /// For the process facet: the link that counts this value's children.
    pub drill: Option<String>,
    /// The checkbox's id.
    pub id: String,
}

/// One facet's fieldset.
pub struct FacetBox {
    pub name: &'static str,
    pub legend: &'static str,
    pub choices: Vec<Choice>,
    /// Whether any value is ticked (the box is open).
    pub open: bool,
}

/// A measured or declared figure, with "not measured" spelled out.
pub struct ListingLine {
    pub service: String,
    /// A federated partner's network, for a partner's listing: it is tagged with it, and not
    /// linked to this authority's service and member pages, which know only this registry.
    pub partner_network: Option<String>,
    pub title: Vec<Part>,
    pub description: Vec<Part>,
    pub provider: String,
    pub provider_name: String,
    pub processes: Vec<(String, String)>,
    pub lifecycle: String,
    pub service_type: String,
    pub declared: String,
    pub availability: String,
    pub latency: String,
    pub volume: String,
    /// The provider's service-provision certificate, when it has one.
    pub compliance: Option<super::compliance_review::CertificateLine>,
}

/// A selected filter, as a tag that removes it.
pub struct Selected {
    pub label: String,
    pub remove: String,
}

#[derive(Template)]
#[template(path = "catalogue.html")]
pub struct CataloguePage {
    pub layout: Layout,
    pub q: String,
    pub total: u64,
    pub facets: Vec<FacetBox>,
    pub selected: Vec<Selected>,
    pub sorts: Vec<(&'static str, &'static str, bool)>,
    pub drill: Option<String>,
    pub drill_label: Option<String>,
    pub drill_up: Option<String>,
    pub hits: Vec<ListingLine>,
    pub previous: Option<String>,
    pub next: Option<String>,
    pub first: u64,
    pub last: u64,
}

fn legend(facet: &str) -> &'static str {
    match facet {
        "process" => "Process",
        "provider_class" => "Provider class",
        "sector" => "Sector",
        "region" => "Region",
        "area" => "Area served",
        "service_type" => "Service type",
        "lifecycle" => "Lifecycle",
        "who_may_apply" => "Who may apply",
        "network" => "Network",
        "availability" => "Measured availability (30 days)",
        _ => "Other",
    }
}

fn percent(p: Option<f64>) -> String {
    p.map_or_else(|| "not measured".into(), |p| format!("{p:.2}%"))
}

fn line(
    own: &NetworkId,
    card: ListingCard,
    title: Vec<Part>,
    description: Vec<Part>,
) -> ListingLine {
    let m = &card.measured;
    ListingLine {
        service: card.service.to_string(),
        partner_network: (&card.network != own).then(|| card.network.to_string()),
        title,
        description,
        provider: card.provider.to_string(),
        provider_name: card.provider_name,
        processes: card
            .processes
            .into_iter()
            .map(|p| (p.id, p.label))
            .collect(),
        lifecycle: card.lifecycle,
        service_type: card.service_type,
        declared: card
            .declared_availability_percent
            .map_or_else(|| "none declared".into(), |p| format!("{p}%")),
        availability: percent(m.availability_percent),
        latency: m.latency_p50_ms.zip(m.latency_p95_ms).map_or_else(
            || "not measured".into(),
            |(a, b)| format!("{a} ms / {b} ms"),
        ),
        volume: format!(
            "{:.1} calls a day from {} {}",
            m.calls_per_day,
            m.consumers,
            if m.consumers == 1 {
                "member"
            } else {
                "members"
            }
        ),
        compliance: None,
    }
}

fn card_line(own: &NetworkId, card: ListingCard) -> ListingLine {
    let title = vec![Part {
        text: card.title.clone(),
        matched: false,
    }];
    line(own, card, title, Vec::new())
}

/// The query string of `request` with `pairs` changed by `edit`, for links.
fn href(request: &SearchRequest, edit: impl FnOnce(&mut SearchRequest)) -> String {
    let mut changed = request.clone();
    edit(&mut changed);
    let query: Vec<String> = changed
        .to_pairs()
        .iter()
        .filter(|(k, _)| k != "limit")
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    format!("/ui/catalogue?{}", query.join("&"))
}

fn bounded(raw: &RawQuery) -> Result<Vec<(String, String)>, Failure> {
    crate::search::query_pairs(raw.0.as_deref()).map_err(|e| Failure::BadRequest(e.to_string()))
}

/// `GET /ui/catalogue`: search with facets.
pub async fn catalogue(State(ui): State<Arc<Ui>>, viewer: Viewer, raw: RawQuery) -> Response {
    match catalogue_page(&ui, &viewer, &raw).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.fail(f),
    }
}

fn facet_boxes(request: &SearchRequest, counts: Vec<FacetCounts>) -> Vec<FacetBox> {
    let mut boxes = Vec::new();
    for name in SEARCH_FACETS {
        let Some(found) = counts.iter().find(|c| c.facet == name) else {
            continue;
        };
        let choices: Vec<Choice> = found
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| Choice {
                value: v.value.clone(),
                label: v.label.clone(),
                count: v.count,
                selected: v.selected,
                drill: (name == "process" && v.value.starts_with('/'))
                    .then(|| href(request, |r| r.drill = Some(v.value.clone()))),
                id: format!("{name}-{i}"),
            })
            .collect();
        if choices.is_empty() {
            continue;
        }
        boxes.push(FacetBox {
            name,
            legend: legend(name),
            open: choices.iter().any(|c| c.selected),
            choices,
        });
    }
    boxes
}

async fn catalogue_page(
    ui: &Ui,
    viewer: &Viewer,
    raw: &RawQuery,
) -> Result<CataloguePage, Failure> {
    let pairs = bounded(raw)?;
    let mut request =
        SearchRequest::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(|e| Failure::BadRequest(e.0))?;
    request.limit = 20;
    let a = &ui.authority;
    let found = crate::search::search(a, &request)
        .await
        .map_err(|e| match e {
            crate::search::SearchError::Invalid(m) => Failure::BadRequest(m),
            other => Failure::Internal(other.to_string()),
        })?;
    let selected = request
        .filters
        .iter()
        .flat_map(|(facet, values)| values.iter().map(move |v| (facet, v)))
        .map(|(facet, value)| Selected {
            label: format!(
                "{}: {}",
                legend(facet),
                if facet == "process" {
                    crate::search::process_value_label(a, value)
                } else {
                    value.clone()
                }
            ),
            remove: href(&request, |r| {
                if let Some(values) = r.filters.get_mut(facet) {
                    values.remove(value);
                }
                r.offset = 0;
            }),
        })
        .collect();
    let drill_up = request.drill.as_ref().map(|d| {
        let parent = d.rsplit_once('/').map(|(p, _)| p.to_owned());
        href(&request, |r| r.drill = parent.filter(|p| !p.is_empty()))
    });
    let page_end = request.offset + found.hits.len() as u64;
    let mut hits: Vec<ListingLine> = found
        .hits
        .into_iter()
        .map(|h| {
            let (title, description) = (parts(&h.title_match), parts(&h.description_match));
            line(&a.network, h.card, title, description)
        })
        .collect();
    super::compliance_review::tag_listings(ui, hits.iter_mut().collect()).await?;
    Ok(CataloguePage {
        layout: viewer.frame("/ui/catalogue"),
        q: request.text.clone(),
        total: found.total,
        drill_label: request
            .drill
            .as_ref()
            .map(|d| crate::search::process_value_label(a, d)),
        drill: request.drill.clone(),
        drill_up,
        sorts: SearchSort::ALL
            .iter()
            .map(|s| {
                let label = match s {
                    SearchSort::Relevance => "Best match",
                    SearchSort::Availability => "Measured availability",
                    SearchSort::Volume => "Calls a day",
                    SearchSort::Newest => "Newest",
                };
                (s.as_str(), label, *s == request.sort)
            })
            .collect(),
        previous: (request.offset > 0)
            .then(|| href(&request, |r| r.offset = r.offset.saturating_sub(r.limit))),
        next: (page_end < found.total && page_end < psn_api::MAX_SEARCH_OFFSET)
            .then(|| href(&request, |r| r.offset = page_end)),
        first: if hits.is_empty() {
            0
        } else {
            request.offset + 1
        },
        last: page_end,
        hits,
        facets: facet_boxes(&request, found.facets),
        selected,
    })
}

#[derive(Template)]
#[template(path = "partners.html")]
pub struct PartnersPage {
    pub layout: Layout,
    pub process_input: String,
    pub member_input: String,
    pub by_process: Option<ProcessView>,
    pub by_member: Option<MemberView>,
}

pub struct ProcessView {
    pub id: String,
    pub label: String,
    pub providers: Vec<ListingLine>,
    /// (member id, name, sector, region, services, exchanges)
    pub consumers: Vec<ConsumerLine>,
}

pub struct ConsumerLine {
    pub id: String,
    pub name: String,
    pub sector: String,
    pub region: String,
    pub services: usize,
    pub exchanges: u64,
}

pub struct MemberView {
    pub id: String,
    pub name: String,
    pub processes: Vec<MemberProcessLine>,
}

pub struct MemberProcessLine {
    pub id: String,
    pub label: String,
    pub role: &'static str,
    pub others: Vec<ListingLine>,
    pub other_total: u64,
}

fn process_view(own: &NetworkId, p: ProcessPartners) -> ProcessView {
    ProcessView {
        id: p.process.id,
        label: p.process.label,
        providers: p.providers.into_iter().map(|c| card_line(own, c)).collect(),
        consumers: p
            .consumers
            .into_iter()
            .map(|c| ConsumerLine {
                id: c.member.id.to_string(),
                name: c.member.name,
                sector: c.member.sector.unwrap_or_else(|| "not recorded".into()),
                region: c.member.region.unwrap_or_else(|| "not recorded".into()),
                services: c.services.len(),
                exchanges: c.exchanges,
            })
            .collect(),
    }
}

fn member_view(own: &NetworkId, m: MemberPartners) -> MemberView {
    MemberView {
        id: m.member.id.to_string(),
        name: m.member.name,
        processes: m
            .processes
            .into_iter()
            .map(|p| MemberProcessLine {
                id: p.process.id,
                label: p.process.label,
                role: match (p.provides, p.consumes) {
                    (true, true) => "Provides and consumes",
                    (true, false) => "Provides",
                    _ => "Consumes",
                },
                others: p
                    .other_providers
                    .into_iter()
                    .map(|c| card_line(own, c))
                    .collect(),
                other_total: p.other_provider_total,
            })
            .collect(),
    }
}

/// `GET /ui/partners?process=ID` or `?member=ID`: who else runs a process.
pub async fn partners(State(ui): State<Arc<Ui>>, viewer: Viewer, raw: RawQuery) -> Response {
    match partners_page(&ui, &viewer, &raw).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.fail(f),
    }
}

async fn partners_page(ui: &Ui, viewer: &Viewer, raw: &RawQuery) -> Result<PartnersPage, Failure> {
    let pairs = bounded(raw)?;
    let a = &ui.authority;
    let mut page = PartnersPage {
        layout: viewer.frame("/ui/partners"),
        process_input: String::new(),
        member_input: String::new(),
        by_process: None,
        by_member: None,
    };
    let failure = |e: crate::search::SearchError| match e {
        crate::search::SearchError::NotFound(m) | crate::search::SearchError::Invalid(m) => {
            Failure::NotFound(m)
        }
        other => Failure::Internal(other.to_string()),
    };
    for (name, value) in pairs.iter().filter(|(_, v)| !v.trim().is_empty()) {
        let value = value.trim();
        match name.as_str() {
            "process" if page.by_process.is_none() => {
                if value.chars().count() > 64 || value.chars().any(char::is_control) {
                    return Err(Failure::BadRequest(
                        "a process id is like lgsl:57 or psn:1001".into(),
                    ));
                }
                page.process_input = value.to_owned();
                let found = crate::search::process_partners(a, value)
                    .await
                    .map_err(failure)?;
                page.by_process = Some(process_view(&a.network, found));
            }
            "member" if page.by_member.is_none() => {
                let id = value
                    .parse()
                    .map_err(|e: psn_core::names::NameError| Failure::BadRequest(e.to_string()))?;
                page.member_input = value.to_owned();
                let found = crate::search::member_partners(a, &id)
                    .await
                    .map_err(failure)?;
                page.by_member = Some(member_view(&a.network, found));
            }
            other => {
                return Err(Failure::BadRequest(format!(
                    "the partner finder takes process=ID or member=ID, not {:?}",
                    other.chars().take(40).collect::<String>()
                )))
            }
        }
    }
    // Collected first: iterator adaptors held across the await would make the future not Send.
    let mut cards = Vec::new();
    if let Some(p) = page.by_process.as_mut() {
        cards.extend(p.providers.iter_mut());
    }
    if let Some(m) = page.by_member.as_mut() {
        for p in &mut m.processes {
            cards.extend(p.others.iter_mut());
        }
    }
    super::compliance_review::tag_listings(ui, cards).await?;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(parts: &[Part]) -> String {
        parts
            .iter()
            .map(|p| {
                if p.matched {
                    format!("[{}]", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    }

    #[test]
    fn only_a_partners_listing_is_tagged_with_its_network() {
        let card = |service: &str| ListingCard {
            service: service.parse().expect("service"),
            network: service
                .split('/')
                .next()
                .unwrap_or_default()
                .parse()
                .expect("network"),
            title: "FSM check".into(),
            provider: "GB/GOV/D6".parse().expect("member"),
            provider_name: "Department for Education".into(),
            sector: None,
            region: None,
            processes: vec![],
            lifecycle: "live".into(),
            service_type: "rest".into(),
            who_may_apply: "any-member".into(),
            declared_availability_percent: None,
            measured: psn_api::MeasuredSummary::default(),
        };
        let kent: NetworkId = "GB-KENT".parse().expect("network");
        let partners = card_line(&kent, card("GB/GOV/D6/eligibility/fsm-check"));
        assert_eq!(partners.partner_network.as_deref(), Some("GB"));
        let own = card_line(&kent, card("GB-KENT/LA/E10000016/revenues/council-tax"));
        assert_eq!(own.partner_network, None);
    }

    #[test]
    fn highlights_become_parts_and_bad_ranges_are_not_trusted() {
        let h = Highlighted {
            text: "Payroll for schools".into(),
            highlights: vec![[0, 7], [12, 19]],
        };
        assert_eq!(text(&parts(&h)), "[Payroll] for [schools]");
        let hostile = Highlighted {
            text: "café".into(),
            // Inside the é, backwards, and past the end.
            highlights: vec![[4, 5], [3, 1], [2, 99]],
        };
        assert_eq!(text(&parts(&hostile)), "café");
    }
}
