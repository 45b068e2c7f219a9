//! Malformed and hostile input: every parser returns an error or skips the row with a reason,
//! and never panics.

use proptest::prelude::*;
use psn_orgdata::{
    files, parse_government_organisations, parse_lgsl_processes, parse_local_authorities,
    parse_nhs_trusts, parse_police_forces, Dataset, Error,
};

type Parser = fn(&str) -> Result<Dataset, Error>;

/// Each parser with its file name, a minimal valid header, a valid row, the column that holds
/// the code, and the field separator.
struct Case {
    parse: Parser,
    file: &'static str,
    header: &'static [&'static str],
    row: &'static [&'static str],
    sep: &'static str,
}

const CASES: [Case; 4] = [
    Case {
        parse: parse_local_authorities,
        file: files::LOCAL_AUTHORITIES,
        header: &[
            "local-authority-code",
            "official-name",
            "gss-code",
            "region",
            "current-authority",
        ],
        row: &[
            "KEN",
            "Kent County Council",
            "E10000016",
            "South East",
            "True",
        ],
        sep: ",",
    },
    Case {
        parse: parse_nhs_trusts,
        file: files::NHS_TRUSTS,
        header: &[
            "ods_code",
            "name",
            "close_date",
            "nhs_england_region_name_derived",
        ],
        row: &[
            "RJ1",
            "GUY'S AND ST THOMAS' NHS FOUNDATION TRUST",
            "",
            "London",
        ],
        sep: ",",
    },
    Case {
        parse: parse_police_forces,
        file: files::POLICE_FORCES,
        header: &["police_api_id", "name", "ons_pfa_code", "country"],
        row: &["kent", "Kent Police", "E23000032", "England"],
        sep: ",",
    },
    Case {
        parse: parse_government_organisations,
        file: files::GOVERNMENT_ORGANISATIONS,
        header: &["government-organisation", "name", "end-date"],
        row: &["D2", "Cabinet Office", ""],
        sep: "\t",
    },
];

impl Case {
    fn header_line(&self) -> String {
        self.header.join(self.sep)
    }
    fn with_rows(&self, rows: &[Vec<String>]) -> String {
        let mut text = self.header_line();
        for r in rows {
            text.push('\n');
            text.push_str(&r.join(self.sep));
        }
        text.push('\n');
        text
    }
    fn row(&self) -> Vec<String> {
        self.row.iter().map(|s| s.to_string()).collect()
    }
    fn code_index(&self) -> usize {
        self.row
            .iter()
            .position(|v| ["E10000016", "RJ1", "E23000032", "D2"].contains(v))
            .unwrap()
    }
    fn name_index(&self) -> usize {
        self.header
            .iter()
            .position(|h| *h == "name" || *h == "official-name")
            .unwrap()
    }
}

#[test]
fn valid_minimal_files_parse() {
    for case in &CASES {
        let d = (case.parse)(&case.with_rows(&[case.row()])).unwrap();
        assert_eq!(d.organisations.len(), 1, "{}", case.file);
        assert!(d.skipped.is_empty());
    }
}

#[test]
fn empty_file_is_an_error() {
    for case in &CASES {
        for text in ["", "   \n\n  ", "\u{feff}"] {
            match (case.parse)(text) {
                Err(Error::Empty { file }) => assert_eq!(file, case.file),
                other => panic!("{}: {other:?}", case.file),
            }
        }
    }
}

#[test]
fn header_only_gives_nothing() {
    for case in &CASES {
        for text in [case.header_line(), format!("{}\n", case.header_line())] {
            let d = (case.parse)(&text).unwrap();
            assert!(d.organisations.is_empty() && d.skipped.is_empty());
        }
    }
}

#[test]
fn missing_column_is_named() {
    for case in &CASES {
        for drop in 0..case.header.len() {
            let header: Vec<&str> = case
                .header
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != drop)
                .map(|(_, h)| *h)
                .collect();
            let row: Vec<&str> = case
                .row
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != drop)
                .map(|(_, v)| *v)
                .collect();
            let text = format!("{}\n{}\n", header.join(case.sep), row.join(case.sep));
            let result = (case.parse)(&text);
            let dropped = case.header[drop];
            if ["local-authority-code", "police_api_id"].contains(&dropped) {
                // Not a column these parsers need.
                assert!(result.is_ok(), "{}: {result:?}", case.file);
                continue;
            }
            match result {
                Err(e @ Error::MissingColumn { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(case.file) && msg.contains(dropped), "{msg}");
                }
                other => panic!("{} without {dropped}: {other:?}", case.file),
            }
        }
    }
}

#[test]
fn columns_are_found_by_name_not_position() {
    for case in &CASES {
        let mut header: Vec<&str> = case.header.to_vec();
        let mut row: Vec<&str> = case.row.to_vec();
        header.reverse();
        row.reverse();
        header.push("extra");
        row.push("whatever");
        let text = format!("{}\n{}\n", header.join(case.sep), row.join(case.sep));
        let d = (case.parse)(&text).unwrap();
        let straight = (case.parse)(&case.with_rows(&[case.row()])).unwrap();
        assert_eq!(d.organisations, straight.organisations, "{}", case.file);
    }
}

#[test]
fn repeated_needed_column_is_an_error() {
    for case in &CASES {
        let mut header: Vec<&str> = case.header.to_vec();
        let mut row: Vec<&str> = case.row.to_vec();
        let code = case.code_index();
        header.push(case.header[code]);
        row.push("X1");
        let text = format!("{}\n{}\n", header.join(case.sep), row.join(case.sep));
        assert!(
            matches!((case.parse)(&text), Err(Error::DuplicateColumn { .. })),
            "{}",
            case.file
        );
    }
}

#[test]
fn wrong_field_count_is_an_error_naming_the_line() {
    for case in &CASES {
        let mut short = case.row();
        short.pop();
        let mut long = case.row();
        long.push("surplus".into());
        for bad in [short, long] {
            let text = case.with_rows(&[case.row(), bad]);
            match (case.parse)(&text) {
                Err(e @ Error::Csv { line: 3, .. }) => {
                    assert!(e.to_string().contains(case.file), "{e}");
                    assert!(e.to_string().contains("fields"), "{e}");
                }
                other => panic!("{}: {other:?}", case.file),
            }
        }
    }
}

#[test]
fn unterminated_quote_is_an_error_in_csv_files() {
    for case in CASES.iter().filter(|c| c.sep == ",") {
        let mut bad = case.row();
        bad[case.name_index()] = "\"Unclosed, name".into();
        let text = case.with_rows(&[case.row(), case.row(), bad, case.row()]);
        match (case.parse)(&text) {
            Err(e @ Error::Csv { line: 4, .. }) => {
                assert!(e.to_string().contains("never closed"), "{e}");
            }
            other => panic!("{}: {other:?}", case.file),
        }
        // Truncated at the very end of the file, too.
        let text = format!("{}\n\"", case.header_line());
        assert!(matches!(
            (case.parse)(&text),
            Err(Error::Csv { line: 2, .. })
        ));
    }
    // The GOV register is TSV without quoting: a stray quote is just a character.
    let gov = &CASES[3];
    let text = format!("{}\nD9\t\"Quoted Office\t\n", gov.header_line());
    let d = parse_government_organisations(&text).unwrap();
    assert_eq!(d.organisations[0].name, "\"Quoted Office");
    assert_eq!(gov.file, files::GOVERNMENT_ORGANISATIONS);
}

#[test]
fn quoted_fields_with_newlines_keep_line_numbers() {
    let case = &CASES[2];
    let text = format!(
        "{}\nkent,\"Kent\nPolice\",E23000032,England\nessex,Essex Police,E23000030,England\nx,Dup,E23000030,England\n",
        case.header_line()
    );
    let d = parse_police_forces(&text).unwrap();
    assert_eq!(d.organisations[0].name, "Kent Police");
    assert_eq!(d.skipped[0].line, 5);
    assert_eq!(d.skipped[0].reason, "duplicate code, first seen on line 4");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let garbage = [
        "\0\u{1}\u{2}\u{7f}\u{fffd}\u{fffd}PK\u{3}\u{4}",
        "\u{feff}\u{feff}\u{feff}",
        "\"",
        "\"\"\"",
        ",,,,\n,,,,",
        "\t\t\t\n\t\t",
        "\r\r\r\r",
        "💥,🔥\n1,2",
    ];
    for case in &CASES {
        for g in garbage {
            assert!((case.parse)(g).is_err(), "{}: {g:?}", case.file);
        }
        // Binary junk as a row after a valid header: error or skip, never accepted as-is.
        let junk = "\u{0}\u{1}\u{2}junk\u{fffd}";
        let mut row = case.row();
        row[case.code_index()] = junk.into();
        let d = (case.parse)(&case.with_rows(&[row])).unwrap();
        assert!(d.organisations.is_empty());
        assert!(
            d.skipped[0].reason.contains("outside A-Z"),
            "{:?}",
            d.skipped
        );
    }
    assert!(parse_lgsl_processes("\0\u{1}\u{2}").is_err());
}

#[test]
fn bad_values_are_skipped_with_reasons() {
    for case in &CASES {
        let code = case.code_index();
        let name = case.name_index();
        let with = |i: usize, v: &str| {
            let mut r = case.row();
            r[i] = v.into();
            r
        };
        let rows = vec![
            case.row(),
            with(code, "e10000016"),
            with(code, "E 1"),
            with(code, "E-1"),
            with(code, &"9".repeat(17)),
            with(code, ""),
            with(name, ""),
            with(name, "Bell\u{7}Council"),
            case.row(),
        ];
        let d = (case.parse)(&case.with_rows(&rows)).unwrap();
        assert_eq!(
            d.organisations.len(),
            1,
            "{}: {:?}",
            case.file,
            d.organisations
        );
        assert_eq!(d.skipped.len(), 8, "{}", case.file);
        let reasons: Vec<&str> = d.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert!(reasons[0].contains("outside A-Z"), "{reasons:?}");
        assert!(reasons[1].contains("outside A-Z"));
        assert!(reasons[2].contains("outside A-Z"));
        assert!(reasons[3].contains("too long"));
        if case.file == files::POLICE_FORCES {
            assert_eq!(reasons[4], "no ONS police force area code");
        } else {
            assert!(reasons[4].starts_with("empty "), "{reasons:?}");
        }
        assert_eq!(reasons[5], "empty name");
        assert!(reasons[6].contains("control characters"));
        assert!(reasons[7].starts_with("duplicate code, first seen on line 2"));
        let lines: Vec<u64> = d.skipped.iter().map(|s| s.line).collect();
        assert_eq!(lines, (3..=10).collect::<Vec<u64>>());
        assert!(d.skipped.iter().all(|s| s.source == case.file));
    }
}

#[test]
fn whitespace_is_trimmed_and_collapsed() {
    let text = "ods_code,name,close_date,nhs_england_region_name_derived\n  RJ1 , GUY'S   AND\tST THOMAS' NHS FOUNDATION TRUST ,  ,  London \n";
    let d = parse_nhs_trusts(text).unwrap();
    let o = &d.organisations[0];
    assert_eq!(o.code, "RJ1");
    assert_eq!(o.name, "Guy's and St Thomas' NHS Foundation Trust");
    assert_eq!(o.region.as_deref(), Some("London"));
}

#[test]
fn status_rules() {
    let la = "gss-code,official-name,region,current-authority,end-date,replaced-by,local-authority-code\n\
              E1,Old Council,South East,False,2019-04-01,NEW,OLD\n\
              E2,New Council,South East,True,,,NEW\n\
              E3,Odd Council,South East,yes,,,ODD\n\
              ,Blank Council,South East,True,,,BLK\n";
    let d = parse_local_authorities(la).unwrap();
    assert_eq!(d.organisations.len(), 1);
    assert_eq!(
        d.skipped[0].reason,
        "not a current authority (ended 2019-04-01, replaced by New Council (NEW))"
    );
    assert!(d.skipped[1].reason.contains("expected True"));
    assert_eq!(d.skipped[2].reason, "empty gss-code");

    let nhs = "ods_code,name,close_date,nhs_england_region_name_derived\nRX1,A TRUST,20230701,London\nRX2,B TRUST,,\n";
    let d = parse_nhs_trusts(nhs).unwrap();
    assert_eq!(d.skipped[0].reason, "closed on 2023-07-01");
    assert_eq!(d.skipped[0].name, "A Trust");
    assert_eq!(d.organisations[0].region, None);

    let gov = "government-organisation\tname\tend-date\nD1\tGone\t2016-07-14\n";
    let d = parse_government_organisations(gov).unwrap();
    assert_eq!(d.skipped[0].reason, "closed on 2016-07-14");
}

#[test]
fn huge_fields_and_lines() {
    let mb = 1 << 20;
    for case in &CASES {
        // 1 MB name: skipped, and the skip record is clipped.
        let mut row = case.row();
        row[case.name_index()] = "A".repeat(mb);
        let d = (case.parse)(&case.with_rows(&[row, case.row()])).unwrap();
        assert_eq!(d.organisations.len(), 1);
        assert!(d.skipped[0].reason.contains("too long"));
        assert!(d.skipped[0].name.chars().count() <= 81);
        // 1 MB code: skipped, clipped.
        let mut row = case.row();
        row[case.code_index()] = "Z".repeat(mb);
        let d = (case.parse)(&case.with_rows(&[row])).unwrap();
        assert!(d.skipped[0].code.chars().count() <= 81);
        // 1 MB in a column nobody reads: the row is fine.
        let mut header: Vec<&str> = case.header.to_vec();
        header.push("notes");
        let mut row = case.row();
        row.push("x".repeat(mb));
        let text = format!("{}\n{}\n", header.join(case.sep), row.join(case.sep));
        assert_eq!((case.parse)(&text).unwrap().organisations.len(), 1);
        // 1 MB header line of junk: missing column.
        let text = format!("{}\n", "h".repeat(mb));
        assert!(matches!(
            (case.parse)(&text),
            Err(Error::MissingColumn { .. })
        ));
    }
}

#[test]
fn lgsl_hostile_inputs() {
    let header = "Identifier,Label,Description,Type\n";
    assert!(matches!(parse_lgsl_processes(""), Err(Error::Empty { .. })));
    assert_eq!(parse_lgsl_processes(header).unwrap(), vec![]);
    let ok = parse_lgsl_processes(&format!("{header}57, Council  tax ,,Service\n")).unwrap();
    assert_eq!(ok[0].id, 57);
    assert_eq!(ok[0].label, "Council tax");
    assert_eq!(ok[0].description, "");
    for (bad, column) in [
        ("x1,Label,,S\n", "Identifier"),
        ("-1,Label,,S\n", "Identifier"),
        ("+1,Label,,S\n", "Identifier"),
        ("99999999999,Label,,S\n", "Identifier"),
        ("1,,,S\n", "Label"),
        ("1,A\u{0}B,,S\n", "Label"),
        ("1,A,,S\n1,B,,S\n", "Identifier"),
    ] {
        match parse_lgsl_processes(&format!("{header}{bad}")) {
            Err(Error::BadValue {
                column: c, line, ..
            }) => {
                assert_eq!(c, column, "{bad:?}");
                assert!(line >= 2);
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert!(matches!(
        parse_lgsl_processes("Identifier,Label\n1,A\n"),
        Err(Error::MissingColumn {
            column: "Description",
            ..
        })
    ));
    assert!(matches!(
        parse_lgsl_processes(&format!("{header}1,\"open,,S\n")),
        Err(Error::Csv { line: 2, .. })
    ));
}

fn any_parser() -> impl Strategy<Value = usize> {
    0..CASES.len()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary text: any result is fine, a panic is not.
    #[test]
    fn arbitrary_text_never_panics(text in any::<String>(), which in any_parser()) {
        let _ = (CASES[which].parse)(&text);
        let _ = parse_lgsl_processes(&text);
    }

    /// Arbitrary CSV-ish bodies under a valid header: whatever is accepted is clean.
    #[test]
    fn accepted_rows_are_always_clean(
        body in proptest::collection::vec("[A-Za-z0-9 ,\t\"\n\r'&()\u{0}\u{7f}é-]{0,40}", 0..20),
        which in any_parser(),
    ) {
        let case = &CASES[which];
        let text = format!("{}\n{}", case.header_line(), body.join("\n"));
        if let Ok(d) = (case.parse)(&text) {
            let mut codes = std::collections::HashSet::new();
            for o in &d.organisations {
                prop_assert!(!o.code.is_empty() && o.code.len() <= 16);
                prop_assert!(o.code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
                prop_assert!(codes.insert(o.code.clone()), "duplicate {}", o.code);
                prop_assert!(!o.name.is_empty());
                prop_assert!(!o.name.chars().any(char::is_control));
                prop_assert_eq!(o.name.trim(), o.name.as_str());
            }
            for s in &d.skipped {
                prop_assert!(s.line >= 2);
                prop_assert!(!s.reason.is_empty());
            }
        }
    }

    /// Arbitrary rows made of valid-looking fields: never an error (structure is right), and
    /// every row is either accepted or skipped.
    #[test]
    fn well_formed_rows_are_accepted_or_skipped(
        rows in proptest::collection::vec(
            proptest::collection::vec("[A-Z0-9a-z '()&-]{0,12}", 5),
            0..30,
        ),
        which in any_parser(),
    ) {
        let case = &CASES[which];
        let rows: Vec<Vec<String>> = rows
            .into_iter()
            .map(|mut r| { r.truncate(case.header.len()); r })
            .collect();
        let d = (case.parse)(&case.with_rows(&rows)).unwrap();
        prop_assert_eq!(d.organisations.len() + d.skipped.len(), rows.len());
    }
}
