//! `psn compliance ...`: the compliance frameworks the network has adopted (docs/compliance.md),
//! read by the operator or by a member through its gateway's data directory.

use super::benchmark::{asking, Asker};
use super::output;
use anyhow::bail;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ComplianceCommand {
    /// The frameworks: their controls, the evidence they expect, what they map to.
    #[command(subcommand)]
    Framework(FrameworkCommand),
}

#[derive(Debug, Subcommand)]
pub enum FrameworkCommand {
    /// Every framework version the network has adopted.
    List {
        #[command(flatten)]
        asker: Asker,
        #[arg(long, value_enum, default_value_t)]
        output: output::Output,
    },
    /// One framework: its certificate kinds and controls.
    Show {
        /// Its id, e.g. psn-coco.
        id: String,
        /// Its version, e.g. 2026.1; default: the latest adopted.
        #[arg(value_name = "VERSION")]
        release: Option<String>,
        #[command(flatten)]
        asker: Asker,
        #[arg(long, value_enum, default_value_t)]
        output: output::Output,
    },
}

/// An id or version as frameworks name them, so it can go in a URL path as it is.
fn check_name(what: &str, value: &str) -> anyhow::Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 80
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if !ok {
        bail!("{what} {value:?} is not a framework {what}: a-z, 0-9, '.' and '-'");
    }
    Ok(())
}

/// Runs a compliance command.
pub async fn run(command: ComplianceCommand) -> anyhow::Result<()> {
    match command {
        ComplianceCommand::Framework(FrameworkCommand::List { asker, output }) => {
            let list = asking(&asker, |c| async move { c.frameworks().await }).await?;
            match output {
                output::Output::Json => output::json(&list)?,
                output::Output::Table => {
                    let rows: Vec<Vec<String>> = list
                        .frameworks
                        .iter()
                        .map(|f| {
                            vec![
                                f.id.clone(),
                                f.version.clone(),
                                f.title.clone(),
                                f.controls.to_string(),
                                f.kinds.join(", "),
                            ]
                        })
                        .collect();
                    output::table(
                        &["ID", "VERSION", "TITLE", "CONTROLS", "CERTIFICATES"],
                        &rows,
                    );
                }
            }
        }
        ComplianceCommand::Framework(FrameworkCommand::Show {
            id,
            release,
            asker,
            output,
        }) => {
            check_name("id", &id)?;
            let version = match release {
                Some(v) => {
                    check_name("version", &v)?;
                    v
                }
                None => {
                    let list = asking(&asker, |c| async move { c.frameworks().await }).await?;
                    let latest = list
                        .frameworks
                        .into_iter()
                        .filter(|f| f.id == id)
                        .map(|f| f.version)
                        .max();
                    match latest {
                        Some(v) => v,
                        None => bail!("the network has adopted no framework {id:?}"),
                    }
                }
            };
            let (id, version) = (&id, &version);
            let framework =
                asking(&asker, |c| async move { c.framework(id, version).await }).await?;
            match output {
                output::Output::Json => output::json(&framework)?,
                output::Output::Table => {
                    println!(
                        "{} {} ({}): {}",
                        framework.title, framework.version, framework.id, framework.summary
                    );
                    for k in &framework.kinds {
                        println!(
                            "certificate {}: {} (valid {} months)",
                            k.kind, k.purpose, k.validity_months
                        );
                    }
                    let rows: Vec<Vec<String>> = framework
                        .controls
                        .iter()
                        .map(|c| {
                            vec![
                                c.id.clone(),
                                c.title.clone(),
                                c.kinds.join(", "),
                                c.cyber_essentials.join(", "),
                                c.caf.join(", "),
                            ]
                        })
                        .collect();
                    output::table(
                        &[
                            "CONTROL",
                            "TITLE",
                            "CERTIFICATES",
                            "CYBER ESSENTIALS",
                            "CAF",
                        ],
                        &rows,
                    );
                }
            }
        }
    }
    Ok(())
}
