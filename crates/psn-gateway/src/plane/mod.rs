//! The data plane (DESIGN.md "Data plane"): the consumer side on the internal listener, the
//! provider side on the peer-facing mutual-TLS listener, and what both share.

pub mod body;
mod budget;
pub mod checkpoint;
pub mod cidr;
pub mod clock;
mod consumer;
mod peers;
pub mod probe;
mod provider;
mod record;
pub mod signing;
pub mod state;
mod trace;

pub use budget::RefusalBudget;
pub use consumer::{handle as consume, PSN_ERROR};
pub use peers::PeerPool;
pub use provider::{handle as provide, PeerIdentity};

/// The data plane's private readers of request heads, reachable for the fuzz targets (`fuzz/`)
/// only: they read what callers and peer gateways send, so they are fuzzed directly. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    pub use super::record::Claims;
    pub use super::trace::well_formed_traceparent;
}

use crate::datadir::{GatewaySettings, LocalService};
use body::{full, GatewayBody};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use psn_core::names::{ServiceId, SubsystemId};
use psn_core::problem::{Problem, ProblemType, PROBLEM_JSON};
use psn_pki::{SharedIdentity, StatementSigner};
use state::View;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

/// `PSN-Client`: the calling subsystem.
pub const PSN_CLIENT: HeaderName = HeaderName::from_static("psn-client");
/// `PSN-Message-Id`: the exchange's id (UUID).
pub const PSN_MESSAGE_ID: HeaderName = HeaderName::from_static("psn-message-id");
/// `PSN-Purpose`: the lawful purpose, logged.
pub const PSN_PURPOSE: HeaderName = HeaderName::from_static("psn-purpose");
/// `PSN-Api-Key`: internal authentication, when a client rule requires it.
pub const PSN_API_KEY: HeaderName = HeaderName::from_static("psn-api-key");

/// The signing identity in force (replaced on renewal).
pub struct Signing {
    /// Statement signer (the gateway's key).
    pub signer: StatementSigner,
    /// Serial of the certificate for that key.
    pub serial: String,
    /// When that certificate expires (readiness and metrics watch it).
    pub not_after: time::OffsetDateTime,
}

/// Everything the handlers share.
pub struct Shared {
    /// Settings from `gateway.toml`.
    pub settings: GatewaySettings,
    /// The configuration view in force.
    pub view: watch::Receiver<Arc<View>>,
    /// TLS identity for both listeners and the peer client.
    pub identity: Arc<SharedIdentity>,
    /// Statement signing key (shared with the batch signer).
    pub signing: Arc<RwLock<Arc<Signing>>>,
    /// Batches statements under one signature.
    pub batch: signing::BatchSigner,
    /// Batch roots already verified.
    pub verified: signing::VerifiedRoots,
    /// Bumped when the gateway's certificate is renewed: peer connections made with the old
    /// certificate are closed so statements (signed with the new key) verify on fresh ones.
    pub identity_generation: watch::Sender<u64>,
    /// Connections to peer gateways.
    pub peers: PeerPool,
    /// Local services by id, each with the client that reaches its backend.
    pub services: HashMap<ServiceId, LocalBackend>,
    /// Internal authentication rules by subsystem.
    pub clients: HashMap<SubsystemId, ClientCheck>,
    /// The audit log every exchange is recorded in.
    pub audit: psn_audit::AuditLog,
    /// Services whose records are synced lazily, with the longest delay.
    pub buffered_audit: HashMap<ServiceId, std::time::Duration>,
    /// Services whose bodies are kept in the audit log.
    pub kept_bodies: std::collections::HashSet<ServiceId>,
    /// Prometheus metrics.
    pub metrics: crate::metrics::GatewayMetrics,
    /// Audit segments archived since the gateway started (metrics and operators watch it).
    pub audit_archived: watch::Sender<u64>,
    /// Services this member has called, with a subsystem that called each: the consumer side
    /// probes their providers.
    pub used_services: RwLock<std::collections::BTreeMap<ServiceId, String>>,
    /// The latest health of each local backend that has a health path.
    pub backend_health: RwLock<HashMap<ServiceId, probe::BackendHealth>>,
    /// Audit records delivered to the authority as aggregates since the gateway started (a
    /// metric, and a signal tests wait on).
    pub aggregated: watch::Sender<u64>,
    /// How many refusals of unidentified requests are still recorded (`[audit]
    /// unidentified_refusals_per_second`).
    pub refusal_budget: RefusalBudget,
    /// This gateway's clock against the authority's.
    pub clock: clock::ClockCheck,
}

/// A pooled HTTP client towards backends; speaks `https://` where a service's backend does.
pub type BackendClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    GatewayBody,
>;

/// A service this gateway provides and the client for its backend. Plain `http://` backends
/// share one pool; each `https://` backend has its own, trusting only its own CA bundle.
pub struct LocalBackend {
    /// The service's local settings.
    pub service: LocalService,
    /// Connections to its backend.
    pub client: BackendClient,
}

/// How one subsystem is authenticated on the internal listener (from its client rule).
#[derive(Debug, Clone, Default)]
pub struct ClientCheck {
    /// Source networks it may call from; empty means loopback only.
    pub allow: Vec<cidr::Cidr>,
    /// SHA-256 (base64url) of the API key it must send.
    pub api_key_sha256: Option<String>,
    /// A name its TLS client certificate must carry.
    pub certificate_name: Option<String>,
}

/// Who is calling on the internal listener, as far as the transport tells.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Source address.
    pub remote: std::net::SocketAddr,
    /// Names from the client certificate verified in the TLS handshake (empty without one).
    pub certificate_names: Arc<[String]>,
}

impl Shared {
    /// The current view.
    pub fn view(&self) -> Arc<View> {
        self.view.borrow().clone()
    }

    /// How durable `service`'s audit records must be before its response is released.
    pub fn durability(&self, service: &ServiceId) -> psn_audit::Durability {
        match self.buffered_audit.get(service) {
            Some(max_delay) => psn_audit::Durability::Buffered {
                max_delay: *max_delay,
            },
            None => psn_audit::Durability::Durable,
        }
    }

    /// Whether `service` exists: in the configuration in force, or as one of this gateway's own.
    /// Only such services get their own metric series and aggregate rows.
    pub fn knows_service(&self, service: &ServiceId) -> bool {
        self.services.contains_key(service) || self.view.borrow().has_service(service)
    }

    /// Whether `service` opted in to keeping bodies in the audit log.
    pub fn keeps_bodies(&self, service: &ServiceId) -> bool {
        self.kept_bodies.contains(service)
    }

    /// Remembers that `client` called `service`, so its provider is probed.
    pub fn note_use(&self, service: &ServiceId, client: &str) {
        let known = self
            .used_services
            .read()
            .is_ok_and(|u| u.contains_key(service));
        if !known {
            if let Ok(mut used) = self.used_services.write() {
                used.entry(service.clone())
                    .or_insert_with(|| client.to_owned());
            }
        }
    }

    /// The current signing identity.
    pub fn signing(&self) -> Arc<Signing> {
        match self.signing.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

/// Now, in Unix milliseconds (statement and audit timestamps).
pub(crate) fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// An RFC 9457 response naming the hop and the message id.
pub fn problem(
    kind: ProblemType,
    detail: impl Into<String>,
    hop: &str,
    message_id: &str,
) -> Response<GatewayBody> {
    problem_response(
        kind,
        problem_body(kind, detail, hop, message_id),
        message_id,
    )
}

/// The RFC 9457 document naming the cause, the hop and the message id.
pub fn problem_body(
    kind: ProblemType,
    detail: impl Into<String>,
    hop: &str,
    message_id: &str,
) -> bytes::Bytes {
    let problem = Problem::new(kind, detail)
        .with_hop(hop)
        .with_message_id(message_id);
    match serde_json::to_vec(&problem) {
        Ok(body) => body.into(),
        Err(e) => {
            tracing::error!(error = %e, "a problem document could not be serialised");
            bytes::Bytes::new()
        }
    }
}

/// A response carrying a problem document already built (or, answering `HEAD`, no body).
pub fn problem_response(
    kind: ProblemType,
    body: bytes::Bytes,
    message_id: &str,
) -> Response<GatewayBody> {
    let mut response = Response::new(full(body));
    *response.status_mut() =
        StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_JSON),
    );
    if let Ok(v) = HeaderValue::from_str(message_id) {
        response.headers_mut().insert(PSN_MESSAGE_ID, v);
    }
    response
}

/// The psn problem type of a problem document another gateway sent; `internal` when it is
/// unreadable or names no known type.
pub(crate) fn problem_kind(body: &[u8]) -> ProblemType {
    serde_json::from_slice::<Problem>(body)
        .ok()
        .and_then(|p| p.kind())
        .unwrap_or(ProblemType::Internal)
}

/// Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1), plus any the
/// `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    ] {
        headers.remove(name);
    }
}

/// Sets a header if the value is valid header text.
pub fn set(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// Whether an error or any of its sources is an `E`.
pub fn source_is<E: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(e);
    while let Some(err) = current {
        if err.is::<E>() {
            return true;
        }
        current = err.source();
    }
    false
}

/// A request target under `/r1/`: the service and the rest of the path.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    /// The service.
    pub service: ServiceId,
    /// The path below the service (`""` or starting with `/`), without the query.
    pub rest: String,
    /// The query, without `?`.
    pub query: Option<String>,
}

impl Target {
    /// The path below the service with its query, as statements and audit records name it.
    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.rest),
            None => self.rest.clone(),
        }
    }
}

/// Parses `/r1/{network}/{class}/{code}/{subsystem}/{service}[/{path}][?{query}]`, refusing
/// traversal and encoded separators so the backend path cannot escape the service's base.
pub fn parse_target(path: &str, query: Option<&str>) -> Result<Target, String> {
    let rest = path
        .strip_prefix("/r1/")
        .ok_or("requests go to /r1/{network}/{class}/{code}/{subsystem}/{service}[/{path}]")?;
    let mut parts = rest.splitn(6, '/');
    let ids: Vec<&str> = parts.by_ref().take(5).collect();
    if ids.len() < 5 {
        return Err("the path must name network/class/code/subsystem/service".into());
    }
    let service: ServiceId = ids
        .join("/")
        .parse()
        .map_err(|e: psn_core::names::NameError| e.to_string())?;
    let below = parts.next().map(|p| format!("/{p}")).unwrap_or_default();
    let lowered = below.to_ascii_lowercase();
    if below.split('/').any(|seg| seg == ".." || seg == ".")
        || lowered.contains("%2e")
        || lowered.contains("%2f")
        || lowered.contains("%5c")
        || below.contains('\\')
        || below.contains("//")
    {
        return Err("the path below the service must not contain '.', '..', '//', backslashes or encoded separators".into());
    }
    if below.len() > 4096 || query.is_some_and(|q| q.len() > 8192) {
        return Err("the path or query is too long".into());
    }
    Ok(Target {
        service,
        rest: below,
        query: query.map(str::to_owned),
    })
}

/// The message id: the caller's, if it is a UUID, or a new one.
pub fn message_id(headers: &HeaderMap) -> Result<String, String> {
    let mut values = headers.get_all(PSN_MESSAGE_ID).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(uuid::Uuid::new_v4().to_string()),
        (Some(v), None) => v
            .to_str()
            .ok()
            .and_then(|s| uuid::Uuid::parse_str(s).ok())
            .map(|u| u.hyphenated().to_string())
            .ok_or_else(|| "PSN-Message-Id must be a UUID".to_owned()),
        _ => Err("PSN-Message-Id must appear once".into()),
    }
}

/// The single value of a header that must appear at most once.
pub fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<Option<&'a str>, String> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => v
            .to_str()
            .map(Some)
            .map_err(|_| format!("{name} must be visible ASCII")),
        _ => Err(format!("{name} must appear once")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_traversal_is_refused() {
        let t = parse_target("/r1/GB/GOV/D6/eligibility/fsm-check/check/QQ1", Some("a=1"))
            .expect("target");
        assert_eq!(t.service.to_string(), "GB/GOV/D6/eligibility/fsm-check");
        assert_eq!(t.rest, "/check/QQ1");
        assert_eq!(t.query.as_deref(), Some("a=1"));
        assert_eq!(
            parse_target("/r1/GB/GOV/D6/eligibility/fsm-check", None)
                .expect("bare")
                .rest,
            ""
        );
        for bad in [
            "/r2/GB/GOV/D6/eligibility/fsm-check",
            "/r1/GB/GOV/D6/eligibility",
            "/r1/GB/gov/D6/eligibility/fsm-check",
            "/r1/GB/GOV/D6/eligibility/fsm-check/../admin",
            "/r1/GB/GOV/D6/eligibility/fsm-check/./x",
            "/r1/GB/GOV/D6/eligibility/fsm-check/%2e%2e/admin",
            "/r1/GB/GOV/D6/eligibility/fsm-check/a%2Fb",
            "/r1/GB/GOV/D6/eligibility/fsm-check//etc",
            "/r1/GB/GOV/D6/eligibility/fsm-check/a\\b",
        ] {
            assert!(parse_target(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn message_ids_are_uuids_or_generated() {
        let mut h = HeaderMap::new();
        assert!(uuid::Uuid::parse_str(&message_id(&h).expect("generated")).is_ok());
        h.insert(PSN_MESSAGE_ID, HeaderValue::from_static("not-a-uuid"));
        assert!(message_id(&h).is_err());
        h.insert(
            PSN_MESSAGE_ID,
            HeaderValue::from_static("0b6b4a52-2f6c-4a55-9e1c-5f0d7a8e3c11"),
        );
        assert_eq!(
            message_id(&h).expect("kept"),
            "0b6b4a52-2f6c-4a55-9e1c-5f0d7a8e3c11"
        );
        h.append(
            PSN_MESSAGE_ID,
            HeaderValue::from_static("0b6b4a52-2f6c-4a55-9e1c-5f0d7a8e3c11"),
        );
        assert!(message_id(&h).is_err());
    }

    #[test]
    fn hop_by_hop_headers_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("x-user", HeaderValue::from_static("kept"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-user"));
    }
}
