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
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::PollSender;

/// One exchange as this gateway sees it.
pub struct Exchange {
    /// The record so far.
    pub record: AuditRecord,
    service: ServiceId,
    peer_certificate: Option<Arc<Vec<u8>>>,
    kept: Vec<(BodyPart, KeptBody)>,
}

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
        Self {
            record: AuditRecord {
                message_id: message_id.to_owned(),
                role,
                client,
                service: service.to_string(),
                method,
                path,
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
            service: service.clone(),
            peer_certificate: None,
            kept: Vec::new(),
        }
    }

    /// If the service keeps bodies in the audit log, starts keeping `part` and returns where its
    /// chunks go; the record says it is stored once the copy is synced and matches its digest.
    pub fn keep_body(&mut self, shared: &Shared, part: BodyPart) -> Option<mpsc::Sender<Bytes>> {
        if !shared.keeps_bodies(&self.service) {
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

    /// Appends the record, returning once it is as durable as the service's setting asks.
    pub async fn commit(mut self, shared: &Shared) -> Result<(), AuditError> {
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

    /// Writes the record as it stands and counts it in the metrics.
    async fn append(&self, shared: &Shared) -> Result<(), AuditError> {
        // Only a verified statement is evidence; without one the certificate is not needed.
        let certificate = self
            .record
            .peer_proof
            .is_some()
            .then(|| self.peer_certificate.clone())
            .flatten();
        shared
            .audit
            .append(&self.record, certificate, shared.durability(&self.service))
            .await?;
        shared.metrics.observe(&self.record);
        if self.record.role == Role::Consumer && self.record.method != super::probe::PROBE_METHOD {
            shared.note_use(&self.service, &self.record.client);
        }
        Ok(())
    }

    /// Records an exchange psn refused or failed, then releases `response` (the problem). If the
    /// record cannot be written the caller gets `audit-unavailable` instead, built by `unrecorded`.
    pub async fn refused(
        mut self,
        shared: &Shared,
        kind: ProblemType,
        response: Response<GatewayBody>,
        unrecorded: impl FnOnce(String) -> Response<GatewayBody>,
    ) -> Response<GatewayBody> {
        self.record.status = response.status().as_u16();
        self.record.problem = Some(kind.uri());
        self.record.peer_proof = None;
        match self.commit(shared).await {
            Ok(()) => response,
            Err(e) => {
                tracing::error!(error = %e, "audit record not written; exchange refused");
                unrecorded(e.to_string())
            }
        }
    }
}

/// Refuses new exchanges while the audit log cannot be written (disk full, I/O error): better no
/// traffic than traffic nobody can account for.
pub fn refuse_unrecordable(shared: &Shared, hop: &str, id: &str) -> Option<Response<GatewayBody>> {
    match shared.audit.health() {
        psn_audit::Health::Ok => None,
        psn_audit::Health::Failed { reason } => Some(problem(
            ProblemType::AuditUnavailable,
            format!("this gateway cannot write its audit log ({reason}); no exchange is carried until it can"),
            hop,
            id,
        )),
        psn_audit::Health::Closed => Some(problem(
            ProblemType::AuditUnavailable,
            "this gateway is shutting down".to_owned(),
            hop,
            id,
        )),
    }
}

/// An exchange whose response is still streaming. If the stream ends without reaching its
/// finisher (the caller went away, a peer reset the stream), dropping this still writes the
/// record, without a release time and without the peer's statement: the log shows the exchange
/// began and never completed.
struct Unfinished {
    exchange: Option<Exchange>,
    shared: Arc<Shared>,
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
    let mut unfinished = Unfinished {
        exchange: Some(exchange),
        shared: shared.clone(),
    };
    DigestBody::new(
        body,
        limit,
        Box::new(move |digest, trailers| match unfinished.exchange.take() {
            Some(exchange) => finish(exchange, digest, trailers),
            None => Box::pin(async { Err("the exchange was already recorded".into()) }),
        }),
    )
    .with_tee(tee)
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        let Some(mut exchange) = self.exchange.take() else {
            return;
        };
        let shared = self.shared.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                exchange.record.peer_proof = None;
                exchange.record.times.response_out_ms = None;
                if let Err(e) = exchange.append(&shared).await {
                    tracing::error!(message_id = %exchange.record.message_id, error = %e, "audit record of an unfinished exchange not written");
                }
            });
        }
    }
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
