//! The gateway's verified cache of the global configuration. A document is accepted only if its
//! signature chains to the network CA, it is for this network, it has not expired and its version
//! is not lower than the one held; it is then written to disk before it is used, so a restart
//! resumes on the last valid configuration even with the authority down.
//!
//! A new version arrives whole or as a delta against the held one; a delta is applied and the
//! result checked against the version's own signature, so both ways end with the same signed
//! document held (DESIGN.md "delta at scale").

use crate::datadir::{link_private, write_private, GatewayDir};
use psn_core::config::GlobalConfig;
use psn_core::config_delta::{ConfigDelta, DeltaError};
use psn_core::names::NetworkId;
use psn_pki::ConfigVerifyError;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::OffsetDateTime;

/// Largest configuration accepted: national scale is tens of megabytes.
pub const MAX_CONFIG_BYTES: usize = 256 * 1024 * 1024;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigStoreError {
    /// Signature, signer or payload failed verification.
    #[error("configuration refused: {0}")]
    Verify(#[from] ConfigVerifyError),
    /// Older than the version already held: a replay or a rolled-back authority.
    #[error("configuration version {offered} refused: version {held} is already held (versions never go back)")]
    Rollback { offered: u64, held: u64 },
    /// Same version number, different content: the authority's signing key may be misused.
    #[error("configuration version {0} refused: it differs from the version {0} already held")]
    Equivocation(u64),
    /// A delta that does not fit the held version (the whole document is then fetched).
    #[error("configuration delta refused: {0}")]
    Delta(#[from] DeltaError),
    /// Past its validity window.
    #[error("configuration version {version} expired at {expires_at}")]
    Expired {
        version: u64,
        expires_at: OffsetDateTime,
    },
    /// The cache could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// What accepting a document did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// A newer version was stored.
    New(u64),
    /// The same version was offered again.
    Unchanged(u64),
}

/// How a new version arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// As changes to the held version, checked against the new version's signature.
    Delta,
    /// As the whole signed document.
    Document,
}

impl Arrival {
    /// The word used in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delta => "delta",
            Self::Document => "document",
        }
    }
}

/// The cache.
pub struct ConfigStore {
    dir: PathBuf,
    ca_der: Vec<u8>,
    network: NetworkId,
    current: Option<(Arc<GlobalConfig>, String)>,
}

impl ConfigStore {
    /// Opens the cache, verifying the stored current document (its signature and network, not its
    /// expiry: an expired cache is reported by [`Self::is_expired`], not hidden).
    pub fn open(
        dir: &GatewayDir,
        network: NetworkId,
        ca_der: Vec<u8>,
    ) -> Result<Self, ConfigStoreError> {
        let config_dir = dir.config_dir();
        let mut store = Self {
            dir: config_dir,
            ca_der,
            network,
            current: None,
        };
        let path = store.current_path();
        match std::fs::read_to_string(&path) {
            Ok(jws) => {
                let verified =
                    psn_pki::verify_config(&jws, &store.ca_der, &store.network, MAX_CONFIG_BYTES)?;
                store.current = Some((Arc::new(verified.config), jws));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ConfigStoreError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        }
        Ok(store)
    }

    fn current_path(&self) -> PathBuf {
        self.dir.join("current.jws")
    }

    /// The configuration in force.
    pub fn current(&self) -> Option<&GlobalConfig> {
        self.current.as_ref().map(|(c, _)| c.as_ref())
    }

    /// The configuration in force, shared rather than copied (it is tens of megabytes at
    /// national scale).
    pub fn shared(&self) -> Option<Arc<GlobalConfig>> {
        self.current.as_ref().map(|(c, _)| c.clone())
    }

    /// The signed text of the configuration in force.
    pub fn current_jws(&self) -> Option<&str> {
        self.current.as_ref().map(|(_, j)| j.as_str())
    }

    /// The entity tag of the held version, for conditional fetches.
    pub fn etag(&self) -> Option<String> {
        self.current().map(|c| format!("\"v{}\"", c.version))
    }

    /// Whether the held configuration has passed its validity window at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.current().is_none_or(|c| !c.is_valid_at(now))
    }

    /// Verifies and, if newer, stores a signed configuration.
    pub fn accept(&mut self, jws: &str, now: OffsetDateTime) -> Result<Accepted, ConfigStoreError> {
        let verified = psn_pki::verify_config(jws, &self.ca_der, &self.network, MAX_CONFIG_BYTES)?;
        self.hold(verified.config, jws.to_owned(), now)
    }

    /// Applies a delta to the held version and, if the result is exactly what the authority
    /// signed for the delta's version, stores it as [`Self::accept`] would the whole document.
    /// Nothing changes when the delta is refused.
    pub fn accept_delta(
        &mut self,
        delta: &ConfigDelta,
        now: OffsetDateTime,
    ) -> Result<Accepted, ConfigStoreError> {
        let Some((held, _)) = &self.current else {
            return Err(DeltaError::WrongBase {
                from: delta.from_version,
                held: 0,
            }
            .into());
        };
        if delta.version < held.version {
            return Err(ConfigStoreError::Rollback {
                offered: delta.version,
                held: held.version,
            });
        }
        let config = delta.apply(held)?;
        let jws = delta
            .signed_form(&config)
            .map_err(|e| ConfigVerifyError::Payload(e.to_string()))?;
        let verified = psn_pki::verify_rebuilt_config(
            &jws,
            config,
            &self.ca_der,
            &self.network,
            MAX_CONFIG_BYTES,
        )?;
        self.hold(verified.config, jws, now)
    }

    /// Stores a verified document if it is newer than the held one: history first, then the
    /// current copy (a link to the history file where the filesystem allows, so a version is
    /// written once).
    fn hold(
        &mut self,
        config: GlobalConfig,
        jws: String,
        now: OffsetDateTime,
    ) -> Result<Accepted, ConfigStoreError> {
        if let Some((held, held_jws)) = &self.current {
            if config.version < held.version {
                return Err(ConfigStoreError::Rollback {
                    offered: config.version,
                    held: held.version,
                });
            }
            if config.version == held.version {
                return if *held_jws == jws {
                    Ok(Accepted::Unchanged(held.version))
                } else {
                    Err(ConfigStoreError::Equivocation(held.version))
                };
            }
        }
        if !config.is_valid_at(now) {
            return Err(ConfigStoreError::Expired {
                version: config.version,
                expires_at: config.expires_at,
            });
        }
        std::fs::create_dir_all(&self.dir).map_err(|source| ConfigStoreError::Io {
            path: self.dir.display().to_string(),
            source,
        })?;
        let history = self.dir.join(format!("v{}.jws", config.version));
        write_private(&history, jws.as_bytes()).map_err(io_error(&history))?;
        let current = self.current_path();
        link_private(&history, &current, jws.as_bytes()).map_err(io_error(&current))?;
        let version = config.version;
        self.current = Some((Arc::new(config), jws));
        Ok(Accepted::New(version))
    }
}

/// Names the file a storage failure concerns.
fn io_error(path: &Path) -> impl FnOnce(crate::GatewayError) -> ConfigStoreError {
    let path = path.display().to_string();
    move |e| match e {
        crate::GatewayError::Io { source, .. } => ConfigStoreError::Io { path, source },
        other => ConfigStoreError::Io {
            path,
            source: std::io::Error::other(other.to_string()),
        },
    }
}
