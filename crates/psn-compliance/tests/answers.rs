//! A member's answers as saved (check_draft) and submitted (check_submittable), against the
//! shipped Code of Connection.

use psn_api::{Answer, AnswerStatus, AssuranceLevel, Framework, SubmissionDraft};
use psn_compliance::{
    check_answers, check_draft, check_submittable, controls_for, embedded, missing_answers,
    sha256_hex, MAX_ANSWER_TEXT, MAX_EVIDENCE_PER_ANSWER,
};
use time::macros::date;

const TODAY: time::Date = date!(2026 - 12 - 07);

fn coco() -> Framework {
    embedded()
        .expect("shipped frameworks")
        .into_iter()
        .find(|f| f.id == "psn-coco")
        .expect("the Code of Connection")
}

fn met(control: &str) -> Answer {
    Answer {
        control: control.to_owned(),
        status: AnswerStatus::Met,
        improvement_plan: None,
        improvement_due: None,
        reason: None,
        assurance: AssuranceLevel::SelfAsserted,
        certificate_number: None,
        certificate_expiry: None,
        evidence: vec![sha256_hex(control.as_bytes())],
        note: String::new(),
    }
}

fn draft(answers: Vec<Answer>) -> SubmissionDraft {
    SubmissionDraft {
        framework: "psn-coco".to_owned(),
        version: "2026.1".to_owned(),
        answers,
    }
}

fn all(kind: &str) -> Vec<Answer> {
    controls_for(&coco(), kind)
        .into_iter()
        .map(|c| met(&c.id))
        .collect()
}

/// The problems with a draft holding `answer` alone.
fn problems(answer: Answer) -> Vec<String> {
    check_draft(&coco(), "connection", &draft(vec![answer])).expect_err("refused")
}

fn has(problems: &[String], text: &str) -> bool {
    problems.iter().any(|p| p.contains(text))
}

#[test]
fn controls_and_the_task_list_follow_the_kind() {
    let f = coco();
    let ids = |kind| -> Vec<String> {
        controls_for(&f, kind)
            .into_iter()
            .map(|c| c.id.clone())
            .collect()
    };
    let connection: Vec<String> = (1..=9).map(|n| format!("coco-{n}")).collect();
    assert_eq!(ids("connection"), connection);
    let provision: Vec<String> = (1..=10).map(|n| format!("coco-{n}")).collect();
    assert_eq!(ids("service-provision"), provision);
    assert!(ids("nothing").is_empty());

    assert_eq!(missing_answers(&f, "connection", &[]), connection);
    let some = vec![met("coco-2"), met("coco-9"), met("coco-10")];
    let missing = missing_answers(&f, "connection", &some);
    assert_eq!(missing.len(), 7);
    assert!(!missing.contains(&"coco-2".to_owned()) && !missing.contains(&"coco-9".to_owned()));
    assert_eq!(
        missing_answers(&f, "service-provision", &all("service-provision")),
        Vec::<String>::new()
    );
}

#[test]
fn drafts_may_be_incomplete_and_well_formed_answers_pass() {
    let f = coco();
    assert_eq!(check_draft(&f, "connection", &draft(vec![])), Ok(()));
    let mut partly = met("coco-3");
    partly.status = AnswerStatus::PartlyMet;
    partly.improvement_plan =
        Some("Replace the remaining Windows 2012 servers.\r\n\tBy March.".to_owned());
    partly.improvement_due = Some(date!(2027 - 03 - 31));
    let mut na = met("coco-4");
    na.status = AnswerStatus::NotApplicable;
    na.reason = Some("We run no wireless networks.".to_owned());
    na.evidence.clear();
    let mut certified = met("coco-1");
    certified.assurance = AssuranceLevel::ExternallyCertified;
    certified.certificate_number = Some("CE 2026/0042-A.1".to_owned());
    certified.certificate_expiry = Some(date!(2027 - 06 - 30));
    certified.evidence.clear();
    let mut tested = met("coco-2");
    tested.assurance = AssuranceLevel::IndependentlyTested;
    tested.note = "IT health check by an accredited tester, résumé attached ✓".to_owned();
    let answers = vec![partly, na, certified, tested];
    assert_eq!(
        check_draft(&f, "connection", &draft(answers.clone())),
        Ok(())
    );
    assert_eq!(check_answers(&f, "connection", &answers), Ok(()));
}

#[test]
fn a_draft_for_another_framework_or_kind_is_refused() {
    let f = coco();
    let mut other = draft(vec![met("coco-1")]);
    other.framework = "iso-27001".to_owned();
    other.version = "2022".to_owned();
    let p = check_draft(&f, "connection", &other).expect_err("other framework");
    assert_eq!(p.len(), 1);
    assert!(
        has(&p, "\"iso-27001\" version \"2022\"") && has(&p, "psn-coco 2026.1"),
        "{p:?}"
    );

    let p = check_draft(&f, "hosting", &draft(vec![met("coco-1")])).expect_err("kind");
    assert!(
        has(
            &p,
            "issues no certificate kind \"hosting\" (it issues connection, service-provision)"
        ),
        "{p:?}"
    );

    // coco-10 is for service provision only.
    let p = check_draft(&f, "connection", &draft(vec![met("coco-10")])).expect_err("kind mismatch");
    assert!(
        has(
            &p,
            "coco-10: this control does not apply to a connection certificate"
        ),
        "{p:?}"
    );
    assert_eq!(
        check_draft(&f, "service-provision", &draft(vec![met("coco-10")])),
        Ok(())
    );
}

#[test]
fn unknown_duplicate_and_too_many_answers_are_refused() {
    let f = coco();
    let p = check_draft(
        &f,
        "connection",
        &draft(vec![met("coco-1"), met("coco-99"), met("coco-1")]),
    )
    .expect_err("refused");
    assert!(
        has(
            &p,
            "answer 2: \"coco-99\" is not a control of psn-coco 2026.1"
        ),
        "{p:?}"
    );
    assert!(has(&p, "coco-1: answered more than once"), "{p:?}");
    assert_eq!(p.len(), 2, "{p:?}");

    let hostile = format!("../{}", "x".repeat(10_000));
    let p = problems(met(&hostile));
    assert!(p[0].len() < 200, "the echoed id is clipped: {p:?}");

    let many = vec![met("coco-1"); f.controls.len() + 1];
    let p = check_draft(&f, "connection", &draft(many)).expect_err("too many");
    assert_eq!(
        p,
        ["there are 11 answers, but psn-coco 2026.1 has only 10 controls"]
    );
}

#[test]
fn each_status_needs_its_own_fields_and_no_others() {
    let mut a = met("coco-3");
    a.improvement_plan = Some("plan".to_owned());
    a.improvement_due = Some(date!(2027 - 01 - 01));
    a.reason = Some("why".to_owned());
    let p = problems(a);
    assert!(has(&p, "coco-3: a met control takes no improvement plan"));
    assert!(has(&p, "coco-3: a met control takes no improvement date"));
    assert!(has(&p, "coco-3: a met control takes no reason"));
    assert_eq!(p.len(), 3);

    let mut a = met("coco-3");
    a.status = AnswerStatus::PartlyMet;
    a.improvement_plan = Some("   ".to_owned());
    a.reason = Some("why".to_owned());
    let p = problems(a);
    assert!(
        has(&p, "coco-3: a partly met control needs an improvement plan"),
        "{p:?}"
    );
    assert!(has(
        &p,
        "coco-3: a partly met control needs the date it will be met"
    ));
    assert!(has(&p, "coco-3: a partly met control takes no reason"));
    assert_eq!(p.len(), 3);

    let mut a = met("coco-5");
    a.status = AnswerStatus::NotApplicable;
    a.improvement_plan = Some("plan".to_owned());
    a.improvement_due = Some(date!(2027 - 01 - 01));
    let p = problems(a);
    assert!(has(
        &p,
        "coco-5: a control that does not apply needs the reason why"
    ));
    assert!(has(
        &p,
        "coco-5: a control that does not apply takes no improvement plan"
    ));
    assert!(has(
        &p,
        "coco-5: a control that does not apply takes no improvement date"
    ));
    assert_eq!(p.len(), 3);
}

#[test]
fn assurance_fields_are_checked() {
    let mut a = met("coco-1");
    a.assurance = AssuranceLevel::ExternallyCertified;
    assert!(has(
        &problems(a.clone()),
        "coco-1: an externally certified control needs the external certificate's number"
    ));
    for bad in [
        "",
        "   ",
        "CE<script>",
        "CE+ 1",
        "ＣＥ１２",
        "a\u{0}b",
        &"1".repeat(65),
    ] {
        a.certificate_number = Some(bad.to_owned());
        assert!(
            has(&problems(a.clone()), "coco-1: the certificate number"),
            "{bad:?}"
        );
    }
    a.certificate_number = Some("1".repeat(64));
    assert_eq!(check_draft(&coco(), "connection", &draft(vec![a])), Ok(()));

    let mut a = met("coco-1");
    a.assurance = AssuranceLevel::IndependentlyTested;
    a.certificate_number = Some("CE-1".to_owned());
    a.certificate_expiry = Some(date!(2027 - 01 - 01));
    let p = problems(a);
    assert!(has(&p, "coco-1: a certificate number is given only for an externally certified control, not independently-tested"));
    assert!(has(&p, "coco-1: a certificate expiry is given only"));
}

#[test]
fn texts_are_limited_and_free_of_hidden_characters() {
    let mut a = met("coco-2");
    a.note = "x".repeat(MAX_ANSWER_TEXT);
    assert_eq!(
        check_draft(&coco(), "connection", &draft(vec![a.clone()])),
        Ok(())
    );
    a.note = "é".repeat(MAX_ANSWER_TEXT + 1);
    assert!(has(
        &problems(a.clone()),
        "coco-2: the note is 4001 characters long; at most 4000"
    ));
    a.note = "before\0after".to_owned();
    assert!(has(
        &problems(a.clone()),
        "coco-2: the note contains a control character (U+0000)"
    ));
    a.note = "line\rline".to_owned();
    assert!(has(&problems(a.clone()), "U+000D"));
    a.note = "\u{1b}[31mred".to_owned();
    assert!(has(&problems(a.clone()), "control character"));

    let mut a = met("coco-6");
    a.status = AnswerStatus::NotApplicable;
    a.reason = Some("not \u{202e}elbacilppa".to_owned());
    assert!(has(
        &problems(a.clone()),
        "coco-6: the reason contains a character that reverses"
    ));
    a.reason = Some("isolate \u{2066}x\u{2069}".to_owned());
    assert!(has(&problems(a), "U+2066"));

    let mut a = met("coco-6");
    a.status = AnswerStatus::PartlyMet;
    a.improvement_due = Some(date!(2027 - 01 - 01));
    a.improvement_plan = Some("p".repeat(MAX_ANSWER_TEXT + 1));
    assert!(has(
        &problems(a),
        "coco-6: the improvement plan is 4001 characters"
    ));
}

#[test]
fn evidence_references_are_checked() {
    let mut a = met("coco-7");
    let h = sha256_hex(b"one");
    a.evidence = vec![
        h.clone(),
        h.to_uppercase(),
        "abc".to_owned(),
        "../../etc/passwd".to_owned(),
        h.clone(),
    ];
    let p = problems(a);
    assert!(
        has(&p, &format!("coco-7: evidence {h} is attached twice")),
        "{p:?}"
    );
    assert!(
        has(&p, "evidence \"../../etc/passwd\" is not the SHA-256"),
        "{p:?}"
    );
    assert_eq!(p.len(), 4, "{p:?}");

    let mut a = met("coco-7");
    a.evidence = (0..MAX_EVIDENCE_PER_ANSWER)
        .map(|n| sha256_hex(&[n as u8]))
        .collect();
    assert_eq!(
        check_draft(&coco(), "connection", &draft(vec![a.clone()])),
        Ok(())
    );
    a.evidence.push(sha256_hex(b"one more"));
    assert_eq!(
        problems(a),
        ["coco-7: 21 evidence files are attached; at most 20 are allowed"]
    );
}

#[test]
fn all_problems_are_reported_at_once() {
    let mut a = met("coco-8");
    a.status = AnswerStatus::PartlyMet;
    a.evidence.push("nope".to_owned());
    let mut b = met("coco-99");
    b.note = "\0".to_owned();
    let p = check_draft(&coco(), "connection", &draft(vec![a, b])).expect_err("refused");
    assert_eq!(p.len(), 4, "{p:?}");
}

#[test]
fn a_complete_submission_may_be_submitted() {
    let f = coco();
    assert_eq!(
        check_submittable(&f, "connection", &all("connection"), TODAY),
        Ok(())
    );
    assert_eq!(
        check_submittable(&f, "service-provision", &all("service-provision"), TODAY),
        Ok(())
    );
}

#[test]
fn submitting_needs_every_control_answered() {
    let f = coco();
    let mut answers = all("connection");
    answers.retain(|a| a.control != "coco-4" && a.control != "coco-7");
    let p = check_submittable(&f, "connection", &answers, TODAY).expect_err("incomplete");
    assert_eq!(p, ["coco-4: not answered yet", "coco-7: not answered yet"]);
    // A connection submission lacks coco-10 for service provision.
    let p = check_submittable(&f, "service-provision", &all("connection"), TODAY)
        .expect_err("incomplete");
    assert_eq!(p, ["coco-10: not answered yet"]);
    // Submitting rechecks the answers themselves too.
    let mut answers = all("connection");
    answers.push(met("coco-1"));
    let p = check_submittable(&f, "connection", &answers, TODAY).expect_err("duplicate");
    assert!(has(&p, "coco-1: answered more than once"));
    assert!(check_submittable(&f, "hosting", &[], TODAY).is_err());
}

#[test]
fn submitting_checks_dates_and_evidence() {
    let f = coco();
    let mut answers = all("connection");
    answers[2].status = AnswerStatus::PartlyMet;
    answers[2].improvement_plan = Some("Patch by spring.".to_owned());
    answers[2].improvement_due = Some(TODAY);
    answers[0].assurance = AssuranceLevel::ExternallyCertified;
    answers[0].certificate_number = Some("CE-1".to_owned());
    answers[0].certificate_expiry = Some(date!(2026 - 12 - 06));
    answers[1].evidence.clear();
    let p = check_submittable(&f, "connection", &answers, TODAY).expect_err("refused");
    assert!(
        has(
            &p,
            "coco-3: the improvement date 2026-12-07 must be after today (2026-12-07)"
        ),
        "{p:?}"
    );
    assert!(
        has(&p, "coco-1: the external certificate expired on 2026-12-06"),
        "{p:?}"
    );
    assert!(
        has(
            &p,
            "coco-2: a self-asserted control needs at least one evidence file"
        ),
        "{p:?}"
    );
    assert_eq!(p.len(), 3, "{p:?}");

    // The day after is fine, an external certificate expiring today is still current, an
    // externally certified or not applicable control needs no file.
    answers[2].improvement_due = TODAY.next_day();
    answers[0].certificate_expiry = Some(TODAY);
    answers[0].evidence.clear();
    answers[1].status = AnswerStatus::NotApplicable;
    answers[1].reason = Some("No internet gateway of our own.".to_owned());
    assert_eq!(check_submittable(&f, "connection", &answers, TODAY), Ok(()));

    // A partly met, self-asserted control needs evidence too.
    answers[2].evidence.clear();
    let p = check_submittable(&f, "connection", &answers, TODAY).expect_err("refused");
    assert!(
        has(
            &p,
            "coco-3: a self-asserted control needs at least one evidence file"
        ),
        "{p:?}"
    );
}
