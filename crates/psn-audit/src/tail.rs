//! Reading the log from a cursor: the records appended after a [`LogCursor`], for a gateway that
//! derives its per-minute aggregates from its own audit log (`psn_core::aggregate`).
//!
//! Aggregates are never kept beside the log: the gateway reads the records after the cursor the
//! authority last accepted from it, aggregates them and sends the batch with that cursor and the
//! one [`read_after`] returns; the authority accepts a batch only if it starts where the previous
//! one ended. The log is the buffer (it survives restarts and authority downtime) and the cursor
//! makes delivery exactly-once, so this reader must return every record once, in log order, and
//! say so when it cannot (segments deleted by retention, a replaced data directory).
//!
//! It is called every few seconds on a busy gateway, so it reads only the cursor's segment and
//! those after it, never the whole log: entries before the cursor in its segment were checked by
//! an earlier read and are only framed (no hashing or decoding); every entry from the cursor on
//! is checked against its chain hash as [`crate::verify`] checks it. Verifying the whole log,
//! seals and statements included, stays the job of [`crate::verify`].

use crate::format::{decode_entry, frames, ChainHash, Entry, FrameError, FORMAT};
use crate::layout::{list_segments, Layout, SegmentFile};
use crate::record::AuditRecord;
use crate::scan::{scan_from, Stop};
use crate::AuditError;
use psn_core::aggregate::LogCursor;
use std::path::Path;

/// What [`read_after`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tail {
    /// Records after the cursor, in log order (at most `max_records`).
    pub records: Vec<AuditRecord>,
    /// Where the next read starts: after the last entry consumed. `None` only when the log has
    /// no segment at all.
    ///
    /// It is the position after the last entry consumed, in that entry's segment (after the
    /// last record returned when `max_records` were returned; after the last complete entry of
    /// the newest segment otherwise), except that a segment other than the newest that was read
    /// to its end is left at the start of the next one, `(seq + 1, 0)`, and reading goes on
    /// there. So `to` is `(seq + 1, 0)` when reading stops between two closed segments (the next
    /// is missing or vanished meanwhile) and `(seq, entries)` when the newest segment was closed
    /// while being read; either form of a finished segment's end reads the same records.
    pub to: Option<LogCursor>,
    /// Why records may be missing between `from` and the first record returned, if they may be.
    pub gap: Option<TailGap>,
}

/// Why records may be missing from a [`Tail`]: the log no longer holds what followed the cursor.
/// The gateway should tell its operator (the aggregates for that stretch can no longer be
/// derived) and carry on from [`Tail::to`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TailGap {
    /// Segments after the cursor were deleted (retention) before they were read.
    Deleted {
        /// The cursor asked for.
        from: LogCursor,
        /// Where reading resumed: the start of the first segment present after it.
        resumed: LogCursor,
    },
    /// The cursor lies beyond the end of this log (the data directory was replaced): read from
    /// the log's start.
    Replaced {
        /// The cursor asked for.
        from: LogCursor,
    },
}

/// Returns the records of the log in `data_dir` after `from` (`None`: from the start of the
/// earliest segment present, live or archived), at most `max_records` of them, and the cursor
/// to read from next. This is how a gateway derives the per-minute aggregates it pushes to the
/// authority from its own audit log, exactly once: the authority keeps the cursor the last
/// accepted batch ended at, and the next batch is what this returns from there.
///
/// Safe while the gateway appends, rotates and archives: the newest segment ending inside a
/// frame (an append being written) is its end for now, and the next read returns that record
/// once it is complete; a segment archived while it is read is read from the archive. Cheap
/// enough to call every few seconds: it reads the cursor's segment and later ones only, skips
/// the entries before the cursor without hashing or decoding them, and stops after
/// `max_records` (archived segments are decompressed whole on each call, so catching up through
/// archives wants a generous `max_records`).
///
/// If the cursor's segment is gone (retention) but later ones are present, reading resumes at
/// the first of them and [`TailGap::Deleted`] says so. If the cursor lies beyond the log (its
/// segment is higher than any present, or a segment other than the newest is shorter than the
/// cursor's position), the data directory was replaced: reading starts from the log's start and
/// [`TailGap::Replaced`] says so. A cursor beyond the end of the newest segment reads nothing and
/// stays where it is (a failed write may have cut entries off the active segment; they were
/// never acknowledged), until the segment grows past it or is closed.
///
/// `max_records == 0` reads nothing and returns `from` (the start of the log for `None`).
///
/// # Errors
///
/// [`AuditError::Input`] naming the segment and entry position when an entry from the cursor on
/// is damaged (framing, position, chain hash, content, a header out of place or not continuing
/// the previous segment) or a segment other than the newest does not end with its final seal;
/// [`AuditError::Io`] when a file cannot be read.
pub fn read_after(
    data_dir: &Path,
    from: Option<LogCursor>,
    max_records: usize,
) -> Result<Tail, AuditError> {
    if let (Some(from), 0) = (from, max_records) {
        return Ok(Tail {
            records: Vec::new(),
            to: Some(from),
            gap: None,
        });
    }
    let files = list_segments(&Layout::new(data_dir))?;
    let (Some(first), Some(newest)) = (files.first(), files.last()) else {
        return Ok(Tail {
            records: Vec::new(),
            to: None,
            gap: from.map(|from| TailGap::Replaced { from }),
        });
    };
    let log_start = LogCursor {
        segment: first.seq,
        position: 0,
    };
    if max_records == 0 {
        return Ok(Tail {
            records: Vec::new(),
            to: Some(log_start),
            gap: None,
        });
    }
    let (mut index, mut cursor, mut gap) = match from {
        None => (0, log_start, None),
        Some(from) => match files.binary_search_by_key(&from.segment, |f| f.seq) {
            Ok(i) => (i, from, None),
            Err(i) => match files.get(i) {
                Some(later) => {
                    let resumed = LogCursor {
                        segment: later.seq,
                        position: 0,
                    };
                    // Segments are numbered from 1: nothing can be missing before the first.
                    let gap = (from.segment != 0 || later.seq != 1)
                        .then_some(TailGap::Deleted { from, resumed });
                    (i, resumed, gap)
                }
                None => (0, log_start, Some(TailGap::Replaced { from })),
            },
        },
    };
    let mut records = Vec::new();
    let mut previous: Option<Previous> = None;
    while let Some(file) = files.get(index) {
        // The newest live segment is the one the gateway appends to; archives never are.
        let active = file.seq == newest.seq && !file.archived;
        let data = match file.read() {
            Ok(data) => data,
            // Deleted (retention) since it was listed: the next read reports the gap.
            Err(AuditError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                break
            }
            Err(e) => return Err(e),
        };
        let segment = Segment {
            file,
            data: &data,
            active,
            previous: previous.as_ref(),
        };
        match segment.read(cursor.position, max_records, &mut records)? {
            Read::Full { next } => {
                cursor = LogCursor {
                    segment: file.seq,
                    position: next,
                };
                break;
            }
            Read::Short { entries: _ } if active => break,
            Read::Short { entries } => {
                if let (Some(from), None) = (from, gap) {
                    tracing::warn!(
                        %from,
                        segment = file.seq,
                        entries,
                        "audit cursor beyond the end of a closed segment: the log was replaced, reading it from the start"
                    );
                    gap = Some(TailGap::Replaced { from });
                    (index, cursor, previous) = (0, log_start, None);
                    continue;
                }
                // Unreachable: only the cursor's own segment is read from a position past 0.
                return Err(AuditError::Input(format!(
                    "{}: segment {} holds {entries} entries, fewer than expected",
                    file.path.display(),
                    file.seq
                )));
            }
            Read::End {
                entries,
                previous: finished,
            } => {
                cursor = LogCursor {
                    segment: file.seq,
                    position: entries,
                };
                match files.get(index + 1) {
                    Some(next) if !active => {
                        // A closed segment read to its end: carry on at the start of the next.
                        cursor = LogCursor {
                            segment: file.seq.saturating_add(1),
                            position: 0,
                        };
                        if next.seq != cursor.segment {
                            // A segment is missing: the next read reports the gap.
                            break;
                        }
                        previous = Some(finished);
                        index += 1;
                    }
                    _ => break,
                }
            }
        }
    }
    Ok(Tail {
        records,
        to: Some(cursor),
        gap,
    })
}

/// What a finished segment leaves for the next to continue.
struct Previous {
    log: Option<String>,
    head: ChainHash,
}

/// How reading one segment ended.
enum Read {
    /// `max_records` were reached; the next read starts at `next`.
    Full { next: u64 },
    /// The segment holds only `entries` entries, fewer than the cursor's position.
    Short { entries: u64 },
    /// Read to its end (for the active segment: to its last complete entry).
    End { entries: u64, previous: Previous },
}

/// Why the visitor stopped a walk.
enum Halt {
    Full {
        next: u64,
    },
    Damaged {
        position: u64,
        offset: u64,
        reason: String,
    },
}

impl std::fmt::Display for Halt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Halt::Full { next } => write!(f, "full before entry {next}"),
            Halt::Damaged { reason, .. } => f.write_str(reason),
        }
    }
}

/// One segment being read.
struct Segment<'a> {
    file: &'a SegmentFile,
    data: &'a [u8],
    active: bool,
    previous: Option<&'a Previous>,
}

impl Segment<'_> {
    fn damaged(
        &self,
        position: u64,
        offset: Option<u64>,
        reason: &dyn std::fmt::Display,
    ) -> AuditError {
        let at = offset.map(|o| format!(" (byte {o})")).unwrap_or_default();
        AuditError::Input(format!(
            "{}: segment {}, entry {position}{at}: {reason}; run `psn audit verify` on the data directory",
            self.file.path.display(),
            self.file.seq
        ))
    }

    /// Reads the entries from position `skip` on, adding records to `records` until it holds
    /// `max_records`.
    fn read(
        &self,
        skip: u64,
        max_records: usize,
        records: &mut Vec<AuditRecord>,
    ) -> Result<Read, AuditError> {
        let seq = self.file.seq;
        let mut log = None;
        let mut last_final = None;
        let end = scan_from(self.data, skip, |scanned| {
            let (position, offset) = (scanned.position, scanned.offset);
            let damaged = |reason: String| Halt::Damaged {
                position,
                offset,
                reason,
            };
            if last_final == Some(true) {
                return Err(damaged("it follows the segment's final seal".into()));
            }
            last_final = Some(false);
            match scanned.entry {
                Entry::Header(header) => {
                    if header.segment != seq || header.format != FORMAT {
                        return Err(damaged(format!(
                            "the header says segment {} in format {:?}; expected segment {seq} in {FORMAT:?}",
                            header.segment, header.format
                        )));
                    }
                    if let Some(previous) = self.previous {
                        if previous.log.as_ref().is_some_and(|log| *log != header.log) {
                            return Err(damaged(format!(
                                "the segment belongs to the log of {}, the one before it to another",
                                header.log
                            )));
                        }
                        if header.previous_head != previous.head {
                            return Err(damaged(
                                "the header does not continue the previous segment's chain".into(),
                            ));
                        }
                    }
                    log = Some(header.log);
                }
                Entry::Certificate(_) => {}
                Entry::Seal(seal) => last_final = Some(seal.last),
                Entry::Record(record) => {
                    records.push(*record);
                    if records.len() >= max_records {
                        return Err(Halt::Full { next: position + 1 });
                    }
                }
            }
            Ok(())
        });
        match end.stop {
            None => {}
            Some(Stop::Visitor(Halt::Full { next })) => return Ok(Read::Full { next }),
            Some(Stop::Visitor(Halt::Damaged {
                position,
                offset,
                reason,
            })) => return Err(self.damaged(position, Some(offset), &reason)),
            // The gateway is writing the next entry: the segment ends before it for now.
            Some(Stop::Frame(FrameError::Incomplete { .. })) if self.active => {}
            Some(stop) => return Err(self.damaged(end.entries, stop.offset(), &stop)),
        }
        if end.entries < skip {
            return Ok(Read::Short {
                entries: end.entries,
            });
        }
        if !self.active {
            // Every segment but the newest is closed by a final seal; without it, entries may
            // have been cut off its end.
            let closed = match last_final {
                Some(last) => last,
                None => self.last_entry_is_final_seal(),
            };
            if !closed {
                return Err(self.damaged(
                    end.entries,
                    Some(end.valid_len),
                    &"the segment ends without its final seal, which every segment but the newest has",
                ));
            }
        }
        Ok(Read::End {
            entries: end.entries,
            previous: Previous {
                log: log.or_else(|| self.previous.and_then(|p| p.log.clone())),
                head: end.head,
            },
        })
    }

    /// Whether the segment's last entry (skipped by the walk) is a final seal.
    fn last_entry_is_final_seal(&self) -> bool {
        frames(self.data)
            .and_then(|f| f.last())
            .and_then(Result::ok)
            .and_then(|frame| decode_entry(frame.payload).ok())
            .is_some_and(|entry| matches!(entry, Entry::Seal(seal) if seal.last))
    }
}
