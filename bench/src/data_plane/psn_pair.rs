//! The system under test: a psn authority and one gateway pair, consumer (Kent County Council)
//! to provider (Department for Education), as real `psn` processes with every data-plane feature
//! on: access check against a grant, proof of origin both ways, the audit log, monitoring.
//!
//! The provider offers two services on the same backend, identical but for the durability of
//! their audit records (durable before the response, the default; or buffered, synced within
//! `max_delay` after it), so one pair serves both psn topologies.

use super::process::{Ports, Server, Servers, Spec};
use anyhow::{anyhow, Context};
use psn_api::{AuthorityClient, NewGrant, NewMember, NewSubsystem, ServiceListing, TokenRequest};
use psn_gateway::{BufferedAudit, EnrolOptions, GatewayDir};
use std::fmt::Display;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The provider: the Department for Education.
const PROVIDER: (&str, &str, &str) = ("GB/GOV/D6", "Department for Education", "eligibility");
/// The consumer: Kent County Council.
const CONSUMER: (&str, &str, &str) = ("GB/LA/E10000016", "Kent County Council", "revenues");
/// The service whose audit records are durable before each response is released.
pub const SERVICE: &str = "GB/GOV/D6/eligibility/fsm-check";
/// The same service with buffered audit records.
pub const SERVICE_BUFFERED: &str = "GB/GOV/D6/eligibility/fsm-check-buffered";
/// How late a buffered record may be synced (the README's example).
pub const BUFFERED_MAX_DELAY: Duration = Duration::from_millis(20);
/// How long any one process may take to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The value of `PSN-Client` every psn request carries.
pub fn client_header() -> String {
    format!("{}/{}", CONSUMER.0, CONSUMER.2)
}

fn parse<T: FromStr>(text: &str) -> anyhow::Result<T>
where
    T::Err: Display,
{
    text.parse()
        .map_err(|e| anyhow!("{text:?} is not a valid name: {e}"))
}

/// The running pair.
pub struct PsnPair {
    /// The consumer gateway's internal listener, `http://127.0.0.1:PORT`.
    pub internal: String,
    /// The authority's process.
    pub authority_pid: u32,
    /// The consumer gateway's process.
    pub consumer_pid: u32,
    /// The provider gateway's process.
    pub provider_pid: u32,
}

impl PsnPair {
    /// The URL of `path` under `service` at the consumer gateway.
    pub fn url(&self, service: &str, path: &str) -> String {
        format!("{}/r1/{service}{path}", self.internal)
    }
}

/// Creates an authority under `work`, starts it, registers and enrols the two members, publishes
/// both services on `backend` (`http://host:port`), grants them to the consumer, then starts both
/// gateways; returns once both say they are serving.
pub async fn start(
    servers: &mut Servers,
    ports: &mut Ports,
    work: &Path,
    cpus: &str,
    psn: &Path,
    backend: &str,
) -> anyhow::Result<PsnPair> {
    let authority_dir = psn_authority::datadir::DataDir::new(work.join("authority"));
    let report = psn_authority::init(&authority_dir, parse("GB")?, None)
        .await
        .context("creating the authority")?;
    let logs = work.join("logs");
    std::fs::create_dir_all(&logs)?;
    let (authority, line) = Server::start(
        Spec {
            role: "authority",
            program: psn,
            args: vec![
                "authority".into(),
                "serve".into(),
                "--data-dir".into(),
                authority_dir.root().display().to_string(),
                "--listen".into(),
                format!("127.0.0.1:{}", ports.pick()?),
            ],
            env: vec![("PSN_LOG", "error".into())],
            log: logs.join("authority.log"),
        },
        cpus,
        Some("listening on "),
        READY_TIMEOUT,
    )
    .await?;
    let authority_pid = authority.pid();
    servers.add(authority);
    let url = line
        .as_deref()
        .and_then(|l| l.rsplit_once("listening on "))
        .map(|(_, url)| url.trim().to_owned())
        .context("the authority did not say where it listens")?;
    let ca_pem = std::fs::read_to_string(authority_dir.ca_cert()).context("reading the CA")?;
    let ca_der = psn_pki::parse_pem_certificates(&ca_pem)?
        .into_iter()
        .next()
        .context("no certificate in the authority's ca.pem")?;
    let operator = AuthorityClient::operator(&url, &ca_der, &report.operator_token)?;

    let provider = enrol(&operator, ports, work, PROVIDER).await?;
    let consumer = enrol(&operator, ports, work, CONSUMER).await?;
    for (id, title) in [
        (SERVICE, "Free school meals eligibility check"),
        (
            SERVICE_BUFFERED,
            "Free school meals eligibility check (buffered audit)",
        ),
    ] {
        psn_gateway::admin::add_service(
            &provider.dir,
            ServiceListing {
                id: parse(id)?,
                title: title.into(),
                description: "psn-bench data-plane service".into(),
                processes: vec!["lgsl:4".into()],
                details: Default::default(),
            },
            backend.to_owned(),
            None,
            Some("/healthz".into()),
        )
        .await
        .with_context(|| format!("publishing {id}"))?;
        psn_gateway::admin::grant(
            &provider.dir,
            NewGrant {
                service: parse(id)?,
                grantee: parse(&client_header())?,
                method: None,
                path: None,
            },
        )
        .await
        .with_context(|| format!("granting {id}"))?;
    }
    for member in [&provider, &consumer] {
        let mut settings = member.dir.load_settings()?;
        settings.audit.buffered = vec![BufferedAudit {
            service: parse(SERVICE_BUFFERED)?,
            max_delay: BUFFERED_MAX_DELAY,
        }];
        member.dir.save_settings(&settings)?;
        psn_gateway::sync_config(&member.dir, None)
            .await
            .with_context(|| format!("{}: fetching the configuration", member.role))?;
    }
    let provider_pid = spawn_gateway(servers, psn, cpus, &provider, &logs).await?;
    let consumer_pid = spawn_gateway(servers, psn, cpus, &consumer, &logs).await?;
    Ok(PsnPair {
        internal: consumer.internal,
        authority_pid,
        consumer_pid,
        provider_pid,
    })
}

/// A member's enrolled gateway, not yet started.
struct Member {
    role: &'static str,
    dir: GatewayDir,
    internal: String,
}

/// Registers `member` (id, name, subsystem) with one subsystem and enrols its gateway `gw1`
/// under `work`, with loopback listeners on free ports.
async fn enrol(
    operator: &AuthorityClient,
    ports: &mut Ports,
    work: &Path,
    (id, name, subsystem): (&str, &str, &str),
) -> anyhow::Result<Member> {
    let member: psn_core::names::MemberId = parse(id)?;
    operator
        .add_member(&NewMember {
            id: member.clone(),
            name: name.into(),
            sector: None,
            region: None,
        })
        .await
        .with_context(|| format!("registering {id}"))?;
    operator
        .add_subsystem(
            &member,
            &NewSubsystem {
                code: parse(subsystem)?,
            },
        )
        .await
        .with_context(|| format!("adding {id}/{subsystem}"))?;
    let token = operator
        .create_token(&TokenRequest {
            member,
            gateway: parse("gw1")?,
            ttl_seconds: None,
        })
        .await
        .with_context(|| format!("an enrolment token for {id}"))?;
    let (internal, external) = (ports.pick()?, ports.pick()?);
    let dir = GatewayDir::new(work.join(id.replace('/', "-")));
    psn_gateway::enrol(
        &dir,
        EnrolOptions {
            token: token.token,
            address: Some(format!("127.0.0.1:{external}")),
        },
    )
    .await
    .with_context(|| format!("enrolling {id}'s gateway"))?;
    let mut settings = dir.load_settings()?;
    settings.internal_listen = SocketAddr::from(([127, 0, 0, 1], internal));
    settings.external_listen = SocketAddr::from(([127, 0, 0, 1], external));
    dir.save_settings(&settings)?;
    let role = if id == PROVIDER.0 {
        "provider-gw"
    } else {
        "consumer-gw"
    };
    Ok(Member {
        role,
        dir,
        internal: format!("http://127.0.0.1:{internal}"),
    })
}

/// `psn gateway serve` for `member`, logging errors only; returns its process id once it says it
/// is serving.
async fn spawn_gateway(
    servers: &mut Servers,
    psn: &Path,
    cpus: &str,
    member: &Member,
    logs: &Path,
) -> anyhow::Result<u32> {
    let log: PathBuf = logs.join(format!("{}.log", member.role));
    let (server, _) = Server::start(
        Spec {
            role: member.role,
            program: psn,
            args: vec![
                "gateway".into(),
                "serve".into(),
                "--data-dir".into(),
                member.dir.root().display().to_string(),
            ],
            env: vec![("PSN_LOG", "error".into())],
            log,
        },
        cpus,
        Some("serving"),
        READY_TIMEOUT,
    )
    .await?;
    let pid = server.pid();
    servers.add(server);
    Ok(pid)
}
