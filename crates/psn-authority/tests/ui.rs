//! The web UI end to end: a real authority over real HTTPS (SQLite, and PostgreSQL when
//! configured), driven like a browser that keeps its cookies and follows no redirects, so every
//! Set-Cookie and status can be checked. Hostile input throughout: wrong passwords, forged and
//! missing form tokens, planted session cookies, oversized fields, markup in names.

mod common;

use common::browser::{Browser, Page};
use common::{backends, Backend, TestAuthority};
use psn_api::{NewMember, NewPerson, PersonRole, RoleChange};
use psn_authority::store::ServiceRecord;
use psn_core::access::Grant;
use psn_core::names::{MemberId, SubsystemId};
use psn_core::sla::{SlaDeclaration, SlaWindow};
use reqwest::header::CACHE_CONTROL;
use reqwest::StatusCode;

const KENT: &str = "GB/LA/E10000016";
const DEVON: &str = "GB/LA/E10000008";

fn member(id: &str) -> MemberId {
    id.parse().expect("member id")
}

async fn add_member(a: &TestAuthority, id: &str, name: &str) {
    a.operator()
        .add_member(&NewMember {
            id: member(id),
            name: name.into(),
            sector: Some("local-government".into()),
            region: Some("South West".into()),
        })
        .await
        .expect("add member");
}

/// Adds a person through the API; returns their one-time password.
async fn add_person(
    a: &TestAuthority,
    username: &str,
    role: PersonRole,
    of: Option<&str>,
) -> String {
    a.operator()
        .add_person(&NewPerson {
            username: username.into(),
            member: of.map(member),
            role,
        })
        .await
        .expect("add person")
        .password
}

/// Kent and Devon, each with a subsystem, a service and a grant on it.
async fn network(a: &TestAuthority) {
    add_member(a, KENT, "Kent County Council").await;
    add_member(a, DEVON, "Devon County Council").await;
    let store = a.store();
    for (owner, other) in [(KENT, DEVON), (DEVON, KENT)] {
        let subsystem: SubsystemId = format!("{owner}/revenues").parse().expect("subsystem");
        store
            .add_subsystem("test", &subsystem)
            .await
            .expect("subsystem");
        let service = ServiceRecord {
            id: format!("{owner}/revenues/lookup").parse().expect("service"),
            title: format!("Lookup of {owner}"),
            description: String::new(),
            processes: vec!["lgsl:4".into()],
            details: Default::default(),
        };
        store.put_service("test", &service).await.expect("service");
        let grant = Grant {
            id: format!("g-{}", owner.replace('/', "-")),
            service: service.id.clone(),
            grantee: other.parse().expect("grantee"),
            method: Some("GET".into()),
            path: None,
        };
        store.add_grant("test", &grant).await.expect("grant");
    }
    let sla = SlaDeclaration {
        service: format!("{KENT}/revenues/lookup").parse().expect("service"),
        availability_percent: 99.9,
        window: SlaWindow::Month,
        latency: None,
        support_hours: None,
    };
    store.put_sla("test", &sla).await.expect("sla");
}

fn assert_security_headers(page: &Page, what: &str) {
    let h = |name: &str| {
        page.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no {name}"))
            .to_owned()
    };
    let csp = h("content-security-policy");
    assert_eq!(csp, psn_authority::ui::CONTENT_SECURITY_POLICY, "{what}");
    for directive in [
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{what}: {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert!(
        h("strict-transport-security").starts_with("max-age="),
        "{what}"
    );
    assert_eq!(h("x-frame-options"), "DENY", "{what}");
    assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
}

fn assert_no_store(page: &Page, what: &str) {
    let cache = page.headers.get(CACHE_CONTROL).expect("cache-control");
    assert_eq!(cache, "no-store", "{what}");
}

/// What each role gets on each page: 200, 403, or (signed out) a redirect to sign in.
#[tokio::test]
async fn every_role_sees_what_its_role_allows_and_nothing_else() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        network(&a).await;
        let people = [
            ("op", PersonRole::Operator, None),
            (
                "kent-admin@kent.gov.uk",
                PersonRole::MemberAdmin,
                Some(KENT),
            ),
            ("kent-viewer", PersonRole::MemberViewer, Some(KENT)),
            ("assessor", PersonRole::Assessor, None),
        ];
        let kent_grants = format!("/ui/members/{KENT}/grants");
        let devon_grants = format!("/ui/members/{DEVON}/grants");
        let kent_service = format!("/ui/services/{KENT}/revenues/lookup");
        let devon_service = format!("/ui/services/{DEVON}/revenues/lookup");
        let kent_page = format!("/ui/members/{KENT}");
        let kent_sla = format!("{kent_service}/sla?period=1d");
        let devon_sla = format!("{devon_service}/sla");
        let devon_page = format!("/ui/members/{DEVON}");
        // Per page: operator, member-admin, member-viewer, assessor.
        let matrix: Vec<(&str, [u16; 4])> = vec![
            ("/ui/", [200, 200, 200, 200]),
            ("/ui/members", [200, 200, 200, 200]),
            ("/ui/members?class=LA&q=kent&page=1", [200, 200, 200, 200]),
            (&kent_page, [200, 200, 200, 200]),
            (&devon_page, [200, 200, 200, 200]),
            (&kent_grants, [200, 200, 200, 200]),
            (&devon_grants, [200, 403, 403, 200]),
            ("/ui/services", [200, 200, 200, 200]),
            (&kent_service, [200, 200, 200, 200]),
            (&devon_service, [200, 200, 200, 200]),
            (
                "/ui/services/GB/LA/E10000016/revenues/nothing",
                [404, 404, 404, 404],
            ),
            ("/ui/gateways", [200, 200, 200, 200]),
            ("/ui/sla", [200, 200, 200, 200]),
            (
                "/ui/sla?provider=GB/LA/E10000016&period=90d",
                [200, 200, 200, 200],
            ),
            (&kent_sla, [200, 200, 200, 200]),
            (&devon_sla, [200, 200, 200, 200]),
            ("/ui/people", [200, 200, 403, 403]),
            ("/ui/events", [200, 403, 403, 200]),
            (
                "/ui/events?action=person.&target=kent&actor=op&page=1",
                [200, 403, 403, 200],
            ),
            ("/ui/accessibility", [200, 200, 200, 200]),
        ];
        for (i, (username, role, of)) in people.iter().enumerate() {
            let password = add_person(&a, username, *role, *of).await;
            let mut browser = Browser::signed_in(&a, username, &password).await;
            for (path, expected) in &matrix {
                let page = browser.get(path).await;
                assert_eq!(
                    page.status.as_u16(),
                    expected[i],
                    "{backend:?} {role} {path}: {}",
                    page.body
                );
                assert_security_headers(&page, path);
                assert_no_store(&page, path);
            }
            let kent = browser.get(&kent_page).await;
            let sees_grants = kent.body.contains(&kent_grants);
            assert!(sees_grants, "{role}: Kent's page links its grants");
            let service = browser.get(&kent_service).await;
            assert!(
                service.body.contains("99.9% per month"),
                "{role}: declared SLA"
            );
            assert!(
                service.body.contains("g-GB-LA-E10000016"),
                "{role}: own grants"
            );
            let other = browser.get(&devon_service).await;
            assert_eq!(
                other.body.contains("g-GB-LA-E10000008"),
                expected_devon(*role),
                "{role}: Devon's grants on its service page"
            );
            let devon_report = browser.get(&devon_sla).await;
            assert_eq!(
                devon_report.body.contains("By consumer"),
                expected_devon(*role),
                "{role}: Devon's consumers on its SLA report"
            );
            let devon = browser.get(&devon_page).await;
            assert_eq!(
                devon.body.contains(&devon_grants),
                expected_devon(*role),
                "{role}: link to Devon's grants"
            );
        }
        let grants = Browser::signed_in(&a, "op", &reset(&a, "op").await)
            .await
            .get(&kent_grants)
            .await;
        assert!(grants.body.contains("g-GB-LA-E10000016"), "{}", grants.body);
        assert!(grants.body.contains(DEVON), "the grantee is shown");
        a.stop().await;
    }
}

fn expected_devon(role: PersonRole) -> bool {
    matches!(role, PersonRole::Operator | PersonRole::Assessor)
}

async fn reset(a: &TestAuthority, username: &str) -> String {
    a.operator()
        .reset_person_password(username)
        .await
        .expect("reset")
        .password
}

#[tokio::test]
async fn signed_out_pages_send_the_browser_to_sign_in_and_public_pages_carry_headers() {
    let a = TestAuthority::start(Backend::Sqlite).await;
    network(&a).await;
    let mut browser = Browser::new(&a);
    for path in [
        "/ui/",
        "/ui/members",
        "/ui/people",
        &format!("/ui/members/{KENT}/grants"),
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location(), "/ui/sign-in", "{path}");
        assert_security_headers(&page, path);
    }
    for (path, status) in [
        ("/ui/sign-in", StatusCode::OK),
        ("/ui/accessibility", StatusCode::OK),
        ("/ui/no-such-page", StatusCode::NOT_FOUND),
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, status, "{path}");
        assert_security_headers(&page, path);
        assert_no_store(&page, path);
        assert!(
            page.body.contains("href=\"/ui/accessibility\""),
            "{path}: footer link"
        );
        assert!(page.body.contains("govuk-skip-link"), "{path}: skip link");
        assert!(!page.body.contains("<script>"), "{path}: no inline script");
        assert!(!page.body.contains("style="), "{path}: no inline style");
    }
    let redirect = browser.get("/ui").await;
    assert_eq!(redirect.location(), "/ui/");
    a.stop().await;
}

#[tokio::test]
async fn assets_are_served_under_their_digest_with_a_long_cache_and_no_gds_font() {
    let a = TestAuthority::start(Backend::Sqlite).await;
    let mut browser = Browser::new(&a);
    let page = browser.get("/ui/sign-in").await;
    let start = page.body.find("/ui/assets/").expect("asset link");
    let end = page.body[start..]
        .find("/govuk-frontend.min.css")
        .expect("css")
        + start;
    let prefix = page.body[start..end].to_owned();
    for file in [
        "govuk-frontend.min.css",
        "govuk-frontend.min.js",
        "psn.css",
        "psn.js",
    ] {
        let asset = browser.get(&format!("{prefix}/{file}")).await;
        assert_eq!(asset.status, StatusCode::OK, "{file}");
        let cache = asset.headers.get(CACHE_CONTROL).expect("cache-control");
        assert_eq!(cache, "public, max-age=31536000, immutable", "{file}");
        assert_security_headers(&asset, file);
        assert!(!asset.body.contains("GDS Transport"), "{file}");
        assert!(!asset.body.contains("/assets/fonts/"), "{file}");
    }
    let css = browser
        .get(&format!("{prefix}/govuk-frontend.min.css"))
        .await;
    assert!(css.body.contains("font-family:arial,helvetica,sans-serif"));
    let stale = browser.get("/ui/assets/0000000000000000/psn.css").await;
    assert_eq!(stale.status, StatusCode::NOT_FOUND);
    let unknown = browser.get(&format!("{prefix}/secret.txt")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    a.stop().await;
}

#[tokio::test]
async fn wrong_passwords_lock_the_account_then_the_address() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let password = add_person(&a, "victim", PersonRole::Operator, None).await;
        let mut browser = Browser::new(&a);
        let limit = psn_authority::ui::MAX_ACCOUNT_FAILURES;
        for attempt in 1..limit {
            let page = browser.sign_in("victim", "wrong password").await;
            assert_eq!(page.status, StatusCode::BAD_REQUEST, "attempt {attempt}");
            assert!(page.body.contains("The username or password is not right"));
            assert!(!browser
                .cookies
                .contains_key(psn_authority::ui::SESSION_COOKIE));
        }
        let locking = browser.sign_in("victim", "wrong password").await;
        assert_eq!(locking.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            locking.body.contains("This account is locked"),
            "{}",
            locking.body
        );
        let right_but_locked = browser.sign_in("victim", &password).await;
        assert_eq!(right_but_locked.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(right_but_locked.body.contains("This account is locked"));
        assert!(!browser
            .cookies
            .contains_key(psn_authority::ui::SESSION_COOKIE));

        let events = a.operator().events(0, 1000).await.expect("events");
        assert!(events
            .items
            .iter()
            .any(|e| e.action == "person.lock" && e.target == "victim"));

        // An operator's reset unlocks at once; the old password no longer works.
        let fresh = reset(&a, "victim").await;
        let old = browser.sign_in("victim", &password).await;
        assert_eq!(old.status, StatusCode::BAD_REQUEST);
        let page = browser.sign_in("victim", &fresh).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);

        // The address: failures against any account add up, then every attempt is refused.
        let mut other = Browser::new(&a);
        let so_far = u32::try_from(limit + 2).expect("small");
        for n in so_far..psn_authority::ui::MAX_ADDRESS_FAILURES {
            let page = other.sign_in(&format!("nobody{n}"), "guess").await;
            assert_eq!(page.status, StatusCode::BAD_REQUEST, "failure {n}");
        }
        let blocked = other.sign_in("victim", &fresh).await;
        assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            blocked.body.contains("from your network"),
            "{}",
            blocked.body
        );
        a.stop().await;
    }
}

#[tokio::test]
async fn forms_without_the_right_token_are_refused_and_change_nothing() {
    let a = TestAuthority::start(Backend::Sqlite).await;
    let password = add_person(&a, "op", PersonRole::Operator, None).await;

    // Sign-in without the form's cookie, with a forged token, and without a token.
    let mut stranger = Browser::new(&a);
    let fields = [("username", "op"), ("password", password.as_str())];
    let no_cookie = stranger
        .post("/ui/sign-in", &[fields[0], fields[1], ("csrf", "x")])
        .await;
    assert_eq!(no_cookie.status, StatusCode::FORBIDDEN);
    let form = stranger.get("/ui/sign-in").await;
    let forged = "A".repeat(form.csrf().len());
    let page = stranger
        .post("/ui/sign-in", &[fields[0], fields[1], ("csrf", &forged)])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("security token"));
    let page = stranger.post("/ui/sign-in", &fields).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(!stranger
        .cookies
        .contains_key(psn_authority::ui::SESSION_COOKIE));

    // Sign-out without and with a forged token leaves the session working.
    let mut browser = Browser::signed_in(&a, "op", &password).await;
    let overview = browser.get("/ui/").await;
    let csrf = overview.csrf();
    for sent in [
        vec![],
        vec![("csrf", "forged")],
        vec![("csrf", forged.as_str())],
    ] {
        let page = browser.post("/ui/sign-out", &sent).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{sent:?}");
        assert_eq!(browser.get("/ui/").await.status, StatusCode::OK, "{sent:?}");
    }
    let out = browser.post("/ui/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/ui/sign-in");
    assert!(!browser
        .cookies
        .contains_key(psn_authority::ui::SESSION_COOKIE));
    assert_eq!(browser.get("/ui/").await.status, StatusCode::SEE_OTHER);
    a.stop().await;
}

#[tokio::test]
async fn a_session_cookie_the_browser_brings_is_never_adopted() {
    let a = TestAuthority::start(Backend::Sqlite).await;
    let victim_password = add_person(&a, "victim", PersonRole::Operator, None).await;
    let attacker_password = add_person(&a, "attacker", PersonRole::Assessor, None).await;
    let cookie = psn_authority::ui::SESSION_COOKIE;

    // A made-up token planted before sign-in.
    let mut browser = Browser::new(&a);
    let planted = "planted-by-an-attacker-0123456789abcdefghijk".to_owned();
    browser.cookies.insert(cookie.into(), planted.clone());
    let page = browser.sign_in("victim", &victim_password).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let issued = browser.cookies.get(cookie).expect("session").clone();
    assert_ne!(issued, planted);
    let mut planter = Browser::new(&a);
    planter.cookies.insert(cookie.into(), planted);
    assert_eq!(planter.get("/ui/").await.status, StatusCode::SEE_OTHER);

    // The attacker's own valid session, planted in the victim's browser, ends at sign-in.
    let attacker = Browser::signed_in(&a, "attacker", &attacker_password).await;
    let attacker_token = attacker.cookies.get(cookie).expect("session").clone();
    let mut victim = Browser::new(&a);
    victim.cookies.insert(cookie.into(), attacker_token.clone());
    let page = victim.sign_in("victim", &victim_password).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_ne!(victim.cookies.get(cookie), Some(&attacker_token));
    let mut replay = Browser::new(&a);
    replay.cookies.insert(cookie.into(), attacker_token);
    assert_eq!(replay.get("/ui/").await.status, StatusCode::SEE_OTHER);
    a.stop().await;
}

#[tokio::test]
async fn oversized_and_malformed_input_gets_an_error_page() {
    let a = TestAuthority::start(Backend::Sqlite).await;
    let password = add_person(&a, "op", PersonRole::Operator, None).await;
    let mut browser = Browser::new(&a);
    let long_name = "a".repeat(300);
    let page = browser.sign_in(&long_name, &password).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("at most 254 characters"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains(&long_name),
        "the oversized value is not echoed"
    );
    let huge = "p".repeat(64 * 1024);
    let form = browser.get("/ui/sign-in").await;
    let csrf = form.csrf();
    let page = browser
        .post(
            "/ui/sign-in",
            &[("username", "op"), ("password", &huge), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        page.body.contains("The form was too large"),
        "{}",
        page.body
    );
    assert_security_headers(&page, "413");

    let mut op = Browser::signed_in(&a, "op", &password).await;
    for query in [
        format!("q={}", "x".repeat(101)),
        "page=0".to_owned(),
        "page=abc".to_owned(),
        "unknown=1".to_owned(),
        "q=%07bell".to_owned(),
    ] {
        let page = op.get(&format!("/ui/members?{query}")).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            page.body.contains("govuk-heading-l"),
            "{query}: an HTML page"
        );
    }
    let page = op.get("/ui/members/GB/LA/not%20a%20code").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    a.stop().await;
}

#[tokio::test]
async fn markup_in_names_is_shown_as_text() {
    let a = TestAuthority::start(Backend::Sqlite).await;
    let hostile = "<script>alert(\"x\")</script> & <b onmouseover='y'>Kent</b>";
    let store = a.store();
    store
        .add_member(
            "test",
            &NewMember {
                id: member(KENT),
                name: hostile.into(),
                sector: Some("<i>sector</i>".into()),
                region: Some("<img src=x onerror=alert(1)>".into()),
            },
        )
        .await
        .expect("member");
    let subsystem: SubsystemId = format!("{KENT}/revenues").parse().expect("subsystem");
    store
        .add_subsystem("test", &subsystem)
        .await
        .expect("subsystem");
    let service = ServiceRecord {
        id: format!("{KENT}/revenues/lookup").parse().expect("service"),
        title: hostile.into(),
        description: String::new(),
        processes: vec!["<svg onload=alert(1)>".into()],
        details: psn_api::ListingDetails {
            onboarding_terms: "<script>alert(\"terms\")</script>".into(),
            areas: vec!["<b onmouseover=alert(1)>Kent</b>".into()],
            price: psn_api::Price::PerUnit {
                min_pence: 350,
                max_pence: 442,
                unit: "<i>employee</i>".into(),
                interval: psn_api::PriceInterval::Month,
            },
            ..Default::default()
        },
    };
    store.put_service("test", &service).await.expect("service");
    let service_page = format!("/ui/services/{KENT}/revenues/lookup");
    let password = add_person(&a, "op", PersonRole::Operator, None).await;
    let mut op = Browser::signed_in(&a, "op", &password).await;
    let query = format!("/ui/members?q={}", "%3Cscript%3E");
    for path in [
        "/ui/",
        "/ui/members",
        &format!("/ui/members/{KENT}"),
        "/ui/services",
        &service_page,
        &query,
    ] {
        let page = op.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        for raw in [
            "<script>",
            "<b onmouseover",
            "<img src=x",
            "<svg onload",
            "<i>",
        ] {
            assert!(!page.body.contains(raw), "{path} contains {raw}");
        }
    }
    // askama writes numeric character references.
    let page = op.get(&format!("/ui/members/{KENT}")).await;
    assert!(
        page.body.contains("&#60;script&#62;alert(&#34;x&#34;)"),
        "{}",
        page.body
    );
    let page = op.get(&service_page).await;
    for shown in [
        "&#60;script&#62;alert(&#34;terms&#34;)&#60;/script&#62;",
        "£3.50 to £4.42 per &#60;i&#62;employee&#60;/i&#62; a month",
    ] {
        assert!(page.body.contains(shown), "{shown} in {}", page.body);
    }
    let search = op.get(&query).await;
    assert!(
        search.body.contains("value=\"&#60;script&#62;\""),
        "{}",
        search.body
    );
    // The service page links to the provider's OpenAPI document, served as a download.
    assert!(op.get(&service_page).await.body.contains("None uploaded"));
    let document =
        r#"{"openapi":"3.1.0","info":{"title":"<script>x</script>","version":"1"},"paths":{}}"#;
    store
        .put_document("test", &service.id, document)
        .await
        .expect("document");
    let page = op.get(&service_page).await;
    let link = format!("href=\"{service_page}/openapi.json\"");
    assert!(page.body.contains(&link), "{}", page.body);
    let download = op.get(&format!("{service_page}/openapi.json")).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.body, document);
    a.stop().await;
}

#[tokio::test]
async fn people_are_managed_through_the_api_and_every_change_is_in_the_trail() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        add_member(&a, KENT, "Kent County Council").await;
        let op = a.operator();
        let first = add_person(&a, "kent@kent.gov.uk", PersonRole::MemberAdmin, Some(KENT)).await;
        assert_eq!(first.len(), 20);
        let refused = [
            NewPerson {
                username: "Upper".into(),
                member: None,
                role: PersonRole::Operator,
            },
            NewPerson {
                username: "x".repeat(255),
                member: None,
                role: PersonRole::Operator,
            },
            NewPerson {
                username: "viewer".into(),
                member: None,
                role: PersonRole::MemberViewer,
            },
            NewPerson {
                username: "op2".into(),
                member: Some(member(KENT)),
                role: PersonRole::Operator,
            },
        ];
        for new in &refused {
            let e = op.add_person(new).await.expect_err("refused");
            assert_eq!(
                e.problem_type(),
                Some(psn_core::problem::ProblemType::InvalidRequest),
                "{new:?}"
            );
        }
        let unknown_member = NewPerson {
            username: "devon".into(),
            member: Some(member(DEVON)),
            role: PersonRole::MemberViewer,
        };
        let e = op
            .add_person(&unknown_member)
            .await
            .expect_err("no such member");
        assert_eq!(
            e.problem_type(),
            Some(psn_core::problem::ProblemType::NotFound)
        );
        let duplicate = NewPerson {
            username: "kent@kent.gov.uk".into(),
            member: None,
            role: PersonRole::Assessor,
        };
        let e = op.add_person(&duplicate).await.expect_err("duplicate");
        assert_eq!(
            e.problem_type(),
            Some(psn_core::problem::ProblemType::Conflict)
        );
        assert_eq!(op.people().await.expect("list").items.len(), 1);

        // A role change ends the session, so the new role applies at once.
        let mut browser = Browser::signed_in(&a, "kent@kent.gov.uk", &first).await;
        assert_eq!(browser.get("/ui/people").await.status, StatusCode::OK);
        let change = RoleChange {
            role: PersonRole::MemberViewer,
            member: Some(member(KENT)),
        };
        let changed = op
            .set_person_role("kent@kent.gov.uk", &change)
            .await
            .expect("role");
        assert_eq!(changed.role, PersonRole::MemberViewer);
        assert_eq!(
            browser.get("/ui/people").await.status,
            StatusCode::SEE_OTHER
        );

        // Disabling ends sessions and refuses sign-in even with the right password.
        let mut browser = Browser::signed_in(&a, "kent@kent.gov.uk", &first).await;
        let disabled = op
            .disable_person("kent@kent.gov.uk")
            .await
            .expect("disable");
        assert!(disabled.disabled);
        assert_eq!(browser.get("/ui/").await.status, StatusCode::SEE_OTHER);
        let page = browser.sign_in("kent@kent.gov.uk", &first).await;
        assert!(page.body.contains("disabled"), "{}", page.body);
        let e = op
            .disable_person("kent@kent.gov.uk")
            .await
            .expect_err("again");
        assert_eq!(
            e.problem_type(),
            Some(psn_core::problem::ProblemType::Conflict)
        );
        let e = op.disable_person("nobody").await.expect_err("unknown");
        assert_eq!(
            e.problem_type(),
            Some(psn_core::problem::ProblemType::NotFound)
        );

        let actions: Vec<String> = op
            .events(0, 1000)
            .await
            .expect("events")
            .items
            .into_iter()
            .filter(|e| e.target == "kent@kent.gov.uk")
            .map(|e| e.action)
            .collect();
        for expected in [
            "person.add",
            "person.sign-in",
            "person.set-role",
            "person.disable",
        ] {
            assert!(
                actions.iter().any(|a| a == expected),
                "{expected} in {actions:?}"
            );
        }
        a.stop().await;
    }
}

fn action_cell(action: &str) -> String {
    format!("<td class=\"govuk-table__cell psn-id\">{action}</td>")
}

#[tokio::test]
async fn the_events_page_filters_the_trail_newest_first() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        network(&a).await;
        let password = add_person(&a, "op", PersonRole::Operator, None).await;
        add_person(&a, "kent-viewer", PersonRole::MemberViewer, Some(KENT)).await;
        let mut op = Browser::signed_in(&a, "op", &password).await;

        let all = op.get("/ui/events").await;
        assert_eq!(all.status, StatusCode::OK);
        let newest = all
            .body
            .find(&action_cell("person.sign-in"))
            .expect("sign-in");
        let oldest = all.body.find(&action_cell("network.init")).expect("init");
        assert!(newest < oldest, "newest first");

        let people = op.get("/ui/events?action=person.add").await;
        assert!(people.body.contains("2 events found"), "{}", people.body);
        assert!(people.body.contains(&action_cell("person.add")));
        assert!(!people.body.contains(&action_cell("member.add")));

        let kent = op
            .get("/ui/events?target=E10000016%2Frevenues%2Flookup")
            .await;
        assert!(
            kent.body.contains(&action_cell("service.put")),
            "{}",
            kent.body
        );
        assert!(!kent.body.contains(&action_cell("person.add")));
        assert!(kent.body.contains("value=\"E10000016/revenues/lookup\""));

        // LIKE's wildcards in a filter widen nothing beyond one character and break nothing.
        let wild = op.get("/ui/events?action=%25").await;
        assert_eq!(wild.status, StatusCode::OK);
        let none = op.get("/ui/events?actor=nobody-at-all").await;
        assert!(none.body.contains("0 events found"), "{}", none.body);
        a.stop().await;
    }
}

const DFE: &str = "GB/GOV/D6";
const FSM: &str = "GB/GOV/D6/eligibility/fsm-check";
const KENT_APP: &str = "GB/LA/E10000016/revenues";

/// `count` of Kent's exchanges of the FSM check `ago` before now, ending with `outcome`.
fn kent_used(
    ago: time::Duration,
    outcome: psn_core::aggregate::Outcome,
    count: u64,
) -> psn_core::aggregate::AggregateRow {
    use psn_core::aggregate::{AggregateCounts, AggregateKey, AggregateRow, SampleKind, Side};
    let mut counts = AggregateCounts {
        count,
        ..AggregateCounts::default()
    };
    if outcome == psn_core::aggregate::Outcome::Ok {
        for _ in 0..count {
            counts.total.record(120);
            counts.upstream.record(100);
        }
    }
    AggregateRow {
        key: AggregateKey {
            minute: (time::OffsetDateTime::now_utc() - ago).unix_timestamp() / 60,
            side: Side::Consumer,
            kind: SampleKind::Exchange,
            service: FSM.into(),
            client: KENT_APP.into(),
            outcome,
        },
        counts,
    }
}

/// DfE provides the FSM check (99.9% a day); Kent's gateway reports 1,000 exchanges two hours
/// ago, 10 of which the backend failed: a breach of today's window, the backend's doing.
async fn measured_network(a: &TestAuthority) -> (common::EnrolledGateway, common::EnrolledGateway) {
    use psn_core::aggregate::{AggregateBatch, LogCursor, Outcome};
    let dfe = common::enrol_member(a, DFE, "Department for Education", "eligibility").await;
    let kent = common::enrol_member(a, KENT, "Kent County Council", "revenues").await;
    dfe.client
        .publish_service(&psn_api::ServiceListing {
            id: FSM.parse().expect("service"),
            title: "Free school meals check".into(),
            description: String::new(),
            processes: vec![],
            details: Default::default(),
        })
        .await
        .expect("publish");
    dfe.client
        .declare_sla(&SlaDeclaration {
            service: FSM.parse().expect("service"),
            availability_percent: 99.9,
            window: SlaWindow::Day,
            latency: None,
            support_hours: None,
        })
        .await
        .expect("declare");
    let rows = vec![
        kent_used(time::Duration::hours(2), Outcome::Ok, 990),
        kent_used(time::Duration::hours(2), Outcome::Backend, 10),
    ];
    kent.client
        .push_aggregates(&AggregateBatch {
            from: None,
            to: LogCursor {
                segment: 1,
                position: 3,
            },
            records: 1000,
            rows,
        })
        .await
        .expect("push");
    (dfe, kent)
}

#[tokio::test]
async fn sla_reports_show_attainment_breaches_and_charts_with_their_data() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let _gateways = measured_network(&a).await;
        let password = add_person(&a, "op", PersonRole::Operator, None).await;
        let mut op = Browser::signed_in(&a, "op", &password).await;
        let path = format!("/ui/services/{FSM}/sla?period=1d");
        let page = op.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        // The same figures as the API's report of the same day.
        let now = time::OffsetDateTime::now_utc();
        let api = a
            .operator()
            .sla_report(&psn_api::SlaReportQuery {
                service: Some(FSM.parse().expect("service")),
                since: Some(now - time::Duration::days(1)),
                until: Some(now),
                step: Some(900),
                ..psn_api::SlaReportQuery::default()
            })
            .await
            .expect("report");
        let series = &api.services[0].series;
        let measured: Vec<_> = series.iter().filter(|p| p.eligible > 0).collect();
        assert_eq!(measured.len(), 1, "one step holds the exchanges");
        assert_eq!(measured[0].availability_percent, Some(99.0));
        assert_eq!(api.breaches.len(), 1);
        for expected in [
            "SLA report: Free school meals check",
            "99.9% per day",
            "99.000%",
            // The charts: SVG with a name and a description, and their data as a table.
            "<svg class=\"psn-chart__svg\"",
            "role=\"img\" aria-labelledby=\"availability-chart-title availability-chart-desc\"",
            "<title id=\"availability-chart-title\">Availability, last 24 hours</title>",
            "<title id=\"latency-chart-title\">Latency (p95), last 24 hours</title>",
            "1 of 96 steps measured; lowest 99.0%",
            "The charts' data as a table",
            "1,000",
            // The breach, its attribution and evidence.
            "Provider&#39;s backend",
            "10 failures of 1,000 exchanges judged: backend 10, provider gateway 0.",
            "measured 99.000%, target 99.9%",
            // Kent's experience, shown to the network's people.
            "By consumer",
        ] {
            assert!(page.body.contains(expected), "{expected} in {}", page.body);
        }
        assert!(
            page.body.contains("<circle class=\"psn-chart__dot\"")
                || page.body.contains("<polyline class=\"psn-chart__line\""),
            "a point is drawn"
        );
        assert!(page.body.contains("class=\"psn-chart__target\""));
        // The network report lists the provider; the provider's report its service and breach.
        let network = op.get("/ui/sla?period=7d").await;
        assert_eq!(network.status, StatusCode::OK);
        assert!(network
            .body
            .contains(&format!("/ui/sla?provider={DFE}&amp;period=7d")));
        let provider = op.get(&format!("/ui/sla?provider={DFE}&period=7d")).await;
        assert_eq!(provider.status, StatusCode::OK);
        assert!(provider
            .body
            .contains(&format!("/ui/services/{FSM}/sla?period=7d")));
        assert!(
            provider
                .body
                .contains("10 failures of 1,000 exchanges judged: backend 10"),
            "{}",
            provider.body
        );
        // Kent's viewer sees the report, but not DfE's consumers.
        let password = add_person(&a, "kent-viewer", PersonRole::MemberViewer, Some(KENT)).await;
        let mut viewer = Browser::signed_in(&a, "kent-viewer", &password).await;
        let seen = viewer.get(&path).await;
        assert_eq!(seen.status, StatusCode::OK);
        assert!(seen.body.contains("99.000%"));
        assert!(
            !seen.body.contains("By consumer"),
            "another member's consumers"
        );
        // Malformed and hostile queries: an error page, nothing echoed unescaped.
        for (bad, status) in [
            ("/ui/sla?period=5y", 400),
            ("/ui/sla?period=", 400),
            ("/ui/sla?page=0", 400),
            ("/ui/sla?extra=1", 400),
            ("/ui/sla?provider=%3Cscript%3Ealert(1)%3C%2Fscript%3E", 400),
            ("/ui/sla?provider=GB%2FLA%2FE10000016%00", 400),
            (&format!("/ui/sla?provider={}", "A".repeat(101)), 400),
            (&format!("/ui/services/{FSM}/sla?period=1d&extra=1"), 400),
            (&format!("/ui/services/{FSM}/sla?period=1y"), 400),
            ("/ui/services/GB/GOV/D6/eligibility/nothing/sla", 404),
            ("/ui/services/GB/GOV/D6/eligibility/%3Cb%3E/sla", 404),
        ] {
            let page = op.get(bad).await;
            assert_eq!(page.status.as_u16(), status, "{bad}: {}", page.body);
            assert!(!page.body.contains("<script>"), "{bad}");
            assert!(!page.body.contains("<b>"), "{bad}");
            assert_security_headers(&page, bad);
        }
        a.stop().await;
    }
}

#[tokio::test]
async fn pages_show_each_gateways_configuration_version_and_freshness() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let (dfe, _kent) = measured_network(&a).await;
        let password = add_person(&a, "op", PersonRole::Operator, None).await;
        let mut op = Browser::signed_in(&a, "op", &password).await;
        let gateways = op.get("/ui/gateways").await;
        assert_eq!(gateways.status, StatusCode::OK);
        assert_eq!(gateways.body.matches(">Never fetched</strong>").count(), 2);
        let psn_api::ConfigFetch::Document { .. } =
            dfe.client.config(None, None).await.expect("fetch")
        else {
            panic!("a document");
        };
        let version = a
            .operator()
            .health()
            .await
            .expect("health")
            .config_version
            .expect("published");
        let gateways = op.get("/ui/gateways").await;
        assert_eq!(
            gateways.body.matches(">Current</strong>").count(),
            1,
            "{}",
            gateways.body
        );
        assert!(gateways
            .body
            .contains(&format!("Version {version}, last fetched")));
        // A newer version: DfE's gateway is behind until it asks again.
        add_member(&a, DEVON, "Devon County Council").await;
        let dfe_page = op.get(&format!("/ui/members/{DFE}")).await;
        assert!(
            dfe_page.body.contains(">Behind</strong>"),
            "{}",
            dfe_page.body
        );
        assert!(dfe_page
            .body
            .contains(&format!("Version {version}, 1 version behind")));
        let overview = op.get("/ui/").await;
        assert!(overview.body.contains("Gateways' configuration"));
        for (tag, count) in [
            ("Current", 0),
            ("Behind", 1),
            ("Out of touch", 0),
            ("Never fetched", 1),
        ] {
            let row = format!(">{tag}</strong></td>\n      <td class=\"govuk-table__cell govuk-table__cell--numeric\">{count}</td>");
            assert!(overview.body.contains(&row), "{row} in {}", overview.body);
        }
        a.stop().await;
    }
}

/// A listing shows what its provider declared beside what the gateways measured over the last
/// 30 days, the same in the API and on the service page.
#[tokio::test]
async fn a_listing_shows_its_declared_level_beside_the_measured_one() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let (_dfe, kent) = measured_network(&a).await;
        let fsm: psn_core::names::ServiceId = FSM.parse().expect("service");
        // Gateways read it as operators do.
        let entry = kent.client.catalogue_entry(&fsm).await.expect("entry");
        let operators = a.operator().catalogue_entry(&fsm).await.expect("entry");
        assert_eq!(entry.listing, operators.listing);
        assert_eq!(entry.measured.period, operators.measured.period);
        assert_eq!(entry.gateways, operators.gateways);
        assert_eq!(entry.listing.title, "Free school meals check");
        assert_eq!(entry.provider.name, "Department for Education");
        assert_eq!(
            entry.sla.as_ref().map(|s| s.availability_percent),
            Some(99.9)
        );
        let m = &entry.measured;
        assert_eq!((m.period.eligible, m.period.failures), (1000, 10));
        assert_eq!(m.period.availability_percent, Some(99.0));
        assert_eq!(m.period.exchanges, 1000);
        assert!(m.period.latency_p50_ms.is_some_and(|ms| ms >= 120));
        assert!((m.calls_per_day - 1000.0 / 30.0).abs() < 1e-9);
        assert_eq!(m.consumers, 1);
        let breach = m.last_breach.as_ref().expect("today's window was missed");
        assert_eq!(breach.attribution, psn_api::Attribution::Backend);
        assert_eq!(entry.gateways.len(), 1, "DfE's gateway");
        assert_eq!(entry.gateways[0].id.to_string(), format!("{DFE}@gw1"));

        let password = add_person(&a, "viewer", PersonRole::MemberViewer, Some(KENT)).await;
        let mut viewer = Browser::signed_in(&a, "viewer", &password).await;
        let page = viewer.get(&format!("/ui/services/{FSM}")).await;
        assert_eq!(page.status, StatusCode::OK);
        for expected in [
            "Measured over the last 30 days",
            "99.000% (10 failed of 1000 judged)",
            "33.3",
            "availability in the window from",
            "attributed to backend",
            "0 of 1 active with the current configuration",
        ] {
            assert!(page.body.contains(expected), "{expected} in {}", page.body);
        }
        // Refusals: not listed, not a service id.
        let e = a
            .operator()
            .catalogue_entry(&"GB/GOV/D6/eligibility/nothing".parse().expect("id"))
            .await
            .expect_err("not listed");
        assert_eq!(
            e.problem_type(),
            Some(psn_core::problem::ProblemType::NotFound)
        );
        a.assert_invalid_queries(
            "/v1/catalogue/services/GB/GOV/D6/eligibility/Bad%20Name",
            &[""],
        )
        .await;
        a.stop().await;
    }
}

/// Six councils with published returns for Accounts payable (psn:4004) in 2024-25, made through
/// the benchmarks facade as the API would, so reports have a distribution to show.
async fn benchmark_network(a: &TestAuthority) -> std::sync::Arc<psn_authority::Authority> {
    use psn_authority::benchmarks::{self as bench, Submission};
    let authority = a.running.as_ref().expect("running").authority.clone();
    add_member(a, KENT, "Kent County Council").await;
    add_member(a, DEVON, "Devon County Council").await;
    let others = [
        ("GB/LA/E10000002", "Buckinghamshire Council"),
        ("GB/LA/E10000003", "Cambridgeshire County Council"),
        ("GB/LA/E10000006", "Cumbria County Council"),
        ("GB/LA/E10000007", "Derbyshire County Council"),
    ];
    for (id, name) in others {
        add_member(a, id, name).await;
    }
    let unit = bench::metrics(&authority)
        .metrics
        .iter()
        .find(|m| m.process == "psn:4004")
        .expect("psn:4004 is benchmarked")
        .unit
        .clone();
    let ids = [KENT, DEVON]
        .into_iter()
        .chain(others.iter().map(|(id, _)| *id));
    for (i, id) in ids.enumerate() {
        let batch = psn_api::ReturnBatch {
            returns: vec![psn_api::ReturnInput {
                process: "psn:4004".into(),
                year: "2024-25".parse().expect("year"),
                cost_pence: 30_000_000 + 5_000_000 * i as u64,
                volume: 100_000,
                unit: unit.clone(),
                fte: Some(8.0),
                satisfaction_percent: None,
                note: None,
                confirm_outlier: true,
                publish_now: true,
            }],
        };
        let outcome = bench::submit(
            &authority,
            &member(id),
            "test",
            Submission::Batch(batch),
            false,
            time::OffsetDateTime::now_utc(),
        )
        .await
        .expect("submit");
        assert!(outcome.stored, "{id}: {outcome:?}");
    }
    authority
}

/// Benchmark pages for a member's person and the operator: the report with its charts, text
/// alternatives and downloads, the peers, returns and groups pages.
#[tokio::test]
async fn benchmark_pages_show_a_report_with_charts_and_downloads() {
    let a = TestAuthority::start(Backend::Sqlite).await;
    benchmark_network(&a).await;
    let admin = add_person(&a, "kent-admin", PersonRole::MemberAdmin, Some(KENT)).await;
    let op = add_person(&a, "op", PersonRole::Operator, None).await;
    let mut kent = Browser::signed_in(&a, "kent-admin", &admin).await;
    let mut operator = Browser::signed_in(&a, "op", &op).await;

    let overview = kent.get("/ui/benchmarks").await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.body);
    assert!(overview.body.contains("psn:4004"), "the metrics table");
    assert!(overview.body.contains("How peers are found"));
    assert!(
        overview.body.contains("Benchmarks</strong>"),
        "the current navigation item"
    );

    let query = "process=psn:4004&year=2024-25";
    for (browser, path) in [
        (&mut kent, format!("/ui/benchmarks/report?{query}")),
        (
            &mut operator,
            format!("/ui/benchmarks/report?{query}&member={KENT}"),
        ),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        assert_security_headers(&page, &path);
        for expected in [
            "Kent County Council",
            "role=\"img\"",
            "<desc id=\"distribution-desc\">",
            "marked with a diamond",
            "<desc id=\"scatter-desc\">",
            "Projected savings",
            "report.csv?process=psn%3A4004",
            "report.json?process=psn%3A4004",
        ] {
            assert!(page.body.contains(expected), "{path}: {expected}");
        }
        assert!(!page.body.contains("NaN"), "{path}: no NaN in the SVG");
        assert!(
            !page.body.contains("style="),
            "{path}: no inline style (CSP)"
        );
    }

    let csv = kent
        .get(&format!("/ui/benchmarks/report.csv?{query}"))
        .await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
    let disposition = csv.headers["content-disposition"].to_str().expect("ascii");
    assert_eq!(
        disposition,
        "attachment; filename=\"benchmark-psn-4004-2024-25.csv\""
    );
    let json = kent
        .get(&format!("/ui/benchmarks/report.json?{query}"))
        .await;
    assert_eq!(json.status, StatusCode::OK);
    let report: psn_api::BenchmarkReport = serde_json::from_str(&json.body).expect("a report");
    assert_eq!(report.process.id, "psn:4004");

    for path in [
        format!("/ui/benchmarks/peers?member={KENT}"),
        "/ui/benchmarks/returns".to_owned(),
        "/ui/benchmarks/groups".to_owned(),
    ] {
        let page = kent.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
    }
    let returns = kent.get("/ui/benchmarks/returns").await;
    assert!(
        returns.body.contains("Submit returns"),
        "an admin may submit"
    );
    assert!(returns.body.contains("returns.csv?member="));
    let returns = operator
        .get(&format!("/ui/benchmarks/returns?member={KENT}"))
        .await;
    assert_eq!(returns.status, StatusCode::OK);
    assert!(
        !returns.body.contains("Submit returns"),
        "the operator reads only"
    );
    let download = operator
        .get(&format!("/ui/benchmarks/returns.csv?member={KENT}"))
        .await;
    assert_eq!(download.status, StatusCode::OK);

    // A saved group, used by a report, then deleted.
    let page = kent.get("/ui/benchmarks/groups").await;
    let csrf = page.csrf();
    let members = format!("{DEVON}\nGB/LA/E10000002\n");
    let saved = kent
        .post(
            "/ui/benchmarks/groups",
            &[("csrf", &csrf), ("name", "south"), ("members", &members)],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let page = kent.get("/ui/benchmarks/groups").await;
    assert!(page.body.contains("south"));
    let grouped = kent
        .get(&format!("/ui/benchmarks/report?{query}&peers=south"))
        .await;
    assert_eq!(grouped.status, StatusCode::OK, "{}", grouped.body);
    let deleted = kent
        .post(
            "/ui/benchmarks/groups/delete",
            &[("csrf", &csrf), ("name", "south")],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    let gone = kent
        .get(&format!("/ui/benchmarks/report?{query}&peers=south"))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "an unknown group");
    a.stop().await;
}

/// What the benchmark pages refuse: another member's figures, writes by a viewer, unknown or
/// malformed parameters and oversized forms. None of these reach the benchmarks facade.
#[tokio::test]
async fn benchmark_pages_refuse_what_a_role_may_not_do() {
    let a = TestAuthority::start(Backend::Sqlite).await;
    add_member(&a, KENT, "Kent County Council").await;
    add_member(&a, DEVON, "Devon County Council").await;
    let admin = add_person(&a, "kent-admin", PersonRole::MemberAdmin, Some(KENT)).await;
    let viewer = add_person(&a, "kent-viewer", PersonRole::MemberViewer, Some(KENT)).await;
    let op = add_person(&a, "op", PersonRole::Operator, None).await;
    let mut kent = Browser::signed_in(&a, "kent-admin", &admin).await;
    let mut reader = Browser::signed_in(&a, "kent-viewer", &viewer).await;
    let mut operator = Browser::signed_in(&a, "op", &op).await;

    for path in [
        format!("/ui/benchmarks/report?process=psn:4004&member={DEVON}"),
        format!("/ui/benchmarks/report.csv?process=psn:4004&member={DEVON}"),
        format!("/ui/benchmarks/returns?member={DEVON}"),
        format!("/ui/benchmarks/groups?member={DEVON}"),
    ] {
        let page = kent.get(&path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            page.body.contains("own benchmark figures only"),
            "{path}: says why: {}",
            page.body
        );
    }
    for query in [
        "process=psn:4004&colour=red",
        "process=psn:4004&year=2024-26",
        "process=psn:4004&year=24-25",
        "process=psn:4004&process=psn:4002",
        "process=psn:4004&peers=no%20spaces",
        "year=2024-25",
        "process=psn:4004&member=not%20a%20member",
    ] {
        let page = kent.get(&format!("/ui/benchmarks/report?{query}")).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            page.body.contains("govuk-heading-l"),
            "{query}: an HTML page"
        );
    }
    let page = operator.get("/ui/benchmarks/report?process=psn:4004").await;
    assert_eq!(
        page.status,
        StatusCode::BAD_REQUEST,
        "the operator names a member"
    );
    assert!(page.body.contains("name a member"));
    let page = kent.get("/ui/benchmarks/peers?member=GB/LA/x%20y").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);

    // A viewer reads but does not write; nor does the operator.
    for browser in [&mut reader, &mut operator] {
        let csrf = browser.get("/ui/benchmarks").await.csrf();
        for (path, fields) in [
            ("/ui/benchmarks/returns", vec![("csv", "process,year\n")]),
            (
                "/ui/benchmarks/groups",
                vec![("name", "south"), ("members", DEVON)],
            ),
            ("/ui/benchmarks/groups/delete", vec![("name", "south")]),
        ] {
            let mut fields = fields;
            fields.push(("csrf", &csrf));
            let page = browser.post(path, &fields).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        }
    }
    // A forged form and an oversized one change nothing.
    let page = kent
        .post(
            "/ui/benchmarks/returns",
            &[("csrf", "forged"), ("csv", "process,year\n")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let csrf = kent.get("/ui/benchmarks").await.csrf();
    let huge = "psn:4004,2024-25,1,1,invoice paid\n".repeat(40_000);
    let page = kent
        .post("/ui/benchmarks/returns", &[("csrf", &csrf), ("csv", &huge)])
        .await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(page.body.contains("The form was too large"));
    a.stop().await;
}

/// Hostile CSV pasted into the returns form: every row is reported, the error summary links to
/// the rows, and nothing is stored.
#[tokio::test]
async fn hostile_returns_csv_shows_every_row_and_stores_nothing() {
    let a = TestAuthority::start(Backend::Sqlite).await;
    let authority = a.running.as_ref().expect("running").authority.clone();
    add_member(&a, KENT, "Kent County Council").await;
    let admin = add_person(&a, "kent-admin", PersonRole::MemberAdmin, Some(KENT)).await;
    let mut kent = Browser::signed_in(&a, "kent-admin", &admin).await;
    let page = kent.get("/ui/benchmarks/returns").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = page.csrf();
    let csv = "process,year,cost,volume,unit,fte,satisfaction,note,confirm_outlier,publish_now\n\
               psn:4004,2024-25,-5,100,invoice paid,,,,,\n\
               psn:4004,2024-25,100000,100,furlongs,,,<script>alert(1)</script>,,\n\
               psn:9999,1999-00,1,1,invoice paid,,,=cmd|' /C calc'!A0,,\n";
    for action in ["check", "submit"] {
        let page = kent
            .post(
                "/ui/benchmarks/returns",
                &[("csrf", &csrf), ("csv", csv), ("action", action)],
            )
            .await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{action}: {}",
            page.body
        );
        assert!(page.body.contains("govuk-error-summary"), "{action}");
        assert!(page.body.contains("nothing was stored"), "{action}");
        assert!(
            page.body.contains("href=\"#line-2\""),
            "{action}: links to the row"
        );
        assert!(
            page.body.contains("id=\"line-4\""),
            "{action}: every row reported"
        );
        assert!(
            !page.body.contains("<script>alert"),
            "{action}: markup shown as text"
        );
    }
    let stored = psn_authority::benchmarks::returns(&authority, &member(KENT))
        .await
        .expect("returns");
    assert!(stored.returns.is_empty(), "nothing stored: {stored:?}");
    let page = kent
        .post(
            "/ui/benchmarks/returns",
            &[("csrf", &csrf), ("csv", "  \n"), ("action", "submit")],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("Paste your returns as CSV"));

    // A good file is stored, and the answer redirects, so reloading cannot store it twice.
    let good = "process,year,cost,volume,unit\r\npsn:4004,2024-25,408000,120000,invoice paid\r\n";
    let page = kent
        .post(
            "/ui/benchmarks/returns",
            &[("csrf", &csrf), ("csv", good), ("action", "submit")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = page.location().to_owned();
    assert_eq!(location, "/ui/benchmarks/returns?stored=1&corrected=0");
    let page = kent.get(&location).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("Stored: 1 new return and 0 corrections."),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("£3.40"),
        "the stored return is listed: {}",
        page.body
    );
    let stored = psn_authority::benchmarks::returns(&authority, &member(KENT))
        .await
        .expect("returns");
    assert_eq!(stored.returns.len(), 1);
    let page = kent.get("/ui/benchmarks/returns?stored=lots").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    a.stop().await;
}
