//! The process taxonomy over the API, on SQLite and (when configured) PostgreSQL: search and
//! lookup by operators and gateways, hostile queries refused, and listings that name a process
//! outside the taxonomy refused without changing anything.

mod common;

use common::{backends, enrol_member, TestAuthority};
use psn_api::*;
use psn_core::problem::{Problem, ProblemType};

fn problem_type(e: &ClientError) -> ProblemType {
    e.problem_type()
        .unwrap_or_else(|| panic!("expected a problem, got {e}"))
}

#[tokio::test]
async fn operators_and_gateways_search_and_look_up_processes() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let kent = enrol_member(&a, "GB/LA/E10000016", "Kent County Council", "revenues").await;
        for reader in [a.operator(), kent.client.clone()] {
            let page = reader
                .processes(&ProcessQuery {
                    search: Some("Council TAX".into()),
                    limit: Some(5),
                    offset: None,
                })
                .await
                .expect("search");
            assert_eq!((page.limit, page.offset, page.items.len()), (5, 0, 5));
            assert!(page.total > 5, "{backend:?}");
            assert!(page.items[0]
                .label
                .to_lowercase()
                .starts_with("council tax"));
            assert!(page.items.iter().all(|p| p.id.starts_with("lgsl:")));

            let custody = reader.process("psn:1001").await.expect("lookup");
            assert_eq!(custody.label, "Custody records");
            assert_eq!(
                custody.functions,
                vec![ProcessFunction {
                    id: "psnf:1".into(),
                    label: "Policing".into()
                }]
            );
            let meals = reader.process("lgsl:4").await.expect("lookup");
            assert_eq!(meals.label, "Free school meals");
            assert!(meals.functions.is_empty());

            for unknown in [
                "lgsl:999999",
                "psn:1",
                "lgsl:057",
                "LGSL:4",
                "x/../y",
                "%00",
            ] {
                let e = reader.process(unknown).await.expect_err(unknown);
                assert_eq!(problem_type(&e), ProblemType::NotFound, "{unknown}");
            }
        }
        // Paging: the second page follows the first, and the whole list is the taxonomy.
        let op = a.operator();
        let all = op
            .processes(&ProcessQuery {
                search: None,
                limit: Some(500),
                offset: Some(0),
            })
            .await
            .expect("all");
        let next = op
            .processes(&ProcessQuery {
                search: None,
                limit: Some(2),
                offset: Some(1),
            })
            .await
            .expect("page");
        assert_eq!(next.total, all.total);
        assert_eq!(next.items, all.items[1..3].to_vec());
        let past = op
            .processes(&ProcessQuery {
                search: None,
                limit: Some(10),
                offset: Some(100_000),
            })
            .await
            .expect("past the end");
        assert!(past.items.is_empty());
        a.stop().await;
    }
}

#[tokio::test]
async fn hostile_process_queries_are_refused() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let long = format!("?search={}", "a".repeat(201));
        a.assert_invalid_queries(
            "/v1/processes",
            &[
                "?limit=0",
                "?limit=501",
                "?limit=-1",
                "?limit=x",
                "?offset=100001",
                "?offset=-1",
                "?offset=18446744073709551616",
                "?search=%00",
                "?search=a%0Ab",
                &long,
                "?unknown=1",
            ],
        )
        .await;
        a.stop().await;
    }
}

#[tokio::test]
async fn reading_processes_needs_credentials() {
    let a = TestAuthority::start(common::Backend::Sqlite).await;
    let raw = a.raw();
    for path in ["/v1/processes", "/v1/processes/lgsl:4"] {
        for auth in [None, Some("Bearer wrong")] {
            let mut req = raw.get(format!("{}{path}", a.url));
            if let Some(auth) = auth {
                req = req.header("authorization", auth);
            }
            let resp = req.send().await.expect("send");
            assert_eq!(resp.status(), 401, "{path} {auth:?}");
            let problem: Problem = resp.json().await.expect("problem");
            assert_eq!(problem.kind(), Some(ProblemType::Unauthenticated));
        }
    }
    a.stop().await;
}

#[tokio::test]
async fn listings_name_only_processes_of_the_taxonomy() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let kent = enrol_member(&a, "GB/LA/E10000016", "Kent County Council", "revenues").await;
        let service: psn_core::names::ServiceId = "GB/LA/E10000016/revenues/council-tax"
            .parse()
            .expect("service");
        let listing = |processes: &[&str]| ServiceListing {
            id: service.clone(),
            title: "Council tax balance".into(),
            description: String::new(),
            processes: processes.iter().map(|p| (*p).to_owned()).collect(),
            details: Default::default(),
        };
        let before = a.operator().health().await.expect("health").config_version;
        let too_many: Vec<&str> = std::iter::repeat_n("lgsl:57", 33).collect();
        for (processes, named) in [
            (vec!["lgsl:57", "lgsl:999999"], Some("lgsl:999999")),
            (vec!["psn:9999"], Some("psn:9999")),
            (vec!["lgsl:4", "lgfl:1"], Some("lgfl:1")),
            (vec!["psnf:1"], Some("psnf:1")),
            (vec![""], None),
            (vec!["<svg onload=alert(1)>"], None),
            (too_many, None),
        ] {
            let e = kent
                .client
                .publish_service(&listing(&processes))
                .await
                .expect_err("unknown process");
            assert_eq!(
                problem_type(&e),
                ProblemType::InvalidRequest,
                "{processes:?}"
            );
            if let Some(named) = named {
                assert!(e.to_string().contains(named), "{e} should name {named}");
            }
        }
        let snapshot = a.store().snapshot().await.expect("snapshot");
        assert!(snapshot.services.is_empty(), "{backend:?}");
        assert_eq!(
            a.operator().health().await.expect("health").config_version,
            before
        );

        kent.client
            .publish_service(&listing(&["lgsl:57", "psn:4004"]))
            .await
            .expect("real processes");
        let snapshot = a.store().snapshot().await.expect("snapshot");
        assert_eq!(snapshot.services.len(), 1);
        a.stop().await;
    }
}

/// The snapshot reads each table packed into one value, each field prefixed with its length in
/// characters: titles that look like that packing, and wide characters, read back whole.
#[tokio::test]
async fn titles_that_look_like_the_snapshots_packing_read_back_whole() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let kent = enrol_member(&a, "GB/LA/E10000016", "Kent County Council", "revenues").await;
        let titles = ["12:-:3:abc-", "Treth y cyngor — Môn 🏴󠁧󠁢󠁷󠁬󠁳󠁿", "-", "0:"];
        for (i, title) in titles.iter().enumerate() {
            kent.client
                .publish_service(&ServiceListing {
                    id: format!("GB/LA/E10000016/revenues/s{i}")
                        .parse()
                        .expect("service"),
                    title: (*title).to_owned(),
                    description: String::new(),
                    processes: vec!["lgsl:57".into()],
                    details: Default::default(),
                })
                .await
                .expect("publish");
        }
        let snapshot = a.store().snapshot().await.expect("snapshot");
        let read: Vec<(String, &str, Vec<String>)> = snapshot
            .services
            .iter()
            .map(|s| (s.id.to_string(), s.title.as_str(), s.processes.clone()))
            .collect();
        let expected: Vec<(String, &str, Vec<String>)> = titles
            .iter()
            .enumerate()
            .map(|(i, t)| {
                (
                    format!("GB/LA/E10000016/revenues/s{i}"),
                    *t,
                    vec!["lgsl:57".to_owned()],
                )
            })
            .collect();
        assert_eq!(read, expected, "{backend:?}");
        let member = snapshot.members.first().expect("member");
        assert_eq!(member.name, "Kent County Council", "{backend:?}");
        a.stop().await;
    }
}
