//! The SLA report as the API and the web UI both ask for it: the query checked, the stored
//! aggregate rows of the period folded by [`crate::attainment::Attainment`]. One implementation,
//! so a page and `GET /v1/slas/report` never disagree.

use crate::attainment::{Attainment, Scope, MAX_SERIES_STEPS};
use crate::store::{AggregateScope, StoreError};
use crate::Authority;
use psn_api::{SlaReport, SlaReportQuery};
use time::{Duration, OffsetDateTime, UtcOffset};

/// Longest period one SLA report covers.
pub const MAX_REPORT_DAYS: i64 = 400;
/// Default SLA report period, ending now.
pub const DEFAULT_REPORT_DAYS: i64 = 30;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The query asks for something no report can be: the caller's to fix.
    #[error("{0}")]
    Invalid(String),
    /// Reading the rows failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The period `[since, until)` a query asks for, as of `now`, checked.
fn period(
    q: &SlaReportQuery,
    now: OffsetDateTime,
) -> Result<(OffsetDateTime, OffsetDateTime), ReportError> {
    let invalid = |m: String| ReportError::Invalid(m);
    let until = q.until.unwrap_or(now).to_offset(UtcOffset::UTC);
    let since = match q.since {
        Some(since) => since.to_offset(UtcOffset::UTC),
        None => until
            .checked_sub(Duration::days(DEFAULT_REPORT_DAYS))
            .ok_or_else(|| invalid("until is too early".into()))?,
    };
    if since >= until {
        return Err(invalid(format!(
            "since ({since}) must be before until ({until})"
        )));
    }
    if until - since > Duration::days(MAX_REPORT_DAYS) {
        return Err(invalid(format!(
            "a report covers at most {MAX_REPORT_DAYS} days; narrow since and until"
        )));
    }
    if since.year() < 1970 || until.year() > 9998 {
        return Err(invalid(
            "since and until must be between 1970 and 9998".into(),
        ));
    }
    Ok((since, until))
}

/// The series step a query asks for, checked against its period.
fn series_step(
    q: &SlaReportQuery,
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<Option<Duration>, ReportError> {
    let Some(step) = q.step else {
        return Ok(None);
    };
    if q.service.is_none() {
        return Err(ReportError::Invalid(
            "step asks for one service over time; name the service".into(),
        ));
    }
    if step == 0 || step % 60 != 0 {
        return Err(ReportError::Invalid(format!(
            "step {step} must be a whole number of minutes, in seconds (60, 300, 3600 …)"
        )));
    }
    let seconds = (until - since).whole_seconds().unsigned_abs();
    if seconds.div_ceil(step) > MAX_SERIES_STEPS {
        return Err(ReportError::Invalid(format!(
            "step {step} cuts the period into more than {MAX_SERIES_STEPS} steps; widen it"
        )));
    }
    let step = i64::try_from(step)
        .map(Duration::seconds)
        .map_err(|_| ReportError::Invalid(format!("step {step} is too large")))?;
    Ok(Some(step))
}

/// SLA attainment and breaches over the period `q` asks for (ending `now` by default).
pub async fn sla_report(
    a: &Authority,
    q: &SlaReportQuery,
    now: OffsetDateTime,
) -> Result<SlaReport, ReportError> {
    let (since, until) = period(q, now)?;
    let step = series_step(q, since, until)?;
    let store_scope = match (&q.service, &q.provider) {
        (Some(service), _) => AggregateScope::Service(service),
        (None, Some(provider)) => AggregateScope::Provider(provider),
        (None, None) => AggregateScope::All,
    };
    let mut report = Attainment::new(
        since,
        until,
        Scope {
            service: q.service.clone(),
            provider: q.provider.clone(),
            consumer: q.consumer.clone(),
        },
        a.store.slas().await?,
    );
    if let Some(step) = step {
        report = report.with_series(step);
    }
    // Whole minutes around the period; the report itself keeps exactly [since, until).
    let (first, last) = (
        since.unix_timestamp().div_euclid(60),
        until.unix_timestamp().div_euclid(60) + 1,
    );
    a.store
        .each_aggregate_row(first, last, store_scope, |row| report.add(&row))
        .await?;
    Ok(report.finish())
}
