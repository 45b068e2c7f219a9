//! Members' returns: reading them from CSV (or a JSON batch) and validating them.
//!
//! Two levels of failure, as in `psn-orgdata`:
//!
//! * a **file** that cannot be read as returns at all is a [`FileError`] and nothing in it is
//!   looked at further: over [`MAX_CSV_BYTES`] or [`MAX_ROWS`], not UTF-8, no header, a
//!   required column missing, an unknown or repeated column, no data rows;
//! * a **row** with problems is reported with every problem found in it (a ragged row, a cost
//!   written `£5` or `1,000`, a wrong unit, a future year…), and the other rows are still
//!   checked, so one round trip tells the submitter everything to fix.
//!
//! # The CSV format
//!
//! A header row naming the columns, in any order. Required: `process` (`psn:4004`), `year`
//! (`2024-25`), `cost` (total pounds in the year, digits with at most two decimals: `408000`
//! or `408000.50`; no `£`, thousands separators, minus or exponent), `volume` (whole units,
//! at least 1), `unit` (the metric's unit, e.g. `invoice paid`, guarding against wrong units).
//! Optional: `fte` (decimal, 0 to 1,000,000), `satisfaction` (percent, 0 to 100), `note`,
//! `confirm_outlier` and `publish_now` (`yes`, `no`, `true`, `false` or empty for no). The
//! columns [`returns_csv`](crate::export::returns_csv) adds on export (`member`, `version`,
//! `superseded`, `submitted_by`, `submitted_at`, `cost_per_unit`, `synthetic`) are accepted
//! and ignored, so an export can be corrected and submitted again. A UTF-8 byte-order mark is
//! skipped.

use std::collections::HashMap;

use psn_api::{
    FinancialYear, MetricSet, Quartiles, ReturnBatch, ReturnInput, RowStatus, RowVerdict,
    SubmitOutcome,
};

use crate::metrics::find;
use crate::text::{clip, plural, pounds};

/// Largest CSV file accepted.
pub const MAX_CSV_BYTES: usize = 2 * 1024 * 1024;
/// Most rows (returns) in one submission.
pub const MAX_ROWS: usize = 10_000;
/// Largest total cost of a return, pence (£10,000,000,000).
pub const MAX_COST_PENCE: u64 = 1_000_000_000_000;
/// Largest volume of a return.
pub const MAX_VOLUME: u64 = 10_000_000_000;
/// Longest note, characters.
pub const MAX_NOTE_CHARS: usize = 2_000;
/// Largest FTE.
pub const MAX_FTE: f64 = 1_000_000.0;
/// How many benchmarked processes a "not benchmarked" message lists.
const LIST_PROCESSES: usize = 5;
/// How much of a bad value a message quotes.
const QUOTE_CHARS: usize = 40;

const REQUIRED: [&str; 5] = ["process", "year", "cost", "volume", "unit"];
const OPTIONAL: [&str; 5] = [
    "fte",
    "satisfaction",
    "note",
    "confirm_outlier",
    "publish_now",
];
/// Columns an export adds, ignored on the way back in.
pub(crate) const EXPORT_ONLY: [&str; 7] = [
    "member",
    "version",
    "superseded",
    "submitted_by",
    "submitted_at",
    "cost_per_unit",
    "synthetic",
];

/// Why a whole file of returns was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// Over [`MAX_CSV_BYTES`].
    #[error("the file is {size} bytes; at most {MAX_CSV_BYTES} bytes are accepted, split it into several submissions")]
    TooLarge {
        /// Its size.
        size: usize,
    },
    /// Over [`MAX_ROWS`].
    #[error("the file has more than {MAX_ROWS} returns; split it into several submissions")]
    TooManyRows,
    /// Not UTF-8 text.
    #[error("the file is not UTF-8 text (line {line}); save it as CSV UTF-8")]
    NotUtf8 {
        /// Line of the first invalid byte.
        line: u64,
    },
    /// No data rows (empty, or a header only).
    #[error("no returns: the file needs a header row and at least one row of figures")]
    NoReturns,
    /// Required columns absent from the header.
    #[error("the header has no {} column; required: process, year, cost, volume, unit", .0.join(", "))]
    MissingColumns(Vec<String>),
    /// Columns the format does not have.
    #[error("unknown column {}; the columns are process, year, cost, volume, unit, fte, satisfaction, note, confirm_outlier, publish_now", .0.join(", "))]
    UnknownColumns(Vec<String>),
    /// A column named twice.
    #[error("the header names the column {0} twice")]
    DuplicateColumn(String),
    /// The CSV structure is broken.
    #[error("line {line}: {message}")]
    Csv {
        /// Line.
        line: u64,
        /// What is wrong.
        message: String,
    },
}

/// One row as read: where it was, what it names (for the verdict), and the return or every
/// problem found reading it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRow {
    /// CSV line (header is line 1), or position in a JSON batch from 1.
    pub line: u64,
    /// The process as given, clipped.
    pub process: Option<String>,
    /// The year as given, clipped.
    pub year: Option<String>,
    /// The return, or what is wrong with the row.
    pub input: Result<ReturnInput, Vec<String>>,
}

/// Reads a CSV file of returns (see the module docs for the format).
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<ParsedRow>, FileError> {
    if bytes.len() > MAX_CSV_BYTES {
        return Err(FileError::TooLarge { size: bytes.len() });
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| FileError::NotUtf8 {
        line: 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64,
    })?;
    if text.trim().is_empty() {
        return Err(FileError::NoReturns);
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(&e))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let mut columns: HashMap<&str, usize> = HashMap::new();
    let mut unknown = Vec::new();
    for (i, name) in headers.iter().enumerate() {
        if REQUIRED.contains(&name.as_str()) || OPTIONAL.contains(&name.as_str()) {
            if columns.insert(name.as_str(), i).is_some() {
                return Err(FileError::DuplicateColumn(name.clone()));
            }
        } else if !EXPORT_ONLY.contains(&name.as_str()) {
            unknown.push(format!("{:?}", clip(name, QUOTE_CHARS)));
        }
    }
    if !unknown.is_empty() {
        unknown.truncate(10);
        return Err(FileError::UnknownColumns(unknown));
    }
    let missing: Vec<String> = REQUIRED
        .iter()
        .filter(|c| !columns.contains_key(*c))
        .map(|c| (*c).to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(FileError::MissingColumns(missing));
    }

    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(&e)),
        }
        if rows.len() == MAX_ROWS {
            return Err(FileError::TooManyRows);
        }
        let line = record.position().map_or(0, csv::Position::line);
        let field = |name: &str| {
            columns
                .get(name)
                .and_then(|&i| record.get(i))
                .map(str::trim)
        };
        rows.push(read_row(line, headers.len(), &record, &field));
    }
    if rows.is_empty() {
        return Err(FileError::NoReturns);
    }
    Ok(rows)
}

fn csv_error(e: &csv::Error) -> FileError {
    FileError::Csv {
        line: e.position().map_or(0, csv::Position::line),
        message: e.to_string(),
    }
}

/// Reads one record; `field` gives a column's trimmed value (none when the row is short).
fn read_row<'r>(
    line: u64,
    width: usize,
    record: &'r csv::StringRecord,
    field: &dyn Fn(&str) -> Option<&'r str>,
) -> ParsedRow {
    let mut problems = Vec::new();
    if record.len() != width {
        problems.push(format!(
            "the row has {} fields but the header has {width}",
            record.len()
        ));
    }
    let process = field("process").unwrap_or("");
    let year_text = field("year").unwrap_or("");
    if process.is_empty() {
        problems.push("process is empty; give a process such as psn:4004".to_owned());
    }
    let year = year_text
        .parse::<FinancialYear>()
        .map_err(|e| problems.push(format!("year: {e}")))
        .ok();
    let cost_pence = parse_pounds(field("cost").unwrap_or(""))
        .map_err(|e| problems.push(e))
        .ok();
    let volume = parse_volume(field("volume").unwrap_or(""))
        .map_err(|e| problems.push(e))
        .ok();
    let unit = field("unit").unwrap_or("");
    if unit.is_empty() {
        problems.push("unit is empty; give the metric's unit, e.g. invoice paid".to_owned());
    }
    let fte = optional_decimal(field("fte"), "fte", MAX_FTE).map_err(|e| problems.push(e));
    let satisfaction = optional_decimal(field("satisfaction"), "satisfaction", 100.0)
        .map_err(|e| problems.push(e));
    let confirm_outlier =
        boolean(field("confirm_outlier"), "confirm_outlier").map_err(|e| problems.push(e));
    let publish_now = boolean(field("publish_now"), "publish_now").map_err(|e| problems.push(e));
    let note = field("note").filter(|n| !n.is_empty()).map(str::to_owned);
    let shown = |s: &str| (!s.is_empty()).then(|| clip(s, QUOTE_CHARS));
    let input = match (
        year,
        cost_pence,
        volume,
        fte,
        satisfaction,
        confirm_outlier,
        publish_now,
    ) {
        (
            Some(year),
            Some(cost_pence),
            Some(volume),
            Ok(fte),
            Ok(satisfaction_percent),
            Ok(confirm_outlier),
            Ok(publish_now),
        ) if problems.is_empty() => Ok(ReturnInput {
            process: process.to_owned(),
            year,
            cost_pence,
            volume,
            unit: unit.to_owned(),
            fte,
            satisfaction_percent,
            note,
            confirm_outlier,
            publish_now,
        }),
        _ => Err(problems),
    };
    ParsedRow {
        line,
        process: shown(process),
        year: shown(year_text),
        input,
    }
}

/// Pounds with at most two decimals, as pence: `408000`, `408000.5`, `408000.50`.
fn parse_pounds(text: &str) -> Result<u64, String> {
    let bad = |why: &str| {
        format!(
            "cost {:?} {why}; write pounds as digits with at most two decimals, e.g. 408000.50",
            clip(text, QUOTE_CHARS)
        )
    };
    if text.is_empty() {
        return Err("cost is empty; give the total cost in pounds, e.g. 408000.50".to_owned());
    }
    if text.starts_with('-') {
        return Err(bad("is negative"));
    }
    if text.contains('£') || text.contains(',') {
        return Err(bad("has a £ sign or thousands separators"));
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || (text.contains('.') && fraction.is_empty())
    {
        return Err(bad("is not a plain amount"));
    }
    if fraction.len() > 2 {
        return Err(bad("has more than two decimals"));
    }
    let pounds: u64 = whole.parse().map_err(|_| bad("is far too large"))?;
    let pence: u64 = format!("{fraction:0<2}")
        .parse()
        .map_err(|_| bad("is not a plain amount"))?;
    pounds
        .checked_mul(100)
        .and_then(|p| p.checked_add(pence))
        .ok_or_else(|| bad("is far too large"))
}

fn parse_volume(text: &str) -> Result<u64, String> {
    let bad = |why: &str| {
        format!(
            "volume {:?} {why}; give a whole number of units, at least 1, without separators",
            clip(text, QUOTE_CHARS)
        )
    };
    if text.is_empty() {
        return Err("volume is empty; give the number of units handled in the year".to_owned());
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("is not a whole number"));
    }
    match text.parse::<u64>() {
        Ok(0) => Err(bad("is 0")),
        Ok(v) => Ok(v),
        Err(_) => Err(bad("is far too large")),
    }
}

/// An optional plain decimal (digits, at most one point; no sign or exponent) from 0 to `max`.
fn optional_decimal(text: Option<&str>, name: &str, max: f64) -> Result<Option<f64>, String> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let plain = text.bytes().any(|b| b.is_ascii_digit())
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|&b| b == b'.').count() <= 1;
    let value = text.parse::<f64>().ok().filter(|v| plain && v.is_finite());
    match value {
        Some(v) if (0.0..=max).contains(&v) => Ok(Some(v)),
        _ => Err(format!(
            "{name} {:?} is not a number from 0 to {}",
            clip(text, QUOTE_CHARS),
            crate::text::thousands(max)
        )),
    }
}

fn boolean(text: Option<&str>, name: &str) -> Result<bool, String> {
    match text.unwrap_or("").to_ascii_lowercase().as_str() {
        "" | "no" | "false" => Ok(false),
        "yes" | "true" => Ok(true),
        other => Err(format!(
            "{name} {:?} is not yes, no, true, false or empty",
            clip(other, QUOTE_CHARS)
        )),
    }
}

/// The rows of a JSON batch, numbered from 1. Over [`MAX_ROWS`] is refused whole; the values
/// are checked by [`validate`] like a CSV file's.
pub fn from_batch(batch: &ReturnBatch) -> Result<Vec<ParsedRow>, FileError> {
    if batch.returns.len() > MAX_ROWS {
        return Err(FileError::TooManyRows);
    }
    if batch.returns.is_empty() {
        return Err(FileError::NoReturns);
    }
    Ok(batch
        .returns
        .iter()
        .zip(1u64..)
        .map(|(input, line)| ParsedRow {
            line,
            process: Some(clip(&input.process, QUOTE_CHARS)),
            year: Some(input.year.to_string()),
            input: Ok(input.clone()),
        })
        .collect())
}

/// A member's current stored return for a process and year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Existing {
    /// Its version (1 for the first return).
    pub version: u32,
    /// Its total cost, pence.
    pub cost_pence: u64,
    /// Its volume.
    pub volume: u64,
}

/// The verdict on a submission, and the returns to store when it may be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    /// Per-row verdicts and counts; `stored` and `dry_run` are false, for the caller to set.
    pub outcome: SubmitOutcome,
    /// Every row's return when every row is accepted or corrected; otherwise empty (all or
    /// nothing).
    pub accepted: Vec<ReturnInput>,
}

/// Checks every row, collecting every problem.
///
/// Per row: the process has a metric; the unit is the metric's (trimmed, any case); cost from
/// 1p to £10bn; volume at most 10bn; the year has started by `today` (and is 2000-01 or
/// later); the note at most 2,000 characters with no control characters but newlines; FTE and
/// satisfaction finite and in range; the process and year only once in the submission (every
/// copy is refused, naming the other lines). A row with no such problem is then checked for an
/// outlying cost per unit: outside the metric's plausible range, or outside the network's
/// fences (Q1 − 3·IQR to Q3 + 3·IQR) when `network` gives quartiles; an outlier needs
/// `confirm_outlier`. A valid row for which `existing` has a return is a correction.
pub fn validate(
    rows: Vec<ParsedRow>,
    metrics: &MetricSet,
    today: time::Date,
    existing: &dyn Fn(&str, FinancialYear) -> Option<Existing>,
    network: &dyn Fn(&str, FinancialYear) -> Option<Quartiles>,
) -> Validated {
    let mut lines_by_key: HashMap<(String, FinancialYear), Vec<u64>> = HashMap::new();
    for row in &rows {
        if let Ok(input) = &row.input {
            lines_by_key
                .entry((input.process.clone(), input.year))
                .or_default()
                .push(row.line);
        }
    }
    let current = FinancialYear::containing(today);
    let mut outcome = SubmitOutcome {
        stored: false,
        dry_run: false,
        accepted: 0,
        corrected: 0,
        needs_confirmation: 0,
        refused: 0,
        rows: Vec::with_capacity(rows.len()),
    };
    let mut accepted = Vec::new();
    for row in rows {
        let (status, problems) = match &row.input {
            Err(problems) => (RowStatus::Refused, problems.clone()),
            Ok(input) => {
                let others: Vec<u64> = lines_by_key
                    .get(&(input.process.clone(), input.year))
                    .map(|lines| lines.iter().copied().filter(|&l| l != row.line).collect())
                    .unwrap_or_default();
                judge(input, metrics, current, &others, existing, network)
            }
        };
        match status {
            RowStatus::Accepted => outcome.accepted += 1,
            RowStatus::Corrected => outcome.corrected += 1,
            RowStatus::NeedsConfirmation => outcome.needs_confirmation += 1,
            RowStatus::Refused => outcome.refused += 1,
        }
        if let (Ok(input), RowStatus::Accepted | RowStatus::Corrected) = (&row.input, status) {
            accepted.push(input.clone());
        }
        outcome.rows.push(RowVerdict {
            line: row.line,
            process: row.process,
            year: row.year,
            status,
            problems,
        });
    }
    if outcome.refused > 0 || outcome.needs_confirmation > 0 {
        accepted.clear();
    }
    Validated { outcome, accepted }
}

/// One well-formed row's verdict.
fn judge(
    input: &ReturnInput,
    metrics: &MetricSet,
    current: FinancialYear,
    duplicates: &[u64],
    existing: &dyn Fn(&str, FinancialYear) -> Option<Existing>,
    network: &dyn Fn(&str, FinancialYear) -> Option<Quartiles>,
) -> (RowStatus, Vec<String>) {
    let mut problems = Vec::new();
    let process = clip(&input.process, QUOTE_CHARS);
    let metric = find(metrics, &input.process);
    match metric {
        None => {
            let listed: Vec<&str> = metrics
                .metrics
                .iter()
                .take(LIST_PROCESSES)
                .map(|m| m.process.as_str())
                .collect();
            let more = metrics.metrics.len().saturating_sub(LIST_PROCESSES);
            let tail = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            problems.push(format!(
                "{process:?} is not a benchmarked process; benchmarked are {}{tail}",
                listed.join(", ")
            ));
        }
        Some(metric) => {
            if !input.unit.trim().eq_ignore_ascii_case(metric.unit.trim()) {
                problems.push(format!(
                    "{} counts {:?}; this row says {:?}",
                    metric.process,
                    metric.unit,
                    clip(&input.unit, QUOTE_CHARS)
                ));
            }
        }
    }
    if input.cost_pence < 1 {
        problems.push("cost is 0; a return's cost is at least 1p".to_owned());
    } else if input.cost_pence > MAX_COST_PENCE {
        problems.push(format!(
            "cost {} is over the £10,000,000,000 limit",
            pounds(input.cost_pence as f64 / 100.0)
        ));
    }
    if input.volume < 1 {
        problems.push("volume is 0; a return counts at least 1 unit".to_owned());
    } else if input.volume > MAX_VOLUME {
        problems.push(format!(
            "volume {} is over the 10,000,000,000 limit",
            crate::text::thousands(input.volume as f64)
        ));
    }
    if input.year.start > current.start {
        problems.push(format!(
            "year {} has not started yet (the current financial year is {current})",
            input.year
        ));
    } else if input.year.start < FinancialYear::EARLIEST {
        problems.push(format!(
            "year {} is before {}-{:02}",
            input.year,
            FinancialYear::EARLIEST,
            (FinancialYear::EARLIEST + 1) % 100
        ));
    }
    if let Some(note) = &input.note {
        let chars = note.chars().count();
        if chars > MAX_NOTE_CHARS {
            problems.push(format!(
                "note is {chars} characters; at most {MAX_NOTE_CHARS}"
            ));
        }
        if note.chars().any(|c| c.is_control() && c != '\n') {
            problems
                .push("note contains control characters (only line breaks are allowed)".to_owned());
        }
    }
    if let Some(fte) = input.fte {
        if !(fte.is_finite() && (0.0..=MAX_FTE).contains(&fte)) {
            problems.push("fte must be a number from 0 to 1,000,000".to_owned());
        }
    }
    if let Some(s) = input.satisfaction_percent {
        if !(s.is_finite() && (0.0..=100.0).contains(&s)) {
            problems.push("satisfaction must be a percentage from 0 to 100".to_owned());
        }
    }
    if !duplicates.is_empty() {
        let lines: Vec<String> = duplicates.iter().take(5).map(u64::to_string).collect();
        problems.push(format!(
            "{process} {} is also on line {}; a submission holds one return per process and year",
            input.year,
            lines.join(", ")
        ));
    }
    let Some(metric) = metric.filter(|_| problems.is_empty()) else {
        return (RowStatus::Refused, problems);
    };

    let per_unit = input.cost_pence as f64 / 100.0 / input.volume as f64;
    let unit = &metric.unit;
    let mut outliers = Vec::new();
    if per_unit < metric.plausible_low {
        outliers.push(format!(
            "cost per {unit} {} is below the plausible lowest {} for {}",
            pounds(per_unit),
            pounds(metric.plausible_low),
            metric.process
        ));
    } else if per_unit > metric.plausible_high {
        outliers.push(format!(
            "cost per {unit} {} is above the plausible highest {} for {}",
            pounds(per_unit),
            pounds(metric.plausible_high),
            metric.process
        ));
    }
    if let Some(q) = network(&input.process, input.year) {
        let iqr = q.q3 - q.q1;
        let (low, high) = (q.q1 - 3.0 * iqr, q.q3 + 3.0 * iqr);
        if per_unit < low {
            outliers.push(format!(
                "cost per {unit} {} is below the network's lower fence {} (Q1 − 3 × IQR over {} returns)",
                pounds(per_unit),
                pounds(low),
                q.contributors
            ));
        } else if per_unit > high {
            outliers.push(format!(
                "cost per {unit} {} is above the network's upper fence {} (Q3 + 3 × IQR over {} returns)",
                pounds(per_unit),
                pounds(high),
                q.contributors
            ));
        }
    }
    if !outliers.is_empty() && !input.confirm_outlier {
        outliers.push(format!(
            "check the cost and the {} counted; if they are right, set confirm_outlier",
            plural(unit)
        ));
        return (RowStatus::NeedsConfirmation, outliers);
    }
    let status = if existing(&input.process, input.year).is_some() {
        RowStatus::Corrected
    } else {
        RowStatus::Accepted
    };
    (status, Vec::new())
}
