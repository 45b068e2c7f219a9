//! A list that successive configuration versions share chunk by chunk.
//!
//! A national-scale configuration lists 175,000 entries. A running gateway's data plane reads the
//! version it holds while the next one is made from it, so making a change first copies the
//! version. With the entries in one `Vec<Arc<T>>` that copy touches every entry's reference
//! count: 175,000 cache lines, about 9 ms on a loaded two-core machine, for a delta of one
//! member. Here the entries sit in chunks of [`CHUNK`] behind shared pointers: a copy touches one
//! count per chunk, and a change copies only the chunks it changes.
//!
//! The list is ordered as it was built; the configuration keeps its keyed lists sorted by id
//! text, and [`SharedList::binary_search_by`] finds an entry by halving over the chunks and then
//! within one. On the wire it is a plain JSON array.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

/// Entries per chunk when a list is built; a chunk that grows to twice this by insertions is
/// split in two. Copying a changed chunk touches at most `2 * CHUNK` counts; copying the list
/// touches `len / CHUNK` of them.
pub const CHUNK: usize = 256;

type Chunk<T> = Arc<Vec<Arc<T>>>;

/// A list of shared entries, held in shared chunks (the module's doc says why).
pub struct SharedList<T> {
    /// Never an empty chunk.
    chunks: Vec<Chunk<T>>,
    /// The index of each chunk's first entry.
    starts: Vec<usize>,
    len: usize,
}

impl<T> SharedList<T> {
    /// An empty list.
    pub fn new() -> Self {
        Self {
            chunks: Vec::new(),
            starts: Vec::new(),
            len: 0,
        }
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entries in order.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter {
            chunks: self.chunks.iter(),
            current: [].iter(),
            remaining: self.len,
        }
    }

    /// The entries from `index` on (none when `index` is past the end).
    pub fn iter_from(&self, index: usize) -> Iter<'_, T> {
        match self.locate(index) {
            Some((chunk, offset)) => {
                let mut chunks = self.chunks[chunk..].iter();
                let current = chunks
                    .next()
                    .map_or_else(|| [].iter(), |c| c[offset..].iter());
                Iter {
                    chunks,
                    current,
                    remaining: self.len - index,
                }
            }
            None => Iter {
                chunks: [].iter(),
                current: [].iter(),
                remaining: 0,
            },
        }
    }

    /// The entry at `index`.
    pub fn get(&self, index: usize) -> Option<&Arc<T>> {
        let (chunk, offset) = self.locate(index)?;
        self.chunks[chunk].get(offset)
    }

    /// The first entry.
    pub fn first(&self) -> Option<&Arc<T>> {
        self.chunks.first().and_then(|c| c.first())
    }

    /// The last entry.
    pub fn last(&self) -> Option<&Arc<T>> {
        self.chunks.last().and_then(|c| c.last())
    }

    /// Finds an entry in a list sorted by `compare`'s order, as [`slice::binary_search_by`]
    /// does: `Ok` with its index, or `Err` with where it would go.
    pub fn binary_search_by(
        &self,
        mut compare: impl FnMut(&T) -> Ordering,
    ) -> Result<usize, usize> {
        let chunk = self
            .chunks
            .partition_point(|c| c.last().is_some_and(|last| compare(last) == Ordering::Less));
        let Some(found) = self.chunks.get(chunk) else {
            return Err(self.len);
        };
        let start = self.starts[chunk];
        found
            .binary_search_by(|entry| compare(entry))
            .map(|i| start + i)
            .map_err(|i| start + i)
    }

    /// Puts `entry` in place of the entry at `index`, copying that entry's chunk if another
    /// version shares it.
    ///
    /// # Panics
    /// When `index` is not less than the length, as indexing a slice does.
    pub fn set(&mut self, index: usize, entry: Arc<T>) {
        let (chunk, offset) = self.expect_index(index);
        Arc::make_mut(&mut self.chunks[chunk])[offset] = entry;
    }

    /// The entry at `index` to change in place, copying its chunk, and the entry, if another
    /// version shares them.
    ///
    /// # Panics
    /// When `index` is not less than the length, as indexing a slice does.
    pub fn make_mut(&mut self, index: usize) -> &mut T
    where
        T: Clone,
    {
        let (chunk, offset) = self.expect_index(index);
        Arc::make_mut(&mut Arc::make_mut(&mut self.chunks[chunk])[offset])
    }

    /// Inserts `entry` before the entry at `index` (at the end when `index` is the length).
    ///
    /// # Panics
    /// When `index` is greater than the length, as [`Vec::insert`] does.
    pub fn insert(&mut self, index: usize, entry: Arc<T>) {
        assert!(
            index <= self.len,
            "insertion index {index} is past the list's length {}",
            self.len
        );
        if self.chunks.is_empty() {
            self.chunks.push(Arc::new(vec![entry]));
            self.starts.push(0);
            self.len = 1;
            return;
        }
        let (chunk, offset) = match self.locate(index) {
            Some(at) => at,
            None => {
                let last = self.chunks.len() - 1;
                (last, self.chunks[last].len())
            }
        };
        let entries = Arc::make_mut(&mut self.chunks[chunk]);
        entries.insert(offset, entry);
        if entries.len() >= 2 * CHUNK {
            let second = entries.split_off(CHUNK);
            self.chunks.insert(chunk + 1, Arc::new(second));
        }
        self.len += 1;
        self.restart_from(chunk);
    }

    /// Appends `entry`.
    pub fn push(&mut self, entry: Arc<T>) {
        self.insert(self.len, entry);
    }

    /// Removes and returns the entry at `index`.
    ///
    /// # Panics
    /// When `index` is not less than the length, as [`Vec::remove`] does.
    pub fn remove(&mut self, index: usize) -> Arc<T> {
        let (chunk, offset) = self.expect_index(index);
        let entries = Arc::make_mut(&mut self.chunks[chunk]);
        let removed = entries.remove(offset);
        if entries.is_empty() {
            self.chunks.remove(chunk);
        }
        self.len -= 1;
        self.restart_from(chunk);
        removed
    }

    /// Keeps only the entries `keep` accepts, copying only the chunks that lose one.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        for chunk in &mut self.chunks {
            if chunk.iter().all(|e| keep(e)) {
                continue;
            }
            Arc::make_mut(chunk).retain(|e| keep(e));
        }
        self.chunks.retain(|c| !c.is_empty());
        self.len = self.chunks.iter().map(|c| c.len()).sum();
        self.restart_from(0);
    }

    /// Whether both lists hold the same chunks: versions that share every entry of a list.
    fn shares_all(&self, other: &Self) -> bool {
        self.chunks.len() == other.chunks.len()
            && self
                .chunks
                .iter()
                .zip(&other.chunks)
                .all(|(a, b)| Arc::ptr_eq(a, b))
    }

    /// The chunk holding `index` and the entry's place in it.
    fn locate(&self, index: usize) -> Option<(usize, usize)> {
        if index >= self.len {
            return None;
        }
        let chunk = self.starts.partition_point(|&start| start <= index) - 1;
        Some((chunk, index - self.starts[chunk]))
    }

    fn expect_index(&self, index: usize) -> (usize, usize) {
        match self.locate(index) {
            Some(at) => at,
            None => panic!("index {index} is out of the list's length {}", self.len),
        }
    }

    /// Recomputes the chunks' starts from chunk `from` on, after a change there.
    fn restart_from(&mut self, from: usize) {
        let from = from.min(self.chunks.len());
        self.starts.truncate(from);
        let mut start = match from {
            0 => 0,
            _ => self.starts[from - 1] + self.chunks[from - 1].len(),
        };
        for chunk in &self.chunks[from..] {
            self.starts.push(start);
            start += chunk.len();
        }
    }
}

impl<T> Default for SharedList<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Copies the chunks' pointers, not the entries (the point of the list).
impl<T> Clone for SharedList<T> {
    fn clone(&self) -> Self {
        Self {
            chunks: self.chunks.clone(),
            starts: self.starts.clone(),
            len: self.len,
        }
    }
}

impl<T: PartialEq> PartialEq for SharedList<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && (self.shares_all(other) || self.iter().eq(other.iter()))
    }
}

impl<T: Eq> Eq for SharedList<T> {}

impl<T: fmt::Debug> fmt::Debug for SharedList<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T> FromIterator<Arc<T>> for SharedList<T> {
    fn from_iter<I: IntoIterator<Item = Arc<T>>>(entries: I) -> Self {
        let mut list = Self::new();
        let mut entries = entries.into_iter().peekable();
        while entries.peek().is_some() {
            let chunk: Vec<Arc<T>> = entries.by_ref().take(CHUNK).collect();
            list.starts.push(list.len);
            list.len += chunk.len();
            list.chunks.push(Arc::new(chunk));
        }
        list
    }
}

impl<T> From<Vec<Arc<T>>> for SharedList<T> {
    fn from(entries: Vec<Arc<T>>) -> Self {
        entries.into_iter().collect()
    }
}

impl<T> std::ops::Index<usize> for SharedList<T> {
    type Output = Arc<T>;

    fn index(&self, index: usize) -> &Arc<T> {
        let (chunk, offset) = self.expect_index(index);
        &self.chunks[chunk][offset]
    }
}

impl<'a, T> IntoIterator for &'a SharedList<T> {
    type Item = &'a Arc<T>;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T: Serialize> Serialize for SharedList<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for SharedList<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<Arc<T>>::deserialize(deserializer).map(Self::from)
    }
}

/// The entries of a [`SharedList`] in order.
pub struct Iter<'a, T> {
    chunks: std::slice::Iter<'a, Chunk<T>>,
    current: std::slice::Iter<'a, Arc<T>>,
    remaining: usize,
}

impl<T> Clone for Iter<'_, T> {
    fn clone(&self) -> Self {
        Self {
            chunks: self.chunks.clone(),
            current: self.current.clone(),
            remaining: self.remaining,
        }
    }
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a Arc<T>;

    fn next(&mut self) -> Option<&'a Arc<T>> {
        loop {
            if let Some(entry) = self.current.next() {
                self.remaining -= 1;
                return Some(entry);
            }
            self.current = self.chunks.next()?.iter();
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<T> ExactSizeIterator for Iter<'_, T> {}

impl<T> std::iter::FusedIterator for Iter<'_, T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn list(values: impl IntoIterator<Item = u32>) -> SharedList<u32> {
        values.into_iter().map(Arc::new).collect()
    }

    fn values(list: &SharedList<u32>) -> Vec<u32> {
        list.iter().map(|v| **v).collect()
    }

    /// Chunks stay non-empty and no larger than twice the chunk size, and each start is the
    /// index of its chunk's first entry.
    fn check_shape(list: &SharedList<u32>) {
        let mut start = 0;
        assert_eq!(list.chunks.len(), list.starts.len());
        for (chunk, at) in list.chunks.iter().zip(&list.starts) {
            assert!(!chunk.is_empty() && chunk.len() < 2 * CHUNK);
            assert_eq!(*at, start);
            start += chunk.len();
        }
        assert_eq!(start, list.len());
    }

    #[derive(Debug, Clone)]
    enum Edit {
        Set(usize, u32),
        Insert(usize, u32),
        Remove(usize),
        Retain(u32),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            1 => (any::<usize>(), any::<u32>()).prop_map(|(i, v)| Edit::Set(i, v)),
            4 => (any::<usize>(), any::<u32>()).prop_map(|(i, v)| Edit::Insert(i, v)),
            2 => any::<usize>().prop_map(Edit::Remove),
            1 => (2u32..50).prop_map(Edit::Retain),
        ]
    }

    proptest! {
        /// Any run of edits leaves the list holding what a `Vec` given the same edits holds,
        /// found at the same indices, and a copy taken before the edits unchanged.
        #[test]
        fn edits_match_a_vec(
            start in 0usize..2000,
            edits in proptest::collection::vec(edit(), 0..200),
        ) {
            let mut expected: Vec<u32> = (0..start as u32).collect();
            let mut shared = list(expected.iter().copied());
            let before = shared.clone();
            for edit in edits {
                match edit {
                    Edit::Set(i, v) if !expected.is_empty() => {
                        let i = i % expected.len();
                        expected[i] = v;
                        shared.set(i, Arc::new(v));
                    }
                    Edit::Insert(i, v) => {
                        let i = i % (expected.len() + 1);
                        expected.insert(i, v);
                        shared.insert(i, Arc::new(v));
                    }
                    Edit::Remove(i) if !expected.is_empty() => {
                        let i = i % expected.len();
                        prop_assert_eq!(expected.remove(i), *shared.remove(i));
                    }
                    Edit::Retain(m) => {
                        expected.retain(|v| v % m != 0);
                        shared.retain(|v| v % m != 0);
                    }
                    Edit::Set(..) | Edit::Remove(_) => {}
                }
                check_shape(&shared);
            }
            prop_assert_eq!(values(&shared), expected.clone());
            prop_assert_eq!(shared.len(), expected.len());
            for (i, v) in expected.iter().enumerate() {
                prop_assert_eq!(shared.get(i).map(|e| **e), Some(*v));
                prop_assert_eq!(shared.iter_from(i).map(|e| **e).collect::<Vec<_>>(), expected[i..].to_vec());
            }
            prop_assert_eq!(shared.get(expected.len()), None);
            prop_assert_eq!(shared.iter_from(expected.len()).count(), 0);
            prop_assert_eq!(values(&before), (0..start as u32).collect::<Vec<_>>());
        }

        /// Halving finds what a slice's halving finds, present or absent.
        #[test]
        fn search_matches_a_slice(
            mut sorted in proptest::collection::vec(0u32..100_000, 0..3000),
            probes in proptest::collection::vec(0u32..100_001, 1..50),
        ) {
            sorted.sort_unstable();
            sorted.dedup();
            let shared = list(sorted.iter().copied());
            for probe in probes {
                prop_assert_eq!(
                    shared.binary_search_by(|v| v.cmp(&probe)),
                    sorted.binary_search(&probe)
                );
            }
        }
    }

    #[test]
    fn a_copy_shares_chunks_and_a_change_copies_only_its_own() {
        let original = list(0..(10 * CHUNK as u32));
        let mut changed = original.clone();
        assert!(changed.shares_all(&original));
        changed.set(3 * CHUNK + 1, Arc::new(7));
        let shared = original
            .chunks
            .iter()
            .zip(&changed.chunks)
            .filter(|(a, b)| Arc::ptr_eq(a, b))
            .count();
        assert_eq!(shared, 9);
        assert_eq!(original[3 * CHUNK + 1].as_ref(), &(3 * CHUNK as u32 + 1));
        assert_eq!(changed[3 * CHUNK + 1].as_ref(), &7);
        assert_ne!(original, changed);
    }

    #[test]
    fn travels_as_a_plain_array() {
        let shared = list(0..600);
        let json = serde_json::to_string(&shared).expect("serialise");
        let plain: Vec<u32> = (0..600).collect();
        assert_eq!(json, serde_json::to_string(&plain).expect("serialise"));
        let back: SharedList<u32> = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, shared);
        check_shape(&back);
        assert!(serde_json::from_str::<SharedList<u32>>("[1, \"two\"]").is_err());
        assert!(serde_json::from_str::<SharedList<u32>>("{}").is_err());
    }

    #[test]
    #[should_panic(expected = "out of the list's length")]
    fn removing_past_the_end_panics_as_a_vec_does() {
        list(0..3).remove(3);
    }

    #[test]
    fn an_empty_list_takes_an_insertion_and_loses_its_last_entry() {
        let mut shared = SharedList::new();
        assert_eq!(shared.first(), None);
        shared.insert(0, Arc::new(5u32));
        assert_eq!(shared.first().map(|e| **e), Some(5));
        assert_eq!(shared.last().map(|e| **e), Some(5));
        assert_eq!(*shared.remove(0), 5);
        assert!(shared.is_empty());
        check_shape(&shared);
    }
}
