//! Bodies kept for services that opted in (DESIGN.md "Audit log": data minimisation by default).
//! A body is streamed to `audit/bodies/{message}.{role}.{part}` while it passes, synced, and only
//! then is the record appended saying it is stored; the record's digest covers it, so the body
//! is as tamper-evident as the record.

use crate::error::io_error;
use crate::record::{body_file_name, BodyPart, Role};
use crate::{AuditError, AuditLog};
use psn_core::proof::content_digest;
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;

/// A body being stored. Dropped without [`BodySink::finish`] (the exchange broke off), it removes
/// its temporary file and nothing is kept.
pub struct BodySink {
    file: tokio::fs::File,
    tmp: PathBuf,
    path: PathBuf,
    digest: ring::digest::Context,
    bytes: u64,
    finished: bool,
}

impl Drop for BodySink {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl std::fmt::Debug for BodySink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodySink")
            .field("path", &self.path)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

/// A stored body: what the record's digest must say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBody {
    /// RFC 9530 `Content-Digest` of the stored bytes.
    pub content_digest: String,
    /// Its length.
    pub bytes: u64,
}

impl AuditLog {
    /// Starts storing one body of an exchange. Refused on a failed log, and for message ids that
    /// cannot name a file (`[A-Za-z0-9-]`, up to 64 characters; data-plane ids are UUIDs).
    pub async fn body_sink(
        &self,
        message_id: &str,
        role: Role,
        part: BodyPart,
    ) -> Result<BodySink, AuditError> {
        self.check_health()?;
        let name = body_file_name(message_id, role, part).ok_or_else(|| {
            AuditError::InvalidRecord(format!("message id {message_id:?} cannot name a body file"))
        })?;
        let dir = self.layout().bodies();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(io_error(&dir))?;
        let path = dir.join(&name);
        let already = || {
            AuditError::InvalidRecord(format!(
                "a {} body of message {message_id} is already kept (or being kept); message ids must be unique, and kept evidence is never overwritten",
                part.as_str()
            ))
        };
        if tokio::fs::try_exists(&path)
            .await
            .map_err(io_error(&path))?
        {
            return Err(already());
        }
        let tmp = dir.join(format!("{name}.tmp"));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => already(),
                _ => io_error(&tmp)(e),
            })?;
        Ok(BodySink {
            file,
            tmp,
            path,
            digest: ring::digest::Context::new(&ring::digest::SHA256),
            bytes: 0,
            finished: false,
        })
    }
}

impl BodySink {
    /// Appends a chunk.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), AuditError> {
        self.digest.update(chunk);
        self.bytes += chunk.len() as u64;
        self.file
            .write_all(chunk)
            .await
            .map_err(io_error(&self.tmp))
    }

    /// Syncs the body and puts it in place; append the record (with the body marked stored)
    /// after this returns.
    pub async fn finish(mut self) -> Result<StoredBody, AuditError> {
        self.file.flush().await.map_err(io_error(&self.tmp))?;
        self.file.sync_all().await.map_err(io_error(&self.tmp))?;
        // A link, not a rename: it fails rather than replace a body already kept.
        tokio::fs::hard_link(&self.tmp, &self.path)
            .await
            .map_err(io_error(&self.path))?;
        self.finished = true;
        tokio::fs::remove_file(&self.tmp)
            .await
            .map_err(io_error(&self.tmp))?;
        let dir = self.path.parent().map(PathBuf::from).unwrap_or_default();
        tokio::task::spawn_blocking(move || crate::layout::sync_dir(&dir))
            .await
            .map_err(|e| AuditError::Unavailable {
                reason: format!("syncing the bodies directory: {e}"),
            })??;
        Ok(StoredBody {
            content_digest: content_digest(self.digest.clone().finish().as_ref()),
            bytes: self.bytes,
        })
    }
}
