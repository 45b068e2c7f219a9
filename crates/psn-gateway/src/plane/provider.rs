//! The provider side: a peer gateway, authenticated by its certificate, relays a consumer's call.
//! The gateway checks the peer is still trusted, that the client is one of the peer's member's
//! subsystems, that a grant allows the call, and that the consumer's signed statement matches
//! what arrived; it forwards to the backend and signs a statement of what it returned.

use super::body::{boxed, BoxError, Digested, GatewayBody, PumpFailure, Pumped};
use super::consumer::PSN_ERROR;
use super::record::{recorded_response, refuse_unrecordable, Exchange};
use super::signing::VerifiedRoots;
use super::trace::{continue_trace, exchange_span, traced, tracing_on};
use super::{
    now_ms, parse_target, problem, set, single, strip_hop_by_hop, Shared, PSN_CLIENT,
    PSN_MESSAGE_ID, PSN_PURPOSE,
};
use http::{HeaderMap, HeaderValue, Request, Response};
use hyper::body::Incoming;
use psn_audit::{BodyPart, Role};
use psn_core::names::{GatewayId, SubsystemId};
use psn_core::problem::{error_chain, ProblemType};
use psn_core::proof::{
    content_digest, decode_proof, Statement, StatementKind, REQUEST_PROOF, RESPONSE_PROOF,
};
use psn_pki::StatementVerifier;
use std::sync::Arc;
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

fn fail(kind: ProblemType, detail: String, id: &str) -> Response<GatewayBody> {
    let mut response = problem(kind, detail, HOP, id);
    response
        .headers_mut()
        .insert(PSN_ERROR, HeaderValue::from_static(HOP));
    response
}

/// The request statement's expected contents, checked against the decoded proof.
struct Expected {
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

async fn handle_exchange(
    shared: Arc<Shared>,
    peer: Arc<PeerIdentity>,
    req: Request<Incoming>,
    span: &tracing::Span,
) -> Response<GatewayBody> {
    let received_ms = now_ms();
    let id = match single(req.headers(), &PSN_MESSAGE_ID)
        .ok()
        .flatten()
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
    {
        Some(u) => u.hyphenated().to_string(),
        None => {
            return fail(
                ProblemType::InvalidRequest,
                "PSN-Message-Id must be one UUID".into(),
                &uuid::Uuid::new_v4().to_string(),
            )
        }
    };
    span.record("psn.message_id", id.as_str());
    if let Some(mut refusal) = refuse_unrecordable(&shared, HOP, &id) {
        refusal
            .headers_mut()
            .insert(PSN_ERROR, HeaderValue::from_static(HOP));
        return refusal;
    }
    let view = shared.view();
    if view.expired(OffsetDateTime::now_utc()) {
        return fail(
            ProblemType::ConfigExpired,
            "the provider gateway's configuration has expired".into(),
            &id,
        );
    }
    if !view.trusts(&peer.gateway, &peer.serial) {
        return fail(
            ProblemType::GatewayRevoked,
            format!(
                "{} is not trusted by configuration version {}",
                peer.gateway, view.config.version
            ),
            &id,
        );
    }
    let target = match parse_target(req.uri().path(), req.uri().query()) {
        Ok(t) => t,
        Err(e) => return fail(ProblemType::InvalidRequest, e, &id),
    };
    span.record("psn.service", tracing::field::display(&target.service));
    let Some(local) = shared.services.get(&target.service) else {
        return fail(
            ProblemType::UnknownService,
            format!("{} is not provided by this gateway", target.service),
            &id,
        );
    };
    let client: SubsystemId = match single(req.headers(), &PSN_CLIENT)
        .ok()
        .flatten()
        .map(str::parse)
    {
        Some(Ok(c)) => c,
        _ => {
            return fail(
                ProblemType::UnknownClient,
                "PSN-Client must name one subsystem".into(),
                &id,
            )
        }
    };
    span.record("psn.client", tracing::field::display(&client));
    if client.member() != peer.gateway.member() {
        return fail(
            ProblemType::UnknownClient,
            format!(
                "{} may only act for its own member's subsystems, not {client}",
                peer.gateway
            ),
            &id,
        );
    }
    if !view.has_subsystem(&client) {
        return fail(
            ProblemType::UnknownClient,
            format!("{client} is not a registered subsystem of an active member"),
            &id,
        );
    }
    let method = req.method().to_string();
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
    );
    exchange.peer(&peer.gateway, &peer.serial, peer.certificate.clone());
    exchange.record.purpose = single(req.headers(), &PSN_PURPOSE)
        .ok()
        .flatten()
        .map(str::to_owned);
    if !view.allows(&client, &target.service, &method, &target.rest) {
        let detail = format!(
            "no grant allows {client} to {method} {}{}",
            target.service, target.rest
        );
        return refuse(&shared, exchange, ProblemType::AccessDenied, detail, &id).await;
    }
    let limit = shared.settings.limits.max_body_bytes;
    let backend_uri = match local.service.backend_uri(&path) {
        Ok(u) => u,
        Err(e) => {
            let detail = format!("the backend URL of {} is unusable: {e}", target.service);
            return refuse(&shared, exchange, ProblemType::Internal, detail, &id).await;
        }
    };
    let expected = Arc::new(Expected {
        message_id: id.clone(),
        signer: peer.gateway.to_string(),
        client: client.to_string(),
        service: target.service.to_string(),
        method: method.clone(),
        path,
    });

    let ticket = shared.batch.ticket();
    let (mut parts, body) = req.into_parts();
    let header_proof = parts
        .headers
        .remove(REQUEST_PROOF)
        .and_then(|v| v.to_str().ok().map(str::to_owned));
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
    // The consumer's statement is checked once its whole body has been read (by the pump,
    // whether or not the backend wanted all of it); the response is released only after that.
    let request_proof = Arc::new(std::sync::Mutex::new(None::<String>));
    let check: super::body::Check = {
        let (expected, shared, peer) = (expected.clone(), shared.clone(), peer.clone());
        let proof_slot = request_proof.clone();
        Box::new(move |digest, trailers| {
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
            if let Ok(mut slot) = proof_slot.lock() {
                *slot = Some(proof);
            }
            Ok(digest)
        })
    };
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
        super::body::pump(body, limit, check, tee)
    };
    let verification = async move {
        match pumped.await {
            Ok(Ok(pumped)) => Ok(pumped),
            Ok(Err(PumpFailure::TooLarge(limit))) => Err((
                ProblemType::BodyTooLarge,
                format!("the request body is over the {limit}-byte limit"),
            )),
            Ok(Err(PumpFailure::Body(e))) => Err((
                ProblemType::InvalidRequest,
                format!("the request body failed: {e}"),
            )),
            Ok(Err(PumpFailure::Refused(e))) => Err((ProblemType::ProofInvalid, e)),
            Err(_) => Err((
                ProblemType::Internal,
                "the request body reader stopped".to_owned(),
            )),
        }
    };
    let mut outbound = Request::new(backend_body);
    *outbound.method_mut() = parts.method;
    *outbound.uri_mut() = backend_uri;
    *outbound.headers_mut() = parts.headers;
    let headers = outbound.headers_mut();
    set(headers, PSN_CLIENT, &client.to_string());
    set(headers, PSN_MESSAGE_ID, &id);
    if let Some(p) = purpose {
        headers.insert(PSN_PURPOSE, p);
    }

    let timeout = shared.settings.limits.response_timeout;
    exchange.record.times.forwarded_ms = Some(now_ms());
    let forwarded = async {
        let response = tokio::time::timeout(timeout, local.client.request(outbound)).await;
        (response, verification.await)
    };
    let (response, verified) = forwarded.await;
    exchange.record.times.response_in_ms = Some(now_ms());
    let request_digest = match verified {
        Ok(pumped) => {
            exchange.record.request_digest = Some(pumped.checked.clone());
            exchange.record.request_bytes = pumped.bytes;
            exchange.record.peer_proof = request_proof.lock().ok().and_then(|p| p.clone());
            pumped.checked
        }
        Err((kind, reason)) => return refuse(&shared, exchange, kind, reason, &id).await,
    };
    let response = match response {
        Err(_) => {
            let detail = format!(
                "the backend of {} did not answer within {timeout:?}",
                target.service
            );
            return refuse(&shared, exchange, ProblemType::BackendTimeout, detail, &id).await;
        }
        Ok(Err(e)) => {
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
            return refuse(
                &shared,
                exchange,
                ProblemType::BackendUnreachable,
                detail,
                &id,
            )
            .await;
        }
        Ok(Ok(r)) => r,
    };
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(PSN_ERROR);
    parts.headers.remove(RESPONSE_PROOF);
    exchange.record.status = parts.status.as_u16();
    let mut statement = Statement {
        kind: StatementKind::Response,
        message_id: id,
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
    // The response ends (with the signed statement) only once its record is durable here, so
    // the consumer never holds a statement this gateway has no record of.
    let signed = recorded_response(
        exchange,
        &shared,
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

/// Refuses an exchange whose peer, client and target are known, recording it first.
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
