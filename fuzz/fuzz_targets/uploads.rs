//! Files members and providers upload, on arbitrary bytes: an OpenAPI document for the
//! catalogue (`openapi_check::check`), benchmark returns as CSV and as a JSON batch (read, then
//! validated against the shipped metrics), a compliance evidence file (the input's first line
//! its name, the second the type it was sent as, the rest its content) and a compliance draft's
//! answers (checked as saved and as submitted, against every shipped framework and kind).
//!
//! Nothing panics. An accepted OpenAPI document has the title and version it says. Returns that
//! validate whole export (`returns_csv_with`, what a member downloads to correct and submit
//! again) to a CSV that reads back to the same returns. Evidence is accepted only as one of the
//! accepted types, named with that type's extension.

#![no_main]

use libfuzzer_sys::fuzz_target;
use psn_api::{
    FinancialYear, MetricSet, Quartiles, ReturnBatch, ReturnInput, ReturnList, ReturnView,
    SubmissionDraft,
};
use psn_authority::openapi_check;
use psn_benchmark::export::{csv_cell, returns_csv_with};
use psn_benchmark::returns::{self, Existing, ParsedRow};
use psn_compliance::{check_answers, check_draft, check_evidence, check_submittable};
use std::sync::OnceLock;
use time::macros::{date, datetime};

/// The day returns are judged on: every year up to 2026-27 has started.
const TODAY: time::Date = date!(2026 - 12 - 06);

/// The shipped metric definitions and compliance frameworks.
struct Fixture {
    metrics: MetricSet,
    frameworks: Vec<psn_api::Framework>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| Fixture {
        metrics: psn_benchmark::metrics::embedded().expect("shipped metrics"),
        frameworks: psn_compliance::embedded().expect("shipped frameworks"),
    })
}

fn none_existing(_: &str, _: FinancialYear) -> Option<Existing> {
    None
}

fn no_quartiles(_: &str, _: FinancialYear) -> Option<Quartiles> {
    None
}

/// An OpenAPI document as `PUT /v1/gateway/documents/...` takes it.
fn openapi(text: &str) {
    if let Ok(checked) = openapi_check::check(text) {
        let document: serde_json::Value = serde_json::from_str(text).expect("accepted is JSON");
        assert_eq!(
            document["info"]["title"].as_str(),
            Some(checked.title.as_str())
        );
        assert_eq!(
            document["info"]["version"].as_str(),
            Some(checked.version.as_str())
        );
        assert_eq!(document["openapi"].as_str(), Some(checked.openapi.as_str()));
    }
}

/// Returns read from a submission, validated, and the accepted ones exported and read again.
fn judged(fixture: &Fixture, rows: Vec<ParsedRow>) {
    let validated = returns::validate(rows, &fixture.metrics, TODAY, &none_existing, &no_quartiles);
    let outcome = &validated.outcome;
    let counted =
        outcome.accepted + outcome.corrected + outcome.needs_confirmation + outcome.refused;
    assert_eq!(counted, outcome.rows.len() as u64);
    if validated.accepted.is_empty() {
        return;
    }
    let list = ReturnList {
        returns: validated.accepted.iter().map(view).collect(),
    };
    let csv = returns_csv_with(&list, &fixture.metrics);
    let again = returns::parse_csv(csv.as_bytes())
        .unwrap_or_else(|e| panic!("an export does not read back: {e}\n{csv}"));
    assert_eq!(again.len(), validated.accepted.len(), "{csv}");
    for (row, input) in again.iter().zip(&validated.accepted) {
        let read = row
            .input
            .as_ref()
            .unwrap_or_else(|problems| panic!("an exported row is refused: {problems:?}\n{csv}"));
        same_return(read, input, &csv);
    }
}

/// What an export keeps of a return: everything, with the note's formula characters defused (and
/// trimmed, as every field read is), and the decimals to a millionth.
fn same_return(read: &ReturnInput, input: &ReturnInput, csv: &str) {
    assert_eq!(read.process, input.process, "{csv}");
    assert_eq!(read.year, input.year, "{csv}");
    assert_eq!(read.cost_pence, input.cost_pence, "{csv}");
    assert_eq!(read.volume, input.volume, "{csv}");
    assert!(read.unit.eq_ignore_ascii_case(input.unit.trim()), "{csv}");
    assert_eq!(read.confirm_outlier, input.confirm_outlier, "{csv}");
    assert_eq!(read.publish_now, input.publish_now, "{csv}");
    let note = input
        .note
        .as_deref()
        .map(|note| csv_cell(note).trim().to_owned())
        .filter(|note| !note.is_empty());
    assert_eq!(read.note, note, "{csv}");
    for (read, given) in [
        (read.fte, input.fte),
        (read.satisfaction_percent, input.satisfaction_percent),
    ] {
        match (read, given) {
            (Some(read), Some(given)) => assert!((read - given).abs() <= 1e-6, "{csv}"),
            (read, given) => assert_eq!(read.is_some(), given.is_some(), "{csv}"),
        }
    }
}

/// A stored return as an export lists it.
fn view(input: &ReturnInput) -> ReturnView {
    ReturnView {
        member: "GB/LA/E10000016".parse().expect("member"),
        process: input.process.clone(),
        year: input.year,
        version: 1,
        superseded: false,
        cost_pence: input.cost_pence,
        volume: input.volume,
        cost_per_unit: input.cost_pence as f64 / 100.0 / input.volume as f64,
        fte: input.fte,
        satisfaction_percent: input.satisfaction_percent,
        note: input.note.clone(),
        outlier_confirmed: input.confirm_outlier,
        publish_now: input.publish_now,
        synthetic: false,
        submitted_by: "@finance-lead".to_owned(),
        submitted_at: datetime!(2026-12-06 12:00 UTC),
    }
}

/// An evidence upload: name, declared type and content.
fn evidence(data: &[u8]) {
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let (Some(name), Some(declared), Some(content)) = (parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    let Ok(name) = std::str::from_utf8(name) else {
        return;
    };
    let declared = std::str::from_utf8(declared).ok().filter(|d| !d.is_empty());
    if let Ok(media_type) = check_evidence(name, declared, content) {
        assert!(psn_compliance::ACCEPTED_TYPES.contains(&media_type));
        let extension = name.rsplit('.').next().unwrap_or_default().to_lowercase();
        let expected = match media_type {
            "application/pdf" => &["pdf"][..],
            "image/png" => &["png"],
            "image/jpeg" => &["jpg", "jpeg"],
            "text/csv" => &["csv"],
            _ => &["txt", "log"],
        };
        assert!(
            expected.contains(&extension.as_str()),
            "{name:?} {media_type}"
        );
    }
}

/// A compliance draft, checked for every shipped framework's every kind.
fn draft(fixture: &Fixture, draft: &SubmissionDraft) {
    for framework in &fixture.frameworks {
        for kind in &framework.kinds {
            let _ = check_draft(framework, &kind.kind, draft);
            let _ = check_answers(framework, &kind.kind, &draft.answers);
            let _ = check_submittable(framework, &kind.kind, &draft.answers, TODAY);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    if let Ok(text) = std::str::from_utf8(data) {
        openapi(text);
    }
    if let Ok(rows) = returns::parse_csv(data) {
        judged(fixture, rows);
    }
    if let Ok(batch) = serde_json::from_slice::<ReturnBatch>(data) {
        if let Ok(rows) = returns::from_batch(&batch) {
            judged(fixture, rows);
        }
    }
    evidence(data);
    if let Ok(parsed) = serde_json::from_slice::<SubmissionDraft>(data) {
        draft(fixture, &parsed);
    }
});
