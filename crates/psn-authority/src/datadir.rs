//! The authority's data directory: settings, keys and (by default) the SQLite database.
//!
//! ```text
//! authority.toml          settings (network, database, validity periods)
//! ca.pem, ca-key.pem      network CA (key mode 0600)
//! signer.pem, signer-key.pem   configuration-signing key and certificate (key mode 0600)
//! operator.token          the first operator's API token (mode 0600)
//! authority.db            SQLite registry, unless database_url points elsewhere
//! authority.json          while serving: the API URL and process id, for the local CLI
//! ```

use psn_core::names::NetworkId;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings from `authority.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The network this authority runs.
    pub network: NetworkId,
    /// `postgres://...` for PostgreSQL; absent for the embedded SQLite file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Lifetime of gateway certificates; gateways renew after two thirds of it.
    #[serde(
        with = "psn_core::duration::text",
        default = "default_certificate_validity"
    )]
    pub gateway_certificate_validity: Duration,
    /// Validity window of each configuration version.
    #[serde(with = "psn_core::duration::text", default = "default_config_validity")]
    pub config_validity: Duration,
    /// Default lifetime of enrolment tokens.
    #[serde(with = "psn_core::duration::text", default = "default_token_validity")]
    pub token_validity: Duration,
}

fn default_certificate_validity() -> Duration {
    Duration::from_secs(7 * 86_400)
}
fn default_config_validity() -> Duration {
    Duration::from_secs(7 * 86_400)
}
fn default_token_validity() -> Duration {
    Duration::from_secs(86_400)
}

impl Settings {
    /// Defaults for a new network.
    pub fn new(network: NetworkId, database_url: Option<String>) -> Self {
        Self {
            network,
            database_url,
            gateway_certificate_validity: default_certificate_validity(),
            config_validity: default_config_validity(),
            token_validity: default_token_validity(),
        }
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.gateway_certificate_validity < Duration::from_secs(600) {
            return Err("gateway_certificate_validity must be at least 10m".into());
        }
        if self.config_validity < Duration::from_secs(600) {
            return Err("config_validity must be at least 10m".into());
        }
        if self.token_validity < Duration::from_secs(60) {
            return Err("token_validity must be at least 1m".into());
        }
        Ok(())
    }
}

/// Paths inside an authority data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `authority.toml`.
    pub fn settings(&self) -> PathBuf {
        self.root.join("authority.toml")
    }
    /// CA certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.root.join("ca.pem")
    }
    /// CA key.
    pub fn ca_key(&self) -> PathBuf {
        self.root.join("ca-key.pem")
    }
    /// Signer certificate.
    pub fn signer_cert(&self) -> PathBuf {
        self.root.join("signer.pem")
    }
    /// Signer key.
    pub fn signer_key(&self) -> PathBuf {
        self.root.join("signer-key.pem")
    }
    /// First operator's token.
    pub fn operator_token(&self) -> PathBuf {
        self.root.join("operator.token")
    }
    /// Embedded database file.
    pub fn database(&self) -> PathBuf {
        self.root.join("authority.db")
    }
    /// Runtime file written while serving.
    pub fn runtime(&self) -> PathBuf {
        self.root.join("authority.json")
    }
    /// The database URL: the configured one, or the embedded SQLite file.
    pub fn database_url(&self, settings: &Settings) -> String {
        settings
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.database().display()))
    }

    /// Reads and validates `authority.toml`.
    pub fn load_settings(&self) -> Result<Settings, String> {
        let path = self.settings();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!("{}: {e} (is this an authority data directory? create one with `psn authority init`)", path.display())
        })?;
        let settings: Settings =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        settings
            .validate()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(settings)
    }
}

/// What `authority serve` publishes for the local CLI.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Runtime {
    /// Base URL of the API.
    pub url: String,
    /// Serving process.
    pub pid: u32,
}

/// Writes a file readable only by its owner, atomically (temporary file then rename), so a crash
/// never leaves a half-written key.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
