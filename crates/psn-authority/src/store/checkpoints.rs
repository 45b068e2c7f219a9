//! The latest checkpoint of each gateway's audit log (docs/audit.md "Checkpoints"): kept so
//! that a log cut back behind it is found, and so never moved backwards.

use super::{to_i64, to_millis, Result, Store, StoreError};
use psn_core::checkpoint::{Checkpoint, Succession};
use psn_core::names::GatewayId;
use time::OffsetDateTime;

fn decode(text: &str) -> Result<Checkpoint> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("checkpoint: {e}")))
}

impl Store {
    /// The checkpoint held for `gateway`, if it has pushed one.
    pub async fn checkpoint(&self, gateway: &GatewayId) -> Result<Option<Checkpoint>> {
        let text: Option<String> =
            sqlx::query_scalar("SELECT checkpoint FROM log_checkpoints WHERE gateway_id = $1")
                .bind(gateway.to_string())
                .fetch_optional(&self.pool)
                .await?;
        text.as_deref().map(decode).transpose()
    }

    /// Keeps `checkpoint` (verified by the caller as `gateway`'s) if it is further along the
    /// log than the one held, and answers with the one held afterwards. `Conflict`, changing
    /// nothing, if it is behind the held one (the log was cut back) or another seal at the same
    /// position (two different logs were shown).
    pub async fn accept_checkpoint(
        &self,
        gateway: &GatewayId,
        checkpoint: &Checkpoint,
    ) -> Result<Checkpoint> {
        let segment = to_i64("checkpoint segment", checkpoint.segment)?;
        let entry = to_i64("checkpoint entry", checkpoint.entry)?;
        let json = serde_json::to_string(checkpoint)
            .map_err(|e| StoreError::Invalid(format!("checkpoint: {e}")))?;
        let (_g, mut tx) = self.begin().await?;
        let id = gateway.to_string();
        let held: Option<String> =
            sqlx::query_scalar("SELECT checkpoint FROM log_checkpoints WHERE gateway_id = $1")
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await?;
        let now = to_millis(OffsetDateTime::now_utc());
        let sql = match held.as_deref().map(decode).transpose()? {
            None => {
                "INSERT INTO log_checkpoints (segment, entry, chain_head, checkpoint, updated_at, gateway_id) \
                 VALUES ($1, $2, $3, $4, $5, $6)"
            }
            Some(held) => match held.succession(checkpoint) {
                Succession::Later => {
                    "UPDATE log_checkpoints SET segment = $1, entry = $2, chain_head = $3, \
                     checkpoint = $4, updated_at = $5 WHERE gateway_id = $6"
                }
                Succession::Same => return Ok(held),
                refused => return Err(refusal(gateway, &held, checkpoint, refused)),
            },
        };
        sqlx::query(sql)
            .bind(segment)
            .bind(entry)
            .bind(&checkpoint.chain_head)
            .bind(json)
            .bind(now)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(checkpoint.clone())
    }
}

/// Why a checkpoint does not succeed the held one, for the gateway's operator.
fn refusal(
    gateway: &GatewayId,
    held: &Checkpoint,
    offered: &Checkpoint,
    succession: Succession,
) -> StoreError {
    let why = match succession {
        Succession::Equivocation => format!(
            "is another seal at the same position as the one the authority holds for {gateway} (chain head {} there, not {}): two different logs were shown",
            held.chain_head, offered.chain_head
        ),
        _ => format!(
            "is behind the one the authority holds for {gateway}, at {}: the gateway's audit log was cut back (or its data directory replaced)",
            held.describe()
        ),
    };
    StoreError::Conflict(format!(
        "the checkpoint at {} {why}; the authority keeps the one it holds",
        offered.describe()
    ))
}
