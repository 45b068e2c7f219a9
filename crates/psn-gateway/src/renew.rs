//! Certificate renewal and configuration synchronisation over the gateway's mutual TLS.

use crate::config_store::{Accepted, ConfigStore};
use crate::datadir::{write_private, GatewayDir};
use crate::enrol::key_matches;
use crate::GatewayError;
use psn_api::{AuthorityClient, ClientError, ConfigFetch, RenewRequest};
use psn_pki::{CertificateInfo, GatewayKey};
use std::time::Duration;
use time::OffsetDateTime;

/// Whether a certificate is due for renewal: two thirds of its lifetime have passed. Renewing
/// early leaves a third of the lifetime (days by default) to ride out an authority outage.
pub fn needs_renewal(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    now: OffsetDateTime,
) -> bool {
    now >= not_before + (not_after - not_before) * 2 / 3
}

/// Calls `f` with a client for each authority endpoint in turn until one answers; problems the
/// authority reports are final, transport failures move on to the next endpoint.
pub(crate) async fn with_authority<T, F, Fut>(dir: &GatewayDir, f: F) -> Result<T, GatewayError>
where
    F: Fn(AuthorityClient) -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let settings = dir.load_settings()?;
    let ca = dir.load_ca()?;
    let (identity, _) = dir.load_identity()?;
    let mut last = None;
    for endpoint in &settings.authority {
        let client = AuthorityClient::gateway(endpoint, &ca, identity.clone())?;
        match f(client).await {
            Ok(v) => return Ok(v),
            Err(e @ ClientError::Transport { .. }) => {
                tracing::warn!(%endpoint, error = %e, "authority endpoint unreachable");
                last = Some(e);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(last.map_or_else(
        || GatewayError::Setup("no authority endpoint configured".into()),
        Into::into,
    ))
}

/// Renews the gateway certificate with a fresh key; the new key and chain replace the old in one
/// atomic write. Returns the new certificate's facts.
pub async fn renew(dir: &GatewayDir) -> Result<CertificateInfo, GatewayError> {
    let settings = dir.load_settings()?;
    let key = GatewayKey::generate()?;
    let csr = key.csr_pem(&settings.gateway)?;
    let response = with_authority(dir, |client| {
        let csr = csr.clone();
        async move { client.renew(&RenewRequest { csr }).await }
    })
    .await?;
    let chain = psn_pki::parse_pem_certificates(&response.certificate_chain)?;
    let leaf = chain
        .first()
        .ok_or_else(|| GatewayError::Setup("empty certificate chain".into()))?;
    let info = CertificateInfo::from_der(leaf)?;
    if psn_pki::gateway_identity(&info).as_ref() != Some(&settings.gateway)
        || !key_matches(&key, leaf)?
    {
        return Err(GatewayError::Setup(
            "the renewed certificate does not match this gateway".into(),
        ));
    }
    let identity_pem = format!("{}{}", key.to_pem(), response.certificate_chain);
    psn_pki::TlsIdentity::from_pem(&identity_pem, &identity_pem)?;
    write_private(&dir.identity(), identity_pem.as_bytes())?;
    Ok(info)
}

/// Fetches the configuration if a newer version exists (waiting up to `wait` for one), verifies it
/// and stores it.
pub async fn sync_config(
    dir: &GatewayDir,
    wait: Option<Duration>,
) -> Result<Accepted, GatewayError> {
    let settings = dir.load_settings()?;
    let mut store = ConfigStore::open(dir, settings.network.clone(), dir.load_ca()?)?;
    let etag = store.etag();
    let fetched = with_authority(dir, |client| {
        let etag = etag.clone();
        async move { client.config(etag.as_deref(), wait).await }
    })
    .await?;
    match fetched {
        ConfigFetch::NotModified => {
            let version = store.current().map_or(0, |c| c.version);
            Ok(Accepted::Unchanged(version))
        }
        ConfigFetch::Document { document, .. } => {
            Ok(store.accept(&document, OffsetDateTime::now_utc())?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::needs_renewal;
    use time::{Duration, OffsetDateTime};

    #[test]
    fn renews_after_two_thirds_of_the_lifetime() {
        let start = OffsetDateTime::UNIX_EPOCH;
        let end = start + Duration::days(6);
        assert!(!needs_renewal(start, end, start));
        assert!(!needs_renewal(
            start,
            end,
            start + Duration::days(4) - Duration::seconds(1)
        ));
        assert!(needs_renewal(start, end, start + Duration::days(4)));
        assert!(needs_renewal(start, end, end + Duration::days(1)));
    }
}
