//! An assessor's review of a submitted submission, and how long the certificate it issues
//! lasts.
//!
//! After a member submits (see `answers`), an assessor gives a verdict on every answered
//! control and decides: certify, certify as approaching standard on an improvement plan,
//! return controls to the member to revise, or refuse. [`check_review`] refuses a decision
//! that does not add up before the authority records it or issues anything;
//! [`certificate_months`] and [`add_months`] then give the certificate's expiry.

use crate::text::{check_free_text, clip};
use psn_api::{Answer, ControlVerdict, Framework, ReviewDecision, ReviewOutcome};
use std::collections::{BTreeMap, BTreeSet};

/// Longest comment on one control, characters.
pub const MAX_REVIEW_COMMENT: usize = 2_000;
/// Longest reasons or improvement plan of a decision, characters.
pub const MAX_REVIEW_TEXT: usize = 4_000;
/// Longest an approaching-standard certificate may last, months.
pub const MAX_APPROACHING_MONTHS: u32 = 6;
/// How long an approaching-standard certificate lasts unless the assessor says, months.
pub const DEFAULT_APPROACHING_MONTHS: u32 = 3;

/// Checks an assessor's decision on `answers` (a submission for kind `kind`).
///
/// There must be exactly one verdict for each answered control; a returned control needs a
/// comment. To certify, every control is accepted, with no reasons or improvement plan, and
/// `valid_months` (if given) is 1 to the kind's validity. Approaching standard needs an
/// improvement plan and at most 6 months. Returning needs at least one returned control, and
/// refusing needs reasons; neither gives `valid_months`. Every problem is reported.
pub fn check_review(
    framework: &Framework,
    kind: &str,
    answers: &[Answer],
    decision: &ReviewDecision,
) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let validity = framework
        .kinds
        .iter()
        .find(|k| k.kind == kind)
        .map(|k| k.validity_months);
    if validity.is_none() {
        problems.push(format!(
            "{} {} issues no certificate kind {:?}",
            framework.id,
            framework.version,
            clip(kind)
        ));
    }

    let answered: BTreeSet<&str> = answers.iter().map(|a| a.control.as_str()).collect();
    let most = answered.len().max(framework.controls.len());
    if decision.controls.len() > most {
        problems.push(format!(
            "the review gives {} verdicts, but only {} controls were answered",
            decision.controls.len(),
            answered.len()
        ));
        return Err(problems);
    }
    let mut verdicts: BTreeMap<&str, usize> = BTreeMap::new();
    for review in &decision.controls {
        let id = review.control.as_str();
        let shown = if answered.contains(id) {
            id.to_owned()
        } else {
            format!("{:?}", clip(id))
        };
        let count = verdicts.entry(id).or_insert(0);
        *count += 1;
        if !answered.contains(id) {
            problems.push(format!(
                "{shown}: the review gives a verdict on a control that was not answered"
            ));
        } else if *count == 2 {
            problems.push(format!("{shown}: the review gives more than one verdict"));
        }
        if review.verdict == ControlVerdict::Returned && review.comment.trim().is_empty() {
            problems.push(format!(
                "{shown}: a returned control needs a comment saying what is missing"
            ));
        }
        check_free_text(
            &format!("{shown}: the comment"),
            &review.comment,
            MAX_REVIEW_COMMENT,
            &mut problems,
        );
    }
    for id in &answered {
        if !verdicts.contains_key(id) {
            problems.push(format!("{id}: the review gives no verdict"));
        }
    }

    if !decision.reasons.is_empty() {
        check_free_text(
            "the text of the reasons",
            &decision.reasons,
            MAX_REVIEW_TEXT,
            &mut problems,
        );
    }
    if !decision.improvement_plan.is_empty() {
        check_free_text(
            "the improvement plan",
            &decision.improvement_plan,
            MAX_REVIEW_TEXT,
            &mut problems,
        );
    }
    let returned = decision
        .controls
        .iter()
        .filter(|r| r.verdict == ControlVerdict::Returned)
        .count();
    match decision.outcome {
        ReviewOutcome::Certify => {
            for r in &decision.controls {
                if r.verdict == ControlVerdict::Returned && answered.contains(r.control.as_str()) {
                    problems.push(format!(
                        "{}: returned, so the submission cannot be certified (accept every control, or return the submission)",
                        r.control
                    ));
                }
            }
            if !decision.reasons.is_empty() {
                problems.push("reasons are given only when refusing".to_owned());
            }
            if !decision.improvement_plan.is_empty() {
                problems.push(
                    "an improvement plan is given only for an approaching-standard certificate"
                        .to_owned(),
                );
            }
            if let (Some(months), Some(validity)) = (decision.valid_months, validity) {
                if !(1..=validity).contains(&months) {
                    problems.push(format!(
                        "valid_months: a {kind} certificate lasts 1 to {validity} months, not {months}"
                    ));
                }
            }
        }
        ReviewOutcome::ApproachingStandard => {
            if decision.improvement_plan.trim().is_empty() {
                problems.push(
                    "an approaching-standard certificate needs the improvement plan it is conditional on"
                        .to_owned(),
                );
            }
            if let Some(months) = decision.valid_months {
                if !(1..=MAX_APPROACHING_MONTHS).contains(&months) {
                    problems.push(format!(
                        "valid_months: an approaching-standard certificate lasts 1 to {MAX_APPROACHING_MONTHS} months, not {months}"
                    ));
                }
            }
        }
        ReviewOutcome::Return => {
            if returned == 0 {
                problems.push(
                    "returning a submission needs at least one returned control saying what to revise"
                        .to_owned(),
                );
            }
            if decision.valid_months.is_some() {
                problems
                    .push("valid_months: a returned submission issues no certificate".to_owned());
            }
            if !decision.improvement_plan.is_empty() {
                problems.push(
                    "an improvement plan is given only for an approaching-standard certificate"
                        .to_owned(),
                );
            }
        }
        ReviewOutcome::Refuse => {
            if decision.reasons.trim().is_empty() {
                problems.push("refusing needs the reasons, for the member".to_owned());
            }
            if decision.valid_months.is_some() {
                problems
                    .push("valid_months: a refused submission issues no certificate".to_owned());
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// How many months the certificate `decision` issues lasts: to certify, `valid_months` or the
/// kind's validity; approaching standard, `valid_months` or 3. `None` when the decision issues
/// no certificate (return, refuse) or the framework issues no kind `kind`. The months are
/// clamped to the allowed range, should the decision not have been checked.
pub fn certificate_months(
    framework: &Framework,
    kind: &str,
    decision: &ReviewDecision,
) -> Option<u32> {
    match decision.outcome {
        ReviewOutcome::Certify => {
            let validity = framework
                .kinds
                .iter()
                .find(|k| k.kind == kind)?
                .validity_months
                .max(1);
            Some(decision.valid_months.unwrap_or(validity).clamp(1, validity))
        }
        ReviewOutcome::ApproachingStandard => Some(
            decision
                .valid_months
                .unwrap_or(DEFAULT_APPROACHING_MONTHS)
                .clamp(1, MAX_APPROACHING_MONTHS),
        ),
        ReviewOutcome::Return | ReviewOutcome::Refuse => None,
    }
}

/// `at` moved `months` calendar months later, at the same time of day and offset, on the same
/// day of the month or the last day of a shorter month (31 January + 1 month is 28 or 29
/// February). Past the last date `time` can represent, it gives that date instead.
pub fn add_months(at: time::OffsetDateTime, months: u32) -> time::OffsetDateTime {
    let index = i64::from(at.year()) * 12 + i64::from(u8::from(at.month())) - 1 + i64::from(months);
    let year = index.div_euclid(12);
    let month_number = index.rem_euclid(12) + 1;
    let date = i32::try_from(year)
        .ok()
        .filter(|y| *y <= time::Date::MAX.year())
        .and_then(|y| {
            let month = time::Month::try_from(u8::try_from(month_number).ok()?).ok()?;
            let day = at.day().min(month.length(y));
            time::Date::from_calendar_date(y, month, day).ok()
        })
        .unwrap_or(time::Date::MAX);
    at.replace_date(date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn months_keep_the_day_or_clamp_to_the_month_end() {
        assert_eq!(
            add_months(datetime!(2027-01-31 10:30 UTC), 1),
            datetime!(2027-02-28 10:30 UTC)
        );
        assert_eq!(
            add_months(datetime!(2028-01-31 10:30 UTC), 1),
            datetime!(2028-02-29 10:30 UTC)
        );
        // 29 February of a leap year: a year on is 28 February, four years on is 29 February.
        assert_eq!(
            add_months(datetime!(2028-02-29 00:00 UTC), 12),
            datetime!(2029-02-28 00:00 UTC)
        );
        assert_eq!(
            add_months(datetime!(2028-02-29 00:00 UTC), 48),
            datetime!(2032-02-29 00:00 UTC)
        );
        // December rolls into the next year.
        assert_eq!(
            add_months(datetime!(2026-12-15 23:59:59 +01:00), 1),
            datetime!(2027-01-15 23:59:59 +01:00)
        );
        assert_eq!(
            add_months(datetime!(2026-11-30 08:00 UTC), 3),
            datetime!(2027-02-28 08:00 UTC)
        );
        assert_eq!(
            add_months(datetime!(2026-03-31 08:00 UTC), 1),
            datetime!(2026-04-30 08:00 UTC)
        );
        assert_eq!(
            add_months(datetime!(2026-05-17 08:00 UTC), 0),
            datetime!(2026-05-17 08:00 UTC)
        );
        assert_eq!(
            add_months(datetime!(2026-05-17 08:00 UTC), 36),
            datetime!(2029-05-17 08:00 UTC)
        );
    }

    #[test]
    fn huge_month_counts_saturate_instead_of_panicking() {
        let at = datetime!(2026-05-17 08:00 -05:00);
        let far = add_months(at, u32::MAX);
        assert_eq!(far.date(), time::Date::MAX);
        assert!(far > at);
        // Just short of the end still works exactly.
        let last = time::Date::MAX.year();
        let months = u32::try_from((i64::from(last) - 2026) * 12).expect("fits");
        assert_eq!(add_months(at, months).year(), last);
        assert_eq!(add_months(at, months + 12).date(), time::Date::MAX);
    }
}
