//! The gateway's data directory. Everything a gateway needs to restart without the authority is
//! here, so several gateways of one member can share nothing but the network.
//!
//! ```text
//! gateway.toml        identity, network and authority endpoints
//! ca.pem              network CA (checked against the enrolment token's pin)
//! identity.pem        private key followed by the certificate chain (mode 0600; replaced atomically)
//! config/current.jws  last accepted signed configuration
//! config/v{N}.jws     every accepted version, for audit verification
//! ```

use crate::{io_error, GatewayError};
use psn_core::names::{GatewayId, NetworkId};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Settings from `gateway.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// The network.
    pub network: NetworkId,
    /// This gateway's identity.
    pub gateway: GatewayId,
    /// Authority base URLs, in order of preference.
    pub authority: Vec<String>,
    /// Peer-facing `host:port` announced to the authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// Paths in a gateway data directory.
#[derive(Debug, Clone)]
pub struct GatewayDir {
    root: PathBuf,
}

impl GatewayDir {
    /// The directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `gateway.toml`.
    pub fn settings(&self) -> PathBuf {
        self.root.join("gateway.toml")
    }
    /// Network CA.
    pub fn ca(&self) -> PathBuf {
        self.root.join("ca.pem")
    }
    /// Key and chain.
    pub fn identity(&self) -> PathBuf {
        self.root.join("identity.pem")
    }
    /// Configuration cache directory.
    pub fn config_dir(&self) -> PathBuf {
        self.root.join("config")
    }

    /// Reads `gateway.toml`.
    pub fn load_settings(&self) -> Result<GatewaySettings, GatewayError> {
        let path = self.settings();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            GatewayError::Setup(format!(
                "{}: {e} (is this a gateway data directory? create one with `psn gateway enrol`)",
                path.display()
            ))
        })?;
        toml::from_str(&text).map_err(|e| GatewayError::Setup(format!("{}: {e}", path.display())))
    }

    /// Reads the network CA (DER).
    pub fn load_ca(&self) -> Result<Vec<u8>, GatewayError> {
        let path = self.ca();
        let pem = std::fs::read_to_string(&path).map_err(io_error(&path))?;
        Ok(psn_pki::parse_pem_certificates(&pem)?.remove(0).to_vec())
    }

    /// Reads the key and chain.
    pub fn load_identity(&self) -> Result<(psn_pki::TlsIdentity, String), GatewayError> {
        let path = self.identity();
        let pem = std::fs::read_to_string(&path).map_err(io_error(&path))?;
        Ok((psn_pki::TlsIdentity::from_pem(&pem, &pem)?, pem))
    }
}

/// Writes a file readable only by its owner, atomically and durably.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> Result<(), GatewayError> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(io_error(&tmp))?;
    file.write_all(contents).map_err(io_error(&tmp))?;
    file.sync_all().map_err(io_error(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_error(path))?;
    if let Some(parent) = path.parent() {
        if let Ok(dir) = std::fs::File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}
