//! The compliance lifecycle on a moved clock (`[compliance] rehearsal_clock_file`), against a
//! real authority on SQLite and PostgreSQL: the policy refuses enrolment tokens and listings
//! without the certificates it requires; reminders go out once each at 30, 7 and 0 days before
//! expiry and 7 days after (events and the member's webhook outbox); on expiry the member is
//! suspended and its services withheld, so the next configuration drops its gateways and
//! services; a new certificate reinstates exactly what compliance took away, while an
//! operator's own suspension is left alone.

mod common;

use common::{backends, enrol_registered, TestAuthority};
use psn_api::{
    Answer, AnswerStatus, AssuranceLevel, AuthorityClient, ControlReview, ControlVerdict,
    NewMember, ReviewDecision, ReviewOutcome, ServiceListing, SubmissionDraft, TokenRequest,
    WebhookSet,
};
use psn_core::config::MemberStatus;
use psn_core::names::MemberId;
use psn_core::problem::ProblemType;

const DAY: i64 = 86_400;

/// Moves the compliance clock to `days` after real time.
fn move_clock(file: &std::path::Path, days: i64) {
    std::fs::write(file, (days * DAY).to_string()).expect("clock file");
}

/// The operator certifies `member` for `kind`: evidence, every control met, submitted,
/// reviewed and certified.
async fn certify(op: &AuthorityClient, member: &MemberId, kind: &str, tag: &str) -> String {
    let framework = op.framework("psn-coco", "2026.1").await.expect("framework");
    let file = op
        .upload_evidence(
            Some(member),
            &format!("{tag}.pdf"),
            "application/pdf",
            format!("%PDF-1.7\n% {tag}\n%%EOF\n").into_bytes(),
        )
        .await
        .expect("upload");
    let answers: Vec<Answer> = psn_compliance::controls_for(&framework, kind)
        .into_iter()
        .map(|c| Answer {
            control: c.id.clone(),
            status: AnswerStatus::Met,
            improvement_plan: None,
            improvement_due: None,
            reason: None,
            assurance: AssuranceLevel::SelfAsserted,
            certificate_number: None,
            certificate_expiry: None,
            evidence: vec![file.sha256.clone()],
            note: String::new(),
        })
        .collect();
    let draft = SubmissionDraft {
        framework: framework.id.clone(),
        version: framework.version.clone(),
        answers,
    };
    op.save_submission(Some(member), kind, &draft)
        .await
        .expect("save");
    let submitted = op
        .submit_submission(Some(member), kind)
        .await
        .expect("submit");
    let decision = ReviewDecision {
        outcome: ReviewOutcome::Certify,
        controls: submitted
            .answers
            .iter()
            .map(|a| ControlReview {
                control: a.control.clone(),
                verdict: ControlVerdict::Accepted,
                comment: String::new(),
            })
            .collect(),
        reasons: String::new(),
        improvement_plan: String::new(),
        valid_months: None,
    };
    op.review_submission(&submitted.id, &decision)
        .await
        .expect("certify")
        .certificate
        .expect("certificate")
        .id
}

fn listing(member: &str, code: &str) -> ServiceListing {
    serde_json::from_value(serde_json::json!({
        "id": format!("{member}/revenues/{code}"),
        "title": "Council tax account lookup",
        "processes": ["lgsl:58"],
    }))
    .expect("listing")
}

#[tokio::test]
async fn a_lapsed_certificate_suspends_the_member_and_a_new_one_reinstates_it() {
    for backend in backends() {
        let clock = tempfile::NamedTempFile::new()
            .expect("clock")
            .into_temp_path();
        let clock_file = clock.to_path_buf();
        let a = TestAuthority::start_with(backend, |s| {
            s.compliance.require_connection = true;
            s.compliance.require_service_provision = true;
            // Long: the test runs the lifecycle itself, so nothing races it.
            s.compliance.check_interval = std::time::Duration::from_secs(86_400);
            s.compliance.rehearsal_clock_file = Some(clock_file.clone());
        })
        .await;
        let op = a.operator();
        let kent: MemberId = "GB/LA/E10000016".parse().expect("id");
        op.add_member(&NewMember {
            id: kent.clone(),
            name: "Kent County Council".into(),
            sector: None,
            region: None,
        })
        .await
        .expect("member");

        // No connection certificate: no enrolment token.
        let refused = op
            .create_token(&TokenRequest {
                member: kent.clone(),
                gateway: "gw1".parse().expect("code"),
                ttl_seconds: None,
            })
            .await
            .expect_err("no certificate");
        assert_eq!(refused.problem_type(), Some(ProblemType::Forbidden));
        assert!(
            refused.to_string().contains("connection certificate"),
            "{refused}"
        );

        let connection = certify(&op, &kent, "connection", "kent-connection").await;
        let gw = enrol_registered(&a, &kent, "revenues").await;
        gw.client
            .set_webhook(&WebhookSet {
                url: "https://127.0.0.1:9/psn-hook".into(),
            })
            .await
            .expect("webhook");
        // No service-provision certificate: no listing.
        let refused = gw
            .client
            .publish_service(&listing("GB/LA/E10000016", "council-tax"))
            .await
            .expect_err("no service-provision certificate");
        assert!(
            refused.to_string().contains("service-provision"),
            "{refused}"
        );
        certify(&op, &kent, "service-provision", "kent-provision").await;
        gw.client
            .publish_service(&listing("GB/LA/E10000016", "council-tax"))
            .await
            .expect("listed");
        let snapshot = a.store().snapshot().await.expect("snapshot");
        assert_eq!(snapshot.gateways.len(), 1);
        assert_eq!(snapshot.services.len(), 1);

        // Nothing due yet; then each reminder once, as time passes.
        assert!(op.run_lifecycle().await.expect("run").reminders.is_empty());
        let mut sent = Vec::new();
        for (days, stage) in [(340, "30d"), (360, "7d")] {
            move_clock(&clock, days);
            let run = op.run_lifecycle().await.expect("run");
            assert!(
                run.reminders
                    .iter()
                    .any(|r| r == &format!("{connection}:{stage}")),
                "{days}: {run:?}"
            );
            assert!(run.holds_changed.is_empty());
            sent.push(stage);
            let repeat = op.run_lifecycle().await.expect("again");
            assert!(repeat.reminders.is_empty(), "a reminder is sent once");
        }
        let status = op
            .compliance_status(Some(&kent), None)
            .await
            .expect("status");
        assert_eq!(
            status.members[0].reminders.len(),
            4,
            "two stages for each kind"
        );

        // Expiry: suspended, services withheld; the configuration drops both.
        move_clock(&clock, 367);
        let run = op.run_lifecycle().await.expect("run");
        assert_eq!(run.expired.len(), 2, "{run:?}");
        assert!(
            run.reminders
                .iter()
                .any(|r| r == &format!("{connection}:0d")),
            "{run:?}"
        );
        assert_eq!(run.holds_changed.len(), 2, "{run:?}");
        let member = op.member(&kent).await.expect("member");
        assert_eq!(member.status, MemberStatus::Suspended);
        assert!(
            member
                .status_reason
                .as_deref()
                .unwrap_or("")
                .contains("expired"),
            "{member:?}"
        );
        let snapshot = a.store().snapshot().await.expect("snapshot");
        assert!(
            snapshot.gateways.is_empty(),
            "a suspended member's gateways leave the configuration"
        );
        assert!(snapshot.services.is_empty());
        let everything = psn_api::SearchRequest {
            limit: 20,
            ..Default::default()
        };
        assert_eq!(
            op.search(&everything).await.expect("search").total,
            0,
            "withheld from the catalogue"
        );
        let service: psn_core::names::ServiceId = "GB/LA/E10000016/revenues/council-tax"
            .parse()
            .expect("service");
        let entry = op.catalogue_entry(&service).await.expect("entry");
        assert_eq!(
            entry.compliance.map(|c| c.state),
            Some(psn_api::CertificateState::Expired)
        );
        let refused = gw
            .client
            .compliance_status(None, None)
            .await
            .expect_err("suspended");
        assert_eq!(refused.problem_type(), Some(ProblemType::GatewayRevoked));
        let status = op
            .compliance_status(Some(&kent), None)
            .await
            .expect("status");
        assert!(status.members[0].suspended_by_compliance);

        // A week later: the last reminder, once.
        move_clock(&clock, 375);
        let run = op.run_lifecycle().await.expect("run");
        assert!(
            run.reminders
                .iter()
                .any(|r| r == &format!("{connection}:+7d")),
            "{run:?}"
        );
        assert!(run.holds_changed.is_empty());

        // Every reminder is in the trail and the webhook outbox.
        let deliveries = a.store().deliveries_of(&kent, 100).await.expect("outbox");
        let reminders = deliveries
            .iter()
            .filter(|d| d.event == "compliance.reminder")
            .count();
        assert_eq!(reminders, 8, "four stages for each of two certificates");
        let events = op.events(0, 1000).await.expect("events").items;
        assert_eq!(
            events
                .iter()
                .filter(|e| e.action == "compliance.reminder")
                .count(),
            8
        );

        // Renewal: connection reinstates the member; service provision releases its services.
        certify(&op, &kent, "connection", "kent-connection-2027").await;
        assert_eq!(
            op.member(&kent).await.expect("member").status,
            MemberStatus::Active
        );
        let snapshot = a.store().snapshot().await.expect("snapshot");
        assert_eq!(snapshot.gateways.len(), 1);
        assert!(
            snapshot.services.is_empty(),
            "still no service-provision certificate"
        );
        certify(&op, &kent, "service-provision", "kent-provision-2027").await;
        assert_eq!(
            a.store().snapshot().await.expect("snapshot").services.len(),
            1
        );
        assert_eq!(
            op.search(&everything).await.expect("search").total,
            1,
            "listed again"
        );
        gw.client
            .compliance_status(None, None)
            .await
            .expect("the gateway is back");

        // Withdrawal suspends at once; an operator's own suspension is not undone by compliance.
        let current = op
            .compliance_status(Some(&kent), None)
            .await
            .expect("status");
        let cert = current.members[0]
            .certificates
            .iter()
            .find(|c| c.kind == "connection")
            .expect("connection")
            .id
            .clone();
        for reason in ["", " ", "line\nbreak", &"x".repeat(2001)] {
            op.withdraw_certificate(&cert, reason)
                .await
                .expect_err("a reason on one line");
        }
        op.withdraw_certificate(&cert, "Failed IT health check: unpatched VPN")
            .await
            .expect("withdraw");
        let member = op.member(&kent).await.expect("member");
        assert_eq!(member.status, MemberStatus::Suspended);
        op.withdraw_certificate(&cert, "again")
            .await
            .expect_err("already withdrawn");
        certify(&op, &kent, "connection", "kent-connection-retest").await;
        assert_eq!(
            op.member(&kent).await.expect("member").status,
            MemberStatus::Active
        );
        op.suspend_member(
            &kent,
            &psn_api::StatusChange {
                reason: Some("incident".into()),
            },
        )
        .await
        .expect("operator suspends");
        certify(&op, &kent, "connection", "kent-connection-after-incident").await;
        assert_eq!(
            op.member(&kent).await.expect("member").status,
            MemberStatus::Suspended,
            "compliance lifts only what compliance did"
        );
        a.stop().await;
    }
}
