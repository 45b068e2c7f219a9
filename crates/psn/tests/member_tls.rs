//! TLS on the member's side of its gateway: callers authenticated by client certificates from the
//! member's own CA on the internal listener, and `https://` backends verified against the CA
//! bundle configured for them.

mod common;

use common::{client, Net, CONSUMER, PROVIDER, SERVICE};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use psn_core::problem::{Problem, ProblemType};
use psn_gateway::{ClientRule, InternalTls};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, SanType,
};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

const CLIENT: &str = "GB/LA/E10000016/revenues";

/// A member's own CA (not the network's), issuing server and client certificates.
struct MemberCa {
    certificate: rcgen::Certificate,
    key: KeyPair,
}

/// A certificate and its key, as PEM.
struct Issued {
    chain_pem: String,
    key_pem: String,
}

impl MemberCa {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let certificate = params.self_signed(&key).expect("self-signed");
        Self { certificate, key }
    }

    fn pem(&self) -> String {
        self.certificate.pem()
    }

    fn issue(&self, common_name: &str, purpose: ExtendedKeyUsagePurpose) -> Issued {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        params.extended_key_usages = vec![purpose];
        let certificate = params
            .signed_by(&key, &self.certificate, &self.key)
            .expect("issue");
        Issued {
            chain_pem: format!("{}{}", certificate.pem(), self.pem()),
            key_pem: key.serialize_pem(),
        }
    }
}

/// An HTTPS client trusting `ca`, presenting `identity` if given.
fn tls_client(ca: &MemberCa, identity: Option<&Issued>) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.certificate.der().clone()).expect("root");
    let builder = rustls::ClientConfig::builder_with_provider(psn_pki::provider())
        .with_safe_default_protocol_versions()
        .expect("tls")
        .with_root_certificates(roots);
    let tls = match identity {
        Some(issued) => builder
            .with_client_auth_cert(
                psn_pki::parse_pem_certificates(&issued.chain_pem).expect("chain"),
                psn_pki::parse_pem_key(&issued.key_pem).expect("key"),
            )
            .expect("client auth"),
        None => builder.with_no_client_auth(),
    };
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .no_proxy()
        .build()
        .expect("client")
}

async fn problem_of(resp: reqwest::Response) -> Problem {
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    resp.json().await.expect("problem body")
}

/// Restarts `member`'s gateway after `change` edits its settings and writes `files` into its
/// data directory.
async fn reconfigure(
    net: &mut Net,
    member: &str,
    files: &[(&str, &str)],
    change: impl FnOnce(&mut psn_gateway::GatewaySettings),
) {
    let m = net.members.get_mut(member).expect("member");
    if let Some(running) = m.running.take() {
        running.stop().await;
    }
    for (name, contents) in files {
        std::fs::write(m.dir.root().join(name), contents).expect("write");
    }
    let mut settings = m.dir.load_settings().expect("settings");
    change(&mut settings);
    m.dir.save_settings(&settings).expect("save");
    net.start_gateway(member).await;
    net.settle().await;
}

#[tokio::test]
async fn internal_client_certificates_authenticate_subsystems() {
    let mut net = Net::start(Duration::from_secs(30)).await;
    let kent = MemberCa::new("Kent County Council internal CA");
    let listener = kent.issue(
        "psn-gateway.kent.internal",
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    reconfigure(
        &mut net,
        CONSUMER,
        &[
            ("internal.pem", &listener.chain_pem),
            ("internal.key", &listener.key_pem),
            ("members-ca.pem", &kent.pem()),
        ],
        |settings| {
            settings.internal_tls = Some(InternalTls {
                certificate: "internal.pem".into(),
                key: "internal.key".into(),
                client_ca: Some("members-ca.pem".into()),
            });
            settings.clients.push(ClientRule {
                subsystem: CLIENT.parse().expect("subsystem"),
                allow: vec!["127.0.0.0/8".into()],
                api_key_sha256: None,
                certificate_name: Some("revenues-batch".into()),
            });
        },
    )
    .await;
    let url = format!(
        "{}/r1/{SERVICE}/check",
        net.members[CONSUMER]
            .internal
            .replace("http://", "https://")
    );
    let call = |c: reqwest::Client| {
        let url = url.clone();
        async move { c.get(url).header("PSN-Client", CLIENT).send().await }
    };

    let right = kent.issue("revenues-batch", ExtendedKeyUsagePurpose::ClientAuth);
    let resp = call(tls_client(&kent, Some(&right))).await.expect("send");
    assert_eq!(resp.status(), 200);
    let seen: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(seen["client"], CLIENT);

    let problem = problem_of(call(tls_client(&kent, None)).await.expect("send")).await;
    assert_eq!(problem.kind(), Some(ProblemType::UnknownClient));
    assert!(
        problem
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("requires a TLS client certificate")),
        "{:?}",
        problem.detail
    );

    let other_system = kent.issue("payroll-batch", ExtendedKeyUsagePurpose::ClientAuth);
    let problem = problem_of(
        call(tls_client(&kent, Some(&other_system)))
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(problem.kind(), Some(ProblemType::UnknownClient));
    assert!(
        problem
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("does not name")),
        "{:?}",
        problem.detail
    );

    // A certificate from a CA the member does not trust never gets past the handshake.
    let stranger = MemberCa::new("Somebody else's CA");
    let forged = stranger.issue("revenues-batch", ExtendedKeyUsagePurpose::ClientAuth);
    assert!(call(tls_client(&kent, Some(&forged))).await.is_err());

    // Plain HTTP is not served on a TLS listener.
    assert!(client()
        .get(url.replace("https://", "http://"))
        .header("PSN-Client", CLIENT)
        .send()
        .await
        .map_or(true, |r| !r.status().is_success()));
    net.stop().await;
}

/// A backend outside psn serving HTTPS with `identity`; answers with the path it saw.
async fn tls_backend(identity: &Issued) -> String {
    let config = rustls::ServerConfig::builder_with_provider(psn_pki::provider())
        .with_safe_default_protocol_versions()
        .expect("tls")
        .with_no_client_auth()
        .with_single_cert(
            psn_pki::parse_pem_certificates(&identity.chain_pem).expect("chain"),
            psn_pki::parse_pem_key(&identity.key_pem).expect("key"),
        )
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("https://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                    let body = serde_json::json!({ "tls": true, "path": req.uri().path() });
                    Ok::<_, Infallible>(http::Response::new(Full::new(bytes::Bytes::from(
                        body.to_string(),
                    ))))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    url
}

#[tokio::test]
async fn https_backends_are_verified_against_their_own_ca() {
    let mut net = Net::start(Duration::from_secs(30)).await;
    let dfe = MemberCa::new("DfE internal CA");
    let backend = tls_backend(&dfe.issue(
        "eligibility.dfe.internal",
        ExtendedKeyUsagePurpose::ServerAuth,
    ))
    .await;
    let service = |settings: &mut psn_gateway::GatewaySettings| {
        settings
            .services
            .iter_mut()
            .find(|s| s.id.to_string() == SERVICE)
            .expect("service")
            .clone()
    };

    // An https:// backend without a CA bundle is refused at start, not on the first call.
    let provider = &net.members[PROVIDER];
    let mut settings = provider.dir.load_settings().expect("settings");
    let mut local = service(&mut settings);
    local.backend = backend.clone();
    local.backend_ca = None;
    let error = local.check_backend(&provider.dir).expect_err("no CA");
    assert!(error.to_string().contains("needs backend_ca"), "{error}");

    reconfigure(
        &mut net,
        PROVIDER,
        &[("backend-ca.pem", &dfe.pem())],
        |settings| {
            let local = settings
                .services
                .iter_mut()
                .find(|s| s.id.to_string() == SERVICE)
                .expect("service");
            local.backend = backend.clone();
            local.backend_ca = Some("backend-ca.pem".into());
        },
    )
    .await;
    let resp = client()
        .get(net.url(CONSUMER, "/check"))
        .header("PSN-Client", CLIENT)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let seen: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(seen, serde_json::json!({ "tls": true, "path": "/check" }));

    // The same backend, now checked against a CA that did not issue its certificate.
    let other = MemberCa::new("Another CA");
    reconfigure(
        &mut net,
        PROVIDER,
        &[("backend-ca.pem", &other.pem())],
        |_| {},
    )
    .await;
    let problem = problem_of(
        client()
            .get(net.url(CONSUMER, "/check"))
            .header("PSN-Client", CLIENT)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(problem.kind(), Some(ProblemType::BackendUnreachable));
    net.stop().await;
}
