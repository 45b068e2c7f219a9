//! Offline checks of a gateway certificate against the network CA, for auditors: years after an
//! exchange, with no authority to ask, "was this key certified by the network for this gateway,
//! and was the certificate valid when it signed?" (DESIGN.md "Trust", "Audit log").
//!
//! The check is split in two because auditors meet the same certificate thousands of times: the
//! signature and identity are checked once ([`verify_gateway_chain`]), the validity window per
//! use ([`GatewayCertificate::check_valid_at`]). Revocation is not here: it lives in the signed
//! configuration history, which the caller consults.

use crate::certificate::{gateway_identity, CertificateInfo};
use psn_core::names::GatewayId;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Why a certificate is not a network-certified gateway certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The certificate or the CA certificate is not DER X.509.
    #[error("{what} is unreadable: {reason}")]
    Unreadable {
        /// Which certificate.
        what: &'static str,
        /// The parser's complaint.
        reason: String,
    },
    /// Its issuer is not the network CA, or the CA's signature on it does not verify.
    #[error("certificate {serial} was not issued by the network CA ({reason})")]
    NotIssuedByCa {
        /// The certificate's serial, lowercase hex.
        serial: String,
        /// Which part of the check failed.
        reason: &'static str,
    },
    /// It does not name exactly one gateway in its URI SAN.
    #[error("certificate {serial} does not name a gateway")]
    NotAGateway {
        /// The certificate's serial, lowercase hex.
        serial: String,
    },
    /// The certificate (or the CA) was outside its validity window at the time in question.
    #[error("certificate {serial} was not valid at {at} (valid {not_before} to {not_after})")]
    NotValidAt {
        /// The certificate's serial, lowercase hex.
        serial: String,
        /// The time in question.
        at: OffsetDateTime,
        /// Start of the tighter of the certificate's and the CA's windows.
        not_before: OffsetDateTime,
        /// End of the tighter of the certificate's and the CA's windows.
        not_after: OffsetDateTime,
    },
}

/// A gateway certificate whose issuer signature and identity have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayCertificate {
    /// The gateway it names.
    pub gateway: GatewayId,
    /// Its facts (serial, validity, names).
    pub info: CertificateInfo,
    /// When both it and the CA are valid: the later of the two starts.
    not_before: OffsetDateTime,
    /// When both it and the CA are valid: the earlier of the two ends.
    not_after: OffsetDateTime,
}

impl GatewayCertificate {
    /// Whether the certificate, and the CA that issued it, were valid at `at`.
    pub fn check_valid_at(&self, at: OffsetDateTime) -> Result<(), ChainError> {
        if at < self.not_before || at > self.not_after {
            return Err(ChainError::NotValidAt {
                serial: self.info.serial.clone(),
                at,
                not_before: self.not_before,
                not_after: self.not_after,
            });
        }
        Ok(())
    }
}

/// Checks that `cert_der` was issued by the CA `ca_der` (issuer name and signature) and names
/// exactly one gateway. Validity in time is checked per use with
/// [`GatewayCertificate::check_valid_at`].
pub fn verify_gateway_chain(
    cert_der: &[u8],
    ca_der: &[u8],
) -> Result<GatewayCertificate, ChainError> {
    let unreadable = |what: &'static str| {
        move |e: x509_parser::nom::Err<x509_parser::error::X509Error>| ChainError::Unreadable {
            what,
            reason: e.to_string(),
        }
    };
    let (_, ca) = X509Certificate::from_der(ca_der).map_err(unreadable("the network CA"))?;
    let (rest, cert) = X509Certificate::from_der(cert_der).map_err(unreadable("certificate"))?;
    let info = CertificateInfo::from_parsed(&cert);
    if !rest.is_empty() {
        return Err(ChainError::Unreadable {
            what: "certificate",
            reason: "trailing bytes after the certificate".into(),
        });
    }
    if cert.issuer() != ca.subject() {
        return Err(ChainError::NotIssuedByCa {
            serial: info.serial,
            reason: "issuer is not the CA's subject",
        });
    }
    if cert.verify_signature(Some(ca.public_key())).is_err() {
        return Err(ChainError::NotIssuedByCa {
            serial: info.serial,
            reason: "the CA's signature does not verify",
        });
    }
    let Some(gateway) = gateway_identity(&info) else {
        return Err(ChainError::NotAGateway {
            serial: info.serial,
        });
    };
    let ca_validity = ca.validity();
    let not_before = info.not_before.max(ca_validity.not_before.to_datetime());
    let not_after = info.not_after.min(ca_validity.not_after.to_datetime());
    Ok(GatewayCertificate {
        gateway,
        info,
        not_before,
        not_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CertificateAuthority, GatewayKey};
    use std::time::Duration;

    fn issue(ca: &CertificateAuthority, id: &GatewayId) -> Vec<u8> {
        let key = GatewayKey::generate().expect("key");
        ca.issue_gateway_certificate(
            &key.csr_pem(id).expect("csr"),
            id,
            Duration::from_secs(3600),
        )
        .expect("issue")
        .der
    }

    #[test]
    fn a_gateway_certificate_chains_names_its_gateway_and_has_a_window() {
        let ca = CertificateAuthority::create(&"GB".parse().expect("network")).expect("ca");
        let id: GatewayId = "GB/LA/E10000016@gw1".parse().expect("gateway");
        let der = issue(&ca, &id);
        let checked = verify_gateway_chain(&der, ca.certificate_der()).expect("chains");
        assert_eq!(checked.gateway, id);
        let now = OffsetDateTime::now_utc();
        assert!(checked.check_valid_at(now).is_ok());
        let late = checked
            .check_valid_at(now + time::Duration::hours(2))
            .expect_err("expired");
        assert!(matches!(late, ChainError::NotValidAt { .. }), "{late}");
        assert!(checked
            .check_valid_at(now - time::Duration::hours(1))
            .is_err());
    }

    #[test]
    fn another_cas_certificates_and_non_gateway_certificates_are_refused() {
        let network = "GB".parse().expect("network");
        let ca = CertificateAuthority::create(&network).expect("ca");
        let rogue = CertificateAuthority::create(&network).expect("rogue");
        let id: GatewayId = "GB/LA/E10000016@gw1".parse().expect("gateway");
        let err =
            verify_gateway_chain(&issue(&rogue, &id), ca.certificate_der()).expect_err("other CA");
        assert!(matches!(err, ChainError::NotIssuedByCa { .. }), "{err}");
        let (server, _) = ca
            .issue_server_certificate(&["localhost".into()], Duration::from_secs(60))
            .expect("server");
        let err = verify_gateway_chain(&server.der, ca.certificate_der()).expect_err("server");
        assert!(matches!(err, ChainError::NotAGateway { .. }), "{err}");
        let mut tampered = issue(&ca, &id);
        let last = tampered.len() - 4;
        tampered[last] ^= 0x20;
        assert!(verify_gateway_chain(&tampered, ca.certificate_der()).is_err());
        for garbage in [&b""[..], b"\x30\x03\x02\x01\x00", &[0xff; 64]] {
            assert!(matches!(
                verify_gateway_chain(garbage, ca.certificate_der()),
                Err(ChainError::Unreadable { .. })
            ));
        }
    }
}
