//! `psn benchmark ...` and `psn authority benchmark load-synthetic` through the real binary
//! against a real authority with the real councils: a report as a table, JSON and CSV, peers
//! with why, a hostile returns file refused with a per-row report and nothing stored, a good
//! one stored, and saved peer groups.

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

fn stdout_of(args: &[&str]) -> String {
    let out = psn(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// The authority runs in this process; the binary's blocking calls need a second worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_peers_returns_and_groups_through_the_binary() {
    let net = Net::prepare(Duration::from_secs(30)).await;
    let dir = net.tmp.path().join("authority").display().to_string();
    let kent = net.members[CONSUMER].dir.root().display().to_string();
    let op = ["--data-dir", dir.as_str()];
    let as_kent = ["--gateway-dir", kent.as_str()];
    let run = |args: &[&str], who: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(who);
        stdout_of(&all)
    };

    let imported = run(&["authority", "member", "import"], &op);
    assert!(imported.contains("registered"), "{imported}");
    let loaded = run(&["authority", "benchmark", "load-synthetic"], &op);
    assert!(
        loaded.starts_with("loaded ") && loaded.contains("synthetic"),
        "{loaded}"
    );

    let metrics = run(&["benchmark", "metrics"], &op);
    assert!(
        metrics.contains("psn:4004") && metrics.contains("invoice paid"),
        "{metrics}"
    );
    let model = run(&["benchmark", "model"], &as_kent);
    assert!(
        model.contains("population") && model.contains("k = 15"),
        "{model}"
    );

    let table = run(&["benchmark", "report", "--process", "psn:4004"], &as_kent);
    assert!(table.contains("Kent County Council"), "{table}");
    assert!(
        table.contains("Network:") && table.contains("synthetic"),
        "{table}"
    );
    assert!(table.contains("peers' median"), "{table}");
    let json: psn_api::BenchmarkReport = serde_json::from_str(&run(
        &[
            "benchmark",
            "report",
            "--process",
            "psn:4004",
            "--member",
            CONSUMER,
            "--output",
            "json",
        ],
        &op,
    ))
    .expect("report json");
    assert_eq!(json.peers.len(), 15);
    let csv = run(
        &[
            "benchmark",
            "report",
            "--process",
            "psn:4004",
            "--output",
            "csv",
        ],
        &as_kent,
    );
    assert!(csv.starts_with("section,item,value,unit,note"), "{csv}");

    // A member may not ask about another member.
    let refused = psn(&[
        "benchmark",
        "report",
        "--process",
        "psn:4004",
        "--member",
        "GB/LA/E10000008",
        "--gateway-dir",
        &kent,
    ]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("only for itself"));

    let peers = run(&["benchmark", "peers", "--member", CONSUMER], &op);
    assert!(peers.starts_with("Peers of Kent County Council"), "{peers}");
    let ranked = peers
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.parse::<u32>().is_ok())
        })
        .count();
    assert_eq!(ranked, 15, "{peers}");
    assert!(peers.contains("population"), "{peers}");

    // A hostile file: every row reported, nothing stored.
    let before = run(&["benchmark", "returns", "--output", "json"], &as_kent);
    let file = net.tmp.path().join("returns.csv");
    std::fs::write(
        &file,
        "process,year,cost,volume,unit,note\n\
         psn:4004,2025-26,-5,1000,invoice paid,\n\
         psn:4004,2025-26,4000,1000,payslip,=HYPERLINK(\"http://evil\")\n",
    )
    .expect("write");
    let path = file.display().to_string();
    let out = psn(&[
        "benchmark",
        "submit",
        "--file",
        &path,
        "--gateway-dir",
        &kent,
    ]);
    assert!(!out.status.success());
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("refused") && report.contains("payslip"),
        "{report}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was stored"));
    assert_eq!(
        run(&["benchmark", "returns", "--output", "json"], &as_kent),
        before
    );

    std::fs::write(
        &file,
        "process,year,cost,volume,unit,note\npsn:4004,2025-26,396000,118000,invoice paid,=cmd|' /C calc'!A0\n",
    )
    .expect("write");
    let stored = run(&["benchmark", "submit", "--file", &path], &as_kent);
    assert!(
        stored.contains("1 accepted") && stored.contains("stored"),
        "{stored}"
    );
    let exported = run(&["benchmark", "returns", "--output", "csv"], &as_kent);
    assert!(
        exported.contains("'=cmd"),
        "a formula in a note is neutralised: {exported}"
    );

    let saved = run(
        &[
            "benchmark",
            "group",
            "save",
            "shire-counties",
            "--peer",
            "GB/LA/E10000008",
            "--peer",
            "GB/LA/E10000034",
        ],
        &as_kent,
    );
    assert!(saved.contains("with 2 members"), "{saved}");
    let grouped = run(
        &[
            "benchmark",
            "report",
            "--process",
            "psn:4004",
            "--year",
            "2024-25",
            "--peers",
            "shire-counties",
            "--output",
            "json",
        ],
        &as_kent,
    );
    let grouped: psn_api::BenchmarkReport = serde_json::from_str(&grouped).expect("json");
    assert_eq!(grouped.peers.len(), 2);
    assert!(grouped.peer_quartiles.is_none(), "two peers are below k");
    assert!(run(&["benchmark", "group", "list"], &as_kent).contains("shire-counties"));
    run(
        &["benchmark", "group", "delete", "shire-counties"],
        &as_kent,
    );
    let gone = psn(&[
        "benchmark",
        "group",
        "delete",
        "shire-counties",
        "--gateway-dir",
        &kent,
    ]);
    assert!(!gone.status.success());
}
