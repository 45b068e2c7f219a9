//! What goes into the index (a [`Listing`]) and what a search asks and answers.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

/// One service in the catalogue, as the registry knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// The service id, unique in the catalogue, e.g. `GB/LA/E10000016/revenues/council-tax`.
    /// It is the key of [`crate::CatalogueIndex::upsert`] and [`crate::CatalogueIndex::remove`].
    pub service: String,
    /// Short human title (boosted the most in ranking).
    pub title: String,
    /// Free-text description (boosted the least).
    pub description: String,
    /// The business processes the service supports (boosted between title and description).
    pub processes: Vec<ProcessRef>,
    /// The member id of the provider.
    pub provider: String,
    /// The provider's display name, searched like the description (users type "Kent").
    pub provider_name: String,
    /// The provider's class, e.g. `LA`, `NHS`, `POLICE`.
    pub provider_class: String,
    /// Sector, when the registry knows it.
    pub sector: Option<String>,
    /// Region, when the registry knows it.
    pub region: Option<String>,
    /// Areas served (codes or names).
    pub areas: Vec<String>,
    /// `rest`, `soap`, `events` or `files`.
    pub service_type: String,
    /// `discovery`, `alpha`, `beta`, `live`, `deprecated` or `withdrawn`.
    pub lifecycle: String,
    /// `any-member`, `member-classes` or `by-request`.
    pub who_may_apply: String,
    /// Measured availability over the reporting window, or `None` when not measured.
    pub availability_percent: Option<f64>,
    /// Measured volume.
    pub calls_per_day: u64,
    /// When the listing was first published, unix seconds (the "newest" sort).
    pub published_at: i64,
}

impl Listing {
    /// The network the listing belongs to: the first segment of its provider's id (every id
    /// starts with its network, so a federated partner's listings never collide with this
    /// network's, and the network needs no field of its own that could contradict the id).
    pub fn network(&self) -> &str {
        self.provider.split('/').next().unwrap_or_default()
    }
}

/// A business process a service supports, with where it sits in the function hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRef {
    /// The process id, e.g. `lgsl:57`. Searching for the id finds the listing.
    pub id: String,
    /// The process's label, searched as text.
    pub label: String,
    /// The ids of the functions the process belongs to, top-level first, e.g.
    /// `["advice-and-benefits", "benefits"]`. Empty for a process outside any function.
    pub functions: Vec<String>,
}

impl ProcessRef {
    /// The process's facet path: `/` + functions + id joined with `/`, e.g.
    /// `/advice-and-benefits/benefits/lgsl:57`.
    pub fn path(&self) -> String {
        let mut path = String::new();
        for segment in self.functions.iter().chain(std::iter::once(&self.id)) {
            path.push('/');
            path.push_str(segment);
        }
        path
    }
}

/// The facets a search counts and filters by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Facet {
    /// Hierarchical: values are paths (`/function`, `/function/sub-function`,
    /// `/function/sub-function/process-id`) or a bare process id (`lgsl:57`) as a filter.
    Process,
    /// [`Listing::provider_class`].
    ProviderClass,
    /// [`Listing::sector`].
    Sector,
    /// [`Listing::region`].
    Region,
    /// [`Listing::areas`].
    Area,
    /// [`Listing::service_type`].
    ServiceType,
    /// [`Listing::lifecycle`].
    Lifecycle,
    /// [`Listing::who_may_apply`].
    WhoMayApply,
    /// [`Listing::network`]: this network's own listings and each federated partner's.
    Network,
    /// [`availability_band`] of [`Listing::availability_percent`].
    Availability,
}

impl Facet {
    /// Every facet, in display order.
    pub const ALL: [Facet; 10] = [
        Facet::Process,
        Facet::ProviderClass,
        Facet::Sector,
        Facet::Region,
        Facet::Area,
        Facet::ServiceType,
        Facet::Lifecycle,
        Facet::WhoMayApply,
        Facet::Network,
        Facet::Availability,
    ];

    /// The facet's name in the index and in URLs.
    pub fn name(self) -> &'static str {
        match self {
            Facet::Process => "process",
            Facet::ProviderClass => "provider_class",
            Facet::Sector => "sector",
            Facet::Region => "region",
            Facet::Area => "area",
            Facet::ServiceType => "service_type",
            Facet::Lifecycle => "lifecycle",
            Facet::WhoMayApply => "who_may_apply",
            Facet::Network => "network",
            Facet::Availability => "availability",
        }
    }

    /// The facet of a name from [`Facet::name`].
    pub fn from_name(name: &str) -> Option<Facet> {
        Facet::ALL.into_iter().find(|facet| facet.name() == name)
    }

    /// The facet's values for a listing, without duplicates, so each listing counts once per
    /// value. For [`Facet::Process`]: every prefix path of every process, plus the bare ids.
    pub fn values(self, listing: &Listing) -> BTreeSet<String> {
        let mut values = BTreeSet::new();
        match self {
            Facet::Process => {
                for process in &listing.processes {
                    let mut path = String::new();
                    for segment in process.functions.iter().chain(std::iter::once(&process.id)) {
                        path.push('/');
                        path.push_str(segment);
                        values.insert(path.clone());
                    }
                    values.insert(process.id.clone());
                }
            }
            Facet::ProviderClass => {
                values.insert(listing.provider_class.clone());
            }
            Facet::Sector => values.extend(listing.sector.clone()),
            Facet::Region => values.extend(listing.region.clone()),
            Facet::Area => values.extend(listing.areas.iter().cloned()),
            Facet::ServiceType => {
                values.insert(listing.service_type.clone());
            }
            Facet::Lifecycle => {
                values.insert(listing.lifecycle.clone());
            }
            Facet::WhoMayApply => {
                values.insert(listing.who_may_apply.clone());
            }
            Facet::Network => {
                values.insert(listing.network().to_owned());
            }
            Facet::Availability => {
                values.insert(availability_band(listing.availability_percent).to_owned());
            }
        }
        values.retain(|value| !value.is_empty());
        values
    }
}

/// The availability band of a measured availability: `>=99.9`, `99-99.9`, `95-99`, `<95` or
/// `unmeasured`. Bands rather than raw figures so that the facet has a handful of values.
pub fn availability_band(percent: Option<f64>) -> &'static str {
    match percent {
        None => "unmeasured",
        Some(p) if p.is_nan() => "unmeasured",
        Some(p) if p >= 99.9 => ">=99.9",
        Some(p) if p >= 99.0 => "99-99.9",
        Some(p) if p >= 95.0 => "95-99",
        Some(_) => "<95",
    }
}

/// The order of the hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Best match first (BM25 with field boosts); for an empty query, index order.
    #[default]
    Relevance,
    /// Highest measured availability first; unmeasured last.
    Availability,
    /// Most calls per day first.
    Volume,
    /// Most recently published first.
    Newest,
}

/// A search, as the web UI or API asks it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchQuery {
    /// The user's words. Not a query language: every character that is not a letter or digit
    /// separates words (except `:` inside a process id such as `lgsl:57`). Empty (or only
    /// punctuation) means every listing.
    pub text: String,
    /// Filters: OR within a facet, AND across facets. An empty set is no filter.
    pub filters: BTreeMap<Facet, BTreeSet<String>>,
    /// For [`Facet::Process`], whose children to count: `None` counts the top-level functions,
    /// `Some("/advice-and-benefits")` its sub-functions and processes, and so on down.
    pub process_drill: Option<String>,
    /// The order of the hits.
    pub sort: Sort,
    /// How many hits to skip; at most [`crate::MAX_OFFSET`].
    pub offset: u64,
    /// How many hits to return; capped at [`crate::MAX_LIMIT`].
    pub limit: u64,
}

/// What a search found.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    /// How many listings match the text and every filter.
    pub total: u64,
    /// The requested page of them.
    pub hits: Vec<Hit>,
    /// For each facet, its values and how many listings match the text and the *other* facets'
    /// filters with that value: counts ordered by count descending, then value. Values selected
    /// in the filter are always present, with count 0 if nothing matches.
    pub facets: BTreeMap<Facet, Vec<FacetCount>>,
}

/// One listing in a page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The service id.
    pub service: String,
    /// The ranking score (0 for an empty query); only comparable within one search.
    pub score: f32,
    /// The whole title, with the matched words marked.
    pub title: Snippet,
    /// A passage of the description around the first matched word, with matched words marked.
    pub description: Snippet,
}

/// Plain text plus the byte ranges of the words the query matched. Not HTML: the caller escapes
/// the text and wraps the ranges itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snippet {
    /// The text (may start or end with `…` where the passage was cut).
    pub text: String,
    /// Byte ranges into `text`, in order, not overlapping, on character boundaries.
    pub highlights: Vec<Range<usize>>,
}

/// A facet value and how many listings have it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacetCount {
    /// The value (for [`Facet::Process`], a path).
    pub value: String,
    /// How many listings.
    pub count: u64,
}
