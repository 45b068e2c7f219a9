//! Providers' OpenAPI documents and the catalogue export (docs/catalogue.md "OpenAPI
//! documents", "Export for harvesting"). A provider's gateway uploads or removes the document
//! of one of its own member's services; readers (operators and gateways, as for catalogue
//! entries) fetch it byte for byte with its SHA-256 as ETag, and fetch the whole catalogue as
//! DCAT-3 JSON-LD or CSV. A refused upload changes nothing and names every problem found.

use super::{etag_matches, own_service, ApiError, ApiResult, Body, Gateway, Reader};
use crate::openapi_check;
use crate::Authority;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use psn_api::{
    OpenApiUpload, ServiceDocumentChanged, ServiceRef, CSV_MEDIA_TYPE, JSON_LD_MEDIA_TYPE,
    OPENAPI_MEDIA_TYPE,
};
use psn_core::names::{NameError, ServiceId};
use psn_core::problem::ProblemType;
use std::sync::Arc;

/// Body limit of an upload: the document travels as a JSON string, and escaping can make a
/// 1 MiB document several times longer (`"` as `\"`, control characters as `\u0000`). The
/// document itself is held to `psn_api::MAX_OPENAPI_BYTES` by the check.
pub(super) const UPLOAD_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// The five path segments of a service id.
pub(super) type ServicePath = (String, String, String, String, String);

fn service_of((network, class, code, subsystem, service): ServicePath) -> ApiResult<ServiceId> {
    format!("{network}/{class}/{code}/{subsystem}/{service}")
        .parse()
        .map_err(|e: NameError| ApiError::new(ProblemType::InvalidRequest, e.to_string()))
}

/// `PUT /v1/gateway/services/openapi`: keep (or replace) the OpenAPI document of one of the
/// calling member's services, once it passes `openapi_check`.
pub(super) async fn put_openapi(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
    Body(upload): Body<OpenApiUpload>,
) -> ApiResult<axum::Json<ServiceDocumentChanged>> {
    own_service(&gateway, &upload.service)?;
    let checked = openapi_check::check(&upload.document)
        .map_err(|refusal| ApiError::new(ProblemType::InvalidRequest, refusal.to_string()))?;
    let info = a
        .store
        .put_document(
            &format!("gateway:{gateway}"),
            &upload.service,
            &upload.document,
        )
        .await?;
    tracing::info!(service = %upload.service, sha256 = %info.sha256, openapi = %checked.openapi,
        "OpenAPI document kept");
    Ok(axum::Json(ServiceDocumentChanged {
        service: upload.service,
        openapi: Some(info),
    }))
}

/// `POST /v1/gateway/services/openapi/remove`: remove the document of one of the calling
/// member's services.
pub(super) async fn remove_openapi(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
    Body(service): Body<ServiceRef>,
) -> ApiResult<axum::Json<ServiceDocumentChanged>> {
    own_service(&gateway, &service.id)?;
    a.store
        .remove_document(&format!("gateway:{gateway}"), &service.id)
        .await?;
    Ok(axum::Json(ServiceDocumentChanged {
        service: service.id,
        openapi: None,
    }))
}

/// `GET /v1/catalogue/services/{id}/openapi.json`: the document as uploaded, with its SHA-256
/// as a strong ETag (`304` for a matching `If-None-Match`).
pub(super) async fn get_openapi(
    State(a): State<Arc<Authority>>,
    _reader: Reader,
    headers: HeaderMap,
    Path(parts): Path<ServicePath>,
) -> ApiResult<Response> {
    let id = service_of(parts)?;
    let Some(stored) = a.store.document(&id).await? else {
        let why = if a.store.service(&id).await?.is_some() {
            format!("{id} has no OpenAPI document; its provider has not uploaded one")
        } else {
            format!("there is no service {id} in the catalogue")
        };
        return Err(ApiError::new(ProblemType::NotFound, why));
    };
    let etag = format!("\"{}\"", stored.info.sha256);
    let etag_value = HeaderValue::from_str(&etag)
        .map_err(|_| ApiError::new(ProblemType::Internal, "a stored digest is damaged"))?;
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if etag_matches(&headers, &etag) {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag_value), cache],
        )
            .into_response());
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(OPENAPI_MEDIA_TYPE),
            ),
            (header::ETAG, etag_value),
            cache,
        ],
        stored.document,
    )
        .into_response())
}

fn export_failed(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "catalogue export failed");
    ApiError::new(
        ProblemType::Internal,
        "the catalogue export could not be built",
    )
}

/// `GET /v1/catalogue/export.jsonld`: every listing as DCAT 3 (`crate::export::dcat`).
pub(super) async fn export_jsonld(
    State(a): State<Arc<Authority>>,
    _reader: Reader,
) -> ApiResult<Response> {
    let listings = crate::export::listings(&a).await?;
    let facts = crate::export::facts(&a).await?;
    let document = crate::export::dcat(&facts, &listings, &a.processes);
    let body = serde_json::to_vec_pretty(&document).map_err(export_failed)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_LD_MEDIA_TYPE),
        )],
        body,
    )
        .into_response())
}

/// `GET /v1/catalogue/export.csv`: every listing as a CSV row (`crate::export::csv`), as a
/// download named after the network.
pub(super) async fn export_csv(
    State(a): State<Arc<Authority>>,
    _reader: Reader,
) -> ApiResult<Response> {
    let listings = crate::export::listings(&a).await?;
    let body = crate::export::csv(&a.public_url, &listings, &a.processes).map_err(export_failed)?;
    // A network id is `[A-Z0-9-]`, so the file name needs no quoting beyond the quotes.
    let disposition = HeaderValue::from_str(&format!(
        "attachment; filename=\"psn-catalogue-{}.csv\"",
        a.network
    ))
    .map_err(export_failed)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(CSV_MEDIA_TYPE),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}
