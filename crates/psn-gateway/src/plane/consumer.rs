//! The consumer side: a member's own system calls `/r1/{service}/...` on the internal listener;
//! the gateway authenticates the calling subsystem, finds the provider's gateways in the
//! configuration, signs a statement of what it sends, and relays the call over mutual TLS.

use super::body::{boxed, BoxError, DigestBody, Digested, GatewayBody, TooLarge};
use super::peers::PeerConnection;
use super::record::{recorded_response, refuse_unrecordable, Claims, Exchange, Unidentified};
use super::state::View;
use super::trace::{continue_trace, exchange_span, traced, tracing_on};
use super::{
    message_id, now_ms, parse_target, problem, set, single, source_is, strip_hop_by_hop, Caller,
    Shared, Target, PSN_API_KEY, PSN_CLIENT, PSN_MESSAGE_ID, PSN_PURPOSE,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use psn_audit::{AuditRecord, BodyPart, Role};
use psn_core::names::SubsystemId;
use psn_core::problem::ProblemType;
use psn_core::proof::{
    content_digest, decode_proof, Statement, StatementKind, REQUEST_PROOF, RESPONSE_PROOF,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio_util::sync::PollSender;

const HOP: &str = "consumer-gateway";

/// The consumer side waits this much longer than its response timeout, so that when a provider's
/// backend is slow the provider gateway's own timeout (attributing it to the backend) arrives
/// first.
const ATTRIBUTION_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Set by the provider gateway on problems it raises itself (their statement is a header, since
/// the document is known whole before it is sent).
pub const PSN_ERROR: &str = "psn-error";

/// Longest method a caller may use: statements and records carry it whole.
const MAX_METHOD_BYTES: usize = 64;

/// Marks a response whose problem document this gateway raised, so that answering `HEAD` it is
/// sent without its body.
#[derive(Debug, Clone, Copy)]
struct RaisedHere;

/// Handles one request from an internal system. While traces are exported an exchange (a `/r1/`
/// call, not the operational endpoints) runs in a `psn.consume` span (docs/tracing.md).
pub async fn handle(
    shared: Arc<Shared>,
    caller: Caller,
    mut req: Request<Incoming>,
) -> Response<GatewayBody> {
    let head = req.method() == Method::HEAD;
    let response = if !req.uri().path().starts_with("/r1/") || !tracing_on() {
        handle_exchange(shared, caller, req, &tracing::Span::none()).await
    } else {
        let span = exchange_span!("psn.consume");
        continue_trace(&span, req.headers_mut());
        traced(&span, handle_exchange(shared, caller, req, &span)).await
    };
    if head && response.extensions().get::<RaisedHere>().is_some() {
        // A response to HEAD has no content, whatever the protocol (RFC 9110 §9.3.2).
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, super::body::full(bytes::Bytes::new()));
    }
    response
}

/// A problem this gateway raises.
fn fail(kind: ProblemType, detail: String, id: &str) -> Response<GatewayBody> {
    let mut response = problem(kind, detail, HOP, id);
    response.extensions_mut().insert(RaisedHere);
    response
}

/// What admission established about a caller's request.
struct Admitted {
    target: Target,
    client: SubsystemId,
    purpose: Option<String>,
}

/// The exchange in stages: admit the caller, resolve the service and its provider, sign and
/// forward the request, then relay the answer once the provider's statement verifies and the
/// record is durable. Every refusal on the way is recorded.
async fn handle_exchange(
    shared: Arc<Shared>,
    caller: Caller,
    req: Request<Incoming>,
    span: &tracing::Span,
) -> Response<GatewayBody> {
    let received_ms = now_ms();
    let (parts, body) = req.into_parts();
    let id = match message_id(&parts.headers) {
        Ok(id) => id,
        Err(e) => {
            let id = uuid::Uuid::new_v4().to_string();
            let refusal = (ProblemType::InvalidRequest, e);
            return refuse_unidentified(&shared, &id, &parts, refusal, received_ms).await;
        }
    };
    span.record("psn.message_id", id.as_str());
    if let Err(refusal) = psn_listener::limits::check(&parts.uri, &parts.headers) {
        let refusal = (refusal.kind, refusal.detail);
        return refuse_unidentified(&shared, &id, &parts, refusal, received_ms).await;
    }
    match parts.uri.path() {
        "/healthz" | "/readyz" => return readiness(&shared, &id),
        "/livez" => return liveness(&id),
        "/metrics" => return metrics(&shared).await,
        _ => {}
    }
    if let Some(mut refusal) = refuse_unrecordable(&shared, HOP, &id) {
        refusal.extensions_mut().insert(RaisedHere);
        return refusal;
    }
    let view = shared.view();
    let admitted = match admit(&shared, &caller, &view, &parts) {
        Ok(admitted) => admitted,
        Err(refusal) => {
            return refuse_unidentified(&shared, &id, &parts, refusal, received_ms).await
        }
    };
    span.record(
        "psn.service",
        tracing::field::display(&admitted.target.service),
    );
    span.record("psn.client", tracing::field::display(&admitted.client));
    let Admitted {
        target,
        client,
        purpose,
    } = admitted;
    let path = target.path_and_query();
    // The caller and what it asks for are known: from here every outcome is recorded.
    let mut exchange = Exchange::new(
        Role::Consumer,
        &id,
        client.to_string(),
        &target.service,
        parts.method.to_string(),
        path.clone(),
        received_ms,
    )
    .guarded(&shared);
    exchange.record.purpose.clone_from(&purpose);
    if let Some(detail) = shared.clock.refusal() {
        return refuse(&shared, exchange, ProblemType::ClockSkew, detail, &id).await;
    }
    let network = target.service.member().network();
    if let Some(detail) = view.partner_expired(network, OffsetDateTime::now_utc()) {
        let kind = ProblemType::PartnerConfigExpired;
        return refuse(&shared, exchange, kind, detail, &id).await;
    }
    if !view.has_service(&target.service) {
        let detail = format!(
            "{} is not offered by an active member of this network",
            target.service
        );
        return refuse(&shared, exchange, ProblemType::UnknownService, detail, &id).await;
    }
    let limit = shared.settings.limits.max_body_bytes;
    if declared_length(&parts.headers).is_some_and(|n| n > limit) {
        let detail = format!("the request body is over the {limit}-byte limit");
        return refuse(&shared, exchange, ProblemType::BodyTooLarge, detail, &id).await;
    }
    let (peer, connection) = match shared
        .peers
        .first_reachable(target.service.member(), &view)
        .await
    {
        Ok(chosen) => chosen,
        Err(detail) => {
            let kind = ProblemType::ProviderUnreachable;
            return refuse(&shared, exchange, kind, detail, &id).await;
        }
    };
    exchange.peer(&peer.id, &connection.serial, connection.certificate.clone());
    let trailers = CallerTrailers::of(&parts);
    let sending = Sending::new(&shared, &exchange.record, &id);
    let watch = CallerWatch::new();
    let outbound_body = if body_is_empty(&body, &parts.headers) {
        let empty = Digested {
            sha256: psn_core::encoding::sha256(b""),
            bytes: 0,
        };
        match sending.sign(empty).await {
            Ok(proof) => {
                watch.sent.send_replace(true);
                SignedBody::Empty(proof)
            }
            Err(e) => return refuse(&shared, exchange, ProblemType::Internal, e, &id).await,
        }
    } else {
        let tee = exchange
            .keep_body(&shared, BodyPart::Request)
            .map(PollSender::new);
        SignedBody::Streamed(sending.streamed(watch.watched(body), limit, tee, &watch))
    };
    let outbound = match peer_request(&peer, parts, outbound_body, &client, &id, &purpose) {
        Ok(outbound) => outbound,
        Err(detail) => {
            let kind = ProblemType::ProviderUnreachable;
            return refuse(&shared, exchange, kind, detail, &id).await;
        }
    };
    let timeout = shared.settings.limits.response_timeout + ATTRIBUTION_GRACE;
    exchange.record.times.forwarded_ms = Some(now_ms());
    let mut sender = connection.sender.clone();
    let upstream = await_provider(sender.send_request(outbound), &watch, timeout).await;
    exchange.record.times.response_in_ms = Some(now_ms());
    sending.note_sent(&mut exchange.record);
    let response = match upstream {
        Upstream::Answered(response) => response,
        Upstream::Failed(e) => {
            let (kind, detail) = if source_is::<TooLarge>(&e) {
                let detail = format!("the request body is over the {limit}-byte limit");
                (ProblemType::BodyTooLarge, detail)
            } else if watch.caller_failed() {
                let detail = format!("the caller's request body failed: {e}");
                (ProblemType::InvalidRequest, detail)
            } else {
                shared.peers.forget_failed(&peer.id).await;
                (
                    ProblemType::ProviderUnreachable,
                    format!("{}: {e}", peer.id),
                )
            };
            return refuse(&shared, exchange, kind, detail, &id).await;
        }
        Upstream::ProviderTimeout => {
            // The provider gateway answers a slow backend itself (`backend-timeout`) before
            // this; silence past it means the gateway or the path to it is gone.
            shared.peers.forget_failed(&peer.id).await;
            let detail = format!("{} did not answer within {timeout:?}", peer.id);
            return refuse(&shared, exchange, ProblemType::ProviderTimeout, detail, &id).await;
        }
        Upstream::CallerStalled(idle) => {
            let detail = format!("no part of the request body arrived for {idle:?}");
            return refuse(&shared, exchange, ProblemType::RequestTimeout, detail, &id).await;
        }
    };
    relay(&shared, exchange, sending, response, connection, trailers).await
}

/// Admits a caller's request: headers within limits, configuration current, a target under
/// `/r1/`, and an authenticated subsystem of this member that the configuration registers.
fn admit(
    shared: &Shared,
    caller: &Caller,
    view: &View,
    parts: &http::request::Parts,
) -> Result<Admitted, (ProblemType, String)> {
    if parts.method.as_str().len() > MAX_METHOD_BYTES {
        return Err((
            ProblemType::InvalidRequest,
            format!("the method is longer than {MAX_METHOD_BYTES} bytes"),
        ));
    }
    if view.expired(OffsetDateTime::now_utc()) {
        return Err((
            ProblemType::ConfigExpired,
            format!(
                "configuration version {} expired at {}; the authority has been unreachable too long",
                view.config.version, view.config.expires_at
            ),
        ));
    }
    let target = match parse_target(parts.uri.path(), parts.uri.query()) {
        Ok(t) => t,
        Err(e) if !parts.uri.path().starts_with("/r1/") => return Err((ProblemType::NotFound, e)),
        Err(e) => return Err((ProblemType::InvalidRequest, e)),
    };
    let client = authenticate(shared, caller, &parts.headers)
        .map_err(|e| (ProblemType::UnknownClient, e))?;
    if !view.has_subsystem(&client) {
        return Err((
            ProblemType::UnknownClient,
            format!("{client} is not a registered subsystem of an active member"),
        ));
    }
    let purpose = match single(&parts.headers, &PSN_PURPOSE) {
        Ok(p) if p.is_none_or(|p| p.len() <= 256) => p.map(str::to_owned),
        Ok(_) => {
            return Err((
                ProblemType::InvalidRequest,
                "PSN-Purpose is longer than 256 characters".into(),
            ))
        }
        Err(e) => return Err((ProblemType::InvalidRequest, e)),
    };
    Ok(Admitted {
        target,
        client,
        purpose,
    })
}

/// Refuses a request whose caller or target was never established: recorded within the
/// gateway's budget for such refusals, and counted.
async fn refuse_unidentified(
    shared: &Shared,
    id: &str,
    parts: &http::request::Parts,
    (kind, detail): (ProblemType, String),
    received_ms: i64,
) -> Response<GatewayBody> {
    let response = fail(kind, detail, id);
    let request = Unidentified {
        role: Role::Consumer,
        message_id: id,
        claims: Claims::of(parts),
        peer: None,
        received_ms,
    };
    super::record::refuse_unidentified(shared, request, kind, response).await
}

/// How the caller can take the provider's statement as a trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallerTrailers {
    /// HTTP/2: always.
    Http2,
    /// HTTP/1.1 with `TE: trailers`: in a chunked body, announced by `Trailer`.
    Chunked,
    /// HTTP/1.x without `TE: trailers`: not at all (the statement stays in the audit log).
    Unwanted,
}

impl CallerTrailers {
    fn of(parts: &http::request::Parts) -> Self {
        if parts.version == Version::HTTP_2 {
            return Self::Http2;
        }
        let asked = parts
            .headers
            .get_all(http::header::TE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("trailers"));
        if asked {
            Self::Chunked
        } else {
            Self::Unwanted
        }
    }

    /// Prepares the response head so the trailer can follow the body.
    fn prepare(self, headers: &mut HeaderMap) {
        if self == Self::Chunked {
            // HTTP/1.1 sends trailers only in a chunked body, which a length would rule out.
            headers.remove(http::header::CONTENT_LENGTH);
            headers.insert(
                http::header::TRAILER,
                HeaderValue::from_static(RESPONSE_PROOF),
            );
        }
    }
}

/// The request's statement as it is being signed: filled in with the body's digest once the
/// caller's body has been read whole.
struct Sending {
    statement: Statement,
    batch: super::signing::BatchSigner,
    /// Held for the whole exchange: the caller's next request is likely on its way (see
    /// signing).
    ticket: super::signing::StatementTicket,
    /// The request body's digest and size, and the proof, once signed.
    signed: Arc<Mutex<Option<(String, u64, String)>>>,
}

impl Sending {
    fn new(shared: &Shared, record: &AuditRecord, id: &str) -> Self {
        Self {
            statement: Statement {
                kind: StatementKind::Request,
                message_id: id.to_owned(),
                signer: shared.settings.gateway.to_string(),
                signer_serial: shared.signing().serial.clone(),
                client: record.client.clone(),
                service: record.service.clone(),
                method: record.method.clone(),
                path: record.path.clone(),
                request_digest: String::new(),
                status: None,
                response_digest: None,
                at_ms: now_ms(),
            },
            batch: shared.batch.clone(),
            ticket: shared.batch.ticket(),
            signed: Arc::new(Mutex::new(None)),
        }
    }

    /// What signing the statement needs, owned (for the body's finisher).
    fn signing(&self) -> SigningParts {
        SigningParts {
            statement: self.statement.clone(),
            batch: self.batch.clone(),
            signed: self.signed.clone(),
        }
    }

    /// Signs the statement for a body with `digest`; returns the proof.
    async fn sign(&self, digest: Digested) -> Result<String, String> {
        self.signing().sign(digest).await
    }

    /// The caller's body, digested as it streams to the provider, with the signed statement
    /// as its trailer.
    fn streamed<B>(
        &self,
        body: B,
        limit: u64,
        tee: Option<PollSender<bytes::Bytes>>,
        watch: &CallerWatch,
    ) -> GatewayBody
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        let signing = self.signing();
        let sent = watch.sent.clone();
        boxed(
            DigestBody::new(
                body,
                limit,
                Box::new(move |digest, _| {
                    Box::pin(async move {
                        let proof = signing.sign(digest).await?;
                        sent.send_replace(true);
                        let mut trailers = HeaderMap::new();
                        trailers.insert(REQUEST_PROOF, HeaderValue::from_str(&proof)?);
                        Ok(Some(trailers))
                    })
                }),
            )
            .with_tee(tee),
        )
    }

    /// The proof sent, if the request's statement was signed.
    fn proof(&self) -> Option<String> {
        self.signed
            .lock()
            .ok()
            .and_then(|s| s.as_ref().map(|(_, _, proof)| proof.clone()))
    }

    /// Copies the sent body's digest and size into `record`, once known.
    fn note_sent(&self, record: &mut AuditRecord) {
        if let Some((digest, bytes, _)) = self.signed.lock().ok().and_then(|s| s.clone()) {
            record.request_digest = Some(digest);
            record.request_bytes = bytes;
        }
    }
}

/// What signing a request statement needs, owned, for the body's finisher.
struct SigningParts {
    statement: Statement,
    batch: super::signing::BatchSigner,
    signed: Arc<Mutex<Option<(String, u64, String)>>>,
}

impl SigningParts {
    async fn sign(mut self, digest: Digested) -> Result<String, String> {
        self.statement.request_digest = content_digest(&digest.sha256);
        self.statement.at_ms = now_ms();
        let proof = self.batch.sign(self.statement.to_bytes()).await?;
        if let Ok(mut slot) = self.signed.lock() {
            *slot = Some((self.statement.request_digest, digest.bytes, proof.clone()));
        }
        Ok(proof)
    }
}

/// The request body sent to the provider: empty with its proof as a header, or streamed with
/// its proof as a trailer.
enum SignedBody {
    Empty(String),
    Streamed(GatewayBody),
}

/// Watches the caller's request body: whether it is still arriving, whether it failed, and
/// when it has been sent whole (from then on the provider's time runs).
struct CallerWatch {
    frames: Arc<AtomicU64>,
    failed: Arc<AtomicBool>,
    sent: watch::Sender<bool>,
}

impl CallerWatch {
    fn new() -> Self {
        Self {
            frames: Arc::new(AtomicU64::new(0)),
            failed: Arc::new(AtomicBool::new(false)),
            sent: watch::channel(false).0,
        }
    }

    /// The caller's body, counting its frames and noting its failure.
    fn watched(
        &self,
        body: Incoming,
    ) -> impl http_body::Body<Data = bytes::Bytes, Error = hyper::Error> + Send + Unpin + 'static
    {
        let (frames, failed) = (self.frames.clone(), self.failed.clone());
        body.map_frame(move |frame| {
            frames.fetch_add(1, Ordering::Relaxed);
            frame
        })
        .map_err(move |e| {
            failed.store(true, Ordering::Relaxed);
            e
        })
    }

    fn caller_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }
}

/// How waiting for the provider ended.
enum Upstream {
    Answered(Response<Incoming>),
    Failed(hyper::Error),
    /// The whole request was sent and no answer came in time.
    ProviderTimeout,
    /// The caller stopped sending its body for this long.
    CallerStalled(Duration),
}

/// Waits for the provider's response head. The provider's time runs only once the caller's
/// body has been sent whole; until then a caller that stops sending for `timeout` ends the
/// exchange as its own timeout, so a slow caller cannot make the provider look slow.
async fn await_provider(
    send: impl std::future::Future<Output = Result<Response<Incoming>, hyper::Error>>,
    watch: &CallerWatch,
    timeout: Duration,
) -> Upstream {
    let mut sent = watch.sent.subscribe();
    let provider_deadline = async {
        if sent.wait_for(|sent| *sent).await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(timeout).await;
    };
    let caller_stall = async {
        loop {
            let before = watch.frames.load(Ordering::Relaxed);
            tokio::time::sleep(timeout).await;
            if *watch.sent.borrow() {
                return std::future::pending::<Duration>().await;
            }
            if watch.frames.load(Ordering::Relaxed) == before {
                return timeout;
            }
        }
    };
    tokio::select! {
        answered = send => match answered {
            Ok(response) => Upstream::Answered(response),
            Err(e) => Upstream::Failed(e),
        },
        () = provider_deadline => Upstream::ProviderTimeout,
        idle = caller_stall => Upstream::CallerStalled(idle),
    }
}

/// The request for the provider gateway: the caller's headers less hop-by-hop ones and psn's
/// own, with the authenticated client, the message id, the purpose and the request statement.
fn peer_request(
    peer: &psn_core::config::GatewayEntry,
    parts: http::request::Parts,
    body: SignedBody,
    client: &SubsystemId,
    id: &str,
    purpose: &Option<String>,
) -> Result<Request<GatewayBody>, String> {
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    headers.remove(PSN_API_KEY);
    headers.remove(REQUEST_PROOF);
    headers.remove(PSN_ERROR);
    set(&mut headers, PSN_CLIENT, &client.to_string());
    set(&mut headers, PSN_MESSAGE_ID, id);
    if let Some(p) = purpose {
        set(&mut headers, PSN_PURPOSE, p);
    }
    let body = match body {
        SignedBody::Empty(proof) => {
            set(&mut headers, HeaderName::from_static(REQUEST_PROOF), &proof);
            super::body::full(bytes::Bytes::new())
        }
        SignedBody::Streamed(body) => body,
    };
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri = super::peers::peer_uri(peer, path_and_query)?;
    let mut outbound = Request::new(body);
    *outbound.method_mut() = parts.method;
    *outbound.uri_mut() = uri;
    *outbound.version_mut() = Version::HTTP_2;
    *outbound.headers_mut() = headers;
    Ok(outbound)
}

/// Relays the provider's answer: a problem its gateway raised (signed, whole) or the backend's
/// response, streamed and released with the provider's verified statement as its trailer once
/// the record is durable here.
async fn relay(
    shared: &Arc<Shared>,
    mut exchange: Exchange,
    sending: Sending,
    response: Response<Incoming>,
    connection: PeerConnection,
    trailers: CallerTrailers,
) -> Response<GatewayBody> {
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let provider_problem = parts.headers.remove(PSN_ERROR).is_some();
    let provider_proof = parts.headers.remove(RESPONSE_PROOF);
    let id = exchange.record.message_id.clone();
    set(&mut parts.headers, PSN_MESSAGE_ID, &id);
    if let Some(proof) = sending.proof() {
        set(
            &mut parts.headers,
            HeaderName::from_static(REQUEST_PROOF),
            &proof,
        );
    }
    if provider_problem {
        let relayed = RelayedProblem {
            parts,
            proof: provider_proof,
            connection,
        };
        return relay_provider_problem(shared, exchange, relayed, body).await;
    }
    exchange.record.status = parts.status.as_u16();
    trailers.prepare(&mut parts.headers);
    let recorder = shared.clone();
    let limit = shared.settings.limits.max_body_bytes;
    let verified = recorded_response(
        exchange,
        shared,
        body,
        limit,
        move |mut exchange, digest, trailers| {
            Box::pin(async move {
                let _ticket = sending.ticket;
                let shared = recorder;
                if let Some((digest, bytes, _)) = sending.signed.lock().ok().and_then(|s| s.clone())
                {
                    exchange.record.request_digest = Some(digest);
                    exchange.record.request_bytes = bytes;
                }
                let response_digest = content_digest(&digest.sha256);
                exchange.record.response_digest = Some(response_digest.clone());
                exchange.record.response_bytes = digest.bytes;
                let proof = trailers.as_ref().and_then(|t| t.get(RESPONSE_PROOF));
                match ExpectedResponse::of(&exchange.record).check(&shared, &connection, proof) {
                    Ok(proof) => {
                        exchange.record.peer_proof = Some(proof.clone());
                        let mut out = HeaderMap::new();
                        out.insert(RESPONSE_PROOF, HeaderValue::from_str(&proof)?);
                        exchange
                            .commit(&shared)
                            .await
                            .map_err(|e| -> BoxError { e.to_string().into() })?;
                        Ok(Some(out))
                    }
                    Err(reason) => {
                        tracing::error!(message_id = %exchange.record.message_id, %reason, "provider response statement refused");
                        exchange.record.problem = Some(ProblemType::ProofInvalid.uri());
                        if let Err(e) = exchange.commit(&shared).await {
                            tracing::error!(error = %e, "audit record of a refused response not written");
                        }
                        Err(reason.into())
                    }
                }
            })
        },
    );
    Response::from_parts(parts, boxed(verified))
}

/// What the provider's response statement must say, from what this gateway saw and sent.
struct ExpectedResponse<'a> {
    record: &'a AuditRecord,
    signer: String,
}

impl<'a> ExpectedResponse<'a> {
    fn of(record: &'a AuditRecord) -> Self {
        Self {
            record,
            signer: record.peer.clone().unwrap_or_default(),
        }
    }

    /// Checks the provider's statement against the exchange; returns the proof to keep. A
    /// refusal's statement may name no request digest: the provider answered before the body
    /// arrived.
    fn check(
        &self,
        shared: &Shared,
        provider: &PeerConnection,
        proof: Option<&HeaderValue>,
    ) -> Result<String, String> {
        let proof = proof
            .and_then(|v| v.to_str().ok())
            .ok_or("the provider gateway sent no signed response statement")?
            .to_owned();
        let decoded = decode_proof(&proof).map_err(|e| e.to_string())?;
        if !shared
            .verified
            .verify(&provider.verifier, &provider.certificate, &decoded)
        {
            return Err("the provider's response statement signature does not verify".into());
        }
        let statement = decoded.statement;
        let record = self.record;
        if let Some(why) =
            psn_core::clock::statement_outside(statement.at_ms, record.times.received_ms, now_ms())
        {
            return Err(format!(
                "the provider's response statement does not fit this gateway's clock: {why}; one \
                 of the two gateways' clocks is wrong"
            ));
        }
        let request_digest_matches = Some(statement.request_digest.as_str())
            == record.request_digest.as_deref()
            || (record.problem.is_some() && statement.request_digest.is_empty());
        let checks = [
            (statement.kind == StatementKind::Response, "kind"),
            (statement.message_id == record.message_id, "message id"),
            (statement.signer == self.signer, "signer"),
            (statement.client == record.client, "client"),
            (statement.service == record.service, "service"),
            (statement.method == record.method, "method"),
            (statement.path == record.path, "path"),
            (request_digest_matches, "request digest"),
            (statement.status == Some(record.status), "status"),
            (
                statement.response_digest.as_deref() == record.response_digest.as_deref(),
                "response digest",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, what)) => Err(format!(
                "the provider's response statement does not match the exchange ({what})"
            )),
            None => Ok(proof),
        }
    }
}

/// Refuses an exchange whose caller and target are known, recording it first.
async fn refuse(
    shared: &Shared,
    exchange: Exchange,
    kind: ProblemType,
    detail: String,
    id: &str,
) -> Response<GatewayBody> {
    let response = fail(kind, detail, id);
    exchange
        .refused(shared, kind, response, |e| {
            fail(ProblemType::AuditUnavailable, e, id)
        })
        .await
}

/// Largest problem document accepted from a provider gateway.
const MAX_PROVIDER_PROBLEM: usize = 64 * 1024;

/// A problem the provider gateway raised, as its head arrived.
struct RelayedProblem {
    parts: http::response::Parts,
    proof: Option<HeaderValue>,
    connection: PeerConnection,
}

/// Passes on a problem the provider gateway raised itself, with its signed statement when it
/// verifies (kept in the record and passed to the caller), recording its type.
async fn relay_provider_problem(
    shared: &Shared,
    mut exchange: Exchange,
    relayed: RelayedProblem,
    body: Incoming,
) -> Response<GatewayBody> {
    let id = exchange.record.message_id.clone();
    let Ok(Ok(collected)) = tokio::time::timeout(
        shared.settings.limits.response_timeout,
        http_body_util::Limited::new(body, MAX_PROVIDER_PROBLEM).collect(),
    )
    .await
    else {
        let detail = "the provider gateway's problem document was unreadable or too large".into();
        let kind = ProblemType::ProviderUnreachable;
        return refuse(shared, exchange, kind, detail, &id).await;
    };
    let bytes = collected.to_bytes();
    let kind = super::problem_kind(&bytes);
    let RelayedProblem {
        mut parts,
        proof,
        connection,
    } = relayed;
    exchange.record.status = parts.status.as_u16();
    exchange.record.response_bytes = bytes.len() as u64;
    exchange.record.response_digest = Some(content_digest(&psn_core::encoding::sha256(&bytes)));
    exchange.record.problem = Some(kind.uri());
    match ExpectedResponse::of(&exchange.record).check(shared, &connection, proof.as_ref()) {
        Ok(proof) => {
            set(
                &mut parts.headers,
                HeaderName::from_static(RESPONSE_PROOF),
                &proof,
            );
            exchange.record.peer_proof = Some(proof);
        }
        Err(reason) => {
            tracing::warn!(message_id = %id, %reason, "the provider's problem came without a valid statement");
        }
    }
    let response = Response::from_parts(parts, super::body::full(bytes));
    exchange
        .refused(shared, kind, response, |e| {
            fail(ProblemType::AuditUnavailable, e, &id)
        })
        .await
}

/// Which subsystem the caller is, by `PSN-Client` and the internal authentication rules.
fn authenticate(
    shared: &Shared,
    caller: &Caller,
    headers: &HeaderMap,
) -> Result<SubsystemId, String> {
    let text = single(headers, &PSN_CLIENT)?
        .ok_or("send PSN-Client: {network}/{class}/{code}/{subsystem}")?;
    let client: SubsystemId = text
        .parse()
        .map_err(|e: psn_core::names::NameError| e.to_string())?;
    if client.member() != shared.settings.gateway.member() {
        return Err(format!(
            "{client} is not a subsystem of {}, whose gateway this is",
            shared.settings.gateway.member()
        ));
    }
    let ip = caller.remote.ip().to_canonical();
    let Some(check) = shared.clients.get(&client) else {
        return if ip.is_loopback() {
            Ok(client)
        } else {
            Err(format!(
                "{client} may be used from loopback only; add a client rule for {ip}"
            ))
        };
    };
    let allowed = if check.allow.is_empty() {
        ip.is_loopback()
    } else {
        check.allow.iter().any(|n| n.contains(ip))
    };
    if !allowed {
        return Err(format!("{client} may not be used from {ip}"));
    }
    if let Some(name) = &check.certificate_name {
        if caller.certificate_names.is_empty() {
            return Err(format!(
                "{client} requires a TLS client certificate naming {name:?}"
            ));
        }
        if !caller.certificate_names.iter().any(|n| n == name) {
            return Err(format!(
                "the client certificate does not name {name:?}, which {client} requires"
            ));
        }
    }
    if let Some(expected) = &check.api_key_sha256 {
        let key = single(headers, &PSN_API_KEY)?
            .ok_or_else(|| format!("{client} requires PSN-Api-Key"))?;
        let hash = psn_core::encoding::b64url(&psn_core::encoding::sha256(key.as_bytes()));
        if !constant_time_eq(hash.as_bytes(), expected.as_bytes()) {
            return Err(format!("wrong PSN-Api-Key for {client}"));
        }
    }
    Ok(client)
}

/// Constant-time comparison of two secrets' hashes.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Liveness: the process answers. (Readiness says whether it should get traffic.)
fn liveness(id: &str) -> Response<GatewayBody> {
    let mut response = Response::new(super::body::full(r#"{"status":"alive"}"#));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    set(response.headers_mut(), PSN_MESSAGE_ID, id);
    response
}

/// The Prometheus exposition (OpenMetrics text).
async fn metrics(shared: &Shared) -> Response<GatewayBody> {
    let text = shared
        .metrics
        .render(shared, shared.peers.connections().await);
    let mut response = Response::new(super::body::full(text));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

fn body_is_empty(body: &Incoming, headers: &HeaderMap) -> bool {
    use http_body::Body;
    body.is_end_stream() || declared_length(headers) == Some(0)
}

/// Readiness: the configuration is current, the certificate valid and the audit log writable
/// (without any of them the gateway refuses exchanges, so a load balancer should send them
/// elsewhere). 503 with the reason otherwise.
fn readiness(shared: &Shared, id: &str) -> Response<GatewayBody> {
    let view = shared.view();
    let now = OffsetDateTime::now_utc();
    let expired = view.expired(now);
    let certificate_expires_at = shared.signing().not_after;
    let audit = shared.audit.status();
    let audit_state = match &audit.health {
        psn_audit::Health::Ok => serde_json::json!({ "status": "ok" }),
        psn_audit::Health::Failed { reason } => {
            serde_json::json!({ "status": "failed", "reason": reason })
        }
        psn_audit::Health::Closed => serde_json::json!({ "status": "closed" }),
    };
    let status = if expired {
        "config-expired"
    } else if certificate_expires_at <= now {
        "certificate-expired"
    } else if audit.health != psn_audit::Health::Ok {
        "audit-unavailable"
    } else if shared.clock.refusal().is_some() {
        "clock-skew"
    } else {
        "ok"
    };
    let body = serde_json::json!({
        "gateway": shared.settings.gateway.to_string(),
        "clock_offset_seconds": shared.clock.offset().map(|o| o.whole_seconds()),
        "config_version": view.config.version,
        "config_expires_at": view.config.expires_at.to_string(),
        "certificate_expires_at": certificate_expires_at.to_string(),
        "audit": {
            "state": audit_state,
            "segment": audit.segment,
            "unsealed_records": audit.unsealed_records,
            "last_seal_ms": audit.last_seal_ms,
        },
        "status": status,
    });
    let expired = status != "ok";
    let mut response = Response::new(super::body::full(body.to_string()));
    if expired {
        *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
    }
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    set(response.headers_mut(), PSN_MESSAGE_ID, id);
    response
}
