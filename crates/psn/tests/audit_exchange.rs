//! The audit log as the data plane writes it: one record per exchange on each gateway, holding
//! the peer's verified statement; refusals recorded too; and a gateway whose log cannot be
//! written refuses exchanges and reports itself unready rather than carry traffic it cannot
//! record.

mod common;

use common::{client, Net, CONSUMER, OUTSIDER, PROVIDER, SERVICE};
use psn_audit::{find, verify, Role, VerifyOptions};
use psn_core::problem::{Problem, ProblemType};
use psn_core::proof::StatementKind;
use std::time::Duration;

const CLIENT: &str = "GB/LA/E10000016/revenues";

fn records(net: &Net, member: &str, message_id: &str) -> Vec<psn_audit::FoundRecord> {
    find(net.members[member].dir.root(), message_id).expect("find")
}

fn assert_log_intact(net: &Net, member: &str) {
    let report = verify(
        net.members[member].dir.root(),
        &VerifyOptions::default(),
        &mut |_| {},
    )
    .expect("verify");
    assert!(
        report.is_intact(),
        "{member}'s log: {:?}",
        report.first_break
    );
}

#[tokio::test]
async fn both_gateways_record_each_exchange_with_the_peers_statement() {
    let net = Net::start(Duration::from_secs(30)).await;
    let resp = client()
        .post(net.url(CONSUMER, "/check?nino=QQ123456C"))
        .header("PSN-Client", CLIENT)
        .header("PSN-Purpose", "free school meals application 42")
        .body("a body of 21 bytes...")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["psn-message-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let body = resp.bytes().await.expect("body");

    let consumer = records(&net, CONSUMER, &id);
    assert_eq!(consumer.len(), 1, "one record on the consumer gateway");
    let c = &consumer[0].record;
    assert_eq!(c.role, Role::Consumer);
    assert_eq!(c.client, CLIENT);
    assert_eq!(c.service, SERVICE);
    assert_eq!(
        (c.method.as_str(), c.path.as_str()),
        ("POST", "/check?nino=QQ123456C")
    );
    assert_eq!(
        c.purpose.as_deref(),
        Some("free school meals application 42")
    );
    assert_eq!((c.status, c.request_bytes), (200, 21));
    assert_eq!(c.response_bytes, body.len() as u64);
    assert_eq!(c.peer.as_deref(), Some(format!("{PROVIDER}@gw1").as_str()));
    assert!(c.problem.is_none());
    let times = c.times;
    let hops = [
        Some(times.received_ms),
        times.forwarded_ms,
        times.response_in_ms,
        times.response_out_ms,
    ];
    assert!(hops.iter().all(Option::is_some), "{times:?}");
    assert!(
        hops.windows(2).all(|w| w[0] <= w[1]),
        "hops in order: {times:?}"
    );
    let statement = consumer[0]
        .statement
        .as_ref()
        .expect("provider's statement");
    assert_eq!(statement.kind, StatementKind::Response);
    assert_eq!(statement.response_digest, c.response_digest);

    let provider = records(&net, PROVIDER, &id);
    assert_eq!(provider.len(), 1, "one record on the provider gateway");
    let p = &provider[0].record;
    assert_eq!(p.role, Role::Provider);
    assert_eq!(p.peer.as_deref(), Some(format!("{CONSUMER}@gw1").as_str()));
    assert_eq!(p.request_digest, c.request_digest);
    assert_eq!(p.response_digest, c.response_digest);
    let statement = provider[0]
        .statement
        .as_ref()
        .expect("consumer's statement");
    assert_eq!(statement.kind, StatementKind::Request);
    assert_eq!(statement.client, CLIENT);

    // A refusal by the provider is recorded on both sides; the provider signs it, and the
    // consumer keeps that statement (the provider refused before it checked the consumer's).
    let resp = client()
        .get(net.url(OUTSIDER, "/check"))
        .header("PSN-Client", "GB/LA/E10000008/revenues")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 403);
    let denied = resp.headers()["psn-message-id"]
        .to_str()
        .expect("id")
        .to_owned();
    for member in [OUTSIDER, PROVIDER] {
        let found = records(&net, member, &denied);
        assert_eq!(found.len(), 1, "{member} records the refusal");
        assert_eq!(found[0].record.status, 403);
        assert_eq!(
            found[0].record.problem.as_deref(),
            Some(ProblemType::AccessDenied.uri().as_str())
        );
        match member {
            OUTSIDER => {
                let statement = found[0]
                    .statement
                    .as_ref()
                    .expect("the provider's statement");
                assert_eq!(statement.kind, StatementKind::Response);
                assert_eq!(statement.status, Some(403));
                assert_eq!(statement.signer, format!("{PROVIDER}@gw1"));
            }
            _ => assert!(found[0].record.peer_proof.is_none()),
        }
    }
    for member in [CONSUMER, PROVIDER, OUTSIDER] {
        assert_log_intact(&net, member);
    }
    net.stop().await;
}

/// Makes `member`'s log fail at its next rotation: a directory sits where the next segment's
/// temporary file goes, which no process (root included) can write through.
async fn fail_audit_log_of(net: &mut Net, member: &str) {
    let m = net.members.get_mut(member).expect("member");
    if let Some(running) = m.running.take() {
        running.stop().await;
    }
    let mut settings = m.dir.load_settings().expect("settings");
    settings.audit.max_segment_bytes = 4096;
    m.dir.save_settings(&settings).expect("save");
    net.start_gateway(member).await;
    let segments = net.members[member].dir.root().join("audit/segments");
    let mut names: Vec<String> = std::fs::read_dir(&segments)
        .expect("segments")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    let active: u64 = names
        .last()
        .and_then(|n| n.strip_suffix(".psnlog"))
        .and_then(|n| n.parse().ok())
        .expect("active segment");
    std::fs::create_dir_all(segments.join(format!("{:016}.psnlog.tmp", active + 1)))
        .expect("blocker");
}

/// Calls until the gateway refuses with `audit-unavailable`; every call answered 200 before that
/// must have been read to its end (acknowledged) or broken off (not acknowledged).
async fn call_until_refused(net: &Net) -> (Problem, usize) {
    let mut acknowledged = 0;
    for _ in 0..200 {
        let sent = client()
            .post(net.url(CONSUMER, "/check"))
            .header("PSN-Client", CLIENT)
            .body(vec![b'x'; 512])
            .send()
            .await;
        // Broken off before even the head was flushed: not acknowledged, like a body cut short.
        let Ok(resp) = sent else {
            continue;
        };
        match resp.status().as_u16() {
            200 => {
                if resp.bytes().await.is_ok() {
                    acknowledged += 1;
                }
            }
            503 => return (resp.json().await.expect("problem"), acknowledged),
            other => panic!("unexpected status {other}"),
        }
    }
    panic!("the gateway never refused although its log cannot rotate");
}

#[tokio::test]
async fn a_gateway_that_cannot_write_its_log_refuses_exchanges_and_is_unready() {
    let mut net = Net::start(Duration::from_secs(30)).await;
    fail_audit_log_of(&mut net, CONSUMER).await;
    let (problem, acknowledged) = call_until_refused(&net).await;
    assert!(acknowledged > 0, "the log worked until its rotation failed");
    assert_eq!(problem.kind(), Some(ProblemType::AuditUnavailable));
    assert_eq!(problem.hop.as_deref(), Some("consumer-gateway"));
    let health = client()
        .get(format!("{}/healthz", net.members[CONSUMER].internal))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 503);
    let health: serde_json::Value = health.json().await.expect("json");
    assert_eq!(health["status"], "audit-unavailable");
    assert_eq!(health["audit"]["state"]["status"], "failed");

    // The same on the provider side: the consumer is told which hop cannot record.
    fail_audit_log_of(&mut net, PROVIDER).await;
    let m = net.members.get_mut(CONSUMER).expect("consumer");
    if let Some(running) = m.running.take() {
        running.stop().await;
    }
    let segments = net.members[CONSUMER].dir.root().join("audit/segments");
    for entry in std::fs::read_dir(&segments).expect("segments").flatten() {
        if entry.path().is_dir() {
            std::fs::remove_dir(entry.path()).expect("fix the consumer's disk");
        }
    }
    net.start_gateway(CONSUMER).await;
    net.settle().await;
    let (problem, _) = call_until_refused(&net).await;
    assert_eq!(problem.kind(), Some(ProblemType::AuditUnavailable));
    assert_eq!(problem.hop.as_deref(), Some("provider-gateway"));
    for member in [CONSUMER, PROVIDER] {
        assert_log_intact(&net, member);
    }
    net.stop().await;
}

#[tokio::test]
async fn a_service_that_opts_in_keeps_its_bodies_next_to_the_records() {
    let mut net = Net::start(Duration::from_secs(30)).await;
    for member in [CONSUMER, PROVIDER] {
        let m = net.members.get_mut(member).expect("member");
        if let Some(running) = m.running.take() {
            running.stop().await;
        }
        let mut settings = m.dir.load_settings().expect("settings");
        settings.audit.keep_bodies = vec![SERVICE.parse().expect("service")];
        // Buffered durability on one side: still recorded, synced a little later.
        if member == CONSUMER {
            settings.audit.buffered = vec![psn_gateway::BufferedAudit {
                service: SERVICE.parse().expect("service"),
                max_delay: Duration::from_millis(20),
            }];
        }
        m.dir.save_settings(&settings).expect("save");
        net.start_gateway(member).await;
    }
    net.settle().await;
    let sent = vec![b'q'; 200_000];
    let resp = client()
        .post(net.url(CONSUMER, "/sink"))
        .header("PSN-Client", CLIENT)
        .body(sent.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["psn-message-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let answered = resp.bytes().await.expect("body");
    for (member, role) in [(CONSUMER, "consumer"), (PROVIDER, "provider")] {
        let found = records(&net, member, &id);
        assert_eq!(found.len(), 1);
        assert!(found[0].record.request_body_stored && found[0].record.response_body_stored);
        let bodies = net.members[member].dir.root().join("audit/bodies");
        let request = std::fs::read(bodies.join(format!("{id}.{role}.request"))).expect("request");
        let response =
            std::fs::read(bodies.join(format!("{id}.{role}.response"))).expect("response");
        assert_eq!(request, sent, "{member} kept the request body");
        assert_eq!(
            response,
            answered.to_vec(),
            "{member} kept the response body"
        );
        assert_log_intact(&net, member);
        // A kept body that is altered no longer matches its record's digest.
        std::fs::write(bodies.join(format!("{id}.{role}.request")), b"altered").expect("write");
        let report = verify(
            net.members[member].dir.root(),
            &VerifyOptions::default(),
            &mut |_| {},
        )
        .expect("verify");
        assert!(!report.is_intact(), "{member}: an altered body is detected");
    }
    net.stop().await;
}

#[tokio::test]
async fn closed_segments_are_archived_and_still_verify() {
    let mut net = Net::start(Duration::from_secs(30)).await;
    let m = net.members.get_mut(CONSUMER).expect("member");
    if let Some(running) = m.running.take() {
        running.stop().await;
    }
    let mut settings = m.dir.load_settings().expect("settings");
    settings.audit.max_segment_bytes = 2048;
    settings.audit.archive_interval = Duration::from_millis(50);
    m.dir.save_settings(&settings).expect("save");
    net.start_gateway(CONSUMER).await;
    net.settle().await;
    let mut ids = Vec::new();
    for _ in 0..12 {
        let resp = client()
            .get(net.url(CONSUMER, "/check"))
            .header("PSN-Client", CLIENT)
            .send()
            .await
            .expect("send");
        ids.push(
            resp.headers()["psn-message-id"]
                .to_str()
                .expect("id")
                .to_owned(),
        );
        assert!(resp.bytes().await.is_ok());
    }
    let mut archived = net.members[CONSUMER]
        .running
        .as_ref()
        .expect("running")
        .shared
        .audit_archived
        .subscribe();
    tokio::time::timeout(Duration::from_secs(10), archived.wait_for(|n| *n >= 1))
        .await
        .expect("closed segments are archived by the running gateway")
        .expect("gateway running");
    let archive = net.members[CONSUMER].dir.root().join("audit/archive");
    assert!(std::fs::read_dir(&archive).map_or(0, |d| d.count()) >= 1);
    for id in &ids {
        assert_eq!(
            records(&net, CONSUMER, id).len(),
            1,
            "{id} readable from archive or segment"
        );
    }
    assert_log_intact(&net, CONSUMER);
    net.stop().await;
}
