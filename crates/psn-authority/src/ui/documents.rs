//! A listing's OpenAPI document for people signed in to the web UI (the service page links to
//! it): the API's copy is for operators' tokens and gateways' certificates, which a browser
//! does not hold. Served as a download, so the browser never renders a provider's text as a
//! page of the authority.

use super::pages::{find_service, ServicePath};
use super::render::Failure;
use super::session::Viewer;
use super::Ui;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// `GET /ui/services/{network}/{class}/{code}/{subsystem}/{service}/openapi.json`.
pub async fn openapi(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    Path(parts): Path<ServicePath>,
) -> Response {
    let found = async {
        let (id, _) = find_service(&ui, parts).await?;
        ui.authority
            .store
            .document(&id)
            .await?
            .ok_or_else(|| Failure::NotFound(format!("{id} has no OpenAPI document.")))
    };
    match found.await {
        Ok(stored) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(psn_api::OPENAPI_MEDIA_TYPE),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_static("attachment; filename=\"openapi.json\""),
                ),
            ],
            stored.document,
        )
            .into_response(),
        Err(f) => viewer.fail(f),
    }
}
