//! A typed client for the authority API. Operators authenticate with a bearer token, gateways
//! with their certificate, enrolling gateways with nothing but the pin in their token.

use crate::catalogue::*;
use crate::types::*;
use psn_core::aggregate::{AggregateBatch, AggregateCursor};
use psn_core::checkpoint::Checkpoint;
use psn_core::config_delta::ConfigDelta;
use psn_core::names::{GatewayId, MemberId, ServiceId};
use psn_core::problem::{error_chain, Problem, ProblemType};
use psn_core::sla::SlaDeclaration;
use psn_pki::TlsIdentity;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

mod access;
mod benchmarks;
mod compliance;
mod documents;
mod federation;
mod people;

pub use documents::FetchedText;
pub use federation::{ViewFetch, FEDERATION_AUTH_SCHEME};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The authority refused the request and said why.
    #[error("authority refused the request: {0}")]
    Problem(Box<Problem>),
    /// The authority could not be reached or the connection failed (TLS included).
    #[error("cannot reach the authority at {url}: {reason}")]
    Transport { url: String, reason: String },
    /// The authority answered with something this client does not understand.
    #[error("unexpected answer from the authority: {0}")]
    Unexpected(String),
}

impl ClientError {
    /// The problem type, when the authority sent one.
    pub fn problem_type(&self) -> Option<ProblemType> {
        match self {
            ClientError::Problem(p) => p.kind(),
            _ => None,
        }
    }
}

/// The result of a conditional configuration fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigFetch {
    /// Nothing newer than the version named by the ETag.
    NotModified,
    /// A configuration document (its head and entries still to be verified by the caller) and
    /// its ETag.
    Document {
        document: String,
        etag: Option<String>,
    },
}

/// The result of a delta fetch (DESIGN.md "delta at scale").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaFetch {
    /// Nothing newer than the version the caller holds.
    NotModified,
    /// The changes to a later version, to be applied and checked against that version's
    /// signature by the caller.
    Delta(Box<ConfigDelta>),
    /// The authority holds no delta from that version (older than it keeps, or published by
    /// another authority process): fetch the whole document.
    Unavailable,
}

/// How a client repeats a request that is safe to repeat (`GET` and `HEAD`: they change
/// nothing) when the authority is briefly unavailable: it answered `503` (its database
/// restarting, say) or could not be connected to. Each wait is twice the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retries {
    /// Attempts in all, the first included (1: no retry).
    pub attempts: u32,
    /// The wait before the second attempt.
    pub first_wait: Duration,
}

impl Retries {
    /// No retry: the default, for gateways, whose own loops pace their retries.
    pub const NONE: Retries = Retries {
        attempts: 1,
        first_wait: Duration::ZERO,
    };

    /// The command line's: five attempts over 7.5 s (waits of 0.5, 1, 2 and 4 s), long enough
    /// for a database restart, short enough that a person is not left waiting on an outage.
    pub const COMMAND_LINE: Retries = Retries {
        attempts: 5,
        first_wait: Duration::from_millis(500),
    };

    /// The waits before each retry.
    fn waits(self) -> impl Iterator<Item = Duration> {
        std::iter::successors(Some(self.first_wait), |wait| Some(*wait * 2))
            .take(self.attempts.saturating_sub(1) as usize)
    }
}

/// Client for one authority endpoint.
#[derive(Clone, Debug)]
pub struct AuthorityClient {
    http: reqwest::Client,
    base: String,
    bearer: Option<String>,
    retries: Retries,
    /// The authority's clock minus this machine's, read from the `Date` of its last answer
    /// (`psn_core::clock`); shared by the client's clones.
    clock_offset: std::sync::Arc<std::sync::Mutex<Option<time::Duration>>>,
}

const USER_AGENT: &str = concat!("psn/", env!("CARGO_PKG_VERSION"));

impl AuthorityClient {
    fn build(
        base: &str,
        tls: rustls::ClientConfig,
        bearer: Option<String>,
    ) -> Result<Self, ClientError> {
        // Keepalive probes find a pooled connection that a partition cut silently (nothing
        // closes it) within 15 + 3 × 5 s of quiet, rather than a request waiting out its
        // timeout on it; the next request then connects afresh.
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(Duration::from_secs(10))
            .tcp_keepalive(Duration::from_secs(15))
            .tcp_keepalive_interval(Duration::from_secs(5))
            .tcp_keepalive_retries(3)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| ClientError::Transport {
                url: base.into(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            bearer,
            retries: Retries::NONE,
            clock_offset: Default::default(),
        })
    }

    /// The authority's clock minus this machine's, as the last answer's `Date` showed it (to
    /// the second, and late by the answer's time on the wire); none before an answer with one.
    pub fn clock_offset(&self) -> Option<time::Duration> {
        self.clock_offset.lock().ok().and_then(|offset| *offset)
    }

    /// Notes the authority's clock from an answer's `Date`.
    fn note_clock(&self, response: &reqwest::Response) {
        let date = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(psn_core::clock::parse_http_date);
        if let (Some(date), Ok(mut offset)) = (date, self.clock_offset.lock()) {
            *offset = Some(date - time::OffsetDateTime::now_utc());
        }
    }

    /// This client, repeating safe requests as `retries` says when the authority is briefly
    /// unavailable.
    pub fn with_retries(mut self, retries: Retries) -> Self {
        self.retries = retries;
        self
    }

    fn tls_error(base: &str, e: psn_pki::PkiError) -> ClientError {
        ClientError::Transport {
            url: base.into(),
            reason: e.to_string(),
        }
    }

    /// An operator's client: trusts the network CA, authenticates with the operator token.
    pub fn operator(base: &str, ca_der: &[u8], token: &str) -> Result<Self, ClientError> {
        let tls = psn_pki::client_config(ca_der, None).map_err(|e| Self::tls_error(base, e))?;
        Self::build(base, tls, Some(token.to_owned()))
    }

    /// A gateway's client: trusts the network CA and presents the gateway certificate.
    pub fn gateway(base: &str, ca_der: &[u8], identity: TlsIdentity) -> Result<Self, ClientError> {
        let tls =
            psn_pki::client_config(ca_der, Some(identity)).map_err(|e| Self::tls_error(base, e))?;
        Self::build(base, tls, None)
    }

    /// An enrolling gateway's client: trusts only a CA whose key matches the token's pin.
    pub fn enrolment(base: &str, ca_pin: &str) -> Result<Self, ClientError> {
        let tls = psn_pki::pinned_client_config(ca_pin).map_err(|e| Self::tls_error(base, e))?;
        Self::build(base, tls, None)
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.bearer {
            req = req.bearer_auth(token);
        }
        req.timeout(Duration::from_secs(120))
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
        self.send_accepting(req, &[]).await
    }

    /// Like `send`, but also hands back responses with one of the `expected` error statuses
    /// (an endpoint that answers a refusal with a body of its own, not a problem).
    async fn send_accepting(
        &self,
        req: reqwest::RequestBuilder,
        expected: &[StatusCode],
    ) -> Result<reqwest::Response, ClientError> {
        let resp = self
            .send_retrying(req)
            .await
            .map_err(|e| ClientError::Transport {
                url: self.base.clone(),
                reason: error_chain(&e),
            })?;
        if resp.status().is_success()
            || resp.status() == StatusCode::NOT_MODIFIED
            || expected.contains(&resp.status())
        {
            return Ok(resp);
        }
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        match serde_json::from_slice::<Problem>(&body) {
            Ok(problem) => Err(ClientError::Problem(Box::new(problem))),
            Err(_) => Err(ClientError::Unexpected(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ))),
        }
    }

    /// Sends `req`, and sends it again after each of [`Retries::waits`] while the authority is
    /// unavailable, if it is safe to repeat; the last answer or failure otherwise.
    async fn send_retrying(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut request = req.build()?;
        let safe = matches!(*request.method(), Method::GET | Method::HEAD);
        let mut waits = self.retries.waits().filter(|_| safe);
        loop {
            let spare = request.try_clone();
            let outcome = self.http.execute(request).await;
            if let Ok(response) = &outcome {
                self.note_clock(response);
            }
            let unavailable = match &outcome {
                Ok(resp) => resp.status() == StatusCode::SERVICE_UNAVAILABLE,
                Err(e) => e.is_connect(),
            };
            let (Some(again), Some(wait), true) = (spare, waits.next(), unavailable) else {
                return outcome;
            };
            tracing::warn!(
                url = %again.url(),
                retry_in = ?wait,
                "the authority is unavailable; trying again"
            );
            tokio::time::sleep(wait).await;
            request = again;
        }
    }

    async fn json<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let resp = self.send(req).await?;
        self.decode(resp).await
    }

    async fn decode<T: DeserializeOwned>(&self, resp: reqwest::Response) -> Result<T, ClientError> {
        let bytes = resp.bytes().await.map_err(|e| ClientError::Transport {
            url: self.base.clone(),
            reason: error_chain(&e),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Unexpected(e.to_string()))
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.json(self.request(Method::POST, path).json(body)).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.json(self.request(Method::GET, path)).await
    }

    /// Liveness and the latest configuration version.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get("/v1/health").await
    }

    /// Registers one member.
    pub async fn add_member(&self, member: &NewMember) -> Result<MemberChanged, ClientError> {
        self.post("/v1/members", member).await
    }

    /// Registers many members in one transaction; existing ones are reported, not changed.
    pub async fn import_members(
        &self,
        request: &ImportRequest,
    ) -> Result<ImportReport, ClientError> {
        self.post("/v1/members/import", request).await
    }

    /// Lists members matching the query.
    pub async fn list_members(&self, query: &MemberQuery) -> Result<MemberList, ClientError> {
        self.json(self.request(Method::GET, "/v1/members").query(query))
            .await
    }

    /// One member with its subsystems and gateways.
    pub async fn member(&self, id: &MemberId) -> Result<MemberView, ClientError> {
        self.get(&format!("/v1/members/{id}")).await
    }

    /// Suspends a member: its gateways leave the next configuration.
    pub async fn suspend_member(
        &self,
        id: &MemberId,
        change: &StatusChange,
    ) -> Result<MemberChanged, ClientError> {
        self.post(&format!("/v1/members/{id}/suspend"), change)
            .await
    }

    /// Reinstates a suspended member.
    pub async fn reinstate_member(
        &self,
        id: &MemberId,
        change: &StatusChange,
    ) -> Result<MemberChanged, ClientError> {
        self.post(&format!("/v1/members/{id}/reinstate"), change)
            .await
    }

    /// Adds a subsystem to a member.
    pub async fn add_subsystem(
        &self,
        member: &MemberId,
        subsystem: &NewSubsystem,
    ) -> Result<SubsystemAdded, ClientError> {
        self.post(&format!("/v1/members/{member}/subsystems"), subsystem)
            .await
    }

    /// Creates a one-time enrolment token.
    pub async fn create_token(&self, request: &TokenRequest) -> Result<TokenIssued, ClientError> {
        self.post("/v1/tokens", request).await
    }

    /// Revokes a gateway and all its certificates.
    pub async fn revoke_gateway(&self, id: &GatewayId) -> Result<GatewayRevoked, ClientError> {
        let (member, code) = (id.member(), id.code());
        self.post(
            &format!("/v1/members/{member}/gateways/{code}/revoke"),
            &StatusChange::default(),
        )
        .await
    }

    /// The administrative audit trail after `after`.
    pub async fn events(&self, after: u64, limit: u64) -> Result<AdminEventList, ClientError> {
        self.json(
            self.request(Method::GET, "/v1/events")
                .query(&[("after", after), ("limit", limit)]),
        )
        .await
    }

    /// The member classes of the network.
    pub async fn classes(&self) -> Result<ClassList, ClientError> {
        self.get("/v1/classes").await
    }

    /// Fetches the signed configuration. With an ETag, answers `NotModified` when nothing is
    /// newer; with `wait`, the authority holds the request open until a newer version exists or
    /// the wait ends (long poll).
    pub async fn config(
        &self,
        etag: Option<&str>,
        wait: Option<Duration>,
    ) -> Result<ConfigFetch, ClientError> {
        let mut req = self.request(Method::GET, "/v1/config");
        if let Some(etag) = etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        if let Some(wait) = wait {
            req = req
                .query(&[("wait", wait.as_secs())])
                .timeout(wait + Duration::from_secs(30));
        }
        let resp = self.send(req).await?;
        if resp.status() == StatusCode::NOT_MODIFIED {
            return Ok(ConfigFetch::NotModified);
        }
        let etag = resp
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let document = resp.text().await.map_err(|e| ClientError::Transport {
            url: self.base.clone(),
            reason: error_chain(&e),
        })?;
        Ok(ConfigFetch::Document { document, etag })
    }

    /// Fetches the changes from version `from` to the latest. With `wait`, the authority holds
    /// the request open until a newer version exists or the wait ends (long poll).
    pub async fn config_delta(
        &self,
        from: u64,
        wait: Option<Duration>,
    ) -> Result<DeltaFetch, ClientError> {
        let mut req = self
            .request(Method::GET, "/v1/config/delta")
            .query(&[("from", from)]);
        if let Some(wait) = wait {
            req = req
                .query(&[("wait", wait.as_secs())])
                .timeout(wait + Duration::from_secs(30));
        }
        let resp = match self.send(req).await {
            Err(e) if e.problem_type() == Some(ProblemType::NotFound) => {
                return Ok(DeltaFetch::Unavailable)
            }
            other => other?,
        };
        if resp.status() == StatusCode::NOT_MODIFIED {
            return Ok(DeltaFetch::NotModified);
        }
        let bytes = resp.bytes().await.map_err(|e| ClientError::Transport {
            url: self.base.clone(),
            reason: error_chain(&e),
        })?;
        serde_json::from_slice(&bytes)
            .map(|delta| DeltaFetch::Delta(Box::new(delta)))
            .map_err(|e| ClientError::Unexpected(format!("configuration delta: {e}")))
    }

    /// A specific configuration version, for audit history.
    pub async fn config_version(&self, version: u64) -> Result<String, ClientError> {
        let resp = self
            .send(self.request(Method::GET, &format!("/v1/config/{version}")))
            .await?;
        resp.text().await.map_err(|e| ClientError::Transport {
            url: self.base.clone(),
            reason: error_chain(&e),
        })
    }

    /// Enrols a gateway with a token and signing request.
    pub async fn enrol(&self, request: &EnrolRequest) -> Result<EnrolResponse, ClientError> {
        self.post("/v1/enrol", request).await
    }

    /// Renews the calling gateway's certificate.
    pub async fn renew(&self, request: &RenewRequest) -> Result<RenewResponse, ClientError> {
        self.post("/v1/gateway/renew", request).await
    }

    /// Publishes (or replaces) a listing of one of the calling gateway's member's services.
    pub async fn publish_service(&self, listing: &ServiceListing) -> Result<Health, ClientError> {
        self.post("/v1/gateway/services", listing).await
    }

    /// Withdraws a service listing and its grants.
    pub async fn withdraw_service(&self, service: &ServiceRef) -> Result<Health, ClientError> {
        self.post("/v1/gateway/services/remove", service).await
    }

    /// Declares (or replaces) the SLA of one of the calling gateway's member's services.
    pub async fn declare_sla(&self, sla: &SlaDeclaration) -> Result<SlaList, ClientError> {
        self.post("/v1/gateway/services/sla", sla).await
    }

    /// Withdraws a service's SLA declaration.
    pub async fn withdraw_sla(&self, service: &ServiceRef) -> Result<SlaList, ClientError> {
        self.post("/v1/gateway/services/sla/remove", service).await
    }

    /// Every SLA declaration in the network (operators and gateways may read them).
    pub async fn slas(&self) -> Result<SlaList, ClientError> {
        self.get("/v1/slas").await
    }

    /// Where the calling gateway's next aggregate batch must start in its audit log.
    pub async fn aggregate_cursor(&self) -> Result<AggregateCursor, ClientError> {
        self.get("/v1/gateway/aggregates/cursor").await
    }

    /// Delivers one batch of the calling gateway's aggregates. The authority stores it only if
    /// it starts at its cursor (a `conflict` problem otherwise), so a retried batch is never
    /// counted twice.
    pub async fn push_aggregates(
        &self,
        batch: &AggregateBatch,
    ) -> Result<AggregateCursor, ClientError> {
        self.post("/v1/gateway/aggregates", batch).await
    }

    /// Hands the authority the calling gateway's latest checkpoint (its latest durable seal);
    /// answers with the one it holds. Refused (`conflict`) if it is behind the one held or
    /// another seal at the same position, and (`invalid-request`) if it does not verify; either
    /// way the held one stays (docs/audit.md "Checkpoints").
    pub async fn push_checkpoint(
        &self,
        checkpoint: &Checkpoint,
    ) -> Result<Checkpoint, ClientError> {
        self.json(
            self.request(Method::PUT, "/v1/gateway/checkpoint")
                .json(checkpoint),
        )
        .await
    }

    /// The checkpoint the authority holds for the calling gateway (`not-found` before its first).
    pub async fn own_checkpoint(&self) -> Result<Checkpoint, ClientError> {
        self.get("/v1/gateway/checkpoint").await
    }

    /// The checkpoint the authority holds for a gateway (operators; `not-found` if none).
    pub async fn gateway_checkpoint(&self, id: &GatewayId) -> Result<Checkpoint, ClientError> {
        let (member, code) = (id.member(), id.code());
        self.get(&format!("/v1/members/{member}/gateways/{code}/checkpoint"))
            .await
    }

    /// Every gateway's aggregate delivery: cursor, batches and records accepted (operators).
    pub async fn aggregate_deliveries(&self) -> Result<AggregateDeliveryList, ClientError> {
        self.get("/v1/aggregates/gateways").await
    }

    /// A page of the network's gateways with the configuration each holds (operators).
    pub async fn gateways(&self, limit: u64, offset: u64) -> Result<GatewayList, ClientError> {
        self.json(
            self.request(Method::GET, "/v1/gateways")
                .query(&[("limit", limit), ("offset", offset)]),
        )
        .await
    }

    /// A listing with its declared and measured service level (operators and gateways).
    pub async fn catalogue_entry(
        &self,
        service: &ServiceId,
    ) -> Result<CatalogueEntry, ClientError> {
        self.get(&format!("/v1/catalogue/services/{service}")).await
    }

    /// A page of catalogue search results with facet counts (operators and gateways).
    pub async fn search(&self, request: &SearchRequest) -> Result<SearchResults, ClientError> {
        let pairs = request.to_pairs();
        self.json(
            self.request(Method::GET, "/v1/catalogue/search")
                .query(&pairs),
        )
        .await
    }

    /// Who provides and who consumes a process through the network (operators and gateways).
    pub async fn process_partners(&self, process: &str) -> Result<ProcessPartners, ClientError> {
        self.json(
            self.request(Method::GET, "/v1/catalogue/partners")
                .query(&[("process", process)]),
        )
        .await
    }

    /// A member's processes and who else could serve them (operators and gateways).
    pub async fn member_partners(&self, member: &MemberId) -> Result<MemberPartners, ClientError> {
        self.json(
            self.request(Method::GET, "/v1/catalogue/partners")
                .query(&[("member", member.to_string())]),
        )
        .await
    }

    /// SLA attainment and breaches over a period (operators and gateways).
    pub async fn sla_report(&self, query: &SlaReportQuery) -> Result<SlaReport, ClientError> {
        self.json(self.request(Method::GET, "/v1/slas/report").query(query))
            .await
    }

    /// Processes of the catalogue's taxonomy matching a search, best first.
    pub async fn processes(&self, query: &ProcessQuery) -> Result<ProcessList, ClientError> {
        self.json(self.request(Method::GET, "/v1/processes").query(query))
            .await
    }

    /// One process of the taxonomy by identifier (`lgsl:57`, `psn:1001`).
    pub async fn process(&self, id: &str) -> Result<ProcessView, ClientError> {
        self.get(&format!("/v1/processes/{}", encode_segment(id)))
            .await
    }

    /// The grants on the calling gateway's member's services.
    pub async fn grants(&self) -> Result<GrantList, ClientError> {
        self.get("/v1/gateway/grants").await
    }

    /// Grants access to one of the calling member's services.
    pub async fn grant(&self, grant: &NewGrant) -> Result<GrantList, ClientError> {
        self.post("/v1/gateway/grants", grant).await
    }

    /// Withdraws a grant.
    pub async fn revoke_grant(&self, grant: &GrantRef) -> Result<GrantList, ClientError> {
        self.post("/v1/gateway/grants/revoke", grant).await
    }

    /// Tells the authority the calling gateway's peer-facing address.
    pub async fn set_address(&self, update: &AddressUpdate) -> Result<Health, ClientError> {
        self.json(
            self.request(Method::PUT, "/v1/gateway/address")
                .json(update),
        )
        .await
    }
}

/// Percent-encodes a value for one path segment, so an identifier typed by a person (`/`, `?`,
/// spaces) cannot change which endpoint is called; `:` stays, as identifiers use it.
fn encode_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_waits_twice_as_long_each_time() {
        let waits: Vec<_> = Retries::COMMAND_LINE.waits().collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(waits, vec![ms(500), ms(1_000), ms(2_000), ms(4_000)]);
        assert_eq!(Retries::NONE.waits().count(), 0);
        let never = Retries {
            attempts: 0,
            first_wait: ms(1),
        };
        assert_eq!(never.waits().count(), 0);
    }
}
