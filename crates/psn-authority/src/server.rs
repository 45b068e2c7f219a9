//! The HTTPS listener: rustls in front of hyper, with the peer certificate handed to handlers,
//! bounded connection count, handshake and header timeouts, and graceful shutdown. Request heads
//! over the documented limits, and those hyper refuses by itself, are answered with problems
//! (`psn_listener`); connections close with a bounded lingering close, so a client still sending
//! an over-limit body reads its `413` rather than a reset.

use crate::api::PeerCertificates;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use psn_core::problem::{Problem, PROBLEM_JSON};
use psn_listener::{limits, ProblemIo, Refusals};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// Concurrent connections accepted; beyond this, new connections wait in the kernel backlog.
const MAX_CONNECTIONS: usize = 4096;
/// Time allowed for a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed to send request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(15);
/// The HTTP/1.1 read buffer, which bounds a request head (docs/api.md "Limits").
const HEAD_BYTES: usize = limits::HTTP1_MIN_BUF_SIZE;
/// The authority's refusals below its handlers: no message id (it has none).
const REFUSALS: Refusals = Refusals {
    hop: "authority",
    message_id: || None,
    head_bytes: HEAD_BYTES,
};

/// Serves `app` over TLS on `listener` until `shutdown` becomes true, then lets in-flight
/// requests finish (long polls included, up to their wait).
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%remote, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%remote, "TLS handshake timed out");
                    return;
                }
            };
            serve_connection(tls, remote, app, watcher).await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Serves one TLS connection, then closes it with a lingering close.
async fn serve_connection(
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    remote: std::net::SocketAddr,
    app: Router,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let peer = PeerCertificates(Arc::new(
        tls.get_ref()
            .1
            .peer_certificates()
            .map(|chain| chain.iter().map(|c| c.to_vec()).collect())
            .unwrap_or_default(),
    ));
    let service = tower::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(peer.clone());
        req.extensions_mut().insert(crate::ui::RemoteAddr(remote));
        let app = app.clone();
        async move {
            match limits::check(req.uri(), req.headers()) {
                Ok(()) => app.oneshot(req).await,
                Err(refusal) => Ok(refused(refusal)),
            }
        }
    });
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_headers(limits::HTTP1_MAX_HEADERS)
        .max_buf_size(HEAD_BYTES);
    builder
        .http2()
        .max_concurrent_streams(256)
        .max_header_list_size(limits::HTTP2_MAX_HEADER_LIST_SIZE);
    let (io, returned) = ProblemIo::new(tls, REFUSALS);
    let connection =
        builder.serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
    if let Err(e) = watcher.watch(connection.into_owned()).await {
        tracing::debug!(%remote, error = %e, "connection ended with an error");
    }
    if let Ok(returned) = returned.await {
        psn_listener::linger(returned).await;
    }
}

/// A request head over a documented limit, as a problem.
fn refused(refusal: limits::Refusal) -> Response {
    let problem = Problem::new(refusal.kind, refusal.detail).with_hop("authority");
    let status = http::StatusCode::from_u16(problem.status)
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    match serde_json::to_vec(&problem) {
        Ok(body) => (status, [(http::header::CONTENT_TYPE, PROBLEM_JSON)], body).into_response(),
        Err(_) => status.into_response(),
    }
}
