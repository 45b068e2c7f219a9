//! `psn compliance ...` (docs/compliance.md): the frameworks the network has adopted; a
//! member's submission (evidence files uploaded, answers saved, submitted); the operator's
//! review, withdrawal and lifecycle run; and the public status. A member acts through its
//! gateway's data directory, or the operator acts for it with `--member`.

use super::benchmark::{asking, Asker};
use super::connect::Connect;
use super::output;
use anyhow::{bail, Context};
use clap::Subcommand;
use psn_api::{ControlReview, ControlVerdict, ReviewDecision, ReviewOutcome, SubmissionDraft};
use psn_core::names::MemberId;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum ComplianceCommand {
    /// The frameworks: their controls, the evidence they expect, what they map to.
    #[command(subcommand)]
    Framework(FrameworkCommand),
    /// Submit a member's answers for one certificate kind: uploads the evidence files the
    /// answers name (paths relative to the answers file; files already uploaded are not sent
    /// again), saves the answers and submits them for review.
    Submit {
        /// The certificate kind, e.g. connection or service-provision.
        #[arg(long)]
        kind: String,
        /// The answers (JSON: framework, version, answers; each answer's evidence lists file
        /// paths or SHA-256 digests of files already uploaded).
        #[arg(long)]
        file: PathBuf,
        /// The member (the operator acting for it; a gateway acts for its own member).
        #[arg(long)]
        member: Option<MemberId>,
        /// Save the answers without submitting them.
        #[arg(long)]
        save_only: bool,
        #[command(flatten)]
        asker: Asker,
        #[arg(long, value_enum, default_value_t)]
        output: output::Output,
    },
    /// A member's evidence files: list them, or remove one no submission cites.
    #[command(subcommand)]
    Evidence(EvidenceCommand),
    /// Submissions: a member's own, or (operator) every member's.
    Submissions {
        /// Only this member's.
        #[arg(long)]
        member: Option<MemberId>,
        /// Only those in this state: draft, submitted, returned, certified, refused.
        #[arg(long)]
        state: Option<String>,
        #[command(flatten)]
        asker: Asker,
        #[arg(long, value_enum, default_value_t)]
        output: output::Output,
    },
    /// Review a submitted submission (operator): certify, approaching standard, return or
    /// refuse. With --file, the decision as JSON (a verdict and comment per control); the
    /// other options accept every control answered.
    Review {
        /// The submission, e.g. sub-3.
        submission: String,
        /// The decision as JSON.
        #[arg(long, conflicts_with_all = ["certify", "approaching_standard", "refuse"])]
        file: Option<PathBuf>,
        /// Accept every control and issue a certificate for the kind's validity.
        #[arg(long, conflicts_with_all = ["approaching_standard", "refuse"])]
        certify: bool,
        /// Accept every control and issue a time-limited certificate on this improvement plan.
        #[arg(long, value_name = "PLAN", conflicts_with = "refuse")]
        approaching_standard: Option<String>,
        /// Refuse, for these reasons.
        #[arg(long, value_name = "REASONS")]
        refuse: Option<String>,
        /// Months the certificate lasts, when shorter than the default.
        #[arg(long)]
        valid_months: Option<u32>,
        #[command(flatten)]
        connect: Connect,
        #[arg(long, value_enum, default_value_t)]
        output: output::Output,
    },
    /// The public status: members' certificates, their state and expiry.
    Status {
        /// Only this member.
        #[arg(long)]
        member: Option<MemberId>,
        /// Only members with a current certificate expiring within this many days, e.g. 30d.
        #[arg(long, value_name = "DAYS")]
        expiring: Option<String>,
        #[command(flatten)]
        asker: Asker,
        #[arg(long, value_enum, default_value_t)]
        output: output::Output,
    },
    /// Withdraw a current certificate for non-compliance (operator); the policy applies at once.
    Withdraw {
        /// The certificate, e.g. cert-4.
        certificate: String,
        /// Why: shown to the member and in the status.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        connect: Connect,
    },
    /// Run the lifecycle now (operator): expiry, reminders and the network's policy.
    Check {
        #[command(flatten)]
        connect: Connect,
        #[arg(long, value_enum, default_value_t)]
        output: output::Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// The member's files, newest first, with the bytes held against its quota.
    List {
        /// The member (the operator acting for it; a gateway reads its own member's).
        #[arg(long)]
        member: Option<MemberId>,
        #[command(flatten)]
        asker: Asker,
        #[arg(long, value_enum, default_value_t)]
        output: output::Output,
    },
    /// Remove a file no submission cites, freeing its quota.
    Remove {
        /// The file's SHA-256.
        sha256: String,
        /// The member (the operator acting for it; a gateway acts for its own member).
        #[arg(long)]
        member: Option<MemberId>,
        #[command(flatten)]
        asker: Asker,
    },
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

/// The media type an evidence file is sent as, by its extension (the authority checks the
/// content itself).
fn media_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("pdf") => "application/pdf",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("csv") => "text/csv",
        Some("txt" | "log") => "text/plain",
        _ => "application/octet-stream",
    }
}

fn is_digest(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Uploads the evidence files `draft` names by path (those the member has not uploaded yet)
/// and puts their digests in their place.
async fn upload_named_files(
    asker: &Asker,
    member: Option<&MemberId>,
    draft: &mut SubmissionDraft,
    base: &Path,
) -> anyhow::Result<()> {
    let held = asking(asker, |c| async move { c.evidence(member).await }).await?;
    let mut uploaded: Vec<String> = held.evidence.into_iter().map(|e| e.sha256).collect();
    for answer in &mut draft.answers {
        let control = answer.control.clone();
        for entry in &mut answer.evidence {
            if is_digest(entry) {
                continue;
            }
            let relative = Path::new(entry.as_str());
            let escapes = relative.is_absolute()
                || relative
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)));
            if escapes {
                bail!(
                    "{}: evidence {entry:?} must be a path within the answers file's directory (no leading /, no ..), or a SHA-256 digest",
                    control
                );
            }
            let path = base.join(relative);
            let content =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let sha256 = psn_compliance::sha256_hex(&content);
            if !uploaded.contains(&sha256) {
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .with_context(|| format!("{} has no file name", path.display()))?;
                let media = media_type(&path);
                let view = asking(asker, |c| {
                    let content = content.clone();
                    async move { c.upload_evidence(member, name, media, content).await }
                })
                .await
                .with_context(|| format!("uploading {}", path.display()))?;
                eprintln!(
                    "uploaded {} ({} bytes, {})",
                    view.name, view.bytes, view.sha256
                );
                uploaded.push(sha256.clone());
            }
            *entry = sha256;
        }
    }
    Ok(())
}

/// The decision the review options describe, over the controls the submission answered.
async fn decision_of(
    client: &psn_api::AuthorityClient,
    submission: &str,
    file: Option<PathBuf>,
    (certify, approaching, refuse): (bool, Option<String>, Option<String>),
    valid_months: Option<u32>,
) -> anyhow::Result<ReviewDecision> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        return serde_json::from_str(&text)
            .with_context(|| format!("{} is not a review decision", file.display()));
    }
    let (outcome, improvement_plan, reasons) = match (certify, approaching, refuse) {
        (true, None, None) => (ReviewOutcome::Certify, String::new(), String::new()),
        (false, Some(plan), None) => (ReviewOutcome::ApproachingStandard, plan, String::new()),
        (false, None, Some(reasons)) => (ReviewOutcome::Refuse, String::new(), reasons),
        _ => bail!("say what to decide: --certify, --approaching-standard PLAN, --refuse REASONS or --file decision.json"),
    };
    let answered = client.submission(submission).await?;
    Ok(ReviewDecision {
        outcome,
        controls: answered
            .answers
            .iter()
            .map(|a| ControlReview {
                control: a.control.clone(),
                verdict: ControlVerdict::Accepted,
                comment: String::new(),
            })
            .collect(),
        reasons,
        improvement_plan,
        valid_months,
    })
}

fn print_submission(s: &psn_api::SubmissionView) {
    println!(
        "{} {} for {} ({} {}): {}, {} answers",
        s.id,
        s.kind,
        s.member,
        s.framework,
        s.version,
        s.state.as_str(),
        s.answers.len()
    );
}

fn print_status(status: &psn_api::ComplianceStatus) {
    let mut rows = Vec::new();
    for m in &status.members {
        for c in &m.certificates {
            rows.push(vec![
                m.member.to_string(),
                m.name.clone(),
                c.kind.clone(),
                c.state.as_str().to_owned(),
                c.expires_at.date().to_string(),
                format!("{} {}", c.framework, c.version),
                if m.suspended_by_compliance {
                    "suspended by compliance".to_owned()
                } else {
                    m.reminders.join(" ")
                },
            ]);
        }
    }
    output::table(
        &[
            "MEMBER",
            "NAME",
            "CERTIFICATE",
            "STATE",
            "EXPIRES",
            "FRAMEWORK",
            "NOTES",
        ],
        &rows,
    );
}

/// Runs a compliance command.
pub async fn run(command: ComplianceCommand) -> anyhow::Result<()> {
    match command {
        ComplianceCommand::Submit {
            kind,
            file,
            member,
            save_only,
            asker,
            output,
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let mut draft: SubmissionDraft = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a submission's answers", file.display()))?;
            let base = file.parent().unwrap_or(Path::new("."));
            let member = member.as_ref();
            upload_named_files(&asker, member, &mut draft, base).await?;
            let (kind, draft) = (&kind, &draft);
            let mut view = asking(&asker, |c| async move {
                c.save_submission(member, kind, draft).await
            })
            .await?;
            if !save_only {
                view = asking(&asker, |c| async move {
                    c.submit_submission(member, kind).await
                })
                .await?;
            }
            match output {
                output::Output::Json => output::json(&view)?,
                output::Output::Table => print_submission(&view),
            }
        }
        ComplianceCommand::Evidence(EvidenceCommand::List {
            member,
            asker,
            output,
        }) => {
            let member = member.as_ref();
            let list = asking(&asker, |c| async move { c.evidence(member).await }).await?;
            match output {
                output::Output::Json => output::json(&list)?,
                output::Output::Table => {
                    let rows: Vec<Vec<String>> = list
                        .evidence
                        .iter()
                        .map(|e| {
                            vec![
                                e.sha256.clone(),
                                e.name.clone(),
                                e.media_type.clone(),
                                e.bytes.to_string(),
                                e.uploaded_at.date().to_string(),
                            ]
                        })
                        .collect();
                    output::table(&["SHA256", "NAME", "TYPE", "BYTES", "UPLOADED"], &rows);
                    println!("{} of {} bytes used", list.bytes, list.quota);
                }
            }
        }
        ComplianceCommand::Evidence(EvidenceCommand::Remove {
            sha256,
            member,
            asker,
        }) => {
            if !is_digest(&sha256) {
                bail!("{sha256:?} is not a SHA-256 (64 lowercase hex digits)");
            }
            let (member, sha256) = (member.as_ref(), &sha256);
            let removed = asking(&asker, |c| async move {
                c.remove_evidence(member, sha256).await
            })
            .await?;
            println!("removed {} ({} bytes)", removed.name, removed.bytes);
        }
        ComplianceCommand::Submissions {
            member,
            state,
            asker,
            output,
        } => {
            let (member, state) = (member.as_ref(), state.as_deref());
            let list = asking(
                &asker,
                |c| async move { c.submissions(member, state).await },
            )
            .await?;
            match output {
                output::Output::Json => output::json(&list)?,
                output::Output::Table => {
                    let rows: Vec<Vec<String>> = list
                        .submissions
                        .iter()
                        .map(|s| {
                            vec![
                                s.id.clone(),
                                s.member.to_string(),
                                s.kind.clone(),
                                s.state.as_str().to_owned(),
                                s.answers.len().to_string(),
                                s.submitted_at
                                    .map(|t| t.date().to_string())
                                    .unwrap_or_default(),
                            ]
                        })
                        .collect();
                    output::table(
                        &[
                            "SUBMISSION",
                            "MEMBER",
                            "KIND",
                            "STATE",
                            "ANSWERS",
                            "SUBMITTED",
                        ],
                        &rows,
                    );
                }
            }
        }
        ComplianceCommand::Review {
            submission,
            file,
            certify,
            approaching_standard,
            refuse,
            valid_months,
            connect,
            output,
        } => {
            let client = connect.client()?;
            let decision = decision_of(
                &client,
                &submission,
                file,
                (certify, approaching_standard, refuse),
                valid_months,
            )
            .await?;
            let result = client.review_submission(&submission, &decision).await?;
            match output {
                output::Output::Json => output::json(&result)?,
                output::Output::Table => {
                    print_submission(&result.submission);
                    if let Some(c) = &result.certificate {
                        println!(
                            "issued {} ({} {}), {} until {}",
                            c.id,
                            c.kind,
                            c.version,
                            c.state.as_str(),
                            c.expires_at.date()
                        );
                    }
                }
            }
        }
        ComplianceCommand::Status {
            member,
            expiring,
            asker,
            output,
        } => {
            let (member, expiring) = (member.as_ref(), expiring.as_deref());
            let status = asking(&asker, |c| async move {
                c.compliance_status(member, expiring).await
            })
            .await?;
            match output {
                output::Output::Json => output::json(&status)?,
                output::Output::Table => print_status(&status),
            }
        }
        ComplianceCommand::Withdraw {
            certificate,
            reason,
            connect,
        } => {
            let c = connect
                .client()?
                .withdraw_certificate(&certificate, &reason)
                .await?;
            println!("withdrew {} ({} of {})", c.id, c.kind, c.member);
        }
        ComplianceCommand::Check { connect, output } => {
            let run = connect.client()?.run_lifecycle().await?;
            match output {
                output::Output::Json => output::json(&run)?,
                output::Output::Table => {
                    println!(
                        "at {}: {} expired, {} reminders, {} holds changed (configuration version {})",
                        run.at,
                        run.expired.len(),
                        run.reminders.len(),
                        run.holds_changed.len(),
                        run.config_version
                    );
                    for line in run
                        .expired
                        .iter()
                        .chain(&run.reminders)
                        .chain(&run.holds_changed)
                    {
                        println!("  {line}");
                    }
                }
            }
        }
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
