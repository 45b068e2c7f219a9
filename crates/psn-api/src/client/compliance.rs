//! Calls on compliance (docs/compliance.md): frameworks and the public status for any reader;
//! evidence, drafts and submissions for a member (its gateway, or the operator naming it);
//! reviews, withdrawals and lifecycle runs for the operator.

use super::{AuthorityClient, ClientError};
use crate::compliance::{
    CertificateWithdrawal, ComplianceCertificate, ComplianceStatus, EvidenceList, EvidenceView,
    Framework, FrameworkList, LifecycleRun, ReviewDecision, ReviewResult, SubmissionDraft,
    SubmissionList, SubmissionView,
};
use psn_core::names::MemberId;
use reqwest::Method;

/// `?member=M` when the operator acts for a member; nothing when a gateway acts for its own.
fn member_query(member: Option<&MemberId>) -> Vec<(&'static str, String)> {
    member
        .map(|m| vec![("member", m.to_string())])
        .unwrap_or_default()
}

impl AuthorityClient {
    /// The frameworks the network has adopted.
    pub async fn frameworks(&self) -> Result<FrameworkList, ClientError> {
        self.get("/v1/compliance/frameworks").await
    }

    /// One framework version.
    pub async fn framework(&self, id: &str, version: &str) -> Result<Framework, ClientError> {
        self.get(&format!("/v1/compliance/frameworks/{id}/{version}"))
            .await
    }

    /// The public status: members' certificates, optionally one member, or only those expiring
    /// within `expiring` (e.g. `30d`).
    pub async fn compliance_status(
        &self,
        member: Option<&MemberId>,
        expiring: Option<&str>,
    ) -> Result<ComplianceStatus, ClientError> {
        let mut query = member_query(member);
        if let Some(window) = expiring {
            query.push(("expiring", window.to_owned()));
        }
        self.json(
            self.request(Method::GET, "/v1/compliance/status")
                .query(&query),
        )
        .await
    }

    /// Uploads an evidence file; `media_type` is sent as its Content-Type.
    pub async fn upload_evidence(
        &self,
        member: Option<&MemberId>,
        name: &str,
        media_type: &str,
        content: Vec<u8>,
    ) -> Result<EvidenceView, ClientError> {
        let mut query = member_query(member);
        query.push(("name", name.to_owned()));
        self.json(
            self.request(Method::POST, "/v1/compliance/evidence")
                .query(&query)
                .header(reqwest::header::CONTENT_TYPE, media_type)
                .body(content),
        )
        .await
    }

    /// A member's evidence files.
    pub async fn evidence(&self, member: Option<&MemberId>) -> Result<EvidenceList, ClientError> {
        self.json(
            self.request(Method::GET, "/v1/compliance/evidence")
                .query(&member_query(member)),
        )
        .await
    }

    /// Removes one of a member's evidence files that no submission cites.
    pub async fn remove_evidence(
        &self,
        member: Option<&MemberId>,
        sha256: &str,
    ) -> Result<EvidenceView, ClientError> {
        self.json(
            self.request(Method::DELETE, &format!("/v1/compliance/evidence/{sha256}"))
                .query(&member_query(member)),
        )
        .await
    }

    /// Saves a member's answers for `kind` as its open submission.
    pub async fn save_submission(
        &self,
        member: Option<&MemberId>,
        kind: &str,
        draft: &SubmissionDraft,
    ) -> Result<SubmissionView, ClientError> {
        self.json(
            self.request(Method::PUT, &format!("/v1/compliance/drafts/{kind}"))
                .query(&member_query(member))
                .json(draft),
        )
        .await
    }

    /// Submits a member's open submission for `kind` for review.
    pub async fn submit_submission(
        &self,
        member: Option<&MemberId>,
        kind: &str,
    ) -> Result<SubmissionView, ClientError> {
        self.json(
            self.request(
                Method::POST,
                &format!("/v1/compliance/drafts/{kind}/submit"),
            )
            .query(&member_query(member)),
        )
        .await
    }

    /// Submissions the caller may see, optionally in one state (`submitted`, …).
    pub async fn submissions(
        &self,
        member: Option<&MemberId>,
        state: Option<&str>,
    ) -> Result<SubmissionList, ClientError> {
        let mut query = member_query(member);
        if let Some(state) = state {
            query.push(("state", state.to_owned()));
        }
        self.json(
            self.request(Method::GET, "/v1/compliance/submissions")
                .query(&query),
        )
        .await
    }

    /// One submission.
    pub async fn submission(&self, id: &str) -> Result<SubmissionView, ClientError> {
        self.get(&format!("/v1/compliance/submissions/{id}")).await
    }

    /// Reviews a submitted submission (operator).
    pub async fn review_submission(
        &self,
        id: &str,
        decision: &ReviewDecision,
    ) -> Result<ReviewResult, ClientError> {
        self.post(&format!("/v1/compliance/submissions/{id}/review"), decision)
            .await
    }

    /// Withdraws a current certificate (operator).
    pub async fn withdraw_certificate(
        &self,
        id: &str,
        reason: &str,
    ) -> Result<ComplianceCertificate, ClientError> {
        self.post(
            &format!("/v1/compliance/certificates/{id}/withdraw"),
            &CertificateWithdrawal {
                reason: reason.to_owned(),
            },
        )
        .await
    }

    /// Runs the compliance lifecycle now (operator): expiry, reminders, the policy.
    pub async fn run_lifecycle(&self) -> Result<LifecycleRun, ClientError> {
        self.json(self.request(Method::POST, "/v1/compliance/lifecycle/run"))
            .await
    }
}
