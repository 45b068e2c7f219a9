//! The network under test: an authority data directory seeded at national scale, the authority
//! as a real `psn authority serve` process, and member gateways enrolled through the real API and
//! run as real `psn gateway serve` processes, all on loopback.

use super::http;
use super::process::{Ports, Process};
use anyhow::{bail, Context};
use psn_api::{AuthorityClient, NewMember, TokenRequest};
use psn_authority::datadir::DataDir;
use psn_authority::seed::{Scale, Seeded};
use psn_core::names::{GatewayId, MemberId, NetworkId, ServiceId};
use psn_gateway::{EnrolOptions, GatewayDir, LocalService};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Seed of the synthetic members, the one `benches/config_build.rs` uses, so both benchmarks
/// register the same bodies.
const SYNTHETIC_SEED: u64 = 7;
/// Enrolments in flight at once: each makes the authority publish a version, and concurrent
/// ones share builds, but more would only queue on the publisher.
const ENROLMENTS_AT_ONCE: usize = 4;
/// How often readiness is polled while setting up (not while measuring).
const SETUP_POLL: Duration = Duration::from_millis(100);
/// Log filter of the processes: `info` carries the lines the benchmark reads (versions
/// published and applied) and little else.
const LOG_FILTER: &str = "info";

/// The members to register: every real body from the embedded data first, then synthetic ones
/// of the same shapes. Returns the members and how many are real.
pub fn members(network: &NetworkId, count: usize) -> anyhow::Result<(Vec<NewMember>, usize)> {
    let real = psn_orgdata::embedded()
        .context("the embedded organisation data")?
        .organisations;
    let synthetic = psn_orgdata::synthetic(count.saturating_sub(real.len()), SYNTHETIC_SEED);
    let real_used = real.len().min(count);
    let members = real
        .iter()
        .chain(synthetic.iter())
        .take(count)
        .map(|o| {
            let id = format!("{network}/{}/{}", o.class, o.code);
            Ok(NewMember {
                id: id
                    .parse()
                    .with_context(|| format!("member id {id:?} from the organisation data"))?,
                name: o.name.clone(),
                sector: Some(o.sector.as_str().to_owned()),
                region: o.region.clone(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if members.len() < count {
        bail!(
            "only {} members can be generated, {count} were asked for",
            members.len()
        );
    }
    Ok((members, real_used))
}

/// Registers `members` with their subsystems, services and gateways straight into the authority's
/// database (the authority is not running yet).
pub async fn seed(dir: &DataDir, members: &[NewMember], scale: Scale) -> anyhow::Result<Seeded> {
    let settings = dir
        .load_settings()
        .map_err(anyhow::Error::msg)
        .context("the authority's settings")?;
    let url = dir.database_url(&settings);
    let store = psn_authority::store::Store::open(&url).await?;
    let seeded = psn_authority::seed::seed(&store, &url, members, scale).await;
    store.close().await;
    Ok(seeded?)
}

/// The authority, running as `psn authority serve`.
pub struct Authority {
    /// The process.
    pub process: Process,
    /// An operator's client.
    pub operator: AuthorityClient,
}

impl Authority {
    /// Starts the authority of `dir` on `port` and waits until its API answers.
    pub async fn start(
        psn: &Path,
        dir: &DataDir,
        port: u16,
        logs: &Path,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        Self::start_logging(psn, dir, port, &logs.join("authority.log"), timeout).await
    }

    /// [`Self::start`], logging to `log`.
    pub async fn start_logging(
        psn: &Path,
        dir: &DataDir,
        port: u16,
        log: &Path,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let listen = format!("127.0.0.1:{port}");
        let data_dir = dir.root().display().to_string();
        let mut process = Process::spawn(
            "the authority",
            psn,
            &[
                "authority",
                "serve",
                "--data-dir",
                &data_dir,
                "--listen",
                &listen,
            ],
            log.to_path_buf(),
            LOG_FILTER,
        )?;
        let url = format!("https://{listen}");
        let ca_der = read_ca(dir)?;
        let token = std::fs::read_to_string(dir.operator_token())
            .with_context(|| format!("reading {}", dir.operator_token().display()))?;
        let operator = AuthorityClient::operator(&url, &ca_der, token.trim())?;
        let deadline = Instant::now() + timeout;
        loop {
            process.ensure_running()?;
            if operator.health().await.is_ok() {
                break;
            }
            if Instant::now() > deadline {
                bail!("the authority did not answer at {url} within {timeout:?}");
            }
            tokio::time::sleep(SETUP_POLL).await;
        }
        Ok(Self { process, operator })
    }

    /// The latest configuration version the authority has published.
    pub async fn version(&self) -> anyhow::Result<u64> {
        self.operator
            .health()
            .await?
            .config_version
            .context("the authority has published no configuration")
    }
}

/// The network CA certificate (DER) from the authority's data directory.
pub fn read_ca(dir: &DataDir) -> anyhow::Result<Vec<u8>> {
    let pem = std::fs::read_to_string(dir.ca_cert())
        .with_context(|| format!("reading {}", dir.ca_cert().display()))?;
    let mut certificates = psn_pki::parse_pem_certificates(&pem)?;
    if certificates.is_empty() {
        bail!("{} holds no certificate", dir.ca_cert().display());
    }
    Ok(certificates.remove(0).to_vec())
}

/// An enrolled gateway that provides one service and runs as its own process.
pub struct Provider {
    /// Its identity.
    pub id: GatewayId,
    /// Its data directory.
    pub dir: GatewayDir,
    /// The internal listener (liveness, metrics).
    pub internal: SocketAddr,
    /// The peer listener, where the suspended member's connections arrive.
    pub external: SocketAddr,
    /// The service it provides (one its member already lists).
    pub service: ServiceId,
    /// The running process, once started.
    pub process: Option<Process>,
}

/// An enrolled gateway identity of a member that the benchmark suspends; it is never served,
/// the benchmark connects with it itself (see `peer`).
pub struct Victim {
    /// The member.
    pub member: MemberId,
    /// Its data directory (identity and CA).
    pub dir: GatewayDir,
}

/// What to enrol.
pub enum Enrolment {
    /// A provider gateway for the member, offering its first seeded service.
    Provider(MemberId),
    /// A gateway identity for a member to be suspended.
    Victim(MemberId),
}

/// What enrolment produced, in the order asked.
pub struct Enrolled {
    /// Provider gateways.
    pub providers: Vec<Provider>,
    /// Suspension victims.
    pub victims: Vec<Victim>,
}

/// Enrols every gateway through the operator API and the gateway's own enrolment (one-time
/// token, locally generated key, certificate from the authority), a few at a time.
pub async fn enrol_all(
    operator: &AuthorityClient,
    root: &Path,
    ports: &Ports,
    wanted: Vec<Enrolment>,
) -> anyhow::Result<Enrolled> {
    let limit = Arc::new(tokio::sync::Semaphore::new(ENROLMENTS_AT_ONCE));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, enrolment) in wanted.into_iter().enumerate() {
        let (member, listeners) = match &enrolment {
            Enrolment::Provider(m) => (m.clone(), Some((ports.free()?, ports.free()?))),
            Enrolment::Victim(m) => (m.clone(), None),
        };
        let dir = GatewayDir::new(root.join(format!(
            "{}-{}",
            if listeners.is_some() { "gw" } else { "victim" },
            member.to_string().replace('/', "-")
        )));
        let (operator, limit) = (operator.clone(), limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await?;
            let address = listeners.map(|(_, external)| format!("127.0.0.1:{external}"));
            let id = enrol(&operator, &dir, &member, address).await?;
            let enrolled = match listeners {
                Some((internal, external)) => EnrolledOne::Provider(Box::new(configure_provider(
                    id, dir, internal, external,
                )?)),
                None => EnrolledOne::Victim(Victim { member, dir }),
            };
            Ok::<_, anyhow::Error>((index, enrolled))
        });
    }
    let mut done = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        done.push(joined.context("an enrolment task failed")??);
    }
    done.sort_by_key(|(index, _)| *index);
    let mut enrolled = Enrolled {
        providers: Vec::new(),
        victims: Vec::new(),
    };
    for (_, one) in done {
        match one {
            EnrolledOne::Provider(p) => enrolled.providers.push(*p),
            EnrolledOne::Victim(v) => enrolled.victims.push(v),
        }
    }
    Ok(enrolled)
}

enum EnrolledOne {
    Provider(Box<Provider>),
    Victim(Victim),
}

/// Configures an enrolled gateway as a provider: loopback listeners and a local backend for its
/// member's first seeded service (already listed in the registry, so no publication is needed).
/// The backend is never called: probes are answered by the gateway itself.
fn configure_provider(
    id: GatewayId,
    dir: GatewayDir,
    internal: u16,
    external: u16,
) -> anyhow::Result<Provider> {
    let service = psn_authority::seed::service_of(id.member(), 0)?;
    let mut settings = dir.load_settings()?;
    settings.internal_listen = SocketAddr::from(([127, 0, 0, 1], internal));
    settings.external_listen = SocketAddr::from(([127, 0, 0, 1], external));
    settings.services = vec![LocalService {
        id: service.clone(),
        backend: "http://127.0.0.1:9".into(),
        backend_ca: None,
        health_path: None,
    }];
    dir.save_settings(&settings)?;
    Ok(Provider {
        id,
        internal: settings.internal_listen,
        external: settings.external_listen,
        service,
        dir,
        process: None,
    })
}

async fn enrol(
    operator: &AuthorityClient,
    dir: &GatewayDir,
    member: &MemberId,
    address: Option<String>,
) -> anyhow::Result<GatewayId> {
    let token = operator
        .create_token(&TokenRequest {
            member: member.clone(),
            gateway: psn_authority::seed::FIRST_GATEWAY.parse()?,
            ttl_seconds: None,
        })
        .await
        .with_context(|| format!("an enrolment token for {member}"))?;
    let enrolled = psn_gateway::enrol(
        dir,
        EnrolOptions {
            token: token.token,
            address,
        },
    )
    .await
    .with_context(|| format!("enrolling {}", token.gateway))?;
    Ok(enrolled.gateway)
}

impl Provider {
    /// Starts `psn gateway serve` for this gateway.
    pub fn start(&mut self, psn: &Path, logs: &Path) -> anyhow::Result<()> {
        let data_dir = self.dir.root().display().to_string();
        let log: PathBuf = logs.join(format!("{}.log", file_name(&self.id)));
        self.process = Some(Process::spawn(
            &format!("gateway {}", self.id),
            psn,
            &["gateway", "serve", "--data-dir", &data_dir],
            log,
            LOG_FILTER,
        )?);
        Ok(())
    }

    /// The process, which must have been started.
    pub fn process(&self) -> anyhow::Result<&Process> {
        self.process
            .as_ref()
            .with_context(|| format!("gateway {} is not running", self.id))
    }

    /// Fails if the process has not been started or has exited.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        match &mut self.process {
            Some(process) => process.ensure_running(),
            None => bail!("gateway {} was never started", self.id),
        }
    }

    /// The configuration version the gateway has in force, from its metrics.
    pub async fn version(&self) -> anyhow::Result<u64> {
        let (status, body) = http::get(self.internal, "/metrics").await?;
        if status != 200 {
            bail!("gateway {} answered /metrics with {status}", self.id);
        }
        let version = http::metric_value(&body, "psn_gateway_config_version")
            .with_context(|| format!("gateway {} reports no configuration version", self.id))?;
        Ok(version as u64)
    }

    /// Waits until the gateway is live and has `version` (or later) in force.
    pub async fn wait_for_version(
        &mut self,
        version: u64,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.ensure_running()?;
            if let Ok(held) = self.version().await {
                if held >= version {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "gateway {} did not reach configuration version {version} within {timeout:?}",
                    self.id
                );
            }
            tokio::time::sleep(SETUP_POLL).await;
        }
    }
}

/// A file name for a gateway's log: its id with the separators replaced.
fn file_name(id: &GatewayId) -> String {
    id.to_string().replace(['/', '@'], "-")
}
