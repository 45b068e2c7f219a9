//! Signing and verifying proof-of-origin statements with gateway keys: the key the gateway's
//! certificate certifies, so a statement is attributable to an enrolled member.

use crate::PkiError;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _};
use x509_parser::prelude::{FromDer, X509Certificate};

/// A gateway's statement-signing key (its TLS key).
pub struct StatementSigner {
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for StatementSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatementSigner").finish_non_exhaustive()
    }
}

impl StatementSigner {
    /// Loads an ECDSA P-256 PKCS#8 key from PEM (the gateway's `identity.pem`).
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        let der = crate::parse_pem_key(pem)?;
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            der.secret_der(),
            &rng,
        )
        .map_err(|e| PkiError::Unreadable {
            what: "gateway key",
            reason: e.to_string(),
        })?;
        Ok(Self { key, rng })
    }

    /// Signs bytes (ASN.1 DER ECDSA signature).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key
            .sign(&self.rng, message)
            .map(|s| s.as_ref().to_vec())
            .unwrap_or_default()
    }

    /// The uncompressed public point, to check it matches the certificate.
    pub fn public_key(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }
}

/// A certificate's public key, ready to verify statements.
#[derive(Debug, Clone)]
pub struct StatementVerifier {
    algorithm: &'static dyn signature::VerificationAlgorithm,
    key: Vec<u8>,
}

impl StatementVerifier {
    /// Extracts the key from a DER certificate (ECDSA P-256 or Ed25519).
    pub fn from_certificate(cert_der: &[u8]) -> Result<Self, PkiError> {
        let (_, cert) = X509Certificate::from_der(cert_der).map_err(|e| PkiError::Unreadable {
            what: "certificate",
            reason: e.to_string(),
        })?;
        let spki = cert.public_key();
        let algorithm: &'static dyn signature::VerificationAlgorithm = if spki.algorithm.algorithm
            == x509_parser::oid_registry::OID_SIG_ED25519
        {
            &signature::ED25519
        } else if spki.algorithm.algorithm == x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY
        {
            &signature::ECDSA_P256_SHA256_ASN1
        } else {
            return Err(PkiError::Unreadable {
                what: "certificate",
                reason: "unsupported key type".into(),
            });
        };
        Ok(Self {
            algorithm,
            key: spki.subject_public_key.data.to_vec(),
        })
    }

    /// Whether `signature` over `message` verifies.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        signature::UnparsedPublicKey::new(self.algorithm, &self.key)
            .verify(message, signature)
            .is_ok()
    }
}
