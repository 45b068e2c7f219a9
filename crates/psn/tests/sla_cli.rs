//! `psn gateway sla`: a provider declares what its service promises, through the real binary.

mod common;

use common::{Net, PROVIDER, SERVICE};
use std::process::{Command, Output};
use std::time::Duration;

fn psn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_psn"))
        .args(args)
        .env("PSN_LOG", "error")
        .output()
        .expect("run psn")
}

// The authority runs in this process; the binary's blocking calls need a second worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_declares_lists_and_withdraws_an_sla() {
    let net = Net::prepare(Duration::from_secs(30)).await;
    let dir = net.members[PROVIDER].dir.root().display().to_string();
    let set = psn(&[
        "gateway",
        "sla",
        "set",
        SERVICE,
        "--availability",
        "99.9",
        "--window",
        "month",
        "--latency",
        "p95<500ms",
        "--support-hours",
        "mon-fri 08:00-18:00",
        "--data-dir",
        &dir,
    ]);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    assert!(String::from_utf8_lossy(&set.stdout).contains("99.9% per month, p95 under 500 ms"));

    let list = psn(&[
        "gateway",
        "sla",
        "list",
        "--output",
        "json",
        "--data-dir",
        &dir,
    ]);
    assert!(list.status.success());
    let items: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(items[0]["service"], SERVICE);
    assert_eq!(items[0]["latency"]["under_ms"], 500);
    assert_eq!(
        items[0]["support_hours"]["days"].as_array().map(Vec::len),
        Some(5)
    );

    for (flag, value) in [
        ("--availability", "101"),
        ("--latency", "p40<500ms"),
        ("--support-hours", "fri-mon 08:00-18:00"),
        ("--window", "fortnight"),
    ] {
        let mut args = vec!["gateway", "sla", "set", SERVICE, "--data-dir", &dir];
        if flag != "--availability" {
            args.extend(["--availability", "99.9"]);
        }
        args.extend([flag, value]);
        let refused = psn(&args);
        assert!(!refused.status.success(), "{flag} {value} accepted");
        assert!(!refused.stderr.is_empty(), "{flag} {value}: says why");
    }
    let unchanged = psn(&[
        "gateway",
        "sla",
        "list",
        "--output",
        "json",
        "--data-dir",
        &dir,
    ]);
    assert_eq!(unchanged.stdout, list.stdout, "refusals change nothing");

    let removed = psn(&["gateway", "sla", "remove", SERVICE, "--data-dir", &dir]);
    assert!(removed.status.success());
    let empty = psn(&[
        "gateway",
        "sla",
        "list",
        "--output",
        "json",
        "--data-dir",
        &dir,
    ]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&empty.stdout).expect("json"),
        serde_json::json!([])
    );
    net.stop().await;
}
