//! psn's trust machinery (DESIGN.md "Trust"): the network certificate authority that the authority
//! runs, the keys and signing requests of gateways, the TLS configurations both sides use, and the
//! signing and verification of the global configuration.
//!
//! All keys are generated where they are used; only signing requests and certificates travel.

mod ca;
mod certificate;
mod chain;
mod config_signature;
mod federation;
mod proof;
mod tls;

pub use ca::{CertificateAuthority, IssuedCertificate};
pub use certificate::{
    ca_pin, certificate_names, der_to_pem, gateway_identity, parse_pem_certificates, parse_pem_key,
    spki_der, CertificateInfo, GatewayKey,
};
pub use chain::{verify_gateway_chain, ChainError, GatewayCertificate};
pub use config_signature::{
    verify_config, verify_config_head, ConfigSigner, ConfigVerifyError, SignedConfig,
    VerifiedConfig,
};
pub use federation::{
    assertion_network, verify_anchor, verify_assertion, verify_view, FederationError,
    VerifiedAnchor,
};
pub use proof::{StatementSigner, StatementVerifier};
pub use tls::{
    authority_server_config, backend_client_config, client_config, gateway_client_config,
    gateway_server_config, internal_server_config, pinned_client_config, provider, SharedIdentity,
    TlsIdentity, TrustedNetworks,
};

/// Why a PKI operation failed. Messages are written for the operator who has to act on them.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Key generation or signing failed inside the crypto library.
    #[error("cryptographic operation failed: {0}")]
    Crypto(String),
    /// A certificate or key could not be read.
    #[error("unreadable {what}: {reason}")]
    Unreadable { what: &'static str, reason: String },
    /// A signing request was refused.
    #[error("certificate signing request refused: {0}")]
    CsrRefused(String),
    /// TLS configuration could not be built.
    #[error("TLS configuration: {0}")]
    Tls(String),
}

impl From<rcgen::Error> for PkiError {
    fn from(e: rcgen::Error) -> Self {
        PkiError::Crypto(e.to_string())
    }
}

impl From<rustls::Error> for PkiError {
    fn from(e: rustls::Error) -> Self {
        PkiError::Tls(e.to_string())
    }
}

/// URI SAN of the authority's API server certificate.
pub fn authority_api_uri(network: &psn_core::names::NetworkId) -> String {
    format!("urn:psn:authority:{network}:api")
}

/// URI SAN of the certificate whose key signs the global configuration.
pub fn config_signer_uri(network: &psn_core::names::NetworkId) -> String {
    format!("urn:psn:authority:{network}:config-signer")
}
