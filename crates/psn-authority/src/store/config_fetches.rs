//! Which configuration version each gateway holds, as its long polls show: the version the
//! authority last answered it with (a new one, or a `304` confirming the one it asked about), and
//! when. One row per gateway, replaced at each answer.
//!
//! A new version wakes every gateway's long poll at once, and each answer waits for its note, so
//! at a thousand gateways one commit per note (a disk flush each) would queue the last answer a
//! second behind the first. Notes are therefore group-committed: a note joins the batch being
//! gathered, one caller at a time writes the whole batch in one transaction, and every caller
//! whose note it held returns with that write's outcome. The batch is bounded by the answers
//! waiting, since each note's caller waits for it.

use super::{to_i64, to_millis, Result, Store, StoreError};
use psn_core::names::GatewayId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use time::OffsetDateTime;

/// One answer's note: the gateway, the version it now holds, when.
struct Note {
    gateway: GatewayId,
    version: i64,
    at: i64,
}

/// What a batch's write came to: `Err` with the reason for every note it held.
type Outcome = Arc<OnceLock<std::result::Result<(), String>>>;

/// The notes gathered for the next batch, and the outcome their callers will read.
#[derive(Default)]
struct Gathering {
    notes: Vec<Note>,
    outcome: Outcome,
}

/// The group commit of configuration fetch notes (the module's doc says why).
#[derive(Default)]
pub(super) struct FetchNotes {
    gathering: Mutex<Gathering>,
    /// Held by the caller writing a batch; the others wait here for its outcome.
    writer: tokio::sync::Mutex<()>,
}

impl FetchNotes {
    /// Adds `note` to the batch being gathered; its outcome is read from the handle returned.
    fn join(&self, note: Note) -> Outcome {
        let mut gathering = self.gathering();
        gathering.notes.push(note);
        gathering.outcome.clone()
    }

    /// Takes the batch gathered so far, leaving a new one to gather.
    fn take(&self) -> Gathering {
        std::mem::take(&mut *self.gathering())
    }

    fn gathering(&self) -> std::sync::MutexGuard<'_, Gathering> {
        self.gathering
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sets a taken batch's outcome when its writer stops, written or not: a writer whose request
/// was dropped mid-write leaves its batch failed rather than its callers waiting for nothing.
struct Settles(Outcome);

impl Drop for Settles {
    fn drop(&mut self) {
        let _ = self
            .0
            .set(Err("the write of its batch was abandoned".into()));
    }
}

impl Store {
    /// Records that `gateway` holds configuration `version` as of `at`, in a batch with the
    /// notes of answers given meanwhile.
    pub async fn record_config_fetch(
        &self,
        gateway: &GatewayId,
        version: u64,
        at: OffsetDateTime,
    ) -> Result<()> {
        let outcome = self.fetch_notes.join(Note {
            gateway: gateway.clone(),
            version: to_i64("configuration version", version)?,
            at: to_millis(at),
        });
        let _writing = self.fetch_notes.writer.lock().await;
        if outcome.get().is_none() {
            // No writer has taken this note's batch yet (taking and settling happen under the
            // writer lock), so it is still gathering and this caller writes it.
            let batch = self.fetch_notes.take();
            let settles = Settles(batch.outcome);
            let written = self.write_config_fetches(batch.notes).await;
            let _ = settles
                .0
                .set(written.as_ref().map(|_| ()).map_err(ToString::to_string));
        }
        match outcome.get() {
            Some(Ok(())) => Ok(()),
            Some(Err(reason)) => Err(StoreError::Batch(reason.clone())),
            None => Err(StoreError::Batch("its batch was not written".into())),
        }
    }

    /// Writes a batch of notes in one transaction, the latest per gateway.
    async fn write_config_fetches(&self, notes: Vec<Note>) -> Result<()> {
        let mut latest: HashMap<GatewayId, Note> = HashMap::with_capacity(notes.len());
        for note in notes {
            match latest.get(&note.gateway) {
                Some(held) if held.at > note.at => {}
                _ => {
                    latest.insert(note.gateway.clone(), note);
                }
            }
        }
        let (_g, mut tx) = self.begin().await?;
        for note in latest.values() {
            sqlx::query(
                "INSERT INTO gateway_config_fetches (gateway_id, config_version, fetched_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (gateway_id) DO UPDATE SET \
                 config_version = excluded.config_version, fetched_at = excluded.fetched_at",
            )
            .bind(note.gateway.to_string())
            .bind(note.version)
            .bind(note.at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
