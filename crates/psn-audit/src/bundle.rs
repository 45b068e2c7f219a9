//! Export: a self-contained bundle a third party verifies with `psn audit verify` alone. It holds
//! whole segments (so the chain and seals around the selected records verify), the network CA,
//! the configuration versions in force whenever something in those segments was signed, and the
//! stored bodies of the selected records.
//!
//! The bundle's CA is what everything is checked against, so the third party compares its pin
//! (printed by `verify`) with the network's published one, or passes the CA it trusts.

use crate::format::Entry;
use crate::input::{self, Bodies, Kind};
use crate::layout::write_atomically;
use crate::record::{body_file_name, AuditRecord};
use crate::scan::{scan, torn_tail};
use crate::trust::{network_of, time_of, TrustCache};
use crate::{AuditError, Trust};
use psn_core::encoding::{b64url, b64url_decode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;

/// The `format` of bundles this version writes and reads.
pub const BUNDLE_FORMAT: &str = "psn-audit-bundle/1";

/// Which records an export is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Selection {
    /// Every record of one exchange (a gateway may hold two: one per side).
    MessageId(String),
    /// Records of exchanges received in `[from_ms, to_ms)`, Unix milliseconds.
    TimeRange {
        /// Inclusive start.
        from_ms: i64,
        /// Exclusive end.
        to_ms: i64,
    },
}

impl Selection {
    /// Whether a record is selected.
    pub fn matches(&self, record: &AuditRecord) -> bool {
        match self {
            Selection::MessageId(id) => &record.message_id == id,
            Selection::TimeRange { from_ms, to_ms } => {
                (*from_ms..*to_ms).contains(&record.times.received_ms)
            }
        }
    }
}

impl std::fmt::Display for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Selection::MessageId(id) => write!(f, "message {id}"),
            Selection::TimeRange { from_ms, to_ms } => {
                let show = |ms: i64| time_of(ms).map_or(ms.to_string(), |t| t.to_string());
                write!(
                    f,
                    "exchanges received from {} to {}",
                    show(*from_ms),
                    show(*to_ms)
                )
            }
        }
    }
}

/// A bundle document (`psn-audit-bundle/1`, JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// The gateway whose log it is.
    pub log: String,
    /// When it was made, Unix milliseconds.
    pub created_ms: i64,
    /// What it was made for.
    pub selection: Selection,
    /// The network CA, PEM.
    pub ca_pem: String,
    /// Configuration versions needed to check the statements and seals.
    pub configs: Vec<BundleConfig>,
    /// Whole segments, in order.
    pub segments: Vec<BundleSegment>,
    /// Stored bodies of the selected records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bodies: Vec<BundleBody>,
}

/// One signed configuration version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleConfig {
    /// Its version.
    pub version: u64,
    /// The JWS as the gateway accepted it.
    pub jws: String,
}

/// One segment, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleSegment {
    /// Its sequence number.
    pub seq: u64,
    /// The segment file, base64url.
    pub data: String,
}

impl BundleSegment {
    /// The segment file's bytes.
    pub fn bytes(&self) -> Result<Vec<u8>, String> {
        b64url_decode(&self.data).ok_or_else(|| "data is not base64url".to_owned())
    }
}

/// One stored body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleBody {
    /// Its file name (`{message}.{role}.{part}`).
    pub name: String,
    /// The body, base64url.
    pub data: String,
}

impl Bundle {
    /// Parses a bundle, refusing other formats.
    pub fn from_json(bytes: &[u8]) -> Result<Bundle, String> {
        let bundle: Bundle =
            serde_json::from_slice(bytes).map_err(|e| format!("not an audit bundle: {e}"))?;
        if bundle.format != BUNDLE_FORMAT {
            return Err(format!(
                "bundle format {:?} is not {BUNDLE_FORMAT:?}",
                bundle.format
            ));
        }
        Ok(bundle)
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    /// Records selected.
    pub records: u64,
    /// Segments included.
    pub segments: Vec<u64>,
    /// Configuration versions included.
    pub configs: Vec<u64>,
    /// Bodies included.
    pub bodies: u64,
    /// Size of the bundle file.
    pub bytes: u64,
}

/// Writes a bundle of the records `selection` picks from the log in `data_dir` to `out`.
///
/// Refused when nothing matches, when a selected record is not sealed yet (the gateway seals
/// every few seconds; a third party could not rely on it), when a segment is damaged (verify it
/// first), or when the configuration history lacks a version something needs.
pub fn export(
    data_dir: &Path,
    selection: &Selection,
    out: &Path,
) -> Result<ExportSummary, AuditError> {
    let input = input::open(data_dir)?;
    if input.kind != Kind::DataDir {
        return Err(AuditError::Input(format!(
            "{}: export reads a gateway data directory",
            data_dir.display()
        )));
    }
    let trust = Trust::from_data_dir(data_dir)?;
    let mut cache = TrustCache::new(&trust);
    let mut log: Option<String> = None;
    let mut segments = Vec::new();
    let mut times = BTreeSet::new();
    let mut bodies = Vec::new();
    let mut selected = 0u64;
    let newest = input.sources.len().saturating_sub(1);
    for (i, source) in input.sources.iter().enumerate() {
        let data = source.read()?;
        let mut hits = 0u64;
        let mut unsealed: Vec<String> = Vec::new();
        let mut segment_times = Vec::new();
        let mut wanted_bodies = Vec::new();
        let end = scan(&data, |scanned| {
            match scanned.entry {
                Entry::Header(h) => {
                    if log.get_or_insert_with(|| h.log.clone()) != &h.log {
                        return Err(format!("it belongs to {}", h.log));
                    }
                }
                Entry::Certificate(_) => {}
                Entry::Record(record) => {
                    if let Some(statement) = record
                        .peer_proof
                        .as_deref()
                        .and_then(|p| psn_core::proof::decode_proof(p).ok())
                    {
                        segment_times.push(statement.statement.at_ms);
                    }
                    if selection.matches(&record) {
                        hits += 1;
                        unsealed.push(record.message_id.clone());
                        for part in record.stored_bodies() {
                            if let Some(name) =
                                body_file_name(&record.message_id, record.role, part)
                            {
                                wanted_bodies.push(name);
                            }
                        }
                    }
                }
                Entry::Seal(seal) => {
                    segment_times.push(seal.at_ms);
                    unsealed.clear();
                }
            }
            Ok(())
        });
        if let Some(stop) = &end.stop {
            let tolerated = i == newest && !source.archived && torn_tail(stop, &data).is_some();
            if !tolerated {
                return Err(AuditError::Input(format!(
                    "{} is damaged ({stop}); run `psn audit verify` on the data directory",
                    source.name
                )));
            }
        }
        if hits == 0 {
            continue;
        }
        if let Some(id) = unsealed.first() {
            return Err(AuditError::Input(format!(
                "the record of message {id} is not sealed yet; the gateway seals within seconds, so export again shortly"
            )));
        }
        selected += hits;
        times.extend(segment_times);
        bodies.extend(wanted_bodies);
        segments.push(BundleSegment {
            seq: source.seq.unwrap_or_default(),
            data: b64url(&data),
        });
    }
    if selected == 0 {
        return Err(AuditError::Input(format!("no record matches {selection}")));
    }
    let log = log.unwrap_or_default();
    let network = network_of(&log)
        .ok_or_else(|| AuditError::Input(format!("the log id {log:?} is not a gateway")))?;
    let mut versions = BTreeSet::new();
    for ms in times {
        let at =
            time_of(ms).ok_or_else(|| AuditError::Input(format!("time {ms} is out of range")))?;
        let facts = cache
            .in_force_at(&network, at)
            .map_err(|e| AuditError::Input(format!("configuration history: {e}")))?;
        versions.insert(facts.version);
    }
    let configs = versions
        .iter()
        .map(|v| {
            Ok(BundleConfig {
                version: *v,
                jws: trust.config_text(&network, *v)?,
            })
        })
        .collect::<Result<Vec<_>, AuditError>>()?;
    let mut carried = Vec::new();
    if let Bodies::Dir(dir) = &input.bodies {
        for name in bodies {
            let path = dir.join(&name);
            let data = std::fs::read(&path).map_err(crate::error::io_error(&path))?;
            carried.push(BundleBody {
                name,
                data: b64url(&data),
            });
        }
    }
    let summary_segments = segments.iter().map(|s| s.seq).collect();
    let body_count = carried.len() as u64;
    let bundle = Bundle {
        format: BUNDLE_FORMAT.into(),
        log,
        created_ms: crate::log::now_ms(),
        selection: selection.clone(),
        ca_pem: trust.ca_pem().to_owned(),
        configs,
        segments,
        bodies: carried,
    };
    let json = serde_json::to_vec(&bundle)
        .map_err(|e| AuditError::Input(format!("cannot serialise the bundle: {e}")))?;
    write_atomically(out, &json)?;
    Ok(ExportSummary {
        records: selected,
        segments: summary_segments,
        configs: versions.into_iter().collect(),
        bodies: body_count,
        bytes: json.len() as u64,
    })
}
