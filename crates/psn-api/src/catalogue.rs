//! The catalogue's search and partner finder as the API carries them: the query (one form for
//! the API's query string, the web UI's filter form and the CLI's flags), the page of hits with
//! their highlighted text and facet counts, and who provides and consumes a process.

use psn_core::names::{MemberId, NetworkId, ServiceId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Longest search text, in characters.
pub const MAX_SEARCH_TEXT: usize = 200;
/// Most values one facet filter may hold.
pub const MAX_FILTER_VALUES: usize = 50;
/// Longest facet filter value, in characters.
pub const MAX_FILTER_VALUE: usize = 200;
/// Largest page of search hits.
pub const MAX_SEARCH_LIMIT: u64 = 100;
/// Furthest a search may page.
pub const MAX_SEARCH_OFFSET: u64 = 10_000;
/// Default page of search hits.
pub const DEFAULT_SEARCH_LIMIT: u64 = 20;

/// The facets a search filters by and counts, by their names in query strings.
pub const SEARCH_FACETS: [&str; 10] = [
    "process",
    "provider_class",
    "sector",
    "region",
    "area",
    "service_type",
    "lifecycle",
    "who_may_apply",
    "network",
    "availability",
];

/// The order of search hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SearchSort {
    /// Best match first.
    #[default]
    Relevance,
    /// Highest measured availability first, unmeasured last.
    Availability,
    /// Most calls per day first.
    Volume,
    /// Most recently published first.
    Newest,
}

impl SearchSort {
    /// Every order, as offered.
    pub const ALL: [SearchSort; 4] = [
        SearchSort::Relevance,
        SearchSort::Availability,
        SearchSort::Volume,
        SearchSort::Newest,
    ];

    /// The name in query strings.
    pub fn as_str(self) -> &'static str {
        match self {
            SearchSort::Relevance => "relevance",
            SearchSort::Availability => "availability",
            SearchSort::Volume => "volume",
            SearchSort::Newest => "newest",
        }
    }
}

/// A catalogue search: words, facet filters (OR within a facet, AND across), the process level
/// whose children are counted, order and page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchRequest {
    /// The words; empty means every listing.
    pub text: String,
    /// Facet name (one of [`SEARCH_FACETS`]) to the values selected.
    pub filters: BTreeMap<String, BTreeSet<String>>,
    /// The process path whose children the process facet counts (`/psnf:1`); none for the top.
    pub drill: Option<String>,
    /// Order.
    pub sort: SearchSort,
    /// Hits to skip.
    pub offset: u64,
    /// Hits to return.
    pub limit: u64,
}

/// Why a search request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SearchRequestError(pub String);

fn clean(what: &str, value: &str, max: usize) -> Result<(), SearchRequestError> {
    if value.chars().count() > max {
        return Err(SearchRequestError(format!(
            "{what} must be at most {max} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(SearchRequestError(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(())
}

impl SearchRequest {
    /// The request from query-string pairs (`q`, a facet name per selected value, `drill`,
    /// `sort`, `offset`, `limit`), checked. Unknown names are refused rather than ignored, so a
    /// misspelt filter cannot silently widen a search. Empty values are skipped: an HTML form
    /// sends its empty fields.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, SearchRequestError> {
        let mut request = SearchRequest {
            limit: DEFAULT_SEARCH_LIMIT,
            ..SearchRequest::default()
        };
        let mut seen = BTreeSet::new();
        for (name, value) in pairs {
            let single = matches!(name, "q" | "drill" | "sort" | "offset" | "limit");
            if single && !seen.insert(name) {
                return Err(SearchRequestError(format!("{name} may be given once")));
            }
            if value.is_empty() {
                continue;
            }
            match name {
                "q" => {
                    clean("q", value, MAX_SEARCH_TEXT)?;
                    request.text = value.to_owned();
                }
                "drill" => {
                    clean("drill", value, MAX_FILTER_VALUE)?;
                    request.drill = Some(value.to_owned());
                }
                "sort" => {
                    request.sort = SearchSort::ALL
                        .into_iter()
                        .find(|s| s.as_str() == value)
                        .ok_or_else(|| {
                            SearchRequestError(
                                "sort must be relevance, availability, volume or newest".into(),
                            )
                        })?;
                }
                "offset" => request.offset = number("offset", value, MAX_SEARCH_OFFSET)?,
                "limit" => {
                    request.limit = number("limit", value, MAX_SEARCH_LIMIT)?;
                    if request.limit == 0 {
                        return Err(SearchRequestError(format!(
                            "limit must be from 1 to {MAX_SEARCH_LIMIT}"
                        )));
                    }
                }
                facet if SEARCH_FACETS.contains(&facet) => {
                    clean(facet, value, MAX_FILTER_VALUE)?;
                    let values = request.filters.entry(facet.to_owned()).or_default();
                    values.insert(value.to_owned());
                    if values.len() > MAX_FILTER_VALUES {
                        return Err(SearchRequestError(format!(
                            "{facet} may name at most {MAX_FILTER_VALUES} values"
                        )));
                    }
                }
                other => {
                    return Err(SearchRequestError(format!(
                        "unknown search parameter {:?}; see /openapi.json",
                        other.chars().take(40).collect::<String>()
                    )))
                }
            }
        }
        Ok(request)
    }

    /// The request as query-string pairs, the inverse of [`SearchRequest::from_pairs`].
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        if !self.text.is_empty() {
            pairs.push(("q".to_owned(), self.text.clone()));
        }
        for (facet, values) in &self.filters {
            pairs.extend(values.iter().map(|v| (facet.clone(), v.clone())));
        }
        if let Some(drill) = &self.drill {
            pairs.push(("drill".to_owned(), drill.clone()));
        }
        if self.sort != SearchSort::Relevance {
            pairs.push(("sort".to_owned(), self.sort.as_str().to_owned()));
        }
        if self.offset != 0 {
            pairs.push(("offset".to_owned(), self.offset.to_string()));
        }
        pairs.push(("limit".to_owned(), self.limit.to_string()));
        pairs
    }
}

fn number(what: &str, value: &str, max: u64) -> Result<u64, SearchRequestError> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| SearchRequestError(format!("{what} must be a whole number up to {max}")))
}

/// A process a listing names, with its label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessLabel {
    /// `lgsl:57`, `psn:1001`.
    pub id: String,
    /// Its label in the taxonomy.
    pub label: String,
}

/// What the network measured of a service over the last 30 days.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MeasuredSummary {
    /// Availability; none when nothing was judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_percent: Option<f64>,
    /// Median latency of successful exchanges, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p50_ms: Option<u64>,
    /// 95th percentile latency of successful exchanges, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p95_ms: Option<u64>,
    /// Exchanges per day.
    pub calls_per_day: f64,
    /// Members that made at least one exchange.
    pub consumers: u64,
}

/// A listing as search results and the partner finder show it: enough to choose, with the
/// declared service level beside the measured one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListingCard {
    /// The service.
    pub service: ServiceId,
    /// The network it belongs to: this one, or a federated partner whose view exported it
    /// (then `measured` is empty: this network does not measure a partner's services).
    pub network: NetworkId,
    /// Its title.
    pub title: String,
    /// The provider member.
    pub provider: MemberId,
    /// The provider's name.
    pub provider_name: String,
    /// The provider's sector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// The provider's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The processes it supports.
    pub processes: Vec<ProcessLabel>,
    /// Lifecycle stage (`live`, `beta`, …).
    pub lifecycle: String,
    /// REST, SOAP, events or files.
    pub service_type: String,
    /// Who may apply for access.
    pub who_may_apply: String,
    /// The availability the provider declares, where it declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_availability_percent: Option<f64>,
    /// What the network measured.
    pub measured: MeasuredSummary,
}

/// Text with the byte ranges a search matched, for the reader to mark. Never HTML.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Highlighted {
    /// The text.
    pub text: String,
    /// `[start, end)` byte ranges into `text`, in order, on character boundaries.
    pub highlights: Vec<[usize; 2]>,
}

/// One search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// The listing.
    #[serde(flatten)]
    pub card: ListingCard,
    /// The title with matched words.
    pub title_match: Highlighted,
    /// A passage of the description around the first matched word.
    pub description_match: Highlighted,
}

/// A facet value and how many listings have it under the other facets' filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetValue {
    /// The value as filters name it.
    pub value: String,
    /// For people (a process or function label; otherwise the value).
    pub label: String,
    /// Matching listings.
    pub count: u64,
    /// Whether the request filters by it.
    pub selected: bool,
}

/// One facet's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetCounts {
    /// Its name (one of [`SEARCH_FACETS`]).
    pub facet: String,
    /// Values by count, then value.
    pub values: Vec<FacetValue>,
}

/// A page of search results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    /// Listings matching the words and every filter.
    pub total: u64,
    /// Hits skipped.
    pub offset: u64,
    /// Page size asked for.
    pub limit: u64,
    /// This page.
    pub hits: Vec<SearchHit>,
    /// Counts per facet.
    pub facets: Vec<FacetCounts>,
}

/// A member in the partner finder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerMember {
    /// Member id.
    pub id: MemberId,
    /// Official name.
    pub name: String,
    /// Sector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// A member that consumes services supporting a process, and which.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessConsumer {
    /// The member.
    pub member: PartnerMember,
    /// Services of the process it called in the last 30 days.
    pub services: Vec<ServiceId>,
    /// Its exchanges with them over the period.
    pub exchanges: u64,
}

/// Who else runs a process: its providers' listings and the members that consume them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessPartners {
    /// The process.
    pub process: ProcessLabel,
    /// Listings supporting it, best measured availability first.
    pub providers: Vec<ListingCard>,
    /// Members consuming them, most exchanges first.
    pub consumers: Vec<ProcessConsumer>,
}

/// A process a member runs (provides or consumes through psn) and who else could serve it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberProcess {
    /// The process.
    pub process: ProcessLabel,
    /// Whether the member provides it.
    pub provides: bool,
    /// Whether the member consumes a service supporting it.
    pub consumes: bool,
    /// Other members' listings supporting it, best measured availability first (at most 10).
    pub other_providers: Vec<ListingCard>,
    /// How many other members' listings support it in all.
    pub other_provider_total: u64,
}

/// A member's processes and who could serve them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberPartners {
    /// The member.
    pub member: PartnerMember,
    /// Its processes, by id.
    pub processes: Vec<MemberProcess>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip_and_repeat_facets() {
        let request = SearchRequest::from_pairs([
            ("q", "payroll"),
            ("sector", "local-government"),
            ("sector", "health"),
            ("process", "lgsl:57"),
            ("sort", "volume"),
            ("offset", "20"),
            ("limit", "10"),
            ("region", ""),
        ])
        .expect("valid");
        assert_eq!(request.filters["sector"].len(), 2);
        assert!(!request.filters.contains_key("region"));
        let pairs = request.to_pairs();
        let back = SearchRequest::from_pairs(pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())))
            .expect("round trip");
        assert_eq!(back, request);
    }

    #[test]
    fn hostile_requests_are_refused_with_reasons() {
        let long = "x".repeat(MAX_SEARCH_TEXT + 1);
        let many: Vec<String> = (0..=MAX_FILTER_VALUES).map(|i| i.to_string()).collect();
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![("q", long.as_str())], "at most"),
            (vec![("q", "a\u{0}b")], "control"),
            (vec![("colour", "red")], "unknown search parameter"),
            (vec![("sort", "price")], "sort must be"),
            (vec![("limit", "0")], "limit must be"),
            (vec![("limit", "101")], "limit must be"),
            (vec![("offset", "-1")], "offset must be"),
            (vec![("offset", "10001")], "offset must be"),
            (vec![("q", "a"), ("q", "b")], "once"),
        ];
        for (pairs, expected) in cases {
            let error = SearchRequest::from_pairs(pairs.clone()).expect_err("refused");
            assert!(error.0.contains(expected), "{pairs:?}: {error}");
        }
        let error = SearchRequest::from_pairs(many.iter().map(|v| ("area", v.as_str())))
            .expect_err("too many values");
        assert!(error.0.contains("at most 50 values"), "{error}");
    }
}
