//! The real data compiled into the crate: exact counts (computed from the files with the
//! documented rules) and bodies that other code and demos rely on.

use std::collections::HashSet;
use std::path::Path;

use psn_orgdata::{embedded, files, from_dir, Dataset, Error, Sector};

fn data() -> Dataset {
    embedded().expect("embedded data parses")
}

fn skipped_in<'a>(d: &'a Dataset, source: &str) -> Vec<&'a psn_orgdata::Skipped> {
    d.skipped.iter().filter(|s| s.source == source).collect()
}

#[test]
fn exact_counts() {
    let d = data();
    // local_authorities.csv: 470 rows, 397 with current-authority = True (all with a GSS code).
    assert_eq!(d.of_class("LA").count(), 397);
    assert_eq!(skipped_in(&d, files::LOCAL_AUTHORITIES).len(), 73);
    // nhs_trusts.csv: 274 rows, 202 with an empty close_date.
    assert_eq!(d.of_class("NHS").count(), 202);
    assert_eq!(skipped_in(&d, files::NHS_TRUSTS).len(), 72);
    // police_forces.csv: 46 rows, British Transport Police has no PFA code.
    assert_eq!(d.of_class("POL").count(), 45);
    assert_eq!(skipped_in(&d, files::POLICE_FORCES).len(), 1);
    // government_organisations_2017.tsv: 981 rows, 698 without end-date, one of which repeats
    // OT488 (NHS Litigation Authority, later NHS Resolution).
    assert_eq!(d.of_class("GOV").count(), 697);
    assert_eq!(skipped_in(&d, files::GOVERNMENT_ORGANISATIONS).len(), 284);
    assert_eq!(d.organisations.len(), 397 + 202 + 45 + 697);
    // Every row of every file is accounted for exactly once.
    assert_eq!(
        d.organisations.len() + d.skipped.len(),
        470 + 274 + 46 + 981
    );
}

#[test]
fn known_bodies() {
    let d = data();
    let kent = d.find("LA", "E10000016").expect("Kent County Council");
    assert_eq!(kent.name, "Kent County Council");
    assert_eq!(kent.region.as_deref(), Some("South East"));
    assert_eq!(kent.sector, Sector::LocalGovernment);
    assert_eq!(
        d.find("LA", "E10000019").map(|o| o.name.as_str()),
        Some("Lincolnshire County Council")
    );
    let dfe = d.find("GOV", "D6").expect("DfE");
    assert_eq!(dfe.name, "Department for Education");
    assert_eq!(dfe.region, None);
    assert_eq!(dfe.sector, Sector::CentralGovernment);
    assert_eq!(
        d.find("GOV", "D2").map(|o| o.name.as_str()),
        Some("Cabinet Office")
    );
    let gstt = d.find("NHS", "RJ1").expect("Guy's and St Thomas'");
    assert_eq!(gstt.name, "Guy's and St Thomas' NHS Foundation Trust");
    assert_eq!(gstt.region.as_deref(), Some("London"));
    assert_eq!(gstt.sector, Sector::Health);
    let kent_police = d.find("POL", "E23000032").expect("Kent Police");
    assert_eq!(kent_police.name, "Kent Police");
    assert_eq!(kent_police.region.as_deref(), Some("England"));
    assert_eq!(kent_police.sector, Sector::Policing);
}

#[test]
fn skip_reasons_are_informative() {
    let d = data();
    let allerdale = d
        .skipped
        .iter()
        .find(|s| s.code == "E07000026")
        .expect("Allerdale is historical");
    assert_eq!(allerdale.source, files::LOCAL_AUTHORITIES);
    assert_eq!(allerdale.line, 8);
    assert_eq!(
        allerdale.reason,
        "not a current authority (ended 2023-04-01, replaced by Cumberland Council (CBD))"
    );
    let btp = skipped_in(&d, files::POLICE_FORCES)[0];
    assert_eq!(btp.name, "British Transport Police");
    assert_eq!(btp.reason, "no ONS police force area code");
    let dup = d
        .skipped
        .iter()
        .find(|s| s.reason.starts_with("duplicate"))
        .expect("OT488 repeats");
    assert_eq!((dup.code.as_str(), dup.line), ("OT488", 982));
    assert_eq!(dup.reason, "duplicate code, first seen on line 345");
    assert!(skipped_in(&d, files::NHS_TRUSTS)
        .iter()
        .all(|s| s.reason.len() == "closed on 2023-07-01".len()
            && s.reason.starts_with("closed on ")));
    // The register's end dates are sometimes partial ("2015-03", "1999"): shown as given.
    let gov_closed: Vec<&str> = skipped_in(&d, files::GOVERNMENT_ORGANISATIONS)
        .iter()
        .filter_map(|s| s.reason.strip_prefix("closed on "))
        .collect();
    assert_eq!(gov_closed.len(), 283);
    assert!(gov_closed
        .iter()
        .all(|date| date.len() >= 4 && date.starts_with(['1', '2'])));
}

#[test]
fn codes_are_unique_per_class_and_well_formed() {
    let d = data();
    let mut seen = HashSet::new();
    for o in &d.organisations {
        assert!(seen.insert((o.class, o.code.as_str())), "{o:?} repeats");
        assert!(!o.code.is_empty());
        assert!(o
            .code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        assert!(!o.name.is_empty() && o.name.trim() == o.name);
        assert_eq!(o.sector.class(), o.class);
    }
    for o in d.of_class("LA") {
        assert!(o.region.is_some(), "{o:?} has no region");
    }
    // No ALL CAPS NHS names left (the only capitals words kept are acronyms).
    for o in d.of_class("NHS") {
        assert!(o.name.chars().any(char::is_lowercase), "{o:?}");
    }
}

#[test]
fn from_dir_reads_the_same_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/organisations");
    let from_files = from_dir(&dir).expect("data directory parses");
    let built_in = data();
    assert_eq!(from_files.organisations, built_in.organisations);
    assert_eq!(from_files.skipped, built_in.skipped);
}

#[test]
fn from_dir_reports_missing_files_and_bad_encoding() {
    let missing = from_dir(Path::new("/nonexistent/psn-orgdata")).unwrap_err();
    assert!(matches!(missing, Error::Io { .. }), "{missing:?}");
    assert!(missing.to_string().contains(files::LOCAL_AUTHORITIES));

    let dir = std::env::temp_dir().join(format!("psn-orgdata-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/organisations");
    for f in [
        files::LOCAL_AUTHORITIES,
        files::NHS_TRUSTS,
        files::GOVERNMENT_ORGANISATIONS,
    ] {
        std::fs::copy(real.join(f), dir.join(f)).unwrap();
    }
    // Police file missing.
    let err = from_dir(&dir).unwrap_err();
    assert!(err.to_string().contains(files::POLICE_FORCES), "{err}");
    // Police file present but not UTF-8 on line 3.
    std::fs::write(
        dir.join(files::POLICE_FORCES),
        b"police_api_id,name,ons_pfa_code,country,kind\nkent,Kent Police,E23000032,England,territorial\nx,\xff\xfe,E1,England,t\n",
    )
    .unwrap();
    let err = from_dir(&dir).unwrap_err();
    assert!(matches!(err, Error::NotUtf8 { line: 3, .. }), "{err:?}");
    // Police file without the country column.
    std::fs::write(
        dir.join(files::POLICE_FORCES),
        "police_api_id,name,ons_pfa_code\nkent,Kent Police,E23000032\n",
    )
    .unwrap();
    let err = from_dir(&dir).unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingColumn {
                file: files::POLICE_FORCES,
                column: "country"
            }
        ),
        "{err:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sector_names_match_serde() {
    use serde::de::{value, Deserialize, IntoDeserializer};
    assert_eq!(Sector::LocalGovernment.as_str(), "local-government");
    assert_eq!(Sector::CentralGovernment.to_string(), "central-government");
    for s in Sector::ALL {
        // The derived (de)serialisation uses the same kebab-case spelling as as_str().
        let de: value::StrDeserializer<'_, value::Error> = s.as_str().into_deserializer();
        assert_eq!(Sector::deserialize(de), Ok(s));
    }
}
