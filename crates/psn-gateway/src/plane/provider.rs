//! The provider side: a peer gateway, authenticated by its certificate, relays a consumer's call.
//! The gateway checks the peer is still trusted, that the client is one of the peer's member's
//! subsystems, that a grant allows the call, and that the consumer's signed statement matches
//! what arrived; it forwards to the backend and signs a statement of what it returned.

use super::body::{boxed, BoxError, Digested, GatewayBody, PumpFailure, Pumped};
use super::consumer::PSN_ERROR;
use super::record::{
    recorded_response, unrecordable, Claims, Exchange, Unidentified, VerifiedRequest, VerifiedSlot,
};
use super::signing::VerifiedRoots;
use super::state::View;
use super::trace::{continue_trace, exchange_span, traced, tracing_on};
use super::{
    now_ms, parse_target, problem_body, problem_response, set, single, strip_hop_by_hop,
    LocalBackend, Shared, Target, PSN_CLIENT, PSN_MESSAGE_ID, PSN_PURPOSE,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response};
use hyper::body::Incoming;
use psn_audit::{BodyPart, Role};
use psn_core::names::{GatewayId, SubsystemId};
use psn_core::problem::{error_chain, ProblemType};
use psn_core::proof::{
    content_digest, decode_proof, Statement, StatementKind, REQUEST_PROOF, RESPONSE_PROOF,
};
use psn_pki::StatementVerifier;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::oneshot;

const HOP: &str = "provider-gateway";

/// The authenticated peer of a connection.
#[derive(Debug, Clone)]
pub struct PeerIdentity {
    /// Its gateway identity (from the certificate's URI SAN).
    pub gateway: GatewayId,
    /// Its certificate serial.
    pub serial: String,
    /// Its certificate, kept with its statements as evidence.
    pub certificate: Arc<Vec<u8>>,
    /// The certificate's key, parsed once per connection rather than per statement.
    pub verifier: Arc<StatementVerifier>,
}

/// A refusal: its cause, and the request body's digest when the body was read and the
/// consumer's statement of it verified.
struct Refusal {
    kind: ProblemType,
    detail: String,
    request_digest: Option<String>,
}

impl Refusal {
    fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            request_digest: None,
        }
    }

    fn after(pumped: &Pumped, kind: ProblemType, detail: String) -> Self {
        Self {
            kind,
            detail,
            request_digest: Some(pumped.checked.clone()),
        }
    }
}

/// What this gateway answers a request with when it refuses it, and what it records: every
/// answer is signed, refusals included, so the consumer can prove what this gateway said and
/// the attribution of a failure does not rest on its word alone.
struct Answering<'a> {
    shared: &'a Arc<Shared>,
    peer: &'a PeerIdentity,
    id: String,
    received_ms: i64,
    /// A `HEAD` request: the answer carries no body (its statement then digests the empty one).
    head: bool,
}

impl Answering<'_> {
    /// The problem `kind`, signed: the statement binds the request as it arrived (`claims`, and
    /// its body's digest when it was read) to the status and the document sent.
    async fn signed(
        &self,
        claims: &Claims,
        kind: ProblemType,
        detail: String,
        request_digest: Option<&str>,
    ) -> Response<GatewayBody> {
        let body = if self.head {
            bytes::Bytes::new()
        } else {
            problem_body(kind, detail, HOP, &self.id)
        };
        let statement = Statement {
            kind: StatementKind::Response,
            message_id: self.id.clone(),
            signer: self.shared.settings.gateway.to_string(),
            signer_serial: self.shared.signing().serial.clone(),
            client: claims.client.clone(),
            service: claims.service.clone(),
            method: claims.method.clone(),
            path: claims.path.clone(),
            request_digest: request_digest.unwrap_or_default().to_owned(),
            status: Some(kind.status()),
            response_digest: Some(content_digest(&psn_core::encoding::sha256(&body))),
            at_ms: now_ms(),
        };
        let proof = self.shared.batch.sign(statement.to_bytes()).await;
        let mut response = problem_response(kind, body, &self.id);
        let headers = response.headers_mut();
        headers.insert(PSN_ERROR, HeaderValue::from_static(HOP));
        match proof {
            Ok(proof) => set(
                headers,
                http::HeaderName::from_static(RESPONSE_PROOF),
                &proof,
            ),
            Err(e) => tracing::error!(message_id = %self.id, error = %e, "a refusal went unsigned"),
        }
        response
    }

    /// Refuses a request whose caller or target was never established: signed, and recorded
    /// within the gateway's budget for such refusals.
    async fn refuse_unidentified(
        &self,
        parts: &http::request::Parts,
        refusal: Refusal,
    ) -> Response<GatewayBody> {
        let kind = refusal.kind;
        let claims = Claims::of(parts);
        let response = self.signed(&claims, kind, refusal.detail, None).await;
        let request = Unidentified {
            role: Role::Provider,
            message_id: &self.id,
            claims,
            peer: Some((&self.peer.gateway, &self.peer.serial)),
            received_ms: self.received_ms,
        };
        super::record::refuse_unidentified(self.shared, request, kind, response).await
    }

    /// Refuses an exchange whose peer, client and target are known: recorded (with the
    /// consumer's statement if it was verified), then signed. If the record cannot be written
    /// the answer is `audit-unavailable` instead, signed too.
    async fn refuse(&self, exchange: Exchange, refusal: Refusal) -> Response<GatewayBody> {
        let Refusal {
            kind,
            detail,
            request_digest,
        } = refusal;
        let digest = request_digest.as_deref();
        let claims = Claims::of_record(&exchange.record);
        match exchange
            .commit_refusal(self.shared, kind, kind.status())
            .await
        {
            Ok(()) => self.signed(&claims, kind, detail, digest).await,
            Err(e) => {
                tracing::error!(error = %e, "audit record not written; exchange refused");
                let kind = ProblemType::AuditUnavailable;
                self.signed(&claims, kind, e.to_string(), digest).await
            }
        }
    }
}

/// The request statement's expected contents, checked against the decoded proof.
struct Expected {
    /// When the request's head arrived here.
    received_ms: i64,
    message_id: String,
    signer: String,
    client: String,
    service: String,
    method: String,
    path: String,
}

impl Expected {
    fn check(
        &self,
        proof: &str,
        verifier: &StatementVerifier,
        certificate: &[u8],
        roots: &VerifiedRoots,
        digest: &str,
    ) -> Result<Statement, String> {
        let decoded = decode_proof(proof).map_err(|e| e.to_string())?;
        if !roots.verify(verifier, certificate, &decoded) {
            return Err("the consumer's request statement signature does not verify".into());
        }
        let statement = decoded.statement;
        if let Some(why) =
            psn_core::clock::statement_outside(statement.at_ms, self.received_ms, now_ms())
        {
            return Err(format!(
                "the consumer's request statement does not fit this gateway's clock: {why}; one of \
                 the two gateways' clocks is wrong"
            ));
        }
        let checks = [
            (statement.kind == StatementKind::Request, "kind"),
            (statement.message_id == self.message_id, "message id"),
            (statement.signer == self.signer, "signer"),
            (statement.client == self.client, "client"),
            (statement.service == self.service, "service"),
            (statement.method == self.method, "method"),
            (statement.path == self.path, "path"),
            (statement.request_digest == digest, "request digest"),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, what)) => Err(format!(
                "the consumer's request statement does not match the request ({what})"
            )),
            None => Ok(statement),
        }
    }
}

/// Handles one request from a peer gateway. While traces are exported it runs in a
/// `psn.provide` span, the child of the consumer gateway's `psn.consume` (docs/tracing.md).
pub async fn handle(
    shared: Arc<Shared>,
    peer: Arc<PeerIdentity>,
    mut req: Request<Incoming>,
) -> Response<GatewayBody> {
    if !tracing_on() {
        return handle_exchange(shared, peer, req, &tracing::Span::none()).await;
    }
    let span = exchange_span!("psn.provide");
    continue_trace(&span, req.headers_mut());
    traced(&span, handle_exchange(shared, peer, req, &span)).await
}

/// The exchange in stages: admit the peer's request, check the grant, forward it with its body
/// checked against the consumer's statement, then answer with a signed statement of the
/// backend's response once the record is durable. Every refusal on the way is signed too.
async fn handle_exchange(
    shared: Arc<Shared>,
    peer: Arc<PeerIdentity>,
    req: Request<Incoming>,
    span: &tracing::Span,
) -> Response<GatewayBody> {
    let received_ms = now_ms();
    let (parts, body) = req.into_parts();
    let id = single(&parts.headers, &PSN_MESSAGE_ID)
        .ok()
        .flatten()
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .map(|u| u.hyphenated().to_string());
    let answering = Answering {
        shared: &shared,
        peer: &peer,
        id: id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        received_ms,
        head: parts.method == Method::HEAD,
    };
    let Some(id) = id else {
        let refusal = Refusal::new(
            ProblemType::InvalidRequest,
            "PSN-Message-Id must be one UUID",
        );
        return answering.refuse_unidentified(&parts, refusal).await;
    };
    span.record("psn.message_id", id.as_str());
    // A head the consumer gateway let through is within this, psn's own headers included.
    let allowance = psn_listener::limits::RELAY_ALLOWANCE;
    if let Err(refusal) = psn_listener::limits::check_with(&parts.uri, &parts.headers, allowance) {
        let refusal = Refusal::new(refusal.kind, refusal.detail);
        return answering.refuse_unidentified(&parts, refusal).await;
    }
    if let Some(reason) = unrecordable(&shared) {
        let claims = Claims::of(&parts);
        return answering
            .signed(&claims, ProblemType::AuditUnavailable, reason, None)
            .await;
    }
    let view = shared.view();
    let (target, local, client) = match admit(&shared, &view, &peer, &parts) {
        Ok(admitted) => admitted,
        Err(refusal) => return answering.refuse_unidentified(&parts, refusal).await,
    };
    span.record("psn.service", tracing::field::display(&target.service));
    span.record("psn.client", tracing::field::display(&client));
    let method = parts.method.to_string();
    let path = target.path_and_query();
    // The peer, its client and what it asks for are known: from here every outcome is recorded.
    let mut exchange = Exchange::new(
        Role::Provider,
        &id,
        client.to_string(),
        &target.service,
        method.clone(),
        path.clone(),
        received_ms,
    )
    .guarded(&shared);
    exchange.peer(&peer.gateway, &peer.serial, peer.certificate.clone());
    exchange.record.purpose = single(&parts.headers, &PSN_PURPOSE)
        .ok()
        .flatten()
        .map(str::to_owned);
    if !view.allows(&client, &target.service, &method, &target.rest) {
        let detail = format!(
            "no grant allows {client} to {method} {}{}",
            target.service, target.rest
        );
        let refusal = Refusal::new(ProblemType::AccessDenied, detail);
        return answering.refuse(exchange, refusal).await;
    }
    let backend_uri = match local.service.backend_uri(&path) {
        Ok(u) => u,
        Err(e) => {
            let detail = format!("the path cannot be joined to the backend URL: {e}");
            let refusal = Refusal::new(ProblemType::InvalidRequest, detail);
            return answering.refuse(exchange, refusal).await;
        }
    };
    let expected = Arc::new(Expected {
        received_ms: exchange.record.times.received_ms,
        message_id: id.clone(),
        signer: peer.gateway.to_string(),
        client: client.to_string(),
        service: target.service.to_string(),
        method,
        path,
    });
    let ticket = shared.batch.ticket();
    let verified: VerifiedSlot = Arc::new(Mutex::new(None));
    exchange.keep_verified_request(verified.clone());
    let limit = shared.settings.limits.max_body_bytes;
    let timeout = shared.settings.limits.response_timeout;
    let (mut parts, body) = (parts, body);
    let header_proof = parts
        .headers
        .remove(REQUEST_PROOF)
        .and_then(|v| v.to_str().ok().map(str::to_owned));
    let check = request_check(&shared, &peer, expected.clone(), header_proof, verified);
    let (backend_body, pumped) = if http_body::Body::is_end_stream(&body) {
        let (tx, rx) = oneshot::channel();
        let empty = Digested {
            sha256: psn_core::encoding::sha256(b""),
            bytes: 0,
        };
        let _ = tx.send(
            check(empty, None)
                .map(|checked| Pumped { checked, bytes: 0 })
                .map_err(PumpFailure::Refused),
        );
        (super::body::full(bytes::Bytes::new()), rx)
    } else {
        let tee = exchange.keep_body(&shared, BodyPart::Request);
        super::body::pump(body, limit, timeout, check, tee)
    };
    let outbound = backend_request(parts, backend_body, backend_uri, &client, &id);
    exchange.record.times.forwarded_ms = Some(now_ms());
    let answered = await_backend(local, outbound, pumped, timeout, &target).await;
    exchange.record.times.response_in_ms = Some(now_ms());
    let (response, pumped) = match answered {
        Ok(answered) => answered,
        Err(refusal) => return answering.refuse(exchange, refusal).await,
    };
    exchange.record.request_digest = Some(pumped.checked.clone());
    exchange.record.request_bytes = pumped.bytes;
    respond(
        &shared,
        exchange,
        &expected,
        pumped.checked,
        response,
        ticket,
    )
}

/// Admits a peer's request: the configuration is current, the peer trusted, the target one
/// of this gateway's services, and the client one of the peer member's registered subsystems.
fn admit<'s>(
    shared: &'s Shared,
    view: &View,
    peer: &PeerIdentity,
    parts: &http::request::Parts,
) -> Result<(Target, &'s LocalBackend, SubsystemId), Refusal> {
    if view.expired(OffsetDateTime::now_utc()) {
        return Err(Refusal::new(
            ProblemType::ConfigExpired,
            "the provider gateway's configuration has expired",
        ));
    }
    if let Some(detail) = shared.clock.refusal() {
        return Err(Refusal::new(
            ProblemType::ClockSkew,
            format!("the provider gateway: {detail}"),
        ));
    }
    let network = peer.gateway.member().network();
    if let Some(detail) = view.partner_expired(network, OffsetDateTime::now_utc()) {
        return Err(Refusal::new(ProblemType::PartnerConfigExpired, detail));
    }
    if !view.trusts(&peer.gateway, &peer.serial) {
        return Err(Refusal::new(
            ProblemType::GatewayRevoked,
            format!(
                "{} is not trusted by configuration version {}",
                peer.gateway, view.config.version
            ),
        ));
    }
    let target = parse_target(parts.uri.path(), parts.uri.query())
        .map_err(|e| Refusal::new(ProblemType::InvalidRequest, e))?;
    let Some(local) = shared.services.get(&target.service) else {
        return Err(Refusal::new(
            ProblemType::UnknownService,
            format!("{} is not provided by this gateway", target.service),
        ));
    };
    let client: SubsystemId = match single(&parts.headers, &PSN_CLIENT)
        .ok()
        .flatten()
        .map(str::parse)
    {
        Some(Ok(c)) => c,
        _ => {
            return Err(Refusal::new(
                ProblemType::UnknownClient,
                "PSN-Client must name one subsystem",
            ))
        }
    };
    if client.member() != peer.gateway.member() {
        return Err(Refusal::new(
            ProblemType::UnknownClient,
            format!(
                "{} may only act for its own member's subsystems, not {client}",
                peer.gateway
            ),
        ));
    }
    if !view.has_subsystem(&client) {
        return Err(Refusal::new(
            ProblemType::UnknownClient,
            format!("{client} is not a registered subsystem of an active member"),
        ));
    }
    Ok((target, local, client))
}

/// The check the request body must pass once read whole: the consumer's statement (a trailer,
/// or a header for an empty body) verifies and matches what arrived. A verified statement is
/// left in `verified` for the record, however the exchange then ends.
fn request_check(
    shared: &Arc<Shared>,
    peer: &Arc<PeerIdentity>,
    expected: Arc<Expected>,
    header_proof: Option<String>,
    verified: VerifiedSlot,
) -> super::body::Check {
    let (shared, peer) = (shared.clone(), peer.clone());
    Box::new(move |digest, trailers| {
        let bytes = digest.bytes;
        let digest = content_digest(&digest.sha256);
        let proof = trailers
            .as_ref()
            .and_then(|t| t.get(REQUEST_PROOF))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or(header_proof)
            .ok_or("the consumer gateway sent no signed request statement")?;
        expected.check(
            &proof,
            &peer.verifier,
            &peer.certificate,
            &shared.verified,
            &digest,
        )?;
        if let Ok(mut slot) = verified.lock() {
            *slot = Some(VerifiedRequest {
                proof,
                digest: digest.clone(),
                bytes,
            });
        }
        Ok(digest)
    })
}

/// The request for the backend: the consumer's headers less hop-by-hop and psn's own, with
/// the authenticated client and the message id.
fn backend_request(
    mut parts: http::request::Parts,
    body: GatewayBody,
    uri: http::Uri,
    client: &SubsystemId,
    id: &str,
) -> Request<GatewayBody> {
    strip_hop_by_hop(&mut parts.headers);
    let purpose = parts.headers.remove(PSN_PURPOSE);
    let psn_headers: Vec<_> = parts
        .headers
        .keys()
        .filter(|k| k.as_str().starts_with("psn-"))
        .cloned()
        .collect();
    for name in psn_headers {
        parts.headers.remove(name);
    }
    let mut outbound = Request::new(body);
    *outbound.method_mut() = parts.method;
    *outbound.uri_mut() = uri;
    *outbound.headers_mut() = parts.headers;
    let headers = outbound.headers_mut();
    set(headers, PSN_CLIENT, &client.to_string());
    set(headers, PSN_MESSAGE_ID, id);
    if let Some(p) = purpose {
        headers.insert(PSN_PURPOSE, p);
    }
    outbound
}

/// How the request body's reading ended, as a refusal when it failed: each cause is the
/// consumer side's (a 4xx), except a reader this gateway lost.
async fn verification(
    pumped: oneshot::Receiver<Result<Pumped, PumpFailure>>,
) -> Result<Pumped, Refusal> {
    match pumped.await {
        Ok(Ok(pumped)) => Ok(pumped),
        Ok(Err(PumpFailure::TooLarge(limit))) => Err(Refusal::new(
            ProblemType::BodyTooLarge,
            format!("the request body is over the {limit}-byte limit"),
        )),
        Ok(Err(PumpFailure::Body(e))) => Err(Refusal::new(
            ProblemType::InvalidRequest,
            format!("the request body failed: {e}"),
        )),
        Ok(Err(PumpFailure::Stalled(idle))) => Err(Refusal::new(
            ProblemType::RequestTimeout,
            format!("no part of the request body arrived for {idle:?}"),
        )),
        Ok(Err(PumpFailure::Refused(e))) => Err(Refusal::new(ProblemType::RequestProofInvalid, e)),
        Err(_) => Err(Refusal::new(
            ProblemType::Internal,
            "the request body reader stopped",
        )),
    }
}

/// Sends the request to the backend and waits for its answer and for the request body's
/// verification. The backend's time runs from when the whole request has arrived, so a
/// consumer sending its body slowly cannot make the backend look slow.
async fn await_backend(
    local: &LocalBackend,
    outbound: Request<GatewayBody>,
    pumped: oneshot::Receiver<Result<Pumped, PumpFailure>>,
    timeout: Duration,
    target: &Target,
) -> Result<(Response<Incoming>, Pumped), Refusal> {
    let mut request = std::pin::pin!(local.client.request(outbound));
    let mut verifying = std::pin::pin!(verification(pumped));
    let mut deadline = std::pin::pin!(tokio::time::sleep(Duration::MAX / 4));
    let mut verified: Option<Pumped> = None;
    let answered = loop {
        tokio::select! {
            outcome = &mut verifying, if verified.is_none() => {
                verified = Some(outcome?);
                deadline.as_mut().reset(tokio::time::Instant::now() + timeout);
            }
            answered = &mut request => break answered,
            () = &mut deadline, if verified.is_some() => {
                let detail = format!(
                    "the backend of {} did not answer within {timeout:?}",
                    target.service
                );
                return Err(backend_refusal(verified, ProblemType::BackendTimeout, detail));
            }
        }
    };
    let pumped = match verified {
        Some(pumped) => pumped,
        None => verifying.await?,
    };
    match answered {
        Ok(response) => Ok((response, pumped)),
        Err(e) => {
            let detail = if e.is_connect() {
                format!(
                    "the backend of {} refused the connection: {e}",
                    target.service
                )
            } else {
                format!(
                    "the backend of {} failed: {}",
                    target.service,
                    error_chain(&e)
                )
            };
            Err(Refusal::after(
                &pumped,
                ProblemType::BackendUnreachable,
                detail,
            ))
        }
    }
}

fn backend_refusal(verified: Option<Pumped>, kind: ProblemType, detail: String) -> Refusal {
    match verified {
        Some(pumped) => Refusal::after(&pumped, kind, detail),
        None => Refusal::new(kind, detail),
    }
}

/// Streams the backend's response back with this gateway's signed statement as its trailer,
/// released only once the exchange's record is durable here, so the consumer never holds a
/// statement this gateway has no record of.
fn respond(
    shared: &Arc<Shared>,
    mut exchange: Exchange,
    expected: &Expected,
    request_digest: String,
    response: Response<Incoming>,
    ticket: super::signing::StatementTicket,
) -> Response<GatewayBody> {
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(PSN_ERROR);
    parts.headers.remove(RESPONSE_PROOF);
    exchange.record.status = parts.status.as_u16();
    let mut statement = Statement {
        kind: StatementKind::Response,
        message_id: expected.message_id.clone(),
        signer: shared.settings.gateway.to_string(),
        signer_serial: shared.signing().serial.clone(),
        client: expected.client.clone(),
        service: expected.service.clone(),
        method: expected.method.clone(),
        path: expected.path.clone(),
        request_digest,
        status: Some(parts.status.as_u16()),
        response_digest: None,
        at_ms: now_ms(),
    };
    let batch = shared.batch.clone();
    let recorder = shared.clone();
    let limit = shared.settings.limits.max_body_bytes;
    let signed = recorded_response(
        exchange,
        shared,
        body,
        limit,
        move |mut exchange, digest, _| {
            Box::pin(async move {
                let shared = recorder;
                statement.response_digest = Some(content_digest(&digest.sha256));
                statement.at_ms = now_ms();
                exchange.record.response_digest = statement.response_digest.clone();
                exchange.record.response_bytes = digest.bytes;
                // The record does not hold this gateway's own statement, so the signature and
                // the record's sync overlap rather than add up.
                let signed = async {
                    let proof = batch.sign(statement.to_bytes()).await;
                    drop(ticket);
                    proof
                };
                let (proof, committed) = tokio::join!(signed, exchange.commit(&shared));
                committed.map_err(|e| -> BoxError { e.to_string().into() })?;
                let proof = proof?;
                let mut trailers = HeaderMap::new();
                trailers.insert(RESPONSE_PROOF, HeaderValue::from_str(&proof)?);
                Ok(Some(trailers))
            })
        },
    );
    Response::from_parts(parts, boxed(signed))
}
