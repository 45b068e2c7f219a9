-- A listed service's OpenAPI document, uploaded by its provider's gateway
-- (PUT /v1/gateway/services/openapi) after validation (crate::openapi_check), served to
-- readers with its SHA-256 as ETag. One per service, replaced whole; removed with the service.
-- `document` is the exact text uploaded, so the digest readers see is the digest of what they
-- fetch; `bytes` is its length in bytes (kept so listings need not read the document).

CREATE TABLE service_documents (
    service_id  TEXT PRIMARY KEY REFERENCES services (id),
    sha256      TEXT NOT NULL,
    bytes       BIGINT NOT NULL,
    document    TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    uploaded_by TEXT NOT NULL
);
