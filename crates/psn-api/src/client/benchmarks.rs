//! Calls on benchmarks (docs/benchmarks.md): definitions, reports, peers and returns for
//! operators and gateways; submitting returns and saving peer groups for a member's gateway.

use super::{AuthorityClient, ClientError, FetchedText};
use crate::benchmarks::{
    BenchmarkReport, MetricSet, PeerGroupList, PeerGroupSet, PeerGroupView, PeerList, PeerModel,
    ReportRequest, ReturnList, SubmitOutcome,
};
use psn_core::names::MemberId;
use reqwest::{Method, StatusCode};

impl AuthorityClient {
    /// The published metric definitions.
    pub async fn benchmark_metrics(&self) -> Result<MetricSet, ClientError> {
        self.get("/v1/benchmarks/metrics").await
    }

    /// The published peer model.
    pub async fn peer_model(&self) -> Result<PeerModel, ClientError> {
        self.get("/v1/benchmarks/model").await
    }

    /// A benchmark report.
    pub async fn benchmark_report(
        &self,
        request: &ReportRequest,
    ) -> Result<BenchmarkReport, ClientError> {
        self.json(
            self.request(Method::GET, "/v1/benchmarks/report")
                .query(&request.to_pairs()),
        )
        .await
    }

    /// A benchmark report as CSV.
    pub async fn benchmark_report_csv(
        &self,
        request: &ReportRequest,
    ) -> Result<FetchedText, ClientError> {
        self.text_of(
            self.request(Method::GET, "/v1/benchmarks/report.csv")
                .query(&request.to_pairs()),
        )
        .await
    }

    /// A member's automatic peer group (a gateway: its own member; `None` means that).
    pub async fn benchmark_peers(
        &self,
        member: Option<&MemberId>,
    ) -> Result<PeerList, ClientError> {
        let query: Vec<(&str, String)> = member
            .map(|m| ("member", m.to_string()))
            .into_iter()
            .collect();
        self.json(
            self.request(Method::GET, "/v1/benchmarks/peers")
                .query(&query),
        )
        .await
    }

    /// Every version of a member's returns (a gateway: its own member; `None` means that).
    pub async fn benchmark_returns(
        &self,
        member: Option<&MemberId>,
    ) -> Result<ReturnList, ClientError> {
        let query: Vec<(&str, String)> = member
            .map(|m| ("member", m.to_string()))
            .into_iter()
            .collect();
        self.json(
            self.request(Method::GET, "/v1/benchmarks/returns")
                .query(&query),
        )
        .await
    }

    /// Submits returns as CSV for the calling gateway's member. The outcome comes back whether
    /// or not they were stored: `stored` says which, and every row says why.
    pub async fn submit_returns_csv(
        &self,
        csv: Vec<u8>,
        dry_run: bool,
    ) -> Result<SubmitOutcome, ClientError> {
        let req = self
            .request(Method::POST, "/v1/gateway/benchmarks/returns")
            .query(&[("dry_run", if dry_run { "true" } else { "false" })])
            .header(reqwest::header::CONTENT_TYPE, "text/csv")
            .body(csv);
        let resp = self
            .send_accepting(req, &[StatusCode::UNPROCESSABLE_ENTITY])
            .await?;
        self.decode(resp).await
    }

    /// The calling member's saved peer groups.
    pub async fn peer_groups(&self) -> Result<PeerGroupList, ClientError> {
        self.get("/v1/gateway/benchmarks/peer-groups").await
    }

    /// Saves (or replaces) one of the calling member's peer groups.
    pub async fn save_peer_group(
        &self,
        name: &str,
        group: &PeerGroupSet,
    ) -> Result<PeerGroupView, ClientError> {
        self.json(
            self.request(
                Method::PUT,
                &format!("/v1/gateway/benchmarks/peer-groups/{name}"),
            )
            .json(group),
        )
        .await
    }

    /// Deletes one of the calling member's peer groups.
    pub async fn delete_peer_group(&self, name: &str) -> Result<(), ClientError> {
        self.send(self.request(
            Method::DELETE,
            &format!("/v1/gateway/benchmarks/peer-groups/{name}"),
        ))
        .await
        .map(drop)
    }
}
