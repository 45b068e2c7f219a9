//! Access requests and webhooks (docs/access.md): the member's calls with its gateway's
//! certificate, and the operator's listing.

use super::{encode_segment, AuthorityClient, ClientError};
use crate::access::{
    AccessApproval, AccessDecline, AccessRequestList, AccessRequestQuery, AccessRequestView,
    NewAccessRequest, WebhookSet, WebhookView,
};
use reqwest::Method;

impl AuthorityClient {
    /// Asks another member for access to one of its services.
    pub async fn request_access(
        &self,
        request: &NewAccessRequest,
    ) -> Result<AccessRequestView, ClientError> {
        self.post("/v1/gateway/access-requests", request).await
    }

    /// The calling member's requests, outgoing and incoming.
    pub async fn access_requests(
        &self,
        query: &AccessRequestQuery,
    ) -> Result<AccessRequestList, ClientError> {
        self.json(
            self.request(Method::GET, "/v1/gateway/access-requests")
                .query(query),
        )
        .await
    }

    /// Every request of the network (operators).
    pub async fn all_access_requests(
        &self,
        query: &AccessRequestQuery,
    ) -> Result<AccessRequestList, ClientError> {
        self.json(
            self.request(Method::GET, "/v1/access-requests")
                .query(query),
        )
        .await
    }

    /// Approves a request on one of the calling member's services, optionally narrower.
    pub async fn approve_access(
        &self,
        id: &str,
        approval: &AccessApproval,
    ) -> Result<AccessRequestView, ClientError> {
        let path = format!("/v1/gateway/access-requests/{}/approve", encode_segment(id));
        self.post(&path, approval).await
    }

    /// Declines a request on one of the calling member's services.
    pub async fn decline_access(
        &self,
        id: &str,
        decline: &AccessDecline,
    ) -> Result<AccessRequestView, ClientError> {
        let path = format!("/v1/gateway/access-requests/{}/decline", encode_segment(id));
        self.post(&path, decline).await
    }

    /// Withdraws one of the calling member's pending requests.
    pub async fn withdraw_access(&self, id: &str) -> Result<AccessRequestView, ClientError> {
        let path = format!(
            "/v1/gateway/access-requests/{}/withdraw",
            encode_segment(id)
        );
        self.post(&path, &serde_json::json!({})).await
    }

    /// Sets the calling member's webhook; the answer carries its signing secret, once.
    pub async fn set_webhook(&self, webhook: &WebhookSet) -> Result<WebhookView, ClientError> {
        self.json(
            self.request(Method::PUT, "/v1/gateway/webhook")
                .json(webhook),
        )
        .await
    }

    /// Removes the calling member's webhook.
    pub async fn remove_webhook(&self) -> Result<WebhookView, ClientError> {
        self.json(self.request(Method::DELETE, "/v1/gateway/webhook"))
            .await
    }
}
