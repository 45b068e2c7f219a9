//! Archival and retention: sealed segments are compressed into `audit/archive/` (verification and
//! export read them there), and archives older than the retention period are deleted with the
//! bodies their records kept. Only segments closed by a final seal are archived, never the
//! newest; retention only ever deletes archives. Safe to run while the gateway is writing.

use crate::error::io_error;
use crate::format::Entry;
use crate::layout::{gunzip, list_segments, sync_dir, write_atomically, Layout, SegmentFile};
use crate::record::body_file_name;
use crate::scan::scan;
use crate::AuditError;
use std::io::Write;
use std::path::Path;
use std::time::Duration;
use time::OffsetDateTime;

/// What to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveOptions {
    /// Delete archives whose final seal is older than this; `None` keeps them forever.
    pub retention: Option<Duration>,
}

/// What an archival run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ArchiveSummary {
    /// Segments compressed into the archive.
    pub archived: Vec<u64>,
    /// Archives deleted by retention.
    pub deleted: Vec<u64>,
    /// Stored bodies deleted with them.
    pub bodies_deleted: u64,
    /// Older segments left alone because they are damaged or not closed by a final seal
    /// (`psn audit verify` says why).
    pub skipped: Vec<u64>,
}

/// Archives every closed segment but the newest and applies retention as of `now`.
pub fn archive(
    data_dir: &Path,
    options: &ArchiveOptions,
    now: OffsetDateTime,
) -> Result<ArchiveSummary, AuditError> {
    let layout = Layout::new(data_dir);
    let mut summary = ArchiveSummary::default();
    let files = list_segments(&layout)?;
    let newest = files.iter().map(|f| f.seq).max();
    for file in files
        .iter()
        .filter(|f| !f.archived && Some(f.seq) != newest)
    {
        let data = file.read()?;
        let Some(sealed_ms) = final_seal_time(&data) else {
            tracing::warn!(
                segment = file.seq,
                "not archiving a segment without a final seal"
            );
            summary.skipped.push(file.seq);
            continue;
        };
        let archive_dir = layout.archive();
        std::fs::create_dir_all(&archive_dir).map_err(io_error(&archive_dir))?;
        let target = layout.archived(file.seq);
        let compressed = compress(&data, sealed_ms, &target)?;
        if gunzip(compressed.as_slice(), &target)? != data {
            return Err(AuditError::Unavailable {
                reason: format!(
                    "{}: the compressed copy does not decompress to the segment",
                    target.display()
                ),
            });
        }
        write_atomically(&target, &compressed)?;
        std::fs::remove_file(&file.path).map_err(io_error(&file.path))?;
        sync_dir(&layout.segments())?;
        summary.archived.push(file.seq);
    }
    if let Some(retention) = options.retention {
        let cutoff = now - retention;
        for file in list_segments(&layout)?.iter().filter(|f| f.archived) {
            let sealed_at = archive_time(file)?;
            if sealed_at.is_some_and(|t| t < cutoff) {
                summary.bodies_deleted += delete_bodies(&layout, file)?;
                std::fs::remove_file(&file.path).map_err(io_error(&file.path))?;
                sync_dir(&layout.archive())?;
                summary.deleted.push(file.seq);
            }
        }
    }
    Ok(summary)
}

/// When the segment's final seal was made, if it is intact and closed by one.
fn final_seal_time(data: &[u8]) -> Option<i64> {
    let mut last = None;
    let end = scan(data, |scanned| {
        last = match scanned.entry {
            Entry::Seal(seal) if seal.last => Some(seal.at_ms),
            _ => None,
        };
        Ok::<(), std::convert::Infallible>(())
    });
    end.stop.is_none().then_some(last).flatten()
}

/// Gzip with the final seal's time as the gzip modification time, so retention needs only the
/// header, and the archive's age survives copying.
fn compress(data: &[u8], sealed_ms: i64, path: &Path) -> Result<Vec<u8>, AuditError> {
    let mtime = u32::try_from(sealed_ms.div_euclid(1000)).unwrap_or(0);
    let mut encoder = flate2::GzBuilder::new()
        .mtime(mtime)
        .write(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).map_err(io_error(path))?;
    encoder.finish().map_err(io_error(path))
}

/// The final seal time recorded in an archive's gzip header.
fn archive_time(file: &SegmentFile) -> Result<Option<OffsetDateTime>, AuditError> {
    let reader = std::fs::File::open(&file.path).map_err(io_error(&file.path))?;
    let decoder = flate2::read::GzDecoder::new(std::io::BufReader::new(reader));
    Ok(decoder
        .header()
        .map(|h| h.mtime())
        .filter(|mtime| *mtime > 0)
        .and_then(|mtime| OffsetDateTime::from_unix_timestamp(i64::from(mtime)).ok()))
}

/// Deletes the stored bodies of an archive's records; returns how many.
fn delete_bodies(layout: &Layout, file: &SegmentFile) -> Result<u64, AuditError> {
    let data = file.read()?;
    let mut names = Vec::new();
    scan(&data, |scanned| {
        if let Entry::Record(record) = scanned.entry {
            for part in record.stored_bodies() {
                names.extend(body_file_name(&record.message_id, record.role, part));
            }
        }
        Ok::<(), std::convert::Infallible>(())
    });
    let mut deleted = 0;
    for name in names {
        let path = layout.bodies().join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => deleted += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&path)(e)),
        }
    }
    Ok(deleted)
}
