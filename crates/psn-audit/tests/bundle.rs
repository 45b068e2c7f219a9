//! Export: a bundle verifies anywhere with nothing else, carries what it needs (segments, CA,
//! configuration versions, bodies), and tampering with it is detected.

mod common;

use common::{now_ms, Fixture};
use psn_audit::{
    export, find, verify, BodyPart, BreakKind, Bundle, Durability, LogOptions, Role, Selection,
    VerifyOptions,
};

async fn build(fx: &Fixture) -> Vec<String> {
    let (log, _) = fx.open(LogOptions {
        max_segment_bytes: 16 * 1024,
        ..LogOptions::default()
    });
    let peer = fx.peer.der();
    let mut ids = Vec::new();
    for record in fx.exchanges("x", 30, 5) {
        ids.push(record.message_id.clone());
        log.append(&record, Some(peer.clone()), Durability::Durable)
            .await
            .expect("append");
    }
    log.close().await.expect("close");
    ids
}

fn verify_alone(bundle: &std::path::Path) -> psn_audit::Report {
    verify(bundle, &VerifyOptions::default(), &mut |_| {}).expect("verify")
}

#[tokio::test]
async fn a_bundle_for_one_message_verifies_elsewhere_on_its_own() {
    let fx = Fixture::new();
    let ids = build(&fx).await;
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let out = elsewhere.path().join("evidence.json");
    let summary = export(fx.path(), &Selection::MessageId(ids[17].clone()), &out).expect("export");
    assert_eq!(summary.records, 1);
    assert_eq!(summary.segments.len(), 1, "only the segment holding it");
    assert_eq!(summary.configs, [1]);
    drop(fx);

    let report = verify_alone(&out);
    assert!(report.is_intact(), "{:?}", report.first_break);
    assert_eq!(report.selected.len(), 1);
    assert_eq!(report.selected[0].message_id, ids[17]);
    assert!(report.ca_pin.is_some());
    let found = find(&out, &ids[17]).expect("find");
    assert_eq!(found.len(), 1);
    assert!(found[0].sealed);
    assert_eq!(found[0].signature_valid, Some(true));
    let statement = found[0].statement.as_ref().expect("statement");
    assert_eq!(statement.signer, common::PEER);
}

#[tokio::test]
async fn a_time_range_bundle_holds_every_segment_it_touches_and_the_ca_can_be_pinned() {
    let fx = Fixture::new();
    build(&fx).await;
    let out = fx.path().join("range.json");
    let range = Selection::TimeRange {
        from_ms: now_ms() - 3_600_000,
        to_ms: now_ms() + 1,
    };
    let summary = export(fx.path(), &range, &out).expect("export");
    assert_eq!(summary.records, 30);
    assert!(summary.segments.len() >= 2, "{:?}", summary.segments);
    let pinned = VerifyOptions {
        ca_pem: Some(fx.ca().certificate_pem().to_owned()),
        ..VerifyOptions::default()
    };
    let report = verify(&out, &pinned, &mut |_| {}).expect("verify");
    assert!(report.is_intact(), "{:?}", report.first_break);
    assert_eq!(report.selected.len(), 30);

    let other = Fixture::new();
    let wrong_ca = VerifyOptions {
        ca_pem: Some(other.ca().certificate_pem().to_owned()),
        ..VerifyOptions::default()
    };
    let b = verify(&out, &wrong_ca, &mut |_| {})
        .expect("verify")
        .first_break
        .expect("another CA");
    assert_eq!(b.kind, BreakKind::Untrusted);

    let nothing = Selection::TimeRange {
        from_ms: 0,
        to_ms: 1,
    };
    let err = export(fx.path(), &nothing, &fx.path().join("none.json")).expect_err("empty");
    assert!(err.to_string().contains("no record matches"), "{err}");
}

#[tokio::test]
async fn tampering_with_a_bundle_is_detected() {
    let fx = Fixture::new();
    let ids = build(&fx).await;
    let out = fx.path().join("bundle.json");
    export(fx.path(), &Selection::MessageId(ids[3].clone()), &out).expect("export");
    let original: Bundle = Bundle::from_json(&std::fs::read(&out).expect("read")).expect("bundle");

    // A record edited inside the carried segment.
    let mut bundle = original.clone();
    let mut segment = bundle.segments[0].bytes().expect("bytes");
    let needle = ids[3].as_bytes();
    let at = segment
        .windows(needle.len())
        .rposition(|w| w == needle)
        .expect("message id");
    segment[at + needle.len() - 1] ^= 0x01;
    bundle.segments[0].data = psn_core::encoding::b64url(&segment);
    std::fs::write(&out, serde_json::to_vec(&bundle).expect("json")).expect("write");
    let b = verify_alone(&out).first_break.expect("detected");
    assert_eq!(b.kind, BreakKind::Altered, "{b}");

    // The configuration history removed: statements and seals cannot be trusted.
    let mut bundle = original.clone();
    bundle.configs.clear();
    std::fs::write(&out, serde_json::to_vec(&bundle).expect("json")).expect("write");
    let b = verify_alone(&out).first_break.expect("detected");
    assert_eq!(b.kind, BreakKind::Untrusted, "{b}");

    // The selection pointed elsewhere.
    let mut bundle = original;
    bundle.selection = Selection::MessageId("not-in-the-bundle".into());
    std::fs::write(&out, serde_json::to_vec(&bundle).expect("json")).expect("write");
    let b = verify_alone(&out).first_break.expect("detected");
    assert!(b.detail.contains("matches its selection"), "{b}");
}

#[tokio::test]
async fn unsealed_records_are_not_exported_and_stored_bodies_travel_with_the_bundle() {
    let fx = Fixture::new();
    let (log, _) = fx.open(LogOptions::default());
    let mut record = fx.exchange("c0ffee00-0000-4000-8000-000000000001");
    let body = format!("{{\"eligible\":true,\"ref\":\"{}\"}}", record.message_id);
    let mut sink = log
        .body_sink(&record.message_id, Role::Consumer, BodyPart::Response)
        .await
        .expect("sink");
    sink.write(body.as_bytes()).await.expect("write");
    sink.finish().await.expect("finish");
    record.response_body_stored = true;
    log.append(&record, Some(fx.peer.der()), Durability::Durable)
        .await
        .expect("append");
    let out = fx.path().join("bundle.json");
    let selection = Selection::MessageId(record.message_id.clone());
    let err = export(fx.path(), &selection, &out).expect_err("not sealed yet");
    assert!(err.to_string().contains("not sealed yet"), "{err}");
    log.seal_now().await.expect("seal");
    let summary = export(fx.path(), &selection, &out).expect("export");
    assert_eq!(summary.bodies, 1);
    let report = verify_alone(&out);
    assert!(report.is_intact(), "{:?}", report.first_break);
    assert_eq!(report.bodies, 1);

    let mut bundle = Bundle::from_json(&std::fs::read(&out).expect("read")).expect("bundle");
    bundle.bodies[0].data = psn_core::encoding::b64url(b"{\"eligible\":false}");
    std::fs::write(&out, serde_json::to_vec(&bundle).expect("json")).expect("write");
    let b = verify_alone(&out).first_break.expect("detected");
    assert_eq!(b.kind, BreakKind::Body, "{b}");
    log.close().await.expect("close");
}
