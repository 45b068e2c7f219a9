//! `psn catalogue ...`: browsing the catalogue's process taxonomy (docs/catalogue.md), the ids
//! a service listing may name (`--process` of `psn gateway service add`).

use super::connect::Connect;
use super::output;
use clap::{Subcommand, ValueEnum};
use psn_api::{ProcessList, ProcessQuery};

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
    }
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
