//! Compliance frameworks (docs/compliance.md): the versioned controls members are assessed
//! against, as the authority loaded and checked them at start.

use super::{ApiError, ApiResult, Reader};
use crate::Authority;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use psn_api::{Framework, FrameworkList};
use psn_core::problem::ProblemType;
use std::sync::Arc;

/// The routes, merged into the API router.
pub(super) fn routes() -> Router<Arc<Authority>> {
    Router::new()
        .route("/v1/compliance/frameworks", get(list))
        .route("/v1/compliance/frameworks/{id}/{version}", get(show))
}

async fn list(State(a): State<Arc<Authority>>, _reader: Reader) -> Json<FrameworkList> {
    Json(FrameworkList {
        frameworks: a.compliance.frameworks().iter().map(psn_compliance::summary).collect(),
    })
}

async fn show(
    State(a): State<Arc<Authority>>,
    _reader: Reader,
    Path((id, version)): Path<(String, String)>,
) -> ApiResult<Json<Framework>> {
    a.compliance
        .framework(&id, &version)
        .cloned()
        .map(Json)
        .ok_or_else(|| {
            let clip = |s: &str| s.chars().take(80).collect::<String>();
            ApiError::new(
                ProblemType::NotFound,
                format!(
                    "the network has adopted no framework {:?} version {:?}; GET /v1/compliance/frameworks lists them",
                    clip(&id),
                    clip(&version)
                ),
            )
        })
}
