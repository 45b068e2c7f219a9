//! Static files compiled into the binary: govuk-frontend's CSS and JS (vendored, see
//! assets/govuk-frontend/README.md) and psn's own. They are served under a path holding a digest
//! of their contents, so they can be cached for a year and a new build still reaches browsers.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;

/// The vendored govuk-frontend version (assets/govuk-frontend/VERSION).
pub const GOVUK_FRONTEND_VERSION: &str = include_str!("../../assets/govuk-frontend/VERSION");

/// Every file, by name: contents and media type.
const FILES: [(&str, &[u8], &str); 4] = [
    (
        "govuk-frontend.min.css",
        include_bytes!("../../assets/govuk-frontend/govuk-frontend.min.css"),
        "text/css; charset=utf-8",
    ),
    (
        "govuk-frontend.min.js",
        include_bytes!("../../assets/govuk-frontend/govuk-frontend.min.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "psn.css",
        include_bytes!("../../assets/psn/psn.css"),
        "text/css; charset=utf-8",
    ),
    (
        "psn.js",
        include_bytes!("../../assets/psn/psn.js"),
        "text/javascript; charset=utf-8",
    ),
];

/// The path prefix every asset is served under: `/ui/assets/{digest}`, where the digest covers
/// every file (psn.js imports govuk-frontend by a relative path, so they share one prefix).
pub fn prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let mut all = Vec::new();
        for (name, bytes, _) in FILES {
            all.extend_from_slice(name.as_bytes());
            all.push(0);
            all.extend_from_slice(bytes);
        }
        let digest = psn_core::encoding::hex(&psn_core::encoding::sha256(&all));
        format!("/ui/assets/{}", &digest[..16])
    })
}

/// `GET /ui/assets/{digest}/{file}`: the file, cacheable for a year; any other digest is not
/// found, so a stale page never gets mismatched files.
pub async fn serve(Path((digest, file)): Path<(String, String)>) -> Response {
    let current = prefix().rsplit('/').next().unwrap_or_default();
    let found = FILES.iter().find(|(name, _, _)| *name == file);
    match found {
        Some(&(_, bytes, media_type)) if digest == current => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(media_type)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
            ],
            bytes,
        )
            .into_response(),
        _ => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
