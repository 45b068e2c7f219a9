//! `psn catalogue processes` through the real binary against a real authority: the table and
//! JSON outputs, a search with no match, and refusals of bad options.

mod common;

use common::Net;
use std::process::{Command, Output};
use std::time::Duration;

fn psn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_psn"))
        .args(args)
        .env_remove("PSN_DATA_DIR")
        .env_remove("PSN_AUTHORITY")
        .env("PSN_LOG", "error")
        .output()
        .expect("run psn")
}

fn stdout_of(args: &[&str]) -> String {
    let out = psn(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// The authority runs in this process; the binary's blocking calls need a second worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_are_searched_as_a_table_and_as_json() {
    let net = Net::prepare(Duration::from_secs(30)).await;
    let dir = net.tmp.path().join("authority").display().to_string();
    let base = ["catalogue", "processes", "--data-dir", dir.as_str()];
    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        stdout_of(&args)
    };

    let table = with(&["--search", "free school meals"]);
    let first = table.lines().nth(1).unwrap_or_default();
    assert!(table.starts_with("ID"), "{table}");
    assert!(first.starts_with("lgsl:4 "), "{table}");
    assert!(first.contains("Free school meals"), "{table}");

    let custody = with(&["--search", "custody"]);
    assert!(
        custody
            .lines()
            .any(|l| l.starts_with("psn:1001") && l.contains("Policing")),
        "{custody}"
    );

    let json: psn_api::ProcessList = serde_json::from_str(&with(&[
        "--search",
        "COUNCIL TAX",
        "--limit",
        "3",
        "--output",
        "json",
    ]))
    .expect("json");
    assert_eq!((json.items.len(), json.limit), (3, 3));
    assert!(json.total > 3);
    assert!(json.items[0]
        .label
        .to_lowercase()
        .starts_with("council tax"));

    let everything = with(&["--limit", "2"]);
    assert!(
        everything.contains("2 of ") && everything.contains("raise --limit"),
        "{everything}"
    );
    assert!(with(&["--search", "zzz no such process"]).contains("no processes match"));

    // Refusals: the authority's (a search with a control character, a limit out of range)
    // and clap's (an unknown output format).
    for extra in [
        &["--search", "a\u{7}b"][..],
        &["--limit", "0"],
        &["--limit", "501"],
        &["--output", "xml"],
    ] {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let out = psn(&args);
        assert!(!out.status.success(), "{extra:?} should be refused");
        assert!(!out.stderr.is_empty(), "{extra:?} says why");
    }
    net.stop().await;
}

/// `psn catalogue show` prints a listing with its declared and measured levels, as a table and
/// as the API's JSON; an unlisted service is refused with the authority's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_is_shown_with_its_declared_and_measured_levels() {
    let net = Net::prepare(Duration::from_secs(30)).await;
    let dir = net.tmp.path().join("authority").display().to_string();
    let table = stdout_of(&["catalogue", "show", common::SERVICE, "--data-dir", &dir]);
    for expected in [
        "FIELD",
        common::SERVICE,
        "Department for Education (GB/GOV/D6)",
        "lgsl:4",
        "lifecycle",
        "live",
        "availability (30 days)",
        "not measured",
        "consuming members",
        "GB/GOV/D6@gw1 active",
    ] {
        assert!(table.contains(expected), "{expected} in {table}");
    }
    let json: psn_api::CatalogueEntry = serde_json::from_str(&stdout_of(&[
        "catalogue",
        "show",
        common::SERVICE,
        "--output",
        "json",
        "--data-dir",
        &dir,
    ]))
    .expect("json");
    assert_eq!(json.listing.id.to_string(), common::SERVICE);
    assert_eq!(json.measured.period.exchanges, 0);
    let unlisted = psn(&[
        "catalogue",
        "show",
        "GB/GOV/D6/eligibility/nothing",
        "--data-dir",
        &dir,
    ]);
    assert!(!unlisted.status.success());
    let stderr = String::from_utf8_lossy(&unlisted.stderr);
    assert!(
        stderr.contains("no service GB/GOV/D6/eligibility/nothing"),
        "{stderr}"
    );
    let malformed = psn(&["catalogue", "show", "not/a/service", "--data-dir", &dir]);
    assert!(!malformed.status.success());
    net.stop().await;
}

/// A provider publishes a listing's terms with `psn gateway service add`; the catalogue shows
/// them as given, and terms that contradict each other are refused before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_s_terms_are_published_from_the_command_line() {
    let net = Net::prepare(Duration::from_secs(30)).await;
    let authority = net.tmp.path().join("authority").display().to_string();
    let dfe = net.members[common::PROVIDER]
        .dir
        .root()
        .display()
        .to_string();
    let service = "GB/GOV/D6/eligibility/pupil-premium";
    let add = |extra: &[&str]| {
        let mut args = vec![
            "gateway",
            "service",
            "add",
            service,
            "--backend",
            "http://127.0.0.1:9/pp",
            "--title",
            "Pupil premium check",
            "--process",
            "lgsl:4",
            "--data-dir",
            dfe.as_str(),
        ];
        args.extend_from_slice(extra);
        psn(&args)
    };
    let refused = add(&["--lifecycle", "deprecated"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("sunset"), "{stderr}");
    let not_listed = psn(&["catalogue", "show", service, "--data-dir", &authority]);
    assert!(!not_listed.status.success(), "nothing was published");
    for bad in [
        &["--price", "3.50/employee/fortnight"][..],
        &["--lifecycle", "retired"],
        &["--sunset", "31/03/2027"],
    ] {
        assert!(!add(bad).status.success(), "{bad:?}");
    }

    let published = add(&[
        "--lifecycle",
        "beta",
        "--service-type",
        "events",
        "--who-may-apply",
        "member-classes",
        "--member-class",
        "LA",
        "--classification",
        "official-sensitive",
        "--contact",
        "fsm-team@education.gov.uk",
        "--price",
        "0.79/check/each",
        "--terms",
        "Schools' data only",
        "--area",
        "England",
        "--version-label",
        "0.9",
    ]);
    assert!(
        published.status.success(),
        "{}",
        String::from_utf8_lossy(&published.stderr)
    );
    let entry: psn_api::CatalogueEntry = serde_json::from_str(&stdout_of(&[
        "catalogue",
        "show",
        service,
        "--output",
        "json",
        "--data-dir",
        &authority,
    ]))
    .expect("json");
    let d = &entry.listing.details;
    assert_eq!(d.lifecycle, psn_api::Lifecycle::Beta);
    assert_eq!(d.service_type, psn_api::ServiceType::Events);
    assert_eq!(d.member_classes.len(), 1);
    assert_eq!(d.contact.as_deref(), Some("fsm-team@education.gov.uk"));
    assert_eq!(
        d.price,
        psn_api::Price::PerUnit {
            min_pence: 79,
            max_pence: 79,
            unit: "check".into(),
            interval: psn_api::PriceInterval::Each
        }
    );
    assert_eq!(d.areas, vec!["England".to_owned()]);
    assert_eq!(d.version.as_deref(), Some("0.9"));
    net.stop().await;
}

/// `psn catalogue search` prints hits with their measured columns and the facet counts, as a
/// table, CSV and JSON; `psn catalogue partners` finds the provider of a process; bad options
/// are refused with the authority's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_is_searched_and_partners_found_from_the_command_line() {
    let net = Net::prepare(Duration::from_secs(30)).await;
    let dir = net.tmp.path().join("authority").display().to_string();
    let table = stdout_of(&["catalogue", "search", "free", "scool", "--data-dir", &dir]);
    assert!(table.starts_with("SERVICE"), "{table}");
    assert!(table.contains(common::SERVICE), "{table}");
    assert!(table.contains("1 to 1 of 1 matching services"), "{table}");
    assert!(table.contains("lifecycle: live (1)"), "{table}");
    let csv = stdout_of(&[
        "catalogue",
        "search",
        "--process",
        "lgsl:4",
        "--lifecycle",
        "live",
        "--output",
        "csv",
        "--data-dir",
        &dir,
    ]);
    let mut rows = csv.lines();
    assert_eq!(
        rows.next(),
        Some(
            "service,title,provider,processes,lifecycle,declared,measured,p95,calls/day,consumers"
        )
    );
    assert!(
        rows.next().is_some_and(|r| r.starts_with(common::SERVICE)),
        "{csv}"
    );
    let none: psn_api::SearchResults = serde_json::from_str(&stdout_of(&[
        "catalogue",
        "search",
        "--lifecycle",
        "deprecated",
        "--output",
        "json",
        "--data-dir",
        &dir,
    ]))
    .expect("json");
    assert_eq!(none.total, 0);
    let partners = stdout_of(&[
        "catalogue",
        "partners",
        "--process",
        "lgsl:4",
        "--data-dir",
        &dir,
    ]);
    assert!(
        partners.starts_with("Free school meals (lgsl:4)"),
        "{partners}"
    );
    assert!(partners.contains(common::SERVICE), "{partners}");
    let refused = psn(&["catalogue", "search", "--limit", "101", "--data-dir", &dir]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("limit must be"), "{stderr}");
    let unknown = psn(&[
        "catalogue",
        "partners",
        "--process",
        "lgsl:0",
        "--data-dir",
        &dir,
    ]);
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("no process \"lgsl:0\""), "{stderr}");
    let neither = psn(&["catalogue", "partners", "--data-dir", &dir]);
    assert!(!neither.status.success());
    net.stop().await;
}
