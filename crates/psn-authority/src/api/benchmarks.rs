//! Benchmarks (docs/benchmarks.md): metric definitions, the peer model, reports, peers and
//! returns for readers; returns and saved peer groups for a member's gateway. Every rule lives
//! in `crate::benchmarks`; here requests become its calls and its errors become problems.

use super::{bounded_query, ApiError, ApiResult, Body, Gateway, Reader};
use crate::benchmarks::{self as bench, BenchmarkError, Submission, Viewer};
use crate::Authority;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use psn_api::{
    BenchmarkReport, MetricSet, PeerGroupList, PeerGroupSet, PeerGroupView, PeerList, PeerModel,
    ReportRequest, ReturnBatch, ReturnList, SubmitOutcome,
};
use psn_core::names::{GatewayId, MemberId};
use psn_core::problem::ProblemType;
use std::sync::Arc;
use time::OffsetDateTime;

/// Largest returns upload: the CSV limit of `psn_benchmark::returns` and room for the JSON
/// form of as many rows.
pub(super) const RETURNS_BODY_LIMIT: usize = 4 * psn_benchmark::returns::MAX_CSV_BYTES;

/// The routes, merged into the API router.
pub(super) fn routes() -> Router<Arc<Authority>> {
    Router::new()
        .route("/v1/benchmarks/metrics", get(metrics))
        .route("/v1/benchmarks/model", get(model))
        .route("/v1/benchmarks/report", get(report))
        .route("/v1/benchmarks/report.csv", get(report_csv))
        .route("/v1/benchmarks/peers", get(peers))
        .route("/v1/benchmarks/returns", get(returns))
        .route("/v1/benchmarks/returns.csv", get(returns_csv))
        .route(
            "/v1/gateway/benchmarks/returns",
            post(submit).layer(DefaultBodyLimit::max(RETURNS_BODY_LIMIT)),
        )
        .route("/v1/gateway/benchmarks/peer-groups", get(list_groups))
        .route(
            "/v1/gateway/benchmarks/peer-groups/{name}",
            put(save_group).delete(delete_group),
        )
}

impl From<BenchmarkError> for ApiError {
    fn from(e: BenchmarkError) -> Self {
        match e {
            BenchmarkError::Invalid(m) => Self::new(ProblemType::InvalidRequest, m),
            BenchmarkError::NotFound(m) => Self::new(ProblemType::NotFound, m),
            BenchmarkError::Forbidden(m) => Self::new(ProblemType::Forbidden, m),
            BenchmarkError::Store(e) => e.into(),
        }
    }
}

fn viewer(reader: &Reader) -> Viewer {
    match reader {
        Reader::Operator => Viewer::Operator,
        Reader::Gateway(gateway) => Viewer::Member(gateway.member().clone()),
    }
}

fn actor(gateway: &GatewayId) -> String {
    format!("gateway:{gateway}")
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::new(ProblemType::InvalidRequest, detail)
}

/// The member a read is about: `?member=` (the operator must name one; a gateway may name
/// only its own member, which is also the default).
fn member_param(reader: &Reader, raw: &RawQuery) -> ApiResult<MemberId> {
    let pairs = bounded_query(raw)?;
    let named = match pairs.as_slice() {
        [] => None,
        [(name, value)] if name == "member" => Some(
            value
                .parse::<MemberId>()
                .map_err(|e| invalid(format!("member: {e}")))?,
        ),
        _ => return Err(invalid("the only parameter is member")),
    };
    match (viewer(reader), named) {
        (Viewer::Member(own), None) => Ok(own),
        (Viewer::Member(own), Some(named)) if named == own => Ok(own),
        (Viewer::Member(own), Some(named)) => Err(ApiError::new(
            ProblemType::Forbidden,
            format!("{own} may read only its own benchmarks, not {named}'s"),
        )),
        (Viewer::Operator, Some(named)) => Ok(named),
        (Viewer::Operator, None) => Err(invalid("name the member (member=GB/LA/...)")),
    }
}

async fn metrics(State(a): State<Arc<Authority>>, _reader: Reader) -> Json<MetricSet> {
    Json(bench::metrics(&a).clone())
}

async fn model(State(a): State<Arc<Authority>>, _reader: Reader) -> Json<PeerModel> {
    Json(bench::model(&a).clone())
}

async fn build_report(
    a: &Authority,
    reader: &Reader,
    raw: &RawQuery,
) -> ApiResult<BenchmarkReport> {
    let pairs = bounded_query(raw)?;
    let request = ReportRequest::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(invalid)?;
    Ok(bench::report(a, &viewer(reader), &request, OffsetDateTime::now_utc()).await?)
}

async fn report(
    State(a): State<Arc<Authority>>,
    reader: Reader,
    raw: RawQuery,
) -> ApiResult<Json<BenchmarkReport>> {
    Ok(Json(build_report(&a, &reader, &raw).await?))
}

fn csv_attachment(file: &str, body: String) -> ApiResult<Response> {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file}\""))
        .map_err(|_| ApiError::new(ProblemType::Internal, "a file name is not a header value"))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// Only letters, digits and `-` of a process id or year, for a file name.
fn file_part(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

async fn report_csv(
    State(a): State<Arc<Authority>>,
    reader: Reader,
    raw: RawQuery,
) -> ApiResult<Response> {
    let report = build_report(&a, &reader, &raw).await?;
    let file = format!(
        "benchmark-{}-{}.csv",
        file_part(&report.process.id),
        report.year
    );
    csv_attachment(&file, psn_benchmark::export::report_csv(&report))
}

async fn peers(
    State(a): State<Arc<Authority>>,
    reader: Reader,
    raw: RawQuery,
) -> ApiResult<Json<PeerList>> {
    let member = member_param(&reader, &raw)?;
    Ok(Json(bench::peers(&a, &member).await?))
}

async fn returns(
    State(a): State<Arc<Authority>>,
    reader: Reader,
    raw: RawQuery,
) -> ApiResult<Json<ReturnList>> {
    let member = member_param(&reader, &raw)?;
    Ok(Json(bench::returns(&a, &member).await?))
}

async fn returns_csv(
    State(a): State<Arc<Authority>>,
    reader: Reader,
    raw: RawQuery,
) -> ApiResult<Response> {
    let member = member_param(&reader, &raw)?;
    let list = bench::returns(&a, &member).await?;
    let file = format!("benchmark-returns-{}.csv", file_part(&member.to_string()));
    csv_attachment(&file, psn_benchmark::export::returns_csv(&list))
}

/// `POST /v1/gateway/benchmarks/returns[?dry_run=true]` with a CSV (`text/csv`) or JSON
/// ([`ReturnBatch`]) body. 200 with the outcome when stored (or when a dry run passes), 422
/// with the same outcome, every row's verdict, when anything is refused or awaits confirmation.
async fn submit(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
    raw: RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let pairs = bounded_query(&raw)?;
    let dry_run = match pairs.as_slice() {
        [] => false,
        [(name, value)] if name == "dry_run" => match value.as_str() {
            "true" => true,
            "false" => false,
            _ => return Err(invalid("dry_run is true or false")),
        },
        _ => return Err(invalid("the only parameter is dry_run")),
    };
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let submission = match media.as_deref() {
        Some("text/csv") => Submission::Csv(&body),
        Some("application/json") => {
            let batch: ReturnBatch = serde_json::from_slice(&body)
                .map_err(|e| invalid(format!("the returns are not a valid batch: {e}")))?;
            Submission::Batch(batch)
        }
        _ => {
            return Err(ApiError::new(
                ProblemType::UnsupportedMediaType,
                "send the returns as text/csv or application/json",
            ))
        }
    };
    let outcome = bench::submit(
        &a,
        gateway.member(),
        &actor(&gateway),
        submission,
        dry_run,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(outcome_response(outcome))
}

fn outcome_response(outcome: SubmitOutcome) -> Response {
    let status = if outcome.refused == 0 && outcome.needs_confirmation == 0 {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (status, Json(outcome)).into_response()
}

async fn list_groups(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
) -> ApiResult<Json<PeerGroupList>> {
    Ok(Json(bench::peer_groups(&a, gateway.member()).await?))
}

async fn save_group(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
    Path(name): Path<String>,
    Body(group): Body<PeerGroupSet>,
) -> ApiResult<Json<PeerGroupView>> {
    Ok(Json(
        bench::save_peer_group(
            &a,
            gateway.member(),
            &actor(&gateway),
            &name,
            &group.members,
        )
        .await?,
    ))
}

async fn delete_group(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    bench::delete_peer_group(&a, gateway.member(), &actor(&gateway), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
