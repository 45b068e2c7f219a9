//! `psn gateway serve`: the internal listener for the member's systems, the peer-facing mutual
//! TLS listener, and the background work that keeps the gateway current: following the
//! configuration (long poll), fetching the grants on its member's services, renewing its
//! certificate, and telling the authority where peers reach it. With the authority down it keeps
//! serving on its cached configuration until that expires.

use crate::config_store::{Accepted, Arrival, ConfigStore, ConfigStoreError};
use crate::datadir::{write_private, GatewayDir, GatewaySettings, InternalTls};
use crate::plane::cidr::Cidr;
use crate::plane::state::View;
use crate::plane::{
    BackendClient, Caller, ClientCheck, LocalBackend, PeerIdentity, PeerPool, Shared, Signing,
};
use crate::{io_error, needs_renewal, GatewayError};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use psn_api::{AddressUpdate, AuthorityClient, ClientError, ConfigFetch, DeltaFetch, GrantList};
use psn_core::access::Grant;
use psn_core::names::{ServiceId, SubsystemId};
use psn_listener::limits;
use psn_pki::{CertificateInfo, SharedIdentity, StatementSigner};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Most connections served at once on each listener.
const MAX_CONNECTIONS: usize = 8192;

/// A running gateway.
pub struct RunningGateway {
    /// Internal listener address.
    pub internal: SocketAddr,
    /// Peer-facing listener address.
    pub external: SocketAddr,
    /// Shared state (for tests and the demo).
    pub shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Delivers aggregates: told to stop only after everything else has, so its final delivery
    /// covers every record, and awaited (not aborted) so that delivery completes.
    aggregates: Option<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>,
}

impl RunningGateway {
    /// Stops listening and background work, then seals and closes the audit log.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            task.abort();
            let _ = task.await;
        }
        let delivering = self.aggregates.is_some();
        if let Some((stop, task)) = self.aggregates {
            let _ = stop.send(true);
            if let Err(e) = task.await {
                tracing::error!(error = %e, "aggregate delivery stopped abnormally");
            }
        }
        if let Err(e) = self.shared.audit.close().await {
            tracing::error!(error = %e, "audit log not closed cleanly; it recovers on the next start");
        } else if delivering {
            crate::aggregates::hand_over_final_checkpoint(&self.shared).await;
        }
    }
}

/// Compresses closed audit segments into the archive and applies retention, periodically.
async fn archive_audit_log(
    dir: GatewayDir,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let settings = &shared.settings.audit;
    let options = psn_audit::ArchiveOptions {
        retention: settings.retention,
    };
    let mut every = tokio::time::interval(settings.archive_interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.changed() => return,
        }
        let (root, options) = (dir.root().to_path_buf(), options.clone());
        let archived = tokio::task::spawn_blocking(move || {
            psn_audit::archive(&root, &options, OffsetDateTime::now_utc())
        })
        .await;
        match archived {
            Ok(Ok(summary)) if summary.archived.is_empty() && summary.deleted.is_empty() => {}
            Ok(Ok(summary)) => {
                tracing::info!(
                    archived = ?summary.archived,
                    deleted = ?summary.deleted,
                    skipped = ?summary.skipped,
                    "audit segments archived"
                );
                let archived = summary.archived.len() as u64;
                shared.audit_archived.send_modify(|n| *n += archived);
            }
            Ok(Err(e)) => tracing::error!(error = %e, "audit archival failed"),
            Err(e) => tracing::error!(error = %e, "audit archival stopped"),
        }
    }
}

/// Opens the audit log (recovering a torn tail a crash left) with the gateway's key as sealer.
async fn open_audit_log(
    dir: &GatewayDir,
    settings: &GatewaySettings,
    identity_pem: &str,
) -> Result<psn_audit::AuditLog, GatewayError> {
    settings.audit.validate().map_err(GatewayError::Setup)?;
    settings
        .monitoring
        .validate()
        .map_err(GatewayError::Setup)?;
    let sealer = psn_audit::Sealer::from_identity_pem(identity_pem)?;
    let options = settings.audit.log_options();
    let root = dir.root().to_path_buf();
    let (log, recovery) =
        tokio::task::spawn_blocking(move || psn_audit::AuditLog::open(&root, options, sealer))
            .await
            .map_err(|e| GatewayError::Setup(format!("opening the audit log: {e}")))??;
    tracing::info!(
        segment = recovery.segment,
        records = recovery.records,
        unsealed = recovery.unsealed_records,
        torn_tail = recovery.torn_tail.is_some(),
        "audit log open"
    );
    Ok(log)
}

fn grants_path(dir: &GatewayDir) -> std::path::PathBuf {
    dir.root().join("grants.json")
}

/// The two sockets a gateway serves on, bound before it starts.
///
/// [`start`] binds them from the settings. A caller that announces the addresses before the
/// gateway starts (the demo does, at enrolment) binds them itself with [`Listeners::bind`] and
/// holds them until [`start_on`], so no other process can take a port in between.
#[derive(Debug)]
pub struct Listeners {
    internal: std::net::TcpListener,
    external: std::net::TcpListener,
}

impl Listeners {
    /// Binds the internal and external addresses (port 0 takes any free port).
    pub fn bind(internal: SocketAddr, external: SocketAddr) -> Result<Listeners, GatewayError> {
        let bind = |addr: SocketAddr| {
            std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|source| GatewayError::Io {
                    path: addr.to_string(),
                    source,
                })
        };
        Ok(Listeners {
            internal: bind(internal)?,
            external: bind(external)?,
        })
    }

    /// The addresses bound: (internal, external).
    pub fn addresses(&self) -> std::io::Result<(SocketAddr, SocketAddr)> {
        Ok((self.internal.local_addr()?, self.external.local_addr()?))
    }

    fn into_tokio(self) -> std::io::Result<(TcpListener, TcpListener)> {
        Ok((
            TcpListener::from_std(self.internal)?,
            TcpListener::from_std(self.external)?,
        ))
    }
}

/// Starts the gateway from its data directory, on the addresses its settings name.
pub async fn start(dir: &GatewayDir) -> Result<RunningGateway, GatewayError> {
    let settings = dir.load_settings()?;
    let listeners = Listeners::bind(settings.internal_listen, settings.external_listen)?;
    start_on(dir, listeners).await
}

/// Starts the gateway from its data directory on listeners already bound; the settings'
/// listen addresses are not used.
pub async fn start_on(
    dir: &GatewayDir,
    listeners: Listeners,
) -> Result<RunningGateway, GatewayError> {
    let settings = dir.load_settings()?;
    let ca = dir.load_ca()?;
    let (tls_identity, identity_pem) = dir.load_identity()?;
    let leaf = CertificateInfo::from_der(
        tls_identity
            .chain
            .first()
            .map(|c| c.as_ref())
            .unwrap_or_default(),
    )?;
    let identity = SharedIdentity::new(tls_identity)?;
    let signing = Signing {
        signer: StatementSigner::from_pem(&identity_pem)?,
        serial: leaf.serial.clone(),
        not_after: leaf.not_after,
    };
    let store = ConfigStore::open(dir, settings.network.clone(), ca.clone())?;
    let config = store.shared().ok_or_else(|| {
        GatewayError::Setup("no configuration is cached; run `psn gateway sync` first".into())
    })?;
    let grants = match fetch_grants(dir).await {
        Ok(list) => list.items,
        Err(e) => {
            tracing::warn!(error = %e, "authority unreachable; using cached grants");
            load_grants(dir)
        }
    };
    let trusted = psn_pki::TrustedNetworks::new(settings.network.clone(), &ca)?;
    trusted.follow(&config.federation)?;
    let (view_tx, view_rx) = watch::channel(Arc::new(View::new(config, Arc::new(grants))));
    let clients = client_checks(&settings)?;
    let internal_tls = match &settings.internal_tls {
        Some(tls) => Some(tokio_rustls::TlsAcceptor::from(Arc::new(
            internal_tls_config(dir, tls)?,
        ))),
        None => None,
    };
    let client_tls = Arc::new(psn_pki::gateway_client_config(
        identity.clone(),
        trusted.clone(),
    )?);
    let server_tls = Arc::new(psn_pki::gateway_server_config(
        identity.clone(),
        trusted.clone(),
    )?);
    let services = local_backends(dir, &settings)?;
    let audit = open_audit_log(dir, &settings, &identity_pem).await?;
    let buffered_audit = settings
        .audit
        .buffered
        .iter()
        .map(|b| (b.service.clone(), b.max_delay))
        .collect();
    let kept_bodies = settings.audit.keep_bodies.iter().cloned().collect();
    let (internal, external) = listeners.into_tokio().map_err(io_error(dir.root()))?;
    let internal_addr = internal.local_addr().map_err(io_error(dir.root()))?;
    let external_addr = external.local_addr().map_err(io_error(dir.root()))?;
    let signing = Arc::new(RwLock::new(Arc::new(signing)));
    let refusal_budget = crate::plane::RefusalBudget::new(
        settings.audit.unidentified_refusals_per_second,
        std::time::Instant::now(),
    );
    let shared = Arc::new(Shared {
        batch: crate::plane::signing::BatchSigner::start(signing.clone())
            .map_err(|e| GatewayError::Setup(format!("starting the statement signer: {e}")))?,
        verified: crate::plane::signing::VerifiedRoots::default(),
        identity_generation: watch::channel(0).0,
        services,
        peers: PeerPool::new(client_tls, settings.limits.connect_timeout).with_checkpoints(
            crate::plane::checkpoint::Checkpoints::new(audit.clone(), trusted.clone()),
        ),
        settings,
        view: view_rx,
        identity,
        signing,
        clients,
        audit,
        buffered_audit,
        kept_bodies,
        metrics: crate::metrics::GatewayMetrics::new(),
        audit_archived: watch::channel(0).0,
        used_services: RwLock::new(crate::plane::probe::load_used_services(dir)),
        backend_health: RwLock::default(),
        aggregated: watch::channel(0).0,
        refusal_budget,
        clock: crate::plane::clock::ClockCheck::default(),
    });
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = vec![
        tokio::spawn(serve_internal(
            internal,
            internal_tls,
            shared.clone(),
            shutdown_rx.clone(),
        )),
        tokio::spawn(serve_external(
            external,
            server_tls,
            shared.clone(),
            shutdown_rx.clone(),
        )),
        tokio::spawn(follow(
            dir.clone(),
            store,
            Views {
                sender: view_tx,
                trusted,
            },
            shared.clone(),
            shutdown_rx.clone(),
        )),
        tokio::spawn(keep_certificate(
            dir.clone(),
            shared.clone(),
            shutdown_rx.clone(),
        )),
        tokio::spawn(archive_audit_log(
            dir.clone(),
            shared.clone(),
            shutdown_rx.clone(),
        )),
    ];
    if shared.settings.monitoring.probes {
        tasks.push(tokio::spawn(crate::plane::probe::run(
            dir.clone(),
            shared.clone(),
            shutdown_rx.clone(),
        )));
    }
    drop(shutdown_rx);
    let aggregates = shared.settings.monitoring.aggregates.then(|| {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(crate::aggregates::run(dir.clone(), shared.clone(), stopped));
        (stop, task)
    });
    tracing::info!(gateway = %shared.settings.gateway, internal = %internal_addr, external = %external_addr, "gateway serving");
    Ok(RunningGateway {
        internal: internal_addr,
        external: external_addr,
        shared,
        shutdown,
        tasks,
        aggregates,
    })
}

/// Internal authentication rules from `gateway.toml`, checked against the listener's settings.
fn client_checks(
    settings: &GatewaySettings,
) -> Result<HashMap<SubsystemId, ClientCheck>, GatewayError> {
    let mut checks = HashMap::new();
    for rule in &settings.clients {
        let bad =
            |why: String| GatewayError::Setup(format!("client rule for {}: {why}", rule.subsystem));
        if rule.subsystem.member() != settings.gateway.member() {
            return Err(bad(format!(
                "not a subsystem of {}",
                settings.gateway.member()
            )));
        }
        let allow = rule
            .allow
            .iter()
            .map(|n| n.parse::<Cidr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        if rule.certificate_name.is_some()
            && settings
                .internal_tls
                .as_ref()
                .is_none_or(|t| t.client_ca.is_none())
        {
            return Err(bad(
                "certificate_name needs internal_tls with a client_ca to verify certificates"
                    .into(),
            ));
        }
        let check = ClientCheck {
            allow,
            api_key_sha256: rule.api_key_sha256.clone(),
            certificate_name: rule.certificate_name.clone(),
        };
        if checks.insert(rule.subsystem.clone(), check).is_some() {
            return Err(bad("there is more than one rule for it".into()));
        }
    }
    Ok(checks)
}

/// The internal listener's TLS settings, read from the files `gateway.toml` names.
fn internal_tls_config(
    dir: &GatewayDir,
    tls: &InternalTls,
) -> Result<rustls::ServerConfig, GatewayError> {
    let chain = dir.read_named("internal TLS certificate", &tls.certificate)?;
    let key = dir.read_named("internal TLS key", &tls.key)?;
    let client_ca = tls
        .client_ca
        .as_ref()
        .map(|ca| dir.read_named("internal client CA", ca))
        .transpose()?;
    let identity = psn_pki::TlsIdentity::from_pem(&chain, &key)?;
    Ok(psn_pki::internal_server_config(
        identity,
        client_ca.as_deref(),
    )?)
}

/// One backend client per `https://` backend (each trusting only its own CA), one shared pool
/// for every `http://` backend.
fn local_backends(
    dir: &GatewayDir,
    settings: &GatewaySettings,
) -> Result<HashMap<ServiceId, LocalBackend>, GatewayError> {
    let limits = &settings.limits;
    let client = |tls: rustls::ClientConfig| -> BackendClient {
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.set_connect_timeout(Some(limits.connect_timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector)
    };
    // Plain backends never reach the TLS layer; its empty root store trusts nothing.
    let plain = client(
        rustls::ClientConfig::builder_with_provider(psn_pki::provider())
            .with_safe_default_protocol_versions()
            .map_err(psn_pki::PkiError::from)?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    );
    let mut services = HashMap::new();
    for service in &settings.services {
        if service.id.member() != settings.gateway.member() {
            return Err(GatewayError::Setup(format!(
                "{} is not a service of {}",
                service.id,
                settings.gateway.member()
            )));
        }
        let backend_client = match service.check_backend(dir)? {
            Some(ca) => client(psn_pki::backend_client_config(&ca)?),
            None => plain.clone(),
        };
        services.insert(
            service.id.clone(),
            LocalBackend {
                service: service.clone(),
                client: backend_client,
            },
        );
    }
    Ok(services)
}

/// Accepts connections until shutdown, at most [`MAX_CONNECTIONS`] at once, each served by
/// its own task.
async fn accept_connections<F, Fut>(
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let (tcp, remote) = tokio::select! {
            r = listener.accept() => match r { Ok(p) => p, Err(_) => continue },
            _ = shutdown.changed() => return,
        };
        let _ = tcp.set_nodelay(true);
        let connection = serve(tcp, remote);
        tokio::spawn(async move {
            let _permit = permit;
            connection.await;
        });
    }
}

/// A TLS handshake, bounded in time so a silent client cannot hold a connection slot.
async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    tcp: TcpStream,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp))
        .await
        .ok()?
        .ok()
}

async fn serve_internal(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    accept_connections(listener, shutdown, move |tcp, remote| {
        let (shared, tls) = (shared.clone(), tls.clone());
        async move {
            match tls {
                None => {
                    let caller = Caller {
                        remote,
                        certificate_names: Arc::from([]),
                    };
                    serve_internal_connection(tcp, shared, caller).await;
                }
                Some(acceptor) => {
                    let Some(stream) = handshake(&acceptor, tcp).await else {
                        tracing::debug!(%remote, "internal TLS handshake failed");
                        return;
                    };
                    let certificate_names = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .and_then(|leaf| psn_pki::certificate_names(leaf).ok())
                        .unwrap_or_default();
                    let caller = Caller {
                        remote,
                        certificate_names: certificate_names.into(),
                    };
                    serve_internal_connection(stream, shared, caller).await;
                }
            }
        }
    })
    .await
}

/// The internal listener's HTTP/1.1 read buffer, which bounds a request head (docs/api.md
/// "Limits"); larger than the minimum for body throughput.
const INTERNAL_HEAD_BYTES: usize = 256 * 1024;

/// Refusals below the consumer side's handler: each gets a new message id, as there is no
/// request to take one from.
const INTERNAL_REFUSALS: psn_listener::Refusals = psn_listener::Refusals {
    hop: CONSUMER_HOP,
    message_id: || Some(uuid::Uuid::new_v4().to_string()),
    head_bytes: INTERNAL_HEAD_BYTES,
};

/// Serves one connection on the internal listener (HTTP/1.1 or HTTP/2), then closes it with a
/// lingering close.
async fn serve_internal_connection<S>(stream: S, shared: Arc<Shared>, caller: Caller)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(15))
        .max_headers(limits::HTTP1_MAX_HEADERS)
        .max_buf_size(INTERNAL_HEAD_BYTES);
    builder
        .http2()
        .max_header_list_size(limits::HTTP2_MAX_HEADER_LIST_SIZE);
    let remote = caller.remote;
    let counter = shared.metrics.head_refusal_counter();
    let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let (shared, caller) = (shared.clone(), caller.clone());
        // The documented head limits are checked by the consumer side, which records the
        // refusal like any other.
        async move { Ok::<_, Infallible>(crate::plane::consume(shared, caller, req).await) }
    });
    let (io, returned) = psn_listener::ProblemIo::new(stream, INTERNAL_REFUSALS);
    let io = io.counting(counter);
    if let Err(e) = builder.serve_connection(TokioIo::new(io), service).await {
        tracing::debug!(%remote, error = %e, "internal connection ended");
    }
    if let Ok(returned) = returned.await {
        psn_listener::linger(returned).await;
    }
}

/// The hop named in the internal listener's refusals.
const CONSUMER_HOP: &str = "consumer-gateway";

async fn serve_external(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    accept_connections(listener, shutdown, move |tcp, remote| {
        let (acceptor, shared) = (acceptor.clone(), shared.clone());
        async move {
            let Some(tls) = handshake(&acceptor, tcp).await else {
                tracing::debug!(%remote, "peer TLS handshake failed");
                return;
            };
            let Some(peer) = peer_identity(&tls) else {
                tracing::warn!(%remote, "peer certificate names no gateway; closing");
                return;
            };
            let mut views = shared.view.clone();
            let mut renewals = shared.identity_generation.subscribe();
            if !views.borrow().trusts(&peer.gateway, &peer.serial) {
                tracing::warn!(%remote, peer = %peer.gateway, "untrusted peer gateway; closing");
                return;
            }
            let peer = Arc::new(peer);
            let service = {
                let (shared, peer) = (shared.clone(), peer.clone());
                service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let (shared, peer) = (shared.clone(), peer.clone());
                    async move {
                        // The provider side checks the head limits (signing and recording the
                        // refusal); a probe's head is a gateway's own.
                        let path = req.uri().path();
                        if path == crate::plane::checkpoint::CHECKPOINT_PATH {
                            return Ok(crate::plane::checkpoint::answer(&shared, &peer, req).await);
                        }
                        if path.starts_with(crate::plane::probe::PROBE_PATH) {
                            let answer = crate::plane::probe::answer(&shared, path, req.headers());
                            return Ok::<_, Infallible>(answer);
                        }
                        Ok(crate::plane::provide(shared, peer, req).await)
                    }
                })
            };
            let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .max_header_list_size(limits::HTTP2_MAX_HEADER_LIST_SIZE)
                .max_concurrent_streams(1024)
                .initial_stream_window_size(1 << 20)
                .initial_connection_window_size(8 << 20)
                .serve_connection(TokioIo::new(tls), service);
            tokio::pin!(connection);
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(peer = %peer.gateway, error = %e, "peer connection ended");
                        }
                        return;
                    }
                    changed = views.changed() => {
                        let trusted = changed.is_ok() && views.borrow().trusts(&peer.gateway, &peer.serial);
                        if !trusted {
                            tracing::info!(peer = %peer.gateway, "peer no longer trusted; closing its connection");
                            return;
                        }
                    }
                    Ok(()) = renewals.changed() => {
                        // Finish in-flight streams, then close: the peer reconnects and sees the
                        // renewed certificate that now signs this gateway's statements.
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    })
    .await
}

fn peer_identity(tls: &tokio_rustls::server::TlsStream<TcpStream>) -> Option<PeerIdentity> {
    let certificate = tls.get_ref().1.peer_certificates()?.first()?.to_vec();
    let info = CertificateInfo::from_der(&certificate).ok()?;
    Some(PeerIdentity {
        gateway: psn_pki::gateway_identity(&info)?,
        serial: info.serial,
        verifier: Arc::new(psn_pki::StatementVerifier::from_certificate(&certificate).ok()?),
        certificate: Arc::new(certificate),
    })
}

/// A client for the authority with the gateway's current certificate.
pub(crate) fn authority_client(dir: &GatewayDir) -> Result<Vec<AuthorityClient>, GatewayError> {
    let settings = dir.load_settings()?;
    let ca = dir.load_ca()?;
    let (identity, _) = dir.load_identity()?;
    settings
        .authority
        .iter()
        .map(|endpoint| {
            AuthorityClient::gateway(endpoint, &ca, identity.clone()).map_err(Into::into)
        })
        .collect()
}

async fn fetch_grants(dir: &GatewayDir) -> Result<GrantList, GatewayError> {
    let list = crate::admin::grants(dir).await?;
    write_private(
        &grants_path(dir),
        &serde_json::to_vec(&list).unwrap_or_default(),
    )?;
    Ok(list)
}

fn load_grants(dir: &GatewayDir) -> Vec<Grant> {
    std::fs::read(grants_path(dir))
        .ok()
        .and_then(|b| serde_json::from_slice::<GrantList>(&b).ok())
        .map(|l| l.items)
        .unwrap_or_default()
}

/// Follows the configuration by long poll; on each new version fetches the grants and swaps the
/// view. Backs off while the authority is unreachable, keeping the cached view.
/// Where a newly accepted configuration goes: the view every request reads, and the CAs the
/// peer listener and client check federated partners' gateways against. The CAs change first, so
/// a partner the new view lists can complete a handshake as soon as requests may name it.
struct Views {
    sender: watch::Sender<Arc<View>>,
    trusted: Arc<psn_pki::TrustedNetworks>,
}

impl Views {
    fn install(&self, view: View) {
        if let Err(e) = self.trusted.follow(&view.config.federation) {
            tracing::error!(error = %e, version = view.config.version, "a federated network's CA is unusable; keeping the previous CAs");
        }
        self.sender.send_replace(Arc::new(view));
    }

    fn borrow(&self) -> watch::Ref<'_, Arc<View>> {
        self.sender.borrow()
    }
}

async fn follow(
    dir: GatewayDir,
    store: ConfigStore,
    views: Views,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let store = Arc::new(std::sync::Mutex::new(store));
    let held = |store: &std::sync::Mutex<ConfigStore>| locked(store).shared();
    let mut backoff = Duration::from_millis(250);
    let mut announced = false;
    loop {
        let step = async {
            let clients = authority_client(&dir)?;
            let mut last = None;
            for client in clients {
                if !announced {
                    let settings = dir.load_settings()?;
                    if let Some(address) = settings.address {
                        let listed = held(&store).and_then(|c| {
                            c.gateways
                                .iter()
                                .find(|g| g.id == settings.gateway)
                                .and_then(|g| g.address.clone())
                        });
                        if listed.as_deref() != Some(address.as_str()) {
                            client.set_address(&AddressUpdate { address }).await?;
                        }
                    }
                    announced = true;
                }
                if shared.clock.offset().is_none() {
                    // A long poll may not answer for 30 s: read the authority's clock now, so
                    // a gateway started with a wrong clock stops within a round trip.
                    if client.health().await.is_ok() {
                        note_clock(&shared, &client);
                    }
                }
                let taken = take_newer(&client, &store, &dir).await;
                note_clock(&shared, &client);
                match taken {
                    Ok(taken) => return Ok(taken),
                    Err(GatewayError::Authority(e)) => last = Some(e),
                    Err(e) => return Err(e),
                }
            }
            Err(last.map_or_else(
                || GatewayError::Setup("no authority endpoint".into()),
                Into::into,
            ))
        };
        let outcome = tokio::select! {
            r = step => r,
            _ = shutdown.changed() => return,
        };
        match outcome {
            Ok(None) => backoff = Duration::from_millis(250),
            Ok(Some(taken)) => {
                backoff = Duration::from_millis(250);
                shared.metrics.config_updated(taken.via);
                let grants = match taken.grants {
                    Ok(list) => list.items,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not fetch grants; keeping the previous ones");
                        views.borrow().grants.as_ref().clone()
                    }
                };
                if let Some(config) = held(&store) {
                    views.install(View::new(config, Arc::new(grants)));
                    tracing::info!(
                        version = taken.version,
                        via = taken.via.as_str(),
                        "configuration updated"
                    );
                }
                let store = store.clone();
                let written =
                    tokio::task::spawn_blocking(move || locked(&store).write_document_if_due())
                        .await;
                match written {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "could not write the whole configuration document; the deltas keep the version durable")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "writing the whole configuration document stopped; the deltas keep the version durable")
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "configuration follow failed; serving on the cached configuration");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Notes this gateway's clock against the authority's, as `client`'s last answer showed it,
/// saying so when exchanges stop or resume because of it.
fn note_clock(shared: &Shared, client: &AuthorityClient) {
    let Some(offset) = client.clock_offset() else {
        return;
    };
    if shared.clock.note(offset) {
        match shared.clock.refusal() {
            Some(refusal) => tracing::error!(%refusal, "refusing exchanges"),
            None => tracing::warn!(
                offset = %psn_core::clock::describe(offset),
                "this gateway's clock is back within the network's tolerance; exchanges resume"
            ),
        }
    }
}

/// The configuration cache, which [`follow`] shares with the blocking threads that check new
/// versions. A check that panicked left nothing half-stored (a version is held only after it is
/// written), so the cache stays usable.
fn locked(store: &std::sync::Mutex<ConfigStore>) -> std::sync::MutexGuard<'_, ConfigStore> {
    store
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A newer configuration taken by [`take_newer`].
struct Taken {
    version: u64,
    via: Arrival,
    /// The grants on this gateway's services, fetched while the version was checked.
    grants: Result<GrantList, GatewayError>,
}

/// One long poll for a newer configuration: a delta against the held version where the
/// authority has one (DESIGN.md "delta at scale"), else the whole document. Checking a
/// national-scale document takes a good part of a second, so it runs off the runtime's threads,
/// never stalling the data plane. The grants are fetched meanwhile, so a revocation is enforced
/// one authority round trip sooner than if they were fetched after it.
async fn take_newer(
    client: &AuthorityClient,
    store: &Arc<std::sync::Mutex<ConfigStore>>,
    dir: &GatewayDir,
) -> Result<Option<Taken>, GatewayError> {
    const WAIT: Duration = Duration::from_secs(30);
    let (held, etag) = {
        let store = locked(store);
        (store.current().map(|c| c.version), store.etag())
    };
    if let Some(held) = held {
        match client.config_delta(held, Some(WAIT)).await {
            Ok(DeltaFetch::NotModified) => return Ok(None),
            Ok(DeltaFetch::Delta(delta)) => {
                let check = move |s: &mut ConfigStore, now| s.accept_delta(&delta, now);
                match take(store, dir, Arrival::Delta, check).await {
                    Ok(taken) => return Ok(taken),
                    Err(e) => {
                        tracing::warn!(error = %e, "configuration delta refused; fetching the whole document")
                    }
                }
            }
            Ok(DeltaFetch::Unavailable) => {}
            Err(e @ ClientError::Transport { .. }) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(error = %e, "configuration delta unavailable; fetching the whole document")
            }
        }
    }
    match client.config(etag.as_deref(), Some(WAIT)).await? {
        ConfigFetch::NotModified => Ok(None),
        ConfigFetch::Document { document, .. } => {
            let check = move |s: &mut ConfigStore, now| s.accept(&document, now);
            take(store, dir, Arrival::Document, check).await
        }
    }
}

/// Checks a version that arrived `via` one way, fetching the grants meanwhile; the version
/// taken, if it was new.
async fn take(
    store: &Arc<std::sync::Mutex<ConfigStore>>,
    dir: &GatewayDir,
    via: Arrival,
    check: impl FnOnce(&mut ConfigStore, OffsetDateTime) -> Result<Accepted, ConfigStoreError>
        + Send
        + 'static,
) -> Result<Option<Taken>, GatewayError> {
    let (accepted, grants) = tokio::join!(accept(store, check), fetch_grants(dir));
    Ok(accepted?.map(|version| Taken {
        version,
        via,
        grants,
    }))
}

/// Runs one of the store's checks on a blocking thread; returns the version taken, if any.
async fn accept(
    store: &Arc<std::sync::Mutex<ConfigStore>>,
    check: impl FnOnce(&mut ConfigStore, OffsetDateTime) -> Result<Accepted, ConfigStoreError>
        + Send
        + 'static,
) -> Result<Option<u64>, GatewayError> {
    let store = store.clone();
    let accepted =
        tokio::task::spawn_blocking(move || check(&mut locked(&store), OffsetDateTime::now_utc()))
            .await
            .map_err(|e| GatewayError::Setup(format!("configuration check stopped: {e}")))??;
    Ok(match accepted {
        Accepted::New(v) => Some(v),
        Accepted::Unchanged(_) => None,
    })
}

/// Renews the certificate when two thirds of its life have passed and swaps it in live.
async fn keep_certificate(
    dir: GatewayDir,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = shutdown.changed() => return,
        }
        let Ok((identity, _)) = dir.load_identity() else {
            continue;
        };
        let Some(Ok(info)) = identity
            .chain
            .first()
            .map(|c| CertificateInfo::from_der(c.as_ref()))
        else {
            continue;
        };
        if !needs_renewal(info.not_before, info.not_after, OffsetDateTime::now_utc()) {
            continue;
        }
        match crate::renew(&dir).await {
            Ok(renewed) => match reload_identity(&dir, &shared).await {
                Ok(()) => {
                    tracing::info!(serial = %renewed.serial, not_after = %renewed.not_after, "certificate renewed")
                }
                Err(e) => tracing::error!(error = %e, "renewed certificate could not be loaded"),
            },
            Err(e) => tracing::warn!(error = %e, "certificate renewal failed; will retry"),
        }
    }
}

/// Loads the identity from disk into the running listeners and signer.
pub async fn reload_identity(dir: &GatewayDir, shared: &Shared) -> Result<(), GatewayError> {
    let (identity, pem) = dir.load_identity()?;
    let leaf = CertificateInfo::from_der(
        identity
            .chain
            .first()
            .map(|c| c.as_ref())
            .unwrap_or_default(),
    )?;
    let signer = StatementSigner::from_pem(&pem)?;
    shared.identity.replace(identity)?;
    let signing = Arc::new(Signing {
        signer,
        serial: leaf.serial,
        not_after: leaf.not_after,
    });
    match shared.signing.write() {
        Ok(mut g) => *g = signing,
        Err(p) => *p.into_inner() = signing,
    }
    shared
        .audit
        .set_sealer(psn_audit::Sealer::from_identity_pem(&pem)?)
        .await?;
    shared.identity_generation.send_modify(|g| *g += 1);
    shared.peers.clear().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datadir::ClientRule;

    fn settings(rules: Vec<ClientRule>, client_ca: bool) -> GatewaySettings {
        let mut settings = GatewaySettings::new(
            "GB/LA/E10000016@gw1".parse().expect("gateway"),
            vec!["https://authority.invalid".into()],
            None,
        );
        settings.clients = rules;
        settings.internal_tls = Some(InternalTls {
            certificate: "internal.pem".into(),
            key: "internal.key".into(),
            client_ca: client_ca.then(|| "members-ca.pem".into()),
        });
        settings
    }

    fn rule(subsystem: &str, allow: &[&str], certificate_name: Option<&str>) -> ClientRule {
        ClientRule {
            subsystem: subsystem.parse().expect("subsystem"),
            allow: allow.iter().map(|a| (*a).to_owned()).collect(),
            api_key_sha256: None,
            certificate_name: certificate_name.map(str::to_owned),
        }
    }

    #[test]
    fn client_rules_that_could_never_be_enforced_are_refused_at_start() {
        let ok = rule("GB/LA/E10000016/revenues", &["10.0.0.0/8"], Some("batch"));
        assert!(client_checks(&settings(vec![ok.clone()], true)).is_ok());
        for (rules, client_ca, why) in [
            (
                vec![ok.clone()],
                false,
                "needs internal_tls with a client_ca",
            ),
            (vec![ok.clone(), ok.clone()], true, "more than one rule"),
            (
                vec![rule("GB/LA/E10000019/revenues", &[], None)],
                true,
                "not a subsystem of",
            ),
            (
                vec![rule("GB/LA/E10000016/revenues", &["10.0.0.0/33"], None)],
                true,
                "client rule for GB/LA/E10000016/revenues",
            ),
            (
                vec![rule("GB/LA/E10000016/revenues", &["not a network"], None)],
                true,
                "client rule for",
            ),
        ] {
            let error = client_checks(&settings(rules, client_ca)).expect_err(why);
            assert!(error.to_string().contains(why), "{why}: {error}");
        }
    }
}
