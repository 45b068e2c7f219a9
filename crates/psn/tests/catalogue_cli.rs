//! `psn catalogue processes` through the real binary against a real authority: the table and
//! JSON outputs, a search with no match, and refusals of bad options.

mod common;

use common::Net;
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
async fn processes_are_searched_as_a_table_and_as_json() {
    let net = Net::prepare(Duration::from_secs(30)).await;
    let dir = net.tmp.path().join("authority").display().to_string();
    let base = ["catalogue", "processes", "--data-dir", dir.as_str()];
    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        stdout_of(&args)
    };

    let table = with(&["--search", "free school meals"]);
    let first = table.lines().nth(1).unwrap_or_default();
    assert!(table.starts_with("ID"), "{table}");
    assert!(first.starts_with("lgsl:4 "), "{table}");
    assert!(first.contains("Free school meals"), "{table}");

    let custody = with(&["--search", "custody"]);
    assert!(
        custody
            .lines()
            .any(|l| l.starts_with("psn:1001") && l.contains("Policing")),
        "{custody}"
    );

    let json: psn_api::ProcessList = serde_json::from_str(&with(&[
        "--search",
        "COUNCIL TAX",
        "--limit",
        "3",
        "--output",
        "json",
    ]))
    .expect("json");
    assert_eq!((json.items.len(), json.limit), (3, 3));
    assert!(json.total > 3);
    assert!(json.items[0]
        .label
        .to_lowercase()
        .starts_with("council tax"));

    let everything = with(&["--limit", "2"]);
    assert!(
        everything.contains("2 of ") && everything.contains("raise --limit"),
        "{everything}"
    );
    assert!(with(&["--search", "zzz no such process"]).contains("no processes match"));

    // Refusals: the authority's (a search with a control character, a limit out of range)
    // and clap's (an unknown output format).
    for extra in [
        &["--search", "a\u{7}b"][..],
        &["--limit", "0"],
        &["--limit", "501"],
        &["--output", "xml"],
    ] {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let out = psn(&args);
        assert!(!out.status.success(), "{extra:?} should be refused");
        assert!(!out.stderr.is_empty(), "{extra:?} says why");
    }
    net.stop().await;
}

/// `psn catalogue show` prints a listing with its declared and measured levels, as a table and
/// as the API's JSON; an unlisted service is refused with the authority's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_is_shown_with_its_declared_and_measured_levels() {
    let net = Net::prepare(Duration::from_secs(30)).await;
    let dir = net.tmp.path().join("authority").display().to_string();
    let table = stdout_of(&["catalogue", "show", common::SERVICE, "--data-dir", &dir]);
    for expected in [
        "FIELD",
        common::SERVICE,
        "Department for Education (GB/GOV/D6)",
        "lgsl:4",
        "lifecycle",
        "live",
        "availability (30 days)",
        "not measured",
        "consuming members",
        "GB/GOV/D6@gw1 active",
    ] {
        assert!(table.contains(expected), "{expected} in {table}");
    }
    let json: psn_api::CatalogueEntry = serde_json::from_str(&stdout_of(&[
        "catalogue",
        "show",
        common::SERVICE,
        "--output",
        "json",
        "--data-dir",
        &dir,
    ]))
    .expect("json");
    assert_eq!(json.listing.id.to_string(), common::SERVICE);
    assert_eq!(json.measured.period.exchanges, 0);
    let unlisted = psn(&[
        "catalogue",
        "show",
        "GB/GOV/D6/eligibility/nothing",
        "--data-dir",
        &dir,
    ]);
    assert!(!unlisted.status.success());
    let stderr = String::from_utf8_lossy(&unlisted.stderr);
    assert!(
        stderr.contains("no service GB/GOV/D6/eligibility/nothing"),
        "{stderr}"
    );
    let malformed = psn(&["catalogue", "show", "not/a/service", "--data-dir", &dir]);
    assert!(!malformed.status.success());
    net.stop().await;
}
