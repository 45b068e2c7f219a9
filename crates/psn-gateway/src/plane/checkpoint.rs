//! Peer checkpoint exchange (docs/audit.md "Checkpoints"): on every new connection to a peer
//! gateway, the consumer side posts its audit log's latest checkpoint to
//! [`CHECKPOINT_PATH`] and gets the provider's in answer. Each side verifies the other's against
//! the network CA and the certificate the peer connected with (it must be a seal of that
//! gateway's log) and keeps the latest seen per peer in `audit/peers/`, replaced only by one
//! further along. So each gateway holds evidence of how far its peers' logs had got, which
//! `psn audit verify --against-peer` compares with a log later.

use super::body::{full, GatewayBody};
use super::provider::PeerIdentity;
use super::{problem, Shared, PSN_MESSAGE_ID};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::client::conn::http2::SendRequest;
use psn_audit::{AuditLog, Kept};
use psn_core::checkpoint::{Checkpoint, Succession, MAX_CHECKPOINT_BYTES};
use psn_core::names::GatewayId;
use psn_core::problem::ProblemType;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Path of the exchange on the peer-facing listener. Service paths never start with a dot, so
/// it cannot shadow a service.
pub const CHECKPOINT_PATH: &str = "/.psn/checkpoint";
/// The hop named in the exchange's problems.
const HOP: &str = "provider-gateway";
/// Longest the consumer side waits for the provider's answer.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// What both sides of the exchange need: this gateway's log (for its own checkpoint), its data
/// directory (where peers' checkpoints are kept) and the CAs of the networks it trusts (to
/// verify theirs: a federated partner's gateway seals under its own network's CA).
#[derive(Clone)]
pub struct Checkpoints {
    audit: AuditLog,
    data_dir: PathBuf,
    trusted: Arc<psn_pki::TrustedNetworks>,
}

impl Checkpoints {
    /// The exchange for a gateway whose log is `audit`, trusting the CAs of `trusted`.
    pub fn new(audit: AuditLog, trusted: Arc<psn_pki::TrustedNetworks>) -> Self {
        Self {
            data_dir: audit.data_dir().to_path_buf(),
            audit,
            trusted,
        }
    }

    /// This gateway's latest checkpoint (`None` before its first seal).
    pub fn latest(&self) -> Option<Arc<Checkpoint>> {
        self.audit.checkpoint()
    }

    /// This gateway's latest checkpoint as a JSON body (`null` before its first seal).
    fn own_body(&self) -> Vec<u8> {
        serde_json::to_vec(&self.latest().as_deref()).unwrap_or_else(|_| b"null".to_vec())
    }

    /// Verifies a peer's checkpoint (a JSON body; `null` is nothing to keep) and keeps it if it
    /// is further along than the one kept. The error says why it was not kept.
    async fn keep(&self, peer: &GatewayId, body: &[u8]) -> Result<(), (ProblemType, String)> {
        let offered: Option<Checkpoint> = serde_json::from_slice(body).map_err(|e| {
            (
                ProblemType::InvalidRequest,
                format!("the body is not a checkpoint: {e}"),
            )
        })?;
        let Some(offered) = offered else {
            return Ok(());
        };
        let network = peer.member().network();
        let ca_der = self.trusted.ca_der(network).ok_or_else(|| {
            (
                ProblemType::GatewayRevoked,
                format!("{peer} is of {network}, a network this gateway does not trust"),
            )
        })?;
        psn_audit::verify_checkpoint(&offered, peer, &ca_der).map_err(|e| {
            (
                ProblemType::InvalidRequest,
                format!("the checkpoint is not a seal of {peer}'s audit log: {e}"),
            )
        })?;
        let (dir, id) = (self.data_dir.clone(), peer.clone());
        let kept = tokio::task::spawn_blocking(move || {
            psn_audit::keep_peer_checkpoint(&dir, &id, &offered)
        })
        .await
        .map_err(|e| {
            (
                ProblemType::Internal,
                format!("keeping the checkpoint: {e}"),
            )
        })?
        .map_err(|e| {
            (
                ProblemType::Internal,
                format!("keeping the checkpoint: {e}"),
            )
        })?;
        match kept {
            Kept::Replaced | Kept::Unchanged => Ok(()),
            Kept::Refused(how) => {
                let how = match how {
                    Succession::Equivocation => "another seal at the same position as",
                    _ => "behind",
                };
                Err((
                    ProblemType::Conflict,
                    format!(
                        "{peer}'s checkpoint is {how} the one this gateway keeps: its audit log was cut back or rewritten"
                    ),
                ))
            }
        }
    }

    /// The consumer side, on a new connection and whenever this gateway's checkpoint moved on:
    /// posts this gateway's checkpoint and keeps the provider's. Failures are logged; they never affect the connection.
    pub async fn swap(self, peer: GatewayId, uri: http::Uri, mut sender: SendRequest<GatewayBody>) {
        let mut request = Request::new(full(self.own_body()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        *request.version_mut() = Version::HTTP_2;
        request.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let answered = tokio::time::timeout(EXCHANGE_TIMEOUT, async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status();
            let body = http_body_util::Limited::new(response.into_body(), MAX_CHECKPOINT_BYTES)
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>((status, body))
        })
        .await
        .unwrap_or_else(|_| Err("no answer in time".into()));
        let outcome = match answered {
            Ok((StatusCode::OK, body)) => self.keep(&peer, &body).await.map_err(|(_, e)| e),
            Ok((status, body)) => Err(format!(
                "it answered {status}: {}",
                String::from_utf8_lossy(&body)
            )),
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            tracing::warn!(%peer, error = %e, "audit checkpoint exchange with a peer failed");
        }
    }
}

/// The provider side: keeps the consumer gateway's checkpoint and answers with this gateway's.
pub async fn answer(
    shared: &Shared,
    peer: &PeerIdentity,
    req: Request<hyper::body::Incoming>,
) -> Response<GatewayBody> {
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    let Some(checkpoints) = shared.peers.checkpoints() else {
        return problem(
            ProblemType::NotFound,
            "this gateway does not exchange checkpoints",
            HOP,
            &id,
        );
    };
    if req.method() != Method::POST {
        let mut response = problem(
            ProblemType::MethodNotAllowed,
            format!("{CHECKPOINT_PATH} takes POST"),
            HOP,
            &id,
        );
        response
            .headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let body = match http_body_util::Limited::new(req.into_body(), MAX_CHECKPOINT_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            let detail = format!("a checkpoint is at most {MAX_CHECKPOINT_BYTES} bytes");
            return problem(ProblemType::BodyTooLarge, detail, HOP, &id);
        }
        Err(e) => return problem(ProblemType::InvalidRequest, e.to_string(), HOP, &id),
    };
    if let Err((kind, detail)) = checkpoints.keep(&peer.gateway, &body).await {
        tracing::warn!(peer = %peer.gateway, %detail, "a peer's audit checkpoint was not kept");
        return problem(kind, detail, HOP, &id);
    }
    let mut response = Response::new(full(Bytes::from(checkpoints.own_body())));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(PSN_MESSAGE_ID, v);
    }
    response
}

/// The checkpoint the authority holds for the gateway of `dir`, asked with the gateway's own
/// identity (for `psn audit verify --against-authority`; the gateway need not be running).
pub async fn held_by_authority(dir: &crate::GatewayDir) -> Result<Checkpoint, crate::GatewayError> {
    crate::renew::with_authority(dir, |c| async move { c.own_checkpoint().await }).await
}
