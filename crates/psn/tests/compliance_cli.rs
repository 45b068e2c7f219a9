//! `psn compliance ...` through the real binary against a real authority: frameworks listed and
//! shown; a submission with evidence files from the example answers, reviewed, withdrawn and
//! listed in the status; and the whole lifecycle with real gateway processes: a certificate
//! expires on a moved clock, the member is suspended and every gateway refuses it as consumer
//! and as provider, a new certificate lets its calls through again.

mod common;

use common::process::spawn_gateway;
use common::{certify_connection, client, Net, CONSUMER, PROVIDER, SERVICE};
use psn_api::{NewGrant, ServiceListing};
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

// The authority runs in this process; the binary's blocking calls need a second worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frameworks_are_listed_and_shown() {
    let net = Net::prepare(Duration::from_secs(30)).await;
    let dir = net.tmp.path().join("authority").display().to_string();
    let kent = net.members[CONSUMER].dir.root().display().to_string();
    let stdout = |args: &[&str]| {
        let out = psn(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let list = stdout(&["compliance", "framework", "list", "--data-dir", &dir]);
    assert!(list.starts_with("ID"), "{list}");
    assert!(
        list.contains("psn-coco") && list.contains("2026.1"),
        "{list}"
    );
    let shown = stdout(&[
        "compliance",
        "framework",
        "show",
        "psn-coco",
        "--gateway-dir",
        &kent,
    ]);
    assert!(
        shown.contains("Boundary firewalls and internet gateways"),
        "{shown}"
    );
    assert!(shown.contains("certificate connection"), "{shown}");
    let json: psn_api::Framework = serde_json::from_str(&stdout(&[
        "compliance",
        "framework",
        "show",
        "psn-coco",
        "2026.1",
        "--output",
        "json",
        "--data-dir",
        &dir,
    ]))
    .expect("json");
    assert_eq!(json.kinds.len(), 2);
    for (args, why) in [
        (
            vec!["show", "../etc", "--data-dir", &dir],
            "not a framework id",
        ),
        (
            vec!["show", "psn-coco", "2026.1/x", "--data-dir", &dir],
            "not a framework version",
        ),
        (
            vec!["show", "psn-nothing", "--data-dir", &dir],
            "no framework",
        ),
        (
            vec!["show", "psn-coco", "1999.1", "--data-dir", &dir],
            "no framework",
        ),
    ] {
        let mut all = vec!["compliance", "framework"];
        all.extend(args);
        let out = psn(&all);
        assert!(!out.status.success(), "{all:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{all:?}: {stderr}");
    }
}

/// The example answers of the README, with their evidence files beside them.
fn example_answers() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/examples/coco-connection.json"
    )
    .to_owned()
}

fn ok(args: &[&str]) -> String {
    let out = psn(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(args: &[&str], why: &str) {
    let out = psn(args);
    assert!(!out.status.success(), "{args:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(why), "{args:?}: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_submits_the_example_and_the_operator_reviews_withdraws_and_lists() {
    let net = Net::prepare(Duration::from_secs(30)).await;
    let dir = net.tmp.path().join("authority").display().to_string();
    let kent = net.members[CONSUMER].dir.root().display().to_string();
    let answers = example_answers();

    // The member submits through its gateway: the three evidence files are uploaded once.
    let submitted = ok(&[
        "compliance",
        "submit",
        "--kind",
        "connection",
        "--file",
        &answers,
        "--gateway-dir",
        &kent,
    ]);
    assert!(
        submitted.contains("connection for GB/LA/E10000016"),
        "{submitted}"
    );
    assert!(submitted.contains("submitted, 9 answers"), "{submitted}");
    let list: psn_api::SubmissionList = serde_json::from_str(&ok(&[
        "compliance",
        "submissions",
        "--state",
        "submitted",
        "--output",
        "json",
        "--data-dir",
        &dir,
    ]))
    .expect("json");
    assert_eq!(list.submissions.len(), 1);
    let id = list.submissions[0].id.clone();
    let evidence = net
        .operator
        .evidence(Some(&CONSUMER.parse().expect("member")))
        .await
        .expect("evidence");
    assert_eq!(evidence.evidence.len(), 3, "each file once");
    let files = ok(&["compliance", "evidence", "list", "--gateway-dir", &kent]);
    assert!(files.contains("firewall-rule-review.txt"), "{files}");
    assert!(files.contains("of 209715200 bytes used"), "{files}");
    refused(
        &[
            "compliance",
            "evidence",
            "remove",
            &evidence.evidence[0].sha256,
            "--gateway-dir",
            &kent,
        ],
        "cited by",
    );
    refused(
        &[
            "compliance",
            "evidence",
            "remove",
            "../x",
            "--gateway-dir",
            &kent,
        ],
        "is not a SHA-256",
    );

    // Reviews: a refusal needs reasons; certify issues a year's certificate.
    refused(
        &["compliance", "review", &id, "--data-dir", &dir],
        "say what to decide",
    );
    refused(
        &[
            "compliance",
            "review",
            "sub-999",
            "--certify",
            "--data-dir",
            &dir,
        ],
        "no submission",
    );
    let issued = ok(&["compliance", "review", &id, "--certify", "--data-dir", &dir]);
    assert!(
        issued.contains("issued cert-1 (connection 2026.1), valid until"),
        "{issued}"
    );
    refused(
        &["compliance", "review", &id, "--certify", "--data-dir", &dir],
        "not waiting for review",
    );

    // The status, for the operator and for the member; then a withdrawal.
    let status = ok(&["compliance", "status", "--data-dir", &dir]);
    assert!(
        status.contains("Kent County Council") && status.contains("valid"),
        "{status}"
    );
    let mine = ok(&[
        "compliance",
        "status",
        "--member",
        CONSUMER,
        "--gateway-dir",
        &kent,
    ]);
    assert!(mine.contains("connection"), "{mine}");
    let soon = ok(&[
        "compliance",
        "status",
        "--expiring",
        "30d",
        "--data-dir",
        &dir,
    ]);
    assert!(!soon.contains("Kent"), "{soon}");
    refused(
        &[
            "compliance",
            "status",
            "--expiring",
            "a-while",
            "--data-dir",
            &dir,
        ],
        "expiring",
    );
    refused(
        &[
            "compliance",
            "withdraw",
            "cert-1",
            "--reason",
            "",
            "--data-dir",
            &dir,
        ],
        "reason",
    );
    let withdrawn = ok(&[
        "compliance",
        "withdraw",
        "cert-1",
        "--reason",
        "Failed IT health check",
        "--data-dir",
        &dir,
    ]);
    assert!(withdrawn.contains("withdrew cert-1"), "{withdrawn}");
    let checked = ok(&["compliance", "check", "--data-dir", &dir]);
    assert!(
        checked.contains("0 holds changed"),
        "the policy is off by default: {checked}"
    );

    // Hostile answers files: refused before anything is sent, or by the authority.
    let tmp = net.tmp.path();
    let write = |name: &str, text: &str| {
        let path = tmp.join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let not_json = write("bad.json", "{ not json");
    refused(
        &[
            "compliance",
            "submit",
            "--kind",
            "connection",
            "--file",
            &not_json,
            "--gateway-dir",
            &kent,
        ],
        "is not a submission's answers",
    );
    let escaping = write(
        "escape.json",
        r#"{"framework":"psn-coco","version":"2026.1","answers":[{"control":"coco-1","status":"met","assurance":"self-asserted","evidence":["../../../../etc/shadow"]}]}"#,
    );
    refused(
        &[
            "compliance",
            "submit",
            "--kind",
            "connection",
            "--file",
            &escaping,
            "--gateway-dir",
            &kent,
        ],
        "shadow",
    );
    let odd_kind = write(
        "kind.json",
        r#"{"framework":"psn-coco","version":"2026.1","answers":[]}"#,
    );
    refused(
        &[
            "compliance",
            "submit",
            "--kind",
            "nonsense",
            "--file",
            &odd_kind,
            "--gateway-dir",
            &kent,
        ],
        "nonsense",
    );
    net.stop().await;
}

/// The status of `from`'s call through its own gateway of `path` on `to_service`.
async fn call(net: &Net, from: &str, subsystem: &str, url_service: &str) -> u16 {
    client()
        .get(format!(
            "{}/r1/{url_service}/echo",
            net.members[from].internal
        ))
        .header("PSN-Client", format!("{from}/{subsystem}"))
        .send()
        .await
        .expect("send")
        .status()
        .as_u16()
}

/// Polls until `want(status)` holds for the call, or fails after `within`.
async fn until(
    net: &Net,
    from: &str,
    subsystem: &str,
    service: &str,
    within: Duration,
    want: impl Fn(u16) -> bool,
) -> u16 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let status = call(net, from, subsystem, service).await;
        if want(status) {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{from} calling {service}: still {status} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const KENT_SERVICE: &str = "GB/LA/E10000016/revenues/council-tax";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_suspends_the_member_at_every_gateway_until_renewed() {
    let net = Net::prepare_compliant(Duration::from_secs(30), "clock").await;
    let clock = net.tmp.path().join("authority").join("clock");
    let kent: psn_core::names::MemberId = CONSUMER.parse().expect("member");
    let dfe: psn_core::names::MemberId = PROVIDER.parse().expect("member");
    // Kent provides too: its council tax lookup, granted to DfE.
    psn_gateway::admin::add_service(
        &net.members[CONSUMER].dir,
        ServiceListing {
            id: KENT_SERVICE.parse().expect("service"),
            title: "Council tax account lookup".into(),
            description: String::new(),
            processes: vec!["lgsl:58".into()],
            details: Default::default(),
        },
        net.backend.clone(),
        None,
        None,
    )
    .await
    .expect("publish");
    psn_gateway::admin::grant(
        &net.members[CONSUMER].dir,
        NewGrant {
            service: KENT_SERVICE.parse().expect("service"),
            grantee: format!("{PROVIDER}/eligibility").parse().expect("grantee"),
            method: None,
            path: None,
        },
    )
    .await
    .expect("grant");
    // DfE renews early, 300 days on, so only Kent's certificate lapses at 400.
    std::fs::write(&clock, (300 * 86_400).to_string()).expect("clock");
    certify_connection(&net.operator, &dfe).await;
    for member in [PROVIDER, CONSUMER] {
        psn_gateway::sync_config(&net.members[member].dir, None)
            .await
            .expect("sync");
    }
    let _dfe_gateway = spawn_gateway(&net, PROVIDER);
    let _kent_gateway = spawn_gateway(&net, CONSUMER);
    let within = Duration::from_secs(30);
    until(&net, CONSUMER, "revenues", SERVICE, within, |s| s == 200).await;
    until(&net, PROVIDER, "eligibility", KENT_SERVICE, within, |s| {
        s == 200
    })
    .await;

    // A year and a month on: Kent's certificate has expired. The authority's own check (every
    // second) suspends Kent; every gateway refuses it, as consumer and as provider.
    std::fs::write(&clock, (400 * 86_400).to_string()).expect("clock");
    let as_consumer = until(&net, CONSUMER, "revenues", SERVICE, within, |s| s != 200).await;
    assert!(matches!(as_consumer, 403 | 502 | 503), "{as_consumer}");
    let as_provider = until(&net, PROVIDER, "eligibility", KENT_SERVICE, within, |s| {
        s != 200
    })
    .await;
    assert!(
        matches!(as_provider, 403 | 404 | 502 | 503),
        "{as_provider}"
    );
    let member = net.operator.member(&kent).await.expect("member");
    assert_eq!(member.status, psn_core::config::MemberStatus::Suspended);
    assert!(
        member
            .status_reason
            .as_deref()
            .unwrap_or_default()
            .contains("expired"),
        "{member:?}"
    );
    // DfE's own traffic is untouched: its certificate is current.
    let status = net
        .operator
        .compliance_status(Some(&dfe), None)
        .await
        .expect("status");
    assert!(status.members[0].certificates[0].state.is_current());

    // A new certificate reinstates Kent: its calls go through again, both ways.
    certify_connection(&net.operator, &kent).await;
    assert_eq!(
        net.operator.member(&kent).await.expect("member").status,
        psn_core::config::MemberStatus::Active
    );
    until(&net, CONSUMER, "revenues", SERVICE, within, |s| s == 200).await;
    until(&net, PROVIDER, "eligibility", KENT_SERVICE, within, |s| {
        s == 200
    })
    .await;
    net.stop().await;
}
