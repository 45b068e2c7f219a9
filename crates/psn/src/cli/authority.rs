//! `psn authority ...`: run and administer a network's authority.

use super::connect::Connect;
use super::output::{self, Output};
use anyhow::Context;
use clap::Subcommand;
use psn_api::{ImportRequest, MemberQuery, NewMember, NewSubsystem, StatusChange, TokenRequest};
use psn_authority::datadir::DataDir;
use psn_core::config::MemberStatus;
use psn_core::names::{GatewayCode, GatewayId, MemberId, NetworkId, SubsystemId};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum AuthorityCommand {
    /// Create a new network authority: CA, configuration signer, registry and first operator.
    Init {
        /// Directory to create the authority in (must not hold one).
        #[arg(long)]
        data_dir: PathBuf,
        /// Network id, e.g. GB or GB-KENT.
        #[arg(long)]
        network: NetworkId,
        /// PostgreSQL URL (postgres://...); default is an embedded SQLite file in the data dir.
        #[arg(long, env = "PSN_DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Serve the authority API until interrupted (Ctrl-C or SIGTERM).
    Serve {
        /// Authority data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:7800")]
        listen: SocketAddr,
        /// Base URL gateways and operators use (default https://LISTEN).
        #[arg(long)]
        public_url: Option<String>,
    },
    /// Register and manage members.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Manage members' subsystems.
    #[command(subcommand)]
    Subsystem(SubsystemCommand),
    /// Create enrolment tokens for gateways.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage enrolled gateways.
    #[command(subcommand)]
    Gateway(GatewayAdminCommand),
    /// Manage the people who sign in to the web UI.
    #[command(subcommand)]
    Person(super::person::PersonCommand),
    /// Benchmark data the operator loads (docs/benchmarks.md).
    #[command(subcommand)]
    Benchmark(BenchmarkAdminCommand),
    /// Show the administrative audit trail.
    Events {
        #[command(flatten)]
        connect: Connect,
        /// Show events after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Most events to show.
        #[arg(long, default_value_t = 100)]
        limit: u64,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Register a member.
    Add {
        #[command(flatten)]
        connect: Connect,
        /// Member id, e.g. GB/LA/E10000016.
        id: MemberId,
        /// Official name.
        #[arg(long)]
        name: String,
        /// Sector, e.g. local-government.
        #[arg(long)]
        sector: Option<String>,
        /// Region, e.g. "South East".
        #[arg(long)]
        region: Option<String>,
    },
    /// List members.
    List {
        #[command(flatten)]
        connect: Connect,
        /// Only this class (LA, NHS, ...).
        #[arg(long)]
        class: Option<String>,
        /// Only this status (active, suspended, left).
        #[arg(long)]
        status: Option<String>,
        /// Only this sector.
        #[arg(long)]
        sector: Option<String>,
        /// Name or id contains this text.
        #[arg(long)]
        search: Option<String>,
        /// Page size.
        #[arg(long, default_value_t = 100)]
        limit: u64,
        /// Offset.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Show one member with its subsystems and gateways.
    Show {
        #[command(flatten)]
        connect: Connect,
        /// Member id.
        id: MemberId,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Suspend a member: its gateways are no longer trusted from the next configuration.
    Suspend {
        #[command(flatten)]
        connect: Connect,
        /// Member id.
        id: MemberId,
        /// Why (kept in the audit trail).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reinstate a suspended member.
    Reinstate {
        #[command(flatten)]
        connect: Connect,
        /// Member id.
        id: MemberId,
        /// Why (kept in the audit trail).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Register the real UK public bodies (councils, NHS trusts, police forces, government
    /// organisations); idempotent, and reports what it skipped and why.
    Import {
        #[command(flatten)]
        connect: Connect,
        /// Directory holding the organisation files; default is the copy built into psn.
        #[arg(long)]
        from: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchmarkAdminCommand {
    /// Load psn demo's synthetic returns (marked as synthetic) for every council member, for
    /// the two latest financial years whose embargo has ended; works while the authority runs.
    LoadSynthetic {
        /// The authority's data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum SubsystemCommand {
    /// Add a subsystem to a member.
    Add {
        #[command(flatten)]
        connect: Connect,
        /// Subsystem id, e.g. GB/LA/E10000016/revenues.
        id: SubsystemId,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a one-time enrolment token for a member's gateway; prints the token.
    Create {
        #[command(flatten)]
        connect: Connect,
        /// Member id.
        #[arg(long)]
        member: MemberId,
        /// Gateway code, e.g. gw1.
        #[arg(long)]
        gateway: GatewayCode,
        /// Lifetime, e.g. 24h (default from authority.toml).
        #[arg(long, value_parser = psn_core::duration::parse_duration)]
        ttl: Option<std::time::Duration>,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum GatewayAdminCommand {
    /// Revoke a gateway and all its certificates; peers stop trusting it within seconds.
    Revoke {
        #[command(flatten)]
        connect: Connect,
        /// Gateway id, e.g. GB/LA/E10000016@gw1.
        id: GatewayId,
    },
}

/// Runs an authority command.
pub async fn run(command: AuthorityCommand) -> anyhow::Result<()> {
    match command {
        AuthorityCommand::Init {
            data_dir,
            network,
            database_url,
        } => {
            let dir = DataDir::new(&data_dir);
            let report = psn_authority::init(&dir, network.clone(), database_url).await?;
            println!(
                "initialised authority for network {network} in {}",
                data_dir.display()
            );
            println!("CA pin:          {}", report.ca_pin);
            println!(
                "operator token:  written to {}",
                dir.operator_token().display()
            );
            println!(
                "next:            psn authority serve --data-dir {}",
                data_dir.display()
            );
            Ok(())
        }
        AuthorityCommand::Serve {
            data_dir,
            listen,
            public_url,
        } => serve(data_dir, listen, public_url).await,
        AuthorityCommand::Member(c) => member(c).await,
        AuthorityCommand::Person(c) => super::person::run(c).await,
        AuthorityCommand::Benchmark(BenchmarkAdminCommand::LoadSynthetic { data_dir }) => {
            let today = time::OffsetDateTime::now_utc().date();
            let stored =
                psn_authority::load_synthetic_returns(&DataDir::new(&data_dir), today).await?;
            println!("loaded {stored} synthetic benchmark returns");
            Ok(())
        }
        AuthorityCommand::Subsystem(SubsystemCommand::Add { connect, id }) => {
            let added = connect
                .client()?
                .add_subsystem(
                    id.member(),
                    &NewSubsystem {
                        code: id.code().clone(),
                    },
                )
                .await?;
            println!(
                "added subsystem {} (configuration version {})",
                added.id, added.config_version
            );
            Ok(())
        }
        AuthorityCommand::Token(TokenCommand::Create {
            connect,
            member,
            gateway,
            ttl,
            output,
        }) => {
            let issued = connect
                .client()?
                .create_token(&TokenRequest {
                    member,
                    gateway,
                    ttl_seconds: ttl.map(|t| t.as_secs()),
                })
                .await?;
            match output {
                Output::Json => output::json(&issued)?,
                Output::Table => {
                    eprintln!(
                        "enrolment token for {} (expires {}, works once):",
                        issued.gateway, issued.expires_at
                    );
                    println!("{}", issued.token);
                }
            }
            Ok(())
        }
        AuthorityCommand::Gateway(GatewayAdminCommand::Revoke { connect, id }) => {
            let revoked = connect.client()?.revoke_gateway(&id).await?;
            println!(
                "revoked {} ({} certificate(s)); configuration version {}",
                revoked.gateway,
                revoked.revoked_serials.len(),
                revoked.config_version
            );
            Ok(())
        }
        AuthorityCommand::Events {
            connect,
            after,
            limit,
            output,
        } => {
            let events = connect.client()?.events(after, limit).await?;
            match output {
                Output::Json => output::json(&events),
                Output::Table => {
                    let rows = events
                        .items
                        .iter()
                        .map(|e| {
                            vec![
                                e.seq.to_string(),
                                e.at.to_string(),
                                e.actor.clone(),
                                e.action.clone(),
                                e.target.clone(),
                            ]
                        })
                        .collect::<Vec<_>>();
                    output::table(&["SEQ", "AT", "ACTOR", "ACTION", "TARGET"], &rows);
                    Ok(())
                }
            }
        }
    }
}

async fn serve(
    data_dir: PathBuf,
    listen: SocketAddr,
    public_url: Option<String>,
) -> anyhow::Result<()> {
    let dir = DataDir::new(&data_dir);
    let stop = shutdown_signal()?;
    let running =
        psn_authority::start(&dir, psn_authority::ServeOptions { listen, public_url }).await?;
    println!(
        "authority for network {} listening on {}",
        running.authority.network, running.url
    );
    stop.await;
    tracing::info!("shutting down");
    running.stop().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    // Registered now, not when first awaited, so a signal sent as soon as the process says it
    // is ready is caught rather than killing it.
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

async fn member(command: MemberCommand) -> anyhow::Result<()> {
    match command {
        MemberCommand::Add {
            connect,
            id,
            name,
            sector,
            region,
        } => {
            let changed = connect
                .client()?
                .add_member(&NewMember {
                    id,
                    name,
                    sector,
                    region,
                })
                .await?;
            println!(
                "registered {} {} (configuration version {})",
                changed.member.id, changed.member.name, changed.config_version
            );
            Ok(())
        }
        MemberCommand::List {
            connect,
            class,
            status,
            sector,
            search,
            limit,
            offset,
            output,
        } => {
            let status = status
                .map(|s| s.parse::<MemberStatus>())
                .transpose()
                .map_err(|e| anyhow::anyhow!(e))?;
            let query = MemberQuery {
                class,
                status,
                sector,
                q: search,
                limit: Some(limit),
                offset: Some(offset),
            };
            let list = connect.client()?.list_members(&query).await?;
            match output {
                Output::Json => output::json(&list),
                Output::Table => {
                    let rows = list
                        .items
                        .iter()
                        .map(|m| {
                            vec![
                                m.id.to_string(),
                                m.status.as_str().to_owned(),
                                m.sector.clone().unwrap_or_default(),
                                m.region.clone().unwrap_or_default(),
                                m.name.clone(),
                            ]
                        })
                        .collect::<Vec<_>>();
                    output::table(&["ID", "STATUS", "SECTOR", "REGION", "NAME"], &rows);
                    eprintln!(
                        "{} of {} member(s) from offset {}",
                        list.items.len(),
                        list.total,
                        list.offset
                    );
                    Ok(())
                }
            }
        }
        MemberCommand::Show {
            connect,
            id,
            output,
        } => {
            let member = connect.client()?.member(&id).await?;
            match output {
                Output::Json => output::json(&member),
                Output::Table => {
                    println!("{}  {}", member.id, member.name);
                    println!(
                        "status:     {}{}",
                        member.status.as_str(),
                        member
                            .status_reason
                            .as_ref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    );
                    println!("sector:     {}", member.sector.as_deref().unwrap_or("-"));
                    println!("region:     {}", member.region.as_deref().unwrap_or("-"));
                    println!(
                        "subsystems: {}",
                        if member.subsystems.is_empty() {
                            "-".to_owned()
                        } else {
                            member
                                .subsystems
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    );
                    for g in &member.gateways {
                        let cert = g
                            .certificates
                            .first()
                            .map(|c| format!("certificate {} until {}", c.serial, c.not_after))
                            .unwrap_or_default();
                        println!(
                            "gateway:    {} {} {} {}",
                            g.id,
                            g.status,
                            g.address.as_deref().unwrap_or("-"),
                            cert
                        );
                    }
                    Ok(())
                }
            }
        }
        MemberCommand::Suspend {
            connect,
            id,
            reason,
        } => {
            let changed = connect
                .client()?
                .suspend_member(&id, &StatusChange { reason })
                .await?;
            println!(
                "suspended {} (configuration version {})",
                changed.member.id, changed.config_version
            );
            Ok(())
        }
        MemberCommand::Reinstate {
            connect,
            id,
            reason,
        } => {
            let changed = connect
                .client()?
                .reinstate_member(&id, &StatusChange { reason })
                .await?;
            println!(
                "reinstated {} (configuration version {})",
                changed.member.id, changed.config_version
            );
            Ok(())
        }
        MemberCommand::Import {
            connect,
            from,
            output,
        } => import(connect, from, output).await,
    }
}

async fn import(connect: Connect, from: Option<PathBuf>, output: Output) -> anyhow::Result<()> {
    let client = connect.client()?;
    let network: NetworkId = client
        .health()
        .await?
        .network
        .parse()
        .context("authority reported a bad network id")?;
    let dataset = match &from {
        Some(dir) => psn_orgdata::from_dir(dir)?,
        None => psn_orgdata::embedded()?,
    };
    let mut members = Vec::with_capacity(dataset.organisations.len());
    let mut unusable = Vec::new();
    for o in &dataset.organisations {
        match format!("{network}/{}/{}", o.class, o.code).parse::<MemberId>() {
            Ok(id) => members.push(NewMember {
                id,
                name: o.name.clone(),
                sector: Some(o.sector.as_str().to_owned()),
                region: o.region.clone(),
            }),
            Err(e) => unusable.push(psn_api::ImportRejection {
                id: format!("{}/{}", o.class, o.code),
                reason: e.to_string(),
            }),
        }
    }
    let mut report = client.import_members(&ImportRequest { members }).await?;
    report.rejected.append(&mut unusable);
    match output {
        Output::Json => output::json(
            &serde_json::json!({ "report": report, "skipped_at_source": dataset.skipped }),
        ),
        Output::Table => {
            println!(
                "imported {} new member(s); {} already registered; {} rejected; {} skipped at source (configuration version {})",
                report.created.len(),
                report.existing.len(),
                report.rejected.len(),
                dataset.skipped.len(),
                report.config_version
            );
            for r in &report.rejected {
                println!("  rejected {}: {}", r.id, r.reason);
            }
            let mut reasons = std::collections::BTreeMap::<String, usize>::new();
            for s in &dataset.skipped {
                let key = format!(
                    "{}: {}",
                    s.source,
                    s.reason
                        .split(" (")
                        .next()
                        .unwrap_or(&s.reason)
                        .split(" on ")
                        .next()
                        .unwrap_or(&s.reason)
                );
                *reasons.entry(key).or_default() += 1;
            }
            for (reason, count) in reasons {
                println!("  skipped {count:>4} × {reason}");
            }
            println!("  (--output json lists every skipped row with its line number)");
            Ok(())
        }
    }
}
