//! Federation endpoints (docs/federation.md): operators manage this network's anchor and its
//! partners; a partner authority, authenticated by its signed request, long-polls the view this
//! network exports to it and pulls the aggregates of exchanges with it. Every rule is in
//! `crate::federation`.

use super::{ApiError, ApiResult, Body, Operator, Query};
use crate::federation::{self as rules, Refusal};
use crate::Authority;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use psn_api::{
    AnchorIssued, AnchorRenewal, ExportPolicy, PartnerImport, PartnerList, PartnerView,
    FEDERATION_AUTH_SCHEME, JOSE_MEDIA_TYPE,
};
use psn_core::names::NetworkId;
use psn_core::problem::ProblemType;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

pub(super) fn routes() -> Router<Arc<Authority>> {
    Router::new()
        .route("/v1/federation/anchor", get(anchor))
        .route("/v1/federation/partners", get(list).post(import))
        .route(
            "/v1/federation/partners/{network}",
            get(show).delete(remove),
        )
        .route("/v1/federation/partners/{network}/policy", put(set_policy))
        .route("/v1/federation/partners/{network}/anchor", put(renew))
        .route("/v1/federation/view", get(view))
        .route("/v1/federation/aggregates", get(aggregates))
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Problem(kind, detail) => ApiError::new(kind, detail),
            Refusal::Store(e) => e.into(),
        }
    }
}

fn network_path(network: &str) -> Result<NetworkId, ApiError> {
    network.parse().map_err(|e: psn_core::names::NameError| {
        ApiError::new(ProblemType::InvalidRequest, e.to_string())
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnchorQuery {
    valid_days: Option<u32>,
}

/// `GET /v1/federation/anchor?valid_days=N` (operators): this network's signed anchor.
async fn anchor(
    State(a): State<Arc<Authority>>,
    _op: Operator,
    Query(q): Query<AnchorQuery>,
) -> ApiResult<Json<AnchorIssued>> {
    Ok(Json(rules::anchor(&a, q.valid_days.unwrap_or(30))?))
}

/// `POST /v1/federation/partners` (operators): imports a partner's anchor.
async fn import(
    State(a): State<Arc<Authority>>,
    Operator(actor): Operator,
    Body(import): Body<PartnerImport>,
) -> ApiResult<(StatusCode, Json<PartnerView>)> {
    let view = rules::import(&a, &actor, &import).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /v1/federation/partners` (operators).
async fn list(State(a): State<Arc<Authority>>, _op: Operator) -> ApiResult<Json<PartnerList>> {
    Ok(Json(PartnerList {
        items: rules::partner_views(&a).await?,
    }))
}

/// `GET /v1/federation/partners/{network}` (operators).
async fn show(
    State(a): State<Arc<Authority>>,
    _op: Operator,
    Path(network): Path<String>,
) -> ApiResult<Json<PartnerView>> {
    Ok(Json(
        rules::partner_view(&a, &network_path(&network)?).await?,
    ))
}

/// `DELETE /v1/federation/partners/{network}` (operators): ends the federation.
async fn remove(
    State(a): State<Arc<Authority>>,
    Operator(actor): Operator,
    Path(network): Path<String>,
) -> ApiResult<Json<PartnerView>> {
    Ok(Json(
        rules::remove(&a, &actor, &network_path(&network)?).await?,
    ))
}

/// `PUT /v1/federation/partners/{network}/policy` (operators).
async fn set_policy(
    State(a): State<Arc<Authority>>,
    Operator(actor): Operator,
    Path(network): Path<String>,
    Body(policy): Body<ExportPolicy>,
) -> ApiResult<Json<PartnerView>> {
    let network = network_path(&network)?;
    Ok(Json(
        rules::set_policy(&a, &actor, &network, &policy).await?,
    ))
}

/// `PUT /v1/federation/partners/{network}/anchor` (operators): replaces the partner's anchor
/// with a newer one.
async fn renew(
    State(a): State<Arc<Authority>>,
    Operator(actor): Operator,
    Path(network): Path<String>,
    Body(renewal): Body<AnchorRenewal>,
) -> ApiResult<Json<PartnerView>> {
    let network = network_path(&network)?;
    Ok(Json(rules::renew(&a, &actor, &network, &renewal).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ViewQuery {
    from: Option<u64>,
    wait: Option<u64>,
}

/// `GET /v1/federation/view?from=&wait=` (a partner authority, `Authorization: PSN-Federation
/// {signed request}`): the view this network exports to it, once newer than `from`; `304` if
/// none came within `wait` seconds (at most 60).
async fn view(
    State(a): State<Arc<Authority>>,
    headers: HeaderMap,
    Query(q): Query<ViewQuery>,
) -> ApiResult<Response> {
    let assertion = assertion(&headers)?;
    let wait = q.wait.unwrap_or(0);
    if wait > rules::MAX_VIEW_WAIT.as_secs() {
        return Err(ApiError::new(
            ProblemType::InvalidRequest,
            format!("wait is at most {} seconds", rules::MAX_VIEW_WAIT.as_secs()),
        ));
    }
    let requester = rules::requester(&a, assertion).await?;
    match rules::view_for(&a, &requester, q.from, Duration::from_secs(wait)).await? {
        Some(jws) => Ok((
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(JOSE_MEDIA_TYPE),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            jws,
        )
            .into_response()),
        None => Ok(StatusCode::NOT_MODIFIED.into_response()),
    }
}

/// The partner's signed request from `Authorization: PSN-Federation {jws}`.
fn assertion(headers: &HeaderMap) -> ApiResult<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case(FEDERATION_AUTH_SCHEME))
        .map(|(_, jws)| jws.trim())
        .ok_or_else(|| {
            ApiError::new(
                ProblemType::Unauthenticated,
                format!("send the partner's signed request as Authorization: {FEDERATION_AUTH_SCHEME} <jws>"),
            )
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AggregatesQuery {
    after: Option<u64>,
}

/// `GET /v1/federation/aggregates?after=` (a partner authority, `Authorization: PSN-Federation
/// {signed request}`): the aggregate rows of exchanges between this network's gateways and the
/// partner's names, queued after outbox entry `after` (the last one the partner stored; the
/// entries up to it are then dropped).
async fn aggregates(
    State(a): State<Arc<Authority>>,
    headers: HeaderMap,
    Query(q): Query<AggregatesQuery>,
) -> ApiResult<Response> {
    let requester = rules::requester(&a, assertion(&headers)?).await?;
    let answer = rules::aggregates_for(&a, &requester, q.after.unwrap_or(0)).await?;
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(answer),
    )
        .into_response())
}
