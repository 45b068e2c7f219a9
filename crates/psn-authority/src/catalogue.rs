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
    })
}
