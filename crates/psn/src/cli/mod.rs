//! Command-line interface definitions and dispatch.

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
    }
}
