//! Calls on providers' OpenAPI documents and the catalogue export. The document and the
//! exports are not JSON answers to decode but files to hand on byte for byte, so they come
//! back as text.

use super::{AuthorityClient, ClientError};
use crate::documents::{OpenApiUpload, ServiceDocumentChanged};
use crate::types::ServiceRef;
use psn_core::names::ServiceId;
use psn_core::problem::error_chain;
use reqwest::Method;

/// A document fetched from the authority: its text and the ETag it was served with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedText {
    /// The body.
    pub text: String,
    /// The `ETag` header, if any.
    pub etag: Option<String>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
}

impl AuthorityClient {
    /// Uploads (or replaces) the OpenAPI document of one of the calling gateway's services.
    pub async fn put_openapi(
        &self,
        upload: &OpenApiUpload,
    ) -> Result<ServiceDocumentChanged, ClientError> {
        self.json(
            self.request(Method::PUT, "/v1/gateway/services/openapi")
                .json(upload),
        )
        .await
    }

    /// Removes the OpenAPI document of one of the calling gateway's services.
    pub async fn remove_openapi(
        &self,
        service: &ServiceRef,
    ) -> Result<ServiceDocumentChanged, ClientError> {
        self.post("/v1/gateway/services/openapi/remove", service)
            .await
    }

    /// A service's OpenAPI document as its provider uploaded it (operators and gateways).
    pub async fn openapi(&self, service: &ServiceId) -> Result<FetchedText, ClientError> {
        self.text(&format!("/v1/catalogue/services/{service}/openapi.json"))
            .await
    }

    /// The whole catalogue as DCAT-3 JSON-LD (operators and gateways).
    pub async fn export_dcat(&self) -> Result<FetchedText, ClientError> {
        self.text("/v1/catalogue/export.jsonld").await
    }

    /// The whole catalogue as CSV, one row per listing (operators and gateways).
    pub async fn export_csv(&self) -> Result<FetchedText, ClientError> {
        self.text("/v1/catalogue/export.csv").await
    }

    async fn text(&self, path: &str) -> Result<FetchedText, ClientError> {
        self.text_of(self.request(Method::GET, path)).await
    }

    /// Sends `req` and hands back the body as text, for files rather than JSON answers.
    pub(super) async fn text_of(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<FetchedText, ClientError> {
        let resp = self.send(req).await?;
        let header = |name: reqwest::header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header(reqwest::header::ETAG);
        let content_type = header(reqwest::header::CONTENT_TYPE);
        let text = resp.text().await.map_err(|e| ClientError::Transport {
            url: self.base().to_owned(),
            reason: error_chain(&e),
        })?;
        Ok(FetchedText {
            text,
            etag,
            content_type,
        })
    }
}
