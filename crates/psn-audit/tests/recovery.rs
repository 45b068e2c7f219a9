//! Crashes: a torn tail is cut off on open (and is not reported as tampering, before or after),
//! damage anywhere else refuses the open, and a writer killed mid-stream loses no record whose
//! append had returned.

mod common;

use common::Fixture;
use psn_audit::{AuditError, Durability, LogOptions, VerifyOptions};
use std::io::{BufRead, Write};

fn verify(fx: &Fixture) -> psn_audit::Report {
    psn_audit::verify(fx.path(), &VerifyOptions::default(), &mut |_| {}).expect("verify")
}

async fn write_some(fx: &Fixture, tag: &str, n: usize) -> Vec<String> {
    let (log, _) = fx.open(LogOptions::default());
    let records = fx.exchanges(tag, n, 4);
    let ids = records.iter().map(|r| r.message_id.clone()).collect();
    common::append_all(&log, records, fx.peer.der()).await;
    log.close().await.expect("close");
    ids
}

fn active(fx: &Fixture) -> std::path::PathBuf {
    fx.segments().pop().expect("a segment")
}

#[tokio::test]
async fn torn_tails_are_cut_off_on_open_and_never_reported_as_tampering() {
    let fx = Fixture::new();
    let ids = write_some(&fx, "a", 10).await;
    let clean = std::fs::read(active(&fx)).expect("read");

    // The remains of an append that never completed, three ways a crash leaves them.
    let half_frame = {
        let last = psn_audit::format::frames(&clean)
            .expect("segment")
            .flatten()
            .last()
            .expect("a frame");
        let start = last.offset as usize;
        clean[start..start + (last.end() as usize - start) / 2].to_vec()
    };
    let zeros = vec![0u8; 4096];
    let mut whole_but_unwritten = Vec::new();
    whole_but_unwritten.extend_from_slice(&100u32.to_be_bytes());
    whole_but_unwritten.extend_from_slice(&999u64.to_be_bytes());
    whole_but_unwritten.extend_from_slice(&[7u8; 132]);
    for tail in [half_frame, zeros, whole_but_unwritten] {
        let mut torn = clean.clone();
        torn.extend_from_slice(&tail);
        std::fs::write(active(&fx), &torn).expect("tear");

        let report = verify(&fx);
        assert!(
            report.is_intact(),
            "before recovery: {:?}",
            report.first_break
        );
        assert!(
            report.notes.iter().any(|n| n.contains("torn tail")),
            "{:?}",
            report.notes
        );

        let (log, recovery) = fx.open(LogOptions::default());
        let torn_tail = recovery.torn_tail.expect("recovered");
        assert_eq!(torn_tail.bytes, tail.len() as u64);
        assert_eq!(torn_tail.offset, clean.len() as u64);
        log.close().await.expect("close");
        assert!(verify(&fx).notes.iter().all(|n| !n.contains("torn tail")));
        let report = verify(&fx);
        assert!(
            report.is_intact(),
            "after recovery: {:?}",
            report.first_break
        );
        for id in &ids {
            assert_eq!(psn_audit::find(fx.path(), id).expect("find").len(), 1);
        }
    }
}

#[tokio::test]
async fn damage_before_the_end_is_not_a_torn_tail_and_refuses_the_open() {
    let fx = Fixture::new();
    write_some(&fx, "b", 10).await;
    let path = active(&fx);
    let mut data = std::fs::read(&path).expect("read");
    let middle = data.len() / 2;
    data[middle] ^= 0x01;
    std::fs::write(&path, &data).expect("corrupt");
    let err = psn_audit::AuditLog::open(fx.path(), LogOptions::default(), fx.me.sealer())
        .expect_err("refused");
    assert!(matches!(err, AuditError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("not a torn tail"), "{err}");
    assert!(!verify(&fx).is_intact());
    assert_eq!(
        std::fs::read(&path).expect("read"),
        data,
        "nothing was truncated"
    );
}

#[tokio::test]
async fn a_log_of_another_gateway_is_refused() {
    let fx = Fixture::new();
    write_some(&fx, "c", 2).await;
    let err = psn_audit::AuditLog::open(fx.path(), LogOptions::default(), fx.peer.sealer())
        .expect_err("not ours");
    assert!(err.to_string().contains("not of GB/GOV/D6@gw1"), "{err}");
}

const CHILD_DIR: &str = "PSN_AUDIT_CRASH_CHILD_DIR";

/// Runs in a child process: appends forever from 16 tasks, printing each acknowledged id.
#[test]
#[ignore = "the child half of a_killed_writer_loses_no_acknowledged_record"]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let fx = Fixture::load(std::path::Path::new(&dir));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let (log, _) = fx.open(LogOptions {
            max_segment_bytes: 64 * 1024,
            seal_every_records: 10,
            ..LogOptions::default()
        });
        let fx = std::sync::Arc::new(fx);
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..16 {
            let (log, fx) = (log.clone(), fx.clone());
            tasks.spawn(async move {
                for i in 0.. {
                    let record = fx.exchange(&format!("crash-{task}-{i}"));
                    if log
                        .append(&record, Some(fx.peer.der()), Durability::Durable)
                        .await
                        .is_ok()
                    {
                        let mut out = std::io::stdout().lock();
                        let _ = writeln!(out, "acked {}", record.message_id);
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    });
}

#[test]
fn a_killed_writer_loses_no_acknowledged_record() {
    let fx = Fixture::new();
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["crash_child", "--exact", "--ignored", "--nocapture"])
        .env(CHILD_DIR, fx.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("child");
    let stdout = child.stdout.take().expect("stdout");
    let mut acknowledged = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(id) = line.strip_prefix("acked ") {
            acknowledged.push(id.to_owned());
            if acknowledged.len() == 400 {
                break;
            }
        }
    }
    child.kill().expect("SIGKILL the writer");
    child.wait().expect("reaped");
    assert_eq!(acknowledged.len(), 400, "the child appended");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let (log, _recovery) = fx.open(LogOptions::default());
        log.close().await.expect("close");
    });
    let report = verify(&fx);
    assert!(report.is_intact(), "{:?}", report.first_break);
    assert!(report.segments > 1, "the child rotated segments");
    let mut present = std::collections::HashSet::new();
    for segment in fx.segments() {
        let data = std::fs::read(segment).expect("read");
        for frame in psn_audit::format::frames(&data).expect("segment").flatten() {
            if let Ok(psn_audit::format::Entry::Record(r)) =
                psn_audit::format::decode_entry(frame.payload)
            {
                present.insert(r.message_id);
            }
        }
    }
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !present.contains(*id))
        .collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
}
