//! The identity that seals the log: the gateway's own key and certificate. Seals are verified
//! with the certificate, which the log carries, against the network CA and the configuration
//! history, so a seal proves which enrolled gateway vouched for the chain.

use crate::AuditError;
use psn_core::names::GatewayId;
use psn_pki::{CertificateInfo, StatementSigner, StatementVerifier};

/// The gateway's signing key with its certificate. Replace it with
/// [`crate::AuditLog::set_sealer`] when the certificate is renewed.
#[derive(Debug)]
pub struct Sealer {
    pub(crate) signer: StatementSigner,
    pub(crate) certificate_der: Vec<u8>,
    pub(crate) serial: String,
    pub(crate) gateway: GatewayId,
}

impl Sealer {
    /// A sealer from a signing key and the DER certificate for it. Refused if the certificate
    /// does not name a gateway or is not for this key, since such seals could never verify.
    pub fn new(signer: StatementSigner, certificate_der: Vec<u8>) -> Result<Self, AuditError> {
        let info = CertificateInfo::from_der(&certificate_der)
            .map_err(|e| AuditError::Sealer(e.to_string()))?;
        let gateway = psn_pki::gateway_identity(&info).ok_or_else(|| {
            AuditError::Sealer(format!(
                "certificate {} does not name a gateway",
                info.serial
            ))
        })?;
        let verifier = StatementVerifier::from_certificate(&certificate_der)
            .map_err(|e| AuditError::Sealer(e.to_string()))?;
        let probe = b"psn-audit sealer key check";
        if !verifier.verify(probe, &signer.sign(probe)) {
            return Err(AuditError::Sealer(format!(
                "the key is not the key of certificate {}",
                info.serial
            )));
        }
        Ok(Self {
            signer,
            certificate_der,
            serial: info.serial,
            gateway,
        })
    }

    /// A sealer from the gateway's `identity.pem` (private key followed by its certificate chain).
    pub fn from_identity_pem(pem: &str) -> Result<Self, AuditError> {
        let signer =
            StatementSigner::from_pem(pem).map_err(|e| AuditError::Sealer(e.to_string()))?;
        let certificate = psn_pki::parse_pem_certificates(pem)
            .map_err(|e| AuditError::Sealer(e.to_string()))?
            .into_iter()
            .next()
            .map(|c| c.to_vec())
            .unwrap_or_default();
        Self::new(signer, certificate)
    }

    /// The gateway the seals speak for (the log's identity).
    pub fn gateway(&self) -> &GatewayId {
        &self.gateway
    }

    /// The certificate's serial, lowercase hex.
    pub fn serial(&self) -> &str {
        &self.serial
    }
}
