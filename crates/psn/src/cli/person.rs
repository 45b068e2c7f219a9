//! `psn authority person ...`: people who sign in to the authority's web UI (docs/ui.md).

use super::connect::Connect;
use super::output::{self, Output};
use clap::Subcommand;
use psn_api::{NewPerson, PersonPassword, PersonRole, PersonView, RoleChange};
use psn_core::names::MemberId;

#[derive(Debug, Subcommand)]
pub enum PersonCommand {
    /// Add a person; prints their one-time password (shown once, stored only as a hash).
    Add {
        #[command(flatten)]
        connect: Connect,
        /// Username: lower-case letters, digits and . @ _ + - (an e-mail address works).
        username: String,
        /// operator, member-admin, member-viewer or assessor.
        #[arg(long)]
        role: PersonRole,
        /// The member they act for (member-admin and member-viewer must have one; an assessor may,
        /// and then never reviews that member; an operator has none).
        #[arg(long)]
        member: Option<MemberId>,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// List people.
    List {
        #[command(flatten)]
        connect: Connect,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Disable a person: they cannot sign in and their sessions end at once.
    Disable {
        #[command(flatten)]
        connect: Connect,
        /// Username.
        username: String,
    },
    /// Enable a disabled person again (password reset does this too, for people with a password).
    Enable {
        #[command(flatten)]
        connect: Connect,
        /// Username.
        username: String,
    },
    /// Change a person's role (and member); their sessions end so the new role applies at once.
    SetRole {
        #[command(flatten)]
        connect: Connect,
        /// Username.
        username: String,
        /// The new role.
        #[arg(long)]
        role: PersonRole,
        /// The member, for member-admin and member-viewer.
        #[arg(long)]
        member: Option<MemberId>,
    },
    /// Give a person a new one-time password; also unlocks and re-enables them.
    ResetPassword {
        #[command(flatten)]
        connect: Connect,
        /// Username.
        username: String,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}

fn describe(p: &PersonView) -> String {
    match &p.member {
        Some(m) => format!("{} ({} for {m})", p.username, p.role),
        None => format!("{} ({})", p.username, p.role),
    }
}

/// How a person signs in: `password`, or `oidc:` and their provider's name.
fn sign_in_with(p: &PersonView) -> String {
    p.oidc_provider
        .as_ref()
        .map_or_else(|| "password".to_owned(), |name| format!("oidc:{name}"))
}

fn print_password(issued: &PersonPassword, output: Output, what: &str) -> anyhow::Result<()> {
    match output {
        Output::Json => output::json(issued),
        Output::Table => {
            println!("{what} {}", describe(&issued.person));
            println!("one-time password (shown once; hand it over safely):");
            println!("{}", issued.password);
            Ok(())
        }
    }
}

/// Runs a person command.
pub async fn run(command: PersonCommand) -> anyhow::Result<()> {
    match command {
        PersonCommand::Add {
            connect,
            username,
            role,
            member,
            output,
        } => {
            let new = NewPerson {
                username,
                member,
                role,
            };
            let issued = connect.client()?.add_person(&new).await?;
            print_password(&issued, output, "added")
        }
        PersonCommand::List { connect, output } => {
            let people = connect.client()?.people().await?;
            match output {
                Output::Json => output::json(&people),
                Output::Table => {
                    let rows: Vec<Vec<String>> = people
                        .items
                        .iter()
                        .map(|p| {
                            vec![
                                p.username.clone(),
                                p.role.to_string(),
                                p.member
                                    .as_ref()
                                    .map(ToString::to_string)
                                    .unwrap_or_default(),
                                if p.disabled { "disabled" } else { "enabled" }.to_owned(),
                                sign_in_with(p),
                            ]
                        })
                        .collect();
                    output::table(&["USERNAME", "ROLE", "MEMBER", "STATE", "SIGN-IN"], &rows);
                    Ok(())
                }
            }
        }
        PersonCommand::Disable { connect, username } => {
            let person = connect.client()?.disable_person(&username).await?;
            println!("disabled {}; their sessions have ended", describe(&person));
            Ok(())
        }
        PersonCommand::Enable { connect, username } => {
            let person = connect.client()?.enable_person(&username).await?;
            println!("enabled {}", describe(&person));
            Ok(())
        }
        PersonCommand::SetRole {
            connect,
            username,
            role,
            member,
        } => {
            let change = RoleChange { role, member };
            let person = connect
                .client()?
                .set_person_role(&username, &change)
                .await?;
            println!("{} now; their sessions have ended", describe(&person));
            Ok(())
        }
        PersonCommand::ResetPassword {
            connect,
            username,
            output,
        } => {
            let issued = connect.client()?.reset_person_password(&username).await?;
            print_password(&issued, output, "reset the password of")
        }
    }
}
