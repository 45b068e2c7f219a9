//! Benchmark reports at national scale (issue 17): every council of the registry with synthetic
//! returns for every defined process, and a council's report for each process through the
//! running authority's `GET /v1/benchmarks/report` over TLS, timed end to end from this process.
//! Each report reads every contributor's return for its process and year, ranks the council's
//! peers in the open model and sets its cost against the catalogue's providers. The anchor is
//! `GET /v1/health` on the same connection, interleaved report by report.

use super::measure::Step;
use anyhow::Context;
use psn_api::{AuthorityClient, ReportRequest};
use serde::Serialize;
use std::time::Instant;

/// The council whose reports are timed: Kent County Council, a real member in every run.
const SUBJECT: &str = "GB/LA/E10000016";

/// Report figures.
#[derive(Debug, Clone, Serialize)]
pub struct BenchmarkFigures {
    /// Synthetic returns loaded.
    pub returns: u64,
    /// Processes reported on (one report each a round).
    pub processes: usize,
    /// The most contributors behind one report's distribution.
    pub contributors: u64,
    /// Every report.
    pub report: Step,
    /// `GET /v1/health`, interleaved with the reports.
    pub anchor: Step,
}

/// Times `rounds` rounds of one report per benchmarked process for [`SUBJECT`].
pub async fn measure(
    operator: &AuthorityClient,
    returns: u64,
    rounds: usize,
) -> anyhow::Result<BenchmarkFigures> {
    let metrics = operator.benchmark_metrics().await?;
    let requests: Vec<ReportRequest> = metrics
        .metrics
        .iter()
        .map(|m| {
            Ok(ReportRequest {
                process: m.process.clone(),
                member: Some(SUBJECT.parse().context("the subject's id")?),
                ..ReportRequest::default()
            })
        })
        .collect::<anyhow::Result<_>>()?;
    // One untimed pass: connections open and the peer index built, as in a running authority.
    let mut contributors = 0;
    for request in &requests {
        let report = operator.benchmark_report(request).await?;
        contributors = contributors.max(report.distribution.map_or(0, |d| d.contributors));
    }
    let mut report = Vec::with_capacity(rounds * requests.len());
    let mut anchor = Vec::with_capacity(rounds * requests.len());
    for _ in 0..rounds {
        for request in &requests {
            let started = Instant::now();
            operator.health().await?;
            anchor.push(started.elapsed().as_secs_f64() * 1e3);
            let started = Instant::now();
            let made = operator.benchmark_report(request).await?;
            report.push(started.elapsed().as_secs_f64() * 1e3);
            anyhow::ensure!(
                made.member.is_some(),
                "a report came back without the council's own position"
            );
        }
    }
    Ok(BenchmarkFigures {
        returns,
        processes: requests.len(),
        contributors,
        report: Step::new("benchmark report (one process, one council)", report),
        anchor: Step::new("GET /v1/health (anchor)", anchor),
    })
}
