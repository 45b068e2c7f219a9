//! Compliance against a real authority: frameworks listed and shown; a member's evidence,
//! answers and submission; review by the operator or a peer assessor (never of its own member);
//! certificates and the public status; another member seeing nothing; hostile evidence refused
//! with nothing stored.

mod common;

use common::{backends, enrol_member, TestAuthority};
use psn_api::{
    Answer, AnswerStatus, AssuranceLevel, AuthorityClient, CertificateState, ControlReview,
    ControlVerdict, ReviewDecision, ReviewOutcome, SubmissionDraft, SubmissionState,
    SubmissionView,
};
use psn_authority::compliance::{self as rules, Actor, ComplianceError};
use psn_core::names::MemberId;
use psn_core::problem::ProblemType;

#[tokio::test]
async fn frameworks_are_listed_and_shown_to_operators_and_gateways() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let kent = enrol_member(&a, "GB/LA/E10000016", "Kent County Council", "revenues").await;
        for client in [a.operator(), kent.client.clone()] {
            let list = client.frameworks().await.expect("list");
            let coco = list
                .frameworks
                .iter()
                .find(|f| f.id == "psn-coco")
                .expect("the Code of Connection");
            assert_eq!(coco.version, "2026.1");
            assert_eq!(coco.kinds, ["connection", "service-provision"]);
            let framework = client.framework("psn-coco", "2026.1").await.expect("show");
            assert_eq!(framework.controls.len() as u64, coco.controls);
            let firewalls = &framework.controls[0];
            assert_eq!(firewalls.title, "Boundary firewalls and internet gateways");
            assert_eq!(firewalls.cyber_essentials, ["Firewalls"]);
            assert!(!firewalls.evidence.is_empty());
            let missing = client
                .framework("psn-coco", "1999.1")
                .await
                .expect_err("no such version");
            assert_eq!(missing.problem_type(), Some(ProblemType::NotFound));
        }
        // Without credentials: nothing.
        let anonymous = a
            .raw()
            .get(format!("{}/v1/compliance/frameworks", a.url))
            .send()
            .await
            .expect("send");
        assert_eq!(anonymous.status(), 401);
        let odd = a
            .raw()
            .get(format!(
                "{}/v1/compliance/frameworks/..%2F..%2Fetc/passwd",
                a.url
            ))
            .bearer_auth(&a.operator_token)
            .send()
            .await
            .expect("send");
        assert_eq!(odd.status(), 404);
        a.stop().await;
    }
}

/// A small, real PDF header: enough for the content check, which looks at the magic bytes.
fn pdf(text: &str) -> Vec<u8> {
    format!("%PDF-1.4\n% {text}\n%%EOF\n").into_bytes()
}

/// Answers "met, self-asserted" to every control of `kind`, each citing `evidence`.
fn answers_for(framework: &psn_api::Framework, kind: &str, evidence: &str) -> Vec<Answer> {
    psn_compliance::controls_for(framework, kind)
        .into_iter()
        .map(|control| Answer {
            control: control.id.clone(),
            status: AnswerStatus::Met,
            improvement_plan: None,
            improvement_due: None,
            reason: None,
            assurance: AssuranceLevel::SelfAsserted,
            certificate_number: None,
            certificate_expiry: None,
            evidence: vec![evidence.to_owned()],
            note: String::new(),
        })
        .collect()
}

fn accept_all(submission: &SubmissionView, outcome: ReviewOutcome) -> ReviewDecision {
    ReviewDecision {
        outcome,
        controls: submission
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
    }
}

/// As `client` (a member's gateway, or the operator naming `member`): uploads one evidence
/// file, answers every control of `kind` and submits.
async fn submit_kind(
    client: &AuthorityClient,
    member: Option<&MemberId>,
    kind: &str,
    evidence_text: &str,
) -> SubmissionView {
    let framework = client
        .framework("psn-coco", "2026.1")
        .await
        .expect("framework");
    let file = client
        .upload_evidence(
            member,
            &format!("{evidence_text}.pdf"),
            "application/pdf",
            pdf(evidence_text),
        )
        .await
        .expect("upload");
    let draft = SubmissionDraft {
        framework: "psn-coco".into(),
        version: "2026.1".into(),
        answers: answers_for(&framework, kind, &file.sha256),
    };
    let saved = client
        .save_submission(member, kind, &draft)
        .await
        .expect("save");
    assert_eq!(saved.state, SubmissionState::Draft);
    client
        .submit_submission(member, kind)
        .await
        .expect("submit")
}

#[tokio::test]
async fn a_member_submits_an_assessor_decides_and_the_status_shows_the_certificate() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let kent = enrol_member(&a, "GB/LA/E10000016", "Kent County Council", "revenues").await;
        let op = a.operator();
        let kent_id: MemberId = "GB/LA/E10000016".parse().expect("id");

        // An incomplete draft saves; submitting it names what is missing.
        let framework = op.framework("psn-coco", "2026.1").await.expect("framework");
        let file = kent
            .client
            .upload_evidence(None, "firewall-rules.pdf", "application/pdf", pdf("rules"))
            .await
            .expect("upload");
        let mut partial = answers_for(&framework, "connection", &file.sha256);
        partial.truncate(2);
        let draft = SubmissionDraft {
            framework: "psn-coco".into(),
            version: "2026.1".into(),
            answers: partial,
        };
        kent.client
            .save_submission(None, "connection", &draft)
            .await
            .expect("save partial");
        let refused = kent
            .client
            .submit_submission(None, "connection")
            .await
            .expect_err("incomplete");
        assert_eq!(refused.problem_type(), Some(ProblemType::InvalidRequest));
        assert!(refused.to_string().contains("coco-3"), "{refused}");

        // Complete it; review returns one control; the member revises and resubmits.
        let submitted = submit_kind(&kent.client, None, "connection", "baseline").await;
        assert_eq!(submitted.state, SubmissionState::Submitted);
        let again = kent
            .client
            .save_submission(None, "connection", &draft)
            .await
            .expect_err("under review");
        assert_eq!(again.problem_type(), Some(ProblemType::Conflict));
        let mut decision = accept_all(&submitted, ReviewOutcome::Return);
        decision.controls[0].verdict = ControlVerdict::Returned;
        decision.controls[0].comment = "The rule base export is missing the DMZ segment".into();
        let returned = op
            .review_submission(&submitted.id, &decision)
            .await
            .expect("return");
        assert_eq!(returned.submission.state, SubmissionState::Returned);
        assert!(returned.certificate.is_none());
        let resubmitted = kent
            .client
            .submit_submission(None, "connection")
            .await
            .expect("resubmit");
        assert_eq!(resubmitted.id, submitted.id);
        assert_eq!(resubmitted.reviews.len(), 1);

        // A review that breaks the rules changes nothing.
        let mut bad = accept_all(&resubmitted, ReviewOutcome::Certify);
        bad.controls.pop();
        let refused = op
            .review_submission(&resubmitted.id, &bad)
            .await
            .expect_err("missing verdict");
        assert_eq!(refused.problem_type(), Some(ProblemType::InvalidRequest));
        let refuse_without_reason = accept_all(&resubmitted, ReviewOutcome::Refuse);
        op.review_submission(&resubmitted.id, &refuse_without_reason)
            .await
            .expect_err("a refusal needs reasons");
        assert_eq!(
            op.submission(&resubmitted.id)
                .await
                .expect("still there")
                .state,
            SubmissionState::Submitted
        );

        // Certified: a certificate naming the framework version, for the kind's 12 months.
        // Evidence a submission cites stays on record.
        let cited = kent
            .client
            .remove_evidence(None, &resubmitted.answers[0].evidence[0])
            .await
            .expect_err("cited");
        assert_eq!(cited.problem_type(), Some(ProblemType::Conflict));
        assert!(cited.to_string().contains(&resubmitted.id), "{cited}");
        let certified = op
            .review_submission(
                &resubmitted.id,
                &accept_all(&resubmitted, ReviewOutcome::Certify),
            )
            .await
            .expect("certify");
        let cert = certified.certificate.expect("a certificate");
        assert_eq!(certified.submission.state, SubmissionState::Certified);
        assert_eq!(
            (cert.kind.as_str(), cert.version.as_str()),
            ("connection", "2026.1")
        );
        assert_eq!(cert.state, CertificateState::Valid);
        let days = (cert.expires_at - cert.issued_at).whole_days();
        assert!((365..=366).contains(&days), "{days}");
        let twice = op
            .review_submission(
                &resubmitted.id,
                &accept_all(&resubmitted, ReviewOutcome::Certify),
            )
            .await
            .expect_err("decided");
        assert_eq!(twice.problem_type(), Some(ProblemType::Conflict));

        // Approaching standard: time-limited, on a mandatory improvement plan.
        let provision = submit_kind(&kent.client, None, "service-provision", "service-desk").await;
        let mut approaching = accept_all(&provision, ReviewOutcome::ApproachingStandard);
        op.review_submission(&provision.id, &approaching)
            .await
            .expect_err("needs a plan");
        approaching.improvement_plan = "Independent IT health check booked for March".into();
        let issued = op
            .review_submission(&provision.id, &approaching)
            .await
            .expect("approaching standard")
            .certificate
            .expect("certificate");
        assert_eq!(issued.state, CertificateState::ApproachingStandard);
        let days = (issued.expires_at - issued.issued_at).whole_days();
        assert!((89..=92).contains(&days), "three months: {days}");

        // The public status: both kinds, for readers of every sort.
        for client in [op.clone(), kent.client.clone()] {
            let status = client.compliance_status(None, None).await.expect("status");
            let kent_status = status
                .members
                .iter()
                .find(|m| m.member == kent_id)
                .expect("Kent listed");
            assert_eq!(kent_status.name, "Kent County Council");
            let mut kinds: Vec<_> = kent_status
                .certificates
                .iter()
                .map(|c| c.kind.as_str())
                .collect();
            kinds.sort_unstable();
            assert_eq!(kinds, ["connection", "service-provision"]);
        }
        let soon = op
            .compliance_status(None, Some("120d"))
            .await
            .expect("expiring");
        assert_eq!(
            soon.members.len(),
            1,
            "the approaching-standard certificate expires within 120 days"
        );
        let later = op
            .compliance_status(None, Some("30d"))
            .await
            .expect("expiring");
        assert!(later.members.is_empty());
        a.assert_invalid_queries(
            "/v1/compliance/status",
            &[
                "?expiring=30",
                "?expiring=-1d",
                "?expiring=9999d",
                "?member=nope",
                "?colour=red",
                "?member=GB/LA/E10000016&member=GB/LA/E10000016",
            ],
        )
        .await;

        // Every step is in the events trail, with who.
        let events = op.events(0, 1000).await.expect("events").items;
        let actions: Vec<(&str, &str)> = events
            .iter()
            .filter(|e| e.action.starts_with("compliance."))
            .map(|e| (e.action.as_str(), e.actor.as_str()))
            .collect();
        for expected in [
            "compliance.evidence.upload",
            "compliance.submission.save",
            "compliance.submission.submit",
            "compliance.review.return",
            "compliance.review.certify",
            "compliance.certificate.issue",
            "compliance.review.approaching-standard",
        ] {
            assert!(
                actions.iter().any(|(a, _)| *a == expected),
                "{expected}: {actions:?}"
            );
        }
        assert!(actions
            .iter()
            .any(|(a, who)| *a == "compliance.submission.submit"
                && who.starts_with("gateway:GB/LA/E10000016@")));
        a.stop().await;
    }
}

#[tokio::test]
async fn another_member_sees_nothing_and_only_assessors_of_other_members_review() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let kent = enrol_member(&a, "GB/LA/E10000016", "Kent County Council", "revenues").await;
        let devon = enrol_member(&a, "GB/LA/E10000008", "Devon County Council", "benefits").await;
        let kent_id: MemberId = "GB/LA/E10000016".parse().expect("id");
        let devon_id: MemberId = "GB/LA/E10000008".parse().expect("id");
        let submitted = submit_kind(&kent.client, None, "connection", "kent").await;

        // Devon's gateway: Kent's submission and evidence are not acknowledged to exist.
        let hidden = devon
            .client
            .submission(&submitted.id)
            .await
            .expect_err("invisible");
        assert_eq!(hidden.problem_type(), Some(ProblemType::NotFound));
        let listed = devon
            .client
            .submissions(None, None)
            .await
            .expect("own list");
        assert!(listed.submissions.is_empty());
        let other = devon
            .client
            .submissions(Some(&kent_id), None)
            .await
            .expect_err("another member's list");
        assert_eq!(other.problem_type(), Some(ProblemType::Forbidden));
        let evidence = devon
            .client
            .evidence(Some(&kent_id))
            .await
            .expect_err("hidden");
        assert_eq!(evidence.problem_type(), Some(ProblemType::NotFound));
        let sha = &submitted.answers[0].evidence[0];
        let raw = devon
            .raw(&a)
            .get(format!(
                "{}/v1/compliance/evidence/{sha}?member={kent_id}",
                a.url
            ))
            .send()
            .await
            .expect("send");
        assert_eq!(raw.status(), 404);
        // Nor may it change Kent's: saving or submitting for another member is forbidden.
        let forbidden = devon
            .client
            .submit_submission(Some(&kent_id), "connection")
            .await
            .expect_err("not its own");
        assert_eq!(forbidden.problem_type(), Some(ProblemType::Forbidden));
        let removal = devon
            .client
            .remove_evidence(Some(&kent_id), sha)
            .await
            .expect_err("not its own");
        assert_eq!(removal.problem_type(), Some(ProblemType::Forbidden));
        // A gateway cannot review at all (reviews need the operator's token).
        let decision = accept_all(&submitted, ReviewOutcome::Certify);
        let review = devon
            .client
            .review_submission(&submitted.id, &decision)
            .await
            .expect_err("not an assessor");
        assert_eq!(review.problem_type(), Some(ProblemType::Unauthenticated));

        // Kent's own gateway downloads its evidence byte for byte, as an attachment.
        let own = kent
            .raw(&a)
            .get(format!("{}/v1/compliance/evidence/{sha}", a.url))
            .send()
            .await
            .expect("send");
        assert_eq!(own.status(), 200);
        assert_eq!(own.headers()["content-type"], "application/pdf");
        assert_eq!(own.headers()["x-content-type-options"], "nosniff");
        assert!(own.headers()["content-disposition"]
            .to_str()
            .expect("text")
            .starts_with("attachment"));
        assert_eq!(
            own.bytes().await.expect("body").as_ref(),
            pdf("kent").as_slice()
        );

        // The rules: an assessor who belongs to Kent may not review Kent; one of Devon may.
        let authority = &a.running.as_ref().expect("running").authority;
        let kent_assessor = Actor::Assessor {
            name: "person:auditor@kent.gov.uk".into(),
            member: Some(kent_id.clone()),
        };
        let own_member = rules::review(authority, &kent_assessor, &submitted.id, &decision)
            .await
            .expect_err("own member");
        assert!(
            own_member
                .to_string()
                .contains("may not review its own member"),
            "{own_member}"
        );
        let viewer = Actor::Member {
            name: "person:viewer@kent.gov.uk".into(),
            member: kent_id.clone(),
            can_change: false,
        };
        let viewing = rules::submit(authority, &viewer, None, "connection")
            .await
            .expect_err("a viewer cannot submit");
        assert!(
            matches!(viewing, ComplianceError::Forbidden(_)),
            "{viewing}"
        );
        let devon_assessor = Actor::Assessor {
            name: "person:auditor@devon.gov.uk".into(),
            member: Some(devon_id),
        };
        let decided = rules::review(authority, &devon_assessor, &submitted.id, &decision)
            .await
            .expect("a peer assessor reviews");
        assert_eq!(
            decided.certificate.expect("certificate").assessor,
            "person:auditor@devon.gov.uk"
        );
        a.stop().await;
    }
}

#[tokio::test]
async fn hostile_evidence_is_refused_with_a_reason_and_nothing_is_stored() {
    for backend in backends() {
        let a = TestAuthority::start(backend).await;
        let kent = enrol_member(&a, "GB/LA/E10000016", "Kent County Council", "revenues").await;
        let raw = kent.raw(&a);
        let first = kent
            .client
            .upload_evidence(None, "health-check.pdf", "application/pdf", pdf("itHC"))
            .await
            .expect("a real PDF");
        let events_before = a
            .operator()
            .events(0, 1000)
            .await
            .expect("events")
            .items
            .len();
        let oversized = {
            let mut v = pdf("big");
            v.resize(psn_compliance::MAX_EVIDENCE_BYTES as usize + 1, b' ');
            v
        };
        let far_too_big = vec![b'%'; psn_compliance::MAX_EVIDENCE_BYTES as usize + 4096];
        let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00".repeat(20);
        let gzip = b"\x1f\x8b\x08\x00\x00\x00\x00\x00".repeat(20);
        let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
            ("big.pdf", "application/pdf", oversized, 413),
            ("huge.pdf", "application/pdf", far_too_big, 413),
            ("bomb.pdf", "application/pdf", zip.clone(), 415),
            ("bomb.zip", "application/zip", zip, 415),
            ("logs.gz", "application/gzip", gzip, 415),
            ("empty.pdf", "application/pdf", Vec::new(), 400),
            ("../../etc/passwd.pdf", "application/pdf", pdf("a"), 400),
            ("..%2F..%2Fsecret.pdf", "application/pdf", pdf("b"), 400),
            ("C:\\evidence\\x.pdf", "application/pdf", pdf("c"), 400),
            (".htaccess", "text/plain", b"deny from all\n".to_vec(), 400),
            ("report\u{202e}fdp.exe", "application/pdf", pdf("d"), 400),
            ("nul\0.pdf", "application/pdf", pdf("e"), 400),
            ("picture.png", "image/png", pdf("f"), 400),
            ("report.pdf", "image/png", pdf("g"), 415),
            ("binary.txt", "text/plain", vec![0u8, 159, 146, 150], 415),
            ("again.pdf", "application/pdf", pdf("itHC"), 409),
        ];
        for (name, media, body, status) in cases {
            let resp = raw
                .post(format!("{}/v1/compliance/evidence", a.url))
                .query(&[("name", name)])
                .header("content-type", media)
                .body(body)
                .send()
                .await
                .expect("send");
            assert_eq!(resp.status().as_u16(), status, "{name:?}");
            let text = resp.text().await.expect("body");
            if status != 413 || text.starts_with('{') {
                let problem: psn_core::problem::Problem =
                    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name:?}: {e}: {text}"));
                assert!(problem.detail.is_some_and(|d| !d.is_empty()), "{name:?}");
            }
            if name == "again.pdf" {
                assert!(
                    text.contains("health-check.pdf") && text.contains(&first.sha256),
                    "{text}"
                );
            }
        }
        // Malformed requests: no name, a name twice, an unknown parameter.
        for query in ["", "?name=a.pdf&name=b.pdf", "?name=a.pdf&colour=red"] {
            let resp = raw
                .post(format!("{}/v1/compliance/evidence{query}", a.url))
                .header("content-type", "application/pdf")
                .body(pdf("h"))
                .send()
                .await
                .expect("send");
            assert_eq!(resp.status(), 400, "{query}");
        }
        let held = kent.client.evidence(None).await.expect("list");
        assert_eq!(held.evidence.len(), 1, "only the first file is stored");
        assert_eq!(held.bytes, first.bytes);
        // A file no submission cites can be removed, freeing its quota; then uploaded again.
        for bad in ["nothex", &"0".repeat(64)] {
            let refused = kent
                .client
                .remove_evidence(None, bad)
                .await
                .expect_err("not held");
            assert_eq!(refused.problem_type(), Some(ProblemType::NotFound), "{bad}");
        }
        let removed = kent
            .client
            .remove_evidence(None, &first.sha256)
            .await
            .expect("remove");
        assert_eq!(removed.name, "health-check.pdf");
        assert_eq!(kent.client.evidence(None).await.expect("list").bytes, 0);
        let again = kent
            .client
            .upload_evidence(None, "health-check.pdf", "application/pdf", pdf("itHC"))
            .await
            .expect("upload again after removal");
        assert_eq!(again.sha256, first.sha256);
        let events_before = events_before + 2;
        let events_after = a
            .operator()
            .events(0, 1000)
            .await
            .expect("events")
            .items
            .len();
        assert_eq!(events_before, events_after, "a refusal writes nothing");

        // Answers naming evidence the member never uploaded, or a framework it has not
        // adopted, are refused whole.
        let framework = kent
            .client
            .framework("psn-coco", "2026.1")
            .await
            .expect("framework");
        let unknown = "0".repeat(64);
        let draft = SubmissionDraft {
            framework: "psn-coco".into(),
            version: "2026.1".into(),
            answers: answers_for(&framework, "connection", &unknown),
        };
        let refused = kent
            .client
            .save_submission(None, "connection", &draft)
            .await
            .expect_err("unknown evidence");
        assert!(
            refused
                .to_string()
                .contains("has uploaded no evidence file"),
            "{refused}"
        );
        let other_version = SubmissionDraft {
            version: "1999.1".into(),
            ..draft
        };
        kent.client
            .save_submission(None, "connection", &other_version)
            .await
            .expect_err("no such version");
        kent.client
            .save_submission(None, "no-such-kind", &other_version)
            .await
            .expect_err("no such kind");
        let raw_draft = raw
            .put(format!("{}/v1/compliance/drafts/connection", a.url))
            .header("content-type", "application/json")
            .body(r#"{"framework":"psn-coco","version":"2026.1","answers":[{"control":"coco-1","status":"met","assurance":"self-asserted","admin":true}]}"#)
            .send()
            .await
            .expect("send");
        assert_eq!(raw_draft.status(), 400, "unknown fields are refused");
        assert!(kent
            .client
            .submissions(None, None)
            .await
            .expect("list")
            .submissions
            .is_empty());
        a.stop().await;
    }
}

/// The example of an operator-defined framework: a regional network's own certificate kind.
const REGIONAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/examples/gb-kent-data-sharing-2026.1.json"
);

#[tokio::test]
async fn a_network_adopts_its_own_framework_and_certificate_kind() {
    for backend in backends() {
        let a = TestAuthority::start_with(backend, |s| {
            s.compliance.frameworks = vec![REGIONAL.into()];
        })
        .await;
        let kent = enrol_member(&a, "GB/LA/E10000016", "Kent County Council", "revenues").await;
        let op = a.operator();
        let list = op.frameworks().await.expect("list");
        let ids: Vec<&str> = list.frameworks.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["gb-kent-data-sharing", "psn-coco"]);
        let framework = op
            .framework("gb-kent-data-sharing", "2026.1")
            .await
            .expect("show");
        let file = kent
            .client
            .upload_evidence(None, "isa.pdf", "application/pdf", pdf("agreement"))
            .await
            .expect("upload");
        let draft = SubmissionDraft {
            framework: framework.id.clone(),
            version: framework.version.clone(),
            answers: answers_for(&framework, "data-sharing", &file.sha256),
        };
        kent.client
            .save_submission(None, "data-sharing", &draft)
            .await
            .expect("save");
        let submitted = kent
            .client
            .submit_submission(None, "data-sharing")
            .await
            .expect("submit");
        let cert = op
            .review_submission(
                &submitted.id,
                &accept_all(&submitted, ReviewOutcome::Certify),
            )
            .await
            .expect("certify")
            .certificate
            .expect("certificate");
        assert_eq!(
            (cert.kind.as_str(), cert.framework.as_str()),
            ("data-sharing", "gb-kent-data-sharing")
        );
        // Answers to the national framework's controls do not belong to the regional kind.
        let mixed = SubmissionDraft {
            framework: "gb-kent-data-sharing".into(),
            version: "2026.1".into(),
            answers: answers_for(
                &op.framework("psn-coco", "2026.1").await.expect("coco"),
                "connection",
                &file.sha256,
            ),
        };
        op.save_submission(
            Some(&"GB/LA/E10000016".parse().expect("id")),
            "data-sharing",
            &mixed,
        )
        .await
        .expect_err("controls of another framework");
        a.stop().await;
    }
}

#[test]
fn a_framework_file_that_clashes_or_is_missing_stops_the_authority_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clash = dir.path().join("clash.json");
    let text = std::fs::read_to_string(REGIONAL)
        .expect("example")
        .replace("\"data-sharing\"", "\"connection\"");
    std::fs::write(&clash, text).expect("write");
    for (files, why) in [
        (vec![clash.clone()], "connection"),
        (vec!["missing.json".into()], "missing.json"),
        (vec![REGIONAL.into(), REGIONAL.into()], "twice"),
    ] {
        let settings = psn_authority::datadir::ComplianceSettings {
            frameworks: files,
            ..Default::default()
        };
        let refused = rules::Compliance::load(&settings, dir.path())
            .err()
            .expect("refused");
        assert!(refused.contains(why), "{why}: {refused}");
    }
}
