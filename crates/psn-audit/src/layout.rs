//! Where the log lives in a gateway data directory, and reading its segments back.
//!
//! ```text
//! audit/segments/{seq:016}.psnlog      live segments; the highest is the active one
//! audit/archive/{seq:016}.psnlog.gz    sealed segments, compressed
//! audit/bodies/{message}.{role}.{part} bodies of services that opted in
//! ```

use crate::error::io_error;
use crate::format::{archive_file_name, parse_file_name, segment_file_name};
use crate::AuditError;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest segment decompressed from an archive or bundle (a guard against gzip bombs; segments
/// rotate at a small fraction of this).
pub(crate) const MAX_SEGMENT_BYTES: u64 = 4 << 30;

/// Paths of the log inside a gateway data directory.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    pub(crate) fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.to_path_buf(),
        }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn audit(&self) -> PathBuf {
        self.root.join("audit")
    }

    pub(crate) fn segments(&self) -> PathBuf {
        self.audit().join("segments")
    }

    pub(crate) fn archive(&self) -> PathBuf {
        self.audit().join("archive")
    }

    pub(crate) fn bodies(&self) -> PathBuf {
        self.audit().join("bodies")
    }

    pub(crate) fn segment(&self, seq: u64) -> PathBuf {
        self.segments().join(segment_file_name(seq))
    }

    pub(crate) fn archived(&self, seq: u64) -> PathBuf {
        self.archive().join(archive_file_name(seq))
    }
}

/// A segment on disk, live or archived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentFile {
    pub(crate) seq: u64,
    pub(crate) path: PathBuf,
    pub(crate) archived: bool,
    pub(crate) len: u64,
}

impl SegmentFile {
    /// The file's name, for reports.
    pub(crate) fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The segment's bytes, decompressed if archived.
    pub(crate) fn read(&self) -> Result<Vec<u8>, AuditError> {
        let file = match std::fs::File::open(&self.path) {
            // Archived (by the running gateway) since it was listed: the compressed copy was
            // written before the segment was removed.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !self.archived => {
                let archived = self
                    .path
                    .parent()
                    .and_then(Path::parent)
                    .map(|audit| audit.join("archive").join(archive_file_name(self.seq)));
                let Some(archived) = archived else {
                    return Err(io_error(&self.path)(e));
                };
                let file = std::fs::File::open(&archived).map_err(|_| io_error(&self.path)(e))?;
                return gunzip(file, &archived);
            }
            other => other.map_err(io_error(&self.path))?,
        };
        if self.archived {
            gunzip(file, &self.path)
        } else {
            let mut data = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
            std::io::BufReader::new(file)
                .read_to_end(&mut data)
                .map_err(io_error(&self.path))?;
            Ok(data)
        }
    }
}

/// Decompresses a gzip stream, refusing more than [`MAX_SEGMENT_BYTES`].
pub(crate) fn gunzip(reader: impl Read, path: &Path) -> Result<Vec<u8>, AuditError> {
    let mut data = Vec::new();
    flate2::read::GzDecoder::new(reader)
        .take(MAX_SEGMENT_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(io_error(path))?;
    if data.len() as u64 > MAX_SEGMENT_BYTES {
        return Err(AuditError::Input(format!(
            "{}: decompresses to more than {MAX_SEGMENT_BYTES} bytes",
            path.display()
        )));
    }
    Ok(data)
}

/// Every segment of the log, live and archived, in sequence order. If a segment is in both
/// places (archiving stopped between writing the archive and removing the original), the live
/// copy is used. Live segments are listed before archives, so a segment the running gateway
/// archives meanwhile is found in one place or the other, never in neither.
pub(crate) fn list_segments(layout: &Layout) -> Result<Vec<SegmentFile>, AuditError> {
    let mut found: std::collections::BTreeMap<u64, SegmentFile> = Default::default();
    for dir in [layout.segments(), layout.archive()] {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error(&dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_error(&dir))?;
            let name = entry.file_name();
            let Some((seq, archived)) = name.to_str().and_then(parse_file_name) else {
                continue;
            };
            if found.contains_key(&seq) {
                continue;
            }
            let len = match entry.metadata() {
                Ok(metadata) => metadata.len(),
                // Archived since the directory was read: the archive listing finds it.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(&entry.path())(e)),
            };
            found.insert(
                seq,
                SegmentFile {
                    seq,
                    path: entry.path(),
                    archived,
                    len,
                },
            );
        }
    }
    Ok(found.into_values().collect())
}

/// Makes a directory's entries (a new or renamed file) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

/// Writes a file under a temporary name, syncs it and renames it into place, so a reader sees
/// the whole file or none of it.
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), AuditError> {
    use std::io::Write;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io_error(&tmp))?;
    file.write_all(contents).map_err(io_error(&tmp))?;
    file.sync_all().map_err(io_error(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_error(path))?;
    if let Some(parent) = path.parent() {
        // A bare file name's parent is "", which opens as nothing: it is the current directory.
        sync_dir(if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_listed_in_order_preferring_live_copies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.segments()).expect("mkdir");
        std::fs::create_dir_all(layout.archive()).expect("mkdir");
        for seq in [3, 1] {
            std::fs::write(layout.segment(seq), b"x").expect("write");
        }
        std::fs::write(layout.archived(1), b"y").expect("write");
        std::fs::write(layout.archived(2), b"y").expect("write");
        std::fs::write(layout.segments().join("notes.txt"), b"z").expect("write");
        let listed = list_segments(&layout).expect("list");
        let seen: Vec<(u64, bool)> = listed.iter().map(|s| (s.seq, s.archived)).collect();
        assert_eq!(seen, [(1, false), (2, true), (3, false)]);
    }
}
