//! A member's answers to the controls of a framework, checked when saved and when submitted.
//!
//! A member answers the controls that apply to the certificate kind it applies for, a few at a
//! time: each save (`PUT /v1/gateway/compliance/submissions/{kind}`) is checked by
//! [`check_draft`], which refuses answers that contradict themselves (a met control with an
//! improvement plan, a partly met one without) but allows controls still unanswered. Submitting
//! for assessment is checked by [`check_submittable`]: every control answered, dates still in
//! the future, evidence attached where the member only asserts a control is met. The authority
//! stores what passes; the assessor then reviews it (see `review`).
//!
//! Every problem found is reported, each naming the control and the field, so a member can fix
//! them all at once.

use crate::text::{check_free_text, clip, is_blank};
use psn_api::{Answer, AnswerStatus, AssuranceLevel, Control, Framework, SubmissionDraft};
use std::collections::BTreeSet;

/// Longest improvement plan, reason or note in an answer, characters.
pub const MAX_ANSWER_TEXT: usize = 4_000;
/// Most evidence files one answer may refer to.
pub const MAX_EVIDENCE_PER_ANSWER: usize = 20;
/// Longest external certificate number, characters.
pub const MAX_CERTIFICATE_NUMBER: usize = 64;

/// The controls of `framework` that apply to certificate kind `kind`, in framework order
/// (empty when the framework issues no such kind).
pub fn controls_for<'a>(framework: &'a Framework, kind: &str) -> Vec<&'a Control> {
    framework
        .controls
        .iter()
        .filter(|c| c.kinds.iter().any(|k| k == kind))
        .collect()
}

/// The ids of the controls of kind `kind` that `answers` do not answer yet, in framework order:
/// the member's task list, and what stops a submission.
pub fn missing_answers(framework: &Framework, kind: &str, answers: &[Answer]) -> Vec<String> {
    let answered: BTreeSet<&str> = answers.iter().map(|a| a.control.as_str()).collect();
    controls_for(framework, kind)
        .into_iter()
        .filter(|c| !answered.contains(c.id.as_str()))
        .map(|c| c.id.clone())
        .collect()
}

/// Checks a member's saved answers for certificate kind `kind`; they may be incomplete.
///
/// Refuses a draft for another framework or version, a kind the framework does not issue, and
/// answers to unknown or inapplicable controls, duplicates, and answers whose fields contradict
/// their status or assurance (see [`check_answers`]). Every problem is reported.
pub fn check_draft(
    framework: &Framework,
    kind: &str,
    draft: &SubmissionDraft,
) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    if draft.framework != framework.id || draft.version != framework.version {
        problems.push(format!(
            "the answers are for framework {:?} version {:?}, but this submission is assessed against {} {}",
            clip(&draft.framework),
            clip(&draft.version),
            framework.id,
            framework.version
        ));
    }
    problems.extend(answer_problems(framework, kind, &draft.answers));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Checks a set of answers for kind `kind` on their own (what [`check_draft`] checks, apart
/// from the framework's id and version): the kind is issued by the framework; at most one
/// answer per control of the framework; each control exists, applies to the kind and is
/// answered once; status and assurance fields are consistent; texts, certificate numbers and
/// evidence references are well formed.
pub fn check_answers(
    framework: &Framework,
    kind: &str,
    answers: &[Answer],
) -> Result<(), Vec<String>> {
    let problems = answer_problems(framework, kind, answers);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Checks that answers for kind `kind` may be submitted for assessment on `today`.
///
/// Everything [`check_answers`] checks, plus: every control of the kind is answered; a partly
/// met control's improvement date is after `today`; an external certificate's expiry, when
/// given, is not before `today`; a met or partly met control the member only self-asserts has
/// at least one evidence file, unless the framework expects no evidence for it.
pub fn check_submittable(
    framework: &Framework,
    kind: &str,
    answers: &[Answer],
    today: time::Date,
) -> Result<(), Vec<String>> {
    let mut problems = answer_problems(framework, kind, answers);
    for id in missing_answers(framework, kind, answers) {
        problems.push(format!("{id}: not answered yet"));
    }
    // An oversized list was reported once above; unknown controls were reported there too and
    // are skipped here.
    if answers.len() <= framework.controls.len() {
        for answer in answers {
            let Some(control) = framework.controls.iter().find(|c| c.id == answer.control) else {
                continue;
            };
            let id = &control.id;
            if answer.status == AnswerStatus::PartlyMet {
                if let Some(due) = answer.improvement_due {
                    if due <= today {
                        problems.push(format!(
                            "{id}: the improvement date {due} must be after today ({today})"
                        ));
                    }
                }
            }
            if answer.assurance == AssuranceLevel::ExternallyCertified {
                if let Some(expiry) = answer.certificate_expiry {
                    if expiry < today {
                        problems.push(format!(
                            "{id}: the external certificate expired on {expiry}; give a current one or choose another assurance level"
                        ));
                    }
                }
            }
            if answer.assurance == AssuranceLevel::SelfAsserted
                && answer.status != AnswerStatus::NotApplicable
                && answer.evidence.is_empty()
                && !control.evidence.is_empty()
            {
                problems.push(format!(
                    "{id}: a self-asserted control needs at least one evidence file ({})",
                    control.evidence.join("; ")
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Every problem with `answers` for kind `kind`.
fn answer_problems(framework: &Framework, kind: &str, answers: &[Answer]) -> Vec<String> {
    let mut problems = Vec::new();
    let kind_known = framework.kinds.iter().any(|k| k.kind == kind);
    if !kind_known {
        let issued: Vec<&str> = framework.kinds.iter().map(|k| k.kind.as_str()).collect();
        problems.push(format!(
            "{} {} issues no certificate kind {:?} (it issues {})",
            framework.id,
            framework.version,
            clip(kind),
            issued.join(", ")
        ));
    }
    let max_answers = framework.controls.len();
    if answers.len() > max_answers {
        // Too many to be a real submission: say so once rather than list each.
        problems.push(format!(
            "there are {} answers, but {} {} has only {max_answers} controls",
            answers.len(),
            framework.id,
            framework.version
        ));
        return problems;
    }
    let mut answered = BTreeSet::new();
    for (n, answer) in answers.iter().enumerate() {
        let Some(control) = framework.controls.iter().find(|c| c.id == answer.control) else {
            problems.push(format!(
                "answer {}: {:?} is not a control of {} {}",
                n + 1,
                clip(&answer.control),
                framework.id,
                framework.version
            ));
            continue;
        };
        let id = control.id.as_str();
        if kind_known && !control.kinds.iter().any(|k| k == kind) {
            problems.push(format!(
                "{id}: this control does not apply to a {kind} certificate (it applies to {})",
                control.kinds.join(", ")
            ));
        }
        if !answered.insert(id) {
            problems.push(format!("{id}: answered more than once"));
        }
        check_answer(id, answer, &mut problems);
    }
    problems
}

/// The problems with one answer's own fields.
fn check_answer(id: &str, a: &Answer, problems: &mut Vec<String>) {
    let plan = a.improvement_plan.as_deref();
    let reason = a.reason.as_deref();
    match a.status {
        AnswerStatus::Met => {
            if plan.is_some() {
                problems.push(format!("{id}: a met control takes no improvement plan"));
            }
            if a.improvement_due.is_some() {
                problems.push(format!("{id}: a met control takes no improvement date"));
            }
            if reason.is_some() {
                problems.push(format!(
                    "{id}: a met control takes no reason for not applying"
                ));
            }
        }
        AnswerStatus::PartlyMet => {
            if is_blank(plan) {
                problems.push(format!(
                    "{id}: a partly met control needs an improvement plan"
                ));
            }
            if a.improvement_due.is_none() {
                problems.push(format!(
                    "{id}: a partly met control needs the date it will be met (improvement_due)"
                ));
            }
            if reason.is_some() {
                problems.push(format!(
                    "{id}: a partly met control takes no reason for not applying"
                ));
            }
        }
        AnswerStatus::NotApplicable => {
            if is_blank(reason) {
                problems.push(format!(
                    "{id}: a control that does not apply needs the reason why"
                ));
            }
            if plan.is_some() {
                problems.push(format!(
                    "{id}: a control that does not apply takes no improvement plan"
                ));
            }
            if a.improvement_due.is_some() {
                problems.push(format!(
                    "{id}: a control that does not apply takes no improvement date"
                ));
            }
        }
    }
    match a.assurance {
        AssuranceLevel::ExternallyCertified => match a.certificate_number.as_deref() {
            None => problems.push(format!(
                "{id}: an externally certified control needs the external certificate's number"
            )),
            Some(number) if !is_certificate_number(number) => problems.push(format!(
                "{id}: the certificate number {:?} must be 1 to {MAX_CERTIFICATE_NUMBER} letters, digits, spaces, '-', '/' or '.'",
                clip(number)
            )),
            Some(_) => {}
        },
        level => {
            if a.certificate_number.is_some() {
                problems.push(format!(
                    "{id}: a certificate number is given only for an externally certified control, not {}",
                    level.as_str()
                ));
            }
            if a.certificate_expiry.is_some() {
                problems.push(format!(
                    "{id}: a certificate expiry is given only for an externally certified control, not {}",
                    level.as_str()
                ));
            }
        }
    }
    if let Some(plan) = plan {
        check_free_text(
            &format!("{id}: the improvement plan"),
            plan,
            MAX_ANSWER_TEXT,
            problems,
        );
    }
    if let Some(reason) = reason {
        check_free_text(
            &format!("{id}: the reason"),
            reason,
            MAX_ANSWER_TEXT,
            problems,
        );
    }
    check_free_text(
        &format!("{id}: the note"),
        &a.note,
        MAX_ANSWER_TEXT,
        problems,
    );
    if a.evidence.len() > MAX_EVIDENCE_PER_ANSWER {
        problems.push(format!(
            "{id}: {} evidence files are attached; at most {MAX_EVIDENCE_PER_ANSWER} are allowed",
            a.evidence.len()
        ));
        return;
    }
    let mut seen = BTreeSet::new();
    for e in &a.evidence {
        if !is_sha256_hex(e) {
            problems.push(format!(
                "{id}: evidence {:?} is not the SHA-256 of an uploaded file (64 lowercase hex characters)",
                clip(e)
            ));
        } else if !seen.insert(e.as_str()) {
            problems.push(format!("{id}: evidence {e} is attached twice"));
        }
    }
}

/// 1 to 64 of ASCII letters, digits, `-`, `/`, `.` and space, not all spaces.
fn is_certificate_number(n: &str) -> bool {
    !n.trim().is_empty()
        && n.len() <= MAX_CERTIFICATE_NUMBER
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'.' | b' '))
}

/// 64 lowercase hex characters: a SHA-256 as [`crate::sha256_hex`] writes it.
pub(crate) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
