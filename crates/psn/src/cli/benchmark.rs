//! `psn benchmark ...`: published cost and performance by process (docs/benchmarks.md).
//! Reports, peers, returns and the definitions are read by the operator (the authority's data
//! directory or `--authority`) or by a member through its gateway's data directory
//! (`--gateway-dir`, its own member only); submitting returns and saving peer groups are a
//! member's, through its gateway.

use super::access::with_gateway;
use super::connect::Connect;
use super::output;
use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use psn_api::{
    AuthorityClient, BenchmarkReport, ClientError, FinancialYear, PeerChoice, PeerGroupSet,
    PeerList, ReportRequest, RowStatus, SavingBasis, SubmitOutcome,
};
use psn_benchmark::pounds;
use psn_core::names::MemberId;
use std::path::PathBuf;

/// Who asks: the operator (connection options) or a member (its gateway's data directory).
#[derive(Debug, Args)]
pub struct Asker {
    /// A member's gateway data directory: ask as that member.
    #[arg(long, conflicts_with_all = ["data_dir", "authority"])]
    gateway_dir: Option<PathBuf>,
    #[command(flatten)]
    connect: Connect,
}

/// A member's gateway data directory, for what only a member may do.
#[derive(Debug, Args)]
pub struct Member {
    /// The member's gateway data directory.
    #[arg(long)]
    gateway_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum BenchmarkCommand {
    /// The benchmarked processes: unit of volume, what the cost includes, reference figures
    /// with their sources.
    Metrics {
        #[command(flatten)]
        asker: Asker,
        #[arg(long, value_enum, default_value_t)]
        output: output::Output,
    },
    /// The peer model: its variables, weights, method and version.
    Model {
        #[command(flatten)]
        asker: Asker,
        #[arg(long, value_enum, default_value_t)]
        output: output::Output,
    },
    /// A report for one process: the distribution across contributors, the member's position,
    /// its peers, projected savings and the catalogue's providers with measured performance.
    Report {
        /// The process, e.g. psn:4004.
        #[arg(long)]
        process: String,
        /// The member (the operator must name one; a member may name only itself).
        #[arg(long)]
        member: Option<MemberId>,
        /// auto (the model's nearest neighbours) or the name of a saved peer group.
        #[arg(long, default_value = "auto")]
        peers: PeerChoice,
        /// The financial year, e.g. 2024-25; default: the latest with returns.
        #[arg(long)]
        year: Option<FinancialYear>,
        #[command(flatten)]
        asker: Asker,
        #[arg(long, value_enum, default_value_t)]
        output: ReportFormat,
    },
    /// A member's automatic peer group, with each variable's share of each peer's distance.
    Peers {
        /// The member (the operator must name one; a member may name only itself).
        #[arg(long)]
        member: Option<MemberId>,
        #[command(flatten)]
        asker: Asker,
        #[arg(long, value_enum, default_value_t)]
        output: output::Output,
    },
    /// Submit returns from a CSV file (columns process, year, cost, volume, unit; optionally
    /// fte, satisfaction, note, confirm_outlier, publish_now). Stored all or nothing; every
    /// refused row is reported with why.
    Submit {
        /// The CSV file.
        #[arg(long)]
        file: PathBuf,
        /// Check only; store nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        member: Member,
        #[arg(long, value_enum, default_value_t)]
        output: output::Output,
    },
    /// Every version of a member's returns.
    Returns {
        /// The member (the operator must name one; a member may name only itself).
        #[arg(long)]
        member: Option<MemberId>,
        #[command(flatten)]
        asker: Asker,
        #[arg(long, value_enum, default_value_t)]
        output: ReportFormat,
    },
    /// A member's saved peer groups.
    #[command(subcommand)]
    Group(GroupCommand),
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List the member's saved peer groups.
    List {
        #[command(flatten)]
        member: Member,
        #[arg(long, value_enum, default_value_t)]
        output: output::Output,
    },
    /// Save (or replace) a peer group.
    Save {
        /// Its name: letters, digits, - or _.
        name: String,
        /// A member of the group (repeat: 2 to 100).
        #[arg(long = "peer", required = true)]
        peers: Vec<MemberId>,
        #[command(flatten)]
        member: Member,
    },
    /// Delete a peer group.
    Delete {
        /// Its name.
        name: String,
        #[command(flatten)]
        member: Member,
    },
}

/// How a report or a list of returns is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ReportFormat {
    /// Sections and columns for people.
    #[default]
    Table,
    /// As the API gives it.
    Json,
    /// CSV for spreadsheets (text cells that could run as formulas are neutralised).
    Csv,
}

/// Calls `f` as whoever `asker` names.
pub(super) async fn asking<T, F, Fut>(asker: &Asker, f: F) -> anyhow::Result<T>
where
    F: Fn(AuthorityClient) -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    match &asker.gateway_dir {
        Some(dir) => with_gateway(dir, f).await,
        None => Ok(f(asker.connect.client()?).await?),
    }
}

/// Runs a benchmark command.
pub async fn run(command: BenchmarkCommand) -> anyhow::Result<()> {
    match command {
        BenchmarkCommand::Metrics { asker, output } => {
            let set = asking(&asker, |c| async move { c.benchmark_metrics().await }).await?;
            match output {
                output::Output::Json => output::json(&set)?,
                output::Output::Table => {
                    println!("Metric definitions, version {}", set.version);
                    let rows: Vec<Vec<String>> = set
                        .metrics
                        .iter()
                        .map(|m| {
                            let reference = m
                                .references
                                .first()
                                .map_or_else(|| "none shipped".to_owned(), |r| r.source.clone());
                            vec![
                                m.process.clone(),
                                m.label.clone(),
                                m.unit.clone(),
                                reference,
                            ]
                        })
                        .collect();
                    output::table(&["PROCESS", "LABEL", "UNIT", "REFERENCE"], &rows);
                }
            }
        }
        BenchmarkCommand::Model { asker, output } => {
            let model = asking(&asker, |c| async move { c.peer_model().await }).await?;
            match output {
                output::Output::Json => output::json(&model)?,
                output::Output::Table => {
                    println!(
                        "Peer model {} for class {}: k = {}",
                        model.version, model.class, model.k
                    );
                    println!("{}", model.method);
                    let rows: Vec<Vec<String>> = model
                        .variables
                        .iter()
                        .map(|v| {
                            vec![
                                v.name.clone(),
                                format!("{}", v.weight),
                                format!("{:?}{}", v.kind, if v.log { " (log)" } else { "" })
                                    .to_lowercase(),
                                v.source.clone(),
                            ]
                        })
                        .collect();
                    output::table(&["VARIABLE", "WEIGHT", "KIND", "SOURCE"], &rows);
                }
            }
        }
        BenchmarkCommand::Report {
            process,
            member,
            peers,
            year,
            asker,
            output,
        } => {
            let request = ReportRequest {
                process,
                member,
                peers,
                year,
            };
            match output {
                ReportFormat::Csv => {
                    let request = &request;
                    let file = asking(
                        &asker,
                        |c| async move { c.benchmark_report_csv(request).await },
                    )
                    .await?;
                    print!("{}", file.text);
                }
                ReportFormat::Json => {
                    let request = &request;
                    output::json(
                        &asking(&asker, |c| async move { c.benchmark_report(request).await })
                            .await?,
                    )?;
                }
                ReportFormat::Table => {
                    let request = &request;
                    let report =
                        asking(&asker, |c| async move { c.benchmark_report(request).await })
                            .await?;
                    print_report(&report);
                }
            }
        }
        BenchmarkCommand::Peers {
            member,
            asker,
            output,
        } => {
            let member = &member;
            let list = asking(&asker, |c| async move {
                c.benchmark_peers(member.as_ref()).await
            })
            .await?;
            match output {
                output::Output::Json => output::json(&list)?,
                output::Output::Table => print_peers(&list),
            }
        }
        BenchmarkCommand::Submit {
            file,
            dry_run,
            member,
            output,
        } => submit(&file, dry_run, &member, output).await?,
        BenchmarkCommand::Returns {
            member,
            asker,
            output,
        } => {
            let member = &member;
            let list = asking(&asker, |c| async move {
                c.benchmark_returns(member.as_ref()).await
            })
            .await?;
            match output {
                ReportFormat::Json => output::json(&list)?,
                ReportFormat::Csv => print!("{}", psn_benchmark::export::returns_csv(&list)),
                ReportFormat::Table => {
                    let rows: Vec<Vec<String>> = list
                        .returns
                        .iter()
                        .map(|r| {
                            vec![
                                r.process.clone(),
                                r.year.to_string(),
                                format!(
                                    "{}{}",
                                    r.version,
                                    if r.superseded { " (superseded)" } else { "" }
                                ),
                                pounds(r.cost_pence as f64 / 100.0),
                                r.volume.to_string(),
                                format!("£{:.4}", r.cost_per_unit),
                                r.submitted_at.date().to_string(),
                            ]
                        })
                        .collect();
                    output::table(
                        &[
                            "PROCESS",
                            "YEAR",
                            "VERSION",
                            "COST",
                            "VOLUME",
                            "PER UNIT",
                            "SUBMITTED",
                        ],
                        &rows,
                    );
                }
            }
        }
        BenchmarkCommand::Group(command) => group(command).await?,
    }
    Ok(())
}

async fn submit(
    file: &std::path::Path,
    dry_run: bool,
    member: &Member,
    output: output::Output,
) -> anyhow::Result<()> {
    let size = std::fs::metadata(file)
        .with_context(|| format!("reading {}", file.display()))?
        .len();
    let limit = psn_benchmark::returns::MAX_CSV_BYTES as u64;
    if size > limit {
        bail!(
            "{} is {size} bytes; a returns file may be at most {limit} bytes (split it)",
            file.display()
        );
    }
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let outcome = with_gateway(&member.gateway_dir, |c| {
        let bytes = bytes.clone();
        async move { c.submit_returns_csv(bytes, dry_run).await }
    })
    .await?;
    match output {
        output::Output::Json => output::json(&outcome)?,
        output::Output::Table => print_outcome(&outcome),
    }
    if outcome.refused > 0 || outcome.needs_confirmation > 0 {
        bail!(
            "nothing was stored: {} row(s) refused, {} to confirm",
            outcome.refused,
            outcome.needs_confirmation
        );
    }
    Ok(())
}

fn print_outcome(outcome: &SubmitOutcome) {
    let rows: Vec<Vec<String>> = outcome
        .rows
        .iter()
        .map(|r| {
            let status = match r.status {
                RowStatus::Accepted => "accepted",
                RowStatus::Corrected => "correction",
                RowStatus::NeedsConfirmation => "confirm",
                RowStatus::Refused => "refused",
            };
            vec![
                r.line.to_string(),
                r.process.clone().unwrap_or_default(),
                r.year.clone().unwrap_or_default(),
                status.to_owned(),
                r.problems.join("; "),
            ]
        })
        .collect();
    output::table(&["LINE", "PROCESS", "YEAR", "STATUS", "PROBLEMS"], &rows);
    let verb = match (outcome.stored, outcome.dry_run) {
        (true, _) => "stored",
        (false, true) => "checked (dry run, nothing stored)",
        (false, false) => "not stored",
    };
    println!(
        "{} accepted, {} corrections, {} to confirm, {} refused: {verb}",
        outcome.accepted, outcome.corrected, outcome.needs_confirmation, outcome.refused
    );
}

async fn group(command: GroupCommand) -> anyhow::Result<()> {
    match command {
        GroupCommand::List { member, output } => {
            let list = with_gateway(
                &member.gateway_dir,
                |c| async move { c.peer_groups().await },
            )
            .await?;
            match output {
                output::Output::Json => output::json(&list)?,
                output::Output::Table => {
                    let rows: Vec<Vec<String>> = list
                        .groups
                        .iter()
                        .map(|g| vec![g.name.clone(), g.members.len().to_string()])
                        .collect();
                    output::table(&["NAME", "MEMBERS"], &rows);
                }
            }
        }
        GroupCommand::Save {
            name,
            peers,
            member,
        } => {
            let (name, group) = (&name, &PeerGroupSet { members: peers });
            let saved = with_gateway(&member.gateway_dir, |c| async move {
                c.save_peer_group(name, group).await
            })
            .await?;
            println!(
                "saved peer group {} of {} with {} members",
                saved.name,
                saved.owner,
                saved.members.len()
            );
        }
        GroupCommand::Delete { name, member } => {
            let name = &name;
            with_gateway(&member.gateway_dir, |c| async move {
                c.delete_peer_group(name).await
            })
            .await?;
            println!("deleted peer group {name}");
        }
    }
    Ok(())
}

fn print_report(r: &BenchmarkReport) {
    println!(
        "{} ({}), {}: cost per {}",
        r.process.label, r.process.id, r.year, r.metric.unit
    );
    if r.synthetic {
        println!("Includes synthetic figures generated by psn demo, not real bodies' costs.");
    }
    match &r.distribution {
        Some(q) => println!(
            "Network: {} contributors; lower quartile £{:.2}, median £{:.2}, upper quartile £{:.2}",
            q.contributors, q.q1, q.median, q.q3
        ),
        None => println!("Network distribution withheld."),
    }
    if let Some(m) = &r.member {
        let band = m
            .band
            .map_or_else(|| "no band".to_owned(), |b| format!("{b:?}").to_lowercase());
        let position = m.percentile.map_or_else(String::new, |p| {
            format!(", {p:.0}% of contributors cost less")
        });
        println!(
            "{}: {} for {} units, £{:.2} per unit ({band}{position})",
            m.name,
            pounds(m.cost),
            m.volume,
            m.cost_per_unit
        );
    }
    if let Some(q) = &r.peer_quartiles {
        println!(
            "Peers ({}): {} with published figures; median £{:.2}",
            r.peers_choice, q.contributors, q.median
        );
    }
    if !r.peers.is_empty() {
        let rows: Vec<Vec<String>> = r
            .peers
            .iter()
            .map(|p| {
                vec![
                    p.name.clone(),
                    p.distance.map_or_else(String::new, |d| format!("{d:.3}")),
                    p.cost_per_unit
                        .map_or_else(|| "not published".to_owned(), |c| format!("£{c:.2}")),
                ]
            })
            .collect();
        output::table(&["PEER", "DISTANCE", "PER UNIT"], &rows);
    }
    if !r.savings.is_empty() {
        let rows: Vec<Vec<String>> = r
            .savings
            .iter()
            .map(|s| {
                let basis = match &s.basis {
                    SavingBasis::PeersMedian => "peers' median".to_owned(),
                    SavingBasis::Provider { title, .. } => format!("buy: {title}"),
                };
                vec![
                    basis,
                    pounds(s.low),
                    pounds(s.central),
                    pounds(s.high),
                    s.formula.clone(),
                ]
            })
            .collect();
        output::table(&["SAVING", "LOW", "CENTRAL", "HIGH", "FORMULA"], &rows);
    }
    for w in &r.withheld {
        println!("Withheld ({:?}): {}: {}", w.rule, w.part, w.detail);
    }
}

fn print_peers(list: &PeerList) {
    println!(
        "Peers of {} ({}), model {}",
        list.name, list.member, list.model_version
    );
    let rows: Vec<Vec<String>> = list
        .peers
        .iter()
        .map(|p| {
            let why: Vec<String> = p
                .shares
                .iter()
                .filter(|s| s.share_percent >= 0.5)
                .map(|s| format!("{} {:.0}%", s.variable, s.share_percent))
                .collect();
            vec![
                p.rank.to_string(),
                p.member.to_string(),
                p.name.clone(),
                format!("{:.3}", p.distance),
                why.join(", "),
            ]
        })
        .collect();
    output::table(
        &[
            "RANK",
            "MEMBER",
            "NAME",
            "DISTANCE",
            "WHY (SHARE OF DISTANCE)",
        ],
        &rows,
    );
}
