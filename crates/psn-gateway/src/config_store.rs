//! The gateway's verified cache of the global configuration. A version is accepted only if its
//! signed head chains to the network CA and is for this network, its entries produce the head's
//! root, it has not expired and its version is not lower than the one held; it is then written to
//! disk before it is used, so a restart resumes on the last valid configuration even with the
//! authority down.
//!
//! A new version arrives whole or as a delta against the held one (DESIGN.md "Delta at scale",
//! "Configuration tree"). On disk, `config/v{N}.json` is a whole document and
//! `config/v{N}.delta.json` the delta that produced version N: a change costs a write of its own
//! size, and a whole document is written every [`DELTAS_PER_DOCUMENT`] deltas so that a restart
//! replays few. The files are also the history `psn audit verify` reads.

use crate::datadir::{write_private, GatewayDir};
use psn_core::clock::NotInForce;
use psn_core::config::{GlobalConfig, StoredForm};
use psn_core::config_delta::{ConfigDelta, ContentError, HeldConfig};
use psn_core::names::NetworkId;
use psn_pki::ConfigVerifyError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::OffsetDateTime;

/// Largest configuration accepted: national scale is tens of megabytes.
pub const MAX_CONFIG_BYTES: usize = 256 * 1024 * 1024;

/// A whole document is written after this many deltas, bounding what a restart replays.
pub const DELTAS_PER_DOCUMENT: usize = 256;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigStoreError {
    /// Signature, signer or entries failed verification.
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
    Delta(#[from] ContentError),
    /// A delta arrived, or is stored, with no version held for it to change.
    #[error("configuration delta refused: no configuration is held for it to change")]
    NothingHeld,
    /// Past its validity window.
    #[error("configuration version {version} expired at {expires_at}")]
    Expired {
        version: u64,
        expires_at: OffsetDateTime,
    },
    /// Issued further ahead of this gateway's clock than the network tolerates
    /// (`psn_core::clock`): this clock is behind the authority's.
    #[error(
        "configuration version {version} was issued at {issued_at}: this gateway's clock is {} \
         the authority's, more than the network tolerates; correct it (NTP)",
        psn_core::clock::describe(*issued_at - *now)
    )]
    IssuedAhead {
        version: u64,
        issued_at: OffsetDateTime,
        now: OffsetDateTime,
    },
    /// The cache could not be read or written, or holds what cannot be read.
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

/// The versions in a configuration directory; a version stored both ways counts as a document.
fn stored_versions(dir: &Path) -> Result<BTreeMap<u64, StoredForm>, ConfigStoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => return Err(io_failure(dir, source)),
    };
    let mut versions = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_failure(dir, e))?;
        let name = entry.file_name();
        if let Some((version, form)) = name.to_str().and_then(StoredForm::of_file_name) {
            let held = versions.entry(version).or_insert(form);
            *held = form.max(*held);
        }
    }
    Ok(versions)
}

/// The path of a version's whole document in `dir`.
pub fn document_path(dir: &Path, version: u64) -> PathBuf {
    dir.join(StoredForm::Document.file_name(version))
}

/// The path of the delta that produced a version in `dir`.
pub fn delta_path(dir: &Path, version: u64) -> PathBuf {
    dir.join(StoredForm::Delta.file_name(version))
}

fn io_failure(path: &Path, source: std::io::Error) -> ConfigStoreError {
    ConfigStoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn read(path: &Path) -> Result<String, ConfigStoreError> {
    std::fs::read_to_string(path).map_err(|e| io_failure(path, e))
}

/// The cache.
pub struct ConfigStore {
    dir: PathBuf,
    ca_der: Vec<u8>,
    network: NetworkId,
    current: Option<HeldConfig>,
    /// Deltas stored since the newest whole document.
    deltas_since_document: usize,
}

impl ConfigStore {
    /// Opens the cache: the newest whole document, verified (its signature, network and entries,
    /// not its expiry: an expired cache is reported by [`Self::is_expired`], not hidden), then
    /// each later delta in version order, each checked against its own signed head.
    pub fn open(
        dir: &GatewayDir,
        network: NetworkId,
        ca_der: Vec<u8>,
    ) -> Result<Self, ConfigStoreError> {
        let mut store = Self {
            dir: dir.config_dir(),
            ca_der,
            network,
            current: None,
            deltas_since_document: 0,
        };
        let versions = stored_versions(&store.dir)?;
        let Some((&base, _)) = versions
            .iter()
            .rev()
            .find(|(_, form)| **form == StoredForm::Document)
        else {
            return Ok(store);
        };
        let document = read(&document_path(&store.dir, base))?;
        let verified =
            psn_pki::verify_config(&document, &store.ca_der, &store.network, MAX_CONFIG_BYTES)?;
        store.current = Some(verified.held);
        for (&version, _) in versions.range(base + 1..) {
            let path = delta_path(&store.dir, version);
            let delta: ConfigDelta = serde_json::from_str(&read(&path)?)
                .map_err(|e| io_failure(&path, std::io::Error::other(e)))?;
            let (head, _) =
                psn_pki::verify_config_head(&delta.head, &store.ca_der, &store.network)?;
            store.held_mut()?.apply(&delta, &head)?;
            store.deltas_since_document += 1;
        }
        Ok(store)
    }

    fn held_mut(&mut self) -> Result<&mut HeldConfig, ConfigStoreError> {
        self.current.as_mut().ok_or(ConfigStoreError::NothingHeld)
    }

    /// The configuration in force.
    pub fn current(&self) -> Option<&GlobalConfig> {
        self.current.as_ref().map(HeldConfig::config)
    }

    /// The configuration in force, shared rather than copied (it is tens of megabytes at
    /// national scale).
    pub fn shared(&self) -> Option<Arc<GlobalConfig>> {
        self.current.as_ref().map(HeldConfig::shared)
    }

    /// The configuration in force as a whole document, byte for byte what the authority serves
    /// for its version.
    pub fn document(&self) -> Option<Result<String, serde_json::Error>> {
        self.current.as_ref().map(HeldConfig::document)
    }

    /// The entity tag of the held version, for conditional fetches.
    pub fn etag(&self) -> Option<String> {
        self.current().map(|c| format!("\"v{}\"", c.version))
    }

    /// Whether the held configuration has passed its validity window at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.current().is_none_or(|c| !c.is_valid_at(now))
    }

    /// Verifies and, if newer, stores a whole document.
    pub fn accept(
        &mut self,
        document: &str,
        now: OffsetDateTime,
    ) -> Result<Accepted, ConfigStoreError> {
        let verified =
            psn_pki::verify_config(document, &self.ca_der, &self.network, MAX_CONFIG_BYTES)?;
        let held = verified.held;
        let config = held.config();
        if let Some(settled) = self.settled(config.version, held.head())? {
            return Ok(settled);
        }
        in_force(config.version, config.issued_at, config.expires_at, now)?;
        let version = config.version;
        self.write(&document_path(&self.dir, version), document.as_bytes())?;
        self.current = Some(held);
        self.deltas_since_document = 0;
        Ok(Accepted::New(version))
    }

    /// Checks a delta against the held version's tree and the delta's signed head and, if it
    /// produces that head's root, stores the delta and takes the version, as [`Self::accept`]
    /// would the whole document. Nothing changes when the delta is refused.
    pub fn accept_delta(
        &mut self,
        delta: &ConfigDelta,
        now: OffsetDateTime,
    ) -> Result<Accepted, ConfigStoreError> {
        let (head, _) = psn_pki::verify_config_head(&delta.head, &self.ca_der, &self.network)?;
        if head.version != delta.version {
            return Err(ContentError::Head(format!(
                "the delta produces version {}, its head signs version {}",
                delta.version, head.version
            ))
            .into());
        }
        if self.current.is_none() {
            return Err(ConfigStoreError::NothingHeld);
        }
        if let Some(settled) = self.settled(head.version, &delta.head)? {
            return Ok(settled);
        }
        in_force(head.version, head.issued_at, head.expires_at, now)?;
        let text = serde_json::to_vec(delta)
            .map_err(|e| ConfigStoreError::Delta(ContentError::from(e)))?;
        let held = self.held_mut()?;
        let staged = held.stage(delta, &head)?;
        let path = delta_path(&self.dir, head.version);
        self.write(&path, &text)?;
        self.held_mut()?.commit(staged)?;
        self.deltas_since_document += 1;
        Ok(Accepted::New(head.version))
    }

    /// Writes the held version as a whole document if [`DELTAS_PER_DOCUMENT`] deltas have been
    /// stored since the last one. Called after a version is in use: the deltas already make it
    /// durable, so this only shortens the next restart's replay.
    pub fn write_document_if_due(&mut self) -> Result<(), ConfigStoreError> {
        if self.deltas_since_document < DELTAS_PER_DOCUMENT {
            return Ok(());
        }
        let Some(held) = &self.current else {
            return Ok(());
        };
        let document = held
            .document()
            .map_err(|e| ConfigStoreError::Delta(ContentError::from(e)))?;
        let path = document_path(&self.dir, held.config().version);
        self.write(&path, document.as_bytes())?;
        self.deltas_since_document = 0;
        Ok(())
    }

    /// What an offer of `version`, signed as `head`, comes to when it is not newer than the held
    /// version: the same version again, or a refusal.
    fn settled(&self, version: u64, head: &str) -> Result<Option<Accepted>, ConfigStoreError> {
        let Some(held) = &self.current else {
            return Ok(None);
        };
        let held_version = held.config().version;
        if version < held_version {
            return Err(ConfigStoreError::Rollback {
                offered: version,
                held: held_version,
            });
        }
        if version > held_version {
            return Ok(None);
        }
        if held.head() == head {
            Ok(Some(Accepted::Unchanged(held_version)))
        } else {
            Err(ConfigStoreError::Equivocation(held_version))
        }
    }

    fn write(&self, path: &Path, contents: &[u8]) -> Result<(), ConfigStoreError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| io_failure(&self.dir, e))?;
        write_private(path, contents).map_err(io_error(path))
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

/// Whether a version issued at `issued_at` and expiring at `expires_at` may be taken at `now`
/// (`psn_core::clock::in_force`), and why not, in the store's terms.
fn in_force(
    version: u64,
    issued_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), ConfigStoreError> {
    psn_core::clock::in_force(issued_at, expires_at, now).map_err(|why| match why {
        NotInForce::Expired => ConfigStoreError::Expired {
            version,
            expires_at,
        },
        NotInForce::IssuedAhead => ConfigStoreError::IssuedAhead {
            version,
            issued_at,
            now,
        },
    })
}
