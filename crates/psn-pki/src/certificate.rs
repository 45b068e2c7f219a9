//! Reading certificates and keys, and the gateway's own key pair and signing request.

use crate::PkiError;
use psn_core::encoding::{b64url, hex, sha256};
use psn_core::names::GatewayId;
use rcgen::{CertificateParams, DnType, KeyPair, SanType};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Facts psn needs from a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Serial number, lowercase hex; revocation lists name certificates by it.
    pub serial: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// URI subject alternative names.
    pub uris: Vec<String>,
    /// base64url SHA-256 of the SubjectPublicKeyInfo.
    pub spki_sha256: String,
}

impl CertificateInfo {
    /// Reads the facts from a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| PkiError::Unreadable {
            what: "certificate",
            reason: e.to_string(),
        })?;
        Ok(Self::from_parsed(&cert))
    }

    pub(crate) fn from_parsed(cert: &X509Certificate<'_>) -> Self {
        let uris = cert
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|san| {
                san.value
                    .general_names
                    .iter()
                    .filter_map(|n| match n {
                        GeneralName::URI(u) => Some((*u).to_owned()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            serial: hex(cert.raw_serial()),
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            uris,
            spki_sha256: b64url(&sha256(cert.public_key().raw)),
        }
    }
}

/// Every name a certificate gives its subject: the subject's common names, then its DNS and URI
/// alternative names. Internal client rules match a caller's certificate against these.
pub fn certificate_names(der: &[u8]) -> Result<Vec<String>, PkiError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| PkiError::Unreadable {
        what: "certificate",
        reason: e.to_string(),
    })?;
    let mut names: Vec<String> = cert
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
        .collect();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        names.extend(san.value.general_names.iter().filter_map(|n| match n {
            GeneralName::DNSName(d) => Some((*d).to_owned()),
            GeneralName::URI(u) => Some((*u).to_owned()),
            _ => None,
        }));
    }
    Ok(names)
}

/// The gateway identity named by a certificate's single URI SAN, if it names one.
pub fn gateway_identity(info: &CertificateInfo) -> Option<GatewayId> {
    match info.uris.as_slice() {
        [one] => GatewayId::from_uri(one).ok(),
        _ => None,
    }
}

/// The pin an enrolment token carries: base64url SHA-256 of the CA's SubjectPublicKeyInfo.
pub fn ca_pin(ca_der: &[u8]) -> Result<String, PkiError> {
    Ok(CertificateInfo::from_der(ca_der)?.spki_sha256)
}

/// Every certificate in a PEM text, in order.
pub fn parse_pem_certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::Unreadable {
            what: "certificate PEM",
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(PkiError::Unreadable {
            what: "certificate PEM",
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

/// The private key in a PEM text.
pub fn parse_pem_key(pem: &str) -> Result<PrivateKeyDer<'static>, PkiError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| PkiError::Unreadable {
        what: "private key PEM",
        reason: e.to_string(),
    })
}

/// A gateway's private key. It is generated on the gateway and never leaves it; the authority
/// sees only signing requests.
pub struct GatewayKey {
    key: KeyPair,
}

impl GatewayKey {
    /// A fresh ECDSA P-256 key.
    pub fn generate() -> Result<Self, PkiError> {
        Ok(Self {
            key: KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
        })
    }

    /// Loads a key saved with [`Self::to_pem`].
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(pem).map_err(|e| PkiError::Unreadable {
            what: "gateway key",
            reason: e.to_string(),
        })?;
        Ok(Self { key })
    }

    /// PKCS#8 PEM, for the gateway's data directory (stored with mode 0600).
    pub fn to_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// DER SubjectPublicKeyInfo of the key, to match it against a certificate.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.key.public_key_der()
    }

    /// A signing request naming `id` (URI SAN and common name), in PEM.
    pub fn csr_pem(&self, id: &GatewayId) -> Result<String, PkiError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, id.to_string());
        let uri = id
            .to_uri()
            .try_into()
            .map_err(|_| PkiError::CsrRefused("gateway URI is not IA5".into()))?;
        params.subject_alt_names = vec![SanType::URI(uri)];
        Ok(params.serialize_request(&self.key)?.pem()?)
    }
}

/// DER SubjectPublicKeyInfo of a certificate.
pub fn spki_der(cert_der: &[u8]) -> Result<Vec<u8>, PkiError> {
    let (_, cert) = X509Certificate::from_der(cert_der).map_err(|e| PkiError::Unreadable {
        what: "certificate",
        reason: e.to_string(),
    })?;
    Ok(cert.public_key().raw.to_vec())
}

/// PEM-armours DER bytes (`label` e.g. `CERTIFICATE`).
pub fn der_to_pem(label: &str, der: &[u8]) -> String {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
