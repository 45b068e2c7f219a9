//! Proof of origin (DESIGN.md "Data plane"): what each gateway signs about an exchange, so either
//! party can later show a third party, offline, what the other sent.
//!
//! A proof travels as `base64url(statement JSON) "." base64url(signature) "." base64url(path)`:
//! statements are signed in batches (see [`batch`]), and a batch of one has an empty path. The consumer gateway
//! signs a [`Statement`] of kind `request` (who asked what, with the request body's digest); the
//! provider gateway one of kind `response` binding that request digest to the status and the
//! response body's digest. Bodies are digested while they stream, so proofs travel as HTTP
//! trailers (`PSN-Request-Proof`, `PSN-Response-Proof`).

use crate::encoding::{b64url, b64url_decode};
use serde::{Deserialize, Serialize};

/// Trailer carrying the consumer gateway's signed request statement.
pub const REQUEST_PROOF: &str = "psn-request-proof";
/// Trailer carrying the provider gateway's signed response statement.
pub const RESPONSE_PROOF: &str = "psn-response-proof";
/// Largest proof accepted (a statement is a few hundred bytes).
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// Which side signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatementKind {
    /// Signed by the consumer gateway about the request it sent.
    Request,
    /// Signed by the provider gateway about the response it returned.
    Response,
}

/// The signed facts of one side of an exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// Which side.
    pub kind: StatementKind,
    /// The exchange's message id.
    pub message_id: String,
    /// Signing gateway, `{member}@{code}`.
    pub signer: String,
    /// Serial of the signer's certificate, to find its key in the audit record.
    pub signer_serial: String,
    /// Consumer subsystem.
    pub client: String,
    /// Service called.
    pub service: String,
    /// HTTP method.
    pub method: String,
    /// Path below the service, with the query.
    pub path: String,
    /// RFC 9530 `Content-Digest` (`sha-256=:…:`) of the request body.
    pub request_digest: String,
    /// Response status (response statements only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `Content-Digest` of the response body (response statements only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_digest: Option<String>,
    /// When the signer made the statement, Unix milliseconds.
    pub at_ms: i64,
}

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// Not `statement.signature` in base64url, or over the size limit.
    #[error("proof is malformed")]
    Malformed,
    /// The signature does not verify with the signer's key.
    #[error("proof signature does not verify")]
    BadSignature,
    /// The statement contradicts what the verifier observed.
    #[error("proof does not match the exchange: {0}")]
    Mismatch(String),
}

impl Statement {
    /// The exact bytes that are signed.
    pub fn to_bytes(&self) -> Vec<u8> {
        // A struct of strings and integers always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// RFC 9530 `Content-Digest` value for a SHA-256 digest.
pub fn content_digest(sha256: &[u8]) -> String {
    use base64::Engine;
    format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(sha256)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement() -> Statement {
        Statement {
            kind: StatementKind::Request,
            message_id: "0b6b4a52-2f6c-4a55-9e1c-5f0d7a8e3c11".into(),
            signer: "GB/LA/E10000016@gw1".into(),
            signer_serial: "01ab".into(),
            client: "GB/LA/E10000016/revenues".into(),
            service: "GB/GOV/D6/eligibility/fsm-check".into(),
            method: "GET".into(),
            path: "/check?nino=QQ123456C".into(),
            request_digest: content_digest(&crate::encoding::sha256(b"")),
            status: None,
            response_digest: None,
            at_ms: 1,
        }
    }

    #[test]
    fn a_batch_of_one_signs_the_leaf_root() {
        let bytes = statement().to_bytes();
        let proof = encode_batched(&bytes, b"sig", &[]);
        let decoded = decode_proof(&proof).expect("decode");
        assert_eq!(decoded.statement, statement());
        assert_eq!(decoded.signed, batch::signed_root(&batch::leaf(&bytes)));
    }

    #[test]
    fn digest_is_rfc9530_form() {
        assert_eq!(
            content_digest(&crate::encoding::sha256(b"")),
            "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
        );
    }

    #[test]
    fn malformed_proofs_are_refused() {
        for bad in ["", "abc", "a.b", "!!.!!.", &"A".repeat(MAX_PROOF_LEN + 1)] {
            assert_eq!(
                decode_proof(bad).err(),
                Some(ProofError::Malformed),
                "{bad:?}"
            );
        }
        let extra = format!(
            "{}.{}.",
            b64url(br#"{"kind":"request","evil":1}"#),
            b64url(b"sig")
        );
        assert_eq!(decode_proof(&extra).err(), Some(ProofError::Malformed));
    }
}

/// Batch signatures (DESIGN.md: "signing cost must be amortised under load"): statements that
/// arrive while the signer is busy are signed together. Each statement is a leaf of a Merkle tree;
/// one signature covers the root; each proof carries the path from its leaf to the root.
/// Hashes are domain-separated (`0x00` leaves, `0x01` inner nodes) so no leaf can pose as a node.
pub mod batch {
    use crate::encoding::{b64url, b64url_decode};

    /// What the batch signature signs: this prefix followed by the root.
    pub const ROOT_CONTEXT: &[u8] = b"psn-batch-1\0";
    /// Most statements in one batch (a path of at most 10 steps).
    pub const MAX_BATCH: usize = 1024;

    /// A step of a path: the sibling hash and whether it stands on the left.
    pub type Step = (bool, [u8; 32]);

    /// The leaf hash of a statement's signed bytes.
    pub fn leaf(statement: &[u8]) -> [u8; 32] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&[0]);
        ctx.update(statement);
        to_array(ctx.finish())
    }

    fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&[1]);
        ctx.update(left);
        ctx.update(right);
        to_array(ctx.finish())
    }

    fn to_array(d: ring::digest::Digest) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }

    /// The root over `leaves` and each leaf's path to it. An odd node at the end of a level is
    /// promoted unchanged (its path gets no step for that level).
    pub fn tree(leaves: &[[u8; 32]]) -> ([u8; 32], Vec<Vec<Step>>) {
        let mut paths = vec![Vec::new(); leaves.len()];
        let mut level: Vec<([u8; 32], Vec<usize>)> = leaves
            .iter()
            .enumerate()
            .map(|(i, l)| (*l, vec![i]))
            .collect();
        while level.len() > 1 {
            let mut next = Vec::with_capacity(level.len().div_ceil(2));
            let mut pairs = level.chunks(2);
            for pair in pairs.by_ref() {
                match pair {
                    [(l, left_members), (r, right_members)] => {
                        for &m in left_members {
                            paths[m].push((false, *r));
                        }
                        for &m in right_members {
                            paths[m].push((true, *l));
                        }
                        let mut members = left_members.clone();
                        members.extend(right_members);
                        next.push((node(l, r), members));
                    }
                    [single] => next.push(single.clone()),
                    _ => {}
                }
            }
            level = next;
        }
        let root = level.first().map_or([0u8; 32], |(h, _)| *h);
        (root, paths)
    }

    /// The root a leaf and its path lead to.
    pub fn root_of(leaf: [u8; 32], path: &[Step]) -> [u8; 32] {
        path.iter().fold(leaf, |h, (left, sibling)| {
            if *left {
                node(sibling, &h)
            } else {
                node(&h, sibling)
            }
        })
    }

    /// The bytes a batch signature covers.
    pub fn signed_root(root: &[u8; 32]) -> Vec<u8> {
        [ROOT_CONTEXT, root.as_slice()].concat()
    }

    /// Encodes a path: one byte (1 = sibling on the left) and 32 bytes per step, base64url.
    pub fn encode_path(path: &[Step]) -> String {
        let mut bytes = Vec::with_capacity(path.len() * 33);
        for (left, sibling) in path {
            bytes.push(u8::from(*left));
            bytes.extend_from_slice(sibling);
        }
        b64url(&bytes)
    }

    /// Decodes a path; `None` if malformed or longer than a batch can need.
    pub fn decode_path(text: &str) -> Option<Vec<Step>> {
        let bytes = b64url_decode(text)?;
        if bytes.len() % 33 != 0 || bytes.len() / 33 > 11 {
            return None;
        }
        bytes
            .chunks(33)
            .map(|c| {
                let left = match c[0] {
                    0 => false,
                    1 => true,
                    _ => return None,
                };
                let mut sibling = [0u8; 32];
                sibling.copy_from_slice(&c[1..]);
                Some((left, sibling))
            })
            .collect()
    }
}

/// A decoded proof: the statement, the bytes its signature (or batch root) covers, and the
/// signature.
#[derive(Debug, Clone)]
pub struct DecodedProof {
    /// The statement.
    pub statement: Statement,
    /// What the signature covers: the statement bytes, or the batch root context.
    pub signed: Vec<u8>,
    /// The signature.
    pub signature: Vec<u8>,
}

/// Encodes a batch-signed proof: `statement.signature.path`.
pub fn encode_batched(statement_bytes: &[u8], signature: &[u8], path: &[batch::Step]) -> String {
    format!(
        "{}.{}.{}",
        b64url(statement_bytes),
        b64url(signature),
        batch::encode_path(path)
    )
}

/// Decodes a proof `statement.signature.path`; the signature covers the batch root the path
/// leads to from the statement's leaf.
pub fn decode_proof(proof: &str) -> Result<DecodedProof, ProofError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(ProofError::Malformed);
    }
    let mut parts = proof.split('.');
    let (Some(statement_b64), Some(signature_b64), Some(path_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ProofError::Malformed);
    };
    let bytes = b64url_decode(statement_b64).ok_or(ProofError::Malformed)?;
    let signature = b64url_decode(signature_b64).ok_or(ProofError::Malformed)?;
    let statement: Statement = serde_json::from_slice(&bytes).map_err(|_| ProofError::Malformed)?;
    let path = batch::decode_path(path_b64).ok_or(ProofError::Malformed)?;
    let signed = batch::signed_root(&batch::root_of(batch::leaf(&bytes), &path));
    Ok(DecodedProof {
        statement,
        signed,
        signature,
    })
}

#[cfg(test)]
mod batch_tests {
    use super::batch::*;
    use super::*;

    #[test]
    fn every_leaf_leads_to_the_root_for_every_batch_size() {
        for n in [1usize, 2, 3, 4, 5, 7, 8, 33, 100] {
            let leaves: Vec<[u8; 32]> = (0..n)
                .map(|i| leaf(format!("statement {i}").as_bytes()))
                .collect();
            let (root, paths) = tree(&leaves);
            for (i, l) in leaves.iter().enumerate() {
                assert_eq!(root_of(*l, &paths[i]), root, "n={n} i={i}");
                assert_eq!(decode_path(&encode_path(&paths[i])), Some(paths[i].clone()));
            }
            if n > 1 {
                assert_ne!(
                    root_of(leaves[0], &paths[1]),
                    root,
                    "a path belongs to its own leaf"
                );
            }
        }
    }

    #[test]
    fn batched_proofs_cover_the_root_and_malformed_ones_are_refused() {
        let statement = super::tests_support::statement();
        let bytes = statement.to_bytes();
        let other = leaf(b"another statement");
        let (root, paths) = tree(&[leaf(&bytes), other]);
        let decoded = decode_proof(&encode_batched(&bytes, b"sig", &paths[0])).expect("decode");
        assert_eq!(decoded.signed, signed_root(&root));
        assert_eq!(decoded.statement, statement);
        assert_eq!(decoded.signature, b"sig");
        let wrong_side = encode_batched(&bytes, b"sig", &[(true, other)]);
        assert_ne!(
            decode_proof(&wrong_side).expect("decode").signed,
            signed_root(&root)
        );
        for bad in [
            "a.b.c.d".to_owned(),
            "a.b.!!".to_owned(),
            format!("{}.AA.AQ", b64url(&bytes)),
        ] {
            assert!(decode_proof(&bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod tests_support {
    use super::*;

    pub fn statement() -> Statement {
        Statement {
            kind: StatementKind::Request,
            message_id: "x".into(),
            signer: "GB/LA/E10000016@gw1".into(),
            signer_serial: "01".into(),
            client: "GB/LA/E10000016/revenues".into(),
            service: "GB/GOV/D6/eligibility/fsm-check".into(),
            method: "GET".into(),
            path: "/".into(),
            request_digest: String::new(),
            status: None,
            response_digest: None,
            at_ms: 0,
        }
    }
}
