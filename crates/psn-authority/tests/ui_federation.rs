//! The federation pages end to end: two real authorities in-process, the national `GB` and the
//! regional `GB-KENT`, federated through their signed anchors over real HTTPS, and `GB`'s pages
//! driven like a browser (cookies kept, no redirects followed). A partner shows pending until it
//! imports this network's anchor too, then active with what it exports; degraded with its error
//! once its authority stops. Member roles are refused, and hostile addresses get an error page
//! and change nothing.

mod common;

use common::browser::{Browser, Page};
use common::{Backend, TestAuthority};
use psn_api::{
    AuthorityClient, ExportPolicy, FreshnessState, NewMember, NewPerson, PartnerImport,
    PartnerView, PersonRole,
};
use psn_authority::datadir::DataDir;
use psn_authority::store::EventFilter;
use psn_core::names::NetworkId;
use reqwest::StatusCode;
use std::time::Duration;

const KENT_NETWORK: &str = "GB-KENT";
/// Kent County Council as a member of the regional network, exported to `GB`.
const KENT_COUNCIL: &str = "GB-KENT/LA/E10000016";
/// Kent County Council as a member of `GB`, for the member roles.
const GB_MEMBER: &str = "GB/LA/E10000016";
/// The longest any test waits for the other authority.
const PATIENCE: Duration = Duration::from_secs(30);

fn kent_network() -> NetworkId {
    KENT_NETWORK.parse().expect("network")
}

/// The partner network's authority, started in-process like `GB`'s, with one member.
struct Partner {
    running: Option<psn_authority::Running>,
    operator: AuthorityClient,
    _dir: tempfile::TempDir,
}

impl Partner {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::new(dir.path().join("authority"));
        let report = psn_authority::init(&data, kent_network(), None)
            .await
            .expect("init GB-KENT");
        let running = psn_authority::start(
            &data,
            psn_authority::ServeOptions {
                listen: "127.0.0.1:0".parse().expect("addr"),
                public_url: None,
            },
        )
        .await
        .expect("start GB-KENT");
        let ca = running.authority.ca.certificate_der().to_vec();
        let operator =
            AuthorityClient::operator(&running.url, &ca, &report.operator_token).expect("client");
        add_kent_council(&operator, KENT_COUNCIL).await;
        Self {
            running: Some(running),
            operator,
            _dir: dir,
        }
    }

    async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }
}

/// `GB` imports `GB-KENT`'s anchor, exporting the LA class to it.
async fn gb_imports_kent(gb: &TestAuthority, kent: &Partner) {
    let kent_anchor = kent
        .operator
        .federation_anchor(30)
        .await
        .expect("GB-KENT anchor");
    gb.operator()
        .import_partner(&PartnerImport {
            anchor: kent_anchor.anchor,
            fingerprint: kent_anchor.fingerprint,
            policy: ExportPolicy {
                classes: vec!["LA".parse().expect("class")],
                ..ExportPolicy::default()
            },
        })
        .await
        .expect("GB imports GB-KENT");
}

/// `GB-KENT` imports `GB`'s anchor, exporting Kent County Council to it.
async fn kent_imports_gb(gb: &TestAuthority, kent: &Partner) {
    let gb_anchor = gb
        .operator()
        .federation_anchor(30)
        .await
        .expect("GB anchor");
    kent.operator
        .import_partner(&PartnerImport {
            anchor: gb_anchor.anchor,
            fingerprint: gb_anchor.fingerprint,
            policy: ExportPolicy {
                members: vec![KENT_COUNCIL.parse().expect("member")],
                ..ExportPolicy::default()
            },
        })
        .await
        .expect("GB-KENT imports GB");
}

/// Waits until `GB`'s view of `GB-KENT` satisfies `done`, asking the API (the pages' source).
async fn partner_becomes(
    gb: &TestAuthority,
    what: &str,
    done: impl Fn(&PartnerView) -> bool,
) -> PartnerView {
    let operator = gb.operator();
    let mut versions = gb
        .running
        .as_ref()
        .expect("running")
        .authority
        .publisher
        .subscribe();
    tokio::time::timeout(PATIENCE, async {
        loop {
            let view = operator
                .partner_view(&kent_network())
                .await
                .expect("partner");
            if done(&view) {
                return view;
            }
            // A new configuration is what an arriving view brings; a state that changes with
            // time alone (degraded) is asked for again after the follower's next attempt.
            let _ = tokio::time::timeout(Duration::from_millis(500), versions.changed()).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("GB-KENT {what} within {PATIENCE:?}"))
}

/// A person of `role` in `GB`, signed in.
async fn person(gb: &TestAuthority, username: &str, role: PersonRole) -> Browser {
    let member = matches!(role, PersonRole::MemberAdmin | PersonRole::MemberViewer)
        .then(|| GB_MEMBER.parse().expect("member"));
    let password = gb
        .operator()
        .add_person(&NewPerson {
            username: username.into(),
            member,
            role,
        })
        .await
        .expect("person")
        .password;
    Browser::signed_in(gb, username, &password).await
}

async fn gb_with_member() -> TestAuthority {
    let gb = TestAuthority::start(Backend::Sqlite).await;
    add_kent_council(&gb.operator(), GB_MEMBER).await;
    gb
}

/// Kent County Council, registered as `id` (each network has its own id for it).
async fn add_kent_council(operator: &AuthorityClient, id: &str) {
    operator
        .add_member(&NewMember {
            id: id.parse().expect("member"),
            name: "Kent County Council".into(),
            sector: None,
            region: None,
        })
        .await
        .expect("Kent County Council");
}

/// The text of the summary list row whose key is `key`.
fn row<'a>(page: &'a Page, key: &str) -> &'a str {
    let marker = format!("<dt class=\"govuk-summary-list__key\">{key}</dt>");
    let start = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no row {key}: {}", page.body))
        + marker.len();
    let end = page.body[start..]
        .find("</div>")
        .map_or(page.body.len(), |e| start + e);
    &page.body[start..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pages_show_each_partner_pending_then_active_with_its_policy_and_freshness() {
    let gb = gb_with_member().await;
    let mut kent = Partner::start().await;
    let mut operator = person(&gb, "ops", PersonRole::Operator).await;

    let empty = operator.get("/ui/federation").await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert!(empty.body.contains("No partner networks yet"));
    assert!(empty
        .body
        .contains("psn federation export --file GB.anchor"));
    assert!(empty
        .body
        .contains("psn federation import FILE --fingerprint"));
    assert!(empty.body.contains("docs/federation.md"));
    assert!(
        empty
            .body
            .contains(r#"href="/ui/federation" aria-current="page""#),
        "the navigation's Federation link is current"
    );

    // Imported by GB only: GB-KENT refuses GB's requests until it imports GB's anchor.
    gb_imports_kent(&gb, &kent).await;
    let pending = operator.get("/ui/federation").await;
    assert_eq!(pending.status, StatusCode::OK);
    assert!(pending
        .body
        .contains(r#"<a class="govuk-link" href="/ui/federation/GB-KENT">GB-KENT</a>"#));
    assert!(pending
        .body
        .contains(r#"<strong class="govuk-tag govuk-tag--grey">Pending</strong>"#));
    assert!(pending.body.contains("None received"));
    assert!(pending.body.contains("Last answer: Never"));
    assert!(pending.body.contains("0 members, 0 gateways, 0 services"));
    assert!(
        pending.body.contains("not a federated partner"),
        "GB-KENT's refusal is the last error: {}",
        pending.body
    );
    assert!(!pending.body.contains("No partner networks yet"));

    // GB-KENT imports GB's anchor: GB's follower receives Kent County Council.
    kent_imports_gb(&gb, &kent).await;
    let active = partner_becomes(&gb, "active with Kent County Council", |p| {
        p.freshness.state == FreshnessState::Active && p.received.members == 1
    })
    .await;
    let version = active.freshness.version.expect("a version held");
    let list = operator.get("/ui/federation").await;
    assert!(
        list.body
            .contains(r#"<strong class="govuk-tag govuk-tag--green">Active</strong>"#),
        "{}",
        list.body
    );
    assert!(list.body.contains(&format!("Version {version}")));
    assert!(list.body.contains("1 member, 0 gateways, 0 services"));
    assert!(list.body.contains("Last answer: "));
    assert!(list.body.contains(" ago ("), "a relative and absolute age");
    assert!(list.body.contains("Expires: in "));

    let detail = operator.get("/ui/federation/GB-KENT").await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    assert!(row(&detail, "CA fingerprint").contains(&format!(
        r#"<code class="psn-id">{}</code>"#,
        active.fingerprint
    )));
    let endpoint = &active.endpoints[0];
    assert!(row(&detail, "Authority endpoints").contains(endpoint.as_str()));
    assert!(row(&detail, "Imported").contains(" ago ("));
    assert!(row(&detail, "Imported").contains(&active.imported_by));
    assert!(row(&detail, "Member classes").contains("<li class=\"psn-id\">LA</li>"));
    assert!(row(&detail, "Members").contains("Nothing"));
    assert!(row(&detail, "Services").contains("Nothing"));
    assert!(row(&detail, "State").contains("Active"));
    assert!(row(&detail, "Configuration held").contains(&format!("Version {version}")));
    assert!(row(&detail, "Received").contains("<li>1 member</li>"));
    assert!(row(&detail, "Received").contains("<li>0 services</li>"));
    assert!(detail.body.contains("psn federation policy GB-KENT"));
    assert!(
        detail
            .body
            .contains(r#"href="/ui/federation" aria-current="page""#),
        "the partner page is under Federation in the navigation"
    );

    kent.stop().await;
    gb.stop().await;
}

/// What `GB` holds about its partners and its trail, to show a request changed nothing.
async fn holdings(gb: &TestAuthority) -> (Vec<(String, String, ExportPolicy)>, u64) {
    let partners = gb
        .operator()
        .partners()
        .await
        .expect("partners")
        .items
        .into_iter()
        .map(|p| (p.network.to_string(), p.fingerprint, p.policy))
        .collect();
    let (_, events) = gb
        .store()
        .event_page(&EventFilter::default(), 1, 0)
        .await
        .expect("events");
    (partners, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_the_networks_people_see_partners_and_hostile_addresses_change_nothing() {
    let gb = gb_with_member().await;
    let mut kent = Partner::start().await;
    gb_imports_kent(&gb, &kent).await;

    // The network's people: the navigation links the pages, and both open.
    for (username, role) in [
        ("ops", PersonRole::Operator),
        ("assessor", PersonRole::Assessor),
    ] {
        let mut browser = person(&gb, username, role).await;
        let overview = browser.get("/ui/").await;
        assert!(
            overview.body.contains(r#"href="/ui/federation""#),
            "{role}: a Federation link in the navigation"
        );
        for path in ["/ui/federation", "/ui/federation/GB-KENT"] {
            let page = browser.get(path).await;
            assert_eq!(page.status, StatusCode::OK, "{role} {path}: {}", page.body);
            assert!(page.body.contains("GB-KENT"), "{role} {path}");
        }
    }

    // A member's people: no link, and 403 pages that say so, whatever the address names.
    for (username, role) in [
        ("kent-admin", PersonRole::MemberAdmin),
        ("kent-viewer", PersonRole::MemberViewer),
    ] {
        let mut browser = person(&gb, username, role).await;
        let overview = browser.get("/ui/").await;
        assert!(
            !overview.body.contains("/ui/federation"),
            "{role}: no Federation link"
        );
        for path in [
            "/ui/federation",
            "/ui/federation/GB-KENT",
            "/ui/federation/GB-WALES",
            "/ui/federation/gb-kent",
        ] {
            let page = browser.get(path).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{role} {path}");
            assert!(page.body.contains("You do not have access to this page"));
            assert!(!page.body.contains("fingerprint"), "{role} {path}");
        }
    }

    // Signed out: sent to sign in, as every other page.
    let mut stranger = Browser::new(&gb);
    for path in ["/ui/federation", "/ui/federation/GB-KENT"] {
        let page = stranger.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location(), "/ui/sign-in", "{path}");
    }

    // Hostile addresses: a page saying what is wrong, nothing echoed as markup, nothing changed.
    let mut operator = person(&gb, "ops2", PersonRole::Operator).await;
    let before = holdings(&gb).await;
    let long = "A".repeat(5_000);
    for (path, says) in [
        (
            "/ui/federation/GB-WALES".to_owned(),
            "GB-WALES is not a federated partner",
        ),
        ("/ui/federation/gb-kent".to_owned(), "lowercase letter"),
        (
            "/ui/federation/..%2F..%2Fv1%2Ffederation%2Fpartners".to_owned(),
            "invalid network identifier",
        ),
        (
            "/ui/federation/%2E%2E%2F".to_owned(),
            "invalid network identifier",
        ),
        (
            "/ui/federation/GB-KENT%00".to_owned(),
            "invalid network identifier",
        ),
        (
            "/ui/federation/%3Cscript%3Ealert(1)%3C%2Fscript%3E".to_owned(),
            "invalid network identifier",
        ),
        (
            "/ui/federation/%FF%FE".to_owned(),
            "does not name a network",
        ),
        (
            "/ui/federation/GB%2DKENT%2F".to_owned(),
            "invalid network identifier",
        ),
        (
            format!("/ui/federation/{long}"),
            "invalid network identifier",
        ),
        (
            "/ui/federation/GB-KENT/extra".to_owned(),
            "There is no page at this address",
        ),
    ] {
        let page = operator.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}: {}", page.body);
        assert!(page.body.contains("Page not found"), "{path}");
        assert!(page.body.contains(says), "{path}: {}", page.body);
        assert!(!page.body.contains("<script>"), "{path}: markup echoed");
        assert!(
            !page.body.contains(&long[..200]),
            "{path}: the whole input echoed"
        );
        assert!(
            page.headers.get("content-security-policy").is_some(),
            "{path}: the UI's headers"
        );
    }
    assert_eq!(
        holdings(&gb).await,
        before,
        "the partners and the trail are as they were"
    );

    kent.stop().await;
    gb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partner_whose_authority_stops_shows_degraded_with_its_error() {
    // Polls every second and degraded after one missed, so the test waits seconds, not minutes.
    let gb = TestAuthority::start_with(Backend::Sqlite, |settings| {
        settings.federation.poll_wait = Duration::from_secs(1);
        settings.federation.missed_polls = 1;
    })
    .await;
    let mut kent = Partner::start().await;
    gb_imports_kent(&gb, &kent).await;
    kent_imports_gb(&gb, &kent).await;
    partner_becomes(&gb, "received Kent County Council", |p| {
        p.received.members == 1
    })
    .await;
    let endpoint = gb
        .operator()
        .partner_view(&kent_network())
        .await
        .expect("partner")
        .endpoints
        .remove(0);

    kent.stop().await;
    let degraded = partner_becomes(&gb, "degraded", |p| {
        p.freshness.state == FreshnessState::Degraded && p.freshness.last_error.is_some()
    })
    .await;
    let mut operator = person(&gb, "ops", PersonRole::Operator).await;
    let list = operator.get("/ui/federation").await;
    assert!(
        list.body
            .contains(r#"<strong class="govuk-tag govuk-tag--yellow">Degraded</strong>"#),
        "{}",
        list.body
    );
    assert!(
        list.body.contains(&endpoint),
        "the error names the endpoint"
    );
    assert!(
        list.body.contains("1 member, 0 gateways, 0 services"),
        "still trusted until it expires"
    );
    let detail = operator.get("/ui/federation/GB-KENT").await;
    assert!(row(&detail, "State").contains("Degraded"));
    assert!(row(&detail, "State").contains("still used until it expires"));
    assert!(row(&detail, "Last answer").contains(" ago ("));
    assert!(row(&detail, "Last error").contains(&endpoint));
    assert!(degraded.freshness.version.is_some());
    gb.stop().await;
}
