//! The gateway's operational endpoints: Prometheus metrics that parse and count what the audit
//! log recorded, liveness, and readiness that reflects configuration, certificate and audit log.

mod common;

use common::{client, Net, CONSUMER, OUTSIDER, PROVIDER, SERVICE};
use prometheus_parse::{Sample, Scrape, Value};
use std::time::Duration;

async fn scrape(net: &Net, member: &str) -> Scrape {
    let resp = client()
        .get(format!("{}/metrics", net.members[member].internal))
        .send()
        .await
        .expect("metrics");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .expect("type")
        .starts_with("application/openmetrics-text"));
    let text = resp.text().await.expect("text");
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("valid exposition")
}

fn find<'a>(scrape: &'a Scrape, name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    scrape.samples.iter().find(|s| {
        s.metric == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(k).is_some_and(|l| l == *v))
    })
}

fn value(sample: Option<&Sample>) -> f64 {
    match sample.map(|s| &s.value) {
        Some(Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v)) => *v,
        Some(Value::Histogram(buckets)) => buckets.last().map_or(0.0, |b| b.count),
        other => panic!("no such sample: {other:?}"),
    }
}

#[tokio::test]
async fn metrics_count_exchanges_and_expose_gateway_state() {
    let net = Net::start(Duration::from_secs(30)).await;
    for _ in 0..3 {
        let resp = client()
            .get(net.url(CONSUMER, "/check"))
            .header("PSN-Client", "GB/LA/E10000016/revenues")
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 200);
        assert!(resp.bytes().await.is_ok());
    }
    let resp = client()
        .get(net.url(OUTSIDER, "/check"))
        .header("PSN-Client", "GB/LA/E10000008/revenues")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 403);

    let consumer = scrape(&net, CONSUMER).await;
    let ok = [
        ("role", "consumer"),
        ("service", SERVICE),
        ("status_class", "2xx"),
        ("problem", ""),
    ];
    assert_eq!(
        value(find(&consumer, "psn_gateway_exchanges_total", &ok)),
        3.0
    );
    assert_eq!(
        value(find(
            &consumer,
            "psn_gateway_exchange_duration_seconds_count",
            &[("role", "consumer"), ("service", SERVICE)]
        )),
        3.0
    );
    assert!(value(find(&consumer, "psn_gateway_config_version", &[])) >= 1.0);
    assert!(
        value(find(
            &consumer,
            "psn_gateway_config_expires_in_seconds",
            &[]
        )) > 0.0
    );
    assert!(
        value(find(
            &consumer,
            "psn_gateway_certificate_expires_in_seconds",
            &[]
        )) > 0.0
    );
    assert_eq!(
        value(find(&consumer, "psn_gateway_audit_writable", &[])),
        1.0
    );
    assert_eq!(
        value(find(&consumer, "psn_gateway_peer_connections", &[])),
        1.0
    );

    let provider = scrape(&net, PROVIDER).await;
    let served = [("role", "provider"), ("status_class", "2xx")];
    assert_eq!(
        value(find(&provider, "psn_gateway_exchanges_total", &served)),
        3.0
    );
    let denied = [
        ("role", "provider"),
        ("status_class", "4xx"),
        ("problem", "access-denied"),
    ];
    assert_eq!(
        value(find(&provider, "psn_gateway_exchanges_total", &denied)),
        1.0
    );
    assert_eq!(
        value(find(
            &provider,
            "psn_gateway_upstream_duration_seconds_count",
            &[("role", "provider")]
        )),
        3.0,
        "backend time is measured for each forwarded exchange"
    );

    for path in ["/livez", "/readyz", "/healthz"] {
        let resp = client()
            .get(format!("{}{path}", net.members[CONSUMER].internal))
            .send()
            .await
            .expect("probe");
        assert_eq!(resp.status(), 200, "{path}");
    }
    net.stop().await;
}

#[tokio::test]
async fn running_gateways_take_changes_as_deltas_and_hold_the_signed_document() {
    let net = Net::start(Duration::from_secs(30)).await;
    let changed = net
        .operator
        .suspend_member(
            &OUTSIDER.parse().expect("id"),
            &psn_api::StatusChange::default(),
        )
        .await
        .expect("suspend");
    for member in [PROVIDER, CONSUMER] {
        net.settle_on(member).await;
        let version = net.members[member]
            .running
            .as_ref()
            .expect("running")
            .shared
            .view
            .borrow()
            .config
            .version;
        assert_eq!(version, changed.config_version);
        let scrape = scrape(&net, member).await;
        let via = |how: &str| {
            find(&scrape, "psn_gateway_config_updates_total", &[("via", how)])
                .or_else(|| find(&scrape, "psn_gateway_config_updates", &[("via", how)]))
        };
        assert!(
            value(via("delta")) >= 1.0,
            "{member} took the change as a delta"
        );
        assert!(
            via("document").is_none(),
            "{member} fetched a whole document"
        );
        let psn_api::ConfigFetch::Document { document, .. } =
            net.operator.config(None, None).await.expect("config")
        else {
            panic!("document");
        };
        let dir = &net.members[member].dir;
        let store = psn_gateway::ConfigStore::open(
            dir,
            "GB".parse().expect("network"),
            dir.load_ca().expect("ca"),
        )
        .expect("the gateway's stored versions verify");
        let held = store.document().expect("held").expect("document");
        assert_eq!(
            held, document,
            "{member} holds the very document the authority signed"
        );
    }
    net.stop().await;
}
