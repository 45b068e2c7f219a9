//! How operator commands find and authenticate to an authority: either its local data directory
//! (URL from the running server's `authority.json`, the first operator's token, the CA) or an
//! explicit URL, token and CA file for remote administration.

use anyhow::{bail, Context};
use clap::Args;
use psn_api::AuthorityClient;
use psn_authority::datadir::{DataDir, Runtime};
use std::path::PathBuf;

/// Connection options for operator commands.
#[derive(Debug, Args, Clone)]
pub struct Connect {
    /// Authority data directory on this machine (finds URL, token and CA there).
    #[arg(long, env = "PSN_DATA_DIR", conflicts_with = "authority")]
    pub data_dir: Option<PathBuf>,
    /// Authority API base URL, for remote administration.
    #[arg(long, env = "PSN_AUTHORITY", requires_all = ["token", "ca_file"])]
    pub authority: Option<String>,
    /// Operator token (with --authority).
    #[arg(long, env = "PSN_OPERATOR_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Network CA certificate file (with --authority).
    #[arg(long, env = "PSN_CA_FILE")]
    pub ca_file: Option<PathBuf>,
}

fn read(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

impl Connect {
    /// An authenticated operator client.
    pub fn client(&self) -> anyhow::Result<AuthorityClient> {
        let (url, token, ca_pem) = match (&self.data_dir, &self.authority) {
            (Some(dir), _) => {
                let dir = DataDir::new(dir);
                let runtime: Runtime = serde_json::from_str(&read(&dir.runtime()).with_context(|| {
                    format!("the authority in {} does not seem to be running (start it with `psn authority serve --data-dir {}`)", dir.root().display(), dir.root().display())
                })?)
                .context("authority.json is damaged")?;
                (runtime.url, read(&dir.operator_token())?, read(&dir.ca_cert())?)
            }
            (None, Some(url)) => {
                let token = self.token.clone().context("--token is required with --authority")?;
                let ca = self.ca_file.as_ref().context("--ca-file is required with --authority")?;
                (url.clone(), token, read(ca)?)
            }
            (None, None) => bail!("say which authority: --data-dir DIR (local) or --authority URL --token T --ca-file F"),
        };
        let ca = psn_pki::parse_pem_certificates(&ca_pem)?.remove(0);
        // A command changes nothing by reading, so it reads again through a brief outage.
        Ok(AuthorityClient::operator(&url, &ca, token.trim())?
            .with_retries(psn_api::Retries::COMMAND_LINE))
    }
}
