//! Command-line interface definitions and dispatch.

mod audit;
mod authority;
mod config;
mod connect;
mod gateway;
mod output;
mod sla;
mod telemetry;

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
    /// Export traces over OTLP/HTTP to this collector, e.g. `http://127.0.0.1:4318`
    /// (`/v1/traces` is appended). Overrides `OTEL_EXPORTER_OTLP_ENDPOINT` and
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; with none of them, no traces are exported.
    #[arg(long, global = true, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
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
    /// Service level attainment and breaches, computed by the authority from the gateways'
    /// measurements and the providers' declarations.
    #[command(subcommand)]
    Sla(sla::SlaCommand),
    /// Run a whole network on this machine: an authority and gateways of real UK public bodies
    /// with sample services, on loopback. Prints ready-to-paste calls; Ctrl-C stops it.
    Demo {
        /// Where the demo keeps its data (a previous demo there is replaced).
        #[arg(long, default_value = "psn-demo")]
        data_dir: std::path::PathBuf,
        /// More real councils to add as consumers of the eligibility service.
        #[arg(long, default_value_t = 0)]
        members: usize,
        /// Whether gateways deliver aggregates to the authority and probe providers (`off`
        /// measures what monitoring costs the data plane).
        #[arg(long, value_enum, default_value_t = Switch::On)]
        monitoring: Switch,
    },
}

impl Command {
    /// The role this command runs as, which names the service in its traces.
    pub fn role(&self) -> telemetry::Role {
        match self {
            Command::Authority(_) => telemetry::Role::Authority,
            Command::Gateway(_) => telemetry::Role::Gateway,
            Command::Demo { .. } => telemetry::Role::Demo,
            // Operator commands run briefly and open no spans; the name hardly matters.
            _ => telemetry::Role::Cli,
        }
    }
}

/// Sets up `tracing` to standard error, so command output on standard out stays clean for pipes,
/// and, when an OTLP endpoint is configured, trace export (docs/tracing.md). The result must be
/// shut down before exit so queued spans are flushed. Must be called within the tokio runtime.
pub fn init_logging(global: &GlobalArgs, role: telemetry::Role) -> telemetry::Telemetry {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let filter = tracing_subscriber::EnvFilter::try_new(&global.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let export = telemetry::resolve(global.otlp_endpoint.as_deref(), role, |name| {
        std::env::var(name).ok()
    })
    .and_then(|settings| settings.map(|s| telemetry::start(&s)).transpose());
    let (tracer, telemetry) = match export {
        Ok(Some(started)) => started,
        // Off, or misconfigured: logging exactly as without tracing (and a warning below).
        Ok(None) | Err(_) => {
            let builder = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr);
            match global.log_format {
                LogFormat::Human => builder.init(),
                LogFormat::Json => builder.json().init(),
            }
            if let Err(e) = export {
                tracing::warn!("traces are not exported: {e}");
            }
            return telemetry::Telemetry::off();
        }
    };
    let fmt = match global.log_format {
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
    };
    // Spans and events of psn's own crates only, whatever the log filter says: the exchange
    // spans are kept when logs are quietened, and the HTTP stack's own events (including the
    // exporter's) never become spans of their own.
    let exported =
        tracing_subscriber::filter::Targets::new().with_target("psn", tracing::Level::INFO);
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_filter(exported);
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel)
        .init();
    telemetry
}

/// Runs a parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Authority(c) => authority::run(c).await,
        Command::Gateway(c) => gateway::run(c).await,
        Command::Config(c) => config::run(c).await,
        Command::Audit(c) => audit::run(c).await,
        Command::Sla(c) => sla::run(c).await,
        Command::Demo {
            data_dir,
            members,
            monitoring,
        } => demo(data_dir, members, monitoring == Switch::On).await,
    }
}

/// On or off, for switches that read better as words than as flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

async fn demo(
    data_dir: std::path::PathBuf,
    members: usize,
    monitoring: bool,
) -> anyhow::Result<()> {
    let dir = std::path::absolute(&data_dir)?;
    let stop = authority::shutdown_signal()?;
    let demo = psn_demo::start(&dir, members, monitoring).await?;
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
