//! Configuration deltas: how a gateway follows a national-scale configuration without
//! downloading, parsing or hashing the whole document on every change (DESIGN.md "Delta at
//! scale", "Configuration tree").
//!
//! A delta is not trusted on its own. It carries the changes from a version the gateway holds to
//! a later one, with the later version's signed head. The gateway works out which leaves of its
//! tree ([`crate::config_tree`]) the changes replace, computes the new root over the buckets they
//! touch, and takes the changes only if that root is the one the head signs. What it then holds
//! is the document a full download would have given it, byte for byte ([`HeldConfig::document`]),
//! with the same rollback and equivocation checks. A delta that does not produce the signed root
//! is refused and the gateway falls back to the full document.
//!
//! Every keyed list of the configuration is sorted by its entries' id text in byte order (the
//! authority's snapshot order), so an entry is found by halving and a large delta is one merge.

use crate::config::{
    AuthorityInfo, ConfigDocument, ConfigHead, FederatedNetwork, GatewayEntry, GlobalConfig,
    MemberEntry, ServiceEntry, CONFIG_FORMAT,
};
use crate::config_tree::{
    Digest, EntryTree, LeafHasher, Section, Staged, TreeError, TREE_ALGORITHM,
};
use crate::encoding::{b64url, b64url_decode};
use crate::names::{MemberClass, NetworkId, SubsystemId};
use crate::shared_list::SharedList;
use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;
use time::OffsetDateTime;

/// The `format` of deltas this version of psn reads and writes.
pub const DELTA_FORMAT: &str = "psn-config-delta/2";

/// Media type of a delta on the wire.
pub const DELTA_MEDIA_TYPE: &str = "application/psn-config-delta+json";

/// An entry of one of the configuration's keyed lists.
pub trait Keyed {
    /// Writes the id text the list is sorted and matched by into `out` (cleared first), so a
    /// merge over a national-scale list reuses one buffer.
    fn write_key(&self, out: &mut String);

    /// The id text the list is sorted and matched by.
    fn key(&self) -> String {
        let mut key = String::new();
        self.write_key(&mut key);
        key
    }
}

/// Implements [`Keyed`] by an id's `Display` form.
macro_rules! keyed_by {
    ($type:ty, |$entry:ident| $id:expr) => {
        impl Keyed for $type {
            fn write_key(&self, out: &mut String) {
                use std::fmt::Write;
                out.clear();
                let $entry = self;
                // Writing into a String cannot fail.
                let _ = write!(out, "{}", $id);
            }
        }
    };
}

/// How a list of the document holds its entries: the keyed lists of national size behind shared
/// pointers, so that versions share unchanged entries; the revoked serials as they are.
pub trait Holds<T>: Borrow<T> {
    /// Holds a copy of `entry`.
    fn hold(entry: &T) -> Self;
}

impl<T: Clone> Holds<T> for T {
    fn hold(entry: &T) -> Self {
        entry.clone()
    }
}

impl<T: Clone> Holds<T> for Arc<T> {
    fn hold(entry: &T) -> Self {
        Arc::new(entry.clone())
    }
}

/// A list's entry behind a shared pointer is keyed as the entry.
impl<T: Keyed> Keyed for Arc<T> {
    fn write_key(&self, out: &mut String) {
        self.as_ref().write_key(out);
    }
}

keyed_by!(MemberEntry, |entry| entry.id);
keyed_by!(GatewayEntry, |entry| entry.id);
keyed_by!(ServiceEntry, |entry| entry.id);
keyed_by!(SubsystemId, |entry| entry);
keyed_by!(String, |entry| entry);

/// Why a document's or a delta's entries are not those a signed head covers, or a delta cannot
/// be built, composed or applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// The delta was written for another version than the one it is applied to or composed with.
    #[error("delta from version {from} cannot apply to version {held}")]
    WrongBase { from: u64, held: u64 },
    /// The delta does not move forward.
    #[error("delta from version {from} to version {to} does not move forward")]
    Backwards { from: u64, to: u64 },
    /// Another network's or another format's delta.
    #[error("delta refused: {0}")]
    Foreign(String),
    /// A list, or a list's changes, not strictly sorted by id text, or an id both kept and
    /// removed.
    #[error("the {0} entries or changes are not strictly sorted by id, or name an id twice")]
    Unsorted(&'static str),
    /// The document's own facts differ from the signed head's.
    #[error("{0}")]
    Head(String),
    /// The entries do not produce the root the head signs.
    #[error("the entries do not produce the root the authority signed")]
    Root,
    /// The entries cannot form a tree.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// An entry could not be written as JSON.
    #[error("an entry cannot be serialised: {0}")]
    Serialise(String),
}

impl From<serde_json::Error> for ContentError {
    fn from(e: serde_json::Error) -> Self {
        Self::Serialise(e.to_string())
    }
}

/// The changes to one keyed list: entries added or changed, and ids removed, each strictly
/// sorted by id text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Changes<T> {
    /// New entries, and entries whose content changed, whole.
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    pub upsert: Vec<T>,
    /// Ids of entries no longer listed.
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

impl<T> Default for Changes<T> {
    fn default() -> Self {
        Self {
            upsert: Vec::new(),
            remove: Vec::new(),
        }
    }
}

impl<T: Keyed + Clone + PartialEq> Changes<T> {
    /// The changes that turn `old` into `new`; both sorted by id text. Either list may hold
    /// its entries as they are or behind shared pointers.
    pub fn between<'a, 'b, A, B>(
        old: impl IntoIterator<Item = &'a A>,
        new: impl IntoIterator<Item = &'b B>,
    ) -> Self
    where
        T: 'a + 'b,
        A: Borrow<T> + 'a,
        B: Borrow<T> + 'b,
    {
        let mut changes = Self::default();
        let (mut old, mut new) = (
            old.into_iter().map(Borrow::borrow).peekable(),
            new.into_iter().map(Borrow::borrow).peekable(),
        );
        let (mut old_key, mut new_key) = (String::new(), String::new());
        let refresh = |entry: Option<&&T>, key: &mut String| {
            if let Some(entry) = entry {
                entry.write_key(key);
            }
        };
        refresh(old.peek(), &mut old_key);
        refresh(new.peek(), &mut new_key);
        loop {
            let order = match (old.peek(), new.peek()) {
                (None, None) => return changes,
                (Some(_), Some(_)) => old_key.cmp(&new_key),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
            };
            match order {
                Ordering::Equal => {
                    if let (Some(a), Some(b)) = (old.next(), new.next()) {
                        if a != b {
                            changes.upsert.push(b.clone());
                        }
                    }
                    refresh(old.peek(), &mut old_key);
                    refresh(new.peek(), &mut new_key);
                }
                Ordering::Less => {
                    changes.remove.push(old_key.clone());
                    old.next();
                    refresh(old.peek(), &mut old_key);
                }
                Ordering::Greater => {
                    changes.upsert.extend(new.next().cloned());
                    refresh(new.peek(), &mut new_key);
                }
            }
        }
    }

    fn leaf_changes(
        &self,
        base: &impl SortedList<T>,
        section: Section,
        hasher: &mut LeafHasher,
        removed: &mut Vec<Digest>,
        added: &mut Vec<Digest>,
    ) -> Result<(), ContentError>
    where
        T: Serialize,
    {
        self.check_order(section)?;
        let mut key = String::new();
        for entry in &self.upsert {
            entry.write_key(&mut key);
            match base.find(&key) {
                Ok(held) if base.entry(held) == entry => {}
                Ok(held) => {
                    removed.push(hasher.leaf(section, base.entry(held))?);
                    added.push(hasher.leaf(section, entry)?);
                }
                Err(_) => added.push(hasher.leaf(section, entry)?),
            }
        }
        for id in &self.remove {
            if let Ok(held) = base.find(id) {
                removed.push(hasher.leaf(section, base.entry(held))?);
            }
        }
        Ok(())
    }

    /// Refuses changes whose upserts or removals are not strictly sorted by id text, or that
    /// both upsert and remove an id.
    fn check_order(&self, section: Section) -> Result<(), ContentError> {
        let upserts: Vec<String> = self.upsert.iter().map(Keyed::key).collect();
        let both = upserts.iter().any(|k| self.remove.binary_search(k).is_ok());
        if both
            || !strictly_sorted(upserts.iter().map(String::as_str))
            || !strictly_sorted(self.remove.iter().map(String::as_str))
        {
            return Err(ContentError::Unsorted(section.name()));
        }
        Ok(())
    }

    /// Makes these changes to `list`, sorted by id text, in place: a few changes are found by
    /// halving, many are merged in one pass that moves entries rather than copying them.
    fn apply_to<L: SortedList<T>>(&self, list: &mut L) {
        const IN_PLACE: usize = 64;
        let mut key = String::new();
        if self.len() <= IN_PLACE {
            for id in &self.remove {
                if let Ok(held) = list.find(id) {
                    list.remove(held);
                }
            }
            for entry in &self.upsert {
                entry.write_key(&mut key);
                match list.find(&key) {
                    Ok(held) => list.set(held, L::Held::hold(entry)),
                    Err(at) => list.insert(at, L::Held::hold(entry)),
                }
            }
            return;
        }
        let base = list.take_all();
        let mut out = Vec::with_capacity(base.len() + self.upsert.len());
        let mut upserts = self.upsert.iter().peekable();
        let mut upsert_key = String::new();
        for entry in base {
            entry.write_key(&mut key);
            let mut replaced = false;
            while let Some(next) = upserts.peek() {
                next.write_key(&mut upsert_key);
                match upsert_key.as_str().cmp(key.as_str()) {
                    Ordering::Less => out.push(L::Held::hold(next)),
                    Ordering::Equal => {
                        out.push(L::Held::hold(next));
                        replaced = true;
                    }
                    Ordering::Greater => break,
                }
                upserts.next();
                if replaced {
                    break;
                }
            }
            if !replaced && self.remove.binary_search(&key).is_err() {
                out.push(entry);
            }
        }
        out.extend(upserts.map(L::Held::hold));
        list.replace_all(out);
    }

    /// These changes followed by `later`'s: what one delta spanning both would carry.
    pub fn then(self, later: Self) -> Self {
        let mut merged: BTreeMap<String, Option<T>> = BTreeMap::new();
        for step in [self, later] {
            merged.extend(step.upsert.into_iter().map(|e| (e.key(), Some(e))));
            merged.extend(step.remove.into_iter().map(|k| (k, None)));
        }
        let mut changes = Self::default();
        for (key, entry) in merged {
            match entry {
                Some(entry) => changes.upsert.push(entry),
                None => changes.remove.push(key),
            }
        }
        changes
    }

    /// How many entries these changes name.
    pub fn len(&self) -> usize {
        self.upsert.len() + self.remove.len()
    }

    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The changes from one configuration version to a later one, with the later version's signed
/// head. Small sections (the authority, classes, federated networks) travel whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigDelta {
    /// [`DELTA_FORMAT`].
    pub format: String,
    /// The network both versions govern.
    pub network: NetworkId,
    /// The version the changes apply to.
    pub from_version: u64,
    /// The version they produce.
    pub version: u64,
    /// The produced version's signed head (compact JWS): its root is what the changed entries
    /// are checked against.
    pub head: String,
    /// The produced version's authority section.
    pub authority: AuthorityInfo,
    /// The produced version's member classes.
    pub classes: Vec<MemberClass>,
    /// Member changes.
    pub members: Changes<MemberEntry>,
    /// Subsystem changes.
    pub subsystems: Changes<SubsystemId>,
    /// Gateway changes.
    pub gateways: Changes<GatewayEntry>,
    /// Service changes.
    pub services: Changes<ServiceEntry>,
    /// The produced version's federated networks.
    pub federation: Vec<FederatedNetwork>,
    /// Revoked serial changes.
    pub revoked_serials: Changes<String>,
}

impl ConfigDelta {
    /// The delta from `old` to `new`, whose signed head is `head`.
    pub fn between(
        old: &GlobalConfig,
        new: &GlobalConfig,
        head: &str,
    ) -> Result<Self, ContentError> {
        if new.version <= old.version {
            return Err(ContentError::Backwards {
                from: old.version,
                to: new.version,
            });
        }
        Ok(Self {
            format: DELTA_FORMAT.to_owned(),
            network: new.network.clone(),
            from_version: old.version,
            version: new.version,
            head: head.to_owned(),
            authority: new.authority.clone(),
            classes: new.classes.clone(),
            members: Changes::between(&old.members, &new.members),
            subsystems: Changes::between(&old.subsystems, &new.subsystems),
            gateways: Changes::between(&old.gateways, &new.gateways),
            services: Changes::between(&old.services, &new.services),
            federation: new.federation.clone(),
            revoked_serials: Changes::between(&old.revoked_serials, &new.revoked_serials),
        })
    }

    /// This delta followed by `later`: one delta from this one's base to `later`'s version.
    pub fn then(self, later: Self) -> Result<Self, ContentError> {
        if later.from_version != self.version {
            return Err(ContentError::WrongBase {
                from: later.from_version,
                held: self.version,
            });
        }
        Ok(Self {
            from_version: self.from_version,
            members: self.members.then(later.members),
            subsystems: self.subsystems.then(later.subsystems),
            gateways: self.gateways.then(later.gateways),
            services: self.services.then(later.services),
            revoked_serials: self.revoked_serials.then(later.revoked_serials),
            ..later
        })
    }

    /// How many list entries the delta names: a measure of its size against a full document.
    pub fn entries(&self) -> usize {
        self.members.len()
            + self.subsystems.len()
            + self.gateways.len()
            + self.services.len()
            + self.revoked_serials.len()
    }
}

/// A configuration version with the tree over its entries: what a gateway holds, so that the
/// next version's changes are checked against the next signed root in time proportional to them.
#[derive(Debug, Clone)]
pub struct HeldConfig {
    config: Arc<GlobalConfig>,
    tree: EntryTree,
    head: String,
}

impl HeldConfig {
    /// Builds the tree over `config` and checks it against `head`, whose signature the caller
    /// checked (it was signed as `head_jws`): the version's facts, the lists' order (so that the
    /// entries have one form) and the root.
    pub fn new(
        head_jws: String,
        head: &ConfigHead,
        config: GlobalConfig,
    ) -> Result<Self, ContentError> {
        check_head(head, &config.network)?;
        if !head.describes(&config) {
            return Err(ContentError::Head(
                "the document's format, network, version or validity differ from the signed head"
                    .into(),
            ));
        }
        let tree = tree_over(&config)?;
        if !root_matches(head, tree.root(), tree.len()) {
            return Err(ContentError::Root);
        }
        Ok(Self {
            config: Arc::new(config),
            tree,
            head: head_jws,
        })
    }

    /// The document.
    pub fn config(&self) -> &GlobalConfig {
        &self.config
    }

    /// The document, shared rather than copied (tens of megabytes at national scale).
    pub fn shared(&self) -> Arc<GlobalConfig> {
        self.config.clone()
    }

    /// The signed head (compact JWS).
    pub fn head(&self) -> &str {
        &self.head
    }

    /// The document as it travels: exactly the bytes a full download of this version gives.
    pub fn document(&self) -> Result<String, serde_json::Error> {
        ConfigDocument::write(&self.head, &self.config)
    }

    /// Makes `delta`'s changes if they produce the entries `head` covers; `head` is the delta's
    /// head, whose signature the caller checked. Nothing changes when the delta is refused.
    pub fn apply(&mut self, delta: &ConfigDelta, head: &ConfigHead) -> Result<(), ContentError> {
        let staged = self.stage(delta, head)?;
        self.commit(staged)
    }

    /// Checks `delta`'s changes against `head` without making them, so that the caller can store
    /// the delta durably before the version is used ([`Self::commit`]).
    pub fn stage<'d>(
        &self,
        delta: &'d ConfigDelta,
        head: &ConfigHead,
    ) -> Result<StagedDelta<'d>, ContentError> {
        let tree = self.changed_tree(delta)?;
        check_head(head, &self.config.network)?;
        if head.version != delta.version {
            return Err(ContentError::Head(format!(
                "the delta produces version {}, its head signs version {}",
                delta.version, head.version
            )));
        }
        if !root_matches(head, tree.root(), tree.len()) {
            return Err(ContentError::Root);
        }
        Ok(StagedDelta {
            delta,
            head: head.clone(),
            tree,
        })
    }

    /// The authority's side of [`Self::stage`]: the head that `delta`'s changes produce from this
    /// version, valid from `issued_at` to `expires_at`, for the authority to sign. The delta's own
    /// head is not read; the signed one goes into it before [`ProposedDelta::signed`].
    pub fn propose(
        &self,
        delta: &ConfigDelta,
        issued_at: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<ProposedDelta, ContentError> {
        let tree = self.changed_tree(delta)?;
        let head = ConfigHead {
            format: CONFIG_FORMAT.to_owned(),
            network: delta.network.clone(),
            version: delta.version,
            issued_at,
            expires_at,
            tree: TREE_ALGORITHM.to_owned(),
            root: b64url(tree.root()),
            entries: u64::try_from(tree.len()).map_err(|e| ContentError::Head(e.to_string()))?,
        };
        Ok(ProposedDelta { head, tree })
    }

    /// The tree `delta`'s changes give this version's, after the checks that need no head: the
    /// delta's format, network and versions, and the order of its changes.
    fn changed_tree(&self, delta: &ConfigDelta) -> Result<Staged, ContentError> {
        let held = self.config.as_ref();
        if delta.format != DELTA_FORMAT {
            return Err(ContentError::Foreign(format!(
                "format {:?} is not {DELTA_FORMAT:?}",
                delta.format
            )));
        }
        if delta.network != held.network {
            return Err(ContentError::Foreign(format!(
                "delta for network {}, configuration of network {}",
                delta.network, held.network
            )));
        }
        if delta.from_version != held.version {
            return Err(ContentError::WrongBase {
                from: delta.from_version,
                held: held.version,
            });
        }
        if delta.version <= delta.from_version {
            return Err(ContentError::Backwards {
                from: delta.from_version,
                to: delta.version,
            });
        }
        let (mut removed, mut added) = (Vec::new(), Vec::new());
        let mut hasher = LeafHasher::default();
        hasher.leaves(
            Section::Authority,
            std::slice::from_ref(&held.authority),
            &mut removed,
        )?;
        hasher.leaves(
            Section::Authority,
            std::slice::from_ref(&delta.authority),
            &mut added,
        )?;
        hasher.leaves(Section::Class, &held.classes, &mut removed)?;
        hasher.leaves(Section::Class, &delta.classes, &mut added)?;
        hasher.leaves(Section::Federation, &held.federation, &mut removed)?;
        hasher.leaves(Section::Federation, &delta.federation, &mut added)?;
        let keyed = [
            delta.members.leaf_changes(
                &held.members,
                Section::Member,
                &mut hasher,
                &mut removed,
                &mut added,
            ),
            delta.subsystems.leaf_changes(
                &held.subsystems,
                Section::Subsystem,
                &mut hasher,
                &mut removed,
                &mut added,
            ),
            delta.gateways.leaf_changes(
                &held.gateways,
                Section::Gateway,
                &mut hasher,
                &mut removed,
                &mut added,
            ),
            delta.services.leaf_changes(
                &held.services,
                Section::Service,
                &mut hasher,
                &mut removed,
                &mut added,
            ),
            delta.revoked_serials.leaf_changes(
                &held.revoked_serials,
                Section::Revoked,
                &mut hasher,
                &mut removed,
                &mut added,
            ),
        ];
        keyed.into_iter().collect::<Result<(), _>>()?;
        Ok(self.tree.stage(&removed, &added)?)
    }

    /// Makes a change [`Self::stage`] checked against this version.
    pub fn commit(&mut self, staged: StagedDelta<'_>) -> Result<(), ContentError> {
        let StagedDelta { delta, head, tree } = staged;
        if delta.from_version != self.config.version {
            return Err(ContentError::WrongBase {
                from: delta.from_version,
                held: self.config.version,
            });
        }
        self.tree.commit(tree);
        let config = Arc::make_mut(&mut self.config);
        config.version = head.version;
        config.issued_at = head.issued_at;
        config.expires_at = head.expires_at;
        config.authority = delta.authority.clone();
        config.classes = delta.classes.clone();
        config.federation = delta.federation.clone();
        delta.members.apply_to(&mut config.members);
        delta.subsystems.apply_to(&mut config.subsystems);
        delta.gateways.apply_to(&mut config.gateways);
        delta.services.apply_to(&mut config.services);
        delta.revoked_serials.apply_to(&mut config.revoked_serials);
        self.head = delta.head.clone();
        Ok(())
    }
}

/// The head that covers `config`: its facts and the root of the tree over its entries, for the
/// authority to sign.
pub fn head_to_sign(config: &GlobalConfig) -> Result<ConfigHead, ContentError> {
    let tree = EntryTree::build(LeafHasher::default().all(config)?)?;
    head_over(config, &tree)
}

/// The tree over `config`'s entries, once its lists are checked to be in their one order.
fn tree_over(config: &GlobalConfig) -> Result<EntryTree, ContentError> {
    check_sorted(&config.members, Section::Member)?;
    check_sorted(&config.subsystems, Section::Subsystem)?;
    check_sorted(&config.gateways, Section::Gateway)?;
    check_sorted(&config.services, Section::Service)?;
    check_sorted(&config.revoked_serials, Section::Revoked)?;
    Ok(EntryTree::build(LeafHasher::default().all(config)?)?)
}

/// A version the authority built whole, with the tree over its entries and the head that covers
/// them, not yet signed. Signing it gives what a gateway would hold after checking it, without
/// building the tree twice.
#[derive(Debug)]
pub struct UnsignedConfig {
    config: GlobalConfig,
    tree: EntryTree,
    head: ConfigHead,
}

impl UnsignedConfig {
    /// Builds the tree over `config`, whose lists must be in their one order.
    pub fn new(config: GlobalConfig) -> Result<Self, ContentError> {
        let tree = tree_over(&config)?;
        let head = head_over(&config, &tree)?;
        Ok(Self { config, tree, head })
    }

    /// The head to sign.
    pub fn head(&self) -> &ConfigHead {
        &self.head
    }

    /// The version with its signed head (`head_jws`, the compact JWS over [`Self::head`]).
    pub fn signed(self, head_jws: String) -> HeldConfig {
        HeldConfig {
            config: Arc::new(self.config),
            tree: self.tree,
            head: head_jws,
        }
    }
}

/// The head of `config`, whose entries form `tree`.
fn head_over(config: &GlobalConfig, tree: &EntryTree) -> Result<ConfigHead, ContentError> {
    Ok(ConfigHead {
        format: config.format.clone(),
        network: config.network.clone(),
        version: config.version,
        issued_at: config.issued_at,
        expires_at: config.expires_at,
        tree: TREE_ALGORITHM.to_owned(),
        root: b64url(tree.root()),
        entries: u64::try_from(tree.len()).map_err(|e| ContentError::Head(e.to_string()))?,
    })
}

/// A delta checked against a held version's tree and the delta's signed head, not yet made.
#[derive(Debug)]
pub struct StagedDelta<'d> {
    delta: &'d ConfigDelta,
    head: ConfigHead,
    tree: Staged,
}

impl StagedDelta<'_> {
    /// The head the delta was checked against.
    pub fn head(&self) -> &ConfigHead {
        &self.head
    }
}

/// A version's head worked out by the authority from a delta ([`HeldConfig::propose`]), not yet
/// signed.
#[derive(Debug)]
pub struct ProposedDelta {
    head: ConfigHead,
    tree: Staged,
}

impl ProposedDelta {
    /// The head to sign.
    pub fn head(&self) -> &ConfigHead {
        &self.head
    }

    /// The delta, now carrying the signed head, ready for [`HeldConfig::commit`].
    pub fn signed(self, delta: &ConfigDelta) -> Result<StagedDelta<'_>, ContentError> {
        if delta.version != self.head.version {
            return Err(ContentError::Head(format!(
                "the delta produces version {}, the proposed head is of version {}",
                delta.version, self.head.version
            )));
        }
        Ok(StagedDelta {
            delta,
            head: self.head,
            tree: self.tree,
        })
    }
}

/// The head's own facts: this format, this tree, this network.
fn check_head(head: &ConfigHead, network: &NetworkId) -> Result<(), ContentError> {
    if head.format != CONFIG_FORMAT {
        return Err(ContentError::Foreign(format!(
            "format {:?} is not {CONFIG_FORMAT:?}",
            head.format
        )));
    }
    if head.tree != TREE_ALGORITHM {
        return Err(ContentError::Foreign(format!(
            "tree {:?} is not {TREE_ALGORITHM:?}",
            head.tree
        )));
    }
    if &head.network != network {
        return Err(ContentError::Foreign(format!(
            "head for network {}, configuration of network {network}",
            head.network
        )));
    }
    Ok(())
}

/// Whether a tree with `root` and `len` leaves is the one `head` signs.
fn root_matches(head: &ConfigHead, root: &Digest, len: usize) -> bool {
    b64url_decode(&head.root).is_some_and(|signed| signed.as_slice() == root.as_slice())
        && u64::try_from(len).is_ok_and(|len| len == head.entries)
}

/// Refuses a list that is not strictly sorted by id text.
fn check_sorted<'a, T: Keyed + 'a>(
    list: impl IntoIterator<Item = &'a T>,
    section: Section,
) -> Result<(), ContentError> {
    let mut previous = String::new();
    let mut key = String::new();
    for (position, entry) in list.into_iter().enumerate() {
        entry.write_key(&mut key);
        if position > 0 && key <= previous {
            return Err(ContentError::Unsorted(section.name()));
        }
        std::mem::swap(&mut previous, &mut key);
    }
    Ok(())
}

/// One of the document's keyed lists, sorted by id text: the national-size lists in shared
/// chunks ([`SharedList`]), the revoked serials as a plain vector. What a delta's changes need of
/// a list, whichever way it holds its entries.
trait SortedList<T: Keyed> {
    /// How the list holds an entry.
    type Held: Holds<T> + Keyed;

    /// The position of the entry with id text `key`, or where it would go.
    fn find(&self, key: &str) -> Result<usize, usize>;

    /// The entry at `index`, which [`Self::find`] gave.
    fn entry(&self, index: usize) -> &T;

    fn set(&mut self, index: usize, entry: Self::Held);

    fn insert(&mut self, index: usize, entry: Self::Held);

    fn remove(&mut self, index: usize);

    /// Every entry, leaving the list empty.
    fn take_all(&mut self) -> Vec<Self::Held>;

    /// Holds `entries`, sorted by id text, in place of what it held.
    fn replace_all(&mut self, entries: Vec<Self::Held>);
}

/// Compares each entry's id text with `key`, writing it into one reused buffer.
fn key_order<T: Keyed>(key: &str) -> impl FnMut(&T) -> Ordering + '_ {
    let mut buffer = String::new();
    move |entry| {
        entry.write_key(&mut buffer);
        buffer.as_str().cmp(key)
    }
}

impl<T: Keyed + Clone> SortedList<T> for Vec<T> {
    type Held = T;

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.binary_search_by(key_order(key))
    }

    fn entry(&self, index: usize) -> &T {
        &self[index]
    }

    fn set(&mut self, index: usize, entry: T) {
        self[index] = entry;
    }

    fn insert(&mut self, index: usize, entry: T) {
        Vec::insert(self, index, entry);
    }

    fn remove(&mut self, index: usize) {
        Vec::remove(self, index);
    }

    fn take_all(&mut self) -> Vec<T> {
        std::mem::take(self)
    }

    fn replace_all(&mut self, entries: Vec<T>) {
        *self = entries;
    }
}

impl<T: Keyed + Clone> SortedList<T> for SharedList<T> {
    type Held = Arc<T>;

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.binary_search_by(key_order(key))
    }

    fn entry(&self, index: usize) -> &T {
        &self[index]
    }

    fn set(&mut self, index: usize, entry: Arc<T>) {
        SharedList::set(self, index, entry);
    }

    fn insert(&mut self, index: usize, entry: Arc<T>) {
        SharedList::insert(self, index, entry);
    }

    fn remove(&mut self, index: usize) {
        SharedList::remove(self, index);
    }

    fn take_all(&mut self) -> Vec<Arc<T>> {
        std::mem::take(self).iter().cloned().collect()
    }

    fn replace_all(&mut self, entries: Vec<Arc<T>>) {
        *self = SharedList::from(entries);
    }
}

/// Whether `keys` strictly increase.
fn strictly_sorted<'k>(keys: impl Iterator<Item = &'k str>) -> bool {
    let mut previous: Option<&str> = None;
    keys.into_iter().all(|k| {
        let ok = previous.is_none_or(|p| p < k);
        previous = Some(k);
        ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MemberStatus;
    use crate::names::GatewayId;
    use proptest::prelude::*;
    use time::OffsetDateTime;

    fn member(code: &str, status: MemberStatus) -> MemberEntry {
        MemberEntry {
            id: format!("GB/LA/{code}").parse().expect("member id"),
            name: format!("Council {code}"),
            status,
            sector: Some("local-government".into()),
            region: None,
        }
    }

    fn service(member: &str, code: &str) -> ServiceEntry {
        ServiceEntry {
            id: format!("GB/LA/{member}/sys/{code}")
                .parse()
                .expect("service id"),
            title: code.to_owned(),
            processes: Vec::new(),
        }
    }

    fn sorted<T: Keyed>(mut entries: Vec<T>) -> SharedList<T> {
        entries.sort_by_key(|e| e.key());
        entries.into_iter().map(Arc::new).collect()
    }

    fn config(version: u64, members: &[&str], services: &[(&str, &str)]) -> GlobalConfig {
        let issued_at = OffsetDateTime::from_unix_timestamp(1_800_000_000 + version as i64)
            .expect("time")
            + time::Duration::nanoseconds(123_456_789);
        GlobalConfig {
            format: CONFIG_FORMAT.to_owned(),
            network: "GB".parse().expect("network"),
            version,
            issued_at,
            expires_at: issued_at + time::Duration::days(7),
            authority: AuthorityInfo {
                endpoints: vec!["https://authority.example:8443".into()],
                ca_certificate: "PEM".into(),
            },
            classes: Vec::new(),
            members: sorted(
                members
                    .iter()
                    .map(|m| member(m, MemberStatus::Active))
                    .collect(),
            ),
            subsystems: sorted(
                members
                    .iter()
                    .map(|m| {
                        format!("GB/LA/{m}/sys")
                            .parse::<SubsystemId>()
                            .expect("subsystem")
                    })
                    .collect(),
            ),
            gateways: sorted(
                members
                    .iter()
                    .map(|m| GatewayEntry {
                        id: format!("GB/LA/{m}@gw1").parse::<GatewayId>().expect("gw"),
                        address: Some(format!("{m}.example:8443")),
                    })
                    .collect(),
            ),
            services: sorted(services.iter().map(|(m, s)| service(m, s)).collect()),
            federation: Vec::new(),
            revoked_serials: vec!["0a".into()],
        }
    }

    /// The head the authority would sign for `config`, and a stand-in for its JWS (the
    /// signature is psn-pki's to check; these tests start from a head already checked).
    fn head(config: &GlobalConfig) -> (String, ConfigHead) {
        let head = head_to_sign(config).expect("head");
        (format!("head-of-v{}", config.version), head)
    }

    fn held(config: &GlobalConfig) -> HeldConfig {
        let (jws, head) = head(config);
        HeldConfig::new(jws, &head, config.clone()).expect("held")
    }

    fn delta(old: &GlobalConfig, new: &GlobalConfig) -> (ConfigDelta, ConfigHead) {
        let (jws, head) = head(new);
        (ConfigDelta::between(old, new, &jws).expect("delta"), head)
    }

    #[test]
    fn a_delta_rebuilds_the_later_version_exactly() {
        let old = config(4, &["A1", "B2", "C3"], &[("A1", "x"), ("B2", "y")]);
        let mut new = config(5, &["A1", "B2", "D4"], &[("A1", "x"), ("D4", "z")]);
        new.members.make_mut(1).status = MemberStatus::Suspended;
        new.revoked_serials.push("0b".into());
        let (delta, signed) = delta(&old, &new);
        assert_eq!(delta.members.upsert.len(), 2, "B2 changed, D4 added");
        assert_eq!(delta.members.remove, vec!["GB/LA/C3".to_owned()]);
        assert_eq!(delta.services.remove, vec!["GB/LA/B2/sys/y".to_owned()]);
        assert_eq!(delta.revoked_serials.upsert, vec!["0b".to_owned()]);
        let mut held = held(&old);
        held.apply(&delta, &signed).expect("apply");
        assert_eq!(held.config(), &new);
        assert_eq!(held.head(), "head-of-v5");
        assert_eq!(
            held.document().expect("document"),
            ConfigDocument::write("head-of-v5", &new).expect("document"),
            "byte for byte what a full download gives"
        );
    }

    #[test]
    fn a_delta_survives_the_wire() {
        let old = config(1, &["A1"], &[]);
        let new = config(2, &["A1", "B2"], &[("B2", "s")]);
        let (delta, signed) = delta(&old, &new);
        let text = serde_json::to_string(&delta).expect("json");
        let back: ConfigDelta = serde_json::from_str(&text).expect("parse");
        let mut held = held(&old);
        held.apply(&back, &signed).expect("apply");
        assert_eq!(held.config(), &new);
    }

    #[test]
    fn composed_deltas_span_both_steps() {
        let v1 = config(1, &["A1", "B2"], &[("A1", "s")]);
        let v2 = config(2, &["A1", "B2", "C3"], &[("A1", "s"), ("C3", "t")]);
        let v3 = config(3, &["A1", "D4"], &[("D4", "u")]);
        let (first, _) = delta(&v1, &v2);
        let (second, signed) = delta(&v2, &v3);
        let both = first.clone().then(second.clone()).expect("compose");
        assert_eq!((both.from_version, both.version), (1, 3));
        let mut held = held(&v1);
        held.apply(&both, &signed).expect("apply");
        assert_eq!(held.config(), &v3);
        assert!(matches!(
            second.then(first),
            Err(ContentError::WrongBase { from: 1, held: 3 })
        ));
    }

    /// Applies a delta that must be refused, and checks the held version is untouched.
    fn refused(held: &mut HeldConfig, delta: &ConfigDelta, head: &ConfigHead) -> ContentError {
        let before = (
            held.config().clone(),
            held.head().to_owned(),
            *held.tree.root(),
        );
        let error = held.apply(delta, head).expect_err("refused");
        let after = (
            held.config().clone(),
            held.head().to_owned(),
            *held.tree.root(),
        );
        assert_eq!(before, after, "a refused delta changes nothing");
        error
    }

    #[test]
    fn a_delta_applies_only_to_its_own_base_and_head() {
        let v1 = config(1, &["A1"], &[]);
        let v2 = config(2, &["A1", "B2"], &[]);
        let v3 = config(3, &["B2"], &[]);
        let (delta, signed) = delta(&v2, &v3);
        let mut on_v1 = held(&v1);
        assert_eq!(
            refused(&mut on_v1, &delta, &signed),
            ContentError::WrongBase { from: 2, held: 1 }
        );
        let mut on_v2 = held(&v2);
        let mut foreign = delta.clone();
        foreign.format = "psn-config-delta/3".into();
        assert!(matches!(
            refused(&mut on_v2, &foreign, &signed),
            ContentError::Foreign(_)
        ));
        foreign = delta.clone();
        foreign.network = "XX".parse().expect("network");
        assert!(matches!(
            refused(&mut on_v2, &foreign, &signed),
            ContentError::Foreign(_)
        ));
        let mut backwards = delta.clone();
        backwards.version = 2;
        assert!(matches!(
            refused(&mut on_v2, &backwards, &signed),
            ContentError::Backwards { .. }
        ));
        let (_, v2_head) = head(&v2);
        assert!(matches!(
            refused(&mut on_v2, &delta, &v2_head),
            ContentError::Head(_)
        ));
        let mut other_tree = signed.clone();
        other_tree.tree = "merkle-sha1".into();
        assert!(matches!(
            refused(&mut on_v2, &delta, &other_tree),
            ContentError::Foreign(_)
        ));
        assert!(matches!(
            ConfigDelta::between(&v3, &v2, "h"),
            Err(ContentError::Backwards { .. })
        ));
        on_v2.apply(&delta, &signed).expect("its own base");
        assert!(
            matches!(
                refused(&mut on_v2, &delta, &signed),
                ContentError::WrongBase { from: 2, held: 3 }
            ),
            "a replayed delta finds a newer version held"
        );
    }

    #[test]
    fn tampered_entries_are_refused_against_the_signed_root() {
        let v1 = config(1, &["A1", "B2"], &[("A1", "s")]);
        let mut v2 = config(2, &["A1", "B2", "C3"], &[("A1", "s"), ("C3", "t")]);
        v2.members.make_mut(1).status = MemberStatus::Suspended;
        let (delta, signed) = delta(&v1, &v2);
        let mut held = held(&v1);
        let mut changed = delta.clone();
        changed.members.upsert[0].status = MemberStatus::Active;
        assert_eq!(refused(&mut held, &changed, &signed), ContentError::Root);
        let mut missing = delta.clone();
        missing.services.upsert.clear();
        assert_eq!(refused(&mut held, &missing, &signed), ContentError::Root);
        let mut extra = delta.clone();
        extra.revoked_serials.upsert.push("ff".into());
        assert_eq!(refused(&mut held, &extra, &signed), ContentError::Root);
        let mut renamed = delta.clone();
        renamed.authority.endpoints = vec!["https://elsewhere.example".into()];
        assert_eq!(refused(&mut held, &renamed, &signed), ContentError::Root);
        let mut wrong_root = signed.clone();
        wrong_root.root = b64url(&[7u8; 32]);
        assert_eq!(refused(&mut held, &delta, &wrong_root), ContentError::Root);
        let mut wrong_count = signed.clone();
        wrong_count.entries += 1;
        assert_eq!(refused(&mut held, &delta, &wrong_count), ContentError::Root);
        held.apply(&delta, &signed).expect("the genuine delta");
        assert_eq!(held.config(), &v2);
    }

    #[test]
    fn a_document_must_be_the_one_its_head_signs() {
        let v1 = config(1, &["A1", "B2"], &[("A1", "s")]);
        let (jws, signed) = head(&v1);
        let mut tampered = v1.clone();
        tampered.members.make_mut(0).name = "Someone else".into();
        assert_eq!(
            HeldConfig::new(jws.clone(), &signed, tampered).err(),
            Some(ContentError::Root)
        );
        let mut later = v1.clone();
        later.version = 9;
        assert!(matches!(
            HeldConfig::new(jws.clone(), &signed, later),
            Err(ContentError::Head(_))
        ));
        let mut reordered = v1.clone();
        let reversed: Vec<_> = reordered.members.iter().cloned().collect();
        reordered.members = reversed.into_iter().rev().collect();
        assert_eq!(
            HeldConfig::new(jws.clone(), &signed, reordered).err(),
            Some(ContentError::Unsorted("member"))
        );
        let document = ConfigDocument::write(&jws, &v1).expect("document");
        assert!(serde_json::from_str::<ConfigDocument>(&document).is_ok());
        for (from, to) in [
            ("\"revoked_serials\"", "\"revoked_serAals\""),
            ("\"sector\"", "\"sectAr\""),
            ("\"head\"", "\"hAad\""),
            ("\"status\":\"active\"", "\"status\":\"active\",\"extra\":1"),
        ] {
            let renamed = document.replacen(from, to, 1);
            assert_ne!(renamed, document, "{from}");
            assert!(
                serde_json::from_str::<ConfigDocument>(&renamed).is_err(),
                "an unknown field the root cannot see is refused: {to}"
            );
        }
        let mut doubled = v1.clone();
        doubled.revoked_serials.push("0a".into());
        assert_eq!(
            HeldConfig::new(jws, &signed, doubled).err(),
            Some(ContentError::Unsorted("revoked"))
        );
    }

    #[test]
    fn unsorted_or_contradictory_changes_are_refused() {
        let base = config(1, &["A1", "B2"], &[]);
        let mut held = held(&base);
        let (mut unsorted, signed) = delta(&base, &config(2, &["C3", "D4"], &[]));
        unsorted.members.upsert.reverse();
        assert_eq!(
            refused(&mut held, &unsorted, &signed),
            ContentError::Unsorted("member")
        );
        let (mut both, signed) = delta(&base, &config(2, &["A1", "B2"], &[]));
        both.members.upsert.push(member("A1", MemberStatus::Left));
        both.members.remove.push("GB/LA/A1".into());
        assert_eq!(
            refused(&mut held, &both, &signed),
            ContentError::Unsorted("member")
        );
        let (mut duplicate, signed) = delta(&base, &config(2, &["A1", "B2"], &[]));
        duplicate.members.remove = vec!["GB/LA/B2".into(), "GB/LA/B2".into()];
        assert_eq!(
            refused(&mut held, &duplicate, &signed),
            ContentError::Unsorted("member")
        );
    }

    #[test]
    fn hostile_deltas_are_refused_when_parsed() {
        for text in [
            "",
            "{}",
            r#"{"format":"psn-config-delta/2"}"#,
            r#"{"format":"psn-config-delta/2","network":"not a network!"}"#,
        ] {
            assert!(serde_json::from_str::<ConfigDelta>(text).is_err(), "{text}");
        }
        let old = config(1, &["A1"], &[]);
        let (delta, _) = delta(&old, &config(2, &["A2"], &[]));
        let mut value = serde_json::to_value(&delta).expect("json");
        value["members"]["upsert"][0]["id"] = "GB/LA/../etc".into();
        assert!(serde_json::from_value::<ConfigDelta>(value).is_err());
        let mut value = serde_json::to_value(&delta).expect("json");
        value["smuggled"] = "field".into();
        assert!(serde_json::from_value::<ConfigDelta>(value).is_err());
    }

    #[test]
    fn lists_are_keyed_by_id_text_in_byte_order() {
        let config = config(1, &["A1", "A-1", "B2"], &[]);
        let keys: Vec<String> = config.members.iter().map(Keyed::key).collect();
        assert_eq!(keys, ["GB/LA/A-1", "GB/LA/A1", "GB/LA/B2"]);
        let mut buffer = "left over".to_owned();
        config.members[2].write_key(&mut buffer);
        assert_eq!(buffer, "GB/LA/B2", "the buffer is cleared before writing");
    }

    fn codes() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::btree_set("[A-C][0-9-]{0,2}", 0..12)
            .prop_map(|s| s.into_iter().filter(|c| !c.ends_with('-')).collect())
    }

    fn many_codes() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::btree_set("[A-Z][0-9]{1,2}", 50..200)
            .prop_map(|s| s.into_iter().collect())
    }

    fn as_refs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    fn services<'a>(v: &[&'a str]) -> Vec<(&'a str, &'static str)> {
        v.iter().map(|m| (*m, "s")).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn a_delta_chain_gives_the_fresh_document_byte_for_byte(
            versions in proptest::collection::vec(prop_oneof![codes(), many_codes()], 2..8),
        ) {
            let configs: Vec<GlobalConfig> = versions
                .iter()
                .enumerate()
                .map(|(i, codes)| {
                    let codes = as_refs(codes);
                    let mut config = config(i as u64 + 1, &codes, &services(&codes));
                    if i % 2 == 1 {
                        if !config.members.is_empty() {
                            config.members.make_mut(0).status = MemberStatus::Suspended;
                        }
                        config.revoked_serials.push(format!("{i:02x}"));
                        config.revoked_serials.sort();
                    }
                    config
                })
                .collect();
            let mut held = held(&configs[0]);
            let mut composed: Option<ConfigDelta> = None;
            for pair in configs.windows(2) {
                let (step, signed) = delta(&pair[0], &pair[1]);
                held.apply(&step, &signed).expect("apply");
                let (jws, _) = head(&pair[1]);
                prop_assert_eq!(
                    held.document().expect("document"),
                    ConfigDocument::write(&jws, &pair[1]).expect("document")
                );
                composed = Some(match composed {
                    None => step,
                    Some(before) => before.then(step).expect("compose"),
                });
            }
            let last = configs.last().expect("versions");
            let mut jumped = self::held(&configs[0]);
            let (_, signed) = head(last);
            jumped.apply(&composed.expect("a step"), &signed).expect("composed");
            prop_assert_eq!(jumped.config(), last);
        }
    }
}
