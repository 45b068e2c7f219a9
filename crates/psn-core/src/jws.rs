//! JWS compact serialisation (RFC 7515) with EdDSA (RFC 8037), the envelope of psn's signed global
//! configuration. A standard envelope lets any JOSE library check a configuration offline.
//!
//! Only what psn needs is implemented: one signature, `alg` = `EdDSA`, the signer's certificate in
//! `x5c`. Verification of the certificate chain lives with the PKI code; this module checks the
//! envelope and the signature.

use crate::encoding::{b64url, b64url_decode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// The only algorithm psn signs with or accepts.
pub const ALG_EDDSA: &str = "EdDSA";

/// Largest protected header accepted; real headers are a few kilobytes (one certificate).
const MAX_HEADER_LEN: usize = 64 * 1024;

/// The JOSE protected header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwsHeader {
    /// Signature algorithm; psn uses `EdDSA` only.
    pub alg: String,
    /// Media type of the payload, e.g. `psn-config+json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// Signer's certificate chain: standard base64 DER, signer first (RFC 7515 §4.1.6).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub x5c: Vec<String>,
}

impl JwsHeader {
    /// The DER certificates of `x5c`, signer first.
    pub fn certificates(&self) -> Result<Vec<Vec<u8>>, JwsError> {
        self.x5c
            .iter()
            .map(|c| {
                STANDARD
                    .decode(c)
                    .map_err(|_| JwsError::Malformed("x5c entry is not base64"))
            })
            .collect()
    }
}

/// Why an envelope was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// The text is not a well-formed compact JWS.
    #[error("malformed signed document: {0}")]
    Malformed(&'static str),
    /// The document exceeds the size the caller allows.
    #[error("signed document is {len} bytes, over the limit of {limit}")]
    TooLarge { len: usize, limit: usize },
    /// An algorithm other than EdDSA was named.
    #[error("unsupported signature algorithm {0:?} (psn accepts EdDSA only)")]
    UnsupportedAlgorithm(String),
    /// The signature does not verify with the signer's key.
    #[error("signature does not verify")]
    BadSignature,
}

/// Signs `payload`, returning the compact serialisation `header.payload.signature`.
pub fn sign_compact(
    header: &JwsHeader,
    payload: &[u8],
    key: &ring::signature::Ed25519KeyPair,
) -> String {
    // Serialising a struct of strings cannot fail.
    let header_json = serde_json::to_vec(header).unwrap_or_default();
    let mut out = b64url(&header_json);
    out.push('.');
    out.push_str(&b64url(payload));
    let signature = key.sign(out.as_bytes());
    out.push('.');
    out.push_str(&b64url(signature.as_ref()));
    out
}

/// A parsed but not yet verified envelope.
#[derive(Debug, Clone)]
pub struct CompactJws<'a> {
    header: JwsHeader,
    signing_input: &'a str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl<'a> CompactJws<'a> {
    /// Parses the compact form, refusing anything over `max_len` bytes before decoding it.
    pub fn parse(text: &'a str, max_len: usize) -> Result<Self, JwsError> {
        Self::parse_with(text, max_len, true)
    }

    /// Parses the header and signature only, leaving the payload encoded: for a caller that
    /// built the payload itself (tens of megabytes at national scale) and needs only the
    /// signature over it checked. [`Self::verify_ed25519`] then releases an empty payload.
    pub fn parse_detached(text: &'a str, max_len: usize) -> Result<Self, JwsError> {
        Self::parse_with(text, max_len, false)
    }

    fn parse_with(text: &'a str, max_len: usize, decode_payload: bool) -> Result<Self, JwsError> {
        if text.len() > max_len {
            return Err(JwsError::TooLarge {
                len: text.len(),
                limit: max_len,
            });
        }
        let text = text.trim_end_matches(['\n', '\r']);
        let (signing_input, signature) = text
            .rsplit_once('.')
            .ok_or(JwsError::Malformed("expected three dot-separated parts"))?;
        let (header_b64, payload_b64) = signing_input
            .split_once('.')
            .ok_or(JwsError::Malformed("expected three dot-separated parts"))?;
        if payload_b64.contains('.') {
            return Err(JwsError::Malformed("expected three dot-separated parts"));
        }
        if header_b64.len() > MAX_HEADER_LEN {
            return Err(JwsError::Malformed("protected header too large"));
        }
        let header_bytes =
            b64url_decode(header_b64).ok_or(JwsError::Malformed("header is not base64url"))?;
        let header: JwsHeader = serde_json::from_slice(&header_bytes)
            .map_err(|_| JwsError::Malformed("header is not a JOSE header"))?;
        if header.alg != ALG_EDDSA {
            return Err(JwsError::UnsupportedAlgorithm(header.alg));
        }
        let payload = if decode_payload {
            b64url_decode(payload_b64).ok_or(JwsError::Malformed("payload is not base64url"))?
        } else {
            Vec::new()
        };
        let signature =
            b64url_decode(signature).ok_or(JwsError::Malformed("signature is not base64url"))?;
        Ok(Self {
            header,
            signing_input,
            payload,
            signature,
        })
    }

    /// The protected header (unverified until [`Self::verify_ed25519`] succeeds).
    pub fn header(&self) -> &JwsHeader {
        &self.header
    }

    /// The payload before its signature is checked: only for a self-describing document that
    /// names the key it must then verify under (a federation anchor carries its own CA), and
    /// never to be trusted on its own.
    pub fn unverified_payload(&self) -> &[u8] {
        &self.payload
    }

    /// Checks the signature against a raw 32-byte Ed25519 public key and releases the payload.
    pub fn verify_ed25519(self, public_key: &[u8]) -> Result<Vec<u8>, JwsError> {
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key)
            .verify(self.signing_input.as_bytes(), &self.signature)
            .map_err(|_| JwsError::BadSignature)?;
        Ok(self.payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    fn key() -> Ed25519KeyPair {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("keygen");
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key")
    }

    fn header() -> JwsHeader {
        JwsHeader {
            alg: ALG_EDDSA.into(),
            typ: Some("psn-config+json".into()),
            x5c: vec![],
        }
    }

    #[test]
    fn signed_payload_verifies_and_round_trips() {
        let key = key();
        let jws = sign_compact(&header(), b"{\"v\":1}", &key);
        let parsed = CompactJws::parse(&jws, 1 << 20).expect("parse");
        assert_eq!(parsed.header().typ.as_deref(), Some("psn-config+json"));
        let payload = parsed
            .verify_ed25519(key.public_key().as_ref())
            .expect("verify");
        assert_eq!(payload, b"{\"v\":1}");
    }

    #[test]
    fn every_single_flipped_character_is_refused() {
        let key = key();
        let jws = sign_compact(&header(), b"{\"members\":[\"GB/LA/E10000016\"]}", &key);
        for i in 0..jws.len() {
            let mut bytes = jws.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            if text == jws {
                continue;
            }
            let verified = CompactJws::parse(&text, 1 << 20)
                .and_then(|p| p.verify_ed25519(key.public_key().as_ref()));
            assert!(verified.is_err(), "flip at {i} accepted");
        }
    }

    #[test]
    fn a_detached_parse_checks_the_signature_without_decoding_the_payload() {
        let key = key();
        let jws = sign_compact(&header(), b"{\"v\":1}", &key);
        let parsed = CompactJws::parse_detached(&jws, 1 << 20).expect("parse");
        let payload = parsed
            .verify_ed25519(key.public_key().as_ref())
            .expect("verify");
        assert!(payload.is_empty());
        let (head, signature) = jws.rsplit_once('.').expect("parts");
        let (header_b64, _) = head.split_once('.').expect("parts");
        let other = format!("{header_b64}.{}.{signature}", b64url(b"{\"v\":2}"));
        assert_eq!(
            CompactJws::parse_detached(&other, 1 << 20)
                .expect("parse")
                .verify_ed25519(key.public_key().as_ref()),
            Err(JwsError::BadSignature),
            "the signature still covers the encoded payload"
        );
        assert!(CompactJws::parse_detached(&jws, 10).is_err());
        assert!(CompactJws::parse_detached("a.b", 1 << 20).is_err());
    }

    #[test]
    fn another_key_is_refused() {
        let jws = sign_compact(&header(), b"x", &key());
        let other = key();
        let parsed = CompactJws::parse(&jws, 1 << 20).expect("parse");
        assert_eq!(
            parsed.verify_ed25519(other.public_key().as_ref()),
            Err(JwsError::BadSignature)
        );
    }

    #[test]
    fn malformed_envelopes_get_clear_errors() {
        let alg_none = format!("{}.{}.", b64url(br#"{"alg":"none"}"#), b64url(b"x"));
        assert_eq!(
            CompactJws::parse(&alg_none, 1 << 20).err(),
            Some(JwsError::UnsupportedAlgorithm("none".into()))
        );
        for bad in ["", "a", "a.b", "a.b.c.d", "!!.!!.!!", "e30.e30.e30"] {
            assert!(CompactJws::parse(bad, 1 << 20).is_err(), "{bad:?} accepted");
        }
        assert!(matches!(
            CompactJws::parse(&"a".repeat(100), 10),
            Err(JwsError::TooLarge {
                len: 100,
                limit: 10
            })
        ));
    }
}
