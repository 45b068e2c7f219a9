//! Gateways' audit-log checkpoints (docs/audit.md "Checkpoints"): each gateway hands over its
//! latest seal with every aggregates push; the authority verifies it, keeps the latest per
//! gateway and never lets it move backwards, so `psn audit verify --against-authority` finds a
//! log cut back behind it.

use super::{member_path, ApiError, ApiResult, Body, Gateway, Operator};
use crate::Authority;
use axum::extract::{Path, State};
use psn_core::checkpoint::Checkpoint;
use psn_core::names::{GatewayCode, GatewayId};
use psn_core::problem::ProblemType;
use std::sync::Arc;
use time::OffsetDateTime;

/// How far ahead of the authority's clock a seal may claim to be signed.
const CLOCK_SKEW_MS: i64 = psn_core::clock::TOLERATED_SKEW.whole_seconds() * 1000;

/// `PUT /v1/gateway/checkpoint`: the calling gateway's latest seal. Refused, changing nothing,
/// if it does not verify as the caller's or claims a time too far ahead (`invalid-request`), or
/// is behind or beside the one held (`conflict`).
pub(super) async fn push_checkpoint(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
    Body(checkpoint): Body<Checkpoint>,
) -> ApiResult<axum::Json<Checkpoint>> {
    psn_audit::verify_checkpoint(&checkpoint, &gateway, a.ca.certificate_der()).map_err(|e| {
        ApiError::new(
            ProblemType::InvalidRequest,
            format!("the checkpoint is not a seal of {gateway}'s audit log: {e}"),
        )
    })?;
    let now_ms = crate::store::to_millis(OffsetDateTime::now_utc());
    if checkpoint.at_ms > now_ms.saturating_add(CLOCK_SKEW_MS) {
        return Err(ApiError::new(
            ProblemType::InvalidRequest,
            format!(
                "the checkpoint claims to be signed at {}, ahead of the authority's clock",
                checkpoint.describe()
            ),
        ));
    }
    let held = a.store.accept_checkpoint(&gateway, &checkpoint).await?;
    tracing::debug!(%gateway, segment = held.segment, entry = held.entry, "checkpoint held");
    Ok(axum::Json(held))
}

/// `GET /v1/gateway/checkpoint`: the checkpoint held for the calling gateway.
pub(super) async fn own_checkpoint(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
) -> ApiResult<axum::Json<Checkpoint>> {
    held(&a, &gateway).await
}

/// `GET /v1/members/{network}/{class}/{code}/gateways/{gateway}/checkpoint` (operators).
pub(super) async fn gateway_checkpoint(
    State(a): State<Arc<Authority>>,
    _op: Operator,
    Path((network, class, code, gateway)): Path<(String, String, String, String)>,
) -> ApiResult<axum::Json<Checkpoint>> {
    let member = member_path(&network, &class, &code)?;
    let code: GatewayCode = gateway.parse().map_err(|e: psn_core::names::NameError| {
        ApiError::new(ProblemType::InvalidRequest, e.to_string())
    })?;
    held(&a, &GatewayId::new(member, code)).await
}

async fn held(a: &Authority, gateway: &GatewayId) -> ApiResult<axum::Json<Checkpoint>> {
    match a.store.checkpoint(gateway).await? {
        Some(checkpoint) => Ok(axum::Json(checkpoint)),
        None => Err(ApiError::new(
            ProblemType::NotFound,
            format!("the authority holds no checkpoint of {gateway}'s audit log yet"),
        )),
    }
}
