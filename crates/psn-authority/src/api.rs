//! The authority's HTTPS API. Operators authenticate with a bearer token; gateways with the client
//! certificate the CA issued them; enrolling gateways with their one-time token. Every error is an
//! RFC 9457 problem with a stable type, and bad input never changes anything.

use crate::catalogue::EntryError;
use crate::filing::{Filing, UnknownClient};
use crate::publish::Published;
use crate::report::ReportError;
use crate::store::StoreError;
use crate::Authority;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use psn_api::*;
use psn_core::aggregate::{AggregateBatch, AggregateCursor, AggregateRow};
use psn_core::config::{MemberStatus, CONFIG_MEDIA_TYPE};
use psn_core::config_delta::DELTA_MEDIA_TYPE;
use psn_core::names::{
    GatewayCode, GatewayId, MemberClass, MemberId, NameError, ServiceId, SubsystemId,
};
use psn_core::problem::{Problem, ProblemType, PROBLEM_JSON};
use psn_core::token::{secret_hash, EnrolmentToken};
use psn_pki::CertificateInfo;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// The OpenAPI document, served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Default request body limit; imports get a larger one.
const BODY_LIMIT: usize = 256 * 1024;
/// Import body limit: national scale (tens of thousands of members) in one request.
const IMPORT_BODY_LIMIT: usize = 32 * 1024 * 1024;
/// Members in one import.
const MAX_IMPORT: usize = 100_000;
/// Longest a configuration request may wait for a new version.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Longest enrolment token lifetime.
const MAX_TOKEN_TTL: Duration = Duration::from_secs(30 * 86_400);
/// Longest name or free-text field.
const MAX_TEXT: usize = 512;
/// Aggregate batch body limit: a batch may carry `MAX_BATCH_ROWS` (5,000) rows, each with two
/// histograms, which can exceed the default limit many times over.
const AGGREGATE_BODY_LIMIT: usize = 16 * 1024 * 1024;
/// Largest page of `/v1/processes` (the whole taxonomy is about 1,600).
const MAX_PROCESS_PAGE: u64 = 500;
/// Largest offset into `/v1/processes`: past the taxonomy's size, yet small enough to bound.
const MAX_PROCESS_OFFSET: u64 = 100_000;
/// Longest `/v1/processes` search text.
const MAX_PROCESS_SEARCH: usize = 200;

/// The peer certificate chain of the TLS connection a request arrived on.
#[derive(Clone, Debug, Default)]
pub struct PeerCertificates(pub Arc<Vec<Vec<u8>>>);

/// An error response: an RFC 9457 problem.
#[derive(Debug)]
pub struct ApiError(pub Box<Problem>);

impl ApiError {
    fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        Self(Box::new(Problem::new(kind, detail).with_hop("authority")))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.0).unwrap_or_default();
        (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
            body,
        )
            .into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => Self::new(ProblemType::NotFound, m),
            StoreError::Conflict(m) => Self::new(ProblemType::Conflict, m),
            StoreError::Refused(m) => Self::new(ProblemType::Forbidden, m),
            StoreError::Invalid(m) => Self::new(ProblemType::InvalidRequest, m),
            other => {
                tracing::error!(error = %other, "storage failure");
                Self::new(
                    ProblemType::Unavailable,
                    "the registry database is unavailable; try again",
                )
            }
        }
    }
}

impl From<crate::publish::PublishError> for ApiError {
    fn from(e: crate::publish::PublishError) -> Self {
        tracing::error!(error = %e, "publishing failed");
        let detail = match e {
            crate::publish::PublishError::NoDocument(_)
            | crate::publish::PublishError::Stopped(_) => {
                "the configuration's whole document is not available; fetch it again"
            }
            _ => "the change is saved, but publishing the configuration failed; it will be retried",
        };
        Self::new(ProblemType::Internal, detail)
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// A JSON body whose rejections are problems.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                ProblemType::UnsupportedMediaType,
                "send the body as application/json",
            )),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::new(
                    ProblemType::BodyTooLarge,
                    "the request body is over this endpoint's limit",
                ))
            }
            Err(e) => Err(ApiError::new(ProblemType::InvalidRequest, e.body_text())),
        }
    }
}

/// A query string whose rejections are problems.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e: QueryRejection| ApiError::new(ProblemType::InvalidRequest, e.body_text()))
    }
}

/// An authenticated operator.
pub struct Operator(pub String);

impl FromRequestParts<Arc<Authority>> for Operator {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<Authority>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or_else(|| {
            ApiError::new(
                ProblemType::Unauthenticated,
                "send the operator token as Authorization: Bearer <token>",
            )
        })?;
        match state.store.operator_by_token(&secret_hash(token)).await? {
            Some(name) => Ok(Operator(format!("operator:{name}"))),
            None => Err(ApiError::new(
                ProblemType::Unauthenticated,
                "the operator token is not recognised",
            )),
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() && token.len() <= 512)
        .then_some(token.trim())
}

/// An authenticated gateway: its certificate chains to the network CA (checked in the TLS
/// handshake), names a gateway, and is known, unrevoked and of an active member.
pub struct Gateway(pub GatewayId);

impl FromRequestParts<Arc<Authority>> for Gateway {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<Authority>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<PeerCertificates>()
            .cloned()
            .unwrap_or_default();
        let Some(leaf) = peer.0.first() else {
            return Err(ApiError::new(
                ProblemType::Unauthenticated,
                "this endpoint requires a gateway client certificate",
            ));
        };
        let info = CertificateInfo::from_der(leaf)
            .map_err(|e| ApiError::new(ProblemType::Unauthenticated, e.to_string()))?;
        let id = psn_pki::gateway_identity(&info).ok_or_else(|| {
            ApiError::new(
                ProblemType::Unauthenticated,
                "the client certificate does not name a gateway",
            )
        })?;
        match state.store.gateway_access(&id, &info.serial).await? {
            Ok(()) => Ok(Gateway(id)),
            Err(reason) => Err(ApiError::new(ProblemType::GatewayRevoked, reason)),
        }
    }
}

/// Either an operator or a gateway: who may read the configuration.
pub enum Reader {
    /// The network operator (by bearer token).
    Operator,
    /// A member's gateway (by client certificate).
    Gateway(GatewayId),
}

impl FromRequestParts<Arc<Authority>> for Reader {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<Authority>,
    ) -> Result<Self, Self::Rejection> {
        if bearer(&parts.headers).is_some() {
            Operator::from_request_parts(parts, state)
                .await
                .map(|_| Reader::Operator)
        } else {
            Gateway::from_request_parts(parts, state)
                .await
                .map(|Gateway(id)| Reader::Gateway(id))
        }
    }
}

pub(crate) mod access;
mod benchmarks;
mod checkpoints;
mod compliance;
mod documents;
mod federation;

/// The API router.
pub fn router(authority: Arc<Authority>) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/metrics", get(crate::metrics::endpoint))
        .route("/openapi.json", get(openapi))
        .route("/v1/config", get(config))
        .route("/v1/config/delta", get(config_delta))
        .route("/v1/config/{version}", get(config_version))
        .route("/v1/classes", get(list_classes).post(put_class))
        .route("/v1/members", get(list_members).post(add_member))
        .route(
            "/v1/members/import",
            post(import_members).layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT)),
        )
        .route("/v1/members/{network}/{class}/{code}", get(show_member))
        .route(
            "/v1/members/{network}/{class}/{code}/suspend",
            post(suspend_member),
        )
        .route(
            "/v1/members/{network}/{class}/{code}/reinstate",
            post(reinstate_member),
        )
        .route(
            "/v1/members/{network}/{class}/{code}/subsystems",
            post(add_subsystem),
        )
        .route(
            "/v1/members/{network}/{class}/{code}/gateways/{gateway}/revoke",
            post(revoke_gateway),
        )
        .route("/v1/gateways", get(list_gateways))
        .route("/v1/tokens", post(create_token))
        .route("/v1/events", get(events))
        .route("/v1/enrol", post(enrol))
        .route("/v1/gateway/renew", post(renew))
        .route("/v1/gateway/address", put(set_address))
        .route("/v1/gateway/services", post(publish_service))
        .route("/v1/gateway/services/remove", post(withdraw_service))
        .route("/v1/gateway/services/sla", post(declare_sla))
        .route("/v1/gateway/services/sla/remove", post(withdraw_sla))
        .route(
            "/v1/catalogue/services/{network}/{class}/{code}/{subsystem}/{service}",
            get(catalogue_entry),
        )
        .route("/v1/catalogue/search", get(catalogue_search))
        .route("/v1/catalogue/partners", get(catalogue_partners))
        .route(
            "/v1/catalogue/services/{network}/{class}/{code}/{subsystem}/{service}/openapi.json",
            get(documents::get_openapi),
        )
        .route(
            "/v1/gateway/services/openapi",
            put(documents::put_openapi).layer(DefaultBodyLimit::max(documents::UPLOAD_BODY_LIMIT)),
        )
        .route(
            "/v1/gateway/services/openapi/remove",
            post(documents::remove_openapi),
        )
        .route("/v1/catalogue/export.jsonld", get(documents::export_jsonld))
        .route("/v1/catalogue/export.csv", get(documents::export_csv))
        .route("/v1/processes", get(list_processes))
        .route("/v1/processes/{id}", get(show_process))
        .route("/v1/slas", get(list_slas))
        .route("/v1/slas/report", get(sla_report))
        .route("/v1/gateway/aggregates/cursor", get(aggregate_cursor))
        .route(
            "/v1/gateway/aggregates",
            post(push_aggregates).layer(DefaultBodyLimit::max(AGGREGATE_BODY_LIMIT)),
        )
        .route("/v1/aggregates/gateways", get(aggregate_deliveries))
        .route(
            "/v1/gateway/checkpoint",
            get(checkpoints::own_checkpoint)
                .put(checkpoints::push_checkpoint)
                .layer(DefaultBodyLimit::max(
                    psn_core::checkpoint::MAX_CHECKPOINT_BYTES,
                )),
        )
        .route(
            "/v1/members/{network}/{class}/{code}/gateways/{gateway}/checkpoint",
            get(checkpoints::gateway_checkpoint),
        )
        .route("/v1/gateway/grants", get(list_grants).post(add_grant))
        .route("/v1/gateway/grants/revoke", post(revoke_grant))
        .merge(access::routes())
        .merge(benchmarks::routes())
        .merge(compliance::routes())
        .merge(federation::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            authority.clone(),
            crate::metrics::track,
        ))
        .fallback(
            |State(a): State<Arc<Authority>>, method: axum::http::Method| async move {
                a.metrics.unmatched(method.as_str(), 404);
                ApiError::new(ProblemType::NotFound, "no such endpoint; see /openapi.json")
            },
        )
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                ProblemType::MethodNotAllowed,
                "this endpoint does not accept that method; see /openapi.json",
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(drain_unread_body))
        .with_state(authority)
}

/// The most of a request body left unread by its handler that the authority still reads, and
/// for how long, before it answers.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(30);

/// A request body shared between the handler and [`drain_unread_body`].
struct SharedBody(Arc<std::sync::Mutex<Option<axum::body::Body>>>);

impl SharedBody {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<axum::body::Body>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl hyper::body::Body for SharedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        match self.slot().as_mut() {
            Some(body) => std::pin::Pin::new(body).poll_frame(cx),
            None => std::task::Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.slot().as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.slot()
            .as_ref()
            .map_or_else(|| hyper::body::SizeHint::with_exact(0), |b| b.size_hint())
    }
}

/// Reads what the handler left of the request body (up to [`DRAIN_LIMIT`] within
/// [`DRAIN_TIME`]) before the answer goes out. A request refused before its body is read (no
/// credentials, a bad path, a body over the limit) would otherwise have its connection closed
/// under a client still sending, which then sees a reset instead of the problem document.
async fn drain_unread_body(request: Request, next: axum::middleware::Next) -> Response {
    use futures_util::StreamExt;
    use hyper::body::Body as _;
    let (parts, body) = request.into_parts();
    let shared = Arc::new(std::sync::Mutex::new(Some(body)));
    let handed = axum::body::Body::new(SharedBody(shared.clone()));
    let response = next.run(Request::from_parts(parts, handed)).await;
    let left = SharedBody(shared).slot().take();
    if let Some(body) = left.filter(|b| !b.is_end_stream()) {
        let mut chunks = body.into_data_stream();
        let mut read = 0;
        let drained = tokio::time::timeout(DRAIN_TIME, async {
            while let Some(Ok(chunk)) = chunks.next().await {
                read += chunk.len();
                if read > DRAIN_LIMIT {
                    break;
                }
            }
        });
        // Past either bound the connection closes after the answer, as it would have.
        let _ = drained.await;
    }
    response
}

async fn health(State(a): State<Arc<Authority>>) -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok".into(),
        network: a.network.to_string(),
        config_version: a.publisher.current().map(|p| p.version),
    })
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigQuery {
    wait: Option<u64>,
}

fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

async fn config(
    State(a): State<Arc<Authority>>,
    reader: Reader,
    headers: HeaderMap,
    Query(q): Query<ConfigQuery>,
) -> ApiResult<Response> {
    let polled = long_poll(&a, q.wait, |current| {
        (!etag_matches(&headers, &current.etag)).then(|| current.clone())
    })
    .await?;
    let answered = match polled {
        Polled::Changed(current) => Answered {
            response: (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static(CONFIG_MEDIA_TYPE),
                    ),
                    (header::ETAG, etag_of(&current)),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                ],
                current.document().await?,
            )
                .into_response(),
            version: current.version,
        },
        Polled::Unchanged(answered) => answered,
    };
    answered.record(&a, &reader).await
}

fn etag_of(published: &Published) -> HeaderValue {
    HeaderValue::from_str(&published.etag).unwrap_or(HeaderValue::from_static("\"v0\""))
}

/// A long poll's answer and the configuration version it leaves the caller holding.
struct Answered {
    response: Response,
    version: u64,
}

impl Answered {
    /// Notes which version a gateway now holds (docs/ui.md "Gateways' configuration"), then
    /// hands back the response. A gateway's answer stands even if the note cannot be written:
    /// the fetch itself succeeded, and the next poll writes it again.
    async fn record(self, a: &Authority, reader: &Reader) -> ApiResult<Response> {
        if let Reader::Gateway(gateway) = reader {
            let at = OffsetDateTime::now_utc();
            if let Err(e) = a.store.record_config_fetch(gateway, self.version, at).await {
                tracing::warn!(%gateway, error = %e, "could not record the gateway's configuration fetch");
            }
        }
        Ok(self.response)
    }
}

/// Long poll on the published configuration: asks `answer` about the latest version until it
/// answers, the `wait` (seconds, at most [`MAX_WAIT`]; more is refused) ends or the authority
/// stops; then `304` with the latest version's ETag. Either way the caller now holds the latest
/// version.
async fn long_poll<T>(
    a: &Authority,
    wait: Option<u64>,
    mut answer: impl FnMut(&Arc<Published>) -> Option<T>,
) -> ApiResult<Polled<T>> {
    let wait = Duration::from_secs(wait.unwrap_or(0));
    if wait > MAX_WAIT {
        return Err(ApiError::new(
            ProblemType::InvalidRequest,
            format!("wait must be from 0 to {} seconds", MAX_WAIT.as_secs()),
        ));
    }
    let deadline = tokio::time::Instant::now() + wait;
    let mut updates = a.publisher.subscribe();
    loop {
        let current = updates
            .borrow_and_update()
            .clone()
            .ok_or_else(nothing_published)?;
        if let Some(answer) = answer(&current) {
            return Ok(Polled::Changed(answer));
        }
        if !newer_published(a, &mut updates, deadline).await {
            return Ok(Polled::Unchanged(Answered {
                response: (
                    StatusCode::NOT_MODIFIED,
                    [(header::ETAG, etag_of(&current))],
                )
                    .into_response(),
                version: current.version,
            }));
        }
    }
}

/// How a long poll ended: with what its `answer` gave for a version, or with `304` for the
/// version the caller holds.
enum Polled<T> {
    Changed(T),
    Unchanged(Answered),
}

/// Long poll: waits until a newer version is published, `deadline` passes or the authority
/// stops, and says whether a newer version was published.
async fn newer_published(
    a: &Authority,
    updates: &mut tokio::sync::watch::Receiver<Option<Arc<Published>>>,
    deadline: tokio::time::Instant,
) -> bool {
    let mut stopping = a.stopping.clone();
    tokio::select! {
        changed = tokio::time::timeout_at(deadline, updates.changed()) => matches!(changed, Ok(Ok(()))),
        _ = stopping.wait_for(|stop| *stop) => false,
    }
}

fn nothing_published() -> ApiError {
    ApiError::new(
        ProblemType::Unavailable,
        "no configuration has been published yet",
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeltaQuery {
    from: u64,
    wait: Option<u64>,
}

/// The changes from the version a gateway holds to the latest (DESIGN.md "delta at scale"):
/// `304` while the caller is current (after the long-poll `wait`), `404` when no delta from that
/// version is held, and the caller should fetch `/v1/config` whole.
async fn config_delta(
    State(a): State<Arc<Authority>>,
    reader: Reader,
    Query(q): Query<DeltaQuery>,
) -> ApiResult<Response> {
    let polled = long_poll(&a, q.wait, |current| {
        (current.version != q.from).then_some(current.version)
    })
    .await?;
    let answered = match polled {
        Polled::Changed(latest) => delta_response(&a, q.from, latest)?,
        Polled::Unchanged(answered) => answered,
    };
    answered.record(&a, &reader).await
}

/// The delta from `from` to the latest version, which the caller then holds.
fn delta_response(a: &Authority, from: u64, latest: u64) -> ApiResult<Answered> {
    let delta = a
        .publisher
        .delta_since(from)
        .map_err(|e| ApiError::new(ProblemType::Internal, format!("configuration delta: {e}")))?
        .ok_or_else(|| {
            ApiError::new(
                ProblemType::NotFound,
                format!(
                    "no delta from configuration version {from} to version {latest} is held; fetch /v1/config"
                ),
            )
        })?;
    let response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(DELTA_MEDIA_TYPE),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        delta.json,
    )
        .into_response();
    Ok(Answered {
        response,
        version: delta.version,
    })
}

async fn config_version(
    State(a): State<Arc<Authority>>,
    _reader: Reader,
    Path(version): Path<String>,
) -> ApiResult<Response> {
    let version: u64 = version.parse().map_err(|_| {
        ApiError::new(
            ProblemType::InvalidRequest,
            "version must be a positive whole number",
        )
    })?;
    let record = a.store.config_version(version).await?;
    let stored = record.and_then(|r| r.document).map(axum::body::Bytes::from);
    // A version worked out from the last one has its document stored just after it is
    // announced; until then the publisher serves it.
    let document = match stored {
        Some(document) => Some(document),
        None => match a.publisher.current().filter(|c| c.version == version) {
            Some(current) => Some(current.document().await?),
            None => None,
        },
    };
    match document {
        Some(document) => {
            Ok(([(header::CONTENT_TYPE, CONFIG_MEDIA_TYPE)], document).into_response())
        }
        None => Err(ApiError::new(
            ProblemType::NotFound,
            format!("configuration version {version} is not held"),
        )),
    }
}

async fn list_classes(
    State(a): State<Arc<Authority>>,
    _op: Operator,
) -> ApiResult<axum::Json<ClassList>> {
    Ok(axum::Json(ClassList {
        items: a.store.classes().await?.iter().cloned().collect(),
    }))
}

async fn put_class(
    State(a): State<Arc<Authority>>,
    Operator(actor): Operator,
    Body(class): Body<MemberClass>,
) -> ApiResult<(StatusCode, axum::Json<ClassList>)> {
    text_field("description", class.description())?;
    if class.code_pattern().chars().any(char::is_control) {
        return Err(ApiError::new(
            ProblemType::InvalidRequest,
            "code_pattern must not contain control characters",
        ));
    }
    a.store.put_class(&actor, &class).await?;
    a.publisher.publish().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ClassList {
            items: a.store.classes().await?.iter().cloned().collect(),
        }),
    ))
}

/// A name or free-text field: 1 to [`MAX_TEXT`] characters (not bytes: the OpenAPI document's
/// `maxLength` counts characters), not only white space, without control characters.
fn text_field(name: &str, value: &str) -> ApiResult<()> {
    if value.trim().is_empty()
        || value.chars().count() > MAX_TEXT
        || value.chars().any(char::is_control)
    {
        return Err(ApiError::new(
            ProblemType::InvalidRequest,
            format!("{name} must be 1 to {MAX_TEXT} characters of text without control characters"),
        ));
    }
    Ok(())
}

async fn validate_member(a: &Authority, member: &NewMember) -> ApiResult<()> {
    if member.id.network() != &a.network {
        return Err(ApiError::new(
            ProblemType::InvalidRequest,
            format!(
                "member {} belongs to network {}, this authority runs {}",
                member.id,
                member.id.network(),
                a.network
            ),
        ));
    }
    a.store
        .classes()
        .await?
        .validate(&member.id)
        .map_err(|e| ApiError::new(ProblemType::InvalidRequest, e.to_string()))?;
    text_field("name", &member.name)?;
    for (field, value) in [("sector", &member.sector), ("region", &member.region)] {
        if let Some(value) = value {
            text_field(field, value)?;
        }
    }
    Ok(())
}

async fn add_member(
    State(a): State<Arc<Authority>>,
    Operator(actor): Operator,
    Body(member): Body<NewMember>,
) -> ApiResult<(StatusCode, axum::Json<MemberChanged>)> {
    validate_member(&a, &member).await?;
    let view = a.store.add_member(&actor, &member).await?;
    let published = a.publisher.publish().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(MemberChanged {
            member: view,
            config_version: published.version,
        }),
    ))
}

async fn import_members(
    State(a): State<Arc<Authority>>,
    Operator(actor): Operator,
    Body(request): Body<ImportRequest>,
) -> ApiResult<axum::Json<ImportReport>> {
    if request.members.len() > MAX_IMPORT {
        return Err(ApiError::new(
            ProblemType::BodyTooLarge,
            format!("at most {MAX_IMPORT} members per import"),
        ));
    }
    let mut accepted = Vec::with_capacity(request.members.len());
    let mut rejected = Vec::new();
    for member in request.members {
        match validate_member(&a, &member).await {
            Ok(()) => accepted.push(member),
            Err(ApiError(problem)) => rejected.push(ImportRejection {
                id: member.id.to_string(),
                reason: problem.detail.unwrap_or(problem.title),
            }),
        }
    }
    let (created, existing) = a.store.import_members(&actor, &accepted).await?;
    let published = a.publisher.publish().await?;
    index_changes(&a).await;
    Ok(axum::Json(ImportReport {
        created,
        existing,
        rejected,
        config_version: published.version,
    }))
}

/// Page size and offset of a plain list.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    limit: Option<u64>,
    offset: Option<u64>,
}

impl PageQuery {
    /// Limit (default 100, 1 to 10,000) and offset.
    fn checked(&self) -> ApiResult<(u64, u64)> {
        let limit = self.limit.unwrap_or(100);
        if limit == 0 || limit > 10_000 {
            return Err(ApiError::new(
                ProblemType::InvalidRequest,
                "limit must be from 1 to 10000",
            ));
        }
        Ok((limit, self.offset.unwrap_or(0)))
    }
}

/// Every gateway of the network with the configuration version it holds and when it last
/// fetched it and delivered measurements: what `/ui/gateways` shows.
async fn list_gateways(
    State(a): State<Arc<Authority>>,
    _op: Operator,
    Query(query): Query<PageQuery>,
) -> ApiResult<axum::Json<GatewayList>> {
    let (limit, offset) = query.checked()?;
    let (items, total) = a.store.gateway_page(limit, offset).await?;
    Ok(axum::Json(GatewayList {
        items,
        total,
        limit,
        offset,
        config_version: a.publisher.current().map(|p| p.version),
    }))
}

async fn list_members(
    State(a): State<Arc<Authority>>,
    _op: Operator,
    Query(query): Query<MemberQuery>,
) -> ApiResult<axum::Json<MemberList>> {
    let (limit, offset) = PageQuery {
        limit: query.limit,
        offset: query.offset,
    }
    .checked()?;
    for (name, value) in [
        ("class", &query.class),
        ("sector", &query.sector),
        ("q", &query.q),
    ] {
        if value
            .as_ref()
            .is_some_and(|v| v.chars().count() > MAX_TEXT || v.chars().any(char::is_control))
        {
            return Err(ApiError::new(
                ProblemType::InvalidRequest,
                format!("{name} must be at most {MAX_TEXT} characters without control characters"),
            ));
        }
    }
    let (items, total) = a.store.list_members(&query, limit, offset).await?;
    Ok(axum::Json(MemberList {
        items,
        total,
        limit,
        offset,
    }))
}

fn member_path(network: &str, class: &str, code: &str) -> ApiResult<MemberId> {
    format!("{network}/{class}/{code}")
        .parse()
        .map_err(|e: psn_core::names::NameError| {
            ApiError::new(ProblemType::InvalidRequest, e.to_string())
        })
}

async fn show_member(
    State(a): State<Arc<Authority>>,
    _op: Operator,
    Path((network, class, code)): Path<(String, String, String)>,
) -> ApiResult<axum::Json<MemberView>> {
    let id = member_path(&network, &class, &code)?;
    match a.store.member(&id).await? {
        Some(m) => Ok(axum::Json(m)),
        None => Err(ApiError::new(
            ProblemType::NotFound,
            format!("no member {id}"),
        )),
    }
}

async fn change_status(
    a: &Authority,
    actor: &str,
    (network, class, code): (String, String, String),
    status: MemberStatus,
    change: StatusChange,
) -> ApiResult<axum::Json<MemberChanged>> {
    let id = member_path(&network, &class, &code)?;
    if let Some(reason) = &change.reason {
        text_field("reason", reason)?;
    }
    let member = a
        .store
        .set_member_status(actor, &id, status, change.reason.as_deref())
        .await?;
    let published = a.publisher.publish().await?;
    index_changes(a).await;
    tracing::info!(member = %id, status = status.as_str(), version = published.version, "member status changed");
    Ok(axum::Json(MemberChanged {
        member,
        config_version: published.version,
    }))
}

async fn suspend_member(
    State(a): State<Arc<Authority>>,
    Operator(actor): Operator,
    Path(path): Path<(String, String, String)>,
    Body(change): Body<StatusChange>,
) -> ApiResult<axum::Json<MemberChanged>> {
    change_status(&a, &actor, path, MemberStatus::Suspended, change).await
}

async fn reinstate_member(
    State(a): State<Arc<Authority>>,
    Operator(actor): Operator,
    Path(path): Path<(String, String, String)>,
    Body(change): Body<StatusChange>,
) -> ApiResult<axum::Json<MemberChanged>> {
    change_status(&a, &actor, path, MemberStatus::Active, change).await
}

async fn add_subsystem(
    State(a): State<Arc<Authority>>,
    Operator(actor): Operator,
    Path((network, class, code)): Path<(String, String, String)>,
    Body(new): Body<NewSubsystem>,
) -> ApiResult<(StatusCode, axum::Json<SubsystemAdded>)> {
    let member = member_path(&network, &class, &code)?;
    let id = SubsystemId::new(member, new.code);
    a.store.add_subsystem(&actor, &id).await?;
    let published = a.publisher.publish().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(SubsystemAdded {
            id,
            config_version: published.version,
        }),
    ))
}

async fn revoke_gateway(
    State(a): State<Arc<Authority>>,
    Operator(actor): Operator,
    Path((network, class, code, gateway)): Path<(String, String, String, String)>,
) -> ApiResult<axum::Json<GatewayRevoked>> {
    let member = member_path(&network, &class, &code)?;
    let code: GatewayCode = gateway.parse().map_err(|e: psn_core::names::NameError| {
        ApiError::new(ProblemType::InvalidRequest, e.to_string())
    })?;
    let id = GatewayId::new(member, code);
    let serials = a.store.revoke_gateway(&actor, &id).await?;
    let published = a.publisher.publish().await?;
    tracing::info!(gateway = %id, version = published.version, "gateway revoked");
    Ok(axum::Json(GatewayRevoked {
        gateway: id,
        revoked_serials: serials,
        config_version: published.version,
    }))
}

async fn create_token(
    State(a): State<Arc<Authority>>,
    Operator(actor): Operator,
    Body(request): Body<TokenRequest>,
) -> ApiResult<(StatusCode, axum::Json<TokenIssued>)> {
    if request.member.network() != &a.network {
        return Err(ApiError::new(
            ProblemType::InvalidRequest,
            format!("member {} is not in network {}", request.member, a.network),
        ));
    }
    let ttl = request
        .ttl_seconds
        .map_or(a.settings.token_validity, Duration::from_secs);
    if ttl.is_zero() || ttl > MAX_TOKEN_TTL {
        return Err(ApiError::new(
            ProblemType::InvalidRequest,
            "ttl_seconds must be from 1 to 2592000 (30 days)",
        ));
    }
    crate::compliance::require(
        &a,
        &request.member,
        crate::compliance::CONNECTION,
        "create enrolment tokens",
    )
    .await?;
    let mut secret = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
        .map_err(|_| ApiError::new(ProblemType::Internal, "random number generator failed"))?;
    let expires_at = OffsetDateTime::now_utc() + ttl;
    let gateway = GatewayId::new(request.member.clone(), request.gateway.clone());
    let token = EnrolmentToken {
        authority: a.public_url.clone(),
        ca_pin: a.ca_pin.clone(),
        member: request.member,
        gateway: request.gateway,
        expires_at: expires_at.replace_nanosecond(0).unwrap_or(expires_at),
        secret: psn_core::encoding::b64url(&secret),
    };
    a.store
        .create_token(&actor, &token.secret_hash(), &gateway, token.expires_at)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(TokenIssued {
            token: token.encode(),
            gateway,
            expires_at: token.expires_at,
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventQuery {
    after: Option<u64>,
    limit: Option<u64>,
}

async fn events(
    State(a): State<Arc<Authority>>,
    _op: Operator,
    Query(q): Query<EventQuery>,
) -> ApiResult<axum::Json<AdminEventList>> {
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 10_000 {
        return Err(ApiError::new(
            ProblemType::InvalidRequest,
            "limit must be from 1 to 10000",
        ));
    }
    Ok(axum::Json(AdminEventList {
        items: a.store.events(q.after.unwrap_or(0), limit).await?,
    }))
}

async fn enrol(
    State(a): State<Arc<Authority>>,
    Body(request): Body<EnrolRequest>,
) -> ApiResult<(StatusCode, axum::Json<EnrolResponse>)> {
    let token = EnrolmentToken::decode(&request.token)
        .map_err(|e| ApiError::new(ProblemType::TokenInvalid, e.to_string()))?;
    let hash = token.secret_hash();
    let record = a.store.token(&hash).await?.ok_or_else(|| {
        ApiError::new(
            ProblemType::TokenInvalid,
            "the authority did not issue this token",
        )
    })?;
    if record.member != token.member || record.gateway != token.gateway || token.ca_pin != a.ca_pin
    {
        return Err(ApiError::new(
            ProblemType::TokenInvalid,
            "the token's contents differ from what the authority issued",
        ));
    }
    if record.used_at.is_some() {
        return Err(ApiError::new(
            ProblemType::TokenUsed,
            "each enrolment token works once; ask the operator for a new one",
        ));
    }
    if record.expires_at <= OffsetDateTime::now_utc() {
        return Err(ApiError::new(
            ProblemType::TokenExpired,
            "ask the operator for a new token",
        ));
    }
    if let Some(address) = &request.address {
        validate_address(address).map_err(|e| ApiError::new(ProblemType::InvalidRequest, e))?;
    }
    let member = a.store.member(&record.member).await?;
    match member.map(|m| m.status) {
        Some(MemberStatus::Active) => {}
        Some(status) => {
            return Err(ApiError::new(
                ProblemType::MemberNotActive,
                format!("member {} is {}", record.member, status.as_str()),
            ))
        }
        None => {
            return Err(ApiError::new(
                ProblemType::NotFound,
                format!("no member {}", record.member),
            ))
        }
    }
    let gateway = GatewayId::new(record.member, record.gateway);
    let certificate =
        a.ca.issue_gateway_certificate(
            &request.csr,
            &gateway,
            a.settings.gateway_certificate_validity,
        )
        .map_err(|e| ApiError::new(ProblemType::CsrInvalid, e.to_string()))?;
    let record = crate::store::CertificateRecord {
        gateway: &gateway,
        certificate: &certificate,
    };
    a.store
        .redeem_token(&hash, record, request.address.as_deref())
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => ApiError::new(ProblemType::TokenUsed, m),
            StoreError::Refused(m) => ApiError::new(ProblemType::GatewayRevoked, m),
            other => other.into(),
        })?;
    let published = a.publisher.publish().await?;
    tracing::info!(gateway = %gateway, serial = %certificate.serial, "gateway enrolled");
    let config = String::from_utf8_lossy(&published.document().await?).into_owned();
    Ok((
        StatusCode::CREATED,
        axum::Json(EnrolResponse {
            gateway,
            certificate_chain: format!("{}{}", certificate.pem, a.ca.certificate_pem()),
            config,
        }),
    ))
}

async fn renew(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
    Body(request): Body<RenewRequest>,
) -> ApiResult<axum::Json<RenewResponse>> {
    let certificate =
        a.ca.issue_gateway_certificate(
            &request.csr,
            &gateway,
            a.settings.gateway_certificate_validity,
        )
        .map_err(|e| ApiError::new(ProblemType::CsrInvalid, e.to_string()))?;
    a.store
        .record_renewal(crate::store::CertificateRecord {
            gateway: &gateway,
            certificate: &certificate,
        })
        .await?;
    tracing::info!(gateway = %gateway, serial = %certificate.serial, "gateway certificate renewed");
    Ok(axum::Json(RenewResponse {
        certificate_chain: format!("{}{}", certificate.pem, a.ca.certificate_pem()),
    }))
}

async fn set_address(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
    Body(update): Body<AddressUpdate>,
) -> ApiResult<axum::Json<Health>> {
    validate_address(&update.address).map_err(|e| ApiError::new(ProblemType::InvalidRequest, e))?;
    a.store
        .set_gateway_address(&gateway, &update.address)
        .await?;
    let published = a.publisher.publish().await?;
    Ok(axum::Json(Health {
        status: "ok".into(),
        network: a.network.to_string(),
        config_version: Some(published.version),
    }))
}

fn own_service(gateway: &GatewayId, service: &psn_core::names::ServiceId) -> ApiResult<()> {
    if service.member() != gateway.member() {
        return Err(ApiError::new(
            ProblemType::Forbidden,
            format!(
                "{service} belongs to {}, not to {}",
                service.member(),
                gateway.member()
            ),
        ));
    }
    Ok(())
}

async fn publish_service(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
    Body(listing): Body<ServiceListing>,
) -> ApiResult<(StatusCode, axum::Json<Health>)> {
    own_service(&gateway, &listing.id)?;
    crate::catalogue::check_listing(&a.processes, &listing)
        .map_err(|(_, m)| ApiError::new(ProblemType::InvalidRequest, m))?;
    let version = crate::catalogue::save_listing(&a, &format!("gateway:{gateway}"), listing)
        .await
        .map_err(|e| match e {
            crate::catalogue::SaveError::Store(e) => ApiError::from(e),
            crate::catalogue::SaveError::Publish(e) => ApiError::from(e),
        })?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Health {
            status: "ok".into(),
            network: a.network.to_string(),
            config_version: Some(version),
        }),
    ))
}

/// Searches the process taxonomy; operators and gateways may read it, as both choose
/// processes for listings.
async fn list_processes(
    State(a): State<Arc<Authority>>,
    _reader: Reader,
    Query(query): Query<ProcessQuery>,
) -> ApiResult<axum::Json<ProcessList>> {
    let limit = query.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PROCESS_PAGE {
        return Err(ApiError::new(
            ProblemType::InvalidRequest,
            format!("limit must be from 1 to {MAX_PROCESS_PAGE}"),
        ));
    }
    let offset = query.offset.unwrap_or(0);
    if offset > MAX_PROCESS_OFFSET {
        return Err(ApiError::new(
            ProblemType::InvalidRequest,
            format!("offset must be at most {MAX_PROCESS_OFFSET}"),
        ));
    }
    let search = query.search.unwrap_or_default();
    if search.chars().count() > MAX_PROCESS_SEARCH || search.chars().any(char::is_control) {
        return Err(ApiError::new(
            ProblemType::InvalidRequest,
            format!(
                "search must be at most {MAX_PROCESS_SEARCH} characters without control characters"
            ),
        ));
    }
    let hits = a.processes.search(&search);
    let items = hits
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|p| process_view(&a.processes, p))
        .collect();
    Ok(axum::Json(ProcessList {
        items,
        total: hits.len() as u64,
        limit,
        offset,
    }))
}

/// One process of the taxonomy, or `not-found`.
async fn show_process(
    State(a): State<Arc<Authority>>,
    _reader: Reader,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ProcessView>> {
    match a.processes.get(&id) {
        Some(p) => Ok(axum::Json(process_view(&a.processes, p))),
        None => Err(ApiError::new(
            ProblemType::NotFound,
            format!(
                "no process {:?} in the catalogue",
                id.chars().take(64).collect::<String>()
            ),
        )),
    }
}

fn process_view(
    catalogue: &psn_orgdata::ProcessCatalogue,
    p: &psn_orgdata::CatalogueProcess,
) -> ProcessView {
    ProcessView {
        id: p.id.clone(),
        label: p.label.clone(),
        description: p.description.clone(),
        functions: catalogue
            .ancestry(p)
            .into_iter()
            .map(|f| ProcessFunction {
                id: f.id.clone(),
                label: f.label.clone(),
            })
            .collect(),
    }
}

async fn withdraw_service(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
    Body(service): Body<ServiceRef>,
) -> ApiResult<axum::Json<Health>> {
    own_service(&gateway, &service.id)?;
    a.store
        .remove_service(&format!("gateway:{gateway}"), &service.id)
        .await?;
    let published = a.publisher.publish().await?;
    index_changes(&a).await;
    Ok(axum::Json(Health {
        status: "ok".into(),
        network: a.network.to_string(),
        config_version: Some(published.version),
    }))
}

async fn sla_list(a: &Authority) -> ApiResult<axum::Json<SlaList>> {
    Ok(axum::Json(SlaList {
        items: a.store.slas().await?,
    }))
}

async fn declare_sla(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
    Body(sla): Body<psn_core::sla::SlaDeclaration>,
) -> ApiResult<axum::Json<SlaList>> {
    own_service(&gateway, &sla.service)?;
    sla.validate()
        .map_err(|e| ApiError::new(ProblemType::InvalidRequest, e))?;
    a.store.put_sla(&format!("gateway:{gateway}"), &sla).await?;
    index_changes(&a).await;
    sla_list(&a).await
}

async fn withdraw_sla(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
    Body(service): Body<ServiceRef>,
) -> ApiResult<axum::Json<SlaList>> {
    own_service(&gateway, &service.id)?;
    a.store
        .remove_sla(&format!("gateway:{gateway}"), &service.id)
        .await?;
    index_changes(&a).await;
    sla_list(&a).await
}

async fn list_slas(
    State(a): State<Arc<Authority>>,
    _reader: Reader,
) -> ApiResult<axum::Json<SlaList>> {
    sla_list(&a).await
}

async fn aggregate_cursor(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
) -> ApiResult<axum::Json<AggregateCursor>> {
    Ok(axum::Json(AggregateCursor {
        cursor: a.store.aggregate_cursor(&gateway).await?,
    }))
}

/// What a gateway names in place of a service or client subsystem its configuration does not
/// have, and what the authority files rows under when its registry does not have them: one
/// value (shared with the gateways), so that input cannot add services or consumers to SLA
/// reports.
use psn_core::aggregate::UNKNOWN;

/// Checks what a batch says before anything of it is looked up or stored: its own rules
/// (`AggregateBatch::validate`), numbers the database can hold,
/// plausible minutes, and identifiers of the right kind (a service, or [`UNKNOWN`]; an
/// exchange's client is a subsystem or [`UNKNOWN`], a probe's also the probing gateway).
/// Public for the fuzz targets (`fuzz/`), which feed it arbitrary batches.
#[doc(hidden)]
pub fn check_batch(batch: &AggregateBatch) -> Result<(), String> {
    batch.validate()?;
    // `to` may lie before `from`: a gateway whose data directory was replaced reads its new log
    // from the start (the cursor check still makes delivery exactly-once).
    let limit = i64::MAX as u64;
    for cursor in [Some(batch.to), batch.from].into_iter().flatten() {
        if cursor.segment > limit || cursor.position > limit {
            return Err(format!("cursor {cursor} is beyond what can be stored"));
        }
    }
    if batch.records > limit {
        return Err(format!(
            "{} records are more than can be stored",
            batch.records
        ));
    }
    batch.rows.iter().try_for_each(AggregateRow::check)
}

/// Whether a checked row is the calling gateway's to report: on the consumer side, exchanges
/// and probes of its member's own subsystems, and its own probes; on the provider side, its
/// member's own services (a probe naming a gateway must name the caller itself).
fn row_belongs(gateway: &GatewayId, row: &AggregateRow) -> ApiResult<()> {
    row.reported_by(gateway).map_err(|why| {
        ApiError::new(
            ProblemType::Forbidden,
            format!("{gateway} may not report this row: {why}; nothing was stored"),
        )
    })
}

async fn push_aggregates(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
    Body(batch): Body<AggregateBatch>,
) -> ApiResult<axum::Json<AggregateCursor>> {
    check_batch(&batch).map_err(|e| ApiError::new(ProblemType::InvalidRequest, e))?;
    for row in &batch.rows {
        row_belongs(&gateway, row)?;
    }
    let batch = file_unregistered(&a, &gateway, batch).await?;
    let forward = crate::federation::forwarded(&a, &batch.rows).await?;
    let cursor = a
        .store
        .accept_aggregates(&gateway, &batch, &forward)
        .await?;
    tracing::debug!(%gateway, to = %cursor, rows = batch.rows.len(), records = batch.records, "aggregates accepted");
    Ok(axum::Json(AggregateCursor {
        cursor: Some(cursor),
    }))
}

/// Files a checked batch's rows by what this network knows ([`crate::filing`]); a consumer
/// side's client is a subsystem of the caller's own member, which its configuration lists only
/// once the registry has it and the registry never forgets: naming any other is something a
/// correct gateway never does (it reports [`UNKNOWN`]), so the whole batch is refused and
/// nothing is stored.
async fn file_unregistered(
    a: &Authority,
    gateway: &GatewayId,
    mut batch: AggregateBatch,
) -> ApiResult<AggregateBatch> {
    batch.rows = crate::filing::file_rows(a, batch.rows, UnknownClient::Refuse)
        .await
        .map_err(|e| match e {
            Filing::Store(e) => ApiError::from(e),
            Filing::UnregisteredClient(client) => unregistered_client(gateway, &client),
        })?;
    Ok(batch)
}

async fn aggregate_deliveries(
    State(a): State<Arc<Authority>>,
    _op: Operator,
) -> ApiResult<axum::Json<AggregateDeliveryList>> {
    Ok(axum::Json(AggregateDeliveryList {
        items: a.store.aggregate_deliveries().await?,
    }))
}

/// One listing with its declared and measured service level (`crate::catalogue`).
/// Brings the catalogue's search index up to date with a change just saved, so a search after
/// this answer sees it. A failure is logged, not returned: the change is saved and the indexer's
/// background task applies it on its next round.
async fn index_changes(a: &Authority) {
    if let Err(error) = a.catalogue.catch_up(a, OffsetDateTime::now_utc()).await {
        tracing::warn!(%error, "indexing a catalogue change failed; the background indexer retries");
    }
}

impl From<crate::search::SearchError> for ApiError {
    fn from(e: crate::search::SearchError) -> Self {
        use crate::search::SearchError;
        match e {
            SearchError::Invalid(m) => Self::new(ProblemType::InvalidRequest, m),
            SearchError::NotFound(m) => Self::new(ProblemType::NotFound, m),
            SearchError::Store(e) => e.into(),
            SearchError::Report(ReportError::Store(e)) => e.into(),
            SearchError::Report(ReportError::Invalid(m)) => {
                Self::new(ProblemType::InvalidRequest, m)
            }
            SearchError::Index(e) => {
                tracing::error!(error = %e, "catalogue index failure");
                Self::new(
                    ProblemType::Internal,
                    "the catalogue index failed; try again",
                )
            }
        }
    }
}

fn bounded_query(raw: &axum::extract::RawQuery) -> ApiResult<Vec<(String, String)>> {
    Ok(crate::search::query_pairs(raw.0.as_deref())?)
}

async fn catalogue_search(
    State(a): State<Arc<Authority>>,
    _reader: Reader,
    raw: axum::extract::RawQuery,
) -> ApiResult<axum::Json<SearchResults>> {
    let pairs = bounded_query(&raw)?;
    let request = SearchRequest::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| ApiError::new(ProblemType::InvalidRequest, e.0))?;
    Ok(axum::Json(crate::search::search(&a, &request).await?))
}

/// Either `?process=ID` (who provides and consumes it) or `?member=ID` (its processes and who
/// else could serve them).
async fn catalogue_partners(
    State(a): State<Arc<Authority>>,
    _reader: Reader,
    raw: axum::extract::RawQuery,
) -> ApiResult<Response> {
    let pairs = bounded_query(&raw)?;
    let invalid = |m: &str| ApiError::new(ProblemType::InvalidRequest, m.to_owned());
    match pairs.as_slice() {
        [(name, process)] if name == "process" => {
            if process.len() > 64 || process.chars().any(char::is_control) {
                return Err(invalid(
                    "process must be a process id such as lgsl:57 or psn:1001",
                ));
            }
            Ok(axum::Json(crate::search::process_partners(&a, process).await?).into_response())
        }
        [(name, member)] if name == "member" => {
            let member: MemberId = member.parse().map_err(|e: NameError| {
                ApiError::new(ProblemType::InvalidRequest, e.to_string())
            })?;
            Ok(axum::Json(crate::search::member_partners(&a, &member).await?).into_response())
        }
        _ => Err(invalid(
            "ask for one of process=ID (who provides and consumes it) or member=ID (its processes)",
        )),
    }
}

async fn catalogue_entry(
    State(a): State<Arc<Authority>>,
    _reader: Reader,
    Path((network, class, code, subsystem, service)): Path<(
        String,
        String,
        String,
        String,
        String,
    )>,
) -> ApiResult<axum::Json<CatalogueEntry>> {
    let id: ServiceId = format!("{network}/{class}/{code}/{subsystem}/{service}")
        .parse()
        .map_err(|e: NameError| ApiError::new(ProblemType::InvalidRequest, e.to_string()))?;
    match crate::catalogue::entry(&a, &id, OffsetDateTime::now_utc()).await {
        Ok(entry) => Ok(axum::Json(entry)),
        Err(e @ EntryError::NotListed(_)) => {
            Err(ApiError::new(ProblemType::NotFound, e.to_string()))
        }
        Err(EntryError::Report(ReportError::Invalid(m))) => {
            Err(ApiError::new(ProblemType::InvalidRequest, m))
        }
        Err(EntryError::Report(ReportError::Store(e))) => Err(e.into()),
    }
}

async fn sla_report(
    State(a): State<Arc<Authority>>,
    _reader: Reader,
    Query(q): Query<SlaReportQuery>,
) -> ApiResult<axum::Json<SlaReport>> {
    match crate::report::sla_report(&a, &q, OffsetDateTime::now_utc()).await {
        Ok(report) => Ok(axum::Json(report)),
        Err(ReportError::Invalid(m)) => Err(ApiError::new(ProblemType::InvalidRequest, m)),
        Err(ReportError::Store(e)) => Err(e.into()),
    }
}

async fn grant_list(a: &Authority, gateway: &GatewayId) -> ApiResult<axum::Json<GrantList>> {
    let items = a.store.grants_of(gateway.member()).await?;
    let config_version = a.publisher.current().map_or(0, |p| p.version);
    Ok(axum::Json(GrantList {
        items,
        config_version,
    }))
}

async fn list_grants(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
) -> ApiResult<axum::Json<GrantList>> {
    grant_list(&a, &gateway).await
}

async fn add_grant(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
    Body(new): Body<NewGrant>,
) -> ApiResult<(StatusCode, axum::Json<GrantList>)> {
    own_service(&gateway, &new.service)?;
    if let Some(method) = &new.method {
        psn_core::access::validate_method(method)
            .map_err(|e| ApiError::new(ProblemType::InvalidRequest, e))?;
    }
    if let Some(path) = &new.path {
        psn_core::access::validate_path_pattern(path)
            .map_err(|e| ApiError::new(ProblemType::InvalidRequest, e))?;
    }
    let mut id = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
        .map_err(|_| ApiError::new(ProblemType::Internal, "random number generator failed"))?;
    let grant = psn_core::access::Grant {
        id: format!("g-{}", psn_core::encoding::hex(&id)),
        service: new.service,
        grantee: new.grantee,
        method: new.method,
        path: new.path,
    };
    a.store
        .add_grant(&format!("gateway:{gateway}"), &grant)
        .await?;
    a.publisher.publish().await?;
    Ok((StatusCode::CREATED, grant_list(&a, &gateway).await?))
}

/// The refusal of a batch whose consumer side names a subsystem the registry does not have.
fn unregistered_client(gateway: &GatewayId, client: &str) -> ApiError {
    ApiError::new(
        ProblemType::Forbidden,
        format!(
            "{gateway} reported client {client}, which is not a subsystem in the registry; a gateway reports clients its configuration does not have as \"{UNKNOWN}\"; nothing was stored"
        ),
    )
}

/// Whether `id` has the shape [`add_grant`] gives grant ids: `g-` and 16 lowercase hex digits.
fn is_grant_id(id: &str) -> bool {
    id.strip_prefix("g-").is_some_and(|hex| {
        hex.len() == 16
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

async fn revoke_grant(
    State(a): State<Arc<Authority>>,
    Gateway(gateway): Gateway,
    Body(grant): Body<GrantRef>,
) -> ApiResult<axum::Json<GrantList>> {
    if !is_grant_id(&grant.id) {
        return Err(ApiError::new(
            ProblemType::InvalidRequest,
            "a grant id is g- followed by 16 lowercase hexadecimal digits, as the authority assigned it",
        ));
    }
    a.store
        .revoke_grant(&format!("gateway:{gateway}"), gateway.member(), &grant.id)
        .await?;
    a.publisher.publish().await?;
    grant_list(&a, &gateway).await
}
