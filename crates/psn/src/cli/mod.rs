//! Command-line interface definitions and dispatch.

mod audit;
mod authority;
mod config;
mod connect;
mod gateway;
mod output;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// psn, the Public Services Network: a secure network through which public bodies publish, find
/// and consume each other's services, with proof of who sent what.
#[derive(Debug, Parser)]
#[command(name = "psn", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options for every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "PSN_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log filter, e.g. `info`, `debug`, `psn_authority=debug`.
    #[arg(long, global = true, default_value = "info", env = "PSN_LOG")]
    pub log: String,
}

/// How log lines are written (to standard error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Readable lines.
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run and administer a network's authority: registry, certificate authority, configuration.
    #[command(subcommand)]
    Authority(authority::AuthorityCommand),
    /// Enrol and operate a member's gateway.
    #[command(subcommand)]
    Gateway(gateway::GatewayCommand),
    /// Inspect and verify signed global configurations.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Verify, inspect, export and archive a gateway's audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Run a whole network on this machine: an authority and gateways of real UK public bodies
    /// with sample services, on loopback. Prints ready-to-paste calls; Ctrl-C stops it.
    Demo {
        /// Where the demo keeps its data (a previous demo there is replaced).
        #[arg(long, default_value = "psn-demo")]
        data_dir: std::path::PathBuf,
        /// More real councils to add as consumers of the eligibility service.
        #[arg(long, default_value_t = 0)]
        members: usize,
    },
}

/// Sets up `tracing` to standard error, so command output on standard out stays clean for pipes.
pub fn init_logging(global: &GlobalArgs) {
    let filter = tracing_subscriber::EnvFilter::try_new(&global.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match global.log_format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Runs a parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Authority(c) => authority::run(c).await,
        Command::Gateway(c) => gateway::run(c).await,
        Command::Config(c) => config::run(c).await,
        Command::Audit(c) => audit::run(c).await,
        Command::Demo { data_dir, members } => demo(data_dir, members).await,
    }
}

async fn demo(data_dir: std::path::PathBuf, members: usize) -> anyhow::Result<()> {
    let dir = std::path::absolute(&data_dir)?;
    let stop = authority::shutdown_signal()?;
    let demo = psn_demo::start(&dir, members).await?;
    let info = &demo.info;
    println!("psn demo: network GB is running on this machine\n");
    println!("authority  {}", info.authority);
    for m in &info.members {
        println!(
            "gateway    {:<22} {:<45} internal {}  peers {}",
            m.gateway, m.name, m.internal, m.external
        );
    }
    println!("\nservices");
    for s in &info.services {
        println!("  {s}");
    }
    println!("\ntry:");
    for e in &info.examples {
        println!(
            "  # {} (HTTP {})\n  {}\n",
            e.description, e.expect_status, e.curl
        );
    }
    if let Some(m) = info.members.first() {
        println!(
            "every exchange is in both gateways' audit logs; check one:\n  psn audit verify {}\n",
            m.data_dir.display()
        );
    }
    println!(
        "details in {}; Ctrl-C stops the demo",
        dir.join("demo.json").display()
    );
    stop.await;
    println!("stopping");
    demo.stop().await;
    Ok(())
}
