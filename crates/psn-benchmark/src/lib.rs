//! Benchmarks: what each process costs the members that run it, against their peers and the
//! providers in the catalogue.
//!
//! The data flows in one direction, and this crate is the pure logic of every step (no
//! database, no HTTP; the authority stores and serves):
//!
//! 1. [`metrics`]: the published metric definitions (`data/benchmarks/metrics.json`) say per
//!    process what one unit of volume is, what the cost includes, the plausible range of a
//!    cost per unit and published reference figures with their sources.
//! 2. [`returns`]: a member submits returns (CSV or JSON): one process, one financial year,
//!    total cost and volume. Every row is checked, all problems are reported together, and
//!    nothing is stored unless every row passes (outliers need the submitter's confirmation).
//! 3. [`peers`]: an open nearest-neighbour model (`data/benchmarks/peer_model.json`) over the
//!    council profiles of `psn-orgdata` gives each council its automatic peer group, with
//!    each variable's share of every distance so a member can see why.
//! 4. [`report`]: a report for one process and year sets a member's cost per unit against the
//!    network's distribution and its peers', under publication rules (embargo, at least k
//!    contributors, member-chosen groups see only published figures), and projects savings
//!    from the peers' median and from providers' listed prices.
//! 5. [`export`]: reports and returns as CSV, safe to open in a spreadsheet.
//! 6. [`synthetic`]: clearly marked demo returns around the published reference figures.

pub mod export;
pub mod metrics;
pub mod peers;
pub mod report;
pub mod returns;
pub mod synthetic;

mod text;

pub use text::{pounds, whole_pounds};

/// Why metric definitions or the peer model could not be loaded, or a peer question answered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The metric definitions as a whole are unusable (not JSON of the right shape, no
    /// version, no metrics).
    #[error("metric definitions: {0}")]
    MetricSet(String),
    /// One metric definition has a bad field.
    #[error("metric definitions, {metric}, field `{field}`: {message}")]
    Metric {
        /// The metric's process (or its position, when it has none).
        metric: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The peer model as a whole is unusable.
    #[error("peer model: {0}")]
    Model(String),
    /// One variable of the peer model has a bad field.
    #[error("peer model, variable {variable:?}, field `{field}`: {message}")]
    Variable {
        /// The variable's name (or its position).
        variable: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A member has no profile, so it cannot be placed in the model.
    #[error("{0} has no profile to compare it by")]
    NoProfile(String),
    /// A member is not among the members the peer index compares.
    #[error("{0} is not among the members the peer model compares")]
    NotInPopulation(String),
    /// The reference data (process taxonomy) behind the definitions could not be loaded.
    #[error(transparent)]
    Reference(#[from] psn_orgdata::Error),
}
