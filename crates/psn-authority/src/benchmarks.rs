//! Temporary stand-in for the lead's benchmarks facade on the bench-ui branch, with its exact
//! signatures, so the pages compile; it is deleted when main carries the real one.

use crate::store::StoreError;
use crate::Authority;
use psn_api::{
    BenchmarkReport, MetricSet, PeerGroupList, PeerGroupView, PeerList, PeerModel, ReportRequest,
    ReturnBatch, ReturnList, SubmitOutcome,
};
use psn_core::names::MemberId;
use std::sync::OnceLock;
use time::OffsetDateTime;

/// Who asks for a report.
pub enum Viewer {
    /// The network's people.
    Operator,
    /// A member's people or gateway.
    Member(MemberId),
}

/// Why a benchmark operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchmarkError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn not_built() -> BenchmarkError {
    BenchmarkError::NotFound("not built yet".into())
}

pub fn metrics(_a: &Authority) -> &MetricSet {
    static SET: OnceLock<MetricSet> = OnceLock::new();
    SET.get_or_init(|| MetricSet {
        version: "stub".into(),
        metrics: Vec::new(),
    })
}

pub fn model(_a: &Authority) -> &PeerModel {
    static MODEL: OnceLock<PeerModel> = OnceLock::new();
    MODEL.get_or_init(|| PeerModel {
        version: "stub".into(),
        class: "LA".into(),
        k: 15,
        variables: Vec::new(),
        method: String::new(),
    })
}

pub async fn report(
    _a: &Authority,
    _viewer: &Viewer,
    _request: &ReportRequest,
    _now: OffsetDateTime,
) -> Result<BenchmarkReport, BenchmarkError> {
    Err(not_built())
}

pub async fn peers(_a: &Authority, _member: &MemberId) -> Result<PeerList, BenchmarkError> {
    Err(not_built())
}

/// A submission's body.
pub enum Submission<'a> {
    Csv(&'a [u8]),
    Batch(ReturnBatch),
}

pub async fn submit(
    _a: &Authority,
    _member: &MemberId,
    _actor: &str,
    _body: Submission<'_>,
    _dry_run: bool,
    _now: OffsetDateTime,
) -> Result<SubmitOutcome, BenchmarkError> {
    Err(not_built())
}

pub async fn returns(_a: &Authority, _member: &MemberId) -> Result<ReturnList, BenchmarkError> {
    Err(not_built())
}

pub async fn peer_groups(
    _a: &Authority,
    _owner: &MemberId,
) -> Result<PeerGroupList, BenchmarkError> {
    Err(not_built())
}

pub async fn save_peer_group(
    _a: &Authority,
    _owner: &MemberId,
    _actor: &str,
    _name: &str,
    _members: &[MemberId],
    _now: OffsetDateTime,
) -> Result<PeerGroupView, BenchmarkError> {
    Err(not_built())
}

pub async fn delete_peer_group(
    _a: &Authority,
    _owner: &MemberId,
    _name: &str,
) -> Result<(), BenchmarkError> {
    Err(not_built())
}
