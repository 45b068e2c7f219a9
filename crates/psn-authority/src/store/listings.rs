//! What the catalogue's search index is built from: every listing with its provider's facts,
//! read in one query, and where the events trail ends (the indexer follows the trail from
//! there, see `crate::search`).

use super::{from_millis, parse, Result, ServiceRecord, Store, StoreError};
use psn_core::config::MemberStatus;
use psn_core::names::{MemberId, ServiceId};
use sqlx::any::AnyRow;
use sqlx::Row;
use time::OffsetDateTime;

/// A listing and the facts of its provider that search filters and shows.
#[derive(Debug, Clone)]
pub struct ListingSource {
    /// The listing.
    pub record: ServiceRecord,
    /// When it was first published ("newest" sorts by this).
    pub published_at: OffsetDateTime,
    /// The provider's official name.
    pub provider_name: String,
    /// The provider's status: only active members' listings are searchable.
    pub provider_status: MemberStatus,
    /// Whether compliance withholds the provider's services (its service-provision
    /// certificate lapsed where the network requires one): then they are not searchable.
    pub services_withheld: bool,
    /// The provider's sector, where the registry has one.
    pub sector: Option<String>,
    /// The provider's region, where the registry has one.
    pub region: Option<String>,
}

impl ListingSource {
    /// Whether the catalogue shows it: its provider is active and compliance does not
    /// withhold its services.
    pub fn searchable(&self) -> bool {
        self.provider_status == MemberStatus::Active && !self.services_withheld
    }
}

/// Every listing with its provider's facts; callers add a `WHERE` and the order.
const SOURCES: &str = "SELECT v.id AS id, v.title AS title, v.description AS description, \
     v.processes AS processes, v.details AS details, v.created_at AS created_at, \
     m.name AS name, m.status AS status, m.sector AS sector, m.region AS region, \
     h.member_id AS withheld \
     FROM services v JOIN subsystems s ON s.id = v.subsystem_id \
     JOIN members m ON m.id = s.member_id \
     LEFT JOIN compliance_holds h ON h.member_id = m.id AND h.kind = 'service-provision'";

/// Services looked up per query by [`Store::listing_sources_of`], well under every database's
/// limit on bound parameters.
const SERVICES_PER_QUERY: usize = 500;

fn source(r: &AnyRow) -> Result<ListingSource> {
    let processes: String = r.try_get("processes")?;
    let details: String = r.try_get("details")?;
    Ok(ListingSource {
        record: ServiceRecord {
            id: parse("service id", &r.try_get::<String, _>("id")?)?,
            title: r.try_get("title")?,
            description: r.try_get("description")?,
            processes: processes
                .split(',')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            details: serde_json::from_str(&details)
                .map_err(|e| StoreError::Corrupt(format!("listing details: {e}")))?,
        },
        published_at: from_millis(r.try_get("created_at")?),
        provider_name: r.try_get("name")?,
        provider_status: parse("member status", &r.try_get::<String, _>("status")?)?,
        services_withheld: r.try_get::<Option<String>, _>("withheld")?.is_some(),
        sector: r.try_get("sector")?,
        region: r.try_get("region")?,
    })
}

impl Store {
    /// Every listing (or only `member`'s), by service id, with its provider's facts.
    pub async fn listing_sources(&self, member: Option<&MemberId>) -> Result<Vec<ListingSource>> {
        let sql = match member {
            Some(_) => format!("{SOURCES} WHERE m.id = $1 ORDER BY v.id"),
            None => format!("{SOURCES} ORDER BY v.id"),
        };
        let mut query = sqlx::query(&sql);
        if let Some(member) = member {
            query = query.bind(member.to_string());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(source).collect()
    }

    /// The listings of `services` (those listed), by service id, with their providers' facts:
    /// what a federated partner's view carries of the services exported to it.
    pub async fn listing_sources_of(&self, services: &[ServiceId]) -> Result<Vec<ListingSource>> {
        let mut found = Vec::new();
        for chunk in services.chunks(SERVICES_PER_QUERY) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "{SOURCES} WHERE v.id IN ({}) ORDER BY v.id",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for service in chunk {
                query = query.bind(service.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                found.push(source(&row)?);
            }
        }
        Ok(found)
    }

    /// The sequence number of the newest event in the trail (0 when there is none).
    pub async fn last_event_seq(&self) -> Result<u64> {
        let seq: i64 = sqlx::query_scalar("SELECT value FROM counters WHERE name = 'event'")
            .fetch_one(&self.pool)
            .await?;
        super::from_i64("event sequence", seq)
    }
}
