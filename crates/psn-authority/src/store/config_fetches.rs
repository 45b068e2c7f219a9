//! Which configuration version each gateway holds, as its long polls show: the version the
//! authority last answered it with (a new one, or a `304` confirming the one it asked about), and
//! when. One row per gateway, replaced at each answer.

use super::{to_i64, to_millis, Result, Store};
use psn_core::names::GatewayId;
use time::OffsetDateTime;

impl Store {
    /// Records that `gateway` holds configuration `version` as of `at`.
    pub async fn record_config_fetch(
        &self,
        gateway: &GatewayId,
        version: u64,
        at: OffsetDateTime,
    ) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        sqlx::query(
            "INSERT INTO gateway_config_fetches (gateway_id, config_version, fetched_at) \
             VALUES ($1, $2, $3) ON CONFLICT (gateway_id) DO UPDATE SET \
             config_version = excluded.config_version, fetched_at = excluded.fetched_at",
        )
        .bind(gateway.to_string())
        .bind(to_i64("configuration version", version)?)
        .bind(to_millis(at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
