//! A gateway's signed checkpoint: its audit log's latest seal, exported with where it sits in the
//! log and the certificate that signed it, so that someone outside the gateway (the authority,
//! each peer gateway) can remember how far the log had got. A log later found shorter than a
//! checkpoint, or holding something else at its position, was cut back or rewritten
//! (docs/audit.md "Checkpoints").
//!
//! The signature is the seal's own: a checkpoint is not signed separately, it is the seal's
//! signed content ([`seal_signed_bytes`], the one encoding the log and every verifier use) with
//! the signature copied out of the log. Verification against the network CA is
//! `psn_audit::verify_checkpoint`; this crate only holds the form, shared by the API, the gateway
//! and the authority.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Domain separation of seal signatures.
const SEAL_CONTEXT: &[u8] = b"psn-audit-seal-1\0";

/// Largest serialised checkpoint accepted from anyone (it holds one certificate).
pub const MAX_CHECKPOINT_BYTES: usize = 16 * 1024;

/// The bytes a seal's signature covers: everything in the seal except the signature, bound to
/// the log, the segment and the seal's own position (docs/audit.md "Segment format").
#[allow(clippy::too_many_arguments)]
pub fn seal_signed_bytes(
    log: &str,
    signer_serial: &str,
    segment: u64,
    index: u64,
    chain_head: &[u8; 32],
    records: u64,
    at_ms: i64,
    last: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(SEAL_CONTEXT);
    for text in [log, signer_serial] {
        out.extend_from_slice(&u32::try_from(text.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(&segment.to_be_bytes());
    out.extend_from_slice(&index.to_be_bytes());
    out.extend_from_slice(chain_head);
    out.extend_from_slice(&records.to_be_bytes());
    out.extend_from_slice(&at_ms.to_be_bytes());
    out.push(u8::from(last));
    out
}

/// One gateway's latest seal, as held outside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The gateway whose log it is, `{member}@{code}` (the segments' `log`).
    pub log: String,
    /// The segment holding the seal.
    pub segment: u64,
    /// The seal's position in that segment (the header is 0).
    pub entry: u64,
    /// The chain hash of the entry just before the seal, 64 lowercase hex digits.
    pub chain_head: String,
    /// Records in the segment up to the seal.
    pub records: u64,
    /// When the seal was signed, Unix milliseconds.
    pub at_ms: i64,
    /// Whether the seal closed its segment.
    #[serde(rename = "final")]
    pub last: bool,
    /// Serial of the certificate whose key signed, lowercase hex.
    pub signer_serial: String,
    /// That certificate, DER in base64url, so the checkpoint verifies with the CA alone.
    pub certificate: String,
    /// The seal's ECDSA signature, base64url.
    pub signature: String,
}

impl Checkpoint {
    /// The chain head's bytes, if it is 64 lowercase hex digits.
    pub fn chain_head_bytes(&self) -> Option<[u8; 32]> {
        let text = self.chain_head.as_bytes();
        if text.len() != 64 {
            return None;
        }
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut out = [0u8; 32];
        for (i, pair) in text.chunks(2).enumerate() {
            out[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
        }
        Some(out)
    }

    /// The bytes the signature covers; `None` if the chain head is malformed.
    pub fn signed_bytes(&self) -> Option<Vec<u8>> {
        Some(seal_signed_bytes(
            &self.log,
            &self.signer_serial,
            self.segment,
            self.entry,
            &self.chain_head_bytes()?,
            self.records,
            self.at_ms,
            self.last,
        ))
    }

    /// Where it sits in the log: (segment, entry).
    pub fn position(&self) -> (u64, u64) {
        (self.segment, self.entry)
    }

    /// How `newer` relates to this checkpoint of the same log, for whoever keeps the latest.
    pub fn succession(&self, newer: &Checkpoint) -> Succession {
        match newer.position().cmp(&self.position()) {
            Ordering::Greater => Succession::Later,
            Ordering::Less => Succession::Backwards,
            Ordering::Equal if newer.chain_head == self.chain_head => Succession::Same,
            Ordering::Equal => Succession::Equivocation,
        }
    }

    /// "segment S entry E (signed at T)", for messages.
    pub fn describe(&self) -> String {
        let at =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.at_ms) * 1_000_000)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_else(|| format!("{} ms", self.at_ms));
        format!(
            "segment {} entry {} (signed at {at})",
            self.segment, self.entry
        )
    }
}

/// How a checkpoint relates to the one held before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Succession {
    /// Further along the log: it replaces the held one.
    Later,
    /// The same seal (same position and chain head): nothing changes.
    Same,
    /// Behind the held one: the log was cut back (or the data directory replaced).
    Backwards,
    /// Same position, different chain head: two different logs were shown.
    Equivocation,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(segment: u64, entry: u64, head: char) -> Checkpoint {
        Checkpoint {
            log: "GB/LA/E1@gw1".into(),
            segment,
            entry,
            chain_head: head.to_string().repeat(64),
            records: 1,
            at_ms: 1_795_430_400_000,
            last: false,
            signer_serial: "01".into(),
            certificate: String::new(),
            signature: String::new(),
        }
    }

    #[test]
    fn succession_orders_by_segment_then_entry() {
        let held = at(2, 10, 'a');
        assert_eq!(held.succession(&at(2, 11, 'b')), Succession::Later);
        assert_eq!(held.succession(&at(3, 1, 'b')), Succession::Later);
        assert_eq!(held.succession(&at(2, 9, 'b')), Succession::Backwards);
        assert_eq!(held.succession(&at(1, 99, 'b')), Succession::Backwards);
        assert_eq!(held.succession(&at(2, 10, 'a')), Succession::Same);
        assert_eq!(held.succession(&at(2, 10, 'b')), Succession::Equivocation);
    }

    #[test]
    fn chain_heads_parse_strictly() {
        assert!(at(1, 1, 'a').chain_head_bytes().is_some());
        assert!(at(1, 1, 'A').chain_head_bytes().is_none());
        let mut short = at(1, 1, 'a');
        short.chain_head.pop();
        assert!(short.signed_bytes().is_none());
        assert!(at(1, 1, 'a')
            .describe()
            .starts_with("segment 1 entry 1 (signed at 2026-"));
    }
}
