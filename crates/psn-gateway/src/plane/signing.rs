//! Amortised signing: statements are signed in batches under one signature over a Merkle root
//! (psn_core::proof::batch), and the receiving side verifies each batch root once (cached), so
//! under load one signature and one verification cover many exchanges.
//!
//! Batches form on purpose, not by luck. Every exchange that may yet need a statement signed
//! holds a [`StatementTicket`] (a provider from the request until its response is signed; a
//! consumer for the whole exchange, since under load a finished exchange is soon followed by the
//! caller's next), so the signer knows how much company is coming. It signs at once when every
//! ticket holder is waiting (one caller: no added latency) or the batch is full; otherwise it
//! waits for more, at most [`BATCH_WINDOW`] after the first statement arrived. It runs on
//! its own thread, so its waits are exact to the microsecond and it never holds an async worker.

use super::Signing;
use psn_core::proof::{batch, encode_batched, DecodedProof};
use psn_pki::StatementVerifier;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Longest a statement waits for others to join its batch. Under load this bounds the latency
/// batching adds to each signed hop; it also bounds the signature rate, and so the peers'
/// verification cost, to about one per window.
pub const BATCH_WINDOW: Duration = Duration::from_millis(1);

struct Request {
    statement: Vec<u8>,
    reply: oneshot::Sender<String>,
}

/// Held by an exchange that may yet ask for a statement to be signed; while any is held by an
/// exchange not yet waiting, the signer may wait for it to join the batch.
pub struct StatementTicket(Arc<AtomicUsize>);

impl Drop for StatementTicket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Hands statements to the batching thread and waits for their proofs.
#[derive(Clone)]
pub struct BatchSigner {
    requests: mpsc::Sender<Request>,
    expected: Arc<AtomicUsize>,
    signing: Arc<RwLock<Arc<Signing>>>,
}

impl BatchSigner {
    /// Starts the batching thread; it signs with whatever identity `signing` holds at each batch
    /// and ends when the last `BatchSigner` clone is dropped.
    pub fn start(signing: Arc<RwLock<Arc<Signing>>>) -> std::io::Result<Self> {
        Self::start_with_window(signing, BATCH_WINDOW)
    }

    fn start_with_window(
        signing: Arc<RwLock<Arc<Signing>>>,
        window: Duration,
    ) -> std::io::Result<Self> {
        let (requests, rx) = mpsc::channel::<Request>();
        let expected = Arc::new(AtomicUsize::new(0));
        let (waiting_for, key) = (expected.clone(), signing.clone());
        std::thread::Builder::new()
            .name("psn-signer".into())
            .spawn(move || run(&rx, &key, &waiting_for, window))?;
        Ok(Self {
            requests,
            expected,
            signing,
        })
    }

    /// Announces an exchange that may need statements signed (see the module comment for how
    /// long each side holds it).
    pub fn ticket(&self) -> StatementTicket {
        self.expected.fetch_add(1, Ordering::AcqRel);
        StatementTicket(self.expected.clone())
    }

    /// Signs statement bytes, returning the encoded proof.
    pub async fn sign(&self, statement: Vec<u8>) -> Result<String, String> {
        if self.expected.load(Ordering::Acquire) <= 1 {
            // Alone: there is nobody to batch with, and handing over to the signing thread and
            // back would cost more than the signature itself.
            return Ok(sign_batch(&self.signing, vec![statement])
                .pop()
                .unwrap_or_default());
        }
        let (reply, proof) = oneshot::channel();
        self.requests
            .send(Request { statement, reply })
            .map_err(|_| "the statement signer has stopped".to_owned())?;
        proof
            .await
            .map_err(|_| "the statement signer has stopped".to_owned())
    }
}

/// The batching loop: gathers a batch by the rules in the module comment, then signs it.
fn run(
    rx: &mpsc::Receiver<Request>,
    signing: &RwLock<Arc<Signing>>,
    expected: &AtomicUsize,
    window: Duration,
) {
    while let Ok(first) = rx.recv() {
        let deadline = Instant::now() + window;
        let mut pending = vec![first];
        loop {
            pending.extend(rx.try_iter().take(batch::MAX_BATCH - pending.len()));
            let all_here = pending.len() >= expected.load(Ordering::Acquire);
            if all_here || pending.len() >= batch::MAX_BATCH {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            match rx.recv_timeout(deadline - now) {
                Ok(more) => pending.push(more),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        let (statements, replies): (Vec<_>, Vec<_>) =
            pending.into_iter().map(|r| (r.statement, r.reply)).unzip();
        for (proof, reply) in sign_batch(signing, statements).into_iter().zip(replies) {
            let _ = reply.send(proof);
        }
    }
}

/// Signs statements under one signature with whatever identity `signing` holds now; returns
/// their proofs in order.
fn sign_batch(signing: &RwLock<Arc<Signing>>, statements: Vec<Vec<u8>>) -> Vec<String> {
    let signing = match signing.read() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    };
    let leaves: Vec<[u8; 32]> = statements.iter().map(|s| batch::leaf(s)).collect();
    let (root, paths) = batch::tree(&leaves);
    let signature = signing.signer.sign(&batch::signed_root(&root));
    statements
        .iter()
        .zip(paths)
        .map(|(statement, path)| encode_batched(statement, &signature, &path))
        .collect()
}

/// Batch roots already verified, per signer key, so each batch costs one verification.
#[derive(Default)]
pub struct VerifiedRoots {
    seen: Mutex<HashSet<[u8; 32]>>,
}

/// Entries kept before the cache is cleared (a few seconds of traffic at most).
const CACHE_LIMIT: usize = 65_536;

impl VerifiedRoots {
    /// Whether the decoded proof's signature is valid for `verifier`, using and filling the cache.
    pub fn verify(
        &self,
        verifier: &StatementVerifier,
        certificate: &[u8],
        proof: &DecodedProof,
    ) -> bool {
        let key = {
            let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
            ctx.update(certificate);
            ctx.update(&proof.signed);
            ctx.update(&proof.signature);
            let mut k = [0u8; 32];
            k.copy_from_slice(ctx.finish().as_ref());
            k
        };
        if self.seen.lock().is_ok_and(|s| s.contains(&key)) {
            return true;
        }
        let valid = verifier.verify(&proof.signed, &proof.signature);
        if valid {
            if let Ok(mut seen) = self.seen.lock() {
                if seen.len() >= CACHE_LIMIT {
                    seen.clear();
                }
                seen.insert(key);
            }
        }
        valid
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use psn_core::proof::decode_proof;

    fn signing() -> (Arc<RwLock<Arc<Signing>>>, Vec<u8>) {
        let ca = psn_pki::CertificateAuthority::create(&"GB".parse().expect("net")).expect("ca");
        let key = psn_pki::GatewayKey::generate().expect("key");
        let id: psn_core::names::GatewayId = "GB/LA/E10000016@gw1".parse().expect("gw");
        let cert = ca
            .issue_gateway_certificate(
                &key.csr_pem(&id).expect("csr"),
                &id,
                std::time::Duration::from_secs(600),
            )
            .expect("cert");
        let signer = psn_pki::StatementSigner::from_pem(&key.to_pem()).expect("signer");
        (
            Arc::new(RwLock::new(Arc::new(Signing {
                signer,
                serial: cert.serial,
                not_after: cert.not_after,
            }))),
            cert.der,
        )
    }

    #[tokio::test]
    async fn concurrent_statements_share_one_signature_and_each_verifies() {
        let (signing, cert) = signing();
        let batcher = BatchSigner::start_with_window(signing, Duration::from_secs(60))
            .expect("signer thread");
        let tickets: Vec<_> = (0..10).map(|_| batcher.ticket()).collect();
        let proofs =
            futures_util::future::join_all((0..10).map(|i| batcher.sign(statement(i).to_bytes())))
                .await;
        drop(tickets);
        let decoded: Vec<_> = proofs
            .iter()
            .map(|p| decode_proof(p.as_ref().expect("signed")).expect("decode"))
            .collect();
        assert!(
            decoded.windows(2).all(|w| w[0].signature == w[1].signature),
            "one signature for the batch"
        );
        let verifier = StatementVerifier::from_certificate(&cert).expect("verifier");
        let roots = VerifiedRoots::default();
        for d in &decoded {
            assert!(roots.verify(&verifier, &cert, d));
        }
        assert_eq!(
            roots.seen.lock().expect("lock").len(),
            1,
            "the root was verified once and cached"
        );
        let mut forged = decoded[0].clone();
        forged.signed[20] ^= 1;
        assert!(
            !roots.verify(&verifier, &cert, &forged),
            "a different root is not covered by the cache"
        );
    }

    fn statement(i: usize) -> psn_core::proof::Statement {
        psn_core::proof::Statement {
            kind: psn_core::proof::StatementKind::Request,
            message_id: format!("message-{i}"),
            signer: "GB/LA/E10000016@gw1".into(),
            signer_serial: String::new(),
            client: "GB/LA/E10000016/revenues".into(),
            service: "GB/GOV/D6/eligibility/fsm-check".into(),
            method: "GET".into(),
            path: "/check".into(),
            request_digest: String::new(),
            status: None,
            response_digest: None,
            at_ms: 0,
        }
    }

    /// With a window long enough to hang the test, a lone caller must still be answered: when
    /// every ticket holder is waiting the signer signs at once (so one caller pays no batching
    /// latency), and a ticket given up without signing stops counting.
    #[tokio::test]
    async fn a_batch_closes_as_soon_as_every_ticket_holder_is_waiting() {
        let (signing, cert) = signing();
        let batcher = BatchSigner::start_with_window(signing, Duration::from_secs(600))
            .expect("signer thread");
        let verifier = StatementVerifier::from_certificate(&cert).expect("verifier");
        let within = |f| tokio::time::timeout(Duration::from_secs(30), f);

        let ticket = batcher.ticket();
        let proof = within(batcher.sign(statement(1).to_bytes()))
            .await
            .expect("a lone caller is not held for the window")
            .expect("signed");
        drop(ticket);
        let decoded = decode_proof(&proof).expect("decode");
        assert!(verifier.verify(&decoded.signed, &decoded.signature));

        let (kept, abandoned) = (batcher.ticket(), batcher.ticket());
        drop(abandoned);
        within(batcher.sign(statement(2).to_bytes()))
            .await
            .expect("an abandoned ticket does not hold the batch open")
            .expect("signed");
        drop(kept);
    }
}
