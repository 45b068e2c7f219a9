//! Connections to peer (provider) gateways: one HTTP/2 connection per peer gateway, multiplexed
//! and reused, over mutual TLS 1.3. After the handshake the peer's certificate must name the
//! gateway the configuration lists and be trusted by it; otherwise the connection is dropped.
//! Each new connection starts with an exchange of audit checkpoints ([`super::checkpoint`]), and
//! the exchange is repeated whenever this gateway's own checkpoint has moved on (once per seal at
//! most), so each peer's copy stays close to the log's end while traffic flows.
//!
//! Failover: a provider's gateways are tried in configuration order, except that one which
//! could not be reached (or did not answer in time) is tried after the others for
//! [`UNREACHABLE_FOR`], so that during a partition calls go straight to a gateway that answers
//! instead of each waiting out a connect timeout first. A connection that was cut silently (a
//! partition drops packets; nothing closes it) is found by HTTP/2 pings, idle or not, within
//! [`KEEP_ALIVE_INTERVAL`] + [`KEEP_ALIVE_TIMEOUT`], and one on which an exchange timed out is
//! dropped at once: the next call connects afresh, so a healed partition is used again.

use super::body::GatewayBody;
use super::checkpoint::{Checkpoints, CHECKPOINT_PATH};
use super::state::View;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use psn_core::checkpoint::Checkpoint;
use psn_core::config::GatewayEntry;
use psn_core::names::{GatewayId, MemberId};
use psn_pki::CertificateInfo;
use rustls::pki_types::ServerName;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How long a peer gateway that failed is tried only after its member's others.
pub const UNREACHABLE_FOR: Duration = Duration::from_secs(30);

/// How long a pooled connection may be silent before a ping asks whether the peer is still there.
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// How long a ping may go unanswered before the connection is closed as dead.
pub const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// A live connection to a peer gateway.
#[derive(Clone)]
pub struct PeerConnection {
    /// Request sender (cheap to clone; requests multiplex).
    pub sender: SendRequest<GatewayBody>,
    /// The peer's certificate, kept with its statements as evidence.
    pub certificate: Arc<Vec<u8>>,
    /// The certificate's key, parsed once per connection rather than per statement.
    pub verifier: Arc<psn_pki::StatementVerifier>,
    /// Its serial, to notice revocation.
    pub serial: String,
}

/// Pooled connections keyed by peer gateway.
pub struct PeerPool {
    tls: TlsConnector,
    connect_timeout: Duration,
    connections: tokio::sync::Mutex<HashMap<GatewayId, PeerConnection>>,
    /// The checkpoint exchange every new connection starts with, once the log is open.
    checkpoints: Option<Checkpoints>,
    /// The checkpoint last offered to each peer on its current connection (absent: none yet).
    offered: std::sync::Mutex<HashMap<GatewayId, Option<Arc<Checkpoint>>>>,
    /// When each peer that failed last failed (removed when it is reached within
    /// [`UNREACHABLE_FOR`] of that); at most one entry per gateway the configuration lists or
    /// listed.
    failed: std::sync::Mutex<HashMap<GatewayId, Instant>>,
}

impl PeerPool {
    /// A pool using the gateway's client TLS configuration.
    pub fn new(tls: Arc<rustls::ClientConfig>, connect_timeout: Duration) -> Self {
        Self {
            tls: TlsConnector::from(tls),
            connect_timeout,
            connections: tokio::sync::Mutex::new(HashMap::new()),
            checkpoints: None,
            offered: std::sync::Mutex::default(),
            failed: std::sync::Mutex::default(),
        }
    }

    /// The pool, exchanging audit checkpoints with every peer it connects to.
    pub fn with_checkpoints(mut self, checkpoints: Checkpoints) -> Self {
        self.checkpoints = Some(checkpoints);
        self
    }

    /// The checkpoint exchange, for the provider side of it.
    pub fn checkpoints(&self) -> Option<&Checkpoints> {
        self.checkpoints.as_ref()
    }

    /// A ready connection to `peer`, reusing one if it is open and the peer still trusted.
    pub async fn get(&self, peer: &GatewayEntry, view: &View) -> Result<PeerConnection, String> {
        {
            let mut connections = self.connections.lock().await;
            if let Some(c) = connections.get(&peer.id) {
                if !c.sender.is_closed() && view.trusts(&peer.id, &c.serial) {
                    self.offer_checkpoint(peer, c);
                    return Ok(c.clone());
                }
                connections.remove(&peer.id);
            }
        }
        let connection = tokio::time::timeout(self.connect_timeout, self.connect(peer, view))
            .await
            .map_err(|_| format!("connecting to {} timed out", peer.id))??;
        self.connections
            .lock()
            .await
            .insert(peer.id.clone(), connection.clone());
        if let Ok(mut offered) = self.offered.lock() {
            offered.remove(&peer.id);
        }
        self.offer_checkpoint(peer, &connection);
        Ok(connection)
    }

    /// Starts a checkpoint exchange with `peer` unless this gateway's latest checkpoint was
    /// already offered on this connection.
    fn offer_checkpoint(&self, peer: &GatewayEntry, connection: &PeerConnection) {
        let Some(checkpoints) = &self.checkpoints else {
            return;
        };
        let latest = checkpoints.latest();
        {
            let Ok(mut offered) = self.offered.lock() else {
                return;
            };
            if offered.get(&peer.id) == Some(&latest) {
                return;
            }
            offered.insert(peer.id.clone(), latest);
        }
        if let Ok(uri) = peer_uri(peer, CHECKPOINT_PATH) {
            let swap = checkpoints
                .clone()
                .swap(peer.id.clone(), uri, connection.sender.clone());
            tokio::spawn(swap);
        }
    }

    /// A connection to the first reachable gateway of `member` (the failover every call to a
    /// provider uses): in configuration order, those that failed lately last; the reasons each
    /// one failed otherwise.
    pub async fn first_reachable(
        &self,
        member: &MemberId,
        view: &View,
    ) -> Result<(GatewayEntry, PeerConnection), String> {
        let providers = view.gateways_of(member);
        if providers.is_empty() {
            return Err(format!("no gateway of {member} has announced an address"));
        }
        let (failed_lately, others) = self.failed_lately(providers, Instant::now());
        let order = others
            .into_iter()
            .map(|peer| (peer, false))
            .chain(failed_lately.into_iter().map(|peer| (peer, true)));
        let mut failures = Vec::new();
        for (peer, failed_before) in order {
            match self.get(&peer, view).await {
                Ok(connection) => {
                    if failed_before {
                        if let Ok(mut failed) = self.failed.lock() {
                            failed.remove(&peer.id);
                        }
                    }
                    return Ok((peer, connection));
                }
                Err(e) => {
                    self.note_failure(&peer.id);
                    failures.push(e);
                }
            }
        }
        Err(failures.join("; "))
    }

    /// `peers` split into those that failed within [`UNREACHABLE_FOR`] before `now` and the
    /// others, each in the order given; an older failure no longer counts.
    fn failed_lately(
        &self,
        peers: Vec<GatewayEntry>,
        now: Instant,
    ) -> (Vec<GatewayEntry>, Vec<GatewayEntry>) {
        let Ok(failed) = self.failed.lock() else {
            return (Vec::new(), peers);
        };
        if failed.is_empty() {
            return (Vec::new(), peers);
        }
        peers.into_iter().partition(|peer| {
            failed
                .get(&peer.id)
                .is_some_and(|at| now.saturating_duration_since(*at) < UNREACHABLE_FOR)
        })
    }

    fn note_failure(&self, peer: &GatewayId) {
        if let Ok(mut failed) = self.failed.lock() {
            failed.insert(peer.clone(), Instant::now());
        }
    }

    /// How many connections are pooled (a metric).
    pub async fn connections(&self) -> usize {
        self.connections.lock().await.len()
    }

    /// Drops every pooled connection (after renewal, so new ones present the new certificate).
    pub async fn clear(&self) {
        self.connections.lock().await.clear();
    }

    /// Drops the connection to `peer` after it failed or did not answer in time, so the next
    /// call connects afresh, and tries the peer after its member's other gateways for a while.
    pub async fn forget_failed(&self, peer: &GatewayId) {
        self.connections.lock().await.remove(peer);
        self.note_failure(peer);
    }

    async fn connect(&self, peer: &GatewayEntry, view: &View) -> Result<PeerConnection, String> {
        let address = peer
            .address
            .as_deref()
            .ok_or_else(|| format!("{} has no address", peer.id))?;
        let tcp = TcpStream::connect(address)
            .await
            .map_err(|e| format!("{} at {address}: {e}", peer.id))?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from("gateway.psn.invalid").map_err(|e| e.to_string())?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {} at {address}: {e}", peer.id))?;
        let certificate = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .ok_or_else(|| format!("{} presented no certificate", peer.id))?;
        let info = CertificateInfo::from_der(&certificate).map_err(|e| e.to_string())?;
        let verifier = psn_pki::StatementVerifier::from_certificate(&certificate)
            .map_err(|e| format!("{}'s certificate: {e}", peer.id))?;
        let presented = psn_pki::gateway_identity(&info);
        if presented.as_ref() != Some(&peer.id) {
            return Err(format!(
                "the gateway at {address} is {}, not {}",
                presented.map_or_else(|| "unnamed".to_owned(), |g| g.to_string()),
                peer.id
            ));
        }
        if !view.trusts(&peer.id, &info.serial) {
            return Err(format!(
                "{} is not trusted by the configuration in force",
                peer.id
            ));
        }
        let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .max_header_list_size(96 * 1024)
            .keep_alive_interval(KEEP_ALIVE_INTERVAL)
            .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
            .keep_alive_while_idle(true)
            .initial_stream_window_size(1 << 20)
            .initial_connection_window_size(8 << 20)
            .handshake(TokioIo::new(tls))
            .await
            .map_err(|e| format!("HTTP/2 with {}: {e}", peer.id))?;
        let id = peer.id.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(peer = %id, error = %e, "peer connection ended");
            }
        });

        Ok(PeerConnection {
            sender,
            verifier: Arc::new(verifier),
            certificate: Arc::new(certificate),
            serial: info.serial,
        })
    }
}

/// The URL of `path_and_query` at a peer gateway's announced address.
pub fn peer_uri(peer: &GatewayEntry, path_and_query: &str) -> Result<http::Uri, String> {
    let address = peer.address.as_deref().unwrap_or_default();
    http::Uri::builder()
        .scheme("https")
        .authority(address)
        .path_and_query(path_and_query)
        .build()
        .map_err(|e| format!("{} has an unusable address {address:?}: {e}", peer.id))
}
