//! [`CatalogueIndex`]: the index, its writer and its reader.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;

use tantivy::directory::MmapDirectory;
use tantivy::schema::Value;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::collector::CatalogueCollector;
use crate::error::CatalogueError;
use crate::facets::FacetCache;
use crate::highlight;
use crate::model::{Facet, FacetCount, Hit, Listing, SearchQuery, SearchResult};
use crate::query;
use crate::schema::{self, Fields};

/// The deepest page a search may start at: deeper paging costs memory per search and nobody
/// reads page 500; narrowing the search is the answer.
pub const MAX_OFFSET: u64 = 10_000;
/// The most hits a page may have; larger limits are capped to it.
pub const MAX_LIMIT: u64 = 100;

/// Memory the writer may buffer before flushing a segment (tantivy needs at least 15 MB).
const WRITER_MEMORY: usize = 50_000_000;

/// The catalogue's search index. Cheap to share (`Arc`) between request handlers: searches run
/// concurrently; updates are serialised by an internal lock.
pub struct CatalogueIndex {
    index: Index,
    fields: Fields,
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    facets: FacetCache,
}

impl std::fmt::Debug for CatalogueIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogueIndex")
            .field("listings", &self.len())
            .finish_non_exhaustive()
    }
}

impl CatalogueIndex {
    /// A new, empty index in memory (the authority rebuilds it from the registry at start-up
    /// with [`CatalogueIndex::replace_all`]).
    pub fn open_in_ram() -> Result<Self, CatalogueError> {
        let (schema, fields) = schema::build();
        Self::with_index(Index::create_in_ram(schema), fields)
    }

    /// The index in `dir` (created if empty), which survives restarts. Fails if `dir` holds an
    /// index with another schema: delete the directory and rebuild.
    pub fn open_in_dir(dir: &Path) -> Result<Self, CatalogueError> {
        let (schema, fields) = schema::build();
        let index = Index::open_or_create(MmapDirectory::open(dir)?, schema)?;
        Self::with_index(index, fields)
    }

    fn with_index(index: Index, fields: Fields) -> Result<Self, CatalogueError> {
        // One indexing thread: listings keep the order they were added in, so ties in sorting
        // break the same way on every rebuild, and updates are small anyway.
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY)?;
        // Reloaded by hand after each commit, so an update is visible when it returns.
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let catalogue = CatalogueIndex {
            index,
            fields,
            writer: Mutex::new(writer),
            reader,
            facets: FacetCache::default(),
        };
        catalogue
            .facets
            .for_searcher(&catalogue.reader.searcher())?;
        Ok(catalogue)
    }

    /// How many listings the index holds.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Whether the index holds no listing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a listing, or replaces the listing with the same service id.
    ///
    /// Visibility: when this returns `Ok`, the change is committed (durable, for an index in a
    /// directory) and every search that starts afterwards, on any thread, sees it; searches
    /// already running finish on the state they started with.
    pub fn upsert(&self, listing: &Listing) -> Result<(), CatalogueError> {
        self.upsert_many(std::slice::from_ref(listing))
    }

    /// [`CatalogueIndex::upsert`] for several listings, with one commit (cheaper than one each).
    pub fn upsert_many(&self, listings: &[Listing]) -> Result<(), CatalogueError> {
        self.update(|writer, fields| {
            for listing in listings {
                check(listing)?;
                writer.delete_term(Term::from_field_text(fields.service, &listing.service));
                writer.add_document(schema::document(fields, listing))?;
            }
            Ok(())
        })
    }

    /// Removes the listing with this service id, if any. Same visibility as
    /// [`CatalogueIndex::upsert`].
    pub fn remove(&self, service: &str) -> Result<(), CatalogueError> {
        self.update(|writer, fields| {
            writer.delete_term(Term::from_field_text(fields.service, service));
            Ok(())
        })
    }

    /// Replaces the whole index with these listings, in one commit (start-up, or repair after
    /// the registry and the index disagree). Searches see the old set until it returns.
    pub fn replace_all(&self, listings: &[Listing]) -> Result<(), CatalogueError> {
        self.update(|writer, fields| {
            writer.delete_all_documents()?;
            for listing in listings {
                check(listing)?;
                writer.add_document(schema::document(fields, listing))?;
            }
            Ok(())
        })
    }

    /// Applies `change` and commits, or rolls back if it fails, then makes the commit visible.
    fn update(
        &self,
        change: impl FnOnce(&mut IndexWriter, &Fields) -> Result<(), CatalogueError>,
    ) -> Result<(), CatalogueError> {
        let mut writer = self
            .writer
            .lock()
            .map_err(|_| CatalogueError::WriterPoisoned)?;
        if let Err(error) = change(&mut writer, &self.fields) {
            writer.rollback()?;
            return Err(error);
        }
        writer.commit()?;
        self.reader.reload()?;
        // New segments' facet arrays are built here, by the writer, not by the next search.
        self.facets.for_searcher(&self.reader.searcher())?;
        Ok(())
    }

    /// Searches: the page of hits, the total, and the facet counts, from one pass over the
    /// listings matching the words (see the crate docs for the counting rule).
    pub fn search(&self, search: &SearchQuery) -> Result<SearchResult, CatalogueError> {
        if search.offset > MAX_OFFSET {
            return Err(CatalogueError::PageOutOfRange {
                offset: search.offset,
                max: MAX_OFFSET,
            });
        }
        let limit = search.limit.min(MAX_LIMIT);
        let terms = query::parse(&search.text);
        let tantivy_query = query::build(&self.fields, &terms);
        // Both are bounded by the constants above, far below usize::MAX.
        let keep = usize::try_from(search.offset + limit).unwrap_or(usize::MAX);
        let searcher = self.reader.searcher();
        let collector = CatalogueCollector {
            query: search,
            keep,
            scored: !terms.is_empty(),
            segments: self.facets.for_searcher(&searcher)?,
        };
        let collected = searcher.search(tantivy_query.as_ref(), &collector)?;

        let mut hits = Vec::new();
        for ranked in collected
            .best
            .iter()
            .skip(usize::try_from(search.offset).unwrap_or(usize::MAX))
        {
            let doc: TantivyDocument = searcher.doc(ranked.address)?;
            let text = |field| {
                doc.get_first(field)
                    .and_then(|value| value.as_str())
                    .unwrap_or_default()
            };
            hits.push(Hit {
                service: text(self.fields.service).to_owned(),
                score: if terms.is_empty() { 0.0 } else { ranked.score },
                title: highlight::whole(text(self.fields.title), &terms),
                description: highlight::passage(text(self.fields.description), &terms),
            });
        }

        let mut facets = BTreeMap::new();
        for (facet, counts) in Facet::ALL.into_iter().zip(collected.counts) {
            let selected = search.filters.get(&facet);
            facets.insert(
                facet,
                facet_counts(facet, counts, selected, search.process_drill.as_deref()),
            );
        }
        Ok(SearchResult {
            total: collected.total,
            hits,
            facets,
        })
    }

    /// The underlying tantivy index, for diagnostics (segment counts, space used).
    pub fn tantivy_index(&self) -> &Index {
        &self.index
    }
}

fn check(listing: &Listing) -> Result<(), CatalogueError> {
    if listing.service.trim().is_empty() {
        return Err(CatalogueError::InvalidListing(format!(
            "a listing titled {:?} has no service id",
            listing.title
        )));
    }
    Ok(())
}

/// The counts shown for a facet: for the process facet, only the children of the drill-down
/// path; selected values always present; by count descending, then value.
pub(crate) fn facet_counts(
    facet: Facet,
    counts: impl IntoIterator<Item = (String, u64)>,
    selected: Option<&BTreeSet<String>>,
    process_drill: Option<&str>,
) -> Vec<FacetCount> {
    let shown = |value: &str| facet != Facet::Process || is_child(value, process_drill);
    let mut values: BTreeMap<String, u64> = counts
        .into_iter()
        .filter(|(value, _)| shown(value))
        .collect();
    for value in selected.into_iter().flatten() {
        values.entry(value.clone()).or_insert(0);
    }
    let mut list: Vec<FacetCount> = values
        .into_iter()
        .map(|(value, count)| FacetCount { value, count })
        .collect();
    list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    list
}

/// Whether a process facet value is a direct child of the drill-down path (of the root when
/// `None`). Bare process ids (no leading `/`) are filter values, never shown.
fn is_child(value: &str, parent: Option<&str>) -> bool {
    let parent = parent.unwrap_or("").trim_end_matches('/');
    value
        .strip_prefix(parent)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
}
