//! Verification (`psn audit verify`): every segment's framing, positions and chain; continuity
//! from one segment to the next; every seal's signature by the log's gateway with a certificate
//! from the network CA that the configuration in force trusted; every peer statement's signature,
//! certificate and trust at the time it was made, and that it says what the record says; stored
//! bodies against their digests. It stops at the first break and says exactly where it is.

use crate::bundle::Selection;
use crate::format::{frames_at, ChainHash, Entry, Header, Seal, FORMAT};
use crate::input::{self, Bodies, Input, Kind, Source, TrustFrom};
use crate::record::{body_file_name, AuditRecord};
use crate::scan::{scan, torn_tail, Scanned, Stop};
use crate::trust::{network_of, time_of, TrustCache};
use crate::{AuditError, Trust};
use psn_core::names::NetworkId;
use psn_core::proof::{content_digest, decode_proof, StatementKind};
use serde::Serialize;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// How far a statement's time may lie outside the exchange's hop times: the peer's clock and this
/// gateway's may each be `psn_core::clock::TOLERATED_SKEW` from the authority's, so the same
/// bound the gateways check live (`psn_core::clock::PEER_SKEW`).
pub const CLOCK_SKEW_MS: i64 = psn_core::clock::PEER_SKEW_MS;

/// What to verify against, beyond what the input carries.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// A gateway data directory whose CA and configuration history to use (for a segment file
    /// that is not inside one).
    pub trust_dir: Option<PathBuf>,
    /// The network CA the verifier trusts (PEM). A bundle carries its own CA; with this set, the
    /// bundle's must be this one.
    pub ca_pem: Option<String>,
}

/// How far verification has got, for progress displays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Segments checked.
    pub segments_done: u64,
    /// Segments to check.
    pub segments_total: u64,
    /// Input bytes checked.
    pub bytes_done: u64,
    /// Input bytes in all.
    pub bytes_total: u64,
}

/// What kind of break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakKind {
    /// Not a segment, an unreadable frame or entry, or entries where none may be.
    Malformed,
    /// A segment ends inside a frame, or without its final seal although another follows.
    Truncated,
    /// An entry's content does not match its chain hash.
    Altered,
    /// Entries are missing from the middle of a segment.
    Missing,
    /// Entries are out of order or duplicated.
    OutOfOrder,
    /// A segment is missing from the middle of the log.
    MissingSegment,
    /// A segment does not continue the one before it, or belongs to another log.
    Discontinuity,
    /// A seal does not cover the chain it sits on or its signature does not verify.
    Seal,
    /// A peer statement is unreadable, forged, or says something other than the record.
    Statement,
    /// A certificate or configuration check failed: not the network CA, expired, revoked, not
    /// listed.
    Untrusted,
    /// A stored body is missing or does not match its digest.
    Body,
    /// A selected record is not covered by any seal.
    Unsealed,
}

impl BreakKind {
    /// A few words for people.
    pub fn describe(self) -> &'static str {
        match self {
            BreakKind::Malformed => "malformed",
            BreakKind::Truncated => "truncated",
            BreakKind::Altered => "altered",
            BreakKind::Missing => "entries missing",
            BreakKind::OutOfOrder => "entries out of order",
            BreakKind::MissingSegment => "segment missing",
            BreakKind::Discontinuity => "chain discontinuity",
            BreakKind::Seal => "bad seal",
            BreakKind::Statement => "bad peer statement",
            BreakKind::Untrusted => "untrusted",
            BreakKind::Body => "bad stored body",
            BreakKind::Unsealed => "unsealed",
        }
    }
}

/// The first place where the log is not what the gateway wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    /// What is wrong, in one word.
    pub kind: BreakKind,
    /// The file (or bundle member) it is in.
    pub file: String,
    /// The segment's sequence number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<u64>,
    /// The entry's position in the segment (the header is 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<u64>,
    /// Byte offset of the entry's frame in the segment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// The record's message id, when the entry is a readable record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// What is wrong, precisely.
    pub detail: String,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.file)?;
        if let Some(segment) = self.segment {
            write!(f, ", segment {segment}")?;
        }
        if let Some(entry) = self.entry {
            write!(f, ", entry {entry}")?;
        }
        if let Some(offset) = self.offset {
            write!(f, " (byte {offset})")?;
        }
        if let Some(id) = &self.message_id {
            write!(f, ", message {id}")?;
        }
        write!(f, ": {}: {}", self.kind.describe(), self.detail)
    }
}

/// Where a record is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordLocation {
    /// Its message id.
    pub message_id: String,
    /// Segment sequence number.
    pub segment: u64,
    /// Entry position.
    pub entry: u64,
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// What was verified.
    pub source: String,
    /// Its kind (data directory, segment file, bundle).
    pub kind: String,
    /// The log's gateway.
    pub log: Option<String>,
    /// Pin of the CA everything was checked against (compare with the network's).
    pub ca_pin: Option<String>,
    /// Segments fully checked.
    pub segments: u64,
    /// First segment seen.
    pub first_segment: Option<u64>,
    /// Last segment seen.
    pub last_segment: Option<u64>,
    /// Entries checked.
    pub entries: u64,
    /// Records checked.
    pub records: u64,
    /// Seals checked.
    pub seals: u64,
    /// Peer statements checked.
    pub statements: u64,
    /// Stored bodies checked.
    pub bodies: u64,
    /// Records after the last seal of the active segment: chained but not yet signed.
    pub unsealed_records: u64,
    /// The records a bundle was made for.
    pub selected: Vec<RecordLocation>,
    /// Things worth knowing that are not breaks (a torn tail awaiting recovery, segments removed
    /// by retention).
    pub notes: Vec<String>,
    /// The first break, if any.
    pub first_break: Option<Break>,
}

impl Report {
    /// Whether no break was found.
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }

    fn new(source: String, kind: Kind) -> Self {
        Self {
            source,
            kind: kind.describe().into(),
            log: None,
            ca_pin: None,
            segments: 0,
            first_segment: None,
            last_segment: None,
            entries: 0,
            records: 0,
            seals: 0,
            statements: 0,
            bodies: 0,
            unsealed_records: 0,
            selected: Vec::new(),
            notes: Vec::new(),
            first_break: None,
        }
    }
}

/// Verifies a gateway data directory, a segment file (live or archived) or a bundle.
///
/// `Err` means verification could not start (unreadable input, no CA); a damaged log is an `Ok`
/// report with [`Report::first_break`] set.
pub fn verify(
    path: &Path,
    options: &VerifyOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Report, AuditError> {
    let input = input::open(path)?;
    let trust = match (&options.trust_dir, &input.trust) {
        (_, TrustFrom::Bundle(trust)) => trust.clone(),
        (Some(dir), _) | (None, TrustFrom::DataDir(dir)) => Trust::from_data_dir(dir)?,
        (None, TrustFrom::Absent) => {
            return Err(AuditError::Input(format!(
                "{}: no CA and configuration history to verify against; name the gateway data directory it came from (--gateway-dir)",
                path.display()
            )))
        }
    };
    let source = path.display().to_string();
    if let Some(pem) = &options.ca_pem {
        let expected = Trust::new(pem, [])?;
        if expected.ca_der() != trust.ca_der() {
            let mut report = Report::new(source.clone(), input.kind);
            report.ca_pin = Some(trust.ca_pin());
            report.first_break = Some(Break {
                kind: BreakKind::Untrusted,
                file: source,
                segment: None,
                entry: None,
                offset: None,
                message_id: None,
                detail: format!(
                    "its CA (pin {}) is not the CA you trust (pin {})",
                    trust.ca_pin(),
                    expected.ca_pin()
                ),
            });
            return Ok(report);
        }
    }
    Ok(run(source, input, Some(&trust), progress))
}

/// Verifies one segment given as bytes, against `trust` if given. Without trust, signatures,
/// certificates and the configuration history are not checked (the report says so); the chain,
/// framing and record/statement agreement are. Never panics, whatever the bytes.
pub fn verify_segment_bytes(data: &[u8], trust: Option<&Trust>) -> Report {
    let input = Input {
        kind: Kind::Segment,
        sources: vec![Source::bytes(None, "segment".into(), data.to_vec())],
        bodies: Bodies::Absent,
        trust: TrustFrom::Absent,
        selection: None,
        log: None,
    };
    run("segment".into(), input, trust, &mut |_| {})
}

fn run(
    source: String,
    input: Input,
    trust: Option<&Trust>,
    progress: &mut dyn FnMut(&Progress),
) -> Report {
    let mut report = Report::new(source.clone(), input.kind);
    report.ca_pin = trust.map(Trust::ca_pin);
    if trust.is_none() {
        report.notes.push(
            "no trust anchor: signatures, certificates and the configuration history were not checked"
                .into(),
        );
    }
    let mut verifier = Verifier {
        cache: trust.map(TrustCache::new),
        report,
        network: None,
        bodies: &input.bodies,
        selection: input.selection.as_ref(),
        expected_log: input.log.as_deref(),
        previous: None,
        data_dir: input.kind == Kind::DataDir,
    };
    let mut state = Progress {
        segments_total: input.sources.len() as u64,
        bytes_total: input.sources.iter().map(|s| s.size).sum(),
        ..Progress::default()
    };
    progress(&state);
    let last = input.sources.len().saturating_sub(1);
    for (i, source) in input.sources.iter().enumerate() {
        if let Err(b) = verifier.segment(source, i == last) {
            verifier.report.first_break = Some(*b);
            break;
        }
        state.segments_done += 1;
        state.bytes_done += source.size;
        progress(&state);
    }
    let mut report = verifier.report;
    if input.sources.is_empty() {
        match input.kind {
            Kind::DataDir => report.notes.push("the log holds no segments yet".into()),
            _ => {
                report.first_break = Some(Break {
                    kind: BreakKind::Malformed,
                    file: source,
                    segment: None,
                    entry: None,
                    offset: None,
                    message_id: None,
                    detail: "it holds no segments".into(),
                })
            }
        }
    }
    if let Some(selection) = &input.selection {
        if report.first_break.is_none() && report.selected.is_empty() {
            report.first_break = Some(Break {
                kind: BreakKind::Malformed,
                file: report.source.clone(),
                segment: None,
                entry: None,
                offset: None,
                message_id: None,
                detail: format!("no record in the bundle matches its selection ({selection})"),
            });
        }
    }
    report
}

/// A certificate's DER and the key it certifies, once checked.
type TrustedKey = (Vec<u8>, psn_pki::StatementVerifier);

/// What a finished segment leaves for the next one to continue.
struct Outcome {
    seq: u64,
    name: String,
    entries: u64,
    head: ChainHash,
    closed: bool,
}

/// Per-segment state while walking it.
struct SegmentState {
    name: String,
    seq_hint: Option<u64>,
    seq: Option<u64>,
    certificates: HashMap<String, Vec<u8>>,
    records: u64,
    last_hash: ChainHash,
    closed: bool,
    unsealed: u64,
    unsealed_selected: Vec<RecordLocation>,
}

impl SegmentState {
    /// A break at the entry `scanned`.
    fn at(&self, scanned: &Scanned, kind: BreakKind, detail: String) -> Box<Break> {
        Box::new(Break {
            kind,
            file: self.name.clone(),
            segment: self.seq.or(self.seq_hint),
            entry: Some(scanned.position),
            offset: Some(scanned.offset),
            message_id: None,
            detail,
        })
    }
}

struct Verifier<'a> {
    cache: Option<TrustCache<'a>>,
    report: Report,
    network: Option<NetworkId>,
    bodies: &'a Bodies,
    selection: Option<&'a Selection>,
    expected_log: Option<&'a str>,
    previous: Option<Outcome>,
    data_dir: bool,
}

impl Verifier<'_> {
    fn segment(&mut self, source: &Source, last: bool) -> Result<(), Box<Break>> {
        let whole = |kind, detail| {
            Box::new(Break {
                kind,
                file: source.name.clone(),
                segment: source.seq,
                entry: None,
                offset: None,
                message_id: None,
                detail,
            })
        };
        if let Some(previous) = &self.previous {
            if !previous.closed {
                return Err(Box::new(Break {
                    kind: BreakKind::Truncated,
                    file: previous.name.clone(),
                    segment: Some(previous.seq),
                    entry: Some(previous.entries),
                    offset: None,
                    message_id: None,
                    detail: format!(
                        "segment {} ends after {} entries without its final seal, but {} follows: it was truncated",
                        previous.seq, previous.entries, source.name
                    ),
                }));
            }
        }
        let data = source
            .read()
            .map_err(|e| whole(BreakKind::Malformed, format!("cannot be read: {e}")))?;
        let mut state = SegmentState {
            name: source.name.clone(),
            seq_hint: source.seq,
            seq: None,
            certificates: HashMap::new(),
            records: 0,
            last_hash: ChainHash::ZERO,
            closed: false,
            unsealed: 0,
            unsealed_selected: Vec::new(),
        };
        let end = scan(&data, |scanned| self.visit(&mut state, scanned));
        if let Some(stop) = end.stop {
            let torn = match &stop {
                Stop::Visitor(_) => None,
                other => torn_tail(other, &data),
            };
            match (stop, torn) {
                (_, Some(reason))
                    if last && self.data_dir && !source.archived && end.entries > 0 =>
                {
                    self.report.notes.push(format!(
                        "{}: torn tail after entry {} ({reason}); the gateway removes it when it next opens the log, and no acknowledged record is in it",
                        source.name,
                        end.entries.saturating_sub(1)
                    ));
                }
                (Stop::Visitor(b), _) => return Err(b),
                (stop, _) => return Err(Box::new(stop_break(&stop, &data, &state, end.entries))),
            }
        }
        let Some(seq) = state.seq else {
            return Err(whole(
                BreakKind::Malformed,
                "the segment has no header".into(),
            ));
        };
        if last && !state.closed {
            self.report.unsealed_records += state.unsealed;
            if state.unsealed > 0 {
                self.report.notes.push(format!(
                    "{} record(s) at the end of segment {seq} are chained but not sealed yet",
                    state.unsealed
                ));
            }
            if let Some(location) = state.unsealed_selected.first() {
                return Err(Box::new(Break {
                    kind: BreakKind::Unsealed,
                    file: state.name.clone(),
                    segment: Some(location.segment),
                    entry: Some(location.entry),
                    offset: None,
                    message_id: Some(location.message_id.clone()),
                    detail: "the selected record is not covered by any seal".into(),
                }));
            }
        }
        self.report.segments += 1;
        self.previous = Some(Outcome {
            seq,
            name: state.name,
            entries: end.entries,
            head: end.head,
            closed: state.closed,
        });
        Ok(())
    }

    fn visit(&mut self, state: &mut SegmentState, scanned: Scanned) -> Result<(), Box<Break>> {
        if state.closed {
            return Err(state.at(
                &scanned,
                BreakKind::Malformed,
                "an entry follows the segment's final seal".into(),
            ));
        }
        match &scanned.entry {
            Entry::Header(header) => {
                let result = self.header(state, header);
                result.map_err(|(kind, detail)| state.at(&scanned, kind, detail))?;
                state.seq = Some(header.segment);
            }
            Entry::Certificate(c) => {
                let info = c.der_bytes().and_then(|der| {
                    psn_pki::CertificateInfo::from_der(&der)
                        .ok()
                        .map(|i| (der, i))
                });
                let Some((der, info)) = info else {
                    return Err(state.at(
                        &scanned,
                        BreakKind::Malformed,
                        "the certificate entry does not hold a DER certificate".into(),
                    ));
                };
                if info.serial != c.serial {
                    return Err(state.at(
                        &scanned,
                        BreakKind::Malformed,
                        format!(
                            "the certificate entry says serial {}, the certificate has {}",
                            c.serial, info.serial
                        ),
                    ));
                }
                state.certificates.insert(info.serial, der);
            }
            Entry::Record(record) => {
                let location = RecordLocation {
                    message_id: record.message_id.clone(),
                    segment: state.seq.unwrap_or_default(),
                    entry: scanned.position,
                };
                self.record(state, record).map_err(|(kind, detail)| {
                    let mut b = state.at(&scanned, kind, detail);
                    b.message_id = Some(record.message_id.clone());
                    b
                })?;
                state.records += 1;
                state.unsealed += 1;
                self.report.records += 1;
                if self.selection.is_some_and(|s| s.matches(record)) {
                    self.report.selected.push(location.clone());
                    state.unsealed_selected.push(location);
                }
            }
            Entry::Seal(seal) => {
                self.seal(state, seal, scanned.position)
                    .map_err(|(kind, detail)| state.at(&scanned, kind, detail))?;
                state.closed = seal.last;
                state.unsealed = 0;
                state.unsealed_selected.clear();
                self.report.seals += 1;
            }
        }
        state.last_hash = scanned.hash;
        self.report.entries += 1;
        Ok(())
    }

    fn header(&mut self, state: &SegmentState, header: &Header) -> Result<(), (BreakKind, String)> {
        use BreakKind::{Discontinuity, Malformed, MissingSegment};
        if header.format != FORMAT {
            return Err((
                Malformed,
                format!("format {:?} is not {FORMAT:?}", header.format),
            ));
        }
        if let Some(expected) = self.expected_log {
            if header.log != expected {
                return Err((
                    Discontinuity,
                    format!(
                        "the segment is from the log of {}, but the bundle is of {expected}",
                        header.log
                    ),
                ));
            }
        }
        match &self.report.log {
            Some(log) if log != &header.log => {
                return Err((
                    Discontinuity,
                    format!(
                        "the segment belongs to the log of {}, not {log}: it was spliced in from another log",
                        header.log
                    ),
                ))
            }
            Some(_) => {}
            None => {
                self.network = network_of(&header.log);
                if self.network.is_none() && self.cache.is_some() {
                    return Err((
                        Malformed,
                        format!("the log id {:?} is not a gateway id", header.log),
                    ));
                }
                self.report.log = Some(header.log.clone());
            }
        }
        if let Some(hint) = state.seq_hint {
            if hint != header.segment {
                return Err((
                    Discontinuity,
                    format!(
                        "the file is segment {hint} but its header says segment {}: segments were renamed or replaced",
                        header.segment
                    ),
                ));
            }
        }
        match &self.previous {
            Some(previous) if header.segment <= previous.seq => {
                return Err((
                    Discontinuity,
                    format!(
                        "segment {} follows segment {}: segments are out of order or duplicated",
                        header.segment, previous.seq
                    ),
                ))
            }
            Some(previous) if header.segment == previous.seq + 1 => {
                if header.previous_head != previous.head {
                    return Err((
                        Discontinuity,
                        format!(
                            "segment {} chains from {}, but segment {} ended at {}: it does not continue the log (replaced or spliced)",
                            header.segment, header.previous_head, previous.seq, previous.head
                        ),
                    ));
                }
            }
            Some(previous) if self.data_dir => {
                return Err((
                    MissingSegment,
                    format!(
                        "segment {} follows segment {}: segment(s) {} to {} are missing",
                        header.segment,
                        previous.seq,
                        previous.seq + 1,
                        header.segment - 1
                    ),
                ))
            }
            Some(previous) => self.report.notes.push(format!(
                "segments {} to {} are not included; the bundle holds only the segments of its selection",
                previous.seq + 1,
                header.segment - 1
            )),
            None if header.segment == 1 => {
                if header.previous_head != ChainHash::ZERO {
                    return Err((
                        Discontinuity,
                        "segment 1 must start the chain (from zeros), but it continues another".into(),
                    ));
                }
            }
            None => self.report.notes.push(format!(
                "the log starts at segment {}: earlier segments were removed by retention or not included",
                header.segment
            )),
        }
        self.report.first_segment.get_or_insert(header.segment);
        self.report.last_segment = Some(header.segment);
        Ok(())
    }

    /// Looks up a certificate the segment holds and checks it against the CA for `gateway` at
    /// `at_ms`, and the configuration in force then. Returns the key to verify with.
    fn trusted_key(
        &mut self,
        state: &SegmentState,
        serial: &str,
        gateway: &str,
        at_ms: i64,
        what: &str,
    ) -> Result<Option<TrustedKey>, (BreakKind, String)> {
        let Some(der) = state.certificates.get(serial) else {
            return Err((
                BreakKind::Untrusted,
                format!(
                    "{what} is signed with certificate {serial}, which the segment does not hold"
                ),
            ));
        };
        let (Some(cache), Some(network)) = (self.cache.as_mut(), self.network.as_ref()) else {
            return Ok(None);
        };
        let untrusted = |detail: String| (BreakKind::Untrusted, format!("{what}: {detail}"));
        let at =
            time_of(at_ms).ok_or_else(|| untrusted(format!("time {at_ms} is out of range")))?;
        let facts = cache.in_force_at(network, at).map_err(untrusted)?;
        let signer_network = network_of(gateway)
            .ok_or_else(|| untrusted(format!("{gateway:?} is not a gateway")))?;
        let ca_der = cache
            .ca_for(&facts, network, &signer_network)
            .map_err(untrusted)?;
        let checked = cache.certificate(der, &ca_der).map_err(untrusted)?;
        let (certificate, verifier) = checked.as_ref();
        if certificate.gateway.to_string() != gateway {
            return Err(untrusted(format!(
                "certificate {serial} is {}'s, not {gateway}'s",
                certificate.gateway
            )));
        }
        certificate
            .check_valid_at(at)
            .map_err(|e| untrusted(e.to_string()))?;
        if let Some(why) = facts.distrust(gateway, serial) {
            return Err(untrusted(why));
        }
        Ok(Some((der.clone(), verifier.clone())))
    }

    fn seal(
        &mut self,
        state: &SegmentState,
        seal: &Seal,
        position: u64,
    ) -> Result<(), (BreakKind, String)> {
        if seal.chain_head != state.last_hash {
            return Err((
                BreakKind::Seal,
                format!(
                    "the seal covers chain head {}, but the entry before it ends the chain at {}",
                    seal.chain_head, state.last_hash
                ),
            ));
        }
        if seal.records != state.records {
            return Err((
                BreakKind::Seal,
                format!(
                    "the seal counts {} records, but {} precede it in the segment",
                    seal.records, state.records
                ),
            ));
        }
        let log = self.report.log.clone().unwrap_or_default();
        let key = self.trusted_key(state, &seal.signer_serial, &log, seal.at_ms, "the seal")?;
        let Some((der, verifier)) = key else {
            return Ok(());
        };
        let signature = seal.signature_bytes().unwrap_or_default();
        let signed = seal.signed_bytes(&log, state.seq.unwrap_or_default(), position);
        let valid = self
            .cache
            .as_mut()
            .is_some_and(|c| c.signature_valid(&verifier, &der, &signed, &signature));
        if !valid {
            return Err((
                BreakKind::Seal,
                format!(
                    "the seal's signature does not verify with certificate {}",
                    seal.signer_serial
                ),
            ));
        }
        Ok(())
    }

    fn record(
        &mut self,
        state: &SegmentState,
        record: &AuditRecord,
    ) -> Result<(), (BreakKind, String)> {
        self.statement(state, record)?;
        self.stored_bodies(record)
    }

    fn statement(
        &mut self,
        state: &SegmentState,
        record: &AuditRecord,
    ) -> Result<(), (BreakKind, String)> {
        let Some(proof) = &record.peer_proof else {
            return Ok(());
        };
        let bad = |detail: String| (BreakKind::Statement, detail);
        let decoded = decode_proof(proof).map_err(|e| bad(format!("the peer statement: {e}")))?;
        let statement = &decoded.statement;
        let expected_kind = record.role.peer_statement_kind();
        if statement.kind != expected_kind {
            return Err(bad(format!(
                "a {} record must hold the peer's {expected_kind:?} statement, not a {:?} one",
                record.role.as_str(),
                statement.kind
            )));
        }
        let Some(peer) = &record.peer else {
            return Err(bad("the record holds a statement but names no peer".into()));
        };
        if &statement.signer != peer {
            return Err(bad(format!(
                "the statement is signed by {}, but the record's peer is {peer}",
                statement.signer
            )));
        }
        if record
            .peer_serial
            .as_ref()
            .is_some_and(|s| s != &statement.signer_serial)
        {
            return Err(bad(format!(
                "the statement names certificate {}, but the peer used {}",
                statement.signer_serial,
                record.peer_serial.as_deref().unwrap_or_default()
            )));
        }
        let key = self.trusted_key(
            state,
            &statement.signer_serial,
            &statement.signer,
            statement.at_ms,
            "the peer statement",
        )?;
        if let Some((der, verifier)) = key {
            let valid = self.cache.as_mut().is_some_and(|c| {
                c.signature_valid(&verifier, &der, &decoded.signed, &decoded.signature)
            });
            if !valid {
                return Err(bad(format!(
                    "the peer statement's signature does not verify with certificate {}",
                    statement.signer_serial
                )));
            }
        }
        let mut checks: Vec<(&str, Option<String>, Option<String>)> = vec![
            (
                "message id",
                Some(statement.message_id.clone()),
                Some(record.message_id.clone()),
            ),
            (
                "client",
                Some(statement.client.clone()),
                Some(record.client.clone()),
            ),
            (
                "service",
                Some(statement.service.clone()),
                Some(record.service.clone()),
            ),
            (
                "method",
                Some(statement.method.clone()),
                Some(record.method.clone()),
            ),
            (
                "path",
                Some(statement.path.clone()),
                Some(record.path.clone()),
            ),
            (
                "request digest",
                // A provider that refused before it read the request body signs no request
                // digest: its statement binds the refusal, not a body it never saw.
                if refused_unread(statement, record) {
                    record.request_digest.clone()
                } else {
                    Some(statement.request_digest.clone())
                },
                record.request_digest.clone(),
            ),
        ];
        if statement.kind == StatementKind::Response {
            checks.push((
                "status",
                statement.status.map(|s| s.to_string()),
                Some(record.status.to_string()),
            ));
            checks.push((
                "response digest",
                statement.response_digest.clone(),
                record.response_digest.clone(),
            ));
        }
        if let Some((field, said, recorded)) = checks.into_iter().find(|(_, a, b)| a != b) {
            return Err(bad(format!(
                "the peer statement does not match the record: {field} is {} in the statement, {} in the record",
                said.as_deref().unwrap_or("absent"),
                recorded.as_deref().unwrap_or("absent")
            )));
        }
        let times = record.times;
        let latest = [
            times.forwarded_ms,
            times.response_in_ms,
            times.response_out_ms,
        ]
        .into_iter()
        .flatten()
        .fold(times.received_ms, i64::max);
        if let Some(why) =
            psn_core::clock::statement_outside(statement.at_ms, times.received_ms, latest)
        {
            return Err(bad(why));
        }
        self.report.statements += 1;
        Ok(())
    }

    fn stored_bodies(&mut self, record: &AuditRecord) -> Result<(), (BreakKind, String)> {
        for part in record.stored_bodies() {
            let bad = |detail: String| (BreakKind::Body, detail);
            let name = body_file_name(&record.message_id, record.role, part).ok_or_else(|| {
                bad(
                    "the record says a body is stored, but its message id cannot name a file"
                        .into(),
                )
            })?;
            let selected = self.selection.is_some_and(|s| s.matches(record));
            let digest = match self.bodies {
                Bodies::Dir(dir) => digest_file(&dir.join(&name))
                    .map_err(|e| bad(format!("stored body {name}: {e}")))?,
                Bodies::Carried(bodies) => match bodies.get(&name) {
                    Some(bytes) => Some(content_digest(&psn_core::encoding::sha256(bytes))),
                    None if selected => None,
                    None => continue,
                },
                Bodies::Absent => continue,
            };
            let Some(digest) = digest else {
                return Err(bad(format!("stored body {name} is missing")));
            };
            if Some(digest.as_str()) != record.digest_of(part) {
                return Err(bad(format!(
                    "stored body {name} has digest {digest}, but the record says {}",
                    record.digest_of(part).unwrap_or("nothing")
                )));
            }
            self.report.bodies += 1;
        }
        Ok(())
    }
}

/// The `Content-Digest` of a file, streamed; `None` if it does not exist.
fn digest_file(path: &Path) -> Result<Option<String>, std::io::Error> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(Some(content_digest(ctx.finish().as_ref())))
}

/// The break for a walk that stopped on framing, position or hash.
fn stop_break(stop: &Stop<Box<Break>>, data: &[u8], state: &SegmentState, entries: u64) -> Break {
    let offset = stop.offset();
    let position = match stop {
        Stop::Index { position, .. }
        | Stop::Altered { position, .. }
        | Stop::Undecodable { position, .. }
        | Stop::Header { position, .. } => Some(*position),
        Stop::Frame(_) => Some(entries),
        Stop::NotASegment | Stop::Visitor(_) => None,
    };
    let message_id = offset
        .and_then(|o| frames_at(data, o).next())
        .and_then(Result::ok)
        .and_then(|f| match crate::format::decode_entry(f.payload) {
            Ok(Entry::Record(r)) => Some(r.message_id),
            _ => None,
        });
    let (kind, detail) = match stop {
        Stop::NotASegment => (
            BreakKind::Malformed,
            "not a psn audit segment (bad magic)".to_owned(),
        ),
        Stop::Frame(crate::format::FrameError::Incomplete { .. }) => (
            BreakKind::Truncated,
            format!("{stop}: the segment was truncated"),
        ),
        Stop::Frame(_) | Stop::Undecodable { .. } | Stop::Header { .. } => {
            (BreakKind::Malformed, stop.to_string())
        }
        Stop::Altered { .. } => (
            BreakKind::Altered,
            "the entry's chain hash does not match its content: the entry (or its hash) was changed"
                .to_owned(),
        ),
        Stop::Index {
            position,
            offset,
            found,
            ..
        } => index_break(data, *offset, *position, *found),
        Stop::Visitor(b) => return (**b).clone(),
    };
    Break {
        kind,
        file: state.name.clone(),
        segment: state.seq.or(state.seq_hint),
        entry: position,
        offset,
        message_id: match kind {
            BreakKind::Missing => None,
            _ => message_id,
        },
        detail,
    }
}

/// Tells removal from reordering by looking at the positions that follow.
fn index_break(data: &[u8], offset: u64, position: u64, found: u64) -> (BreakKind, String) {
    if found < position {
        return (
            BreakKind::OutOfOrder,
            format!("position {position} holds entry {found} again: entries were duplicated or reordered"),
        );
    }
    let later = frames_at(data, offset)
        .map_while(Result::ok)
        .zip(position..)
        .find(|(frame, _)| frame.index == position)
        .map(|(_, at)| at);
    match later {
        Some(at) => (
            BreakKind::OutOfOrder,
            format!(
                "position {position} holds entry {found}, and entry {position} is at position {at}: entries were reordered"
            ),
        ),
        None => (
            BreakKind::Missing,
            format!(
                "position {position} holds entry {found}: {} entr{} before it ({position} to {}) were removed",
                found - position,
                if found - position == 1 { "y" } else { "ies" },
                found - 1
            ),
        ),
    }
}

/// A record found by [`find`], decoded for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoundRecord {
    /// Where it is.
    pub location: RecordLocation,
    /// The segment file.
    pub file: String,
    /// Whether a seal after it covers it.
    pub sealed: bool,
    /// The record.
    pub record: AuditRecord,
    /// The peer's statement, decoded.
    pub statement: Option<psn_core::proof::Statement>,
    /// Why the statement could not be decoded, if it could not.
    pub statement_problem: Option<String>,
    /// The peer certificate the segment holds for the statement.
    pub peer_certificate: Option<CertificateSummary>,
    /// Whether the statement's signature verifies with that certificate (`verify` also checks
    /// the certificate against the CA and the configuration history).
    pub signature_valid: Option<bool>,
}

/// A certificate, for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateSummary {
    /// Serial, lowercase hex.
    pub serial: String,
    /// The gateway it names.
    pub gateway: Option<String>,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
}

/// Finds the records of one message in a data directory, segment file or bundle.
pub fn find(path: &Path, message_id: &str) -> Result<Vec<FoundRecord>, AuditError> {
    let input = input::open(path)?;
    let mut found: Vec<FoundRecord> = Vec::new();
    for source in &input.sources {
        let data = source.read()?;
        let mut certificates: HashMap<String, Vec<u8>> = HashMap::new();
        let mut seq = source.seq.unwrap_or_default();
        let first_in_segment = found.len();
        let end = scan(&data, |scanned| {
            match scanned.entry {
                Entry::Header(h) => seq = h.segment,
                Entry::Certificate(c) => {
                    if let Some(der) = c.der_bytes() {
                        certificates.insert(c.serial, der);
                    }
                }
                Entry::Seal(_) => {
                    for f in found[first_in_segment..].iter_mut() {
                        f.sealed = true;
                    }
                }
                Entry::Record(record) if record.message_id == message_id => {
                    found.push(describe(
                        *record,
                        RecordLocation {
                            message_id: message_id.to_owned(),
                            segment: seq,
                            entry: scanned.position,
                        },
                        source.name.clone(),
                        &certificates,
                    ));
                }
                Entry::Record(_) => {}
            }
            Ok::<(), std::convert::Infallible>(())
        });
        if let Some(stop) = end.stop {
            tracing::debug!(segment = %source.name, %stop, "stopped reading a damaged segment");
        }
    }
    Ok(found)
}

fn describe(
    record: AuditRecord,
    location: RecordLocation,
    file: String,
    certificates: &HashMap<String, Vec<u8>>,
) -> FoundRecord {
    let decoded = record.peer_proof.as_deref().map(decode_proof);
    let (statement, statement_problem, peer_certificate, signature_valid) = match decoded {
        None => (None, None, None, None),
        Some(Err(e)) => (None, Some(e.to_string()), None, None),
        Some(Ok(decoded)) => {
            let der = certificates.get(&decoded.statement.signer_serial);
            let summary = der
                .and_then(|der| psn_pki::CertificateInfo::from_der(der).ok())
                .map(|info| CertificateSummary {
                    gateway: psn_pki::gateway_identity(&info).map(|g| g.to_string()),
                    serial: info.serial,
                    not_before: rfc3339(info.not_before),
                    not_after: rfc3339(info.not_after),
                });
            let valid = der
                .and_then(|der| psn_pki::StatementVerifier::from_certificate(der).ok())
                .map(|v| v.verify(&decoded.signed, &decoded.signature));
            (Some(decoded.statement), None, summary, valid)
        }
    };
    FoundRecord {
        location,
        file,
        sealed: false,
        record,
        statement,
        statement_problem,
        peer_certificate,
        signature_valid,
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// Whether `statement` is a provider's refusal signed before it read the request body (it then
/// names no request digest).
fn refused_unread(statement: &psn_core::proof::Statement, record: &AuditRecord) -> bool {
    statement.kind == StatementKind::Response
        && statement.request_digest.is_empty()
        && record.problem.is_some()
}
