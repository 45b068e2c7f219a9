//! Network faults between real processes (issue 20; docs/faults.md): each gateway runs as a
//! `psn gateway serve` process in its own network namespace on a LAN the test builds
//! (`common/netns.rs`), the authority and the backend in the test process on the host, and
//! nftables in a gateway's namespace drops the packets between it and another part:
//!
//! - a partition between the consumer's gateway and one of the provider's two gateways: calls
//!   fail over to the other; between it and both: a clear `provider-unreachable` (or
//!   `provider-timeout` for the exchange in flight on the cut connection), counted against the
//!   provider in the SLA report; when the partition heals, the next call gets through;
//! - a partition between a gateway and the authority: traffic continues on the configuration
//!   held; when it heals the gateway follows the authority again and its aggregates arrive
//!   exactly once;
//! - packet loss between the gateways: every call ends within the documented bound, as a success
//!   or as a named problem.
//!
//! Without root or nftables these tests say why and pass without running, unless
//! `PSN_REQUIRE_FAULT_TOOLS=1` (`.ci/run` sets it when it runs as root).

mod common;

use common::netns::{Lan, Peer};
use common::process::{spawn_gateway_in, GatewayProcess};
use common::{enrol_gateway_at, Net, Placement, CONSUMER, PROVIDER, SERVICE};
use psn_api::{OutcomeCounts, SlaReportQuery};
use psn_gateway::GatewayDir;
use std::time::Duration;

/// Short limits so that a fault shows within seconds: the provider gateway's backend timeout,
/// and the consumer gateway's wait for it (this and a 2 s grace).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The longest any call may take under these faults: a connect timeout for each of the
/// provider's two gateways, then the response timeout and its grace, with room to spare. A call
/// that takes longer hangs, which no fault may cause.
const CALL_BOUND: Duration = Duration::from_secs(15);

/// One call through the consumer gateway: its status and, for a psn refusal, the problem type.
async fn call(net: &Net) -> (u16, Option<String>) {
    let (status, problem, _) = common::echo(net, CALL_BOUND).await;
    (status, problem)
}

async fn calls(net: &Net, n: usize) -> Vec<(u16, Option<String>)> {
    let mut answers = Vec::with_capacity(n);
    for _ in 0..n {
        answers.push(call(net).await);
    }
    answers
}

const OK: (u16, Option<String>) = (200, None);

fn timed_out() -> (u16, Option<String>) {
    (504, Some("provider-timeout".into()))
}

fn unreachable() -> (u16, Option<String>) {
    (502, Some("provider-unreachable".into()))
}

/// Short timeouts, no probes, aggregates pushed every 200 ms, and callers from the test process
/// at `host` admitted as the member's subsystems, for the gateway in `dir`.
fn configure(dir: &GatewayDir, host: std::net::IpAddr) {
    let mut settings = dir.load_settings().expect("settings");
    let member = settings.gateway.member().to_string();
    settings.clients = vec![psn_gateway::ClientRule {
        subsystem: format!("{member}/revenues").parse().expect("subsystem"),
        allow: vec![format!("{host}/32")],
        api_key_sha256: None,
        certificate_name: None,
    }];
    settings.limits.connect_timeout = CONNECT_TIMEOUT;
    settings.limits.response_timeout = RESPONSE_TIMEOUT;
    settings.monitoring.probes = false;
    settings.monitoring.push_interval = Duration::from_millis(200);
    dir.save_settings(&settings).expect("save settings");
}

/// The test network on `lan`: the consumer's gateway in `consumer`, the provider's `gw1` in
/// `provider-1`, every gateway configured and holding the latest configuration.
async fn network_on(lan: &Lan) -> Net {
    let placement = Placement {
        host: lan.host(),
        gateways: [
            (CONSUMER, lan.ip("consumer")),
            (PROVIDER, lan.ip("provider-1")),
        ]
        .into(),
    };
    let net = Net::prepare_placed(RESPONSE_TIMEOUT, &placement).await;
    for member in [CONSUMER, PROVIDER] {
        configure(&net.members[member].dir, lan.host());
    }
    net
}

/// Enrols the provider's second gateway in `provider-2`, serving the same service as `gw1`.
async fn second_provider_gateway(net: &mut Net, lan: &Lan) -> GatewayDir {
    let dir = GatewayDir::new(net.tmp.path().join("provider-gw2"));
    let enrolled = enrol_gateway_at(
        &net.operator,
        &PROVIDER.parse().expect("member"),
        "gw2",
        lan.ip("provider-2"),
        dir,
        &mut net.port_locks,
    )
    .await;
    let services = net.members[PROVIDER]
        .dir
        .load_settings()
        .expect("gw1's settings")
        .services;
    let mut settings = enrolled.dir.load_settings().expect("gw2's settings");
    settings.services = services;
    enrolled.dir.save_settings(&settings).expect("save");
    configure(&enrolled.dir, lan.host());
    enrolled.dir
}

async fn sync(dirs: &[&GatewayDir]) {
    for dir in dirs {
        psn_gateway::sync_config(dir, None).await.expect("sync");
    }
}

/// Audit records in the log of the (stopped) gateway in `dir`.
fn records_in_log(dir: &GatewayDir) -> u64 {
    let tail = psn_audit::read_after(dir.root(), None, usize::MAX).expect("read the audit log");
    assert!(tail.gap.is_none(), "{} has a gap", dir.root().display());
    tail.records.len() as u64
}

/// Records the authority counted for `gateway` (`member@code`).
async fn delivered(net: &Net, gateway: &str) -> u64 {
    let deliveries = net
        .operator
        .aggregate_deliveries()
        .await
        .expect("deliveries");
    deliveries
        .items
        .iter()
        .find(|d| d.gateway.to_string() == gateway)
        .map_or(0, |d| d.records)
}

/// Consumer-side outcomes of the service over the last hour.
async fn consumer_outcomes(net: &Net) -> OutcomeCounts {
    let query = SlaReportQuery {
        service: Some(SERVICE.parse().expect("service")),
        ..SlaReportQuery::default()
    };
    common::recent_outcomes(net, query).await
}

/// The consumer's and the provider's gateways running on `lan`, with nothing between them yet.
struct Pair {
    net: Net,
    consumer_dir: GatewayDir,
    provider_dir: GatewayDir,
    consumer: GatewayProcess,
    provider: GatewayProcess,
}

impl Pair {
    async fn start(lan: &Lan) -> Pair {
        let net = network_on(lan).await;
        let consumer_dir = net.members[CONSUMER].dir.clone();
        let provider_dir = net.members[PROVIDER].dir.clone();
        sync(&[&consumer_dir, &provider_dir]).await;
        let provider = spawn_gateway_in(lan, "provider-1", &provider_dir);
        let consumer = spawn_gateway_in(lan, "consumer", &consumer_dir);
        Pair {
            net,
            consumer_dir,
            provider_dir,
            consumer,
            provider,
        }
    }
}

fn stop(gateways: Vec<GatewayProcess>) {
    for gateway in gateways {
        gateway.interrupt();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_between_gateways_fails_over_and_heals() {
    let Some(lan) = Lan::create(&["consumer", "provider-1", "provider-2"]) else {
        return;
    };
    let mut net = network_on(&lan).await;
    let gw2 = second_provider_gateway(&mut net, &lan).await;
    let consumer_dir = net.members[CONSUMER].dir.clone();
    let gw1 = net.members[PROVIDER].dir.clone();
    sync(&[&consumer_dir, &gw1, &gw2]).await;
    let provider_1 = spawn_gateway_in(&lan, "provider-1", &gw1);
    let provider_2 = spawn_gateway_in(&lan, "provider-2", &gw2);
    let consumer = spawn_gateway_in(&lan, "consumer", &consumer_dir);

    // Healthy: the provider's first gateway in configuration order serves.
    assert_eq!(calls(&net, 5).await, vec![OK; 5]);

    // The path to gw1 fails. The exchange in flight on its connection, if the connection was not
    // already found dead, times out; every later call goes to gw2.
    lan.partition("consumer", &[Peer::Address(lan.ip("provider-1"))]);
    let failing_over = calls(&net, 6).await;
    assert!(
        failing_over[0] == OK || failing_over[0] == timed_out(),
        "{failing_over:?}"
    );
    assert_eq!(failing_over[1..], vec![OK; 5]);
    let failed_over = failing_over.iter().filter(|a| **a != OK).count() as u64;

    // Both of the provider's gateways are cut off: a clear refusal for each call.
    lan.partition(
        "consumer",
        &[
            Peer::Address(lan.ip("provider-1")),
            Peer::Address(lan.ip("provider-2")),
        ],
    );
    let cut_off = calls(&net, 3).await;
    assert!(
        cut_off[0] == unreachable() || cut_off[0] == timed_out(),
        "{cut_off:?}"
    );
    assert_eq!(cut_off[1..], vec![unreachable(); 2]);

    // Healed: the next call connects afresh and gets through.
    lan.heal("consumer");
    assert_eq!(calls(&net, 2).await, vec![OK; 2]);

    // A clean stop delivers every gateway's aggregates; each log was counted exactly once.
    stop(vec![consumer, provider_1, provider_2]);
    for (gateway, dir) in [
        (format!("{CONSUMER}@gw1"), &consumer_dir),
        (format!("{PROVIDER}@gw1"), &gw1),
        (format!("{PROVIDER}@gw2"), &gw2),
    ] {
        assert_eq!(
            delivered(&net, &gateway).await,
            records_in_log(dir),
            "{gateway}"
        );
    }
    // gw2 served the calls that failed over; gw1 the rest.
    assert!(records_in_log(&gw2) >= 5, "gw2 served the failover");
    // The failures count against the provider ("its gateway or connectivity"), the rest as ok.
    assert_eq!(
        consumer_outcomes(&net).await,
        OutcomeCounts {
            ok: 5 + (6 - failed_over) + 2,
            provider_gateway: failed_over + 3,
            ..OutcomeCounts::default()
        }
    );
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_cut_off_from_the_authority_carries_on_and_catches_up_once() {
    let Some(lan) = Lan::create(&["consumer", "provider-1"]) else {
        return;
    };
    let Pair {
        net,
        consumer_dir,
        provider_dir,
        consumer,
        provider,
    } = Pair::start(&lan).await;
    assert_eq!(calls(&net, 5).await, vec![OK; 5]);

    let authority = net.authority.as_ref().expect("authority").local_addr;
    lan.partition("consumer", &[Peer::Service(authority)]);
    // Traffic carries on with the configuration the gateway holds…
    assert_eq!(calls(&net, 10).await, vec![OK; 10]);
    // …while a change published meanwhile cannot reach it, nor its figures the authority.
    net.operator
        .add_member(&psn_api::NewMember {
            id: "GB/LA/E10000012".parse().expect("member"),
            name: "Essex County Council".into(),
            sector: None,
            region: None,
        })
        .await
        .expect("a registry change");
    let latest = latest_version(&net);
    let held = common::metric(&internal(&consumer_dir), CONFIG_VERSION).await;
    assert!(held.is_some_and(|held| held < latest as f64), "{held:?}");
    assert!(delivered(&net, &format!("{CONSUMER}@gw1")).await <= 5);

    // Healed: the gateway follows the authority again…
    lan.heal("consumer");
    common::wait_for_metric(&internal(&consumer_dir), CONFIG_VERSION, |held| {
        held >= latest as f64
    })
    .await;
    assert_eq!(calls(&net, 2).await, vec![OK; 2]);
    // …and a clean stop leaves every record counted exactly once.
    stop(vec![consumer, provider]);
    for (gateway, dir) in [
        (format!("{CONSUMER}@gw1"), &consumer_dir),
        (format!("{PROVIDER}@gw1"), &provider_dir),
    ] {
        assert_eq!(
            delivered(&net, &gateway).await,
            records_in_log(dir),
            "{gateway}"
        );
    }
    assert_eq!(records_in_log(&consumer_dir), 17);
    net.stop().await;
}

fn latest_version(net: &Net) -> u64 {
    net.authority
        .as_ref()
        .and_then(|a| a.authority.publisher.current())
        .map_or(0, |p| p.version)
}

/// The internal listener of the gateway whose data directory is `dir`.
fn internal(dir: &GatewayDir) -> String {
    let settings = dir.load_settings().expect("settings");
    format!("http://{}", settings.internal_listen)
}

const CONFIG_VERSION: &str = "psn_gateway_config_version";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packet_loss_between_gateways_ends_every_call_within_the_bound() {
    let Some(lan) = Lan::create(&["consumer", "provider-1"]) else {
        return;
    };
    let Pair {
        net,
        consumer_dir,
        consumer,
        provider,
        ..
    } = Pair::start(&lan).await;
    assert_eq!(calls(&net, 2).await, vec![OK; 2]);

    // A fifth of the packets each way are lost: TCP resends them, so calls are slower, and some
    // may miss a timeout. Each still ends, within the bound, as a success or a named problem.
    lan.lose("consumer", Peer::Address(lan.ip("provider-1")), 20);
    let lossy = calls(&net, 20).await;
    assert!(
        lossy
            .iter()
            .all(|a| *a == OK || *a == timed_out() || *a == unreachable()),
        "{lossy:?}"
    );
    assert!(lossy.contains(&OK), "{lossy:?}");

    lan.heal("consumer");
    assert_eq!(calls(&net, 2).await, vec![OK; 2]);
    stop(vec![consumer, provider]);
    // Every call, lost packets or not, is one record at the consumer and one outcome.
    assert_eq!(records_in_log(&consumer_dir), 24);
    let outcomes = consumer_outcomes(&net).await;
    let failed = lossy.iter().filter(|a| **a != OK).count() as u64;
    assert_eq!(
        outcomes,
        OutcomeCounts {
            ok: 24 - failed,
            provider_gateway: failed,
            ..OutcomeCounts::default()
        }
    );
    net.stop().await;
}
