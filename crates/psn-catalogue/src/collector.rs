//! One pass over the documents matching the words that yields both the page of hits (documents
//! passing every filter) and the facet counts (each facet counted under the *other* facets'
//! filters), so that facet counts cost no extra searches.
//!
//! For each matching document the collector reads its facet values from the fast-field columns
//! and finds which facets' filters it fails:
//!
//! - none: it is a hit, and counts toward every facet;
//! - exactly one, `F`: it counts toward `F`'s values only (it is what selecting another value of
//!   `F` would add);
//! - two or more: it counts nowhere.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

use crate::model::{Facet, SearchQuery, Sort};
use crate::schema;

const FACETS: usize = Facet::ALL.len();

/// The collector of one search.
pub struct CatalogueCollector<'q> {
    pub query: &'q SearchQuery,
    /// How many of the best hits to keep: offset + limit.
    pub keep: usize,
    /// Whether the query has words (so scores mean something).
    pub scored: bool,
}

/// A hit being ranked: the sort value, then the score, then index order.
#[derive(Debug, Clone, Copy)]
pub struct Ranked {
    pub key: f64,
    pub score: Score,
    pub address: DocAddress,
}

impl Ranked {
    /// `Less` means better (earlier in the results).
    fn rank(&self, other: &Ranked) -> Ordering {
        other
            .key
            .total_cmp(&self.key)
            .then_with(|| other.score.total_cmp(&self.score))
            .then_with(|| self.address.cmp(&other.address))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.rank(other) == Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
/// Max-heap order is "worst first", so the heap's top is the hit to evict.
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank(other)
    }
}

/// What one segment (and, merged, the whole index) yields.
#[derive(Default)]
pub struct Collected {
    pub total: u64,
    /// Best first, at most `keep`.
    pub best: Vec<Ranked>,
    pub counts: [HashMap<String, u64>; FACETS],
}

impl Collector for CatalogueCollector<'_> {
    type Fruit = Collected;
    type Child = SegmentCatalogueCollector;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        let fast = reader.fast_fields();
        let mut facets = Vec::with_capacity(FACETS);
        for facet in Facet::ALL {
            let column = fast.str(facet.name())?;
            let selected = match self.query.filters.get(&facet) {
                Some(values) if !values.is_empty() => {
                    let mut selected = vec![false; column.as_ref().map_or(0, |c| c.num_terms())];
                    if let Some(column) = &column {
                        for value in values {
                            if let Some(ord) = column.dictionary().term_ord(value)? {
                                if let Some(slot) =
                                    usize::try_from(ord).ok().and_then(|o| selected.get_mut(o))
                                {
                                    *slot = true;
                                }
                            }
                        }
                    }
                    Some(selected)
                }
                _ => None,
            };
            let counts = vec![0u64; column.as_ref().map_or(0, |c| c.num_terms())];
            facets.push(SegmentFacet {
                column,
                selected,
                counts,
                ords: Vec::new(),
            });
        }
        let sort_key = match self.query.sort {
            Sort::Relevance => SortKey::Score,
            Sort::Availability => SortKey::F64(fast.f64(schema::AVAILABILITY_SORT)?),
            Sort::Volume => SortKey::U64(fast.u64(schema::CALLS_PER_DAY)?),
            Sort::Newest => SortKey::I64(fast.i64(schema::PUBLISHED_AT)?),
        };
        Ok(SegmentCatalogueCollector {
            segment,
            keep: self.keep,
            sort_key,
            facets,
            total: 0,
            heap: BinaryHeap::with_capacity(self.keep.saturating_add(1).min(4096)),
        })
    }

    fn requires_scoring(&self) -> bool {
        self.scored
    }

    fn merge_fruits(&self, fruits: Vec<tantivy::Result<Collected>>) -> tantivy::Result<Collected> {
        let mut merged = Collected::default();
        for fruit in fruits {
            let fruit = fruit?;
            merged.total += fruit.total;
            merged.best.extend(fruit.best);
            for (into, from) in merged.counts.iter_mut().zip(fruit.counts) {
                for (value, count) in from {
                    *into.entry(value).or_default() += count;
                }
            }
        }
        merged.best.sort();
        merged.best.truncate(self.keep);
        Ok(merged)
    }
}

/// The sort value of a document, read from its fast field.
enum SortKey {
    Score,
    F64(Column<f64>),
    U64(Column<u64>),
    I64(Column<i64>),
}

impl SortKey {
    // Volumes and times are far below 2^53, so f64 orders them exactly.
    #[allow(clippy::cast_precision_loss)]
    fn value(&self, doc: DocId, score: Score) -> f64 {
        match self {
            SortKey::Score => f64::from(score),
            SortKey::F64(column) => column.first(doc).unwrap_or(f64::MIN),
            SortKey::U64(column) => column.first(doc).map_or(f64::MIN, |v| v as f64),
            SortKey::I64(column) => column.first(doc).map_or(f64::MIN, |v| v as f64),
        }
    }
}

/// One facet's column in one segment.
struct SegmentFacet {
    /// `None` when no document of the segment has a value for the facet.
    column: Option<StrColumn>,
    /// The filter as a bitmap over the segment's ordinals; `None` when the facet is unfiltered.
    selected: Option<Vec<bool>>,
    counts: Vec<u64>,
    /// The current document's ordinals (a reused buffer).
    ords: Vec<u64>,
}

impl SegmentFacet {
    fn load(&mut self, doc: DocId) {
        self.ords.clear();
        if let Some(column) = &self.column {
            self.ords.extend(column.term_ords(doc));
        }
    }

    fn passes(&self) -> bool {
        match &self.selected {
            None => true,
            Some(selected) => self.ords.iter().any(|&ord| {
                usize::try_from(ord)
                    .ok()
                    .and_then(|o| selected.get(o))
                    .copied()
                    .unwrap_or(false)
            }),
        }
    }

    fn count(&mut self) {
        for &ord in &self.ords {
            if let Some(count) = usize::try_from(ord)
                .ok()
                .and_then(|o| self.counts.get_mut(o))
            {
                *count += 1;
            }
        }
    }
}

pub struct SegmentCatalogueCollector {
    segment: SegmentOrdinal,
    keep: usize,
    sort_key: SortKey,
    facets: Vec<SegmentFacet>,
    total: u64,
    heap: BinaryHeap<Ranked>,
}

impl SegmentCollector for SegmentCatalogueCollector {
    type Fruit = tantivy::Result<Collected>;

    fn collect(&mut self, doc: DocId, score: Score) {
        let mut failed = None;
        let mut failures = 0;
        for (i, facet) in self.facets.iter_mut().enumerate() {
            facet.load(doc);
            if !facet.passes() {
                failures += 1;
                failed = Some(i);
                if failures > 1 {
                    return;
                }
            }
        }
        match failed {
            Some(i) => self.facets[i].count(),
            None => {
                for facet in &mut self.facets {
                    facet.count();
                }
                self.total += 1;
                if self.keep > 0 {
                    let ranked = Ranked {
                        key: self.sort_key.value(doc, score),
                        score,
                        address: DocAddress::new(self.segment, doc),
                    };
                    if self.heap.len() < self.keep {
                        self.heap.push(ranked);
                    } else if self.heap.peek().is_some_and(|worst| ranked < *worst) {
                        self.heap.pop();
                        self.heap.push(ranked);
                    }
                }
            }
        }
    }

    fn harvest(self) -> Self::Fruit {
        let mut collected = Collected {
            total: self.total,
            best: self.heap.into_sorted_vec(),
            counts: Default::default(),
        };
        for (into, facet) in collected.counts.iter_mut().zip(self.facets) {
            let Some(column) = facet.column else { continue };
            for (ord, count) in facet.counts.into_iter().enumerate() {
                if count == 0 {
                    continue;
                }
                let mut value = String::new();
                if column.ord_to_str(ord as u64, &mut value)? {
                    into.insert(value, count);
                }
            }
        }
        Ok(collected)
    }
}
