//! The gateway's audit log (DESIGN.md "Audit log"; formats in `docs/audit.md`): one record per
//! exchange per gateway, with the peer's signed statement, in append-only segments whose entries
//! are hash-chained and periodically sealed with the gateway's signature, so that editing,
//! removing, reordering, truncating or splicing anything is detected by [`verify`], offline, with
//! only the network CA and the configuration history.
//!
//! The gateway uses:
//!
//! - [`AuditLog::open`] at start-up, [`AuditLog::append`] for every exchange before releasing
//!   its response (group commit makes concurrent exchanges share one sync),
//!   [`AuditLog::health`] / [`AuditLog::subscribe`] for readiness, [`AuditLog::set_sealer`] on
//!   certificate renewal, [`AuditLog::body_sink`] for services that keep bodies, and
//!   [`AuditLog::close`] at shutdown;
//! - [`archive()`] periodically (off the request path) for archival and retention;
//! - [`read_after`] to derive its per-minute aggregates from the log, from the cursor the
//!   authority last accepted, so they reach the authority exactly once.
//!
//! - [`AuditLog::checkpoint`] for the latest durable seal, which it hands to the authority and
//!   to its peers ([`verify_checkpoint`], [`keep_peer_checkpoint`]), so a log cut back behind a
//!   seal anyone has seen is found ([`check_checkpoint`]).
//!
//! Operators use [`verify`], [`find`] and [`export`] through `psn audit`.

mod archive;
mod bodies;
mod bundle;
mod checkpoint;
mod error;
pub mod format;
mod input;
mod layout;
mod log;
mod record;
mod scan;
mod sealer;
mod tail;
mod trust;
mod verify;

pub use archive::{archive, ArchiveOptions, ArchiveSummary};
pub use bodies::{BodySink, StoredBody};
pub use bundle::{
    export, Bundle, BundleBody, BundleConfig, BundleSegment, ExportSummary, Selection,
    BUNDLE_FORMAT,
};
pub use checkpoint::{
    check_checkpoint, checkpoint_of, keep_peer_checkpoint, peer_checkpoint_path,
    read_checkpoint_file, verify_checkpoint, CheckpointCheck, Kept,
};
pub use error::AuditError;
pub use log::{
    AuditLog, Durability, Health, LogOptions, LogStatus, RecordReceipt, Recovery, TornTail,
};
pub use record::{body_file_name, AuditRecord, BodyPart, HopTimes, Role};
pub use sealer::Sealer;
pub use tail::{read_after, Tail, TailGap};
pub use trust::Trust;
pub use verify::{
    find, verify, verify_segment_bytes, Break, BreakKind, CertificateSummary, FoundRecord,
    Progress, RecordLocation, Report, VerifyOptions, CLOCK_SKEW_MS,
};
