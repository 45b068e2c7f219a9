//! The configuration's authenticated structure (DESIGN.md "Configuration tree"): why a gateway can
//! check a change to a national-scale configuration in time proportional to the change.
//!
//! The authority signs a small head ([`crate::config::ConfigHead`]) that carries the root of a
//! hash tree over every entry of the configuration, not the document itself. Each entry of each
//! list (and the authority section) is a *leaf*: the SHA-256 of its section's name and its JSON.
//! Leaves fall into 4,096 *buckets* by their first 12 bits; a bucket's hash covers its leaves in
//! ascending order, and a complete binary tree of depth 12 joins the buckets into the root. A
//! leaf's bucket depends only on its own bytes, so a change moves nothing else: replacing one
//! entry touches two buckets (a few dozen leaves each at national scale) and the 12 nodes above
//! each, whatever the network's size. Fewer, fuller buckets keep a whole document's check cheap:
//! 8,191 bucket and node hashes rather than one per leaf. A gateway
//! holds every leaf and node of the version it trusts; a delta's changed entries are enough for
//! it to work out the new root and compare it with the signed one.
//!
//! Domain separation: a leaf's input starts with `0x00`, a bucket's with `0x01`, an inner node's
//! with `0x02`, so no value of one kind can pass for another.

use crate::config::GlobalConfig;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

/// The `tree` a head names: how its root was computed.
pub const TREE_ALGORITHM: &str = "psn-buckets-sha256/12";

/// The tree's depth: 2^12 buckets.
const DEPTH: usize = 12;

/// How many buckets the tree has.
const BUCKETS: usize = 1 << DEPTH;

/// A SHA-256 value.
pub type Digest = [u8; 32];

/// The section an entry belongs to: its name is part of the entry's leaf, so an entry of one list
/// can never be counted as an entry of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The authority's endpoints and CA (one entry).
    Authority,
    /// A member class.
    Class,
    /// A member.
    Member,
    /// A subsystem id.
    Subsystem,
    /// A gateway.
    Gateway,
    /// A service.
    Service,
    /// A federated network.
    Federation,
    /// A revoked certificate serial.
    Revoked,
}

impl Section {
    /// The name hashed into the section's leaves.
    pub fn name(self) -> &'static str {
        match self {
            Self::Authority => "authority",
            Self::Class => "class",
            Self::Member => "member",
            Self::Subsystem => "subsystem",
            Self::Gateway => "gateway",
            Self::Service => "service",
            Self::Federation => "federation",
            Self::Revoked => "revoked",
        }
    }
}

/// Computes leaves, reusing one buffer for the entries' JSON.
#[derive(Debug, Default)]
pub struct LeafHasher {
    buffer: Vec<u8>,
}

impl LeafHasher {
    /// `SHA-256(0x00 ‖ section name ‖ 0x00 ‖ the entry's compact JSON)`: the JSON exactly as
    /// the document carries it.
    pub fn leaf<T: Serialize + ?Sized>(
        &mut self,
        section: Section,
        entry: &T,
    ) -> Result<Digest, serde_json::Error> {
        self.buffer.clear();
        self.buffer.push(0x00);
        self.buffer.extend_from_slice(section.name().as_bytes());
        self.buffer.push(0x00);
        serde_json::to_writer(&mut self.buffer, entry)?;
        Ok(crate::encoding::sha256(&self.buffer))
    }

    /// The leaves of every entry of a list.
    pub fn leaves<'a, T: Serialize + 'a>(
        &mut self,
        section: Section,
        entries: impl IntoIterator<Item = &'a T, IntoIter: ExactSizeIterator>,
        out: &mut Vec<Digest>,
    ) -> Result<(), serde_json::Error> {
        let entries = entries.into_iter();
        out.reserve(entries.len());
        for entry in entries {
            out.push(self.leaf(section, entry)?);
        }
        Ok(())
    }

    /// Every leaf of a configuration. The services (most of a national-scale document) are
    /// hashed on a second thread while this one hashes the rest: a whole document is checked
    /// when a gateway starts or falls behind, and that check is on its path to serving.
    pub fn all(&mut self, config: &GlobalConfig) -> Result<Vec<Digest>, TreeError> {
        let (services, rest) = std::thread::scope(|scope| {
            let services = scope.spawn(|| {
                let mut out = Vec::new();
                LeafHasher::default()
                    .leaves(Section::Service, &config.services, &mut out)
                    .map(|()| out)
            });
            let rest = self.all_but_services(config);
            let services = services
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (services, rest)
        });
        let serialise = |e: serde_json::Error| TreeError::Serialise(e.to_string());
        let mut out = rest.map_err(serialise)?;
        out.extend(services.map_err(serialise)?);
        Ok(out)
    }

    fn all_but_services(
        &mut self,
        config: &GlobalConfig,
    ) -> Result<Vec<Digest>, serde_json::Error> {
        let mut out = Vec::with_capacity(
            1 + config.classes.len()
                + config.members.len()
                + config.subsystems.len()
                + config.gateways.len()
                + config.services.len()
                + config.federation.len()
                + config.revoked_serials.len(),
        );
        out.push(self.leaf(Section::Authority, &config.authority)?);
        self.leaves(Section::Class, &config.classes, &mut out)?;
        self.leaves(Section::Member, &config.members, &mut out)?;
        self.leaves(Section::Subsystem, &config.subsystems, &mut out)?;
        self.leaves(Section::Gateway, &config.gateways, &mut out)?;
        self.leaves(Section::Federation, &config.federation, &mut out)?;
        self.leaves(Section::Revoked, &config.revoked_serials, &mut out)?;
        Ok(out)
    }
}

/// Why a tree cannot take a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// A leaf to remove is not in the tree.
    #[error("an entry to be replaced or removed is not in the configuration")]
    Missing,
    /// A leaf to add is in the tree already: the same entry twice.
    #[error("an entry is listed twice")]
    Duplicate,
    /// An entry could not be written as JSON to be hashed.
    #[error("an entry cannot be serialised: {0}")]
    Serialise(String),
}

/// The bucket a leaf falls in: its first 12 bits.
fn bucket_of(leaf: &Digest) -> usize {
    usize::from(u16::from_be_bytes([leaf[0], leaf[1]]) >> (16 - DEPTH))
}

/// The first and last possible leaves of a bucket.
fn bucket_range(bucket: usize) -> (Digest, Digest) {
    let first_prefix = u16::try_from(bucket << (16 - DEPTH)).unwrap_or(u16::MAX);
    let last_prefix = first_prefix | ((1u16 << (16 - DEPTH)) - 1);
    let (mut first, mut last) = ([0u8; 32], [0xffu8; 32]);
    first[..2].copy_from_slice(&first_prefix.to_be_bytes());
    last[..2].copy_from_slice(&last_prefix.to_be_bytes());
    (first, last)
}

/// `SHA-256(0x01 ‖ leaves in ascending order)`.
fn bucket_hash<'l>(leaves: impl IntoIterator<Item = &'l Digest>) -> Digest {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(&[0x01]);
    for leaf in leaves {
        context.update(leaf);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// `SHA-256(0x02 ‖ left ‖ right)`.
fn node_hash(left: &Digest, right: &Digest) -> Digest {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(&[0x02]);
    context.update(left);
    context.update(right);
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// The hash of an empty subtree at each height (0: an empty bucket), so that the mostly empty
/// tree of a small network costs comparisons, not hashes.
fn empty() -> &'static [Digest; DEPTH + 1] {
    static EMPTY: OnceLock<[Digest; DEPTH + 1]> = OnceLock::new();
    EMPTY.get_or_init(|| {
        let mut empty = [[0u8; 32]; DEPTH + 1];
        empty[0] = bucket_hash([]);
        for height in 1..=DEPTH {
            empty[height] = node_hash(&empty[height - 1], &empty[height - 1]);
        }
        empty
    })
}

/// The height of node `index` in the heap layout (the root is 1, buckets are `BUCKETS..`).
fn height_of(index: usize) -> usize {
    DEPTH - index.ilog2() as usize
}

/// The parent of two children at `height - 1`.
fn join(left: &Digest, right: &Digest, height: usize) -> Digest {
    let empty = empty();
    if left == &empty[height - 1] && right == &empty[height - 1] {
        empty[height]
    } else {
        node_hash(left, right)
    }
}

/// Every leaf and node of one configuration version.
#[derive(Debug, Clone)]
pub struct EntryTree {
    leaves: BTreeSet<Digest>,
    /// Heap layout: `nodes[1]` is the root, `nodes[BUCKETS + b]` bucket `b`; `nodes[0]` unused.
    nodes: Vec<Digest>,
}

/// A change worked out against a tree but not yet made: its root can be compared with a signed
/// one before anything is touched.
#[derive(Debug)]
pub struct Staged {
    removed: Vec<Digest>,
    added: Vec<Digest>,
    nodes: Vec<(usize, Digest)>,
    root: Digest,
    len: usize,
}

impl Staged {
    /// The root the tree would have.
    pub fn root(&self) -> &Digest {
        &self.root
    }

    /// How many leaves the tree would hold.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the tree would be empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl EntryTree {
    /// The tree over `leaves`; the same entry twice is refused.
    pub fn build(mut leaves: Vec<Digest>) -> Result<Self, TreeError> {
        // Comparing the first eight bytes as a number settles almost every comparison.
        let prefix = |leaf: &Digest| {
            u64::from_be_bytes([
                leaf[0], leaf[1], leaf[2], leaf[3], leaf[4], leaf[5], leaf[6], leaf[7],
            ])
        };
        leaves.sort_unstable_by(|a, b| prefix(a).cmp(&prefix(b)).then_with(|| a.cmp(b)));
        if leaves.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(TreeError::Duplicate);
        }
        let leaves: BTreeSet<Digest> = leaves.into_iter().collect();
        let mut nodes = vec![[0u8; 32]; 2 * BUCKETS];
        nodes[BUCKETS..].fill(empty()[0]);
        let mut rest = leaves.iter().peekable();
        while let Some(first) = rest.peek() {
            let bucket = bucket_of(first);
            let mut members = Vec::new();
            while let Some(leaf) = rest.next_if(|l| bucket_of(l) == bucket) {
                members.push(leaf);
            }
            nodes[BUCKETS + bucket] = bucket_hash(members);
        }
        for index in (1..BUCKETS).rev() {
            nodes[index] = join(&nodes[2 * index], &nodes[2 * index + 1], height_of(index));
        }
        Ok(Self { leaves, nodes })
    }

    /// The root hash.
    pub fn root(&self) -> &Digest {
        &self.nodes[1]
    }

    /// How many leaves the tree holds.
    pub fn len(&self) -> usize {
        self.leaves.len()
    }

    /// Whether the tree holds no leaf.
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// Works out the tree with `removed` taken out and `added` put in, touching only the buckets
    /// they fall in and the nodes above them. A leaf both removed and added (an entry rewritten
    /// unchanged) is left alone.
    pub fn stage(&self, removed: &[Digest], added: &[Digest]) -> Result<Staged, TreeError> {
        let (removed, added) = net_change(removed, added);
        if removed.iter().any(|leaf| !self.leaves.contains(leaf)) {
            return Err(TreeError::Missing);
        }
        if added.iter().any(|leaf| self.leaves.contains(leaf)) {
            return Err(TreeError::Duplicate);
        }
        let buckets: BTreeSet<usize> = removed.iter().chain(&added).map(bucket_of).collect();
        let mut changed: HashMap<usize, Digest> = HashMap::new();
        for &bucket in &buckets {
            let (first, last) = bucket_range(bucket);
            let mut members: Vec<&Digest> = self
                .leaves
                .range(first..=last)
                .filter(|leaf| removed.binary_search(leaf).is_err())
                .chain(added.iter().filter(|leaf| bucket_of(leaf) == bucket))
                .collect();
            members.sort_unstable();
            changed.insert(BUCKETS + bucket, bucket_hash(members));
        }
        let mut level: BTreeSet<usize> = buckets.iter().map(|b| (BUCKETS + b) / 2).collect();
        while !level.is_empty() {
            let mut above = BTreeSet::new();
            for &index in &level {
                let child = |i: usize| changed.get(&i).copied().unwrap_or(self.nodes[i]);
                let value = join(&child(2 * index), &child(2 * index + 1), height_of(index));
                changed.insert(index, value);
                if index > 1 {
                    above.insert(index / 2);
                }
            }
            level = above;
        }
        let root = changed.get(&1).copied().unwrap_or(self.nodes[1]);
        let len = self.leaves.len() - removed.len() + added.len();
        Ok(Staged {
            removed,
            added,
            nodes: changed.into_iter().collect(),
            root,
            len,
        })
    }

    /// Makes a staged change.
    pub fn commit(&mut self, staged: Staged) {
        for leaf in &staged.removed {
            self.leaves.remove(leaf);
        }
        self.leaves.extend(staged.added);
        for (index, value) in staged.nodes {
            self.nodes[index] = value;
        }
    }
}

/// The leaves that really leave and really arrive, each sorted: a leaf in both lists is neither.
fn net_change(removed: &[Digest], added: &[Digest]) -> (Vec<Digest>, Vec<Digest>) {
    let removed_set: BTreeSet<&Digest> = removed.iter().collect();
    let added_set: BTreeSet<&Digest> = added.iter().collect();
    (
        removed_set.difference(&added_set).map(|l| **l).collect(),
        added_set.difference(&removed_set).map(|l| **l).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaf(n: u32) -> Digest {
        crate::encoding::sha256(&n.to_be_bytes())
    }

    /// A leaf in one of three buckets, so that buckets hold several leaves.
    fn crowded(n: u32) -> Digest {
        let mut leaf = leaf(n);
        (leaf[0], leaf[1]) = (0, (n % 3) as u8);
        leaf
    }

    #[test]
    fn an_empty_tree_has_the_empty_root_and_nodes_join_in_order() {
        let tree = EntryTree::build(Vec::new()).expect("tree");
        assert_eq!(tree.root(), &empty()[DEPTH]);
        assert!(tree.is_empty());
        assert_ne!(empty()[0], empty()[1], "each height has its own empty hash");
        let one = EntryTree::build(vec![leaf(1)]).expect("tree");
        assert_ne!(one.root(), tree.root());
        let mut bucket = BUCKETS + bucket_of(&leaf(1));
        let mut expected = bucket_hash([&leaf(1)]);
        while bucket > 1 {
            let height = height_of(bucket);
            expected = if bucket.is_multiple_of(2) {
                node_hash(&expected, &empty()[height])
            } else {
                node_hash(&empty()[height], &expected)
            };
            bucket /= 2;
        }
        assert_eq!(one.root(), &expected, "the documented computation, by hand");
    }

    #[test]
    fn the_same_entry_twice_is_refused() {
        assert_eq!(
            EntryTree::build(vec![leaf(1), leaf(1)]).err(),
            Some(TreeError::Duplicate)
        );
        let tree = EntryTree::build(vec![leaf(1)]).expect("tree");
        assert_eq!(
            tree.stage(&[], &[leaf(1)]).err(),
            Some(TreeError::Duplicate)
        );
        assert_eq!(tree.stage(&[leaf(2)], &[]).err(), Some(TreeError::Missing));
    }

    #[test]
    fn a_bucket_is_the_first_twelve_bits() {
        let mut leaf = [0u8; 32];
        (leaf[0], leaf[1]) = (0xab, 0xcd);
        assert_eq!(bucket_of(&leaf), 0xabc);
        let (first, last) = bucket_range(0xabc);
        assert_eq!((first[0], first[1], first[2]), (0xab, 0xc0, 0x00));
        assert_eq!((last[0], last[1], last[2]), (0xab, 0xcf, 0xff));
        assert!(first <= leaf && leaf <= last);
        assert_eq!(bucket_range(BUCKETS - 1).1, [0xff; 32]);
    }

    #[test]
    fn a_leaf_removed_and_added_again_changes_nothing() {
        let tree = EntryTree::build(vec![leaf(1), leaf(2)]).expect("tree");
        let staged = tree.stage(&[leaf(1)], &[leaf(1)]).expect("stage");
        assert_eq!(staged.root(), tree.root());
        assert_eq!(staged.len(), 2);
    }

    #[test]
    fn leaves_are_separated_by_section() {
        let mut hasher = LeafHasher::default();
        let as_member = hasher.leaf(Section::Member, "GB/LA/X").expect("leaf");
        let as_subsystem = hasher.leaf(Section::Subsystem, "GB/LA/X").expect("leaf");
        assert_ne!(as_member, as_subsystem);
        let mut input = b"\x00subsystem\x00\"GB/LA/X\"".to_vec();
        assert_eq!(as_subsystem, crate::encoding::sha256(&input));
        input[0] = 0x01;
        assert_ne!(as_subsystem, crate::encoding::sha256(&input));
    }

    proptest! {
        #[test]
        fn a_staged_change_gives_the_tree_built_from_scratch(
            before in proptest::collection::btree_set(0u32..400, 0..60),
            after in proptest::collection::btree_set(0u32..400, 0..60),
        ) {
            let leaf: fn(u32) -> Digest = if before.len().is_multiple_of(2) { crowded } else { leaf };
            let before_leaves: Vec<Digest> = before.iter().map(|n| leaf(*n)).collect();
            let after_leaves: Vec<Digest> = after.iter().map(|n| leaf(*n)).collect();
            let mut tree = EntryTree::build(before_leaves).expect("tree");
            let removed: Vec<Digest> = before.difference(&after).map(|n| leaf(*n)).collect();
            let added: Vec<Digest> = after.difference(&before).map(|n| leaf(*n)).collect();
            let staged = tree.stage(&removed, &added).expect("stage");
            let fresh = EntryTree::build(after_leaves).expect("tree");
            prop_assert_eq!(staged.root(), fresh.root());
            prop_assert_eq!(staged.len(), fresh.len());
            tree.commit(staged);
            prop_assert_eq!(tree.root(), fresh.root());
            prop_assert_eq!(&tree.nodes, &fresh.nodes);
            prop_assert_eq!(&tree.leaves, &fresh.leaves);
        }
    }
}
