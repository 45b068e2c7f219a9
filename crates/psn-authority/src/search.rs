//! The catalogue's search index kept in step with the registry, and the partner finder.
//!
//! # Data flow
//!
//! 1. At start-up [`Catalogue::rebuild`] notes where the events trail ends, reads every listing
//!    with its provider's facts, the declared service levels and the last 30 days' measurements
//!    (one network-wide SLA report, `crate::report`), and fills the index
//!    ([`psn_catalogue::CatalogueIndex`]) and the *shelf*: each listing as indexed, with what
//!    search results show beside it.
//! 2. Every registry write appends to the events trail in its own transaction, so the trail is
//!    the change feed: [`Catalogue::catch_up`] reads the events after the last one it applied and
//!    re-indexes only the members and services they name (`service.*`, `sla.*`, `member.*`),
//!    upserting or removing single listings; a bulk load or import rebuilds. Handlers that change
//!    listings call it before answering, so a search after their answer sees the change; the
//!    background task ([`run`]) calls it on every new configuration version and every few
//!    seconds, so a change made anywhere (pages, other handlers) is indexed without each writer
//!    having to remember.
//! 3. Every [`MEASURE_INTERVAL`] the measurements are recomputed and the listings whose
//!    availability or volume changed are re-indexed, so the availability facet and the
//!    availability and volume orders stay current.
//! 4. [`search`] turns a checked [`SearchRequest`] into the index's query, runs it off the async
//!    threads, and dresses the hits from the shelf; [`process_partners`] and
//!    [`member_partners`] read the shelf alone.

use crate::report::{sla_report, ReportError};
use crate::store::{ListingSource, StoreError};
use crate::Authority;
use psn_api::{
    FacetCounts, FacetValue, Highlighted, ListingCard, MeasuredSummary, MemberPartners,
    MemberProcess, PartnerMember, ProcessConsumer, ProcessLabel, ProcessPartners, SearchHit,
    SearchRequest, SearchResults, SearchSort, SlaReportQuery,
};
use psn_catalogue::{CatalogueIndex, Facet, Listing, ProcessRef, SearchQuery, Snippet, Sort};
use psn_core::federation::ListingSummary;
use psn_core::names::{MemberId, NetworkId, ServiceId};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use time::OffsetDateTime;

/// How often listings' measured columns are recomputed.
pub const MEASURE_INTERVAL: Duration = Duration::from_secs(300);
/// How often the indexer looks at the events trail when no configuration version prompts it.
const CATCH_UP_INTERVAL: Duration = Duration::from_secs(10);
/// Events read from the trail at a time.
const EVENT_BATCH: u64 = 1_000;
/// The synthetic root the Local Government Service List's processes sit under in the process
/// facet: the data places them under no function, and hundreds of top-level values would make
/// the facet useless.
pub const LGSL_ROOT: &str = "lgsl";
/// Other providers shown per process of a member.
const OTHER_PROVIDERS_SHOWN: usize = 10;
/// Consumers and providers listed per process.
const PARTNERS_SHOWN: usize = 200;
/// Longest query string the catalogue's endpoints and pages read.
pub const MAX_QUERY_STRING: usize = 16 * 1024;

/// A catalogue query string's pairs, percent-decoded, for the API and the pages alike.
/// Repeated names (one per selected facet value) are why this is not `Query<T>`.
pub fn query_pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, SearchError> {
    let raw = raw.unwrap_or_default();
    if raw.len() > MAX_QUERY_STRING {
        return Err(SearchError::Invalid(format!(
            "the query string is over {MAX_QUERY_STRING} bytes"
        )));
    }
    Ok(form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// Why the catalogue could not answer or be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The request cannot be answered as asked: the caller's to fix.
    #[error("{0}")]
    Invalid(String),
    /// No such process or member.
    #[error("{0}")]
    NotFound(String),
    /// Reading the registry failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Measuring failed.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The index failed.
    #[error("the search index: {0}")]
    Index(#[from] psn_catalogue::CatalogueError),
}

/// What the network measured of one service, with who consumed it.
#[derive(Debug, Clone, Default)]
struct Measurement {
    summary: MeasuredSummary,
    /// Consumer members and their exchanges in the period.
    consumers: Vec<(MemberId, u64)>,
}

/// Each listing as indexed, with what results show beside it.
#[derive(Default)]
struct Shelf {
    listings: HashMap<String, Listing>,
    declared: HashMap<String, f64>,
    measured: HashMap<String, Measurement>,
    /// The version of each federated partner's view whose listings are indexed.
    partners: HashMap<NetworkId, u64>,
}

/// The catalogue's search index and the shelf behind its results.
pub struct Catalogue {
    index: Arc<CatalogueIndex>,
    shelf: RwLock<Shelf>,
    /// The last event of the trail applied; held while applying, so one indexer runs at a time.
    applied: tokio::sync::Mutex<u64>,
}

impl Catalogue {
    /// An empty catalogue in memory; [`Catalogue::rebuild`] fills it.
    pub fn new() -> Result<Self, SearchError> {
        Ok(Self {
            index: Arc::new(CatalogueIndex::open_in_ram()?),
            shelf: RwLock::new(Shelf::default()),
            applied: tokio::sync::Mutex::new(0),
        })
    }

    /// How many listings are searchable.
    pub fn len(&self) -> u64 {
        self.index.len()
    }

    /// Whether nothing is searchable.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Reads everything afresh (start-up, bulk loads).
    pub async fn rebuild(&self, a: &Authority, now: OffsetDateTime) -> Result<(), SearchError> {
        let mut applied = self.applied.lock().await;
        self.rebuild_locked(a, now, &mut applied).await
    }

    async fn rebuild_locked(
        &self,
        a: &Authority,
        now: OffsetDateTime,
        applied: &mut u64,
    ) -> Result<(), SearchError> {
        // Noted first: events after it are applied again later, which is harmless.
        let seq = a.store.last_event_seq().await?;
        let measured = measure(a, now).await?;
        let declared = declared(a).await?;
        let sources = a.store.listing_sources(None).await?;
        let listings: HashMap<String, Listing> = sources
            .iter()
            .filter(|s| s.searchable())
            .map(|s| {
                let listing = to_listing(a, s, measured.get(&s.record.id.to_string()));
                (listing.service.clone(), listing)
            })
            .collect();
        let all: Vec<Listing> = listings.values().cloned().collect();
        let index = self.index.clone();
        tokio::task::spawn_blocking(move || index.replace_all(&all))
            .await
            .map_err(|e| SearchError::Invalid(format!("indexing stopped: {e}")))??;
        *self.shelf.write().unwrap_or_else(PoisonError::into_inner) = Shelf {
            listings,
            declared,
            measured,
            partners: HashMap::new(),
        };
        *applied = seq;
        self.refresh_partners(a, now).await
    }

    /// Indexes each federated partner's listings as its latest view carries them: those of a
    /// partner whose view changed are replaced, those of a partner removed, or whose view
    /// expired, are dropped. Views arrive and partners go without touching the events trail's
    /// listing events, so this compares the stored views' versions with those indexed.
    async fn refresh_partners(
        &self,
        a: &Authority,
        now: OffsetDateTime,
    ) -> Result<(), SearchError> {
        let live: HashMap<NetworkId, u64> = a
            .store
            .partners()
            .await?
            .into_iter()
            .filter_map(|p| match p.view {
                Some((version, expires)) if now < expires => Some((p.partner.network, version)),
                _ => None,
            })
            .collect();
        let stale: BTreeSet<NetworkId> = {
            let shelf = self.shelf.read().unwrap_or_else(PoisonError::into_inner);
            let changed = |x: &HashMap<NetworkId, u64>, y: &HashMap<NetworkId, u64>| {
                x.iter()
                    .filter(|(n, v)| y.get(*n) != Some(*v))
                    .map(|(n, _)| n.clone())
                    .collect::<Vec<_>>()
            };
            changed(&live, &shelf.partners)
                .into_iter()
                .chain(changed(&shelf.partners, &live))
                .collect()
        };
        if stale.is_empty() {
            return Ok(());
        }
        // A view may relay another network's listings, so what any live view still carries is
        // kept, and every other partner listing goes.
        let mut indexed = HashMap::new();
        let mut upserts = Vec::new();
        let mut kept = BTreeSet::new();
        for network in live.keys() {
            if let Some(view) = a.store.held_view(network).await? {
                kept.extend(view.listings.iter().map(|l| l.service.to_string()));
                if stale.contains(network) {
                    indexed.insert(network.clone(), view.version);
                    upserts.extend(view.listings.iter().map(|l| partner_listing(a, l)));
                }
            }
        }
        let gone: Vec<String> = {
            let shelf = self.shelf.read().unwrap_or_else(PoisonError::into_inner);
            shelf
                .listings
                .values()
                .filter(|l| l.network() != a.network.as_ref())
                .filter(|l| !kept.contains(&l.service))
                .map(|l| l.service.clone())
                .collect()
        };
        let index = self.index.clone();
        let (additions, removals) = (upserts.clone(), gone.clone());
        tokio::task::spawn_blocking(move || {
            for service in &removals {
                index.remove(service)?;
            }
            index.upsert_many(&additions)
        })
        .await
        .map_err(|e| SearchError::Invalid(format!("indexing stopped: {e}")))??;
        let mut shelf = self.shelf.write().unwrap_or_else(PoisonError::into_inner);
        for service in gone {
            shelf.listings.remove(&service);
        }
        for listing in upserts {
            shelf.listings.insert(listing.service.clone(), listing);
        }
        for network in stale {
            match indexed.remove(&network) {
                Some(version) => shelf.partners.insert(network, version),
                None => shelf.partners.remove(&network),
            };
        }
        Ok(())
    }

    /// Applies the events trail since the last call: re-indexes the members and services the
    /// events name. Returns how many events were read.
    pub async fn catch_up(&self, a: &Authority, now: OffsetDateTime) -> Result<u64, SearchError> {
        let mut applied = self.applied.lock().await;
        let mut members = BTreeSet::new();
        let mut slas = false;
        let mut read = 0;
        loop {
            let events = a.store.events(*applied, EVENT_BATCH).await?;
            let Some(last) = events.last().map(|e| e.seq) else {
                break;
            };
            read += events.len() as u64;
            for event in &events {
                match touched(&event.action, &event.target) {
                    Touched::Nothing => {}
                    Touched::Everything => {
                        return self
                            .rebuild_locked(a, now, &mut applied)
                            .await
                            .map(|()| read)
                    }
                    Touched::Member(member) => {
                        slas |= event.action.starts_with("sla.");
                        members.insert(member);
                    }
                }
            }
            *applied = last;
        }
        if slas {
            let declared = declared(a).await?;
            self.shelf
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .declared = declared;
        }
        for member in &members {
            self.reindex_member(a, member).await?;
        }
        self.refresh_partners(a, now).await?;
        Ok(read)
    }

    /// Re-reads one member's listings: upserts them while it is active, removes them (and any
    /// it no longer has) otherwise.
    async fn reindex_member(&self, a: &Authority, member: &MemberId) -> Result<(), SearchError> {
        let sources = a.store.listing_sources(Some(member)).await?;
        let (keep, gone) = {
            let shelf = self.shelf.read().unwrap_or_else(PoisonError::into_inner);
            let keep: Vec<Listing> = sources
                .iter()
                .filter(|s| s.searchable())
                .map(|s| to_listing(a, s, shelf.measured.get(&s.record.id.to_string())))
                .collect();
            let kept: BTreeSet<&str> = keep.iter().map(|l| l.service.as_str()).collect();
            let gone: Vec<String> = shelf
                .listings
                .values()
                .filter(|l| l.provider == member.to_string() && !kept.contains(l.service.as_str()))
                .map(|l| l.service.clone())
                .collect();
            (keep, gone)
        };
        let index = self.index.clone();
        let (upserts, removals) = (keep.clone(), gone.clone());
        tokio::task::spawn_blocking(move || {
            for service in &removals {
                index.remove(service)?;
            }
            index.upsert_many(&upserts)
        })
        .await
        .map_err(|e| SearchError::Invalid(format!("indexing stopped: {e}")))??;
        let mut shelf = self.shelf.write().unwrap_or_else(PoisonError::into_inner);
        for service in gone {
            shelf.listings.remove(&service);
        }
        for listing in keep {
            shelf.listings.insert(listing.service.clone(), listing);
        }
        Ok(())
    }

    /// Recomputes the measured columns and re-indexes the listings whose availability or volume
    /// changed. Returns how many were re-indexed.
    pub async fn remeasure(&self, a: &Authority, now: OffsetDateTime) -> Result<u64, SearchError> {
        let _applied = self.applied.lock().await;
        let measured = measure(a, now).await?;
        let changed: Vec<Listing> = {
            let shelf = self.shelf.read().unwrap_or_else(PoisonError::into_inner);
            shelf
                .listings
                .values()
                .filter_map(|l| {
                    let m = measured.get(&l.service);
                    let availability = m.and_then(|m| m.summary.availability_percent);
                    let calls = m.map_or(0, |m| calls(&m.summary));
                    (availability != l.availability_percent || calls != l.calls_per_day).then(
                        || Listing {
                            availability_percent: availability,
                            calls_per_day: calls,
                            ..l.clone()
                        },
                    )
                })
                .collect()
        };
        let count = changed.len() as u64;
        if !changed.is_empty() {
            let index = self.index.clone();
            let upserts = changed.clone();
            tokio::task::spawn_blocking(move || index.upsert_many(&upserts))
                .await
                .map_err(|e| SearchError::Invalid(format!("indexing stopped: {e}")))??;
        }
        let mut shelf = self.shelf.write().unwrap_or_else(PoisonError::into_inner);
        for listing in changed {
            shelf.listings.insert(listing.service.clone(), listing);
        }
        shelf.measured = measured;
        Ok(count)
    }
}

/// What an event means for the index.
enum Touched {
    Nothing,
    Member(MemberId),
    Everything,
}

fn touched(action: &str, target: &str) -> Touched {
    let family = action.split('.').next().unwrap_or_default();
    match (family, action) {
        (_, "bulk.load" | "member.import") => Touched::Everything,
        ("service" | "sla", _) => target
            .parse::<ServiceId>()
            .map_or(Touched::Nothing, |s| Touched::Member(s.member().clone())),
        ("member", _) | (_, "compliance.services.withhold" | "compliance.services.release") => {
            target
                .parse::<MemberId>()
                .map_or(Touched::Nothing, Touched::Member)
        }
        _ => Touched::Nothing,
    }
}

/// Keeps the catalogue current until `shutdown`: the events trail on every new configuration
/// version and every [`CATCH_UP_INTERVAL`], the measurements every [`MEASURE_INTERVAL`].
pub async fn run(a: Arc<Authority>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut versions = a.publisher.subscribe();
    let mut catch_up = tokio::time::interval(CATCH_UP_INTERVAL);
    let mut remeasure = tokio::time::interval(MEASURE_INTERVAL);
    remeasure.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first ticks are immediate, and the start-up rebuild has just measured.
    remeasure.tick().await;
    loop {
        let outcome = tokio::select! {
            _ = shutdown.changed() => return,
            changed = versions.changed() => match changed {
                Ok(()) => a.catalogue.catch_up(&a, OffsetDateTime::now_utc()).await.map(drop),
                Err(_) => return,
            },
            _ = catch_up.tick() => a.catalogue.catch_up(&a, OffsetDateTime::now_utc()).await.map(drop),
            _ = remeasure.tick() => a.catalogue.remeasure(&a, OffsetDateTime::now_utc()).await.map(drop),
        };
        if let Err(error) = outcome {
            tracing::warn!(%error, "keeping the catalogue index current failed; retrying");
        }
    }
}

/// Every service's measurement over the last 30 days, by service id.
async fn measure(
    a: &Authority,
    now: OffsetDateTime,
) -> Result<HashMap<String, Measurement>, SearchError> {
    let days = crate::catalogue::MEASURED_DAYS;
    let report = sla_report(
        a,
        &SlaReportQuery {
            since: Some(now - time::Duration::days(days)),
            until: Some(now),
            ..SlaReportQuery::default()
        },
        now,
    )
    .await?;
    // Only this network's services: a partner's are measured by the partner, and its own
    // consumers' exchanges here would misstate them.
    Ok(report
        .services
        .into_iter()
        .filter(|s| s.service.member().network() == &a.network)
        .map(|s| {
            let mut consumers: Vec<(MemberId, u64)> = s
                .consumers
                .iter()
                .map(|c| (c.consumer.clone(), c.outcomes.total()))
                .filter(|(_, n)| *n > 0)
                .collect();
            consumers.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
            let summary = MeasuredSummary {
                availability_percent: s.period.availability_percent,
                latency_p50_ms: s.period.latency_p50_ms,
                latency_p95_ms: s.period.latency_p95_ms,
                calls_per_day: s.period.exchanges as f64 / days as f64,
                consumers: consumers.len() as u64,
            };
            (s.service.to_string(), Measurement { summary, consumers })
        })
        .collect())
}

/// Declared availability targets by service id.
async fn declared(a: &Authority) -> Result<HashMap<String, f64>, SearchError> {
    Ok(a.store
        .slas()
        .await?
        .into_iter()
        .map(|s| (s.service.to_string(), s.availability_percent))
        .collect())
}

/// Whole calls per day, as the index sorts by them.
fn calls(summary: &MeasuredSummary) -> u64 {
    // Non-negative and far below u64's range: a count divided by a day count.
    summary.calls_per_day.round().max(0.0) as u64
}

/// The wire name of a serde enum value (`live`, `by-request`).
pub(crate) fn wire_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The index's form of a listing.
fn to_listing(a: &Authority, source: &ListingSource, measured: Option<&Measurement>) -> Listing {
    let record = &source.record;
    let details = &record.details;
    Listing {
        service: record.id.to_string(),
        title: record.title.clone(),
        description: record.description.clone(),
        processes: record
            .processes
            .iter()
            .map(|id| process_ref(a, id))
            .collect(),
        provider: record.id.member().to_string(),
        provider_name: source.provider_name.clone(),
        provider_class: record.id.member().class().as_str().to_owned(),
        sector: source.sector.clone(),
        region: source.region.clone(),
        areas: details.areas.clone(),
        service_type: wire_name(&details.service_type),
        lifecycle: wire_name(&details.lifecycle),
        who_may_apply: wire_name(&details.who_may_apply),
        availability_percent: measured.and_then(|m| m.summary.availability_percent),
        calls_per_day: measured.map_or(0, |m| calls(&m.summary)),
        published_at: source.published_at.unix_timestamp(),
    }
}

/// The index's form of a federated partner's listing: what its view carries, unmeasured.
fn partner_listing(a: &Authority, summary: &ListingSummary) -> Listing {
    let provider = summary.service.member();
    Listing {
        service: summary.service.to_string(),
        title: summary.title.clone(),
        description: summary.description.clone(),
        processes: summary
            .processes
            .iter()
            .map(|id| process_ref(a, id))
            .collect(),
        provider: provider.to_string(),
        provider_name: summary.provider_name.clone(),
        provider_class: provider.class().as_str().to_owned(),
        sector: summary.sector.clone(),
        region: summary.region.clone(),
        areas: summary.areas.clone(),
        service_type: summary.service_type.clone(),
        lifecycle: summary.lifecycle.clone(),
        who_may_apply: summary.who_may_apply.clone(),
        availability_percent: None,
        calls_per_day: 0,
        published_at: summary.published_at.unix_timestamp(),
    }
}

/// A process with its label and the functions above it; the Local Government Service List's
/// under [`LGSL_ROOT`].
fn process_ref(a: &Authority, id: &str) -> ProcessRef {
    let process = a.processes.get(id);
    let mut functions: Vec<String> = process
        .map(|p| a.processes.ancestry(p))
        .unwrap_or_default()
        .into_iter()
        .map(|f| f.id.clone())
        .collect();
    if functions.is_empty() && id.starts_with("lgsl:") {
        functions.push(LGSL_ROOT.to_owned());
    }
    ProcessRef {
        id: id.to_owned(),
        label: process.map_or_else(|| id.to_owned(), |p| p.label.clone()),
        functions,
    }
}

/// The label of a process facet value: a path's last segment or a bare id, as a function or
/// process label.
pub fn process_value_label(a: &Authority, value: &str) -> String {
    let last = value.rsplit('/').next().unwrap_or(value);
    if last == LGSL_ROOT {
        return "Local Government Service List".into();
    }
    a.processes
        .function(last)
        .map(|f| f.label.clone())
        .or_else(|| a.processes.get(last).map(|p| p.label.clone()))
        .unwrap_or_else(|| last.to_owned())
}

/// The card results show for a listing.
fn card(shelf: &Shelf, listing: &Listing) -> Option<ListingCard> {
    let service: ServiceId = listing.service.parse().ok()?;
    Some(ListingCard {
        network: service.member().network().clone(),
        service,
        title: listing.title.clone(),
        provider: listing.provider.parse().ok()?,
        provider_name: listing.provider_name.clone(),
        sector: listing.sector.clone(),
        region: listing.region.clone(),
        processes: listing
            .processes
            .iter()
            .map(|p| ProcessLabel {
                id: p.id.clone(),
                label: p.label.clone(),
            })
            .collect(),
        lifecycle: listing.lifecycle.clone(),
        service_type: listing.service_type.clone(),
        who_may_apply: listing.who_may_apply.clone(),
        declared_availability_percent: shelf.declared.get(&listing.service).copied(),
        measured: shelf
            .measured
            .get(&listing.service)
            .map(|m| m.summary.clone())
            .unwrap_or_default(),
    })
}

fn highlighted(snippet: Snippet) -> Highlighted {
    Highlighted {
        highlights: snippet
            .highlights
            .iter()
            .map(|r| [r.start, r.end])
            .collect(),
        text: snippet.text,
    }
}

/// The index's query for a checked request.
fn index_query(request: &SearchRequest) -> Result<SearchQuery, SearchError> {
    let mut filters = BTreeMap::new();
    for (name, values) in &request.filters {
        let facet = Facet::from_name(name)
            .ok_or_else(|| SearchError::Invalid(format!("there is no facet {name:?}")))?;
        filters.insert(facet, values.clone());
    }
    Ok(SearchQuery {
        text: request.text.clone(),
        filters,
        process_drill: request.drill.clone(),
        sort: match request.sort {
            SearchSort::Relevance => Sort::Relevance,
            SearchSort::Availability => Sort::Availability,
            SearchSort::Volume => Sort::Volume,
            SearchSort::Newest => Sort::Newest,
        },
        offset: request.offset,
        limit: request.limit,
    })
}

/// A page of search results.
pub async fn search(a: &Authority, request: &SearchRequest) -> Result<SearchResults, SearchError> {
    let query = index_query(request)?;
    let index = a.catalogue.index.clone();
    let found = tokio::task::spawn_blocking(move || index.search(&query))
        .await
        .map_err(|e| SearchError::Invalid(format!("search stopped: {e}")))?
        .map_err(|e| match e {
            psn_catalogue::CatalogueError::PageOutOfRange { .. } => {
                SearchError::Invalid(e.to_string())
            }
            other => SearchError::Index(other),
        })?;
    let shelf = a
        .catalogue
        .shelf
        .read()
        .unwrap_or_else(PoisonError::into_inner);
    let hits = found
        .hits
        .into_iter()
        .filter_map(|hit| {
            let card = card(&shelf, shelf.listings.get(&hit.service)?)?;
            Some(SearchHit {
                card,
                title_match: highlighted(hit.title),
                description_match: highlighted(hit.description),
            })
        })
        .collect();
    let facets = found
        .facets
        .into_iter()
        .map(|(facet, counts)| {
            let selected = request.filters.get(facet.name());
            FacetCounts {
                facet: facet.name().to_owned(),
                values: counts
                    .into_iter()
                    .map(|c| FacetValue {
                        label: match facet {
                            Facet::Process => process_value_label(a, &c.value),
                            _ => c.value.clone(),
                        },
                        selected: selected.is_some_and(|s| s.contains(&c.value)),
                        value: c.value,
                        count: c.count,
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(SearchResults {
        total: found.total,
        offset: request.offset,
        limit: request.limit,
        hits,
        facets,
    })
}

/// Best measured availability first, unmeasured last, then by service id.
fn by_quality(x: &ListingCard, y: &ListingCard) -> std::cmp::Ordering {
    let key = |c: &ListingCard| c.measured.availability_percent.unwrap_or(-1.0);
    key(y)
        .total_cmp(&key(x))
        .then_with(|| x.service.cmp(&y.service))
}

/// The active listings supporting process `id` (which the caller has checked), best measured
/// first, at most [`PARTNERS_SHOWN`]: what a benchmark report sets against a member's own cost.
pub fn process_providers(a: &Authority, id: &str) -> Vec<ListingCard> {
    let mut providers: Vec<ListingCard> = {
        let shelf = a
            .catalogue
            .shelf
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        shelf
            .listings
            .values()
            .filter(|l| l.processes.iter().any(|p| p.id == id))
            .filter_map(|l| card(&shelf, l))
            .collect()
    };
    providers.sort_by(by_quality);
    providers.truncate(PARTNERS_SHOWN);
    providers
}

/// Who provides a process through the network, and who consumes those services.
pub async fn process_partners(a: &Authority, id: &str) -> Result<ProcessPartners, SearchError> {
    let process = a.processes.get(id).ok_or_else(|| {
        SearchError::NotFound(format!("there is no process {id:?} in the taxonomy"))
    })?;
    let (mut providers, consumed) = {
        let shelf = a
            .catalogue
            .shelf
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut providers = Vec::new();
        let mut consumed: BTreeMap<MemberId, (BTreeSet<ServiceId>, u64)> = BTreeMap::new();
        for listing in shelf.listings.values() {
            if !listing.processes.iter().any(|p| p.id == process.id) {
                continue;
            }
            let Some(card) = card(&shelf, listing) else {
                continue;
            };
            for (member, exchanges) in shelf
                .measured
                .get(&listing.service)
                .map_or(&[][..], |m| &m.consumers[..])
            {
                let entry = consumed.entry(member.clone()).or_default();
                entry.0.insert(card.service.clone());
                entry.1 += exchanges;
            }
            providers.push(card);
        }
        (providers, consumed)
    };
    providers.sort_by(by_quality);
    providers.truncate(PARTNERS_SHOWN);
    // Most exchanges first, then by id; only those shown are looked up.
    let mut consumed: Vec<(MemberId, (BTreeSet<ServiceId>, u64))> = consumed.into_iter().collect();
    consumed.sort_by(|x, y| y.1 .1.cmp(&x.1 .1).then_with(|| x.0.cmp(&y.0)));
    let mut consumers = Vec::new();
    for (member, (services, exchanges)) in consumed {
        if consumers.len() == PARTNERS_SHOWN {
            break;
        }
        if let Some(member) = partner_member(a, &member).await? {
            consumers.push(ProcessConsumer {
                member,
                services: services.into_iter().collect(),
                exchanges,
            });
        }
    }
    Ok(ProcessPartners {
        process: ProcessLabel {
            id: process.id.clone(),
            label: process.label.clone(),
        },
        providers,
        consumers,
    })
}

async fn partner_member(
    a: &Authority,
    id: &MemberId,
) -> Result<Option<PartnerMember>, SearchError> {
    Ok(a.store.member(id).await?.map(|m| PartnerMember {
        id: m.id,
        name: m.name,
        sector: m.sector,
        region: m.region,
    }))
}

/// The processes a member provides or consumes through the network, and who else provides
/// each.
pub async fn member_partners(a: &Authority, id: &MemberId) -> Result<MemberPartners, SearchError> {
    let member = partner_member(a, id)
        .await?
        .ok_or_else(|| SearchError::NotFound(format!("there is no member {id}")))?;
    let own = id.to_string();
    let shelf = a
        .catalogue
        .shelf
        .read()
        .unwrap_or_else(PoisonError::into_inner);
    // Process id → (provides, consumes).
    let mut runs: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for listing in shelf.listings.values() {
        let provides = listing.provider == own;
        let consumes = shelf
            .measured
            .get(&listing.service)
            .is_some_and(|m| m.consumers.iter().any(|(c, _)| c == id));
        if provides || consumes {
            for process in &listing.processes {
                let entry = runs.entry(process.id.clone()).or_default();
                entry.0 |= provides;
                entry.1 |= consumes;
            }
        }
    }
    let mut others: HashMap<&str, Vec<ListingCard>> = HashMap::new();
    for listing in shelf.listings.values().filter(|l| l.provider != own) {
        for process in &listing.processes {
            if runs.contains_key(&process.id) {
                if let Some(card) = card(&shelf, listing) {
                    others.entry(process.id.as_str()).or_default().push(card);
                }
            }
        }
    }
    let processes = runs
        .iter()
        .map(|(process, &(provides, consumes))| {
            let mut cards = others.remove(process.as_str()).unwrap_or_default();
            cards.sort_by(by_quality);
            let total = cards.len() as u64;
            cards.truncate(OTHER_PROVIDERS_SHOWN);
            MemberProcess {
                process: ProcessLabel {
                    id: process.clone(),
                    label: a
                        .processes
                        .get(process)
                        .map_or_else(|| process.clone(), |p| p.label.clone()),
                },
                provides,
                consumes,
                other_providers: cards,
                other_provider_total: total,
            }
        })
        .collect();
    Ok(MemberPartners { member, processes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_name_what_to_reindex() {
        let member = "GB/LA/E10000016";
        let service = format!("{member}/revenues/council-tax");
        assert!(
            matches!(touched("service.put", &service), Touched::Member(m) if m.to_string() == member)
        );
        assert!(matches!(
            touched("sla.declare", &service),
            Touched::Member(_)
        ));
        assert!(matches!(
            touched("member.suspend", member),
            Touched::Member(_)
        ));
        assert!(matches!(
            touched("bulk.load", "registry"),
            Touched::Everything
        ));
        assert!(matches!(
            touched("member.import", "GB"),
            Touched::Everything
        ));
        assert!(matches!(
            touched("compliance.services.withhold", member),
            Touched::Member(_)
        ));
        assert!(matches!(
            touched("compliance.reminder", member),
            Touched::Nothing
        ));
        assert!(matches!(touched("person.add", "alice"), Touched::Nothing));
        assert!(matches!(touched("grant.add", &service), Touched::Nothing));
        // A target that is not an id names nothing rather than failing the indexer.
        assert!(matches!(
            touched("service.put", "not an id"),
            Touched::Nothing
        ));
    }

    #[test]
    fn quality_order_puts_unmeasured_last() {
        let card = |service: &str, availability: Option<f64>| ListingCard {
            service: service.parse().expect("id"),
            network: "GB".parse().expect("network"),
            title: String::new(),
            provider: "GB/LA/E10000016".parse().expect("id"),
            provider_name: String::new(),
            sector: None,
            region: None,
            processes: vec![],
            lifecycle: "live".into(),
            service_type: "rest".into(),
            who_may_apply: "any-member".into(),
            declared_availability_percent: None,
            measured: MeasuredSummary {
                availability_percent: availability,
                ..MeasuredSummary::default()
            },
        };
        let mut cards = [
            card("GB/LA/E10000016/a/x", None),
            card("GB/LA/E10000016/a/y", Some(99.0)),
            card("GB/LA/E10000016/a/z", Some(99.9)),
        ];
        cards.sort_by(by_quality);
        let order: Vec<String> = cards.iter().map(|c| c.service.to_string()).collect();
        assert_eq!(
            order,
            [
                "GB/LA/E10000016/a/z",
                "GB/LA/E10000016/a/y",
                "GB/LA/E10000016/a/x"
            ]
        );
    }
}
