//! One pass over the documents matching the words that yields both the page of hits (documents
//! passing every filter) and the facet counts (each facet counted under the *other* facets'
//! filters), so that facet counts cost no extra searches.
//!
//! For each matching document the collector reads its facet values (from the segment's arrays in
//! [`crate::facets`]) and finds which facets' filters it fails:
//!
//! - none: it is a hit, and counts toward every facet;
//! - exactly one, `F`: it counts toward `F`'s values only (it is what selecting another value of
//!   `F` would add);
//! - two or more: it counts nowhere.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

use crate::facets::{SegmentFacets, FACETS};
use crate::model::{Facet, SearchQuery, Sort};
use crate::schema;

/// The collector of one search.
pub struct CatalogueCollector<'q> {
    pub query: &'q SearchQuery,
    /// How many of the best hits to keep: offset + limit.
    pub keep: usize,
    /// Whether the query has words (so scores mean something).
    pub scored: bool,
    /// The facet arrays of the searcher's segments, by segment ordinal.
    pub segments: Vec<Arc<SegmentFacets>>,
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
        let facets = self
            .segments
            .get(segment as usize)
            .cloned()
            .ok_or_else(|| {
                tantivy::TantivyError::InternalError(format!(
                    "no facet arrays for segment {segment}"
                ))
            })?;
        let mut selected: [Option<Vec<bool>>; FACETS] = Default::default();
        let mut filtered = Vec::new();
        for (i, facet) in Facet::ALL.into_iter().enumerate() {
            if let Some(values) = self.query.filters.get(&facet).filter(|v| !v.is_empty()) {
                let column = &facets.columns[i];
                let mut bitmap = vec![false; column.values.len()];
                for ord in values.iter().filter_map(|v| column.ord(v)) {
                    bitmap[ord] = true;
                }
                selected[i] = Some(bitmap);
                filtered.push(i);
            }
        }
        let counts = std::array::from_fn(|i| vec![0u64; facets.columns[i].values.len()]);
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
            selected,
            filtered,
            counts,
            total: 0,
            heap: BinaryHeap::with_capacity(self.keep.saturating_add(1).min(4096)),
        })
    }

    fn requires_scoring(&self) -> bool {
        self.scored
    }

    fn merge_fruits(&self, fruits: Vec<Collected>) -> tantivy::Result<Collected> {
        let mut merged = Collected::default();
        for fruit in fruits {
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

pub struct SegmentCatalogueCollector {
    segment: SegmentOrdinal,
    keep: usize,
    sort_key: SortKey,
    facets: Arc<SegmentFacets>,
    /// Per facet, the filter as a bitmap over the segment's ordinals (`None`: unfiltered).
    selected: [Option<Vec<bool>>; FACETS],
    /// The filtered facets.
    filtered: Vec<usize>,
    /// Per facet, the count of each ordinal.
    counts: [Vec<u64>; FACETS],
    total: u64,
    heap: BinaryHeap<Ranked>,
}

impl SegmentCollector for SegmentCatalogueCollector {
    type Fruit = Collected;

    fn collect(&mut self, doc: DocId, score: Score) {
        let mut failed = None;
        for &i in &self.filtered {
            let Some(selected) = &self.selected[i] else {
                continue;
            };
            let passes = self.facets.columns[i]
                .ords(doc)
                .iter()
                .any(|&ord| selected.get(ord as usize).copied().unwrap_or(false));
            if !passes {
                if failed.is_some() {
                    return;
                }
                failed = Some(i);
            }
        }
        match failed {
            Some(i) => self.count(i, doc),
            None => {
                for i in 0..FACETS {
                    self.count(i, doc);
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
        for ((into, counts), column) in collected
            .counts
            .iter_mut()
            .zip(self.counts)
            .zip(&self.facets.columns)
        {
            for (count, value) in counts.into_iter().zip(&column.values) {
                if count > 0 {
                    into.insert(value.clone(), count);
                }
            }
        }
        collected
    }
}

impl SegmentCatalogueCollector {
    fn count(&mut self, facet: usize, doc: DocId) {
        let counts = &mut self.counts[facet];
        for &ord in self.facets.columns[facet].ords(doc) {
            if let Some(count) = counts.get_mut(ord as usize) {
                *count += 1;
            }
        }
    }
}
