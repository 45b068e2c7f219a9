//! Signing and verifying the global configuration. The authority signs each version's head (the
//! root of the tree over its entries, `psn_core::config_tree`); the signer's certificate travels
//! in the JWS `x5c` header, so a gateway (or a third party auditing years later) needs only the
//! network CA to check any configuration version, whole or as a delta.

use crate::ca::{CertificateAuthority, IssuedCertificate};
use crate::certificate::CertificateInfo;
use crate::{config_signer_uri, PkiError};
use psn_core::config::{ConfigDocument, ConfigHead, GlobalConfig, CONFIG_JWS_TYPE};
use psn_core::config_delta::{head_to_sign, ContentError, HeldConfig};
use psn_core::jws::{sign_compact, CompactJws, JwsError, JwsHeader, ALG_EDDSA};
use psn_core::names::NetworkId;
use rcgen::KeyPair;
use ring::signature::Ed25519KeyPair;
use std::time::Duration;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The authority's configuration-signing key with its certificate.
pub struct ConfigSigner {
    key: Ed25519KeyPair,
    key_pem: String,
    certificate: IssuedCertificate,
}

impl ConfigSigner {
    /// Generates a new Ed25519 signing key and has the CA certify it.
    pub fn create(ca: &CertificateAuthority, validity: Duration) -> Result<Self, PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
        let certificate = ca.issue_signer_certificate(&key, validity)?;
        Self::from_parts(&key.serialize_pem(), certificate)
    }

    /// Loads a signer saved with [`Self::key_pem`] and [`Self::certificate_pem`].
    pub fn load(key_pem: &str, cert_pem: &str) -> Result<Self, PkiError> {
        let der = crate::parse_pem_certificates(cert_pem)?
            .into_iter()
            .next()
            .map(|c| c.to_vec())
            .unwrap_or_default();
        let info = CertificateInfo::from_der(&der)?;
        let certificate = IssuedCertificate {
            pem: cert_pem.to_owned(),
            der,
            serial: info.serial,
            not_before: info.not_before,
            not_after: info.not_after,
        };
        Self::from_parts(key_pem, certificate)
    }

    fn from_parts(key_pem: &str, certificate: IssuedCertificate) -> Result<Self, PkiError> {
        let pkcs8 = KeyPair::from_pem(key_pem)
            .map_err(|e| PkiError::Unreadable {
                what: "signer key",
                reason: e.to_string(),
            })?
            .serialize_der();
        let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8).map_err(|e| {
            PkiError::Unreadable {
                what: "signer key",
                reason: e.to_string(),
            }
        })?;
        let cert_key = x509_spki_key(&certificate.der)?;
        if ring::signature::KeyPair::public_key(&key).as_ref() != cert_key.as_slice() {
            return Err(PkiError::Unreadable {
                what: "signer key",
                reason: "the key does not belong to the signer certificate".into(),
            });
        }
        Ok(Self {
            key,
            key_pem: key_pem.to_owned(),
            certificate,
        })
    }

    /// PKCS#8 PEM of the key, for the authority's data directory only.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// PEM of the signer's certificate.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate.pem
    }

    /// When the signer certificate expires; the authority renews it well before.
    pub fn not_after(&self) -> OffsetDateTime {
        self.certificate.not_after
    }

    /// Signs a configuration: builds the tree over its entries, signs the head carrying the
    /// root, and returns the document as it travels ([`ConfigDocument`]).
    pub fn sign(&self, config: &GlobalConfig) -> Result<SignedConfig, PkiError> {
        let crypto =
            |e: &dyn std::fmt::Display| PkiError::Crypto(format!("cannot sign configuration: {e}"));
        let head = head_to_sign(config).map_err(|e| crypto(&e))?;
        let head = self.sign_head(&head)?;
        let document = ConfigDocument::write(&head, config).map_err(|e| crypto(&e))?;
        Ok(SignedConfig { head, document })
    }

    /// Signs a configuration's head (compact JWS), which covers every entry through its root:
    /// what the authority does for a version it worked out from the last one's tree.
    pub fn sign_head(&self, head: &ConfigHead) -> Result<String, PkiError> {
        self.sign_document(CONFIG_JWS_TYPE, head)
    }

    /// Signs another document the signer speaks for (a federation anchor, view or request),
    /// under its own `typ` so that no document can pass for another.
    pub fn sign_document<T: serde::Serialize>(
        &self,
        typ: &str,
        document: &T,
    ) -> Result<String, PkiError> {
        let payload = serde_json::to_vec(document)
            .map_err(|e| PkiError::Crypto(format!("cannot serialise {typ}: {e}")))?;
        Ok(self.sign_typed(typ, &payload))
    }

    fn sign_typed(&self, typ: &str, payload: &[u8]) -> String {
        use base64_standard::encode;
        let header = JwsHeader {
            alg: ALG_EDDSA.into(),
            typ: Some(typ.into()),
            x5c: vec![encode(&self.certificate.der)],
        };
        sign_compact(&header, payload, &self.key)
    }
}

/// A signed configuration version.
#[derive(Debug, Clone)]
pub struct SignedConfig {
    /// The signed head (compact JWS), which a delta to this version carries.
    pub head: String,
    /// The whole document ([`ConfigDocument`] JSON).
    pub document: String,
}

mod base64_standard {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    /// x5c entries are standard base64 with padding (RFC 7515 §4.1.6).
    pub fn encode(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }
}

/// A configuration whose head's signature, signer and network, and whose entries against the
/// head's root, have been checked.
#[derive(Debug, Clone)]
pub struct VerifiedConfig {
    /// The document with its tree, ready to take deltas.
    pub held: HeldConfig,
    /// Serial of the signer certificate, for the audit trail.
    pub signer_serial: String,
}

impl VerifiedConfig {
    /// The document.
    pub fn config(&self) -> &GlobalConfig {
        self.held.config()
    }
}

/// Why a signed configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigVerifyError {
    /// The JWS envelope is malformed or the signature is wrong.
    #[error(transparent)]
    Envelope(#[from] JwsError),
    /// The signer certificate is missing, not issued by the network CA, or not a signer's.
    #[error("configuration signer not trusted: {0}")]
    Signer(String),
    /// The signed head or the document is not one this version understands.
    #[error("configuration unreadable: {0}")]
    Payload(String),
    /// Signed for another network.
    #[error("configuration is for network {found}, expected {expected}")]
    WrongNetwork {
        expected: NetworkId,
        found: NetworkId,
    },
    /// The entries are not those the signed head covers.
    #[error("configuration entries refused: {0}")]
    Content(#[from] ContentError),
}

/// Verifies a whole configuration document against the network CA (DER) and the expected
/// network: the head's signature, then every entry against its root. Expiry and version order
/// are the caller's to judge, since an archived configuration is legitimately expired when an
/// auditor checks it.
pub fn verify_config(
    document: &str,
    ca_der: &[u8],
    network: &NetworkId,
    max_len: usize,
) -> Result<VerifiedConfig, ConfigVerifyError> {
    if document.len() > max_len {
        return Err(JwsError::TooLarge {
            len: document.len(),
            limit: max_len,
        }
        .into());
    }
    let document: ConfigDocument =
        serde_json::from_str(document).map_err(|e| ConfigVerifyError::Payload(e.to_string()))?;
    let (head, signer_serial) = verify_config_head(&document.head, ca_der, network)?;
    let held = HeldConfig::new(document.head, &head, document.config)?;
    Ok(VerifiedConfig {
        held,
        signer_serial,
    })
}

/// Checks a configuration head: its signature and signer, its network, and its issue time within
/// the signer certificate's validity.
pub fn verify_config_head(
    jws: &str,
    ca_der: &[u8],
    network: &NetworkId,
) -> Result<(ConfigHead, String), ConfigVerifyError> {
    /// A head is a few hundred bytes; its certificate a few hundred more.
    const MAX_HEAD_BYTES: usize = 64 * 1024;
    let envelope = CompactJws::parse(jws, MAX_HEAD_BYTES)?;
    let (payload, signer) = verify_envelope(envelope, ca_der, network, CONFIG_JWS_TYPE)?;
    let head: ConfigHead =
        serde_json::from_slice(&payload).map_err(|e| ConfigVerifyError::Payload(e.to_string()))?;
    if &head.network != network {
        return Err(ConfigVerifyError::WrongNetwork {
            expected: network.clone(),
            found: head.network,
        });
    }
    if head.issued_at < signer.not_before || head.issued_at > signer.not_after {
        return Err(ConfigVerifyError::Signer(
            "signer certificate was not valid when the configuration was issued".into(),
        ));
    }
    Ok((head, signer.serial))
}

/// The signature and signer checks: the `typ`, the signer certificate's issuer, signature and
/// role, and the payload's signature. Releases the payload and the signer's details.
pub(crate) fn verify_envelope(
    envelope: CompactJws<'_>,
    ca_der: &[u8],
    network: &NetworkId,
    typ: &str,
) -> Result<(Vec<u8>, CertificateInfo), ConfigVerifyError> {
    if envelope.header().typ.as_deref() != Some(typ) {
        return Err(ConfigVerifyError::Payload(format!(
            "JWS typ must be {typ:?}, found {:?}",
            envelope.header().typ
        )));
    }
    let certs = envelope.header().certificates()?;
    let [signer_der] = certs.as_slice() else {
        return Err(ConfigVerifyError::Signer(
            "x5c must hold exactly the signer certificate".into(),
        ));
    };
    let signer_error = |m: &str| ConfigVerifyError::Signer(m.to_owned());
    let (_, ca) =
        X509Certificate::from_der(ca_der).map_err(|_| signer_error("network CA unreadable"))?;
    let (_, signer) = X509Certificate::from_der(signer_der)
        .map_err(|_| signer_error("certificate unreadable"))?;
    if signer.issuer() != ca.subject() {
        return Err(signer_error("not issued by the network CA"));
    }
    signer
        .verify_signature(Some(ca.public_key()))
        .map_err(|_| signer_error("certificate signature does not verify with the network CA"))?;
    let info = CertificateInfo::from_parsed(&signer);
    if info.uris != [config_signer_uri(network)] {
        return Err(ConfigVerifyError::Signer(format!(
            "certificate is not the configuration signer of network {network}"
        )));
    }
    let public_key = x509_spki_key(signer_der).map_err(|e| signer_error(&e.to_string()))?;
    let payload = envelope.verify_ed25519(&public_key)?;
    Ok((payload, info))
}

/// The raw public key bits of an Ed25519 certificate.
fn x509_spki_key(cert_der: &[u8]) -> Result<Vec<u8>, PkiError> {
    let (_, cert) = X509Certificate::from_der(cert_der).map_err(|e| PkiError::Unreadable {
        what: "signer certificate",
        reason: e.to_string(),
    })?;
    let spki = cert.public_key();
    if spki.algorithm.algorithm != x509_parser::oid_registry::OID_SIG_ED25519 {
        return Err(PkiError::Unreadable {
            what: "signer certificate",
            reason: "key is not Ed25519".into(),
        });
    }
    Ok(spki.subject_public_key.data.to_vec())
}
