//! Calls on federation: an operator's anchor and partners, and one authority following a
//! partner authority's view of it.

use super::{AuthorityClient, ClientError};
use crate::federation::{
    AnchorIssued, AnchorRenewal, ExportPolicy, ForwardedAggregates, PartnerImport, PartnerList,
    PartnerView, MAX_FORWARDED_BYTES,
};
use psn_core::names::NetworkId;
use psn_core::problem::error_chain;
use reqwest::{Method, StatusCode};
use std::time::Duration;

/// The answer to a view poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewFetch {
    /// Nothing newer than the version held.
    NotModified,
    /// A signed view, still to be verified by the caller.
    View(String),
}

/// The scheme of the `Authorization` header a partner authority sends: its signed request.
pub const FEDERATION_AUTH_SCHEME: &str = "PSN-Federation";

impl AuthorityClient {
    /// A partner authority's client: trusts only the partner's CA (from the anchor imported)
    /// and authenticates each request with a signed assertion.
    pub fn partner(base: &str, partner_ca_der: &[u8]) -> Result<Self, ClientError> {
        let tls =
            psn_pki::client_config(partner_ca_der, None).map_err(|e| Self::tls_error(base, e))?;
        Self::build(base, tls, None)
    }

    /// This network's signed anchor, valid for `valid_days` (operators).
    pub async fn federation_anchor(&self, valid_days: u32) -> Result<AnchorIssued, ClientError> {
        self.json(
            self.request(Method::GET, "/v1/federation/anchor")
                .query(&[("valid_days", valid_days)]),
        )
        .await
    }

    /// Imports a partner's anchor (operators).
    pub async fn import_partner(&self, import: &PartnerImport) -> Result<PartnerView, ClientError> {
        self.post("/v1/federation/partners", import).await
    }

    /// Every partner with its freshness (operators).
    pub async fn partners(&self) -> Result<PartnerList, ClientError> {
        self.get("/v1/federation/partners").await
    }

    /// One partner (operators).
    pub async fn partner_view(&self, network: &NetworkId) -> Result<PartnerView, ClientError> {
        self.get(&format!("/v1/federation/partners/{network}"))
            .await
    }

    /// Replaces what this network exports to a partner (operators).
    pub async fn set_export_policy(
        &self,
        network: &NetworkId,
        policy: &ExportPolicy,
    ) -> Result<PartnerView, ClientError> {
        self.json(
            self.request(
                Method::PUT,
                &format!("/v1/federation/partners/{network}/policy"),
            )
            .json(policy),
        )
        .await
    }

    /// Replaces a partner's anchor with a newer one (operators).
    pub async fn renew_partner_anchor(
        &self,
        network: &NetworkId,
        renewal: &AnchorRenewal,
    ) -> Result<PartnerView, ClientError> {
        self.json(
            self.request(
                Method::PUT,
                &format!("/v1/federation/partners/{network}/anchor"),
            )
            .json(renewal),
        )
        .await
    }

    /// Ends the federation with a partner (operators).
    pub async fn remove_partner(&self, network: &NetworkId) -> Result<PartnerView, ClientError> {
        self.json(self.request(
            Method::DELETE,
            &format!("/v1/federation/partners/{network}"),
        ))
        .await
    }

    /// The view the partner exports to this network, newer than `from`, holding the request up
    /// to `wait` for one (long poll). `assertion` is this network's signed request. An answer
    /// over `max_len` bytes is refused as it arrives, never held whole.
    pub async fn federation_view(
        &self,
        assertion: &str,
        from: Option<u64>,
        wait: Duration,
        max_len: usize,
    ) -> Result<ViewFetch, ClientError> {
        let mut req = self
            .request(Method::GET, "/v1/federation/view")
            .header(
                reqwest::header::AUTHORIZATION,
                format!("{FEDERATION_AUTH_SCHEME} {assertion}"),
            )
            .query(&[("wait", wait.as_secs())])
            .timeout(wait + Duration::from_secs(15));
        if let Some(from) = from {
            req = req.query(&[("from", from)]);
        }
        let resp = self.send(req).await?;
        if resp.status() == StatusCode::NOT_MODIFIED {
            return Ok(ViewFetch::NotModified);
        }
        let body = self.bounded_body(resp, max_len).await?;
        String::from_utf8(body)
            .map(ViewFetch::View)
            .map_err(|_| ClientError::Unexpected("the view is not UTF-8 text".into()))
    }

    /// The aggregates the partner forwards about exchanges with this network, after outbox
    /// entry `after` (the last one stored here). `assertion` is this network's signed request.
    pub async fn federation_aggregates(
        &self,
        assertion: &str,
        after: u64,
    ) -> Result<ForwardedAggregates, ClientError> {
        let req = self
            .request(Method::GET, "/v1/federation/aggregates")
            .header(
                reqwest::header::AUTHORIZATION,
                format!("{FEDERATION_AUTH_SCHEME} {assertion}"),
            )
            .query(&[("after", after)]);
        let resp = self.send(req).await?;
        let body = self.bounded_body(resp, MAX_FORWARDED_BYTES).await?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Unexpected(e.to_string()))
    }

    /// A partner's answer, read up to `max` bytes: a partner is another organisation's server,
    /// and what it sends is bounded before it is held.
    async fn bounded_body(
        &self,
        mut resp: reqwest::Response,
        max: usize,
    ) -> Result<Vec<u8>, ClientError> {
        let over = || ClientError::Unexpected(format!("the partner's answer is over {max} bytes"));
        if resp.content_length().is_some_and(|n| n > max as u64) {
            return Err(over());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| ClientError::Transport {
            url: self.base.clone(),
            reason: error_chain(&e),
        })? {
            if body.len() + chunk.len() > max {
                return Err(over());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}
