//! Checkpoints (docs/audit.md "Checkpoints"): a gateway's latest seal, held outside it by the
//! authority and by its peers, so that a log cut back behind a seal anyone has seen is found.
//!
//! A checkpoint is the seal exported ([`psn_core::checkpoint::Checkpoint`]): the same signed
//! bytes, the same signature. This module makes one from a seal, verifies one against the
//! network CA, compares one with a log on disk, and keeps the latest one seen per peer.

use crate::error::io_error;
use crate::format::{decode_entry, frames, Entry, Seal};
use crate::layout::{list_segments, write_atomically, Layout};
use crate::AuditError;
use psn_core::checkpoint::{Checkpoint, Succession, MAX_CHECKPOINT_BYTES};
use psn_core::encoding::{b64url, b64url_decode};
use psn_core::names::GatewayId;
use psn_pki::{verify_gateway_chain, StatementVerifier};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// The checkpoint of a seal at `index` of `segment` in `log`, signed with `certificate_der`.
pub fn checkpoint_of(
    log: &str,
    segment: u64,
    index: u64,
    seal: &Seal,
    certificate_der: &[u8],
) -> Checkpoint {
    Checkpoint {
        log: log.to_owned(),
        segment,
        entry: index,
        chain_head: seal.chain_head.to_string(),
        records: seal.records,
        at_ms: seal.at_ms,
        last: seal.last,
        signer_serial: seal.signer_serial.clone(),
        certificate: b64url(certificate_der),
        signature: seal.signature.clone(),
    }
}

/// Checks that a checkpoint is a seal of `gateway`'s log: its certificate was issued by the
/// network CA (DER `ca_der`), names `gateway`, has the serial the seal names and was valid when
/// it signed; and the signature verifies. Revocation is the configuration's business, as for
/// seals; the caller that needs it consults its own view.
pub fn verify_checkpoint(
    checkpoint: &Checkpoint,
    gateway: &GatewayId,
    ca_der: &[u8],
) -> Result<(), String> {
    if checkpoint.log != gateway.to_string() {
        return Err(format!(
            "the checkpoint is of the log of {}, not of {gateway}",
            checkpoint.log
        ));
    }
    let der = b64url_decode(&checkpoint.certificate)
        .ok_or("the checkpoint's certificate is not base64url")?;
    let certified = verify_gateway_chain(&der, ca_der).map_err(|e| e.to_string())?;
    if &certified.gateway != gateway || certified.info.serial != checkpoint.signer_serial {
        return Err(format!(
            "the checkpoint names signer {} but carries certificate {} of {}",
            checkpoint.signer_serial, certified.info.serial, certified.gateway
        ));
    }
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(checkpoint.at_ms) * 1_000_000)
        .map_err(|_| format!("{} ms is not a time", checkpoint.at_ms))?;
    certified.check_valid_at(at).map_err(|e| e.to_string())?;
    let signed = checkpoint
        .signed_bytes()
        .ok_or("the checkpoint's chain head is not 64 lowercase hex digits")?;
    let signature = b64url_decode(&checkpoint.signature)
        .ok_or("the checkpoint's signature is not base64url")?;
    let verifier = StatementVerifier::from_certificate(&der).map_err(|e| e.to_string())?;
    if !verifier.verify(&signed, &signature) {
        return Err("the checkpoint's signature does not verify".into());
    }
    Ok(())
}

/// What a log on disk says about a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointCheck {
    /// The log holds that very seal.
    Holds,
    /// The checkpoint's segment was deleted by retention (the log starts at `first_segment`):
    /// nothing to compare, and nothing wrong.
    Retired {
        /// The oldest segment present.
        first_segment: u64,
    },
    /// The log ends before the checkpoint: it was cut back.
    Short {
        /// The newest segment present (0 if none).
        segment: u64,
        /// Its last entry's position.
        entry: u64,
    },
    /// The log holds something else at the checkpoint's position: it was rewritten.
    Diverges {
        /// What is there instead.
        found: String,
    },
}

/// Compares the log in `data_dir` with a checkpoint (already verified).
pub fn check_checkpoint(
    data_dir: &Path,
    checkpoint: &Checkpoint,
) -> Result<CheckpointCheck, AuditError> {
    let segments = list_segments(&Layout::new(data_dir))?;
    let (Some(first), Some(newest)) = (segments.first(), segments.last()) else {
        return Ok(CheckpointCheck::Short {
            segment: 0,
            entry: 0,
        });
    };
    if checkpoint.segment < first.seq {
        return Ok(CheckpointCheck::Retired {
            first_segment: first.seq,
        });
    }
    let Some(file) = segments.iter().find(|s| s.seq == checkpoint.segment) else {
        if checkpoint.segment > newest.seq {
            let entries = count_entries(&newest.read()?);
            return Ok(CheckpointCheck::Short {
                segment: newest.seq,
                entry: entries.saturating_sub(1),
            });
        }
        return Ok(CheckpointCheck::Diverges {
            found: format!("segment {} is missing", checkpoint.segment),
        });
    };
    let data = file.read()?;
    let Some(frame) = frames(&data)
        .into_iter()
        .flatten()
        .map_while(Result::ok)
        .find(|f| f.index >= checkpoint.entry)
        .filter(|f| f.index == checkpoint.entry)
    else {
        return Ok(CheckpointCheck::Short {
            segment: file.seq,
            entry: count_entries(&data).saturating_sub(1),
        });
    };
    Ok(match decode_entry(frame.payload) {
        Ok(Entry::Seal(seal))
            if seal.chain_head.to_string() == checkpoint.chain_head
                && seal.signature == checkpoint.signature =>
        {
            CheckpointCheck::Holds
        }
        Ok(Entry::Seal(seal)) => CheckpointCheck::Diverges {
            found: format!("another seal (chain head {})", seal.chain_head),
        },
        Ok(_) => CheckpointCheck::Diverges {
            found: "an entry that is not a seal".into(),
        },
        Err(e) => CheckpointCheck::Diverges { found: e },
    })
}

/// Whole frames in a segment (the header counts).
fn count_entries(data: &[u8]) -> u64 {
    frames(data)
        .into_iter()
        .flatten()
        .map_while(Result::ok)
        .count() as u64
}

/// Where this gateway keeps the latest checkpoint it has seen of `peer`'s log:
/// `audit/peers/{gateway}.json`, with the gateway id's `/` written `%2F` (ids hold no `%`).
pub fn peer_checkpoint_path(data_dir: &Path, peer: &GatewayId) -> PathBuf {
    let name = format!("{}.json", peer.to_string().replace('/', "%2F"));
    Layout::new(data_dir).audit().join("peers").join(name)
}

/// Reads a checkpoint file (a peer's kept copy, or one saved from the authority).
pub fn read_checkpoint_file(path: &Path) -> Result<Checkpoint, AuditError> {
    let data = std::fs::read(path).map_err(io_error(path))?;
    if data.len() > MAX_CHECKPOINT_BYTES {
        return Err(AuditError::Input(format!(
            "{}: {} bytes is over the {MAX_CHECKPOINT_BYTES}-byte limit of a checkpoint",
            path.display(),
            data.len()
        )));
    }
    serde_json::from_slice(&data)
        .map_err(|e| AuditError::Input(format!("{} is not a checkpoint: {e}", path.display())))
}

/// What keeping a peer's checkpoint did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// It was further along than the one kept (or the first): it replaced it.
    Replaced,
    /// It was the one kept already.
    Unchanged,
    /// It was behind the one kept, or another seal at the same position: the kept one stays,
    /// and the peer's log was cut back or rewritten.
    Refused(Succession),
}

/// Keeps `checkpoint` (verified, of `peer`'s log) as the latest seen of that log, replacing the
/// kept one only with one further along, atomically: one small file per peer gateway.
pub fn keep_peer_checkpoint(
    data_dir: &Path,
    peer: &GatewayId,
    checkpoint: &Checkpoint,
) -> Result<Kept, AuditError> {
    let path = peer_checkpoint_path(data_dir, peer);
    let kept = match read_checkpoint_file(&path) {
        Ok(kept) => Some(kept),
        Err(AuditError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if let Some(kept) = &kept {
        match kept.succession(checkpoint) {
            Succession::Later => {}
            Succession::Same => return Ok(Kept::Unchanged),
            refused => return Ok(Kept::Refused(refused)),
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    }
    let json = serde_json::to_vec_pretty(checkpoint)
        .map_err(|e| AuditError::Input(format!("cannot serialise the checkpoint: {e}")))?;
    write_atomically(&path, &json)?;
    Ok(Kept::Replaced)
}
