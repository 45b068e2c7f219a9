//! SLA accountability end to end (issue: operational monitoring and SLAs), with real `psn gateway
//! serve` processes, a real authority and a backend whose faults the test chooses:
//!
//! - a backend answering 500 for a while, a slow backend, a stopped provider gateway and a
//!   consumer sending bad requests: the report shows the right attainment and attributes each
//!   breach, and the consumer's bad requests count against nobody;
//! - the authority and both gateways restarted (and the consumer killed) mid-test: the
//!   authority's aggregates count exactly the records in each gateway's audit log;
//! - probes: with no member traffic at all, availability is still known and attributed.

mod common;

use common::process::spawn_gateway;
use common::{client, Net, CONSUMER, PROVIDER, SERVICE};
use psn_api::{
    Attribution, AvailabilitySource, Objective, OutcomeCounts, SlaReport, SlaReportQuery,
};
use psn_authority::datadir::DataDir;
use psn_core::sla::{LatencyTarget, SlaDeclaration, SlaWindow};
use std::time::Duration;

const CLIENT: &str = "GB/LA/E10000016/revenues";

/// Calls the service through the consumer gateway `n` times; returns the statuses seen.
async fn call(net: &Net, path: &str, n: usize) -> Vec<u16> {
    let http = client();
    let mut statuses = Vec::new();
    for _ in 0..n {
        let response = http
            .get(net.url(CONSUMER, path))
            .header("PSN-Client", CLIENT)
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .expect("the consumer gateway answers");
        statuses.push(response.status().as_u16());
        // Read the whole body: the exchange is recorded once its response is released.
        response.bytes().await.expect("body");
    }
    statuses
}

fn declare(availability: f64, latency_ms: u32) -> SlaDeclaration {
    SlaDeclaration {
        service: SERVICE.parse().expect("service"),
        availability_percent: availability,
        // A month, so the test never straddles two windows but at a month's end.
        window: SlaWindow::Month,
        latency: Some(LatencyTarget {
            percentile: 95.0,
            under_ms: latency_ms,
        }),
        support_hours: None,
    }
}

/// Sets short monitoring intervals (and probes on or off) before the gateways start.
async fn configure(net: &Net, probes: bool, probe_interval: Duration) {
    for member in [CONSUMER, PROVIDER] {
        let dir = &net.members[member].dir;
        let mut settings = dir.load_settings().expect("settings");
        settings.monitoring.probes = probes;
        settings.monitoring.probe_interval = probe_interval;
        settings.monitoring.push_interval = Duration::from_millis(200);
        dir.save_settings(&settings).expect("save");
        psn_gateway::sync_config(dir, None).await.expect("sync");
    }
}

/// Audit records in a gateway's log, read back from its files.
fn records_in_log(net: &Net, member: &str) -> u64 {
    let tail = psn_audit::read_after(net.members[member].dir.root(), None, usize::MAX)
        .expect("read the audit log");
    assert!(tail.gap.is_none(), "{member}'s log has a gap");
    tail.records.len() as u64
}

/// Exactly once: the authority counted every record of each gateway's log, no more.
async fn assert_delivered_exactly_once(net: &Net) {
    let deliveries = net
        .operator
        .aggregate_deliveries()
        .await
        .expect("deliveries");
    for member in [CONSUMER, PROVIDER] {
        let gateway = format!("{member}@gw1");
        let delivered = deliveries
            .items
            .iter()
            .find(|d| d.gateway.to_string() == gateway)
            .map(|d| d.records);
        assert_eq!(delivered, Some(records_in_log(net, member)), "{gateway}");
    }
}

async fn report(net: &Net) -> SlaReport {
    net.operator
        .sla_report(&SlaReportQuery {
            service: Some(SERVICE.parse().expect("service")),
            since: Some(time::OffsetDateTime::now_utc() - time::Duration::hours(1)),
            ..SlaReportQuery::default()
        })
        .await
        .expect("report")
}

/// Outcomes over every window of the report (normally one).
fn outcomes(report: &SlaReport) -> OutcomeCounts {
    let mut total = OutcomeCounts::default();
    for service in &report.services {
        for window in &service.windows {
            total.merge(&window.outcomes);
        }
    }
    total
}

/// Stops the in-process authority and starts it again on the same address and data.
async fn restart_authority(net: &mut Net) {
    let running = net.authority.take().expect("authority running");
    let listen = running.local_addr;
    running.stop().await;
    // The gateways carry on without it; their aggregates wait in their audit logs.
    let statuses = call(net, "/echo", 10).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let data = DataDir::new(net.tmp.path().join("authority"));
    net.authority = Some(
        psn_authority::start(
            &data,
            psn_authority::ServeOptions {
                listen,
                public_url: None,
            },
        )
        .await
        .expect("restart authority"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_attributed_and_aggregates_match_the_audit_logs() {
    let mut net = Net::prepare(Duration::from_secs(10)).await;
    configure(&net, false, Duration::from_secs(30)).await;
    psn_gateway::admin::declare_sla(&net.members[PROVIDER].dir, declare(99.0, 300))
        .await
        .expect("declare SLA");
    let mut provider = spawn_gateway(&net, PROVIDER);
    let mut consumer = spawn_gateway(&net, CONSUMER);

    assert_eq!(call(&net, "/echo", 30).await, vec![200; 30]);
    // The backend fails for a while.
    assert_eq!(call(&net, "/fail", 8).await, vec![500; 8]);
    // The consumer's own mistakes: refused by the backend…
    assert_eq!(call(&net, "/status?code=404", 5).await, vec![404; 5]);
    // …and by its own gateway (no such subsystem): recorded and counted against nobody.
    let http = client();
    for _ in 0..5 {
        let status = http
            .get(net.url(CONSUMER, "/echo"))
            .header("PSN-Client", "GB/LA/E10000016/not-ours!")
            .send()
            .await
            .expect("answer")
            .status();
        assert!(status.is_client_error(), "{status}");
    }
    // The authority goes away and comes back; 10 more exchanges happen meanwhile.
    restart_authority(&mut net).await;
    // The consumer gateway is killed outright and restarted.
    consumer.kill();
    consumer = spawn_gateway(&net, CONSUMER);
    // The backend slows down: a fifth of the successful exchanges take 450 ms.
    assert_eq!(call(&net, "/delay?ms=450", 10).await, vec![200; 10]);
    // The provider gateway stops.
    provider.interrupt();
    let statuses = call(&net, "/echo", 4).await;
    assert!(statuses.iter().all(|s| *s == 502), "{statuses:?}");
    provider = spawn_gateway(&net, PROVIDER);
    // A clean stop delivers what is left.
    consumer.interrupt();
    provider.interrupt();

    assert_delivered_exactly_once(&net).await;

    let report = report(&net).await;
    let counted = outcomes(&report);
    assert_eq!(
        counted,
        OutcomeCounts {
            ok: 30 + 10 + 10,
            client_error: 5 + 5,
            backend: 8,
            provider_gateway: 4,
            consumer_gateway: 0,
            unfinished: 0,
        }
    );
    let service = &report.services[0];
    assert!(service
        .windows
        .iter()
        .all(|w| w.source == AvailabilitySource::Consumers));
    // 50 of 62 eligible exchanges succeeded; the 5 refused ones count against nobody.
    let window = &service.windows[0];
    assert_eq!((window.eligible, window.failures), (62, 12));
    let availability = window.availability_percent.expect("availability");
    assert!(
        (availability - 100.0 * 50.0 / 62.0).abs() < 0.01,
        "{availability}"
    );

    let breach = |objective: Objective| {
        report
            .breaches
            .iter()
            .find(|b| b.objective == objective)
            .unwrap_or_else(|| panic!("no {objective:?} breach in {:#?}", report.breaches))
    };
    let availability = breach(Objective::Availability);
    // More of the failures were the backend's (8) than the provider gateway's (4).
    assert_eq!(availability.attribution, Attribution::Backend);
    let evidence = availability.evidence.outcomes.expect("outcome evidence");
    assert_eq!((evidence.backend, evidence.provider_gateway), (8, 4));
    assert_eq!(availability.target, "99%");
    let latency = breach(Objective::Latency);
    assert_eq!(latency.attribution, Attribution::Backend);
    assert!(latency.measured >= 450.0, "p95 {}", latency.measured);
    let split = latency.evidence.time_split.expect("time split");
    assert!(split.backend_ms > split.network_and_provider_gateway_ms);
    assert!(split.backend_ms > split.consumer_gateway_ms);

    // The consumer's view, and the provider's.
    assert_eq!(service.consumers.len(), 1);
    assert_eq!(service.consumers[0].consumer.to_string(), CONSUMER);
    assert_eq!(service.consumers[0].failures, 12);
    assert_eq!(report.providers.len(), 1);
    assert_eq!(report.providers[0].provider.to_string(), PROVIDER);
    assert_eq!(report.providers[0].breaches, 2);
    net.stop().await;
}

/// Waits until the gateway of `member` (in this process) has appended `more` audit records.
async fn wait_for_records(net: &Net, member: &str, more: u64) {
    let running = net.members[member].running.as_ref().expect("running");
    let mut status = running.shared.audit.subscribe();
    let target = status.borrow().appended + more;
    tokio::time::timeout(
        Duration::from_secs(30),
        status.wait_for(|s| s.appended >= target),
    )
    .await
    .expect("probes were recorded")
    .expect("audit log open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_measure_availability_without_traffic() {
    let mut net = Net::prepare(Duration::from_secs(10)).await;
    configure(&net, true, Duration::from_millis(100)).await;
    psn_gateway::admin::declare_sla(&net.members[PROVIDER].dir, declare(99.9, 1_000))
        .await
        .expect("declare SLA");
    // The provider's backend is unhealthy: its health path answers 500.
    let provider_dir = net.members[PROVIDER].dir.clone();
    let mut settings = provider_dir.load_settings().expect("settings");
    settings.services[0].health_path = Some("/fail".into());
    provider_dir.save_settings(&settings).expect("save");
    net.start_gateway(PROVIDER).await;
    net.start_gateway(CONSUMER).await;
    net.settle().await;
    // One exchange tells the consumer gateway which provider to probe from now on.
    assert_eq!(call(&net, "/echo", 1).await, vec![200]);
    wait_for_records(&net, PROVIDER, 3).await;
    wait_for_records(&net, CONSUMER, 3).await;
    // The provider gateway goes away; the consumer's probes find it unreachable.
    let provider = net
        .members
        .get_mut(PROVIDER)
        .and_then(|m| m.running.take())
        .expect("provider");
    provider.stop().await;
    wait_for_records(&net, CONSUMER, 3).await;
    let consumer = net
        .members
        .get_mut(CONSUMER)
        .and_then(|m| m.running.take())
        .expect("consumer");
    consumer.stop().await;

    let report = report(&net).await;
    let counted = outcomes(&report);
    // The one exchange, then probes: answered "backend down" while the provider ran, then
    // unreachable.
    assert!(counted.ok >= 1, "{counted:?}");
    assert!(counted.backend >= 1, "{counted:?}");
    assert!(counted.provider_gateway >= 3, "{counted:?}");
    assert_eq!(counted.client_error + counted.consumer_gateway, 0);
    let availability = report
        .breaches
        .iter()
        .find(|b| b.objective == Objective::Availability)
        .expect("availability breach");
    let evidence = availability.evidence.outcomes.expect("evidence");
    let expected = if evidence.provider_gateway > evidence.backend {
        Attribution::ProviderGateway
    } else {
        Attribution::Backend
    };
    assert_eq!(availability.attribution, expected);

    // The provider's own backend probes are in its log and were delivered like exchanges.
    assert_delivered_exactly_once(&net).await;
    net.stop().await;
}
