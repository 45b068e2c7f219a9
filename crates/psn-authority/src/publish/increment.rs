//! The changes a registry increment makes to the last configuration built: the delta the
//! publisher signs a new head for, without reading or rebuilding the rest of the document
//! (docs/design.md "Incremental build").
//!
//! A member's entries sit together in every keyed list, because each list is sorted by id text
//! and each entry's id starts with its member's: the member itself, its subsystems and services
//! under `member/`, its gateways under `member@` (member codes hold neither `/` nor `@`). So the
//! old entries of a changed member are a slice found by halving, and the changes are the
//! difference between that slice and the member's entries now.

use super::{sorted_serials, AuthorityDescription};
use crate::store::{Increment, MemberEntries};
use psn_core::config::GlobalConfig;
use psn_core::config_delta::{Changes, ConfigDelta, Keyed, DELTA_FORMAT};
use psn_core::shared_list::SharedList;
use std::cmp::Ordering;
use std::sync::Arc;

/// The delta from `base` to version `version`, which differs from it by `increment`'s members'
/// entries, the classes and the revoked serials. Its head is empty until the authority signs the
/// head the changes produce.
pub(super) fn delta_of(
    base: &GlobalConfig,
    increment: &Increment,
    description: &AuthorityDescription,
    version: u64,
) -> ConfigDelta {
    let mut delta = ConfigDelta {
        format: DELTA_FORMAT.to_owned(),
        network: base.network.clone(),
        from_version: base.version,
        version,
        head: String::new(),
        authority: description.info(),
        classes: increment.classes.clone(),
        members: Changes::default(),
        subsystems: Changes::default(),
        gateways: Changes::default(),
        services: Changes::default(),
        federation: base.federation.clone(),
        revoked_serials: Changes::between(
            &base.revoked_serials,
            &sorted_serials(&increment.revoked_serials),
        ),
    };
    for member in &increment.members {
        add_member(&mut delta, base, member);
    }
    sort(&mut delta.members);
    sort(&mut delta.subsystems);
    sort(&mut delta.gateways);
    sort(&mut delta.services);
    delta
}

/// Adds the changes to one member's entries.
fn add_member(delta: &mut ConfigDelta, base: &GlobalConfig, member: &MemberEntries) {
    let id = member.id.to_string();
    let owned = format!("{id}/");
    let mut key = String::new();
    let own_entry = base
        .members
        .binary_search_by(|m| {
            m.write_key(&mut key);
            key.as_str().cmp(&id)
        })
        .ok()
        .and_then(|at| base.members.get(at));
    extend(
        &mut delta.members,
        Changes::between(own_entry, member.member.as_slice()),
    );
    extend(
        &mut delta.subsystems,
        Changes::between(starting_with(&base.subsystems, &owned), &member.subsystems),
    );
    extend(
        &mut delta.gateways,
        Changes::between(
            starting_with(&base.gateways, &format!("{id}@")),
            &member.gateways,
        ),
    );
    extend(
        &mut delta.services,
        Changes::between(starting_with(&base.services, &owned), &member.services),
    );
}

/// The entries of a list sorted by id text whose id text starts with `prefix`: one run, whose
/// start is found by halving.
fn starting_with<'l, T: Keyed>(
    list: &'l SharedList<T>,
    prefix: &'l str,
) -> impl Iterator<Item = &'l Arc<T>> + 'l {
    let mut key = String::new();
    let start = list
        .binary_search_by(|entry| {
            entry.write_key(&mut key);
            match key.as_str() < prefix {
                true => Ordering::Less,
                false => Ordering::Greater,
            }
        })
        .unwrap_or_else(|at| at);
    list.iter_from(start).take_while(move |entry| {
        entry.write_key(&mut key);
        key.starts_with(prefix)
    })
}

fn extend<T>(all: &mut Changes<T>, one: Changes<T>) {
    all.upsert.extend(one.upsert);
    all.remove.extend(one.remove);
}

/// Puts changes gathered member by member into id text order: a member's entries follow its
/// id's text, which is not the order of its children's ids when one member's id is a prefix of
/// another's (`GB/LA/A/x` sorts after `GB/LA/A-B/y`).
fn sort<T: Keyed>(changes: &mut Changes<T>) {
    changes.upsert.sort_by_cached_key(Keyed::key);
    changes.remove.sort_unstable();
}

#[cfg(test)]
mod tests {
    use super::*;
    use psn_core::config::{GatewayEntry, MemberEntry, MemberStatus, ServiceEntry, CONFIG_FORMAT};
    use psn_core::config_delta::UnsignedConfig;
    use psn_core::names::{MemberId, SubsystemId};
    use std::sync::Arc;
    use time::OffsetDateTime;

    fn id<T: std::str::FromStr>(text: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        text.parse().expect("id")
    }

    fn member(text: &str, status: MemberStatus) -> MemberEntry {
        MemberEntry {
            id: id(text),
            name: text.into(),
            status,
            sector: None,
            region: None,
        }
    }

    fn service(text: &str) -> ServiceEntry {
        ServiceEntry {
            id: id(text),
            title: text.into(),
            processes: vec![],
        }
    }

    fn description() -> AuthorityDescription {
        AuthorityDescription {
            network: id("GB"),
            endpoints: vec!["https://authority.example".into()],
            ca_certificate: "ca".into(),
            validity: std::time::Duration::from_secs(86_400),
        }
    }

    /// Entries of `GB/LA/A` and `GB/LA/A-B`, whose ids share a prefix: `A-B`'s children sort
    /// before `A`'s though `A` sorts first.
    fn config(version: u64, a_active: bool, b_services: &[&str]) -> GlobalConfig {
        let issued_at = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let description = description();
        let a_status = if a_active {
            MemberStatus::Active
        } else {
            MemberStatus::Suspended
        };
        let mut subsystems = vec![id::<SubsystemId>("GB/LA/A-B/y")];
        let mut gateways = vec![GatewayEntry {
            id: id("GB/LA/A-B@gw"),
            address: None,
        }];
        let mut services: Vec<ServiceEntry> = b_services.iter().map(|s| service(s)).collect();
        if a_active {
            subsystems.push(id("GB/LA/A/x"));
            gateways.push(GatewayEntry {
                id: id("GB/LA/A@gw"),
                address: Some("a.example:443".into()),
            });
            services.push(service("GB/LA/A/x/one"));
        }
        GlobalConfig {
            format: CONFIG_FORMAT.into(),
            network: description.network.clone(),
            version,
            issued_at,
            expires_at: issued_at + description.validity,
            authority: description.info(),
            classes: vec![],
            members: vec![
                Arc::new(member("GB/LA/A", a_status)),
                Arc::new(member("GB/LA/A-B", MemberStatus::Active)),
            ]
            .into(),
            subsystems: sorted(subsystems),
            gateways: sorted(gateways),
            services: sorted(services),
            federation: vec![],
            revoked_serials: vec![],
        }
    }

    /// `entries` in id text order, shared as the document holds them.
    fn sorted<T: Keyed>(mut entries: Vec<T>) -> SharedList<T> {
        entries.sort_by_cached_key(Keyed::key);
        entries.into_iter().map(Arc::new).collect()
    }

    fn plain<'a, T: Clone + 'a>(entries: impl Iterator<Item = &'a Arc<T>>) -> Vec<T> {
        entries.map(|e| e.as_ref().clone()).collect()
    }

    /// What the store reads for each member of `config`.
    fn increment(config: &GlobalConfig) -> Increment {
        let entries = |member: &str| {
            let prefix = format!("{member}/");
            MemberEntries {
                id: id::<MemberId>(member),
                member: config
                    .members
                    .iter()
                    .find(|m| m.id.to_string() == member)
                    .map(|m| m.as_ref().clone()),
                subsystems: plain(starting_with(&config.subsystems, &prefix)),
                gateways: plain(starting_with(&config.gateways, &format!("{member}@"))),
                services: plain(starting_with(&config.services, &prefix)),
            }
        };
        Increment {
            generation: 2,
            classes: vec![],
            revoked_serials: vec!["0a".into(), "01".into(), "0a".into()],
            members: vec![entries("GB/LA/A"), entries("GB/LA/A-B")],
        }
    }

    #[test]
    fn members_whose_ids_share_a_prefix_give_changes_in_id_order_and_the_whole_build() {
        let base = config(1, true, &["GB/LA/A-B/y/old"]);
        let mut next = config(2, false, &["GB/LA/A-B/y/new"]);
        next.revoked_serials = vec!["01".into(), "0a".into()];
        let mut held = UnsignedConfig::new(base.clone())
            .expect("sorted")
            .signed("head 1".into());
        let mut delta = delta_of(held.config(), &increment(&next), &description(), 2);
        assert_eq!(
            delta.services.remove,
            vec!["GB/LA/A-B/y/old".to_owned(), "GB/LA/A/x/one".to_owned()],
            "removals in id text order"
        );
        let proposed = held
            .propose(&delta, next.issued_at, next.expires_at)
            .expect("the changes are in order");
        let whole = UnsignedConfig::new(next.clone()).expect("sorted");
        assert_eq!(
            proposed.head(),
            whole.head(),
            "the same root as a whole build"
        );
        delta.head = "head 2".into();
        held.commit(proposed.signed(&delta).expect("same version"))
            .expect("commit");
        assert_eq!(held.config(), &next);
    }

    #[test]
    fn an_unchanged_member_gives_no_changes() {
        let base = config(1, true, &["GB/LA/A-B/y/old"]);
        let delta = delta_of(&base, &increment(&base), &description(), 2);
        assert_eq!(delta.entries(), 2, "only the revoked serials changed");
        assert!(delta.members.is_empty() && delta.services.is_empty());
    }
}
