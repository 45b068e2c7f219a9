//! The data plane end to end: a member's system calls its gateway, the gateways relay over mutual
//! TLS to the provider's backend, with access control, proof of origin both ways, and a clear
//! problem for every refusal and fault.

mod common;

use common::{client, Net, CONSUMER, OUTSIDER, PROVIDER, SERVICE};
use http_body_util::BodyExt;
use psn_core::problem::{Problem, ProblemType};
use psn_core::proof::{content_digest, decode_proof, StatementKind, REQUEST_PROOF, RESPONSE_PROOF};
use std::time::Duration;

const CLIENT: &str = "GB/LA/E10000016/revenues";

async fn problem_of(resp: reqwest::Response) -> Problem {
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    resp.json().await.expect("problem body")
}

fn certificate_of(net: &Net, member: &str) -> Vec<u8> {
    net.members[member]
        .dir
        .load_identity()
        .expect("identity")
        .0
        .chain[0]
        .to_vec()
}

#[tokio::test]
async fn a_granted_call_succeeds_with_both_statements_verified() {
    let net = Net::start(Duration::from_secs(30)).await;
    let resp = client()
        .get(net.url(CONSUMER, "/check?nino=QQ123456C"))
        .header("PSN-Client", CLIENT)
        .header("PSN-Purpose", "free school meals application 42")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .header("x-user", "kept")
        .header("connection", "x-hop")
        .header("x-hop", "dropped")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let message_id = resp.headers()["psn-message-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let proof = resp.headers()[REQUEST_PROOF]
        .to_str()
        .expect("proof")
        .to_owned();
    let seen: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(seen["client"], CLIENT);
    assert_eq!(seen["message_id"], message_id.as_str());
    assert_eq!(seen["purpose"], "free school meals application 42");
    assert_eq!(
        seen["traceparent"],
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    );
    assert_eq!(seen["x-user"], "kept");
    assert_eq!(
        seen["connection_header"], "",
        "hop-by-hop header named by Connection must not pass"
    );
    assert_eq!(seen["path"], "/check");
    assert_eq!(seen["query"], "nino=QQ123456C");

    // The consumer gateway's statement verifies with its certificate and says what was sent.
    let decoded = decode_proof(&proof).expect("decode");
    let (statement, signed, signature) = (decoded.statement, decoded.signed, decoded.signature);
    let verifier = psn_pki::StatementVerifier::from_certificate(&certificate_of(&net, CONSUMER))
        .expect("verifier");
    assert!(verifier.verify(&signed, &signature));
    assert_eq!(statement.kind, StatementKind::Request);
    assert_eq!(statement.message_id, message_id);
    assert_eq!(statement.client, CLIENT);
    assert_eq!(statement.service, SERVICE);
    assert_eq!(statement.path, "/check?nino=QQ123456C");
    assert_eq!(
        statement.request_digest,
        content_digest(&psn_core::encoding::sha256(b""))
    );

    // Over HTTP/2 the provider's statement arrives as a trailer, binding status and body.
    let tcp = tokio::net::TcpStream::connect(
        net.members[CONSUMER].internal.trim_start_matches("http://"),
    )
    .await
    .expect("connect");
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("h2c");
    tokio::spawn(conn);
    let body = bytes::Bytes::from_static(b"{\"nino\":\"QQ123456C\"}");
    let req = http::Request::post(net.url(CONSUMER, "/check"))
        .header("psn-client", CLIENT)
        .header("content-length", body.len())
        .body(http_body_util::Full::new(body.clone()))
        .expect("request");
    let resp = sender.send_request(req).await.expect("h2 response");
    let status = resp.status();
    if status != 200 {
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        panic!("h2 POST got {status}: {}", String::from_utf8_lossy(&body));
    }
    let request_proof = resp.headers()[REQUEST_PROOF]
        .to_str()
        .expect("proof")
        .to_owned();
    let collected = resp.into_body().collect().await.expect("body");
    let trailers = collected.trailers().cloned().expect("trailers");
    let response_body = collected.to_bytes();
    let decoded = decode_proof(trailers[RESPONSE_PROOF].to_str().expect("proof")).expect("decode");
    let (response, signed, signature) = (decoded.statement, decoded.signed, decoded.signature);
    let provider = psn_pki::StatementVerifier::from_certificate(&certificate_of(&net, PROVIDER))
        .expect("verifier");
    assert!(
        provider.verify(&signed, &signature),
        "provider statement must verify with the provider's certificate"
    );
    let request = decode_proof(&request_proof).expect("decode").statement;
    assert_eq!(
        request.request_digest,
        content_digest(&psn_core::encoding::sha256(&body))
    );
    assert_eq!(response.kind, StatementKind::Response);
    assert_eq!(response.request_digest, request.request_digest);
    assert_eq!(response.status, Some(200));
    assert_eq!(
        response.response_digest,
        Some(content_digest(&psn_core::encoding::sha256(&response_body)))
    );
    net.stop().await;
}

#[tokio::test]
async fn refusals_are_problems_naming_cause_hop_and_message_id() {
    let net = Net::start(Duration::from_secs(30)).await;
    let c = client();
    // No grant.
    let resp = c
        .get(net.url(OUTSIDER, "/check"))
        .header("PSN-Client", "GB/LA/E10000008/revenues")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 403);
    let p = problem_of(resp).await;
    assert_eq!(p.kind(), Some(ProblemType::AccessDenied));
    assert_eq!(p.hop.as_deref(), Some("provider-gateway"));
    assert!(p.message_id.is_some());
    // Unknown service.
    let resp = c
        .get(format!(
            "{}/r1/GB/GOV/D6/eligibility/nope/check",
            net.members[CONSUMER].internal
        ))
        .header("PSN-Client", CLIENT)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 404);
    assert_eq!(
        problem_of(resp).await.kind(),
        Some(ProblemType::UnknownService)
    );
    // Client identity: missing, twice, malformed, another member's, unregistered.
    let cases: Vec<(Vec<&str>, ProblemType)> = vec![
        (vec![], ProblemType::UnknownClient),
        (vec![CLIENT, CLIENT], ProblemType::UnknownClient),
        (vec!["GB/LA/E10000016/Revenues"], ProblemType::UnknownClient),
        (vec!["GB/LA/E10000008/revenues"], ProblemType::UnknownClient),
        (
            vec!["GB/LA/E10000016/unregistered"],
            ProblemType::UnknownClient,
        ),
    ];
    for (clients, kind) in cases {
        let mut req = c.get(net.url(CONSUMER, "/check"));
        for value in &clients {
            req = req.header("PSN-Client", *value);
        }
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status(), kind.status(), "{clients:?}");
        let p = problem_of(resp).await;
        assert_eq!(p.kind(), Some(kind), "{clients:?}");
        assert_eq!(p.hop.as_deref(), Some("consumer-gateway"));
    }
    // Malformed service ids, traversal and a bad message id.
    let base = &net.members[CONSUMER].internal;
    for path in [
        "/r1/GB/GOV/d6/eligibility/fsm-check/check",
        "/r1/GB/GOV/D6/eligibility/fsm-check/../../admin",
        "/r1/GB/GOV/D6/eligibility/fsm-check/%2e%2e/admin",
        "/r1/GB/GOV/D6/eligibility/fsm-check/a%2fb",
    ] {
        let (status, body) = common::raw_get(base, path, &[("PSN-Client", CLIENT)]).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body.contains("urn:psn:problem:invalid-request"),
            "{path}: {body}"
        );
    }
    let resp = c
        .get(format!("{base}/nothing-here"))
        .header("PSN-Client", CLIENT)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 404);
    let resp = c
        .get(net.url(CONSUMER, "/check"))
        .header("PSN-Client", CLIENT)
        .header("PSN-Message-Id", "1; drop table")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    // An oversized header is refused before any work.
    let resp = c
        .get(net.url(CONSUMER, "/check"))
        .header("PSN-Client", CLIENT)
        .header("x-big", "a".repeat(300_000))
        .send()
        .await
        .expect("send");
    let status = resp.status();
    assert_eq!(status, 431, "{}", resp.text().await.unwrap_or_default());
    // The backend's own errors pass through untouched.
    let resp = c
        .get(net.url(CONSUMER, "/fail"))
        .header("PSN-Client", CLIENT)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(
        resp.json::<serde_json::Value>().await.expect("json")["backend"],
        "its own error"
    );
    net.stop().await;
}

#[tokio::test]
async fn backend_faults_are_attributed_to_the_backend() {
    let mut net = Net::start(Duration::from_secs(1)).await;
    let c = client();
    let resp = c
        .get(net.url(CONSUMER, "/slow"))
        .header("PSN-Client", CLIENT)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 504);
    let p = problem_of(resp).await;
    assert_eq!(p.kind(), Some(ProblemType::BackendTimeout));
    assert_eq!(p.hop.as_deref(), Some("provider-gateway"));

    // Point the service at a port where nothing listens.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let provider = net.members.get_mut(PROVIDER).expect("provider");
    if let Some(g) = provider.running.take() {
        g.stop().await;
    }
    let mut settings = provider.dir.load_settings().expect("settings");
    settings.services[0].backend = format!("http://{dead}");
    provider.dir.save_settings(&settings).expect("save");
    net.start_gateway(PROVIDER).await;
    let resp = c
        .get(net.url(CONSUMER, "/check"))
        .header("PSN-Client", CLIENT)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 502);
    let p = problem_of(resp).await;
    assert_eq!(p.kind(), Some(ProblemType::BackendUnreachable));
    assert_eq!(p.hop.as_deref(), Some("provider-gateway"));

    // The provider gateway itself down: the consumer gateway says so.
    let provider = net.members.get_mut(PROVIDER).expect("provider");
    if let Some(g) = provider.running.take() {
        g.stop().await;
    }
    let resp = c
        .get(net.url(CONSUMER, "/check"))
        .header("PSN-Client", CLIENT)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 502);
    let p = problem_of(resp).await;
    assert_eq!(p.kind(), Some(ProblemType::ProviderUnreachable));
    assert_eq!(p.hop.as_deref(), Some("consumer-gateway"));
    net.stop().await;
}

#[tokio::test]
async fn traffic_continues_while_the_authority_is_down() {
    let mut net = Net::start(Duration::from_secs(30)).await;
    let c = client();
    let authority = net.authority.take().expect("authority");
    authority.stop().await;
    for _ in 0..5 {
        let resp = c
            .get(net.url(CONSUMER, "/check"))
            .header("PSN-Client", CLIENT)
            .send()
            .await
            .expect("send");
        assert_eq!(
            resp.status(),
            200,
            "traffic between healthy members must not depend on the authority"
        );
    }
    net.stop().await;
}

#[tokio::test]
async fn suspension_is_enforced_as_consumer_and_as_provider() {
    let net = Net::start(Duration::from_secs(30)).await;
    let c = client();
    let consumer: psn_core::names::MemberId = CONSUMER.parse().expect("id");
    let changed = net
        .operator
        .suspend_member(
            &consumer,
            &psn_api::StatusChange {
                reason: Some("test".into()),
            },
        )
        .await
        .expect("suspend");
    // The provider learns of the new version by long poll and refuses the suspended consumer.
    let mut view = net.members[PROVIDER]
        .running
        .as_ref()
        .expect("running")
        .shared
        .view
        .clone();
    // A liveness bound only; how fast revocation spreads is measured by `bench/run
    // authority-scale`, not asserted here.
    tokio::time::timeout(Duration::from_secs(30), async {
        while view.borrow().config.version < changed.config_version {
            view.changed().await.expect("view");
        }
    })
    .await
    .expect("the provider must learn of the suspension");
    let resp = c
        .get(net.url(CONSUMER, "/check"))
        .header("PSN-Client", CLIENT)
        .send()
        .await
        .expect("send");
    assert_ne!(resp.status(), 200, "a suspended consumer must be refused");

    // Reinstated, it works again; then the provider is suspended and consumers no longer find it.
    net.operator
        .reinstate_member(&consumer, &psn_api::StatusChange::default())
        .await
        .expect("reinstate");
    net.settle().await;
    let resp = c
        .get(net.url(CONSUMER, "/check"))
        .header("PSN-Client", CLIENT)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let provider: psn_core::names::MemberId = PROVIDER.parse().expect("id");
    net.operator
        .suspend_member(&provider, &psn_api::StatusChange::default())
        .await
        .expect("suspend provider");
    net.settle_on(CONSUMER).await;
    let resp = c
        .get(net.url(CONSUMER, "/check"))
        .header("PSN-Client", CLIENT)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 404);
    assert_eq!(
        problem_of(resp).await.kind(),
        Some(ProblemType::UnknownService)
    );
    net.stop().await;
}

#[tokio::test]
async fn renewal_is_swapped_in_live_and_exchanges_keep_verifying() {
    let net = Net::start(Duration::from_secs(30)).await;
    let c = client();
    let call = || {
        c.get(net.url(CONSUMER, "/check"))
            .header("PSN-Client", CLIENT)
            .send()
    };
    assert_eq!(call().await.expect("send").status(), 200);
    for member in [CONSUMER, PROVIDER] {
        let m = &net.members[member];
        let before = m.dir.load_identity().expect("identity").1;
        psn_gateway::renew(&m.dir).await.expect("renew");
        let running = m.running.as_ref().expect("running");
        psn_gateway::reload_identity(&m.dir, &running.shared)
            .await
            .expect("reload");
        assert_ne!(before, m.dir.load_identity().expect("identity").1);
    }
    for _ in 0..3 {
        let resp = call().await.expect("send");
        assert_eq!(
            resp.status(),
            200,
            "exchanges after renewal: {}",
            resp.text().await.unwrap_or_default()
        );
        // Reading the whole body runs the consumer's check of the provider's statement.
        assert!(resp.bytes().await.is_ok());
    }
    let proof = call().await.expect("send").headers()[REQUEST_PROOF]
        .to_str()
        .expect("proof")
        .to_owned();
    let decoded = decode_proof(&proof).expect("decode");
    let renewed = psn_pki::StatementVerifier::from_certificate(&certificate_of(&net, CONSUMER))
        .expect("verifier");
    assert!(
        renewed.verify(&decoded.signed, &decoded.signature),
        "statements are signed with the renewed key"
    );
    net.stop().await;
}
