//! Plain HTTP/1.1 GETs to a gateway's internal listener (`/livez`, `/metrics`) on loopback.

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;

/// Longest a GET to a local gateway may take: it answers these from memory.
const TIMEOUT: Duration = Duration::from_secs(10);

/// `GET path` at `addr`: the status and the body as text.
pub async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    tokio::time::timeout(TIMEOUT, get_inner(addr, path))
        .await
        .with_context(|| format!("GET http://{addr}{path} took over {TIMEOUT:?}"))?
}

async fn get_inner(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .with_context(|| format!("HTTP/1.1 with {addr}"))?;
    let driver = tokio::spawn(connection);
    let request = http::Request::get(path)
        .header(http::header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())
        .with_context(|| format!("a GET request for {path:?}"))?;
    let response = sender
        .send_request(request)
        .await
        .with_context(|| format!("GET http://{addr}{path}"))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .with_context(|| format!("reading http://{addr}{path}"))?
        .to_bytes();
    driver.abort();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The value of an unlabelled gauge or counter in Prometheus text exposition, e.g.
/// `psn_gateway_config_version 42`.
pub fn metric_value(exposition: &str, name: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let value = rest.strip_prefix(' ')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::metric_value;

    #[test]
    fn finds_an_unlabelled_metric_and_not_its_prefixes() {
        let text = "# HELP psn_gateway_config_version Version\n\
                    # TYPE psn_gateway_config_version gauge\n\
                    psn_gateway_config_version_other 3\n\
                    psn_gateway_config_version 42\n";
        assert_eq!(metric_value(text, "psn_gateway_config_version"), Some(42.0));
        assert_eq!(metric_value(text, "psn_gateway_missing"), None);
        assert_eq!(metric_value("psn_x not-a-number", "psn_x"), None);
    }
}
