//! The published metric definitions (`data/benchmarks/metrics.json`): per benchmarked process,
//! the unit of volume, what the cost includes, the plausible range of a cost per unit and
//! reference figures with their sources.
//!
//! The file is compiled in ([`embedded`]) and checked against the process taxonomy on load
//! ([`parse`]), so a definition can never name a process the catalogue does not know, and a
//! bad definition stops the authority at start-up rather than mis-judging returns later.

use std::collections::HashSet;

use psn_api::{MetricDefinition, MetricSet};
use psn_orgdata::ProcessCatalogue;

use crate::text::clip;
use crate::Error;

/// The definitions as shipped (`data/benchmarks/metrics.json`).
pub const EMBEDDED: &str = include_str!("../../../data/benchmarks/metrics.json");

/// Longest version, unit, label or source text accepted.
const MAX_TEXT_CHARS: usize = 500;

/// The compiled-in definitions, read once without the taxonomy check (which [`embedded`] and
/// the authority's start-up do), for looking up a stored return's unit on export.
pub(crate) fn compiled() -> Option<&'static MetricSet> {
    static COMPILED: std::sync::OnceLock<Option<MetricSet>> = std::sync::OnceLock::new();
    COMPILED
        .get_or_init(|| serde_json::from_str(EMBEDDED).ok())
        .as_ref()
}

/// The definitions compiled into the binary, checked against the embedded process taxonomy.
pub fn embedded() -> Result<MetricSet, Error> {
    parse(EMBEDDED, &ProcessCatalogue::embedded()?)
}

/// Parses and checks metric definitions. Each metric's process must exist in `processes` and
/// appear once; an empty `label` is filled from the taxonomy and any other must equal it;
/// `0 < plausible_low < plausible_high`, all numbers finite; `unit`, `volume`,
/// `cost_includes` and every `price_units` entry non-empty, with at least one price unit;
/// each reference has a source and at least one figure, all positive; `demo_basis` and
/// `demo_units_per_resident` positive. The version must be non-empty. Errors name the metric
/// and the field.
pub fn parse(text: &str, processes: &ProcessCatalogue) -> Result<MetricSet, Error> {
    let mut set: MetricSet =
        serde_json::from_str(text).map_err(|e| Error::MetricSet(e.to_string()))?;
    if set.version.trim().is_empty() || set.version.chars().count() > 40 {
        return Err(Error::MetricSet(
            "`version` must be 1 to 40 characters, e.g. 2026.1".to_owned(),
        ));
    }
    if set.metrics.is_empty() {
        return Err(Error::MetricSet("no metrics are defined".to_owned()));
    }
    let mut seen = HashSet::new();
    for (i, metric) in set.metrics.iter_mut().enumerate() {
        let name = if metric.process.is_empty() {
            format!("metric {}", i + 1)
        } else {
            clip(&metric.process, 40)
        };
        let bad = |field: &'static str, message: String| Error::Metric {
            metric: name.clone(),
            field,
            message,
        };
        let Some(process) = processes.get(&metric.process) else {
            return Err(bad(
                "process",
                "is not a process in the taxonomy (lgsl:N or psn:N)".to_owned(),
            ));
        };
        if !seen.insert(metric.process.clone()) {
            return Err(bad("process", "is defined twice".to_owned()));
        }
        if metric.label.is_empty() {
            metric.label.clone_from(&process.label);
        } else if metric.label != process.label {
            return Err(bad(
                "label",
                format!(
                    "{:?} differs from the taxonomy's label {:?}",
                    clip(&metric.label, 80),
                    process.label
                ),
            ));
        }
        check(metric).map_err(|(field, message)| bad(field, message))?;
    }
    Ok(set)
}

/// The checks on one definition's own fields: the field and what is wrong.
fn check(metric: &MetricDefinition) -> Result<(), (&'static str, String)> {
    for (field, value) in [
        ("unit", &metric.unit),
        ("volume", &metric.volume),
        ("cost_includes", &metric.cost_includes),
    ] {
        text_ok(value).map_err(|m| (field, m))?;
    }
    if metric.price_units.is_empty() {
        return Err(("price_units", "needs at least one unit".to_owned()));
    }
    for unit in &metric.price_units {
        text_ok(unit).map_err(|m| ("price_units", m))?;
    }
    positive(metric.plausible_low).map_err(|m| ("plausible_low", m))?;
    positive(metric.plausible_high).map_err(|m| ("plausible_high", m))?;
    if metric.plausible_low >= metric.plausible_high {
        return Err((
            "plausible_high",
            format!(
                "{} is not above plausible_low {}",
                metric.plausible_high, metric.plausible_low
            ),
        ));
    }
    positive(metric.demo_units_per_resident).map_err(|m| ("demo_units_per_resident", m))?;
    if let Some(basis) = metric.demo_basis {
        positive(basis).map_err(|m| ("demo_basis", m))?;
    }
    for (i, reference) in metric.references.iter().enumerate() {
        let at = |m: String| ("references", format!("reference {}: {m}", i + 1));
        text_ok(&reference.label).map_err(|m| at(format!("label {m}")))?;
        text_ok(&reference.source).map_err(|m| at(format!("source {m}")))?;
        let figures = [reference.low, reference.typical, reference.high];
        if figures.iter().all(Option::is_none) {
            return Err(at("needs at least one of low, typical, high".to_owned()));
        }
        for figure in figures.into_iter().flatten() {
            positive(figure).map_err(|m| at(format!("figure {m}")))?;
        }
        if let (Some(low), Some(high)) = (reference.low, reference.high) {
            if low > high {
                return Err(at(format!("low {low} is above high {high}")));
            }
        }
    }
    Ok(())
}

fn text_ok(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err("must not be empty".to_owned())
    } else if value.chars().count() > MAX_TEXT_CHARS {
        Err(format!("is longer than {MAX_TEXT_CHARS} characters"))
    } else if value.chars().any(char::is_control) {
        Err("contains control characters".to_owned())
    } else {
        Ok(())
    }
}

fn positive(value: f64) -> Result<(), String> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(format!("{value} must be a finite number above 0"))
    }
}

/// The definition for a process, if it is benchmarked.
pub fn find<'a>(set: &'a MetricSet, process: &str) -> Option<&'a MetricDefinition> {
    set.metrics.iter().find(|m| m.process == process)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue() -> ProcessCatalogue {
        ProcessCatalogue::embedded().expect("taxonomy")
    }

    #[test]
    fn embedded_definitions_load() {
        let set = embedded().expect("embedded metrics");
        assert!(!set.version.is_empty());
        assert!(set.metrics.len() >= 12);
        let ap = find(&set, "psn:4004").expect("accounts payable");
        assert_eq!(ap.unit, "invoice paid");
        assert_eq!(ap.references[0].typical, Some(3.40));
        assert_eq!(
            find(&set, "lgsl:979").map(|m| m.label.as_str()),
            Some("Staff - payroll")
        );
        assert!(find(&set, "psn:9999").is_none());
        for m in &set.metrics {
            assert!(
                !m.references.is_empty() || m.demo_basis.is_some(),
                "{} has neither references nor a demo basis",
                m.process
            );
        }
    }

    fn one(metric: &str) -> String {
        format!(r#"{{"version": "t", "metrics": [{metric}]}}"#)
    }

    const GOOD: &str = r#"{"process": "psn:4004", "label": "", "office": "back-office",
        "unit": "invoice paid", "volume": "v", "cost_includes": "c", "price_units": ["invoice"],
        "plausible_low": 0.1, "plausible_high": 50, "references": [],
        "demo_units_per_resident": 0.25}"#;

    #[test]
    fn label_is_filled_from_the_taxonomy() {
        let set = parse(&one(GOOD), &catalogue()).expect("parses");
        assert_eq!(set.metrics[0].label, "Accounts payable");
    }

    #[test]
    fn bad_definitions_name_metric_and_field() {
        let cases = [
            (
                GOOD.replace("psn:4004", "psn:9999"),
                "psn:9999, field `process`",
            ),
            (
                GOOD.replace(r#""label": """#, r#""label": "Payables""#),
                "`label`",
            ),
            (
                GOOD.replace("\"plausible_low\": 0.1", "\"plausible_low\": 0"),
                "`plausible_low`",
            ),
            (
                GOOD.replace("\"plausible_high\": 50", "\"plausible_high\": 0.05"),
                "`plausible_high`",
            ),
            (GOOD.replace("[\"invoice\"]", "[]"), "`price_units`"),
            (GOOD.replace("[\"invoice\"]", "[\" \"]"), "`price_units`"),
            (GOOD.replace("\"invoice paid\"", "\"\""), "`unit`"),
            (
                GOOD.replace(
                    r#""references": []"#,
                    r#""references": [{"label": "x", "source": "y"}]"#,
                ),
                "at least one of low",
            ),
            (
                GOOD.replace(
                    r#""references": []"#,
                    r#""references": [{"label": "x", "typical": 1, "source": ""}]"#,
                ),
                "source",
            ),
            (
                GOOD.replace("0.25}", "0.25, \"demo_basis\": -1}"),
                "`demo_basis`",
            ),
        ];
        for (metric, expect) in cases {
            let e = parse(&one(&metric), &catalogue())
                .expect_err(&metric)
                .to_string();
            assert!(e.contains(expect), "{metric}: {e}");
        }
        let twice = format!(r#"{{"version": "t", "metrics": [{GOOD}, {GOOD}]}}"#);
        assert!(parse(&twice, &catalogue())
            .expect_err("twice")
            .to_string()
            .contains("twice"));
        let no_version = one(GOOD).replace(r#""version": "t""#, r#""version": " ""#);
        assert!(parse(&no_version, &catalogue()).is_err());
        assert!(parse(r#"{"version": "t", "metrics": []}"#, &catalogue()).is_err());
        assert!(parse("not json", &catalogue()).is_err());
        // serde_json refuses NaN and infinities outright.
        assert!(parse(&one(&GOOD.replace("50", "1e999")), &catalogue()).is_err());
    }
}
