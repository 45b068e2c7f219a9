//! Peer statements and seals are checked against the CA and the configuration in force when they
//! were signed: revocation and delisting count from the version that announced them, not before;
//! forged, mismatched or foreign statements are breaks at their record.

mod common;

use common::{Fixture, ME};
use psn_audit::{AuditRecord, BreakKind, Durability, LogOptions, VerifyOptions};
use time::OffsetDateTime;

async fn log_records(fx: &Fixture, records: Vec<AuditRecord>, peer_der: std::sync::Arc<Vec<u8>>) {
    let (log, _) = fx.open(LogOptions::default());
    for record in records {
        log.append(&record, Some(peer_der.clone()), Durability::Durable)
            .await
            .expect("append");
    }
    log.close().await.expect("close");
}

fn first_break(fx: &Fixture) -> Option<psn_audit::Break> {
    psn_audit::verify(fx.path(), &VerifyOptions::default(), &mut |_| {})
        .expect("verify")
        .first_break
}

#[tokio::test]
async fn a_revocation_counts_from_the_configuration_that_announced_it() {
    let fx = Fixture::new();
    log_records(&fx, fx.exchanges("r", 3, 3), fx.peer.der()).await;
    let later = OffsetDateTime::now_utc() + time::Duration::hours(1);
    fx.write_config(2, later, &[&fx.peer.cert.serial]);
    assert_eq!(
        first_break(&fx),
        None,
        "revoked after the statements were made"
    );

    let earlier = OffsetDateTime::now_utc() - time::Duration::seconds(30);
    fx.write_config(2, earlier, &[&fx.peer.cert.serial]);
    let b = first_break(&fx).expect("revoked before");
    assert_eq!(b.kind, BreakKind::Untrusted, "{b}");
    assert!(
        b.detail.contains("version 2") && b.detail.contains("revokes"),
        "{b}"
    );
    assert_eq!(b.message_id.as_deref(), Some("r-000000"));
}

#[tokio::test]
async fn a_revocation_a_gateway_took_as_a_delta_counts_the_same() {
    let fx = Fixture::new();
    log_records(&fx, fx.exchanges("d", 3, 3), fx.peer.der()).await;
    let earlier = OffsetDateTime::now_utc() - time::Duration::seconds(30);
    fx.write_config_delta(2, earlier, &[&fx.peer.cert.serial]);
    let b = first_break(&fx).expect("revoked before");
    assert_eq!(b.kind, BreakKind::Untrusted, "{b}");
    assert!(
        b.detail.contains("version 2") && b.detail.contains("revokes"),
        "{b}"
    );

    // A stored delta altered after the fact does not produce its signed root: the version is
    // unusable, and said to be, rather than read as something the authority never signed.
    let path = fx.path().join("config/v2.delta.json");
    let tampered = std::fs::read_to_string(&path)
        .expect("read")
        .replace(&fx.peer.cert.serial, "00");
    std::fs::write(&path, tampered).expect("write");
    let b = first_break(&fx).expect("tampered history");
    assert!(
        b.detail.contains("version 2") && b.detail.contains("not usable"),
        "{b}"
    );
}

#[tokio::test]
async fn a_sealer_that_was_revoked_cannot_seal() {
    let fx = Fixture::new();
    let earlier = OffsetDateTime::now_utc() - time::Duration::seconds(30);
    fx.write_config(2, earlier, &[&fx.me.cert.serial]);
    log_records(&fx, fx.exchanges("s", 2, 2), fx.peer.der()).await;
    let b = first_break(&fx).expect("revoked sealer");
    assert_eq!(b.kind, BreakKind::Untrusted, "{b}");
    assert!(b.detail.starts_with("the seal"), "{b}");
}

#[tokio::test]
async fn a_peer_the_configuration_does_not_list_is_untrusted() {
    let fx = Fixture::new();
    let jws = fx.config_jws_with(
        1,
        OffsetDateTime::now_utc() - time::Duration::minutes(1),
        &[],
        &[ME],
    );
    std::fs::write(fx.path().join("config/v1.json"), jws).expect("config");
    log_records(&fx, fx.exchanges("n", 1, 1), fx.peer.der()).await;
    let b = first_break(&fx).expect("not listed");
    assert_eq!(b.kind, BreakKind::Untrusted, "{b}");
    assert!(b.detail.contains("does not list GB/GOV/D6@gw1"), "{b}");
}

#[tokio::test]
async fn a_statement_that_disagrees_with_the_record_is_a_break() {
    let fx = Fixture::new();
    let mut record = fx.exchange("mismatch");
    record.status = 500;
    log_records(&fx, vec![record], fx.peer.der()).await;
    let b = first_break(&fx).expect("mismatch");
    assert_eq!(b.kind, BreakKind::Statement, "{b}");
    assert!(
        b.detail
            .contains("status is 200 in the statement, 500 in the record"),
        "{b}"
    );
}

#[tokio::test]
async fn forged_and_foreign_statements_are_breaks() {
    // Signed with another key than the peer certificate's.
    let fx = Fixture::new();
    let mut record = fx.exchange("forged");
    let proof = record.peer_proof.take().expect("proof");
    let statement = proof.split('.').next().expect("statement").to_owned();
    let bytes = psn_core::encoding::b64url_decode(&statement).expect("b64");
    let signature = fx.me.signer().sign(&psn_core::proof::batch::signed_root(
        &psn_core::proof::batch::leaf(&bytes),
    ));
    record.peer_proof = Some(psn_core::proof::encode_batched(&bytes, &signature, &[]));
    log_records(&fx, vec![record], fx.peer.der()).await;
    let b = first_break(&fx).expect("forged");
    assert_eq!(b.kind, BreakKind::Statement, "{b}");
    assert!(b.detail.contains("signature does not verify"), "{b}");

    // A certificate for the peer's name from another CA.
    let fx = Fixture::new();
    let rogue_ca = psn_pki::CertificateAuthority::create(&common::network()).expect("ca");
    let rogue =
        common::Gateway::issue(&rogue_ca, common::PEER, std::time::Duration::from_secs(600));
    let mut rogue_fx = Fixture::load(fx.path());
    rogue_fx.peer = rogue.clone();
    let mut record = rogue_fx.exchange("rogue");
    record.peer_serial = Some(rogue.cert.serial.clone());
    log_records(&fx, vec![record], rogue.der()).await;
    let b = first_break(&fx).expect("rogue");
    assert_eq!(b.kind, BreakKind::Untrusted, "{b}");
    assert!(b.detail.contains("not issued by the network CA"), "{b}");

    // A statement made long before the exchange (replayed).
    let fx = Fixture::new();
    let mut record = fx.exchange("replayed");
    record.times.received_ms += 3_600_000;
    record.times.response_out_ms = Some(record.times.received_ms);
    log_records(&fx, vec![record], fx.peer.der()).await;
    let b = first_break(&fx).expect("replayed");
    assert_eq!(b.kind, BreakKind::Statement, "{b}");
    assert!(b.detail.contains("outside the exchange"), "{b}");
}
