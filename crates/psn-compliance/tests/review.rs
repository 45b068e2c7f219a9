//! An assessor's review (check_review) and the certificate's length (certificate_months).

use psn_api::{
    Answer, AnswerStatus, AssuranceLevel, ControlReview, ControlVerdict, Framework, ReviewDecision,
    ReviewOutcome,
};
use psn_compliance::{certificate_months, check_review, controls_for, embedded};

fn coco() -> Framework {
    embedded()
        .expect("shipped frameworks")
        .into_iter()
        .find(|f| f.id == "psn-coco")
        .expect("the Code of Connection")
}

fn answers(kind: &str) -> Vec<Answer> {
    controls_for(&coco(), kind)
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
            evidence: vec![],
            note: String::new(),
        })
        .collect()
}

fn accept_all(outcome: ReviewOutcome, answers: &[Answer]) -> ReviewDecision {
    ReviewDecision {
        outcome,
        controls: answers
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

fn returned(control: &str, comment: &str) -> ControlReview {
    ControlReview {
        control: control.to_owned(),
        verdict: ControlVerdict::Returned,
        comment: comment.to_owned(),
    }
}

fn has(problems: &[String], text: &str) -> bool {
    problems.iter().any(|p| p.contains(text))
}

#[test]
fn certifying_accepts_every_control() {
    let f = coco();
    let a = answers("connection");
    let mut d = accept_all(ReviewOutcome::Certify, &a);
    assert_eq!(check_review(&f, "connection", &a, &d), Ok(()));
    assert_eq!(certificate_months(&f, "connection", &d), Some(12));
    d.valid_months = Some(6);
    assert_eq!(check_review(&f, "connection", &a, &d), Ok(()));
    assert_eq!(certificate_months(&f, "connection", &d), Some(6));
    d.valid_months = Some(12);
    assert_eq!(check_review(&f, "connection", &a, &d), Ok(()));

    for months in [0, 13, u32::MAX] {
        d.valid_months = Some(months);
        let p = check_review(&f, "connection", &a, &d).expect_err("months");
        assert_eq!(
            p,
            [format!(
                "valid_months: a connection certificate lasts 1 to 12 months, not {months}"
            )]
        );
    }
    // Unchecked, the months are still kept within the kind's validity.
    assert_eq!(certificate_months(&f, "connection", &d), Some(12));
    assert_eq!(certificate_months(&f, "hosting", &d), None);

    let mut d = accept_all(ReviewOutcome::Certify, &a);
    d.controls[3] = returned("coco-4", "Show the patch report.");
    d.reasons = "fine".to_owned();
    d.improvement_plan = "later".to_owned();
    let p = check_review(&f, "connection", &a, &d).expect_err("refused");
    assert!(
        has(
            &p,
            "coco-4: returned, so the submission cannot be certified"
        ),
        "{p:?}"
    );
    assert!(has(&p, "reasons are given only when refusing"));
    assert!(has(
        &p,
        "an improvement plan is given only for an approaching-standard certificate"
    ));
    assert_eq!(p.len(), 3, "{p:?}");
}

#[test]
fn every_answered_control_gets_exactly_one_verdict() {
    let f = coco();
    let a = answers("connection");
    let mut d = accept_all(ReviewOutcome::Certify, &a);
    d.controls.retain(|r| r.control != "coco-5");
    d.controls.push(ControlReview {
        control: "coco-1".to_owned(),
        verdict: ControlVerdict::Accepted,
        comment: String::new(),
    });
    d.controls.push(ControlReview {
        control: "coco-10".to_owned(),
        verdict: ControlVerdict::Accepted,
        comment: String::new(),
    });
    let p = check_review(&f, "connection", &a, &d).expect_err("refused");
    assert!(has(&p, "coco-5: the review gives no verdict"), "{p:?}");
    assert!(
        has(&p, "coco-1: the review gives more than one verdict"),
        "{p:?}"
    );
    assert!(
        has(
            &p,
            "\"coco-10\": the review gives a verdict on a control that was not answered"
        ),
        "{p:?}"
    );
    assert_eq!(p.len(), 3, "{p:?}");

    // A flood of verdicts is refused in one problem.
    let mut d = accept_all(ReviewOutcome::Certify, &a);
    d.controls = vec![returned("x", ""); 10_000];
    let p = check_review(&f, "connection", &a, &d).expect_err("refused");
    assert_eq!(p.len(), 1, "{p:?}");

    let p =
        check_review(&f, "hosting", &a, &accept_all(ReviewOutcome::Certify, &a)).expect_err("kind");
    assert!(has(&p, "issues no certificate kind \"hosting\""), "{p:?}");
}

#[test]
fn returning_needs_a_returned_control_with_a_comment() {
    let f = coco();
    let a = answers("service-provision");
    let mut d = accept_all(ReviewOutcome::Return, &a);
    let p = check_review(&f, "service-provision", &a, &d).expect_err("nothing returned");
    assert_eq!(
        p,
        ["returning a submission needs at least one returned control saying what to revise"]
    );

    d.controls[9] = returned("coco-10", "  ");
    d.valid_months = Some(3);
    d.improvement_plan = "x".to_owned();
    let p = check_review(&f, "service-provision", &a, &d).expect_err("refused");
    assert!(has(
        &p,
        "coco-10: a returned control needs a comment saying what is missing"
    ));
    assert!(has(
        &p,
        "valid_months: a returned submission issues no certificate"
    ));
    assert!(has(
        &p,
        "an improvement plan is given only for an approaching-standard"
    ));
    assert_eq!(p.len(), 3, "{p:?}");

    d.valid_months = None;
    d.improvement_plan.clear();
    d.controls[9].comment = "Name the people with admin rights.".to_owned();
    assert_eq!(check_review(&f, "service-provision", &a, &d), Ok(()));
    assert_eq!(certificate_months(&f, "service-provision", &d), None);

    d.controls[9].comment = "c".repeat(2_001);
    assert!(has(
        &check_review(&f, "service-provision", &a, &d).expect_err("long"),
        "coco-10: the comment is 2001 characters"
    ));
    d.controls[9].comment = "hidden\u{202d}text".to_owned();
    assert!(has(
        &check_review(&f, "service-provision", &a, &d).expect_err("bidi"),
        "coco-10: the comment contains a character that reverses"
    ));
    d.controls[9].comment = "nul\0".to_owned();
    assert!(has(
        &check_review(&f, "service-provision", &a, &d).expect_err("nul"),
        "coco-10: the comment contains a control character"
    ));
}

#[test]
fn approaching_standard_needs_a_plan_and_lasts_at_most_six_months() {
    let f = coco();
    let a = answers("connection");
    let mut d = accept_all(ReviewOutcome::ApproachingStandard, &a);
    d.controls[2] = returned("coco-3", "Unsupported servers remain.");
    let p = check_review(&f, "connection", &a, &d).expect_err("no plan");
    assert_eq!(
        p,
        ["an approaching-standard certificate needs the improvement plan it is conditional on"]
    );
    d.improvement_plan = "Replace the servers by March.".to_owned();
    assert_eq!(check_review(&f, "connection", &a, &d), Ok(()));
    assert_eq!(certificate_months(&f, "connection", &d), Some(3));
    d.valid_months = Some(6);
    assert_eq!(check_review(&f, "connection", &a, &d), Ok(()));
    assert_eq!(certificate_months(&f, "connection", &d), Some(6));
    for months in [0, 7, 12] {
        d.valid_months = Some(months);
        let p = check_review(&f, "connection", &a, &d).expect_err("months");
        assert_eq!(p, [format!("valid_months: an approaching-standard certificate lasts 1 to 6 months, not {months}")]);
    }
    d.valid_months = None;
    d.improvement_plan = "p".repeat(4_001);
    assert!(has(
        &check_review(&f, "connection", &a, &d).expect_err("long"),
        "the improvement plan is 4001 characters"
    ));
}

#[test]
fn refusing_needs_reasons() {
    let f = coco();
    let a = answers("connection");
    let mut d = accept_all(ReviewOutcome::Refuse, &a);
    d.valid_months = Some(12);
    let p = check_review(&f, "connection", &a, &d).expect_err("refused");
    assert!(has(&p, "refusing needs the reasons"));
    assert!(has(
        &p,
        "valid_months: a refused submission issues no certificate"
    ));
    assert_eq!(p.len(), 2);
    d.valid_months = None;
    d.reasons = "The boundary firewall is unmanaged.".to_owned();
    assert_eq!(check_review(&f, "connection", &a, &d), Ok(()));
    assert_eq!(certificate_months(&f, "connection", &d), None);
    d.reasons = "r".repeat(4_001);
    let p = check_review(&f, "connection", &a, &d).expect_err("long");
    assert!(
        has(&p, "the text of the reasons is 4001 characters"),
        "{p:?}"
    );
}
