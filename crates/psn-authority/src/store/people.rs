//! People and their web UI sessions. Every change to a person is one transaction with its event
//! in the administrative audit trail; sign-ins, sign-outs and lockouts are recorded there too.
//! None of this touches the registry generation: people are not part of the configuration.

use super::{event, from_millis, in_use, parse, to_millis, Result, Store, StoreError};
use psn_api::{PersonRole, PersonView};
use psn_core::names::MemberId;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use time::OffsetDateTime;

/// A person to store, with their password already hashed.
pub struct NewPersonRecord<'a> {
    /// Generated id.
    pub id: &'a str,
    /// Username, already checked.
    pub username: &'a str,
    /// Member, for member roles.
    pub member: Option<&'a MemberId>,
    /// Role.
    pub role: PersonRole,
    /// argon2id PHC string.
    pub password_hash: &'a str,
}

/// What sign-in needs to know about a person.
#[derive(Debug, Clone)]
pub struct SignInRecord {
    /// The person.
    pub person: PersonView,
    /// argon2id PHC string.
    pub password_hash: String,
}

/// A new session, created at sign-in.
pub struct NewSession<'a> {
    /// Hash of the cookie token.
    pub token_hash: &'a str,
    /// The form token of the session.
    pub csrf_token: &'a str,
    /// Expiry.
    pub expires_at: OffsetDateTime,
}

/// How a wrong password changed a person's lockout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailedSignIn {
    /// Not yet locked: this many consecutive failures so far.
    Counted(u64),
    /// This failure locked the account until then.
    Locked(OffsetDateTime),
}

const PERSON_COLUMNS: &str = "SELECT id, username, member_id, role, oidc_provider, disabled, \
     locked_until, created_at, updated_at, password_hash FROM people";

fn person_from_row(row: &AnyRow) -> Result<PersonView> {
    let member: Option<String> = row.try_get("member_id")?;
    Ok(PersonView {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        member: member.map(|m| parse("member id", &m)).transpose()?,
        role: parse("role", &row.try_get::<String, _>("role")?)?,
        oidc_provider: row.try_get("oidc_provider")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        locked_until: row
            .try_get::<Option<i64>, _>("locked_until")?
            .map(from_millis),
        created_at: from_millis(row.try_get("created_at")?),
        updated_at: from_millis(row.try_get("updated_at")?),
    })
}

pub(super) async fn person_in(tx: &mut Transaction<'_, Any>, username: &str) -> Result<PersonView> {
    let row = sqlx::query(&format!("{PERSON_COLUMNS} WHERE username = $1"))
        .bind(username)
        .fetch_optional(&mut **tx)
        .await?;
    match row {
        Some(row) => person_from_row(&row),
        None => Err(StoreError::NotFound(format!("no person {username}"))),
    }
}

pub(super) async fn end_sessions_of(tx: &mut Transaction<'_, Any>, person_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM ui_sessions WHERE person_id = $1")
        .bind(person_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// Creates a person; refuses a username in use or a member that does not exist.
    pub async fn add_person(&self, actor: &str, new: &NewPersonRecord<'_>) -> Result<PersonView> {
        let (_g, mut tx) = self.begin().await?;
        if let Some(member) = new.member {
            if !super::member_exists(&mut tx, member).await? {
                return Err(StoreError::NotFound(format!("no member {member}")));
            }
        }
        let now = to_millis(OffsetDateTime::now_utc());
        sqlx::query(
            "INSERT INTO people (id, username, member_id, role, password_hash, disabled, \
             failed_attempts, locked_until, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 0, 0, NULL, $6, $6)",
        )
        .bind(new.id)
        .bind(new.username)
        .bind(new.member.map(|m| m.to_string()))
        .bind(new.role.as_str())
        .bind(new.password_hash)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| in_use(e, "a person with that username already exists"))?;
        let detail = serde_json::json!({
            "role": new.role.as_str(),
            "member": new.member.map(|m| m.to_string()),
        });
        event(&mut tx, actor, "person.add", new.username, detail).await?;
        let person = person_in(&mut tx, new.username).await?;
        tx.commit().await?;
        Ok(person)
    }

    /// People, by username; only one member's when `member` is given.
    pub async fn people(&self, member: Option<&MemberId>) -> Result<Vec<PersonView>> {
        let rows = match member {
            Some(m) => {
                sqlx::query(&format!(
                    "{PERSON_COLUMNS} WHERE member_id = $1 ORDER BY username"
                ))
                .bind(m.to_string())
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!("{PERSON_COLUMNS} ORDER BY username"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(person_from_row).collect()
    }

    /// The person signing in with `username`, with their password hash.
    pub async fn person_for_sign_in(&self, username: &str) -> Result<Option<SignInRecord>> {
        let row = sqlx::query(&format!("{PERSON_COLUMNS} WHERE username = $1"))
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(SignInRecord {
                person: person_from_row(&row)?,
                password_hash: row.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    /// Disables a person and ends their sessions.
    pub async fn disable_person(&self, actor: &str, username: &str) -> Result<PersonView> {
        let (_g, mut tx) = self.begin().await?;
        let person = person_in(&mut tx, username).await?;
        if person.disabled {
            return Err(StoreError::Conflict(format!(
                "{username} is already disabled"
            )));
        }
        sqlx::query("UPDATE people SET disabled = 1, updated_at = $1 WHERE id = $2")
            .bind(to_millis(OffsetDateTime::now_utc()))
            .bind(&person.id)
            .execute(&mut *tx)
            .await?;
        end_sessions_of(&mut tx, &person.id).await?;
        event(
            &mut tx,
            actor,
            "person.disable",
            username,
            serde_json::json!({}),
        )
        .await?;
        let person = person_in(&mut tx, username).await?;
        tx.commit().await?;
        Ok(person)
    }

    /// Enables a disabled person; their password, lockout and role stay as they were.
    pub async fn enable_person(&self, actor: &str, username: &str) -> Result<PersonView> {
        let (_g, mut tx) = self.begin().await?;
        let person = person_in(&mut tx, username).await?;
        if !person.disabled {
            return Err(StoreError::Conflict(format!("{username} is not disabled")));
        }
        sqlx::query("UPDATE people SET disabled = 0, updated_at = $1 WHERE id = $2")
            .bind(to_millis(OffsetDateTime::now_utc()))
            .bind(&person.id)
            .execute(&mut *tx)
            .await?;
        event(
            &mut tx,
            actor,
            "person.enable",
            username,
            serde_json::json!({}),
        )
        .await?;
        let person = person_in(&mut tx, username).await?;
        tx.commit().await?;
        Ok(person)
    }

    /// Changes a person's role and member and ends their sessions, so the new role applies at
    /// once. The caller has checked that role and member go together.
    pub async fn set_person_role(
        &self,
        actor: &str,
        username: &str,
        role: PersonRole,
        member: Option<&MemberId>,
    ) -> Result<PersonView> {
        let (_g, mut tx) = self.begin().await?;
        let before = person_in(&mut tx, username).await?;
        if let Some(member) = member {
            if !super::member_exists(&mut tx, member).await? {
                return Err(StoreError::NotFound(format!("no member {member}")));
            }
        }
        sqlx::query("UPDATE people SET role = $1, member_id = $2, updated_at = $3 WHERE id = $4")
            .bind(role.as_str())
            .bind(member.map(|m| m.to_string()))
            .bind(to_millis(OffsetDateTime::now_utc()))
            .bind(&before.id)
            .execute(&mut *tx)
            .await?;
        end_sessions_of(&mut tx, &before.id).await?;
        let detail = serde_json::json!({
            "from": { "role": before.role.as_str(), "member": before.member.map(|m| m.to_string()) },
            "role": role.as_str(),
            "member": member.map(|m| m.to_string()),
        });
        event(&mut tx, actor, "person.set-role", username, detail).await?;
        let person = person_in(&mut tx, username).await?;
        tx.commit().await?;
        Ok(person)
    }

    /// Replaces a person's password, clears their lockout, re-enables them and ends their
    /// sessions.
    pub async fn reset_person_password(
        &self,
        actor: &str,
        username: &str,
        password_hash: &str,
    ) -> Result<PersonView> {
        let (_g, mut tx) = self.begin().await?;
        let person = person_in(&mut tx, username).await?;
        if let Some(provider) = &person.oidc_provider {
            return Err(StoreError::Conflict(format!(
                "{username} signs in with OpenID Connect provider {provider} and has no password"
            )));
        }
        sqlx::query(
            "UPDATE people SET password_hash = $1, failed_attempts = 0, locked_until = NULL, \
             disabled = 0, updated_at = $2 WHERE id = $3",
        )
        .bind(password_hash)
        .bind(to_millis(OffsetDateTime::now_utc()))
        .bind(&person.id)
        .execute(&mut *tx)
        .await?;
        end_sessions_of(&mut tx, &person.id).await?;
        let detail = serde_json::json!({ "was_disabled": person.disabled });
        event(&mut tx, actor, "person.reset-password", username, detail).await?;
        let person = person_in(&mut tx, username).await?;
        tx.commit().await?;
        Ok(person)
    }

    /// Counts a wrong password; the `limit`th consecutive one locks sign-in until `until`.
    pub async fn record_failed_sign_in(
        &self,
        person_id: &str,
        limit: u64,
        until: OffsetDateTime,
    ) -> Result<FailedSignIn> {
        let (_g, mut tx) = self.begin().await?;
        let row = sqlx::query(
            "UPDATE people SET failed_attempts = failed_attempts + 1 WHERE id = $1 \
             RETURNING failed_attempts, username",
        )
        .bind(person_id)
        .fetch_one(&mut *tx)
        .await?;
        let failures = super::from_i64("failed attempts", row.try_get("failed_attempts")?)?;
        let username: String = row.try_get("username")?;
        let outcome = if failures >= limit {
            sqlx::query("UPDATE people SET failed_attempts = 0, locked_until = $1 WHERE id = $2")
                .bind(to_millis(until))
                .bind(person_id)
                .execute(&mut *tx)
                .await?;
            let detail = serde_json::json!({ "failures": failures, "until": to_millis(until) });
            event(&mut tx, "system", "person.lock", &username, detail).await?;
            FailedSignIn::Locked(until)
        } else {
            FailedSignIn::Counted(failures)
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// Starts a session for a person whose password was right: clears their failure count,
    /// ends the session the browser presented (if any: its id is never adopted), removes
    /// expired sessions, and records the sign-in.
    pub async fn start_session(
        &self,
        person: &PersonView,
        session: &NewSession<'_>,
        replaced_token_hash: Option<&str>,
    ) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        let now = OffsetDateTime::now_utc();
        sqlx::query("UPDATE people SET failed_attempts = 0, locked_until = NULL WHERE id = $1")
            .bind(&person.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM ui_sessions WHERE expires_at <= $1 OR token_hash = $2")
            .bind(to_millis(now))
            .bind(replaced_token_hash.unwrap_or(""))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO ui_sessions (token_hash, person_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session.token_hash)
        .bind(&person.id)
        .bind(session.csrf_token)
        .bind(to_millis(now))
        .bind(to_millis(session.expires_at))
        .execute(&mut *tx)
        .await?;
        event(
            &mut tx,
            &format!("person:{}", person.username),
            "person.sign-in",
            &person.username,
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The person and form token of an unexpired session of an enabled person.
    pub async fn session(&self, token_hash: &str) -> Result<Option<(PersonView, String)>> {
        let row = sqlx::query(
            "SELECT p.id AS id, p.username AS username, p.member_id AS member_id, p.role AS role, \
             p.oidc_provider AS oidc_provider, p.disabled AS disabled, \
             p.locked_until AS locked_until, p.created_at AS created_at, \
             p.updated_at AS updated_at, s.csrf_token AS csrf_token \
             FROM ui_sessions s JOIN people p ON p.id = s.person_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND p.disabled = 0",
        )
        .bind(token_hash)
        .bind(to_millis(OffsetDateTime::now_utc()))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Ok((person_from_row(&row)?, row.try_get("csrf_token")?)))
            .transpose()
    }

    /// Ends a session and records the sign-out.
    pub async fn end_session(&self, token_hash: &str, username: &str) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        let ended = sqlx::query("DELETE FROM ui_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut *tx)
            .await?;
        if ended.rows_affected() > 0 {
            event(
                &mut tx,
                &format!("person:{username}"),
                "person.sign-out",
                username,
                serde_json::json!({}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
