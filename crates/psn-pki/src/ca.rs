//! The network certificate authority, run by the authority. It signs gateway certificates from
//! signing requests (so gateway keys never travel), the authority's own TLS certificate and the
//! certificate of the key that signs the global configuration.

use crate::certificate::CertificateInfo;
use crate::{authority_api_uri, config_signer_uri, PkiError};
use psn_core::names::{GatewayId, NetworkId};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls_pki_types::CertificateSigningRequestDer;
use std::time::Duration;
use time::OffsetDateTime;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

/// Largest signing request accepted; a real one is well under 1 KiB.
const MAX_CSR_LEN: usize = 16 * 1024;
/// Validity of the network CA created at `init`.
const CA_VALIDITY: Duration = Duration::from_secs(3650 * 86_400);
/// Issued certificates start as far in the past as a machine's clock may be behind the
/// authority's (`psn_core::clock`).
const BACKDATE: Duration = psn_core::clock::TOLERATED_SKEW.unsigned_abs();

/// A certificate the CA has issued.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    /// PEM of the certificate alone.
    pub pem: String,
    /// DER of the certificate.
    pub der: Vec<u8>,
    /// Serial, lowercase hex.
    pub serial: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

/// The CA's key and certificate.
pub struct CertificateAuthority {
    network: NetworkId,
    key: KeyPair,
    issuer: rcgen::Certificate,
    cert_pem: String,
    cert_der: Vec<u8>,
}

impl CertificateAuthority {
    /// Creates a new CA for `network` with a fresh ECDSA P-256 key.
    pub fn create(network: &NetworkId) -> Result<Self, PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "psn");
        params
            .distinguished_name
            .push(DnType::CommonName, format!("psn network {network} CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = now - BACKDATE;
        params.not_after = now + CA_VALIDITY;
        params.serial_number = Some(random_serial()?);
        let cert = params.self_signed(&key)?;
        let cert_pem = cert.pem();
        Self::load(network, &cert_pem, &key.serialize_pem())
    }

    /// Loads a CA saved with [`Self::certificate_pem`] and [`Self::key_pem`].
    pub fn load(network: &NetworkId, cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| PkiError::Unreadable {
            what: "CA key",
            reason: e.to_string(),
        })?;
        let params =
            CertificateParams::from_ca_cert_pem(cert_pem).map_err(|e| PkiError::Unreadable {
                what: "CA certificate",
                reason: e.to_string(),
            })?;
        let cert_der = crate::parse_pem_certificates(cert_pem)?
            .into_iter()
            .next()
            .map(|c| c.to_vec())
            .unwrap_or_default();
        // rcgen needs a certificate object for the issuer; re-signing the same parameters with the
        // same key gives one with the same subject and key identifier as the stored certificate.
        let issuer = params.self_signed(&key)?;
        if issuer.der().as_ref().is_empty() || key.public_key_der() != crate::spki_der(&cert_der)? {
            return Err(PkiError::Unreadable {
                what: "CA key",
                reason: "the key does not belong to the CA certificate".into(),
            });
        }
        Ok(Self {
            network: network.clone(),
            key,
            issuer,
            cert_pem: cert_pem.to_owned(),
            cert_der,
        })
    }

    /// The CA certificate, PEM.
    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The CA private key, PEM, for the authority's data directory only.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// Issues a gateway certificate for `expected` from a signing request. The request must be
    /// correctly self-signed, use an accepted key type, and name exactly `expected` (URI SAN and,
    /// if present, common name); anything else is refused and nothing is issued.
    pub fn issue_gateway_certificate(
        &self,
        csr_pem: &str,
        expected: &GatewayId,
        validity: Duration,
    ) -> Result<IssuedCertificate, PkiError> {
        let der = check_csr(csr_pem, expected)?;
        let csr = CertificateSigningRequestParams::from_der(&CertificateSigningRequestDer::from(
            der.as_slice(),
        ))
        .map_err(|e| PkiError::CsrRefused(e.to_string()))?;
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, expected.member().to_string());
        params
            .distinguished_name
            .push(DnType::CommonName, expected.to_string());
        params.subject_alt_names = vec![SanType::URI(ia5(expected.to_uri())?)];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.not_before = now - BACKDATE;
        params.not_after = now + validity;
        params.serial_number = Some(random_serial()?);
        let signed = CertificateSigningRequestParams {
            params,
            public_key: csr.public_key,
        }
        .signed_by(&self.issuer, &self.key)?;
        issued(&signed)
    }

    /// Issues the authority's TLS server certificate for the given DNS names and IP addresses,
    /// with a fresh key returned as PEM.
    pub fn issue_server_certificate(
        &self,
        hosts: &[String],
        validity: Duration,
    ) -> Result<(IssuedCertificate, String), PkiError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(
            DnType::CommonName,
            format!("psn network {} authority", self.network),
        );
        let mut sans = vec![SanType::URI(ia5(authority_api_uri(&self.network))?)];
        for host in hosts {
            match host.parse::<std::net::IpAddr>() {
                Ok(ip) => sans.push(SanType::IpAddress(ip)),
                Err(_) => sans.push(SanType::DnsName(ia5(host.clone())?)),
            }
        }
        params.subject_alt_names = sans;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = now - BACKDATE;
        params.not_after = now + validity;
        params.serial_number = Some(random_serial()?);
        let cert = params.signed_by(&key, &self.issuer, &self.key)?;
        Ok((issued(&cert)?, key.serialize_pem()))
    }

    /// Certifies the public half of the configuration-signing key, so that gateways can check a
    /// configuration with nothing but the CA they pinned at enrolment.
    pub fn issue_signer_certificate(
        &self,
        signer: &KeyPair,
        validity: Duration,
    ) -> Result<IssuedCertificate, PkiError> {
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(
            DnType::CommonName,
            format!("psn network {} configuration signer", self.network),
        );
        params.subject_alt_names = vec![SanType::URI(ia5(config_signer_uri(&self.network))?)];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        params.not_before = now - BACKDATE;
        params.not_after = now + validity;
        params.serial_number = Some(random_serial()?);
        let cert = params.signed_by(signer, &self.issuer, &self.key)?;
        issued(&cert)
    }
}

fn issued(cert: &rcgen::Certificate) -> Result<IssuedCertificate, PkiError> {
    let info = CertificateInfo::from_der(cert.der())?;
    Ok(IssuedCertificate {
        pem: cert.pem(),
        der: cert.der().to_vec(),
        serial: info.serial,
        not_before: info.not_before,
        not_after: info.not_after,
    })
}

fn ia5(text: String) -> Result<rcgen::Ia5String, PkiError> {
    text.clone()
        .try_into()
        .map_err(|_| PkiError::CsrRefused(format!("{text:?} is not IA5")))
}

/// A positive 16-byte serial whose first byte is non-zero, so its DER encoding is exactly these
/// bytes and the hex form matches what parsers report.
fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| PkiError::Crypto("random number generator failed".into()))?;
    bytes[0] = (bytes[0] & 0x7f).max(1);
    Ok(SerialNumber::from_slice(&bytes))
}

/// Validates a signing request's encoding, signature, key type and requested identity; returns
/// its DER.
fn check_csr(csr_pem: &str, expected: &GatewayId) -> Result<Vec<u8>, PkiError> {
    if csr_pem.len() > MAX_CSR_LEN {
        return Err(PkiError::CsrRefused(format!(
            "{} bytes is over the {MAX_CSR_LEN}-byte limit",
            csr_pem.len()
        )));
    }
    use rustls_pki_types::pem::PemObject;
    let der = CertificateSigningRequestDer::from_pem_slice(csr_pem.as_bytes())
        .map_err(|_| PkiError::CsrRefused("not a PEM CERTIFICATE REQUEST".into()))?;
    let (rest, csr) =
        x509_parser::certification_request::X509CertificationRequest::from_der(der.as_ref())
            .map_err(|_| PkiError::CsrRefused("not a DER certification request".into()))?;
    if !rest.is_empty() {
        return Err(PkiError::CsrRefused(
            "trailing bytes after the request".into(),
        ));
    }
    csr.verify_signature()
        .map_err(|_| PkiError::CsrRefused("its signature does not verify".into()))?;
    let algorithm = &csr
        .certification_request_info
        .subject_pki
        .algorithm
        .algorithm;
    let ec_p256 = algorithm == &x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY
        && csr
            .certification_request_info
            .subject_pki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .is_some_and(|curve| curve == x509_parser::oid_registry::OID_EC_P256);
    let ed25519 = algorithm == &x509_parser::oid_registry::OID_SIG_ED25519;
    if !(ec_p256 || ed25519) {
        return Err(PkiError::CsrRefused(
            "key type must be ECDSA P-256 or Ed25519".into(),
        ));
    }
    for cn in csr.certification_request_info.subject.iter_common_name() {
        let cn = cn.as_str().unwrap_or_default();
        if cn != expected.to_string() {
            return Err(PkiError::CsrRefused(format!(
                "it names {:?}, but this enrolment is for {expected}",
                truncate(cn)
            )));
        }
    }
    let mut uris = Vec::new();
    for ext in csr.requested_extensions().into_iter().flatten() {
        match ext {
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    match name {
                        GeneralName::URI(u) => uris.push((*u).to_owned()),
                        other => {
                            return Err(PkiError::CsrRefused(format!(
                            "it asks for a subject alternative name psn does not issue ({other})"
                        )))
                        }
                    }
                }
            }
            _ => {
                return Err(PkiError::CsrRefused(
                    "it requests extensions other than subject alternative names".into(),
                ))
            }
        }
    }
    if uris != [expected.to_uri()] {
        return Err(PkiError::CsrRefused(format!(
            "it must name exactly {}, but names {:?}",
            expected.to_uri(),
            uris.iter().map(|u| truncate(u)).collect::<Vec<_>>()
        )));
    }
    Ok(der.as_ref().to_vec())
}

fn truncate(text: &str) -> String {
    if text.len() <= 80 {
        text.to_owned()
    } else {
        let mut end = 80;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &text[..end])
    }
}
