//! Federated partners (docs/federation.md): each imported anchor with this network's export
//! policy for that partner, and the last good view the partner exported to this network. A
//! partner's arrival, departure, policy change or new view bumps the registry generation, so the
//! next configuration carries it; a poll that brings nothing new, or fails, only updates the
//! freshness columns.

use super::{
    bump, event, from_i64, from_millis, insert_rows, to_i64, to_millis, Changed, Leading, Result,
    Store, StoreError,
};
use psn_api::{ExportPolicy, ForwardedBatch};
use psn_core::aggregate::AggregateRow;
use psn_core::federation::View;
use psn_core::names::{GatewayId, NetworkId};
use sqlx::{Any, Row, Transaction};
use time::OffsetDateTime;

/// A partner to record at import.
#[derive(Debug, Clone)]
pub struct NewPartner {
    /// The partner network.
    pub network: NetworkId,
    /// Its signed anchor, as imported.
    pub anchor: String,
    /// Its CA's fingerprint.
    pub fingerprint: String,
    /// Its authority's endpoints.
    pub endpoints: Vec<String>,
    /// Its CA certificate (PEM).
    pub ca_certificate: String,
    /// What this network exports to it.
    pub policy: ExportPolicy,
}

/// A partner as stored.
#[derive(Debug, Clone)]
pub struct PartnerRecord {
    /// What was recorded at import (the policy as it stands now).
    pub partner: NewPartner,
    /// When it was imported.
    pub imported_at: OffsetDateTime,
    /// Who imported it.
    pub imported_by: String,
    /// The last good view's version and expiry, if one has arrived.
    pub view: Option<(u64, OffsetDateTime)>,
    /// When a view or a "nothing newer" answer last arrived.
    pub last_success_at: Option<OffsetDateTime>,
    /// The last failure and when.
    pub last_error: Option<(String, OffsetDateTime)>,
}

/// What one partner exports to this network, for the configuration.
#[derive(Debug, Clone)]
pub struct Received {
    /// The partner network.
    pub network: NetworkId,
    /// Its CA certificate (PEM).
    pub ca_certificate: String,
    /// The view, verified when it arrived.
    pub view: View,
}

const COLUMNS: &str = "network, anchor, fingerprint, endpoints, ca_certificate, imported_at, \
     imported_by, export_policy, view_version, view_expires_at, last_success_at, last_error, \
     last_error_at";

fn corrupt(what: &str) -> impl Fn(serde_json::Error) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("federation partner {what}: {e}"))
}

fn record(row: &sqlx::any::AnyRow) -> Result<PartnerRecord> {
    let network: String = row.try_get(0)?;
    let endpoints: String = row.try_get(3)?;
    let policy: String = row.try_get(7)?;
    let view_version: Option<i64> = row.try_get(8)?;
    let view_expires: Option<i64> = row.try_get(9)?;
    let error: Option<String> = row.try_get(11)?;
    let error_at: Option<i64> = row.try_get(12)?;
    Ok(PartnerRecord {
        partner: NewPartner {
            network: network
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("federation partner {network}: {e}")))?,
            anchor: row.try_get(1)?,
            fingerprint: row.try_get(2)?,
            endpoints: serde_json::from_str(&endpoints).map_err(corrupt("endpoints"))?,
            ca_certificate: row.try_get(4)?,
            policy: serde_json::from_str(&policy).map_err(corrupt("export policy"))?,
        },
        imported_at: from_millis(row.try_get(5)?),
        imported_by: row.try_get(6)?,
        view: view_version
            .zip(view_expires)
            .map(|(v, e)| Ok::<_, StoreError>((from_i64("view version", v)?, from_millis(e))))
            .transpose()?,
        last_success_at: row.try_get::<Option<i64>, _>(10)?.map(from_millis),
        last_error: error.zip(error_at.map(from_millis)),
    })
}

fn policy_json(policy: &ExportPolicy) -> Result<String> {
    serde_json::to_string(policy).map_err(|e| StoreError::Invalid(format!("export policy: {e}")))
}

/// What every partner with a view exports to this network, in network order, read within the
/// snapshot's transaction.
pub(super) async fn received(tx: &mut Transaction<'_, Any>) -> Result<Vec<Received>> {
    let rows = sqlx::query(
        "SELECT network, ca_certificate, view_payload FROM federation_partners \
         WHERE view_payload IS NOT NULL ORDER BY network",
    )
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|row| {
            let network: String = row.try_get(0)?;
            let payload: String = row.try_get(2)?;
            Ok(Received {
                network: network.parse().map_err(|e| {
                    StoreError::Corrupt(format!("federation partner {network}: {e}"))
                })?,
                ca_certificate: row.try_get(1)?,
                view: serde_json::from_str(&payload).map_err(corrupt("view"))?,
            })
        })
        .collect()
}

/// Queues, within the transaction that accepts a gateway's batch, the rows of it that concern
/// each partner: one outbox entry per partner, numbered from the counters table.
pub(super) async fn queue_forwarded(
    tx: &mut Transaction<'_, Any>,
    gateway: &GatewayId,
    forward: &[(NetworkId, Vec<AggregateRow>)],
) -> Result<()> {
    for (partner, rows) in forward.iter().filter(|(_, rows)| !rows.is_empty()) {
        let seq: i64 = sqlx::query_scalar(
            "UPDATE counters SET value = value + 1 WHERE name = 'federation_outbox' RETURNING value",
        )
        .fetch_one(&mut **tx)
        .await?;
        let rows = serde_json::to_string(rows)
            .map_err(|e| StoreError::Invalid(format!("forwarded rows: {e}")))?;
        sqlx::query(
            "INSERT INTO federation_outbox (partner, seq, gateway_id, rows) VALUES ($1, $2, $3, $4)",
        )
        .bind(partner.to_string())
        .bind(seq)
        .bind(gateway.to_string())
        .bind(rows)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Store {
    /// The outbox entries for `partner` after `after`, oldest first, at most `limit`. Entries up
    /// to `after` are deleted first: the partner asks from the last one it stored, so the
    /// outbox holds only what it has not.
    pub async fn forwarded_for(
        &self,
        partner: &NetworkId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ForwardedBatch>> {
        let after = to_i64("outbox position", after)?;
        let (_g, mut tx) = self.begin().await?;
        sqlx::query("DELETE FROM federation_outbox WHERE partner = $1 AND seq <= $2")
            .bind(partner.to_string())
            .bind(after)
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query(
            "SELECT seq, gateway_id, rows FROM federation_outbox WHERE partner = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3",
        )
        .bind(partner.to_string())
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| {
                let gateway: String = row.try_get(1)?;
                let rows: String = row.try_get(2)?;
                Ok(ForwardedBatch {
                    seq: from_i64("outbox position", row.try_get(0)?)?,
                    gateway: gateway.parse().map_err(|e| {
                        StoreError::Corrupt(format!("outbox gateway {gateway}: {e}"))
                    })?,
                    rows: serde_json::from_str(&rows).map_err(corrupt("outbox rows"))?,
                })
            })
            .collect()
    }

    /// The last entry of `partner`'s outbox stored here; `None` if it is not a partner.
    pub async fn aggregates_after(&self, partner: &NetworkId) -> Result<Option<u64>> {
        let after: Option<i64> = sqlx::query_scalar(
            "SELECT aggregates_after FROM federation_partners WHERE network = $1",
        )
        .bind(partner.to_string())
        .fetch_optional(&self.pool)
        .await?;
        after.map(|a| from_i64("outbox position", a)).transpose()
    }

    /// Stores rows `partner` forwarded (checked and filed) and moves its position from `after`
    /// to the last entry's, in one transaction, so each entry is stored once: `Conflict` if the
    /// position is no longer `after` (another pull stored them), and then nothing changes.
    pub async fn accept_forwarded(
        &self,
        partner: &NetworkId,
        after: u64,
        batches: &[ForwardedBatch],
    ) -> Result<()> {
        let Some(last) = batches.last() else {
            return Ok(());
        };
        let (_g, mut tx) = self.begin().await?;
        let moved = sqlx::query(
            "UPDATE federation_partners SET aggregates_after = $1 \
             WHERE network = $2 AND aggregates_after = $3",
        )
        .bind(to_i64("outbox position", last.seq)?)
        .bind(partner.to_string())
        .bind(to_i64("outbox position", after)?)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() != 1 {
            return Err(StoreError::Conflict(format!(
                "{partner}'s aggregates after {after} were stored meanwhile, or it is no longer a partner"
            )));
        }
        for batch in batches {
            insert_rows(
                &mut tx,
                "federated_aggregate_rows (partner, gateway_id, seq",
                [
                    Leading::Text(partner.to_string()),
                    Leading::Text(batch.gateway.to_string()),
                    Leading::Number(to_i64("outbox position", batch.seq)?),
                ],
                &batch.rows,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records an imported partner with its event. `Conflict` if it is already a partner.
    pub async fn add_partner(&self, actor: &str, partner: &NewPartner) -> Result<PartnerRecord> {
        let endpoints = serde_json::to_string(&partner.endpoints)
            .map_err(|e| StoreError::Invalid(format!("endpoints: {e}")))?;
        let (_g, mut tx) = self.begin().await?;
        let network = partner.network.to_string();
        let exists: Option<String> =
            sqlx::query_scalar("SELECT network FROM federation_partners WHERE network = $1")
                .bind(&network)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict(format!(
                "{network} is already a federated partner; remove it first to import a new anchor"
            )));
        }
        sqlx::query(
            "INSERT INTO federation_partners (network, anchor, fingerprint, endpoints, \
             ca_certificate, imported_at, imported_by, export_policy) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&network)
        .bind(&partner.anchor)
        .bind(&partner.fingerprint)
        .bind(endpoints)
        .bind(&partner.ca_certificate)
        .bind(to_millis(OffsetDateTime::now_utc()))
        .bind(actor)
        .bind(policy_json(&partner.policy)?)
        .execute(&mut *tx)
        .await?;
        let detail = serde_json::json!({
            "fingerprint": partner.fingerprint,
            "endpoints": partner.endpoints,
            "policy": partner.policy,
        });
        event(&mut tx, actor, "federation.import", &network, detail).await?;
        bump(&mut tx, Changed::Everything).await?;
        tx.commit().await?;
        self.partner(&partner.network)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("partner {network} vanished")))
    }

    /// Every partner, in network order.
    pub async fn partners(&self) -> Result<Vec<PartnerRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM federation_partners ORDER BY network"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record).collect()
    }

    /// Every partner's network id, in order.
    pub async fn partner_networks(&self) -> Result<Vec<NetworkId>> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT network FROM federation_partners ORDER BY network")
                .fetch_all(&self.pool)
                .await?;
        ids.iter()
            .map(|id| {
                id.parse()
                    .map_err(|e| StoreError::Corrupt(format!("federation partner {id}: {e}")))
            })
            .collect()
    }

    /// One partner.
    pub async fn partner(&self, network: &NetworkId) -> Result<Option<PartnerRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM federation_partners WHERE network = $1"
        ))
        .bind(network.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(record).transpose()
    }

    /// Ends a federation: the partner and everything received from it go, with an event; the
    /// next configuration no longer trusts its names.
    pub async fn remove_partner(&self, actor: &str, network: &NetworkId) -> Result<PartnerRecord> {
        let held = self
            .partner(network)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("{network} is not a federated partner")))?;
        let (_g, mut tx) = self.begin().await?;
        let removed = sqlx::query("DELETE FROM federation_partners WHERE network = $1")
            .bind(network.to_string())
            .execute(&mut *tx)
            .await?;
        // What was queued for it goes too; what it forwarded stays, as the record of exchanges
        // that happened.
        sqlx::query("DELETE FROM federation_outbox WHERE partner = $1")
            .bind(network.to_string())
            .execute(&mut *tx)
            .await?;
        if removed.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "{network} is not a federated partner"
            )));
        }
        let detail = serde_json::json!({ "fingerprint": held.partner.fingerprint });
        event(
            &mut tx,
            actor,
            "federation.remove",
            network.as_ref(),
            detail,
        )
        .await?;
        bump(&mut tx, Changed::Everything).await?;
        tx.commit().await?;
        Ok(held)
    }

    /// Replaces a partner's anchor (and what it says: fingerprint, endpoints, CA) with an
    /// event; the policy, the last good view and the freshness stay. A new configuration version
    /// follows, carrying the CA the anchor names.
    pub async fn renew_anchor(&self, actor: &str, renewed: &NewPartner) -> Result<PartnerRecord> {
        let network = &renewed.network;
        let (_g, mut tx) = self.begin().await?;
        let previous: Option<String> =
            sqlx::query_scalar("SELECT fingerprint FROM federation_partners WHERE network = $1")
                .bind(network.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(previous) = previous else {
            return Err(StoreError::NotFound(format!(
                "{network} is not a federated partner"
            )));
        };
        let endpoints = serde_json::to_string(&renewed.endpoints)
            .map_err(|e| StoreError::Invalid(format!("endpoints: {e}")))?;
        sqlx::query(
            "UPDATE federation_partners SET anchor = $1, fingerprint = $2, endpoints = $3, \
             ca_certificate = $4 WHERE network = $5",
        )
        .bind(&renewed.anchor)
        .bind(&renewed.fingerprint)
        .bind(endpoints)
        .bind(&renewed.ca_certificate)
        .bind(network.to_string())
        .execute(&mut *tx)
        .await?;
        let detail = serde_json::json!({
            "fingerprint": renewed.fingerprint,
            "previous_fingerprint": previous,
            "endpoints": renewed.endpoints,
        });
        self.recorded(tx, actor, "federation.anchor", network, detail)
            .await
    }

    /// Ends a change to `network`'s record: its event, the registry generation bumped so the
    /// next configuration carries it, the commit, and the record as it now stands.
    async fn recorded(
        &self,
        mut tx: Transaction<'_, Any>,
        actor: &str,
        action: &str,
        network: &NetworkId,
        detail: serde_json::Value,
    ) -> Result<PartnerRecord> {
        event(&mut tx, actor, action, network.as_ref(), detail).await?;
        bump(&mut tx, Changed::Everything).await?;
        tx.commit().await?;
        self.partner(network)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("{network} is not a federated partner")))
    }

    /// Replaces what this network exports to a partner, with an event; a new configuration
    /// version follows, so the partner's next poll receives the new view.
    pub async fn set_export_policy(
        &self,
        actor: &str,
        network: &NetworkId,
        policy: &ExportPolicy,
    ) -> Result<PartnerRecord> {
        let (_g, mut tx) = self.begin().await?;
        let changed =
            sqlx::query("UPDATE federation_partners SET export_policy = $1 WHERE network = $2")
                .bind(policy_json(policy)?)
                .bind(network.to_string())
                .execute(&mut *tx)
                .await?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "{network} is not a federated partner"
            )));
        }
        let detail = serde_json::to_value(policy)
            .map_err(|e| StoreError::Invalid(format!("export policy: {e}")))?;
        self.recorded(tx, actor, "federation.policy", network, detail)
            .await
    }

    /// What every partner with a view exports to this network, as held now, in network order
    /// (a view for another partner relays from these).
    pub async fn received_views(&self) -> Result<Vec<Received>> {
        let mut tx = self.pool.begin().await?;
        let views = received(&mut tx).await?;
        tx.commit().await?;
        Ok(views)
    }

    /// The last good view received from `network`, if any (the catalogue indexes its listings).
    pub async fn held_view(&self, network: &NetworkId) -> Result<Option<View>> {
        let payload: Option<Option<String>> =
            sqlx::query_scalar("SELECT view_payload FROM federation_partners WHERE network = $1")
                .bind(network.to_string())
                .fetch_optional(&self.pool)
                .await?;
        payload
            .flatten()
            .map(|p| serde_json::from_str(&p).map_err(corrupt("view")))
            .transpose()
    }

    /// Keeps a verified view unless one as new is already held (two pollers racing, or a
    /// replay), and marks the partner fresh; moves the registry generation only when
    /// `republish` (the view changes what this network's configuration says). `Ok(false)` when
    /// the view was not kept.
    pub async fn accept_view(
        &self,
        network: &NetworkId,
        jws: &str,
        view: &View,
        now: OffsetDateTime,
        republish: bool,
    ) -> Result<bool> {
        let payload =
            serde_json::to_string(view).map_err(|e| StoreError::Invalid(format!("view: {e}")))?;
        let version = to_i64("view version", view.version)?;
        let (_g, mut tx) = self.begin().await?;
        let changed = sqlx::query(
            "UPDATE federation_partners SET view_jws = $1, view_payload = $2, view_version = $3, \
             view_expires_at = $4, last_success_at = $5, last_error = NULL, last_error_at = NULL \
             WHERE network = $6 AND (view_version IS NULL OR view_version < $3)",
        )
        .bind(jws)
        .bind(payload)
        .bind(version)
        .bind(to_millis(view.expires_at))
        .bind(to_millis(now))
        .bind(network.to_string())
        .execute(&mut *tx)
        .await?;
        let accepted = changed.rows_affected() == 1;
        if accepted && republish {
            bump(&mut tx, Changed::Everything).await?;
        }
        tx.commit().await?;
        Ok(accepted)
    }

    /// Marks the partner fresh: its authority answered that nothing is newer.
    pub async fn partner_current(&self, network: &NetworkId, now: OffsetDateTime) -> Result<()> {
        // Every write takes the store's write lock: SQLite allows one writer, and a write
        // outside the lock would fail under a long transaction with "database is locked".
        let _writing = self.write_lock.lock().await;
        sqlx::query(
            "UPDATE federation_partners SET last_success_at = $1, last_error = NULL, \
             last_error_at = NULL WHERE network = $2",
        )
        .bind(to_millis(now))
        .bind(network.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records why a poll of the partner failed; what was received before stays in use.
    pub async fn partner_failed(
        &self,
        network: &NetworkId,
        error: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        let error: String = error.chars().take(1_000).collect();
        let _writing = self.write_lock.lock().await;
        sqlx::query(
            "UPDATE federation_partners SET last_error = $1, last_error_at = $2 WHERE network = $3",
        )
        .bind(error)
        .bind(to_millis(now))
        .bind(network.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
