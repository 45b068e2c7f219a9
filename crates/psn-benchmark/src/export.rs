//! Reports and returns as CSV, safe to open in a spreadsheet.
//!
//! Every text cell passes through [`csv_cell`], which defuses formula injection: a cell that
//! starts with `=`, `+`, `-`, `@`, a tab or a carriage return would be run as a formula by
//! spreadsheet programs, so it gets a leading `'`. Numbers the export writes itself (costs,
//! savings, which may be negative) are written as plain numbers and not prefixed, so they stay
//! numbers. Quoting is the `csv` crate's.

use psn_api::{BenchmarkReport, MetricSet, Quartiles, ReturnList, SavingBasis};

/// Text made safe for a spreadsheet cell (see the module docs).
pub fn csv_cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// One output cell: text to be defused, or a number written as it is.
enum Cell {
    Text(String),
    Number(String),
}

fn text(value: impl Into<String>) -> Cell {
    Cell::Text(value.into())
}

fn num(value: f64) -> Cell {
    if value.is_finite() {
        Cell::Number(format!("{}", (value * 1e6).round() / 1e6))
    } else {
        Cell::Text(String::new())
    }
}

fn int(value: u64) -> Cell {
    Cell::Number(value.to_string())
}

/// Writes rows of cells as CSV text.
fn write(rows: Vec<Vec<Cell>>) -> String {
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    for row in rows {
        let fields: Vec<String> = row
            .into_iter()
            .map(|c| match c {
                Cell::Text(t) => csv_cell(&t),
                Cell::Number(n) => n,
            })
            .collect();
        // Writing to a Vec cannot fail; a failure would only lose this row.
        let _ = writer.write_record(&fields);
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// A report as a flat CSV with the columns `section,item,value,unit,note`:
///
/// * `report`: process, label, year, metric and model versions, generated_at, synthetic;
/// * `distribution` and `peer_quartiles`: contributors, q1, median, q3 (or one `withheld` row);
/// * `member`: cost, volume, cost_per_unit, fte, units_per_fte, satisfaction, percentile, band;
/// * `peer`: one row per peer, item its name, value its cost per unit or `withheld`, note its
///   distance;
/// * `saving`: three rows per saving (`low`, `central`, `high`), item the basis, note the
///   formula on the central row;
/// * `provider`: one row per provider, value its lowest price per unit a year, note its measured
///   availability;
/// * `withheld`: one row per part kept back, value the rule, note why.
pub fn report_csv(report: &BenchmarkReport) -> String {
    let per_unit = format!("£ per {}", report.metric.unit);
    let mut rows = vec![vec![
        text("section"),
        text("item"),
        text("value"),
        text("unit"),
        text("note"),
    ]];
    let mut push = |section: &str, item: &str, value: Cell, unit: &str, note: String| {
        rows.push(vec![
            text(section),
            text(item),
            value,
            text(unit),
            text(note),
        ]);
    };
    push(
        "report",
        "process",
        text(&report.process.id),
        "",
        report.process.label.clone(),
    );
    push(
        "report",
        "year",
        text(report.year.to_string()),
        "",
        String::new(),
    );
    push(
        "report",
        "metrics_version",
        text(&report.metrics_version),
        "",
        String::new(),
    );
    push(
        "report",
        "model_version",
        text(&report.model_version),
        "",
        String::new(),
    );
    let generated = report
        .generated_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    push("report", "generated_at", text(generated), "", String::new());
    push(
        "report",
        "synthetic",
        text(if report.synthetic { "yes" } else { "no" }),
        "",
        String::new(),
    );
    let quartile_rows =
        |section: &str,
         q: &Option<Quartiles>,
         push: &mut dyn FnMut(&str, &str, Cell, &str, String)| {
            match q {
                Some(q) => {
                    push(
                        section,
                        "contributors",
                        int(q.contributors),
                        "",
                        String::new(),
                    );
                    push(section, "q1", num(q.q1), &per_unit, String::new());
                    push(section, "median", num(q.median), &per_unit, String::new());
                    push(section, "q3", num(q.q3), &per_unit, String::new());
                }
                None => push(section, "quartiles", text("withheld"), "", String::new()),
            }
        };
    quartile_rows("distribution", &report.distribution, &mut push);
    if let Some(m) = &report.member {
        push("member", "name", text(&m.name), "", m.member.to_string());
        push("member", "cost", num(m.cost), "£", String::new());
        push(
            "member",
            "volume",
            int(m.volume),
            &report.metric.unit,
            String::new(),
        );
        push(
            "member",
            "cost_per_unit",
            num(m.cost_per_unit),
            &per_unit,
            String::new(),
        );
        if let Some(f) = m.fte {
            push("member", "fte", num(f), "FTE", String::new());
        }
        if let Some(u) = m.units_per_fte {
            push(
                "member",
                "units_per_fte",
                num(u),
                &report.metric.unit,
                String::new(),
            );
        }
        if let Some(s) = m.satisfaction_percent {
            push("member", "satisfaction", num(s), "%", String::new());
        }
        if let Some(p) = m.percentile {
            push("member", "percentile", num(p), "%", String::new());
        }
        if let Some(b) = m.band {
            let band = match b {
                psn_api::Band::Green => "green",
                psn_api::Band::Amber => "amber",
                psn_api::Band::Red => "red",
            };
            push("member", "band", text(band), "", String::new());
        }
    }
    for peer in &report.peers {
        let note = peer
            .distance
            .map(|d| format!("distance {d:.3}"))
            .unwrap_or_default();
        let value = match peer.cost_per_unit {
            Some(c) => num(c),
            None => text("withheld"),
        };
        push("peer", &peer.name, value, &per_unit, note);
    }
    quartile_rows("peer_quartiles", &report.peer_quartiles, &mut push);
    for saving in &report.savings {
        let basis = match &saving.basis {
            SavingBasis::PeersMedian => "peers' median".to_owned(),
            SavingBasis::Provider {
                title,
                provider_name,
                ..
            } => format!("{title} ({provider_name})"),
        };
        push(
            "saving",
            &basis,
            num(saving.low),
            "£ a year",
            "low".to_owned(),
        );
        push(
            "saving",
            &basis,
            num(saving.central),
            "£ a year",
            format!("central: {}", saving.formula),
        );
        push(
            "saving",
            &basis,
            num(saving.high),
            "£ a year",
            "high".to_owned(),
        );
    }
    for p in &report.providers {
        let value = match p.price_per_unit {
            Some((low, _)) => num(low),
            None => text("no comparable price"),
        };
        let note = match p.availability_percent {
            Some(a) => format!(
                "{} from {}; measured availability {a:.2}%",
                p.service, p.provider_name
            ),
            None => format!(
                "{} from {}; availability not measured",
                p.service, p.provider_name
            ),
        };
        push(
            "provider",
            &p.title,
            value,
            &format!("{per_unit} a year"),
            note,
        );
    }
    for w in &report.withheld {
        let rule = match w.rule {
            psn_api::PublicationRule::Embargo => "embargo",
            psn_api::PublicationRule::KContributors => "k-contributors",
        };
        push("withheld", &w.part, text(rule), "", w.detail.clone());
    }
    write(rows)
}

/// A member's returns as CSV in the submission format (`process,year,cost,volume,unit,fte,
/// satisfaction,note,confirm_outlier,publish_now`) followed by `member,version,superseded,
/// submitted_by,submitted_at`, which a submission ignores: an export can be corrected and
/// submitted again as it is. A stored return does not repeat its unit (validation made it the
/// metric's), so the `unit` column comes from the compiled-in metric definitions; see
/// [`returns_csv_with`] for others.
pub fn returns_csv(list: &ReturnList) -> String {
    match crate::metrics::compiled() {
        Some(metrics) => returns_csv_with(list, metrics),
        None => returns_csv_with(
            list,
            &MetricSet {
                version: String::new(),
                metrics: Vec::new(),
            },
        ),
    }
}

/// [`returns_csv`], with the `unit` column from `metrics` (empty for a process not in it).
pub fn returns_csv_with(list: &ReturnList, metrics: &MetricSet) -> String {
    let header = [
        "process",
        "year",
        "cost",
        "volume",
        "unit",
        "fte",
        "satisfaction",
        "note",
        "confirm_outlier",
        "publish_now",
        "member",
        "version",
        "superseded",
        "submitted_by",
        "submitted_at",
    ];
    let yes_no = |b: bool| text(if b { "yes" } else { "no" });
    let mut rows = vec![header.iter().map(|h| text(*h)).collect::<Vec<_>>()];
    for r in &list.returns {
        rows.push(vec![
            text(&r.process),
            text(r.year.to_string()),
            Cell::Number(format!("{}.{:02}", r.cost_pence / 100, r.cost_pence % 100)),
            int(r.volume),
            text(
                crate::metrics::find(metrics, &r.process)
                    .map(|m| m.unit.clone())
                    .unwrap_or_default(),
            ),
            r.fte.map_or_else(|| text(""), num),
            r.satisfaction_percent.map_or_else(|| text(""), num),
            text(r.note.clone().unwrap_or_default()),
            yes_no(r.outlier_confirmed),
            yes_no(r.publish_now),
            text(r.member.to_string()),
            Cell::Number(r.version.to_string()),
            yes_no(r.superseded),
            text(&r.submitted_by),
            text(
                r.submitted_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
            ),
        ]);
    }
    write(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{contribution, inputs, member, metric};
    use crate::report::{build, Contribution, Rules};
    use psn_api::ReturnView;
    use time::macros::datetime;

    #[test]
    fn formula_cells_are_defused() {
        assert_eq!(csv_cell("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("\tx"), "'\tx");
        assert_eq!(csv_cell("\rx"), "'\rx");
        assert_eq!(csv_cell("Kent County Council"), "Kent County Council");
        assert_eq!(csv_cell(""), "");
    }

    fn view(note: &str) -> ReturnView {
        ReturnView {
            member: member("E10000016"),
            process: "psn:4004".to_owned(),
            year: "2024-25".parse().expect("year"),
            version: 2,
            superseded: false,
            cost_pence: 40_800_050,
            volume: 120_000,
            cost_per_unit: 3.4,
            fte: Some(9.5),
            satisfaction_percent: None,
            note: Some(note.to_owned()),
            outlier_confirmed: true,
            publish_now: false,
            synthetic: false,
            submitted_by: "@finance-lead".to_owned(),
            submitted_at: datetime!(2025-06-01 12:00 UTC),
        }
    }

    #[test]
    fn returns_round_trip_and_are_defused() {
        let list = ReturnList {
            returns: vec![view("=cmd|' /C calc'!A0"), view("checked, twice\nby audit")],
        };
        let text = returns_csv(&list);
        assert!(text.contains("'=cmd|' /C calc'!A0"), "{text}");
        assert!(text.contains("'@finance-lead"), "{text}");
        assert!(text.starts_with("process,year,cost,volume,unit,fte,satisfaction,note,confirm_outlier,publish_now,member,version"));
        let rows = crate::returns::parse_csv(text.as_bytes()).expect("parses back");
        assert_eq!(rows.len(), 2);
        let back = rows[1].input.as_ref().expect("valid row");
        assert_eq!(back.cost_pence, 40_800_050);
        assert_eq!(back.volume, 120_000);
        assert_eq!(back.unit, "invoice paid");
        assert_eq!(back.fte, Some(9.5));
        assert!(back.confirm_outlier);
        assert_eq!(back.note.as_deref(), Some("checked, twice\nby audit"));
        let first = rows[0].input.as_ref().expect("valid row");
        // The note comes back with its defusing quote, which keeps it inert on re-export too.
        assert_eq!(first.note.as_deref(), Some("'=cmd|' /C calc'!A0"));
    }

    #[test]
    fn report_csv_defuses_names_and_keeps_negative_numbers() {
        let metric = metric();
        let rules = Rules::default();
        let mut all: Vec<Contribution> = [1.0, 2.0, 2.1, 3.0, 4.0]
            .iter()
            .enumerate()
            .map(|(i, cpu)| contribution(&format!("G{i}"), *cpu, true))
            .collect();
        for c in &mut all {
            c.name = format!("@{}", c.name);
        }
        all.push(contribution("S", 1.0, false));
        let peers: Vec<crate::report::PeerMember> = all[..5]
            .iter()
            .map(|c| crate::report::PeerMember {
                member: c.member.clone(),
                name: c.name.clone(),
                distance: Some(0.25),
            })
            .collect();
        let report = build(&inputs(&metric, &rules, &all, Some("S"), &peers, &[]));
        let text = report_csv(&report);
        assert!(text.starts_with("section,item,value,unit,note\n"), "{text}");
        assert!(
            text.contains("peer,'@Council G0,1,£ per invoice paid,distance 0.250"),
            "{text}"
        );
        // (1.00 − 2.10) × 1,000 = −1,100: written as a number, not defused.
        assert!(
            text.contains("saving,peers' median,-1100,£ a year,"),
            "{text}"
        );
        assert!(!text.contains("'-1100"), "{text}");
        assert!(text.contains("distribution,median,2.05,"), "{text}");
    }
}
