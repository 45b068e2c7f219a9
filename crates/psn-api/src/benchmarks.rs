//! Benchmarks (docs/benchmarks.md): metric definitions per process, members' returns, peer
//! groups from an open nearest-neighbour model, and reports with projected savings.
//!
//! Money on the way in is whole pence (a return's cost); figures a report computes (cost per
//! unit, quartiles, savings) are pounds as `f64`, rounded to the penny for totals, because a
//! cost per unit is often a fraction of a penny apart from its neighbours.

use crate::{Price, ProcessLabel};
use psn_core::names::{MemberId, ServiceId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A UK public-sector financial year, 1 April to 31 March, written `2024-25`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FinancialYear {
    /// The calendar year it starts in (2024 for `2024-25`).
    pub start: u16,
}

impl FinancialYear {
    /// Earliest year a return may be for.
    pub const EARLIEST: u16 = 2000;
    /// Latest year a return may be for.
    pub const LATEST: u16 = 2099;

    /// The last day of the year (31 March of the following calendar year).
    pub fn last_day(&self) -> time::Date {
        // 31 March exists in every year, so this cannot fail for a year in range.
        time::Date::from_calendar_date(i32::from(self.start) + 1, time::Month::March, 31)
            .unwrap_or(time::Date::MAX)
    }

    /// The year that contains `date`.
    pub fn containing(date: time::Date) -> Self {
        let year = date.year();
        let start = if date.month() >= time::Month::April {
            year
        } else {
            year - 1
        };
        Self {
            start: u16::try_from(start.clamp(0, i32::from(u16::MAX))).unwrap_or(u16::MAX),
        }
    }
}

impl std::fmt::Display for FinancialYear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{:02}", self.start, (self.start + 1) % 100)
    }
}

impl std::str::FromStr for FinancialYear {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{:?} is not a financial year such as 2024-25 ({}-{:02} to {}-{:02})",
                text.chars().take(40).collect::<String>(),
                Self::EARLIEST,
                (Self::EARLIEST + 1) % 100,
                Self::LATEST,
                (Self::LATEST + 1) % 100
            )
        };
        let (first, second) = text.split_once('-').ok_or_else(bad)?;
        if first.len() != 4
            || second.len() != 2
            || !first
                .bytes()
                .chain(second.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let start: u16 = first.parse().map_err(|_| bad())?;
        let end: u16 = second.parse().map_err(|_| bad())?;
        if !(Self::EARLIEST..=Self::LATEST).contains(&start) || (start + 1) % 100 != end {
            return Err(bad());
        }
        Ok(Self { start })
    }
}

impl Serialize for FinancialYear {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FinancialYear {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A published figure to compare against, with where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceFigure {
    /// What was measured, e.g. `council cost per invoice (FOI study of 285 councils)`.
    pub label: String,
    /// Lowest reported, pounds per unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    /// Average or typical, pounds per unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typical: Option<f64>,
    /// Highest reported, pounds per unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
    /// The publication, e.g. `ReadSoft / NelsonHall FOI study, 2012`.
    pub source: String,
}

/// How one benchmarked process is measured: the unit of volume, what the cost includes, the
/// range a return's cost per unit is checked against, and published reference figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricDefinition {
    /// The process, e.g. `psn:4004`.
    pub process: String,
    /// Its label in the taxonomy.
    pub label: String,
    /// Back office or front office.
    pub office: Office,
    /// One unit of volume, singular, e.g. `invoice paid`.
    pub unit: String,
    /// What the volume counts over the financial year, e.g. `supplier invoices paid in the year`.
    pub volume: String,
    /// What the cost includes and excludes.
    pub cost_includes: String,
    /// Listing price units that mean the same unit (`invoice`), so a provider's price can be
    /// set against a member's own cost.
    pub price_units: Vec<String>,
    /// Lowest plausible cost per unit, pounds; a return below it is an outlier to confirm.
    pub plausible_low: f64,
    /// Highest plausible cost per unit, pounds; a return above it is an outlier to confirm.
    pub plausible_high: f64,
    /// Published figures, with sources; may be empty.
    pub references: Vec<ReferenceFigure>,
    /// The basis demo returns are generated around, pounds per unit, when no reference figure
    /// gives one (marked as the network's own illustration, not a source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demo_basis: Option<f64>,
    /// Units per resident a council typically handles in a year, for generating demo volumes.
    pub demo_units_per_resident: f64,
}

/// Which side of the organisation a process sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Office {
    /// Internal services: finance, people, technology.
    BackOffice,
    /// Services to residents and businesses.
    FrontOffice,
}

/// The published metric definitions, with their version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSet {
    /// Changes whenever a definition does, e.g. `2026.1`.
    pub version: String,
    /// One per benchmarked process.
    pub metrics: Vec<MetricDefinition>,
}

/// One return as submitted: a member's figures for one process and financial year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnInput {
    /// The process, e.g. `psn:4004`.
    pub process: String,
    /// The financial year.
    pub year: FinancialYear,
    /// Total cost of the process in the year, pence.
    pub cost_pence: u64,
    /// Units handled, in the metric's unit.
    pub volume: u64,
    /// The unit the volume is counted in; must be the metric's (guards against wrong units).
    pub unit: String,
    /// Full-time equivalent staff on the process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fte: Option<f64>,
    /// Share of service users satisfied, 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub satisfaction_percent: Option<f64>,
    /// Why the figures are what they are, or what a correction changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The submitter confirms a figure flagged as an outlier.
    #[serde(default)]
    pub confirm_outlier: bool,
    /// Publish these figures before the embargo ends.
    #[serde(default)]
    pub publish_now: bool,
}

/// A batch of returns in JSON (`POST /v1/gateway/benchmarks/returns`); CSV is accepted too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnBatch {
    /// The returns, at most 10,000.
    pub returns: Vec<ReturnInput>,
}

/// What happened to one row of a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowStatus {
    /// Valid; stored (or would be, on a dry run) as a first return.
    Accepted,
    /// Valid; stored as a correction, the previous version kept in the history.
    Corrected,
    /// Valid apart from an outlier the submitter has not confirmed.
    NeedsConfirmation,
    /// Invalid.
    Refused,
}

/// One row's verdict, with every problem found in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowVerdict {
    /// Line in the CSV file (the header is line 1), or position in a JSON batch from 1.
    pub line: u64,
    /// The row's process, as given (clipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    /// The row's year, as given (clipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<String>,
    /// The verdict.
    pub status: RowStatus,
    /// What is wrong or to confirm, one sentence each; empty when accepted.
    pub problems: Vec<String>,
}

/// The outcome of a submission. Returns are stored all or nothing: when any row is refused or
/// needs confirmation, nothing is stored (`stored` false, HTTP 422) and every row says why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmitOutcome {
    /// Whether the returns were stored.
    pub stored: bool,
    /// Whether this was a dry run (validated only).
    pub dry_run: bool,
    /// Rows accepted (first returns).
    pub accepted: u64,
    /// Rows accepted as corrections.
    pub corrected: u64,
    /// Rows with an unconfirmed outlier.
    pub needs_confirmation: u64,
    /// Rows refused.
    pub refused: u64,
    /// Every row, in order.
    pub rows: Vec<RowVerdict>,
}

/// A stored return, one version of a member's figures for a process and year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReturnView {
    /// The member.
    pub member: MemberId,
    /// The process.
    pub process: String,
    /// The year.
    pub year: FinancialYear,
    /// 1 for the first return, 2 for its first correction, and so on.
    pub version: u32,
    /// Whether a later version replaced it.
    pub superseded: bool,
    /// Total cost, pence.
    pub cost_pence: u64,
    /// Units handled.
    pub volume: u64,
    /// Cost per unit, pounds.
    pub cost_per_unit: f64,
    /// Staff, FTE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fte: Option<f64>,
    /// Satisfaction, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub satisfaction_percent: Option<f64>,
    /// The submitter's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The submitter confirmed an outlier.
    pub outlier_confirmed: bool,
    /// Published before the embargo at the member's request.
    pub publish_now: bool,
    /// Generated by `psn demo`, not a real body's figures.
    pub synthetic: bool,
    /// Who submitted it (a person, a gateway or the operator).
    pub submitted_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub submitted_at: OffsetDateTime,
}

/// A member's returns, newest version first within each process and year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReturnList {
    /// The returns.
    pub returns: Vec<ReturnView>,
}

/// How a peer-model variable enters the distance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VariableKind {
    /// A number, standardised to a z-score (optionally after a natural log).
    Numeric,
    /// A category: 0 when the same, 1 when different.
    Categorical,
    /// Latitude and longitude, each standardised; the difference is the length of the step.
    Location,
}

/// One variable of the peer model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerVariable {
    /// Name, e.g. `population`.
    pub name: String,
    /// What it is, for people.
    pub label: String,
    /// How it enters the distance.
    pub kind: VariableKind,
    /// Take the natural log before standardising (for skewed counts such as population).
    #[serde(default)]
    pub log: bool,
    /// Its weight in the distance.
    pub weight: f64,
    /// Where the values come from.
    pub source: String,
}

/// The published nearest-neighbour model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerModel {
    /// Changes whenever a variable or weight does, e.g. `2026.1`.
    pub version: String,
    /// Which member class it profiles (`LA`).
    pub class: String,
    /// How many nearest neighbours make the automatic peer group.
    pub k: u32,
    /// The variables and weights.
    pub variables: Vec<PeerVariable>,
    /// How the distance is computed, in words.
    pub method: String,
}

/// One variable's part in a peer's distance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariableShare {
    /// The variable's name.
    pub variable: String,
    /// Its share of the squared distance, percent (the shares add up to 100).
    pub share_percent: f64,
    /// The member's value, as people read it (`1,589,100`, `county council`).
    pub member_value: String,
    /// The peer's value.
    pub peer_value: String,
}

/// One peer: a member close to the subject in the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peer {
    /// 1 for the nearest.
    pub rank: u32,
    /// The peer.
    pub member: MemberId,
    /// Its name.
    pub name: String,
    /// Distance, rebased so that 0 is identical and 1 the most different pair in the network.
    pub distance: f64,
    /// Why: each variable's share of the distance.
    pub shares: Vec<VariableShare>,
}

/// A member's automatic peer group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerList {
    /// The member.
    pub member: MemberId,
    /// Its name.
    pub name: String,
    /// The model's version.
    pub model_version: String,
    /// Nearest first.
    pub peers: Vec<Peer>,
}

/// A peer group a member saved, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerGroupView {
    /// Its name: 1 to 64 letters, digits, `-` or `_`.
    pub name: String,
    /// The member that saved it.
    pub owner: MemberId,
    /// Its members (2 to 100).
    pub members: Vec<MemberId>,
    /// When it was last saved.
    #[serde(with = "time::serde::rfc3339")]
    pub saved_at: OffsetDateTime,
}

/// A peer group to save (`PUT /v1/gateway/benchmarks/peer-groups/{name}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerGroupSet {
    /// Its members (2 to 100).
    pub members: Vec<MemberId>,
}

/// A member's saved peer groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerGroupList {
    /// The groups, by name.
    pub groups: Vec<PeerGroupView>,
}

/// Which publication rule kept a figure back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PublicationRule {
    /// A member's own figures are shown to others only after the embargo or when it opts in.
    Embargo,
    /// An aggregate is shown only when at least k contributors stand behind it.
    KContributors,
}

/// A part of a report that was kept back, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Withheld {
    /// Which part, e.g. `peers' median`, `distribution`, `Kent County Council's figures`.
    pub part: String,
    /// The rule that applied.
    pub rule: PublicationRule,
    /// One sentence saying why, with the numbers.
    pub detail: String,
}

/// Quartiles of cost per unit across a set of contributors, pounds (inclusive method, as
/// spreadsheets' `QUARTILE.INC`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quartiles {
    /// How many contributors stand behind them.
    pub contributors: u64,
    /// Lower quartile.
    pub q1: f64,
    /// Median.
    pub median: f64,
    /// Upper quartile.
    pub q3: f64,
}

/// A red/amber/green band by quartile of cost per unit (lower cost is better).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Band {
    /// At or below the lower quartile.
    Green,
    /// Between the quartiles.
    Amber,
    /// Above the upper quartile.
    Red,
}

/// The subject member's own figures and where they stand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberPosition {
    /// The member.
    pub member: MemberId,
    /// Its name.
    pub name: String,
    /// Total cost, pounds.
    pub cost: f64,
    /// Units handled.
    pub volume: u64,
    /// Cost per unit, pounds.
    pub cost_per_unit: f64,
    /// Staff, FTE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fte: Option<f64>,
    /// Units per FTE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units_per_fte: Option<f64>,
    /// Satisfaction, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub satisfaction_percent: Option<f64>,
    /// Share of contributors with a lower cost per unit, percent (none when the distribution
    /// is withheld).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentile: Option<f64>,
    /// Band by quartile of the network distribution (none when it is withheld).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band: Option<Band>,
}

/// One peer in a report: its own figure only when published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerFigure {
    /// The peer.
    pub member: MemberId,
    /// Its name.
    pub name: String,
    /// Distance in the model (automatic peers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance: Option<f64>,
    /// Its published cost per unit, pounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_unit: Option<f64>,
    /// Its published volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<u64>,
    /// Whether it made a return for the year at all (shown only with the figure).
    pub published: bool,
}

/// How a projected saving is reached.
// A report holds a handful of savings, so boxing the provider variant would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SavingBasis {
    /// Running the process at the peers' median cost per unit (low: their upper quartile,
    /// high: their lower quartile).
    PeersMedian,
    /// Buying from a provider in the catalogue at its listed price (low: the top of its
    /// price range, high: the bottom).
    Provider {
        /// The listing.
        service: ServiceId,
        /// Its title.
        title: String,
        /// The provider.
        provider: MemberId,
        /// The provider's name.
        provider_name: String,
        /// The listed price.
        price: Price,
    },
}

/// A projected yearly saving (negative: standing apart is cheaper), with its formula.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saving {
    /// How.
    pub basis: SavingBasis,
    /// The formula with the numbers in, e.g. `(£3.40 − £2.10) × 120,000 invoices = £156,000`.
    pub formula: String,
    /// Pounds a year, cautious end.
    pub low: f64,
    /// Pounds a year, central.
    pub central: f64,
    /// Pounds a year, hopeful end.
    pub high: f64,
}

/// A provider of the process in the catalogue, with what the network measured of its service
/// (never self-reported) and its listed price per unit a year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasuredProvider {
    /// The listing.
    pub service: ServiceId,
    /// Its title.
    pub title: String,
    /// The provider.
    pub provider: MemberId,
    /// Its name.
    pub provider_name: String,
    /// The listed price, when it is in the metric's unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
    /// The price as pounds per unit a year, low to high, when comparable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_per_unit: Option<(f64, f64)>,
    /// Measured availability, percent, over the last 30 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_percent: Option<f64>,
    /// Measured median latency, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p50_ms: Option<u64>,
    /// Measured 95th percentile latency, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p95_ms: Option<u64>,
    /// Measured exchanges a day.
    pub calls_per_day: f64,
    /// Members that called it.
    pub consumers: u64,
}

/// Which peers a report compares against.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PeerChoice {
    /// The model's k nearest neighbours.
    #[default]
    Auto,
    /// A peer group the member saved, by name.
    Group(String),
}

impl std::fmt::Display for PeerChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerChoice::Auto => f.write_str("auto"),
            PeerChoice::Group(name) => f.write_str(name),
        }
    }
}

impl std::str::FromStr for PeerChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text == "auto" {
            return Ok(PeerChoice::Auto);
        }
        check_group_name(text)?;
        Ok(PeerChoice::Group(text.to_owned()))
    }
}

impl Serialize for PeerChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PeerChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Checks a saved peer group's name: 1 to 64 ASCII letters, digits, `-` or `_`, not `auto`.
pub fn check_group_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name != "auto"
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a peer group name: 1 to 64 letters, digits, - or _, and not \"auto\"",
            name.chars().take(70).collect::<String>()
        ))
    }
}

/// What to report on (`GET /v1/benchmarks/report?process=&member=&peers=&year=`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportRequest {
    /// The process, e.g. `psn:4004`.
    pub process: String,
    /// The subject member; a member's gateway may name only its own member (the default).
    pub member: Option<MemberId>,
    /// Which peers.
    pub peers: PeerChoice,
    /// The year; default: the latest year with returns for the process.
    pub year: Option<FinancialYear>,
}

impl ReportRequest {
    /// Reads a report request from query parameters `process` (required), `member`, `peers`
    /// and `year`, each at most once. Unknown parameters are refused, so a misspelt one cannot
    /// silently change what is reported; an empty value means the default.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, String> {
        let mut request = ReportRequest::default();
        let mut seen = std::collections::BTreeSet::new();
        for (name, value) in pairs {
            if !matches!(name, "process" | "member" | "peers" | "year") {
                return Err(format!(
                    "unknown parameter {:?}: a report takes process, member, peers and year",
                    name.chars().take(40).collect::<String>()
                ));
            }
            if !seen.insert(name) {
                return Err(format!("{name} may be given once"));
            }
            if value.is_empty() {
                continue;
            }
            match name {
                "process" => {
                    if value.len() > 64 || value.chars().any(char::is_control) {
                        return Err("process must be a process id such as psn:4004".to_owned());
                    }
                    request.process = value.to_owned();
                }
                "member" => {
                    request.member = Some(value.parse().map_err(|e| format!("member: {e}"))?);
                }
                "peers" => request.peers = value.parse()?,
                _ => request.year = Some(value.parse()?),
            }
        }
        if request.process.is_empty() {
            return Err("name the process (process=psn:4004)".to_owned());
        }
        Ok(request)
    }

    /// The query parameters [`ReportRequest::from_pairs`] reads back.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![("process", self.process.clone())];
        if let Some(member) = &self.member {
            pairs.push(("member", member.to_string()));
        }
        if self.peers != PeerChoice::Auto {
            pairs.push(("peers", self.peers.to_string()));
        }
        if let Some(year) = self.year {
            pairs.push(("year", year.to_string()));
        }
        pairs
    }
}

/// A benchmark report for one process and year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkReport {
    /// The process.
    pub process: ProcessLabel,
    /// How it is measured.
    pub metric: MetricDefinition,
    /// The metric definitions' version.
    pub metrics_version: String,
    /// The peer model's version.
    pub model_version: String,
    /// The year.
    pub year: FinancialYear,
    /// When the report was made.
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// Whether any figure behind it is synthetic (generated by `psn demo`).
    pub synthetic: bool,
    /// Quartiles across every contributor for the year (none when withheld).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<Quartiles>,
    /// The subject's figures and position (none when it made no return).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberPosition>,
    /// Which peers.
    pub peers_choice: PeerChoice,
    /// The peers, nearest first for automatic ones.
    pub peers: Vec<PeerFigure>,
    /// Quartiles across the peers' published figures (none when withheld).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_quartiles: Option<Quartiles>,
    /// Projected savings, peers' median first, then providers cheapest first.
    pub savings: Vec<Saving>,
    /// Providers of the process in the catalogue, with measured performance.
    pub providers: Vec<MeasuredProvider>,
    /// What was kept back, and why.
    pub withheld: Vec<Withheld>,
    /// Every published cost per unit for the year (pounds, ascending, unnamed), for the
    /// distribution chart; empty when the distribution is withheld.
    pub published_costs: Vec<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn financial_years_read_and_write() {
        let year: FinancialYear = "2024-25".parse().unwrap();
        assert_eq!(year.start, 2024);
        assert_eq!(year.to_string(), "2024-25");
        assert_eq!(year.last_day(), time::macros::date!(2025 - 03 - 31));
        assert_eq!(
            "1999-00".parse::<FinancialYear>().map(|y| y.start),
            Err(
                "\"1999-00\" is not a financial year such as 2024-25 (2000-01 to 2099-00)"
                    .to_owned()
            )
        );
        for bad in [
            "2024-26",
            "2024",
            "24-25",
            "2024-2025",
            "２０２４-25",
            "2024-2a",
            "",
            "-",
            "2099-01",
        ] {
            assert!(bad.parse::<FinancialYear>().is_err(), "{bad}");
        }
        assert_eq!(
            "2099-00".parse::<FinancialYear>().map(|y| y.start),
            Ok(2099)
        );
    }

    #[test]
    fn the_year_containing_a_date_starts_in_april() {
        let at = |d| FinancialYear::containing(d).to_string();
        assert_eq!(at(time::macros::date!(2026 - 03 - 31)), "2025-26");
        assert_eq!(at(time::macros::date!(2026 - 04 - 01)), "2026-27");
    }

    #[test]
    fn report_requests_round_trip_and_refuse_unknown_parameters() {
        let request = ReportRequest::from_pairs([
            ("process", "psn:4004"),
            ("member", "GB/LA/E10000016"),
            ("peers", "shire-counties"),
            ("year", "2024-25"),
        ])
        .unwrap();
        let pairs = request.to_pairs();
        let again = ReportRequest::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str()))).unwrap();
        assert_eq!(again, request);
        let refused =
            |pairs: &[(&str, &str)]| ReportRequest::from_pairs(pairs.iter().copied()).unwrap_err();
        assert!(refused(&[("process", "psn:4004"), ("proces", "x")]).contains("unknown parameter"));
        assert!(refused(&[("process", "psn:4004"), ("process", "psn:4005")]).contains("once"));
        assert!(refused(&[("member", "GB/LA/E10000016")]).contains("name the process"));
        assert!(refused(&[("process", "psn:4004"), ("peers", "a b")]).contains("peer group name"));
        assert!(refused(&[("process", "psn:4004"), ("year", "2024")]).contains("financial year"));
        assert!(refused(&[("process", "psn:4004"), ("member", "nobody")]).starts_with("member:"));
    }
}
