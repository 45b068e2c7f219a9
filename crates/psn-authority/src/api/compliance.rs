//! Compliance (docs/compliance.md): frameworks and the public status for any reader; evidence,
//! drafts and submissions for a member's gateway (or the operator, naming the member with
//! `?member=`); reviews, withdrawals and lifecycle runs for the operator. Every rule lives in
//! `crate::compliance`; here requests become its calls and its errors become problems.

use super::{bounded_query, ApiError, ApiResult, Body, Gateway, Operator, Reader};
use crate::compliance::{self as rules, Actor, ComplianceError};
use crate::Authority;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use psn_api::{
    CertificateWithdrawal, ComplianceCertificate, ComplianceStatus, EvidenceList, EvidenceView,
    Framework, FrameworkList, LifecycleRun, ReviewDecision, ReviewResult, SubmissionDraft,
    SubmissionList, SubmissionState, SubmissionView,
};
use psn_core::names::MemberId;
use psn_core::problem::ProblemType;
use std::sync::Arc;

/// Body limit of an evidence upload: the file itself, checked against
/// `psn_compliance::MAX_EVIDENCE_BYTES` by the rules (one byte more, so an oversized file gets
/// the rules' clear refusal, not a bare 413, whenever it fits).
const EVIDENCE_BODY_LIMIT: usize = psn_compliance::MAX_EVIDENCE_BYTES as usize + 1;

/// The routes, merged into the API router.
pub(super) fn routes() -> Router<Arc<Authority>> {
    Router::new()
        .route("/v1/compliance/frameworks", get(list))
        .route("/v1/compliance/frameworks/{id}/{version}", get(show))
        .route("/v1/compliance/status", get(status))
        .route(
            "/v1/compliance/evidence",
            get(evidence_list)
                .post(upload)
                .layer(DefaultBodyLimit::max(EVIDENCE_BODY_LIMIT)),
        )
        .route(
            "/v1/compliance/evidence/{sha256}",
            get(evidence_file).delete(remove_evidence),
        )
        .route("/v1/compliance/drafts/{kind}", put(save).get(open_draft))
        .route("/v1/compliance/drafts/{kind}/submit", post(submit))
        .route("/v1/compliance/submissions", get(submissions))
        .route("/v1/compliance/submissions/{id}", get(submission))
        .route("/v1/compliance/submissions/{id}/review", post(review))
        .route("/v1/compliance/certificates/{id}", get(certificate))
        .route("/v1/compliance/certificates/{id}/withdraw", post(withdraw))
        .route("/v1/compliance/lifecycle/run", post(run_lifecycle))
}

impl From<ComplianceError> for ApiError {
    fn from(e: ComplianceError) -> Self {
        match e {
            ComplianceError::Invalid(problems) => {
                Self::new(ProblemType::InvalidRequest, problems.join("; "))
            }
            ComplianceError::NotFound(m) => Self::new(ProblemType::NotFound, m),
            ComplianceError::Forbidden(m) => Self::new(ProblemType::Forbidden, m),
            ComplianceError::Conflict(m) => Self::new(ProblemType::Conflict, m),
            ComplianceError::Evidence(refusal) => {
                let kind = match refusal {
                    psn_compliance::EvidenceRefusal::TooLarge { .. } => ProblemType::BodyTooLarge,
                    psn_compliance::EvidenceRefusal::UnsupportedType(_)
                    | psn_compliance::EvidenceRefusal::TypeMismatch { .. } => {
                        ProblemType::UnsupportedMediaType
                    }
                    _ => ProblemType::InvalidRequest,
                };
                Self::new(kind, refusal.to_string())
            }
            ComplianceError::Store(e) => e.into(),
        }
    }
}

/// The operator (by bearer token) or a member's gateway (by client certificate), as the
/// compliance actor it is.
struct Caller(Actor);

impl FromRequestParts<Arc<Authority>> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<Authority>,
    ) -> Result<Self, Self::Rejection> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            let Operator(name) = Operator::from_request_parts(parts, state).await?;
            Ok(Caller(Actor::Operator(name)))
        } else {
            let Gateway(gateway) = Gateway::from_request_parts(parts, state).await?;
            Ok(Caller(Actor::Member {
                name: format!("gateway:{gateway}"),
                member: gateway.member().clone(),
                can_change: true,
            }))
        }
    }
}

fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::new(ProblemType::InvalidRequest, detail)
}

/// The query's pairs, refusing any name not in `allowed` and any name given twice.
fn params(raw: &RawQuery, allowed: &[&str]) -> ApiResult<Vec<(String, String)>> {
    let pairs = bounded_query(raw)?;
    for (i, (name, _)) in pairs.iter().enumerate() {
        if !allowed.contains(&name.as_str()) {
            let clipped: String = name.chars().take(40).collect();
            return Err(invalid(format!(
                "unknown parameter {clipped:?}; this endpoint takes {}",
                allowed.join(", ")
            )));
        }
        if pairs[..i].iter().any(|(seen, _)| seen == name) {
            return Err(invalid(format!("{name} is given twice")));
        }
    }
    Ok(pairs)
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn member_of(pairs: &[(String, String)]) -> ApiResult<Option<MemberId>> {
    param(pairs, "member")
        .map(|m| m.parse().map_err(|e| invalid(format!("member: {e}"))))
        .transpose()
}

/// The member a read is about: the one named, or the caller's own.
fn read_member(actor: &Actor, named: Option<MemberId>) -> ApiResult<MemberId> {
    match (actor, named) {
        (_, Some(m)) => Ok(m),
        (Actor::Member { member, .. }, None) => Ok(member.clone()),
        _ => Err(invalid("name the member (member=GB/LA/...)")),
    }
}

async fn list(State(a): State<Arc<Authority>>, _reader: Reader) -> Json<FrameworkList> {
    Json(FrameworkList {
        frameworks: a
            .compliance
            .frameworks()
            .iter()
            .map(psn_compliance::summary)
            .collect(),
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

/// `expiring=30d`: a window of 1 to 400 days.
fn expiring_window(text: &str) -> ApiResult<time::Duration> {
    let days = text
        .strip_suffix('d')
        .and_then(|d| d.parse::<i64>().ok())
        .filter(|d| (0..=400).contains(d))
        .ok_or_else(|| invalid("expiring: a number of days from 0 to 400, e.g. 30d"))?;
    Ok(time::Duration::days(days))
}

async fn status(
    State(a): State<Arc<Authority>>,
    _reader: Reader,
    raw: RawQuery,
) -> ApiResult<Json<ComplianceStatus>> {
    let pairs = params(&raw, &["member", "expiring"])?;
    let member = member_of(&pairs)?;
    let expiring = param(&pairs, "expiring").map(expiring_window).transpose()?;
    Ok(Json(rules::status(&a, member.as_ref(), expiring).await?))
}

async fn upload(
    State(a): State<Arc<Authority>>,
    Caller(actor): Caller,
    raw: RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<EvidenceView>)> {
    let pairs = params(&raw, &["member", "name"])?;
    let member = member_of(&pairs)?;
    let name = param(&pairs, "name").ok_or_else(|| invalid("name the file (name=report.pdf)"))?;
    let declared = match headers.get(header::CONTENT_TYPE) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| invalid("the Content-Type header is not text"))?,
        ),
    };
    let view = rules::upload_evidence(&a, &actor, member.as_ref(), name, declared, &body).await?;
    tracing::info!(actor = actor.name(), sha256 = %view.sha256, bytes = view.bytes, "evidence stored");
    Ok((StatusCode::CREATED, Json(view)))
}

async fn evidence_list(
    State(a): State<Arc<Authority>>,
    Caller(actor): Caller,
    raw: RawQuery,
) -> ApiResult<Json<EvidenceList>> {
    let pairs = params(&raw, &["member"])?;
    let member = read_member(&actor, member_of(&pairs)?)?;
    Ok(Json(rules::evidence(&a, &actor, &member).await?))
}

async fn evidence_file(
    State(a): State<Arc<Authority>>,
    Caller(actor): Caller,
    Path(sha256): Path<String>,
    raw: RawQuery,
) -> ApiResult<Response> {
    let pairs = params(&raw, &["member"])?;
    let member = read_member(&actor, member_of(&pairs)?)?;
    let (view, content) = rules::evidence_file(&a, &actor, &member, &sha256).await?;
    let media = HeaderValue::from_str(&view.media_type)
        .map_err(|_| ApiError::new(ProblemType::Internal, "a stored media type is not a header"))?;
    // The name was checked at upload (no quotes, separators or controls); it is still sent
    // as an attachment so no browser renders evidence in the authority's origin.
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", view.name))
        .unwrap_or(HeaderValue::from_static("attachment"));
    Ok((
        [
            (header::CONTENT_TYPE, media),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        content,
    )
        .into_response())
}

async fn remove_evidence(
    State(a): State<Arc<Authority>>,
    Caller(actor): Caller,
    Path(sha256): Path<String>,
    raw: RawQuery,
) -> ApiResult<Json<EvidenceView>> {
    let pairs = params(&raw, &["member"])?;
    let member = member_of(&pairs)?;
    Ok(Json(
        rules::remove_evidence(&a, &actor, member.as_ref(), &sha256).await?,
    ))
}

async fn save(
    State(a): State<Arc<Authority>>,
    Caller(actor): Caller,
    Path(kind): Path<String>,
    raw: RawQuery,
    Body(draft): Body<SubmissionDraft>,
) -> ApiResult<Json<SubmissionView>> {
    let pairs = params(&raw, &["member"])?;
    let member = member_of(&pairs)?;
    Ok(Json(
        rules::save(&a, &actor, member.as_ref(), &kind, &draft).await?,
    ))
}

async fn open_draft(
    State(a): State<Arc<Authority>>,
    Caller(actor): Caller,
    Path(kind): Path<String>,
    raw: RawQuery,
) -> ApiResult<Json<SubmissionView>> {
    let pairs = params(&raw, &["member"])?;
    let member = read_member(&actor, member_of(&pairs)?)?;
    rules::open_submission(&a, &actor, &member, &kind)
        .await?
        .map(Json)
        .ok_or_else(|| {
            let clipped: String = kind.chars().take(40).collect();
            ApiError::new(
                ProblemType::NotFound,
                format!("{member} has no open {clipped:?} submission"),
            )
        })
}

async fn submit(
    State(a): State<Arc<Authority>>,
    Caller(actor): Caller,
    Path(kind): Path<String>,
    raw: RawQuery,
) -> ApiResult<Json<SubmissionView>> {
    let pairs = params(&raw, &["member"])?;
    let member = member_of(&pairs)?;
    Ok(Json(
        rules::submit(&a, &actor, member.as_ref(), &kind).await?,
    ))
}

async fn submissions(
    State(a): State<Arc<Authority>>,
    Caller(actor): Caller,
    raw: RawQuery,
) -> ApiResult<Json<SubmissionList>> {
    let pairs = params(&raw, &["member", "state"])?;
    let member = member_of(&pairs)?;
    let state = param(&pairs, "state")
        .map(|s| {
            serde_json::from_value::<SubmissionState>(serde_json::Value::String(s.to_owned()))
                .map_err(|_| invalid("state: draft, submitted, returned, certified or refused"))
        })
        .transpose()?;
    Ok(Json(SubmissionList {
        submissions: rules::submissions(&a, &actor, member.as_ref(), state).await?,
    }))
}

async fn submission(
    State(a): State<Arc<Authority>>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SubmissionView>> {
    Ok(Json(rules::submission(&a, &actor, &id).await?))
}

async fn review(
    State(a): State<Arc<Authority>>,
    Operator(name): Operator,
    Path(id): Path<String>,
    Body(decision): Body<ReviewDecision>,
) -> ApiResult<Json<ReviewResult>> {
    let decided = rules::review(&a, &Actor::Operator(name), &id, &decision).await?;
    Ok(Json(ReviewResult {
        submission: decided.submission,
        certificate: decided.certificate,
    }))
}

async fn certificate(
    State(a): State<Arc<Authority>>,
    _reader: Reader,
    Path(id): Path<String>,
) -> ApiResult<Json<ComplianceCertificate>> {
    a.store.certificate(&id).await?.map(Json).ok_or_else(|| {
        let clipped: String = id.chars().take(40).collect();
        ApiError::new(ProblemType::NotFound, format!("no certificate {clipped:?}"))
    })
}

async fn withdraw(
    State(a): State<Arc<Authority>>,
    Operator(name): Operator,
    Path(id): Path<String>,
    Body(withdrawal): Body<CertificateWithdrawal>,
) -> ApiResult<Json<ComplianceCertificate>> {
    Ok(Json(
        rules::withdraw(&a, &Actor::Operator(name), &id, &withdrawal.reason).await?,
    ))
}

async fn run_lifecycle(
    State(a): State<Arc<Authority>>,
    Operator(_): Operator,
) -> ApiResult<Json<LifecycleRun>> {
    let at = a.compliance.now();
    let report = rules::tick(&a).await?;
    Ok(Json(LifecycleRun {
        at,
        expired: report.expired,
        reminders: report.reminders,
        holds_changed: report.holds_changed,
        // The authority publishes at start, so there is always a current version.
        config_version: a.publisher.current().map_or(0, |p| p.version),
    }))
}
