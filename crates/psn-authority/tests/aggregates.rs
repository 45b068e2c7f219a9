//! Aggregate delivery and SLA reports end to end over real mutual TLS, on SQLite and (when
//! configured) PostgreSQL: the cursor makes delivery exactly-once, every refusal stores
//! nothing, and the report finds each breach and attributes it to the party responsible.

mod common;

use common::{backends, enrol_member as member, Backend, EnrolledGateway as Gw, TestAuthority};
use psn_api::*;
use psn_core::aggregate::{
    AggregateBatch, AggregateCounts, AggregateKey, AggregateRow, LogCursor, Outcome, SampleKind,
    Side, MAX_BATCH_ROWS,
};
use psn_core::names::{MemberId, ServiceId};
use psn_core::problem::{Problem, ProblemType};
use psn_core::sla::{SlaDeclaration, SlaWindow};
use time::OffsetDateTime;

const DFE: &str = "GB/GOV/D6";
const HAMPSHIRE: &str = "GB/LA/E10000014";
const KENT: &str = "GB/LA/E10000016";
const LINCS: &str = "GB/LA/E10000019";
const FSM: &str = "GB/GOV/D6/eligibility/fsm-check";
const PAYROLL: &str = "GB/LA/E10000014/payroll/hub";
const KENT_APP: &str = "GB/LA/E10000016/revenues";
const LINCS_APP: &str = "GB/LA/E10000019/revenues";

fn id<T: std::str::FromStr>(text: &str) -> T
where
    T::Err: std::fmt::Display,
{
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn at(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn problem_type(e: &ClientError) -> ProblemType {
    e.problem_type()
        .unwrap_or_else(|| panic!("expected a problem, got {e}"))
}

/// DfE provides the FSM check (99.9% a day, p95 under 500 ms); Hampshire a payroll hub (99.5%
/// a week within weekday office hours); Kent and Lincolnshire consume.
struct Network {
    dfe: Gw,
    hampshire: Gw,
    kent: Gw,
    lincs: Gw,
}

async fn network(a: &TestAuthority) -> Network {
    let net = Network {
        dfe: member(a, DFE, "Department for Education", "eligibility").await,
        hampshire: member(a, HAMPSHIRE, "Hampshire County Council", "payroll").await,
        kent: member(a, KENT, "Kent County Council", "revenues").await,
        lincs: member(a, LINCS, "Lincolnshire County Council", "revenues").await,
    };
    for (gw, service, sla) in [
        (
            &net.dfe,
            FSM,
            SlaDeclaration {
                service: id(FSM),
                availability_percent: 99.9,
                window: SlaWindow::Day,
                latency: Some(id("p95<500ms")),
                support_hours: None,
            },
        ),
        (
            &net.hampshire,
            PAYROLL,
            SlaDeclaration {
                service: id(PAYROLL),
                availability_percent: 99.5,
                window: SlaWindow::Week,
                latency: None,
                support_hours: Some(id("mon-fri 08:00-18:00")),
            },
        ),
    ] {
        gw.client
            .publish_service(&ServiceListing {
                id: id(service),
                title: service.into(),
                description: String::new(),
                processes: vec![],
                details: Default::default(),
            })
            .await
            .expect("publish");
        gw.client.declare_sla(&sla).await.expect("declare");
    }
    net
}

/// `count` exchanges (or probes) at `when`; with `times`, each took (total, upstream) ms.
#[allow(clippy::too_many_arguments)]
fn row(
    when: &str,
    side: Side,
    kind: SampleKind,
    service: &str,
    client: &str,
    outcome: Outcome,
    count: u64,
    times: Option<(u64, u64)>,
) -> AggregateRow {
    let mut counts = AggregateCounts {
        count,
        ..AggregateCounts::default()
    };
    if let Some((total, upstream)) = times {
        for _ in 0..count {
            counts.total.record(total);
            counts.upstream.record(upstream);
        }
    }
    AggregateRow {
        key: AggregateKey {
            minute: at(when).unix_timestamp() / 60,
            side,
            kind,
            service: service.into(),
            client: client.into(),
            outcome,
        },
        counts,
    }
}

/// A consumer's exchanges of a service.
fn used(when: &str, service: &str, client: &str, outcome: Outcome, count: u64) -> AggregateRow {
    let times = (outcome == Outcome::Ok).then_some((120, 100));
    row(
        when,
        Side::Consumer,
        SampleKind::Exchange,
        service,
        client,
        outcome,
        count,
        times,
    )
}

fn cursor(segment: u64, position: u64) -> LogCursor {
    LogCursor { segment, position }
}

fn batch(from: Option<LogCursor>, to: LogCursor, rows: Vec<AggregateRow>) -> AggregateBatch {
    AggregateBatch {
        from,
        to,
        records: rows.iter().map(|r| r.counts.count).sum(),
        rows,
    }
}

async fn delivery(a: &TestAuthority, gateway: &str) -> Option<(LogCursor, u64, u64)> {
    a.operator()
        .aggregate_deliveries()
        .await
        .expect("deliveries")
        .items
        .into_iter()
        .find(|d| d.gateway.to_string() == gateway)
        .map(|d| (d.cursor, d.batches, d.records))
}

fn period() -> SlaReportQuery {
    // Monday 1 July 2024 to Sunday 7 July, midnight to midnight in London (BST).
    SlaReportQuery {
        since: Some(at("2024-06-30T23:00:00Z")),
        until: Some(at("2024-07-07T23:00:00Z")),
        ..SlaReportQuery::default()
    }
}

async fn fsm_counts(a: &TestAuthority) -> (u64, u64) {
    let report = a
        .operator()
        .sla_report(&SlaReportQuery {
            service: Some(id(FSM)),
            ..period()
        })
        .await
        .expect("report");
    let p = &report.providers[0];
    (p.eligible, p.failures)
}

#[tokio::test]
async fn delivery_is_exactly_once_and_refusals_store_nothing() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let net = network(&a).await;
        let kent = &net.kent.client;
        let gw = "GB/LA/E10000016@gw1";
        assert_eq!(kent.aggregate_cursor().await.expect("cursor").cursor, None);
        assert_eq!(delivery(&a, gw).await, None);

        // First batch, then the next one from where it ended.
        let first = batch(
            None,
            cursor(1, 4),
            vec![used("2024-07-01T10:00:00Z", FSM, KENT_APP, Outcome::Ok, 3)],
        );
        let moved = kent.push_aggregates(&first).await.expect("first batch");
        assert_eq!(moved.cursor, Some(cursor(1, 4)));
        let second = batch(
            Some(cursor(1, 4)),
            cursor(1, 9),
            vec![
                used("2024-07-01T10:00:00Z", FSM, KENT_APP, Outcome::Ok, 2),
                used("2024-07-01T10:05:00Z", FSM, KENT_APP, Outcome::Backend, 1),
                used(
                    "2024-07-01T10:05:00Z",
                    FSM,
                    KENT_APP,
                    Outcome::ClientError,
                    2,
                ),
            ],
        );
        assert_eq!(
            kent.push_aggregates(&second).await.expect("second").cursor,
            Some(cursor(1, 9))
        );
        assert_eq!(
            kent.aggregate_cursor().await.expect("cursor").cursor,
            Some(cursor(1, 9))
        );
        assert_eq!(delivery(&a, gw).await, Some((cursor(1, 9), 2, 8)));
        assert_eq!(fsm_counts(&a).await, (6, 1), "{backend:?}");

        // Replays and batches from elsewhere in the log: 409 naming the stored cursor.
        for (what, replay) in [
            ("replayed second batch", second.clone()),
            ("replayed first batch", first.clone()),
            (
                "wrong start",
                batch(
                    Some(cursor(1, 5)),
                    cursor(1, 12),
                    vec![used("2024-07-01T11:00:00Z", FSM, KENT_APP, Outcome::Ok, 1)],
                ),
            ),
        ] {
            let e = kent.push_aggregates(&replay).await.expect_err(what);
            assert_eq!(problem_type(&e), ProblemType::Conflict, "{what}");
            let ClientError::Problem(p) = &e else {
                panic!("{what}: {e}")
            };
            assert!(
                p.detail.as_deref().unwrap_or_default().contains("1:9"),
                "{what}: the detail names the stored cursor: {:?}",
                p.detail
            );
        }
        assert_eq!(delivery(&a, gw).await, Some((cursor(1, 9), 2, 8)));
        assert_eq!(fsm_counts(&a).await, (6, 1), "nothing counted twice");

        // Rows that are not the caller's: 403, and the whole batch is refused.
        let not_kents = [
            (
                "another member's client",
                used("2024-07-01T10:00:00Z", FSM, LINCS_APP, Outcome::Backend, 1),
            ),
            (
                "another member's service, provider side",
                row(
                    "2024-07-01T10:00:00Z",
                    Side::Provider,
                    SampleKind::Exchange,
                    FSM,
                    KENT_APP,
                    Outcome::Backend,
                    1,
                    None,
                ),
            ),
            (
                "another member's probe",
                row(
                    "2024-07-01T10:00:00Z",
                    Side::Consumer,
                    SampleKind::Probe,
                    FSM,
                    LINCS_APP,
                    Outcome::ProviderGateway,
                    1,
                    None,
                ),
            ),
            (
                "another gateway's probe",
                row(
                    "2024-07-01T10:00:00Z",
                    Side::Consumer,
                    SampleKind::Probe,
                    FSM,
                    "GB/LA/E10000019@gw1",
                    Outcome::ProviderGateway,
                    1,
                    None,
                ),
            ),
        ];
        for (what, foreign) in not_kents {
            let mixed = batch(
                Some(cursor(1, 9)),
                cursor(1, 20),
                vec![
                    used("2024-07-01T12:00:00Z", FSM, KENT_APP, Outcome::Ok, 1),
                    foreign,
                ],
            );
            let e = kent.push_aggregates(&mixed).await.expect_err(what);
            assert_eq!(problem_type(&e), ProblemType::Forbidden, "{what}");
        }
        assert_eq!(delivery(&a, gw).await, Some((cursor(1, 9), 2, 8)));
        assert_eq!(
            fsm_counts(&a).await,
            (6, 1),
            "refused batches store nothing"
        );

        // Malformed, hostile and oversized bodies: refused before anything is stored.
        let raw = net.kent.raw(&a);
        let url = format!("{}/v1/gateway/aggregates", a.url);
        let good_row =
            serde_json::to_value(used("2024-07-01T12:00:00Z", FSM, KENT_APP, Outcome::Ok, 1))
                .expect("json");
        let with_row = |edit: &dyn Fn(&mut serde_json::Value)| {
            let mut row = good_row.clone();
            edit(&mut row);
            serde_json::json!({
                "from": {"segment": 1, "position": 9},
                "to": {"segment": 1, "position": 10},
                "records": 1,
                "rows": [row],
            })
            .to_string()
        };
        let mut hostile: Vec<(&str, String)> = vec![
            ("not JSON", "{\"from\":".into()),
            ("not an object", "[]".into()),
            (
                "unknown field",
                r#"{"from":{"segment":1,"position":9},"to":{"segment":1,"position":10},"records":0,"rows":[],"admin":true}"#.into(),
            ),
            (
                "cursor beyond storage",
                r#"{"from":{"segment":1,"position":9},"to":{"segment":18446744073709551615,"position":0},"records":0,"rows":[]}"#.into(),
            ),
            (
                "records do not add up",
                with_row(&|_| {}).replace("\"records\":1", "\"records\":2"),
            ),
            (
                "bad service",
                with_row(&|r| r["key"]["service"] = "../../etc/passwd".into()),
            ),
            (
                "exchange client is a gateway",
                with_row(&|r| r["key"]["client"] = "GB/LA/E10000016@gw1".into()),
            ),
            (
                "unknown outcome",
                with_row(&|r| r["key"]["outcome"] = "meh".into()),
            ),
            (
                "minute before 1970",
                with_row(&|r| r["key"]["minute"] = (-5).into()),
            ),
            (
                "minute after 9999",
                with_row(&|r| r["key"]["minute"] = i64::MAX.into()),
            ),
            (
                "histogram bucket out of range",
                with_row(&|r| r["counts"]["total"]["buckets"] = serde_json::json!({"100000": 1})),
            ),
            (
                "histogram counts more than the row",
                with_row(&|r| r["counts"]["total"]["buckets"] = serde_json::json!({"3": 5})),
            ),
            (
                "zero count",
                with_row(&|r| {
                    r["counts"] = serde_json::json!({"count": 0, "total": {"buckets": {}, "sum_ms": 0}, "upstream": {"buckets": {}, "sum_ms": 0}})
                })
                .replace("\"records\":1", "\"records\":0"),
            ),
            (
                "count beyond storage",
                with_row(&|r| {
                    r["counts"] = serde_json::json!({"count": u64::MAX, "total": {"buckets": {}, "sum_ms": 0}, "upstream": {"buckets": {}, "sum_ms": 0}})
                })
                .replace("\"records\":1", &format!("\"records\":{}", u64::MAX)),
            ),
            (
                "service too long",
                with_row(&|r| r["key"]["service"] = "x".repeat(600).into()),
            ),
        ];
        let duplicate = {
            let mut doc: serde_json::Value =
                serde_json::from_str(&with_row(&|_| {})).expect("json");
            doc["rows"] = serde_json::json!([good_row.clone(), good_row.clone()]);
            doc["records"] = 2.into();
            doc.to_string()
        };
        hostile.push(("duplicate rows", duplicate));
        let too_many = {
            let rows: Vec<AggregateRow> = (0..=MAX_BATCH_ROWS as i64)
                .map(|i| {
                    let mut r = used("2024-07-01T12:00:00Z", FSM, KENT_APP, Outcome::Ok, 1);
                    r.key.minute += i;
                    r
                })
                .collect();
            serde_json::to_string(&batch(Some(cursor(1, 9)), cursor(1, 10), rows)).expect("json")
        };
        hostile.push(("more rows than a batch may carry", too_many));
        for (what, body) in &hostile {
            let resp = raw
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .expect("send");
            assert_eq!(resp.status(), 400, "{what} ({backend:?})");
            assert_eq!(resp.headers()["content-type"], "application/problem+json");
            let problem: Problem = resp.json().await.expect("problem");
            assert_eq!(problem.kind(), Some(ProblemType::InvalidRequest), "{what}");
        }
        let oversized = format!(
            r#"{{"from":{{"segment":1,"position":9}},"to":{{"segment":1,"position":10}},"records":0,"rows":[],"pad":"{}"}}"#,
            "x".repeat(17 * 1024 * 1024)
        );
        let resp = raw
            .post(&url)
            .header("content-type", "application/json")
            .body(oversized)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 413);
        let resp = raw
            .post(&url)
            .header("content-type", "text/plain")
            .body(with_row(&|_| {}))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 415);
        assert_eq!(delivery(&a, gw).await, Some((cursor(1, 9), 2, 8)));
        assert_eq!(fsm_counts(&a).await, (6, 1), "hostile bodies store nothing");

        // Operators cannot push, and gateways cannot list deliveries.
        let anonymous = a.raw();
        let resp = anonymous
            .post(&url)
            .bearer_auth(&a.operator_token)
            .header("content-type", "application/json")
            .body(with_row(&|_| {}))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 401);
        let resp = anonymous
            .get(format!("{}/v1/gateway/aggregates/cursor", a.url))
            .bearer_auth(&a.operator_token)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 401);
        let e = kent.aggregate_deliveries().await.expect_err("gateway");
        assert_eq!(problem_type(&e), ProblemType::Unauthenticated);

        // A full batch, far beyond the default body limit, is accepted whole.
        let full: Vec<AggregateRow> = (0..MAX_BATCH_ROWS as i64)
            .map(|i| {
                let mut r = used("2024-01-01T00:00:00Z", FSM, KENT_APP, Outcome::Ok, 2);
                r.key.minute += i;
                r
            })
            .collect();
        let full = batch(Some(cursor(1, 9)), cursor(2, 3), full);
        assert!(serde_json::to_vec(&full).expect("json").len() > 256 * 1024);
        assert_eq!(
            kent.push_aggregates(&full)
                .await
                .expect("full batch")
                .cursor,
            Some(cursor(2, 3))
        );
        assert_eq!(
            delivery(&a, gw).await,
            Some((cursor(2, 3), 3, 8 + 2 * MAX_BATCH_ROWS as u64))
        );
        // An empty span moves nothing but is accepted; a first batch is refused once there is
        // a cursor.
        let empty = batch(Some(cursor(2, 3)), cursor(2, 3), vec![]);
        assert_eq!(
            kent.push_aggregates(&empty).await.expect("empty").cursor,
            Some(cursor(2, 3))
        );
        let restart = batch(None, cursor(1, 4), vec![]);
        let e = kent.push_aggregates(&restart).await.expect_err("restart");
        assert_eq!(problem_type(&e), ProblemType::Conflict);
        // Other gateways' cursors are their own.
        assert_eq!(
            net.lincs
                .client
                .aggregate_cursor()
                .await
                .expect("cursor")
                .cursor,
            None
        );
        a.stop().await;
    }
}

/// Pushes each gateway's rows as one batch from the start of its log.
async fn deliver(gw: &Gw, rows: Vec<AggregateRow>) {
    let n = rows.len() as u64;
    gw.client
        .push_aggregates(&batch(None, cursor(1, n + 1), rows))
        .await
        .expect("push");
}

fn only_windows(report: &SlaReport, service: &str) -> Vec<WindowReport> {
    report
        .services
        .iter()
        .find(|s| s.service.to_string() == service)
        .map(|s| s.windows.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_report_finds_each_breach_and_whose_it_is() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let net = network(&a).await;
        let provider = |when: &str, outcome, count, times| {
            row(
                when,
                Side::Provider,
                SampleKind::Exchange,
                FSM,
                KENT_APP,
                outcome,
                count,
                times,
            )
        };
        let slow = |when: &str, side, total, upstream, count| {
            row(
                when,
                side,
                SampleKind::Exchange,
                FSM,
                KENT_APP,
                Outcome::Ok,
                count,
                Some((total, upstream)),
            )
        };
        deliver(
            &net.kent,
            vec![
                // Monday: the backend answers 500 to 1 in 100.
                used("2024-07-01T10:00:00Z", FSM, KENT_APP, Outcome::Ok, 990),
                used("2024-07-01T10:00:00Z", FSM, KENT_APP, Outcome::Backend, 10),
                // Tuesday: the provider's gateway cannot be reached for a while.
                used("2024-07-02T10:00:00Z", FSM, KENT_APP, Outcome::Ok, 95),
                used(
                    "2024-07-02T10:00:00Z",
                    FSM,
                    KENT_APP,
                    Outcome::ProviderGateway,
                    5,
                ),
                // Wednesday: the backend is slow.
                slow("2024-07-03T10:00:00Z", Side::Consumer, 900, 880, 100),
                // Thursday: Kent sends malformed requests, and its own gateway fails twice.
                used("2024-07-04T10:00:00Z", FSM, KENT_APP, Outcome::Ok, 100),
                used(
                    "2024-07-04T10:00:00Z",
                    FSM,
                    KENT_APP,
                    Outcome::ClientError,
                    40,
                ),
                used(
                    "2024-07-04T10:00:00Z",
                    FSM,
                    KENT_APP,
                    Outcome::ConsumerGateway,
                    2,
                ),
                // Payroll: failures before 08:00 London time (06:30 UTC in BST) and on
                // Saturday are outside support hours; two on Wednesday morning are not.
                used(
                    "2024-07-01T06:30:00Z",
                    PAYROLL,
                    KENT_APP,
                    Outcome::Backend,
                    100,
                ),
                used(
                    "2024-07-06T10:00:00Z",
                    PAYROLL,
                    KENT_APP,
                    Outcome::Backend,
                    100,
                ),
                used("2024-07-01T07:30:00Z", PAYROLL, KENT_APP, Outcome::Ok, 200),
                used(
                    "2024-07-03T09:00:00Z",
                    PAYROLL,
                    KENT_APP,
                    Outcome::Backend,
                    2,
                ),
                // Sunday: no traffic, but Kent's gateway probed DfE's (as the subsystem that
                // uses the service, and as itself).
                row(
                    "2024-07-07T10:00:00Z",
                    Side::Consumer,
                    SampleKind::Probe,
                    FSM,
                    KENT_APP,
                    Outcome::Ok,
                    5,
                    Some((15, 12)),
                ),
                row(
                    "2024-07-07T10:00:00Z",
                    Side::Consumer,
                    SampleKind::Probe,
                    FSM,
                    "GB/LA/E10000016@gw1",
                    Outcome::Ok,
                    3,
                    None,
                ),
            ],
        )
        .await;
        deliver(
            &net.lincs,
            vec![
                // Friday: half of Lincolnshire's calls fail in the backend.
                used("2024-07-05T10:00:00Z", FSM, LINCS_APP, Outcome::Ok, 50),
                used("2024-07-05T10:00:00Z", FSM, LINCS_APP, Outcome::Backend, 50),
            ],
        )
        .await;
        deliver(
            &net.dfe,
            vec![
                provider("2024-07-01T10:00:00Z", Outcome::Ok, 990, Some((30, 20))),
                provider("2024-07-01T10:00:00Z", Outcome::Backend, 10, None),
                slow("2024-07-03T10:00:00Z", Side::Provider, 860, 850, 100),
                // Saturday: no consumer traffic, only DfE's probes of its own backend.
                row(
                    "2024-07-06T10:00:00Z",
                    Side::Provider,
                    SampleKind::Probe,
                    FSM,
                    "GB/GOV/D6@gw1",
                    Outcome::Ok,
                    10,
                    Some((5, 4)),
                ),
            ],
        )
        .await;

        let report = a.operator().sla_report(&period()).await.expect("report");
        assert_eq!(report.since, at("2024-06-30T23:00:00Z"));
        let fsm = only_windows(&report, FSM);
        assert_eq!(fsm.len(), 7, "one window per London day");
        assert_eq!(fsm[0].start, at("2024-06-30T23:00:00Z"));
        assert_eq!(fsm[0].end, at("2024-07-01T23:00:00Z"));
        let breach = |w: &WindowReport| {
            assert_eq!(w.breaches.len(), 1, "{w:?}");
            w.breaches[0].clone()
        };

        let monday = breach(&fsm[0]);
        assert_eq!(monday.objective, Objective::Availability);
        assert_eq!(monday.target, "99.9%");
        assert_eq!(monday.measured, 99.0);
        assert_eq!(monday.attribution, Attribution::Backend);
        assert_eq!(
            (monday.evidence.eligible, monday.evidence.failures),
            (Some(1000), Some(10))
        );

        let tuesday = breach(&fsm[1]);
        assert_eq!(tuesday.attribution, Attribution::ProviderGateway);
        assert_eq!(tuesday.measured, 95.0);

        let wednesday = breach(&fsm[2]);
        assert_eq!(wednesday.objective, Objective::Latency);
        assert_eq!(wednesday.target, "p95<500ms");
        assert!((900.0..=960.0).contains(&wednesday.measured));
        assert_eq!(wednesday.attribution, Attribution::Backend);
        assert_eq!(wednesday.evidence.ok_exchanges, Some(100));
        assert_eq!(wednesday.evidence.over_threshold, Some(100));
        let split = wednesday.evidence.time_split.unwrap_or_default();
        assert_eq!(split.consumer_gateway_ms, Some(20.0));
        assert_eq!(split.network_and_provider_gateway_ms, Some(30.0));
        assert_eq!(split.backend_ms, Some(850.0));
        assert_eq!(fsm[2].availability_percent, Some(100.0));

        // Thursday: the consumer's own errors count against nobody, but are shown.
        assert!(fsm[3].breaches.is_empty());
        assert_eq!(fsm[3].availability_percent, Some(100.0));
        assert_eq!(
            (
                fsm[3].outcomes.client_error,
                fsm[3].outcomes.consumer_gateway
            ),
            (40, 2)
        );

        let friday = breach(&fsm[4]);
        assert_eq!(friday.attribution, Attribution::Backend);
        assert_eq!(friday.measured, 50.0);

        assert_eq!(fsm[5].source, AvailabilitySource::ProviderProbes);
        assert_eq!(fsm[5].availability_percent, Some(100.0));
        assert!(fsm[5].breaches.is_empty());
        assert_eq!(fsm[6].source, AvailabilitySource::Consumers);
        assert_eq!((fsm[6].eligible, fsm[6].failures), (8, 0));
        assert_eq!(
            fsm[6].latency.measured_ms, None,
            "probes are not member traffic"
        );

        // Payroll: one week; only the two failures within support hours count.
        let payroll = only_windows(&report, PAYROLL);
        assert_eq!(payroll.len(), 1);
        assert_eq!((payroll[0].eligible, payroll[0].failures), (202, 2));
        let missed = breach(&payroll[0]);
        assert_eq!(missed.target, "99.5%");
        // (JSON parsing may lose the last bit of a float.)
        assert!((missed.measured - 100.0 * 200.0 / 202.0).abs() < 1e-9);
        assert_eq!(missed.attribution, Attribution::Backend);
        assert_eq!(
            missed.evidence.outcomes.map(|o| (o.ok, o.backend)),
            Some((200, 2))
        );

        // Per consumer, per provider, and every breach in one list.
        let fsm_service = report
            .services
            .iter()
            .find(|s| s.service == id::<ServiceId>(FSM))
            .expect("fsm");
        let consumers: Vec<(String, u64, u64)> = fsm_service
            .consumers
            .iter()
            .map(|c| (c.consumer.to_string(), c.eligible, c.failures))
            .collect();
        assert_eq!(
            consumers,
            vec![(KENT.into(), 1308, 15), (LINCS.into(), 100, 50)]
        );
        let providers: Vec<(String, u64, u64)> = report
            .providers
            .iter()
            .map(|p| (p.provider.to_string(), p.services, p.breaches))
            .collect();
        assert_eq!(
            providers,
            vec![(DFE.into(), 1, 4), (HAMPSHIRE.into(), 1, 1)]
        );
        assert_eq!(report.breaches.len(), 5);

        // Filters.
        let op = a.operator();
        let lincs_only = op
            .sla_report(&SlaReportQuery {
                consumer: Some(id(LINCS)),
                ..period()
            })
            .await
            .expect("consumer report");
        assert_eq!(lincs_only.services.len(), 1);
        assert_eq!(lincs_only.breaches.len(), 1);
        assert_eq!(
            lincs_only.breaches[0].window_start,
            at("2024-07-04T23:00:00Z")
        );
        assert_eq!(lincs_only.services[0].consumers.len(), 1);
        let dfe_only = op
            .sla_report(&SlaReportQuery {
                provider: Some(id(DFE)),
                ..period()
            })
            .await
            .expect("provider report");
        assert_eq!(dfe_only.services.len(), 1);
        assert_eq!(dfe_only.breaches.len(), 4);
        let payroll_only = op
            .sla_report(&SlaReportQuery {
                service: Some(id(PAYROLL)),
                ..period()
            })
            .await
            .expect("service report");
        assert_eq!(payroll_only.providers.len(), 1);
        assert_eq!(
            payroll_only.providers[0].provider,
            id::<MemberId>(HAMPSHIRE)
        );

        // Gateways may read reports too; nobody else may.
        let by_gateway = net
            .kent
            .client
            .sla_report(&period())
            .await
            .expect("gateway");
        assert_eq!(by_gateway, report);
        let raw = a.raw();
        let resp = raw
            .get(format!("{}/v1/slas/report", a.url))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 401);
        a.assert_invalid_queries(
            "/v1/slas/report",
            &[
                "?since=2024-07-02T00:00:00Z&until=2024-07-01T00:00:00Z",
                "?since=yesterday",
                "?since=2020-01-01T00:00:00Z&until=2024-01-01T00:00:00Z",
                "?service=../etc",
                "?provider=GB/la/x",
                "?colour=blue",
            ],
        )
        .await;
        // The default period is the last 30 days: nothing from 2024 in it, but the declared
        // services are listed.
        let recent = op
            .sla_report(&SlaReportQuery::default())
            .await
            .expect("default");
        assert!(recent.breaches.is_empty());
        assert_eq!(recent.services.len(), 2);
        assert_eq!(recent.until - recent.since, time::Duration::days(30));
        a.stop().await;
    }
}

#[tokio::test]
async fn deliveries_survive_an_authority_restart() {
    // The cursor and the counts are in the database, not the process.
    let a = TestAuthority::start(Backend::Sqlite).await;
    let net = network(&a).await;
    deliver(
        &net.kent,
        vec![used("2024-07-01T10:00:00Z", FSM, KENT_APP, Outcome::Ok, 7)],
    )
    .await;
    let mut a = a;
    a.restart().await;
    let (identity, _) = net.kent.dir.load_identity().expect("identity");
    let kent = AuthorityClient::gateway(&a.url, &a.ca_der, identity).expect("client");
    assert_eq!(
        kent.aggregate_cursor().await.expect("cursor").cursor,
        Some(cursor(1, 2))
    );
    let e = kent
        .push_aggregates(&batch(
            None,
            cursor(1, 2),
            vec![used("2024-07-01T10:00:00Z", FSM, KENT_APP, Outcome::Ok, 7)],
        ))
        .await
        .expect_err("resent after the restart");
    assert_eq!(problem_type(&e), ProblemType::Conflict);
    assert_eq!(
        delivery(&a, "GB/LA/E10000016@gw1").await.map(|d| d.2),
        Some(7)
    );
    a.stop().await;
}

/// Every stored row of the test period, as `(side, service, client, outcome, count)` with the
/// counts of equal keys added up.
async fn stored(a: &TestAuthority) -> Vec<(Side, String, String, Outcome, u64)> {
    let mut rows = std::collections::BTreeMap::new();
    a.store()
        .each_aggregate_row(
            0,
            i64::MAX,
            psn_authority::store::AggregateScope::All,
            |row| {
                let k = row.key;
                *rows
                    .entry((k.side, k.service, k.client, k.outcome))
                    .or_insert(0) += row.counts.count;
            },
        )
        .await
        .expect("rows");
    rows.into_iter()
        .map(|((side, service, client, outcome), count)| (side, service, client, outcome, count))
        .collect()
}

fn owned(
    side: Side,
    service: &str,
    client: &str,
    outcome: Outcome,
    count: u64,
) -> (Side, String, String, Outcome, u64) {
    (side, service.into(), client.into(), outcome, count)
}

#[tokio::test]
async fn names_the_registry_does_not_have_are_filed_under_unknown() {
    const WITHDRAWN: &str = "GB/GOV/D6/eligibility/old-check";
    const MADE_UP: &str = "GB/GOV/D6/eligibility/no-such-check";
    const GHOST: &str = "GB/LA/E10000016/ghost";
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let net = network(&a).await;
        let listing = ServiceListing {
            id: id(WITHDRAWN),
            title: "old".into(),
            description: String::new(),
            processes: vec![],
            details: Default::default(),
        };
        net.dfe
            .client
            .publish_service(&listing)
            .await
            .expect("publish");
        net.dfe
            .client
            .withdraw_service(&ServiceRef { id: id(WITHDRAWN) })
            .await
            .expect("withdraw");

        // A consumer's rows for services that never existed, were withdrawn, or that its
        // gateway already reported as unknown: one `unknown` row, nothing in the report.
        let at = "2024-07-01T10:00:00Z";
        let consumer = vec![
            used(at, FSM, KENT_APP, Outcome::Ok, 2),
            used(at, MADE_UP, KENT_APP, Outcome::ClientError, 3),
            used(at, "GB/XX/NOPE/app/svc", KENT_APP, Outcome::ClientError, 1),
            used(at, WITHDRAWN, KENT_APP, Outcome::ClientError, 1),
            used(at, "unknown", KENT_APP, Outcome::ClientError, 1),
            used(at, FSM, "unknown", Outcome::ClientError, 4),
        ];
        deliver(&net.kent, consumer).await;
        assert_eq!(
            delivery(&a, "GB/LA/E10000016@gw1").await.map(|d| d.2),
            Some(12),
            "every record counts once ({backend:?})"
        );

        // A provider's rows naming a client subsystem the registry does not have (its peer
        // said so) or a service it no longer lists.
        let provider = |service: &str, client: &str, outcome, count| {
            row(
                at,
                Side::Provider,
                SampleKind::Exchange,
                service,
                client,
                outcome,
                count,
                None,
            )
        };
        deliver(
            &net.dfe,
            vec![
                provider(FSM, KENT_APP, Outcome::Ok, 2),
                provider(FSM, GHOST, Outcome::Ok, 1),
                provider(FSM, "unknown", Outcome::Ok, 1),
                provider(WITHDRAWN, KENT_APP, Outcome::ClientError, 1),
                provider("unknown", "unknown", Outcome::ClientError, 2),
            ],
        )
        .await;
        assert_eq!(
            stored(&a).await,
            vec![
                owned(Side::Consumer, FSM, KENT_APP, Outcome::Ok, 2),
                owned(Side::Consumer, FSM, "unknown", Outcome::ClientError, 4),
                owned(Side::Consumer, "unknown", KENT_APP, Outcome::ClientError, 6),
                owned(Side::Provider, FSM, KENT_APP, Outcome::Ok, 2),
                owned(Side::Provider, FSM, "unknown", Outcome::Ok, 2),
                owned(Side::Provider, "unknown", KENT_APP, Outcome::ClientError, 1),
                owned(
                    Side::Provider,
                    "unknown",
                    "unknown",
                    Outcome::ClientError,
                    2
                ),
            ],
            "{backend:?}"
        );
        let report = a.operator().sla_report(&period()).await.expect("report");
        let services: Vec<String> = report
            .services
            .iter()
            .map(|s| s.service.to_string())
            .collect();
        assert_eq!(
            services,
            vec![FSM.to_owned(), PAYROLL.to_owned()],
            "{backend:?}"
        );
        let providers: Vec<String> = report
            .providers
            .iter()
            .map(|p| p.provider.to_string())
            .collect();
        assert_eq!(providers, vec![DFE.to_owned(), HAMPSHIRE.to_owned()]);
        let fsm = &report.services[0];
        let consumers: Vec<String> = fsm
            .consumers
            .iter()
            .map(|c| c.consumer.to_string())
            .collect();
        assert_eq!(
            consumers,
            vec![KENT.to_owned()],
            "no consumer named unknown"
        );
        assert_eq!(fsm.consumers[0].outcomes.ok, 2);
        assert_eq!(
            fsm.windows[0].outcomes.client_error, 4,
            "unknown clients still count for the service"
        );

        // A consumer gateway naming a subsystem of its own member that the registry does not
        // have: a correct gateway reports `unknown`, so the batch is refused whole.
        let before = stored(&a).await;
        let e = net
            .kent
            .client
            .push_aggregates(&batch(
                Some(cursor(1, 7)),
                cursor(1, 9),
                vec![
                    used("2024-07-01T11:00:00Z", FSM, KENT_APP, Outcome::Ok, 1),
                    used("2024-07-01T11:00:00Z", FSM, GHOST, Outcome::Ok, 1),
                ],
            ))
            .await
            .expect_err("unregistered own subsystem");
        assert_eq!(problem_type(&e), ProblemType::Forbidden, "{backend:?}");
        let ClientError::Problem(p) = &e else {
            panic!("{e}")
        };
        assert!(
            p.detail.as_deref().unwrap_or_default().contains(GHOST),
            "the detail names it: {:?}",
            p.detail
        );
        assert_eq!(stored(&a).await, before, "nothing stored");
        assert_eq!(
            delivery(&a, "GB/LA/E10000016@gw1").await,
            Some((cursor(1, 7), 1, 12)),
            "the cursor did not move"
        );
        a.stop().await;
    }
}

/// `step` reports one service over time: each step counts exactly the rows that fall in it, by
/// the same rules as the windows, and a step the report could not hold is refused.
#[tokio::test]
async fn a_series_reports_the_service_step_by_step() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let net = network(&a).await;
        deliver(
            &net.kent,
            vec![
                used("2024-07-01T10:00:00Z", FSM, KENT_APP, Outcome::Ok, 990),
                used("2024-07-01T10:00:00Z", FSM, KENT_APP, Outcome::Backend, 10),
                used("2024-07-03T10:00:00Z", FSM, KENT_APP, Outcome::Ok, 50),
                used(
                    "2024-07-03T10:00:00Z",
                    FSM,
                    KENT_APP,
                    Outcome::ClientError,
                    7,
                ),
            ],
        )
        .await;
        let query = SlaReportQuery {
            service: Some(id(FSM)),
            step: Some(86_400),
            ..period()
        };
        let report = a.operator().sla_report(&query).await.expect("report");
        assert_eq!(report.step_seconds, Some(86_400));
        let service = &report.services[0];
        let series = &service.series;
        assert_eq!(series.len(), 7, "seven days, one point each");
        assert_eq!(series[0].start, at("2024-06-30T23:00:00Z"));
        assert_eq!(series[6].end, at("2024-07-07T23:00:00Z"));
        let monday = &series[0];
        assert_eq!((monday.eligible, monday.failures), (1000, 10));
        assert_eq!(monday.availability_percent, Some(99.0));
        assert_eq!(monday.ok_exchanges, 990);
        assert!(monday.latency_ms.is_some_and(|ms| ms >= 120), "{monday:?}");
        let wednesday = &series[2];
        assert_eq!((wednesday.eligible, wednesday.failures), (50, 0));
        assert_eq!(wednesday.source, AvailabilitySource::Consumers);
        for quiet in [1, 3, 4, 5, 6] {
            assert_eq!(series[quiet].eligible, 0, "day {quiet}");
            assert_eq!(series[quiet].availability_percent, None);
            assert_eq!(series[quiet].source, AvailabilitySource::None);
        }
        // The steps add up to the windows (daily, for this service).
        for (step, window) in series.iter().zip(&service.windows) {
            assert_eq!(step.eligible, window.eligible);
            assert_eq!(step.failures, window.failures);
        }
        // Without step, no series.
        let plain = a.operator().sla_report(&period()).await.expect("report");
        assert!(plain.services.iter().all(|s| s.series.is_empty()));
        assert_eq!(plain.step_seconds, None);
        a.assert_invalid_queries(
            "/v1/slas/report",
            &[
                // A series is of one service.
                "?step=3600",
                "?service=GB/GOV/D6/eligibility/fsm-check&step=0",
                "?service=GB/GOV/D6/eligibility/fsm-check&step=90",
                "?service=GB/GOV/D6/eligibility/fsm-check&step=-60",
                "?service=GB/GOV/D6/eligibility/fsm-check&step=one",
                // More than 1,000 steps: a minute over 30 days.
                "?service=GB/GOV/D6/eligibility/fsm-check&step=60",
                "?service=GB/GOV/D6/eligibility/fsm-check&step=18446744073709551615",
            ],
        )
        .await;
        a.stop().await;
    }
}
