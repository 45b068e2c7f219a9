//! `psn compliance framework ...` through the real binary against a real authority: the list
//! and one framework as a table and as JSON, for the operator and a member's gateway, and
//! refusals of names that are not framework names.

mod common;

use common::{Net, CONSUMER};
use std::process::{Command, Output};
use std::time::Duration;

fn psn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_psn"))
        .args(args)
        .env_remove("PSN_DATA_DIR")
        .env_remove("PSN_AUTHORITY")
        .env("PSN_LOG", "error")
        .output()
        .expect("run psn")
}

// The authority runs in this process; the binary's blocking calls need a second worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frameworks_are_listed_and_shown() {
    let net = Net::prepare(Duration::from_secs(30)).await;
    let dir = net.tmp.path().join("authority").display().to_string();
    let kent = net.members[CONSUMER].dir.root().display().to_string();
    let stdout = |args: &[&str]| {
        let out = psn(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let list = stdout(&["compliance", "framework", "list", "--data-dir", &dir]);
    assert!(list.starts_with("ID"), "{list}");
    assert!(
        list.contains("psn-coco") && list.contains("2026.1"),
        "{list}"
    );
    let shown = stdout(&[
        "compliance",
        "framework",
        "show",
        "psn-coco",
        "--gateway-dir",
        &kent,
    ]);
    assert!(
        shown.contains("Boundary firewalls and internet gateways"),
        "{shown}"
    );
    assert!(shown.contains("certificate connection"), "{shown}");
    let json: psn_api::Framework = serde_json::from_str(&stdout(&[
        "compliance",
        "framework",
        "show",
        "psn-coco",
        "2026.1",
        "--output",
        "json",
        "--data-dir",
        &dir,
    ]))
    .expect("json");
    assert_eq!(json.kinds.len(), 2);
    for (args, why) in [
        (
            vec!["show", "../etc", "--data-dir", &dir],
            "not a framework id",
        ),
        (
            vec!["show", "psn-coco", "2026.1/x", "--data-dir", &dir],
            "not a framework version",
        ),
        (
            vec!["show", "psn-nothing", "--data-dir", &dir],
            "no framework",
        ),
        (
            vec!["show", "psn-coco", "1999.1", "--data-dir", &dir],
            "no framework",
        ),
    ] {
        let mut all = vec!["compliance", "framework"];
        all.extend(args);
        let out = psn(&all);
        assert!(!out.status.success(), "{all:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{all:?}: {stderr}");
    }
}
