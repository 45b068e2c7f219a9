//! Council profiles: the facts about each current council that the benchmarks' peer model
//! compares (population, area, density, type, nation, region, location), read from the
//! embedded `local_authorities.csv`, plus any extra variables an operator adds as data files
//! ([`Profiles::merge_csv`]).
//!
//! A council whose figure is missing or unusable in the source (an empty `pop-2020`, an area
//! of 0, a latitude out of range) simply has no value for that variable: never NaN, never 0.
//! The peer model decides what a missing value means (it contributes nothing to a distance).

use std::collections::BTreeMap;

use crate::table::{code_problem, normalise_spaces, read_table, text_problem, Format, Need};
use crate::{files, Error, EMBEDDED_LOCAL_AUTHORITIES};

/// Largest extra-variables file [`Profiles::merge_csv`] reads (the real council list is under
/// 200 KB; a few numeric columns for 400 councils are a few KB).
pub const MAX_MERGE_BYTES: usize = 4 * 1024 * 1024;
/// Most variables one merged file may add.
pub const MAX_MERGE_VARIABLES: usize = 64;
/// Longest category value kept.
const MAX_CATEGORY_CHARS: usize = 200;
/// Longest variable name.
const MAX_VARIABLE_CHARS: usize = 40;
/// How many unknown codes a merge error lists before saying "and N more".
const LIST_UNKNOWN: usize = 5;
/// The name used for a merged file in errors (the caller knows the real file name).
const MERGED: &str = "profile variables";

/// One variable's value for one council.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum ProfileValue {
    /// A finite number (population, km², people per km²).
    Number(f64),
    /// A category (council type, nation, region).
    Category(String),
    /// A point, degrees (WGS84).
    Location {
        /// Latitude, −90 to 90.
        lat: f64,
        /// Longitude, −180 to 180.
        long: f64,
    },
}

/// The variables known for one council.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Profile {
    /// The council's GSS code, its member code in class `LA`.
    pub code: String,
    /// Values by variable name; a variable the source lacks for this council is absent.
    pub values: BTreeMap<String, ProfileValue>,
}

/// Profiles by code.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Profiles {
    by_code: BTreeMap<String, Profile>,
}

/// Profiles of the current councils in the embedded `local_authorities.csv`.
pub fn council_profiles() -> Result<Profiles, Error> {
    parse_council_profiles(EMBEDDED_LOCAL_AUTHORITIES)
}

/// Profiles of the current councils (`current-authority` = `True`, a usable `gss-code`; the
/// first row wins for a repeated code, as in [`crate::parse_local_authorities`]) in a
/// mySociety `local_authorities.csv`.
///
/// Variables: `population` (`pop-2020`), `area` (`area`, km²: Kent is 3,544), `density`
/// (population / area), `type` (`local-authority-type-name`), `nation`, `region` and
/// `location` (`lat`, `long`). Needs the columns `gss-code`, `current-authority`; the others
/// are optional (absent column: no council has that variable).
pub fn parse_council_profiles(text: &str) -> Result<Profiles, Error> {
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
            ("current-authority", Need::Required),
            ("pop-2020", Need::Optional),
            ("area", Need::Optional),
            ("local-authority-type-name", Need::Optional),
            ("nation", Need::Optional),
            ("region", Need::Optional),
            ("lat", Need::Optional),
            ("long", Need::Optional),
        ],
    )?;
    let mut profiles = Profiles::default();
    for row in &rows {
        let [code, current, population, area, kind, nation, region, lat, long] = &row.values;
        if current != "True"
            || code_problem(code, "gss-code").is_some()
            || profiles.by_code.contains_key(code)
        {
            continue;
        }
        let mut values = BTreeMap::new();
        let population = positive(population);
        let area = positive(area);
        if let Some(p) = population {
            values.insert("population".to_owned(), ProfileValue::Number(p));
        }
        if let Some(a) = area {
            values.insert("area".to_owned(), ProfileValue::Number(a));
        }
        if let (Some(p), Some(a)) = (population, area) {
            let density = p / a;
            if density.is_finite() {
                values.insert("density".to_owned(), ProfileValue::Number(density));
            }
        }
        for (name, value) in [("type", kind), ("nation", nation), ("region", region)] {
            if let Some(c) = category(value) {
                values.insert(name.to_owned(), ProfileValue::Category(c));
            }
        }
        let lat = lat
            .parse::<f64>()
            .ok()
            .filter(|v| (-90.0..=90.0).contains(v));
        let long = long
            .parse::<f64>()
            .ok()
            .filter(|v| (-180.0..=180.0).contains(v));
        if let (Some(lat), Some(long)) = (lat, long) {
            values.insert("location".to_owned(), ProfileValue::Location { lat, long });
        }
        profiles.by_code.insert(
            code.clone(),
            Profile {
                code: code.clone(),
                values,
            },
        );
    }
    Ok(profiles)
}

/// A strictly positive finite number, or nothing (a council of 0 km² would divide by zero).
fn positive(text: &str) -> Option<f64> {
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
}

/// A usable category: non-empty, not too long, no control characters.
fn category(text: &str) -> Option<String> {
    let text = normalise_spaces(text);
    (!text.is_empty() && text_problem(&text, "category", MAX_CATEGORY_CHARS).is_none())
        .then_some(text)
}

impl Profiles {
    /// The profile of the council with this code.
    pub fn get(&self, code: &str) -> Option<&Profile> {
        self.by_code.get(code)
    }

    /// How many councils have a profile.
    pub fn len(&self) -> usize {
        self.by_code.len()
    }

    /// Whether there are no profiles.
    pub fn is_empty(&self) -> bool {
        self.by_code.is_empty()
    }

    /// Every profile, by code.
    pub fn iter(&self) -> impl Iterator<Item = &Profile> {
        self.by_code.values()
    }

    /// Adds variables from a data file: header `code,<variable>,...`, one row per council.
    ///
    /// A cell that reads as a finite decimal number (digits, optional sign, point and
    /// exponent) becomes [`ProfileValue::Number`]; anything else non-empty a
    /// [`ProfileValue::Category`]; an empty cell leaves that council's value as it was. A
    /// variable already present (say a newer `population`) is replaced for the councils the
    /// file gives a value for. Variable names are 1 to 40 characters `a-z`, `0-9`, `-`, `_`.
    ///
    /// All or nothing: a file over [`MAX_MERGE_BYTES`], with more than
    /// [`MAX_MERGE_VARIABLES`] variables, a bad header, a ragged row, a repeated code, a
    /// number too large to be finite, or **any code with no profile** is an [`Error`] and
    /// nothing is merged. Unknown codes are refused rather than skipped because a mistyped
    /// code would otherwise leave a council silently without the variable; the error lists
    /// the first few. Returns how many councils received at least one value.
    pub fn merge_csv(&mut self, text: &str) -> Result<u64, Error> {
        let bad = |line: u64, message: String| Error::Csv {
            file: MERGED,
            line,
            message,
        };
        if text.len() > MAX_MERGE_BYTES {
            return Err(bad(
                0,
                format!(
                    "{} bytes is more than the {MAX_MERGE_BYTES}-byte limit",
                    text.len()
                ),
            ));
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.trim().is_empty() {
            return Err(Error::Empty { file: MERGED });
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(text.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| bad(1, e.to_string()))?
            .iter()
            .map(|h| h.trim().to_owned())
            .collect();
        if headers.first().map(String::as_str) != Some("code") {
            return Err(Error::MissingColumn {
                file: MERGED,
                column: "code",
            });
        }
        let variables = &headers[1..];
        if variables.is_empty() {
            return Err(bad(
                1,
                "the header names no variable after `code`".to_owned(),
            ));
        }
        if variables.len() > MAX_MERGE_VARIABLES {
            return Err(bad(
                1,
                format!(
                    "{} variables, at most {MAX_MERGE_VARIABLES}",
                    variables.len()
                ),
            ));
        }
        for (i, name) in variables.iter().enumerate() {
            let ok = !name.is_empty()
                && name.chars().count() <= MAX_VARIABLE_CHARS
                && name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                })
                && name != "code";
            if !ok {
                return Err(bad(
                    1,
                    format!(
                        "{:?} is not a variable name: 1 to {MAX_VARIABLE_CHARS} characters a-z, 0-9, - or _",
                        crate::table::clip(name)
                    ),
                ));
            }
            if variables[..i].contains(name) {
                return Err(bad(1, format!("variable {name:?} is named twice")));
            }
        }

        let mut updates: Vec<(String, Vec<(String, ProfileValue)>)> = Vec::new();
        let mut seen: BTreeMap<String, u64> = BTreeMap::new();
        let mut unknown: Vec<String> = Vec::new();
        let mut unknown_count = 0usize;
        for record in reader.records() {
            let record = record.map_err(|e| match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    pos,
                    expected_len,
                    len,
                } => bad(
                    pos.as_ref().map_or(0, csv::Position::line),
                    format!("row has {len} fields but the header has {expected_len}"),
                ),
                _ => bad(e.position().map_or(0, csv::Position::line), e.to_string()),
            })?;
            let line = record.position().map_or(0, csv::Position::line);
            let code = record.get(0).unwrap_or("").trim();
            if let Some(first) = seen.insert(code.to_owned(), line) {
                return Err(bad(
                    line,
                    format!("code {} is also on line {first}", crate::table::clip(code)),
                ));
            }
            if !self.by_code.contains_key(code) {
                unknown_count += 1;
                if unknown.len() < LIST_UNKNOWN {
                    unknown.push(crate::table::clip(code));
                }
                continue;
            }
            let mut values = Vec::new();
            for (name, cell) in variables.iter().zip(record.iter().skip(1)) {
                let cell = cell.trim();
                if cell.is_empty() {
                    continue;
                }
                let number = looks_numeric(cell)
                    .then(|| cell.parse::<f64>().ok())
                    .flatten();
                let value = if let Some(v) = number {
                    if !v.is_finite() {
                        return Err(bad(
                            line,
                            format!(
                                "{name}: {:?} is not a finite number",
                                crate::table::clip(cell)
                            ),
                        ));
                    }
                    ProfileValue::Number(v)
                } else {
                    match category(cell) {
                        Some(c) => ProfileValue::Category(c),
                        None => {
                            return Err(bad(
                                line,
                                format!(
                                    "{name}: category longer than {MAX_CATEGORY_CHARS} characters or with control characters"
                                ),
                            ))
                        }
                    }
                };
                values.push((name.clone(), value));
            }
            updates.push((code.to_owned(), values));
        }
        if unknown_count > 0 {
            let more = unknown_count - unknown.len();
            let tail = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            return Err(bad(
                0,
                format!(
                    "no council profile has code {}{tail}; nothing was merged",
                    unknown.join(", ")
                ),
            ));
        }
        let mut councils = 0u64;
        for (code, values) in updates {
            if let Some(profile) = self.by_code.get_mut(&code) {
                if !values.is_empty() {
                    councils += 1;
                }
                profile.values.extend(values);
            }
        }
        Ok(councils)
    }
}

/// Whether a cell is written as a decimal number (so `NaN`, `inf` and `12 km` are categories).
fn looks_numeric(cell: &str) -> bool {
    cell.bytes().any(|b| b.is_ascii_digit())
        && cell
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "gss-code,current-authority,pop-2020,area,local-authority-type-name,nation,region,lat,long\n\
        E10000016,True,1589057.0,3544.0,County,England,South East,51.515402964,0.0943925695\n\
        E06000052,True,573299.0,3545.0,Unitary authority,England,South West,50.4056,-4.8272\n\
        E07000001,False,100.0,1.0,Non-metropolitan district,England,South East,51.0,0.0\n\
        E47000001,True,,,Combined authority,England,North West,,\n\
        E06000053,True,2226.0,0,Unitary authority,England,South West,99.0,-6.3\n\
        bad code,True,1.0,1.0,County,England,South East,51.0,0.0\n";

    #[test]
    fn council_variables() {
        let profiles = parse_council_profiles(SAMPLE).expect("parses");
        assert_eq!(profiles.len(), 4);
        let kent = profiles.get("E10000016").expect("Kent");
        assert_eq!(
            kent.values.get("population"),
            Some(&ProfileValue::Number(1_589_057.0))
        );
        assert_eq!(kent.values.get("area"), Some(&ProfileValue::Number(3544.0)));
        match kent.values.get("density") {
            Some(ProfileValue::Number(d)) => assert!((d - 1_589_057.0 / 3544.0).abs() < 1e-9),
            other => panic!("density {other:?}"),
        }
        assert_eq!(
            kent.values.get("type"),
            Some(&ProfileValue::Category("County".to_owned()))
        );
        assert!(matches!(
            kent.values.get("location"),
            Some(ProfileValue::Location { lat, .. }) if (lat - 51.515402964).abs() < 1e-12
        ));
        // Missing numbers leave the variables out, never NaN.
        let combined = profiles.get("E47000001").expect("combined authority");
        assert!(!combined.values.contains_key("population"));
        assert!(!combined.values.contains_key("density"));
        assert!(!combined.values.contains_key("location"));
        assert!(combined.values.contains_key("type"));
        // An area of 0 gives no area and no density; a latitude of 99 no location.
        let scilly = profiles.get("E06000053").expect("scilly");
        assert!(scilly.values.contains_key("population"));
        assert!(!scilly.values.contains_key("area"));
        assert!(!scilly.values.contains_key("density"));
        assert!(!scilly.values.contains_key("location"));
        assert!(profiles.get("E07000001").is_none());
    }

    #[test]
    fn embedded_profiles_have_kent_in_km2() {
        let profiles = council_profiles().expect("embedded");
        assert!(profiles.len() > 350, "{}", profiles.len());
        let kent = profiles.get("E10000016").expect("Kent");
        match kent.values.get("area") {
            Some(ProfileValue::Number(a)) => assert!((3500.0..3600.0).contains(a)),
            other => panic!("area {other:?}"),
        }
        for p in profiles.iter() {
            for v in p.values.values() {
                if let ProfileValue::Number(n) = v {
                    assert!(n.is_finite());
                }
            }
        }
    }

    #[test]
    fn merge_adds_numbers_and_categories() {
        let mut profiles = parse_council_profiles(SAMPLE).expect("parses");
        let n = profiles
            .merge_csv("\u{feff}code,deprivation,coast\nE10000016,21.5,yes\nE06000052,,NaN\n")
            .expect("merges");
        assert_eq!(n, 2);
        let kent = profiles.get("E10000016").expect("Kent");
        assert_eq!(
            kent.values.get("deprivation"),
            Some(&ProfileValue::Number(21.5))
        );
        assert_eq!(
            kent.values.get("coast"),
            Some(&ProfileValue::Category("yes".to_owned()))
        );
        let cornwall = profiles.get("E06000052").expect("Cornwall");
        assert!(!cornwall.values.contains_key("deprivation"));
        assert_eq!(
            cornwall.values.get("coast"),
            Some(&ProfileValue::Category("NaN".to_owned()))
        );
        // Replaces an existing variable.
        profiles
            .merge_csv("code,population\nE10000016,1600000\n")
            .expect("merges");
        assert_eq!(
            profiles
                .get("E10000016")
                .and_then(|p| p.values.get("population")),
            Some(&ProfileValue::Number(1_600_000.0))
        );
    }

    #[test]
    fn merge_refuses_bad_files_whole() {
        let mut profiles = parse_council_profiles(SAMPLE).expect("parses");
        let before = profiles.clone();
        for (text, expect) in [
            ("", "empty"),
            ("gss,x\nE10000016,1\n", "code"),
            ("code\nE10000016\n", "no variable"),
            ("code,X\nE10000016,1\n", "not a variable name"),
            ("code,x,x\nE10000016,1,2\n", "twice"),
            ("code,x\nE10000016,1\nE10000016,2\n", "also on line 2"),
            ("code,x\nE10000016,1,3\n", "fields"),
            ("code,x\nE10000016,1e999\n", "finite"),
            ("code,x\nE10000016,1\nW99999999,2\nZ1,3\n", "W99999999, Z1"),
        ] {
            let e = profiles.merge_csv(text).expect_err(text).to_string();
            assert!(e.contains(expect), "{text:?}: {e}");
            assert_eq!(profiles, before, "{text:?} changed the profiles");
        }
        let huge = format!("code,x\n{}", "E10000016,1\n".repeat(MAX_MERGE_BYTES / 10));
        assert!(profiles
            .merge_csv(&huge)
            .expect_err("huge")
            .to_string()
            .contains("limit"));
    }
}
