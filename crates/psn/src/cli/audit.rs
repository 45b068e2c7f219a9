//! `psn audit ...`: verify, inspect, export and archive a gateway's audit log (docs/audit.md).

use super::output::{self, Output};
use anyhow::{bail, Context};
use clap::Subcommand;
use psn_audit::{
    ArchiveOptions, CheckpointCheck, FoundRecord, Progress, Report, Selection, Trust, VerifyOptions,
};
use psn_core::checkpoint::Checkpoint;
use psn_core::names::GatewayId;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify an audit log: a gateway data directory, one segment file (live or archived) or an
    /// exported bundle. Checks the hash chain, the gateway's seals, and every peer statement
    /// against the network CA and the configuration history. Exits non-zero at the first break
    /// and says exactly where it is (segment, entry, message) and what is wrong.
    Verify {
        /// Gateway data directory, segment (.psnlog), archived segment (.psnlog.gz) or bundle.
        path: PathBuf,
        /// Gateway data directory whose CA and configuration history to use, for a segment file
        /// that is not inside it.
        #[arg(long)]
        gateway_dir: Option<PathBuf>,
        /// The network CA you trust (PEM). A bundle carries its own; with this, it must match.
        #[arg(long)]
        ca: Option<PathBuf>,
        #[command(flatten)]
        against: Against,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Show the record(s) of one exchange, with the peer's signed statement decoded.
    Show {
        /// Gateway data directory, segment file or bundle.
        path: PathBuf,
        /// The exchange's message id.
        #[arg(long)]
        message_id: String,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Export a self-contained bundle for one exchange or a time range, which a third party
    /// verifies with `psn audit verify BUNDLE` alone: whole segments, the network CA and the
    /// configuration versions they need.
    Export {
        /// Gateway data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// The exchange to export.
        #[arg(long, required_unless_present = "from", conflicts_with = "from")]
        message_id: Option<String>,
        /// Start of a time range (RFC 3339, e.g. 2026-11-23T09:00:00Z): exchanges received from
        /// then.
        #[arg(long, value_parser = parse_time, requires = "to")]
        from: Option<OffsetDateTime>,
        /// End of the time range (exclusive).
        #[arg(long, value_parser = parse_time, requires = "from")]
        to: Option<OffsetDateTime>,
        /// Where to write the bundle.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Compress closed segments into audit/archive and apply retention. Never touches the active
    /// segment or a segment without a final seal; safe while the gateway runs.
    Archive {
        /// Gateway data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Delete archives sealed longer ago than this (e.g. 400d), with the bodies they kept.
        /// Without it, archives are kept.
        #[arg(long, value_parser = psn_core::duration::parse_duration)]
        retention: Option<std::time::Duration>,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}

/// Checkpoints held outside the gateway to compare a data directory's log with
/// (docs/audit.md "Checkpoints"): a log that ends before one, or holds something else at its
/// position, was cut back or rewritten, even if it is intact in itself.
#[derive(Debug, Clone, clap::Args)]
pub struct Against {
    /// Also compare the log with the checkpoint the authority holds for its gateway. Asked with
    /// the gateway data directory's own identity, or as an operator with --authority and --token.
    #[arg(long)]
    against_authority: bool,
    /// Authority API base URL, to ask as an operator (with --against-authority).
    #[arg(long, requires_all = ["against_authority", "token"])]
    authority: Option<String>,
    /// Operator token (with --authority).
    #[arg(long, requires = "authority")]
    token: Option<String>,
    /// The authority's CA certificate (with --authority; default: the data directory's ca.pem).
    #[arg(long, requires = "authority")]
    ca_file: Option<PathBuf>,
    /// Also compare the log with the checkpoint a peer gateway kept of it: the peer's data
    /// directory, or the checkpoint file (audit/peers/GATEWAY.json there).
    #[arg(long)]
    against_peer: Option<PathBuf>,
}

impl Against {
    fn any(&self) -> bool {
        self.against_authority || self.against_peer.is_some()
    }
}

/// The checkpoint the authority holds for the gateway whose data directory is `dir`.
async fn authority_checkpoint(dir: &Path, against: &Against) -> anyhow::Result<Checkpoint> {
    let gateway_dir = psn_gateway::GatewayDir::new(dir);
    let Some(url) = &against.authority else {
        return psn_gateway::plane::checkpoint::held_by_authority(&gateway_dir)
            .await
            .context("asking the authority for its checkpoint with the gateway's identity");
    };
    let gateway = gateway_dir.load_settings()?.gateway;
    let ca_path = against
        .ca_file
        .clone()
        .unwrap_or_else(|| dir.join("ca.pem"));
    let ca_pem = std::fs::read_to_string(&ca_path)
        .with_context(|| format!("reading {}", ca_path.display()))?;
    let ca = psn_pki::parse_pem_certificates(&ca_pem)?.remove(0);
    let token = against
        .token
        .as_deref()
        .context("--token is required with --authority")?;
    let client = psn_api::AuthorityClient::operator(url, &ca, token.trim())?
        .with_retries(psn_api::Retries::COMMAND_LINE);
    Ok(client.gateway_checkpoint(&gateway).await?)
}

/// Compares the intact log in `dir` with a checkpoint `holder` holds; fails if the log was cut
/// back behind it or holds something else at its position.
fn check_against(
    dir: &Path,
    report: &Report,
    ca_pem: Option<&str>,
    holder: &str,
    held: &Checkpoint,
) -> anyhow::Result<String> {
    let log = report.log.as_deref().context("the log names no gateway")?;
    let gateway: GatewayId = log.parse().context("the log's gateway id")?;
    let trust = match ca_pem {
        Some(pem) => Trust::new(pem, [])?,
        None => Trust::from_data_dir(dir)?,
    };
    psn_audit::verify_checkpoint(held, &gateway, trust.ca_der())
        .map_err(|e| anyhow::anyhow!("the checkpoint {holder} holds does not verify: {e}"))?;
    match psn_audit::check_checkpoint(dir, held)? {
        CheckpointCheck::Holds => Ok(format!(
            "the log holds the seal {holder} holds, at {}",
            held.describe()
        )),
        CheckpointCheck::Retired { first_segment } => Ok(format!(
            "{holder} holds a checkpoint at {}, in a segment retention deleted (the log starts at segment {first_segment}): nothing to compare",
            held.describe()
        )),
        CheckpointCheck::Short { segment, entry } => bail!(
            "the log ends at segment {segment} entry {entry} but {holder} holds a checkpoint at {}: the log was cut back",
            held.describe()
        ),
        CheckpointCheck::Diverges { found } => bail!(
            "{holder} holds a checkpoint at {}, but the log holds {found} there: the log was rewritten",
            held.describe()
        ),
    }
}

/// The checkpoint a peer kept of the log of the gateway whose data directory is `dir`.
fn peer_checkpoint(dir: &Path, peer: &Path) -> anyhow::Result<Checkpoint> {
    let file = if peer.is_dir() {
        let settings = psn_gateway::GatewayDir::new(dir).load_settings()?;
        psn_audit::peer_checkpoint_path(peer, &settings.gateway)
    } else {
        peer.to_path_buf()
    };
    if peer.is_dir() && !file.exists() {
        bail!(
            "{} keeps no checkpoint of this log ({} is absent): that peer has not been handed a seal of it yet, so there is nothing to compare with",
            peer.display(),
            file.display()
        );
    }
    Ok(psn_audit::read_checkpoint_file(&file)?)
}

fn parse_time(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| format!("{text:?} is not an RFC 3339 time (2026-11-23T09:00:00Z): {e}"))
}

fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Runs an audit command.
pub async fn run(command: AuditCommand) -> anyhow::Result<()> {
    let from_authority = match &command {
        AuditCommand::Verify { path, against, .. } if against.against_authority => {
            Some(authority_checkpoint(path, against).await?)
        }
        _ => None,
    };
    // Everything else here is file work; keep it off the runtime's threads.
    tokio::task::spawn_blocking(move || run_blocking(command, from_authority)).await?
}

fn run_blocking(command: AuditCommand, from_authority: Option<Checkpoint>) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify {
            path,
            gateway_dir,
            ca,
            against,
            output,
        } => {
            if against.any() && !path.is_dir() {
                bail!("--against-authority and --against-peer compare a gateway data directory's log; {} is not a directory", path.display());
            }
            let ca_pem = ca
                .map(|p| {
                    std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
                })
                .transpose()?;
            let options = VerifyOptions {
                trust_dir: gateway_dir,
                ca_pem: ca_pem.clone(),
            };
            let mut progress = ProgressLine::new();
            let report = psn_audit::verify(&path, &options, &mut |p| progress.show(p))?;
            progress.finish();
            match output {
                Output::Json => output::json(&report)?,
                Output::Table => print_report(&report),
            }
            if let Some(b) = &report.first_break {
                bail!("the audit log is not intact: {b}");
            }
            let peer = against
                .against_peer
                .as_deref()
                .map(|p| {
                    peer_checkpoint(&path, p).map(|c| (format!("the peer ({})", p.display()), c))
                })
                .transpose()?;
            let held = from_authority
                .map(|c| ("the authority".to_owned(), c))
                .into_iter()
                .chain(peer);
            for (holder, checkpoint) in held {
                let found = check_against(&path, &report, ca_pem.as_deref(), &holder, &checkpoint)?;
                if matches!(output, Output::Table) {
                    println!("  checkpoint:   {found}");
                }
            }
            Ok(())
        }
        AuditCommand::Show {
            path,
            message_id,
            output,
        } => {
            let found = psn_audit::find(&path, &message_id)?;
            if found.is_empty() {
                bail!("no record of message {message_id} in {}", path.display());
            }
            match output {
                Output::Json => output::json(&found),
                Output::Table => {
                    for (i, record) in found.iter().enumerate() {
                        if i > 0 {
                            println!();
                        }
                        print_found(record);
                    }
                    Ok(())
                }
            }
        }
        AuditCommand::Export {
            data_dir,
            message_id,
            from,
            to,
            out,
            output,
        } => {
            let selection = match (message_id, from, to) {
                (Some(id), _, _) => Selection::MessageId(id),
                (None, Some(from), Some(to)) if from < to => Selection::TimeRange {
                    from_ms: unix_ms(from),
                    to_ms: unix_ms(to),
                },
                (None, Some(_), Some(_)) => bail!("--from must be before --to"),
                _ => bail!("say what to export: --message-id ID, or --from T --to T"),
            };
            let summary = psn_audit::export(&data_dir, &selection, &out)?;
            match output {
                Output::Json => output::json(&summary),
                Output::Table => {
                    println!(
                        "exported {} record(s) of {selection} to {} ({} bytes)",
                        summary.records,
                        out.display(),
                        summary.bytes
                    );
                    println!(
                        "  segments {}; configuration versions {}; stored bodies {}",
                        list(&summary.segments),
                        list(&summary.configs),
                        summary.bodies
                    );
                    println!("verify anywhere with: psn audit verify {}", out.display());
                    Ok(())
                }
            }
        }
        AuditCommand::Archive {
            data_dir,
            retention,
            output,
        } => {
            let summary = psn_audit::archive(
                &data_dir,
                &ArchiveOptions { retention },
                OffsetDateTime::now_utc(),
            )?;
            match output {
                Output::Json => output::json(&summary),
                Output::Table => {
                    println!("archived segments: {}", list(&summary.archived));
                    println!(
                        "deleted by retention: {} (with {} stored bodies)",
                        list(&summary.deleted),
                        summary.bodies_deleted
                    );
                    if !summary.skipped.is_empty() {
                        println!(
                            "left alone (damaged or without a final seal; run psn audit verify): {}",
                            list(&summary.skipped)
                        );
                    }
                    Ok(())
                }
            }
        }
    }
}

fn list(items: &[u64]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn print_report(report: &Report) {
    let verdict = if report.is_intact() {
        "INTACT"
    } else {
        "BROKEN"
    };
    println!("{verdict}: {} ({})", report.source, report.kind);
    if let Some(log) = &report.log {
        println!("  log:          {log}");
    }
    if let (Some(first), Some(last)) = (report.first_segment, report.last_segment) {
        println!(
            "  segments:     {} checked (numbers {first} to {last})",
            report.segments
        );
    }
    println!(
        "  entries:      {} ({} records, {} seals, {} peer statements, {} stored bodies)",
        report.entries, report.records, report.seals, report.statements, report.bodies
    );
    if report.unsealed_records > 0 {
        println!(
            "  unsealed:     {} record(s) chained but not yet sealed",
            report.unsealed_records
        );
    }
    if let Some(pin) = &report.ca_pin {
        println!("  network CA:   pin {pin} (compare with the network's published pin)");
    }
    for location in &report.selected {
        println!(
            "  selected:     message {} (segment {}, entry {})",
            location.message_id, location.segment, location.entry
        );
    }
    for note in &report.notes {
        println!("  note:         {note}");
    }
    if let Some(b) = &report.first_break {
        println!("  first break:  {}", b.kind.describe());
        println!("    file:       {}", b.file);
        if let Some(segment) = b.segment {
            println!("    segment:    {segment}");
        }
        if let Some(entry) = b.entry {
            match b.offset {
                Some(offset) => println!("    entry:      {entry} (byte {offset})"),
                None => println!("    entry:      {entry}"),
            }
        }
        if let Some(id) = &b.message_id {
            println!("    message id: {id}");
        }
        println!("    problem:    {}", b.detail);
    }
}

fn show_time(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{ms} ms"))
}

fn print_found(found: &FoundRecord) {
    let r = &found.record;
    println!(
        "message {} ({} side), segment {} entry {} in {}{}",
        r.message_id,
        r.role.as_str(),
        found.location.segment,
        found.location.entry,
        found.file,
        if found.sealed {
            ", sealed"
        } else {
            ", not sealed yet"
        }
    );
    println!("  client:           {}", r.client);
    println!("  service:          {}", r.service);
    println!("  request:          {} {}", r.method, r.path);
    if let Some(purpose) = &r.purpose {
        println!("  purpose:          {purpose}");
    }
    println!("  status:           {}", r.status);
    if let Some(problem) = &r.problem {
        println!("  problem:          {problem}");
    }
    println!(
        "  bytes:            request {}, response {}",
        r.request_bytes, r.response_bytes
    );
    let t = r.times;
    let after =
        |ms: Option<i64>| ms.map_or("-".to_owned(), |ms| format!("+{} ms", ms - t.received_ms));
    println!(
        "  times:            received {}, forwarded {}, response in {}, response out {}",
        show_time(t.received_ms),
        after(t.forwarded_ms),
        after(t.response_in_ms),
        after(t.response_out_ms)
    );
    println!(
        "  request digest:   {}",
        r.request_digest.as_deref().unwrap_or("-")
    );
    println!(
        "  response digest:  {}",
        r.response_digest.as_deref().unwrap_or("-")
    );
    let stored: Vec<&str> = r.stored_bodies().iter().map(|p| p.as_str()).collect();
    if !stored.is_empty() {
        println!("  stored bodies:    {}", stored.join(", "));
    }
    match (&r.peer, &r.peer_serial) {
        (Some(peer), Some(serial)) => println!("  peer:             {peer} (certificate {serial})"),
        (Some(peer), None) => println!("  peer:             {peer}"),
        _ => println!("  peer:             none reached"),
    }
    if let Some(problem) = &found.statement_problem {
        println!("  peer statement:   unreadable: {problem}");
    }
    if let Some(s) = &found.statement {
        let signature = match found.signature_valid {
            Some(true) => "signature valid",
            Some(false) => "SIGNATURE DOES NOT VERIFY",
            None => "certificate not in the segment",
        };
        let kind = match s.kind {
            psn_core::proof::StatementKind::Request => "request",
            psn_core::proof::StatementKind::Response => "response",
        };
        println!(
            "  peer statement:   {kind}, signed by {} at {} ({signature})",
            s.signer,
            show_time(s.at_ms)
        );
        let row = |label: &str, value: &str| println!("    {label:<17}{value}");
        row("message id:", &s.message_id);
        row("client:", &s.client);
        row("service:", &s.service);
        row("request:", &format!("{} {}", s.method, s.path));
        row("request digest:", &s.request_digest);
        if let Some(status) = s.status {
            row("status:", &status.to_string());
        }
        if let Some(digest) = &s.response_digest {
            row("response digest:", digest);
        }
    }
    if let Some(c) = &found.peer_certificate {
        println!(
            "  peer certificate: {} for {}, valid {} to {}",
            c.serial,
            c.gateway.as_deref().unwrap_or("(no gateway)"),
            c.not_before,
            c.not_after
        );
    }
    if found.statement.is_some() {
        println!("  (psn audit verify also checks the certificate against the CA and the configuration history)");
    }
}

/// A one-line progress display on standard error, only when it is a terminal.
struct ProgressLine {
    enabled: bool,
    shown: bool,
    last_percent: Option<u64>,
}

impl ProgressLine {
    fn new() -> Self {
        Self {
            enabled: std::io::stderr().is_terminal(),
            shown: false,
            last_percent: None,
        }
    }

    fn show(&mut self, p: &Progress) {
        if !self.enabled || p.bytes_total < 8 * 1024 * 1024 {
            return;
        }
        let percent = p.bytes_done.saturating_mul(100) / p.bytes_total.max(1);
        if self.last_percent == Some(percent) {
            return;
        }
        self.last_percent = Some(percent);
        self.shown = true;
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\rverifying: segment {}/{}, {} of {} MiB ({percent}%)",
            p.segments_done,
            p.segments_total,
            p.bytes_done >> 20,
            p.bytes_total >> 20
        );
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.shown {
            eprintln!();
        }
    }
}
