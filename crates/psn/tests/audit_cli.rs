//! `psn audit` end to end: a real log (real keys, certificates from CSRs, signed configuration
//! history, peer statements signed in batches) written with the library, then the real `psn`
//! binary verifies, shows, exports (a bundle verified in another directory with nothing else),
//! archives, and reports tampering with a non-zero exit and the exact place.

#[path = "../../psn-audit/tests/common/mod.rs"]
mod common;

use common::Fixture;
use psn_audit::{Durability, LogOptions};
use std::path::Path;
use std::process::{Command, Output};

fn psn(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_psn"))
        .args(args)
        .current_dir(cwd)
        .env("PSN_LOG", "warn")
        .output()
        .expect("run psn")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A gateway data directory with a log of several segments.
fn gateway_with_log() -> (Fixture, Vec<String>) {
    let fx = Fixture::new();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let ids = runtime.block_on(async {
        let (log, _) = fx.open(LogOptions {
            max_segment_bytes: 12 * 1024,
            seal_every_records: 5,
            ..LogOptions::default()
        });
        let mut ids = Vec::new();
        for record in fx.exchanges("cli", 30, 8) {
            ids.push(record.message_id.clone());
            log.append(&record, Some(fx.peer.der()), Durability::Durable)
                .await
                .expect("append");
        }
        log.close().await.expect("close");
        ids
    });
    (fx, ids)
}

fn dir_arg(fx: &Fixture) -> String {
    fx.path().display().to_string()
}

#[test]
fn verify_show_and_export_a_bundle_that_verifies_elsewhere() {
    let (fx, ids) = gateway_with_log();
    let out = psn(&["audit", "verify", &dir_arg(&fx)], fx.path());
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("INTACT"), "{stdout}");
    assert!(
        stdout.contains("30 records") && stdout.contains("30 peer statements"),
        "{stdout}"
    );

    let out = psn(
        &["audit", "show", &dir_arg(&fx), "--message-id", &ids[12]],
        fx.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("message {} (consumer side)", ids[12])),
        "{stdout}"
    );
    assert!(
        stdout.contains("signed by GB/GOV/D6@gw1") && stdout.contains("signature valid"),
        "{stdout}"
    );
    let out = psn(
        &[
            "audit",
            "show",
            &dir_arg(&fx),
            "--message-id",
            &ids[12],
            "--output",
            "json",
        ],
        fx.path(),
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json[0]["record"]["message_id"], ids[12].as_str());
    assert_eq!(json[0]["statement"]["kind"], "response");
    assert_eq!(json[0]["sealed"], true);
    let out = psn(
        &["audit", "show", &dir_arg(&fx), "--message-id", "nobody"],
        fx.path(),
    );
    assert!(!out.status.success());

    let elsewhere = tempfile::tempdir().expect("tempdir");
    let bundle = fx.path().join("evidence.json");
    let out = psn(
        &[
            "audit",
            "export",
            "--data-dir",
            &dir_arg(&fx),
            "--message-id",
            &ids[20],
            "--out",
            &bundle.display().to_string(),
        ],
        fx.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::copy(&bundle, elsewhere.path().join("evidence.json")).expect("hand over");
    drop(fx);
    let out = psn(&["audit", "verify", "evidence.json"], elsewhere.path());
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with("INTACT") && stdout.contains(&ids[20]),
        "{stdout}"
    );
    assert!(stdout.contains("network CA:   pin"), "{stdout}");
    let out = psn(
        &["audit", "show", "evidence.json", "--message-id", &ids[20]],
        elsewhere.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn a_time_range_export_and_archival_keep_the_log_verifiable() {
    let (fx, _) = gateway_with_log();
    let out = psn(
        &["audit", "archive", "--data-dir", &dir_arg(&fx)],
        fx.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("archived segments: 1, 2"),
        "{}",
        text(&out.stdout)
    );
    let archived = fx.path().join("audit/archive/0000000000000001.psnlog.gz");
    let out = psn(
        &["audit", "verify", &archived.display().to_string()],
        fx.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stdout));

    let now = time::OffsetDateTime::now_utc();
    let format = &time::format_description::well_known::Rfc3339;
    let from = (now - time::Duration::hours(1))
        .format(format)
        .expect("time");
    let to = (now + time::Duration::hours(1))
        .format(format)
        .expect("time");
    let bundle = fx.path().join("range.json");
    let out = psn(
        &[
            "audit",
            "export",
            "--data-dir",
            &dir_arg(&fx),
            "--from",
            &from,
            "--to",
            &to,
            "--out",
            &bundle.display().to_string(),
            "--output",
            "json",
        ],
        fx.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(summary["records"], 30);
    let out = psn(
        &[
            "audit",
            "verify",
            &bundle.display().to_string(),
            "--output",
            "json",
        ],
        fx.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stdout));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["selected"].as_array().map(Vec::len), Some(30));
}

#[test]
fn tampering_fails_verification_and_names_the_place() {
    let (fx, _) = gateway_with_log();
    let first = fx.segments()[0].clone();
    let mut data = std::fs::read(&first).expect("read");
    let needle = b"free school meals";
    let at = data
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("a record");
    data[at] ^= 0x20;
    std::fs::write(&first, &data).expect("tamper");
    let out = psn(&["audit", "verify", &dir_arg(&fx)], fx.path());
    assert!(!out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("BROKEN"), "{stdout}");
    assert!(stdout.contains("first break:  altered"), "{stdout}");
    assert!(stdout.contains("segment:    1"), "{stdout}");
    assert!(
        text(&out.stderr).contains("segment 1, entry"),
        "{}",
        text(&out.stderr)
    );
    let out = psn(
        &["audit", "verify", &dir_arg(&fx), "--output", "json"],
        fx.path(),
    );
    assert!(!out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["first_break"]["kind"], "altered");
    assert_eq!(report["first_break"]["segment"], 1);
    assert!(report["first_break"]["entry"].as_u64().is_some());

    std::fs::remove_file(&first).expect("untamper by removal");
    std::fs::remove_file(&fx.segments()[1]).expect("drop a segment from the middle");
    let out = psn(
        &["audit", "verify", &dir_arg(&fx), "--output", "json"],
        fx.path(),
    );
    assert!(!out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["first_break"]["kind"], "missing-segment", "{report}");

    let other = Fixture::new();
    let bundle_dir = tempfile::tempdir().expect("tempdir");
    let segment = bundle_dir.path().join("0000000000000002.psnlog");
    std::fs::copy(&fx.segments()[0], &segment).expect("copy");
    let out = psn(
        &["audit", "verify", &segment.display().to_string()],
        bundle_dir.path(),
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--gateway-dir"),
        "{}",
        text(&out.stderr)
    );
    let out = psn(
        &[
            "audit",
            "verify",
            &segment.display().to_string(),
            "--gateway-dir",
            &dir_arg(&other),
        ],
        bundle_dir.path(),
    );
    assert!(
        !out.status.success(),
        "another network's CA does not vouch for it"
    );
    assert!(
        text(&out.stdout).contains("untrusted"),
        "{}",
        text(&out.stdout)
    );
}
