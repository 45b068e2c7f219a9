//! `psn sla report` through the real binary against a real authority, with aggregates pushed
//! by a real gateway identity over mutual TLS: JSON, CSV and table output, and refusals.

mod common;

use common::{Net, CONSUMER, PROVIDER, SERVICE};
use psn_api::AuthorityClient;
use psn_core::aggregate::{
    AggregateBatch, AggregateCounts, AggregateKey, AggregateRow, LogCursor, Outcome, SampleKind,
    Side,
};
use std::process::{Command, Output};
use std::time::Duration;

fn psn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_psn"))
        .args(args)
        .env("PSN_LOG", "error")
        .output()
        .expect("run psn")
}

fn minute(text: &str) -> i64 {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .expect("time")
        .unix_timestamp()
        / 60
}

fn exchanges(when: &str, outcome: Outcome, count: u64) -> AggregateRow {
    let mut counts = AggregateCounts {
        count,
        ..AggregateCounts::default()
    };
    if outcome == Outcome::Ok {
        for _ in 0..count {
            counts.total.record(40);
            counts.upstream.record(30);
        }
    }
    AggregateRow {
        key: AggregateKey {
            minute: minute(when),
            side: Side::Consumer,
            kind: SampleKind::Exchange,
            service: SERVICE.into(),
            client: format!("{CONSUMER}/revenues"),
            outcome,
        },
        counts,
    }
}

fn gateway_client(net: &Net, member: &str) -> AuthorityClient {
    let (identity, _) = net.members[member].dir.load_identity().expect("identity");
    let url = &net.authority.as_ref().expect("authority").url;
    AuthorityClient::gateway(url, &net.ca_der, identity).expect("client")
}

// The authority runs in this process; the binary's blocking calls need a second worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_comes_out_as_json_csv_and_a_table() {
    let net = Net::prepare(Duration::from_secs(30)).await;
    gateway_client(&net, PROVIDER)
        .declare_sla(&psn_core::sla::SlaDeclaration {
            service: SERVICE.parse().expect("service"),
            availability_percent: 99.9,
            window: psn_core::sla::SlaWindow::Day,
            latency: Some("p95<500ms".parse().expect("latency")),
            support_hours: None,
        })
        .await
        .expect("declare");
    // Kent's gateway reports a day with backend failures and a day without.
    let rows = vec![
        exchanges("2025-03-03T10:00:00Z", Outcome::Ok, 98),
        exchanges("2025-03-03T10:01:00Z", Outcome::Backend, 2),
        exchanges("2025-03-04T10:00:00Z", Outcome::Ok, 50),
        exchanges("2025-03-04T10:00:00Z", Outcome::ClientError, 7),
    ];
    let records = rows.iter().map(|r| r.counts.count).sum();
    gateway_client(&net, CONSUMER)
        .push_aggregates(&AggregateBatch {
            from: None,
            to: LogCursor {
                segment: 1,
                position: 5,
            },
            records,
            rows,
        })
        .await
        .expect("push");

    let dir = net.tmp.path().join("authority").display().to_string();
    let period = [
        "--since",
        "2025-03-03T00:00:00Z",
        "--until",
        "2025-03-05T00:00:00Z",
    ];
    let run = |extra: &[&str]| {
        let mut args = vec!["sla", "report", "--data-dir", dir.as_str()];
        args.extend_from_slice(&period);
        args.extend_from_slice(extra);
        let out = psn(&args);
        assert!(
            out.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };

    let json: serde_json::Value = serde_json::from_str(&run(&["--output", "json"])).expect("json");
    assert_eq!(json["since"], "2025-03-03T00:00:00Z");
    let windows = &json["services"][0]["windows"];
    assert_eq!(windows.as_array().map(Vec::len), Some(2));
    assert_eq!(windows[0]["availability_percent"], 98.0);
    assert_eq!(windows[0]["breaches"][0]["objective"], "availability");
    assert_eq!(windows[0]["breaches"][0]["attribution"], "backend");
    assert_eq!(windows[0]["breaches"][0]["target"], "99.9%");
    assert_eq!(windows[1]["availability_percent"], 100.0);
    assert_eq!(windows[1]["outcomes"]["client_error"], 7);
    assert_eq!(json["breaches"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["providers"][0]["provider"], PROVIDER);
    assert_eq!(json["services"][0]["consumers"][0]["consumer"], CONSUMER);

    let csv = run(&["--output", "csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "a header and one row per window: {csv}");
    let header: Vec<&str> = lines[0].split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no {name} column"))
    };
    let first: Vec<&str> = lines[1].split(',').collect();
    let second: Vec<&str> = lines[2].split(',').collect();
    assert_eq!(first.len(), header.len());
    assert_eq!(first[column("service")], SERVICE);
    assert_eq!(first[column("window_start")], "2025-03-03T00:00:00Z");
    assert_eq!(first[column("eligible")], "100");
    assert_eq!(first[column("failures")], "2");
    assert_eq!(first[column("availability_percent")], "98");
    assert_eq!(first[column("breaches")], "availability:backend");
    assert_eq!(second[column("client_error")], "7");
    assert_eq!(second[column("breaches")], "");

    let table = run(&[]);
    assert!(table.contains("98.000% (2/100 failed)"), "{table}");
    assert!(table.contains("availability:backend"), "{table}");
    assert!(table.contains(PROVIDER), "{table}");

    // Filters pass through; a consumer with no traffic sees no services.
    let other: serde_json::Value =
        serde_json::from_str(&run(&["--output", "json", "--consumer", "GB/LA/E10000008"]))
            .expect("json");
    assert_eq!(other["services"], serde_json::json!([]));
    // A relative start is turned into a time before now: nothing from 2025-03 in the last day.
    let recent = psn(&[
        "sla",
        "report",
        "--data-dir",
        &dir,
        "--since",
        "24h",
        "--output",
        "json",
    ]);
    assert!(recent.status.success());
    let recent: serde_json::Value = serde_json::from_slice(&recent.stdout).expect("json");
    assert_eq!(recent["breaches"], serde_json::json!([]));

    // Bad input: a clear error, non-zero exit.
    for args in [
        vec!["--since", "last tuesday"],
        vec!["--service", "not-a-service"],
        vec!["--output", "xml"],
    ] {
        let mut all = vec!["sla", "report", "--data-dir", dir.as_str()];
        all.extend(args.iter().copied());
        let refused = psn(&all);
        assert!(!refused.status.success(), "{args:?} accepted");
        assert!(!refused.stderr.is_empty(), "{args:?}: says why");
    }
    let backwards = psn(&[
        "sla",
        "report",
        "--data-dir",
        &dir,
        "--since",
        "2025-03-05T00:00:00Z",
        "--until",
        "2025-03-03T00:00:00Z",
    ]);
    assert!(!backwards.status.success());
    assert!(String::from_utf8_lossy(&backwards.stderr).contains("before"));
    net.stop().await;
}
