//! Amortised signing: statements that arrive while a signature is being made are signed together
//! under one signature over a Merkle root (psn_core::proof::batch). With one exchange in flight
//! each statement is signed alone, so batching adds no latency; under load one signature covers
//! many exchanges. Verification caches batch roots it has checked, so the receiving side's cost is
//! amortised the same way.

use super::Signing;
use psn_core::proof::{batch, encode_batched, DecodedProof};
use psn_pki::StatementVerifier;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{mpsc, oneshot};

type Request = ([u8; 32], Vec<u8>, oneshot::Sender<String>);

/// Hands statements to the batching task and waits for their proofs.
#[derive(Clone)]
pub struct BatchSigner {
    requests: mpsc::Sender<Request>,
}

impl BatchSigner {
    /// Starts the batching task; it signs with whatever identity `signing` holds at each batch.
    pub fn start(signing: Arc<RwLock<Arc<Signing>>>) -> Self {
        let (requests, mut rx) = mpsc::channel::<Request>(batch::MAX_BATCH * 4);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut pending = vec![first];
                while pending.len() < batch::MAX_BATCH {
                    match rx.try_recv() {
                        Ok(more) => pending.push(more),
                        Err(_) => break,
                    }
                }
                let signing = match signing.read() {
                    Ok(g) => g.clone(),
                    Err(p) => p.into_inner().clone(),
                };
                let leaves: Vec<[u8; 32]> = pending.iter().map(|(leaf, _, _)| *leaf).collect();
                let (root, paths) = batch::tree(&leaves);
                let signature = signing.signer.sign(&batch::signed_root(&root));
                for ((_, bytes, reply), path) in pending.into_iter().zip(paths) {
                    let _ = reply.send(encode_batched(&bytes, &signature, &path));
                }
            }
        });
        Self { requests }
    }

    /// Signs statement bytes, returning the encoded proof.
    pub async fn sign(&self, statement: Vec<u8>) -> Result<String, String> {
        let (reply, proof) = oneshot::channel();
        self.requests
            .send((batch::leaf(&statement), statement, reply))
            .await
            .map_err(|_| "the statement signer has stopped".to_owned())?;
        proof
            .await
            .map_err(|_| "the statement signer has stopped".to_owned())
    }
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
        let batcher = BatchSigner::start(signing);
        let statement = |i: usize| psn_core::proof::Statement {
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
        };
        let proofs =
            futures_util::future::join_all((0..10).map(|i| batcher.sign(statement(i).to_bytes())))
                .await;
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
}
