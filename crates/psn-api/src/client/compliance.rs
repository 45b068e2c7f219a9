//! Calls on compliance frameworks (docs/compliance.md), for operators and gateways.

use super::{AuthorityClient, ClientError};
use crate::compliance::{Framework, FrameworkList};

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
}
