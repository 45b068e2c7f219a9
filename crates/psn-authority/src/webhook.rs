//! Members' webhooks (docs/access.md "Webhooks"): the authority tells a member of new and
//! decided access requests by POSTing a signed JSON document to the URL the member set. Each
//! delivery is first written to the outbox in the transaction of the change it announces; this
//! task sends what is due with a timeout, a bounded number at a time, and retries failures with
//! exponential backoff until it gives up, so the API never waits on a member's receiver.

use crate::store::{to_millis, DueDelivery, Store};
use psn_api::WebhookPayload;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{watch, Notify};

/// Header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`.
pub const SIGNATURE_HEADER: &str = "Psn-Signature";
/// Header carrying the delivery id, the same on every attempt (receivers drop repeats by it).
pub const DELIVERY_HEADER: &str = "Psn-Delivery";
/// Attempts before a delivery is marked failed.
pub const MAX_ATTEMPTS: u32 = 10;
/// First retry delay; doubled per attempt.
pub const RETRY_BASE: Duration = Duration::from_secs(30);
/// Longest delay between attempts.
const RETRY_CAP: Duration = Duration::from_secs(3600);
/// Longest a receiver may take to answer one delivery.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries sent at once (and claimed per round).
const CONCURRENCY: i64 = 16;
/// Longest the task sleeps before looking for due deliveries again.
const POLL: Duration = Duration::from_secs(5);
/// Longest webhook URL.
pub const MAX_URL: usize = 2000;

/// The delivery task's state, shared with the API (which wakes it after each change).
pub struct Webhooks {
    wake: Notify,
    retry_base_ms: AtomicU64,
    http: reqwest::Client,
}

impl Webhooks {
    /// A sender trusting the system's roots, following no redirects (a receiver cannot send
    /// the authority's requests elsewhere).
    pub fn new() -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(SEND_TIMEOUT)
            .connect_timeout(SEND_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            wake: Notify::new(),
            retry_base_ms: AtomicU64::new(millis(RETRY_BASE)),
            http,
        })
    }

    /// Tells the task that a delivery was queued, so it is sent now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Sets the first retry delay (tests use milliseconds, so they need not wait).
    pub fn set_retry_base(&self, base: Duration) {
        self.retry_base_ms.store(millis(base), Ordering::Relaxed);
        self.wake();
    }

    fn retry_base(&self) -> Duration {
        Duration::from_millis(self.retry_base_ms.load(Ordering::Relaxed))
    }

    /// Sends due deliveries until `stopping` becomes true.
    pub async fn run(&self, store: Arc<Store>, mut stopping: watch::Receiver<bool>) {
        loop {
            if *stopping.borrow() {
                return;
            }
            let sent = match self.round(&store).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook deliveries could not be read");
                    0
                }
            };
            if sent > 0 {
                continue;
            }
            let pause = self.retry_base().min(POLL);
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(pause) => {}
                _ = stopping.changed() => {}
            }
        }
    }

    /// Claims and sends one batch, each delivery in its own task; returns how many were
    /// attempted.
    async fn round(&self, store: &Arc<Store>) -> Result<usize, crate::store::StoreError> {
        let now = to_millis(OffsetDateTime::now_utc());
        let due = store.claim_deliveries(now, CONCURRENCY).await?;
        let count = due.len();
        let mut sends = tokio::task::JoinSet::new();
        for d in due {
            let (http, store, base) = (self.http.clone(), store.clone(), self.retry_base());
            sends.spawn(async move { attempt(&http, &store, base, &d).await });
        }
        while let Some(done) = sends.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "a webhook delivery's outcome could not be recorded")
                }
                Err(e) => tracing::error!(error = %e, "a webhook delivery task failed"),
            }
        }
        Ok(count)
    }
}

/// Sends `d` once and records the outcome: delivered, retried after a backoff, or failed.
async fn attempt(
    http: &reqwest::Client,
    store: &Store,
    base: Duration,
    d: &DueDelivery,
) -> Result<(), crate::store::StoreError> {
    match send(http, d).await {
        Ok(()) => store.delivery_attempted(&d.id, None, None).await,
        Err(error) => {
            let attempts = d.attempts.saturating_add(1);
            tracing::info!(delivery = %d.id, member = %d.member, attempts, %error, "webhook delivery failed");
            let retry = (attempts < MAX_ATTEMPTS).then(|| {
                let delay =
                    i64::try_from(backoff(base, attempts).as_millis()).unwrap_or(i64::MAX / 2);
                to_millis(OffsetDateTime::now_utc()).saturating_add(delay)
            });
            store.delivery_attempted(&d.id, retry, Some(&error)).await
        }
    }
}

/// POSTs the signed payload; `Err` with the reason unless the receiver answers 2xx.
async fn send(http: &reqwest::Client, d: &DueDelivery) -> Result<(), String> {
    let now = OffsetDateTime::now_utc();
    let payload = payload_of(d, now)?;
    let body = serde_json::to_vec(&payload).map_err(|e| e.to_string())?;
    let signature = signature_header(&d.secret, now.unix_timestamp(), &body);
    let response = http
        .post(&d.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature)
        .header(DELIVERY_HEADER, &d.id)
        .body(body)
        .send()
        .await
        .map_err(|e| psn_core::problem::error_chain(&e))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered HTTP {}", response.status()))
    }
}

/// The document `d` delivers: an access request's, or a compliance reminder's certificate and
/// stage, as stored in the outbox.
fn payload_of(d: &DueDelivery, now: OffsetDateTime) -> Result<WebhookPayload, String> {
    let mut payload = WebhookPayload {
        event: d.event.clone(),
        request: None,
        certificate: None,
        reminder: None,
        delivered_at: now,
    };
    if d.event.starts_with("compliance.") {
        #[derive(serde::Deserialize)]
        struct Reminder {
            certificate: psn_api::ComplianceCertificate,
            reminder: String,
        }
        let r: Reminder = serde_json::from_value(d.request.clone()).map_err(|e| e.to_string())?;
        payload.certificate = Some(r.certificate);
        payload.reminder = Some(r.reminder);
    } else {
        payload.request =
            Some(serde_json::from_value(d.request.clone()).map_err(|e| e.to_string())?);
    }
    Ok(payload)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The delay after the `attempts`-th failure: `base` doubled per earlier failure, capped.
pub fn backoff(base: Duration, attempts: u32) -> Duration {
    let factor = 1u32 << attempts.saturating_sub(1).min(20);
    base.saturating_mul(factor).min(RETRY_CAP)
}

/// `t=<unix>,v1=<hex>`: HMAC-SHA256, keyed with the secret's UTF-8 bytes, over `t.body`.
pub fn signature_header(secret: &str, unix: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(unix.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    format!("t={unix},v1={}", psn_core::encoding::hex(tag.as_ref()))
}

/// A fresh signing secret: `whsec_` and 32 random bytes, base64url.
pub fn new_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| "random number generator failed".to_owned())?;
    Ok(format!("whsec_{}", psn_core::encoding::b64url(&bytes)))
}

/// Checks a webhook URL: `https://`, or `http://` to a loopback address only (for trying it
/// out on one machine); no credentials, no fragment, at most [`MAX_URL`] characters.
pub fn validate_url(text: &str) -> Result<(), String> {
    if text.len() > MAX_URL || text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "a webhook URL has at most {MAX_URL} characters and no spaces or control characters"
        ));
    }
    let url =
        reqwest::Url::parse(text).map_err(|e| format!("the webhook URL is not a URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "a webhook URL must not carry credentials; deliveries are signed instead".into(),
        );
    }
    if url.fragment().is_some() {
        return Err("a webhook URL has no fragment (#...)".into());
    }
    let Some(host) = url.host_str() else {
        return Err("the webhook URL names no host".into());
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("a webhook URL must be https:// (http:// is allowed only to a loopback address, for testing)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_https_or_loopback_http_without_credentials() {
        for good in [
            "https://hooks.kent.gov.uk/psn",
            "http://127.0.0.1:9000/x",
            "http://[::1]:8/",
            "http://localhost/x",
        ] {
            assert_eq!(validate_url(good), Ok(()), "{good}");
        }
        for bad in [
            "http://hooks.kent.gov.uk/",
            "ftp://x/",
            "https://u:p@x/",
            "https://x/#f",
            "https://x/ y",
            "not a url",
            &format!("https://x/{}", "a".repeat(MAX_URL)),
        ] {
            assert!(validate_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_secs(30);
        assert_eq!(backoff(base, 1), base);
        assert_eq!(backoff(base, 2), base * 2);
        assert_eq!(backoff(base, 4), base * 8);
        assert_eq!(backoff(base, 40), RETRY_CAP);
    }

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231 does not cover this framing; compare with ring's one-shot HMAC instead.
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"whsec_k");
        let tag = ring::hmac::sign(&key, b"1700000000.{}");
        assert_eq!(
            signature_header("whsec_k", 1_700_000_000, b"{}"),
            format!("t=1700000000,v1={}", psn_core::encoding::hex(tag.as_ref()))
        );
    }
}
