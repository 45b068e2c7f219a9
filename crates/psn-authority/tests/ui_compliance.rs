//! The compliance pages end to end: a real authority over real HTTPS, driven like a browser
//! (cookies kept, no redirects followed, the session's form token sent back). A member's
//! people answer controls and upload evidence; assessors review; the status list and the
//! catalogue show the certificate. Hostile input throughout, and every refusal leaves the
//! store as it was.

mod common;

use common::browser::{Browser, Page};
use common::{Backend, TestAuthority};
use psn_api::{
    Answer, AnswerStatus, AssuranceLevel, NewMember, NewPerson, PersonRole, SubmissionDraft,
    SubmissionState,
};
use psn_authority::compliance::{self, Actor};
use psn_authority::Authority;
use psn_core::names::MemberId;
use reqwest::StatusCode;
use std::sync::Arc;

const KENT: &str = "GB/LA/E10000016";
const DEVON: &str = "GB/LA/E10000008";
const KIND: &str = "connection";
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n";

fn member(id: &str) -> MemberId {
    id.parse().expect("member id")
}

fn authority(a: &TestAuthority) -> Arc<Authority> {
    a.running.as_ref().expect("running").authority.clone()
}

/// Kent and Devon, and a person of each role; returns the passwords by username.
async fn network(a: &TestAuthority) -> std::collections::HashMap<&'static str, String> {
    for (id, name) in [
        (KENT, "Kent County Council"),
        (DEVON, "Devon County Council"),
    ] {
        a.operator()
            .add_member(&NewMember {
                id: member(id),
                name: name.into(),
                sector: Some("local-government".into()),
                region: None,
            })
            .await
            .expect("member");
    }
    let mut passwords = std::collections::HashMap::new();
    for (username, role, of) in [
        ("kent-admin", PersonRole::MemberAdmin, Some(KENT)),
        ("kent-viewer", PersonRole::MemberViewer, Some(KENT)),
        ("devon-admin", PersonRole::MemberAdmin, Some(DEVON)),
        ("kent-assessor", PersonRole::Assessor, Some(KENT)),
        ("assessor", PersonRole::Assessor, None),
    ] {
        let made = a
            .operator()
            .add_person(&NewPerson {
                username: username.into(),
                member: of.map(member),
                role,
            })
            .await
            .expect("person");
        passwords.insert(username, made.password);
    }
    passwords
}

async fn browser(
    a: &TestAuthority,
    who: &str,
    passwords: &std::collections::HashMap<&str, String>,
) -> Browser {
    Browser::signed_in(a, who, &passwords[who]).await
}

/// Every control of `kind` answered as met and independently tested (which needs no evidence
/// file), saved for `of` through the facade as the operator.
async fn answered(a: &TestAuthority, of: &str, kind: &str) {
    let auth = authority(a);
    let framework = auth
        .compliance
        .framework_for(kind)
        .expect("framework")
        .clone();
    let answers = psn_compliance::controls_for(&framework, kind)
        .into_iter()
        .map(|c| Answer {
            control: c.id.clone(),
            status: AnswerStatus::Met,
            improvement_plan: None,
            improvement_due: None,
            reason: None,
            assurance: AssuranceLevel::IndependentlyTested,
            certificate_number: None,
            certificate_expiry: None,
            evidence: Vec::new(),
            note: "Tested in March by our IT health check provider.".into(),
        })
        .collect();
    let draft = SubmissionDraft {
        framework: framework.id.clone(),
        version: framework.version.clone(),
        answers,
    };
    let operator = Actor::Operator("test".into());
    compliance::save(&auth, &operator, Some(&member(of)), kind, &draft)
        .await
        .expect("save");
}

async fn open_answers(a: &TestAuthority, of: &str) -> Vec<Answer> {
    let auth = authority(a);
    compliance::open_submission(&auth, &Actor::Operator("test".into()), &member(of), KIND)
        .await
        .expect("open")
        .map(|s| s.answers)
        .unwrap_or_default()
}

async fn evidence_count(a: &TestAuthority, of: &str) -> usize {
    let auth = authority(a);
    compliance::evidence(&auth, &Actor::Operator("test".into()), &member(of))
        .await
        .expect("evidence")
        .evidence
        .len()
}

/// A `multipart/form-data` body with the form token and one file, as a browser sends it.
fn multipart(csrf: &str, name: &str, content_type: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----psn-test-boundary-7d1c";
    let mut body = format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         content-type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Posts one file to the evidence form with `csrf`.
async fn post_file(
    b: &mut Browser,
    csrf: &str,
    name: &str,
    content_type: &str,
    bytes: &[u8],
) -> Page {
    let (form_type, body) = multipart(csrf, name, content_type, bytes);
    let request = b
        .http
        .post(format!("{}/ui/compliance/evidence", b.base))
        .header(reqwest::header::CONTENT_TYPE, form_type)
        .body(body);
    b.send(request).await
}

/// Uploads one file through the evidence form.
async fn upload(b: &mut Browser, name: &str, content_type: &str, bytes: &[u8]) -> Page {
    let csrf = b.get("/ui/compliance/evidence").await.csrf();
    post_file(b, &csrf, name, content_type, bytes).await
}

#[tokio::test]
async fn the_task_list_shows_every_control_and_an_answer_saves_through_the_form() {
    let a = TestAuthority::start(Backend::Sqlite).await;
    let passwords = network(&a).await;
    let mut admin = browser(&a, "kent-admin", &passwords).await;

    let page = admin.get("/ui/compliance").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let auth = authority(&a);
    for kind in auth.compliance.kinds() {
        let framework = auth
            .compliance
            .framework_for(&kind.kind)
            .expect("framework");
        for control in psn_compliance::controls_for(framework, &kind.kind) {
            let href = format!("/ui/compliance/{}/{}", kind.kind, control.id);
            assert!(page.body.contains(&href), "{href} on the task list");
        }
    }
    assert!(page.body.contains("govuk-task-list"));
    assert!(page.body.contains("Not yet started"));
    assert!(!page.body.contains("Submit for review"));

    // A partly met control with its plan and date, through the form.
    let form = admin.get("/ui/compliance/connection/coco-3").await;
    assert_eq!(form.status, StatusCode::OK);
    let csrf = form.csrf();
    let saved = admin
        .post(
            "/ui/compliance/connection/coco-3",
            &[
                ("csrf", &csrf),
                ("status", "partly-met"),
                (
                    "improvement-plan",
                    "Patch the remaining servers within 14 days.",
                ),
                ("due-day", "1"),
                ("due-month", "6"),
                ("due-year", "2099"),
                // Typed into a branch not chosen: not part of the answer.
                ("reason", "ignored"),
                ("assurance", "externally-certified"),
                ("certificate-number", "CEP-12345"),
                ("note", "See the patch report."),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(saved.location(), "/ui/compliance");
    let answers = open_answers(&a, KENT).await;
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].control, "coco-3");
    assert_eq!(answers[0].status, AnswerStatus::PartlyMet);
    assert_eq!(answers[0].reason, None);
    assert_eq!(answers[0].certificate_number.as_deref(), Some("CEP-12345"));
    let page = admin.get("/ui/compliance").await;
    assert!(page.body.contains("Completed"));
    // The form shows the saved answer again.
    let again = admin.get("/ui/compliance/connection/coco-3").await;
    assert!(again.body.contains("Patch the remaining servers"));

    // Every other control answered: the member-admin may submit, and does.
    answered(&a, KENT, KIND).await;
    let page = admin.get("/ui/compliance").await;
    assert!(page.body.contains("Submit for review"));
    let csrf = page.csrf();
    let submitted = admin
        .post("/ui/compliance/connection/submit", &[("csrf", &csrf)])
        .await;
    assert_eq!(
        submitted.status,
        StatusCode::SEE_OTHER,
        "{}",
        submitted.body
    );
    let page = admin.get("/ui/compliance").await;
    assert!(page.body.contains("waiting for an assessor"));
    a.stop().await;
}

#[tokio::test]
async fn hostile_answers_are_refused_and_nothing_is_stored() {
    let a = TestAuthority::start(Backend::Sqlite).await;
    let passwords = network(&a).await;
    let mut admin = browser(&a, "kent-admin", &passwords).await;
    let csrf = admin.get("/ui/compliance/connection/coco-1").await.csrf();

    // Unknown controls and kinds in the address.
    for path in [
        "/ui/compliance/connection/coco-99",
        "/ui/compliance/connection/coco-10",
        "/ui/compliance/no-such-kind/coco-1",
        "/ui/compliance/connection/%3Cscript%3E",
    ] {
        assert_eq!(
            admin.get(path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
        let page = admin
            .post(
                path,
                &[
                    ("csrf", &csrf),
                    ("status", "met"),
                    ("assurance", "self-asserted"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
    }

    // Oversized text: the facade's limit, shown in the error summary linked to the field.
    let long = "x".repeat(5_000);
    let page = admin
        .post(
            "/ui/compliance/connection/coco-1",
            &[
                ("csrf", &csrf),
                ("status", "met"),
                ("assurance", "self-asserted"),
                ("note", &long),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("govuk-error-summary"), "{}", page.body);
    assert!(page.body.contains("href=\"#note\""), "{}", page.body);
    assert!(page.body.contains("at most 4000"), "{}", page.body);

    // A body past the form limit.
    let huge = "y".repeat(200 * 1024);
    let page = admin
        .post(
            "/ui/compliance/connection/coco-1",
            &[("csrf", &csrf), ("note", &huge)],
        )
        .await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Nothing chosen, an impossible date, evidence never uploaded.
    let page = admin
        .post("/ui/compliance/connection/coco-1", &[("csrf", &csrf)])
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("href=\"#status\""));
    assert!(page.body.contains("href=\"#assurance\""));
    let page = admin
        .post(
            "/ui/compliance/connection/coco-1",
            &[
                ("csrf", &csrf),
                ("status", "partly-met"),
                ("improvement-plan", "soon"),
                ("due-day", "31"),
                ("due-month", "2"),
                ("due-year", "2099"),
                ("assurance", "self-asserted"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("href=\"#due-day\""));
    let unknown = "a".repeat(64);
    let page = admin
        .post(
            "/ui/compliance/connection/coco-1",
            &[
                ("csrf", &csrf),
                ("status", "met"),
                ("assurance", "self-asserted"),
                ("evidence", &unknown),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("has uploaded no evidence file"),
        "{}",
        page.body
    );

    // A wrong form token, and a member-viewer who reads only.
    let page = admin
        .post(
            "/ui/compliance/connection/coco-1",
            &[
                ("csrf", "forged"),
                ("status", "met"),
                ("assurance", "self-asserted"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let mut viewer = browser(&a, "kent-viewer", &passwords).await;
    let form = viewer.get("/ui/compliance/connection/coco-1").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(!form.body.contains("Save and return"));
    let page = viewer
        .post(
            "/ui/compliance/connection/coco-1",
            &[
                ("csrf", &form.csrf()),
                ("status", "met"),
                ("assurance", "self-asserted"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("member-admin changes them"),
        "{}",
        page.body
    );

    assert!(open_answers(&a, KENT).await.is_empty());
    a.stop().await;
}

#[tokio::test]
async fn evidence_uploads_check_the_file_and_refusals_store_nothing() {
    let a = TestAuthority::start(Backend::Sqlite).await;
    let passwords = network(&a).await;
    let mut admin = browser(&a, "kent-admin", &passwords).await;

    let page = upload(&mut admin, "firewall-review.pdf", "application/pdf", PDF).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("firewall-review.pdf was uploaded"));
    assert_eq!(evidence_count(&a, KENT).await, 1);

    let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00not really a pdf";
    for (name, content_type, bytes, says) in [
        (
            "report.pdf",
            "application/pdf",
            &zip[..],
            "type is not accepted",
        ),
        (
            "empty.pdf",
            "application/pdf",
            &b""[..],
            "The file is empty",
        ),
        (
            "../../etc/passwd.txt",
            "text/plain",
            &b"root:x:0:0"[..],
            "file name is not accepted",
        ),
        ("copy.pdf", "application/pdf", PDF, "firewall-review.pdf"),
    ] {
        let page = upload(&mut admin, name, content_type, bytes).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{name}: {}",
            page.body
        );
        assert!(page.body.contains("govuk-error-summary"), "{name}");
        assert!(page.body.contains(says), "{name}: {}", page.body);
    }
    assert_eq!(evidence_count(&a, KENT).await, 1);

    // A forged token and a member-viewer store nothing either.
    let forged = post_file(
        &mut admin,
        "forged",
        "other.pdf",
        "application/pdf",
        b"%PDF-1.4 other",
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let mut viewer = browser(&a, "kent-viewer", &passwords).await;
    let page = upload(
        &mut viewer,
        "other.pdf",
        "application/pdf",
        b"%PDF-1.4 other",
    )
    .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(evidence_count(&a, KENT).await, 1);

    // The file downloads for its member's people and the network's, not for another member's.
    let sha = psn_compliance::sha256_hex(PDF);
    let path = format!("/ui/compliance/evidence/{KENT}/{sha}");
    let page = viewer.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body.as_bytes(), PDF);
    let mut devon = browser(&a, "devon-admin", &passwords).await;
    assert_eq!(devon.get(&path).await.status, StatusCode::NOT_FOUND);
    a.stop().await;
}

#[tokio::test]
async fn an_assessor_of_another_member_certifies_and_the_status_list_shows_it() {
    let a = TestAuthority::start(Backend::Sqlite).await;
    let passwords = network(&a).await;
    answered(&a, KENT, KIND).await;
    let auth = authority(&a);
    let submitted = compliance::submit(
        &auth,
        &Actor::Operator("test".into()),
        Some(&member(KENT)),
        KIND,
    )
    .await
    .expect("submit");
    let path = format!("/ui/compliance/review/{}", submitted.id);
    let mut fields: Vec<(String, String)> = submitted
        .answers
        .iter()
        .map(|a| (format!("verdict-{}", a.control), "accepted".to_owned()))
        .collect();
    fields.push(("outcome".into(), "certify".into()));

    // Member roles may not review, not even their own member's submission.
    let mut admin = browser(&a, "kent-admin", &passwords).await;
    assert_eq!(
        admin.get("/ui/compliance/review").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(admin.get(&path).await.status, StatusCode::FORBIDDEN);

    // An assessor of Kent sees the submission, and the facade's refusal when deciding.
    let mut own = browser(&a, "kent-assessor", &passwords).await;
    let list = own.get("/ui/compliance/review").await;
    assert!(list.body.contains(&submitted.id));
    let form = own.get(&path).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form
        .body
        .contains("an assessor of another member must review"));
    let mut sent: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let csrf = form.csrf();
    sent.push(("csrf", &csrf));
    let page = own.post(&path, &sent).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("govuk-error-summary"));
    assert!(
        page.body.contains("may not review its own member"),
        "{}",
        page.body
    );
    let still = compliance::submission(&auth, &Actor::Operator("test".into()), &submitted.id)
        .await
        .expect("submission");
    assert_eq!(still.state, SubmissionState::Submitted);

    // A verdict missing: asked for, nothing decided.
    let mut assessor = browser(&a, "assessor", &passwords).await;
    let form = assessor.get(&path).await;
    let csrf = form.csrf();
    let page = assessor
        .post(&path, &[("csrf", &csrf), ("outcome", "certify")])
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("href=\"#verdict-coco-1\""));

    // A network assessor certifies; the status list and the review list show it.
    let mut sent: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    sent.push(("csrf", &csrf));
    let page = assessor.post(&path, &sent).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/ui/compliance/status");
    let status = assessor.get("/ui/compliance/status").await;
    assert_eq!(status.status, StatusCode::OK);
    assert!(status.body.contains("Kent County Council"));
    assert!(status.body.contains("govuk-tag--green"));
    assert!(status.body.contains("Valid"));
    let filtered = assessor.get("/ui/compliance/status?q=devon").await;
    assert!(!filtered.body.contains("Kent County Council"));
    let expiring = assessor.get("/ui/compliance/status?expiring=30").await;
    assert!(!expiring.body.contains("Kent County Council"));
    assert_eq!(
        assessor
            .get("/ui/compliance/status?expiring=yes")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    // Open without signing in, like the accessibility statement.
    let mut stranger = Browser::new(&a);
    let public = stranger.get("/ui/compliance/status").await;
    assert_eq!(public.status, StatusCode::OK);
    assert!(public.body.contains("Kent County Council"));
    // A service-provision certificate shows beside Kent's listings.
    answered(&a, KENT, "service-provision").await;
    let operator = Actor::Operator("test".into());
    let provision = compliance::submit(&auth, &operator, Some(&member(KENT)), "service-provision")
        .await
        .expect("submit");
    let decision = psn_api::ReviewDecision {
        outcome: psn_api::ReviewOutcome::Certify,
        controls: provision
            .answers
            .iter()
            .map(|a| psn_api::ControlReview {
                control: a.control.clone(),
                verdict: psn_api::ControlVerdict::Accepted,
                comment: String::new(),
            })
            .collect(),
        reasons: String::new(),
        improvement_plan: String::new(),
        valid_months: None,
    };
    compliance::review(&auth, &operator, &provision.id, &decision)
        .await
        .expect("review");
    let subsystem = format!("{KENT}/revenues").parse().expect("subsystem");
    a.store()
        .add_subsystem("test", &subsystem)
        .await
        .expect("subsystem");
    let service = psn_authority::store::ServiceRecord {
        id: format!("{KENT}/revenues/lookup").parse().expect("service"),
        title: "Council tax lookup".into(),
        description: String::new(),
        processes: vec!["lgsl:4".into()],
        details: Default::default(),
    };
    a.store()
        .put_service("test", &service)
        .await
        .expect("service");
    let listing = assessor
        .get(&format!("/ui/services/{KENT}/revenues/lookup"))
        .await;
    assert_eq!(listing.status, StatusCode::OK, "{}", listing.body);
    assert!(listing.body.contains("Service provision certificate"));
    assert!(listing.body.contains("govuk-tag--green"));
    // Kent's people see the certificate on their task list.
    let tasks = admin.get("/ui/compliance").await;
    assert!(tasks.body.contains("Your certificates"));
    assert!(tasks.body.contains("Valid"));
    a.stop().await;
}

#[tokio::test]
async fn another_members_submission_is_invisible() {
    let a = TestAuthority::start(Backend::Sqlite).await;
    let passwords = network(&a).await;
    answered(&a, DEVON, KIND).await;
    let auth = authority(&a);
    let devon = compliance::submit(
        &auth,
        &Actor::Operator("test".into()),
        Some(&member(DEVON)),
        KIND,
    )
    .await
    .expect("submit");
    let mut kent = browser(&a, "kent-admin", &passwords).await;
    // Kent's task list shows nothing of Devon's answers.
    let tasks = kent.get("/ui/compliance").await;
    assert!(!tasks.body.contains(&devon.id));
    assert!(!tasks.body.contains("Tested in March"));
    let evidence = format!("/ui/compliance/evidence/{DEVON}/{}", "b".repeat(64));
    assert_eq!(kent.get(&evidence).await.status, StatusCode::NOT_FOUND);
    // Not signed in: sent to sign in.
    let mut stranger = Browser::new(&a);
    let page = stranger
        .get(&format!("/ui/compliance/review/{}", devon.id))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    // The network's people: an unknown id is a 404.
    let mut assessor = browser(&a, "assessor", &passwords).await;
    assert_eq!(
        assessor.get("/ui/compliance/review/sub-99999").await.status,
        StatusCode::NOT_FOUND
    );
    a.stop().await;
}
