//! The writer: durable group commit, buffered durability, seals by count and time, rotation by
//! size and age, reopening, sealer replacement, stored bodies, and refusing appends after an I/O
//! failure. Every log written here is then checked with the verifier.

mod common;

use common::{append_all, Fixture, ME};
use psn_audit::{
    AuditError, BodyPart, BreakKind, Durability, Health, LogOptions, LogStatus, Role, VerifyOptions,
};
use std::time::Duration;

fn verify(fx: &Fixture) -> psn_audit::Report {
    psn_audit::verify(fx.path(), &VerifyOptions::default(), &mut |_| {}).expect("verify")
}

/// Waits (event-driven, bounded) until the writer publishes a status satisfying `done`.
async fn wait_for(log: &psn_audit::AuditLog, done: impl Fn(&LogStatus) -> bool) -> LogStatus {
    let mut status = log.subscribe();
    let seen = tokio::time::timeout(Duration::from_secs(30), status.wait_for(|s| done(s)))
        .await
        .expect("the writer reached the expected state")
        .expect("writer running")
        .clone();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_durable_appends_are_chained_sealed_and_verify() {
    let fx = Fixture::new();
    let (log, recovery) = fx.open(LogOptions::default());
    assert!(recovery.started_segment && recovery.torn_tail.is_none());
    let records = fx.exchanges("m", 200, 16);
    append_all(&log, records, fx.peer.der()).await;
    let status = log.status();
    assert_eq!(status.appended, 200);
    assert!(
        status.syncs <= 200,
        "one sync per batch at most: {}",
        status.syncs
    );
    log.close().await.expect("close");
    let report = verify(&fx);
    assert!(report.is_intact(), "{:?}", report.first_break);
    assert_eq!(
        (report.records, report.statements, report.unsealed_records),
        (200, 200, 0),
        "{:?}",
        report.notes
    );
    assert!(report.seals >= 1, "close seals what is unsealed");
    assert_eq!(report.log.as_deref(), Some(ME));
}

#[tokio::test]
async fn buffered_appends_share_the_next_sync_and_are_flushed_by_their_deadline() {
    let fx = Fixture::new();
    let (log, _) = fx.open(LogOptions {
        seal_interval: Duration::from_secs(3600),
        ..LogOptions::default()
    });
    let peer = fx.peer.der();
    let hour = Durability::Buffered {
        max_delay: Duration::from_secs(3600),
    };
    for record in fx.exchanges("buffered", 20, 20) {
        log.append(&record, Some(peer.clone()), hour)
            .await
            .expect("buffered append");
    }
    assert_eq!(
        log.status().syncs,
        0,
        "buffered appends return before a sync"
    );
    let durable = fx.exchange("durable");
    let receipt = log
        .append(&durable, Some(peer.clone()), Durability::Durable)
        .await
        .expect("durable append");
    assert_eq!(
        log.status().syncs,
        1,
        "one sync made all 21 records durable"
    );
    assert_eq!(receipt.segment, 1);

    let soon = Durability::Buffered {
        max_delay: Duration::from_millis(5),
    };
    log.append(&fx.exchange("soon"), Some(peer), soon)
        .await
        .expect("append");
    wait_for(&log, |s| s.syncs >= 2).await;
    log.close().await.expect("close");
    assert_eq!(verify(&fx).records, 22);
}

#[tokio::test]
async fn seals_come_by_count_and_by_time() {
    let fx = Fixture::new();
    let options = LogOptions {
        seal_every_records: 5,
        seal_interval: Duration::from_secs(3600),
        ..LogOptions::default()
    };
    let (log, _) = fx.open(options);
    append_all(&log, fx.exchanges("count", 12, 4), fx.peer.der()).await;
    let status = log.status();
    assert_eq!(status.seals, 2, "a seal every 5 records");
    assert_eq!(status.unsealed_records, 2);
    log.close().await.expect("close");

    let (log, recovery) = fx.open(LogOptions {
        seal_interval: Duration::from_millis(1),
        ..LogOptions::default()
    });
    assert_eq!(recovery.unsealed_records, 0, "close sealed the rest");
    log.append(
        &fx.exchange("timed"),
        Some(fx.peer.der()),
        Durability::Durable,
    )
    .await
    .expect("append");
    let status = wait_for(&log, |s| s.seals >= 1).await;
    assert!(status.unsealed_records == 0 && status.last_seal_ms.is_some());
    drop(log);
    let report = verify(&fx);
    assert!(report.is_intact(), "{:?}", report.first_break);
    assert_eq!((report.records, report.seals), (13, 4));
}

#[tokio::test]
async fn segments_rotate_by_size_and_age_and_chain_on() {
    let fx = Fixture::new();
    let (log, _) = fx.open(LogOptions {
        max_segment_bytes: 16 * 1024,
        ..LogOptions::default()
    });
    let peer = fx.peer.der();
    for record in fx.exchanges("size", 60, 8) {
        log.append(&record, Some(peer.clone()), Durability::Durable)
            .await
            .expect("append");
    }
    // Rotation follows the answer to the append that filled a segment; after close it is done.
    log.close().await.expect("close");
    let by_size = log.status().segment;
    assert!(
        by_size >= 3,
        "60 records of ~1.5 KB rotate 16 KB segments: {by_size}"
    );

    let (log, recovery) = fx.open(LogOptions {
        max_segment_age: Duration::from_millis(1),
        ..LogOptions::default()
    });
    assert_eq!(recovery.segment, by_size, "the active segment is continued");
    log.append(&fx.exchange("aged"), Some(peer), Durability::Durable)
        .await
        .expect("append");
    wait_for(&log, |s| s.segment > by_size).await;
    log.close().await.expect("close");

    let report = verify(&fx);
    assert!(report.is_intact(), "{:?}", report.first_break);
    assert_eq!(report.records, 61);
    assert_eq!(report.segments, fx.segments().len() as u64);
    assert!(report.segments > by_size);
}

#[tokio::test]
async fn a_renewed_certificate_seals_from_then_on_and_another_gateway_is_refused() {
    let fx = Fixture::new();
    let (log, _) = fx.open(LogOptions::default());
    append_all(&log, fx.exchanges("before", 3, 3), fx.peer.der()).await;
    log.seal_now().await.expect("seal");
    let renewed = common::Gateway::issue(fx.ca(), ME, Duration::from_secs(86_400));
    log.set_sealer(renewed.sealer()).await.expect("renewed");
    let other = common::Gateway::issue(fx.ca(), "GB/LA/E10000019@gw1", Duration::from_secs(60));
    let refused = log
        .set_sealer(other.sealer())
        .await
        .expect_err("other gateway");
    assert!(matches!(refused, AuditError::Sealer(_)), "{refused}");
    append_all(&log, fx.exchanges("after", 3, 3), fx.peer.der()).await;
    log.close().await.expect("close");
    let report = verify(&fx);
    assert!(report.is_intact(), "{:?}", report.first_break);
    assert_eq!(report.seals, 2);
    let segment = std::fs::read(&fx.segments()[0]).expect("segment");
    let text = String::from_utf8_lossy(&segment);
    assert!(text.contains(&renewed.cert.serial) && text.contains(&fx.me.cert.serial));
}

#[tokio::test]
async fn bad_records_are_refused_without_harming_the_log() {
    let fx = Fixture::new();
    let (log, _) = fx.open(LogOptions::default());
    let record = fx.exchange("no-cert");
    let err = log
        .append(&record, None, Durability::Durable)
        .await
        .expect_err("statement without certificate");
    assert!(matches!(err, AuditError::InvalidRecord(_)), "{err}");
    let mut huge = fx.exchange("huge");
    huge.purpose = Some("x".repeat(2 << 20));
    let err = log
        .append(&huge, Some(fx.peer.der()), Durability::Durable)
        .await
        .expect_err("oversized");
    assert!(err.to_string().contains("limit"), "{err}");
    let err = log
        .append(
            &fx.exchange("garbage-cert"),
            Some(std::sync::Arc::new(b"not a certificate".to_vec())),
            Durability::Durable,
        )
        .await
        .expect_err("garbage certificate");
    assert!(matches!(err, AuditError::InvalidRecord(_)), "{err}");
    assert_eq!(log.health(), Health::Ok);
    log.append(
        &fx.exchange("fine"),
        Some(fx.peer.der()),
        Durability::Durable,
    )
    .await
    .expect("a good record still goes in");
    log.close().await.expect("close");
    let err = log
        .append(
            &fx.exchange("late"),
            Some(fx.peer.der()),
            Durability::Durable,
        )
        .await
        .expect_err("closed");
    assert!(matches!(err, AuditError::Closed), "{err}");
    assert_eq!(log.health(), Health::Closed);
    assert_eq!(verify(&fx).records, 1);
}

#[tokio::test]
async fn an_io_failure_fails_the_log_closed_and_a_reopen_after_the_fix_continues() {
    let fx = Fixture::new();
    let (log, _) = fx.open(LogOptions {
        max_segment_bytes: 8 * 1024,
        ..LogOptions::default()
    });
    // The next segment cannot be created: a directory sits where its temporary file goes (an
    // unwritable path that even root cannot write through).
    let blocker = fx.path().join("audit/segments/0000000000000002.psnlog.tmp");
    std::fs::create_dir_all(&blocker).expect("blocker");
    let peer = fx.peer.der();
    let mut acknowledged = Vec::new();
    let mut refusal = None;
    for record in fx.exchanges("io", 40, 8) {
        match log
            .append(&record, Some(peer.clone()), Durability::Durable)
            .await
        {
            Ok(_) => acknowledged.push(record.message_id),
            Err(e) => {
                refusal = Some(e);
                break;
            }
        }
    }
    let refusal = refusal.expect("appends are refused once rotation failed");
    assert!(
        matches!(&refusal, AuditError::Unavailable { reason } if reason.contains("0000000000000002.psnlog")),
        "{refusal}"
    );
    assert!(
        refusal.to_string().contains("exchanges are refused"),
        "{refusal}"
    );
    assert!(matches!(log.health(), Health::Failed { .. }));
    let again = log
        .append(
            &fx.exchange("again"),
            Some(peer.clone()),
            Durability::Durable,
        )
        .await
        .expect_err("fails fast");
    assert!(matches!(again, AuditError::Unavailable { .. }));
    drop(log);

    std::fs::remove_dir(&blocker).expect("fix the disk");
    let (log, recovery) = fx.open(LogOptions::default());
    assert!(
        recovery.started_segment,
        "the closed segment is followed by a new one"
    );
    assert_eq!(recovery.segment, 2);
    log.append(&fx.exchange("after-fix"), Some(peer), Durability::Durable)
        .await
        .expect("append after reopen");
    log.close().await.expect("close");
    let report = verify(&fx);
    assert!(report.is_intact(), "{:?}", report.first_break);
    for id in acknowledged.iter().chain(["after-fix".to_owned()].iter()) {
        assert_eq!(
            psn_audit::find(fx.path(), id).expect("find").len(),
            1,
            "acknowledged {id} is in the log"
        );
    }
}

#[tokio::test]
async fn stored_bodies_are_covered_by_the_record_digests() {
    let fx = Fixture::new();
    let (log, _) = fx.open(LogOptions::default());
    let mut record = fx.exchange("0b6b4a52-2f6c-4a55-9e1c-5f0d7a8e3c11");
    let body = format!("{{\"eligible\":true,\"ref\":\"{}\"}}", record.message_id);
    let mut sink = log
        .body_sink(&record.message_id, Role::Consumer, BodyPart::Response)
        .await
        .expect("sink");
    for chunk in body.as_bytes().chunks(7) {
        sink.write(chunk).await.expect("write");
    }
    let stored = sink.finish().await.expect("finish");
    assert_eq!(
        Some(&stored.content_digest),
        record.response_digest.as_ref()
    );
    record.response_body_stored = true;
    log.append(&record, Some(fx.peer.der()), Durability::Durable)
        .await
        .expect("append");
    assert!(log
        .body_sink("../escape", Role::Consumer, BodyPart::Request)
        .await
        .is_err());
    let again = log
        .body_sink(&record.message_id, Role::Consumer, BodyPart::Response)
        .await
        .expect_err("kept evidence is never overwritten");
    assert!(again.to_string().contains("already kept"), "{again}");
    let abandoned = log
        .body_sink(&record.message_id, Role::Consumer, BodyPart::Request)
        .await
        .expect("sink");
    drop(abandoned);
    let left: Vec<_> = std::fs::read_dir(fx.path().join("audit/bodies"))
        .expect("bodies")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    assert_eq!(left.len(), 1, "an abandoned body leaves nothing: {left:?}");
    log.close().await.expect("close");
    let report = verify(&fx);
    assert!(report.is_intact(), "{:?}", report.first_break);
    assert_eq!(report.bodies, 1);

    let stored_path = fx.path().join(format!(
        "audit/bodies/{}.consumer.response",
        record.message_id
    ));
    std::fs::write(&stored_path, b"{\"eligible\":false}").expect("tamper with the body");
    let broken = verify(&fx).first_break.expect("detected");
    assert_eq!(broken.kind, BreakKind::Body);
    assert_eq!(
        broken.message_id.as_deref(),
        Some(record.message_id.as_str())
    );
    std::fs::remove_file(&stored_path).expect("remove");
    let missing = verify(&fx).first_break.expect("detected");
    assert!(missing.detail.contains("missing"), "{missing}");
}
