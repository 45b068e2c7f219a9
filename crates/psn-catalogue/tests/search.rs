//! The search engine over a fixed corpus of real-sounding public-sector services: expected top
//! results, facet counts against a brute-force count, sorting, paging, updates, hostile input.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use psn_catalogue::{
    CatalogueError, CatalogueIndex, Facet, Listing, ProcessRef, SearchQuery, SearchResult, Sort,
    MAX_OFFSET,
};

/// Process id, label, functions (top-level first).
const PROCESSES: &[(&str, &str, &[&str])] = &[
    (
        "lgsl:1",
        "Payroll",
        &["corporate-services", "human-resources"],
    ),
    (
        "lgsl:57",
        "Council tax collection",
        &["finance", "revenues"],
    ),
    ("lgsl:58", "Business rates", &["finance", "revenues"]),
    (
        "lgsl:813",
        "Free school meals",
        &["education", "school-support"],
    ),
    (
        "lgsl:300",
        "School admissions",
        &["education", "admissions"],
    ),
    ("lgsl:28", "Blue badge permits", &["transport", "parking"]),
    (
        "lgsl:524",
        "Household waste collection",
        &["environment", "waste"],
    ),
    (
        "lgsl:200",
        "Planning applications",
        &["environment", "planning"],
    ),
    (
        "lgsl:1400",
        "Procurement",
        &["corporate-services", "procurement"],
    ),
    (
        "lgsl:100",
        "Housing benefit",
        &["advice-and-benefits", "benefits"],
    ),
    (
        "lgsl:400",
        "Births deaths and marriages",
        &["council-and-democracy", "registration"],
    ),
    ("pol:10", "Custody records", &["justice", "custody"]),
    ("pol:20", "Firearms licensing", &["justice", "licensing"]),
    ("nhs:1", "GP registration", &["health", "primary-care"]),
    ("nhs:2", "Patient referral", &["health", "secondary-care"]),
    ("nhs:3", "Prescriptions", &["health", "primary-care"]),
];

fn process(id: &str) -> ProcessRef {
    let (id, label, functions) = PROCESSES
        .iter()
        .find(|(p, _, _)| *p == id)
        .copied()
        .expect("a known process");
    ProcessRef {
        id: id.to_owned(),
        label: label.to_owned(),
        functions: functions.iter().map(|f| (*f).to_owned()).collect(),
    }
}

/// service, title, description, processes, provider name, class, region, service type,
/// lifecycle, who may apply, availability.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<f64>,
);

#[rustfmt::skip]
const ROWS: &[Row] = &[
    ("GB/LA/E10000016/revenues/council-tax", "Council tax accounts", "Look up council tax accounts, balances, discounts and direct debits for a property.", &["lgsl:57"], "Kent County Council", "LA", "south-east", "rest", "live", "any-member", Some(99.95)),
    ("GB/LA/E10000016/revenues/business-rates", "Business rates accounts", "Non-domestic rates bills, reliefs and payments for business premises.", &["lgsl:58"], "Kent County Council", "LA", "south-east", "rest", "live", "member-classes", Some(99.5)),
    ("GB/LA/E10000016/hr/payroll", "Payroll", "Monthly payroll runs, payslips and pension deductions for council staff.", &["lgsl:1"], "Kent County Council", "LA", "south-east", "files", "live", "by-request", Some(99.2)),
    ("GB/LA/E10000016/education/free-school-meals", "Free school meals eligibility", "Check whether a child is eligible for free school meals using benefits data.", &["lgsl:813"], "Kent County Council", "LA", "south-east", "rest", "beta", "member-classes", Some(98.0)),
    ("GB/LA/E10000016/parking/blue-badge", "Blue badge applications", "Apply for, renew and verify blue badge parking permits for disabled people.", &["lgsl:28"], "Kent County Council", "LA", "south-east", "rest", "live", "any-member", Some(99.99)),
    ("GB/LA/E08000025/revenues/council-tax", "Council tax", "Council tax bands, bills and single person discount checks.", &["lgsl:57"], "Birmingham City Council", "LA", "west-midlands", "soap", "live", "any-member", Some(97.0)),
    ("GB/LA/E08000025/waste/collections", "Waste collection schedules", "Bin collection days, missed bins and bulky waste bookings for households.", &["lgsl:524"], "Birmingham City Council", "LA", "west-midlands", "rest", "live", "any-member", Some(99.91)),
    ("GB/LA/E08000025/housing/benefit", "Housing benefit claims", "Housing benefit and council tax support claims, changes of circumstances and payments.", &["lgsl:100", "lgsl:57"], "Birmingham City Council", "LA", "west-midlands", "soap", "deprecated", "member-classes", Some(94.0)),
    ("GB/LA/E08000025/procurement/tenders", "Procurement tenders", "Published tenders, contract notices and supplier registration.", &["lgsl:1400"], "Birmingham City Council", "LA", "west-midlands", "events", "beta", "any-member", None),
    ("GB/LA/E08000025/education/admissions", "School admissions", "Primary and secondary school place applications and offers.", &["lgsl:300"], "Birmingham City Council", "LA", "west-midlands", "rest", "live", "member-classes", Some(99.0)),
    ("GB/LA/E09000033/planning/applications", "Planning applications", "Submit and track planning applications, decisions and appeals.", &["lgsl:200"], "Westminster City Council", "LA", "london", "rest", "live", "any-member", Some(99.7)),
    ("GB/LA/E09000033/registration/certificates", "Birth, death and marriage certificates", "Order certified copies of register entries for births, deaths and marriages.", &["lgsl:400"], "Westminster City Council", "LA", "london", "rest", "alpha", "by-request", None),
    ("GB/LA/E09000033/waste/trade", "Trade waste collection", "Commercial waste collection contracts and collection schedules for businesses.", &["lgsl:524"], "Westminster City Council", "LA", "london", "files", "live", "member-classes", Some(96.5)),
    ("GB/LA/E09000033/hr/payroll", "Payroll and expenses", "Payroll interface for staff salaries, overtime and expenses claims.", &["lgsl:1"], "Westminster City Council", "LA", "london", "files", "withdrawn", "by-request", None),
    ("GB/LA/S12000036/revenues/council-tax", "Council tax reduction", "Council tax reduction entitlement for people on low incomes.", &["lgsl:57", "lgsl:100"], "City of Edinburgh Council", "LA", "scotland", "rest", "beta", "any-member", Some(99.3)),
    ("GB/LA/S12000036/education/free-school-meals", "School meals and clothing grants", "Free school meals and school clothing grant applications.", &["lgsl:813"], "City of Edinburgh Council", "LA", "scotland", "rest", "live", "any-member", Some(99.93)),
    ("GB/LA/S12000036/parking/permits", "Parking permits", "Residents' parking permits and blue badge concessions.", &["lgsl:28"], "City of Edinburgh Council", "LA", "scotland", "rest", "discovery", "any-member", None),
    ("GB/POLICE/kent/custody/records", "Custody records", "Custody record summaries for detained persons, for solicitors and courts.", &["pol:10"], "Kent Police", "POLICE", "south-east", "rest", "live", "by-request", Some(99.96)),
    ("GB/POLICE/kent/licensing/firearms", "Firearms licensing", "Firearms and shotgun certificate applications, renewals and checks.", &["pol:20"], "Kent Police", "POLICE", "south-east", "rest", "live", "member-classes", Some(99.1)),
    ("GB/POLICE/met/custody/records", "Custody suite records", "Detention logs, custody timings and property records for the custody suite.", &["pol:10"], "Metropolitan Police Service", "POLICE", "london", "events", "beta", "by-request", Some(95.5)),
    ("GB/POLICE/met/licensing/firearms", "Firearms certificates", "Firearms licensing enquiries and certificate status for the Metropolitan area.", &["pol:20"], "Metropolitan Police Service", "POLICE", "london", "soap", "live", "member-classes", Some(98.8)),
    ("GB/POLICE/scotland/custody/records", "Custody records Scotland", "Custody records for Police Scotland custody centres.", &["pol:10"], "Police Scotland", "POLICE", "scotland", "rest", "alpha", "by-request", None),
    ("GB/NHS/RXX/gp/registration", "GP registration", "Register a patient with a GP practice and transfer medical records.", &["nhs:1"], "NHS England", "NHS", "london", "rest", "live", "any-member", Some(99.98)),
    ("GB/NHS/RXX/referrals/e-referral", "Patient referrals", "Electronic patient referral from GP to hospital outpatient clinics.", &["nhs:2"], "NHS England", "NHS", "london", "rest", "live", "member-classes", Some(99.92)),
    ("GB/NHS/RXX/prescriptions/eps", "Electronic prescriptions", "Electronic prescription service between GP practices and pharmacies.", &["nhs:3"], "NHS England", "NHS", "london", "events", "live", "member-classes", Some(99.97)),
    ("GB/NHS/RYY/gp/registration", "GP patient registration", "GP practice registration and patient demographic updates.", &["nhs:1"], "NHS Scotland", "NHS", "scotland", "soap", "beta", "any-member", Some(99.4)),
    ("GB/NHS/RYY/referrals/hospital", "Hospital referrals", "Referral management for hospital appointments and waiting lists.", &["nhs:2"], "NHS Scotland", "NHS", "scotland", "rest", "alpha", "by-request", None),
    ("GB/NHS/RZZ/hr/payroll", "NHS payroll", "Payroll and pensions for NHS trust staff.", &["lgsl:1"], "NHS Wales", "NHS", "wales", "files", "live", "by-request", Some(99.6)),
    ("GB/GOV/HMRC/payroll/rti", "Real time information payroll", "Employers report PAYE payroll information in real time.", &["lgsl:1"], "HM Revenue and Customs", "GOV", "national", "rest", "live", "any-member", Some(99.99)),
    ("GB/GOV/DWP/benefits/eligibility", "Benefit eligibility checks", "Confirm benefits entitlement for free school meals and housing benefit assessments.", &["lgsl:100", "lgsl:813"], "Department for Work and Pensions", "GOV", "national", "rest", "live", "member-classes", Some(99.8)),
    ("GB/GOV/CCS/procurement/frameworks", "Procurement frameworks", "Crown Commercial Service frameworks, call-off contracts and supplier catalogues.", &["lgsl:1400"], "Crown Commercial Service", "GOV", "national", "rest", "live", "any-member", Some(99.9)),
    ("GB/GOV/DVLA/blue-badge/verify", "Blue badge verification", "Verify blue badge holders and vehicle details at enforcement.", &["lgsl:28"], "Driver and Vehicle Licensing Agency", "GOV", "national", "rest", "beta", "member-classes", Some(99.0)),
    ("GB/GOV/HMCTS/custody/court-lists", "Court custody lists", "Daily court lists of defendants held in custody.", &["pol:10"], "HM Courts and Tribunals Service", "GOV", "national", "files", "live", "by-request", Some(97.5)),
    ("GB/SCHOOL/100001/admissions/in-year", "In-year admissions", "In-year school admission requests and waiting lists.", &["lgsl:300"], "Oakfield Primary School", "SCHOOL", "south-east", "rest", "discovery", "by-request", None),
    ("GB/SCHOOL/100001/meals/orders", "School meal orders", "Daily school meal orders and dietary requirements.", &["lgsl:813"], "Oakfield Primary School", "SCHOOL", "south-east", "files", "live", "by-request", Some(92.0)),
    ("GB/SCHOOL/200002/payroll/staff", "School staff payroll", "Payroll returns for teaching and support staff.", &["lgsl:1"], "Riverside Academy", "SCHOOL", "west-midlands", "files", "beta", "by-request", Some(99.1)),
    ("GB/CHARITY/1100001/foodbank/referrals", "Food bank referrals", "Referral vouchers to food banks for households in crisis.", &["lgsl:100"], "Trussell Trust", "CHARITY", "national", "rest", "live", "any-member", Some(98.5)),
    ("GB/CHARITY/1100002/advice/benefits", "Benefits advice cases", "Benefits advice casework and housing benefit appeals.", &["lgsl:100"], "Citizens Advice", "CHARITY", "national", "soap", "deprecated", "member-classes", Some(90.0)),
    ("GB/LA/W06000015/waste/garden", "Garden waste subscriptions", "Garden waste collection subscriptions and payments.", &["lgsl:524"], "Cardiff Council", "LA", "wales", "rest", "live", "any-member", Some(99.85)),
    ("GB/LA/W06000015/revenues/council-tax", "Council tax Cardiff", "Council tax accounts and payments for Cardiff households.", &["lgsl:57"], "Cardiff Council", "LA", "wales", "rest", "alpha", "any-member", Some(99.0)),
];

fn corpus() -> Vec<Listing> {
    ROWS.iter()
        .enumerate()
        .map(|(i, row)| {
            let &(
                service,
                title,
                description,
                processes,
                provider_name,
                class,
                region,
                service_type,
                lifecycle,
                who,
                availability,
            ) = row;
            let provider = service.split('/').take(3).collect::<Vec<_>>().join("/");
            let i = i as u64;
            Listing {
                service: service.to_owned(),
                title: title.to_owned(),
                description: description.to_owned(),
                processes: processes.iter().map(|p| process(p)).collect(),
                provider,
                provider_name: provider_name.to_owned(),
                provider_class: class.to_owned(),
                sector: Some(
                    if class == "LA" || class == "GOV" {
                        "public"
                    } else {
                        "health-and-justice"
                    }
                    .to_owned(),
                ),
                region: Some(region.to_owned()),
                areas: vec![region.to_owned(), format!("{region}-{}", i % 3)],
                service_type: service_type.to_owned(),
                lifecycle: lifecycle.to_owned(),
                who_may_apply: who.to_owned(),
                availability_percent: availability,
                // Distinct, not in corpus order, so sorts are checkable.
                calls_per_day: (i * 7919) % 1000 * 100 + i,
                published_at: 1_700_000_000 + ((i * 104_729) % 977) as i64 * 3600,
            }
        })
        .collect()
}

fn index() -> (CatalogueIndex, Vec<Listing>) {
    let index = CatalogueIndex::open_in_ram().expect("index");
    let listings = corpus();
    index.replace_all(&listings).expect("indexed");
    (index, listings)
}

fn search(index: &CatalogueIndex, text: &str) -> SearchResult {
    index
        .search(&SearchQuery {
            text: text.to_owned(),
            limit: 100,
            ..SearchQuery::default()
        })
        .expect("search")
}

fn services(result: &SearchResult) -> Vec<&str> {
    result.hits.iter().map(|h| h.service.as_str()).collect()
}

#[test]
fn expected_top_results() {
    let (index, _) = index();
    let cases: &[(&str, &[&str])] = &[
        // Exact words: titles outrank descriptions.
        ("payroll", &["GB/LA/E10000016/hr/payroll"]),
        ("firearms", &["GB/POLICE/kent/licensing/firearms"]),
        ("custody records", &["GB/POLICE/kent/custody/records"]),
        // Multi-word.
        (
            "free school meals",
            &["GB/LA/E10000016/education/free-school-meals"],
        ),
        ("blue badge", &["GB/LA/E10000016/parking/blue-badge"]),
        ("GP registration", &["GB/NHS/RXX/gp/registration"]),
        ("patient referrals", &["GB/NHS/RXX/referrals/e-referral"]),
        // A prefix.
        ("procure", &["GB/LA/E08000025/procurement/tenders"]),
        // Typos.
        ("paryoll", &["GB/LA/E10000016/hr/payroll"]),
        ("firarms", &["GB/POLICE/kent/licensing/firearms"]),
    ];
    for (text, expected_top) in cases {
        let result = search(&index, text);
        let got = services(&result);
        assert!(
            got.len() >= expected_top.len(),
            "{text:?}: too few results {got:?}"
        );
        // The top results are the expected set (in any order: ties are legitimate).
        let top: BTreeSet<&str> = got[..expected_top.len()].iter().copied().collect();
        let want: BTreeSet<&str> = expected_top.iter().copied().collect();
        if top != want {
            // Allow exact-score ties with the expected one: require it in the top 3.
            assert!(
                expected_top
                    .iter()
                    .all(|e| got[..3.min(got.len())].contains(e)),
                "{text:?}: expected {expected_top:?} on top, got {got:?}"
            );
        }
    }
}

#[test]
fn matching_sets() {
    let (index, listings) = index();
    // A prefix finds every council.
    let coun = search(&index, "coun");
    let with_council = listings
        .iter()
        .filter(|l| {
            format!("{} {} {}", l.title, l.description, l.provider_name)
                .to_lowercase()
                .split(|c: char| !c.is_alphanumeric())
                .any(|w| w.starts_with("coun"))
        })
        .count();
    assert_eq!(coun.total as usize, with_council);
    assert!(coun.total >= 10);

    // A process id finds the listings supporting it, ahead of everything else.
    let by_id = search(&index, "lgsl:813");
    let expected: BTreeSet<&str> = listings
        .iter()
        .filter(|l| l.processes.iter().any(|p| p.id == "lgsl:813"))
        .map(|l| l.service.as_str())
        .collect();
    assert_eq!(
        services(&by_id).into_iter().collect::<BTreeSet<_>>(),
        expected
    );

    // A process label matches as text: "benefit" is in processes of listings whose title lacks it.
    let benefit = search(&index, "benefit");
    assert!(services(&benefit).contains(&"GB/LA/S12000036/revenues/council-tax"));

    // Every word must match.
    assert_eq!(search(&index, "payroll firearms").total, 0);
    // Case and punctuation do not matter.
    assert_eq!(
        services(&search(&index, "COUNCIL-TAX!")),
        services(&search(&index, "council tax"))
    );
}

#[test]
fn snippets_are_plain_text_with_ranges() {
    let (index, _) = index();
    let result = search(&index, "paryoll");
    let hit = &result.hits[0];
    let marked: Vec<&str> = hit
        .title
        .highlights
        .iter()
        .map(|r| &hit.title.text[r.clone()])
        .collect();
    assert_eq!(marked, ["Payroll"]);
    let marked: Vec<String> = hit
        .description
        .highlights
        .iter()
        .map(|r| hit.description.text[r.clone()].to_lowercase())
        .collect();
    assert_eq!(marked, ["payroll"]);
    assert!(!hit.title.text.contains('<'));
    // The empty query highlights nothing.
    let all = search(&index, "");
    assert!(all
        .hits
        .iter()
        .all(|h| h.title.highlights.is_empty() && h.description.highlights.is_empty()));
}

/// The facets' counts by brute force: for each facet, the listings among `matched` passing the
/// other facets' filters, counted by value; shown as the engine shows them.
fn brute_force(
    matched: &[&Listing],
    filters: &BTreeMap<Facet, BTreeSet<String>>,
    drill: Option<&str>,
) -> (u64, BTreeMap<Facet, BTreeMap<String, u64>>) {
    let passes = |l: &Listing, except: Option<Facet>| {
        filters.iter().all(|(facet, values)| {
            Some(*facet) == except
                || values.is_empty()
                || facet.values(l).iter().any(|v| values.contains(v))
        })
    };
    let total = matched.iter().filter(|l| passes(l, None)).count() as u64;
    let mut facets = BTreeMap::new();
    for facet in Facet::ALL {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for l in matched.iter().filter(|l| passes(l, Some(facet))) {
            for v in facet.values(l) {
                let shown = facet != Facet::Process || {
                    let parent = drill.unwrap_or("").trim_end_matches('/');
                    v.strip_prefix(parent)
                        .and_then(|r| r.strip_prefix('/'))
                        .is_some_and(|r| !r.is_empty() && !r.contains('/'))
                };
                if shown {
                    *counts.entry(v).or_default() += 1;
                }
            }
        }
        for v in filters.get(&facet).into_iter().flatten() {
            counts.entry(v.clone()).or_insert(0);
        }
        facets.insert(facet, counts);
    }
    (total, facets)
}

fn check_facets(
    index: &CatalogueIndex,
    listings: &[Listing],
    text: &str,
    filters: BTreeMap<Facet, BTreeSet<String>>,
    drill: Option<&str>,
) {
    // The text's matches, unfiltered, from the engine; the facet logic is checked on them.
    let matched_services: BTreeSet<String> = services(&search(index, text))
        .into_iter()
        .map(str::to_owned)
        .collect();
    let matched: Vec<&Listing> = listings
        .iter()
        .filter(|l| matched_services.contains(&l.service))
        .collect();
    let (total, expected) = brute_force(&matched, &filters, drill);
    let result = index
        .search(&SearchQuery {
            text: text.to_owned(),
            filters: filters.clone(),
            process_drill: drill.map(str::to_owned),
            limit: 100,
            ..SearchQuery::default()
        })
        .expect("search");
    assert_eq!(result.total, total, "total for {text:?} {filters:?}");
    assert_eq!(result.hits.len() as u64, total);
    for hit in &result.hits {
        let listing = listings
            .iter()
            .find(|l| l.service == hit.service)
            .expect("known");
        for (facet, values) in &filters {
            assert!(
                values.is_empty() || facet.values(listing).iter().any(|v| values.contains(v)),
                "{} fails {facet:?}",
                hit.service
            );
        }
    }
    for facet in Facet::ALL {
        let got: BTreeMap<String, u64> = result.facets[&facet]
            .iter()
            .map(|c| (c.value.clone(), c.count))
            .collect();
        assert_eq!(
            got, expected[&facet],
            "{facet:?} for {text:?} {filters:?} {drill:?}"
        );
        let counts: Vec<u64> = result.facets[&facet].iter().map(|c| c.count).collect();
        assert!(
            counts.windows(2).all(|w| w[0] >= w[1]),
            "by count descending"
        );
    }
}

fn filters(pairs: &[(Facet, &[&str])]) -> BTreeMap<Facet, BTreeSet<String>> {
    pairs
        .iter()
        .map(|(f, vs)| (*f, vs.iter().map(|v| (*v).to_owned()).collect()))
        .collect()
}

#[test]
fn facet_counts_match_brute_force() {
    let (index, listings) = index();
    check_facets(&index, &listings, "", filters(&[]), None);
    check_facets(
        &index,
        &listings,
        "",
        filters(&[(Facet::ProviderClass, &["LA", "NHS"])]),
        None,
    );
    check_facets(
        &index,
        &listings,
        "",
        filters(&[
            (Facet::ProviderClass, &["LA", "POLICE"]),
            (Facet::Region, &["london", "scotland"]),
            (Facet::Lifecycle, &["live"]),
        ]),
        None,
    );
    check_facets(
        &index,
        &listings,
        "records",
        filters(&[(Facet::Availability, &[">=99.9", "unmeasured"])]),
        None,
    );
    check_facets(
        &index,
        &listings,
        "council",
        filters(&[
            (Facet::Process, &["/finance"]),
            (Facet::ServiceType, &["rest"]),
        ]),
        Some("/finance"),
    );
    check_facets(
        &index,
        &listings,
        "",
        filters(&[
            (Facet::Process, &["lgsl:100", "/health/primary-care"]),
            (Facet::WhoMayApply, &["any-member"]),
        ]),
        Some("/health"),
    );
    // A selected value nothing has is shown with 0.
    check_facets(
        &index,
        &listings,
        "",
        filters(&[(Facet::Region, &["atlantis"])]),
        None,
    );
}

#[test]
fn process_facet_drills_down() {
    let (index, _) = index();
    let top = search(&index, "");
    let values: Vec<&str> = top.facets[&Facet::Process]
        .iter()
        .map(|c| c.value.as_str())
        .collect();
    assert!(values.contains(&"/health") && values.iter().all(|v| v.matches('/').count() == 1));
    let health = index
        .search(&SearchQuery {
            process_drill: Some("/health".into()),
            filters: filters(&[(Facet::Process, &["/health"])]),
            limit: 10,
            ..SearchQuery::default()
        })
        .expect("search");
    let counts: BTreeMap<&str, u64> = health.facets[&Facet::Process]
        .iter()
        .map(|c| (c.value.as_str(), c.count))
        .collect();
    assert_eq!(counts.get("/health/primary-care"), Some(&3));
    assert_eq!(counts.get("/health/secondary-care"), Some(&2));
    assert_eq!(health.total, 5);
}

#[test]
fn random_filter_combinations_match_brute_force() {
    let (index, listings) = index();
    let mut values: Vec<(Facet, Vec<String>)> = Facet::ALL
        .iter()
        .map(|f| {
            let mut vs: BTreeSet<String> = listings.iter().flat_map(|l| f.values(l)).collect();
            vs.insert("no-such-value".into());
            (*f, vs.into_iter().collect())
        })
        .collect();
    values.sort();
    let facet_filter = (
        0..Facet::ALL.len(),
        proptest::collection::vec(any::<prop::sample::Index>(), 0..3),
    );
    let strategy = (
        proptest::collection::vec(facet_filter, 0..4),
        prop::sample::select(vec![
            "", "council", "school", "records", "payroll", "benefit",
        ]),
        prop::sample::select(vec![
            None,
            Some("/health"),
            Some("/education"),
            Some("/finance/revenues"),
        ]),
    );
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });
    runner
        .run(&strategy, |(picks, text, drill)| {
            let mut f: BTreeMap<Facet, BTreeSet<String>> = BTreeMap::new();
            for (facet_index, indexes) in picks {
                let (facet, vs) = &values[facet_index];
                let set = f.entry(*facet).or_default();
                for i in indexes {
                    set.insert(i.get(vs).clone());
                }
            }
            check_facets(&index, &listings, text, f, drill);
            Ok(())
        })
        .expect("property holds");
}

#[test]
fn sorting() {
    let (index, listings) = index();
    let sorted = |sort| {
        index
            .search(&SearchQuery {
                sort,
                limit: 100,
                ..SearchQuery::default()
            })
            .expect("search")
            .hits
            .into_iter()
            .map(|h| h.service)
            .collect::<Vec<_>>()
    };
    let mut by_volume = listings.clone();
    by_volume.sort_by_key(|l| std::cmp::Reverse(l.calls_per_day));
    assert_eq!(
        sorted(Sort::Volume),
        by_volume
            .iter()
            .map(|l| l.service.clone())
            .collect::<Vec<_>>()
    );

    let newest = sorted(Sort::Newest);
    let times: Vec<i64> = newest
        .iter()
        .map(|s| {
            listings
                .iter()
                .find(|l| &l.service == s)
                .expect("known")
                .published_at
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]));

    let available = sorted(Sort::Availability);
    let figures: Vec<f64> = available
        .iter()
        .map(|s| {
            listings
                .iter()
                .find(|l| &l.service == s)
                .expect("known")
                .availability_percent
                .unwrap_or(-1.0)
        })
        .collect();
    assert!(
        figures.windows(2).all(|w| w[0] >= w[1]),
        "unmeasured last: {figures:?}"
    );
    assert_eq!(available.len(), listings.len());

    // Relevance scores never increase down the page.
    let result = search(&index, "council tax");
    assert!(result.hits.windows(2).all(|w| w[0].score >= w[1].score));
}

#[test]
fn pagination() {
    let (index, listings) = index();
    let page = |offset, limit| {
        index
            .search(&SearchQuery {
                sort: Sort::Volume,
                offset,
                limit,
                ..SearchQuery::default()
            })
            .expect("search")
    };
    let all = page(0, 100);
    assert_eq!(all.total as usize, listings.len());
    let mut paged = Vec::new();
    for offset in (0..listings.len() as u64).step_by(7) {
        let p = page(offset, 7);
        assert_eq!(p.total, all.total);
        paged.extend(p.hits);
    }
    assert_eq!(paged, all.hits);
    // Beyond the total: an empty page, still with the total and facets.
    let beyond = page(1000, 10);
    assert!(beyond.hits.is_empty());
    assert_eq!(beyond.total, all.total);
    assert!(!beyond.facets[&Facet::ProviderClass].is_empty());
    // Zero limit: counts only.
    assert!(page(0, 0).hits.is_empty());
    // Limits are capped; offsets are bounded.
    assert_eq!(page(0, u64::MAX).hits.len(), listings.len());
    assert!(matches!(
        index.search(&SearchQuery {
            offset: MAX_OFFSET + 1,
            ..SearchQuery::default()
        }),
        Err(CatalogueError::PageOutOfRange { .. })
    ));
    assert!(matches!(
        index.search(&SearchQuery {
            offset: u64::MAX,
            limit: u64::MAX,
            ..SearchQuery::default()
        }),
        Err(CatalogueError::PageOutOfRange { .. })
    ));
}

#[test]
fn upsert_and_remove_are_visible_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let index = CatalogueIndex::open_in_dir(dir.path()).expect("index");
    let listings = corpus();
    index.replace_all(&listings).expect("indexed");
    assert_eq!(index.len(), listings.len() as u64);

    // Replace the Kent payroll listing: its old words are gone, the new ones found.
    let mut changed = listings[2].clone();
    assert_eq!(changed.service, "GB/LA/E10000016/hr/payroll");
    changed.title = "Emoluments".into();
    changed.description = "Monthly emolument runs for council staff.".into();
    changed.processes.clear();
    changed.provider_class = "GOV".into();
    index.upsert(&changed).expect("upsert");
    assert_eq!(index.len(), listings.len() as u64);
    assert!(!services(&search(&index, "payslips")).contains(&changed.service.as_str()));
    assert_eq!(
        services(&search(&index, "emoluments")),
        [changed.service.as_str()]
    );
    let gov = index
        .search(&SearchQuery {
            filters: filters(&[(Facet::ProviderClass, &["GOV"])]),
            limit: 100,
            ..SearchQuery::default()
        })
        .expect("search");
    assert!(services(&gov).contains(&changed.service.as_str()));

    // A new one.
    let mut added = listings[0].clone();
    added.service = "GB/LA/E10000016/libraries/loans".into();
    added.title = "Library loans".into();
    index.upsert(&added).expect("upsert");
    assert_eq!(
        services(&search(&index, "library")),
        [added.service.as_str()]
    );

    // Remove, twice (the second is a no-op).
    index.remove(&added.service).expect("remove");
    index.remove(&added.service).expect("remove again");
    assert_eq!(search(&index, "library").total, 0);
    assert_eq!(index.len(), listings.len() as u64);
    drop(index);

    // Committed changes survive reopening.
    let reopened = CatalogueIndex::open_in_dir(dir.path()).expect("reopen");
    assert_eq!(reopened.len(), listings.len() as u64);
    assert_eq!(
        services(&search(&reopened, "emoluments")),
        [changed.service.as_str()]
    );

    // A listing without a service id is refused, and nothing of the batch is applied.
    let mut bad = listings[1].clone();
    bad.service = " ".into();
    let mut good = listings[3].clone();
    good.service = "GB/LA/E10000016/new/one".into();
    assert!(matches!(
        reopened.upsert_many(&[good.clone(), bad]),
        Err(CatalogueError::InvalidListing(_))
    ));
    assert!(!services(&search(&reopened, "")).contains(&good.service.as_str()));
}

#[test]
fn hostile_queries_return_cleanly() {
    let (index, listings) = index();
    let ten_kb = "council ".repeat(1300);
    let thousand_terms: String = (0..1000).map(|i| format!("word{i} ")).collect();
    let controls: String = (0u8..32).map(char::from).collect();
    for text in [
        "title:x AND (",
        "*",
        "~~~",
        "\u{0}",
        "\"unclosed",
        "payroll^100",
        "a:b:c::",
        "lgsl:",
        ":57",
        "((((((((((",
        "-payroll",
        "\u{202e}llorYAP",
        "日本語 council",
        ten_kb.as_str(),
        thousand_terms.as_str(),
        controls.as_str(),
    ] {
        let result = index
            .search(&SearchQuery {
                text: text.to_owned(),
                limit: 10,
                ..SearchQuery::default()
            })
            .unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert!(result.total <= listings.len() as u64);
    }
    // Punctuation only is the empty query: everything.
    assert_eq!(search(&index, "* ~~~ ()").total as usize, listings.len());
    // The words of a would-be query are just words.
    assert_eq!(
        search(&index, "payroll^100").total,
        search(&index, "payroll 100").total
    );
}

#[test]
fn the_index_is_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<CatalogueIndex>();
}

/// Listing by listing, one commit each (many segments, merged in the background), then changes
/// and removals: the facet counts stay exact, deleted versions uncounted.
#[test]
fn facet_counts_stay_exact_through_updates() {
    let index = CatalogueIndex::open_in_ram().expect("index");
    let mut listings = corpus();
    for listing in &listings {
        index.upsert(listing).expect("upsert");
    }
    for i in [0, 5, 17, 30] {
        listings[i].provider_class = "GOV".into();
        listings[i].region = Some("london".into());
        listings[i].processes = vec![process("nhs:3")];
        index.upsert(&listings[i]).expect("upsert");
    }
    for i in [39, 12, 3] {
        let removed = listings.remove(i);
        index.remove(&removed.service).expect("remove");
    }
    assert_eq!(index.len(), listings.len() as u64);
    check_facets(&index, &listings, "", filters(&[]), None);
    check_facets(
        &index,
        &listings,
        "",
        filters(&[
            (Facet::ProviderClass, &["GOV", "LA"]),
            (Facet::Region, &["london"]),
        ]),
        Some("/health"),
    );
    check_facets(
        &index,
        &listings,
        "records",
        filters(&[(Facet::Process, &["/justice"])]),
        None,
    );
}

/// An update returned on one thread is seen by a search started after it on another.
#[test]
fn updates_are_visible_to_other_threads() {
    let (index, listings) = index();
    let (sent, received) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut changed = listings[7].clone();
            changed.title = "Quinquennial review".into();
            index.upsert(&changed).expect("upsert");
            sent.send(changed.service).expect("send");
        });
        let service = received.recv().expect("receive");
        assert_eq!(
            services(&search(&index, "quinquennial")),
            [service.as_str()]
        );
    });
}

proptest! {
    #![proptest_config(Config { cases: 64, ..Config::default() })]

    /// Any text, filters and drill-down: an answer, never an error or a panic.
    #[test]
    fn any_input_answers(
        text in ".{0,300}",
        value in ".{0,20}",
        drill in proptest::option::of(".{0,20}"),
    ) {
        let (index, listings) = shared_index();
        let result = index
            .search(&SearchQuery {
                text,
                filters: filters(&[(Facet::Region, &[value.as_str()])]),
                process_drill: drill,
                limit: 10,
                ..SearchQuery::default()
            })
            .expect("an answer");
        prop_assert!(result.total <= listings.len() as u64);
    }
}

fn shared_index() -> &'static (CatalogueIndex, Vec<Listing>) {
    static INDEX: std::sync::OnceLock<(CatalogueIndex, Vec<Listing>)> = std::sync::OnceLock::new();
    INDEX.get_or_init(index)
}

#[test]
fn the_network_facet_counts_and_filters_partners_listings() {
    let index = CatalogueIndex::open_in_ram().expect("index");
    let mut listings = corpus();
    let mut partner = listings[0].clone();
    partner.service = partner.service.replacen("GB/", "GB-KENT/", 1);
    partner.provider = partner.provider.replacen("GB/", "GB-KENT/", 1);
    listings.push(partner.clone());
    index.replace_all(&listings).expect("indexed");
    let counts = |result: &SearchResult| -> Vec<(String, u64)> {
        result.facets[&Facet::Network]
            .iter()
            .map(|c| (c.value.clone(), c.count))
            .collect()
    };
    let everything = search(&index, "");
    let own = (listings.len() - 1) as u64;
    assert_eq!(
        counts(&everything),
        [("GB".to_owned(), own), ("GB-KENT".to_owned(), 1)]
    );
    let kent = index
        .search(&SearchQuery {
            filters: filters(&[(Facet::Network, &["GB-KENT"])]),
            limit: 100,
            ..SearchQuery::default()
        })
        .expect("search");
    assert_eq!(services(&kent), [partner.service.as_str()]);
    assert_eq!(Facet::from_name("network"), Some(Facet::Network));
}
