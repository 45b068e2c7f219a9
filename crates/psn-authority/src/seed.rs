//! Bulk seeding of a registry at national scale, for benchmarks (`benches/config_build.rs` and
//! `psn-bench authority-scale`), so both measure the same shape of network: every member gets a
//! `services` subsystem offering `services_per_member` services, and optionally gateways with
//! announced addresses. Registering 25,000 members through the API would take longer than the
//! measurement itself, so this writes in a few large transactions instead.
//!
//! Not for production registries: gateways seeded here have no certificates (nothing can connect
//! as them), and no per-row administrative events are written.

use crate::store::{ServiceRecord, Store, StoreError};
use psn_api::NewMember;
use psn_core::names::{GatewayId, MemberId, NameError, ServiceId, SubsystemId};
use sqlx::{AnyConnection, Connection, Executor};
use time::OffsetDateTime;

/// The subsystem every seeded member provides its services from.
pub const SUBSYSTEM: &str = "services";
/// The code of a member's first seeded gateway; later ones are `gw2`, `gw3`, …
pub const FIRST_GATEWAY: &str = "gw1";

/// How much each member gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// Services per member, `{member}/services/service-{i}`.
    pub services_per_member: usize,
    /// Gateways per member, `{member}@gw{i}`, each with a (never reachable) address.
    pub gateways_per_member: usize,
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeded {
    /// Members registered (already registered ones are not counted).
    pub members: usize,
    /// Subsystems registered.
    pub subsystems: usize,
    /// Services registered.
    pub services: usize,
    /// Gateways registered.
    pub gateways: usize,
}

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The registry refused or failed a write.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database failed while writing gateways.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A generated name is not valid (a member code that cannot be part of a name).
    #[error("seeded name: {0}")]
    Name(#[from] NameError),
    /// Some members were registered already; seeding expects an empty registry.
    #[error("{0} of the members are registered already; seed an empty registry")]
    NotEmpty(usize),
    /// The embedded process taxonomy could not be read.
    #[error("the process taxonomy: {0}")]
    Taxonomy(String),
}

/// The subsystem a seeded member provides from.
pub fn subsystem_of(member: &MemberId) -> Result<SubsystemId, SeedError> {
    Ok(SubsystemId::new(member.clone(), SUBSYSTEM.parse()?))
}

/// A seeded member's `index`-th service.
pub fn service_of(member: &MemberId, index: usize) -> Result<ServiceId, SeedError> {
    Ok(ServiceId::new(
        subsystem_of(member)?,
        format!("service-{index}").parse()?,
    ))
}

/// A seeded member's `index`-th gateway (0 is [`FIRST_GATEWAY`]).
pub fn gateway_of(member: &MemberId, index: usize) -> Result<GatewayId, SeedError> {
    Ok(GatewayId::new(
        member.clone(),
        format!("gw{}", index + 1).parse()?,
    ))
}

/// The address a seeded gateway announces: a host name of the length real ones have, under the
/// reserved `.invalid` domain so nothing ever resolves it.
fn address_of(gateway: &GatewayId) -> String {
    let member = gateway.member();
    format!(
        "{}.{}.{}.gateways.psn.invalid:8443",
        gateway.code().as_str(),
        member.code().as_str().to_ascii_lowercase(),
        member.class().as_str().to_ascii_lowercase()
    )
}

/// What a seeded service is called, after the process it supports: a search over the seeded
/// catalogue then meets real words in real proportions, not one title repeated.
const SEED_KINDS: [&str; 4] = ["service", "lookup", "data exchange", "notifications"];

/// The `index`-th service of the `member_index`-th member: a real process of the taxonomy
/// (spread so that every process appears), a title after it and its scope note.
fn seeded_listing(
    processes: &psn_orgdata::ProcessCatalogue,
    member: &MemberId,
    member_index: usize,
    index: usize,
) -> Result<ServiceRecord, SeedError> {
    let all = processes.processes();
    let process = &all[(member_index * 7 + index * 131) % all.len()];
    let description = if process.description.is_empty() {
        format!("{} for partner bodies.", process.label)
    } else {
        process.description.clone()
    };
    Ok(ServiceRecord {
        id: service_of(member, index)?,
        title: format!("{} {}", process.label, SEED_KINDS[index % SEED_KINDS.len()]),
        description,
        processes: vec![process.id.clone()],
        details: Default::default(),
    })
}

/// Registers `members` in an empty registry with their subsystems, services and gateways.
///
/// `database_url` must be the store's own database: gateways are written over a connection of
/// their own, because the store offers no bulk registration of gateways (in production every
/// gateway enrols with a certificate). They are written before the services, whose transaction
/// bumps the registry generation, so the next configuration build includes them.
pub async fn seed(
    store: &Store,
    database_url: &str,
    members: &[NewMember],
    scale: Scale,
) -> Result<Seeded, SeedError> {
    let (created, existing) = store.import_members("seed", members).await?;
    if !existing.is_empty() {
        return Err(SeedError::NotEmpty(existing.len()));
    }
    let ids: Vec<&MemberId> = members.iter().map(|m| &m.id).collect();
    let subsystems = ids
        .iter()
        .map(|m| subsystem_of(m))
        .collect::<Result<Vec<_>, _>>()?;
    let processes = psn_orgdata::ProcessCatalogue::embedded()
        .map_err(|e| SeedError::Taxonomy(e.to_string()))?;
    let mut services = Vec::with_capacity(ids.len() * scale.services_per_member);
    for (member_index, member) in ids.iter().enumerate() {
        for i in 0..scale.services_per_member {
            services.push(seeded_listing(&processes, member, member_index, i)?);
        }
    }
    let mut gateways = Vec::with_capacity(ids.len() * scale.gateways_per_member);
    for member in &ids {
        for i in 0..scale.gateways_per_member {
            gateways.push(gateway_of(member, i)?);
        }
    }
    if !gateways.is_empty() {
        insert_gateways(database_url, &gateways).await?;
    }
    store.bulk_load("seed", &subsystems, &services).await?;
    Ok(Seeded {
        members: created.len(),
        subsystems: subsystems.len(),
        services: services.len(),
        gateways: gateways.len(),
    })
}

/// Rows per `INSERT`: 7 columns each stays under SQLite's 32,766 bound parameters.
const GATEWAY_ROWS_PER_INSERT: usize = 500;

async fn insert_gateways(database_url: &str, gateways: &[GatewayId]) -> Result<(), SeedError> {
    sqlx::any::install_default_drivers();
    let mut connection = AnyConnection::connect(database_url).await?;
    if database_url.starts_with("sqlite:") {
        connection
            .execute("PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;")
            .await?;
    }
    let now = crate::store::to_millis(OffsetDateTime::now_utc());
    let mut tx = connection.begin().await?;
    for chunk in gateways.chunks(GATEWAY_ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO gateways (id, member_id, code, address, status, created_at, updated_at) VALUES {}",
            placeholders(chunk.len(), 7)
        );
        let mut query = sqlx::query(&sql);
        for gateway in chunk {
            query = query
                .bind(gateway.to_string())
                .bind(gateway.member().to_string())
                .bind(gateway.code().as_str().to_owned())
                .bind(address_of(gateway))
                .bind("active")
                .bind(now)
                .bind(now);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    connection.close().await?;
    Ok(())
}

/// `($1, $2, …), ($n+1, …)`: numbered placeholders for a multi-row insert, which both SQLite and
/// PostgreSQL accept.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_every_cell_row_by_row() {
        assert_eq!(placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(placeholders(0, 3), "");
    }

    #[test]
    fn seeded_names_are_valid_and_addresses_unresolvable() {
        let member: MemberId = "GB/LA/E10000016".parse().expect("member");
        assert_eq!(
            service_of(&member, 3).expect("service").to_string(),
            "GB/LA/E10000016/services/service-3"
        );
        let gateway = gateway_of(&member, 0).expect("gateway");
        assert_eq!(gateway.to_string(), "GB/LA/E10000016@gw1");
        assert_eq!(
            address_of(&gateway),
            "gw1.e10000016.la.gateways.psn.invalid:8443"
        );
        psn_api::validate_address(&address_of(&gateway)).expect("a valid address");
    }

    #[tokio::test]
    async fn seeds_an_empty_registry_and_the_snapshot_lists_everything() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("seed.db").display());
        let store = Store::open(&url).await.expect("store");
        let network = "GB".parse().expect("network");
        store
            .init_network(&network, &psn_core::names::MemberClasses::uk_default())
            .await
            .expect("init");
        let members: Vec<NewMember> = ["E10000016", "E10000019"]
            .iter()
            .map(|code| NewMember {
                id: format!("GB/LA/{code}").parse().expect("member"),
                name: format!("Council {code}"),
                sector: None,
                region: None,
            })
            .collect();
        let scale = Scale {
            services_per_member: 2,
            gateways_per_member: 1,
        };
        let seeded = seed(&store, &url, &members, scale).await.expect("seed");
        assert_eq!(
            seeded,
            Seeded {
                members: 2,
                subsystems: 2,
                services: 4,
                gateways: 2
            }
        );
        let snapshot = store.snapshot().await.expect("snapshot");
        assert_eq!(snapshot.members.len(), 2);
        assert_eq!(snapshot.services.len(), 4);
        assert_eq!(snapshot.gateways.len(), 2);
        assert!(snapshot.gateways.iter().all(|(_, a)| a.is_some()));
        assert!(matches!(
            seed(&store, &url, &members, scale).await,
            Err(SeedError::NotEmpty(2))
        ));
        store.close().await;
    }
}
