//! Enrolment: turning a one-time token into a gateway identity. The key is generated here and
//! never leaves; the authority is trusted only if its CA matches the token's pin; every part of
//! the answer is checked before anything is written.

use crate::config_store::ConfigStore;
use crate::datadir::{write_private, GatewayDir, GatewaySettings};
use crate::{io_error, GatewayError};
use psn_api::{AuthorityClient, EnrolRequest};
use psn_core::names::GatewayId;
use psn_core::token::EnrolmentToken;
use psn_pki::{CertificateInfo, GatewayKey};
use time::OffsetDateTime;

/// Enrolment inputs.
#[derive(Debug, Clone)]
pub struct EnrolOptions {
    /// The token text.
    pub token: String,
    /// Peer-facing `host:port` to announce.
    pub address: Option<String>,
}

/// The outcome of enrolment.
#[derive(Debug, Clone)]
pub struct Enrolled {
    /// The new identity.
    pub gateway: GatewayId,
    /// Certificate serial.
    pub serial: String,
    /// Certificate expiry.
    pub not_after: OffsetDateTime,
    /// Configuration version received.
    pub config_version: u64,
}

/// Enrols a gateway into `dir`, which must not hold one already. On any failure nothing is left
/// in the directory.
pub async fn enrol(dir: &GatewayDir, options: EnrolOptions) -> Result<Enrolled, GatewayError> {
    if dir.settings().exists() || dir.identity().exists() {
        return Err(GatewayError::Setup(format!(
            "{} already holds an enrolled gateway; use a new directory",
            dir.root().display()
        )));
    }
    let token = EnrolmentToken::decode(&options.token)?;
    if let Some(address) = &options.address {
        psn_api::validate_address(address).map_err(GatewayError::Setup)?;
    }
    let gateway = GatewayId::new(token.member.clone(), token.gateway.clone());
    let key = GatewayKey::generate()?;
    let csr = key.csr_pem(&gateway)?;
    let client = AuthorityClient::enrolment(&token.authority, &token.ca_pin)?;
    let response = client
        .enrol(&EnrolRequest {
            token: options.token.trim().to_owned(),
            csr,
            address: options.address.clone(),
        })
        .await?;
    let chain = psn_pki::parse_pem_certificates(&response.certificate_chain)?;
    let [leaf, ca] = chain.as_slice() else {
        return Err(GatewayError::Setup(
            "the authority's certificate chain is not leaf + CA".into(),
        ));
    };
    let ca_info = CertificateInfo::from_der(ca)?;
    if ca_info.spki_sha256 != token.ca_pin {
        return Err(GatewayError::Setup(
            "the CA the authority returned does not match the token's pin".into(),
        ));
    }
    let leaf_info = CertificateInfo::from_der(leaf)?;
    if psn_pki::gateway_identity(&leaf_info).as_ref() != Some(&gateway)
        || response.gateway != gateway
    {
        return Err(GatewayError::Setup(format!(
            "the authority issued a certificate for another identity than {gateway}"
        )));
    }
    let identity_pem = format!("{}{}", key.to_pem(), response.certificate_chain);
    psn_pki::TlsIdentity::from_pem(&identity_pem, &identity_pem)?;
    if !key_matches(&key, leaf)? {
        return Err(GatewayError::Setup(
            "the issued certificate is not for this gateway's key".into(),
        ));
    }
    let ca_pem = psn_pki::der_to_pem("CERTIFICATE", ca);
    std::fs::create_dir_all(dir.root()).map_err(io_error(dir.root()))?;
    let result = write_all(
        dir,
        &token,
        &gateway,
        &options,
        &identity_pem,
        &ca_pem,
        ca,
        &response.config,
    );
    match result {
        Ok(config_version) => Ok(Enrolled {
            gateway,
            serial: leaf_info.serial,
            not_after: leaf_info.not_after,
            config_version,
        }),
        Err(e) => {
            for path in [dir.settings(), dir.identity(), dir.ca()] {
                let _ = std::fs::remove_file(path);
            }
            let _ = std::fs::remove_dir_all(dir.config_dir());
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn write_all(
    dir: &GatewayDir,
    token: &EnrolmentToken,
    gateway: &GatewayId,
    options: &EnrolOptions,
    identity_pem: &str,
    ca_pem: &str,
    ca_der: &[u8],
    config_jws: &str,
) -> Result<u64, GatewayError> {
    let mut store = ConfigStore::open(dir, gateway.member().network().clone(), ca_der.to_vec())?;
    let accepted = store.accept(config_jws, OffsetDateTime::now_utc())?;
    let mut endpoints = vec![token.authority.clone()];
    if let Some(config) = store.current() {
        for e in &config.authority.endpoints {
            if !endpoints.contains(e) {
                endpoints.push(e.clone());
            }
        }
    }
    write_private(&dir.identity(), identity_pem.as_bytes())?;
    write_private(&dir.ca(), ca_pem.as_bytes())?;
    let mut settings = GatewaySettings::new(gateway.clone(), endpoints, options.address.clone());
    if let Some(port) = options
        .address
        .as_deref()
        .and_then(|a| a.rsplit_once(':'))
        .and_then(|(_, p)| p.parse().ok())
    {
        settings.external_listen.set_port(port);
    }
    dir.save_settings(&settings)?;
    Ok(match accepted {
        crate::Accepted::New(v) | crate::Accepted::Unchanged(v) => v,
    })
}

/// Whether the certificate's public key is the gateway key's.
pub(crate) fn key_matches(key: &GatewayKey, cert_der: &[u8]) -> Result<bool, GatewayError> {
    Ok(key.public_key_der() == psn_pki::spki_der(cert_der)?)
}
