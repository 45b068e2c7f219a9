//! `psn federation ...` (docs/federation.md): export this network's signed anchor, import a
//! partner's after confirming its fingerprint, say what each partner may see, and watch how
//! fresh each partner's configuration is. Operator commands.

use super::connect::Connect;
use super::output;
use anyhow::{bail, Context};
use clap::Subcommand;
use psn_api::{AnchorRenewal, ExportPolicy, PartnerImport, PartnerView};
use psn_core::names::{ClassCode, MemberId, NetworkId, ServiceId};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum FederationCommand {
    /// Write this network's signed anchor (network id, authority URLs, CA and configuration
    /// signer certificates, validity) for a partner's operator to import; prints its
    /// fingerprint to read out to them.
    Export {
        /// Where to write the anchor (standard output if absent).
        #[arg(long)]
        file: Option<PathBuf>,
        /// Days the partner has to import it.
        #[arg(long, default_value_t = 30)]
        valid_days: u32,
        #[command(flatten)]
        connect: Connect,
    },
    /// Import a partner's anchor. Shows its fingerprint; without --fingerprint, asks for it to
    /// be confirmed (on a terminal) or refuses. Exports nothing until a policy says so.
    Import {
        /// The anchor file the partner's operator sent.
        file: PathBuf,
        /// The fingerprint confirmed with the partner's operator out of band.
        #[arg(long)]
        fingerprint: Option<String>,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        connect: Connect,
        #[arg(long, value_enum, default_value_t)]
        output: output::Output,
    },
    /// Every partner with its freshness.
    List {
        #[command(flatten)]
        connect: Connect,
        #[arg(long, value_enum, default_value_t)]
        output: output::Output,
    },
    /// One partner: fingerprint, endpoints, export policy, what it exports, freshness.
    Show {
        /// The partner network, e.g. GB-KENT.
        network: NetworkId,
        #[command(flatten)]
        connect: Connect,
        #[arg(long, value_enum, default_value_t)]
        output: output::Output,
    },
    /// Replace what this network exports to a partner (nothing unless listed).
    Policy {
        /// The partner network.
        network: NetworkId,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        connect: Connect,
        #[arg(long, value_enum, default_value_t)]
        output: output::Output,
    },
    /// Replace a partner's anchor with a newer one its operator sent (its authority moved, or
    /// its signer or CA was renewed), keeping the export policy and what it sent.
    Renew {
        /// The new anchor file.
        file: PathBuf,
        /// The fingerprint confirmed with the partner's operator out of band.
        #[arg(long)]
        fingerprint: Option<String>,
        #[command(flatten)]
        connect: Connect,
        #[arg(long, value_enum, default_value_t)]
        output: output::Output,
    },
    /// End the federation with a partner: its names leave the next configuration and
    /// exchanges with it stop.
    Remove {
        /// The partner network.
        network: NetworkId,
        #[command(flatten)]
        connect: Connect,
    },
}

/// What to export to a partner.
#[derive(Debug, clap::Args, Clone)]
pub struct PolicyArgs {
    /// Export every member of this class (repeatable), e.g. LA.
    #[arg(long = "export-class", value_name = "CLASS")]
    classes: Vec<ClassCode>,
    /// Export this member (repeatable): it may call the partner's services.
    #[arg(long = "export-member", value_name = "MEMBER")]
    members: Vec<MemberId>,
    /// Export this service, and its member with it (repeatable).
    #[arg(long = "export-service", value_name = "SERVICE")]
    services: Vec<ServiceId>,
    /// Let the partner relay what is exported to its own partners (region → national →
    /// region). Another partner's members and services, named by id above, are relayed only
    /// if that partner allows it.
    #[arg(long = "allow-reexport")]
    reexport: bool,
}

impl PolicyArgs {
    fn policy(&self) -> ExportPolicy {
        ExportPolicy {
            classes: self.classes.clone(),
            members: self.members.clone(),
            services: self.services.clone(),
            reexport: self.reexport,
        }
    }
}

pub async fn run(command: FederationCommand) -> anyhow::Result<()> {
    match command {
        FederationCommand::Export {
            file,
            valid_days,
            connect,
        } => {
            let issued = connect.client()?.federation_anchor(valid_days).await?;
            let fingerprint = format!(
                "fingerprint {}: read it out to the partner's operator",
                issued.fingerprint
            );
            match file {
                Some(path) => {
                    std::fs::write(&path, format!("{}\n", issued.anchor))
                        .with_context(|| format!("writing {}", path.display()))?;
                    println!(
                        "wrote {}'s anchor to {} (valid until {})\n{fingerprint}",
                        issued.network,
                        path.display(),
                        issued.expires_at
                    );
                }
                // The anchor alone on standard output, for a pipe; the fingerprint beside it.
                None => {
                    println!("{}", issued.anchor);
                    eprintln!("{fingerprint}");
                }
            }
        }
        FederationCommand::Import {
            file,
            fingerprint,
            policy,
            connect,
            output,
        } => {
            let (anchor, _, fingerprint) = read_anchor(&file, fingerprint)?;
            let view = connect
                .client()?
                .import_partner(&PartnerImport {
                    anchor,
                    fingerprint,
                    policy: policy.policy(),
                })
                .await?;
            print_partner(&view, output)?;
        }
        FederationCommand::Renew {
            file,
            fingerprint,
            connect,
            output,
        } => {
            let (anchor, network, fingerprint) = read_anchor(&file, fingerprint)?;
            let view = connect
                .client()?
                .renew_partner_anchor(
                    &network,
                    &AnchorRenewal {
                        anchor,
                        fingerprint,
                    },
                )
                .await?;
            print_partner(&view, output)?;
        }
        FederationCommand::List { connect, output } => {
            let list = connect.client()?.partners().await?;
            match output {
                output::Output::Json => output::json(&list)?,
                output::Output::Table => output::table(
                    &[
                        "NETWORK",
                        "STATE",
                        "VERSION",
                        "AGE (s)",
                        "MEMBERS",
                        "SERVICES",
                        "LAST ERROR",
                    ],
                    &list.items.iter().map(row).collect::<Vec<_>>(),
                ),
            }
        }
        FederationCommand::Show {
            network,
            connect,
            output,
        } => {
            let view = connect.client()?.partner_view(&network).await?;
            print_partner(&view, output)?;
        }
        FederationCommand::Policy {
            network,
            policy,
            connect,
            output,
        } => {
            let view = connect
                .client()?
                .set_export_policy(&network, &policy.policy())
                .await?;
            print_partner(&view, output)?;
        }
        FederationCommand::Remove { network, connect } => {
            let view = connect.client()?.remove_partner(&network).await?;
            println!(
                "removed {}; its names leave the next configuration",
                view.network
            );
        }
    }
    Ok(())
}

/// Asks the operator to type the fingerprint they confirmed; only on a terminal.
fn confirm(expected: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "confirm the fingerprint with the partner's operator, then import with --fingerprint {expected}"
        );
    }
    eprint!("type the fingerprint the partner's operator read out to you: ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

fn row(p: &PartnerView) -> Vec<String> {
    let f = &p.freshness;
    vec![
        p.network.to_string(),
        f.state.as_str().to_owned(),
        f.version.map_or_else(|| "-".into(), |v| v.to_string()),
        f.age_seconds.map_or_else(|| "-".into(), |a| a.to_string()),
        p.received.members.to_string(),
        p.received.services.to_string(),
        f.last_error.clone().unwrap_or_default(),
    ]
}

/// An anchor file's text, network and the fingerprint confirmed: the one given, or (on a
/// terminal) the one the operator types after reading the anchor's.
fn read_anchor(
    file: &std::path::Path,
    fingerprint: Option<String>,
) -> anyhow::Result<(String, NetworkId, String)> {
    let anchor =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let verified = psn_pki::verify_anchor(anchor.trim(), time::OffsetDateTime::now_utc())
        .with_context(|| format!("{} is not an anchor that may be imported", file.display()))?;
    eprintln!(
        "{} anchor for network {} (authority {}), fingerprint {}",
        file.display(),
        verified.anchor.network,
        verified.anchor.endpoints.join(", "),
        verified.fingerprint
    );
    let fingerprint = match fingerprint {
        Some(given) => given,
        None => confirm(&verified.fingerprint)?,
    };
    Ok((
        anchor.trim().to_owned(),
        verified.anchor.network,
        fingerprint,
    ))
}

fn print_partner(view: &PartnerView, format: output::Output) -> anyhow::Result<()> {
    match format {
        output::Output::Json => output::json(view),
        output::Output::Table => {
            let f = &view.freshness;
            println!("network      {}", view.network);
            println!("fingerprint  {}", view.fingerprint);
            println!("endpoints    {}", view.endpoints.join(", "));
            println!("imported     {} by {}", view.imported_at, view.imported_by);
            println!("state        {}", f.state.as_str());
            if let Some(version) = f.version {
                println!("version      {version}");
            }
            if let Some(expires) = f.expires_at {
                println!("expires      {expires}");
            }
            if let Some(error) = &f.last_error {
                println!("last error   {error}");
            }
            println!(
                "receiving    {} members, {} gateways, {} services",
                view.received.members, view.received.gateways, view.received.services
            );
            for relay in &view.relays {
                println!(
                    "relaying     {}: {} members, {} gateways, {} services (version {}, until {})",
                    relay.network,
                    relay.received.members,
                    relay.received.gateways,
                    relay.received.services,
                    relay.version,
                    relay.expires_at
                );
            }
            let p = &view.policy;
            let list = |items: Vec<String>| {
                if items.is_empty() {
                    "-".to_owned()
                } else {
                    items.join(", ")
                }
            };
            println!(
                "exporting    classes {}; members {}; services {}",
                list(p.classes.iter().map(ToString::to_string).collect()),
                list(p.members.iter().map(ToString::to_string).collect()),
                list(p.services.iter().map(ToString::to_string).collect())
            );
            println!(
                "re-export    {}",
                if p.reexport {
                    "allowed: the partner may relay these to its own partners"
                } else {
                    "not allowed"
                }
            );
            Ok(())
        }
    }
}
