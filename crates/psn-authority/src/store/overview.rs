//! Read-only queries behind the web UI's overview, service list and member pages: counts and
//! pages of what the registry already holds, computed in the database rather than from a full
//! snapshot, so pages stay cheap at national scale.

use super::{from_i64, from_millis, parse, Result, ServiceRecord, Store, StoreError};
use psn_api::{ConfigHeld, GatewaySummary};
use psn_core::names::MemberId;
use sqlx::any::AnyRow;
use sqlx::Row;

/// Which services to list.
#[derive(Debug, Clone, Default)]
pub struct ServiceFilter {
    /// Title or id contains this text (case-insensitive).
    pub text: Option<String>,
    /// Only this provider member's services.
    pub member: Option<MemberId>,
}

/// The configuration a gateway holds, from a row with `config_version` and `fetched_at` columns
/// (both NULL until its first fetch).
pub(super) fn config_held(row: &AnyRow) -> Result<Option<ConfigHeld>> {
    let version: Option<i64> = row.try_get("config_version")?;
    let fetched: Option<i64> = row.try_get("fetched_at")?;
    version
        .zip(fetched)
        .map(|(version, fetched)| {
            Ok(ConfigHeld {
                version: from_i64("configuration version", version)?,
                fetched_at: from_millis(fetched),
            })
        })
        .transpose()
}

impl Store {
    /// Members per value of a column (`class` or `region`), most first; `None` for no region.
    async fn member_counts(&self, column: &str) -> Result<Vec<(Option<String>, u64)>> {
        let sql = format!(
            "SELECT {column} AS value, COUNT(*) AS n FROM members GROUP BY {column} \
             ORDER BY n DESC, value"
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("value")?, from_i64("count", r.try_get("n")?)?)))
            .collect()
    }

    /// Members per class, most first.
    pub async fn member_counts_by_class(&self) -> Result<Vec<(Option<String>, u64)>> {
        self.member_counts("class").await
    }

    /// Members per region, most first; `None` counts members without a region.
    pub async fn member_counts_by_region(&self) -> Result<Vec<(Option<String>, u64)>> {
        self.member_counts("region").await
    }

    /// The configuration each active gateway holds (`None` until it first fetches one).
    pub async fn active_gateway_configs(&self) -> Result<Vec<Option<ConfigHeld>>> {
        let rows = sqlx::query(
            "SELECT f.config_version AS config_version, f.fetched_at AS fetched_at \
             FROM gateways g LEFT JOIN gateway_config_fetches f ON f.gateway_id = g.id \
             WHERE g.status = 'active'",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(config_held).collect()
    }

    /// A page of gateways by id, with the total.
    pub async fn gateway_page(
        &self,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<GatewaySummary>, u64)> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM gateways")
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(&format!(
            "{GATEWAY_SUMMARY} ORDER BY g.id LIMIT $1 OFFSET $2"
        ))
        .bind(super::to_i64("limit", limit)?)
        .bind(super::to_i64("offset", offset)?)
        .fetch_all(&self.pool)
        .await?;
        Ok((gateway_summaries(&rows)?, from_i64("count", total)?))
    }

    /// One member's gateways by id.
    pub async fn gateway_summaries_of(&self, member: &MemberId) -> Result<Vec<GatewaySummary>> {
        let rows = sqlx::query(&format!(
            "{GATEWAY_SUMMARY} WHERE g.member_id = $1 ORDER BY g.id"
        ))
        .bind(member.to_string())
        .fetch_all(&self.pool)
        .await?;
        gateway_summaries(&rows)
    }
}

/// Gateways with their latest delivery and configuration fetch.
const GATEWAY_SUMMARY: &str = "SELECT g.id AS id, g.address AS address, g.status AS status, \
     c.updated_at AS delivered, f.config_version AS config_version, \
     f.fetched_at AS fetched_at FROM gateways g \
     LEFT JOIN aggregate_cursors c ON c.gateway_id = g.id \
     LEFT JOIN gateway_config_fetches f ON f.gateway_id = g.id";

fn gateway_summaries(rows: &[AnyRow]) -> Result<Vec<GatewaySummary>> {
    rows.iter()
        .map(|r| {
            Ok(GatewaySummary {
                id: parse("gateway id", &r.try_get::<String, _>("id")?)?,
                address: r.try_get("address")?,
                status: r.try_get("status")?,
                config: config_held(r)?,
                last_delivery: r.try_get::<Option<i64>, _>("delivered")?.map(from_millis),
            })
        })
        .collect()
}

impl Store {
    /// A page of services by id matching `filter`, with the total.
    pub async fn service_page(
        &self,
        filter: &ServiceFilter,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<ServiceRecord>, u64)> {
        // Numbered placeholders, as in `list_members`: sqlx's `Any` builder writes `?`.
        let mut clause = String::from(" WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        if let Some(text) = &filter.text {
            binds.push(format!("%{}%", text.to_lowercase()));
            clause.push_str(" AND (LOWER(v.title) LIKE $1 OR LOWER(v.id) LIKE $1)");
        }
        if let Some(member) = &filter.member {
            binds.push(member.to_string());
            clause.push_str(&format!(" AND s.member_id = ${}", binds.len()));
        }
        let from = format!("FROM services v JOIN subsystems s ON s.id = v.subsystem_id{clause}");
        let select = "SELECT v.id AS id, v.title AS title, v.description AS description, \
                      v.processes AS processes, v.details AS details";
        let (rows, total) = self
            .paged(select, &from, "v.id", &binds, limit, offset)
            .await?;
        let services = rows
            .iter()
            .map(|r| {
                let processes: String = r.try_get("processes")?;
                let details: String = r.try_get("details")?;
                Ok(ServiceRecord {
                    details: serde_json::from_str(&details)
                        .map_err(|e| StoreError::Corrupt(format!("listing details: {e}")))?,
                    id: parse("service id", &r.try_get::<String, _>("id")?)?,
                    title: r.try_get("title")?,
                    description: r.try_get("description")?,
                    processes: processes
                        .split(',')
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                        .collect(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((services, total))
    }
}

impl Store {
    /// One service's catalogue entry.
    pub async fn service(&self, id: &psn_core::names::ServiceId) -> Result<Option<ServiceRecord>> {
        let filter = ServiceFilter {
            text: None,
            member: Some(id.member().clone()),
        };
        let (services, _) = self.service_page(&filter, u64::from(u32::MAX), 0).await?;
        Ok(services.into_iter().find(|s| &s.id == id))
    }
}

/// Which audit trail events to list.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Actions starting with this (`person.` or `member.suspend`).
    pub action: Option<String>,
    /// Target contains this (case-insensitive).
    pub target: Option<String>,
    /// Actor contains this (case-insensitive).
    pub actor: Option<String>,
}

impl Store {
    /// A page of the audit trail matching `filter`, newest first, with the total.
    pub async fn event_page(
        &self,
        filter: &EventFilter,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<psn_api::AdminEvent>, u64)> {
        let mut clause = String::from(" WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        let mut add = |sql: &str, value: String| {
            binds.push(value);
            clause.push_str(&sql.replace("{}", &format!("${}", binds.len())));
        };
        if let Some(action) = &filter.action {
            add(" AND action LIKE {}", format!("{}%", like_literal(action)));
        }
        if let Some(target) = &filter.target {
            let pattern = format!("%{}%", like_literal(&target.to_lowercase()));
            add(" AND LOWER(target) LIKE {}", pattern);
        }
        if let Some(actor) = &filter.actor {
            let pattern = format!("%{}%", like_literal(&actor.to_lowercase()));
            add(" AND LOWER(actor) LIKE {}", pattern);
        }
        let from = format!("FROM admin_events{clause}");
        let select = "SELECT seq, at, actor, action, target, detail";
        let (rows, total) = self
            .paged(select, &from, "seq DESC", &binds, limit, offset)
            .await?;
        let events = rows
            .iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(psn_api::AdminEvent {
                    seq: from_i64("seq", r.try_get("seq")?)?,
                    at: from_millis(r.try_get("at")?),
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    detail: serde_json::from_str(&detail)
                        .map_err(|e| super::StoreError::Corrupt(e.to_string()))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((events, total))
    }
}

impl Store {
    /// One page of a filtered listing: `from` is its FROM clause with a WHERE whose numbered
    /// placeholders `binds` fill in order; returns the page of `select` rows in `order` and the
    /// total that match.
    async fn paged(
        &self,
        select: &str,
        from: &str,
        order: &str,
        binds: &[String],
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<sqlx::any::AnyRow>, u64)> {
        let count_sql = format!("SELECT COUNT(*) {from}");
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
        for b in binds {
            count = count.bind(b);
        }
        let total = count.fetch_one(&self.pool).await?;
        let list_sql = format!(
            "{select} {from} ORDER BY {order} LIMIT ${} OFFSET ${}",
            binds.len() + 1,
            binds.len() + 2
        );
        let mut list = sqlx::query(&list_sql);
        for b in binds {
            list = list.bind(b);
        }
        let rows = list
            .bind(super::to_i64("limit", limit)?)
            .bind(super::to_i64("offset", offset)?)
            .fetch_all(&self.pool)
            .await?;
        Ok((rows, from_i64("count", total)?))
    }
}

/// `text` as a LIKE pattern that matches at least every value containing it: `%` becomes `_`
/// (any one character, itself included) and `_` stays, so a filter never hides a matching event
/// and never matches runs of arbitrary characters. The same on SQLite and PostgreSQL, without an
/// ESCAPE clause.
fn like_literal(text: &str) -> String {
    text.replace('%', "_")
}
