//! What gateways and authorities sign for one another, on arbitrary bytes: exchange proofs
//! (`statement.signature.path`, the `PSN-Request-Proof` and `PSN-Response-Proof` trailers) and
//! their statements, compact JWS envelopes (configuration heads, federation anchors and
//! partners' requests) and audit checkpoints.
//!
//! Decoding never panics. A proof that decodes encodes again to one that decodes to the same
//! statement and signature, over the root its path gives; a statement's JSON, an envelope's
//! header and payload, and a checkpoint round-trip likewise. Every check that needs a key
//! refuses what arrives, since the input cannot know the network's keys; and the same statement
//! or checkpoint signed with the gateway's key does verify, so the refusals are the signatures'
//! doing and not a verifier that refuses everything.

#![no_main]

use libfuzzer_sys::fuzz_target;
use psn_core::checkpoint::{Checkpoint, Succession};
use psn_core::encoding::b64url;
use psn_core::jws::{sign_compact, CompactJws};
use psn_core::names::{GatewayId, NetworkId};
use psn_core::proof::{batch, decode_proof, encode_batched, Statement};
use psn_gateway::plane::signing::VerifiedRoots;
use psn_pki::{
    assertion_network, verify_anchor, verify_assertion, verify_config_head, CertificateAuthority,
    GatewayKey, StatementSigner, StatementVerifier,
};
use ring::signature::{Ed25519KeyPair, KeyPair};
use std::sync::OnceLock;
use std::time::Duration;
use time::OffsetDateTime;

/// Larger than any input the fuzzer makes: the size limits are not what is exercised here.
const MAX_LEN: usize = 64 * 1024 * 1024;

/// The network "GB" with its CA, one enrolled gateway with its key, and an Ed25519 key to sign
/// envelopes with.
struct Fixture {
    network: NetworkId,
    partner: NetworkId,
    ca_der: Vec<u8>,
    gateway: GatewayId,
    certificate: Vec<u8>,
    serial: String,
    signer: StatementSigner,
    verifier: StatementVerifier,
    envelope_key: Ed25519KeyPair,
    now: OffsetDateTime,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let network: NetworkId = "GB".parse().expect("network");
        let ca = CertificateAuthority::create(&network).expect("CA");
        let gateway: GatewayId = "GB/LA/E10000016@gw1".parse().expect("gateway");
        let key = GatewayKey::generate().expect("gateway key");
        let csr = key.csr_pem(&gateway).expect("signing request");
        let issued = ca
            .issue_gateway_certificate(&csr, &gateway, Duration::from_secs(86_400))
            .expect("gateway certificate");
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("envelope key");
        Fixture {
            partner: "GB-KENT".parse().expect("partner"),
            ca_der: ca.certificate_der().to_vec(),
            signer: StatementSigner::from_pem(&key.to_pem()).expect("statement signer"),
            verifier: StatementVerifier::from_certificate(&issued.der).expect("verifier"),
            certificate: issued.der,
            serial: issued.serial,
            envelope_key: Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("envelope key"),
            now: OffsetDateTime::now_utc(),
            network,
            gateway,
        }
    })
}

/// A proof's decoding, its round trip, and its signature's check with and without the key.
fn proof(fixture: &Fixture, text: &str) {
    let Ok(decoded) = decode_proof(text) else {
        return;
    };
    let path_text = text.rsplit('.').next().unwrap_or_default();
    let path = batch::decode_path(path_text).expect("a decoded proof's path decodes");
    assert_eq!(
        batch::decode_path(&batch::encode_path(&path)),
        Some(path.clone())
    );
    let bytes = decoded.statement.to_bytes();
    let again = decode_proof(&encode_batched(&bytes, &decoded.signature, &path))
        .expect("an encoded proof decodes");
    assert_eq!(again.statement, decoded.statement);
    assert_eq!(again.signature, decoded.signature);
    let root = batch::root_of(batch::leaf(&bytes), &path);
    assert_eq!(again.signed, batch::signed_root(&root));
    let roots = VerifiedRoots::default();
    assert!(
        !roots.verify(&fixture.verifier, &fixture.certificate, &decoded),
        "a proof verified without the gateway's key"
    );
    let signed = psn_core::proof::DecodedProof {
        signature: fixture.signer.sign(&again.signed),
        ..again
    };
    assert!(
        roots.verify(&fixture.verifier, &fixture.certificate, &signed),
        "a proof the gateway signed does not verify"
    );
}

/// A compact JWS's parse, and its signature checks, which refuse without the signer's key.
fn envelope(fixture: &Fixture, text: &str) {
    for detached in [false, true] {
        let parsed = if detached {
            CompactJws::parse_detached(text, MAX_LEN)
        } else {
            CompactJws::parse(text, MAX_LEN)
        };
        let Ok(parsed) = parsed else {
            continue;
        };
        let header = parsed.header().clone();
        let payload = parsed.unverified_payload().to_vec();
        let _ = header.certificates();
        let public = fixture.envelope_key.public_key().as_ref();
        assert!(
            parsed.verify_ed25519(public).is_err(),
            "an envelope verified without the signer's key"
        );
        let again = sign_compact(&header, &payload, &fixture.envelope_key);
        let reparsed = CompactJws::parse(&again, MAX_LEN).expect("a signed envelope parses");
        assert_eq!(reparsed.header(), &header);
        assert_eq!(reparsed.verify_ed25519(public), Ok(payload));
    }
    assert!(
        verify_config_head(text, &fixture.ca_der, &fixture.network).is_err(),
        "a configuration head was accepted without the network's signature"
    );
    assert!(
        verify_assertion(
            text,
            &fixture.ca_der,
            &fixture.partner,
            &fixture.network,
            fixture.now
        )
        .is_err(),
        "a partner's request was accepted without its signature"
    );
    // An anchor verifies under the CA it carries, so a well-signed one may pass: only that it
    // does not panic is asked.
    let _ = verify_anchor(text, fixture.now);
    let _ = assertion_network(text);
}

/// A checkpoint's round trip and verification, with the signature it carries and re-signed.
fn checkpoint(fixture: &Fixture, data: &[u8]) {
    let Ok(checkpoint) = serde_json::from_slice::<Checkpoint>(data) else {
        return;
    };
    let json = serde_json::to_vec(&checkpoint).expect("a checkpoint serialises");
    assert_eq!(
        serde_json::from_slice::<Checkpoint>(&json).ok().as_ref(),
        Some(&checkpoint)
    );
    assert_eq!(checkpoint.succession(&checkpoint), Succession::Same);
    let _ = checkpoint.describe();
    assert!(
        psn_audit::verify_checkpoint(&checkpoint, &fixture.gateway, &fixture.ca_der).is_err(),
        "a checkpoint verified without the gateway's key"
    );
    let mut ours = Checkpoint {
        log: fixture.gateway.to_string(),
        signer_serial: fixture.serial.clone(),
        certificate: b64url(&fixture.certificate),
        at_ms: i64::try_from(fixture.now.unix_timestamp_nanos() / 1_000_000).expect("now"),
        ..checkpoint
    };
    let Some(signed) = ours.signed_bytes() else {
        return;
    };
    ours.signature = b64url(&fixture.signer.sign(&signed));
    if let Err(e) = psn_audit::verify_checkpoint(&ours, &fixture.gateway, &fixture.ca_der) {
        panic!("a checkpoint the gateway signed does not verify: {e}");
    }
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    if let Ok(statement) = serde_json::from_slice::<Statement>(data) {
        let again = serde_json::from_slice::<Statement>(&statement.to_bytes());
        assert_eq!(again.ok(), Some(statement));
    }
    checkpoint(fixture, data);
    if let Ok(text) = std::str::from_utf8(data) {
        proof(fixture, text);
        envelope(fixture, text);
    }
});
