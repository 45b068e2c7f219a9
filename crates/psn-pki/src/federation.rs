//! Signatures of the federation documents (`psn_core::federation`): an anchor verifies under the
//! CA it carries, and is trusted only once an operator has confirmed that CA's fingerprint out of
//! band; a view and a request verify under the partner CA recorded at import, and must come from
//! that network's configuration signer.

use crate::certificate::{parse_pem_certificates, CertificateInfo};
use crate::config_signature::{verify_envelope, ConfigSigner, ConfigVerifyError};
use crate::{ca_pin, PkiError};
use psn_core::federation::{
    Anchor, Assertion, View, ViewError, ANCHOR_JWS_TYPE, ASSERTION_JWS_TYPE, MAX_ANCHOR_BYTES,
    VIEW_JWS_TYPE,
};
use psn_core::jws::CompactJws;
use psn_core::names::NetworkId;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Why a federation document was refused.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// The signature, the signer or the envelope failed.
    #[error(transparent)]
    Signature(#[from] ConfigVerifyError),
    /// The anchor is not one that may be imported.
    #[error("anchor refused: {0}")]
    Anchor(String),
    /// The view is not one that may be used.
    #[error("view refused: {0}")]
    View(#[from] ViewError),
    /// The request is not one that may be answered.
    #[error("request refused: {0}")]
    Assertion(String),
}

/// An anchor whose signature verified under the CA it carries.
#[derive(Debug, Clone)]
pub struct VerifiedAnchor {
    /// The anchor.
    pub anchor: Anchor,
    /// base64url SHA-256 of the CA's SubjectPublicKeyInfo: what the operators compare out of
    /// band, in the same form as an enrolment token's CA pin.
    pub fingerprint: String,
    /// The CA certificate, DER.
    pub ca_der: Vec<u8>,
}

/// The one CA certificate of a PEM text, DER, checked to be a CA.
fn ca_certificate(pem: &str) -> Result<Vec<u8>, FederationError> {
    let refuse = |m: String| FederationError::Anchor(m);
    let certificates = parse_pem_certificates(pem).map_err(|e| refuse(e.to_string()))?;
    let [ca] = certificates.as_slice() else {
        return Err(refuse(
            "the CA certificate must be exactly one certificate".into(),
        ));
    };
    let (_, parsed) = X509Certificate::from_der(ca.as_ref())
        .map_err(|e| refuse(format!("the CA certificate is unreadable: {e}")))?;
    if !parsed.is_ca() {
        return Err(refuse("the CA certificate is not a CA".into()));
    }
    if parsed.verify_signature(None).is_err() {
        return Err(refuse("the CA certificate is not self-signed".into()));
    }
    Ok(ca.to_vec())
}

/// Verifies an anchor: its format, endpoints and validity at `now`, that its CA is a
/// self-signed CA, and that it was signed by the configuration signer it names, certified by
/// that CA for that network. Says nothing about whether the CA is the partner's: that is the
/// fingerprint the operator confirms.
pub fn verify_anchor(jws: &str, now: OffsetDateTime) -> Result<VerifiedAnchor, FederationError> {
    checked_anchor(jws, now).map_err(|e| match e {
        FederationError::Signature(e) => FederationError::Anchor(e.to_string()),
        other => other,
    })
}

fn checked_anchor(jws: &str, now: OffsetDateTime) -> Result<VerifiedAnchor, FederationError> {
    let envelope = CompactJws::parse(jws, MAX_ANCHOR_BYTES).map_err(ConfigVerifyError::from)?;
    let claimed: Anchor = serde_json::from_slice(envelope.unverified_payload())
        .map_err(|e| FederationError::Anchor(format!("not an anchor: {e}")))?;
    let ca_der = ca_certificate(&claimed.ca_certificate)?;
    let signer_der = parse_pem_certificates(&claimed.signer_certificate)
        .map_err(|e| FederationError::Anchor(e.to_string()))?;
    let x5c = envelope
        .header()
        .certificates()
        .map_err(ConfigVerifyError::from)?;
    if signer_der.iter().map(|c| c.to_vec()).collect::<Vec<_>>() != x5c {
        return Err(FederationError::Anchor(
            "the anchor was not signed by the signer certificate it carries".into(),
        ));
    }
    let (payload, _) = verify_envelope(envelope, &ca_der, &claimed.network, ANCHOR_JWS_TYPE)?;
    let anchor: Anchor = serde_json::from_slice(&payload)
        .map_err(|e| FederationError::Anchor(format!("not an anchor: {e}")))?;
    anchor.check(now).map_err(FederationError::Anchor)?;
    let fingerprint = ca_pin(&ca_der).map_err(|e| FederationError::Anchor(e.to_string()))?;
    Ok(VerifiedAnchor {
        anchor,
        fingerprint,
        ca_der,
    })
}

/// Verifies a view from network `from` addressed to `to` under `from`'s CA, with every check of
/// [`View::check`], and that each network it relays comes with a self-signed CA certificate.
pub fn verify_view(
    jws: &str,
    ca_der: &[u8],
    from: &NetworkId,
    to: &NetworkId,
    held: Option<u64>,
    max_len: usize,
    now: OffsetDateTime,
) -> Result<View, FederationError> {
    let envelope = CompactJws::parse(jws, max_len).map_err(ConfigVerifyError::from)?;
    let (payload, signer) = verify_envelope(envelope, ca_der, from, VIEW_JWS_TYPE)?;
    let view: View =
        serde_json::from_slice(&payload).map_err(|e| ConfigVerifyError::Payload(e.to_string()))?;
    within_signer(&signer, view.issued_at)?;
    view.check(from, to, held, now)?;
    // A relayed CA reaches this network's gateways, which must be able to use it.
    for relayed in &view.relayed {
        ca_certificate(&relayed.ca_certificate)
            .map_err(|e| ViewError::Relay(format!("{}: {e}", relayed.network)))?;
    }
    Ok(view)
}

/// The network a request claims to come from, read before its signature is checked so that
/// the right partner's CA can check it.
pub fn assertion_network(jws: &str) -> Option<NetworkId> {
    let envelope = CompactJws::parse(jws, MAX_ANCHOR_BYTES).ok()?;
    serde_json::from_slice::<Assertion>(envelope.unverified_payload())
        .ok()
        .map(|a| a.network)
}

/// Verifies a partner authority's request: signed by `from`'s configuration signer under `from`'s
/// CA, addressed to `audience`, valid now.
pub fn verify_assertion(
    jws: &str,
    ca_der: &[u8],
    from: &NetworkId,
    audience: &NetworkId,
    now: OffsetDateTime,
) -> Result<Assertion, FederationError> {
    let envelope = CompactJws::parse(jws, MAX_ANCHOR_BYTES).map_err(ConfigVerifyError::from)?;
    let (payload, signer) = verify_envelope(envelope, ca_der, from, ASSERTION_JWS_TYPE)?;
    let assertion: Assertion = serde_json::from_slice(&payload)
        .map_err(|e| FederationError::Assertion(format!("unreadable: {e}")))?;
    if &assertion.network != from {
        return Err(FederationError::Assertion(format!(
            "signed by {from}'s signer but claims {}",
            assertion.network
        )));
    }
    within_signer(&signer, assertion.issued_at)?;
    assertion
        .check(audience, now)
        .map_err(FederationError::Assertion)?;
    Ok(assertion)
}

fn within_signer(signer: &CertificateInfo, at: OffsetDateTime) -> Result<(), ConfigVerifyError> {
    if at < signer.not_before || at > signer.not_after {
        return Err(ConfigVerifyError::Signer(
            "signer certificate was not valid when the document was signed".into(),
        ));
    }
    Ok(())
}

impl ConfigSigner {
    /// Signs this network's anchor.
    pub fn sign_anchor(&self, anchor: &Anchor) -> Result<String, PkiError> {
        self.sign_document(ANCHOR_JWS_TYPE, anchor)
    }

    /// Signs a view for a partner.
    pub fn sign_view(&self, view: &View) -> Result<String, PkiError> {
        self.sign_document(VIEW_JWS_TYPE, view)
    }

    /// Signs a request to a partner's authority.
    pub fn sign_assertion(&self, assertion: &Assertion) -> Result<String, PkiError> {
        self.sign_document(ASSERTION_JWS_TYPE, assertion)
    }
}
