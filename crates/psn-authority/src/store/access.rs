//! Access requests, members' webhooks and the webhook outbox (docs/access.md). A request's
//! change, its grants (on approval), its event in the audit trail and its webhook delivery are
//! written in one transaction, so a delivery is never lost for a change that was acknowledged
//! and never sent for one that was not.

use super::{bump, event, Changed};
use super::{from_millis, insert_grant, parse, to_millis, Result, Store, StoreError};
use psn_api::{AccessDirection, AccessRequestState, AccessRequestView, NewAccessRequest};
use psn_core::access::Grant;
use psn_core::names::{MemberId, ServiceId, SubsystemId};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use time::OffsetDateTime;

const COLUMNS: &str = "id, subsystem_id, requester_id, service_id, provider_id, purpose, methods, \
    path_pattern, state, created_by, created_at, decided_by, decided_at, reason, \
    approved_methods, approved_path, grant_ids";

/// Most requests one listing returns (newest first).
pub const MAX_LISTED: i64 = 1_000;

/// A decision on (or withdrawal of) a pending request, with who may make it.
#[derive(Debug, Clone)]
pub enum RequestChange {
    /// The provider approves, creating `grants` (built by the caller with fresh ids).
    Approve {
        provider: MemberId,
        methods: Vec<String>,
        path: Option<String>,
        grants: Vec<Grant>,
    },
    /// The provider declines.
    Decline { provider: MemberId, reason: String },
    /// The requester takes it back.
    Withdraw { requester: MemberId },
}

/// Which requests to list.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    /// Only this member's (as requester or provider, per `direction`); `None`: everyone's.
    pub member: Option<MemberId>,
    /// Outgoing, incoming or both.
    pub direction: Option<AccessDirection>,
    /// Only this state.
    pub state: Option<AccessRequestState>,
}

/// A delivery the sender should attempt now, with where to send it and the key to sign with.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: String,
    pub member: String,
    pub event: String,
    /// The request as JSON, as it was after the change.
    pub request: serde_json::Value,
    /// Attempts before this one.
    pub attempts: u32,
    pub url: String,
    pub secret: String,
}

/// A delivery as the inbox page shows it.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub id: String,
    pub event: String,
    pub request_id: String,
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub updated_at: OffsetDateTime,
}

fn strings(what: &str, text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn view(r: &AnyRow) -> Result<AccessRequestView> {
    let approved: Option<String> = r.try_get("approved_methods")?;
    let grants: Option<String> = r.try_get("grant_ids")?;
    Ok(AccessRequestView {
        id: r.try_get("id")?,
        subsystem: parse("subsystem id", &r.try_get::<String, _>("subsystem_id")?)?,
        requester: parse("member id", &r.try_get::<String, _>("requester_id")?)?,
        service: parse("service id", &r.try_get::<String, _>("service_id")?)?,
        provider: parse("member id", &r.try_get::<String, _>("provider_id")?)?,
        purpose: r.try_get("purpose")?,
        methods: strings("methods", &r.try_get::<String, _>("methods")?)?,
        path: r.try_get("path_pattern")?,
        state: parse("request state", &r.try_get::<String, _>("state")?)?,
        created_by: r.try_get("created_by")?,
        created_at: from_millis(r.try_get("created_at")?),
        decided_by: r.try_get("decided_by")?,
        decided_at: r.try_get::<Option<i64>, _>("decided_at")?.map(from_millis),
        reason: r.try_get("reason")?,
        approved_methods: approved
            .as_deref()
            .map(|t| strings("approved methods", t))
            .transpose()?,
        approved_path: r.try_get("approved_path")?,
        grants: grants
            .as_deref()
            .map(|t| strings("grant ids", t))
            .transpose()?
            .unwrap_or_default(),
    })
}

fn random_id(prefix: &str) -> Result<String> {
    let mut bytes = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| StoreError::Invalid("random number generator failed".into()))?;
    Ok(format!("{prefix}{}", psn_core::encoding::hex(&bytes)))
}

fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}

async fn load(tx: &mut Transaction<'_, Any>, id: &str) -> Result<Option<AccessRequestView>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM access_requests WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(view).transpose()
}

/// Puts a delivery of `event` about `request` in `member`'s outbox, if it has a webhook.
async fn enqueue(
    tx: &mut Transaction<'_, Any>,
    member: &MemberId,
    event: &str,
    request: &AccessRequestView,
) -> Result<()> {
    enqueue_delivery(tx, member, event, &request.id, &json_text(request)).await
}

/// Puts a delivery of `event` about `subject` (an access request's or a certificate's id),
/// carrying `payload` (JSON), in `member`'s outbox, if it has a webhook: shared by access
/// requests and compliance reminders, so both are delivered, retried and signed alike.
pub(super) async fn enqueue_delivery(
    tx: &mut Transaction<'_, Any>,
    member: &MemberId,
    event: &str,
    subject: &str,
    payload: &str,
) -> Result<()> {
    let hooked: Option<String> =
        sqlx::query_scalar("SELECT member_id FROM member_webhooks WHERE member_id = $1")
            .bind(member.to_string())
            .fetch_optional(&mut **tx)
            .await?;
    if hooked.is_none() {
        return Ok(());
    }
    let now = to_millis(OffsetDateTime::now_utc());
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, member_id, event, request_id, payload, state, attempts, \
         next_attempt_at, last_error, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, NULL, $7, $8)",
    )
    .bind(random_id("d-")?)
    .bind(member.to_string())
    .bind(event)
    .bind(subject)
    .bind(payload)
    .bind(now)
    .bind(now)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The provider of `service`, or `NotFound`.
async fn provider_of(tx: &mut Transaction<'_, Any>, service: &ServiceId) -> Result<MemberId> {
    let member: Option<String> = sqlx::query_scalar(
        "SELECT s.member_id FROM services v JOIN subsystems s ON s.id = v.subsystem_id WHERE v.id = $1",
    )
    .bind(service.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    match member {
        Some(m) => parse("member id", &m),
        None => Err(StoreError::NotFound(format!(
            "no service {service} in the registry"
        ))),
    }
}

async fn require_subsystem(tx: &mut Transaction<'_, Any>, id: &SubsystemId) -> Result<()> {
    let found: Option<String> = sqlx::query_scalar("SELECT id FROM subsystems WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(StoreError::NotFound(format!(
            "no subsystem {id} in the registry; an operator registers subsystems"
        ))),
    }
}

fn pending_key(subsystem: &SubsystemId, service: &ServiceId) -> String {
    format!("{subsystem} {service}")
}

impl Store {
    /// Records a new pending request `id` made by `requester`'s `actor`. `NotFound` for an
    /// unknown subsystem or service, `Refused` for the requester's own service, `Conflict` while
    /// another request of the subsystem for the service is pending.
    pub async fn create_access_request(
        &self,
        actor: &str,
        id: &str,
        new: &NewAccessRequest,
    ) -> Result<AccessRequestView> {
        let (_g, mut tx) = self.begin().await?;
        require_subsystem(&mut tx, &new.subsystem).await?;
        let provider = provider_of(&mut tx, &new.service).await?;
        let requester = new.subsystem.member().clone();
        if provider == requester {
            return Err(StoreError::Refused(format!(
                "{} is {requester}'s own service; a member needs no request to call its own services, it grants them",
                new.service
            )));
        }
        let key = pending_key(&new.subsystem, &new.service);
        let held: Option<String> =
            sqlx::query_scalar("SELECT id FROM access_requests WHERE pending_key = $1")
                .bind(&key)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(held) = held {
            return Err(StoreError::Conflict(format!(
                "request {held} of {} for {} is already pending; withdraw it or wait for the provider's decision",
                new.subsystem, new.service
            )));
        }
        let now = to_millis(OffsetDateTime::now_utc());
        sqlx::query(&format!(
            "INSERT INTO access_requests ({COLUMNS}, pending_key) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10, NULL, NULL, NULL, NULL, NULL, NULL, $11)"
        ))
        .bind(id)
        .bind(new.subsystem.to_string())
        .bind(requester.to_string())
        .bind(new.service.to_string())
        .bind(provider.to_string())
        .bind(&new.purpose)
        .bind(json_text(&new.methods))
        .bind(new.path.as_deref())
        .bind(actor)
        .bind(now)
        .bind(&key)
        .execute(&mut *tx)
        .await
        .map_err(|e| super::in_use(e, "a request of this subsystem for this service is already pending"))?;
        let created = load(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("request {id} vanished")))?;
        event(
            &mut tx,
            actor,
            "access-request.create",
            &new.service.to_string(),
            serde_json::to_value(&created).unwrap_or_default(),
        )
        .await?;
        enqueue(&mut tx, &provider, "access-request.created", &created).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// One request, by id.
    pub async fn access_request(&self, id: &str) -> Result<Option<AccessRequestView>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM access_requests WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(view).transpose()
    }

    /// Requests matching `filter`, newest first, at most [`MAX_LISTED`].
    pub async fn access_requests(&self, filter: &RequestFilter) -> Result<Vec<AccessRequestView>> {
        let mut sql = format!("SELECT {COLUMNS} FROM access_requests WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        if let Some(member) = &filter.member {
            // SQLite and PostgreSQL number parameters differently when one is used twice, so
            // each use gets its own.
            binds.push(member.to_string());
            let n = binds.len();
            sql.push_str(&match filter.direction {
                Some(AccessDirection::Outgoing) => format!(" AND requester_id = ${n}"),
                Some(AccessDirection::Incoming) => format!(" AND provider_id = ${n}"),
                None => {
                    binds.push(member.to_string());
                    format!(" AND (requester_id = ${n} OR provider_id = ${})", n + 1)
                }
            });
        }
        if let Some(state) = filter.state {
            binds.push(state.as_str().to_owned());
            sql.push_str(&format!(" AND state = ${}", binds.len()));
        }
        sql.push_str(&format!(" ORDER BY created_at DESC, id LIMIT {MAX_LISTED}"));
        let mut query = sqlx::query(&sql);
        for b in &binds {
            query = query.bind(b);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(view).collect()
    }

    /// Applies `change` to pending request `id`. `NotFound` if there is no such request on the
    /// provider's services (or of the requester's subsystems, for a withdrawal); `Conflict` if it
    /// is no longer pending. An approval's grants, the new state, the event and the other side's
    /// webhook delivery are one transaction; the configuration changes only on approval.
    pub async fn change_access_request(
        &self,
        actor: &str,
        id: &str,
        change: &RequestChange,
    ) -> Result<AccessRequestView> {
        let (_g, mut tx) = self.begin().await?;
        let Some(held) = load(&mut tx, id).await? else {
            return Err(StoreError::NotFound(format!("no access request {id}")));
        };
        let (party, side) = match change {
            RequestChange::Approve { provider, .. } | RequestChange::Decline { provider, .. } => {
                (provider, &held.provider)
            }
            RequestChange::Withdraw { requester } => (requester, &held.requester),
        };
        if party != side {
            return Err(StoreError::NotFound(format!(
                "no access request {id} that {party} may decide or withdraw"
            )));
        }
        if held.state != AccessRequestState::Pending {
            return Err(StoreError::Conflict(format!(
                "access request {id} is already {}; only a pending request can be decided or withdrawn",
                held.state.as_str()
            )));
        }
        let (state, tell) = apply(&mut tx, actor, id, change).await?;
        let changed = load(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("request {id} vanished")))?;
        event(
            &mut tx,
            actor,
            &format!("access-request.{}", state.as_str()),
            &changed.service.to_string(),
            serde_json::to_value(&changed).unwrap_or_default(),
        )
        .await?;
        let tell = if tell {
            &held.requester
        } else {
            &held.provider
        };
        let name = match state {
            AccessRequestState::Approved => "access-request.approved",
            AccessRequestState::Declined => "access-request.declined",
            _ => "access-request.withdrawn",
        };
        enqueue(&mut tx, tell, name, &changed).await?;
        tx.commit().await?;
        Ok(changed)
    }
}

/// Writes the change; returns the new state and whether the requester (rather than the
/// provider) is the side to tell.
async fn apply(
    tx: &mut Transaction<'_, Any>,
    actor: &str,
    id: &str,
    change: &RequestChange,
) -> Result<(AccessRequestState, bool)> {
    let now = to_millis(OffsetDateTime::now_utc());
    let (state, reason, methods, path, grants) = match change {
        RequestChange::Approve {
            methods,
            path,
            grants,
            ..
        } => {
            for grant in grants {
                insert_grant(tx, actor, grant).await?;
            }
            bump(tx, Changed::NoEntry).await?;
            let ids: Vec<&str> = grants.iter().map(|g| g.id.as_str()).collect();
            (
                AccessRequestState::Approved,
                None,
                Some(json_text(methods)),
                path.clone(),
                Some(json_text(&ids)),
            )
        }
        RequestChange::Decline { reason, .. } => (
            AccessRequestState::Declined,
            Some(reason.clone()),
            None,
            None,
            None,
        ),
        RequestChange::Withdraw { .. } => (AccessRequestState::Withdrawn, None, None, None, None),
    };
    // `state = 'pending'` again here: another authority process sharing the database may have
    // decided it since it was read.
    let done = sqlx::query(
        "UPDATE access_requests SET state = $1, pending_key = NULL, decided_by = $2, decided_at = $3, \
         reason = $4, approved_methods = $5, approved_path = $6, grant_ids = $7 \
         WHERE id = $8 AND state = 'pending'",
    )
    .bind(state.as_str())
    .bind(actor)
    .bind(now)
    .bind(reason)
    .bind(methods)
    .bind(path)
    .bind(grants)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!(
            "access request {id} was decided by someone else just now"
        )));
    }
    Ok((state, !matches!(change, RequestChange::Withdraw { .. })))
}

/// How long a claimed delivery is left alone before it is due again: longer than a send may
/// take, so it is not sent twice while in flight, yet a crash mid-send only delays it.
const CLAIM_MS: i64 = 120_000;

impl Store {
    /// Sets `member`'s webhook and its signing secret (replacing any held).
    pub async fn set_webhook(
        &self,
        actor: &str,
        member: &MemberId,
        url: &str,
        secret: &str,
    ) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        let now = to_millis(OffsetDateTime::now_utc());
        sqlx::query("DELETE FROM member_webhooks WHERE member_id = $1")
            .bind(member.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO member_webhooks (member_id, url, secret, updated_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(member.to_string())
        .bind(url)
        .bind(secret)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        event(
            &mut tx,
            actor,
            "webhook.set",
            &member.to_string(),
            serde_json::json!({ "url": url }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes `member`'s webhook; returns its URL, or `NotFound` if it had none. Deliveries
    /// still pending for it fail when they fall due.
    pub async fn remove_webhook(&self, actor: &str, member: &MemberId) -> Result<String> {
        let (_g, mut tx) = self.begin().await?;
        let Some(url) = webhook_url(&mut tx, member).await? else {
            return Err(StoreError::NotFound(format!("{member} has no webhook")));
        };
        sqlx::query("DELETE FROM member_webhooks WHERE member_id = $1")
            .bind(member.to_string())
            .execute(&mut *tx)
            .await?;
        event(
            &mut tx,
            actor,
            "webhook.remove",
            &member.to_string(),
            serde_json::json!({ "url": url }),
        )
        .await?;
        tx.commit().await?;
        Ok(url)
    }

    /// `member`'s webhook URL, if it has one.
    pub async fn webhook(&self, member: &MemberId) -> Result<Option<String>> {
        let mut tx = self.pool.begin().await?;
        let url = webhook_url(&mut tx, member).await?;
        tx.commit().await?;
        Ok(url)
    }

    /// Claims up to `limit` deliveries due at `now_ms` (each is left alone for a while, so the
    /// sender does not take it twice) and fails those whose member has removed its webhook.
    pub async fn claim_deliveries(&self, now_ms: i64, limit: i64) -> Result<Vec<DueDelivery>> {
        let (_g, mut tx) = self.begin().await?;
        let rows = sqlx::query(&format!(
            "SELECT d.id AS id, d.member_id AS member_id, d.event AS event, d.payload AS payload, \
             d.attempts AS attempts, w.url AS url, w.secret AS secret \
             FROM webhook_deliveries d LEFT JOIN member_webhooks w ON w.member_id = d.member_id \
             WHERE d.state = 'pending' AND d.next_attempt_at <= $1 \
             ORDER BY d.next_attempt_at, d.id LIMIT {limit}"
        ))
        .bind(now_ms)
        .fetch_all(&mut *tx)
        .await?;
        let mut due = Vec::new();
        for r in &rows {
            let id: String = r.try_get("id")?;
            let url: Option<String> = r.try_get("url")?;
            let secret: Option<String> = r.try_get("secret")?;
            let (Some(url), Some(secret)) = (url, secret) else {
                mark(
                    &mut tx,
                    &id,
                    "failed",
                    None,
                    Some("the member removed its webhook"),
                    now_ms,
                )
                .await?;
                continue;
            };
            mark(&mut tx, &id, "pending", None, None, now_ms + CLAIM_MS).await?;
            let payload: String = r.try_get("payload")?;
            due.push(DueDelivery {
                id,
                member: r.try_get("member_id")?,
                event: r.try_get("event")?,
                request: serde_json::from_str(&payload)
                    .map_err(|e| StoreError::Corrupt(format!("delivery payload: {e}")))?,
                attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
                url,
                secret,
            });
        }
        tx.commit().await?;
        Ok(due)
    }

    /// Records an attempt of delivery `id`: delivered (`retry_at` and `error` `None`), to be
    /// retried at `retry_at`, or failed for good (`retry_at` `None`, `error` set).
    pub async fn delivery_attempted(
        &self,
        id: &str,
        retry_at: Option<i64>,
        error: Option<&str>,
    ) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        let now = to_millis(OffsetDateTime::now_utc());
        let (state, at) = match (retry_at, error) {
            (_, None) => ("delivered", now),
            (Some(at), Some(_)) => ("pending", at),
            (None, Some(_)) => ("failed", now),
        };
        sqlx::query("UPDATE webhook_deliveries SET attempts = attempts + 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        mark(&mut tx, id, state, Some(now), error, at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// `member`'s latest deliveries, newest first.
    pub async fn deliveries_of(
        &self,
        member: &MemberId,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT id, event, request_id, state, attempts, last_error, updated_at \
             FROM webhook_deliveries WHERE member_id = $1 ORDER BY created_at DESC, id LIMIT {limit}"
        ))
        .bind(member.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryRecord {
                    id: r.try_get("id")?,
                    event: r.try_get("event")?,
                    request_id: r.try_get("request_id")?,
                    state: r.try_get("state")?,
                    attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
                    last_error: r.try_get("last_error")?,
                    updated_at: from_millis(r.try_get("updated_at")?),
                })
            })
            .collect()
    }
}

async fn webhook_url(tx: &mut Transaction<'_, Any>, member: &MemberId) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT url FROM member_webhooks WHERE member_id = $1")
            .bind(member.to_string())
            .fetch_optional(&mut **tx)
            .await?,
    )
}

async fn mark(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    state: &str,
    updated: Option<i64>,
    error: Option<&str>,
    next_at: i64,
) -> Result<()> {
    let updated = updated.unwrap_or_else(|| to_millis(OffsetDateTime::now_utc()));
    sqlx::query(
        "UPDATE webhook_deliveries SET state = $1, updated_at = $2, \
         last_error = COALESCE($3, last_error), next_attempt_at = $4 WHERE id = $5",
    )
    .bind(state)
    .bind(updated)
    .bind(error)
    .bind(next_at)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
