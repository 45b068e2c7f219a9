//! `psn catalogue ...`: browsing the catalogue (docs/catalogue.md): the process taxonomy, the
//! ids a service listing may name (`--process` of `psn gateway service add`), and one listing
//! with its declared service level beside the measured one.

use super::connect::Connect;
use super::output;
use clap::{Subcommand, ValueEnum};
use psn_api::{
    CatalogueEntry, ListingCard, MemberPartners, ProcessList, ProcessPartners, ProcessQuery,
    SearchRequest, SearchResults, SearchSort,
};
use psn_core::names::{MemberId, ServiceId};
use std::collections::{BTreeMap, BTreeSet};

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
    /// Search the catalogue: words (title > process > description, prefixes and typos
    /// forgiven) and filters (OR within a filter's values, AND across filters), with the
    /// measured columns of each listing.
    Search {
        /// Words to search for; none lists every service.
        query: Vec<String>,
        #[command(flatten)]
        filters: SearchFilters,
        /// Order of the results.
        #[arg(long, value_enum, default_value_t = SortOrder::Relevance)]
        sort: SortOrder,
        /// How many results to skip.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// How many results to show (1 to 100).
        #[arg(long, default_value_t = 20)]
        limit: u64,
        #[command(flatten)]
        connect: Connect,
        #[arg(long, value_enum, default_value_t)]
        output: SearchFormat,
    },
    /// Who else runs a process: members providing services that support it and members using
    /// them; or, with --member, a member's processes and who else could serve them.
    Partners {
        /// A process id such as lgsl:57 or psn:1001.
        #[arg(long, required_unless_present = "member", conflicts_with = "member")]
        process: Option<String>,
        /// A member id such as GB/LA/E10000016.
        #[arg(long)]
        member: Option<MemberId>,
        #[command(flatten)]
        connect: Connect,
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

/// Search filters, each repeatable (OR within one, AND across).
#[derive(Debug, Clone, clap::Args, Default)]
pub struct SearchFilters {
    /// A process id (lgsl:57), or a function path from the facet counts (/psnf:1).
    #[arg(long)]
    process: Vec<String>,
    /// Provider member class (LA, NHS, POL, …).
    #[arg(long)]
    provider_class: Vec<String>,
    /// Provider sector.
    #[arg(long)]
    sector: Vec<String>,
    /// Provider region.
    #[arg(long)]
    region: Vec<String>,
    /// Area served.
    #[arg(long)]
    area: Vec<String>,
    /// rest, soap, events or files.
    #[arg(long)]
    service_type: Vec<String>,
    /// discovery, alpha, beta, live, deprecated or withdrawn.
    #[arg(long)]
    lifecycle: Vec<String>,
    /// any-member, member-classes or by-request.
    #[arg(long)]
    who_may_apply: Vec<String>,
    /// Measured availability band: ">=99.9", "99-99.9", "95-99", "<95" or unmeasured.
    #[arg(long)]
    availability: Vec<String>,
}

impl SearchFilters {
    fn to_map(&self) -> BTreeMap<String, BTreeSet<String>> {
        [
            ("process", &self.process),
            ("provider_class", &self.provider_class),
            ("sector", &self.sector),
            ("region", &self.region),
            ("area", &self.area),
            ("service_type", &self.service_type),
            ("lifecycle", &self.lifecycle),
            ("who_may_apply", &self.who_may_apply),
            ("availability", &self.availability),
        ]
        .into_iter()
        .filter(|(_, values)| !values.is_empty())
        .map(|(name, values)| (name.to_owned(), values.iter().cloned().collect()))
        .collect()
    }
}

/// The order of search results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortOrder {
    /// Best match first.
    Relevance,
    /// Highest measured availability first.
    Availability,
    /// Most calls a day first.
    Volume,
    /// Most recently published first.
    Newest,
}

/// How search results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum SearchFormat {
    /// One service a line with its measured columns, then the facet counts.
    #[default]
    Table,
    /// The page as the API gives it.
    Json,
    /// One service a row (RFC 4180), for spreadsheets.
    Csv,
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
        CatalogueCommand::Search {
            query,
            filters,
            sort,
            offset,
            limit,
            connect,
            output,
        } => {
            let request = SearchRequest {
                text: query.join(" "),
                filters: filters.to_map(),
                drill: None,
                sort: match sort {
                    SortOrder::Relevance => SearchSort::Relevance,
                    SortOrder::Availability => SearchSort::Availability,
                    SortOrder::Volume => SearchSort::Volume,
                    SortOrder::Newest => SearchSort::Newest,
                },
                offset,
                limit,
            };
            let results = connect.client()?.search(&request).await?;
            match output {
                SearchFormat::Json => output::json(&results),
                SearchFormat::Csv => search_csv(&results),
                SearchFormat::Table => {
                    search_table(&results);
                    Ok(())
                }
            }
        }
        CatalogueCommand::Partners {
            process,
            member,
            connect,
            output,
        } => {
            let client = connect.client()?;
            match (process, member) {
                (Some(process), _) => {
                    let found = client.process_partners(&process).await?;
                    match output {
                        ProcessFormat::Json => output::json(&found),
                        ProcessFormat::Table => {
                            process_partners(&found);
                            Ok(())
                        }
                    }
                }
                (None, Some(member)) => {
                    let found = client.member_partners(&member).await?;
                    match output {
                        ProcessFormat::Json => output::json(&found),
                        ProcessFormat::Table => {
                            member_partners(&found);
                            Ok(())
                        }
                    }
                }
                (None, None) => anyhow::bail!("say --process ID or --member ID"),
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

fn percent(p: Option<f64>) -> String {
    p.map_or_else(|| "-".into(), |p| format!("{p:.2}%"))
}

/// The measured and declared columns of a listing, as table cells.
fn card_cells(card: &ListingCard) -> Vec<String> {
    let m = &card.measured;
    vec![
        card.service.to_string(),
        card.title.clone(),
        card.provider_name.clone(),
        card.processes
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        card.lifecycle.clone(),
        card.declared_availability_percent
            .map_or_else(|| "-".into(), |p| format!("{p}%")),
        percent(m.availability_percent),
        m.latency_p95_ms
            .map_or_else(|| "-".into(), |ms| format!("{ms} ms")),
        format!("{:.1}", m.calls_per_day),
        m.consumers.to_string(),
    ]
}

const CARD_HEADERS: [&str; 10] = [
    "SERVICE",
    "TITLE",
    "PROVIDER",
    "PROCESSES",
    "LIFECYCLE",
    "DECLARED",
    "MEASURED",
    "P95",
    "CALLS/DAY",
    "CONSUMERS",
];

fn search_table(results: &SearchResults) {
    if results.hits.is_empty() {
        println!("no services match");
    } else {
        let rows: Vec<Vec<String>> = results.hits.iter().map(|h| card_cells(&h.card)).collect();
        output::table(&CARD_HEADERS, &rows);
        println!(
            "{} to {} of {} matching services",
            results.offset + 1,
            results.offset + results.hits.len() as u64,
            results.total
        );
    }
    for facet in results.facets.iter().filter(|f| !f.values.is_empty()) {
        let values: Vec<String> = facet
            .values
            .iter()
            .map(|v| {
                if v.label == v.value {
                    format!("{} ({})", v.value, v.count)
                } else {
                    format!("{} {} ({})", v.value, v.label, v.count)
                }
            })
            .collect();
        println!("{}: {}", facet.facet, values.join(", "));
    }
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, carriage return first)
/// gets a leading apostrophe, so opening the file cannot run what a listing's author wrote.
fn inert(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

fn search_csv(results: &SearchResults) -> anyhow::Result<()> {
    let mut out = csv::Writer::from_writer(std::io::stdout());
    out.write_record(CARD_HEADERS.iter().map(|h| h.to_lowercase()))?;
    for hit in &results.hits {
        out.write_record(card_cells(&hit.card).into_iter().map(inert))?;
    }
    out.flush()?;
    Ok(())
}

fn process_partners(found: &ProcessPartners) {
    println!("{} ({})", found.process.label, found.process.id);
    if found.providers.is_empty() {
        println!("no member lists a service supporting it");
    } else {
        let rows: Vec<Vec<String>> = found.providers.iter().map(card_cells).collect();
        output::table(&CARD_HEADERS, &rows);
    }
    if found.consumers.is_empty() {
        println!("no member called these services in the last 30 days");
    } else {
        let rows: Vec<Vec<String>> = found
            .consumers
            .iter()
            .map(|c| {
                vec![
                    c.member.id.to_string(),
                    c.member.name.clone(),
                    c.member.sector.clone().unwrap_or_default(),
                    c.member.region.clone().unwrap_or_default(),
                    c.exchanges.to_string(),
                ]
            })
            .collect();
        output::table(&["CONSUMER", "NAME", "SECTOR", "REGION", "CALLS"], &rows);
    }
}

fn member_partners(found: &MemberPartners) {
    println!("{} ({})", found.member.name, found.member.id);
    if found.processes.is_empty() {
        println!("it neither lists a service nor called one in the last 30 days");
    }
    let rows: Vec<Vec<String>> = found
        .processes
        .iter()
        .map(|p| {
            let role = match (p.provides, p.consumes) {
                (true, true) => "provides, consumes",
                (true, false) => "provides",
                _ => "consumes",
            };
            let best = p.other_providers.first().map_or_else(
                || "-".into(),
                |c| {
                    format!(
                        "{} ({})",
                        c.provider_name,
                        percent(c.measured.availability_percent)
                    )
                },
            );
            vec![
                p.process.id.clone(),
                p.process.label.clone(),
                role.into(),
                p.other_provider_total.to_string(),
                best,
            ]
        })
        .collect();
    if !rows.is_empty() {
        output::table(
            &[
                "PROCESS",
                "LABEL",
                "ROLE",
                "OTHER PROVIDERS",
                "BEST MEASURED",
            ],
            &rows,
        );
    }
}
