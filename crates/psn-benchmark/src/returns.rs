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
        // From the byte offset, not the reader's own line count, so CR LF files (spreadsheets,
        // a browser's text area) are numbered as an editor numbers them.
        let line = record.position().map_or(0, |p| {
            let at = usize::try_from(p.byte())
                .unwrap_or(usize::MAX)
                .min(text.len());
            // The reader's position is before any blank lines it skipped to reach the record.
            let blank = text.as_bytes()[at..]
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            1 + text.as_bytes()[..at + blank]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64
        });
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
            Err(problems) => {
                // What can still be checked of a row that did not read whole.
                let mut problems = problems.clone();
                if let Some(process) = row.process.as_deref() {
                    if find(metrics, process).is_none() {
                        problems.push(not_benchmarked(process, metrics));
                    }
                }
                if let Some(year) = row.year.as_deref().and_then(|y| y.parse().ok()) {
                    problems.extend(year_problem(year, current));
                }
                (RowStatus::Refused, problems)
            }
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

/// Says a process is not benchmarked, and which are (the first few).
fn not_benchmarked(process: &str, metrics: &MetricSet) -> String {
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
    format!(
        "{:?} is not a benchmarked process; benchmarked are {}{tail}",
        clip(process, QUOTE_CHARS),
        listed.join(", ")
    )
}

/// Why a year cannot have a return yet (or at all), if it cannot.
fn year_problem(year: FinancialYear, current: FinancialYear) -> Option<String> {
    if year.start > current.start {
        Some(format!(
            "year {year} has not started yet (the current financial year is {current})"
        ))
    } else if year.start < FinancialYear::EARLIEST {
        Some(format!(
            "year {year} is before {}-{:02}",
            FinancialYear::EARLIEST,
            (FinancialYear::EARLIEST + 1) % 100
        ))
    } else {
        None
    }
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
        None => problems.push(not_benchmarked(&input.process, metrics)),
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
    problems.extend(year_problem(input.year, current));
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

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const TODAY: time::Date = date!(2026 - 12 - 06);
    const HEADER: &str = "process,year,cost,volume,unit";

    fn metrics() -> MetricSet {
        crate::metrics::embedded().expect("metrics")
    }

    fn none_existing(_: &str, _: FinancialYear) -> Option<Existing> {
        None
    }

    fn no_network(_: &str, _: FinancialYear) -> Option<Quartiles> {
        None
    }

    fn check(text: &str) -> Validated {
        let rows = parse_csv(text.as_bytes()).expect("readable");
        validate(rows, &metrics(), TODAY, &none_existing, &no_network)
    }

    fn problems(v: &Validated) -> String {
        v.outcome
            .rows
            .iter()
            .flat_map(|r| r.problems.iter().cloned())
            .collect::<Vec<_>>()
            .join(" | ")
    }

    #[test]
    fn a_good_file_is_accepted_whole() {
        let text = "\u{feff}unit,process,year,cost,volume,fte,satisfaction,note,confirm_outlier,publish_now\n\
            invoice paid,psn:4004,2024-25,408000.50,120000,9.5,,\"paid, matched\",,yes\n\
            Employee Paid ,lgsl:979,2023-24,270000,5000,4,81.5,,no,FALSE\n";
        let v = check(text);
        assert_eq!(v.outcome.accepted, 2, "{}", problems(&v));
        assert_eq!(v.accepted.len(), 2);
        let first = &v.accepted[0];
        assert_eq!(first.cost_pence, 40_800_050);
        assert_eq!(first.volume, 120_000);
        assert_eq!(first.fte, Some(9.5));
        assert_eq!(first.note.as_deref(), Some("paid, matched"));
        assert!(first.publish_now);
        assert_eq!(v.outcome.rows[0].line, 2);
        assert_eq!(v.outcome.rows[1].process.as_deref(), Some("lgsl:979"));
        assert!(!v.outcome.stored && !v.outcome.dry_run);
    }

    #[test]
    fn bad_values_are_all_reported() {
        let cases = [
            ("psn:4004,2024-25,-5,100,invoice paid", "negative"),
            (
                "psn:4004,2024-25,1e9,100,invoice paid",
                "not a plain amount",
            ),
            ("psn:4004,2024-25,£5,100,invoice paid", "£ sign"),
            (
                "psn:4004,2024-25,\"1,000\",100,invoice paid",
                "thousands separators",
            ),
            (
                "psn:4004,2024-25,NaN,100,invoice paid",
                "not a plain amount",
            ),
            (
                "psn:4004,2024-25,inf,100,invoice paid",
                "not a plain amount",
            ),
            ("psn:4004,2024-25,5.123,100,invoice paid", "two decimals"),
            ("psn:4004,2024-25,5.,100,invoice paid", "not a plain amount"),
            (
                "psn:4004,2024-25,99999999999999999999999,100,invoice paid",
                "far too large",
            ),
            ("psn:4004,2024-25,500,0,invoice paid", "is 0"),
            ("psn:4004,2024-25,500,1.5,invoice paid", "whole number"),
            ("psn:4004,2024-25,500,-3,invoice paid", "whole number"),
            ("psn:4004,2024-25,0,100,invoice paid", "at least 1p"),
            (
                "psn:4004,2024-25,100000000001,100,invoice paid",
                "£10,000,000,000",
            ),
            (
                "psn:4004,2024-25,500,10000000001,invoice paid",
                "10,000,000,000",
            ),
            (
                "psn:4004,2024-25,500,100,payslip",
                "psn:4004 counts \"invoice paid\"; this row says \"payslip\"",
            ),
            ("psn:4004,2027-28,500,100,invoice paid", "has not started"),
            (
                "psn:4004,1999-00,500,100,invoice paid",
                "not a financial year",
            ),
            ("psn:4004,2024,500,100,invoice paid", "not a financial year"),
            (
                "psn:9999,2024-25,500,100,invoice paid",
                "benchmarked are psn:4004",
            ),
            (",2024-25,500,100,invoice paid", "process is empty"),
            ("psn:4004,2024-25,500,100,", "unit is empty"),
            ("psn:4004,2024-25,500,100", "fields but the header has 5"),
            (
                "psn:4004,2024-25,500,100,invoice paid,extra",
                "fields but the header has 5",
            ),
        ];
        for (row, expect) in cases {
            let v = check(&format!("{HEADER}\n{row}\n"));
            assert_eq!(v.outcome.refused, 1, "{row}: {}", problems(&v));
            assert!(v.accepted.is_empty());
            assert!(problems(&v).contains(expect), "{row}: {}", problems(&v));
        }
        // Several problems in one row are reported together.
        let v = check(&format!("{HEADER}\npsn:4004,2030-31,£5,0,payslip\n"));
        assert_eq!(v.outcome.rows[0].problems.len(), 3, "{}", problems(&v));
        let v = check(&format!("{HEADER}\npsn:4004,2024-25,5,10,payslip\n"));
        assert!(problems(&v).contains("counts"), "{}", problems(&v));
    }

    #[test]
    fn optional_columns_are_checked() {
        let header =
            "process,year,cost,volume,unit,fte,satisfaction,note,confirm_outlier,publish_now";
        let cases = [
            ("psn:4004,2024-25,500,100,invoice paid,-1,,,,", "fte"),
            ("psn:4004,2024-25,500,100,invoice paid,NaN,,,,", "fte"),
            ("psn:4004,2024-25,500,100,invoice paid,inf,,,,", "fte"),
            ("psn:4004,2024-25,500,100,invoice paid,2000000,,,,", "fte"),
            (
                "psn:4004,2024-25,500,100,invoice paid,,101,,,",
                "satisfaction",
            ),
            (
                "psn:4004,2024-25,500,100,invoice paid,,1e1,,,",
                "satisfaction",
            ),
            (
                "psn:4004,2024-25,500,100,invoice paid,,,,maybe,",
                "confirm_outlier",
            ),
            ("psn:4004,2024-25,500,100,invoice paid,,,,,1", "publish_now"),
            (
                "psn:4004,2024-25,500,100,invoice paid,,,\"bell\u{7}\",,",
                "control characters",
            ),
            (
                "psn:4004,2024-25,500,100,invoice paid,,,\"tab\there\",,",
                "control characters",
            ),
        ];
        for (row, expect) in cases {
            let v = check(&format!("{header}\n{row}\n"));
            assert_eq!(v.outcome.refused, 1, "{row}: {}", problems(&v));
            assert!(problems(&v).contains(expect), "{row}: {}", problems(&v));
        }
        let long = "n".repeat(MAX_NOTE_CHARS + 1);
        let v = check(&format!(
            "{header}\npsn:4004,2024-25,500,100,invoice paid,,,{long},,\n"
        ));
        assert!(
            problems(&v).contains("2,000") || problems(&v).contains("2000"),
            "{}",
            problems(&v)
        );
        // A line break is allowed in a note, and so is formula-looking text (escaped on export).
        let v = check(&format!(
            "{header}\npsn:4004,2024-25,500,100,invoice paid,,,\"line one\nline two\",,\n\
             psn:4005,2024-25,500,100,invoice raised,,,\"=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",,\n"
        ));
        assert_eq!(v.outcome.accepted, 2, "{}", problems(&v));
        assert_eq!(
            v.accepted[1].note.as_deref(),
            Some("=HYPERLINK(\"http://x\",\"y\")")
        );
    }

    #[test]
    fn duplicates_refuse_every_copy() {
        let v = check(&format!(
            "{HEADER}\npsn:4004,2024-25,500,100,invoice paid\n\
             psn:4004,2023-24,500,100,invoice paid\n\
             psn:4004,2024-25,600,100,invoice paid\n"
        ));
        assert_eq!(v.outcome.refused, 2);
        assert_eq!(v.outcome.accepted, 1);
        assert!(v.accepted.is_empty(), "all or nothing");
        assert!(v.outcome.rows[0].problems[0].contains("also on line 4"));
        assert!(v.outcome.rows[2].problems[0].contains("also on line 2"));
        assert_eq!(v.outcome.rows[1].status, RowStatus::Accepted);
    }

    #[test]
    fn outliers_need_confirmation() {
        let header = "process,year,cost,volume,unit,confirm_outlier";
        // £100 per invoice: above the plausible £50.
        let v = check(&format!(
            "{header}\npsn:4004,2024-25,10000,100,invoice paid,\n"
        ));
        assert_eq!(v.outcome.needs_confirmation, 1);
        assert!(v.accepted.is_empty());
        let p = problems(&v);
        assert!(p.contains("£100.00") && p.contains("£50.00"), "{p}");
        let v = check(&format!(
            "{header}\npsn:4004,2024-25,10000,100,invoice paid,yes\n"
        ));
        assert_eq!(v.outcome.accepted, 1);
        assert!(v.outcome.rows[0].problems.is_empty());
        // The network's fences: Q1 2, Q3 4 → 2 − 6 = −4 and 4 + 6 = 10; £12 is outside.
        let network = |_: &str, _: FinancialYear| {
            Some(Quartiles {
                contributors: 20,
                q1: 2.0,
                median: 3.0,
                q3: 4.0,
            })
        };
        let rows =
            parse_csv(format!("{header}\npsn:4004,2024-25,1200,100,invoice paid,\n").as_bytes())
                .expect("rows");
        let v = validate(rows, &metrics(), TODAY, &none_existing, &network);
        assert_eq!(v.outcome.needs_confirmation, 1);
        assert!(
            problems(&v).contains("upper fence £10.00"),
            "{}",
            problems(&v)
        );
        // A refused row is not also flagged as an outlier.
        let v = check(&format!("{header}\npsn:4004,2024-25,10000,100,payslip,\n"));
        assert_eq!(v.outcome.refused, 1);
        assert!(!problems(&v).contains("plausible"));
    }

    #[test]
    fn corrections_are_recognised() {
        let rows =
            parse_csv(format!("{HEADER}\npsn:4004,2024-25,500,100,invoice paid\n").as_bytes())
                .expect("rows");
        let existing = |p: &str, y: FinancialYear| {
            (p == "psn:4004" && y.start == 2024).then_some(Existing {
                version: 1,
                cost_pence: 40_000,
                volume: 100,
            })
        };
        let v = validate(rows, &metrics(), TODAY, &existing, &no_network);
        assert_eq!(v.outcome.corrected, 1);
        assert_eq!(v.outcome.rows[0].status, RowStatus::Corrected);
        assert_eq!(v.accepted.len(), 1);
    }

    #[test]
    fn whole_files_are_refused() {
        assert_eq!(parse_csv(b""), Err(FileError::NoReturns));
        assert_eq!(parse_csv(b"\xef\xbb\xbf  \n"), Err(FileError::NoReturns));
        assert_eq!(parse_csv(HEADER.as_bytes()), Err(FileError::NoReturns));
        assert_eq!(
            parse_csv(b"process,year,cost,volume,unit\n\n"),
            Err(FileError::NoReturns)
        );
        assert_eq!(
            parse_csv(b"process,year,cost,volume,unit\npsn:4004,2024-25,\xff,1,x\n"),
            Err(FileError::NotUtf8 { line: 2 })
        );
        // A data row as the first line: its values are unknown columns.
        match parse_csv(b"psn:4004,2024-25,500,100,invoice paid\n") {
            Err(FileError::UnknownColumns(c)) => assert!(c[0].contains("psn:4004")),
            other => panic!("{other:?}"),
        }
        match parse_csv(b"process,year,cost,volume,unit,colour\npsn:4004,2024-25,1,1,x\n") {
            Err(e @ FileError::UnknownColumns(_)) => assert!(e.to_string().contains("\"colour\"")),
            other => panic!("{other:?}"),
        }
        match parse_csv(b"process,year,cost,unit\npsn:4004,2024-25,1,x\n") {
            Err(e @ FileError::MissingColumns(_)) => assert!(e.to_string().contains("volume")),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_csv(b"process,year,cost,volume,unit,cost\n"),
            Err(FileError::DuplicateColumn("cost".to_owned()))
        );
        let big = vec![b'a'; MAX_CSV_BYTES + 1];
        assert_eq!(
            parse_csv(&big),
            Err(FileError::TooLarge {
                size: MAX_CSV_BYTES + 1
            })
        );
        let many = format!(
            "{HEADER}\n{}",
            "psn:4004,2024-25,5,1,invoice paid\n".repeat(MAX_ROWS + 1)
        );
        assert!(many.len() < MAX_CSV_BYTES);
        assert_eq!(parse_csv(many.as_bytes()), Err(FileError::TooManyRows));
        let exactly = format!(
            "{HEADER}\n{}",
            "psn:4004,2024-25,5,1,invoice paid\n".repeat(MAX_ROWS)
        );
        assert_eq!(parse_csv(exactly.as_bytes()).map(|r| r.len()), Ok(MAX_ROWS));
    }

    #[test]
    fn an_unclosed_quote_is_a_row_problem() {
        let v = check(&format!(
            "{HEADER}\npsn:4004,2024-25,500,100,invoice paid\npsn:4005,2024-25,\"500,100,invoice raised\n"
        ));
        assert_eq!(v.outcome.accepted, 1);
        assert_eq!(v.outcome.refused, 1);
        assert!(
            problems(&v).contains("fields but the header has 5"),
            "{}",
            problems(&v)
        );
    }

    #[test]
    fn mangled_files_never_panic() {
        let good = "\u{feff}process,year,cost,volume,unit,fte,satisfaction,note,confirm_outlier,publish_now\n\
            psn:4004,2024-25,408000.50,120000,invoice paid,9.5,80,\"a \"\"note\"\"\",no,yes\n\
            lgsl:979,2023-24,270000,5000,employee paid,,,,,\n";
        let metrics = metrics();
        let mut rng = crate::synthetic::SplitMix(7);
        let alphabet = b",\"\n\r\t-+.e0123456789\xff\xc3\xa9=@ \x00";
        for _ in 0..2_000 {
            let mut bytes = good.as_bytes().to_vec();
            for _ in 0..(1 + rng.next() % 6) {
                let at = (rng.next() % bytes.len() as u64) as usize;
                let byte = alphabet[(rng.next() % alphabet.len() as u64) as usize];
                match rng.next() % 3 {
                    0 => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
            if let Ok(rows) = parse_csv(&bytes) {
                let v = validate(rows, &metrics, TODAY, &none_existing, &no_network);
                let counted = v.outcome.accepted
                    + v.outcome.corrected
                    + v.outcome.needs_confirmation
                    + v.outcome.refused;
                assert_eq!(counted, v.outcome.rows.len() as u64);
            }
        }
    }

    #[test]
    fn batches_are_checked_like_files() {
        let good = ReturnInput {
            process: "psn:4004".to_owned(),
            year: "2024-25".parse().expect("year"),
            cost_pence: 40_800_000,
            volume: 120_000,
            unit: "invoice paid".to_owned(),
            fte: Some(f64::NAN),
            satisfaction_percent: Some(f64::INFINITY),
            note: None,
            confirm_outlier: false,
            publish_now: false,
        };
        let batch = ReturnBatch {
            returns: vec![good.clone()],
        };
        let rows = from_batch(&batch).expect("rows");
        assert_eq!(rows[0].line, 1);
        let v = validate(rows, &metrics(), TODAY, &none_existing, &no_network);
        let p = problems(&v);
        assert!(p.contains("fte") && p.contains("satisfaction"), "{p}");
        let big = ReturnBatch {
            returns: vec![good; MAX_ROWS + 1],
        };
        assert_eq!(from_batch(&big), Err(FileError::TooManyRows));
        assert_eq!(
            from_batch(&ReturnBatch {
                returns: Vec::new()
            }),
            Err(FileError::NoReturns)
        );
    }

    #[test]
    fn rows_are_numbered_as_an_editor_numbers_them_whatever_the_line_endings() {
        for newline in ["\n", "\r\n"] {
            let text = [
                "process,year,cost,volume,unit",
                "psn:4004,2024-25,5000,1000,invoice paid",
                "",
                "psn:4004,2023-24,5000,1000,\"invoice",
                "paid\"",
                "psn:4005,2024-25,5000,1000,invoice raised",
            ]
            .join(newline);
            let rows = parse_csv(text.as_bytes()).expect("parsed");
            let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
            assert_eq!(lines, [2, 4, 6], "{newline:?}");
        }
    }
}
