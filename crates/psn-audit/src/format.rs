//! The on-disk form of a segment, shared by the writer, the verifier, the fuzz targets and anyone
//! who wants to read a log without psn (the format is documented in `docs/audit.md`).
//!
//! ```text
//! segment := MAGIC frame*
//! frame   := length:u32be  index:u64be  payload[length]  chain:[u8; 32]
//! chain_i := SHA-256("psn-audit-chain-1\0" || chain_{i-1} || index_be || payload)
//! ```
//!
//! `index` is the entry's position in its segment (the header is 0). It is written out, not
//! implied, so a verifier can tell a removed or reordered entry from an altered one. The first
//! entry chains from the previous segment's last chain hash (zeros for a log's first segment), so
//! segments cannot be dropped, reordered or spliced from another log without a break. Payloads
//! are one JSON [`Entry`] each.

use crate::record::AuditRecord;
use psn_core::encoding::{b64url, b64url_decode, hex};
use serde::{Deserialize, Serialize};

/// First bytes of every segment file.
pub const MAGIC: &[u8; 8] = b"PSNAUD1\n";
/// The `format` a segment header names; readers refuse others.
pub const FORMAT: &str = "psn-audit/1";
/// Largest entry payload. A record with its peer statement is a few kilobytes; anything near this
/// is refused on append and read as corruption.
pub const MAX_ENTRY_BYTES: usize = 1 << 20;
/// Bytes a frame adds around its payload: length, index and chain hash.
pub const FRAME_OVERHEAD: usize = 4 + 8 + 32;

const CHAIN_CONTEXT: &[u8] = b"psn-audit-chain-1\0";

/// A SHA-256 chain hash, written as lowercase hex in entries and reports.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// The hash a log's first segment chains from.
    pub const ZERO: ChainHash = ChainHash([0; 32]);

    /// The chain hash of entry `index` with `payload`, following `self`.
    pub fn next(&self, index: u64, payload: &[u8]) -> ChainHash {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(CHAIN_CONTEXT);
        ctx.update(&self.0);
        ctx.update(&index.to_be_bytes());
        ctx.update(payload);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        ChainHash(out)
    }

    /// Parses 64 lowercase hex digits.
    pub fn from_hex(text: &str) -> Option<ChainHash> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let digit = |c: u8| match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            };
            out[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
        }
        Some(ChainHash(out))
    }
}

impl std::fmt::Display for ChainHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl std::fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChainHash({self})")
    }
}

impl Serialize for ChainHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ChainHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ChainHash::from_hex(&text)
            .ok_or_else(|| serde::de::Error::custom("a chain hash is 64 lowercase hex digits"))
    }
}

/// One entry of a segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// Always entry 0: which log and segment this is, and what it continues.
    Header(Header),
    /// A certificate that a later statement or seal in the same segment is verified with, so a
    /// segment is verifiable on its own with the CA and the configuration history.
    Certificate(CertificateEntry),
    /// One exchange as this gateway saw it (boxed: records are far larger than other entries).
    Record(Box<AuditRecord>),
    /// The gateway's signature over the chain so far.
    Seal(Seal),
}

/// What a segment is and what it continues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// [`FORMAT`].
    pub format: String,
    /// The gateway whose log this is, `{member}@{code}`.
    pub log: String,
    /// Sequence number of the segment, from 1; also its file name.
    pub segment: u64,
    /// The last chain hash of the previous segment (zeros for segment 1); entry 0 chains from it.
    pub previous_head: ChainHash,
    /// When the segment was started, Unix milliseconds.
    pub created_ms: i64,
}

/// A DER certificate carried in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateEntry {
    /// Its serial, lowercase hex (what statements and seals name).
    pub serial: String,
    /// The certificate, DER in base64url.
    pub der: String,
}

impl CertificateEntry {
    /// The certificate's DER, if the field is valid base64url.
    pub fn der_bytes(&self) -> Option<Vec<u8>> {
        b64url_decode(&self.der)
    }
}

/// A signature by the log's gateway over everything before it in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seal {
    /// The chain hash of the entry just before the seal.
    pub chain_head: ChainHash,
    /// Records in the segment up to the seal.
    pub records: u64,
    /// When it was signed, Unix milliseconds.
    pub at_ms: i64,
    /// Serial of the certificate whose key signed (a certificate entry earlier in the segment).
    pub signer_serial: String,
    /// ECDSA signature over [`Seal::signed_bytes`], base64url.
    pub signature: String,
    /// Whether it closes the segment: nothing may follow a final seal.
    #[serde(rename = "final")]
    pub last: bool,
}

impl Seal {
    /// The bytes the signature covers: everything in the seal except the signature, bound to the
    /// log, the segment and the seal's own position.
    pub fn signed_bytes(&self, log: &str, segment: u64, index: u64) -> Vec<u8> {
        psn_core::checkpoint::seal_signed_bytes(
            log,
            &self.signer_serial,
            segment,
            index,
            &self.chain_head.0,
            self.records,
            self.at_ms,
            self.last,
        )
    }

    /// The signature bytes, if the field is valid base64url.
    pub fn signature_bytes(&self) -> Option<Vec<u8>> {
        b64url_decode(&self.signature)
    }
}

/// Serialises an entry. Entries hold only strings and numbers, so this cannot fail.
pub fn encode_entry(entry: &Entry) -> Vec<u8> {
    serde_json::to_vec(entry).unwrap_or_default()
}

/// The payload of a record entry from a record already serialised as JSON, so callers can
/// serialise on their own threads.
pub fn record_payload(record_json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(record_json.len() + 11);
    out.extend_from_slice(b"{\"record\":");
    out.extend_from_slice(record_json);
    out.push(b'}');
    out
}

/// Decodes one entry payload.
pub fn decode_entry(payload: &[u8]) -> Result<Entry, String> {
    if payload.len() > MAX_ENTRY_BYTES {
        return Err(format!(
            "entry of {} bytes exceeds the {MAX_ENTRY_BYTES}-byte limit",
            payload.len()
        ));
    }
    serde_json::from_slice(payload).map_err(|e| format!("entry is not valid: {e}"))
}

/// Appends a frame for `payload` at `index` to `out`, chained from `previous`; returns its hash.
pub fn encode_frame(
    out: &mut Vec<u8>,
    previous: &ChainHash,
    index: u64,
    payload: &[u8],
) -> ChainHash {
    let hash = previous.next(index, payload);
    out.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(&index.to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&hash.0);
    hash
}

/// The certificate entry for a DER certificate.
pub fn certificate_entry(serial: &str, der: &[u8]) -> Entry {
    Entry::Certificate(CertificateEntry {
        serial: serial.to_owned(),
        der: b64url(der),
    })
}

/// One frame as read, not yet checked against the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Byte offset of the frame in the segment file.
    pub offset: u64,
    /// The index it claims.
    pub index: u64,
    /// The entry payload.
    pub payload: &'a [u8],
    /// The chain hash it carries.
    pub hash: ChainHash,
}

impl Frame<'_> {
    /// Offset just past the frame.
    pub fn end(&self) -> u64 {
        self.offset + (FRAME_OVERHEAD + self.payload.len()) as u64
    }
}

/// Why no frame could be read at an offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The file ends inside the frame: a torn write, or truncation.
    Incomplete {
        /// Where the frame starts.
        offset: u64,
        /// Bytes left in the file from there.
        available: u64,
    },
    /// The length field is beyond [`MAX_ENTRY_BYTES`]: the frame is corrupt.
    TooLong {
        /// Where the frame starts.
        offset: u64,
        /// The length it claims.
        length: u64,
    },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Incomplete { offset, available } => write!(
                f,
                "the file ends inside the frame at byte {offset} ({available} bytes left)"
            ),
            FrameError::TooLong { offset, length } => write!(
                f,
                "the frame at byte {offset} claims {length} bytes, over the {MAX_ENTRY_BYTES}-byte limit"
            ),
        }
    }
}

/// Reads the frames of a segment in order; stops after the first error.
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    data: &'a [u8],
    pos: usize,
    failed: bool,
}

/// The frames of a whole segment file; `None` if it does not start with [`MAGIC`].
pub fn frames(segment: &[u8]) -> Option<Frames<'_>> {
    segment.starts_with(MAGIC).then_some(Frames {
        data: segment,
        pos: MAGIC.len(),
        failed: false,
    })
}

/// The frames of a segment from byte `offset` on (to look past a damaged frame).
pub(crate) fn frames_at(segment: &[u8], offset: u64) -> Frames<'_> {
    Frames {
        data: segment,
        pos: usize::try_from(offset).unwrap_or(usize::MAX),
        failed: false,
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        let rest = &self.data[self.pos..];
        let offset = self.pos as u64;
        let incomplete = FrameError::Incomplete {
            offset,
            available: rest.len() as u64,
        };
        let fail = |this: &mut Self, e| {
            this.failed = true;
            Some(Err(e))
        };
        let Some((length, rest)) = rest.split_first_chunk::<4>() else {
            return fail(self, incomplete);
        };
        let length = u32::from_be_bytes(*length) as usize;
        if length > MAX_ENTRY_BYTES {
            return fail(
                self,
                FrameError::TooLong {
                    offset,
                    length: length as u64,
                },
            );
        }
        let Some((index, rest)) = rest.split_first_chunk::<8>() else {
            return fail(self, incomplete);
        };
        if rest.len() < length + 32 {
            return fail(self, incomplete);
        }
        let (payload, rest) = rest.split_at(length);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&rest[..32]);
        self.pos += FRAME_OVERHEAD + length;
        Some(Ok(Frame {
            offset,
            index: u64::from_be_bytes(*index),
            payload,
            hash: ChainHash(hash),
        }))
    }
}

/// `{seq:016}.psnlog`: the file name of a live segment.
pub fn segment_file_name(seq: u64) -> String {
    format!("{seq:016}.psnlog")
}

/// `{seq:016}.psnlog.gz`: the file name of an archived segment.
pub fn archive_file_name(seq: u64) -> String {
    format!("{seq:016}.psnlog.gz")
}

/// The sequence number in a segment or archive file name, and whether it is archived.
pub fn parse_file_name(name: &str) -> Option<(u64, bool)> {
    let (stem, archived) = match name.strip_suffix(".psnlog.gz") {
        Some(stem) => (stem, true),
        None => (name.strip_suffix(".psnlog")?, false),
    };
    if stem.len() != 16 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stem.parse().ok()?, archived))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_chain() {
        let mut data = MAGIC.to_vec();
        let h0 = encode_frame(&mut data, &ChainHash::ZERO, 0, b"{\"a\":1}");
        let h1 = encode_frame(&mut data, &h0, 1, b"");
        let read: Vec<_> = frames(&data).expect("magic").collect();
        assert_eq!(read.len(), 2);
        let f0 = read[0].as_ref().expect("frame");
        let f1 = read[1].as_ref().expect("frame");
        assert_eq!((f0.index, f0.payload, f0.hash), (0, &b"{\"a\":1}"[..], h0));
        assert_eq!((f1.index, f1.payload, f1.hash), (1, &b""[..], h1));
        assert_eq!(f1.end(), data.len() as u64);
        assert_ne!(h0.next(1, b"x"), h0.next(2, b"x"), "the index is chained");
    }

    #[test]
    fn truncated_and_oversized_frames_are_reported_once() {
        let mut data = MAGIC.to_vec();
        encode_frame(&mut data, &ChainHash::ZERO, 0, b"payload");
        for cut in MAGIC.len() + 1..data.len() {
            let read: Vec<_> = frames(&data[..cut]).expect("magic").collect();
            assert_eq!(read.len(), 1, "cut at {cut}");
            assert!(matches!(read[0], Err(FrameError::Incomplete { .. })));
        }
        let mut long = MAGIC.to_vec();
        long.extend_from_slice(&u32::MAX.to_be_bytes());
        long.extend_from_slice(&[0; 64]);
        let read: Vec<_> = frames(&long).expect("magic").collect();
        assert!(matches!(read.as_slice(), [Err(FrameError::TooLong { .. })]));
        assert!(frames(b"PSNAUD2\n").is_none());
    }

    #[test]
    fn hashes_and_names_parse_strictly() {
        let h = ChainHash::ZERO.next(0, b"x");
        assert_eq!(ChainHash::from_hex(&h.to_string()), Some(h));
        assert_eq!(ChainHash::from_hex(&h.to_string().to_uppercase()), None);
        assert_eq!(ChainHash::from_hex("00"), None);
        assert_eq!(parse_file_name(&segment_file_name(42)), Some((42, false)));
        assert_eq!(parse_file_name(&archive_file_name(7)), Some((7, true)));
        for bad in [
            "1.psnlog",
            "000000000000000a.psnlog",
            "0000000000000001.log",
            "",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }
}
