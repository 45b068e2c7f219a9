//! Availability probes (DESIGN.md "Operational monitoring and SLAs"): without traffic nobody
//! knows whether a service is up, so gateways ask.
//!
//! - A consumer gateway probes, every `probe_interval`, the provider gateway of each service its
//!   member has used: `GET /.psn/probe/{service}` over the peer mutual TLS.
//! - A provider gateway probes its own backends' `health_path` on the same interval, and answers
//!   consumers' probes from the latest result (so a hundred consumers probing cost the backend
//!   one request per interval).
//!
//! Every probe is recorded in the audit log like an exchange (method `PROBE`, no statements), so
//! probes reach the authority through the same aggregates as member traffic, with the same
//! exactly-once delivery, and the evidence for an availability dispute is tamper-evident.

use super::body::{full, GatewayBody};
use super::consumer::PSN_ERROR;
use super::record::{refuse_unrecordable, Exchange};
use super::{now_ms, problem, set, Shared, PSN_CLIENT, PSN_MESSAGE_ID};
use crate::datadir::{write_private, GatewayDir};
use http::{HeaderValue, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use psn_audit::Role;
use psn_core::names::ServiceId;
use psn_core::problem::ProblemType;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::watch;

/// The method probe records carry, so nothing mistakes them for member traffic.
pub const PROBE_METHOD: &str = "PROBE";
/// Path prefix of the probe endpoint on the peer-facing listener. Service paths never start
/// with a dot, so it cannot shadow a service.
pub const PROBE_PATH: &str = "/.psn/probe/";
/// The provider's hop name in probe problems.
const HOP: &str = "provider-gateway";
/// Largest probe answer read.
const MAX_ANSWER: usize = 64 * 1024;

/// What the provider gateway last learned about one backend.
#[derive(Debug, Clone)]
pub enum BackendHealth {
    /// The health path answered 2xx.
    Up,
    /// It did not: why, as the problem a consumer's probe gets.
    Down(ProblemType, String),
}

/// Answers a peer gateway's probe of one of this gateway's services.
pub fn answer(shared: &Shared, path: &str, headers: &http::HeaderMap) -> Response<GatewayBody> {
    let id = headers
        .get(PSN_MESSAGE_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .unwrap_or_else(uuid::Uuid::new_v4)
        .hyphenated()
        .to_string();
    let fail = |kind: ProblemType, detail: String| {
        let mut response = problem(kind, detail, HOP, &id);
        response
            .headers_mut()
            .insert(PSN_ERROR, HeaderValue::from_static(HOP));
        response
    };
    // A provider that cannot record exchanges cannot carry them: it is down for consumers.
    if let Some(mut refusal) = refuse_unrecordable(shared, HOP, &id) {
        refusal
            .headers_mut()
            .insert(PSN_ERROR, HeaderValue::from_static(HOP));
        return refusal;
    }
    if shared.view().expired(OffsetDateTime::now_utc()) {
        let detail = "the provider gateway's configuration has expired".into();
        return fail(ProblemType::ConfigExpired, detail);
    }
    let service = path
        .strip_prefix(PROBE_PATH)
        .and_then(|s| s.parse::<ServiceId>().ok());
    let Some(service) = service.filter(|s| shared.services.contains_key(s)) else {
        let detail = "this gateway provides no such service".into();
        return fail(ProblemType::UnknownService, detail);
    };
    let health = shared
        .backend_health
        .read()
        .ok()
        .and_then(|h| h.get(&service).cloned());
    let backend = match health {
        Some(BackendHealth::Down(kind, detail)) => return fail(kind, detail),
        Some(BackendHealth::Up) => "up",
        None => "unchecked",
    };
    let body = serde_json::json!({ "service": service.to_string(), "backend": backend });
    let mut response = Response::new(full(body.to_string()));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    set(response.headers_mut(), PSN_MESSAGE_ID, &id);
    response
}

/// Where the services this member has used are remembered across restarts, so probing resumes
/// before the first exchange.
pub fn used_services_path(dir: &GatewayDir) -> PathBuf {
    dir.root().join("monitoring").join("used-services.json")
}

/// The services this member has used, as last saved (empty if never saved or unreadable).
pub fn load_used_services(dir: &GatewayDir) -> BTreeMap<ServiceId, String> {
    std::fs::read(used_services_path(dir))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Probes, every `probe_interval`, the providers of the services this member uses and this
/// gateway's own backends, until shutdown.
pub async fn run(dir: GatewayDir, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let settings = &shared.settings.monitoring;
    let mut saved = load_used_services(&dir);
    // The first round waits one interval: a gateway that just started has nothing to report.
    let mut every = tokio::time::interval_at(
        tokio::time::Instant::now() + settings.probe_interval,
        settings.probe_interval,
    );
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.changed() => return,
        }
        let round = async {
            let backends = shared
                .services
                .keys()
                .map(|service| probe_backend(&shared, service));
            let used: BTreeMap<ServiceId, String> = shared
                .used_services
                .read()
                .map(|u| u.clone())
                .unwrap_or_default();
            if used != saved {
                let path = used_services_path(&dir);
                let written = std::fs::create_dir_all(dir.root().join("monitoring"))
                    .map_err(|e| e.to_string())
                    .and_then(|()| {
                        let json = serde_json::to_vec_pretty(&used).map_err(|e| e.to_string())?;
                        write_private(&path, &json).map_err(|e| e.to_string())
                    });
                match written {
                    Ok(()) => saved = used.clone(),
                    Err(e) => tracing::warn!(error = %e, "used services not saved"),
                }
            }
            let providers = used
                .into_iter()
                .map(|(service, client)| probe_provider(&shared, service, client));
            futures_util::future::join(
                futures_util::future::join_all(backends),
                futures_util::future::join_all(providers),
            )
            .await;
        };
        tokio::select! {
            _ = round => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Probes one local backend's health path (if it has one), records the probe and keeps the
/// result for consumers' probes.
async fn probe_backend(shared: &Shared, service: &ServiceId) {
    let Some(local) = shared.services.get(service) else {
        return;
    };
    let Some(path) = local.service.health_path.clone() else {
        return;
    };
    let timeout = shared.settings.monitoring.probe_timeout;
    let mut exchange = Exchange::new(
        Role::Provider,
        &uuid::Uuid::new_v4().hyphenated().to_string(),
        shared.settings.gateway.to_string(),
        service,
        PROBE_METHOD.to_owned(),
        path.clone(),
        now_ms(),
    );
    let request = local.service.backend_uri(&path).map(|uri| {
        let mut request = Request::new(full(bytes::Bytes::new()));
        *request.uri_mut() = uri;
        request
    });
    exchange.record.times.forwarded_ms = Some(now_ms());
    let health = match request {
        Err(e) => {
            exchange.record.status = 500;
            exchange.record.problem = Some(ProblemType::Internal.uri());
            BackendHealth::Down(
                ProblemType::Internal,
                format!("the health URL of {service} is unusable: {e}"),
            )
        }
        Ok(request) => {
            let answered = tokio::time::timeout(timeout, async {
                let response = local.client.request(request).await?;
                let status = response.status();
                // Drain (bounded) so the connection returns to the pool.
                let _ = http_body_util::Limited::new(response.into_body(), MAX_ANSWER)
                    .collect()
                    .await;
                Ok::<_, hyper_util::client::legacy::Error>(status)
            })
            .await;
            exchange.record.times.response_in_ms = Some(now_ms());
            match answered {
                Ok(Ok(status)) => {
                    exchange.record.status = status.as_u16();
                    if status.is_success() {
                        BackendHealth::Up
                    } else {
                        let detail = format!("the backend's health check answered {status}");
                        BackendHealth::Down(ProblemType::BackendUnreachable, detail)
                    }
                }
                Ok(Err(e)) => {
                    exchange.record.status = 502;
                    exchange.record.problem = Some(ProblemType::BackendUnreachable.uri());
                    let detail = format!(
                        "the backend's health check failed: {}",
                        psn_core::problem::error_chain(&e)
                    );
                    BackendHealth::Down(ProblemType::BackendUnreachable, detail)
                }
                Err(_) => {
                    exchange.record.status = 504;
                    exchange.record.problem = Some(ProblemType::BackendTimeout.uri());
                    let detail = format!("the backend's health check took over {timeout:?}");
                    BackendHealth::Down(ProblemType::BackendTimeout, detail)
                }
            }
        }
    };
    if let Ok(mut known) = shared.backend_health.write() {
        known.insert(service.clone(), health);
    }
    if let Err(e) = exchange.commit(shared).await {
        tracing::warn!(%service, error = %e, "backend probe not recorded");
    }
}

/// Probes the provider gateway of one service this member uses, as `client`, and records it.
async fn probe_provider(shared: &Shared, service: ServiceId, client: String) {
    let view = shared.view();
    if !view.has_service(&service) {
        return;
    }
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    let path = format!("{PROBE_PATH}{service}");
    let mut exchange = Exchange::new(
        Role::Consumer,
        &id,
        client.clone(),
        &service,
        PROBE_METHOD.to_owned(),
        path.clone(),
        now_ms(),
    );
    let outcome = ask_provider(shared, &view, &mut exchange, &service, &client, &id, &path).await;
    if let Err((kind, detail)) = outcome {
        tracing::debug!(%service, problem = %kind.uri(), %detail, "provider probe failed");
        exchange.record.problem = Some(kind.uri());
        if exchange.record.status == 0 {
            exchange.record.status = kind.status();
        }
    }
    if let Err(e) = exchange.commit(shared).await {
        tracing::warn!(%service, error = %e, "provider probe not recorded");
    }
}

/// Sends the probe to the first reachable gateway of the provider; fills in the record's hops
/// and status, or says what failed.
async fn ask_provider(
    shared: &Shared,
    view: &super::state::View,
    exchange: &mut Exchange,
    service: &ServiceId,
    client: &str,
    id: &str,
    path: &str,
) -> Result<(), (ProblemType, String)> {
    let unreachable = |detail: String| (ProblemType::ProviderUnreachable, detail);
    let (peer, connection) = shared
        .peers
        .first_reachable(service.member(), view)
        .await
        .map_err(unreachable)?;
    exchange.peer(&peer.id, &connection.serial, connection.certificate.clone());
    let uri = super::peers::peer_uri(&peer, path).map_err(unreachable)?;
    let mut request = Request::new(full(bytes::Bytes::new()));
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_2;
    set(request.headers_mut(), PSN_MESSAGE_ID, id);
    set(request.headers_mut(), PSN_CLIENT, client);
    let timeout = shared.settings.monitoring.probe_timeout;
    let mut sender = connection.sender.clone();
    exchange.record.times.forwarded_ms = Some(now_ms());
    let answered = tokio::time::timeout(timeout, async {
        let response = sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let body = http_body_util::Limited::new(body, MAX_ANSWER)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        Ok::<_, hyper::Error>((parts, body))
    })
    .await;
    exchange.record.times.response_in_ms = Some(now_ms());
    let (parts, body) = match answered {
        Err(_) => {
            let detail = format!("{} did not answer the probe within {timeout:?}", peer.id);
            return Err((ProblemType::ProviderTimeout, detail));
        }
        Ok(Err(e)) => {
            shared.peers.forget_failed(&peer.id).await;
            return Err(unreachable(format!("{}: {e}", peer.id)));
        }
        Ok(Ok(answer)) => answer,
    };
    exchange.record.status = parts.status.as_u16();
    exchange.record.response_bytes = body.len() as u64;
    if parts.status == StatusCode::OK {
        return Ok(());
    }
    let kind = super::problem_kind(&body);
    Err((
        kind,
        format!("{} answered the probe {}", peer.id, parts.status),
    ))
}
