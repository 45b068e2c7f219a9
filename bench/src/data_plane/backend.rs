//! The backend every data-plane topology calls: a small HTTP/1.1 keep-alive server standing in
//! for a member's own system. It runs as its own process (`psn-bench backend`) so that its CPU
//! time is measured apart from the proxies', and it does as little as possible so that the
//! differences between topologies are the proxies' own.

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;

/// The body of `GET /data` (about 100 bytes of JSON, like a small lookup answer).
pub const GET_BODY: &str = r#"{"nino":"QQ123456C","scheme":"free-school-meals","eligible":true,"checked":"2026-11-23","source":"bench"}"#;

/// The size of the body each `POST /data` sends.
pub const POST_BYTES: usize = 1024;

/// The body of `POST /data` for a request body of `received` bytes (about 100 bytes of JSON).
pub fn post_body(received: usize) -> String {
    format!(
        r#"{{"received":{received},"status":"accepted","scheme":"free-school-meals","reference":"bench-000001"}}"#
    )
}

/// The line the backend prints once it listens; the address follows it.
pub const READY: &str = "backend listening on ";

/// Largest request body the backend reads (the benchmark sends 1 KiB).
const MAX_BODY: usize = 1 << 20;

/// `psn-bench backend`: where to listen.
#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port (printed on standard output).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

/// Serves until killed: `GET /data`, `POST /data` (reads the whole body), `GET /healthz`.
pub async fn serve(args: Args) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{READY}http://{addr}")?;
        out.flush()?;
    }
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of descriptors or a connection reset before accept: keep serving.
            Err(_) => continue,
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(tcp), service_fn(answer))
                .await;
        });
    }
}

async fn answer(
    req: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&http::Method::GET, "/data") => (200, "application/json", Bytes::from(GET_BODY)),
        (&http::Method::POST, "/data") => {
            match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(body) => (
                    200,
                    "application/json",
                    Bytes::from(post_body(body.to_bytes().len())),
                ),
                Err(_) => (413, "text/plain", Bytes::from_static(b"body too large\n")),
            }
        }
        (&http::Method::GET, "/healthz") => (200, "text/plain", Bytes::from_static(b"ok\n")),
        _ => (404, "text/plain", Bytes::from_static(b"not found\n")),
    };
    let mut response = http::Response::new(Full::new(body));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_about_a_hundred_bytes() {
        for body in [GET_BODY.to_owned(), post_body(POST_BYTES)] {
            assert!((90..=120).contains(&body.len()), "{} bytes", body.len());
            serde_json::from_str::<serde_json::Value>(&body).expect("JSON");
        }
    }
}
