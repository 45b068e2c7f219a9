//! Command-line interface definitions and dispatch.

mod access;
mod audit;
mod authority;
mod benchmark;
mod catalogue;
mod compliance;
mod config;
mod connect;
mod documents;
mod federation;
mod gateway;
mod output;
mod person;
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
    /// Browse the service catalogue: search listings, find partners by process, show one
    /// listing, and the process taxonomy listings name.
    #[command(subcommand)]
    Catalogue(catalogue::CatalogueCommand),
    /// Request access to other members' services, and approve or decline requests for this
    /// member's own (docs/access.md).
    #[command(subcommand)]
    Access(access::AccessCommand),
    /// Published cost and performance by process: reports with peers and projected savings,
    /// the peer model, and members' returns (docs/benchmarks.md).
    #[command(subcommand)]
    Benchmark(benchmark::BenchmarkCommand),
    /// The compliance frameworks members are assessed against: the psn Code of Connection's
    /// controls, the evidence they expect and what they map to (docs/compliance.md).
    #[command(subcommand)]
    Compliance(compliance::ComplianceCommand),
    /// Join this network to partner networks: export and import signed anchors, say what each
    /// partner may see, and watch each partner's freshness (docs/federation.md).
    #[command(subcommand)]
    Federation(federation::FederationCommand),
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
        Command::Catalogue(c) => catalogue::run(c).await,
        Command::Access(c) => access::run(c).await,
        Command::Benchmark(c) => benchmark::run(c).await,
        Command::Compliance(c) => compliance::run(c).await,
        Command::Federation(c) => federation::run(c).await,
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
    println!(
        "psn demo: network GB and the regional network {} federated with it are running on this machine\n",
        info.region.network
    );
    println!("authority  {} (GB)", info.authority);
    println!(
        "authority  {} ({}; see its partners with `psn federation list --data-dir {}`)",
        info.region.authority,
        info.region.network,
        info.region.data_dir.display()
    );
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
    println!(
        "\nweb UI     {} (trust {} in the browser, or accept it once)",
        info.ui,
        dir.join("authority").join("ca.pem").display()
    );
    for p in &info.people {
        let member = p
            .member
            .as_ref()
            .map(|m| format!(" for {m}"))
            .unwrap_or_default();
        println!(
            "  sign in as {:<28} password {}  ({}{member})",
            p.username, p.password, p.role
        );
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
        "benchmarks (synthetic returns for every council), e.g. Kent's accounts payable:\n  psn benchmark report --process psn:4004 --member GB/LA/E10000016 --data-dir {}\n  or {}/benchmarks\n",
        dir.join("authority").display(),
        info.ui.trim_end_matches('/')
    );
    println!(
        "details in {}; Ctrl-C stops the demo",
        dir.join("demo.json").display()
    );
    stop.await;
    println!("stopping");
    demo.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::parser::ValueSource;
    use clap::{ArgMatches, CommandFactory, FromArgMatches};
    use std::collections::BTreeSet;

    /// clap checks a command's definition (duplicate names, `requires` or `conflicts_with` naming
    /// an argument that does not exist, defaults its own parser refuses) only in debug builds and
    /// only for the command being run; this checks every command at once.
    #[test]
    fn every_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Invocations that between them give every argument of every command. clap's derive reads a
    /// value back as its field's type only when the command runs, so a `value_parser` that yields
    /// another type (as `gateway access grant --to` once did) panics then and nowhere else.
    #[rustfmt::skip]
    const INVOCATIONS: &[&[&str]] = &[
        &["--log-format", "json", "--log", "debug", "--otlp-endpoint", "http://127.0.0.1:4318", "config", "verify", "--gateway-dir", "gw"],
        &["authority", "init", "--data-dir", "gb", "--network", "GB", "--database-url", "postgres://db/psn"],
        &["authority", "serve", "--data-dir", "gb", "--listen", "127.0.0.1:0", "--public-url", "https://a.example"],
        &["authority", "member", "add", "GB/LA/E10000016", "--name", "Kent", "--sector", "local", "--region", "south-east", "--data-dir", "gb"],
        &["authority", "member", "add", "GB/LA/E10000016", "--name", "Kent", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["authority", "member", "list", "--class", "LA", "--status", "active", "--sector", "x", "--search", "kent", "--limit", "5", "--offset", "1", "--output", "json", "--data-dir", "gb"],
        &["authority", "member", "list", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["authority", "person", "add", "kent-admin@kent.gov.uk", "--role", "member-admin", "--member", "GB/LA/E10000016", "--output", "json", "--data-dir", "gb"],
        &["authority", "person", "add", "ops@network.example", "--role", "operator", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["authority", "person", "list", "--output", "json", "--data-dir", "gb"],
        &["authority", "person", "list", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["authority", "person", "disable", "ops@network.example", "--data-dir", "gb"],
        &["authority", "person", "disable", "ops@network.example", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["authority", "person", "enable", "ops@network.example", "--data-dir", "gb"],
        &["authority", "person", "enable", "ops@network.example", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["authority", "person", "set-role", "kent-admin@kent.gov.uk", "--role", "member-viewer", "--member", "GB/LA/E10000016", "--data-dir", "gb"],
        &["authority", "person", "set-role", "ops@network.example", "--role", "assessor", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["authority", "person", "reset-password", "ops@network.example", "--output", "json", "--data-dir", "gb"],
        &["authority", "person", "reset-password", "ops@network.example", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["authority", "member", "show", "GB/LA/E10000016", "--output", "json", "--data-dir", "gb"],
        &["authority", "member", "show", "GB/LA/E10000016", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["authority", "member", "suspend", "GB/LA/E10000016", "--reason", "lapsed", "--data-dir", "gb"],
        &["authority", "member", "suspend", "GB/LA/E10000016", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["authority", "member", "reinstate", "GB/LA/E10000016", "--reason", "renewed", "--data-dir", "gb"],
        &["authority", "member", "reinstate", "GB/LA/E10000016", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["authority", "member", "import", "--from", "orgs.csv", "--output", "json", "--data-dir", "gb"],
        &["authority", "member", "import", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["authority", "subsystem", "add", "GB/LA/E10000016/revenues", "--data-dir", "gb"],
        &["authority", "subsystem", "add", "GB/LA/E10000016/revenues", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["authority", "token", "create", "--member", "GB/LA/E10000016", "--gateway", "gw1", "--ttl", "1h", "--output", "json", "--data-dir", "gb"],
        &["authority", "token", "create", "--member", "GB/LA/E10000016", "--gateway", "gw1", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["authority", "gateway", "revoke", "GB/LA/E10000016@gw1", "--data-dir", "gb"],
        &["authority", "gateway", "revoke", "GB/LA/E10000016@gw1", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["authority", "events", "--after", "3", "--limit", "10", "--output", "json", "--data-dir", "gb"],
        &["authority", "events", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["gateway", "enrol", "--data-dir", "gw", "--token", "psn-enrol-1.x", "--address", "127.0.0.1:8443"],
        &["gateway", "renew", "--data-dir", "gw"],
        &["gateway", "serve", "--data-dir", "gw"],
        &["gateway", "sync", "--data-dir", "gw", "--wait", "30s"],
        &["gateway", "service", "add", "GB/GOV/D6/eligibility/fsm-check", "--backend", "https://b/fsm", "--backend-ca", "ca.pem", "--health-path", "/healthz", "--title", "FSM", "--description", "d", "--process", "lgsl:4", "--data-dir", "gw"],
        &["gateway", "service", "add", "GB/LA/E10000016/hr/payroll", "--backend", "http://b", "--title", "Payroll", "--version-label", "2.1", "--lifecycle", "deprecated", "--sunset", "2027-03-31", "--service-type", "files", "--who-may-apply", "member-classes", "--member-class", "LA", "--classification", "official-sensitive", "--contact", "payroll@kent.gov.uk", "--price", "3.50-4.42/employee/month", "--terms", "A data sharing agreement", "--area", "Kent", "--data-dir", "gw"],
        &["gateway", "service", "list", "--output", "json", "--data-dir", "gw"],
        &["gateway", "service", "remove", "GB/GOV/D6/eligibility/fsm-check", "--data-dir", "gw"],
        &["gateway", "service", "openapi", "GB/GOV/D6/eligibility/fsm-check", "--file", "openapi.json", "--data-dir", "gw"],
        &["gateway", "service", "openapi", "GB/GOV/D6/eligibility/fsm-check", "--remove", "--data-dir", "gw"],
        &["gateway", "access", "grant", "--service", "GB/GOV/D6/eligibility/fsm-check", "--to", "GB/LA", "--method", "GET", "--path", "/check*", "--data-dir", "gw"],
        &["gateway", "access", "revoke", "g-1", "--data-dir", "gw"],
        &["gateway", "access", "list", "--output", "json", "--data-dir", "gw"],
        &["access", "request", "GB/GOV/D6/eligibility/fsm-check", "--subsystem", "revenues", "--purpose", "FSM checks", "--method", "GET", "--method", "POST", "--path", "/check*", "--data-dir", "gw"],
        &["access", "list", "--incoming", "--state", "pending", "--output", "json", "--data-dir", "gw"],
        &["access", "list", "--outgoing", "--data-dir", "gw"],
        &["access", "approve", "ar-0123456789abcdef", "--method", "GET", "--path", "/check", "--data-dir", "gw"],
        &["access", "decline", "ar-0123456789abcdef", "--reason", "no agreement", "--data-dir", "gw"],
        &["access", "withdraw", "ar-0123456789abcdef", "--data-dir", "gw"],
        &["access", "webhook", "set", "https://hooks.kent.gov.uk/psn", "--data-dir", "gw"],
        &["access", "webhook", "remove", "--data-dir", "gw"],
        &["gateway", "sla", "set", "GB/GOV/D6/eligibility/fsm-check", "--availability", "99.9", "--window", "week", "--latency", "p95<500ms", "--support-hours", "mon-fri 08:00-18:00", "--data-dir", "gw"],
        &["gateway", "sla", "list", "--output", "json", "--data-dir", "gw"],
        &["gateway", "sla", "remove", "GB/GOV/D6/eligibility/fsm-check", "--data-dir", "gw"],
        &["config", "show", "--gateway-dir", "gw", "--output", "json"],
        &["config", "show", "--data-dir", "gb"],
        &["config", "show", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["config", "verify", "config.json", "--ca", "ca.pem", "--network", "GB"],
        &["audit", "verify", "gw", "--gateway-dir", "gw", "--ca", "ca.pem", "--output", "json"],
        &["audit", "verify", "gw", "--against-authority", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem", "--against-peer", "peer-gw"],
        &["audit", "show", "gw", "--message-id", "m", "--output", "json"],
        &["audit", "export", "--data-dir", "gw", "--message-id", "m", "--out", "e.json", "--output", "json"],
        &["audit", "export", "--data-dir", "gw", "--from", "2026-11-23T09:00:00Z", "--to", "2026-11-24T09:00:00Z", "--out", "e.json"],
        &["audit", "archive", "--data-dir", "gw", "--retention", "400d", "--output", "json"],
        &["sla", "report", "--service", "GB/GOV/D6/eligibility/fsm-check", "--provider", "GB/GOV/D6", "--consumer", "GB/LA/E10000016", "--since", "7d", "--until", "2026-12-01T00:00:00Z", "--output", "csv", "--data-dir", "gb"],
        &["sla", "report", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["catalogue", "processes", "--search", "council tax", "--limit", "10", "--output", "json", "--data-dir", "gb"],
        &["catalogue", "processes", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["catalogue", "show", "GB/LA/E10000016/revenues/council-tax", "--output", "json", "--data-dir", "gb"],
        &["catalogue", "search", "payroll", "schools", "--process", "lgsl:57", "--provider-class", "LA", "--sector", "local-government", "--region", "South East", "--area", "Kent", "--service-type", "rest", "--lifecycle", "live", "--who-may-apply", "any-member", "--availability", ">=99.9", "--sort", "volume", "--offset", "20", "--limit", "10", "--output", "csv", "--data-dir", "gb"],
        &["catalogue", "partners", "--process", "lgsl:57", "--output", "json", "--data-dir", "gb"],
        &["catalogue", "partners", "--member", "GB/LA/E10000016", "--data-dir", "gb"],
        &["catalogue", "search", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["catalogue", "partners", "--process", "lgsl:4", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["benchmark", "metrics", "--output", "json", "--data-dir", "gb"],
        &["benchmark", "metrics", "--gateway-dir", "gw"],
        &["benchmark", "metrics", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["benchmark", "model", "--output", "json", "--data-dir", "gb"],
        &["benchmark", "model", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["benchmark", "peers", "--gateway-dir", "gw"],
        &["benchmark", "peers", "--member", "GB/LA/E10000016", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["benchmark", "returns", "--member", "GB/LA/E10000016", "--data-dir", "gb"],
        &["benchmark", "returns", "--member", "GB/LA/E10000016", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["benchmark", "model", "--gateway-dir", "gw"],
        &["benchmark", "report", "--process", "psn:4004", "--member", "GB/LA/E10000016", "--peers", "shire-counties", "--year", "2024-25", "--output", "csv", "--data-dir", "gb"],
        &["benchmark", "report", "--process", "psn:4004", "--gateway-dir", "gw"],
        &["benchmark", "report", "--process", "psn:4004", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["benchmark", "peers", "--member", "GB/LA/E10000016", "--output", "json", "--data-dir", "gb"],
        &["benchmark", "submit", "--file", "returns.csv", "--dry-run", "--output", "json", "--gateway-dir", "gw"],
        &["benchmark", "returns", "--output", "csv", "--gateway-dir", "gw"],
        &["benchmark", "group", "list", "--output", "json", "--gateway-dir", "gw"],
        &["benchmark", "group", "save", "shire-counties", "--peer", "GB/LA/E10000008", "--peer", "GB/LA/E10000034", "--gateway-dir", "gw"],
        &["benchmark", "group", "delete", "shire-counties", "--gateway-dir", "gw"],
        &["authority", "benchmark", "load-synthetic", "--data-dir", "gb"],
        &["federation", "export", "--file", "gb.anchor", "--valid-days", "7", "--data-dir", "gb"],
        &["federation", "export", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["federation", "import", "kent.anchor", "--fingerprint", "abc", "--export-class", "LA", "--export-member", "GB/GOV/D6", "--export-service", "GB/GOV/D6/eligibility/fsm-check", "--allow-reexport", "--output", "json", "--data-dir", "gb"],
        &["federation", "import", "kent.anchor", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["federation", "list", "--output", "json", "--data-dir", "gb"],
        &["federation", "list", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["federation", "show", "GB-KENT", "--output", "json", "--data-dir", "gb"],
        &["federation", "show", "GB-KENT", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["federation", "policy", "GB-KENT", "--export-class", "LA", "--export-member", "GB/GOV/D6", "--export-service", "GB/GOV/D6/eligibility/fsm-check", "--allow-reexport", "--output", "json", "--data-dir", "gb"],
        &["federation", "policy", "GB-KENT", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["federation", "renew", "kent.anchor", "--fingerprint", "abc", "--output", "json", "--data-dir", "gb"],
        &["federation", "renew", "kent.anchor", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["federation", "remove", "GB-KENT", "--data-dir", "gb"],
        &["federation", "remove", "GB-KENT", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["compliance", "framework", "list", "--output", "json", "--data-dir", "gb"],
        &["compliance", "framework", "list", "--gateway-dir", "gw"],
        &["compliance", "framework", "list", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["compliance", "framework", "show", "psn-coco", "2026.1", "--output", "json", "--gateway-dir", "gw"],
        &["compliance", "framework", "show", "psn-coco", "--data-dir", "gb"],
        &["compliance", "framework", "show", "psn-coco", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["compliance", "submit", "--kind", "connection", "--file", "a.json", "--gateway-dir", "gw"],
        &["compliance", "submit", "--kind", "connection", "--file", "a.json", "--member", "GB/LA/E10000016", "--save-only", "--output", "json", "--data-dir", "gb"],
        &["compliance", "submissions", "--state", "submitted", "--member", "GB/LA/E10000016", "--output", "json", "--data-dir", "gb"],
        &["compliance", "submissions", "--gateway-dir", "gw"],
        &["compliance", "review", "sub-1", "--certify", "--valid-months", "6", "--data-dir", "gb"],
        &["compliance", "review", "sub-1", "--approaching-standard", "plan", "--output", "json", "--data-dir", "gb"],
        &["compliance", "review", "sub-1", "--refuse", "reasons", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["compliance", "review", "sub-1", "--file", "decision.json", "--data-dir", "gb"],
        &["compliance", "status", "--member", "GB/LA/E10000016", "--expiring", "30d", "--output", "json", "--gateway-dir", "gw"],
        &["compliance", "status", "--data-dir", "gb"],
        &["compliance", "withdraw", "cert-1", "--reason", "lapsed", "--data-dir", "gb"],
        &["compliance", "check", "--output", "json", "--data-dir", "gb"],
        &["compliance", "evidence", "list", "--member", "GB/LA/E10000016", "--output", "json", "--data-dir", "gb"],
        &["compliance", "evidence", "list", "--gateway-dir", "gw"],
        &["compliance", "evidence", "list", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["compliance", "evidence", "remove", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "--member", "GB/LA/E10000016", "--data-dir", "gb"],
        &["compliance", "evidence", "remove", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "--gateway-dir", "gw"],
        &["compliance", "evidence", "remove", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["compliance", "check", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["compliance", "status", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["compliance", "submissions", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["compliance", "submit", "--kind", "connection", "--file", "a.json", "--member", "GB/LA/E10000016", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["compliance", "withdraw", "cert-1", "--reason", "lapsed", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["catalogue", "show", "GB/LA/E10000016/revenues/council-tax", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["catalogue", "openapi", "GB/GOV/D6/eligibility/fsm-check", "--out", "openapi.json", "--data-dir", "gb"],
        &["catalogue", "openapi", "GB/GOV/D6/eligibility/fsm-check", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["catalogue", "export", "--format", "csv", "--out", "catalogue.csv", "--data-dir", "gb"],
        &["catalogue", "export", "--authority", "https://a", "--token", "t", "--ca-file", "ca.pem"],
        &["demo", "--data-dir", "d", "--members", "2", "--monitoring", "off"],
    ];

    #[test]
    fn every_argument_of_every_command_parses_into_its_field() {
        let mut given = BTreeSet::new();
        for args in INVOCATIONS {
            let matches = Cli::command()
                .try_get_matches_from(std::iter::once("psn").chain(args.iter().copied()))
                .unwrap_or_else(|e| panic!("psn {args:?} does not parse: {e}"));
            // Panics, as the real command would, if a value is not of its field's type.
            Cli::from_arg_matches(&matches)
                .unwrap_or_else(|e| panic!("psn {args:?} does not convert: {e}"));
            given_arguments(&matches, "psn".into(), &mut given);
        }
        let mut every = BTreeSet::new();
        every_argument(&Cli::command(), "psn".into(), &mut every);
        let missing: Vec<_> = every.difference(&given).collect();
        assert!(
            missing.is_empty(),
            "no invocation gives these (command, argument): {missing:?}"
        );
    }

    /// (command path, argument id) for each argument given on the command line.
    fn given_arguments(matches: &ArgMatches, path: String, out: &mut BTreeSet<(String, String)>) {
        for id in matches.ids() {
            if matches.value_source(id.as_str()) == Some(ValueSource::CommandLine) {
                out.insert((path.clone(), id.to_string()));
            }
        }
        if let Some((name, sub)) = matches.subcommand() {
            given_arguments(sub, format!("{path} {name}"), out);
        }
    }

    /// (command path, argument id) for every argument a command defines: global ones at the
    /// top, the others where they are defined.
    fn every_argument(command: &clap::Command, path: String, out: &mut BTreeSet<(String, String)>) {
        let top = path == "psn";
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if id != "help" && id != "version" && (top || !arg.is_global_set()) {
                out.insert((path.clone(), id.to_owned()));
            }
        }
        for sub in command.get_subcommands() {
            every_argument(sub, format!("{path} {}", sub.get_name()), out);
        }
    }
}
