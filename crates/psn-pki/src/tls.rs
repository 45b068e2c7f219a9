//! TLS configurations. Everything psn speaks to itself is TLS 1.3 with the network CA as the only
//! root; enrolment, which happens before the gateway has the CA, trusts only a CA whose key
//! matches the pin in the enrolment token.

use crate::certificate::{parse_pem_certificates, parse_pem_key, CertificateInfo};
use crate::PkiError;
use psn_core::names::NetworkId;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme,
};
use std::sync::Arc;

/// The crypto provider psn uses everywhere (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain with its private key.
#[derive(Debug)]
pub struct TlsIdentity {
    /// Leaf first, then the CA.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
}

impl TlsIdentity {
    /// Reads the chain and key from PEM text.
    pub fn from_pem(chain_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        Ok(Self {
            chain: parse_pem_certificates(chain_pem)?,
            key: parse_pem_key(key_pem)?,
        })
    }
}

impl Clone for TlsIdentity {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

fn roots(ca_der: &[u8]) -> Result<Arc<RootCertStore>, PkiError> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(ca_der.to_vec()))?;
    Ok(Arc::new(roots))
}

/// The authority's API listener: TLS 1.3, client certificates optional (gateways present one;
/// operators and enrolling gateways authenticate with tokens instead) but verified against the
/// network CA when presented.
pub fn authority_server_config(
    identity: TlsIdentity,
    ca_der: &[u8],
) -> Result<ServerConfig, PkiError> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(ca_der)?, provider())
        .allow_unauthenticated()
        .build()
        .map_err(|e| PkiError::Tls(e.to_string()))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(identity.chain, identity.key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A client trusting only the network CA, optionally presenting a gateway identity.
pub fn client_config(
    ca_der: &[u8],
    identity: Option<TlsIdentity>,
) -> Result<ClientConfig, PkiError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(ca_der)?);
    Ok(match identity {
        Some(id) => builder.with_client_auth_cert(id.chain, id.key)?,
        None => builder.with_no_client_auth(),
    })
}

/// A client for enrolment: trusts a server whose chain includes a CA with the pinned key and
/// whose certificate is valid for the host name under that CA.
pub fn pinned_client_config(ca_pin: &str) -> Result<ClientConfig, PkiError> {
    let verifier = Arc::new(PinnedCaVerifier {
        pin: ca_pin.to_owned(),
        provider: provider(),
    });
    Ok(ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

#[derive(Debug)]
struct PinnedCaVerifier {
    pin: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let pinned = intermediates.iter().find(|ca| {
            CertificateInfo::from_der(ca.as_ref()).is_ok_and(|info| info.spki_sha256 == self.pin)
        });
        let Some(ca) = pinned else {
            return Err(rustls::Error::General(
                "the authority's CA does not match the pin in the enrolment token".into(),
            ));
        };
        let roots = roots(ca.as_ref()).map_err(|e| rustls::Error::General(e.to_string()))?;
        WebPkiServerVerifier::builder_with_provider(roots, self.provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?
            .verify_server_cert(end_entity, &[], server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The gateway's certificate and key, replaceable at run time so renewal needs no restart.
#[derive(Debug)]
pub struct SharedIdentity {
    current: std::sync::RwLock<Arc<rustls::sign::CertifiedKey>>,
}

impl SharedIdentity {
    /// Wraps an identity.
    pub fn new(identity: TlsIdentity) -> Result<Arc<Self>, PkiError> {
        Ok(Arc::new(Self {
            current: std::sync::RwLock::new(certified(identity)?),
        }))
    }

    /// Swaps in a renewed identity; new handshakes use it, existing connections keep theirs.
    pub fn replace(&self, identity: TlsIdentity) -> Result<(), PkiError> {
        let key = certified(identity)?;
        match self.current.write() {
            Ok(mut guard) => *guard = key,
            Err(poisoned) => *poisoned.into_inner() = key,
        }
        Ok(())
    }

    fn get(&self) -> Arc<rustls::sign::CertifiedKey> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

fn certified(identity: TlsIdentity) -> Result<Arc<rustls::sign::CertifiedKey>, PkiError> {
    let key = provider().key_provider.load_private_key(identity.key)?;
    Ok(Arc::new(rustls::sign::CertifiedKey::new(
        identity.chain,
        key,
    )))
}

impl rustls::server::ResolvesServerCert for SharedIdentity {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.get())
    }
}

impl rustls::client::ResolvesClientCert for SharedIdentity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.get())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The CAs a gateway checks peers against, by network: its own network's CA, and each federated
/// partner's CA for that partner's names only (DESIGN.md "Federation"). A certificate is checked
/// against the CA of the network its gateway URI names, so a partner CA can never vouch for a
/// gateway of this network or of a third one. Partners change with the configuration, without a
/// restart: [`Self::set_partners`] swaps the set, and handshakes from then on use it.
#[derive(Debug)]
pub struct TrustedNetworks {
    own: NetworkId,
    own_ca: Vec<u8>,
    current: std::sync::RwLock<Arc<NetworkVerifiers>>,
}

/// One network's verifiers, built from its CA.
#[derive(Debug)]
struct Verifiers {
    ca_der: Arc<Vec<u8>>,
    server: Arc<WebPkiServerVerifier>,
    client: Arc<dyn ClientCertVerifier>,
}

#[derive(Debug, Default)]
struct NetworkVerifiers {
    by_network: std::collections::HashMap<NetworkId, Verifiers>,
}

fn verifiers(ca_der: &[u8]) -> Result<Verifiers, PkiError> {
    let roots = roots(ca_der)?;
    Ok(Verifiers {
        ca_der: Arc::new(ca_der.to_vec()),
        server: WebPkiServerVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .map_err(|e| PkiError::Tls(e.to_string()))?,
        client: WebPkiClientVerifier::builder_with_provider(roots, provider())
            .build()
            .map_err(|e| PkiError::Tls(e.to_string()))?,
    })
}

impl TrustedNetworks {
    /// This network's CA only.
    pub fn new(own: NetworkId, ca_der: &[u8]) -> Result<Arc<Self>, PkiError> {
        let trusted = Self {
            own,
            own_ca: ca_der.to_vec(),
            current: std::sync::RwLock::new(Arc::default()),
        };
        trusted.set_partners(&[])?;
        Ok(Arc::new(trusted))
    }

    /// Replaces the partners' CAs (DER); this network's own CA stays. A partner naming this
    /// network is refused, so a configuration can never replace the network's own root.
    pub fn set_partners(&self, partners: &[(NetworkId, Vec<u8>)]) -> Result<(), PkiError> {
        let mut by_network = std::collections::HashMap::new();
        by_network.insert(self.own.clone(), verifiers(&self.own_ca)?);
        for (network, ca_der) in partners {
            if network == &self.own {
                return Err(PkiError::Tls(format!(
                    "a partner CA cannot be trusted for this network's own names ({network})"
                )));
            }
            by_network.insert(network.clone(), verifiers(ca_der)?);
        }
        let next = Arc::new(NetworkVerifiers { by_network });
        match self.current.write() {
            Ok(mut guard) => *guard = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        Ok(())
    }

    /// The CA (DER) trusted for `network`'s names, if any.
    pub fn ca_der(&self, network: &NetworkId) -> Option<Arc<Vec<u8>>> {
        self.get().by_network.get(network).map(|v| v.ca_der.clone())
    }

    /// Replaces the partners' CAs from a configuration's federation list (PEM).
    pub fn follow(
        &self,
        federation: &[psn_core::config::FederatedNetwork],
    ) -> Result<(), PkiError> {
        let partners = federation
            .iter()
            .map(|f| {
                let der = parse_pem_certificates(&f.ca_certificate)?
                    .into_iter()
                    .next()
                    .ok_or_else(|| PkiError::Unreadable {
                        what: "partner CA",
                        reason: format!("no certificate for {}", f.network),
                    })?;
                Ok((f.network.clone(), der.to_vec()))
            })
            .collect::<Result<Vec<_>, PkiError>>()?;
        self.set_partners(&partners)
    }

    fn get(&self) -> Arc<NetworkVerifiers> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The verifiers of the network the certificate's gateway URI names.
    fn for_certificate(&self, end_entity: &CertificateDer<'_>) -> Result<Verifiers, rustls::Error> {
        let unknown = |reason: String| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
                Arc::new(PkiError::Tls(reason)),
            )))
        };
        let info = CertificateInfo::from_der(end_entity.as_ref()).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        let gateway = crate::gateway_identity(&info)
            .ok_or_else(|| unknown("the certificate does not name a gateway".into()))?;
        let network = gateway.member().network();
        let current = self.get();
        let found = current.by_network.get(network).ok_or_else(|| {
            unknown(format!(
                "the certificate names a gateway of {network}, a network this one does not trust"
            ))
        })?;
        Ok(Verifiers {
            ca_der: found.ca_der.clone(),
            server: found.server.clone(),
            client: found.client.clone(),
        })
    }
}

impl ClientCertVerifier for TrustedNetworks {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // Gateways present their one certificate whatever the hints say.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.for_certificate(end_entity)?
            .client
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The gateway's peer-facing listener: TLS 1.3 only, and a client certificate chaining to the
/// CA of the network its gateway URI names (this network's, or a federated partner's) is
/// required before any byte of HTTP is read.
pub fn gateway_server_config(
    identity: Arc<SharedIdentity>,
    trusted: Arc<TrustedNetworks>,
) -> Result<ServerConfig, PkiError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(trusted)
        .with_cert_resolver(identity);
    config.alpn_protocols = vec![b"h2".to_vec()];
    // No resumption: a resumed session would carry the peer's earlier certificate past a renewal
    // or a revocation. Connections are long-lived and pooled, so full handshakes are rare.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(config)
}

/// The gateway's client towards peer gateways: presents its certificate and accepts a server
/// whose chain reaches the CA of the network its gateway URI names. Host names are not checked:
/// gateway certificates name a gateway by URI, and the caller checks that URI against the
/// configuration after the handshake.
pub fn gateway_client_config(
    identity: Arc<SharedIdentity>,
    trusted: Arc<TrustedNetworks>,
) -> Result<ClientConfig, PkiError> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NetworkCaVerifier { trusted }))
        .with_client_cert_resolver(identity);
    config.alpn_protocols = vec![b"h2".to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

#[derive(Debug)]
struct NetworkCaVerifier {
    trusted: Arc<TrustedNetworks>,
}

impl ServerCertVerifier for NetworkCaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::CertificateError::{NotValidForName, NotValidForNameContext};
        match self
            .trusted
            .for_certificate(end_entity)?
            .server
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                NotValidForName | NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        ClientCertVerifier::verify_tls12_signature(self.trusted.as_ref(), message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        ClientCertVerifier::verify_tls13_signature(self.trusted.as_ref(), message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        ClientCertVerifier::supported_verify_schemes(self.trusted.as_ref())
    }
}

/// Trust anchors from PEM text holding one or more certificates (a member's own CA bundle).
fn roots_from_pem(what: &'static str, pem: &str) -> Result<Arc<RootCertStore>, PkiError> {
    let certificates = parse_pem_certificates(pem)?;
    if certificates.is_empty() {
        return Err(PkiError::Unreadable {
            what,
            reason: "no PEM certificate found".into(),
        });
    }
    let mut roots = RootCertStore::empty();
    for certificate in certificates {
        roots.add(certificate)?;
    }
    Ok(Arc::new(roots))
}

/// The gateway's internal listener when the member serves it over TLS. It faces the member's own
/// systems, not the network, so TLS 1.2 is accepted and the certificate is the member's own.
/// With `client_ca_pem`, callers may present a certificate issued by that CA (verified during the
/// handshake); whether one is required is decided per subsystem by the client rules.
pub fn internal_server_config(
    identity: TlsIdentity,
    client_ca_pem: Option<&str>,
) -> Result<ServerConfig, PkiError> {
    let builder =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match client_ca_pem {
        Some(pem) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(
                roots_from_pem("internal client CA", pem)?,
                provider(),
            )
            .allow_unauthenticated()
            .build()
            .map_err(|e| PkiError::Tls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(identity.chain, identity.key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The provider gateway's client towards an `https://` backend: trusts only the CA bundle
/// configured for that backend, and checks the backend's host name against its certificate.
pub fn backend_client_config(ca_pem: &str) -> Result<ClientConfig, PkiError> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots_from_pem("backend CA", ca_pem)?)
        .with_no_client_auth())
}
