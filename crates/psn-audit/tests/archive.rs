//! Archival and retention: closed segments are compressed and still verify; retention deletes
//! old archives (and their bodies) and nothing else; the log continues across it all.

mod common;

use common::Fixture;
use psn_audit::{
    archive, export, find, verify, ArchiveOptions, BodyPart, Durability, LogOptions, Role,
    Selection, VerifyOptions,
};
use std::time::Duration;
use time::OffsetDateTime;

fn report(path: &std::path::Path) -> psn_audit::Report {
    verify(path, &VerifyOptions::default(), &mut |_| {}).expect("verify")
}

#[tokio::test]
async fn closed_segments_are_archived_and_still_verify_find_and_export() {
    let fx = Fixture::new();
    let options = LogOptions {
        max_segment_bytes: 8 * 1024,
        ..LogOptions::default()
    };
    let (log, _) = fx.open(options.clone());
    let records = fx.exchanges("a", 30, 6);
    let first = records[0].message_id.clone();
    common::append_each(&log, records, fx.peer.der()).await;
    // A barrier: the writer rotates after answering, and handles this after that.
    log.seal_now().await.expect("seal");
    let live_before = fx.segments().len();
    assert!(live_before >= 3);

    let summary = archive(
        fx.path(),
        &ArchiveOptions::default(),
        OffsetDateTime::now_utc(),
    )
    .expect("archive while the log is open");
    assert_eq!(
        summary.archived.len(),
        live_before - 1,
        "all but the active one"
    );
    assert_eq!(fx.segments().len(), 1);
    log.append(
        &fx.exchange("after-archive"),
        Some(fx.peer.der()),
        Durability::Durable,
    )
    .await
    .expect("the writer carries on");
    log.close().await.expect("close");

    let r = report(fx.path());
    assert!(r.is_intact(), "{:?}", r.first_break);
    assert_eq!(r.records, 31);
    let archived = fx.path().join("audit/archive/0000000000000001.psnlog.gz");
    let lone = report(&archived);
    assert!(lone.is_intact(), "{:?}", lone.first_break);
    assert_eq!(find(fx.path(), &first).expect("find").len(), 1);
    let out = fx.path().join("b.json");
    export(fx.path(), &Selection::MessageId(first), &out).expect("export from an archive");
    assert!(report(&out).is_intact());

    // Reopening continues after archived segments.
    let (log, recovery) = fx.open(options);
    assert!(!recovery.started_segment);
    log.close().await.expect("close");
}

#[tokio::test]
async fn retention_deletes_old_archives_and_their_bodies_but_never_live_segments() {
    let fx = Fixture::new();
    let (log, _) = fx.open(LogOptions {
        max_segment_bytes: 6 * 1024,
        ..LogOptions::default()
    });
    let mut record = fx.exchange("0b6b4a52-2f6c-4a55-9e1c-5f0d7a8e3c11");
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
    common::append_each(&log, fx.exchanges("r", 20, 5), fx.peer.der()).await;
    log.close().await.expect("close");
    let segments = fx.segments();
    assert!(segments.len() >= 3);

    let far_future = OffsetDateTime::now_utc() + time::Duration::days(400);
    let keep_a_day = ArchiveOptions {
        retention: Some(Duration::from_secs(86_400)),
    };
    let summary = archive(fx.path(), &keep_a_day, OffsetDateTime::now_utc()).expect("archive");
    assert!(summary.deleted.is_empty(), "nothing is old yet");
    assert_eq!(summary.archived.len(), segments.len() - 1);

    let summary = archive(fx.path(), &keep_a_day, far_future).expect("retention");
    assert_eq!(summary.deleted.len(), segments.len() - 1);
    assert_eq!(summary.bodies_deleted, 1);
    assert_eq!(fx.segments().len(), 1, "the live segment is kept");
    let r = report(fx.path());
    assert!(r.is_intact(), "{:?}", r.first_break);
    assert!(
        r.notes.iter().any(|n| n.contains("removed by retention")),
        "{:?}",
        r.notes
    );
}
