//! The process catalogue: the embedded taxonomy, lookups, search ranking, ancestry, and
//! hostile taxonomy files refused with the file and line.

use psn_orgdata::{files, Error, ProcessCatalogue, TaxonomyTexts};

const LGSL: &str = "Identifier,Label,Description\n57,Council tax annual notification,Bills\n";
const LGFL: &str = "Identifier,Label,Description,Parent identifiers\n1,Benefits,,\n2,Advice,,1\n";
const FUNCTIONS: &str = "Identifier,Label,Description,Parent identifiers\n1,Policing,,\n";
const PROCESSES: &str =
    "Identifier,Label,Description,Parent identifier\n1001,Custody records,Detention,1\n";

fn texts<'a>() -> TaxonomyTexts<'a> {
    TaxonomyTexts {
        lgsl_services: LGSL,
        lgfl_functions: LGFL,
        psn_functions: FUNCTIONS,
        psn_processes: PROCESSES,
    }
}

#[test]
fn embedded_catalogue_holds_lgsl_and_the_networks_own() {
    let c = ProcessCatalogue::embedded().unwrap();
    let own = c
        .processes()
        .iter()
        .filter(|p| p.id.starts_with("psn:"))
        .count();
    assert!(
        (40..=80).contains(&own),
        "{own} of the network's own processes"
    );
    assert_eq!(c.processes().len(), 1519 + own);
    assert_eq!(c.get("lgsl:4").unwrap().label, "Free school meals");
    assert_eq!(
        c.get("lgsl:57").unwrap().label,
        "Council tax annual notification"
    );
    assert_eq!(c.get("lgsl:979").unwrap().label, "Staff - payroll");
    assert_eq!(c.get("psn:1001").unwrap().label, "Custody records");
    assert!(c.get("lgsl:057").is_none());
    assert!(c.get("LGSL:57").is_none());
    assert!(c.get("psn:57").is_none());
    assert!(c.get("").is_none());
    // Every one of the network's processes has a psnf function; LGSL ones have none.
    for p in c.processes() {
        let ancestry = c.ancestry(p);
        if p.id.starts_with("psn:") {
            assert!(
                ancestry.first().is_some_and(|f| f.id.starts_with("psnf:")),
                "{}",
                p.id
            );
        } else {
            assert!(ancestry.is_empty(), "{}", p.id);
        }
    }
    let custody = c.get("psn:1001").unwrap();
    let labels: Vec<&str> = c
        .ancestry(custody)
        .iter()
        .map(|f| f.label.as_str())
        .collect();
    assert_eq!(labels, ["Policing"]);
    // The LGFL hierarchy is loaded: function 2 sits under 1.
    let chain: Vec<&str> = c
        .function_ancestry("lgfl:2")
        .iter()
        .map(|f| f.id.as_str())
        .collect();
    assert_eq!(chain, ["lgfl:1", "lgfl:2"]);
    assert_eq!(c.function("psnf:2").unwrap().label, "Health and care");
}

#[test]
fn search_ranks_label_matches_first_and_ignores_case() {
    let c = ProcessCatalogue::embedded().unwrap();
    let hits = c.search("COUNCIL TAX");
    assert!(hits.len() > 5);
    assert!(hits[0].label.to_lowercase().starts_with("council tax"));
    // Label matches come before matches only in the scope note.
    let first_note_only = hits
        .iter()
        .position(|p| !p.label.to_lowercase().contains("council tax"));
    if let Some(at) = first_note_only {
        assert!(hits[at..]
            .iter()
            .all(|p| !p.label.to_lowercase().contains("council tax")));
    }
    let exact = c.search("custody records");
    assert_eq!(exact[0].id, "psn:1001");
    // Words may be found across label and scope note.
    assert!(c
        .search("firearms   renewal")
        .iter()
        .any(|p| p.id == "psn:1004"));
    assert!(c.search("no such process zzzz").is_empty());
    assert_eq!(c.search("   ").len(), c.processes().len());
}

#[test]
fn small_files_parse_with_ancestry() {
    let c = ProcessCatalogue::parse(texts()).unwrap();
    assert_eq!(c.processes().len(), 2);
    assert_eq!(
        c.get("psn:1001").unwrap().function.as_deref(),
        Some("psnf:1")
    );
    assert!(c.get("lgsl:57").unwrap().function.is_none());
}

fn refused(t: TaxonomyTexts<'_>) -> (&'static str, u64, String) {
    match ProcessCatalogue::parse(t) {
        Err(Error::BadValue {
            file,
            line,
            message,
            ..
        }) => (file, line, message),
        Err(Error::Csv {
            file,
            line,
            message,
        }) => (file, line, message),
        other => panic!(
            "expected a refusal, got {:?}",
            other.map(|c| c.processes().len())
        ),
    }
}

#[test]
fn hostile_taxonomy_files_are_refused_with_file_and_line() {
    let header = "Identifier,Label,Description,Parent identifier\n";
    for (bad, what) in [
        ("1001,A,,9\n", "is not a function"),
        ("1001,A,,\n", "empty parent"),
        ("1001,A,,x\n", "not a whole number"),
        ("1001,A,,-1\n", "not a whole number"),
        ("-5,A,,1\n", "not a whole number"),
        ("99999999999,A,,1\n", "not a whole number"),
        ("1001,,,1\n", "empty label"),
        ("1001,\u{7},,1\n", "control characters"),
        ("1001,A,,1\n1001,B,,1\n", "repeats"),
    ] {
        let text = format!("{header}{bad}");
        let (file, line, message) = refused(TaxonomyTexts {
            psn_processes: &text,
            ..texts()
        });
        assert_eq!(file, files::PSN_PROCESSES, "{bad:?}");
        assert!(line >= 2, "{bad:?}");
        assert!(message.contains(what), "{bad:?}: {message}");
    }
    // A structurally broken file names its line.
    let text = format!("{header}1001,\"open,,1\n");
    assert_eq!(
        refused(TaxonomyTexts {
            psn_processes: &text,
            ..texts()
        })
        .0,
        files::PSN_PROCESSES
    );
    // The parent column is required in the network's process file.
    assert!(matches!(
        ProcessCatalogue::parse(TaxonomyTexts {
            psn_processes: "Identifier,Label,Description\n1001,A,\n",
            ..texts()
        }),
        Err(Error::MissingColumn {
            file: files::PSN_PROCESSES,
            ..
        })
    ));
    // Function files: unknown parents and cycles.
    for bad in ["1,A,,2\n", "1,A,,1\n", "1,A,,2\n2,B,,3\n3,C,,1\n"] {
        let text = format!("Identifier,Label,Description,Parent identifiers\n{bad}");
        let (file, line, _) = refused(TaxonomyTexts {
            lgfl_functions: &text,
            ..texts()
        });
        assert_eq!((file, line), (files::LGFL_FUNCTIONS, 2), "{bad:?}");
        let (file, _, _) = refused(TaxonomyTexts {
            psn_functions: &text,
            psn_processes: "Identifier,Label,Description,Parent identifier\n",
            ..texts()
        });
        assert_eq!(file, files::PSN_FUNCTIONS, "{bad:?}");
    }
    assert!(matches!(
        ProcessCatalogue::parse(TaxonomyTexts {
            lgsl_services: "",
            ..texts()
        }),
        Err(Error::Empty {
            file: files::LGSL_SERVICES
        })
    ));
}

#[test]
fn arbitrary_bytes_never_panic() {
    for text in [
        "\0\u{1}",
        "\u{feff}",
        "\"",
        ",,,,\n,,,",
        "Identifier\n\u{10ffff}",
    ] {
        for slot in 0..4 {
            let mut t = texts();
            match slot {
                0 => t.lgsl_services = text,
                1 => t.lgfl_functions = text,
                2 => t.psn_functions = text,
                _ => t.psn_processes = text,
            }
            assert!(ProcessCatalogue::parse(t).is_err());
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Arbitrary text in any of the four files: an answer or an error, never a panic; and
    /// searching the embedded catalogue for anything never panics.
    #[test]
    fn arbitrary_files_and_queries_never_panic(text in ".*", slot in 0usize..4) {
        let mut t = texts();
        match slot {
            0 => t.lgsl_services = &text,
            1 => t.lgfl_functions = &text,
            2 => t.psn_functions = &text,
            _ => t.psn_processes = &text,
        }
        let _ = ProcessCatalogue::parse(t);
        let _ = ProcessCatalogue::embedded().map(|c| c.search(&text).len());
    }
}
