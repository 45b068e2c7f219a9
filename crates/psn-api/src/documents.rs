//! Providers' OpenAPI documents and the catalogue's export for harvesting (docs/catalogue.md
//! "OpenAPI documents", "Export for harvesting"): the request and answer types, shared by the
//! authority, the gateway's administration and the CLI.

use psn_core::names::ServiceId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Media type an OpenAPI document is served with (registered with IANA by the OpenAPI
/// Initiative); clients that only know JSON read it as JSON.
pub const OPENAPI_MEDIA_TYPE: &str = "application/vnd.oai.openapi+json";
/// Media type of the DCAT export (JSON-LD).
pub const JSON_LD_MEDIA_TYPE: &str = "application/ld+json";
/// Media type of the CSV export.
pub const CSV_MEDIA_TYPE: &str = "text/csv; charset=utf-8";
/// Largest OpenAPI document a provider may upload: generous for a real API description, small
/// enough that serving it to every reader costs nothing.
pub const MAX_OPENAPI_BYTES: usize = 1024 * 1024;

/// `PUT /v1/gateway/services/openapi`: a provider's OpenAPI document for one of its services.
/// The document is the text of the file (JSON), so that what readers fetch, and its digest,
/// is byte for byte what the provider uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenApiUpload {
    /// The service it describes (one of the calling gateway's member's).
    pub service: ServiceId,
    /// The OpenAPI 3.0 or 3.1 document, as JSON text.
    pub document: String,
}

/// What the catalogue says about a service's OpenAPI document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDocumentInfo {
    /// SHA-256 of the document's bytes, lowercase hex (also its ETag).
    pub sha256: String,
    /// Its length in bytes.
    pub bytes: u64,
    /// When the provider uploaded it.
    #[serde(with = "time::serde::rfc3339")]
    pub uploaded_at: OffsetDateTime,
}

/// The answer to an upload or a removal: the service and the document it now has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDocumentChanged {
    /// The service.
    pub service: ServiceId,
    /// Its document after the change (`None` after a removal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openapi: Option<ServiceDocumentInfo>,
}
