//! Benchmark returns and saved peer groups (docs/benchmarks.md). A submission is one
//! transaction with its event in the audit trail: every row is stored or none is. A correction
//! is a new version beside the old, never an overwrite, so what a member said and when stays on
//! record. Benchmarks are not part of the signed configuration, so the registry generation does
//! not move.

use super::{event, from_i64, from_millis, parse, to_i64, to_millis, Result, Store, StoreError};
use psn_api::{FinancialYear, ListingDetails, PeerGroupView, Price, ReturnInput, ReturnView};
use psn_core::names::{MemberId, ServiceId};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// Most versions one member's return for a process and year may have: corrections are kept,
/// so their number is bounded rather than the history growing with every resubmission.
pub const MAX_VERSIONS: u32 = 50;
/// Most peer groups one member may save.
pub const MAX_PEER_GROUPS: usize = 50;
/// Services per price lookup (bind parameters per query).
const PRICE_LOOKUP_CHUNK: usize = 500;

const RETURN_COLUMNS: &str = "r.member_id, r.process, r.year_start, r.version, r.current_version, \
    r.cost_pence, r.volume, r.fte_milli, r.satisfaction_centi, r.note, r.outlier_confirmed, \
    r.publish_now, r.synthetic, r.submitted_by, r.submitted_at";

/// The current version of a member's return, with the member's name, for building reports.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentReturn {
    /// The return.
    pub view: ReturnView,
    /// The member's name in the registry.
    pub member_name: String,
}

fn flag(row: &AnyRow, column: &str) -> Result<bool> {
    Ok(row.try_get::<i64, _>(column)? != 0)
}

fn scaled(row: &AnyRow, column: &str, scale: f64) -> Result<Option<f64>> {
    Ok(row
        .try_get::<Option<i64>, _>(column)?
        // Stored from a bounded f64 rounded to the scale, so it converts back exactly enough.
        .map(|v| v as f64 / scale))
}

fn view_from_row(row: &AnyRow) -> Result<ReturnView> {
    let member: String = row.try_get("member_id")?;
    let year: i64 = row.try_get("year_start")?;
    let year = u16::try_from(year)
        .map(|start| FinancialYear { start })
        .map_err(|_| StoreError::Corrupt(format!("benchmark year {year}")))?;
    let version = from_i64("return version", row.try_get("version")?)?;
    let cost_pence = from_i64("return cost", row.try_get("cost_pence")?)?;
    let volume = from_i64("return volume", row.try_get("volume")?)?;
    if volume == 0 {
        return Err(StoreError::Corrupt("a return with no volume".to_owned()));
    }
    Ok(ReturnView {
        member: parse("member id", &member)?,
        process: row.try_get("process")?,
        year,
        version: u32::try_from(version)
            .map_err(|_| StoreError::Corrupt(format!("return version {version}")))?,
        superseded: row.try_get::<i64, _>("current_version")? == 0,
        cost_pence,
        volume,
        cost_per_unit: cost_pence as f64 / 100.0 / volume as f64,
        fte: scaled(row, "fte_milli", 1000.0)?,
        satisfaction_percent: scaled(row, "satisfaction_centi", 100.0)?,
        note: row.try_get("note")?,
        outlier_confirmed: flag(row, "outlier_confirmed")?,
        publish_now: flag(row, "publish_now")?,
        synthetic: flag(row, "synthetic")?,
        submitted_by: row.try_get("submitted_by")?,
        submitted_at: from_millis(row.try_get("submitted_at")?),
    })
}

/// `value` × `scale`, rounded, as the column stores it; refuses what a checked return cannot hold.
fn to_scaled(what: &str, value: Option<f64>, scale: f64) -> Result<Option<i64>> {
    value
        .map(|v| {
            let stored = (v * scale).round();
            if stored.is_finite() && (0.0..=1e15).contains(&stored) {
                // Finite, non-negative and below 2^53: exact as an integer.
                Ok(stored as i64)
            } else {
                Err(StoreError::Invalid(format!("{what} {v} cannot be stored")))
            }
        })
        .transpose()
}

impl Store {
    /// Stores `returns` (already validated) for `member` in one transaction: a first return
    /// becomes version 1, a correction the next version with the previous kept. Refuses them
    /// all, changing nothing, if the member does not exist or a return already has
    /// [`MAX_VERSIONS`] versions.
    pub async fn put_benchmark_returns(
        &self,
        actor: &str,
        member: &MemberId,
        returns: &[ReturnInput],
        synthetic: bool,
    ) -> Result<()> {
        let now = to_millis(OffsetDateTime::now_utc());
        let (_g, mut tx) = self.begin().await?;
        let known: Option<String> = sqlx::query_scalar("SELECT id FROM members WHERE id = $1")
            .bind(member.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if known.is_none() {
            return Err(StoreError::NotFound(format!("no member {member}")));
        }
        let mut corrections = 0u64;
        for r in returns {
            let version = next_version(&mut tx, member, r).await?;
            if version > 1 {
                corrections += 1;
            }
            insert_return(&mut tx, actor, member, r, version, synthetic, now).await?;
        }
        event(
            &mut tx,
            actor,
            "benchmark.returns",
            &member.to_string(),
            serde_json::json!({
                "returns": returns.len(),
                "corrections": corrections,
                "synthetic": synthetic,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The current version of every member's return for `process` and `year`, by member id.
    pub async fn current_returns(
        &self,
        process: &str,
        year: FinancialYear,
    ) -> Result<Vec<CurrentReturn>> {
        let rows = sqlx::query(&format!(
            "SELECT {RETURN_COLUMNS}, m.name AS member_name FROM benchmark_returns r \
             JOIN members m ON m.id = r.member_id \
             WHERE r.process = $1 AND r.year_start = $2 AND r.current_version = 1 \
             ORDER BY r.member_id"
        ))
        .bind(process)
        .bind(i64::from(year.start))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CurrentReturn {
                    view: view_from_row(row)?,
                    member_name: row.try_get("member_name")?,
                })
            })
            .collect()
    }

    /// The years with at least one return for `process`, latest first.
    pub async fn benchmark_years(&self, process: &str) -> Result<Vec<FinancialYear>> {
        let years: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT year_start FROM benchmark_returns WHERE process = $1 \
             ORDER BY year_start DESC",
        )
        .bind(process)
        .fetch_all(&self.pool)
        .await?;
        years
            .into_iter()
            .map(|y| {
                u16::try_from(y)
                    .map(|start| FinancialYear { start })
                    .map_err(|_| StoreError::Corrupt(format!("benchmark year {y}")))
            })
            .collect()
    }

    /// Every version of every return `member` made, by process, year (latest first) and
    /// version (newest first).
    pub async fn member_returns(&self, member: &MemberId) -> Result<Vec<ReturnView>> {
        let rows = sqlx::query(&format!(
            "SELECT {RETURN_COLUMNS} FROM benchmark_returns r WHERE r.member_id = $1 \
             ORDER BY r.process, r.year_start DESC, r.version DESC"
        ))
        .bind(member.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(view_from_row).collect()
    }

    /// `member`'s saved peer groups, by name.
    pub async fn peer_groups(&self, owner: &MemberId) -> Result<Vec<PeerGroupView>> {
        let rows = sqlx::query(
            "SELECT name, members, saved_at FROM benchmark_peer_groups WHERE owner_id = $1 \
             ORDER BY name",
        )
        .bind(owner.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let members: String = row.try_get("members")?;
                Ok(PeerGroupView {
                    name: row.try_get("name")?,
                    owner: owner.clone(),
                    members: serde_json::from_str(&members)
                        .map_err(|e| StoreError::Corrupt(format!("peer group members: {e}")))?,
                    saved_at: from_millis(row.try_get("saved_at")?),
                })
            })
            .collect()
    }

    /// Saves (or replaces) `owner`'s peer group `name`. Refuses a new group beyond
    /// [`MAX_PEER_GROUPS`] and members that are not registered, changing nothing.
    pub async fn put_peer_group(
        &self,
        actor: &str,
        owner: &MemberId,
        name: &str,
        members: &[MemberId],
    ) -> Result<PeerGroupView> {
        let saved_at = from_millis(to_millis(OffsetDateTime::now_utc()));
        let (_g, mut tx) = self.begin().await?;
        let names: Vec<String> =
            sqlx::query_scalar("SELECT name FROM benchmark_peer_groups WHERE owner_id = $1")
                .bind(owner.to_string())
                .fetch_all(&mut *tx)
                .await?;
        if !names.iter().any(|n| n == name) && names.len() >= MAX_PEER_GROUPS {
            return Err(StoreError::Refused(format!(
                "a member may save at most {MAX_PEER_GROUPS} peer groups; delete one first"
            )));
        }
        for member in members.iter().chain(std::iter::once(owner)) {
            let known: Option<String> = sqlx::query_scalar("SELECT id FROM members WHERE id = $1")
                .bind(member.to_string())
                .fetch_optional(&mut *tx)
                .await?;
            if known.is_none() {
                return Err(StoreError::NotFound(format!("no member {member}")));
            }
        }
        let list = serde_json::to_string(members)
            .map_err(|e| StoreError::Invalid(format!("peer group members: {e}")))?;
        sqlx::query("DELETE FROM benchmark_peer_groups WHERE owner_id = $1 AND name = $2")
            .bind(owner.to_string())
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO benchmark_peer_groups (owner_id, name, members, saved_by, saved_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(owner.to_string())
        .bind(name)
        .bind(&list)
        .bind(actor)
        .bind(to_millis(saved_at))
        .execute(&mut *tx)
        .await?;
        event(
            &mut tx,
            actor,
            "benchmark.peer-group.save",
            &owner.to_string(),
            serde_json::json!({ "name": name, "members": members.len() }),
        )
        .await?;
        tx.commit().await?;
        Ok(PeerGroupView {
            name: name.to_owned(),
            owner: owner.clone(),
            members: members.to_vec(),
            saved_at,
        })
    }

    /// Deletes `owner`'s peer group `name`; `NotFound` if it has none by that name.
    pub async fn remove_peer_group(&self, actor: &str, owner: &MemberId, name: &str) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        let removed =
            sqlx::query("DELETE FROM benchmark_peer_groups WHERE owner_id = $1 AND name = $2")
                .bind(owner.to_string())
                .bind(name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if removed == 0 {
            return Err(StoreError::NotFound(format!(
                "{owner} has no peer group {name:?}"
            )));
        }
        event(
            &mut tx,
            actor,
            "benchmark.peer-group.remove",
            &owner.to_string(),
            serde_json::json!({ "name": name }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The listed price of each of `services` that is listed, by service id.
    pub async fn listing_prices(
        &self,
        services: &[ServiceId],
    ) -> Result<BTreeMap<ServiceId, Price>> {
        let mut prices = BTreeMap::new();
        for chunk in services.chunks(PRICE_LOOKUP_CHUNK) {
            let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT id, details FROM services WHERE id IN ({})",
                list.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                let id: String = row.try_get("id")?;
                let details: String = row.try_get("details")?;
                let details: ListingDetails = serde_json::from_str(&details)
                    .map_err(|e| StoreError::Corrupt(format!("listing details: {e}")))?;
                prices.insert(parse("service id", &id)?, details.price);
            }
        }
        Ok(prices)
    }

    /// Names of the members of `class`, by id, for profiling peers.
    pub async fn member_names_of_class(&self, class: &str) -> Result<BTreeMap<MemberId, String>> {
        let rows = sqlx::query("SELECT id, name FROM members WHERE class = $1 ORDER BY id")
            .bind(class)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                Ok((parse("member id", &id)?, row.try_get("name")?))
            })
            .collect()
    }
}

/// The version a new return for `r`'s process and year takes, retiring the current one.
async fn next_version(
    tx: &mut Transaction<'_, Any>,
    member: &MemberId,
    r: &ReturnInput,
) -> Result<u32> {
    let latest: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(version) FROM benchmark_returns \
         WHERE member_id = $1 AND process = $2 AND year_start = $3",
    )
    .bind(member.to_string())
    .bind(&r.process)
    .bind(i64::from(r.year.start))
    .fetch_one(&mut **tx)
    .await?;
    let Some(latest) = latest else {
        return Ok(1);
    };
    let latest = u32::try_from(latest)
        .map_err(|_| StoreError::Corrupt(format!("return version {latest}")))?;
    if latest >= MAX_VERSIONS {
        return Err(StoreError::Refused(format!(
            "the return for {} {} already has {MAX_VERSIONS} versions, the most kept",
            r.process, r.year
        )));
    }
    sqlx::query(
        "UPDATE benchmark_returns SET current_version = 0 \
         WHERE member_id = $1 AND process = $2 AND year_start = $3",
    )
    .bind(member.to_string())
    .bind(&r.process)
    .bind(i64::from(r.year.start))
    .execute(&mut **tx)
    .await?;
    Ok(latest + 1)
}

async fn insert_return(
    tx: &mut Transaction<'_, Any>,
    actor: &str,
    member: &MemberId,
    r: &ReturnInput,
    version: u32,
    synthetic: bool,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO benchmark_returns (member_id, process, year_start, version, current_version, \
         cost_pence, volume, fte_milli, satisfaction_centi, note, outlier_confirmed, publish_now, \
         synthetic, submitted_by, submitted_at) \
         VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(member.to_string())
    .bind(&r.process)
    .bind(i64::from(r.year.start))
    .bind(i64::from(version))
    .bind(to_i64("cost", r.cost_pence)?)
    .bind(to_i64("volume", r.volume)?)
    .bind(to_scaled("fte", r.fte, 1000.0)?)
    .bind(to_scaled("satisfaction", r.satisfaction_percent, 100.0)?)
    .bind(r.note.as_deref())
    .bind(i64::from(r.confirm_outlier))
    .bind(i64::from(r.publish_now))
    .bind(i64::from(synthetic))
    .bind(actor)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
