//! Access requests against a real authority (TLS, SQLite and PostgreSQL): who may ask and
//! decide, narrowing, refusals that change nothing, the events trail, webhook delivery with its
//! signature and a retry, and the web UI's request and inbox forms.

mod common;

use common::browser::Browser;
use common::{backends, enrol_member, EnrolledGateway, TestAuthority};
use psn_api::{
    AccessApproval, AccessDecline, AccessDirection, AccessRequestQuery, AccessRequestState,
    ClientError, NewAccessRequest, NewPerson, PersonRole, ServiceListing, WebhookSet,
};
use psn_core::problem::ProblemType;
use reqwest::StatusCode;
use std::time::Duration;

const PROVIDER: &str = "GB/GOV/D6";
const CONSUMER: &str = "GB/LA/E10000016";
const OUTSIDER: &str = "GB/LA/E10000008";
const SERVICE: &str = "GB/GOV/D6/eligibility/fsm-check";

struct Parties {
    provider: EnrolledGateway,
    consumer: EnrolledGateway,
    outsider: EnrolledGateway,
}

async fn parties(a: &TestAuthority) -> Parties {
    let provider = enrol_member(a, PROVIDER, "Department for Education", "eligibility").await;
    let consumer = enrol_member(a, CONSUMER, "Kent County Council", "revenues").await;
    let outsider = enrol_member(a, OUTSIDER, "Devon County Council", "revenues").await;
    provider
        .client
        .publish_service(&ServiceListing {
            id: SERVICE.parse().expect("service"),
            title: "Free school meals check".into(),
            description: String::new(),
            processes: vec!["lgsl:4".into()],
            details: Default::default(),
        })
        .await
        .expect("publish");
    Parties {
        provider,
        consumer,
        outsider,
    }
}

fn request(subsystem: &str, purpose: &str) -> NewAccessRequest {
    NewAccessRequest {
        subsystem: subsystem.parse().expect("subsystem"),
        service: SERVICE.parse().expect("service"),
        purpose: purpose.into(),
        methods: vec!["GET".into(), "POST".into()],
        path: Some("/check*".into()),
    }
}

fn kind(e: &ClientError) -> ProblemType {
    e.problem_type()
        .unwrap_or_else(|| panic!("not a problem: {e}"))
}

/// Everything observable that a refused call must leave alone: requests, events, grants.
async fn state_of(a: &TestAuthority, p: &Parties) -> (usize, u64, usize) {
    let all = a
        .operator()
        .all_access_requests(&AccessRequestQuery::default())
        .await
        .expect("list");
    let events = a.operator().events(0, 10_000).await.expect("events");
    let grants = p.provider.client.grants().await.expect("grants");
    (
        all.items.len(),
        events.items.last().map_or(0, |e| e.seq),
        grants.items.len(),
    )
}

/// Posts a raw JSON body with the consumer's certificate; returns the status.
async fn raw_post(a: &TestAuthority, gw: &EnrolledGateway, path: &str, body: &str) -> u16 {
    gw.raw(a)
        .post(format!("{}{path}", a.url))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("send")
        .status()
        .as_u16()
}

#[tokio::test]
async fn hostile_requests_are_refused_and_change_nothing() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let p = parties(&a).await;
        let before = state_of(&a, &p).await;
        let kent = format!("{CONSUMER}/revenues");
        let cases: Vec<(NewAccessRequest, ProblemType)> = vec![
            (
                request(&kent, &"x".repeat(2001)),
                ProblemType::InvalidRequest,
            ),
            (
                request(&kent, "needs\u{7}bell"),
                ProblemType::InvalidRequest,
            ),
            (request(&kent, "   "), ProblemType::InvalidRequest),
            (
                NewAccessRequest {
                    methods: vec!["get".into()],
                    ..request(&kent, "p")
                },
                ProblemType::InvalidRequest,
            ),
            (
                NewAccessRequest {
                    path: Some("check".into()),
                    ..request(&kent, "p")
                },
                ProblemType::InvalidRequest,
            ),
            (
                NewAccessRequest {
                    path: Some("/a/../b".into()),
                    ..request(&kent, "p")
                },
                ProblemType::InvalidRequest,
            ),
            (
                request(&format!("{OUTSIDER}/revenues"), "p"),
                ProblemType::Forbidden,
            ),
            (
                request(&format!("{CONSUMER}/nope"), "p"),
                ProblemType::NotFound,
            ),
            (
                NewAccessRequest {
                    service: "GB/GOV/D6/eligibility/unknown".parse().expect("id"),
                    ..request(&kent, "p")
                },
                ProblemType::NotFound,
            ),
        ];
        for (new, expected) in cases {
            let e = p
                .consumer
                .client
                .request_access(&new)
                .await
                .expect_err("refused");
            assert_eq!(kind(&e), expected, "{new:?}: {e}");
        }
        // Its own service: the provider cannot request it.
        let own = request(&format!("{PROVIDER}/eligibility"), "p");
        let e = p
            .provider
            .client
            .request_access(&own)
            .await
            .expect_err("own");
        assert_eq!(kind(&e), ProblemType::Forbidden, "{e}");
        // Malformed identifiers and unknown fields never reach the handler.
        for body in [
            r#"{"subsystem":"GB/LA/x/REV","service":"GB/GOV/D6/eligibility/fsm-check","purpose":"p"}"#,
            r#"{"subsystem":"GB/LA/E10000016/revenues","service":"nope","purpose":"p"}"#,
            r#"{"subsystem":"GB/LA/E10000016/revenues","service":"GB/GOV/D6/eligibility/fsm-check","purpose":"p","extra":1}"#,
            r#"not json"#,
        ] {
            assert_eq!(
                raw_post(&a, &p.consumer, "/v1/gateway/access-requests", body).await,
                400,
                "{body}"
            );
        }
        for id in [
            "ar-XYZ",
            "ar-0123",
            "g-0123456789abcdef",
            "ar-0123456789abcdeg",
        ] {
            let e = p
                .provider
                .client
                .approve_access(id, &AccessApproval::default())
                .await
                .expect_err("bad id");
            assert_eq!(kind(&e), ProblemType::InvalidRequest, "{id}");
        }
        assert_eq!(
            state_of(&a, &p).await,
            before,
            "{backend:?}: a refusal changed something"
        );
        a.stop().await;
    }
}

#[tokio::test]
async fn requests_are_listed_narrowed_decided_once_and_audited() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let p = parties(&a).await;
        let kent = format!("{CONSUMER}/revenues");
        let created = p
            .consumer
            .client
            .request_access(&request(&kent, "FSM eligibility checks"))
            .await
            .expect("create");
        assert_eq!(created.state, AccessRequestState::Pending);
        assert!(
            created.id.starts_with("ar-") && created.id.len() == 19,
            "{}",
            created.id
        );
        assert_eq!(
            (created.methods.clone(), created.provider.to_string()),
            (
                vec!["GET".to_owned(), "POST".to_owned()],
                PROVIDER.to_owned()
            )
        );
        let e = p
            .consumer
            .client
            .request_access(&request(&kent, "again"))
            .await
            .expect_err("duplicate");
        assert_eq!(kind(&e), ProblemType::Conflict);

        let list = |gw: &EnrolledGateway, direction| {
            let q = AccessRequestQuery {
                direction,
                state: None,
            };
            let c = gw.client.clone();
            async move { c.access_requests(&q).await.expect("list").items.len() }
        };
        assert_eq!(list(&p.consumer, Some(AccessDirection::Outgoing)).await, 1);
        assert_eq!(list(&p.consumer, Some(AccessDirection::Incoming)).await, 0);
        assert_eq!(list(&p.provider, Some(AccessDirection::Incoming)).await, 1);
        assert_eq!(list(&p.provider, None).await, 1);
        assert_eq!(list(&p.outsider, None).await, 0);
        let pending = AccessRequestQuery {
            direction: None,
            state: Some(AccessRequestState::Pending),
        };
        assert_eq!(
            a.operator()
                .all_access_requests(&pending)
                .await
                .expect("all")
                .items
                .len(),
            1
        );

        // Only the provider decides; an approval may narrow, never widen. None of this changes
        // anything.
        let before = state_of(&a, &p).await;
        let id = created.id.clone();
        for gw in [&p.outsider, &p.consumer] {
            let e = gw
                .client
                .approve_access(&id, &AccessApproval::default())
                .await
                .expect_err("not theirs");
            assert_eq!(kind(&e), ProblemType::NotFound);
            let e = gw
                .client
                .decline_access(
                    &id,
                    &AccessDecline {
                        reason: "no".into(),
                    },
                )
                .await
                .expect_err("not theirs");
            assert_eq!(kind(&e), ProblemType::NotFound);
        }
        let e = p
            .provider
            .client
            .withdraw_access(&id)
            .await
            .expect_err("not the requester");
        assert_eq!(kind(&e), ProblemType::NotFound);
        for widen in [
            AccessApproval {
                methods: Some(vec!["DELETE".into()]),
                path: None,
            },
            AccessApproval {
                methods: Some(vec![]),
                path: None,
            },
            AccessApproval {
                methods: None,
                path: Some("/other".into()),
            },
            AccessApproval {
                methods: None,
                path: Some("/*".into()),
            },
            AccessApproval {
                methods: Some(vec!["get".into()]),
                path: None,
            },
        ] {
            let e = p
                .provider
                .client
                .approve_access(&id, &widen)
                .await
                .expect_err("widens");
            assert_eq!(kind(&e), ProblemType::InvalidRequest, "{widen:?}");
        }
        let e = p
            .provider
            .client
            .decline_access(&id, &AccessDecline { reason: " ".into() })
            .await
            .expect_err("no reason");
        assert_eq!(kind(&e), ProblemType::InvalidRequest);
        assert_eq!(
            state_of(&a, &p).await,
            before,
            "{backend:?}: a refusal changed something"
        );

        // Approved narrower: one grant, GET on /check/one only, to the requesting subsystem.
        let narrower = AccessApproval {
            methods: Some(vec!["GET".into()]),
            path: Some("/check/one".into()),
        };
        let approved = p
            .provider
            .client
            .approve_access(&id, &narrower)
            .await
            .expect("approve");
        assert_eq!(approved.state, AccessRequestState::Approved);
        assert_eq!(approved.approved_methods, Some(vec!["GET".to_owned()]));
        assert_eq!(approved.grants.len(), 1);
        let grants = p.provider.client.grants().await.expect("grants").items;
        let grant = grants
            .iter()
            .find(|g| g.id == approved.grants[0])
            .expect("the grant");
        assert_eq!(grant.grantee.to_string(), kent);
        assert_eq!(
            (grant.method.as_deref(), grant.path.as_deref()),
            (Some("GET"), Some("/check/one"))
        );
        let seen = p
            .consumer
            .client
            .access_requests(&AccessRequestQuery::default())
            .await
            .expect("list");
        assert_eq!(
            seen.items[0].state,
            AccessRequestState::Approved,
            "the consumer sees the decision"
        );

        // A second decision is a conflict and changes nothing.
        let before = state_of(&a, &p).await;
        let e = p
            .provider
            .client
            .decline_access(
                &id,
                &AccessDecline {
                    reason: "no".into(),
                },
            )
            .await
            .expect_err("decided");
        assert_eq!(kind(&e), ProblemType::Conflict);
        let e = p
            .provider
            .client
            .approve_access(&id, &AccessApproval::default())
            .await
            .expect_err("decided");
        assert_eq!(kind(&e), ProblemType::Conflict);
        let e = p
            .consumer
            .client
            .withdraw_access(&id)
            .await
            .expect_err("decided");
        assert_eq!(kind(&e), ProblemType::Conflict);
        assert_eq!(state_of(&a, &p).await, before);

        // Once decided, the subsystem may ask again; then withdraw; then ask and be declined.
        let again = p
            .consumer
            .client
            .request_access(&request(&kent, "more paths"))
            .await
            .expect("again");
        let withdrawn = p
            .consumer
            .client
            .withdraw_access(&again.id)
            .await
            .expect("withdraw");
        assert_eq!(withdrawn.state, AccessRequestState::Withdrawn);
        let third = p
            .consumer
            .client
            .request_access(&request(&kent, "third"))
            .await
            .expect("third");
        let declined = p
            .provider
            .client
            .decline_access(
                &third.id,
                &AccessDecline {
                    reason: "no data sharing agreement".into(),
                },
            )
            .await
            .expect("decline");
        assert_eq!(
            (declined.state, declined.reason.as_deref()),
            (
                AccessRequestState::Declined,
                Some("no data sharing agreement")
            )
        );
        assert_eq!(
            p.provider
                .client
                .grants()
                .await
                .expect("grants")
                .items
                .len(),
            1,
            "only the approval granted"
        );

        let events = a.operator().events(0, 10_000).await.expect("events").items;
        let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
        for action in [
            "access-request.create",
            "access-request.approved",
            "grant.add",
            "access-request.withdrawn",
            "access-request.declined",
        ] {
            assert!(actions.contains(&action), "{action} not in {actions:?}");
        }
        a.stop().await;
    }
}

/// What the fake receiver saw: each delivery's headers and body.
#[derive(Clone, Default)]
struct Received {
    seen: std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>>,
    changed: std::sync::Arc<tokio::sync::Notify>,
}

impl Received {
    fn all(&self) -> Vec<(axum::http::HeaderMap, String)> {
        self.seen.lock().expect("lock").clone()
    }

    /// Waits (at most 10 s) until `n` deliveries have arrived.
    async fn wait_for(&self, n: usize) -> Vec<(axum::http::HeaderMap, String)> {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let notified = self.changed.notified();
                let all = self.all();
                if all.len() >= n {
                    return all;
                }
                notified.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{n} deliveries did not arrive within 10 s"))
    }
}

/// A webhook receiver on a loopback port (outside psn, so a fake): answers 500 to the first
/// delivery and 200 to the rest.
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let state = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let state = state.clone();
            async move {
                let first = {
                    let mut seen = state.seen.lock().expect("lock");
                    seen.push((headers, body));
                    seen.len() == 1
                };
                state.changed.notify_waiters();
                if first {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), received)
}

/// Checks `Psn-Signature: t=..,v1=..` against the secret, as a receiver would.
fn verify(secret: &str, headers: &axum::http::HeaderMap, body: &str) {
    let header = headers
        .get("psn-signature")
        .and_then(|v| v.to_str().ok())
        .expect("signature header");
    let (t, v1) = header.split_once(",v1=").expect("t=..,v1=..");
    let t = t.strip_prefix("t=").expect("t=");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = (0..v1.len() / 2)
        .map(|i| u8::from_str_radix(&v1[2 * i..2 * i + 2], 16).expect("hex"))
        .collect::<Vec<u8>>();
    ring::hmac::verify(&key, format!("{t}.{body}").as_bytes(), &tag)
        .expect("the signature verifies");
}

#[tokio::test]
async fn webhooks_are_signed_and_retried_after_a_failure() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let authority = &a.running.as_ref().expect("running").authority;
        authority.webhooks.set_retry_base(Duration::from_millis(20));
        let p = parties(&a).await;
        let (url, received) = receiver().await;
        for bad in [
            "http://hooks.example.gov.uk/x",
            "https://user:pw@hooks.example.gov.uk/",
            "ftp://127.0.0.1/",
            "https://h/#f",
        ] {
            let e = p
                .provider
                .client
                .set_webhook(&WebhookSet { url: bad.into() })
                .await
                .expect_err("refused");
            assert_eq!(kind(&e), ProblemType::InvalidRequest, "{bad}");
        }
        let set = p
            .provider
            .client
            .set_webhook(&WebhookSet { url: url.clone() })
            .await
            .expect("set");
        let secret = set.secret.expect("secret shown once");
        assert!(secret.starts_with("whsec_"));

        let created = p
            .consumer
            .client
            .request_access(&request(&format!("{CONSUMER}/revenues"), "checks"))
            .await
            .expect("create");
        let deliveries = received.wait_for(2).await;
        for (headers, body) in &deliveries {
            verify(&secret, headers, body);
            let payload: psn_api::WebhookPayload = serde_json::from_str(body).expect("payload");
            assert_eq!(
                (
                    payload.event.as_str(),
                    payload
                        .request
                        .as_ref()
                        .expect("an access request")
                        .id
                        .as_str()
                ),
                ("access-request.created", created.id.as_str())
            );
        }
        let id = |h: &axum::http::HeaderMap| h.get("psn-delivery").cloned();
        assert_eq!(
            id(&deliveries[0].0),
            id(&deliveries[1].0),
            "a retry is the same delivery"
        );
        // The second answer was 200: the outbox records the delivery as delivered, in two attempts.
        let provider: psn_core::names::MemberId = PROVIDER.parse().expect("member");
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let d = a
                    .store()
                    .deliveries_of(&provider, 10)
                    .await
                    .expect("deliveries");
                if d.first().is_some_and(|d| d.state == "delivered") {
                    assert_eq!(d[0].attempts, 2);
                    return;
                }
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the delivery was recorded as delivered");

        let removed = p.provider.client.remove_webhook().await.expect("remove");
        assert_eq!(removed.url, url);
        let e = p
            .provider
            .client
            .remove_webhook()
            .await
            .expect_err("none left");
        assert_eq!(kind(&e), ProblemType::NotFound);
        a.stop().await;
    }
}

async fn person(a: &TestAuthority, username: &str, role: PersonRole, member: &str) -> Browser {
    let password = a
        .operator()
        .add_person(&NewPerson {
            username: username.into(),
            member: Some(member.parse().expect("member")),
            role,
        })
        .await
        .expect("add person")
        .password;
    Browser::signed_in(a, username, &password).await
}

#[tokio::test]
async fn member_admins_request_from_a_service_page_and_approve_from_the_inbox() {
    let a = TestAuthority::start(common::Backend::Sqlite).await;
    let p = parties(&a).await;
    let mut kent = person(&a, "kent-admin", PersonRole::MemberAdmin, CONSUMER).await;
    let mut dfe = person(&a, "dfe-admin", PersonRole::MemberAdmin, PROVIDER).await;
    let mut dfe_viewer = person(&a, "dfe-viewer", PersonRole::MemberViewer, PROVIDER).await;
    let service_page = format!("/ui/services/{SERVICE}");
    let form_path = format!("/ui/access/new?service={SERVICE}");

    let page = kent.get(&service_page).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains(&format!("href=\"{form_path}\"")),
        "no Request access link"
    );
    assert!(
        !dfe.get(&service_page).await.body.contains("/ui/access/new"),
        "a provider requests nothing of itself"
    );
    assert!(!dfe_viewer
        .get(&service_page)
        .await
        .body
        .contains("/ui/access/new"));

    let form = kent.get(&form_path).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert!(form
        .body
        .contains("<label class=\"govuk-label\" for=\"purpose\">"));
    let csrf = form.csrf();
    let fields = |csrf: &'static str, purpose: &'static str| -> [(&'static str, &'static str); 6] {
        [
            ("csrf", csrf),
            ("service", SERVICE),
            ("subsystem", "GB/LA/E10000016/revenues"),
            ("purpose", purpose),
            ("methods", "GET POST"),
            ("path", "/check*"),
        ]
    };
    let csrf: &'static str = Box::leak(csrf.into_boxed_str());
    // No token: refused, nothing made.
    let refused = kent.post("/ui/access/new", &fields("", "checks")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // A bad field: the form again, with the error summary, nothing made.
    let bad = kent.post("/ui/access/new", &fields(csrf, "")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains("govuk-error-summary") && bad.body.contains("href=\"#purpose\""),
        "{}",
        bad.body
    );
    let all = || async {
        a.operator()
            .all_access_requests(&AccessRequestQuery::default())
            .await
            .expect("list")
            .items
    };
    assert!(all().await.is_empty());
    let made = kent
        .post("/ui/access/new", &fields(csrf, "Free school meals checks"))
        .await;
    assert_eq!(
        (made.status, made.location()),
        (StatusCode::SEE_OTHER, "/ui/access"),
        "{}",
        made.body
    );
    let id = all().await[0].id.clone();
    assert!(kent.get("/ui/access").await.body.contains(&id));

    // The provider's viewer sees it but has no forms, and cannot act.
    let seen = dfe_viewer.get("/ui/access").await;
    assert!(seen.body.contains(&id) && !seen.body.contains(&format!("/ui/access/{id}/approve")));
    let viewer_csrf = seen.csrf();
    let tried = dfe_viewer
        .post(
            &format!("/ui/access/{id}/approve"),
            &[("csrf", &viewer_csrf)],
        )
        .await;
    assert_eq!(tried.status, StatusCode::FORBIDDEN);

    // The provider's admin: no token refused; widening re-renders with an error; then approve.
    let inbox = dfe.get("/ui/access").await;
    assert!(inbox
        .body
        .contains(&format!("action=\"/ui/access/{id}/approve\"")));
    assert!(inbox.body.contains(&format!("for=\"reason-{id}\"")));
    let csrf = inbox.csrf();
    let forged = dfe
        .post(&format!("/ui/access/{id}/approve"), &[("methods", "GET")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let wide = dfe
        .post(
            &format!("/ui/access/{id}/approve"),
            &[("csrf", &csrf), ("methods", "DELETE")],
        )
        .await;
    assert_eq!(wide.status, StatusCode::BAD_REQUEST);
    assert!(
        wide.body.contains("govuk-error-summary")
            && wide.body.contains(&format!("href=\"#methods-{id}\""))
    );
    let no_reason = dfe
        .post(
            &format!("/ui/access/{id}/decline"),
            &[("csrf", &csrf), ("reason", "")],
        )
        .await;
    assert_eq!(no_reason.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        all().await[0].state,
        AccessRequestState::Pending,
        "refused forms changed nothing"
    );
    let approved = dfe
        .post(
            &format!("/ui/access/{id}/approve"),
            &[("csrf", &csrf), ("methods", "GET"), ("path", "")],
        )
        .await;
    assert_eq!(
        (approved.status, approved.location()),
        (StatusCode::SEE_OTHER, "/ui/access"),
        "{}",
        approved.body
    );
    let done = &all().await[0];
    assert_eq!(
        (done.state, done.approved_methods.clone()),
        (AccessRequestState::Approved, Some(vec!["GET".to_owned()]))
    );
    assert_eq!(done.created_by, "person:kent-admin");
    assert_eq!(
        p.provider
            .client
            .grants()
            .await
            .expect("grants")
            .items
            .len(),
        1
    );
    let again = dfe
        .post(
            &format!("/ui/access/{id}/decline"),
            &[("csrf", &csrf), ("reason", "late")],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    a.stop().await;
}
