//! Sample backends standing in for members' own systems (outside psn): a free-school-meals
//! eligibility check and a payroll service. They echo the PSN headers they receive so a demo
//! user can see what a provider's backend learns about each call.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Which sample backend.
#[derive(Debug, Clone, Copy)]
pub enum Sample {
    /// Department for Education: free school meals eligibility (LGSL 4).
    FreeSchoolMeals,
    /// County council payroll hub (LGSL 979).
    Payroll,
}

/// Starts a backend on an ephemeral loopback port; returns its base URL.
pub async fn start(sample: Sample) -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service =
                    service_fn(
                        move |req| async move { Ok::<_, Infallible>(answer(sample, req).await) },
                    );
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    Ok((format!("http://{addr}"), task))
}

fn header(req: &Request<Incoming>, name: &str) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn json(status: StatusCode, value: serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(value.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

async fn answer(sample: Sample, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let seen = serde_json::json!({
        "client": header(&req, "psn-client"),
        "message_id": header(&req, "psn-message-id"),
        "purpose": header(&req, "psn-purpose"),
    });
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let method = req.method().clone();
    match (sample, method.as_str(), path.as_str()) {
        (_, "GET", "/healthz") => json(StatusCode::OK, serde_json::json!({ "status": "ok" })),
        (Sample::FreeSchoolMeals, "GET", "/check") => {
            let nino = query
                .split('&')
                .find_map(|p| p.strip_prefix("nino="))
                .unwrap_or_default()
                .to_owned();
            let valid = nino.len() == 9
                && nino.bytes().take(2).all(|b| b.is_ascii_uppercase())
                && nino[2..8].bytes().all(|b| b.is_ascii_digit());
            if !valid {
                return json(
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({ "error": "nino must look like QQ123456C" }),
                );
            }
            let eligible = nino.as_bytes()[7] % 2 == 0;
            json(
                StatusCode::OK,
                serde_json::json!({
                    "nino": nino,
                    "eligible": eligible,
                    "benefit": if eligible { "Universal Credit (earnings under threshold)" } else { "none found" },
                    "checked_by": "Department for Education eligibility checking service (demo backend)",
                    "psn": seen,
                }),
            )
        }
        (Sample::Payroll, "GET", p) if p.starts_with("/employees/") && p.ends_with("/payslip") => {
            let employee = p
                .trim_start_matches("/employees/")
                .trim_end_matches("/payslip");
            json(
                StatusCode::OK,
                serde_json::json!({
                    "employee": employee,
                    "period": "2026-11",
                    "gross_pence": 254_166,
                    "net_pence": 198_342,
                    "provider": "Hampshire County Council payroll hub (demo backend)",
                    "psn": seen,
                }),
            )
        }
        (Sample::Payroll, "POST", "/runs") => {
            let bytes = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes().len())
                .unwrap_or(0);
            json(
                StatusCode::CREATED,
                serde_json::json!({ "run": "2026-11-A", "received_bytes": bytes, "psn": seen }),
            )
        }
        _ => json(
            StatusCode::NOT_FOUND,
            serde_json::json!({ "error": format!("no {method} {path} here") }),
        ),
    }
}
