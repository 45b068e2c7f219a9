//! Clock skew between gateways and the authority (issue 20; docs/faults.md "Clocks"), with
//! `psn gateway serve` processes whose clocks libfaketime moves (`FAKETIME`, the monotonic clock
//! left alone) and the authority and the other gateway on the real clock:
//!
//! - within the tolerated 5 minutes, exchanges work and both audit logs verify;
//! - a consumer gateway 8 minutes ahead refuses its own callers with `clock-skew`, naming its
//!   clock, counted against nobody's SLA;
//! - a provider gateway 8 minutes ahead refuses every exchange with `clock-skew`, counted against
//!   the provider.
//!
//! Without libfaketime these tests say why and pass without running, unless
//! `PSN_REQUIRE_FAULT_TOOLS=1` (`.ci/run` sets it when it runs as root and installs it).

mod common;

use common::process::{spawn_gateway_with, GatewayProcess};
use common::{Net, CONSUMER, PROVIDER, SERVICE};
use psn_api::{OutcomeCounts, SlaReportQuery};
use std::process::Command;
use std::time::Duration;

/// libfaketime's library for multithreaded programs, where Debian installs it.
fn faketime_library() -> Option<String> {
    let found = std::fs::read_dir("/usr/lib")
        .ok()?
        .filter_map(Result::ok)
        .map(|dir| dir.path().join("faketime/libfaketimeMT.so.1"))
        .find(|lib| lib.is_file())
        .map(|lib| lib.display().to_string());
    if found.is_none() {
        assert!(
            std::env::var("PSN_REQUIRE_FAULT_TOOLS").as_deref() != Ok("1"),
            "PSN_REQUIRE_FAULT_TOOLS=1 but libfaketime is not installed"
        );
        eprintln!("skipped: libfaketime (Debian's faketime package) is not installed");
    }
    found
}

/// `member`'s gateway as a process whose wall clock is `offset` (libfaketime's form, `+8m`) off
/// the real one, once it has compared its clock with the authority's.
async fn spawn_skewed(net: &Net, member: &str, library: &str, offset: &str) -> GatewayProcess {
    let env = [
        ("PSN_LOG", "error"),
        ("LD_PRELOAD", library),
        ("FAKETIME", offset),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ];
    let gateway = spawn_gateway_with(net, member, &[], &env);
    clock_offset(net, member).await;
    gateway
}

/// The authority's clock minus the gateway's, in seconds, as its metrics report it once it has
/// compared them (waiting up to 30 s for that).
async fn clock_offset(net: &Net, member: &str) -> f64 {
    let series = "psn_gateway_clock_offset_seconds{reference=\"authority\"}";
    common::wait_for_metric(&net.members[member].internal, series, |_| true).await
}

/// `n` calls through the consumer gateway: status, problem type and detail of each.
async fn calls(net: &Net, n: usize) -> Vec<(u16, Option<String>, String)> {
    let mut answers = Vec::with_capacity(n);
    for _ in 0..n {
        answers.push(common::echo(net, Duration::from_secs(20)).await);
    }
    answers
}

/// Consumer-side outcomes of the service from an hour ago to an hour ahead (a gateway whose
/// clock is ahead files its minutes ahead too).
async fn outcomes(net: &Net) -> OutcomeCounts {
    let query = SlaReportQuery {
        service: Some(SERVICE.parse().expect("service")),
        until: Some(time::OffsetDateTime::now_utc() + time::Duration::hours(1)),
        ..SlaReportQuery::default()
    };
    common::recent_outcomes(net, query).await
}

async fn prepared() -> Net {
    let net = Net::prepare(Duration::from_secs(10)).await;
    for member in [CONSUMER, PROVIDER] {
        let dir = &net.members[member].dir;
        let mut settings = dir.load_settings().expect("settings");
        settings.monitoring.probes = false;
        settings.monitoring.push_interval = Duration::from_millis(200);
        dir.save_settings(&settings).expect("save");
        psn_gateway::sync_config(dir, None).await.expect("sync");
    }
    net
}

fn audit_verifies(net: &Net, member: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_psn"))
        .args(["audit", "verify"])
        .arg(net.members[member].dir.root())
        .env("PSN_LOG", "warn")
        .output()
        .expect("psn audit verify");
    assert!(
        out.status.success(),
        "{member}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn within_the_tolerance_exchanges_work_and_both_logs_verify() {
    let Some(library) = faketime_library() else {
        return;
    };
    let net = prepared().await;
    let provider = spawn_gateway_with(&net, PROVIDER, &[], &[("PSN_LOG", "error")]);
    let consumer = spawn_skewed(&net, CONSUMER, &library, "+2m").await;
    let offset = clock_offset(&net, CONSUMER).await;
    assert!((-125.0..=-115.0).contains(&offset), "offset {offset} s");

    let answers = calls(&net, 5).await;
    assert!(
        answers.iter().all(|(status, ..)| *status == 200),
        "{answers:?}"
    );
    consumer.interrupt();
    provider.interrupt();
    audit_verifies(&net, CONSUMER);
    audit_verifies(&net, PROVIDER);
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_gateway_whose_clock_is_ahead_refuses_its_callers_naming_it() {
    let Some(library) = faketime_library() else {
        return;
    };
    let net = prepared().await;
    let provider = spawn_gateway_with(&net, PROVIDER, &[], &[("PSN_LOG", "error")]);
    let consumer = spawn_skewed(&net, CONSUMER, &library, "+8m").await;

    let answers = calls(&net, 3).await;
    for (status, problem, detail) in &answers {
        assert_eq!((*status, problem.as_deref()), (503, Some("clock-skew")));
        assert!(detail.contains("ahead of the authority's"), "{detail}");
        assert!(detail.contains("8 min"), "{detail}");
    }
    // It says so to whatever watches its readiness.
    let (status, ready) = common::raw_get(&net.members[CONSUMER].internal, "/readyz", &[]).await;
    assert_eq!(status, 503, "{ready}");
    assert!(ready.contains("\"status\":\"clock-skew\""), "{ready}");
    // Nothing reached the provider; the refusals are the consumer gateway's, nobody's breach.
    consumer.interrupt();
    provider.interrupt();
    assert_eq!(
        outcomes(&net).await,
        OutcomeCounts {
            consumer_gateway: 3,
            ..OutcomeCounts::default()
        }
    );
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_gateway_whose_clock_is_ahead_refuses_exchanges_against_itself() {
    let Some(library) = faketime_library() else {
        return;
    };
    let net = prepared().await;
    let provider = spawn_skewed(&net, PROVIDER, &library, "+8m").await;
    let consumer = spawn_gateway_with(&net, CONSUMER, &[], &[("PSN_LOG", "error")]);

    let answers = calls(&net, 3).await;
    for (status, problem, detail) in &answers {
        assert_eq!((*status, problem.as_deref()), (503, Some("clock-skew")));
        assert!(detail.contains("the provider gateway"), "{detail}");
        assert!(detail.contains("ahead of the authority's"), "{detail}");
        assert!(detail.contains("8 min"), "{detail}");
    }
    consumer.interrupt();
    provider.interrupt();
    assert_eq!(
        outcomes(&net).await,
        OutcomeCounts {
            provider_gateway: 3,
            ..OutcomeCounts::default()
        }
    );
    net.stop().await;
}
