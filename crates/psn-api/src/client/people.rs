//! The operator's calls on `/v1/people`.

use super::{AuthorityClient, ClientError};
use crate::people::{NewPerson, PersonList, PersonPassword, PersonView, RoleChange};

impl AuthorityClient {
    /// Every person who may sign in to the web UI.
    pub async fn people(&self) -> Result<PersonList, ClientError> {
        self.get("/v1/people").await
    }

    /// Creates a person; the answer carries their one-time password.
    pub async fn add_person(&self, person: &NewPerson) -> Result<PersonPassword, ClientError> {
        self.post("/v1/people", person).await
    }

    /// Disables a person and ends their sessions.
    pub async fn disable_person(&self, username: &str) -> Result<PersonView, ClientError> {
        self.post(
            &format!("/v1/people/{username}/disable"),
            &serde_json::json!({}),
        )
        .await
    }

    /// Enables a disabled person again (the way back for people who sign in with OpenID
    /// Connect, who have no password to reset).
    pub async fn enable_person(&self, username: &str) -> Result<PersonView, ClientError> {
        self.post(
            &format!("/v1/people/{username}/enable"),
            &serde_json::json!({}),
        )
        .await
    }

    /// Changes a person's role (and member) and ends their sessions.
    pub async fn set_person_role(
        &self,
        username: &str,
        change: &RoleChange,
    ) -> Result<PersonView, ClientError> {
        self.post(&format!("/v1/people/{username}/role"), change)
            .await
    }

    /// Gives a person a new one-time password, unlocks them and ends their sessions.
    pub async fn reset_person_password(
        &self,
        username: &str,
    ) -> Result<PersonPassword, ClientError> {
        self.post(
            &format!("/v1/people/{username}/password"),
            &serde_json::json!({}),
        )
        .await
    }
}
