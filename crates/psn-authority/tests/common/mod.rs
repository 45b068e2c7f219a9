//! Test harness: a real authority (TLS, database, publisher) started in-process on an ephemeral
//! port, against SQLite or, when `PSN_TEST_DATABASE_URL` is set, a fresh PostgreSQL database
//! that is dropped afterwards.

#![allow(dead_code)]

pub mod browser;

use psn_api::AuthorityClient;
use psn_authority::datadir::DataDir;
use psn_authority::{Running, ServeOptions};
use psn_core::names::NetworkId;
use sqlx::Connection;
use std::path::PathBuf;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite always; PostgreSQL too when the environment provides a server.
pub fn backends() -> Vec<Backend> {
    let mut b = vec![Backend::Sqlite];
    if std::env::var("PSN_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        b.push(Backend::Postgres);
    }
    b
}

/// A PostgreSQL database created for one test and dropped when the guard goes.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create() -> Self {
        let admin_url = std::env::var("PSN_TEST_DATABASE_URL").expect("PSN_TEST_DATABASE_URL");
        let name = format!("psn_test_{}", uuid_like());
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect to PostgreSQL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create database");
        conn.close().await.ok();
        let (base, _) = admin_url.rsplit_once('/').expect("database URL has a path");
        let url = format!("{base}/{name}");
        Self {
            admin_url,
            name,
            url,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

fn uuid_like() -> String {
    let mut bytes = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).expect("random");
    psn_core::encoding::hex(&bytes)
}

/// A running authority and what a test needs to talk to it.
pub struct TestAuthority {
    pub running: Option<Running>,
    pub dir: tempfile::TempDir,
    pub url: String,
    pub operator_token: String,
    pub ca_der: Vec<u8>,
    pub ca_pin: String,
    pub backend: Backend,
    _pg: Option<PgDatabase>,
}

impl TestAuthority {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    /// [`Self::start`] with `authority.toml` changed by `configure` between init and start.
    pub async fn start_with(
        backend: Backend,
        configure: impl FnOnce(&mut psn_authority::datadir::Settings),
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let pg = match backend {
            Backend::Postgres => Some(PgDatabase::create().await),
            Backend::Sqlite => None,
        };
        let data = DataDir::new(dir.path().join("authority"));
        let network: NetworkId = "GB".parse().expect("network");
        let report = psn_authority::init(&data, network, pg.as_ref().map(|p| p.url.clone()))
            .await
            .expect("init");
        let mut settings = data.load_settings().expect("settings");
        configure(&mut settings);
        std::fs::write(
            data.settings(),
            toml::to_string(&settings).expect("settings as TOML"),
        )
        .expect("write settings");
        let running = psn_authority::start(
            &data,
            ServeOptions {
                listen: "127.0.0.1:0".parse().expect("addr"),
                public_url: None,
            },
        )
        .await
        .expect("start");
        let ca_pem = std::fs::read_to_string(data.ca_cert()).expect("ca");
        let ca_der = psn_pki::parse_pem_certificates(&ca_pem)
            .expect("ca pem")
            .remove(0)
            .to_vec();
        Self {
            url: running.url.clone(),
            running: Some(running),
            dir,
            operator_token: report.operator_token,
            ca_der,
            ca_pin: report.ca_pin,
            backend,
            _pg: pg,
        }
    }

    pub fn data_dir(&self) -> DataDir {
        DataDir::new(self.dir.path().join("authority"))
    }

    pub fn gateway_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn operator(&self) -> AuthorityClient {
        AuthorityClient::operator(&self.url, &self.ca_der, &self.operator_token).expect("client")
    }

    /// A raw HTTPS client trusting the network CA, for sending hostile requests.
    pub fn raw(&self) -> reqwest::Client {
        let tls = psn_pki::client_config(&self.ca_der, None).expect("tls");
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .expect("client")
    }

    /// Asserts that an operator's GET of `path` with each of `queries` (`?` included) is refused
    /// as an invalid request, with a problem document.
    pub async fn assert_invalid_queries(&self, path: &str, queries: &[&str]) {
        let raw = self.raw();
        for query in queries {
            let resp = raw
                .get(format!("{}{path}{query}", self.url))
                .bearer_auth(&self.operator_token)
                .send()
                .await
                .expect("send");
            assert_eq!(resp.status(), 400, "{query}");
            let problem: psn_core::problem::Problem = resp.json().await.expect("problem");
            assert_eq!(
                problem.kind(),
                Some(psn_core::problem::ProblemType::InvalidRequest),
                "{query}"
            );
        }
    }

    pub fn store(&self) -> &psn_authority::store::Store {
        &self.running.as_ref().expect("running").authority.store
    }

    /// Stops the authority, keeping its data directory and database for a restart.
    pub async fn stop_serving(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    /// Stops the authority (if it runs) and starts it again on the same data directory and
    /// database.
    pub async fn try_restart(&mut self) -> Result<(), psn_authority::AuthorityError> {
        self.stop_serving().await;
        let running = psn_authority::start(
            &self.data_dir(),
            ServeOptions {
                listen: "127.0.0.1:0".parse().expect("addr"),
                public_url: None,
            },
        )
        .await?;
        self.url = running.url.clone();
        self.running = Some(running);
        Ok(())
    }

    /// [`Self::try_restart`], which must succeed.
    pub async fn restart(&mut self) {
        self.try_restart().await.expect("restart");
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}

/// One member's enrolled gateway: its data directory and an API client presenting its
/// certificate.
pub struct EnrolledGateway {
    pub dir: psn_gateway::GatewayDir,
    pub client: AuthorityClient,
}

impl EnrolledGateway {
    /// A raw HTTPS client presenting this gateway's certificate, for hostile bodies.
    pub fn raw(&self, a: &TestAuthority) -> reqwest::Client {
        let (identity, _) = self.dir.load_identity().expect("identity");
        let tls = psn_pki::client_config(&a.ca_der, Some(identity)).expect("tls");
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .build()
            .expect("client")
    }
}

/// Registers `member` with one subsystem and enrols its gateway `gw1` (a real enrolment: token,
/// key, CSR, certificate).
pub async fn enrol_member(
    a: &TestAuthority,
    member: &str,
    name: &str,
    subsystem: &str,
) -> EnrolledGateway {
    let new = psn_api::NewMember {
        id: member.parse().expect("member id"),
        name: name.into(),
        sector: None,
        region: None,
    };
    enrol_new_member(a, &new, subsystem).await
}

/// [`enrol_member`] for a member with its sector and region.
pub async fn enrol_new_member(
    a: &TestAuthority,
    new: &psn_api::NewMember,
    subsystem: &str,
) -> EnrolledGateway {
    a.operator().add_member(new).await.expect("add member");
    enrol_registered(a, &new.id, subsystem).await
}

/// Adds `subsystem` to a registered member and enrols its gateway `gw1`.
pub async fn enrol_registered(
    a: &TestAuthority,
    member_id: &psn_core::names::MemberId,
    subsystem: &str,
) -> EnrolledGateway {
    let op = a.operator();
    let member = member_id.to_string();
    op.add_subsystem(
        member_id,
        &psn_api::NewSubsystem {
            code: subsystem.parse().expect("subsystem code"),
        },
    )
    .await
    .expect("subsystem");
    let token = op
        .create_token(&psn_api::TokenRequest {
            member: member_id.clone(),
            gateway: "gw1".parse().expect("gateway code"),
            ttl_seconds: None,
        })
        .await
        .expect("token")
        .token;
    let dir = psn_gateway::GatewayDir::new(a.gateway_dir(&member.replace('/', "-")));
    psn_gateway::enrol(
        &dir,
        psn_gateway::EnrolOptions {
            token,
            address: None,
        },
    )
    .await
    .expect("enrol");
    let (identity, _) = dir.load_identity().expect("identity");
    let client = AuthorityClient::gateway(&a.url, &a.ca_der, identity).expect("client");
    EnrolledGateway { dir, client }
}
