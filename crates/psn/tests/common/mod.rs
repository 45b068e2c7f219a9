//! A network on loopback for data-plane tests: a real authority (SQLite), real gateways with
//! their own data directories and listeners, and a fake backend standing in for a member's own
//! system (outside psn) whose behaviour the test chooses by path.

#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use psn_api::{AuthorityClient, NewGrant, NewMember, NewSubsystem, ServiceListing, TokenRequest};
use psn_authority::datadir::DataDir;
use psn_gateway::{EnrolOptions, GatewayDir, RunningGateway};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub mod federation;
pub mod netns;
pub mod postgres;
pub mod process;
pub mod tls;

pub const PROVIDER: &str = "GB/GOV/D6";
pub const CONSUMER: &str = "GB/LA/E10000016";
pub const OUTSIDER: &str = "GB/LA/E10000008";
pub const SERVICE: &str = "GB/GOV/D6/eligibility/fsm-check";

/// The fake backend: `/echo` answers with what it saw, `/slow` waits 5 s, `/delay?ms=N` waits N
/// ms, `/fail` answers 500, `/status?code=N` answers N, `/sink` counts a (large) body,
/// `/stream?bytes=N` streams N bytes.
pub async fn backend() -> (String, Arc<AtomicU64>) {
    backend_on(LOOPBACK).await
}

/// [`backend`] listening on `ip`.
pub async fn backend_on(ip: IpAddr) -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let counter = counter.clone();
                    async move { Ok::<_, Infallible>(answer(req, counter).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (url, received)
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// The number in `name=N` of the request's query (0 if absent).
fn query_number(req: &http::Request<hyper::body::Incoming>, name: &str) -> u64 {
    req.uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn answer(
    req: http::Request<hyper::body::Incoming>,
    received: Arc<AtomicU64>,
) -> http::Response<Body> {
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let json = |status: u16, v: serde_json::Value| {
        let mut r = http::Response::new(Full::new(Bytes::from(v.to_string())).boxed());
        *r.status_mut() = http::StatusCode::from_u16(status).expect("status");
        r.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/json"),
        );
        r
    };
    let seen = serde_json::json!({
        "client": header("psn-client"),
        "message_id": header("psn-message-id"),
        "purpose": header("psn-purpose"),
        "traceparent": header("traceparent"),
        "x-user": header("x-user"),
        "connection_header": header("x-hop"),
        "path": req.uri().path(),
        "query": req.uri().query().unwrap_or_default(),
        "method": req.method().as_str(),
    });
    match req.uri().path() {
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            json(200, seen)
        }
        "/fail" => json(500, serde_json::json!({ "backend": "its own error" })),
        "/delay" => {
            let ms = query_number(&req, "ms").min(10_000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            json(200, seen)
        }
        "/status" => {
            let code = u16::try_from(query_number(&req, "code")).unwrap_or(500);
            json(code, serde_json::json!({ "backend": "answered as asked" }))
        }
        "/sink" => {
            let mut body = req.into_body();
            let mut total = 0u64;
            while let Some(Ok(frame)) = body.frame().await {
                if let Ok(data) = frame.into_data() {
                    total += data.len() as u64;
                }
            }
            received.store(total, Ordering::SeqCst);
            json(200, serde_json::json!({ "received": total }))
        }
        "/stream" => {
            let n: u64 = req
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("bytes="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let chunks = (n / chunk.len() as u64) as usize;
            let stream = futures_util::stream::iter(
                (0..chunks)
                    .map(move |_| Ok::<_, Infallible>(hyper::body::Frame::data(chunk.clone()))),
            );
            http::Response::new(StreamBody::new(stream).boxed())
        }
        _ => json(200, seen),
    }
}

/// One member's gateway in the test network.
pub struct Member {
    pub dir: GatewayDir,
    pub running: Option<RunningGateway>,
    pub internal: String,
    pub external: SocketAddr,
}

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Where the test network's parts listen: all on loopback, or on the addresses of network
/// namespaces ([`netns::Lan`]) so that a test can put faults between them.
#[derive(Clone, Debug)]
pub struct Placement {
    /// The test process's own address: the authority and the backend listen here.
    pub host: IpAddr,
    /// Each member's gateway `gw1`, where it is not on loopback.
    pub gateways: HashMap<&'static str, IpAddr>,
}

impl Placement {
    pub fn loopback() -> Placement {
        Placement {
            host: LOOPBACK,
            gateways: HashMap::new(),
        }
    }

    fn gateway(&self, member: &str) -> IpAddr {
        self.gateways.get(member).copied().unwrap_or(LOOPBACK)
    }
}

pub struct Net {
    pub tmp: tempfile::TempDir,
    pub authority: Option<psn_authority::Running>,
    pub operator: AuthorityClient,
    pub ca_der: Vec<u8>,
    pub members: HashMap<&'static str, Member>,
    pub backend: String,
    pub backend_received: Arc<AtomicU64>,
    /// Locks reserving the gateways' ports for this test ([`free_port`]).
    pub port_locks: Vec<std::fs::File>,
}

/// A port for a gateway listener that is bound later (its address is announced at enrolment).
/// Chosen below Linux's ephemeral range (32768 and up), where the many outgoing connections of
/// tests running in parallel take their local ports. It is reserved for the whole test by a lock
/// on a file named after it, which every test process honours, so a gateway restarted on its port
/// cannot find it taken by another test; the lock goes when the returned file is dropped or the
/// process ends. The lock files (empty, at most one per port of the range) stay: removing one
/// could let two tests lock different files under one name.
pub fn free_port() -> (u16, std::fs::File) {
    use std::hash::{BuildHasher, RandomState};
    let random = RandomState::new();
    (0u64..)
        .map(|attempt| 20_000 + (random.hash_one(attempt) % 12_000) as u16)
        .find_map(|port| {
            let lock = try_lock("psn-test-ports", port)?;
            std::net::TcpListener::bind(("127.0.0.1", port)).ok()?;
            Some((port, lock))
        })
        .expect("a free port")
}

/// The lock named `key` in the test-wide lock directory `group` (under the temporary
/// directory), if no living test process holds it; held until the file is dropped or the
/// process ends.
pub fn try_lock(group: &str, key: impl std::fmt::Display) -> Option<std::fs::File> {
    let locks = std::env::temp_dir().join(group);
    std::fs::create_dir_all(&locks).expect("lock directory");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(locks.join(key.to_string()))
        .ok()?;
    lock.try_lock().ok()?;
    Some(lock)
}

/// Registers `member` with the authority `operator` speaks for, with one subsystem.
pub async fn register(
    operator: &AuthorityClient,
    member: NewMember,
    subsystem: &str,
) -> psn_core::names::MemberId {
    operator.add_member(&member).await.expect("add member");
    operator
        .add_subsystem(
            &member.id,
            &NewSubsystem {
                code: subsystem.parse().expect("code"),
            },
        )
        .await
        .expect("subsystem");
    member.id
}

/// A gateway enrolled in `dir` and configured to listen on two reserved loopback ports; not
/// started.
pub struct Enrolled {
    pub dir: GatewayDir,
    pub internal: SocketAddr,
    pub external: SocketAddr,
}

/// Enrols `member`'s gateway `gw1` with a token from `operator`, announcing the external port;
/// the ports' locks join `locks`.
pub async fn enrol_gateway(
    operator: &AuthorityClient,
    member: &psn_core::names::MemberId,
    dir: GatewayDir,
    locks: &mut Vec<std::fs::File>,
) -> Enrolled {
    enrol_gateway_at(operator, member, "gw1", LOOPBACK, dir, locks).await
}

/// [`enrol_gateway`] for the gateway `code`, listening on `ip`.
pub async fn enrol_gateway_at(
    operator: &AuthorityClient,
    member: &psn_core::names::MemberId,
    code: &str,
    ip: IpAddr,
    dir: GatewayDir,
    locks: &mut Vec<std::fs::File>,
) -> Enrolled {
    let token = operator
        .create_token(&TokenRequest {
            member: member.clone(),
            gateway: code.parse().expect("gateway code"),
            ttl_seconds: None,
        })
        .await
        .expect("token");
    let ((internal, internal_lock), (external, external_lock)) = (free_port(), free_port());
    locks.extend([internal_lock, external_lock]);
    psn_gateway::enrol(
        &dir,
        EnrolOptions {
            token: token.token,
            address: Some(SocketAddr::from((ip, external)).to_string()),
        },
    )
    .await
    .expect("enrol");
    let mut settings = dir.load_settings().expect("settings");
    settings.internal_listen = SocketAddr::from((ip, internal));
    settings.external_listen = SocketAddr::from((ip, external));
    dir.save_settings(&settings).expect("save");
    Enrolled {
        dir,
        internal: settings.internal_listen,
        external: settings.external_listen,
    }
}

impl Net {
    /// Provider (DfE) offering SERVICE granted to CONSUMER's `revenues`; OUTSIDER has no grant.
    /// Gateways are enrolled and configured but not started.
    pub async fn prepare(response_timeout: Duration) -> Net {
        Net::prepare_with(response_timeout, None, &Placement::loopback()).await
    }

    /// [`Net::prepare`] with its parts listening where `placement` says.
    pub async fn prepare_placed(response_timeout: Duration, placement: &Placement) -> Net {
        Net::prepare_with(response_timeout, None, placement).await
    }

    /// [`Net::prepare`] on a network that requires a connection certificate
    /// (docs/compliance.md), its compliance clock moved by the seconds in `clock_file`
    /// (relative to the authority's data directory) and checked every second. Each member is
    /// certified (by the operator acting for it) before its enrolment token is created.
    pub async fn prepare_compliant(response_timeout: Duration, clock_file: &str) -> Net {
        Net::prepare_with(response_timeout, Some(clock_file), &Placement::loopback()).await
    }

    async fn prepare_with(
        response_timeout: Duration,
        clock_file: Option<&str>,
        placement: &Placement,
    ) -> Net {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = DataDir::new(tmp.path().join("authority"));
        let report = psn_authority::init(&data, "GB".parse().expect("net"), None)
            .await
            .expect("init");
        if let Some(file) = clock_file {
            let mut settings = data.load_settings().expect("settings");
            settings.compliance.require_connection = true;
            settings.compliance.check_interval = Duration::from_secs(1);
            settings.compliance.rehearsal_clock_file = Some(file.into());
            std::fs::write(data.settings(), toml::to_string(&settings).expect("toml"))
                .expect("write settings");
        }
        let authority = psn_authority::start(
            &data,
            psn_authority::ServeOptions {
                listen: SocketAddr::from((placement.host, 0)),
                public_url: None,
            },
        )
        .await
        .expect("start authority");
        let ca_der = authority.authority.ca.certificate_der().to_vec();
        let operator = AuthorityClient::operator(&authority.url, &ca_der, &report.operator_token)
            .expect("client");
        let (backend, backend_received) = backend_on(placement.host).await;
        let mut net = Net {
            tmp,
            authority: Some(authority),
            operator,
            ca_der,
            members: HashMap::new(),
            backend,
            backend_received,
            port_locks: Vec::new(),
        };
        for (id, name, subsystem) in [
            (PROVIDER, "Department for Education", "eligibility"),
            (CONSUMER, "Kent County Council", "revenues"),
            (OUTSIDER, "Devon County Council", "revenues"),
        ] {
            let ip = placement.gateway(id);
            net.enrol(
                id,
                name,
                subsystem,
                response_timeout,
                clock_file.is_some(),
                ip,
            )
            .await;
        }
        let provider = &net.members[PROVIDER].dir;
        psn_gateway::admin::add_service(
            provider,
            ServiceListing {
                id: SERVICE.parse().expect("service"),
                title: "FSM check".into(),
                description: String::new(),
                processes: vec!["lgsl:4".into()],
                details: Default::default(),
            },
            net.backend.clone(),
            None,
            Some("/healthz".into()),
        )
        .await
        .expect("publish service");
        psn_gateway::admin::grant(
            provider,
            NewGrant {
                service: SERVICE.parse().expect("service"),
                grantee: format!("{CONSUMER}/revenues").parse().expect("grantee"),
                method: None,
                path: None,
            },
        )
        .await
        .expect("grant");
        net
    }

    /// The same network with every gateway running in this process.
    pub async fn start(response_timeout: Duration) -> Net {
        let mut net = Net::prepare(response_timeout).await;
        for id in [PROVIDER, CONSUMER, OUTSIDER] {
            net.start_gateway(id).await;
        }
        net.settle().await;
        net
    }

    async fn enrol(
        &mut self,
        id: &'static str,
        name: &str,
        subsystem: &str,
        response_timeout: Duration,
        certify: bool,
        ip: IpAddr,
    ) {
        let member = register(
            &self.operator,
            NewMember {
                id: id.parse().expect("member"),
                name: name.into(),
                sector: None,
                region: None,
            },
            subsystem,
        )
        .await;
        if certify {
            certify_connection(&self.operator, &member).await;
        }
        let dir = GatewayDir::new(self.tmp.path().join(id.replace('/', "-")));
        let enrolled = enrol_gateway_at(
            &self.operator,
            &member,
            "gw1",
            ip,
            dir,
            &mut self.port_locks,
        )
        .await;
        let mut settings = enrolled.dir.load_settings().expect("settings");
        settings.limits.response_timeout = response_timeout;
        enrolled.dir.save_settings(&settings).expect("save");
        self.members.insert(
            id,
            Member {
                dir: enrolled.dir,
                running: None,
                internal: format!("http://{}", enrolled.internal),
                external: enrolled.external,
            },
        );
    }

    pub async fn start_gateway(&mut self, id: &str) {
        let member = self.members.get_mut(id).expect("member");
        psn_gateway::sync_config(&member.dir, None)
            .await
            .expect("sync");
        member.running = Some(
            psn_gateway::start(&member.dir)
                .await
                .expect("start gateway"),
        );
    }

    /// Waits until every running gateway holds the authority's latest configuration version.
    pub async fn settle(&self) {
        for id in self.members.keys() {
            self.settle_on(id).await;
        }
    }

    /// Waits until `member`'s gateway holds the authority's latest configuration version.
    /// (A suspended member's gateway is refused further versions, so wait on others.)
    pub async fn settle_on(&self, member: &str) {
        let latest = self
            .authority
            .as_ref()
            .and_then(|a| a.authority.publisher.current())
            .map_or(0, |p| p.version);
        let Some(g) = &self.members[member].running else {
            return;
        };
        let mut view = g.shared.view.clone();
        tokio::time::timeout(Duration::from_secs(10), async {
            while view.borrow().config.version < latest {
                if view.changed().await.is_err() {
                    return;
                }
            }
        })
        .await
        .expect("gateway did not reach the latest configuration within 10 s");
    }

    /// The internal URL of `member`'s gateway for `path` under the service.
    pub fn url(&self, member: &str, path: &str) -> String {
        format!("{}/r1/{SERVICE}{path}", self.members[member].internal)
    }

    pub async fn stop(mut self) {
        for (_, m) in self.members.drain() {
            if let Some(g) = m.running {
                g.stop().await;
            }
        }
        if let Some(a) = self.authority.take() {
            a.stop().await;
        }
    }
}

/// The operator certifies `member` for a connection: uploads one evidence file, answers every
/// connection control of the Code of Connection as met, submits, and certifies it. Returns the
/// certificate's id.
pub async fn certify_connection(
    op: &AuthorityClient,
    member: &psn_core::names::MemberId,
) -> String {
    use psn_api::{
        Answer, AnswerStatus, AssuranceLevel, ControlReview, ControlVerdict, ReviewDecision,
        ReviewOutcome, SubmissionDraft,
    };
    let framework = op.framework("psn-coco", "2026.1").await.expect("framework");
    let evidence = op
        .upload_evidence(
            Some(member),
            "policies.txt",
            "text/plain",
            format!(
                "Security policies of {member}, {:?}\n",
                std::time::SystemTime::now()
            )
            .into_bytes(),
        )
        .await
        .expect("evidence");
    let answers = psn_compliance::controls_for(&framework, "connection")
        .into_iter()
        .map(|c| Answer {
            control: c.id.clone(),
            status: AnswerStatus::Met,
            improvement_plan: None,
            improvement_due: None,
            reason: None,
            assurance: AssuranceLevel::SelfAsserted,
            certificate_number: None,
            certificate_expiry: None,
            evidence: vec![evidence.sha256.clone()],
            note: String::new(),
        })
        .collect();
    let draft = SubmissionDraft {
        framework: framework.id.clone(),
        version: framework.version.clone(),
        answers,
    };
    op.save_submission(Some(member), "connection", &draft)
        .await
        .expect("save");
    let submitted = op
        .submit_submission(Some(member), "connection")
        .await
        .expect("submit");
    let decision = ReviewDecision {
        outcome: ReviewOutcome::Certify,
        controls: submitted
            .answers
            .iter()
            .map(|a| ControlReview {
                control: a.control.clone(),
                verdict: ControlVerdict::Accepted,
                comment: String::new(),
            })
            .collect(),
        reasons: String::new(),
        improvement_plan: String::new(),
        valid_months: None,
    };
    op.review_submission(&submitted.id, &decision)
        .await
        .expect("certify")
        .certificate
        .expect("a certificate")
        .id
}

/// A plain-HTTP client for the internal listener (reqwest wants a TLS configuration even so).
pub fn client() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(psn_pki::provider())
        .with_safe_default_protocol_versions()
        .expect("tls")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .no_proxy()
        .build()
        .expect("client")
}

/// The Prometheus exposition of the gateway whose internal listener is at `base`.
pub async fn metrics_text(base: &str) -> String {
    client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

/// Sends raw HTTP/1.1 bytes (so no client library normalises a hostile path) and returns the
/// status and body.
pub async fn raw_get(base: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tcp.read_to_end(&mut response).await.expect("read");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Outcomes over every service and window of the SLA report over the last hour that `query`
/// narrows (by service, provider, …).
pub async fn recent_outcomes(net: &Net, query: psn_api::SlaReportQuery) -> psn_api::OutcomeCounts {
    let report = net
        .operator
        .sla_report(&psn_api::SlaReportQuery {
            since: Some(time::OffsetDateTime::now_utc() - time::Duration::hours(1)),
            ..query
        })
        .await
        .expect("report");
    let mut total = psn_api::OutcomeCounts::default();
    for service in &report.services {
        for window in &service.windows {
            total.merge(&window.outcomes);
        }
    }
    total
}

/// A `GET /echo` of the service through the consumer gateway, as its `revenues` subsystem,
/// within `timeout`: the status and, for a refusal, its psn problem type (without
/// `urn:psn:problem:`) and detail.
pub async fn echo(net: &Net, timeout: Duration) -> (u16, Option<String>, String) {
    let response = client()
        .get(net.url(CONSUMER, "/echo"))
        .header("PSN-Client", format!("{CONSUMER}/revenues"))
        .timeout(timeout)
        .send()
        .await
        .expect("the consumer gateway answers in time");
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("the whole body");
    if status < 400 {
        return (status, None, String::new());
    }
    let problem: serde_json::Value = serde_json::from_slice(&body).expect("a problem document");
    let kind = problem["type"]
        .as_str()
        .expect("a problem type")
        .trim_start_matches("urn:psn:problem:")
        .to_owned();
    let detail = problem["detail"].as_str().unwrap_or_default().to_owned();
    (status, Some(kind), detail)
}

/// The value of `series` (its name and labels as exposed, e.g.
/// `psn_gateway_config_version`) in the metrics of the gateway whose internal listener is at
/// `base`, if it is exposed.
pub async fn metric(base: &str, series: &str) -> Option<f64> {
    let prefix = format!("{series} ");
    metrics_text(base)
        .await
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse().ok())
}

/// Waits, up to 30 s, until the gateway at `base` exposes `series` with a value `accepted`
/// takes, and returns that value.
pub async fn wait_for_metric(base: &str, series: &str, accepted: impl Fn(f64) -> bool) -> f64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let value = metric(base, series).await;
        if let Some(value) = value.filter(|v| accepted(*v)) {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{base} exposes {series} as {value:?} after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
