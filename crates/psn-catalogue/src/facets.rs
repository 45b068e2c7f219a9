//! Each segment's facet values as plain arrays, built once per segment and shared by every
//! search: reading a document's values from tantivy's fast-field columns costs tens of
//! nanoseconds per facet (ordinal index lookups), which over 100,000 listings and nine facets was
//! most of an empty query's time; from these arrays it is a slice per facet. Segments never
//! change, so an entry stays valid until tantivy merges the segment away; then it is dropped.
//!
//! Memory: about 4 bytes per listing per facet plus 4 bytes per value (some 10 MB for 100,000
//! listings).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tantivy::index::SegmentId;
use tantivy::{Searcher, SegmentReader};

use crate::model::Facet;

pub const FACETS: usize = Facet::ALL.len();

/// One facet of one segment: each document's value ordinals, and the values.
#[derive(Debug, Default)]
pub struct FacetColumn {
    /// Document `d`'s ordinals are `ords[offsets[d]..offsets[d + 1]]`.
    offsets: Vec<u32>,
    ords: Vec<u32>,
    /// The values by ordinal, in the segment dictionary's (sorted) order.
    pub values: Vec<String>,
}

impl FacetColumn {
    /// The document's value ordinals (empty for a document the segment does not have).
    pub fn ords(&self, doc: u32) -> &[u32] {
        let doc = doc as usize;
        match (self.offsets.get(doc), self.offsets.get(doc + 1)) {
            (Some(&start), Some(&end)) => {
                self.ords.get(start as usize..end as usize).unwrap_or(&[])
            }
            _ => &[],
        }
    }

    /// The ordinal of a value in this segment, if any document has it.
    pub fn ord(&self, value: &str) -> Option<usize> {
        self.values.binary_search_by(|v| v.as_str().cmp(value)).ok()
    }
}

/// All the facets of one segment.
#[derive(Debug)]
pub struct SegmentFacets {
    pub columns: [FacetColumn; FACETS],
}

impl SegmentFacets {
    fn build(reader: &SegmentReader) -> tantivy::Result<SegmentFacets> {
        let mut columns: [FacetColumn; FACETS] = Default::default();
        for (facet, column) in Facet::ALL.into_iter().zip(columns.iter_mut()) {
            let max_doc = reader.max_doc();
            column.offsets.reserve(max_doc as usize + 1);
            column.offsets.push(0);
            let Some(source) = reader.fast_fields().str(facet.name())? else {
                column.offsets.resize(max_doc as usize + 1, 0);
                continue;
            };
            for doc in 0..max_doc {
                // A segment's dictionary of one facet is far below 2^32 values.
                column.ords.extend(
                    source
                        .term_ords(doc)
                        .map(|ord| u32::try_from(ord).unwrap_or(u32::MAX)),
                );
                column
                    .offsets
                    .push(u32::try_from(column.ords.len()).unwrap_or(u32::MAX));
            }
            let mut value = String::new();
            for ord in 0..source.num_terms() as u64 {
                value.clear();
                source.ord_to_str(ord, &mut value)?;
                column.values.push(value.clone());
            }
        }
        Ok(SegmentFacets { columns })
    }
}

/// The segments' facet arrays, by segment.
#[derive(Debug, Default)]
pub struct FacetCache {
    segments: Mutex<HashMap<SegmentId, Arc<SegmentFacets>>>,
}

impl FacetCache {
    /// The arrays of each of the searcher's segments, in segment-ordinal order, building the
    /// missing ones and forgetting those of segments the searcher no longer has.
    pub fn for_searcher(&self, searcher: &Searcher) -> tantivy::Result<Vec<Arc<SegmentFacets>>> {
        let readers = searcher.segment_readers();
        let mut found: Vec<Option<Arc<SegmentFacets>>> = {
            let mut cache = self.segments.lock().unwrap_or_else(PoisonError::into_inner);
            cache.retain(|id, _| readers.iter().any(|r| r.segment_id() == *id));
            readers
                .iter()
                .map(|r| cache.get(&r.segment_id()).cloned())
                .collect()
        };
        // Built outside the lock, so searches on built segments never wait for a build.
        for (slot, reader) in found.iter_mut().zip(readers) {
            if slot.is_none() {
                let built = Arc::new(SegmentFacets::build(reader)?);
                self.segments
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(reader.segment_id(), Arc::clone(&built));
                *slot = Some(built);
            }
        }
        Ok(found.into_iter().flatten().collect())
    }
}
