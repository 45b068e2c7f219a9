//! A catalogue entry: a provider's listing with what it declares beside what the network
//! measured (issue 16's "measured columns"). The measurement is the SLA report of the service
//! over the last 30 days (`crate::report`, so it never disagrees with `/v1/slas/report`), with
//! its volume and consumers, and the health of the provider's gateways.

use crate::report::{sla_report, ReportError};
use crate::Authority;
use psn_api::{CatalogueEntry, MeasuredQuality, ProviderFacts, ServiceListing, SlaReportQuery};
use psn_core::names::ServiceId;
use time::{Duration, OffsetDateTime};

/// The period a listing's measured columns cover, ending now.
pub const MEASURED_DAYS: i64 = 30;

/// Why an entry could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// No such service is listed.
    #[error("there is no service {0} in the catalogue")]
    NotListed(ServiceId),
    /// Reading the registry or the aggregates failed.
    #[error(transparent)]
    Report(#[from] ReportError),
}

impl From<crate::store::StoreError> for EntryError {
    fn from(e: crate::store::StoreError) -> Self {
        EntryError::Report(ReportError::Store(e))
    }
}

/// The catalogue entry of `service` as of `now`.
pub async fn entry(
    a: &Authority,
    service: &ServiceId,
    now: OffsetDateTime,
) -> Result<CatalogueEntry, EntryError> {
    let store = &a.store;
    let record = store
        .service(service)
        .await?
        .ok_or_else(|| EntryError::NotListed(service.clone()))?;
    let member = store
        .member(service.member())
        .await?
        .ok_or_else(|| EntryError::NotListed(service.clone()))?;
    let since = now - Duration::days(MEASURED_DAYS);
    let report = sla_report(
        a,
        &SlaReportQuery {
            service: Some(service.clone()),
            since: Some(since),
            until: Some(now),
            ..SlaReportQuery::default()
        },
        now,
    )
    .await?;
    let measured = report.services.first();
    let period = measured.map(|s| s.period.clone()).unwrap_or_default();
    let calls_per_day = period.exchanges as f64 / MEASURED_DAYS as f64;
    let last_breach = report
        .breaches
        .iter()
        .max_by_key(|b| b.window_start)
        .cloned();
    Ok(CatalogueEntry {
        listing: ServiceListing {
            id: record.id,
            title: record.title,
            description: record.description,
            processes: record.processes,
            details: record.details,
        },
        provider: ProviderFacts {
            id: member.id,
            name: member.name,
            status: member.status,
            sector: member.sector,
            region: member.region,
        },
        sla: measured.and_then(|s| s.sla.clone()),
        measured: MeasuredQuality {
            since: report.since,
            until: report.until,
            consumers: measured.map_or(0, |s| s.consumers.len() as u64),
            period,
            calls_per_day,
            last_breach,
        },
        gateways: store.gateway_summaries_of(service.member()).await?,
        config_version: a.publisher.current().map(|p| p.version),
        openapi: store.document_info(service).await?,
        compliance: store
            .certificates(Some(service.member()))
            .await?
            .into_iter()
            .find(|c| c.kind == crate::compliance::SERVICE_PROVISION),
    })
}

/// Longest listing title, in characters.
pub const MAX_TITLE: usize = 512;
/// Longest listing description, in characters.
pub const MAX_DESCRIPTION: usize = 4096;
/// Processes one listing may name.
pub const MAX_LISTING_PROCESSES: usize = 32;

/// The one check of a listing, whoever sends it (a provider's gateway through the API, its
/// member-admin through the web UI): its title, description, process ids (which must be in the
/// taxonomy) and terms. The error names the field at fault and says why.
pub fn check_listing(
    taxonomy: &psn_orgdata::ProcessCatalogue,
    listing: &ServiceListing,
) -> Result<(), (&'static str, String)> {
    let title = &listing.title;
    if title.trim().is_empty()
        || title.chars().count() > MAX_TITLE
        || title.chars().any(char::is_control)
    {
        return Err((
            "title",
            format!("title must be 1 to {MAX_TITLE} characters of text without control characters"),
        ));
    }
    let description = &listing.description;
    if description.chars().count() > MAX_DESCRIPTION
        || description.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err((
            "description",
            format!(
                "description must be at most {MAX_DESCRIPTION} characters without control characters"
            ),
        ));
    }
    if listing.processes.len() > MAX_LISTING_PROCESSES {
        return Err((
            "processes",
            format!("a listing may name at most {MAX_LISTING_PROCESSES} processes"),
        ));
    }
    if let Some(unknown) = listing.processes.iter().find(|p| taxonomy.get(p).is_none()) {
        return Err((
            "processes",
            format!(
                "unknown process {:?}: processes must be ids of the catalogue, like lgsl:4 or psn:1001 (see /v1/processes)",
                unknown.chars().take(64).collect::<String>()
            ),
        ));
    }
    listing.details.validate().map_err(|m| (terms_field(&m), m))
}

/// The form field a terms refusal is about, from its message.
fn terms_field(message: &str) -> &'static str {
    [
        ("sunset", "sunset"),
        ("member_classes", "member_classes"),
        ("member classes", "member_classes"),
        ("price", "price"),
        ("onboarding_terms", "onboarding_terms"),
        ("area", "areas"),
        ("contact", "contact"),
        ("version", "version"),
    ]
    .into_iter()
    .find(|(word, _)| message.contains(word))
    .map_or("lifecycle", |(_, field)| field)
}

/// Why a checked listing could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The registry refused or failed the write.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The listing is saved, but the configuration could not be published (the publisher
    /// retries).
    #[error(transparent)]
    Publish(#[from] crate::publish::PublishError),
}

/// Saves a checked listing as `actor`: the registry and its event, then the next configuration
/// version, then the search index, so a search after this returns sees it. Returns the
/// configuration version that holds it.
pub async fn save_listing(
    a: &Authority,
    actor: &str,
    listing: ServiceListing,
) -> Result<u64, SaveError> {
    crate::compliance::require(
        a,
        listing.id.subsystem().member(),
        crate::compliance::SERVICE_PROVISION,
        "publish listings",
    )
    .await
    .map_err(|e| match e {
        crate::compliance::ComplianceError::Store(e) => e,
        refused => crate::store::StoreError::Refused(refused.to_string()),
    })?;
    let record = crate::store::ServiceRecord {
        id: listing.id,
        title: listing.title,
        description: listing.description,
        processes: listing.processes,
        details: listing.details,
    };
    a.store.put_service(actor, &record).await?;
    let published = a.publisher.publish().await?;
    if let Err(error) = a.catalogue.catch_up(a, OffsetDateTime::now_utc()).await {
        tracing::warn!(%error, "indexing a listing failed; the background indexer retries");
    }
    Ok(published.version)
}
