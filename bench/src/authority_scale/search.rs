//! Catalogue search at national scale (issue 16): a realistic mix of queries against the running
//! authority's `GET /v1/catalogue/search` over TLS, every one with its facet counts, timed end to
//! end from this process. The anchor is `GET /v1/health` on the same connection, interleaved
//! query by query, so the figures can be read as a ratio to what any request costs here.

use super::measure::Step;
use anyhow::Context;
use psn_api::{AuthorityClient, SearchRequest};
use serde::Serialize;
use std::time::Instant;

/// Search figures.
#[derive(Debug, Clone, Serialize)]
pub struct SearchFigures {
    /// Listings the index held.
    pub listings: u64,
    /// Every query of the mix (with facets).
    pub search: Step,
    /// `GET /v1/health`, interleaved with the searches.
    pub anchor: Step,
    /// The mix, as (query string, share of the runs).
    pub mix: Vec<(String, usize)>,
}

/// The query mix: what people type into a catalogue (one word, a prefix, a typo, two words),
/// what the pages' facets send (a process, a sector, a class), and the two combined with an
/// order other than relevance.
const MIX: &[&[(&str, &str)]] = &[
    &[("q", "council")],
    &[("q", "tax")],
    &[("q", "waste collection")],
    &[("q", "parking")],
    &[("q", "coun")],
    &[("q", "licen")],
    &[("q", "cuncil")],
    &[("q", "parkng")],
    &[("process", "lgsl:58")],
    &[("process", "/psnf:4")],
    &[("sector", "local-government")],
    &[("provider_class", "LA"), ("availability", "unmeasured")],
    &[
        ("q", "benefit"),
        ("provider_class", "LA"),
        ("sort", "newest"),
    ],
    &[("q", "school"), ("sort", "volume")],
    &[],
    &[("q", "housing"), ("offset", "100")],
];

/// Runs the mix `rounds` times (each query once a round, with a health check before each).
pub async fn measure(operator: &AuthorityClient, rounds: usize) -> anyhow::Result<SearchFigures> {
    let requests: Vec<SearchRequest> = MIX
        .iter()
        .map(|pairs| SearchRequest::from_pairs(pairs.iter().copied()))
        .collect::<Result<_, _>>()
        .context("the benchmark's query mix")?;
    // One untimed pass: connections open, caches warm, as in a running authority.
    let everything = operator.search(&requests[requests.len() - 2]).await?;
    for request in &requests {
        operator.search(request).await?;
    }
    let mut search = Vec::with_capacity(rounds * requests.len());
    let mut anchor = Vec::with_capacity(rounds * requests.len());
    for _ in 0..rounds {
        for request in &requests {
            let started = Instant::now();
            operator.health().await?;
            anchor.push(started.elapsed().as_secs_f64() * 1e3);
            let started = Instant::now();
            let found = operator.search(request).await?;
            search.push(started.elapsed().as_secs_f64() * 1e3);
            anyhow::ensure!(
                !found.facets.is_empty(),
                "a search came back without facet counts"
            );
        }
    }
    Ok(SearchFigures {
        listings: everything.total,
        search: Step::new("catalogue search, with facets", search),
        anchor: Step::new("GET /v1/health (anchor)", anchor),
        mix: MIX
            .iter()
            .map(|pairs| {
                let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                (text.join("&"), rounds)
            })
            .collect(),
    })
}
