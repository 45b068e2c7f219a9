//! OpenID Connect sign-in (docs/ui.md "OpenID Connect"): sign-ins in flight between the button
//! and the provider's callback, and identities linked to people. Creating or changing a person
//! at sign-in is one transaction with its event in the audit trail, like every other change.

use super::people::{end_sessions_of, person_in};
use super::{event, from_millis, in_use, member_exists, to_millis, Result, Store, StoreError};
use psn_api::{PersonRole, PersonView};
use psn_core::names::MemberId;
use sqlx::Row;
use time::OffsetDateTime;

/// What the callback needs from the start of a sign-in; it never leaves the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcPending {
    /// The provider's `name`.
    pub provider: String,
    /// The `state` sent to the provider.
    pub state: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier of the challenge sent.
    pub pkce_verifier: String,
}

/// A verified identity and the role its provider's rules give it.
pub struct OidcIdentity<'a> {
    /// The provider's `name`.
    pub provider: &'a str,
    /// The ID token's issuer.
    pub issuer: &'a str,
    /// The ID token's subject.
    pub subject: &'a str,
    /// Username of the person, should one be created now.
    pub username: &'a str,
    /// Generated id of the person, should one be created now.
    pub new_id: &'a str,
    /// Member from the matching rule.
    pub member: Option<&'a MemberId>,
    /// Role from the matching rule.
    pub role: PersonRole,
}

/// The person an identity signs in as.
#[derive(Debug, Clone)]
pub enum OidcLinked {
    /// Enabled, with the rule's member and role applied.
    Ready(PersonView),
    /// Disabled by an operator: nothing was changed.
    Disabled(PersonView),
}

impl Store {
    /// Records a sign-in in flight under the hash of its browser binding (dropping expired ones).
    pub async fn begin_oidc_sign_in(
        &self,
        binding_hash: &str,
        pending: &OidcPending,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        sqlx::query("DELETE FROM oidc_sign_ins WHERE expires_at <= $1")
            .bind(to_millis(OffsetDateTime::now_utc()))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO oidc_sign_ins (binding_hash, provider, state, nonce, pkce_verifier, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(binding_hash)
        .bind(&pending.provider)
        .bind(&pending.state)
        .bind(&pending.nonce)
        .bind(&pending.pkce_verifier)
        .bind(to_millis(expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes (deletes and returns) the unexpired sign-in of a browser binding: a second callback
    /// with the same binding finds nothing.
    pub async fn take_oidc_sign_in(&self, binding_hash: &str) -> Result<Option<OidcPending>> {
        let (_g, mut tx) = self.begin().await?;
        let row = sqlx::query(
            "DELETE FROM oidc_sign_ins WHERE binding_hash = $1 \
             RETURNING provider, state, nonce, pkce_verifier, expires_at",
        )
        .bind(binding_hash)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let Some(row) = row else { return Ok(None) };
        if from_millis(row.try_get("expires_at")?) <= OffsetDateTime::now_utc() {
            return Ok(None);
        }
        Ok(Some(OidcPending {
            provider: row.try_get("provider")?,
            state: row.try_get("state")?,
            nonce: row.try_get("nonce")?,
            pkce_verifier: row.try_get("pkce_verifier")?,
        }))
    }

    /// The person linked to an identity: created on its first sign-in, and given the rule's
    /// member and role on every sign-in (ending their other sessions when that changes them).
    /// A disabled person is returned as such with nothing changed; a member that no longer
    /// exists is refused (`NotFound`), a username already taken by someone else too
    /// (`Conflict`).
    pub async fn link_oidc_person(&self, identity: &OidcIdentity<'_>) -> Result<OidcLinked> {
        let (_g, mut tx) = self.begin().await?;
        let now = to_millis(OffsetDateTime::now_utc());
        let actor = format!("oidc:{}", identity.provider);
        let member_text = identity.member.map(ToString::to_string);
        let linked: Option<String> = sqlx::query_scalar(
            "SELECT p.username FROM oidc_identities i JOIN people p ON p.id = i.person_id \
             WHERE i.issuer = $1 AND i.subject = $2",
        )
        .bind(identity.issuer)
        .bind(identity.subject)
        .fetch_optional(&mut *tx)
        .await?;
        let username = match linked {
            Some(username) => {
                let before = person_in(&mut tx, &username).await?;
                if before.disabled {
                    return Ok(OidcLinked::Disabled(before));
                }
                check_member(&mut tx, identity.member).await?;
                if before.role != identity.role || before.member.as_ref() != identity.member {
                    sqlx::query(
                        "UPDATE people SET role = $1, member_id = $2, updated_at = $3 \
                         WHERE id = $4",
                    )
                    .bind(identity.role.as_str())
                    .bind(&member_text)
                    .bind(now)
                    .bind(&before.id)
                    .execute(&mut *tx)
                    .await?;
                    end_sessions_of(&mut tx, &before.id).await?;
                    let detail = serde_json::json!({
                        "from": {
                            "role": before.role.as_str(),
                            "member": before.member.map(|m| m.to_string()),
                        },
                        "role": identity.role.as_str(),
                        "member": member_text,
                    });
                    event(&mut tx, &actor, "person.set-role", &username, detail).await?;
                }
                sqlx::query(
                    "UPDATE oidc_identities SET last_signed_in = $1 \
                     WHERE issuer = $2 AND subject = $3",
                )
                .bind(now)
                .bind(identity.issuer)
                .bind(identity.subject)
                .execute(&mut *tx)
                .await?;
                username
            }
            None => {
                check_member(&mut tx, identity.member).await?;
                sqlx::query(
                    "INSERT INTO people (id, username, member_id, role, password_hash, \
                     oidc_provider, disabled, failed_attempts, locked_until, created_at, \
                     updated_at) VALUES ($1, $2, $3, $4, '', $5, 0, 0, NULL, $6, $6)",
                )
                .bind(identity.new_id)
                .bind(identity.username)
                .bind(&member_text)
                .bind(identity.role.as_str())
                .bind(identity.provider)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    in_use(
                        e,
                        &format!(
                            "a person with username {} already exists",
                            identity.username
                        ),
                    )
                })?;
                sqlx::query(
                    "INSERT INTO oidc_identities (issuer, subject, provider, person_id, \
                     created_at, last_signed_in) VALUES ($1, $2, $3, $4, $5, $5)",
                )
                .bind(identity.issuer)
                .bind(identity.subject)
                .bind(identity.provider)
                .bind(identity.new_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let detail = serde_json::json!({
                    "role": identity.role.as_str(),
                    "member": member_text,
                    "oidc": {
                        "provider": identity.provider,
                        "issuer": identity.issuer,
                        "subject": identity.subject,
                    },
                });
                event(&mut tx, &actor, "person.add", identity.username, detail).await?;
                identity.username.to_owned()
            }
        };
        let person = person_in(&mut tx, &username).await?;
        tx.commit().await?;
        Ok(OidcLinked::Ready(person))
    }
}

/// Refuses a member that is not (or no longer) in the registry.
async fn check_member(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    member: Option<&MemberId>,
) -> Result<()> {
    match member {
        Some(m) if !member_exists(tx, m).await? => {
            Err(StoreError::NotFound(format!("no member {m}")))
        }
        _ => Ok(()),
    }
}
