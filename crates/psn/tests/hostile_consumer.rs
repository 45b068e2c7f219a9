//! A hostile (or careless) consumer cannot damage what psn guarantees (issue: hostile clients):
//! with real `psn gateway serve` processes and a real authority,
//!
//! - a consumer driven through every refusal kind (methods and paths no grant allows, `HEAD` on
//!   a GET-only grant over HTTP/1.1 and HTTP/2, services that do not exist, missing, malformed
//!   and impersonated `PSN-Client`, malformed message ids and paths, oversized headers and
//!   bodies, a body abandoned halfway, a body that stalls) leaves zero failures attributed to
//!   the provider in the SLA report;
//! - every one of those refusals is in the refusing gateway's audit log with its problem type,
//!   and counted in its metrics by problem, while requests naming services that do not exist add
//!   no metric series of their own;
//! - the provider signs every answer, refusals and backend failures included, and the consumer
//!   keeps that statement in its record and passes it on (as a trailer to an HTTP/1.1 caller
//!   that sent `TE: trailers`);
//! - when the caller goes away mid-exchange the provider's record still holds the consumer's
//!   verified request statement.

mod common;

use common::process::spawn_gateway;
use common::{client, Net, CONSUMER, OUTSIDER, PROVIDER, SERVICE};
use psn_api::{NewGrant, OutcomeCounts, SlaReportQuery};
use psn_audit::{AuditRecord, Role};
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HOSTILE: &str = "GB/LA/E10000008/revenues";
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
const BODY_LIMIT: u64 = 64 * 1024;

/// The network: the outsider (Devon) may only GET `/echo*` and POST `/sink*`; Kent may call
/// anything. Short response timeout and body limit, fast aggregate pushes, no probes.
async fn network() -> Net {
    let net = Net::prepare(RESPONSE_TIMEOUT).await;
    for (method, path) in [("GET", "/echo*"), ("POST", "/sink*")] {
        psn_gateway::admin::grant(
            &net.members[PROVIDER].dir,
            NewGrant {
                service: SERVICE.parse().expect("service"),
                grantee: HOSTILE.parse().expect("grantee"),
                method: Some(method.into()),
                path: Some(path.into()),
            },
        )
        .await
        .expect("grant");
    }
    for member in [CONSUMER, PROVIDER, OUTSIDER] {
        let dir = &net.members[member].dir;
        let mut settings = dir.load_settings().expect("settings");
        settings.monitoring.probes = false;
        settings.monitoring.push_interval = Duration::from_millis(200);
        settings.limits.max_body_bytes = BODY_LIMIT;
        dir.save_settings(&settings).expect("save");
        psn_gateway::sync_config(dir, None).await.expect("sync");
    }
    net
}

/// Raw HTTP/1.1 bytes to `member`'s internal listener; the whole answer as text (the
/// connection is closed by the request, or by the gateway).
async fn raw(net: &Net, member: &str, request: &[u8], then_close: bool) -> String {
    let addr = net.members[member].internal.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(request).await.expect("write");
    if then_close {
        // Abandon the request halfway: the gateway sees the connection end mid-body.
        drop(tcp);
        return String::new();
    }
    let mut answer = Vec::new();
    tokio::time::timeout(RESPONSE_TIMEOUT * 4, tcp.read_to_end(&mut answer))
        .await
        .expect("the gateway answers the stalled request in time")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

fn status_of(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The problem slug of a problem document.
fn slug(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_owned))
        .and_then(|t| t.strip_prefix("urn:psn:problem:").map(str::to_owned))
        .unwrap_or_default()
}

/// Every record of a gateway's audit log, by message id.
fn records(net: &Net, member: &str) -> HashMap<String, AuditRecord> {
    psn_audit::read_after(net.members[member].dir.root(), None, usize::MAX)
        .expect("read the audit log")
        .records
        .into_iter()
        .map(|r| (r.message_id.clone(), r))
        .collect()
}

/// One hostile request through the outsider's gateway with its own message id: what it must
/// be refused with.
struct Attempt {
    id: String,
    method: reqwest::Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    expect_status: u16,
    expect_problem: &'static str,
}

fn attempt(
    net: &Net,
    method: &str,
    path: &str,
    expect_status: u16,
    expect_problem: &'static str,
) -> Attempt {
    Attempt {
        id: uuid::Uuid::new_v4().to_string(),
        method: method.parse().expect("method"),
        url: format!("{}{path}", net.members[OUTSIDER].internal),
        headers: vec![("PSN-Client".to_owned(), HOSTILE.to_owned())],
        body: None,
        expect_status,
        expect_problem,
    }
}

fn service_path(rest: &str) -> String {
    format!("/r1/{SERVICE}{rest}")
}

/// The hostile requests sent with a client library (the raw ones are sent separately).
fn attempts(net: &Net) -> Vec<Attempt> {
    let mut all = vec![
        attempt(net, "POST", &service_path("/echo"), 403, "access-denied"),
        attempt(net, "DELETE", &service_path("/echo"), 403, "access-denied"),
        attempt(
            net,
            "PROPFIND",
            &service_path("/echo"),
            403,
            "access-denied",
        ),
        attempt(
            net,
            "FROBNICATE",
            &service_path("/echo"),
            403,
            "access-denied",
        ),
        attempt(net, "GET", &service_path("/fail"), 403, "access-denied"),
        attempt(
            net,
            "GET",
            &service_path("/echo/a%2Fb"),
            400,
            "invalid-request",
        ),
        attempt(net, "GET", "/not-a-service-path", 404, "not-found"),
    ];
    for n in 0..20 {
        all.push(attempt(
            net,
            "GET",
            &format!("/r1/GB/GOV/D6/eligibility/invented-{n}/x"),
            404,
            "unknown-service",
        ));
    }
    let mut missing_client = attempt(net, "GET", &service_path("/echo"), 403, "unknown-client");
    missing_client.headers.clear();
    let mut impersonation = attempt(net, "GET", &service_path("/echo"), 403, "unknown-client");
    impersonation.headers = vec![("PSN-Client".into(), format!("{CONSUMER}/revenues"))];
    let mut malformed_client = attempt(net, "GET", &service_path("/echo"), 403, "unknown-client");
    malformed_client.headers = vec![("PSN-Client".into(), "<script>alert(1)</script>".into())];
    let mut unregistered = attempt(net, "GET", &service_path("/echo"), 403, "unknown-client");
    unregistered.headers = vec![("PSN-Client".into(), format!("{OUTSIDER}/not-registered"))];
    let mut purpose = attempt(net, "GET", &service_path("/echo"), 400, "invalid-request");
    purpose
        .headers
        .push(("PSN-Purpose".into(), "p".repeat(300)));
    let mut big_headers = attempt(net, "GET", &service_path("/echo"), 431, "headers-too-large");
    for n in 0..9 {
        big_headers
            .headers
            .push((format!("x-big-{n}"), "v".repeat(8000)));
    }
    let mut too_large = attempt(net, "POST", &service_path("/sink"), 413, "body-too-large");
    too_large.body = Some(vec![b'x'; BODY_LIMIT as usize + 1]);
    all.extend([
        missing_client,
        impersonation,
        malformed_client,
        unregistered,
        purpose,
        big_headers,
        too_large,
    ]);
    all
}

async fn send(http: &reqwest::Client, a: &Attempt) -> (u16, String, reqwest::header::HeaderMap) {
    let mut request = http
        .request(a.method.clone(), &a.url)
        .header("PSN-Message-Id", &a.id);
    for (name, value) in &a.headers {
        request = request.header(name.as_str(), value);
    }
    if let Some(body) = &a.body {
        request = request.body(body.clone());
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.expect("body");
    (status, body, headers)
}

/// Outcomes over every service and window of the provider's report.
async fn provider_outcomes(net: &Net) -> OutcomeCounts {
    let query = SlaReportQuery {
        provider: Some(PROVIDER.parse().expect("member")),
        ..SlaReportQuery::default()
    };
    common::recent_outcomes(net, query).await
}

/// `HEAD` on `/echo/x` (a GET-only grant) through the outsider's gateway; its message id and
/// the answer.
async fn head_on_echo(http: &reqwest::Client, net: &Net) -> (String, reqwest::Response) {
    let id = uuid::Uuid::new_v4().to_string();
    let response = http
        .head(net.url(OUTSIDER, "/echo/x"))
        .header("PSN-Client", HOSTILE)
        .header("PSN-Message-Id", &id)
        .send()
        .await
        .expect("HEAD is a well-formed exchange");
    (id, response)
}

/// A raw HTTP/1.1 `POST` to `/sink` through the outsider's gateway that declares 1,000 body
/// bytes and sends ten; its message id and its bytes.
fn partial_post(net: &Net) -> (String, String) {
    let id = uuid::Uuid::new_v4().to_string();
    let host = net.members[OUTSIDER].internal.trim_start_matches("http://");
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: {host}\r\nPSN-Client: {HOSTILE}\r\nPSN-Message-Id: {id}\r\nContent-Length: 1000\r\n\r\n0123456789",
        service_path("/sink")
    );
    (id, request)
}

/// The statement in a proof (`statement.signature`), decoded.
fn statement_of(proof: &str) -> psn_core::proof::Statement {
    psn_core::proof::decode_proof(proof)
        .expect("a well-formed proof")
        .statement
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_consumer_cannot_make_the_provider_look_bad() {
    let net = network().await;
    let provider = spawn_gateway(&net, PROVIDER);
    let outsider = spawn_gateway(&net, OUTSIDER);
    let http = client();

    // The outsider's legitimate calls work, so refusals below are about the requests; many
    // header fields that pass its gateway also pass the provider's.
    let mut ok = attempt(&net, "GET", &service_path("/echo"), 200, "");
    for n in 0..90 {
        ok.headers.push((format!("x-field-{n}"), "v".repeat(600)));
    }
    let (status, body, _) = send(&http, &ok).await;
    assert_eq!(status, 200, "{body}");

    let attempts = attempts(&net);
    let mut signed_by_provider = Vec::new();
    for a in &attempts {
        let (status, body, headers) = send(&http, a).await;
        assert_eq!(status, a.expect_status, "{} {}: {body}", a.method, a.url);
        assert_eq!(
            slug(&body),
            a.expect_problem,
            "{} {}: {body}",
            a.method,
            a.url
        );
        if let Some(proof) = headers.get("psn-response-proof") {
            signed_by_provider.push((a, proof.to_str().expect("ascii").to_owned(), body));
        }
    }
    // The provider's refusals (no grant allows these) come with its signed statement, which
    // binds the status and the very document sent.
    assert!(
        signed_by_provider.len() >= 5,
        "{}",
        signed_by_provider.len()
    );
    for (a, proof, body) in &signed_by_provider {
        let statement = statement_of(proof);
        assert_eq!(statement.signer, format!("{PROVIDER}@gw1"));
        assert_eq!(statement.message_id, a.id);
        assert_eq!(statement.status, Some(403));
        let digest = psn_core::proof::content_digest(&psn_core::encoding::sha256(body.as_bytes()));
        assert_eq!(statement.response_digest.as_deref(), Some(digest.as_str()));
    }

    // HEAD on a GET-only grant: refused as the consumer's, with no body on either protocol. On
    // a connection of its own: the last hostile attempt's connection may be closing (the
    // gateway closes one whose request body it refused unread), and a pooled client could pick
    // it before seeing the close.
    let (head_id, head) = head_on_echo(&client(), &net).await;
    assert_eq!(head.status().as_u16(), 403);
    assert!(head.bytes().await.expect("body").is_empty());
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .no_proxy()
        .build()
        .expect("h2 client");
    let (_, head2) = head_on_echo(&h2, &net).await;
    assert_eq!(head2.version(), reqwest::Version::HTTP_2);
    assert_eq!(head2.status().as_u16(), 403);
    assert!(head2
        .bytes()
        .await
        .expect("HEAD body over HTTP/2")
        .is_empty());
    let unknown_head = h2
        .head(format!(
            "{}/r1/GB/GOV/D6/eligibility/invented/x",
            net.members[OUTSIDER].internal
        ))
        .header("PSN-Client", HOSTILE)
        .send()
        .await
        .expect("HEAD on an unknown service over HTTP/2");
    assert_eq!(unknown_head.status().as_u16(), 404);
    assert!(unknown_head.bytes().await.expect("body").is_empty());

    // A malformed message id: refused, recorded under the id the gateway gave it.
    let (status, body) = common::raw_get(
        &net.members[OUTSIDER].internal,
        &service_path("/echo"),
        &[("PSN-Client", HOSTILE), ("PSN-Message-Id", "not-a-uuid")],
    )
    .await;
    assert_eq!((status, slug(&body).as_str()), (400, "invalid-request"));

    // A body abandoned halfway, and a body that stalls.
    let (abandoned_id, abandoned) = partial_post(&net);
    raw(&net, OUTSIDER, abandoned.as_bytes(), true).await;
    let (stalled_id, stalled) = partial_post(&net);
    let answer = raw(&net, OUTSIDER, stalled.as_bytes(), false).await;
    assert_eq!(status_of(&answer), 408, "{answer}");
    assert!(answer.contains("request-timeout"), "{answer}");

    // Metrics: refusals counted by problem; invented services share one series.
    let metrics = common::metrics_text(&net.members[OUTSIDER].internal).await;
    assert!(
        !metrics.contains("invented-"),
        "a series per invented service"
    );
    for problem in [
        "unknown-client",
        "unknown-service",
        "access-denied",
        "headers-too-large",
        "request-timeout",
    ] {
        assert!(
            metrics.contains(&format!("problem=\"{problem}\"")),
            "no count for {problem}"
        );
    }
    assert!(metrics.contains("service=\"unknown\""));

    // A clean stop delivers every aggregate.
    outsider.interrupt();
    provider.interrupt();

    // Every refusal is recorded where it was refused, with its problem type.
    let consumer_side = records(&net, OUTSIDER);
    for a in &attempts {
        let record = consumer_side
            .get(&a.id)
            .unwrap_or_else(|| panic!("no record of {} {}", a.method, a.url));
        assert_eq!(
            record.problem.as_deref(),
            Some(format!("urn:psn:problem:{}", a.expect_problem).as_str()),
            "{} {}",
            a.method,
            a.url
        );
        assert_eq!(record.status, a.expect_status);
        assert!(record.client.len() <= 256 && record.path.len() <= 1024 * 13);
    }
    for (a, proof, _) in &signed_by_provider {
        assert_eq!(
            consumer_side[&a.id].peer_proof.as_deref(),
            Some(proof.as_str()),
            "the consumer keeps the provider's signed refusal"
        );
    }
    assert_eq!(consumer_side[&head_id].status, 403);
    assert_eq!(
        consumer_side[&stalled_id].problem.as_deref(),
        Some("urn:psn:problem:request-timeout")
    );
    assert!(
        consumer_side.values().any(|r| r.problem.as_deref()
            == Some("urn:psn:problem:invalid-request")
            && r.path.contains("/echo")
            && r.message_id != abandoned_id),
        "the malformed message id's refusal is recorded"
    );
    let provider_side = records(&net, PROVIDER);
    assert!(provider_side
        .values()
        .all(|r| r.role == Role::Provider && r.client != format!("{CONSUMER}/revenues")));

    // The logs still verify (the provider's refusal statements among them).
    for member in [OUTSIDER, PROVIDER] {
        let verified = std::process::Command::new(env!("CARGO_BIN_EXE_psn"))
            .args(["audit", "verify"])
            .arg(net.members[member].dir.root())
            .output()
            .expect("psn audit verify");
        assert!(
            verified.status.success(),
            "{member}: {}{}",
            String::from_utf8_lossy(&verified.stdout),
            String::from_utf8_lossy(&verified.stderr)
        );
    }

    // Nothing the consumer did counts against the provider.
    let outcomes = provider_outcomes(&net).await;
    assert_eq!(outcomes.backend, 0, "{outcomes:?}");
    assert_eq!(outcomes.provider_gateway, 0, "{outcomes:?}");
    // The refusals that named the service itself are in its report, as the consumer's.
    let naming_the_service = attempts
        .iter()
        .filter(|a| a.url.contains(&service_path("/")) && !a.url.contains("%2F"))
        .count() as u64;
    assert!(outcomes.client_error >= naming_the_service, "{outcomes:?}");
    assert_eq!(outcomes.ok, 1, "{outcomes:?}");
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_provider_answer_is_signed_and_reaches_http1_callers() {
    let mut net = network().await;
    net.start_gateway(PROVIDER).await;
    net.start_gateway(CONSUMER).await;
    net.settle().await;
    let http = client();

    // A backend timeout: the provider's own refusal, signed over the verified request.
    let id = uuid::Uuid::new_v4().to_string();
    let response = http
        .get(net.url(CONSUMER, "/slow"))
        .header("PSN-Client", format!("{CONSUMER}/revenues"))
        .header("PSN-Message-Id", &id)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status().as_u16(), 504);
    let proof = response
        .headers()
        .get("psn-response-proof")
        .expect("the provider's statement of its refusal")
        .to_str()
        .expect("ascii")
        .to_owned();
    let body = response.bytes().await.expect("body");
    assert_eq!(slug(&String::from_utf8_lossy(&body)), "backend-timeout");
    let statement = statement_of(&proof);
    assert_eq!(statement.status, Some(504));
    assert_eq!(statement.message_id, id);
    assert_eq!(
        statement.request_digest,
        psn_core::proof::content_digest(&psn_core::encoding::sha256(b"")),
        "signed after the request was verified"
    );

    // HTTP/1.1 with TE: trailers: the provider's statement arrives as a chunked trailer.
    let host = net.members[CONSUMER].internal.trim_start_matches("http://");
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nPSN-Client: {CONSUMER}/revenues\r\nTE: trailers\r\nConnection: close\r\n\r\n",
        service_path("/echo")
    );
    let answer = raw(&net, CONSUMER, request.as_bytes(), false).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("transfer-encoding: chunked"), "{answer}");
    let (_, after_body) = lower.rsplit_once("\r\n0\r\n").expect("a last chunk");
    assert!(after_body.contains("psn-response-proof: "), "{answer}");
    // Without TE: trailers an HTTP/1.1 caller keeps the length and gets no trailer.
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nPSN-Client: {CONSUMER}/revenues\r\nConnection: close\r\n\r\n",
        service_path("/echo")
    );
    let answer = raw(&net, CONSUMER, request.as_bytes(), false).await;
    assert_eq!(status_of(&answer), 200, "{answer}");

    // The caller goes away while the backend works: the provider's record still holds the
    // consumer's statement, which it verified before forwarding.
    let gone = uuid::Uuid::new_v4().to_string();
    let abandoned = http
        .get(net.url(CONSUMER, "/delay?ms=2000"))
        .header("PSN-Client", format!("{CONSUMER}/revenues"))
        .header("PSN-Message-Id", &gone)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(abandoned.is_err(), "the caller gave up");
    // The provider's four records (the timeout, two echoes and the abandoned exchange) have
    // all been read from its log once its aggregates count them.
    let provider = net.members[PROVIDER].running.as_ref().expect("running");
    let mut delivered = provider.shared.aggregated.subscribe();
    tokio::time::timeout(Duration::from_secs(30), delivered.wait_for(|n| *n >= 4))
        .await
        .expect("the provider records the abandoned exchange")
        .expect("the gateway runs");
    let record = records(&net, PROVIDER)
        .remove(&gone)
        .expect("the abandoned exchange is recorded");
    let proof = record
        .peer_proof
        .expect("the provider keeps the consumer's verified statement");
    assert_eq!(statement_of(&proof).message_id, gone);
    assert!(
        record.times.response_out_ms.is_none(),
        "recorded as unfinished"
    );
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unidentified_requests_is_counted_but_recorded_within_budget() {
    let mut net = network().await;
    let dir = &net.members[CONSUMER].dir;
    let mut settings = dir.load_settings().expect("settings");
    settings.audit.unidentified_refusals_per_second = 1;
    dir.save_settings(&settings).expect("save");
    net.start_gateway(PROVIDER).await;
    net.start_gateway(CONSUMER).await;
    net.settle().await;
    let http = client();
    const FLOOD: usize = 60;
    let started = std::time::Instant::now();
    for _ in 0..FLOOD {
        let status = http
            .get(net.url(CONSUMER, "/echo"))
            .send()
            .await
            .expect("answer")
            .status();
        assert_eq!(status.as_u16(), 403, "no PSN-Client: refused");
    }
    let elapsed = started.elapsed();
    // Good traffic still passes, and is recorded durably as ever.
    let good = uuid::Uuid::new_v4().to_string();
    let status = http
        .get(net.url(CONSUMER, "/echo"))
        .header("PSN-Client", format!("{CONSUMER}/revenues"))
        .header("PSN-Message-Id", &good)
        .send()
        .await
        .expect("answer")
        .status();
    assert_eq!(status.as_u16(), 200);
    let metrics = common::metrics_text(&net.members[CONSUMER].internal).await;
    let consumer = net.members.get_mut(CONSUMER).expect("consumer");
    consumer.running.take().expect("running").stop().await;

    let log = records(&net, CONSUMER);
    assert!(log.contains_key(&good));
    let recorded = log
        .values()
        .filter(|r| r.problem.as_deref() == Some("urn:psn:problem:unknown-client"))
        .count();
    // A burst of ten, then one a second.
    let allowed = 10 + elapsed.as_secs() as usize + 1;
    assert!(
        (1..=allowed).contains(&recorded),
        "{recorded} recorded, at most {allowed}"
    );
    let unrecorded: f64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("psn_gateway_refusals_unrecorded_total")
                && l.contains("problem=\"unknown-client\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(
        recorded + unrecorded as usize,
        FLOOD,
        "each refusal recorded or counted"
    );
}
