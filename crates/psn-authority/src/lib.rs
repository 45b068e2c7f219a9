//! The psn authority (DESIGN.md "Roles"): the member registry, the network certificate
//! authority, gateway enrolment, and the signed global configuration, behind an HTTPS API.

pub mod api;
pub mod attainment;
pub mod benchmarks;
pub mod catalogue;
pub mod compliance;
pub mod datadir;
pub mod export;
pub mod federation;
pub mod filing;
pub mod metrics;
pub mod openapi_check;
pub mod people;
pub mod publish;
pub mod report;
pub mod search;
pub mod seed;
mod server;
pub mod store;
pub mod ui;
pub mod webhook;

use datadir::{write_private, DataDir, Runtime, Settings};
use psn_core::names::{MemberClasses, NetworkId};
use psn_pki::{CertificateAuthority, ConfigSigner};
use publish::{AuthorityDescription, Publisher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use tokio::sync::watch;

/// Lifetime of the configuration signer's certificate; renewed at start when under a month is left.
const SIGNER_VALIDITY: Duration = Duration::from_secs(365 * 86_400);
/// Lifetime of the API server certificate, issued afresh at every start.
const SERVER_CERT_VALIDITY: Duration = Duration::from_secs(90 * 86_400);

/// Why an authority operation failed, in words for the operator.
#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    /// Settings or files are missing or wrong.
    #[error("{0}")]
    Setup(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// Certificate or key handling failed.
    #[error(transparent)]
    Pki(#[from] psn_pki::PkiError),
    /// Publishing the configuration failed.
    #[error(transparent)]
    Publish(#[from] publish::PublishError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> AuthorityError + '_ {
    move |source| AuthorityError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The running authority's shared state.
pub struct Authority {
    /// Network id.
    pub network: NetworkId,
    /// Settings.
    pub settings: Settings,
    /// Registry.
    pub store: Arc<Store>,
    /// Network CA.
    pub ca: CertificateAuthority,
    /// The pin enrolment tokens carry.
    pub ca_pin: String,
    /// Configuration publisher.
    pub publisher: Publisher,
    /// Public base URL of the API.
    pub public_url: String,
    /// Becomes true when the authority is stopping, so long polls end at once.
    pub stopping: watch::Receiver<bool>,
    /// Prometheus metrics.
    pub metrics: metrics::AuthorityMetrics,
    /// OpenID Connect providers of the web UI's sign-in.
    pub oidc: ui::OidcProviders,
    /// The process taxonomy listings are checked against and `/v1/processes` serves.
    pub processes: psn_orgdata::ProcessCatalogue,
    /// The catalogue's search index, kept in step with the registry (`search`).
    pub catalogue: search::Catalogue,
    /// The webhook delivery task's shared state (docs/access.md).
    pub webhooks: webhook::Webhooks,
    /// Benchmark definitions, the peer model and council profiles (docs/benchmarks.md).
    pub benchmarks: benchmarks::Benchmarks,
    /// The adopted frameworks, the network's policy and the clock the lifecycle runs on
    /// (docs/compliance.md).
    pub compliance: compliance::Compliance,
}

/// What `init` created.
#[derive(Debug)]
pub struct InitReport {
    /// The operator token (also written to `operator.token`).
    pub operator_token: String,
    /// The CA pin.
    pub ca_pin: String,
}

/// Creates a new authority in `dir` for `network`: CA, configuration signer, registry with the
/// default UK member classes, and a first operator. Refuses a directory that already holds one;
/// on failure nothing is left behind but an empty directory.
pub async fn init(
    dir: &DataDir,
    network: NetworkId,
    database_url: Option<String>,
) -> Result<InitReport, AuthorityError> {
    if dir.settings().exists() {
        return Err(AuthorityError::Setup(format!(
            "{} already holds an authority; refusing to overwrite it",
            dir.root().display()
        )));
    }
    std::fs::create_dir_all(dir.root()).map_err(io_error(dir.root()))?;
    restrict_dir(dir.root())?;
    let settings = Settings::new(network.clone(), database_url);
    let result = init_inner(dir, &settings).await;
    if result.is_err() {
        for path in [
            dir.database(),
            dir.ca_cert(),
            dir.ca_key(),
            dir.signer_cert(),
            dir.signer_key(),
            dir.operator_token(),
        ] {
            let _ = std::fs::remove_file(path);
        }
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", dir.database().display()));
        }
    }
    result
}

async fn init_inner(dir: &DataDir, settings: &Settings) -> Result<InitReport, AuthorityError> {
    let ca = CertificateAuthority::create(&settings.network)?;
    let signer = ConfigSigner::create(&ca, SIGNER_VALIDITY)?;
    let mut secret = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
        .map_err(|_| AuthorityError::Setup("random number generator failed".into()))?;
    let operator_token = format!("psn-op-{}", psn_core::encoding::b64url(&secret));
    let store = Store::open(&dir.database_url(settings)).await?;
    store
        .init_network(&settings.network, &MemberClasses::uk_default())
        .await?;
    store
        .add_operator("admin", &psn_core::token::secret_hash(&operator_token))
        .await?;
    store.close().await;
    let ca_pin = psn_pki::ca_pin(ca.certificate_der())?;
    for (path, contents) in [
        (dir.ca_key(), ca.key_pem()),
        (dir.ca_cert(), ca.certificate_pem().to_owned()),
        (dir.signer_key(), signer.key_pem().to_owned()),
        (dir.signer_cert(), signer.certificate_pem().to_owned()),
        (dir.operator_token(), format!("{operator_token}\n")),
    ] {
        write_private(&path, contents.as_bytes()).map_err(io_error(&path))?;
    }
    let toml = toml::to_string(settings).map_err(|e| AuthorityError::Setup(e.to_string()))?;
    write_private(&dir.settings(), toml.as_bytes()).map_err(io_error(&dir.settings()))?;
    Ok(InitReport {
        operator_token,
        ca_pin,
    })
}

#[cfg(unix)]
fn restrict_dir(path: &std::path::Path) -> Result<(), AuthorityError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(io_error(path))
}

#[cfg(not(unix))]
fn restrict_dir(_path: &std::path::Path) -> Result<(), AuthorityError> {
    Ok(())
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Listen address (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Public base URL; defaults to `https://{listen address}`.
    pub public_url: Option<String>,
}

/// A started authority: where it listens, and how to stop it.
pub struct Running {
    /// Bound address.
    pub local_addr: SocketAddr,
    /// Public base URL.
    pub url: String,
    /// Shared state.
    pub authority: Arc<Authority>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    runtime_file: std::path::PathBuf,
}

impl Running {
    /// Stops accepting, finishes in-flight requests and closes the database.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.authority.store.close().await;
        let _ = std::fs::remove_file(&self.runtime_file);
    }
}

fn read(path: &std::path::Path) -> Result<String, AuthorityError> {
    std::fs::read_to_string(path).map_err(io_error(path))
}

/// Loads `psn demo`'s synthetic benchmark returns (marked as synthetic) into the registry in
/// `dir` for every council member, for the two latest financial years past the embargo at
/// `today`; the authority may be running. Returns how many were stored.
pub async fn load_synthetic_returns(
    dir: &DataDir,
    today: time::Date,
) -> Result<u64, AuthorityError> {
    let settings = dir.load_settings().map_err(AuthorityError::Setup)?;
    let processes = psn_orgdata::ProcessCatalogue::embedded()
        .map_err(|e| AuthorityError::Setup(format!("the embedded process taxonomy: {e}")))?;
    let benchmarks = benchmarks::Benchmarks::new(&processes, &settings.benchmarks, dir.root())
        .map_err(AuthorityError::Setup)?;
    let store = Store::open(&dir.database_url(&settings)).await?;
    let years = benchmarks::synthetic_years(today);
    let stored = benchmarks::load_synthetic(&store, &benchmarks, "operator:synthetic", &years)
        .await
        .map_err(|e| match e {
            benchmarks::BenchmarkError::Store(e) => AuthorityError::Store(e),
            other => AuthorityError::Setup(other.to_string()),
        });
    store.close().await;
    stored
}

/// Starts the authority from its data directory.
pub async fn start(dir: &DataDir, options: ServeOptions) -> Result<Running, AuthorityError> {
    let settings = dir.load_settings().map_err(AuthorityError::Setup)?;
    let network = settings.network.clone();
    let store = Arc::new(Store::open(&dir.database_url(&settings)).await?);
    match store.network().await? {
        Some(n) if n == network => {}
        Some(n) => {
            return Err(AuthorityError::Setup(format!(
                "the database belongs to network {n}, but authority.toml says {network}"
            )))
        }
        None => {
            return Err(AuthorityError::Setup(
                "the database has not been initialised; run `psn authority init`".into(),
            ))
        }
    }
    let oidc = load_oidc(dir, &settings, &store).await?;
    let ca = CertificateAuthority::load(&network, &read(&dir.ca_cert())?, &read(&dir.ca_key())?)?;
    let mut signer = ConfigSigner::load(&read(&dir.signer_key())?, &read(&dir.signer_cert())?)?;
    if signer.not_after() - time::OffsetDateTime::now_utc() < time::Duration::days(30) {
        signer = ConfigSigner::create(&ca, SIGNER_VALIDITY)?;
        write_private(&dir.signer_key(), signer.key_pem().as_bytes())
            .map_err(io_error(&dir.signer_key()))?;
        write_private(&dir.signer_cert(), signer.certificate_pem().as_bytes())
            .map_err(io_error(&dir.signer_cert()))?;
        tracing::info!("renewed the configuration signer certificate");
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| AuthorityError::Io {
            path: options.listen.to_string(),
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| AuthorityError::Io {
        path: options.listen.to_string(),
        source,
    })?;
    let url = options
        .public_url
        .clone()
        .unwrap_or_else(|| format!("https://{local_addr}"));
    let host = host_of(&url).ok_or_else(|| {
        AuthorityError::Setup(format!("public URL {url:?} must be https://host[:port]"))
    })?;
    let mut hosts = vec![
        host,
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !local_addr.ip().is_unspecified() {
        hosts.push(local_addr.ip().to_string());
    }
    hosts.sort();
    hosts.dedup();
    let (server_cert, server_key) = ca.issue_server_certificate(&hosts, SERVER_CERT_VALIDITY)?;
    let identity = psn_pki::TlsIdentity::from_pem(
        &format!("{}{}", server_cert.pem, ca.certificate_pem()),
        &server_key,
    )?;
    let tls = Arc::new(psn_pki::authority_server_config(
        identity,
        ca.certificate_der(),
    )?);
    let ca_pin = psn_pki::ca_pin(ca.certificate_der())?;
    let description = AuthorityDescription {
        network: network.clone(),
        endpoints: vec![url.clone()],
        ca_certificate: ca.certificate_pem().to_owned(),
        validity: settings.config_validity,
    };
    let processes = psn_orgdata::ProcessCatalogue::embedded()
        .map_err(|e| AuthorityError::Setup(format!("the embedded process taxonomy: {e}")))?;
    let benchmarks = benchmarks::Benchmarks::new(&processes, &settings.benchmarks, dir.root())
        .map_err(AuthorityError::Setup)?;
    let compliance = compliance::Compliance::load(&settings.compliance, dir.root())
        .map_err(AuthorityError::Setup)?;
    let publisher = Publisher::new(store.clone(), signer, description);
    let published = publisher.publish().await?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let authority = Arc::new(Authority {
        network,
        settings,
        store,
        ca,
        ca_pin,
        publisher,
        public_url: url.clone(),
        stopping: shutdown_rx.clone(),
        metrics: metrics::AuthorityMetrics::new(),
        oidc,
        processes,
        catalogue: search::Catalogue::new()
            .map_err(|e| AuthorityError::Setup(format!("the catalogue index: {e}")))?,
        webhooks: webhook::Webhooks::new()
            .map_err(|e| AuthorityError::Setup(format!("the webhook sender: {e}")))?,
        benchmarks,
        compliance,
    });
    authority
        .catalogue
        .rebuild(&authority, time::OffsetDateTime::now_utc())
        .await
        .map_err(|e| AuthorityError::Setup(format!("indexing the catalogue: {e}")))?;
    let app = api::router(authority.clone())
        .merge(ui::router(authority.clone()))
        .merge(people::router(authority.clone()));
    let server = tokio::spawn(server::serve_tls(listener, tls, app, shutdown_rx.clone()));
    let indexer = tokio::spawn(search::run(authority.clone(), shutdown_rx.clone()));
    let deliverer = {
        let authority = authority.clone();
        let stopping = shutdown_rx.clone();
        tokio::spawn(async move {
            let store = authority.store.clone();
            authority.webhooks.run(store, stopping).await
        })
    };
    let lifecycle = tokio::spawn(compliance::run(authority.clone(), shutdown_rx.clone()));
    let federation = tokio::spawn(federation::run(authority.clone(), shutdown_rx.clone()));
    let refresher = {
        let authority = authority.clone();
        tokio::spawn(async move { authority.publisher.run(shutdown_rx).await })
    };
    let runtime = Runtime {
        url: url.clone(),
        pid: std::process::id(),
    };
    let runtime_file = dir.runtime();
    write_private(
        &runtime_file,
        &serde_json::to_vec_pretty(&runtime).unwrap_or_default(),
    )
    .map_err(io_error(&runtime_file))?;
    tracing::info!(%url, network = %authority.network, config_version = published.version, "authority serving");
    Ok(Running {
        local_addr,
        url,
        authority,
        shutdown,
        tasks: vec![server, refresher, indexer, deliverer, lifecycle, federation],
        runtime_file,
    })
}

/// The OpenID Connect providers of `authority.toml`, with their secrets and trust roots read,
/// and every member their rules name in the registry. Providers themselves are not contacted:
/// one that is down must not stop the authority (docs/ui.md "OpenID Connect").
async fn load_oidc(
    dir: &DataDir,
    settings: &Settings,
    store: &Store,
) -> Result<ui::OidcProviders, AuthorityError> {
    let at_file = |e: String| AuthorityError::Setup(format!("{}: {e}", dir.settings().display()));
    for (i, provider) in settings.oidc.iter().enumerate() {
        for (j, rule) in provider.rules.iter().enumerate() {
            if let Some(member) = &rule.member {
                if store.member(member).await?.is_none() {
                    return Err(at_file(format!(
                        "oidc[{i}] ({}).rules[{j}].member: no member {member} in the registry",
                        provider.name
                    )));
                }
            }
        }
    }
    ui::OidcProviders::load(dir, settings).map_err(at_file)
}

/// The host of an `https://host[:port][/...]` URL; IPv6 brackets removed.
fn host_of(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let authority = rest.split('/').next()?;
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    (!host.is_empty()).then(|| host.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_of_handles_names_ports_and_ipv6() {
        assert_eq!(
            super::host_of("https://authority.example:7800").as_deref(),
            Some("authority.example")
        );
        assert_eq!(
            super::host_of("https://127.0.0.1").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            super::host_of("https://[::1]:7800/x").as_deref(),
            Some("::1")
        );
        assert_eq!(super::host_of("http://plain:80"), None);
        assert_eq!(super::host_of("https://"), None);
    }
}
