//! The registry's storage: one schema and one set of queries for SQLite (embedded default) and
//! PostgreSQL, through sqlx's `Any` driver. Every write is one transaction that also appends to
//! the administrative audit trail and bumps the registry generation, so a configuration build
//! can tell whether anything changed since the last one.

use changes::Changed;
pub use changes::{Increment, MemberEntries};
use packed::Packed;
use psn_api::{
    AdminEvent, AggregateDelivery, CertificateView, GatewayView, MemberQuery, MemberView, NewMember,
};
use psn_core::access::Grant;
use psn_core::aggregate::{
    AggregateBatch, AggregateCounts, AggregateKey, AggregateRow, LatencyHistogram, LogCursor,
    Outcome, SampleKind, Side,
};
use psn_core::config::{MemberEntry, MemberStatus, ServiceEntry};
use psn_core::names::{
    ClassCode, GatewayCode, GatewayId, MemberClass, MemberClasses, MemberId, NetworkId, ServiceId,
    SubsystemId,
};
use psn_core::sla::SlaDeclaration;
use psn_pki::IssuedCertificate;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyConnection, AnyPool, Executor, Row, Transaction};
use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::Duration;
use time::OffsetDateTime;

mod changes;
mod config_fetches;
mod documents;
mod federation;
mod listings;
mod oidc;
mod overview;
mod packed;
mod people;

pub use access::{DeliveryRecord, DueDelivery, RequestChange, RequestFilter};
pub use benchmarks::{CurrentReturn, MAX_PEER_GROUPS, MAX_VERSIONS};
pub use compliance::{parse_id, Decided, Hold, Issue};
pub use documents::{sha256_hex, StoredDocument};
pub use federation::{NewPartner, PartnerRecord, Received};
pub use listings::ListingSource;
pub use oidc::{OidcIdentity, OidcLinked, OidcPending};
pub use overview::{EventFilter, ServiceFilter};
pub use people::{FailedSignIn, NewPersonRecord, NewSession, SignInRecord};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The write conflicts with what is stored.
    #[error("{0}")]
    Conflict(String),
    /// The write is not allowed in the current state.
    #[error("{0}")]
    Refused(String),
    /// The input cannot be stored as given (a number beyond the database's range).
    #[error("{0}")]
    Invalid(String),
    /// Stored data could not be read back (corruption or a newer schema).
    #[error("stored data unreadable: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A write batched with others' failed; the reason is the batch's.
    #[error("a batched write failed: {0}")]
    Batch(String),
}

type Result<T> = std::result::Result<T, StoreError>;

mod access;
mod benchmarks;
mod checkpoints;
mod compliance;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Milliseconds since the Unix epoch, the storage form of every timestamp.
pub fn to_millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Inverse of [`to_millis`].
pub fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn parse<T: FromStr>(what: &str, text: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e: T::Err| StoreError::Corrupt(format!("{what} {text:?}: {e}")))
}

/// A registered gateway certificate to be recorded.
pub struct CertificateRecord<'a> {
    /// The gateway it was issued to.
    pub gateway: &'a GatewayId,
    /// The certificate.
    pub certificate: &'a IssuedCertificate,
}

/// A pending enrolment token.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    /// Member the token is for.
    pub member: MemberId,
    /// Gateway code it enrols.
    pub gateway: GatewayCode,
    /// Expiry.
    pub expires_at: OffsetDateTime,
    /// When it was used, if it was.
    pub used_at: Option<OffsetDateTime>,
}

/// A service's catalogue summary as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    /// Identifier.
    pub id: ServiceId,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Process identifiers.
    pub processes: Vec<String>,
    /// Lifecycle, type, who may apply and the other terms.
    pub details: psn_api::ListingDetails,
}

/// Everything the global configuration is built from, read in one transaction.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Registry generation the snapshot reflects.
    pub generation: i64,
    /// Classes.
    pub classes: Vec<MemberClass>,
    /// All members, as the configuration lists them.
    pub members: Vec<MemberEntry>,
    /// Subsystems of active members.
    pub subsystems: Vec<SubsystemId>,
    /// Active gateways of active members, with addresses.
    pub gateways: Vec<(GatewayId, Option<String>)>,
    /// Services of active members, as the configuration lists them.
    pub services: Vec<ServiceEntry>,
    /// Serials of revoked certificates that have not yet expired.
    pub revoked_serials: Vec<String>,
    /// What each federated partner exports to this network, as last received.
    pub federation: Vec<Received>,
}

/// How a new configuration version is stored.
#[derive(Debug, Clone, Copy)]
pub enum StoredVersion<'a> {
    /// Its whole document and the document's SHA-256 (base64url).
    Whole { digest: &'a str, document: &'a str },
    /// Its delta from the version before ([`psn_core::config_delta::ConfigDelta`] JSON); the
    /// document follows with [`Store::set_config_document`].
    Delta(&'a str),
}

/// A stored configuration version.
#[derive(Debug, Clone)]
pub struct ConfigRecord {
    /// Version number.
    pub version: u64,
    /// Registry generation it was built from.
    pub generation: i64,
    /// Expiry.
    pub expires_at: OffsetDateTime,
    /// The document ([`psn_core::config::ConfigDocument`] JSON), unless pruned or not yet
    /// written.
    pub document: Option<String>,
    /// The delta from the version before, when the version was worked out from it.
    pub delta: Option<String>,
}

/// How many recent configuration documents keep their full text; older versions keep their
/// digest only (gateways archive the documents they accepted).
const KEEP_DOCUMENTS: i64 = 50;

/// The registry database.
pub struct Store {
    pool: AnyPool,
    /// SQLite allows one writer; serialising writes in-process avoids lock-upgrade failures and
    /// costs nothing measurable for administrative traffic.
    write_lock: tokio::sync::Mutex<()>,
    /// Gateways' configuration fetch notes, group-committed.
    fetch_notes: config_fetches::FetchNotes,
}

impl Store {
    /// Opens (creating if needed) the database at `url` and applies migrations.
    /// `sqlite://path` or `postgres://...`.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let url = if sqlite && !url.contains("mode=") {
            format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
        } else {
            url.to_owned()
        };
        // A PostgreSQL server that is down (restarting, failing over) makes each request wait
        // this long for a connection before it is answered `503 unavailable`: long enough to
        // ride out a busy pool, short enough that a caller hears promptly and can retry.
        // SQLite's connections are files and only wait for a busy pool.
        let acquire_timeout = Duration::from_secs(if sqlite { 30 } else { 5 });
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 8 })
            .acquire_timeout(acquire_timeout)
            .after_connect(move |conn: &mut AnyConnection, _| {
                Box::pin(async move {
                    if sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool,
            write_lock: tokio::sync::Mutex::new(()),
            fetch_notes: config_fetches::FetchNotes::default(),
        })
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin(&self) -> Result<(tokio::sync::MutexGuard<'_, ()>, Transaction<'_, Any>)> {
        let guard = self.write_lock.lock().await;
        let tx = self.pool.begin().await?;
        Ok((guard, tx))
    }

    /// Records the network id and default classes at `init`; refuses a database that already
    /// belongs to another network.
    pub async fn init_network(&self, network: &NetworkId, classes: &MemberClasses) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        let existing: Option<String> = sqlx::query_scalar("SELECT id FROM network")
            .fetch_optional(&mut *tx)
            .await?;
        match existing {
            Some(id) if id == network.as_str() => return Ok(()),
            Some(id) => {
                return Err(StoreError::Conflict(format!(
                    "this database already belongs to network {id}, not {network}"
                )))
            }
            None => {}
        }
        let now = to_millis(OffsetDateTime::now_utc());
        sqlx::query("INSERT INTO network (id, created_at) VALUES ($1, $2)")
            .bind(network.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        for class in classes.iter() {
            insert_class(&mut tx, class).await?;
        }
        event(
            &mut tx,
            "system",
            "network.init",
            network.as_str(),
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The network this database belongs to.
    pub async fn network(&self) -> Result<Option<NetworkId>> {
        let id: Option<String> = sqlx::query_scalar("SELECT id FROM network")
            .fetch_optional(&self.pool)
            .await?;
        id.map(|id| parse("network id", &id)).transpose()
    }

    /// The member classes.
    pub async fn classes(&self) -> Result<MemberClasses> {
        classes(&self.pool).await
    }

    /// Adds or replaces a member class.
    pub async fn put_class(&self, actor: &str, class: &MemberClass) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        sqlx::query("DELETE FROM member_classes WHERE code = $1")
            .bind(class.code().as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| in_use(e, "the class has members; its pattern cannot be replaced"))?;
        insert_class(&mut tx, class).await?;
        event(
            &mut tx,
            actor,
            "class.put",
            class.code().as_str(),
            serde_json::to_value(class).unwrap_or_default(),
        )
        .await?;
        bump(&mut tx, Changed::Everything).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Registers a member whose code the caller has validated against its class.
    pub async fn add_member(&self, actor: &str, member: &NewMember) -> Result<MemberView> {
        let (_g, mut tx) = self.begin().await?;
        if member_exists(&mut tx, &member.id).await? {
            return Err(StoreError::Conflict(format!(
                "member {} already exists",
                member.id
            )));
        }
        insert_member(&mut tx, member).await?;
        event(
            &mut tx,
            actor,
            "member.add",
            &member.id.to_string(),
            serde_json::to_value(member).unwrap_or_default(),
        )
        .await?;
        bump(&mut tx, Changed::Member(&member.id)).await?;
        tx.commit().await?;
        self.member(&member.id)
            .await?
            .ok_or_else(|| StoreError::NotFound(member.id.to_string()))
    }

    /// Registers every member not yet registered, in one transaction. Returns (created, existing).
    pub async fn import_members(
        &self,
        actor: &str,
        members: &[NewMember],
    ) -> Result<(Vec<MemberId>, Vec<MemberId>)> {
        let (_g, mut tx) = self.begin().await?;
        let existing_ids: std::collections::HashSet<String> =
            sqlx::query_scalar("SELECT id FROM members")
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
        let (mut created, mut existing) = (Vec::new(), Vec::new());
        let mut seen = std::collections::HashSet::new();
        for member in members {
            let id = member.id.to_string();
            if existing_ids.contains(&id) || !seen.insert(id) {
                existing.push(member.id.clone());
                continue;
            }
            insert_member(&mut tx, member).await?;
            created.push(member.id.clone());
        }
        if !created.is_empty() {
            event(
                &mut tx,
                actor,
                "member.import",
                "members",
                serde_json::json!({ "created": created.len(), "existing": existing.len() }),
            )
            .await?;
            bump(&mut tx, Changed::Everything).await?;
        }
        tx.commit().await?;
        Ok((created, existing))
    }

    /// One member with subsystems and gateways.
    pub async fn member(&self, id: &MemberId) -> Result<Option<MemberView>> {
        let row = sqlx::query(&format!("{MEMBER_COLUMNS} WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut member = member_from_row(&row)?;
        member.subsystems = self.subsystems_of(id).await?;
        member.gateways = self.gateways_of(id).await?;
        Ok(Some(member))
    }

    /// Members matching a query, ordered by id, with the total count.
    pub async fn list_members(
        &self,
        query: &MemberQuery,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<MemberView>, u64)> {
        // sqlx's `Any` query builder writes `?` placeholders, which PostgreSQL rejects, so the
        // filter is assembled with numbered `$N` placeholders that both databases accept.
        let mut clause = String::from(" WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        let mut filter = |sql: &str, value: String| {
            binds.push(value);
            clause.push_str(&sql.replace("{}", &format!("${}", binds.len())));
        };
        if let Some(class) = &query.class {
            filter(" AND class = {}", class.clone());
        }
        if let Some(status) = query.status {
            filter(" AND status = {}", status.as_str().to_owned());
        }
        if let Some(sector) = &query.sector {
            filter(" AND sector = {}", sector.clone());
        }
        if let Some(text) = &query.q {
            filter(
                " AND (LOWER(name) LIKE {} OR LOWER(id) LIKE {})",
                format!("%{}%", text.to_lowercase()),
            );
        }
        let count_sql = format!("SELECT COUNT(*) FROM members{clause}");
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
        for b in &binds {
            count = count.bind(b);
        }
        let total = count.fetch_one(&self.pool).await?;
        let list_sql = format!(
            "{MEMBER_COLUMNS}{clause} ORDER BY id LIMIT ${} OFFSET ${}",
            binds.len() + 1,
            binds.len() + 2
        );
        let mut list = sqlx::query(&list_sql);
        for b in &binds {
            list = list.bind(b);
        }
        let rows = list
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(i64::try_from(offset).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        let members = rows
            .iter()
            .map(member_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok((members, u64::try_from(total).unwrap_or(0)))
    }

    /// Changes a member's status; refuses changes out of `left` and no-op changes.
    pub async fn set_member_status(
        &self,
        actor: &str,
        id: &MemberId,
        status: MemberStatus,
        reason: Option<&str>,
    ) -> Result<MemberView> {
        let (_g, mut tx) = self.begin().await?;
        let current: Option<String> =
            sqlx::query_scalar("SELECT status FROM members WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let current: MemberStatus = match current {
            None => return Err(StoreError::NotFound(format!("no member {id}"))),
            Some(s) => parse("member status", &s)?,
        };
        if current == status {
            return Err(StoreError::Conflict(format!(
                "member {id} is already {}",
                status.as_str()
            )));
        }
        if current == MemberStatus::Left {
            return Err(StoreError::Refused(format!(
                "member {id} has left the network"
            )));
        }
        sqlx::query(
            "UPDATE members SET status = $1, status_reason = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(to_millis(OffsetDateTime::now_utc()))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        let action = format!(
            "member.{}",
            if status == MemberStatus::Active {
                "reinstate"
            } else {
                status.as_str()
            }
        );
        event(
            &mut tx,
            actor,
            &action,
            &id.to_string(),
            serde_json::json!({ "from": current.as_str(), "reason": reason }),
        )
        .await?;
        bump(&mut tx, Changed::Member(id)).await?;
        tx.commit().await?;
        self.member(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))
    }

    /// Adds a subsystem to an existing member.
    pub async fn add_subsystem(&self, actor: &str, id: &SubsystemId) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        if !member_exists(&mut tx, id.member()).await? {
            return Err(StoreError::NotFound(format!("no member {}", id.member())));
        }
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM subsystems WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict(format!(
                "subsystem {id} already exists"
            )));
        }
        sqlx::query(
            "INSERT INTO subsystems (id, member_id, code, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id.to_string())
        .bind(id.member().to_string())
        .bind(id.code().as_str())
        .bind(to_millis(OffsetDateTime::now_utc()))
        .execute(&mut *tx)
        .await?;
        event(
            &mut tx,
            actor,
            "subsystem.add",
            &id.to_string(),
            serde_json::json!({}),
        )
        .await?;
        bump(&mut tx, Changed::Member(id.member())).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Subsystems of a member.
    pub async fn subsystems_of(&self, member: &MemberId) -> Result<Vec<SubsystemId>> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM subsystems WHERE member_id = $1 ORDER BY id")
                .bind(member.to_string())
                .fetch_all(&self.pool)
                .await?;
        ids.iter().map(|id| parse("subsystem id", id)).collect()
    }

    /// Gateways of a member with their certificates.
    pub async fn gateways_of(&self, member: &MemberId) -> Result<Vec<GatewayView>> {
        let rows = sqlx::query(
            "SELECT g.id AS id, g.address AS address, g.status AS status, \
             f.config_version AS config_version, f.fetched_at AS fetched_at FROM gateways g \
             LEFT JOIN gateway_config_fetches f ON f.gateway_id = g.id \
             WHERE g.member_id = $1 ORDER BY g.id",
        )
        .bind(member.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut gateways = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get("id")?;
            let certs = sqlx::query(
                "SELECT serial, not_before, not_after, revoked_at FROM certificates \
                 WHERE gateway_id = $1 ORDER BY issued_at DESC, serial",
            )
            .bind(&id)
            .fetch_all(&self.pool)
            .await?;
            let certificates = certs
                .iter()
                .map(|c| {
                    Ok(CertificateView {
                        serial: c.try_get("serial")?,
                        not_before: from_millis(c.try_get("not_before")?),
                        not_after: from_millis(c.try_get("not_after")?),
                        revoked_at: c.try_get::<Option<i64>, _>("revoked_at")?.map(from_millis),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            gateways.push(GatewayView {
                id: parse("gateway id", &id)?,
                address: row.try_get("address")?,
                status: row.try_get("status")?,
                certificates,
                config: overview::config_held(&row)?,
            });
        }
        Ok(gateways)
    }

    /// Whether a gateway identity with this certificate serial may use member endpoints: the
    /// gateway is active, its member is active and the certificate is known and not revoked.
    pub async fn gateway_access(
        &self,
        id: &GatewayId,
        serial: &str,
    ) -> Result<std::result::Result<(), String>> {
        let row = sqlx::query(
            "SELECT g.status AS gateway_status, m.status AS member_status, c.revoked_at AS revoked_at \
             FROM certificates c JOIN gateways g ON g.id = c.gateway_id JOIN members m ON m.id = g.member_id \
             WHERE c.serial = $1 AND c.gateway_id = $2",
        )
        .bind(serial)
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(Err(format!("certificate {serial} was not issued to {id}")));
        };
        let gateway_status: String = row.try_get("gateway_status")?;
        let member_status: String = row.try_get("member_status")?;
        let revoked: Option<i64> = row.try_get("revoked_at")?;
        Ok(if gateway_status != "active" || revoked.is_some() {
            Err(format!("gateway {id} or its certificate has been revoked"))
        } else if member_status != "active" {
            Err(format!("member {} is {member_status}", id.member()))
        } else {
            Ok(())
        })
    }

    /// Stores a token's hash for later redemption.
    pub async fn create_token(
        &self,
        actor: &str,
        secret_hash: &str,
        gateway: &GatewayId,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM members WHERE id = $1")
            .bind(gateway.member().to_string())
            .fetch_optional(&mut *tx)
            .await?;
        match status.as_deref() {
            None => {
                return Err(StoreError::NotFound(format!(
                    "no member {}",
                    gateway.member()
                )))
            }
            Some("active") => {}
            Some(s) => {
                return Err(StoreError::Refused(format!(
                    "member {} is {s}",
                    gateway.member()
                )))
            }
        }
        let gw_status: Option<String> =
            sqlx::query_scalar("SELECT status FROM gateways WHERE id = $1")
                .bind(gateway.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if gw_status.as_deref() == Some("revoked") {
            return Err(StoreError::Refused(format!(
                "gateway {gateway} has been revoked; enrol under a new gateway code"
            )));
        }
        sqlx::query(
            "INSERT INTO enrolment_tokens (secret_hash, member_id, gateway_code, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(secret_hash)
        .bind(gateway.member().to_string())
        .bind(gateway.code().as_str())
        .bind(actor)
        .bind(to_millis(OffsetDateTime::now_utc()))
        .bind(to_millis(expires_at))
        .execute(&mut *tx)
        .await?;
        event(
            &mut tx,
            actor,
            "token.create",
            &gateway.to_string(),
            serde_json::json!({ "expires_at": to_millis(expires_at) }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The token stored under a secret hash.
    pub async fn token(&self, secret_hash: &str) -> Result<Option<TokenRecord>> {
        let row = sqlx::query("SELECT member_id, gateway_code, expires_at, used_at FROM enrolment_tokens WHERE secret_hash = $1")
            .bind(secret_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(TokenRecord {
                member: parse("member id", &r.try_get::<String, _>("member_id")?)?,
                gateway: parse("gateway code", &r.try_get::<String, _>("gateway_code")?)?,
                expires_at: from_millis(r.try_get("expires_at")?),
                used_at: r.try_get::<Option<i64>, _>("used_at")?.map(from_millis),
            })
        })
        .transpose()
    }

    /// Marks the token used and registers the gateway and its first certificate, atomically.
    /// Fails with `Conflict` if the token was used meanwhile, so a token works exactly once.
    pub async fn redeem_token(
        &self,
        secret_hash: &str,
        record: CertificateRecord<'_>,
        address: Option<&str>,
    ) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        let now = to_millis(OffsetDateTime::now_utc());
        let used = sqlx::query(
            "UPDATE enrolment_tokens SET used_at = $1 WHERE secret_hash = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(secret_hash)
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() != 1 {
            return Err(StoreError::Conflict(
                "the enrolment token has already been used".into(),
            ));
        }
        let gateway = record.gateway;
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM gateways WHERE id = $1")
                .bind(gateway.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        match status.as_deref() {
            Some("revoked") => {
                return Err(StoreError::Refused(format!(
                    "gateway {gateway} has been revoked"
                )))
            }
            Some(_) => {
                sqlx::query("UPDATE gateways SET address = COALESCE($1, address), updated_at = $2 WHERE id = $3")
                    .bind(address)
                    .bind(now)
                    .bind(gateway.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            None => {
                sqlx::query(
                    "INSERT INTO gateways (id, member_id, code, address, status, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, 'active', $5, $5)",
                )
                .bind(gateway.to_string())
                .bind(gateway.member().to_string())
                .bind(gateway.code().as_str())
                .bind(address)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        insert_certificate(&mut tx, &record, now).await?;
        event(
            &mut tx,
            "system",
            "gateway.enrol",
            &gateway.to_string(),
            serde_json::json!({ "serial": record.certificate.serial, "address": address }),
        )
        .await?;
        bump(&mut tx, Changed::Member(gateway.member())).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a renewed certificate.
    pub async fn record_renewal(&self, record: CertificateRecord<'_>) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        let now = to_millis(OffsetDateTime::now_utc());
        insert_certificate(&mut tx, &record, now).await?;
        let actor = format!("gateway:{}", record.gateway);
        event(
            &mut tx,
            &actor,
            "gateway.renew",
            &record.gateway.to_string(),
            serde_json::json!({ "serial": record.certificate.serial }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Updates a gateway's peer-facing address.
    pub async fn set_gateway_address(&self, gateway: &GatewayId, address: &str) -> Result<bool> {
        let (_g, mut tx) = self.begin().await?;
        let current: Option<Option<String>> =
            sqlx::query_scalar("SELECT address FROM gateways WHERE id = $1")
                .bind(gateway.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        match current {
            None => return Err(StoreError::NotFound(format!("no gateway {gateway}"))),
            Some(Some(a)) if a == address => return Ok(false),
            Some(_) => {}
        }
        sqlx::query("UPDATE gateways SET address = $1, updated_at = $2 WHERE id = $3")
            .bind(address)
            .bind(to_millis(OffsetDateTime::now_utc()))
            .bind(gateway.to_string())
            .execute(&mut *tx)
            .await?;
        let actor = format!("gateway:{gateway}");
        event(
            &mut tx,
            &actor,
            "gateway.address",
            &gateway.to_string(),
            serde_json::json!({ "address": address }),
        )
        .await?;
        bump(&mut tx, Changed::Member(gateway.member())).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Revokes a gateway and every unexpired certificate it holds. Returns the revoked serials.
    pub async fn revoke_gateway(&self, actor: &str, gateway: &GatewayId) -> Result<Vec<String>> {
        let (_g, mut tx) = self.begin().await?;
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM gateways WHERE id = $1")
                .bind(gateway.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        match status.as_deref() {
            None => return Err(StoreError::NotFound(format!("no gateway {gateway}"))),
            Some("revoked") => {
                return Err(StoreError::Conflict(format!(
                    "gateway {gateway} is already revoked"
                )))
            }
            Some(_) => {}
        }
        let now = to_millis(OffsetDateTime::now_utc());
        let serials: Vec<String> = sqlx::query_scalar(
            "SELECT serial FROM certificates WHERE gateway_id = $1 AND revoked_at IS NULL AND not_after > $2 ORDER BY serial",
        )
        .bind(gateway.to_string())
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE certificates SET revoked_at = $1 WHERE gateway_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(gateway.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE gateways SET status = 'revoked', updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(gateway.to_string())
            .execute(&mut *tx)
            .await?;
        event(
            &mut tx,
            actor,
            "gateway.revoke",
            &gateway.to_string(),
            serde_json::json!({ "serials": serials }),
        )
        .await?;
        bump(&mut tx, Changed::Member(gateway.member())).await?;
        tx.commit().await?;
        Ok(serials)
    }

    /// Registers a service's catalogue summary (the gateway issue adds the provider workflow).
    pub async fn put_service(&self, actor: &str, service: &ServiceRecord) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        let subsystem: Option<String> =
            sqlx::query_scalar("SELECT id FROM subsystems WHERE id = $1")
                .bind(service.id.subsystem().to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if subsystem.is_none() {
            return Err(StoreError::NotFound(format!(
                "no subsystem {}",
                service.id.subsystem()
            )));
        }
        let now = to_millis(OffsetDateTime::now_utc());
        let details = serde_json::to_string(&service.details)
            .map_err(|e| StoreError::Invalid(format!("listing details: {e}")))?;
        let updated = sqlx::query(
            "UPDATE services SET title = $1, description = $2, processes = $3, updated_at = $4, \
             details = $5 WHERE id = $6",
        )
        .bind(&service.title)
        .bind(&service.description)
        .bind(service.processes.join(","))
        .bind(now)
        .bind(&details)
        .bind(service.id.to_string())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO services (id, subsystem_id, title, description, processes, created_at, updated_at, details) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6, $7)",
            )
            .bind(service.id.to_string())
            .bind(service.id.subsystem().to_string())
            .bind(&service.title)
            .bind(&service.description)
            .bind(service.processes.join(","))
            .bind(now)
            .bind(&details)
            .execute(&mut *tx)
            .await?;
        }
        event(
            &mut tx,
            actor,
            "service.put",
            &service.id.to_string(),
            serde_json::json!({ "title": service.title }),
        )
        .await?;
        bump(&mut tx, Changed::Member(service.id.member())).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Withdraws a service and its grants.
    pub async fn remove_service(&self, actor: &str, id: &ServiceId) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        for dependent in [
            "DELETE FROM access_grants WHERE service_id = $1",
            "DELETE FROM service_slas WHERE service_id = $1",
            "DELETE FROM service_documents WHERE service_id = $1",
        ] {
            sqlx::query(dependent)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        let removed = sqlx::query("DELETE FROM services WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        if removed.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("no service {id}")));
        }
        event(
            &mut tx,
            actor,
            "service.remove",
            &id.to_string(),
            serde_json::json!({}),
        )
        .await?;
        bump(&mut tx, Changed::Member(id.member())).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Declares (or replaces) a service's SLA. The declaration is not part of the signed
    /// configuration, so the registry generation does not change.
    pub async fn put_sla(&self, actor: &str, sla: &SlaDeclaration) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        require_service(&mut tx, &sla.service).await?;
        let document = serde_json::to_string(sla)
            .map_err(|e| StoreError::Corrupt(format!("SLA declaration: {e}")))?;
        let now = to_millis(OffsetDateTime::now_utc());
        let updated = sqlx::query(
            "UPDATE service_slas SET document = $1, updated_at = $2 WHERE service_id = $3",
        )
        .bind(&document)
        .bind(now)
        .bind(sla.service.to_string())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO service_slas (service_id, document, updated_at) VALUES ($1, $2, $3)",
            )
            .bind(sla.service.to_string())
            .bind(&document)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        event(
            &mut tx,
            actor,
            "sla.declare",
            &sla.service.to_string(),
            serde_json::to_value(sla).unwrap_or_default(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Withdraws a service's SLA declaration.
    pub async fn remove_sla(&self, actor: &str, service: &ServiceId) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        let removed = sqlx::query("DELETE FROM service_slas WHERE service_id = $1")
            .bind(service.to_string())
            .execute(&mut *tx)
            .await?;
        if removed.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "{service} has no SLA declaration"
            )));
        }
        event(
            &mut tx,
            actor,
            "sla.withdraw",
            &service.to_string(),
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every SLA declaration, by service id.
    pub async fn slas(&self) -> Result<Vec<SlaDeclaration>> {
        let documents: Vec<String> =
            sqlx::query_scalar("SELECT document FROM service_slas ORDER BY service_id")
                .fetch_all(&self.pool)
                .await?;
        documents
            .iter()
            .map(|d| {
                serde_json::from_str(d)
                    .map_err(|e| StoreError::Corrupt(format!("stored SLA declaration: {e}")))
            })
            .collect()
    }

    /// Records a grant on an existing service; returns its id.
    pub async fn add_grant(&self, actor: &str, grant: &Grant) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        insert_grant(&mut tx, actor, grant).await?;
        bump(&mut tx, Changed::NoEntry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Withdraws a grant on one of `member`'s services.
    pub async fn revoke_grant(&self, actor: &str, member: &MemberId, id: &str) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        let service: Option<String> =
            sqlx::query_scalar("SELECT service_id FROM access_grants WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(service) = service else {
            return Err(StoreError::NotFound(format!("no grant {id}")));
        };
        let service: ServiceId = parse("service id", &service)?;
        if service.member() != member {
            return Err(StoreError::NotFound(format!(
                "no grant {id} on {member}'s services"
            )));
        }
        sqlx::query("DELETE FROM access_grants WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        event(
            &mut tx,
            actor,
            "grant.revoke",
            &service.to_string(),
            serde_json::json!({ "id": id }),
        )
        .await?;
        bump(&mut tx, Changed::NoEntry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Grants on the services of `member`.
    pub async fn grants_of(&self, member: &MemberId) -> Result<Vec<Grant>> {
        let rows = sqlx::query(
            "SELECT g.id AS id, g.service_id AS service_id, g.grantee AS grantee, g.method AS method, g.path_pattern AS path_pattern \
             FROM access_grants g JOIN services v ON v.id = g.service_id JOIN subsystems s ON s.id = v.subsystem_id \
             WHERE s.member_id = $1 ORDER BY g.service_id, g.id",
        )
        .bind(member.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Grant {
                    id: r.try_get("id")?,
                    service: parse("service id", &r.try_get::<String, _>("service_id")?)?,
                    grantee: parse("grantee", &r.try_get::<String, _>("grantee")?)?,
                    method: r.try_get("method")?,
                    path: r.try_get("path_pattern")?,
                })
            })
            .collect()
    }

    /// Bulk registration of subsystems and services for scale tests and benchmarks, in one
    /// transaction, without per-row audit events.
    pub async fn bulk_load(
        &self,
        actor: &str,
        subsystems: &[SubsystemId],
        services: &[ServiceRecord],
    ) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        let now = to_millis(OffsetDateTime::now_utc());
        for chunk in subsystems.chunks(500) {
            let sql = format!(
                "INSERT INTO subsystems (id, member_id, code, created_at) VALUES {}",
                placeholders(chunk.len(), 4)
            );
            let mut q = sqlx::query(&sql);
            for s in chunk {
                q = q
                    .bind(s.to_string())
                    .bind(s.member().to_string())
                    .bind(s.code().as_str().to_owned())
                    .bind(now);
            }
            q.execute(&mut *tx).await?;
        }
        for chunk in services.chunks(500) {
            let sql = format!(
                "INSERT INTO services (id, subsystem_id, title, description, processes, created_at, updated_at) VALUES {}",
                placeholders(chunk.len(), 7)
            );
            let mut q = sqlx::query(&sql);
            for s in chunk {
                q = q
                    .bind(s.id.to_string())
                    .bind(s.id.subsystem().to_string())
                    .bind(s.title.clone())
                    .bind(s.description.clone())
                    .bind(s.processes.join(","))
                    .bind(now)
                    .bind(now);
            }
            q.execute(&mut *tx).await?;
        }
        event(
            &mut tx,
            actor,
            "bulk.load",
            "registry",
            serde_json::json!({ "subsystems": subsystems.len(), "services": services.len() }),
        )
        .await?;
        bump(&mut tx, Changed::Everything).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The current registry generation.
    pub async fn generation(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT value FROM counters WHERE name = 'registry'")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Reads everything a configuration is built from in one transaction, so the document is a
    /// consistent picture of one registry generation.
    ///
    /// Shaped for national scale (25,000 members, 100,000 services), where the `Any` driver's
    /// cost per row dominates. Each table is read once, packed into one value by the database
    /// ([`packed`]): no joins, and no `ORDER BY`, which SQLite answers by fetching every row
    /// through the primary key index. Then only active members' rows are kept, sorted by id text
    /// in byte order (what `ORDER BY id` gives on SQLite and on PostgreSQL with the C
    /// collation). Subsystems,
    /// gateways and services find their owner by their id's prefix, so an owner's id is parsed
    /// once and cloned into its children, and only each child's own code is parsed.
    pub async fn snapshot(&self) -> Result<Snapshot> {
        use std::collections::HashMap;
        let mut tx = self.pool.begin().await?;
        let generation: i64 =
            sqlx::query_scalar("SELECT value FROM counters WHERE name = 'registry'")
                .fetch_one(&mut *tx)
                .await?;
        let classes = classes(&mut *tx).await?.iter().cloned().collect();

        let mut members = Vec::new();
        Self::each_packed(
            &mut tx,
            &["id", "name", "status", "sector", "region"],
            "members",
            |row| {
                let text = row.required("member id")?;
                let entry = changes::member_entry_of(
                    text,
                    row.required("member name")?,
                    row.required("member status")?,
                    row.field()?,
                    row.field()?,
                )?;
                members.push((text.to_owned(), entry));
                Ok(())
            },
        )
        .await?;
        Self::sort_by_id_text(&mut members);
        // Every member's id text, with its id if the member is active.
        let member_ids: HashMap<&str, Option<&MemberId>> = members
            .iter()
            .map(|(text, m)| {
                (
                    text.as_str(),
                    (m.status == MemberStatus::Active).then_some(&m.id),
                )
            })
            .collect();

        let mut subsystems = Vec::new();
        Self::each_packed(&mut tx, &["id"], "subsystems", |row| {
            let text = row.required("subsystem id")?;
            let (member, code) = Self::owner(&member_ids, "subsystem", text, '/')?;
            let id = match member {
                Some(member) => Some(SubsystemId::new(
                    member.clone(),
                    Self::own_code("subsystem", text, code)?,
                )),
                None => None,
            };
            subsystems.push((text.to_owned(), id));
            Ok(())
        })
        .await?;
        Self::sort_by_id_text(&mut subsystems);
        // Every subsystem's id text, with its id if its member is active.
        let subsystem_ids: HashMap<&str, Option<&SubsystemId>> = subsystems
            .iter()
            .map(|(text, s)| (text.as_str(), s.as_ref()))
            .collect();

        let mut gateways = Vec::new();
        Self::each_packed(
            &mut tx,
            &["id", "address"],
            "gateways WHERE status = 'active'",
            |row| {
                let text = row.required("gateway id")?;
                let address = row.field()?.map(str::to_owned);
                if let (Some(member), code) = Self::owner(&member_ids, "gateway", text, '@')? {
                    let id = GatewayId::new(member.clone(), Self::own_code("gateway", text, code)?);
                    gateways.push((text.to_owned(), (id, address)));
                }
                Ok(())
            },
        )
        .await?;
        Self::sort_by_id_text(&mut gateways);

        // Members whose services compliance withholds (no current service-provision
        // certificate where the network requires one): their services leave the configuration.
        let withheld: std::collections::HashSet<String> = sqlx::query_scalar(
            "SELECT member_id FROM compliance_holds WHERE kind = 'service-provision'",
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let mut services = Vec::new();
        Self::each_packed(&mut tx, &["id", "title", "processes"], "services", |row| {
            let text = row.required("service id")?;
            let title = row.required("service title")?;
            let processes = row.required("service processes")?;
            if let (Some(subsystem), code) = Self::owner(&subsystem_ids, "service", text, '/')? {
                if withheld.contains(&subsystem.member().to_string()) {
                    return Ok(());
                }
                let service = ServiceEntry {
                    id: ServiceId::new(subsystem.clone(), Self::own_code("service", text, code)?),
                    title: title.to_owned(),
                    processes: changes::processes(processes),
                };
                services.push((text.to_owned(), service));
            }
            Ok(())
        })
        .await?;
        Self::sort_by_id_text(&mut services);

        let revoked_serials = revoked_serials(&mut tx).await?;
        let federation = federation::received(&mut tx).await?;
        tx.commit().await?;
        Ok(Snapshot {
            generation,
            federation,
            classes,
            members: Self::without_id_text(members),
            subsystems: subsystems.into_iter().filter_map(|(_, s)| s).collect(),
            gateways: Self::without_id_text(gateways),
            services: Self::without_id_text(services),
            revoked_serials,
        })
    }

    /// [`Self::snapshot`]'s reader: reads `columns` of every row of `from` as one packed value
    /// ([`packed`] says why) and hands `f` each row's fields in turn.
    async fn each_packed(
        tx: &mut Transaction<'_, Any>,
        columns: &[&str],
        from: &str,
        mut f: impl FnMut(&mut Packed<'_>) -> Result<()>,
    ) -> Result<()> {
        let sql = packed::packed_select(columns, from);
        let text: Option<String> = sqlx::query_scalar(&sql).fetch_one(&mut **tx).await?;
        let mut rows = Packed::new(text.as_deref());
        while !rows.is_empty() {
            f(&mut rows)?;
        }
        Ok(())
    }

    /// [`Self::snapshot`]'s owner lookup: splits a child's id text at its last `separator` into
    /// the owner's id text and the child's own code, and finds the owner in `owners` (`None`
    /// there: not active). An owner missing from `owners` means the stored ids disagree.
    fn owner<'o, 't, T>(
        owners: &std::collections::HashMap<&str, Option<&'o T>>,
        what: &str,
        text: &'t str,
        separator: char,
    ) -> Result<(Option<&'o T>, &'t str)> {
        text.rsplit_once(separator)
            .and_then(|(owner, code)| Some((*owners.get(owner)?, code)))
            .ok_or_else(|| StoreError::Corrupt(format!("{what} id {text:?} names no known owner")))
    }

    /// [`Self::snapshot`]'s code parser: parses a child's own code, naming the whole id if it
    /// is wrong.
    fn own_code<T: FromStr>(what: &str, text: &str, code: &str) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        code.parse()
            .map_err(|e: T::Err| StoreError::Corrupt(format!("{what} id {text:?}: {e}")))
    }

    /// Sorts [`Self::snapshot`]'s rows by id text, in byte order. Ids are primary keys, so
    /// an unstable sort gives the one order.
    fn sort_by_id_text<T>(rows: &mut [(String, T)]) {
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    }

    /// Drops the id text [`Self::snapshot`] sorted by.
    fn without_id_text<T>(rows: Vec<(String, T)>) -> Vec<T> {
        rows.into_iter().map(|(_, row)| row).collect()
    }

    /// The newest configuration version, without its document: the publisher asks every second,
    /// and at national scale the document is tens of megabytes. [`Self::config_version`] has it.
    pub async fn latest_config(&self) -> Result<Option<ConfigRecord>> {
        let row = sqlx::query(
            "SELECT version, registry_generation, expires_at FROM config_versions ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(config_head_from_row).transpose()
    }

    /// A specific configuration version.
    pub async fn config_version(&self, version: u64) -> Result<Option<ConfigRecord>> {
        let row = sqlx::query("SELECT version, registry_generation, expires_at, document, delta FROM config_versions WHERE version = $1")
            .bind(i64::try_from(version).unwrap_or(i64::MAX))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(config_from_row).transpose()
    }

    /// Stores a newly signed configuration version, built from registry `generation`, and prunes
    /// old documents and change log rows. `Conflict` if the version exists (another authority
    /// node published first).
    pub async fn insert_config(
        &self,
        version: u64,
        generation: i64,
        issued_at: OffsetDateTime,
        expires_at: OffsetDateTime,
        stored: StoredVersion<'_>,
    ) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        let version =
            i64::try_from(version).map_err(|_| StoreError::Refused("version overflow".into()))?;
        let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM config_versions")
            .fetch_one(&mut *tx)
            .await?;
        if newest.is_some_and(|n| n >= version) {
            return Err(StoreError::Conflict(format!(
                "configuration version {version} is not newer than {}",
                newest.unwrap_or(0)
            )));
        }
        let (digest, document, delta) = match stored {
            StoredVersion::Whole { digest, document } => (digest, Some(document), None),
            StoredVersion::Delta(delta) => ("", None, Some(delta)),
        };
        sqlx::query(
            "INSERT INTO config_versions (version, registry_generation, issued_at, expires_at, digest, document, delta) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(version)
        .bind(generation)
        .bind(to_millis(issued_at))
        .bind(to_millis(expires_at))
        .bind(digest)
        .bind(document)
        .bind(delta)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE config_versions SET document = NULL WHERE version <= $1 AND document IS NOT NULL")
            .bind(version - KEEP_DOCUMENTS)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM registry_changes WHERE generation <= $1")
            .bind(generation - changes::KEEP_GENERATIONS)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes the whole document of a version stored as a delta, unless it is old enough that
    /// its document would already have been pruned.
    pub async fn set_config_document(
        &self,
        version: u64,
        digest: &str,
        document: &str,
    ) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        sqlx::query(
            "UPDATE config_versions SET digest = $1, document = $2 \
             WHERE version = $3 AND document IS NULL \
             AND version > (SELECT MAX(version) FROM config_versions) - $4",
        )
        .bind(digest)
        .bind(document)
        .bind(to_i64("configuration version", version)?)
        .bind(KEEP_DOCUMENTS)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Versions stored as deltas whose whole documents were never written, oldest first, among
    /// the versions that keep their documents.
    pub async fn versions_without_documents(&self) -> Result<Vec<u64>> {
        let versions: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM config_versions \
             WHERE document IS NULL AND delta IS NOT NULL \
             AND version > (SELECT MAX(version) FROM config_versions) - $1 ORDER BY version",
        )
        .bind(KEEP_DOCUMENTS)
        .fetch_all(&self.pool)
        .await?;
        versions
            .into_iter()
            .map(|v| {
                u64::try_from(v)
                    .map_err(|_| StoreError::Corrupt(format!("configuration version {v}")))
            })
            .collect()
    }

    /// Creates an operator with a token hash.
    pub async fn add_operator(&self, name: &str, token_hash: &str) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        sqlx::query("INSERT INTO operators (name, token_hash, created_at) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(token_hash)
            .bind(to_millis(OffsetDateTime::now_utc()))
            .execute(&mut *tx)
            .await
            .map_err(|e| in_use(e, "an operator with that name already exists"))?;
        event(
            &mut tx,
            "system",
            "operator.add",
            name,
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The operator holding a token, by the token's hash.
    pub async fn operator_by_token(&self, token_hash: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT name FROM operators WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Audit trail entries after `after`, oldest first.
    pub async fn events(&self, after: u64, limit: u64) -> Result<Vec<AdminEvent>> {
        let rows = sqlx::query("SELECT seq, at, actor, action, target, detail FROM admin_events WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(AdminEvent {
                    seq: u64::try_from(r.try_get::<i64, _>("seq")?).unwrap_or(0),
                    at: from_millis(r.try_get("at")?),
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    detail: serde_json::from_str(&detail)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                })
            })
            .collect()
    }
}

/// `($1, $2, …), ($n+1, …)` for a multi-row insert of `rows` rows of `columns` values.
fn placeholders(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=columns)
                .map(|c| format!("${}", r * columns + c))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

const MEMBER_COLUMNS: &str =
    "SELECT id, name, status, status_reason, sector, region, created_at, updated_at FROM members";

fn member_from_row(row: &AnyRow) -> Result<MemberView> {
    Ok(MemberView {
        id: parse("member id", &row.try_get::<String, _>("id")?)?,
        name: row.try_get("name")?,
        status: parse("member status", &row.try_get::<String, _>("status")?)?,
        status_reason: row.try_get("status_reason")?,
        sector: row.try_get("sector")?,
        region: row.try_get("region")?,
        created_at: from_millis(row.try_get("created_at")?),
        updated_at: from_millis(row.try_get("updated_at")?),
        subsystems: Vec::new(),
        gateways: Vec::new(),
    })
}

fn config_from_row(row: &AnyRow) -> Result<ConfigRecord> {
    Ok(ConfigRecord {
        document: row.try_get("document")?,
        delta: row.try_get("delta")?,
        ..config_head_from_row(row)?
    })
}

/// A configuration record without its document.
fn config_head_from_row(row: &AnyRow) -> Result<ConfigRecord> {
    Ok(ConfigRecord {
        version: u64::try_from(row.try_get::<i64, _>("version")?).unwrap_or(0),
        generation: row.try_get("registry_generation")?,
        expires_at: from_millis(row.try_get("expires_at")?),
        document: None,
        delta: None,
    })
}

async fn classes<'e, E: Executor<'e, Database = Any>>(executor: E) -> Result<MemberClasses> {
    let rows =
        sqlx::query("SELECT code, description, code_pattern FROM member_classes ORDER BY code")
            .fetch_all(executor)
            .await?;
    let mut classes = MemberClasses::default();
    for row in rows {
        let code: ClassCode = parse("class code", &row.try_get::<String, _>("code")?)?;
        let description: String = row.try_get("description")?;
        let pattern: String = row.try_get("code_pattern")?;
        classes.insert(
            MemberClass::new(code, description, &pattern)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        );
    }
    Ok(classes)
}

async fn insert_class(tx: &mut Transaction<'_, Any>, class: &MemberClass) -> Result<()> {
    sqlx::query("INSERT INTO member_classes (code, description, code_pattern) VALUES ($1, $2, $3)")
        .bind(class.code().as_str())
        .bind(class.description())
        .bind(class.code_pattern())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// `NotFound` unless member `id` is registered.
async fn require_member(tx: &mut Transaction<'_, Any>, id: &MemberId) -> Result<()> {
    if member_exists(tx, id).await? {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("no member {id}")))
    }
}

async fn member_exists(tx: &mut Transaction<'_, Any>, id: &MemberId) -> Result<bool> {
    let found: Option<String> = sqlx::query_scalar("SELECT id FROM members WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    Ok(found.is_some())
}

async fn insert_member(tx: &mut Transaction<'_, Any>, member: &NewMember) -> Result<()> {
    let now = to_millis(OffsetDateTime::now_utc());
    sqlx::query(
        "INSERT INTO members (id, class, code, name, status, sector, region, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $7)",
    )
    .bind(member.id.to_string())
    .bind(member.id.class().as_str())
    .bind(member.id.code().as_str())
    .bind(&member.name)
    .bind(member.sector.as_deref())
    .bind(member.region.as_deref())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_certificate(
    tx: &mut Transaction<'_, Any>,
    record: &CertificateRecord<'_>,
    now: i64,
) -> Result<()> {
    let cert = record.certificate;
    sqlx::query(
        "INSERT INTO certificates (serial, gateway_id, not_before, not_after, issued_at, pem) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&cert.serial)
    .bind(record.gateway.to_string())
    .bind(to_millis(cert.not_before))
    .bind(to_millis(cert.not_after))
    .bind(now)
    .bind(&cert.pem)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Serials of revoked certificates that have not expired, in order: what the configuration lists.
async fn revoked_serials(tx: &mut Transaction<'_, Any>) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT serial FROM certificates WHERE revoked_at IS NOT NULL AND not_after > $1 ORDER BY serial",
    )
    .bind(to_millis(OffsetDateTime::now_utc()))
    .fetch_all(&mut **tx)
    .await?)
}

/// Bumps the registry generation, which the configuration publisher follows, and logs what the
/// change touched so that the next version is worked out from the last one ([`changes`]).
async fn bump(tx: &mut Transaction<'_, Any>, changed: Changed<'_>) -> Result<()> {
    let generation: i64 = sqlx::query_scalar(
        "UPDATE counters SET value = value + 1 WHERE name = 'registry' RETURNING value",
    )
    .fetch_one(&mut **tx)
    .await?;
    let (scope, member) = changed.logged();
    sqlx::query("INSERT INTO registry_changes (generation, scope, member_id) VALUES ($1, $2, $3)")
        .bind(generation)
        .bind(scope)
        .bind(member)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Records a grant (and its event) in `tx`: shared by [`Store::add_grant`] and an approved
/// access request, so a grant made either way is the same row with the same audit trail.
async fn insert_grant(tx: &mut Transaction<'_, Any>, actor: &str, grant: &Grant) -> Result<()> {
    require_service(tx, &grant.service).await?;
    sqlx::query("INSERT INTO access_grants (id, service_id, grantee, method, path_pattern, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&grant.id)
        .bind(grant.service.to_string())
        .bind(grant.grantee.to_string())
        .bind(grant.method.as_deref())
        .bind(grant.path.as_deref())
        .bind(to_millis(OffsetDateTime::now_utc()))
        .execute(&mut **tx)
        .await?;
    event(
        tx,
        actor,
        "grant.add",
        &grant.service.to_string(),
        serde_json::to_value(grant).unwrap_or_default(),
    )
    .await
}

/// Appends to the administrative audit trail within the caller's transaction.
/// Refuses a write about a service that is not published.
async fn require_service(tx: &mut Transaction<'_, Any>, service: &ServiceId) -> Result<()> {
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM services WHERE id = $1")
        .bind(service.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    match exists {
        Some(_) => Ok(()),
        None => Err(StoreError::NotFound(format!(
            "no service {service}; publish it first"
        ))),
    }
}

async fn event(
    tx: &mut Transaction<'_, Any>,
    actor: &str,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<()> {
    let seq: i64 = sqlx::query_scalar(
        "UPDATE counters SET value = value + 1 WHERE name = 'event' RETURNING value",
    )
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query("INSERT INTO admin_events (seq, at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(seq)
        .bind(to_millis(OffsetDateTime::now_utc()))
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn in_use(e: sqlx::Error, message: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() || db.is_unique_violation() => {
            StoreError::Conflict(message.to_owned())
        }
        _ => StoreError::Database(e),
    }
}

/// Which services' aggregate rows to read.
#[derive(Debug, Clone, Copy)]
pub enum AggregateScope<'a> {
    /// Every service.
    All,
    /// One service.
    Service(&'a ServiceId),
    /// The services of one provider member.
    Provider(&'a MemberId),
}

/// The columns of an aggregate row after its reporter's, in the order [`insert_rows`] binds
/// them (the same in `aggregate_rows` and `federated_aggregate_rows`).
const AGGREGATE_ROW_COLUMNS: &str =
    "minute, side, kind, service_id, client, outcome, count, total, upstream";
/// Rows per multi-row insert: 12 values each stays well under SQLite's and PostgreSQL's limits
/// on bound parameters.
const AGGREGATE_INSERT_CHUNK: usize = 400;

/// A value of a leading column of [`insert_rows`].
#[derive(Clone)]
enum Leading {
    Text(String),
    Number(i64),
}

/// Inserts `rows` into `table_and_leading` (a table of this module and its leading columns,
/// never input, e.g. `aggregate_rows (gateway_id, batch`), each row with `leading`'s values
/// before its own.
async fn insert_rows<const N: usize>(
    tx: &mut Transaction<'_, Any>,
    table_and_leading: &str,
    leading: [Leading; N],
    rows: &[AggregateRow],
) -> Result<()> {
    for chunk in rows.chunks(AGGREGATE_INSERT_CHUNK) {
        let sql = format!(
            "INSERT INTO {table_and_leading}, {AGGREGATE_ROW_COLUMNS}) VALUES {}",
            placeholders(chunk.len(), N + 9)
        );
        let mut q = sqlx::query(&sql);
        for row in chunk {
            let total = serde_json::to_string(&row.counts.total)
                .map_err(|e| StoreError::Invalid(format!("histogram: {e}")))?;
            let upstream = serde_json::to_string(&row.counts.upstream)
                .map_err(|e| StoreError::Invalid(format!("histogram: {e}")))?;
            for value in &leading {
                q = match value {
                    Leading::Text(text) => q.bind(text.clone()),
                    Leading::Number(number) => q.bind(*number),
                };
            }
            q = q
                .bind(row.key.minute)
                .bind(row.key.side.as_str())
                .bind(row.key.kind.as_str())
                .bind(row.key.service.clone())
                .bind(row.key.client.clone())
                .bind(row.key.outcome.as_str())
                .bind(to_i64("row count", row.counts.count)?)
                .bind(total)
                .bind(upstream);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}
/// Identifiers per registry lookup when aggregate rows are filed.
const AGGREGATE_LOOKUP_CHUNK: usize = 500;

fn to_i64(what: &str, value: u64) -> Result<i64> {
    i64::try_from(value)
        .map_err(|_| StoreError::Invalid(format!("{what} {value} is beyond what can be stored")))
}

fn from_i64(what: &str, value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} is negative")))
}

fn word<T: serde::de::DeserializeOwned>(what: &str, text: String) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(text))
        .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn histogram(what: &str, text: &str) -> Result<LatencyHistogram> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what} histogram: {e}")))
}

fn cursor_text(cursor: Option<LogCursor>) -> String {
    cursor.map_or_else(
        || "none (no batch accepted yet; start from the beginning of the log)".to_owned(),
        |c| c.to_string(),
    )
}

impl Store {
    /// Where `gateway`'s next aggregate batch must start; `None` before its first batch.
    pub async fn aggregate_cursor(&self, gateway: &GatewayId) -> Result<Option<LogCursor>> {
        let row =
            sqlx::query("SELECT segment, position FROM aggregate_cursors WHERE gateway_id = $1")
                .bind(gateway.to_string())
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok(LogCursor {
                segment: from_i64("cursor segment", r.try_get(0)?)?,
                position: from_i64("cursor position", r.try_get(1)?)?,
            })
        })
        .transpose()
    }

    /// Stores a batch the caller has validated and checked belongs to `gateway`, if it starts
    /// at the gateway's cursor: the cursor moves to `batch.to`, the rows are inserted and the
    /// counts grow, all in one transaction. `Conflict` (naming the stored cursor) when it does
    /// not start there, and then nothing changes; so a batch resent after a lost answer is
    /// refused rather than counted twice.
    pub async fn accept_aggregates(
        &self,
        gateway: &GatewayId,
        batch: &AggregateBatch,
        forward: &[(NetworkId, Vec<AggregateRow>)],
    ) -> Result<LogCursor> {
        let to_segment = to_i64("cursor segment", batch.to.segment)?;
        let to_position = to_i64("cursor position", batch.to.position)?;
        let records = to_i64("record count", batch.records)?;
        let (_g, mut tx) = self.begin().await?;
        let now = to_millis(OffsetDateTime::now_utc());
        let id = gateway.to_string();
        let stored = |cursor: Option<LogCursor>| {
            StoreError::Conflict(format!(
                "the batch starts at {}, but the authority's cursor for {gateway} is {}; read the cursor and resend from there",
                cursor_text(batch.from),
                cursor_text(cursor)
            ))
        };
        let batch_no: i64 = match batch.from {
            None => {
                let existing: Option<(i64, i64)> = sqlx::query_as(
                    "SELECT segment, position FROM aggregate_cursors WHERE gateway_id = $1",
                )
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((segment, position)) = existing {
                    return Err(stored(Some(LogCursor {
                        segment: from_i64("cursor segment", segment)?,
                        position: from_i64("cursor position", position)?,
                    })));
                }
                sqlx::query(
                    "INSERT INTO aggregate_cursors (gateway_id, segment, position, batches, records, updated_at) \
                     VALUES ($1, $2, $3, 1, $4, $5)",
                )
                .bind(&id)
                .bind(to_segment)
                .bind(to_position)
                .bind(records)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    in_use(
                        e,
                        "another batch of this gateway was accepted meanwhile; read the cursor and resend from there",
                    )
                })?;
                1
            }
            Some(from) => {
                let moved: Option<i64> = sqlx::query_scalar(
                    "UPDATE aggregate_cursors SET segment = $1, position = $2, batches = batches + 1, \
                     records = records + $3, updated_at = $4 \
                     WHERE gateway_id = $5 AND segment = $6 AND position = $7 RETURNING batches",
                )
                .bind(to_segment)
                .bind(to_position)
                .bind(records)
                .bind(now)
                .bind(&id)
                .bind(to_i64("cursor segment", from.segment)?)
                .bind(to_i64("cursor position", from.position)?)
                .fetch_optional(&mut *tx)
                .await?;
                match moved {
                    Some(n) => n,
                    None => {
                        let existing: Option<(i64, i64)> = sqlx::query_as(
                            "SELECT segment, position FROM aggregate_cursors WHERE gateway_id = $1",
                        )
                        .bind(&id)
                        .fetch_optional(&mut *tx)
                        .await?;
                        let cursor = existing
                            .map(|(segment, position)| {
                                Ok::<_, StoreError>(LogCursor {
                                    segment: from_i64("cursor segment", segment)?,
                                    position: from_i64("cursor position", position)?,
                                })
                            })
                            .transpose()?;
                        return Err(stored(cursor));
                    }
                }
            }
        };
        insert_rows(
            &mut tx,
            "aggregate_rows (gateway_id, batch",
            [Leading::Text(id.clone()), Leading::Number(batch_no)],
            &batch.rows,
        )
        .await?;
        federation::queue_forwarded(&mut tx, gateway, forward).await?;
        tx.commit().await?;
        Ok(batch.to)
    }

    /// Which of `services` and of `subsystems` the registry has, for filing aggregate rows
    /// (names that are not identifiers are simply not found).
    pub async fn registered_names(
        &self,
        services: &BTreeSet<String>,
        subsystems: &BTreeSet<String>,
    ) -> Result<(BTreeSet<String>, BTreeSet<String>)> {
        Ok((
            self.existing_ids("services", services).await?,
            self.existing_ids("subsystems", subsystems).await?,
        ))
    }

    /// The members of `ids` that are the `id` of a row of `table` (a table name from this
    /// module, never input).
    async fn existing_ids(&self, table: &str, ids: &BTreeSet<String>) -> Result<BTreeSet<String>> {
        let ids: Vec<&String> = ids.iter().collect();
        let mut found = BTreeSet::new();
        for chunk in ids.chunks(AGGREGATE_LOOKUP_CHUNK) {
            let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT id FROM {table} WHERE id IN ({})", list.join(", "));
            let mut query = sqlx::query_scalar::<_, String>(&sql);
            for id in chunk {
                query = query.bind(id.as_str());
            }
            found.extend(query.fetch_all(&self.pool).await?);
        }
        Ok(found)
    }

    /// Every gateway's delivery so far, by gateway id.
    pub async fn aggregate_deliveries(&self) -> Result<Vec<AggregateDelivery>> {
        let rows = sqlx::query(
            "SELECT gateway_id, segment, position, batches, records, updated_at FROM aggregate_cursors ORDER BY gateway_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AggregateDelivery {
                    gateway: parse("gateway id", &r.try_get::<String, _>("gateway_id")?)?,
                    cursor: LogCursor {
                        segment: from_i64("cursor segment", r.try_get("segment")?)?,
                        position: from_i64("cursor position", r.try_get("position")?)?,
                    },
                    batches: from_i64("batch count", r.try_get("batches")?)?,
                    records: from_i64("record count", r.try_get("records")?)?,
                    updated_at: from_millis(r.try_get("updated_at")?),
                })
            })
            .collect()
    }

    /// Hands `f` every stored aggregate row of `scope` whose minute is in
    /// `[from_minute, until_minute)`, as the database delivers them (a report folds them as
    /// they come rather than holding them all).
    pub async fn each_aggregate_row(
        &self,
        from_minute: i64,
        until_minute: i64,
        scope: AggregateScope<'_>,
        mut f: impl FnMut(AggregateRow),
    ) -> Result<()> {
        use futures_util::TryStreamExt;
        // A prefix match written with substr and length, which both databases answer the same
        // way whatever PostgreSQL's collation (LIKE is case-insensitive on SQLite).
        let (filter, text) = match scope {
            AggregateScope::All => ("", None),
            AggregateScope::Service(s) => (" AND service_id = $3", Some(s.to_string())),
            AggregateScope::Provider(m) => (
                " AND substr(service_id, 1, length($3)) = $3",
                Some(format!("{m}/")),
            ),
        };
        // This network's gateways' rows and those partners forwarded about exchanges with it,
        // each table by its own indexes.
        let sql = ["aggregate_rows", "federated_aggregate_rows"]
            .map(|table| {
                format!(
                    "SELECT {AGGREGATE_ROW_COLUMNS} FROM {table} \
                     WHERE minute >= $1 AND minute < $2{filter}"
                )
            })
            .join(" UNION ALL ");
        let mut query = sqlx::query(&sql).bind(from_minute).bind(until_minute);
        if let Some(text) = text {
            query = query.bind(text);
        }
        let mut rows = query.fetch(&self.pool);
        while let Some(r) = rows.try_next().await? {
            let total: String = r.try_get("total")?;
            let upstream: String = r.try_get("upstream")?;
            f(AggregateRow {
                key: AggregateKey {
                    minute: r.try_get("minute")?,
                    side: word::<Side>("aggregate side", r.try_get("side")?)?,
                    kind: word::<SampleKind>("aggregate kind", r.try_get("kind")?)?,
                    service: r.try_get("service_id")?,
                    client: r.try_get("client")?,
                    outcome: word::<Outcome>("aggregate outcome", r.try_get("outcome")?)?,
                },
                counts: AggregateCounts {
                    count: from_i64("row count", r.try_get("count")?)?,
                    total: histogram("total", &total)?,
                    upstream: histogram("upstream", &upstream)?,
                },
            });
        }
        Ok(())
    }
}
