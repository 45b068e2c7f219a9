//! The catalogue's search engine: full-text search over the registry's service listings, with
//! relevance ranking, prefix and typo-tolerant matching, highlighted snippets, exact facet
//! counts, sorting and pagination, on [tantivy].
//!
//! # Data flow
//!
//! 1. The registry is the source of truth. At start-up the authority loads every listing and
//!    calls [`CatalogueIndex::replace_all`] (an index in a directory, from
//!    [`CatalogueIndex::open_in_dir`], survives restarts; one from
//!    [`CatalogueIndex::open_in_ram`] is rebuilt each time).
//! 2. On every listing change the registry calls [`CatalogueIndex::upsert`] (delete by service id,
//!    then add) or [`CatalogueIndex::remove`]. Each commits and reloads the reader before
//!    returning, so **a search started after the call returns sees the change** (read your
//!    writes, on every thread); a search already running finishes on its snapshot. No full
//!    rebuild: tantivy writes a small segment per commit and merges segments in the background.
//! 3. The web UI and API turn a request into a [`SearchQuery`] and call
//!    [`CatalogueIndex::search`], which returns a [`SearchResult`]: total, a page of [`Hit`]s
//!    with [`Snippet`]s (plain text + byte ranges to highlight, never HTML: the UI escapes the
//!    text) and [`FacetCount`]s per [`Facet`].
//!
//! # Matching and ranking
//!
//! The user's text is *not* a query language: it is split into words by this crate (letters and
//! digits; anything else separates, so `title:x AND (` is the words `title`, `x`, `and`), bounded
//! to [`MAX_QUERY_CHARS`] characters and [`MAX_QUERY_TERMS`] distinct words. Every word must
//! match (AND) in the title, the process labels, the description or the provider's name; it
//! matches exactly (BM25, boosted title 3 > process 2 > description 1 = provider name 1), as a
//! prefix (`coun` → council) or with one typo (two for words of eight letters or more;
//! `paryoll` → payroll), the last two against one field holding all the text and again against
//! the title (so titles rank first), at constant scores below an exact word's, so exact words
//! rank first. A word like `lgsl:57` matches
//! listings supporting that process id (or else having the words `lgsl` and `57`). No words (an empty or
//! all-punctuation query) means every listing.
//!
//! # Facets
//!
//! Filters are OR within a facet and AND across facets. Each facet's counts are computed under
//! the text and the *other* facets' filters (not its own): the usual rule for "filter a list"
//! UIs, because the count next to an unticked value then says how many results ticking it adds,
//! and ticking a value does not zero its siblings. Counts are exact, from one pass over the
//! listings matching the words (see `collector.rs`): a listing failing no filter is a hit and
//! counts for every facet; failing exactly one facet's filter it counts for that facet only.
//! Each segment's facet values are kept as plain arrays (`facets.rs`, about 4 bytes per listing
//! per facet), built when a commit makes the segment visible, so that pass is cheap.
//!
//! The process facet is hierarchical: each listing carries the path of every process
//! (`/function/sub-function/process-id`, from [`ProcessRef::functions`]) and all its prefixes, so
//! filtering by `/advice-and-benefits` selects every listing with a process anywhere under it.
//! Counts show the children of [`SearchQuery::process_drill`] (the top-level functions by
//! default); a bare process id (`lgsl:57`) also works as a filter value.
//!
//! # Sorting and pages
//!
//! [`Sort`]: relevance, availability (unmeasured last), volume, newest; ties by relevance, then
//! index order. Pages: `offset` up to [`MAX_OFFSET`] (beyond is
//! [`CatalogueError::PageOutOfRange`]; beyond the total is an empty page), `limit` capped at
//! [`MAX_LIMIT`].
//!
//! # Benchmark
//!
//! `cargo bench -p psn-catalogue` builds an index of 100,000 synthetic listings from 25,000
//! members and reports p50/p99 latency of a realistic query mix (see `benches/search.rs` and the
//! crate's README).

mod collector;
mod error;
mod facets;
mod highlight;
mod index;
mod model;
mod query;
mod schema;

pub use error::CatalogueError;
pub use index::{CatalogueIndex, MAX_LIMIT, MAX_OFFSET};
pub use model::{
    availability_band, Facet, FacetCount, Hit, Listing, ProcessRef, SearchQuery, SearchResult,
    Snippet, Sort,
};
pub use query::{MAX_QUERY_CHARS, MAX_QUERY_TERMS};
