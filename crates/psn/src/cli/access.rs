//! `psn access ...`: request access to other members' services and decide requests for this
//! member's own (docs/access.md), authenticated with the member's gateway data directory like
//! `psn gateway access ...`.

use super::output::{self, Output};
use clap::{Args, Subcommand};
use psn_api::{
    AccessApproval, AccessDecline, AccessDirection, AccessRequestList, AccessRequestQuery,
    AccessRequestState, AccessRequestView, AuthorityClient, ClientError, NewAccessRequest,
    WebhookSet,
};
use psn_core::names::{ServiceId, SubsystemCode, SubsystemId};
use psn_gateway::GatewayDir;
use std::path::PathBuf;

/// The gateway whose certificate speaks for the member.
#[derive(Debug, Args)]
pub struct Member {
    /// Gateway data directory of the member.
    #[arg(long)]
    data_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Ask another member for access to one of its services.
    Request {
        #[command(flatten)]
        member: Member,
        /// The service, e.g. GB/GOV/D6/eligibility/fsm-check.
        service: ServiceId,
        /// Which of this member's subsystems would call it (its code, e.g. revenues, or its
        /// full id).
        #[arg(long)]
        subsystem: String,
        /// Why, for the provider (at most 2,000 characters).
        #[arg(long)]
        purpose: String,
        /// Only this method (repeat for more); none: every method.
        #[arg(long = "method")]
        methods: Vec<String>,
        /// Only this path (exact, or a prefix ending in *).
        #[arg(long)]
        path: Option<String>,
    },
    /// List this member's requests: those it made and those on its services.
    List {
        #[command(flatten)]
        member: Member,
        /// Only requests on this member's services.
        #[arg(long, conflicts_with = "outgoing")]
        incoming: bool,
        /// Only requests this member made.
        #[arg(long)]
        outgoing: bool,
        /// Only requests in this state: pending, approved, declined or withdrawn.
        #[arg(long, value_parser = parse_state)]
        state: Option<AccessRequestState>,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Approve a pending request on this member's service (optionally narrower); the
    /// authority creates the grants.
    Approve {
        #[command(flatten)]
        member: Member,
        /// Request id (ar-...).
        id: String,
        /// Allow only this of the requested methods (repeat for more).
        #[arg(long = "method")]
        methods: Vec<String>,
        /// Allow only this path, within the requested one.
        #[arg(long)]
        path: Option<String>,
    },
    /// Decline a pending request on this member's service.
    Decline {
        #[command(flatten)]
        member: Member,
        /// Request id (ar-...).
        id: String,
        /// Why, for the requester.
        #[arg(long)]
        reason: String,
    },
    /// Withdraw one of this member's pending requests.
    Withdraw {
        #[command(flatten)]
        member: Member,
        /// Request id (ar-...).
        id: String,
    },
    /// Set or remove the webhook that announces new and decided requests.
    #[command(subcommand)]
    Webhook(WebhookCommand),
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Set it; prints the signing secret, which is shown only this once.
    Set {
        #[command(flatten)]
        member: Member,
        /// https:// URL (http:// only to a loopback address).
        url: String,
    },
    /// Remove it.
    Remove {
        #[command(flatten)]
        member: Member,
    },
}

fn parse_state(text: &str) -> Result<AccessRequestState, String> {
    text.parse()
}

/// Calls `f` with a client presenting the gateway's certificate, trying each authority
/// endpoint in turn while they are unreachable (as the gateway's own admin calls do).
async fn with_member<T, F, Fut>(member: &Member, f: F) -> anyhow::Result<T>
where
    F: Fn(AuthorityClient) -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    with_gateway(&member.data_dir, f).await
}

/// Calls `f` with a client presenting the certificate of the gateway whose data directory is
/// `dir`, trying each authority endpoint in turn while they are unreachable.
pub(super) async fn with_gateway<T, F, Fut>(dir: &std::path::Path, f: F) -> anyhow::Result<T>
where
    F: Fn(AuthorityClient) -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let dir = GatewayDir::new(dir);
    let settings = dir.load_settings()?;
    let ca = dir.load_ca()?;
    let (identity, _) = dir.load_identity()?;
    let mut last = None;
    for endpoint in &settings.authority {
        let client = AuthorityClient::gateway(endpoint, &ca, identity.clone())?;
        match f(client).await {
            Ok(v) => return Ok(v),
            Err(e @ ClientError::Transport { .. }) => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last.map_or_else(
        || anyhow::anyhow!("no authority endpoint configured"),
        Into::into,
    ))
}

/// The subsystem named by `text`: a full id, or a code of the gateway's own member.
fn subsystem_of(member: &Member, text: &str) -> anyhow::Result<SubsystemId> {
    if text.contains('/') {
        return Ok(text.parse()?);
    }
    let code: SubsystemCode = text.parse()?;
    let gateway = GatewayDir::new(&member.data_dir).load_settings()?.gateway;
    Ok(SubsystemId::new(gateway.member().clone(), code))
}

fn table(items: &[AccessRequestView]) {
    let rows = items
        .iter()
        .map(|r| {
            let methods = if r.methods.is_empty() {
                "*".to_owned()
            } else {
                r.methods.join(",")
            };
            vec![
                r.id.clone(),
                r.state.as_str().to_owned(),
                r.subsystem.to_string(),
                r.service.to_string(),
                methods,
                r.path.clone().unwrap_or_else(|| "*".into()),
                r.grants.join(","),
            ]
        })
        .collect::<Vec<_>>();
    output::table(
        &[
            "ID",
            "STATE",
            "SUBSYSTEM",
            "SERVICE",
            "METHODS",
            "PATH",
            "GRANTS",
        ],
        &rows,
    );
}

fn one(r: &AccessRequestView) -> anyhow::Result<()> {
    table(std::slice::from_ref(r));
    if let Some(reason) = &r.reason {
        println!("reason: {reason}");
    }
    Ok(())
}

/// Runs an access command.
pub async fn run(command: AccessCommand) -> anyhow::Result<()> {
    match command {
        AccessCommand::Request {
            member,
            service,
            subsystem,
            purpose,
            methods,
            path,
        } => {
            let new = NewAccessRequest {
                subsystem: subsystem_of(&member, &subsystem)?,
                service,
                purpose,
                methods,
                path,
            };
            let created = with_member(&member, |c| {
                let new = new.clone();
                async move { c.request_access(&new).await }
            })
            .await?;
            one(&created)
        }
        AccessCommand::List {
            member,
            incoming,
            outgoing,
            state,
            output: format,
        } => {
            let query = AccessRequestQuery {
                direction: match (incoming, outgoing) {
                    (true, _) => Some(AccessDirection::Incoming),
                    (_, true) => Some(AccessDirection::Outgoing),
                    _ => None,
                },
                state,
            };
            let list: AccessRequestList = with_member(&member, |c| {
                let query = query.clone();
                async move { c.access_requests(&query).await }
            })
            .await?;
            match format {
                Output::Json => output::json(&list),
                Output::Table => {
                    table(&list.items);
                    Ok(())
                }
            }
        }
        AccessCommand::Approve {
            member,
            id,
            methods,
            path,
        } => {
            let approval = AccessApproval {
                methods: (!methods.is_empty()).then_some(methods),
                path,
            };
            let approved = with_member(&member, |c| {
                let (id, approval) = (id.clone(), approval.clone());
                async move { c.approve_access(&id, &approval).await }
            })
            .await?;
            one(&approved)
        }
        AccessCommand::Decline { member, id, reason } => {
            let decline = AccessDecline { reason };
            let declined = with_member(&member, |c| {
                let (id, decline) = (id.clone(), decline.clone());
                async move { c.decline_access(&id, &decline).await }
            })
            .await?;
            one(&declined)
        }
        AccessCommand::Withdraw { member, id } => {
            let withdrawn = with_member(&member, |c| {
                let id = id.clone();
                async move { c.withdraw_access(&id).await }
            })
            .await?;
            one(&withdrawn)
        }
        AccessCommand::Webhook(WebhookCommand::Set { member, url }) => {
            let set = with_member(&member, |c| {
                let body = WebhookSet { url: url.clone() };
                async move { c.set_webhook(&body).await }
            })
            .await?;
            println!("webhook of {} set to {}", set.member, set.url);
            if let Some(secret) = set.secret {
                println!("signing secret (shown only now): {secret}");
            }
            Ok(())
        }
        AccessCommand::Webhook(WebhookCommand::Remove { member }) => {
            let removed = with_member(&member, |c| async move { c.remove_webhook().await }).await?;
            println!(
                "removed the webhook of {} ({})",
                removed.member, removed.url
            );
            Ok(())
        }
    }
}
