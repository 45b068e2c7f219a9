//! What a verifier trusts: the network CA and the history of signed configurations, which say
//! who was a member gateway and which certificates were revoked at any moment (DESIGN.md "Trust":
//! revocation is by the signed configuration). A gateway keeps every version it accepted, as a
//! whole document `config/v{N}.json` or as the delta `config/v{N}.delta.json` that produced it
//! from an earlier one; a bundle carries the whole documents of the versions its records need.

use crate::error::io_error;
use crate::AuditError;
use psn_core::config::{MemberStatus, StoredForm};
use psn_core::config_delta::{ConfigDelta, HeldConfig};
use psn_core::names::{GatewayId, NetworkId};
use psn_pki::{verify_gateway_chain, GatewayCertificate, StatementVerifier};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::OffsetDateTime;

/// Largest configuration read (the gateway's own limit).
const MAX_CONFIG_BYTES: usize = 256 * 1024 * 1024;

/// Where one configuration version is.
#[derive(Debug, Clone)]
enum ConfigSource {
    /// A whole document on disk.
    File(PathBuf),
    /// The delta that produced the version, on disk.
    Delta(PathBuf),
    /// A whole document in memory.
    Text(Arc<str>),
}

/// The most deltas followed back to a whole document, so a corrupt history cannot loop.
const MAX_DELTA_CHAIN: usize = 1 << 16;

/// The network CA and the configuration history.
#[derive(Debug, Clone)]
pub struct Trust {
    ca_der: Vec<u8>,
    ca_pem: String,
    configs: BTreeMap<u64, ConfigSource>,
}

/// What a verifier needs from one configuration version.
#[derive(Debug)]
pub(crate) struct ConfigFacts {
    pub(crate) version: u64,
    pub(crate) issued_at: OffsetDateTime,
    /// Gateways listed whose member is active.
    trusted: HashSet<String>,
    revoked: HashSet<String>,
    /// Federated networks' CAs (DER) with the serials each revoked: a partner's gateway is
    /// checked against its own network's CA, never this network's.
    partners: HashMap<NetworkId, (Arc<Vec<u8>>, HashSet<String>)>,
}

impl ConfigFacts {
    /// Why this configuration does not trust `gateway` with certificate `serial`, if it does not.
    pub(crate) fn distrust(&self, gateway: &str, serial: &str) -> Option<String> {
        let partner_revoked = network_of(gateway)
            .and_then(|network| self.partners.get(&network))
            .is_some_and(|(_, revoked)| revoked.contains(serial));
        if !self.trusted.contains(gateway) {
            Some(format!(
                "configuration version {} (issued {}) does not list {gateway} as a gateway of an active member",
                self.version, self.issued_at
            ))
        } else if self.revoked.contains(serial) || partner_revoked {
            Some(format!(
                "configuration version {} (issued {}) revokes certificate {serial}",
                self.version, self.issued_at
            ))
        } else {
            None
        }
    }
}

impl Trust {
    /// The CA (`ca.pem`) and every configuration version (`config/v{N}.json` or
    /// `config/v{N}.delta.json`) of a gateway data directory. Versions are read only when a
    /// check needs them.
    pub fn from_data_dir(data_dir: &Path) -> Result<Self, AuditError> {
        let ca_path = data_dir.join("ca.pem");
        let ca_pem = std::fs::read_to_string(&ca_path).map_err(io_error(&ca_path))?;
        let mut trust = Self::with_ca(&ca_pem)?;
        let config_dir = data_dir.join("config");
        let entries = match std::fs::read_dir(&config_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(trust),
            Err(e) => return Err(io_error(&config_dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_error(&config_dir))?;
            let name = entry.file_name();
            match name.to_str().and_then(StoredForm::of_file_name) {
                Some((version, StoredForm::Delta)) => {
                    trust
                        .configs
                        .entry(version)
                        .or_insert(ConfigSource::Delta(entry.path()));
                }
                Some((version, StoredForm::Document)) => {
                    trust
                        .configs
                        .insert(version, ConfigSource::File(entry.path()));
                }
                None => {}
            }
        }
        Ok(trust)
    }

    /// A CA (PEM) with configuration versions given as text, e.g. from a bundle.
    pub fn new(
        ca_pem: &str,
        configs: impl IntoIterator<Item = (u64, String)>,
    ) -> Result<Self, AuditError> {
        let mut trust = Self::with_ca(ca_pem)?;
        for (version, jws) in configs {
            trust
                .configs
                .insert(version, ConfigSource::Text(Arc::from(jws)));
        }
        Ok(trust)
    }

    fn with_ca(ca_pem: &str) -> Result<Self, AuditError> {
        let ca_der = psn_pki::parse_pem_certificates(ca_pem)
            .map_err(|e| AuditError::Input(format!("network CA: {e}")))?
            .into_iter()
            .next()
            .map(|c| c.to_vec())
            .unwrap_or_default();
        Ok(Self {
            ca_der,
            ca_pem: ca_pem.to_owned(),
            configs: BTreeMap::new(),
        })
    }

    /// The CA's pin (base64url SHA-256 of its public key), the value enrolment tokens carry: a
    /// third party compares it with the network's published pin before trusting a bundle.
    pub fn ca_pin(&self) -> String {
        psn_pki::ca_pin(&self.ca_der).unwrap_or_default()
    }

    /// The network CA, DER.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// The network CA, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The configuration versions held.
    pub fn versions(&self) -> Vec<u64> {
        self.configs.keys().copied().collect()
    }

    /// The whole document of a version, rebuilt from the deltas that lead to it where the
    /// version was taken as a delta.
    pub(crate) fn config_text(
        &self,
        network: &NetworkId,
        version: u64,
    ) -> Result<String, AuditError> {
        match self.configs.get(&version) {
            Some(ConfigSource::File(path)) => std::fs::read_to_string(path).map_err(io_error(path)),
            Some(ConfigSource::Text(text)) => Ok(text.to_string()),
            Some(ConfigSource::Delta(_)) => self
                .held(network, version, &mut None)
                .and_then(|held| held.document().map_err(|e| e.to_string()))
                .map_err(|e| AuditError::Input(format!("configuration version {version}: {e}"))),
            None => Err(AuditError::Input(format!(
                "configuration version {version} is not held"
            ))),
        }
    }

    /// Version `version`, verified: a whole document checked against its signed head, or the
    /// nearest earlier whole document (or `recent`, if it is on the way) with each delta after
    /// it checked against its own signed head. Leaves the result in `recent` for the next call.
    fn held(
        &self,
        network: &NetworkId,
        version: u64,
        recent: &mut Option<HeldConfig>,
    ) -> Result<HeldConfig, String> {
        let mut deltas = Vec::new();
        let mut at = version;
        let mut held = loop {
            if let Some(held) = recent.as_ref().filter(|h| h.config().version == at) {
                break held.clone();
            }
            match self.configs.get(&at) {
                Some(ConfigSource::Delta(path)) => {
                    if deltas.len() >= MAX_DELTA_CHAIN {
                        return Err("its chain of deltas is too long".into());
                    }
                    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
                    let delta: ConfigDelta = serde_json::from_str(&text)
                        .map_err(|e| format!("delta {}: {e}", path.display()))?;
                    if delta.version != at || delta.from_version >= at {
                        return Err(format!(
                            "delta {} does not lead to version {at}",
                            path.display()
                        ));
                    }
                    at = delta.from_version;
                    deltas.push(delta);
                }
                Some(_) => {
                    let text = self.config_text(network, at).map_err(|e| e.to_string())?;
                    break psn_pki::verify_config(&text, &self.ca_der, network, MAX_CONFIG_BYTES)
                        .map_err(|e| e.to_string())?
                        .held;
                }
                None => {
                    return Err(format!(
                        "version {at}, which a delta starts from, is not held"
                    ))
                }
            }
        };
        for delta in deltas.iter().rev() {
            let (head, _) = psn_pki::verify_config_head(&delta.head, &self.ca_der, network)
                .map_err(|e| e.to_string())?;
            held.apply(delta, &head).map_err(|e| e.to_string())?;
        }
        *recent = Some(held.clone());
        Ok(held)
    }
}

/// A certificate checked against the CA, with the key it certifies.
pub(crate) type CheckedCertificate = Arc<(GatewayCertificate, StatementVerifier)>;

/// Verification state kept across a whole log: decoded configurations and checked certificates
/// and signatures, so each is checked once however many records rely on it.
pub(crate) struct TrustCache<'a> {
    trust: &'a Trust,
    versions: Vec<u64>,
    configs: HashMap<u64, Result<Arc<ConfigFacts>, String>>,
    /// The version last rebuilt, from which the next delta often starts.
    recent: Option<HeldConfig>,
    certificates: HashMap<Vec<u8>, Result<CheckedCertificate, String>>,
    signatures: HashSet<[u8; 32]>,
}

impl<'a> TrustCache<'a> {
    pub(crate) fn new(trust: &'a Trust) -> Self {
        Self {
            trust,
            versions: trust.versions(),
            configs: HashMap::new(),
            recent: None,
            certificates: HashMap::new(),
            signatures: HashSet::new(),
        }
    }

    fn facts(&mut self, network: &NetworkId, version: u64) -> Result<Arc<ConfigFacts>, String> {
        if let Some(cached) = self.configs.get(&version) {
            return cached.clone();
        }
        let facts = self
            .trust
            .held(network, version, &mut self.recent)
            .and_then(|held| {
                let config = held.config();
                if config.version != version {
                    return Err(format!("it holds version {}", config.version));
                }
                let index = config.index();
                let trusted = config
                    .gateways
                    .iter()
                    .filter(|g| {
                        index
                            .member(g.id.member())
                            .is_some_and(|m| m.status == MemberStatus::Active)
                    })
                    .map(|g| g.id.to_string())
                    .collect();
                let partners = config
                    .federation
                    .iter()
                    .map(|f| {
                        let der = psn_pki::parse_pem_certificates(&f.ca_certificate)
                            .ok()
                            .and_then(|c| c.into_iter().next())
                            .ok_or_else(|| format!("network {}'s CA is unreadable", f.network))?;
                        let revoked = f.revoked_serials.iter().cloned().collect();
                        Ok((f.network.clone(), (Arc::new(der.to_vec()), revoked)))
                    })
                    .collect::<Result<_, String>>()?;
                Ok(Arc::new(ConfigFacts {
                    version,
                    issued_at: config.issued_at,
                    trusted,
                    revoked: config.revoked_serials.iter().cloned().collect(),
                    partners,
                }))
            })
            .map_err(|e| format!("configuration version {version} is not usable: {e}"));
        self.configs.insert(version, facts.clone());
        facts
    }

    /// The configuration in force at `at`: the latest version issued at or before it (versions
    /// are issued in order, so the history is searched by halving).
    pub(crate) fn in_force_at(
        &mut self,
        network: &NetworkId,
        at: OffsetDateTime,
    ) -> Result<Arc<ConfigFacts>, String> {
        let versions = self.versions.clone();
        let (mut lo, mut hi) = (0usize, versions.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.facts(network, versions[mid])?.issued_at <= at {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        match lo.checked_sub(1).and_then(|i| versions.get(i)) {
            Some(version) => self.facts(network, *version),
            None => Err(match versions.first() {
                Some(first) => format!(
                    "no configuration was in force at {at}: the earliest held, version {first}, was issued later"
                ),
                None => "no configuration history is available".to_owned(),
            }),
        }
    }

    /// The CA that vouches for `network`'s gateways under the configuration `facts`: this
    /// network's own, or the federated partner's it lists.
    pub(crate) fn ca_for(
        &self,
        facts: &ConfigFacts,
        own: &NetworkId,
        network: &NetworkId,
    ) -> Result<Arc<Vec<u8>>, String> {
        if network == own {
            return Ok(Arc::new(self.trust.ca_der.clone()));
        }
        facts
            .partners
            .get(network)
            .map(|(ca, _)| ca.clone())
            .ok_or_else(|| {
                format!(
                    "configuration version {} (issued {}) does not federate with network {network}",
                    facts.version, facts.issued_at
                )
            })
    }

    /// A certificate checked against `ca_der` (issuer, signature, gateway identity), with its key.
    pub(crate) fn certificate(
        &mut self,
        der: &[u8],
        ca_der: &[u8],
    ) -> Result<CheckedCertificate, String> {
        if let Some(cached) = self.certificates.get(der) {
            return cached.clone();
        }
        let checked = verify_gateway_chain(der, ca_der)
            .map_err(|e| e.to_string())
            .and_then(|c| {
                StatementVerifier::from_certificate(der)
                    .map(|v| Arc::new((c, v)))
                    .map_err(|e| e.to_string())
            });
        self.certificates.insert(der.to_vec(), checked.clone());
        checked
    }

    /// Whether `signature` over `message` verifies with the key, remembering successes (batch
    /// signatures cover many statements with one signature).
    pub(crate) fn signature_valid(
        &mut self,
        verifier: &StatementVerifier,
        der: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        let key = {
            let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
            for part in [der, message, signature] {
                ctx.update(&(part.len() as u64).to_be_bytes());
                ctx.update(part);
            }
            let mut k = [0u8; 32];
            k.copy_from_slice(ctx.finish().as_ref());
            k
        };
        if self.signatures.contains(&key) {
            return true;
        }
        let valid = verifier.verify(message, signature);
        if valid {
            self.signatures.insert(key);
        }
        valid
    }
}

/// The network of a log, from its gateway id.
pub(crate) fn network_of(log: &str) -> Option<NetworkId> {
    log.parse::<GatewayId>()
        .ok()
        .map(|g| g.member().network().clone())
}

/// Unix milliseconds as a time, if representable.
pub(crate) fn time_of(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}
