//! Configuration deltas: how a gateway follows a national-scale configuration without
//! downloading and parsing the whole document on every change (DESIGN.md "delta at scale").
//!
//! A delta is neither signed nor trusted on its own. It carries the changes from a version the
//! gateway holds to a later one, together with the later version's JWS protected header and
//! signature. The gateway applies the changes, serialises the result as the authority does and
//! checks the authority's signature over it, so what it finally holds is the very JWS a full
//! download would have given it: the same bytes, the same history, the same rollback and
//! equivocation checks. A delta that does not rebuild the signed document exactly fails that
//! check and the gateway falls back to the full document.
//!
//! Every keyed list of the configuration is sorted by its entries' id text in byte order (the
//! authority's snapshot order), so applying a delta is one merge of two sorted lists.

use crate::config::{
    AuthorityInfo, FederatedNetwork, GatewayEntry, GlobalConfig, MemberEntry, ServiceEntry,
};
use crate::names::{MemberClass, NetworkId, SubsystemId};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// The `format` of deltas this version of psn reads and writes.
pub const DELTA_FORMAT: &str = "psn-config-delta/1";

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

keyed_by!(MemberEntry, |entry| entry.id);
keyed_by!(GatewayEntry, |entry| entry.id);
keyed_by!(ServiceEntry, |entry| entry.id);
keyed_by!(SubsystemId, |entry| entry);

/// Why a delta cannot be built, composed or applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeltaError {
    /// The delta was written for another version than the one it is applied to or composed with.
    #[error("delta from version {from} cannot apply to version {held}")]
    WrongBase { from: u64, held: u64 },
    /// The delta does not move forward.
    #[error("delta from version {from} to version {to} does not move forward")]
    Backwards { from: u64, to: u64 },
    /// Another network's or another format's delta.
    #[error("delta refused: {0}")]
    Foreign(String),
    /// A list's changes are not strictly sorted by id text, or an id is both kept and removed.
    #[error("delta's {0} changes are not strictly sorted by id, or name an id twice")]
    Unsorted(&'static str),
    /// The signed version's JWS text is not a compact serialisation.
    #[error("not a compact JWS: {0}")]
    Envelope(&'static str),
}

/// The changes to one keyed list: entries added or changed, and ids removed, each strictly
/// sorted by id text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The changes that turn `old` into `new`; both sorted by id text.
    pub fn between(old: &[T], new: &[T]) -> Self {
        let mut changes = Self::default();
        let (mut old, mut new) = (old.iter().peekable(), new.iter().peekable());
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

    /// `base` with these changes made; `base` sorted by id text. Removing an id that is not
    /// listed changes nothing, so composed deltas need not know what each base held.
    pub fn apply(&self, base: &[T], list: &'static str) -> Result<Vec<T>, DeltaError> {
        let upserts: Vec<(String, &T)> = self.upsert.iter().map(|e| (e.key(), e)).collect();
        if !strictly_sorted(upserts.iter().map(|(k, _)| k.as_str()))
            || !strictly_sorted(self.remove.iter().map(String::as_str))
        {
            return Err(DeltaError::Unsorted(list));
        }
        let removed = |k: &str| self.remove.binary_search_by(|r| r.as_str().cmp(k)).is_ok();
        let last_change: Option<String> = self
            .remove
            .last()
            .map(String::as_str)
            .max(upserts.last().map(|(k, _)| k.as_str()))
            .map(str::to_owned);
        let mut upserts = upserts.into_iter().peekable();
        let mut out = Vec::with_capacity(base.len() + self.upsert.len());
        let mut key = String::new();
        let mut rest = base;
        while let Some((entry, after)) = rest.split_first() {
            entry.write_key(&mut key);
            if last_change
                .as_deref()
                .is_none_or(|last| key.as_str() > last)
            {
                break;
            }
            rest = after;
            while let Some((k, e)) = upserts.next_if(|(k, _)| k.as_str() < key.as_str()) {
                if removed(&k) {
                    return Err(DeltaError::Unsorted(list));
                }
                out.push(e.clone());
            }
            let is_removed = removed(&key);
            match upserts.next_if(|(k, _)| *k == key) {
                Some(_) if is_removed => return Err(DeltaError::Unsorted(list)),
                Some((_, e)) => out.push(e.clone()),
                None if is_removed => {}
                None => out.push(entry.clone()),
            }
        }
        for (k, e) in upserts {
            if removed(&k) {
                return Err(DeltaError::Unsorted(list));
            }
            out.push(e.clone());
        }
        // Past the last change every entry is kept as it is.
        out.extend_from_slice(rest);
        Ok(out)
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

/// A version's compact JWS without its payload: what a delta carries of the signed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detached {
    /// The protected header (base64url).
    pub protected: String,
    /// The signature (base64url).
    pub signature: String,
}

impl Detached {
    /// The header and signature of `jws`.
    pub fn of(jws: &str) -> Result<Self, DeltaError> {
        let mut parts = jws.trim_end().split('.');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(protected), Some(_), Some(signature), None) => Ok(Self {
                protected: protected.to_owned(),
                signature: signature.to_owned(),
            }),
            _ => Err(DeltaError::Envelope("expected three dot-separated parts")),
        }
    }
}

/// The changes from one configuration version to a later one, with the later version's
/// signature. Small lists (classes, federation, revoked serials) travel whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigDelta {
    /// [`DELTA_FORMAT`].
    pub format: String,
    /// The network both versions govern.
    pub network: NetworkId,
    /// The version the changes apply to.
    pub from_version: u64,
    /// The version they produce.
    pub version: u64,
    /// The produced version's build time.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// The produced version's expiry.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
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
    /// The produced version's revoked serials.
    pub revoked_serials: Vec<String>,
    /// The produced version's JWS protected header (base64url), exactly as signed.
    pub protected: String,
    /// The produced version's JWS signature (base64url).
    pub signature: String,
}

impl ConfigDelta {
    /// The delta from `old` to `new`, whose signed form's header and signature are `signed`.
    pub fn between(
        old: &GlobalConfig,
        new: &GlobalConfig,
        signed: &Detached,
    ) -> Result<Self, DeltaError> {
        if new.version <= old.version {
            return Err(DeltaError::Backwards {
                from: old.version,
                to: new.version,
            });
        }
        Ok(Self {
            format: DELTA_FORMAT.to_owned(),
            network: new.network.clone(),
            from_version: old.version,
            version: new.version,
            issued_at: new.issued_at,
            expires_at: new.expires_at,
            authority: new.authority.clone(),
            classes: new.classes.clone(),
            members: Changes::between(&old.members, &new.members),
            subsystems: Changes::between(&old.subsystems, &new.subsystems),
            gateways: Changes::between(&old.gateways, &new.gateways),
            services: Changes::between(&old.services, &new.services),
            federation: new.federation.clone(),
            revoked_serials: new.revoked_serials.clone(),
            protected: signed.protected.clone(),
            signature: signed.signature.clone(),
        })
    }

    /// This delta followed by `later`: one delta from this one's base to `later`'s version.
    pub fn then(self, later: Self) -> Result<Self, DeltaError> {
        if later.from_version != self.version {
            return Err(DeltaError::WrongBase {
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
            ..later
        })
    }

    /// How many list entries the delta names: a measure of its size against a full document.
    pub fn entries(&self) -> usize {
        self.members.len() + self.subsystems.len() + self.gateways.len() + self.services.len()
    }

    /// The configuration the delta produces from `base`. Unverified: the caller checks the
    /// signature over [`Self::signed_form`] of the result before trusting it.
    pub fn apply(&self, base: &GlobalConfig) -> Result<GlobalConfig, DeltaError> {
        if self.format != DELTA_FORMAT {
            return Err(DeltaError::Foreign(format!(
                "format {:?} is not {DELTA_FORMAT:?}",
                self.format
            )));
        }
        if self.network != base.network {
            return Err(DeltaError::Foreign(format!(
                "delta for network {}, configuration of network {}",
                self.network, base.network
            )));
        }
        if self.from_version != base.version {
            return Err(DeltaError::WrongBase {
                from: self.from_version,
                held: base.version,
            });
        }
        if self.version <= self.from_version {
            return Err(DeltaError::Backwards {
                from: self.from_version,
                to: self.version,
            });
        }
        Ok(GlobalConfig {
            format: base.format.clone(),
            network: base.network.clone(),
            version: self.version,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            authority: self.authority.clone(),
            classes: self.classes.clone(),
            members: self.members.apply(&base.members, "member")?,
            subsystems: self.subsystems.apply(&base.subsystems, "subsystem")?,
            gateways: self.gateways.apply(&base.gateways, "gateway")?,
            services: self.services.apply(&base.services, "service")?,
            federation: self.federation.clone(),
            revoked_serials: self.revoked_serials.clone(),
        })
    }

    /// The compact JWS the authority signed, if `config` is what it signed: `config` serialised
    /// as the authority serialises it, between this delta's header and signature.
    pub fn signed_form(&self, config: &GlobalConfig) -> Result<String, serde_json::Error> {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::write::EncoderStringWriter;
        let mut jws = String::with_capacity(self.protected.len() + self.signature.len() + 2);
        jws.push_str(&self.protected);
        jws.push('.');
        // Serialised straight into the base64url encoder: no copy of a national-scale payload.
        let mut encoder = EncoderStringWriter::from_consumer(jws, &URL_SAFE_NO_PAD);
        serde_json::to_writer(&mut encoder, config)?;
        let mut jws = encoder.into_inner();
        jws.push('.');
        jws.push_str(&self.signature);
        Ok(jws)
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
    use crate::config::{MemberStatus, CONFIG_FORMAT};
    use crate::encoding::b64url;
    use crate::names::GatewayId;
    use proptest::prelude::*;

    fn member(code: &str, status: MemberStatus) -> MemberEntry {
        MemberEntry {
            id: format!("GB/LA/{code}").parse().expect("member id"),
            name: format!("Council {code}"),
            status,
            sector: None,
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

    fn sorted<T: Keyed>(mut entries: Vec<T>) -> Vec<T> {
        entries.sort_by_key(|e| e.key());
        entries
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
                    .map(|m| format!("GB/LA/{m}/sys").parse().expect("subsystem"))
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

    fn jws() -> Detached {
        Detached::of("aGVhZGVy.cGF5bG9hZA.c2ln").expect("three parts")
    }

    #[test]
    fn a_delta_rebuilds_the_later_version_exactly() {
        let old = config(4, &["A1", "B2", "C3"], &[("A1", "x"), ("B2", "y")]);
        let mut new = config(5, &["A1", "B2", "D4"], &[("A1", "x"), ("D4", "z")]);
        new.members[1].status = MemberStatus::Suspended;
        new.revoked_serials.push("0b".into());
        let delta = ConfigDelta::between(&old, &new, &jws()).expect("delta");
        assert_eq!(delta.members.upsert.len(), 2, "B2 changed, D4 added");
        assert_eq!(delta.members.remove, vec!["GB/LA/C3".to_owned()]);
        assert_eq!(delta.services.remove, vec!["GB/LA/B2/sys/y".to_owned()]);
        assert_eq!(delta.apply(&old).expect("apply"), new);
        let signed = delta.signed_form(&new).expect("signed form");
        assert!(signed.starts_with("aGVhZGVy.") && signed.ends_with(".c2ln"));
        let payload = serde_json::to_vec(&new).expect("json");
        assert_eq!(signed, format!("aGVhZGVy.{}.c2ln", b64url(&payload)));
    }

    #[test]
    fn a_delta_survives_the_wire() {
        let old = config(1, &["A1"], &[]);
        let new = config(2, &["A1", "B2"], &[("B2", "s")]);
        let delta = ConfigDelta::between(&old, &new, &jws()).expect("delta");
        let text = serde_json::to_string(&delta).expect("json");
        let back: ConfigDelta = serde_json::from_str(&text).expect("parse");
        assert_eq!(back.apply(&old).expect("apply"), new);
        let rebuilt = back.apply(&old).expect("apply");
        assert_eq!(
            back.signed_form(&rebuilt).expect("signed"),
            delta.signed_form(&new).expect("signed"),
            "serialising what was parsed gives the bytes the authority signed"
        );
    }

    #[test]
    fn composed_deltas_span_both_steps() {
        let v1 = config(1, &["A1", "B2"], &[("A1", "s")]);
        let v2 = config(2, &["A1", "B2", "C3"], &[("A1", "s"), ("C3", "t")]);
        let v3 = config(3, &["A1", "D4"], &[("D4", "u")]);
        let first = ConfigDelta::between(&v1, &v2, &jws()).expect("first");
        let second = ConfigDelta::between(&v2, &v3, &jws()).expect("second");
        let both = first.clone().then(second.clone()).expect("compose");
        assert_eq!((both.from_version, both.version), (1, 3));
        assert_eq!(both.apply(&v1).expect("apply"), v3);
        assert!(matches!(
            second.then(first),
            Err(DeltaError::WrongBase { from: 1, held: 3 })
        ));
    }

    #[test]
    fn a_delta_applies_only_to_its_own_base() {
        let v1 = config(1, &["A1"], &[]);
        let v2 = config(2, &["A1", "B2"], &[]);
        let v3 = config(3, &["B2"], &[]);
        let delta = ConfigDelta::between(&v2, &v3, &jws()).expect("delta");
        assert_eq!(
            delta.apply(&v1),
            Err(DeltaError::WrongBase { from: 2, held: 1 })
        );
        let mut other_network = v2.clone();
        other_network.network = "XX".parse().expect("network");
        assert!(matches!(
            delta.apply(&other_network),
            Err(DeltaError::Foreign(_))
        ));
        let mut future = delta.clone();
        future.format = "psn-config-delta/2".into();
        assert!(matches!(future.apply(&v2), Err(DeltaError::Foreign(_))));
        let mut backwards = delta;
        backwards.version = 2;
        assert!(matches!(
            backwards.apply(&v2),
            Err(DeltaError::Backwards { .. })
        ));
        assert!(matches!(
            ConfigDelta::between(&v3, &v2, &jws()),
            Err(DeltaError::Backwards { .. })
        ));
        for malformed in ["one.two", "a.b.c.d", ""] {
            assert!(matches!(
                Detached::of(malformed),
                Err(DeltaError::Envelope(_))
            ));
        }
    }

    #[test]
    fn unsorted_or_contradictory_changes_are_refused() {
        let base = config(1, &["A1", "B2"], &[]);
        let mut unsorted =
            ConfigDelta::between(&base, &config(2, &["C3", "D4"], &[]), &jws()).expect("delta");
        unsorted.members.upsert.reverse();
        assert_eq!(unsorted.apply(&base), Err(DeltaError::Unsorted("member")));
        let mut both =
            ConfigDelta::between(&base, &config(2, &["A1", "B2"], &[]), &jws()).expect("delta");
        both.members.upsert.push(member("A1", MemberStatus::Left));
        both.members.remove.push("GB/LA/A1".into());
        assert_eq!(both.apply(&base), Err(DeltaError::Unsorted("member")));
        let mut duplicate =
            ConfigDelta::between(&base, &config(2, &["A1", "B2"], &[]), &jws()).expect("delta");
        duplicate.members.remove = vec!["GB/LA/B2".into(), "GB/LA/B2".into()];
        assert_eq!(duplicate.apply(&base), Err(DeltaError::Unsorted("member")));
        let mut added_and_removed =
            ConfigDelta::between(&base, &config(2, &["A1", "B2"], &[]), &jws()).expect("delta");
        added_and_removed
            .members
            .upsert
            .push(member("Z9", MemberStatus::Active));
        added_and_removed.members.remove.push("GB/LA/Z9".into());
        assert_eq!(
            added_and_removed.apply(&base),
            Err(DeltaError::Unsorted("member"))
        );
    }

    #[test]
    fn hostile_deltas_are_refused_when_parsed() {
        for text in [
            "",
            "{}",
            r#"{"format":"psn-config-delta/1"}"#,
            r#"{"format":"psn-config-delta/1","network":"not a network!"}"#,
        ] {
            assert!(serde_json::from_str::<ConfigDelta>(text).is_err(), "{text}");
        }
        let old = config(1, &["A1"], &[]);
        let delta = ConfigDelta::between(&old, &config(2, &["A2"], &[]), &jws()).expect("delta");
        let mut value = serde_json::to_value(&delta).expect("json");
        value["members"]["upsert"][0]["id"] = "GB/LA/../etc".into();
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

    proptest! {
        #[test]
        fn between_then_apply_is_the_identity(old in codes(), new in codes(), third in codes()) {
            fn as_refs(v: &[String]) -> Vec<&str> {
                v.iter().map(String::as_str).collect()
            }
            fn services<'a>(v: &[&'a str]) -> Vec<(&'a str, &'static str)> {
                v.iter().map(|m| (*m, "s")).collect()
            }
            let (o, n, t) = (as_refs(&old), as_refs(&new), as_refs(&third));
            let v1 = config(1, &o, &services(&o));
            let v2 = config(2, &n, &services(&n));
            let v3 = config(3, &t, &services(&t));
            let d12 = ConfigDelta::between(&v1, &v2, &jws()).expect("delta");
            let d23 = ConfigDelta::between(&v2, &v3, &jws()).expect("delta");
            prop_assert_eq!(d12.apply(&v1).expect("apply"), v2.clone());
            prop_assert_eq!(d23.apply(&v2).expect("apply"), v3.clone());
            prop_assert_eq!(d12.then(d23).expect("compose").apply(&v1).expect("apply"), v3);
        }
    }
}
