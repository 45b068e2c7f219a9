//! One parser per reference file: the file-specific rules (which column is the code, which rows
//! are closed or historical) on top of the shared reading and checks in [`crate::table`].

use std::collections::HashMap;

use crate::names::title_case;
use crate::table::{clip, normalise_spaces, read_table, Collector, Format, Need};
use crate::{files, Dataset, Error, Sector};

/// Parses `local_authorities.csv` (mySociety), keeping current councils (class `LA`, GSS code).
///
/// Needs columns `gss-code`, `official-name`, `region`, `current-authority`; uses `end-date`,
/// `replaced-by` and `local-authority-code` (if present) to explain why a row was skipped.
pub fn parse_local_authorities(text: &str) -> Result<Dataset, Error> {
    let format = Format {
        file: files::LOCAL_AUTHORITIES,
        delimiter: b',',
        quoting: true,
    };
    let rows = read_table(
        &format,
        text,
        [
            ("gss-code", Need::Required),
            ("official-name", Need::Required),
            ("region", Need::Required),
            ("current-authority", Need::Required),
            ("end-date", Need::Optional),
            ("replaced-by", Need::Optional),
            ("local-authority-code", Need::Optional),
        ],
    )?;
    // Three-letter code -> name, so "replaced by CBD" can say which council that is.
    let mut names_by_code: HashMap<&str, &str> = HashMap::new();
    for row in &rows {
        let [_, name, .., la_code] = &row.values;
        if !la_code.is_empty() && !name.is_empty() {
            names_by_code
                .entry(la_code.as_str())
                .or_insert(name.as_str());
        }
    }
    let mut out = Collector::new(
        files::LOCAL_AUTHORITIES,
        "LA",
        Sector::LocalGovernment,
        "gss-code",
    );
    for row in &rows {
        let [code, name, region, current, end_date, replaced_by, _] = &row.values;
        let name = normalise_spaces(name);
        if current != "True" {
            let reason = not_current_reason(current, end_date, replaced_by, &names_by_code);
            out.skip(row.line, code, &name, reason);
            continue;
        }
        out.offer(row.line, code, &name, region);
    }
    Ok(out.finish())
}

fn not_current_reason(
    current: &str,
    end_date: &str,
    replaced_by: &str,
    names_by_code: &HashMap<&str, &str>,
) -> String {
    let mut details = Vec::new();
    if current != "False" {
        details.push(format!(
            "current-authority is {:?}, expected True",
            clip(current)
        ));
    }
    if !end_date.is_empty() {
        details.push(format!("ended {}", clip(end_date)));
    }
    let successors: Vec<String> = replaced_by
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .take(8)
        .map(|c| match names_by_code.get(c) {
            Some(name) => format!("{} ({})", clip(name), clip(c)),
            None => clip(c),
        })
        .collect();
    if !successors.is_empty() {
        details.push(format!("replaced by {}", successors.join(" and ")));
    }
    if details.is_empty() {
        "not a current authority".to_owned()
    } else {
        format!("not a current authority ({})", details.join(", "))
    }
}

/// Parses `nhs_trusts.csv` (NHS ODS), keeping open trusts (class `NHS`, ODS code) with names
/// converted from the file's ALL CAPS to title case.
///
/// Needs columns `ods_code`, `name`, `close_date`, `nhs_england_region_name_derived`.
pub fn parse_nhs_trusts(text: &str) -> Result<Dataset, Error> {
    let format = Format {
        file: files::NHS_TRUSTS,
        delimiter: b',',
        quoting: true,
    };
    let rows = read_table(
        &format,
        text,
        [
            ("ods_code", Need::Required),
            ("name", Need::Required),
            ("close_date", Need::Required),
            ("nhs_england_region_name_derived", Need::Required),
        ],
    )?;
    let mut out = Collector::new(files::NHS_TRUSTS, "NHS", Sector::Health, "ods_code");
    for row in &rows {
        let [code, name, close_date, region] = &row.values;
        let name = title_case(&normalise_spaces(name));
        if !close_date.is_empty() {
            let reason = format!("closed on {}", ods_date(close_date));
            out.skip(row.line, code, &name, reason);
            continue;
        }
        out.offer(row.line, code, &name, region);
    }
    Ok(out.finish())
}

/// ODS dates are `yyyymmdd`; shows them as `yyyy-mm-dd` (anything else is shown as given).
fn ods_date(raw: &str) -> String {
    if raw.len() == 8 && raw.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}-{}-{}", &raw[..4], &raw[4..6], &raw[6..])
    } else {
        clip(raw)
    }
}

/// Parses `police_forces.csv`, keeping forces with an ONS police force area code (class `POL`).
///
/// Needs columns `ons_pfa_code`, `name`, `country` (the region).
pub fn parse_police_forces(text: &str) -> Result<Dataset, Error> {
    let format = Format {
        file: files::POLICE_FORCES,
        delimiter: b',',
        quoting: true,
    };
    let rows = read_table(
        &format,
        text,
        [
            ("ons_pfa_code", Need::Required),
            ("name", Need::Required),
            ("country", Need::Required),
        ],
    )?;
    let mut out = Collector::new(
        files::POLICE_FORCES,
        "POL",
        Sector::Policing,
        "ons_pfa_code",
    );
    for row in &rows {
        let [code, name, country] = &row.values;
        let name = normalise_spaces(name);
        if code.is_empty() {
            out.skip(
                row.line,
                code,
                &name,
                "no ONS police force area code".to_owned(),
            );
            continue;
        }
        out.offer(row.line, code, &name, country);
    }
    Ok(out.finish())
}

/// Parses `government_organisations_2017.tsv` (the GOV.UK register, tab-separated with no
/// quoting, so `"` is an ordinary character), keeping open organisations (class `GOV`).
///
/// Needs columns `government-organisation`, `name`, `end-date`. Region is always `None`.
pub fn parse_government_organisations(text: &str) -> Result<Dataset, Error> {
    let format = Format {
        file: files::GOVERNMENT_ORGANISATIONS,
        delimiter: b'\t',
        quoting: false,
    };
    let rows = read_table(
        &format,
        text,
        [
            ("government-organisation", Need::Required),
            ("name", Need::Required),
            ("end-date", Need::Required),
        ],
    )?;
    let mut out = Collector::new(
        files::GOVERNMENT_ORGANISATIONS,
        "GOV",
        Sector::CentralGovernment,
        "government-organisation",
    );
    for row in &rows {
        let [code, name, end_date] = &row.values;
        let name = normalise_spaces(name);
        if !end_date.is_empty() {
            let reason = format!("closed on {}", clip(end_date));
            out.skip(row.line, code, &name, reason);
            continue;
        }
        out.offer(row.line, code, &name, "");
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ods_dates() {
        assert_eq!(ods_date("20230701"), "2023-07-01");
        assert_eq!(ods_date("2023-07-01"), "2023-07-01");
        assert_eq!(ods_date("２０２３０７０１"), "２０２３０７０１");
    }

    #[test]
    fn not_current_reasons() {
        let names = HashMap::from([("CBD", "Cumberland Council")]);
        assert_eq!(
            not_current_reason("False", "2023-04-01", "CBD,WAF", &names),
            "not a current authority (ended 2023-04-01, replaced by Cumberland Council (CBD) and WAF)"
        );
        assert_eq!(
            not_current_reason("False", "", "", &names),
            "not a current authority"
        );
        assert!(not_current_reason("yes", "", "", &names).contains("expected True"));
    }
}
