//! The registry's change log, and what the publisher reads from it to work out the next
//! configuration version from the last one it built (docs/design.md "Incremental build").
//!
//! Every registry change bumps the generation ([`super::bump`]) and logs, in the same
//! transaction, what it touched: one member's entries, everything, or nothing the configuration
//! lists. [`Store::increment_since`] reads the log from the generation of the last version built
//! and, when every generation since is logged and only members' entries changed, reads just those
//! members' rows, in the form [`Store::snapshot`] gives them. Anything else (a gap in the log, a
//! change to everything, too many members) sends the publisher back to the whole snapshot.

use super::{classes, parse, Result, Store};
use psn_core::config::{GatewayEntry, MemberEntry, MemberStatus, ServiceEntry};
use psn_core::names::{MemberClass, MemberId, SubsystemId};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use std::collections::BTreeSet;

/// Past this many changed members, reading each member's rows is slower than the snapshot.
const MAX_MEMBERS: usize = 256;

/// Past this many generations, the log is not read: the snapshot is the better read.
const MAX_GENERATIONS: i64 = 4_096;

/// Log rows are kept this many generations behind the newest version stored, for publishers
/// whose last version is older (another authority process, or one that failed to store).
pub(super) const KEEP_GENERATIONS: i64 = MAX_GENERATIONS;

/// What a registry change touched, as the change log records it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Changed<'a> {
    /// One member's entries: its own, and its subsystems', gateways' and services'.
    Member(&'a MemberId),
    /// Something any entry may depend on: classes, a partner's view, a bulk load.
    Everything,
    /// Nothing the configuration lists (grants, which gateways fetch with each version).
    NoEntry,
}

impl Changed<'_> {
    /// The log row's scope and member.
    pub(super) fn logged(self) -> (&'static str, Option<String>) {
        match self {
            Self::Member(member) => ("member", Some(member.to_string())),
            Self::Everything => ("all", None),
            Self::NoEntry => ("none", None),
        }
    }
}

/// What changed in the registry since a generation, read in one transaction.
#[derive(Debug, Clone)]
pub struct Increment {
    /// The generation it reflects.
    pub generation: i64,
    /// Classes, whole (a handful of rows).
    pub classes: Vec<MemberClass>,
    /// Serials of revoked certificates not yet expired, whole and sorted, as
    /// [`Store::snapshot`] reads them: they leave the list as they expire, without a change.
    pub revoked_serials: Vec<String>,
    /// Each member whose entries may have changed, in id text order, with its entries now.
    pub members: Vec<MemberEntries>,
}

/// One member's entries as the configuration lists them: every member is listed; its
/// subsystems, active gateways and services only while it is active, and its services only while
/// compliance does not withhold them. Each list is sorted by id text.
#[derive(Debug, Clone)]
pub struct MemberEntries {
    /// The member.
    pub id: MemberId,
    /// Its entry, unless the member is not in the registry.
    pub member: Option<MemberEntry>,
    /// Its subsystems.
    pub subsystems: Vec<SubsystemId>,
    /// Its active gateways.
    pub gateways: Vec<GatewayEntry>,
    /// Its services.
    pub services: Vec<ServiceEntry>,
}

/// A member row (`id, name, status, sector, region`) as the configuration lists it.
pub(super) fn member_entry(row: &AnyRow) -> Result<MemberEntry> {
    member_entry_of(
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
    )
}

/// A member's entry from its stored id, name, status, sector and region.
pub(super) fn member_entry_of(
    id: &str,
    name: &str,
    status: &str,
    sector: Option<&str>,
    region: Option<&str>,
) -> Result<MemberEntry> {
    Ok(MemberEntry {
        id: parse("member id", id)?,
        name: name.to_owned(),
        status: parse("member status", status)?,
        sector: sector.map(str::to_owned),
        region: region.map(str::to_owned),
    })
}

/// A service's stored process list (comma-separated) as the configuration lists it.
pub(super) fn processes(stored: &str) -> Vec<String> {
    stored
        .split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Store {
    /// What changed since generation `since`, if the log says it was only members' entries
    /// (at most [`MAX_MEMBERS`] of them); `None` when the publisher should read the whole
    /// registry instead.
    pub async fn increment_since(&self, since: i64) -> Result<Option<Increment>> {
        let mut tx = self.pool.begin().await?;
        let generation: i64 =
            sqlx::query_scalar("SELECT value FROM counters WHERE name = 'registry'")
                .fetch_one(&mut *tx)
                .await?;
        let span = generation - since;
        if !(0..=MAX_GENERATIONS).contains(&span) {
            return Ok(None);
        }
        let logged: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT scope, member_id FROM registry_changes \
             WHERE generation > $1 AND generation <= $2",
        )
        .bind(since)
        .bind(generation)
        .fetch_all(&mut *tx)
        .await?;
        // Each generation is logged once, so a short count is a gap: pruned rows, or changes
        // made before the log existed.
        if i64::try_from(logged.len()).ok() != Some(span) {
            return Ok(None);
        }
        let mut members = BTreeSet::new();
        for (scope, member) in logged {
            match (scope.as_str(), member) {
                ("member", Some(member)) => {
                    members.insert(member);
                }
                ("none", None) => {}
                _ => return Ok(None),
            }
        }
        if members.len() > MAX_MEMBERS {
            return Ok(None);
        }
        let classes = classes(&mut *tx).await?.iter().cloned().collect();
        let revoked_serials = super::revoked_serials(&mut tx).await?;
        let mut entries = Vec::with_capacity(members.len());
        for member in &members {
            entries.push(member_entries(&mut tx, parse("member id", member)?).await?);
        }
        tx.commit().await?;
        Ok(Some(Increment {
            generation,
            classes,
            revoked_serials,
            members: entries,
        }))
    }
}

/// Reads one member's entries in `tx`.
async fn member_entries(tx: &mut Transaction<'_, Any>, id: MemberId) -> Result<MemberEntries> {
    let text = id.to_string();
    let member = sqlx::query("SELECT id, name, status, sector, region FROM members WHERE id = $1")
        .bind(&text)
        .fetch_optional(&mut **tx)
        .await?
        .as_ref()
        .map(member_entry)
        .transpose()?;
    let mut entries = MemberEntries {
        id,
        member,
        subsystems: Vec::new(),
        gateways: Vec::new(),
        services: Vec::new(),
    };
    if entries
        .member
        .as_ref()
        .is_none_or(|m| m.status != MemberStatus::Active)
    {
        return Ok(entries);
    }
    let subsystems: Vec<String> =
        sqlx::query_scalar("SELECT id FROM subsystems WHERE member_id = $1")
            .bind(&text)
            .fetch_all(&mut **tx)
            .await?;
    entries.subsystems = sorted_by_text(subsystems, |id| parse("subsystem id", id))?;
    let gateways: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT id, address FROM gateways WHERE member_id = $1 AND status = 'active'",
    )
    .bind(&text)
    .fetch_all(&mut **tx)
    .await?;
    entries.gateways = sorted_by_text(gateways, |(id, address)| {
        Ok(GatewayEntry {
            id: parse("gateway id", id)?,
            address: address.clone(),
        })
    })?;
    let withheld: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM compliance_holds WHERE member_id = $1 AND kind = 'service-provision'",
    )
    .bind(&text)
    .fetch_one(&mut **tx)
    .await?;
    if withheld == 0 {
        let services: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT s.id, s.title, s.processes FROM services s \
             JOIN subsystems b ON b.id = s.subsystem_id WHERE b.member_id = $1",
        )
        .bind(&text)
        .fetch_all(&mut **tx)
        .await?;
        entries.services = sorted_by_text(services, |(id, title, stored)| {
            Ok(ServiceEntry {
                id: parse("service id", id)?,
                title: title.clone(),
                processes: processes(stored),
            })
        })?;
    }
    Ok(entries)
}

/// Rows converted by `entry`, sorted by their id text (each row's first part) in byte order, the
/// order of every keyed list of the configuration.
fn sorted_by_text<R: IdText, T>(
    mut rows: Vec<R>,
    entry: impl Fn(&R) -> Result<T>,
) -> Result<Vec<T>> {
    rows.sort_unstable_by(|a, b| a.id_text().cmp(b.id_text()));
    rows.iter().map(entry).collect()
}

/// A row whose first column is an id.
trait IdText {
    fn id_text(&self) -> &str;
}

impl IdText for String {
    fn id_text(&self) -> &str {
        self
    }
}

impl<B> IdText for (String, B) {
    fn id_text(&self) -> &str {
        &self.0
    }
}

impl<B, C> IdText for (String, B, C) {
    fn id_text(&self) -> &str {
        &self.0
    }
}
