//! The suspended member's side: the benchmark holds the member's enrolled gateway identity and
//! connects with it to every provider gateway exactly as a consumer gateway does (mutual TLS
//! 1.3, HTTP/2), asking each for its availability probe, which any trusted peer may call.
//!
//! Refusal is then what production does, observed from outside: a provider gateway closes a
//! peer's open connections the moment the configuration it applies stops trusting the peer, and
//! drops every new connection from it right after the handshake. So a held connection's end
//! timestamps the refusal without polling, and a fresh connection confirms it.

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use psn_core::names::ServiceId;
use psn_gateway::GatewayDir;
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

/// The probe endpoint on a gateway's peer listener (`psn_gateway::plane::probe::PROBE_PATH`).
const PROBE_PATH: &str = psn_gateway::plane::probe::PROBE_PATH;
/// Longest a connection attempt or probe may take on loopback before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What one attempt to reach a provider gateway's probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The gateway accepted the connection and answered with this status: the peer is trusted.
    Answered(u16),
    /// TCP connected but the gateway ended the TLS or HTTP/2 session without answering: the
    /// peer is refused.
    Refused(String),
    /// Nothing accepted the TCP connection: the gateway is not running there.
    Unreachable(String),
}

/// A held connection to one provider gateway.
pub struct Held {
    /// Completes, with the instant the connection ended, when the gateway closes it.
    pub closed: oneshot::Receiver<Instant>,
    sender: SendRequest<Empty<Bytes>>,
}

impl Held {
    /// Probes `service` over the held connection.
    pub async fn probe(&mut self, addr: SocketAddr, service: &ServiceId) -> Probe {
        probe_on(&mut self.sender, addr, service).await
    }
}

/// Connects to provider gateways as one (enrolled) member gateway.
#[derive(Clone)]
pub struct PeerClient {
    tls: TlsConnector,
}

impl PeerClient {
    /// A client presenting the identity enrolled in `dir`, trusting its own network's CA and
    /// `partners`' CAs for their names (a federated member calling another network's gateways).
    pub fn new(
        dir: &GatewayDir,
        partners: &[(psn_core::names::NetworkId, Vec<u8>)],
    ) -> anyhow::Result<Self> {
        let (identity, _) = dir
            .load_identity()
            .context("the member's gateway identity")?;
        let ca = dir.load_ca().context("the network CA")?;
        let identity = psn_pki::SharedIdentity::new(identity)?;
        let network = dir.load_settings()?.network;
        let trusted = psn_pki::TrustedNetworks::new(network, &ca)?;
        trusted.set_partners(partners)?;
        let config = psn_pki::gateway_client_config(identity, trusted)?;
        Ok(Self {
            tls: TlsConnector::from(Arc::new(config)),
        })
    }

    /// Opens a connection and keeps it open; `Err` carries what a fresh probe would report.
    pub async fn hold(&self, addr: SocketAddr) -> Result<Held, Probe> {
        match tokio::time::timeout(TIMEOUT, self.connect(addr)).await {
            Ok(result) => result,
            Err(_) => Err(Probe::Refused(format!(
                "no HTTP/2 session with {addr} within {TIMEOUT:?}"
            ))),
        }
    }

    /// A fresh connection and one probe on it, then the connection is dropped.
    pub async fn probe_fresh(&self, addr: SocketAddr, service: &ServiceId) -> Probe {
        match self.hold(addr).await {
            Ok(mut held) => held.probe(addr, service).await,
            Err(probe) => probe,
        }
    }

    async fn connect(&self, addr: SocketAddr) -> Result<Held, Probe> {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| Probe::Unreachable(format!("{addr}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        // Gateway certificates name a gateway by URI, not a host; the client configuration
        // checks the chain only, as a consumer gateway's does.
        let name = ServerName::try_from("gateway.psn.invalid")
            .map_err(|e| Probe::Refused(format!("server name: {e}")))?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| Probe::Refused(format!("TLS with {addr}: {e}")))?;
        let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(TokioIo::new(tls))
            .await
            .map_err(|e| Probe::Refused(format!("HTTP/2 with {addr}: {e}")))?;
        let (ended, closed) = oneshot::channel();
        tokio::spawn(async move {
            // Either way the session is over; the instant is what matters.
            let _ = connection.await;
            let _ = ended.send(Instant::now());
        });
        Ok(Held { closed, sender })
    }
}

async fn probe_on(
    sender: &mut SendRequest<Empty<Bytes>>,
    addr: SocketAddr,
    service: &ServiceId,
) -> Probe {
    let request = match http::Request::get(format!("https://{addr}{PROBE_PATH}{service}"))
        .body(Empty::<Bytes>::new())
    {
        Ok(request) => request,
        Err(e) => return Probe::Refused(format!("probe request for {service}: {e}")),
    };
    let exchange = async {
        sender
            .ready()
            .await
            .map_err(|e| format!("connection to {addr} closed: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("no answer from {addr}: {e}"))?;
        let status = response.status().as_u16();
        // Read the (small) answer so the stream ends cleanly.
        let _ = response.into_body().collect().await;
        Ok::<_, String>(status)
    };
    match tokio::time::timeout(TIMEOUT, exchange).await {
        Ok(Ok(status)) => Probe::Answered(status),
        Ok(Err(reason)) => Probe::Refused(reason),
        Err(_) => Probe::Refused(format!("no answer from {addr} within {TIMEOUT:?}")),
    }
}
