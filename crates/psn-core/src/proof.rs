//! Proof of origin (DESIGN.md "Data plane"): what each gateway signs about an exchange, so either
//! party can later show a third party, offline, what the other sent.
//!
//! A proof travels as `base64url(statement JSON) "." base64url(signature)`. The consumer gateway
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

    /// Encodes a statement with its signature.
    pub fn encode(&self, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
        let bytes = self.to_bytes();
        let signature = sign(&bytes);
        format!("{}.{}", b64url(&bytes), b64url(&signature))
    }

    /// Splits and parses a proof; returns the statement, its signed bytes and the signature for
    /// the caller to verify against the signer's certificate.
    pub fn decode(proof: &str) -> Result<(Statement, Vec<u8>, Vec<u8>), ProofError> {
        if proof.len() > MAX_PROOF_LEN {
            return Err(ProofError::Malformed);
        }
        let (statement, signature) = proof.split_once('.').ok_or(ProofError::Malformed)?;
        let bytes = b64url_decode(statement).ok_or(ProofError::Malformed)?;
        let signature = b64url_decode(signature).ok_or(ProofError::Malformed)?;
        let parsed: Statement =
            serde_json::from_slice(&bytes).map_err(|_| ProofError::Malformed)?;
        Ok((parsed, bytes, signature))
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
    fn encodes_and_decodes_with_the_signed_bytes() {
        let proof = statement().encode(|bytes| bytes.iter().rev().copied().collect());
        let (parsed, bytes, signature) = Statement::decode(&proof).expect("decode");
        assert_eq!(parsed, statement());
        assert_eq!(signature, bytes.iter().rev().copied().collect::<Vec<_>>());
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
        for bad in ["", "abc", "a.b", "!!.!!", &"A".repeat(MAX_PROOF_LEN + 1)] {
            assert_eq!(
                Statement::decode(bad).err(),
                Some(ProofError::Malformed),
                "{bad:?}"
            );
        }
        let extra = format!(
            "{}.{}",
            b64url(br#"{"kind":"request","evil":1}"#),
            b64url(b"sig")
        );
        assert_eq!(Statement::decode(&extra).err(), Some(ProofError::Malformed));
    }
}
