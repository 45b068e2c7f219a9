//! A provider's administration through its gateway: which services it offers (local backend plus
//! catalogue listing at the authority) and who may call them (grants held by the authority and
//! delivered to this member's gateways only).

use crate::datadir::{GatewayDir, LocalService};
use crate::renew::with_authority;
use crate::GatewayError;
use psn_api::{GrantList, GrantRef, NewGrant, ServiceListing, ServiceRef, SlaList};
use psn_core::names::ServiceId;
use psn_core::sla::SlaDeclaration;

/// Publishes a service's listing at the authority, then records its backend locally. A running
/// gateway serves it after a restart.
pub async fn add_service(
    dir: &GatewayDir,
    listing: ServiceListing,
    backend: String,
    backend_ca: Option<std::path::PathBuf>,
    health_path: Option<String>,
) -> Result<(), GatewayError> {
    let mut settings = dir.load_settings()?;
    if listing.id.member() != settings.gateway.member() {
        return Err(GatewayError::Setup(format!(
            "{} is not a service of {}",
            listing.id,
            settings.gateway.member()
        )));
    }
    let local = LocalService {
        id: listing.id.clone(),
        backend,
        backend_ca,
        health_path,
    };
    local.check_backend(dir)?;
    with_authority(dir, |c| {
        let listing = listing.clone();
        async move { c.publish_service(&listing).await }
    })
    .await?;
    settings.services.retain(|s| s.id != local.id);
    settings.services.push(local);
    dir.save_settings(&settings)
}

/// Withdraws a service at the authority (with its grants) and forgets its backend.
pub async fn remove_service(dir: &GatewayDir, id: &ServiceId) -> Result<(), GatewayError> {
    let mut settings = dir.load_settings()?;
    with_authority(dir, |c| {
        let id = id.clone();
        async move { c.withdraw_service(&ServiceRef { id }).await }
    })
    .await?;
    settings.services.retain(|s| &s.id != id);
    dir.save_settings(&settings)
}

/// Grants access to one of this member's services.
pub async fn grant(dir: &GatewayDir, grant: NewGrant) -> Result<GrantList, GatewayError> {
    with_authority(dir, |c| {
        let grant = grant.clone();
        async move { c.grant(&grant).await }
    })
    .await
}

/// Withdraws a grant.
pub async fn revoke_grant(dir: &GatewayDir, id: &str) -> Result<GrantList, GatewayError> {
    with_authority(dir, |c| {
        let id = id.to_owned();
        async move { c.revoke_grant(&GrantRef { id }).await }
    })
    .await
}

/// The grants on this member's services.
pub async fn grants(dir: &GatewayDir) -> Result<GrantList, GatewayError> {
    with_authority(dir, |c| async move { c.grants().await }).await
}

/// Declares (or replaces) the SLA of one of this member's services.
pub async fn declare_sla(dir: &GatewayDir, sla: SlaDeclaration) -> Result<SlaList, GatewayError> {
    with_authority(dir, |c| {
        let sla = sla.clone();
        async move { c.declare_sla(&sla).await }
    })
    .await
}

/// Withdraws a service's SLA declaration.
pub async fn withdraw_sla(dir: &GatewayDir, service: &ServiceId) -> Result<SlaList, GatewayError> {
    with_authority(dir, |c| {
        let id = service.clone();
        async move { c.withdraw_sla(&ServiceRef { id }).await }
    })
    .await
}

/// Every SLA declared in the network.
pub async fn slas(dir: &GatewayDir) -> Result<SlaList, GatewayError> {
    with_authority(dir, |c| async move { c.slas().await }).await
}

/// Uploads (or replaces) the OpenAPI document of one of this member's services; the authority
/// checks it (docs/catalogue.md "OpenAPI documents") and refuses it whole, naming every problem.
pub async fn put_openapi(
    dir: &GatewayDir,
    service: &ServiceId,
    document: String,
) -> Result<psn_api::ServiceDocumentChanged, GatewayError> {
    let upload = psn_api::OpenApiUpload {
        service: service.clone(),
        document,
    };
    with_authority(dir, |c| {
        let upload = upload.clone();
        async move { c.put_openapi(&upload).await }
    })
    .await
}

/// Removes the OpenAPI document of one of this member's services.
pub async fn remove_openapi(
    dir: &GatewayDir,
    service: &ServiceId,
) -> Result<psn_api::ServiceDocumentChanged, GatewayError> {
    with_authority(dir, |c| {
        let id = service.clone();
        async move { c.remove_openapi(&ServiceRef { id }).await }
    })
    .await
}
