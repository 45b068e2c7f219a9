//! The consumer side: a member's own system calls `/r1/{service}/...` on the internal listener;
//! the gateway authenticates the calling subsystem, finds the provider's gateways in the
//! configuration, signs a statement of what it sends, and relays the call over mutual TLS.

use super::body::{boxed, BoxError, DigestBody, Digested, GatewayBody, TooLarge};
use super::peers::PeerConnection;
use super::record::{recorded_response, refuse_unrecordable, Exchange};
use super::trace::{continue_trace, exchange_span, traced, tracing_on};
use super::{
    message_id, now_ms, parse_target, problem, set, single, source_is, strip_hop_by_hop, Caller,
    Shared, PSN_API_KEY, PSN_CLIENT, PSN_MESSAGE_ID, PSN_PURPOSE,
};
use http::{HeaderMap, HeaderValue, Request, Response, Version};
use hyper::body::Incoming;
use psn_audit::{BodyPart, Role};
use psn_core::names::SubsystemId;
use psn_core::problem::ProblemType;
use psn_core::proof::{
    content_digest, decode_proof, Statement, StatementKind, REQUEST_PROOF, RESPONSE_PROOF,
};
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;
use tokio_util::sync::PollSender;

const HOP: &str = "consumer-gateway";

/// Largest total size of a request's header names and values; peers accept the same.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The consumer side waits this much longer than its response timeout, so that when a provider's
/// backend is slow the provider gateway's own timeout (attributing it to the backend) arrives
/// first.
const ATTRIBUTION_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Set by the provider gateway on problems it raises itself (they carry no signed statement).
pub const PSN_ERROR: &str = "psn-error";

/// Handles one request from an internal system. While traces are exported an exchange (a `/r1/`
/// call, not the operational endpoints) runs in a `psn.consume` span (docs/tracing.md).
pub async fn handle(
    shared: Arc<Shared>,
    caller: Caller,
    mut req: Request<Incoming>,
) -> Response<GatewayBody> {
    if !req.uri().path().starts_with("/r1/") || !tracing_on() {
        return handle_exchange(shared, caller, req, &tracing::Span::none()).await;
    }
    let span = exchange_span!("psn.consume");
    continue_trace(&span, req.headers_mut());
    traced(&span, handle_exchange(shared, caller, req, &span)).await
}

async fn handle_exchange(
    shared: Arc<Shared>,
    caller: Caller,
    req: Request<Incoming>,
    span: &tracing::Span,
) -> Response<GatewayBody> {
    let received_ms = now_ms();
    let id = match message_id(req.headers()) {
        Ok(id) => id,
        Err(e) => {
            return problem(
                ProblemType::InvalidRequest,
                e,
                HOP,
                &uuid::Uuid::new_v4().to_string(),
            )
        }
    };
    span.record("psn.message_id", id.as_str());
    let fail = |kind: ProblemType, detail: String| problem(kind, detail, HOP, &id);
    match req.uri().path() {
        "/healthz" | "/readyz" => return readiness(&shared, &id),
        "/livez" => return liveness(&id),
        "/metrics" => return metrics(&shared).await,
        _ => {}
    }
    if let Some(refusal) = refuse_unrecordable(&shared, HOP, &id) {
        return refusal;
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return fail(
            ProblemType::HeadersTooLarge,
            format!(
                "the request headers total {header_bytes} bytes; the limit is {MAX_HEADER_BYTES}"
            ),
        );
    }
    let view = shared.view();
    if view.expired(OffsetDateTime::now_utc()) {
        return fail(
            ProblemType::ConfigExpired,
            format!(
            "configuration version {} expired at {}; the authority has been unreachable too long",
            view.config.version, view.config.expires_at
        ),
        );
    }
    let target = match parse_target(req.uri().path(), req.uri().query()) {
        Ok(t) => t,
        Err(e) if !req.uri().path().starts_with("/r1/") => return fail(ProblemType::NotFound, e),
        Err(e) => return fail(ProblemType::InvalidRequest, e),
    };
    span.record("psn.service", tracing::field::display(&target.service));
    let client = match authenticate(&shared, &caller, req.headers()) {
        Ok(c) => c,
        Err(e) => return fail(ProblemType::UnknownClient, e),
    };
    span.record("psn.client", tracing::field::display(&client));
    if !view.has_subsystem(&client) {
        return fail(
            ProblemType::UnknownClient,
            format!("{client} is not a registered subsystem of an active member"),
        );
    }
    let purpose = match single(req.headers(), &PSN_PURPOSE) {
        Ok(p) if p.is_none_or(|p| p.len() <= 256) => p.map(str::to_owned),
        Ok(_) => {
            return fail(
                ProblemType::InvalidRequest,
                "PSN-Purpose is longer than 256 characters".into(),
            )
        }
        Err(e) => return fail(ProblemType::InvalidRequest, e),
    };
    let path = target.path_and_query();
    // The caller and what it asks for are known: from here every outcome is recorded.
    let mut exchange = Exchange::new(
        Role::Consumer,
        &id,
        client.to_string(),
        &target.service,
        req.method().to_string(),
        path.clone(),
        received_ms,
    );
    exchange.record.purpose.clone_from(&purpose);
    if !view.has_service(&target.service) {
        let detail = format!(
            "{} is not offered by an active member of this network",
            target.service
        );
        return refuse(&shared, exchange, ProblemType::UnknownService, detail, &id).await;
    }
    let limit = shared.settings.limits.max_body_bytes;
    if declared_length(req.headers()).is_some_and(|n| n > limit) {
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
            return refuse(
                &shared,
                exchange,
                ProblemType::ProviderUnreachable,
                detail,
                &id,
            )
            .await
        }
    };
    exchange.peer(&peer.id, &connection.serial, connection.certificate.clone());

    let ticket = shared.batch.ticket();
    let (parts, body) = req.into_parts();
    let statement = Statement {
        kind: StatementKind::Request,
        message_id: id.clone(),
        signer: shared.settings.gateway.to_string(),
        signer_serial: shared.signing().serial.clone(),
        client: client.to_string(),
        service: target.service.to_string(),
        method: parts.method.to_string(),
        path,
        request_digest: String::new(),
        status: None,
        response_digest: None,
        at_ms: now_ms(),
    };
    // Filled in when the request body has been sent: its digest and size, and the proof.
    let request_digest = Arc::new(Mutex::new(None::<(String, u64)>));
    let request_proof = Arc::new(Mutex::new(None::<String>));
    let sign = {
        let (digest_slot, proof_slot, batch) = (
            request_digest.clone(),
            request_proof.clone(),
            shared.batch.clone(),
        );
        move |digest: Digested| async move {
            let mut statement = statement;
            statement.request_digest = content_digest(&digest.sha256);
            statement.at_ms = now_ms();
            let proof = batch.sign(statement.to_bytes()).await?;
            if let Ok(mut slot) = digest_slot.lock() {
                *slot = Some((statement.request_digest.clone(), digest.bytes));
            }
            if let Ok(mut slot) = proof_slot.lock() {
                *slot = Some(proof.clone());
            }
            Ok::<_, String>(proof)
        }
    };
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    headers.remove(PSN_API_KEY);
    headers.remove(REQUEST_PROOF);
    headers.remove(PSN_ERROR);
    set(&mut headers, PSN_CLIENT, &client.to_string());
    set(&mut headers, PSN_MESSAGE_ID, &id);
    if let Some(p) = &purpose {
        set(&mut headers, PSN_PURPOSE, p);
    }
    let outbound_body: GatewayBody = if body_is_empty(&body, &headers) {
        let empty = Digested {
            sha256: psn_core::encoding::sha256(b""),
            bytes: 0,
        };
        let proof = match sign(empty).await {
            Ok(p) => p,
            Err(e) => return refuse(&shared, exchange, ProblemType::Internal, e, &id).await,
        };
        set(
            &mut headers,
            http::HeaderName::from_static(REQUEST_PROOF),
            &proof,
        );
        super::body::full(bytes::Bytes::new())
    } else {
        let tee = exchange
            .keep_body(&shared, BodyPart::Request)
            .map(PollSender::new);
        boxed(
            DigestBody::new(
                body,
                limit,
                Box::new(move |digest, _| {
                    Box::pin(async move {
                        let proof = sign(digest).await?;
                        let mut trailers = HeaderMap::new();
                        trailers.insert(REQUEST_PROOF, HeaderValue::from_str(&proof)?);
                        Ok(Some(trailers))
                    })
                }),
            )
            .with_tee(tee),
        )
    };
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri = match super::peers::peer_uri(&peer, path_and_query) {
        Ok(u) => u,
        Err(detail) => {
            return refuse(
                &shared,
                exchange,
                ProblemType::ProviderUnreachable,
                detail,
                &id,
            )
            .await;
        }
    };
    let mut outbound = Request::new(outbound_body);
    *outbound.method_mut() = parts.method.clone();
    *outbound.uri_mut() = uri;
    *outbound.version_mut() = Version::HTTP_2;
    *outbound.headers_mut() = headers;

    let mut sender = connection.sender.clone();
    let timeout = shared.settings.limits.response_timeout + ATTRIBUTION_GRACE;
    exchange.record.times.forwarded_ms = Some(now_ms());
    let sent = tokio::time::timeout(timeout, sender.send_request(outbound)).await;
    exchange.record.times.response_in_ms = Some(now_ms());
    if let Ok(Some((digest, bytes))) = request_digest.lock().map(|d| d.clone()) {
        exchange.record.request_digest = Some(digest);
        exchange.record.request_bytes = bytes;
    }
    let response = match sent {
        Err(_) => {
            let detail = format!("{} did not answer within {timeout:?}", peer.id);
            return refuse(&shared, exchange, ProblemType::ProviderTimeout, detail, &id).await;
        }
        Ok(Err(e)) => {
            if source_is::<TooLarge>(&e) {
                let detail = format!("the request body is over the {limit}-byte limit");
                return refuse(&shared, exchange, ProblemType::BodyTooLarge, detail, &id).await;
            }
            shared.peers.forget(&peer.id).await;
            let detail = format!("{}: {e}", peer.id);
            return refuse(
                &shared,
                exchange,
                ProblemType::ProviderUnreachable,
                detail,
                &id,
            )
            .await;
        }
        Ok(Ok(r)) => r,
    };
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let provider_problem = parts.headers.remove(PSN_ERROR).is_some();
    parts.headers.remove(RESPONSE_PROOF);
    set(&mut parts.headers, PSN_MESSAGE_ID, &id);
    if let Some(proof) = request_proof.lock().ok().and_then(|p| p.clone()) {
        set(
            &mut parts.headers,
            http::HeaderName::from_static(REQUEST_PROOF),
            &proof,
        );
    }
    if provider_problem {
        return relay_provider_problem(&shared, exchange, parts, body, &id).await;
    }
    let status = parts.status.as_u16();
    exchange.record.status = status;
    let expected_signer = peer.id.to_string();
    let recorder = shared.clone();
    let verified = recorded_response(
        exchange,
        &shared,
        body,
        limit,
        move |mut exchange, digest, trailers| {
            Box::pin(async move {
                // Held to the end: the caller's next request is likely on its way (see signing).
                let _ticket = ticket;
                let shared = recorder;
                if let Ok(Some((digest, bytes))) = request_digest.lock().map(|d| d.clone()) {
                    exchange.record.request_digest = Some(digest);
                    exchange.record.request_bytes = bytes;
                }
                let response_digest = content_digest(&digest.sha256);
                exchange.record.response_digest = Some(response_digest.clone());
                exchange.record.response_bytes = digest.bytes;
                let expected = ExpectedResponse {
                    message_id: &exchange.record.message_id,
                    signer: &expected_signer,
                    request_digest: exchange.record.request_digest.as_deref(),
                    status,
                    response_digest: &response_digest,
                };
                match expected.check(&shared, &connection, trailers.as_ref()) {
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

/// What the provider's response statement must say, from what this gateway saw.
struct ExpectedResponse<'a> {
    message_id: &'a str,
    signer: &'a str,
    request_digest: Option<&'a str>,
    status: u16,
    response_digest: &'a str,
}

impl ExpectedResponse<'_> {
    /// Checks the statement in the response trailers; returns the proof to keep.
    fn check(
        &self,
        shared: &Shared,
        provider: &PeerConnection,
        trailers: Option<&HeaderMap>,
    ) -> Result<String, String> {
        let proof = trailers
            .and_then(|t| t.get(RESPONSE_PROOF))
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
        let checks = [
            (statement.kind == StatementKind::Response, "kind"),
            (statement.message_id == self.message_id, "message id"),
            (statement.signer == self.signer, "signer"),
            (
                Some(statement.request_digest.as_str()) == self.request_digest,
                "request digest",
            ),
            (statement.status == Some(self.status), "status"),
            (
                statement.response_digest.as_deref() == Some(self.response_digest),
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
    let response = problem(kind, detail, HOP, id);
    exchange
        .refused(shared, kind, response, |e| {
            problem(ProblemType::AuditUnavailable, e, HOP, id)
        })
        .await
}

/// Largest problem document accepted from a provider gateway.
const MAX_PROVIDER_PROBLEM: usize = 64 * 1024;

/// Passes on a problem the provider gateway raised itself (it carries no signed statement),
/// recording its type.
async fn relay_provider_problem(
    shared: &Shared,
    mut exchange: Exchange,
    parts: http::response::Parts,
    body: Incoming,
    id: &str,
) -> Response<GatewayBody> {
    use http_body_util::BodyExt;
    let Ok(Ok(collected)) = tokio::time::timeout(
        shared.settings.limits.response_timeout,
        http_body_util::Limited::new(body, MAX_PROVIDER_PROBLEM).collect(),
    )
    .await
    else {
        let detail = "the provider gateway's problem document was unreadable or too large".into();
        return refuse(
            shared,
            exchange,
            ProblemType::ProviderUnreachable,
            detail,
            id,
        )
        .await;
    };
    let bytes = collected.to_bytes();
    let kind = super::problem_kind(&bytes);
    exchange.record.response_bytes = bytes.len() as u64;
    exchange.record.response_digest = Some(content_digest(&psn_core::encoding::sha256(&bytes)));
    let response = Response::from_parts(parts, super::body::full(bytes));
    exchange
        .refused(shared, kind, response, |e| {
            problem(ProblemType::AuditUnavailable, e, HOP, id)
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
    } else {
        "ok"
    };
    let body = serde_json::json!({
        "gateway": shared.settings.gateway.to_string(),
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
