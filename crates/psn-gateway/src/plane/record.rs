//! Each exchange's audit record (DESIGN.md "Audit log"), filled in hop by hop as the exchange
//! passes and appended when it ends. A response is released only once its record is as durable as
//! the service's audit setting asks, so nothing a caller saw succeed can be missing from the log.

use super::body::GatewayBody;
use super::body::{DigestBody, Digested, Finishing};
use super::{now_ms, problem, Shared};
use bytes::Bytes;
use http::HeaderMap;
use http::Response;
use psn_audit::{AuditError, AuditRecord, BodyPart, HopTimes, Role};
use psn_core::names::{GatewayId, ServiceId};
use psn_core::problem::ProblemType;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::PollSender;

/// One exchange as this gateway sees it.
pub struct Exchange {
    /// The record so far.
    pub record: AuditRecord,
    /// The service, when the request named one that parses (unidentified refusals may not).
    service: Option<ServiceId>,
    peer_certificate: Option<Arc<Vec<u8>>>,
    kept: Vec<(BodyPart, KeptBody)>,
    /// Where the provider side's body check leaves the consumer's verified statement.
    verified_request: Option<VerifiedSlot>,
    /// Set while a caller's request is being handled: if the exchange is dropped before it is
    /// committed (the caller or the peer went away, the stream was reset), the record is still
    /// written, as unfinished.
    guard: Option<Arc<Shared>>,
}

/// The consumer's request statement once the provider side has verified it against the body
/// that arrived, with that body's digest and size.
#[derive(Debug, Clone)]
pub struct VerifiedRequest {
    /// The proof as received (`statement.signature.path`).
    pub proof: String,
    /// The request body's `Content-Digest`.
    pub digest: String,
    /// The request body's size.
    pub bytes: u64,
}

/// Shared between the body check that fills it and the exchange that records it.
pub type VerifiedSlot = Arc<Mutex<Option<VerifiedRequest>>>;

/// How long the record of a refusal whose service is unknown may wait for its sync: a refusal
/// acknowledges nothing, so it need not hold up its response or share a flush with good traffic.
const UNIDENTIFIED_SYNC_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

impl Exchange {
    /// Starts the record of an exchange whose caller and target are known; `received_ms` is when
    /// the request arrived.
    pub fn new(
        role: Role,
        message_id: &str,
        client: String,
        service: &ServiceId,
        method: String,
        path: String,
        received_ms: i64,
    ) -> Self {
        let mut exchange = Self::from_claims(
            role,
            message_id,
            Claims {
                client,
                service: service.to_string(),
                method,
                path,
            },
            received_ms,
        );
        exchange.service = Some(service.clone());
        exchange
    }

    /// Starts the record of a request refused before its caller or target was established,
    /// from what it claimed.
    fn from_claims(role: Role, message_id: &str, claims: Claims, received_ms: i64) -> Self {
        Self {
            record: AuditRecord {
                message_id: message_id.to_owned(),
                role,
                client: claims.client,
                service: claims.service,
                method: claims.method,
                path: claims.path,
                purpose: None,
                times: HopTimes {
                    received_ms,
                    ..HopTimes::default()
                },
                request_digest: None,
                response_digest: None,
                status: 0,
                request_bytes: 0,
                response_bytes: 0,
                peer: None,
                peer_serial: None,
                peer_proof: None,
                problem: None,
                request_body_stored: false,
                response_body_stored: false,
            },
            service: None,
            peer_certificate: None,
            kept: Vec::new(),
            verified_request: None,
            guard: None,
        }
    }

    /// Writes the record even if the exchange is dropped unfinished (see [`Exchange::guard`]).
    pub fn guarded(mut self, shared: &Arc<Shared>) -> Self {
        self.guard = Some(shared.clone());
        self
    }

    /// Takes the consumer's statement from `slot` into the record once the body check has
    /// verified it, however the exchange then ends.
    pub fn keep_verified_request(&mut self, slot: VerifiedSlot) {
        self.verified_request = Some(slot);
    }

    /// If the service keeps bodies in the audit log, starts keeping `part` and returns where its
    /// chunks go; the record says it is stored once the copy is synced and matches its digest.
    pub fn keep_body(&mut self, shared: &Shared, part: BodyPart) -> Option<mpsc::Sender<Bytes>> {
        let service = self.service.as_ref()?;
        if !shared.keeps_bodies(service) {
            return None;
        }
        let (chunks, kept) =
            KeptBody::start(shared, &self.record.message_id, self.record.role, part);
        self.kept.push((part, kept));
        Some(chunks)
    }

    /// The peer gateway on the other side, with the certificate its statements verify against.
    pub fn peer(&mut self, gateway: &GatewayId, serial: &str, certificate: Arc<Vec<u8>>) {
        self.record.peer = Some(gateway.to_string());
        self.record.peer_serial = Some(serial.to_owned());
        self.peer_certificate = Some(certificate);
    }

    /// Fills in the consumer's verified statement, if the body check produced one and nothing
    /// else was recorded as the peer's statement.
    fn adopt_verified_request(&mut self) {
        let verified = self
            .verified_request
            .as_ref()
            .and_then(|slot| slot.lock().ok().and_then(|v| v.clone()));
        if let (Some(verified), None) = (verified, &self.record.peer_proof) {
            self.record.request_digest = Some(verified.digest);
            self.record.request_bytes = verified.bytes;
            self.record.peer_proof = Some(verified.proof);
        }
    }

    /// Appends the record, returning once it is as durable as the service's setting asks.
    pub async fn commit(mut self, shared: &Shared) -> Result<(), AuditError> {
        self.guard = None;
        for (part, kept) in std::mem::take(&mut self.kept) {
            let digest = match part {
                BodyPart::Request => self.record.request_digest.clone(),
                BodyPart::Response => self.record.response_digest.clone(),
            };
            // A body that never streamed (empty, or refused before it was read) is not kept.
            let Some(digest) = digest else { continue };
            kept.stored(&digest).await?;
            match part {
                BodyPart::Request => self.record.request_body_stored = true,
                BodyPart::Response => self.record.response_body_stored = true,
            }
        }
        if self.record.times.response_out_ms.is_none() {
            self.record.times.response_out_ms = Some(now_ms());
        }
        self.append(shared).await
    }

    /// How durable the record must be before the response goes: the service's setting, or
    /// lazily for a refusal that named no known service.
    fn durability(&self, shared: &Shared) -> psn_audit::Durability {
        match &self.service {
            Some(service) if shared.knows_service(service) => shared.durability(service),
            _ => psn_audit::Durability::Buffered {
                max_delay: UNIDENTIFIED_SYNC_DELAY,
            },
        }
    }

    /// Writes the record as it stands and counts it in the metrics.
    async fn append(&mut self, shared: &Shared) -> Result<(), AuditError> {
        self.adopt_verified_request();
        // Only a verified statement is evidence; without one the certificate is not needed.
        let certificate = self
            .record
            .peer_proof
            .is_some()
            .then(|| self.peer_certificate.clone())
            .flatten();
        shared
            .audit
            .append(&self.record, certificate, self.durability(shared))
            .await?;
        self.count(shared);
        Ok(())
    }

    /// Counts the exchange in the metrics (under `unknown` unless its service exists), and
    /// remembers a service this member called so its provider is probed.
    fn count(&self, shared: &Shared) {
        let known = self.service.as_ref().filter(|s| shared.knows_service(s));
        let label = known.map_or(psn_core::aggregate::UNKNOWN.to_owned(), ToString::to_string);
        shared.metrics.observe(&self.record, &label);
        if let Some(service) = known {
            if self.record.role == Role::Consumer
                && self.record.method != super::probe::PROBE_METHOD
            {
                shared.note_use(service, &self.record.client);
            }
        }
    }

    /// Records an exchange psn refused or failed, then releases `response` (the problem). If the
    /// record cannot be written the caller gets `audit-unavailable` instead, built by `unrecorded`.
    pub async fn refused(
        self,
        shared: &Shared,
        kind: ProblemType,
        response: Response<GatewayBody>,
        unrecorded: impl FnOnce(String) -> Response<GatewayBody>,
    ) -> Response<GatewayBody> {
        let status = response.status().as_u16();
        match self.commit_refusal(shared, kind, status).await {
            Ok(()) => response,
            Err(e) => {
                tracing::error!(error = %e, "audit record not written; exchange refused");
                unrecorded(e.to_string())
            }
        }
    }

    /// Records an exchange psn refused or failed with the problem `kind`, answered with
    /// `status`. A statement the peer signed and this gateway verified stays in the record.
    pub async fn commit_refusal(
        mut self,
        shared: &Shared,
        kind: ProblemType,
        status: u16,
    ) -> Result<(), AuditError> {
        self.record.status = status;
        self.record.problem = Some(kind.uri());
        self.commit(shared).await
    }
}

impl Drop for Exchange {
    /// An exchange dropped before it was committed is recorded as it stands, without a release
    /// time: the log shows it began and never completed, with the consumer's verified
    /// statement if one had arrived.
    fn drop(&mut self) {
        let Some(shared) = self.guard.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut unfinished = Exchange {
            record: self.record.clone(),
            service: self.service.take(),
            peer_certificate: self.peer_certificate.take(),
            kept: Vec::new(),
            verified_request: self.verified_request.take(),
            guard: None,
        };
        unfinished.record.times.response_out_ms = None;
        runtime.spawn(async move {
            if let Err(e) = unfinished.append(&shared).await {
                tracing::error!(message_id = %unfinished.record.message_id, error = %e, "audit record of an unfinished exchange not written");
            }
        });
    }
}

/// What a request claimed before its caller or target was established, cut to bounded sizes
/// so that a hostile request cannot make its record large.
#[derive(Debug, Clone)]
pub struct Claims {
    /// `PSN-Client` as sent (empty when absent).
    pub client: String,
    /// The service the path names, or empty when it names none.
    pub service: String,
    /// The method.
    pub method: String,
    /// The path below the service with its query; the whole request target when the path names
    /// no service.
    pub path: String,
}

/// Longest claimed client or service kept in a record (identifiers are at most 256 bytes).
const MAX_CLAIMED_ID: usize = 256;
/// Longest method kept in a record.
const MAX_CLAIMED_METHOD: usize = 64;
/// Longest claimed path kept in a record.
const MAX_CLAIMED_PATH: usize = 1024;

impl Claims {
    /// What an identified exchange's record names.
    pub fn of_record(record: &AuditRecord) -> Self {
        Self {
            client: record.client.clone(),
            service: record.service.clone(),
            method: record.method.clone(),
            path: record.path.clone(),
        }
    }

    /// What `parts` claims.
    pub fn of(parts: &http::request::Parts) -> Self {
        let client = parts
            .headers
            .get(super::PSN_CLIENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let (service, path) = match super::parse_target(parts.uri.path(), parts.uri.query()) {
            Ok(target) => (target.service.to_string(), target.path_and_query()),
            Err(_) => (
                String::new(),
                parts
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned(),
            ),
        };
        Self {
            client: bounded(client, MAX_CLAIMED_ID),
            service: bounded(service, MAX_CLAIMED_ID),
            method: bounded(parts.method.to_string(), MAX_CLAIMED_METHOD),
            path: bounded(path, MAX_CLAIMED_PATH),
        }
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn bounded(mut text: String, max: usize) -> String {
    if text.len() > max {
        let cut = (0..=max)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(cut);
    }
    text
}

/// A request refused before its caller or target was established, as far as it is known.
pub struct Unidentified<'a> {
    /// Which side refused it.
    pub role: Role,
    /// Its message id (the caller's, or one the gateway gave it).
    pub message_id: &'a str,
    /// What it claimed.
    pub claims: Claims,
    /// The peer gateway that sent it, on the provider side, with its certificate serial.
    pub peer: Option<(&'a GatewayId, &'a str)>,
    /// When it arrived.
    pub received_ms: i64,
}

/// Records and counts a refusal of a request whose caller or target was never established,
/// then releases `response`. Such refusals are recorded within the gateway's budget
/// (`[audit] unidentified_refusals_per_second`) and synced lazily; beyond the budget, or if
/// the log cannot take the record, they are counted only. The refusal stands either way.
pub async fn refuse_unidentified(
    shared: &Shared,
    request: Unidentified<'_>,
    kind: ProblemType,
    response: Response<GatewayBody>,
) -> Response<GatewayBody> {
    let role = request.role;
    let mut exchange = Exchange::from_claims(
        role,
        request.message_id,
        request.claims,
        request.received_ms,
    );
    if let Some((gateway, serial)) = request.peer {
        exchange.record.peer = Some(gateway.to_string());
        exchange.record.peer_serial = Some(serial.to_owned());
    }
    exchange.record.status = response.status().as_u16();
    exchange.record.problem = Some(kind.uri());
    exchange.record.times.response_out_ms = Some(now_ms());
    if !shared.refusal_budget.try_take() {
        exchange.count(shared);
        shared.metrics.refusal_unrecorded(role, kind);
        return response;
    }
    if let Err(e) = exchange.append(shared).await {
        tracing::warn!(error = %e, "refusal of an unidentified request not recorded");
        exchange.count(shared);
        shared.metrics.refusal_unrecorded(role, kind);
    }
    response
}

/// Why the audit log cannot take records now (disk full, I/O error, shutting down), if it
/// cannot: better no traffic than traffic nobody can account for.
pub fn unrecordable(shared: &Shared) -> Option<String> {
    match shared.audit.health() {
        psn_audit::Health::Ok => None,
        psn_audit::Health::Failed { reason } => Some(format!(
            "this gateway cannot write its audit log ({reason}); no exchange is carried until it can"
        )),
        psn_audit::Health::Closed => Some("this gateway is shutting down".to_owned()),
    }
}

/// Refuses new exchanges while the audit log cannot be written (see [`unrecordable`]).
pub fn refuse_unrecordable(shared: &Shared, hop: &str, id: &str) -> Option<Response<GatewayBody>> {
    unrecordable(shared).map(|reason| problem(ProblemType::AuditUnavailable, reason, hop, id))
}

/// Completes an exchange once its response body has been read to the end: `finish` gets the
/// exchange, the body's digest and the trailers that arrived, and returns the trailers to send
/// on (it commits the record). The body is kept in the audit log if the service opted in, and
/// its last chunk is held back until `finish` succeeds (see [`DigestBody`]).
pub fn recorded_response<B>(
    mut exchange: Exchange,
    shared: &Arc<Shared>,
    body: B,
    limit: u64,
    finish: impl FnOnce(Exchange, Digested, Option<HeaderMap>) -> Finishing + Send + 'static,
) -> DigestBody<B> {
    let tee = exchange
        .keep_body(shared, BodyPart::Response)
        .map(PollSender::new);
    // If the stream ends without reaching the finisher (the caller went away, a peer reset the
    // stream), the finisher is dropped with the exchange, whose guard records it as unfinished.
    let exchange = exchange.guarded(shared);
    DigestBody::new(
        body,
        limit,
        Box::new(move |digest, trailers| finish(exchange, digest, trailers)),
    )
    .with_tee(tee)
}

/// A body being copied into the audit log's body store. The copy is put in place only when the
/// exchange's record is about to be committed; an exchange that never completes leaves only a
/// temporary file.
pub struct KeptBody {
    commit: oneshot::Sender<()>,
    done: oneshot::Receiver<Result<psn_audit::StoredBody, AuditError>>,
}

impl KeptBody {
    fn start(
        shared: &Shared,
        message_id: &str,
        role: Role,
        part: BodyPart,
    ) -> (mpsc::Sender<Bytes>, KeptBody) {
        let (chunks, mut received) = mpsc::channel::<Bytes>(8);
        let (commit, committed) = oneshot::channel();
        let (done_tx, done) = oneshot::channel();
        let (audit, id) = (shared.audit.clone(), message_id.to_owned());
        tokio::spawn(async move {
            let copied = async {
                let mut sink = audit.body_sink(&id, role, part).await?;
                while let Some(chunk) = received.recv().await {
                    sink.write(&chunk).await?;
                }
                Ok::<_, AuditError>(sink)
            }
            .await;
            // Wait for the exchange to complete; if it never does, the copy is abandoned.
            if committed.await.is_ok() {
                let stored = match copied {
                    Ok(sink) => sink.finish().await,
                    Err(e) => Err(e),
                };
                let _ = done_tx.send(stored);
            }
        });
        (chunks, KeptBody { commit, done })
    }

    /// Puts the copy in place (synced) and checks it is the body `digest` names.
    async fn stored(self, digest: &str) -> Result<(), AuditError> {
        let _ = self.commit.send(());
        let stored = self.done.await.map_err(|_| AuditError::Unavailable {
            reason: "the body copy stopped".into(),
        })??;
        if stored.content_digest != digest {
            return Err(AuditError::InvalidRecord(format!(
                "the kept body has digest {}, the exchange {digest}",
                stored.content_digest
            )));
        }
        Ok(())
    }
}
