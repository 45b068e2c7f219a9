//! Single HTTP/1.1 requests outside the load: readiness checks and the warm-up that proves each
//! topology answers correctly before it is measured (a fast proxy returning errors is not fast).

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::time::{Duration, Instant};

/// A status and body.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The whole body, as text (lossy).
    pub body: String,
}

/// Sends one request to `url` (`http://host:port/path`) on a fresh connection, bounded by
/// `timeout`.
pub async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Bytes,
    timeout: Duration,
) -> anyhow::Result<Answer> {
    tokio::time::timeout(timeout, send_inner(method, url, headers, body))
        .await
        .map_err(|_| anyhow::anyhow!("{method} {url}: no answer within {timeout:?}"))?
        .with_context(|| format!("{method} {url}"))
}

async fn send_inner(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> anyhow::Result<Answer> {
    let uri: http::Uri = url.parse().context("not a URL")?;
    if uri.scheme_str() != Some("http") {
        bail!("only http:// URLs are probed");
    }
    let authority = uri.authority().context("no host:port")?.clone();
    let port = authority.port_u16().unwrap_or(80);
    let tcp = tokio::net::TcpStream::connect((authority.host(), port))
        .await
        .context("connect")?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .context("HTTP handshake")?;
    tokio::spawn(connection);
    let mut request = http::Request::builder()
        .method(method)
        .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(http::header::HOST, authority.as_str());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(body))
        .context("building the request")?;
    let response = sender.send_request(request).await.context("sending")?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .context("reading the body")?
        .to_bytes();
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Waits up to `timeout` for `GET url` to answer 200; the last failure is the error.
pub async fn wait_ok(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match send("GET", url, &[], Bytes::new(), Duration::from_secs(2)).await {
            Ok(a) if a.status == 200 => return Ok(()),
            Ok(a) => anyhow::anyhow!("GET {url}: {} {}", a.status, a.body.trim()),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            return Err(last.context(format!("not ready within {} s", timeout.as_secs())));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits up to `timeout` until a TCP connection to `addr` succeeds.
pub async fn wait_listening(addr: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(e).with_context(|| format!("nothing listens on {addr}"))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
