//! `psn sla ...`: service level attainment and breaches, as the authority computes them from
//! the gateways' aggregates and the providers' declarations (docs/sla.md).

use super::connect::Connect;
use super::output;
use clap::{Subcommand, ValueEnum};
use psn_api::{Breach, SlaReport, SlaReportQuery, WindowReport};
use psn_core::names::{MemberId, ServiceId};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

#[derive(Debug, Subcommand)]
pub enum SlaCommand {
    /// Attainment per service and SLA window, per consumer and per provider, and every breach
    /// with the party it is attributed to.
    Report {
        #[command(flatten)]
        connect: Connect,
        /// Only this service.
        #[arg(long)]
        service: Option<ServiceId>,
        /// Only the services of this provider member.
        #[arg(long)]
        provider: Option<MemberId>,
        /// Only the exchanges and probes of this consumer member.
        #[arg(long)]
        consumer: Option<MemberId>,
        /// Start: RFC 3339 (e.g. 2025-03-01T00:00:00Z) or a time ago (e.g. 7d, 24h); default
        /// 30 days before --until.
        #[arg(long, value_parser = parse_when)]
        since: Option<OffsetDateTime>,
        /// End (exclusive): RFC 3339 or a time ago; default now.
        #[arg(long, value_parser = parse_when)]
        until: Option<OffsetDateTime>,
        #[arg(long, value_enum, default_value_t)]
        output: ReportFormat,
    },
}

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ReportFormat {
    /// One line per service window, then providers and consumers, for people.
    #[default]
    Table,
    /// The whole report as the API gives it.
    Json,
    /// One row per service window with stable columns, for spreadsheets.
    Csv,
}

/// An instant given as RFC 3339 or as a duration before now (`24h`, `7d`), which is turned
/// into an instant here so the authority only ever sees RFC 3339.
fn parse_when(text: &str) -> Result<OffsetDateTime, String> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    let ago = psn_core::duration::parse_duration(text).map_err(|_| {
        format!("{text:?} must be an RFC 3339 time (2025-03-01T00:00:00Z) or a time ago (7d, 24h)")
    })?;
    let ago = time::Duration::try_from(ago).map_err(|e| format!("{text:?}: {e}"))?;
    OffsetDateTime::now_utc()
        .checked_sub(ago)
        .ok_or_else(|| format!("{text:?} is too long ago"))
}

/// Runs an SLA command.
pub async fn run(command: SlaCommand) -> anyhow::Result<()> {
    match command {
        SlaCommand::Report {
            connect,
            service,
            provider,
            consumer,
            since,
            until,
            output,
        } => {
            let query = SlaReportQuery {
                service,
                provider,
                consumer,
                since,
                until,
                step: None,
            };
            let report = connect.client()?.sla_report(&query).await?;
            match output {
                ReportFormat::Json => output::json(&report),
                ReportFormat::Csv => {
                    print!("{}", csv(&report));
                    Ok(())
                }
                ReportFormat::Table => {
                    table(&report);
                    Ok(())
                }
            }
        }
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// `YYYY-MM-DD HH:MM` in UK local time, the calendar SLA windows follow.
fn uk(t: OffsetDateTime) -> String {
    let local = psn_core::sla::uk_local(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        local.year(),
        u8::from(local.month()),
        local.day(),
        local.hour(),
        local.minute()
    )
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.3}%"))
}

fn breaches_text(breaches: &[Breach]) -> String {
    breaches
        .iter()
        .map(|b| format!("{}:{}", b.objective.as_str(), b.attribution.as_str()))
        .collect::<Vec<_>>()
        .join(";")
}

fn table(report: &SlaReport) {
    println!(
        "SLA report {} to {} (UK time{})",
        uk(report.since),
        uk(report.until),
        report
            .consumer
            .as_ref()
            .map(|c| format!("; consumer {c} only"))
            .unwrap_or_default()
    );
    if report.services.is_empty() {
        println!("no services with declarations or traffic in this period");
        return;
    }
    let mut rows = Vec::new();
    for s in &report.services {
        for w in &s.windows {
            rows.push(window_row(&s.service, w));
        }
    }
    output::table(
        &[
            "SERVICE",
            "WINDOW (UK)",
            "SOURCE",
            "AVAILABILITY",
            "TARGET",
            "LATENCY",
            "TARGET",
            "BREACHES",
        ],
        &rows,
    );
    if !report.breaches.is_empty() {
        println!();
        let rows: Vec<Vec<String>> = report
            .breaches
            .iter()
            .map(|b| {
                let measured = match b.objective {
                    psn_api::Objective::Availability => format!("{:.3}%", b.measured),
                    psn_api::Objective::Latency => format!("{} ms", b.measured),
                };
                vec![
                    b.service.to_string(),
                    uk(b.window_start),
                    b.objective.as_str().into(),
                    b.target.clone(),
                    measured,
                    b.attribution.as_str().into(),
                ]
            })
            .collect();
        output::table(
            &[
                "BREACH OF",
                "WINDOW FROM",
                "OBJECTIVE",
                "TARGET",
                "MEASURED",
                "ATTRIBUTED TO",
            ],
            &rows,
        );
    }
    println!();
    let rows: Vec<Vec<String>> = report
        .providers
        .iter()
        .map(|p| {
            vec![
                p.provider.to_string(),
                p.services.to_string(),
                p.eligible.to_string(),
                p.failures.to_string(),
                percent(p.availability_percent),
                p.breaches.to_string(),
            ]
        })
        .collect();
    output::table(
        &[
            "PROVIDER",
            "SERVICES",
            "ELIGIBLE",
            "FAILURES",
            "AVAILABILITY",
            "BREACHES",
        ],
        &rows,
    );
    let rows: Vec<Vec<String>> = report
        .services
        .iter()
        .flat_map(|s| {
            s.consumers.iter().map(|c| {
                vec![
                    s.service.to_string(),
                    c.consumer.to_string(),
                    c.eligible.to_string(),
                    c.failures.to_string(),
                    c.outcomes.client_error.to_string(),
                    percent(c.availability_percent),
                ]
            })
        })
        .collect();
    if !rows.is_empty() {
        println!();
        output::table(
            &[
                "SERVICE",
                "CONSUMER",
                "ELIGIBLE",
                "FAILURES",
                "CLIENT ERRORS",
                "AVAILABILITY",
            ],
            &rows,
        );
    }
}

fn window_row(service: &ServiceId, w: &WindowReport) -> Vec<String> {
    let availability = match w.availability_percent {
        Some(a) => format!("{a:.3}% ({}/{} failed)", w.failures, w.eligible),
        None => "-".into(),
    };
    let latency = w.latency.measured_ms.map_or_else(
        || "-".into(),
        |ms| format!("p{} {ms} ms", w.latency.percentile),
    );
    vec![
        service.to_string(),
        format!("{} .. {}", uk(w.start), uk(w.end)),
        w.source.as_str().into(),
        availability,
        w.availability_target
            .map_or_else(|| "-".into(), |t| format!("{t}%")),
        latency,
        w.latency
            .target_ms
            .map_or_else(|| "-".into(), |t| format!("<{t} ms")),
        breaches_text(&w.breaches),
    ]
}

/// The CSV columns, in order; stable so spreadsheets and scripts can rely on them.
pub const CSV_COLUMNS: &[&str] = &[
    "service",
    "provider",
    "window_start",
    "window_end",
    "source",
    "ok",
    "client_error",
    "backend",
    "provider_gateway",
    "consumer_gateway",
    "unfinished",
    "eligible",
    "failures",
    "availability_percent",
    "availability_target",
    "latency_percentile",
    "latency_ms",
    "latency_target_ms",
    "ok_exchanges",
    "consumer_gateway_ms",
    "network_and_provider_gateway_ms",
    "backend_ms",
    "breaches",
];

/// Quotes a CSV cell when it needs it (RFC 4180).
fn cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn csv(report: &SlaReport) -> String {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    for s in &report.services {
        for w in &s.windows {
            let o = &w.outcomes;
            let cells = [
                s.service.to_string(),
                s.provider.to_string(),
                rfc3339(w.start),
                rfc3339(w.end),
                w.source.as_str().into(),
                o.ok.to_string(),
                o.client_error.to_string(),
                o.backend.to_string(),
                o.provider_gateway.to_string(),
                o.consumer_gateway.to_string(),
                o.unfinished.to_string(),
                w.eligible.to_string(),
                w.failures.to_string(),
                opt(w.availability_percent.map(|v| v.to_string())),
                opt(w.availability_target.map(|v| v.to_string())),
                w.latency.percentile.to_string(),
                opt(w.latency.measured_ms.map(|v| v.to_string())),
                opt(w.latency.target_ms.map(|v| v.to_string())),
                w.latency.ok_exchanges.to_string(),
                opt(w.time_split.consumer_gateway_ms.map(|v| format!("{v:.1}"))),
                opt(w
                    .time_split
                    .network_and_provider_gateway_ms
                    .map(|v| format!("{v:.1}"))),
                opt(w.time_split.backend_ms.map(|v| format!("{v:.1}"))),
                breaches_text(&w.breaches),
            ];
            let line: Vec<String> = cells.iter().map(|c| cell(c)).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_a_time_ago() {
        let at = parse_when("2025-03-01T00:00:00Z").expect("rfc 3339");
        assert_eq!(at.unix_timestamp(), 1_740_787_200);
        let ago = parse_when("7d").expect("7d");
        let expected = OffsetDateTime::now_utc() - time::Duration::days(7);
        assert!((ago - expected).abs() < time::Duration::minutes(1));
        for bad in ["yesterday", "2025-03-01", "-7d", ""] {
            assert!(parse_when(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn csv_cells_are_quoted_when_needed() {
        assert_eq!(
            cell("GB/GOV/D6/eligibility/fsm-check"),
            "GB/GOV/D6/eligibility/fsm-check"
        );
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
