//! `psn gateway ...`: enrol and operate a member's gateway.

use anyhow::Context;
use clap::Subcommand;
use psn_gateway::{Accepted, EnrolOptions, GatewayDir};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Enrol a new gateway with a one-time token from the authority's operator. Generates the
    /// gateway's key (it never leaves this machine), obtains its certificate and the signed
    /// configuration, and stores them in the data directory.
    Enrol {
        /// Directory for the new gateway (must not hold one).
        #[arg(long)]
        data_dir: PathBuf,
        /// The enrolment token (or set PSN_ENROL_TOKEN).
        #[arg(long, env = "PSN_ENROL_TOKEN", hide_env_values = true)]
        token: String,
        /// host:port where peer gateways will reach this gateway.
        #[arg(long)]
        address: Option<String>,
    },
    /// Renew this gateway's certificate now, with a fresh key.
    Renew {
        /// Gateway data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Fetch, verify and store the latest signed configuration.
    Sync {
        /// Gateway data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Wait up to this long for a version newer than the one held (e.g. 30s).
        #[arg(long, value_parser = psn_core::duration::parse_duration)]
        wait: Option<std::time::Duration>,
    },
}

/// Runs a gateway command.
pub async fn run(command: GatewayCommand) -> anyhow::Result<()> {
    match command {
        GatewayCommand::Enrol {
            data_dir,
            token,
            address,
        } => {
            let enrolled =
                psn_gateway::enrol(&GatewayDir::new(&data_dir), EnrolOptions { token, address })
                    .await
                    .context("enrolment failed")?;
            println!("enrolled {} in {}", enrolled.gateway, data_dir.display());
            println!(
                "certificate {} valid until {}",
                enrolled.serial, enrolled.not_after
            );
            println!(
                "configuration version {} verified and stored",
                enrolled.config_version
            );
            Ok(())
        }
        GatewayCommand::Renew { data_dir } => {
            let info = psn_gateway::renew(&GatewayDir::new(&data_dir))
                .await
                .context("renewal failed")?;
            println!(
                "renewed: certificate {} valid until {}",
                info.serial, info.not_after
            );
            Ok(())
        }
        GatewayCommand::Sync { data_dir, wait } => {
            match psn_gateway::sync_config(&GatewayDir::new(&data_dir), wait).await? {
                Accepted::New(v) => println!("configuration version {v} verified and stored"),
                Accepted::Unchanged(v) => println!("configuration version {v} is current"),
            }
            Ok(())
        }
    }
}
