//! The catalogue's search, facets and partner finder through the authority's API and pages, on
//! SQLite and PostgreSQL, over a fixed corpus of real bodies' listings: expected top results for
//! exact words, prefixes, a typo and a process id; facet counts against a brute-force count;
//! filters combined; the index following listing changes at once; measured columns after
//! aggregates; hostile queries refused.

mod common;

use common::browser::Browser;
use common::{backends, enrol_new_member, EnrolledGateway, TestAuthority};
use psn_api::{
    Lifecycle, ListingDetails, NewMember, NewPerson, PersonRole, SearchRequest, SearchResults,
    ServiceListing, ServiceRef, ServiceType, StatusChange,
};
use psn_core::aggregate::{
    AggregateBatch, AggregateCounts, AggregateKey, AggregateRow, LogCursor, Outcome, SampleKind,
    Side,
};
use std::collections::{BTreeMap, BTreeSet};

const KENT: &str = "GB/LA/E10000016";
const LEEDS: &str = "GB/LA/E08000035";
const DFE: &str = "GB/GOV/D6";

/// One listing of the corpus, with the facts the brute-force count needs.
struct Fixture {
    service: &'static str,
    title: &'static str,
    description: &'static str,
    processes: &'static [&'static str],
    lifecycle: Lifecycle,
    service_type: ServiceType,
}

impl Fixture {
    fn member(&self) -> &'static str {
        [KENT, LEEDS, DFE]
            .into_iter()
            .find(|m| self.service.starts_with(&format!("{m}/")))
            .expect("member of the corpus")
    }

    fn sector(&self) -> &'static str {
        if self.member() == DFE {
            "central-government"
        } else {
            "local-government"
        }
    }

    fn lifecycle(&self) -> &'static str {
        match self.lifecycle {
            Lifecycle::Live => "live",
            Lifecycle::Beta => "beta",
            Lifecycle::Alpha => "alpha",
            Lifecycle::Deprecated => "deprecated",
            _ => "other",
        }
    }

    fn service_type(&self) -> &'static str {
        match self.service_type {
            ServiceType::Rest => "rest",
            ServiceType::Files => "files",
            _ => "other",
        }
    }
}

const CORPUS: &[Fixture] = &[
    Fixture {
        service: "GB/LA/E10000016/revenues/council-tax",
        title: "Council tax account lookup",
        description: "Balances and instalments of a council tax account, for benefits teams.",
        processes: &["lgsl:58"],
        lifecycle: Lifecycle::Live,
        service_type: ServiceType::Rest,
    },
    Fixture {
        service: "GB/LA/E10000016/revenues/payroll",
        title: "Payroll for schools",
        description: "Monthly pay runs for maintained schools, with real-time submissions to HMRC.",
        processes: &["psn:4002", "psn:3001"],
        lifecycle: Lifecycle::Live,
        service_type: ServiceType::Files,
    },
    Fixture {
        service: "GB/LA/E10000016/revenues/fsm",
        title: "Free school meals eligibility",
        description: "Decides a family's entitlement from the council's benefit records.",
        processes: &["lgsl:4"],
        lifecycle: Lifecycle::Beta,
        service_type: ServiceType::Rest,
    },
    Fixture {
        service: "GB/LA/E08000035/shared/payroll",
        title: "Payroll shared service",
        description: "Payslips, pension deductions and year-end returns for partner councils.",
        processes: &["psn:4002", "psn:4001"],
        lifecycle: Lifecycle::Live,
        service_type: ServiceType::Rest,
    },
    Fixture {
        service: "GB/LA/E08000035/shared/blue-badge",
        title: "Blue Badge applications",
        description: "Receives applications for disabled parking permits and their evidence.",
        processes: &["lgsl:279", "psn:3004"],
        lifecycle: Lifecycle::Alpha,
        service_type: ServiceType::Rest,
    },
    Fixture {
        service: "GB/GOV/D6/eligibility/fsm-check",
        title: "Free school meals check",
        description: "Confirms entitlement to free school meals from national benefit data.",
        processes: &["lgsl:4", "psn:3002"],
        lifecycle: Lifecycle::Live,
        service_type: ServiceType::Rest,
    },
    Fixture {
        service: "GB/GOV/D6/eligibility/legacy",
        title: "Eligibility decisions feed",
        description: "Nightly files of eligibility decisions, replaced by the check.",
        processes: &["psn:3002"],
        lifecycle: Lifecycle::Deprecated,
        service_type: ServiceType::Files,
    },
];

/// The three members of the corpus, enrolled, with every listing published.
async fn corpus(a: &TestAuthority) -> BTreeMap<&'static str, EnrolledGateway> {
    let members = [
        (KENT, "Kent County Council", "South East", "revenues"),
        (
            LEEDS,
            "Leeds City Council",
            "Yorkshire and The Humber",
            "shared",
        ),
        (DFE, "Department for Education", "England", "eligibility"),
    ];
    let mut gateways = BTreeMap::new();
    for (id, name, region, subsystem) in members {
        let sector = if id == DFE {
            "central-government"
        } else {
            "local-government"
        };
        let new = NewMember {
            id: id.parse().expect("member"),
            name: name.into(),
            sector: Some(sector.into()),
            region: Some(region.into()),
        };
        gateways.insert(id, enrol_new_member(a, &new, subsystem).await);
    }
    for f in CORPUS {
        let mut details = ListingDetails {
            lifecycle: f.lifecycle,
            service_type: f.service_type,
            ..ListingDetails::default()
        };
        if f.lifecycle == Lifecycle::Deprecated {
            details.sunset = Some(time::macros::date!(2027 - 03 - 31));
        }
        gateways[f.member()]
            .client
            .publish_service(&ServiceListing {
                id: f.service.parse().expect("service"),
                title: f.title.into(),
                description: f.description.into(),
                processes: f.processes.iter().map(|p| (*p).to_owned()).collect(),
                details,
            })
            .await
            .expect("publish");
    }
    gateways
}

fn request(text: &str, filters: &[(&str, &str)]) -> SearchRequest {
    let mut pairs = vec![("q", text), ("limit", "100")];
    pairs.extend_from_slice(filters);
    SearchRequest::from_pairs(pairs).expect("valid request")
}

async fn search(a: &TestAuthority, text: &str, filters: &[(&str, &str)]) -> SearchResults {
    a.operator()
        .search(&request(text, filters))
        .await
        .expect("search")
}

fn services(results: &SearchResults) -> Vec<String> {
    results
        .hits
        .iter()
        .map(|h| h.card.service.to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Whether a listing passes every filter but those of facet `skip` (OR within a facet, AND
/// across facets).
fn passes(f: &Fixture, filters: &[(&str, &str)], skip: &str) -> bool {
    let mut by_facet: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in filters {
        by_facet.entry(k).or_default().push(v);
    }
    by_facet.iter().filter(|(k, _)| **k != skip).all(|(k, vs)| {
        let value = match *k {
            "sector" => f.sector(),
            "lifecycle" => f.lifecycle(),
            "service_type" => f.service_type(),
            other => panic!("no brute force for {other}"),
        };
        vs.contains(&value)
    })
}

/// Facet counts computed the slow way: for each value, the listings with it that pass every
/// *other* facet's filter (no text).
fn brute_counts(
    facet: &str,
    filters: &[(&str, &str)],
    value_of: fn(&Fixture) -> &'static str,
) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for f in CORPUS.iter().filter(|f| passes(f, filters, facet)) {
        *counts.entry(value_of(f).to_owned()).or_default() += 1;
    }
    counts
}

fn counts_of(results: &SearchResults, facet: &str) -> BTreeMap<String, u64> {
    results
        .facets
        .iter()
        .find(|f| f.facet == facet)
        .map(|f| {
            f.values
                .iter()
                .filter(|v| v.count > 0)
                .map(|v| (v.value.clone(), v.count))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn search_finds_words_prefixes_typos_and_process_ids_with_exact_facets() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let _gateways = corpus(&a).await;

        let all = search(&a, "", &[]).await;
        assert_eq!(all.total, CORPUS.len() as u64, "{backend:?}");

        // Exact word, prefix and one typo all find both payroll services, titles first.
        for text in ["payroll", "payr", "paryoll"] {
            let found = search(&a, text, &[]).await;
            let top: BTreeSet<String> = services(&found).into_iter().take(2).collect();
            assert_eq!(
                top,
                set(&[
                    "GB/LA/E10000016/revenues/payroll",
                    "GB/LA/E08000035/shared/payroll"
                ]),
                "{backend:?} {text}"
            );
        }
        let payroll = search(&a, "payroll", &[]).await;
        let hit = &payroll.hits[0];
        let [start, end] = hit.title_match.highlights[0];
        assert_eq!(&hit.title_match.text[start..end], "Payroll", "{backend:?}");

        // A process id finds the listings that support it; words in two fields both count.
        let fsm = search(&a, "lgsl:4", &[]).await;
        assert_eq!(
            services(&fsm).into_iter().collect::<BTreeSet<_>>(),
            set(&[
                "GB/LA/E10000016/revenues/fsm",
                "GB/GOV/D6/eligibility/fsm-check"
            ]),
            "{backend:?}"
        );
        let meals = search(&a, "school meals", &[]).await;
        assert_eq!(meals.total, 2, "{backend:?}: {:?}", services(&meals));

        // Filters: OR within a facet, AND across; counts as a brute-force count gives them.
        let cases: &[&[(&str, &str)]] = &[
            &[],
            &[("sector", "local-government")],
            &[("sector", "local-government"), ("lifecycle", "live")],
            &[
                ("sector", "local-government"),
                ("lifecycle", "live"),
                ("service_type", "rest"),
            ],
            &[("lifecycle", "live"), ("lifecycle", "deprecated")],
        ];
        for filters in cases {
            let found = search(&a, "", filters).await;
            let expected: BTreeSet<String> = CORPUS
                .iter()
                .filter(|f| passes(f, filters, ""))
                .map(|f| f.service.to_owned())
                .collect();
            assert_eq!(
                services(&found).into_iter().collect::<BTreeSet<_>>(),
                expected,
                "{backend:?} {filters:?}"
            );
            assert_eq!(found.total, expected.len() as u64);
            for (facet, value_of) in [
                ("sector", Fixture::sector as fn(&Fixture) -> &'static str),
                ("lifecycle", Fixture::lifecycle),
                ("service_type", Fixture::service_type),
            ] {
                assert_eq!(
                    counts_of(&found, facet),
                    brute_counts(facet, filters, value_of),
                    "{backend:?} {facet} under {filters:?}"
                );
            }
        }

        // The process facet is hierarchical: the top level counts the lists and functions.
        let top = counts_of(&all, "process");
        assert_eq!(top.get("/lgsl"), Some(&4), "{backend:?} {top:?}");
        a.stop().await;
    }
}

fn kent_called(service: &str, outcome: Outcome, count: u64) -> AggregateRow {
    let mut counts = AggregateCounts {
        count,
        ..AggregateCounts::default()
    };
    if outcome == Outcome::Ok {
        for _ in 0..count {
            counts.total.record(120);
            counts.upstream.record(100);
        }
    }
    AggregateRow {
        key: AggregateKey {
            minute: (time::OffsetDateTime::now_utc() - time::Duration::hours(2)).unix_timestamp()
                / 60,
            side: Side::Consumer,
            kind: SampleKind::Exchange,
            service: service.into(),
            client: format!("{KENT}/revenues"),
            outcome,
        },
        counts,
    }
}

#[tokio::test]
async fn the_index_follows_changes_and_measurements_and_finds_partners() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let gateways = corpus(&a).await;
        let op = a.operator();

        // Read your writes: a withdrawn listing is gone from the next search.
        gateways[LEEDS]
            .client
            .withdraw_service(&ServiceRef {
                id: "GB/LA/E08000035/shared/blue-badge".parse().expect("id"),
            })
            .await
            .expect("withdraw");
        assert_eq!(search(&a, "blue badge", &[]).await.total, 0, "{backend:?}");
        // A suspended member's listings leave the catalogue, and come back with it.
        let leeds = LEEDS.parse().expect("member");
        op.suspend_member(
            &leeds,
            &StatusChange {
                reason: Some("audit".into()),
            },
        )
        .await
        .expect("suspend");
        assert_eq!(search(&a, "payroll", &[]).await.total, 1, "{backend:?}");
        op.reinstate_member(&leeds, &StatusChange { reason: None })
            .await
            .expect("reinstate");
        assert_eq!(search(&a, "payroll", &[]).await.total, 2, "{backend:?}");

        // Kent used DfE's check: 990 answered, 10 failed by the backend (99.0%).
        let check = "GB/GOV/D6/eligibility/fsm-check";
        gateways[KENT]
            .client
            .push_aggregates(&AggregateBatch {
                from: None,
                to: LogCursor {
                    segment: 1,
                    position: 3,
                },
                records: 1000,
                rows: vec![
                    kent_called(check, Outcome::Ok, 990),
                    kent_called(check, Outcome::Backend, 10),
                ],
            })
            .await
            .expect("push");
        let authority = a.running.as_ref().expect("running").authority.clone();
        let changed = authority
            .catalogue
            .remeasure(&authority, time::OffsetDateTime::now_utc())
            .await
            .expect("remeasure");
        assert_eq!(changed, 1, "{backend:?}");
        let banded = search(&a, "", &[("availability", "99-99.9")]).await;
        assert_eq!(services(&banded), [check], "{backend:?}");
        let card = &banded.hits[0].card;
        assert_eq!(card.measured.consumers, 1);
        assert!((card.measured.calls_per_day - 1000.0 / 30.0).abs() < 1e-9);
        let by_volume = search(&a, "", &[("sort", "volume")]).await;
        assert_eq!(services(&by_volume)[0], check, "{backend:?}");

        // Who else runs the benefit data sharing process, and what Kent runs.
        let partners = op.process_partners("psn:3002").await.expect("partners");
        let providers: Vec<String> = partners
            .providers
            .iter()
            .map(|c| c.service.to_string())
            .collect();
        assert_eq!(providers, [check, "GB/GOV/D6/eligibility/legacy"]);
        assert_eq!(partners.consumers.len(), 1);
        assert_eq!(partners.consumers[0].member.id.to_string(), KENT);
        assert_eq!(partners.consumers[0].exchanges, 1000);
        let kent = op
            .member_partners(&KENT.parse().expect("member"))
            .await
            .expect("member partners");
        let fsm = kent
            .processes
            .iter()
            .find(|p| p.process.id == "lgsl:4")
            .expect("Kent runs free school meals");
        assert!(fsm.provides && fsm.consumes, "{fsm:?}");
        assert_eq!(fsm.other_providers[0].service.to_string(), check);
        let payroll = kent
            .processes
            .iter()
            .find(|p| p.process.id == "psn:4002")
            .expect("Kent runs HR shared services");
        assert_eq!(
            payroll.other_providers[0].service.to_string(),
            "GB/LA/E08000035/shared/payroll"
        );
        a.stop().await;
    }
}

#[tokio::test]
async fn hostile_search_and_partner_queries_are_refused() {
    let a = TestAuthority::start(common::Backend::Sqlite).await;
    let long = format!("?q={}", "x".repeat(201));
    let huge = format!("?q={}", "y".repeat(17 * 1024));
    a.assert_invalid_queries(
        "/v1/catalogue/search",
        &[
            "?colour=red",
            "?sort=price",
            "?limit=0",
            "?limit=101",
            "?offset=10001",
            "?offset=-1",
            "?q=a&q=b",
            "?q=%00",
            long.as_str(),
        ],
    )
    .await;
    a.assert_invalid_queries(
        "/v1/catalogue/partners",
        &[
            "",
            "?process=lgsl:4&member=GB/LA/E10000016",
            "?member=not%20a%20member",
            "?colour=red",
            "?process=%00",
        ],
    )
    .await;
    let raw = a.raw();
    // A query string past what the server reads at all is refused before any handler.
    let too_long = raw
        .get(format!("{}/v1/catalogue/search{huge}", a.url))
        .bearer_auth(&a.operator_token)
        .send()
        .await
        .expect("send");
    assert!(too_long.status().is_client_error(), "{}", too_long.status());
    let missing = raw
        .get(format!(
            "{}/v1/catalogue/partners?process=lgsl:999999",
            a.url
        ))
        .bearer_auth(&a.operator_token)
        .send()
        .await
        .expect("send");
    assert_eq!(missing.status(), 404);
    let anonymous = raw
        .get(format!("{}/v1/catalogue/search?q=payroll", a.url))
        .send()
        .await
        .expect("send");
    assert_eq!(anonymous.status(), 401);
    a.stop().await;
}

#[tokio::test]
async fn catalogue_and_partner_pages_show_results_facets_and_escape_input() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let _gateways = corpus(&a).await;
        let password = a
            .operator()
            .add_person(&NewPerson {
                username: "viewer".into(),
                member: None,
                role: PersonRole::Operator,
            })
            .await
            .expect("person")
            .password;
        let mut browser = Browser::signed_in(&a, "viewer", &password).await;
        let page = browser
            .get("/ui/catalogue?q=payroll&sector=local-government")
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("2 services found"), "{}", page.body);
        assert!(
            page.body
                .contains("<mark class=\"psn-match\">Payroll</mark>"),
            "{}",
            page.body
        );
        assert!(page.body.contains(
            "Remove<span class=\"govuk-visually-hidden\"> filter</span> Sector: local-government"
        ));
        assert!(page.body.contains("value=\"local-government\" checked"));
        let hostile = browser
            .get("/ui/catalogue?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
            .await;
        assert_eq!(hostile.status, 200);
        assert!(!hostile.body.contains("<script>alert"), "{}", hostile.body);
        assert!(hostile.body.contains("0 services found"));
        let refused = browser.get("/ui/catalogue?sort=price").await;
        assert_eq!(refused.status, 400);
        let partners = browser.get("/ui/partners?process=psn:4002").await;
        assert_eq!(partners.status, 200);
        assert!(partners
            .body
            .contains("Leeds City Council: Payroll shared service"));
        assert!(partners
            .body
            .contains("Kent County Council: Payroll for schools"));
        let unknown = browser.get("/ui/partners?process=psn:99999").await;
        assert_eq!(unknown.status, 404);
        a.stop().await;
    }
}

/// The provider's member-admin edits a listing in the web UI: the same checks as the API, the
/// change searchable at once; a refusal re-shows the form and changes nothing; nobody else may.
#[tokio::test]
async fn a_provider_edits_its_listing_in_the_web_ui() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let _gateways = corpus(&a).await;
        let op = a.operator();
        let person = |username: &str, role, member: Option<&str>| NewPerson {
            username: username.into(),
            member: member.map(|m| m.parse().expect("member")),
            role,
        };
        let admin = op
            .add_person(&person("leeds-admin", PersonRole::MemberAdmin, Some(LEEDS)))
            .await
            .expect("person")
            .password;
        let kent = op
            .add_person(&person("kent-admin", PersonRole::MemberAdmin, Some(KENT)))
            .await
            .expect("person")
            .password;
        let path = "/ui/services/GB/LA/E08000035/shared/payroll/edit";
        let mut browser = Browser::signed_in(&a, "leeds-admin", &admin).await;
        let form = browser.get(path).await;
        assert_eq!(form.status, 200, "{}", form.body);
        assert!(form.body.contains("value=\"Payroll shared service\""));
        let csrf = form.csrf();
        let fields = |title: &'static str, processes: &'static str, price: &'static str| {
            vec![
                ("csrf", csrf.clone()),
                ("title", title.to_owned()),
                (
                    "description",
                    "Payslips and pensions for partner councils.".to_owned(),
                ),
                ("processes", processes.to_owned()),
                ("lifecycle", "live".to_owned()),
                ("service_type", "rest".to_owned()),
                ("who_may_apply", "any-member".to_owned()),
                ("classification", "official".to_owned()),
                ("price", price.to_owned()),
                ("areas", "Leeds\r\nWakefield".to_owned()),
            ]
        };
        // Refused: an unknown process, then a bad price; each names its field, nothing changes.
        for (bad, field) in [
            (
                fields("Payroll shared service", "lgsl:999999", "free"),
                "processes",
            ),
            (
                fields("Payroll shared service", "psn:4002", "cheap"),
                "price",
            ),
            (fields("", "psn:4002", "free"), "title"),
        ] {
            let page = post_fields(&mut browser, path, &bad).await;
            assert_eq!(page.status, 400, "{field}: {}", page.body);
            assert!(page.body.contains("govuk-error-summary"), "{field}");
            assert!(
                page.body.contains(&format!("href=\"#{field}\"")),
                "{field}: {}",
                page.body
            );
        }
        assert_eq!(
            search(&a, "superannuation", &[]).await.total,
            0,
            "{backend:?}"
        );
        // Saved: searchable at once, with its new terms.
        let saved = post_fields(
            &mut browser,
            path,
            &fields(
                "Payroll and superannuation service",
                "psn:4002 psn:4001",
                "3.50-4.42/employee/month",
            ),
        )
        .await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        let found = search(&a, "superannuation", &[("area", "Wakefield")]).await;
        assert_eq!(
            services(&found),
            ["GB/LA/E08000035/shared/payroll"],
            "{backend:?}"
        );
        let entry = op
            .catalogue_entry(&"GB/LA/E08000035/shared/payroll".parse().expect("id"))
            .await
            .expect("entry");
        assert_eq!(
            entry.listing.details.price.to_string(),
            "3.50-4.42/employee/month"
        );
        // A forged form, and another member's admin, change nothing.
        let forged = browser
            .post(path, &[("csrf", "forged"), ("title", "Hijacked")])
            .await;
        assert_eq!(forged.status, 403);
        let mut other = Browser::signed_in(&a, "kent-admin", &kent).await;
        assert_eq!(other.get(path).await.status, 403);
        let kent_csrf = other.get("/ui/catalogue").await.csrf();
        let hijack = other
            .post(path, &[("csrf", kent_csrf.as_str()), ("title", "Hijacked")])
            .await;
        assert_eq!(hijack.status, 403);
        assert_eq!(search(&a, "hijacked", &[]).await.total, 0, "{backend:?}");
        a.stop().await;
    }
}

async fn post_fields(
    browser: &mut Browser,
    path: &str,
    fields: &[(&'static str, String)],
) -> common::browser::Page {
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.post(path, &borrowed).await
}
