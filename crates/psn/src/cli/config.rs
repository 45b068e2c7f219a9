//! `psn config ...`: inspect and verify signed global configurations.

use super::connect::Connect;
use super::output::{self, Output};
use anyhow::{bail, Context};
use clap::Subcommand;
use psn_core::config::{GlobalConfig, MemberStatus};
use psn_core::names::NetworkId;
use psn_gateway::GatewayDir;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Show the configuration a gateway holds (--gateway-dir) or the authority's current one.
    Show {
        /// Gateway data directory whose cached configuration to show.
        #[arg(long, conflicts_with_all = ["data_dir", "authority"])]
        gateway_dir: Option<PathBuf>,
        #[command(flatten)]
        connect: Connect,
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Verify a signed configuration: signature, signer certificate, network, every entry
    /// against the signed root, and expiry.
    /// Exits non-zero if anything is wrong.
    Verify {
        /// A configuration document (JSON: the signed head and the entries); default is the
        /// version the gateway holds.
        file: Option<PathBuf>,
        /// Gateway data directory (supplies the CA, network and, without FILE, the document).
        #[arg(long)]
        gateway_dir: Option<PathBuf>,
        /// Network CA certificate (without --gateway-dir).
        #[arg(long, requires = "network")]
        ca: Option<PathBuf>,
        /// Expected network (without --gateway-dir).
        #[arg(long)]
        network: Option<NetworkId>,
    },
}

/// Runs a config command.
pub async fn run(command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Show {
            gateway_dir,
            connect,
            output,
        } => {
            let (jws, ca, network) = match gateway_dir {
                Some(dir) => held_document(&GatewayDir::new(dir))?,
                None => {
                    let client = connect.client()?;
                    let network: NetworkId = client.health().await?.network.parse()?;
                    let jws = match client.config(None, None).await? {
                        psn_api::ConfigFetch::Document { document, .. } => document,
                        psn_api::ConfigFetch::NotModified => {
                            bail!("the authority answered 304 to an unconditional request")
                        }
                    };
                    let ca_pem = match (&connect.data_dir, &connect.ca_file) {
                        (Some(d), _) => read(&psn_authority::datadir::DataDir::new(d).ca_cert())?,
                        (None, Some(f)) => read(f)?,
                        (None, None) => bail!("no CA to verify with"),
                    };
                    (
                        jws,
                        psn_pki::parse_pem_certificates(&ca_pem)?.remove(0).to_vec(),
                        network,
                    )
                }
            };
            let verified =
                psn_pki::verify_config(&jws, &ca, &network, psn_gateway::MAX_CONFIG_BYTES)
                    .context("the configuration does not verify")?;
            match output {
                Output::Json => output::json(verified.config()),
                Output::Table => {
                    summary(verified.config(), &verified.signer_serial);
                    Ok(())
                }
            }
        }
        ConfigCommand::Verify {
            file,
            gateway_dir,
            ca,
            network,
        } => {
            let (jws, ca, network) = match (gateway_dir, ca, network) {
                (Some(dir), _, _) => {
                    let dir = GatewayDir::new(dir);
                    match file {
                        Some(path) => {
                            let settings = dir.load_settings()?;
                            (read(&path)?, dir.load_ca()?, settings.network)
                        }
                        None => held_document(&dir)?,
                    }
                }
                (None, Some(ca), Some(network)) => {
                    let path = file.context("name the configuration file to verify")?;
                    (
                        read(&path)?,
                        psn_pki::parse_pem_certificates(&read(&ca)?)?
                            .remove(0)
                            .to_vec(),
                        network,
                    )
                }
                _ => bail!(
                    "say what to verify against: --gateway-dir DIR, or --ca FILE --network ID"
                ),
            };
            let verified =
                psn_pki::verify_config(&jws, &ca, &network, psn_gateway::MAX_CONFIG_BYTES)
                    .context("INVALID configuration")?;
            let config = verified.config();
            let now = time::OffsetDateTime::now_utc();
            if !config.is_valid_at(now) {
                bail!(
                    "configuration version {} has a valid signature but expired at {}",
                    config.version,
                    config.expires_at
                );
            }
            println!(
                "valid: network {} version {}, issued {}, expires {}, signed by certificate {}",
                config.network,
                config.version,
                config.issued_at,
                config.expires_at,
                verified.signer_serial
            );
            Ok(())
        }
    }
}

/// The whole document of the version a gateway holds, with the CA and network it is checked
/// against. The gateway stores a version as a document or as the delta that produced it; the
/// store rebuilds the document either way.
fn held_document(dir: &GatewayDir) -> anyhow::Result<(String, Vec<u8>, NetworkId)> {
    let settings = dir.load_settings()?;
    let ca = dir.load_ca()?;
    let store = psn_gateway::ConfigStore::open(dir, settings.network.clone(), ca.clone())
        .context("INVALID configuration held")?;
    let document = store
        .document()
        .context("the gateway holds no configuration yet")?
        .context("the held configuration cannot be written out")?;
    Ok((document, ca, settings.network))
}

fn read(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn summary(config: &GlobalConfig, signer: &str) {
    let active = config
        .members
        .iter()
        .filter(|m| m.status == MemberStatus::Active)
        .count();
    println!("network:     {}", config.network);
    println!("version:     {}", config.version);
    println!("issued:      {}", config.issued_at);
    println!("expires:     {}", config.expires_at);
    println!("signed by:   certificate {signer}");
    println!("authority:   {}", config.authority.endpoints.join(", "));
    println!(
        "classes:     {}",
        config
            .classes
            .iter()
            .map(|c| c.code().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("members:     {} ({} active)", config.members.len(), active);
    println!("subsystems:  {}", config.subsystems.len());
    println!("gateways:    {}", config.gateways.len());
    for g in &config.gateways {
        println!(
            "  {} {}",
            g.id,
            g.address.as_deref().unwrap_or("(no address yet)")
        );
    }
    println!("services:    {}", config.services.len());
    println!(
        "revoked:     {} certificate(s)",
        config.revoked_serials.len()
    );
}
