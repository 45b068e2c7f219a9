//! `psn catalogue ...`: browsing the catalogue (docs/catalogue.md): the process taxonomy, the
//! ids a service listing may name (`--process` of `psn gateway service add`), and one listing
//! with its declared service level beside the measured one.

use super::connect::Connect;
use super::output;
use clap::{Subcommand, ValueEnum};
use psn_api::{CatalogueEntry, ProcessList, ProcessQuery};
use psn_core::names::ServiceId;

#[derive(Debug, Subcommand)]
pub enum CatalogueCommand {
    /// Processes a listing may name: the Local Government Service List (lgsl:N) and the
    /// network's own extension (psn:N), best match first.
    Processes {
        #[command(flatten)]
        connect: Connect,
        /// Words the label or scope note must all contain (case-insensitive).
        #[arg(long)]
        search: Option<String>,
        /// How many to show (1 to 500).
        #[arg(long, default_value_t = 50)]
        limit: u64,
        #[arg(long, value_enum, default_value_t)]
        output: ProcessFormat,
    },
    /// One listing: its terms, what its provider declares, and what the gateways measured over
    /// the last 30 days.
    Show {
        /// The service, e.g. GB/LA/E10000016/revenues/council-tax.
        service: ServiceId,
        #[command(flatten)]
        connect: Connect,
        #[arg(long, value_enum, default_value_t)]
        output: ProcessFormat,
    },
    /// A listing's OpenAPI document, as its provider uploaded it.
    Openapi {
        /// The service, e.g. GB/GOV/D6/eligibility/fsm-check.
        service: ServiceId,
        #[command(flatten)]
        connect: Connect,
        /// Write it to this file instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// The whole catalogue for harvesting: DCAT 3 JSON-LD or CSV.
    Export {
        #[command(flatten)]
        connect: Connect,
        /// dcat (JSON-LD) or csv.
        #[arg(long, value_enum, default_value_t)]
        format: super::documents::ExportFormat,
        /// Write it to this file instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

/// How a list of processes is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ProcessFormat {
    /// Id, label and functions, one process a line, for people.
    #[default]
    Table,
    /// The page as the API gives it.
    Json,
}

/// Runs a catalogue command.
pub async fn run(command: CatalogueCommand) -> anyhow::Result<()> {
    match command {
        CatalogueCommand::Processes {
            connect,
            search,
            limit,
            output,
        } => {
            let query = ProcessQuery {
                search,
                limit: Some(limit),
                offset: None,
            };
            let page = connect.client()?.processes(&query).await?;
            match output {
                ProcessFormat::Json => output::json(&page),
                ProcessFormat::Table => {
                    table(&page);
                    Ok(())
                }
            }
        }
        CatalogueCommand::Show {
            service,
            connect,
            output,
        } => {
            let entry = connect.client()?.catalogue_entry(&service).await?;
            match output {
                ProcessFormat::Json => output::json(&entry),
                ProcessFormat::Table => {
                    show(&entry);
                    Ok(())
                }
            }
        }
        CatalogueCommand::Openapi {
            service,
            connect,
            out,
        } => super::documents::catalogue_openapi(&connect, &service, out.as_deref()).await,
        CatalogueCommand::Export {
            connect,
            format,
            out,
        } => super::documents::catalogue_export(&connect, format, out.as_deref()).await,
    }
}

/// A listing for people: its facts, then declared beside measured.
fn show(entry: &CatalogueEntry) {
    let listing = &entry.listing;
    let m = &entry.measured;
    let p = &m.period;
    let or_none = |v: Option<String>| v.unwrap_or_else(|| "not measured".into());
    let rows = vec![
        vec!["service".into(), listing.id.to_string()],
        vec!["title".into(), listing.title.clone()],
        vec![
            "provider".into(),
            format!("{} ({})", entry.provider.name, entry.provider.id),
        ],
        vec!["processes".into(), listing.processes.join(", ")],
        vec![
            "lifecycle".into(),
            serde_json::to_value(listing.details.lifecycle)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        ],
        vec![
            "declared".into(),
            entry
                .sla
                .as_ref()
                .map_or_else(|| "no service level declared".into(), ToString::to_string),
        ],
        vec![
            "availability (30 days)".into(),
            or_none(
                p.availability_percent
                    .map(|a| format!("{a:.3}% ({} failed of {} judged)", p.failures, p.eligible)),
            ),
        ],
        vec![
            "latency p50/p95".into(),
            or_none(
                p.latency_p50_ms
                    .zip(p.latency_p95_ms)
                    .map(|(a, b)| format!("{a} ms / {b} ms")),
            ),
        ],
        vec!["calls per day".into(), format!("{:.1}", m.calls_per_day)],
        vec!["consuming members".into(), m.consumers.to_string()],
        vec![
            "last breach".into(),
            m.last_breach.as_ref().map_or_else(
                || "none".into(),
                |b| {
                    format!(
                        "{} from {}, {}",
                        b.objective.as_str(),
                        b.window_start,
                        b.attribution.as_str()
                    )
                },
            ),
        ],
        vec![
            "provider gateways".into(),
            entry
                .gateways
                .iter()
                .map(|g| match g.config {
                    Some(c) => format!("{} {} (configuration v{})", g.id, g.status, c.version),
                    None => format!("{} {} (never fetched)", g.id, g.status),
                })
                .collect::<Vec<_>>()
                .join("; "),
        ],
    ];
    output::table(&["FIELD", "VALUE"], &rows);
}

fn table(page: &ProcessList) {
    if page.items.is_empty() {
        println!("no processes match");
        return;
    }
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|p| {
            let functions = p
                .functions
                .iter()
                .map(|f| f.label.as_str())
                .collect::<Vec<_>>()
                .join(" > ");
            vec![p.id.clone(), p.label.clone(), functions]
        })
        .collect();
    output::table(&["ID", "PROCESS", "FUNCTION"], &rows);
    if page.total > page.items.len() as u64 {
        println!(
            "{} of {} matching processes; narrow the search or raise --limit",
            page.items.len(),
            page.total
        );
    }
}
