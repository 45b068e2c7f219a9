//! Walking a segment's chain: every reader (recovery, verification, lookup, export, archival)
//! checks framing, positions and hashes the same way, then looks at the entries it cares about.

use crate::format::{decode_entry, frames, ChainHash, Entry, FrameError};

/// An entry whose position and chain hash have been checked.
#[derive(Debug)]
pub(crate) struct Scanned {
    /// Position in the segment (the header is 0).
    pub(crate) position: u64,
    /// Byte offset of its frame.
    pub(crate) offset: u64,
    /// Its chain hash.
    pub(crate) hash: ChainHash,
    /// The decoded entry.
    pub(crate) entry: Entry,
}

/// Why a walk stopped early.
#[derive(Debug)]
pub(crate) enum Stop<E> {
    /// The file does not start with the segment magic.
    NotASegment,
    /// A frame could not be read.
    Frame(FrameError),
    /// The frame at `position` claims another index: entries were removed or reordered.
    Index {
        position: u64,
        offset: u64,
        end: u64,
        found: u64,
    },
    /// The frame's chain hash does not match its content and predecessor.
    Altered {
        position: u64,
        offset: u64,
        end: u64,
    },
    /// The payload is not an entry.
    Undecodable {
        position: u64,
        offset: u64,
        end: u64,
        reason: String,
    },
    /// Entry 0 is not a header, or a header appears later.
    Header { position: u64, offset: u64 },
    /// The visitor refused an entry.
    Visitor(E),
}

impl<E> Stop<E> {
    /// Byte offset where the damage starts (the start of the bad frame).
    pub(crate) fn offset(&self) -> Option<u64> {
        match self {
            Stop::NotASegment => Some(0),
            Stop::Frame(FrameError::Incomplete { offset, .. })
            | Stop::Frame(FrameError::TooLong { offset, .. })
            | Stop::Index { offset, .. }
            | Stop::Altered { offset, .. }
            | Stop::Undecodable { offset, .. }
            | Stop::Header { offset, .. } => Some(*offset),
            Stop::Visitor(_) => None,
        }
    }
}

impl<E: std::fmt::Display> std::fmt::Display for Stop<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::NotASegment => f.write_str("not a psn audit segment (bad magic)"),
            Stop::Frame(e) => write!(f, "{e}"),
            Stop::Index {
                position, found, ..
            } => write!(f, "entry {position} claims to be entry {found}"),
            Stop::Altered { position, .. } => write!(
                f,
                "entry {position}'s chain hash does not match its content"
            ),
            Stop::Undecodable {
                position, reason, ..
            } => write!(f, "entry {position}: {reason}"),
            Stop::Header { position, .. } if *position == 0 => {
                f.write_str("entry 0 is not a segment header")
            }
            Stop::Header { position, .. } => {
                write!(f, "entry {position} is a header inside the segment")
            }
            Stop::Visitor(e) => write!(f, "{e}"),
        }
    }
}

/// How far a walk got.
#[derive(Debug)]
pub(crate) struct ScanEnd<E> {
    /// Entries that passed.
    pub(crate) entries: u64,
    /// Length of the file up to the end of the last entry that passed.
    pub(crate) valid_len: u64,
    /// Chain hash of the last entry that passed.
    pub(crate) head: ChainHash,
    /// Why it stopped before the end of the file, if it did.
    pub(crate) stop: Option<Stop<E>>,
}

/// Walks `data`, handing each checked entry to `visit`; stops at the first problem.
pub(crate) fn scan<E>(data: &[u8], visit: impl FnMut(Scanned) -> Result<(), E>) -> ScanEnd<E> {
    scan_from(data, 0, visit)
}

/// Like [`scan`], but entries before position `skip` (already checked by an earlier read) are
/// only framed and their positions checked: no hash, no decoding, not visited. Entry `skip`
/// chains from the hash its predecessor carries. So reading the end of a large segment costs
/// little more than reading its bytes.
pub(crate) fn scan_from<E>(
    data: &[u8],
    skip: u64,
    mut visit: impl FnMut(Scanned) -> Result<(), E>,
) -> ScanEnd<E> {
    let mut end = ScanEnd {
        entries: 0,
        valid_len: 0,
        head: ChainHash::ZERO,
        stop: None,
    };
    let Some(frames) = frames(data) else {
        end.stop = Some(Stop::NotASegment);
        return end;
    };
    end.valid_len = crate::format::MAGIC.len() as u64;
    for (position, frame) in (0u64..).zip(frames) {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                end.stop = Some(Stop::Frame(e));
                return end;
            }
        };
        let (offset, frame_end) = (frame.offset, frame.end());
        if frame.index != position {
            end.stop = Some(Stop::Index {
                position,
                offset,
                end: frame_end,
                found: frame.index,
            });
            return end;
        }
        if position < skip {
            end.entries = position + 1;
            end.valid_len = frame_end;
            end.head = frame.hash;
            continue;
        }
        let decoded = decode_entry(frame.payload);
        let previous = match (&decoded, position) {
            (Ok(Entry::Header(h)), 0) => h.previous_head,
            (Err(_), 0) => ChainHash::ZERO,
            (Ok(_), 0) => {
                end.stop = Some(Stop::Header { position, offset });
                return end;
            }
            _ => end.head,
        };
        if previous.next(position, frame.payload) != frame.hash {
            end.stop = Some(Stop::Altered {
                position,
                offset,
                end: frame_end,
            });
            return end;
        }
        let entry = match decoded {
            Ok(Entry::Header(_)) if position > 0 => {
                end.stop = Some(Stop::Header { position, offset });
                return end;
            }
            Ok(entry) => entry,
            Err(reason) => {
                end.stop = Some(Stop::Undecodable {
                    position,
                    offset,
                    end: frame_end,
                    reason,
                });
                return end;
            }
        };
        if let Err(e) = visit(Scanned {
            position,
            offset,
            hash: frame.hash,
            entry,
        }) {
            end.stop = Some(Stop::Visitor(e));
            return end;
        }
        end.entries = position + 1;
        end.valid_len = frame_end;
        end.head = frame.hash;
    }
    end
}

/// Whether a walk that stopped at `stop` met a torn tail, the only damage a crash causes: the
/// file ends inside the last frame, the last frame is incomplete in content (its hash or entry
/// does not check out and nothing follows it), or everything from the bad frame on is zeros
/// (a file system that extended the file before the data reached it). Returns the reason.
pub(crate) fn torn_tail<E>(stop: &Stop<E>, data: &[u8]) -> Option<String> {
    let zeros_from = |offset: u64| {
        usize::try_from(offset)
            .ok()
            .and_then(|o| data.get(o..))
            .is_some_and(|rest| rest.iter().all(|b| *b == 0))
    };
    let last = |end: u64| end == data.len() as u64;
    match stop {
        Stop::Frame(FrameError::Incomplete { offset, available }) => Some(format!(
            "the last frame at byte {offset} is incomplete ({available} bytes)"
        )),
        Stop::Index {
            offset,
            end,
            position,
            ..
        }
        | Stop::Altered {
            offset,
            end,
            position,
        }
        | Stop::Undecodable {
            offset,
            end,
            position,
            ..
        } if *position > 0 && (last(*end) || zeros_from(*offset)) => Some(format!(
            "the last frame at byte {offset} (entry {position}) was not completely written"
        )),
        Stop::Frame(FrameError::TooLong { offset, .. }) if zeros_from(*offset) => {
            Some(format!("zeros from byte {offset}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{encode_entry, encode_frame, Header, MAGIC};

    fn segment(entries: usize) -> Vec<u8> {
        let mut data = MAGIC.to_vec();
        let header = Entry::Header(Header {
            format: crate::format::FORMAT.into(),
            log: "GB/LA/E10000016@gw1".into(),
            segment: 1,
            previous_head: ChainHash::ZERO,
            created_ms: 0,
        });
        let mut head = encode_frame(&mut data, &ChainHash::ZERO, 0, &encode_entry(&header));
        for i in 1..entries as u64 {
            let cert = crate::format::certificate_entry(&format!("{i:02x}"), b"der");
            head = encode_frame(&mut data, &head, i, &encode_entry(&cert));
        }
        data
    }

    #[test]
    fn a_clean_segment_scans_to_its_end() {
        let data = segment(4);
        let mut seen = 0;
        let end = scan(&data, |_| {
            seen += 1;
            Ok::<_, String>(())
        });
        assert!(end.stop.is_none());
        assert_eq!(
            (end.entries, seen, end.valid_len),
            (4, 4, data.len() as u64)
        );
    }

    #[test]
    fn only_damage_at_the_very_end_is_a_torn_tail() {
        let data = segment(3);
        let torn = |data: &[u8]| {
            let end = scan(data, |_| Ok::<_, String>(()));
            end.stop.map(|s| torn_tail(&s, data).is_some())
        };
        // Cut inside the last frame, zeros appended, last byte flipped: torn.
        assert_eq!(torn(&data[..data.len() - 5]), Some(true));
        let mut zeros = data.clone();
        zeros.extend_from_slice(&[0; 100]);
        assert_eq!(torn(&zeros), Some(true));
        let mut flipped = data.clone();
        let last = flipped.len() - 40;
        flipped[last] ^= 1;
        assert_eq!(torn(&flipped), Some(true));
        // The same flip with a valid frame after it is corruption, not a tear.
        let mut middle = segment(4);
        let second = crate::format::frames(&middle)
            .and_then(|mut f| f.nth(1))
            .and_then(Result::ok)
            .map(|f| f.offset as usize + 12)
            .expect("second frame");
        middle[second] ^= 1;
        assert_eq!(torn(&middle), Some(false));
    }
}
