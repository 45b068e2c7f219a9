//! Refusals raised below psn's handlers are problem documents on every listener (docs/api.md
//! "Limits"): too many or too large header fields, a huge header, an over-long target, malformed
//! header syntax, over raw HTTP/1.1 (plain and TLS) and HTTP/2; and a client still uploading an
//! over-limit body reads its `413` instead of a connection reset.

mod common;

use bytes::Bytes;
use common::{Net, CONSUMER, PROVIDER, SERVICE};
use http_body_util::{BodyExt, Full};
use psn_core::problem::{Problem, ProblemType};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const CLIENT: &str = "GB/LA/E10000016/revenues";
const MESSAGE_ID: &str = "0b6b4a52-2f6c-4a55-9e1c-5f0d7a8e3c11";

/// A response as it came off the wire.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn parse(bytes: &[u8]) -> Raw {
        let text = String::from_utf8_lossy(bytes);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no complete response head in {text:?}"));
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {head:?}"));
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Raw {
            status,
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The problem document, checked to be one of `kind` from `hop`.
    fn problem(&self, kind: ProblemType, hop: &str) -> Problem {
        let body = String::from_utf8_lossy(&self.body);
        assert_eq!(self.status, kind.status(), "{body}");
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self:?}"
        );
        let problem: Problem = serde_json::from_slice(&self.body).expect("a problem document");
        assert_eq!(problem.kind(), Some(kind), "{body}");
        assert_eq!(problem.hop.as_deref(), Some(hop), "{body}");
        problem
    }
}

/// A request body of so many bytes, sent as is (its length declared in the head) or in
/// chunks of 64 KiB (`Transfer-Encoding: chunked`).
#[derive(Clone, Copy)]
enum Upload {
    Plain(u64),
    Chunked(u64),
}

/// Writes `head` and then the body, every byte of which the server must take (a reset fails
/// the write), then reads the whole response.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    head: &[u8],
    upload: Upload,
) -> Raw {
    stream
        .write_all(head)
        .await
        .expect("the server took the head");
    let chunk = vec![b'x'; 64 * 1024];
    let (mut left, chunked) = match upload {
        Upload::Plain(n) => (n, false),
        Upload::Chunked(n) => (n, true),
    };
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        let mut frame = Vec::with_capacity(n + 16);
        if chunked {
            frame.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        }
        frame.extend_from_slice(&chunk[..n]);
        if chunked {
            frame.extend_from_slice(b"\r\n");
        }
        stream
            .write_all(&frame)
            .await
            .expect("the server took the body, not a reset");
        left -= n as u64;
    }
    if chunked {
        stream.write_all(b"0\r\n\r\n").await.expect("last chunk");
    }
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .expect("the response, not a reset");
    Raw::parse(&response)
}

/// A request head: `target`, the extra header lines as given, `Connection: close`.
fn head(method: &str, target: &str, lines: &[String]) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: psn.test\r\nConnection: close\r\n");
    for line in lines {
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// `count` header fields of `value_len` bytes each.
fn fields(count: usize, value_len: usize) -> Vec<String> {
    let value = "v".repeat(value_len);
    (0..count)
        .map(|i| format!("x-field-{i}: {value}"))
        .collect()
}

/// One hostile request head and what it must get.
struct Case {
    name: &'static str,
    target: String,
    lines: Vec<String>,
    /// The problem it gets, or `None` for a request that passes the limits.
    refused: Option<ProblemType>,
    /// Whether psn's own check refuses it (so the detail names the exact figure).
    detail: Option<&'static str>,
}

/// The hostile heads of issue 14, on `path` (an endpoint that answers 200 when let through).
fn cases(path: &str) -> Vec<Case> {
    let case = |name, target: String, lines, refused, detail| Case {
        name,
        target,
        lines,
        refused,
        detail,
    };
    let long = |n: usize| format!("{path}?q={}", "a".repeat(n));
    vec![
        case("150 small fields", path.into(), fields(150, 16), None, None),
        case(
            "300 small fields (over the documented 256)",
            path.into(),
            fields(300, 16),
            Some(ProblemType::HeadersTooLarge),
            Some("header fields; the limit is 256"),
        ),
        case(
            "600 small fields (over hyper's 512)",
            path.into(),
            fields(600, 16),
            Some(ProblemType::HeadersTooLarge),
            None,
        ),
        case(
            "80 KiB of headers in 80 fields",
            path.into(),
            fields(80, 1024),
            Some(ProblemType::HeadersTooLarge),
            Some("the limit is 65536"),
        ),
        case(
            "one 1 MiB header",
            path.into(),
            fields(1, 1024 * 1024),
            Some(ProblemType::HeadersTooLarge),
            None,
        ),
        case(
            "a 10 KB target",
            long(10_000),
            vec![],
            Some(ProblemType::UriTooLong),
            Some("the limit is 8192"),
        ),
        case(
            "a 70 KB target",
            long(70_000),
            vec![],
            Some(ProblemType::UriTooLong),
            None,
        ),
        case(
            "a header line without a colon",
            path.into(),
            vec!["Bad Header Line".into()],
            Some(ProblemType::InvalidRequest),
            None,
        ),
        case(
            "a space before the colon",
            path.into(),
            vec!["x-field : v".into()],
            Some(ProblemType::InvalidRequest),
            None,
        ),
    ]
}

/// Checks one response against its case; returns the problem's message id, if any.
fn check(case: &Case, raw: &Raw, hop: &str) -> Option<String> {
    let Some(kind) = case.refused else {
        assert_eq!(raw.status, 200, "{}: {raw:?}", case.name);
        return None;
    };
    let problem = raw.problem(kind, hop);
    if let Some(detail) = case.detail {
        let text = problem.detail.clone().unwrap_or_default();
        assert!(text.contains(detail), "{}: {text}", case.name);
    }
    problem.message_id
}

fn is_uuid(id: &str) -> bool {
    id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

#[tokio::test]
async fn the_internal_listener_answers_every_head_refusal_with_a_problem() {
    let net = Net::start(Duration::from_secs(30)).await;
    let addr = net.members[CONSUMER]
        .internal
        .trim_start_matches("http://")
        .to_owned();
    let cases = cases("/livez");
    for case in &cases {
        let tcp = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let raw = exchange(
            tcp,
            &head("GET", &case.target, &case.lines),
            Upload::Plain(0),
        )
        .await;
        if let Some(id) = check(case, &raw, "consumer-gateway") {
            assert!(is_uuid(&id), "{}: {id}", case.name);
            assert_eq!(raw.header("psn-message-id"), Some(id.as_str()));
        } else {
            assert!(case.refused.is_none(), "{}: no message id", case.name);
        }
    }
    // psn's own check keeps the caller's message id.
    let mut lines = fields(300, 16);
    lines.push(format!("PSN-Message-Id: {MESSAGE_ID}"));
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let raw = exchange(tcp, &head("GET", "/livez", &lines), Upload::Plain(0)).await;
    let problem = raw.problem(ProblemType::HeadersTooLarge, "consumer-gateway");
    assert_eq!(problem.message_id.as_deref(), Some(MESSAGE_ID));
    // What hyper refused by itself reached no handler, but it is counted.
    let below_psn = cases
        .iter()
        .filter(|c| c.refused.is_some() && c.detail.is_none())
        .count();
    let metrics = common::metrics_text(&format!("http://{addr}")).await;
    let counted = metrics
        .lines()
        .find_map(|l| l.strip_prefix("psn_gateway_head_refusals_total "))
        .and_then(|n| n.trim().parse::<usize>().ok());
    assert_eq!(counted, Some(below_psn), "{metrics}");
    net.stop().await;
}

#[tokio::test]
async fn a_client_still_uploading_an_over_limit_body_reads_the_gateways_413() {
    let mut net = Net::prepare(Duration::from_secs(30)).await;
    let dir = net.members[CONSUMER].dir.clone();
    let mut settings = dir.load_settings().expect("settings");
    settings.limits.max_body_bytes = 1024 * 1024;
    dir.save_settings(&settings).expect("save");
    for id in [PROVIDER, CONSUMER] {
        net.start_gateway(id).await;
    }
    net.settle().await;
    let addr = net.members[CONSUMER]
        .internal
        .trim_start_matches("http://")
        .to_owned();
    let body = 50 * 1024 * 1024;
    let lines = [
        format!("PSN-Client: {CLIENT}"),
        format!("Content-Length: {body}"),
    ];
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let target = format!("/r1/{SERVICE}/check");
    let raw = exchange(tcp, &head("POST", &target, &lines), Upload::Plain(body)).await;
    let problem = raw.problem(ProblemType::BodyTooLarge, "consumer-gateway");
    assert!(problem.message_id.is_some_and(|id| is_uuid(&id)));
    net.stop().await;
}

/// A TLS client of the authority offering `alpn`.
async fn authority_tls(
    net: &Net,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let authority = net.authority.as_ref().expect("authority");
    let mut config = psn_pki::client_config(&net.ca_der, None).expect("tls");
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = tokio::net::TcpStream::connect(authority.local_addr)
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::from(authority.local_addr.ip());
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS")
}

#[tokio::test]
async fn the_authority_answers_every_head_refusal_and_an_over_limit_upload_with_a_problem() {
    let net = Net::prepare(Duration::from_secs(30)).await;
    for case in cases("/v1/health") {
        let tls = authority_tls(&net, b"http/1.1").await;
        let raw = exchange(
            tls,
            &head("GET", &case.target, &case.lines),
            Upload::Plain(0),
        )
        .await;
        let id = check(&case, &raw, "authority");
        assert_eq!(id, None, "{}: the authority has no message ids", case.name);
    }
    // 50 MiB declared and streamed to an endpoint whose limit is 256 KiB: the client reads the
    // 413.
    let body = 50 * 1024 * 1024;
    let declared = [
        "Content-Type: application/json".to_owned(),
        format!("Content-Length: {body}"),
    ];
    let tls = authority_tls(&net, b"http/1.1").await;
    let raw = exchange(
        tls,
        &head("POST", "/v1/enrol", &declared),
        Upload::Plain(body),
    )
    .await;
    raw.problem(ProblemType::BodyTooLarge, "authority");
    // The same streamed in chunks, with no length declared: refused once 256 KiB are read.
    let streamed = [
        "Content-Type: application/json".to_owned(),
        "Transfer-Encoding: chunked".to_owned(),
    ];
    let tls = authority_tls(&net, b"http/1.1").await;
    let raw = exchange(
        tls,
        &head("POST", "/v1/enrol", &streamed),
        Upload::Chunked(body),
    )
    .await;
    raw.problem(ProblemType::BodyTooLarge, "authority");
    net.stop().await;
}

/// An HTTP/2 client connection over `stream`.
async fn h2_connect<S>(stream: S) -> hyper::client::conn::http2::SendRequest<Full<Bytes>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .max_header_list_size(16 * 1024 * 1024)
            .handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(conn);
    sender
}

/// Sends `req`; the status and body, or the error hyper's client reports.
async fn h2_send(
    sender: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    req: http::Request<Full<Bytes>>,
) -> Result<(u16, Vec<u8>), hyper::Error> {
    let response = sender.send_request(req).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body.to_vec()))
}

/// Sends `GET uri` with `count` extra header fields of 16 bytes over a new HTTP/2 connection.
async fn h2_get<S>(stream: S, uri: &str, count: usize) -> Result<(u16, Vec<u8>), hyper::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut req = http::Request::get(uri)
        .header("psn-client", CLIENT)
        .header("psn-message-id", MESSAGE_ID);
    for i in 0..count {
        req = req.header(format!("x-field-{i}"), "v".repeat(16));
    }
    let req = req.body(Full::new(Bytes::new())).expect("request");
    h2_send(&mut h2_connect(stream).await, req).await
}

fn problem_in(status: u16, body: &[u8], kind: ProblemType, hop: &str) -> Problem {
    let text = String::from_utf8_lossy(body);
    assert_eq!(status, kind.status(), "{text}");
    let problem: Problem = serde_json::from_slice(body).expect("a problem document");
    assert_eq!(problem.kind(), Some(kind), "{text}");
    assert_eq!(problem.hop.as_deref(), Some(hop), "{text}");
    problem
}

#[tokio::test]
async fn over_http2_the_documented_limits_are_answered_as_problems_on_every_listener() {
    let net = Net::start(Duration::from_secs(30)).await;
    // The internal listener, HTTP/2 with prior knowledge.
    let internal = net.members[CONSUMER]
        .internal
        .trim_start_matches("http://")
        .to_owned();
    let connect = || tokio::net::TcpStream::connect(internal.clone());
    let uri = format!("http://{internal}/livez");
    let (status, _) = h2_get(connect().await.expect("connect"), &uri, 150)
        .await
        .expect("answered");
    assert_eq!(status, 200);
    let (status, body) = h2_get(connect().await.expect("connect"), &uri, 300)
        .await
        .expect("answered");
    let problem = problem_in(
        status,
        &body,
        ProblemType::HeadersTooLarge,
        "consumer-gateway",
    );
    assert_eq!(problem.message_id.as_deref(), Some(MESSAGE_ID));

    // The authority, HTTP/2 over TLS.
    let authority = net.authority.as_ref().expect("authority").url.clone();
    let uri = format!("{authority}/v1/health");
    let (status, _) = h2_get(authority_tls(&net, b"h2").await, &uri, 150)
        .await
        .expect("answered");
    assert_eq!(status, 200);
    let (status, body) = h2_get(authority_tls(&net, b"h2").await, &uri, 300)
        .await
        .expect("answered");
    problem_in(status, &body, ProblemType::HeadersTooLarge, "authority");
    let long = format!("{authority}/v1/health?q={}", "a".repeat(10_000));
    let (status, body) = h2_get(authority_tls(&net, b"h2").await, &long, 0)
        .await
        .expect("answered");
    problem_in(status, &body, ProblemType::UriTooLong, "authority");

    // The peer listener, presenting the consumer gateway's certificate.
    let provider = net.members[PROVIDER].external;
    let (_, pem) = net.members[CONSUMER].dir.load_identity().expect("identity");
    let uri = format!("https://{provider}/r1/{SERVICE}/check");
    let (status, body) = h2_get(peer_tls(&net, provider, &pem).await, &uri, 300)
        .await
        .expect("answered");
    let problem = problem_in(
        status,
        &body,
        ProblemType::HeadersTooLarge,
        "provider-gateway",
    );
    assert_eq!(problem.message_id.as_deref(), Some(MESSAGE_ID));
    let long = format!("{uri}?q={}", "a".repeat(10_000));
    let (status, body) = h2_get(peer_tls(&net, provider, &pem).await, &long, 0)
        .await
        .expect("answered");
    problem_in(status, &body, ProblemType::UriTooLong, "provider-gateway");
    net.stop().await;
}

/// A mutual-TLS connection to a peer listener with the gateway identity in `pem`, as a peer
/// gateway makes it.
async fn peer_tls(
    net: &Net,
    addr: std::net::SocketAddr,
    pem: &str,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let identity = psn_pki::TlsIdentity::from_pem(pem, pem).expect("identity");
    let shared = psn_pki::SharedIdentity::new(identity).expect("identity");
    let network = "GB".parse().expect("network");
    let trusted = psn_pki::TrustedNetworks::new(network, &net.ca_der).expect("trust");
    let config = psn_pki::gateway_client_config(shared, trusted).expect("tls");
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("gateway.psn.invalid").expect("name");
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS")
}

#[tokio::test]
async fn over_http2_an_over_limit_upload_is_refused_on_its_stream_alone() {
    let net = Net::prepare(Duration::from_secs(30)).await;
    let authority = net.authority.as_ref().expect("authority").url.clone();
    let mut sender = h2_connect(authority_tls(&net, b"h2").await).await;
    let upload = http::Request::post(format!("{authority}/v1/enrol"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(vec![b'x'; 50 * 1024 * 1024])))
        .expect("request");
    let (status, body) = h2_send(&mut sender, upload).await.expect("answered");
    problem_in(status, &body, ProblemType::BodyTooLarge, "authority");
    // The connection is still up for the next request.
    let health = http::Request::get(format!("{authority}/v1/health"))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let (status, _) = h2_send(&mut sender, health).await.expect("answered");
    assert_eq!(status, 200);
    net.stop().await;
}
