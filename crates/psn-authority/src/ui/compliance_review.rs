//! The network's compliance pages (docs/ui.md "Compliance pages"): the submissions waiting for
//! an assessor, the review of one, and the public status list; and the certificate tags the
//! catalogue shows beside a provider.
//!
//! Whether an assessor may review a submission (never its own member's) is the facade's rule:
//! the page shows its refusal as it shows any other problem with the form.

use super::compliance::{
    actor, evidence_line, failure, problems, state_text, EvidenceLine, Problem,
};
use super::render::{layout, render, Failure};
use super::session::{forged_form, Viewer};
use super::Ui;
use crate::compliance::{self as facade, Actor};
use askama::Template;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use psn_api::{
    CertificateState, ComplianceCertificate, ControlReview, ControlVerdict, PersonRole,
    ReviewDecision, ReviewOutcome, SubmissionState, SubmissionView,
};
use psn_core::names::MemberId;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Largest review form: a comment of at most 2,000 characters per control and two texts of
/// 4,000, percent-encoded (up to nine bytes a character).
pub const REVIEW_FORM_LIMIT: usize = 512 * 1024;
/// The window of the status list's "expiring soon" filter.
const EXPIRING_DAYS: i64 = 30;
/// Longest name filter accepted.
const MAX_FILTER: usize = 200;

/// A certificate's state as a GOV.UK tag, with its expiry.
#[derive(Clone)]
pub struct CertificateLine {
    pub id: String,
    pub kind: String,
    pub state: &'static str,
    pub tag: &'static str,
    pub expires: String,
    pub improvement_plan: String,
}

/// How a certificate shows: its state in words and a tag colour that is never the only cue.
pub fn certificate_line(c: &ComplianceCertificate) -> CertificateLine {
    let (state, tag) = match c.state {
        CertificateState::Valid => ("Valid", "govuk-tag--green"),
        CertificateState::ApproachingStandard => ("Approaching standard", "govuk-tag--yellow"),
        CertificateState::Expired => ("Expired", "govuk-tag--red"),
        CertificateState::Withdrawn => ("Withdrawn", "govuk-tag--red"),
        CertificateState::Superseded => ("Superseded", "govuk-tag--grey"),
    };
    CertificateLine {
        id: c.id.clone(),
        kind: c.kind.clone(),
        state,
        tag,
        expires: c.expires_at.date().to_string(),
        improvement_plan: c.improvement_plan.clone(),
    }
}

/// A provider's latest service-provision certificate, for the catalogue's tags: straight from
/// the store (newest first), so a page of listings costs one query per provider, not the whole
/// status list.
pub async fn provision_tag(ui: &Ui, member: &MemberId) -> Result<Option<CertificateLine>, Failure> {
    Ok(ui
        .authority
        .store
        .certificates(Some(member))
        .await?
        .iter()
        .find(|c| c.kind == facade::SERVICE_PROVISION)
        .map(certificate_line))
}

/// Sets each listing card's provider certificate tag.
pub async fn tag_listings(
    ui: &Ui,
    lines: Vec<&mut super::search::ListingLine>,
) -> Result<(), Failure> {
    let mut known: BTreeMap<String, Option<CertificateLine>> = BTreeMap::new();
    for line in lines {
        if !known.contains_key(&line.provider) {
            let member: MemberId = line.provider.parse().map_err(|_| {
                Failure::Internal(format!(
                    "listing provider {} is no member id",
                    line.provider
                ))
            })?;
            known.insert(line.provider.clone(), provision_tag(ui, &member).await?);
        }
        line.compliance = known.get(&line.provider).cloned().flatten();
    }
    Ok(())
}

/// The network's people review; a member's people are refused (their own member's
/// submissions are on their task list).
fn reviewer(viewer: &Viewer) -> Result<Actor, Failure> {
    match viewer.person.role {
        PersonRole::Operator | PersonRole::Assessor => Ok(actor(viewer)),
        PersonRole::MemberAdmin | PersonRole::MemberViewer => Err(Failure::Forbidden),
    }
}

/// A submission in the waiting list.
pub struct WaitingLine {
    pub id: String,
    pub member: String,
    pub kind: String,
    pub submitted: String,
    /// Whether this assessor may not review it (it belongs to the assessor's own member).
    pub own: bool,
}

/// `/ui/compliance/review`.
#[derive(Template)]
#[template(path = "compliance_review_list.html")]
pub struct ReviewListPage {
    pub layout: super::views::Layout,
    pub waiting: Vec<WaitingLine>,
}

/// `GET /ui/compliance/review`: the submissions waiting for an assessor, oldest first.
pub async fn review_list(State(ui): State<Arc<Ui>>, viewer: Viewer) -> Response {
    let page = async {
        let actor = reviewer(&viewer)?;
        let waiting = facade::submissions(
            &ui.authority,
            &actor,
            None,
            Some(SubmissionState::Submitted),
        )
        .await
        .map_err(failure)?;
        Ok::<_, Failure>(ReviewListPage {
            layout: viewer.frame("/ui/compliance"),
            waiting: waiting
                .into_iter()
                .map(|s| WaitingLine {
                    own: !actor.may_review(&s.member),
                    id: s.id,
                    member: s.member.to_string(),
                    kind: s.kind,
                    submitted: s.submitted_at.map(super::pages::when).unwrap_or_default(),
                })
                .collect(),
        })
    };
    match page.await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.fail(f),
    }
}

/// One answer as the assessor reads it, with the verdict fields.
pub struct AnswerLine {
    pub control: String,
    /// The verdict radios' field name and the first radio's id, `verdict-{control}`.
    pub verdict_field: String,
    pub title: String,
    pub status: &'static str,
    pub detail: Vec<(String, String)>,
    pub evidence: Vec<EvidenceLine>,
    /// The verdict and comment typed (kept beside errors).
    pub verdict: String,
    pub comment: String,
}

/// The decision fields as typed.
#[derive(Default)]
pub struct DecisionFields {
    pub outcome: String,
    pub reasons: String,
    pub improvement_plan: String,
    pub valid_months: String,
    pub verdicts: BTreeMap<String, (String, String)>,
}

impl DecisionFields {
    /// Reads a posted review form (`verdict-{control}` and `comment-{control}` per answer).
    fn parse(body: &[u8]) -> (Self, String) {
        let mut fields = Self::default();
        let mut csrf = String::new();
        for (key, value) in form_urlencoded::parse(body) {
            let value = value.into_owned();
            match key.as_ref() {
                "csrf" => csrf = value,
                "outcome" => fields.outcome = value,
                "reasons" => fields.reasons = value,
                "improvement-plan" => fields.improvement_plan = value,
                "valid-months" => fields.valid_months = value,
                other => {
                    if let Some(control) = other.strip_prefix("verdict-") {
                        fields.verdicts.entry(control.to_owned()).or_default().0 = value;
                    } else if let Some(control) = other.strip_prefix("comment-") {
                        fields.verdicts.entry(control.to_owned()).or_default().1 = value;
                    }
                }
            }
        }
        (fields, csrf)
    }

    /// The decision on `submission`, or what the page must ask for first.
    fn decision(&self, submission: &SubmissionView) -> Result<ReviewDecision, Vec<Problem>> {
        let mut found = Vec::new();
        let outcome = match self.outcome.as_str() {
            "certify" => Some(ReviewOutcome::Certify),
            "approaching-standard" => Some(ReviewOutcome::ApproachingStandard),
            "return" => Some(ReviewOutcome::Return),
            "refuse" => Some(ReviewOutcome::Refuse),
            _ => {
                found.push(Problem::new("outcome", "Select the outcome"));
                None
            }
        };
        let mut controls = Vec::new();
        for answer in &submission.answers {
            let (verdict, comment) = self
                .verdicts
                .get(&answer.control)
                .cloned()
                .unwrap_or_default();
            let verdict = match verdict.as_str() {
                "accepted" => ControlVerdict::Accepted,
                "returned" => ControlVerdict::Returned,
                _ => {
                    found.push(Problem::new(
                        &format!("verdict-{}", answer.control),
                        format!("Select whether {} is accepted or returned", answer.control),
                    ));
                    continue;
                }
            };
            controls.push(ControlReview {
                control: answer.control.clone(),
                verdict,
                comment: comment.trim().to_owned(),
            });
        }
        let valid_months = match self.valid_months.trim() {
            "" => None,
            text => match text.parse::<u32>() {
                Ok(m) if (1..=36).contains(&m) => Some(m),
                _ => {
                    found.push(Problem::new(
                        "valid-months",
                        "Valid for must be a whole number of months from 1 to 36",
                    ));
                    None
                }
            },
        };
        match (outcome, found.is_empty()) {
            (Some(outcome), true) => Ok(ReviewDecision {
                outcome,
                controls,
                reasons: self.reasons.trim().to_owned(),
                improvement_plan: self.improvement_plan.trim().to_owned(),
                valid_months,
            }),
            _ => Err(found),
        }
    }
}

/// Which field of the review form a facade problem is about.
fn decision_field(message: &str) -> &'static str {
    if message.contains("reason") {
        "reasons"
    } else if message.contains("improvement plan") {
        "improvement-plan"
    } else if message.contains("month") {
        "valid-months"
    } else {
        "outcome"
    }
}

/// `/ui/compliance/review/{id}`.
#[derive(Template)]
#[template(path = "compliance_review.html")]
pub struct ReviewPage {
    pub layout: super::views::Layout,
    pub csrf: String,
    pub id: String,
    pub member: String,
    pub kind: String,
    pub framework: String,
    pub state: &'static str,
    pub waiting: bool,
    /// Set when the assessor belongs to the member assessed.
    pub own_member: bool,
    pub answers: Vec<AnswerLine>,
    pub fields: DecisionFields,
    pub problems: Vec<Problem>,
}

impl ReviewPage {
    /// Whether a problem is about `field`.
    pub fn wrong(&self, field: impl AsRef<str>) -> bool {
        self.problems.iter().any(|p| p.is(field.as_ref()))
    }

    /// The problem about `field`, if any.
    pub fn problem(&self, field: impl AsRef<str>) -> Option<&Problem> {
        self.problems.iter().find(|p| p.is(field.as_ref()))
    }
}

fn answer_line(
    ui: &Ui,
    s: &SubmissionView,
    answer: &psn_api::Answer,
    fields: &DecisionFields,
) -> AnswerLine {
    let title = ui
        .authority
        .compliance
        .framework(&s.framework, &s.version)
        .and_then(|f| f.controls.iter().find(|c| c.id == answer.control))
        .map(|c| c.title.clone())
        .unwrap_or_default();
    let status = match answer.status {
        psn_api::AnswerStatus::Met => "Met",
        psn_api::AnswerStatus::PartlyMet => "Partly met",
        psn_api::AnswerStatus::NotApplicable => "Not applicable",
    };
    let mut detail = vec![(
        "Assurance".to_owned(),
        assurance_text(answer.assurance).to_owned(),
    )];
    let mut add = |what: &str, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            detail.push((what.to_owned(), v));
        }
    };
    add("Improvement plan", answer.improvement_plan.clone());
    add(
        "To be met by",
        answer.improvement_due.map(|d| d.to_string()),
    );
    add("Why it does not apply", answer.reason.clone());
    add("Certificate number", answer.certificate_number.clone());
    add(
        "Certificate expires",
        answer.certificate_expiry.map(|d| d.to_string()),
    );
    add("Note", Some(answer.note.clone()));
    let (verdict, comment) = fields
        .verdicts
        .get(&answer.control)
        .cloned()
        .unwrap_or_default();
    AnswerLine {
        control: answer.control.clone(),
        verdict_field: format!("verdict-{}", answer.control),
        title,
        status,
        detail,
        evidence: Vec::new(),
        verdict,
        comment,
    }
}

/// An assurance level for people.
pub fn assurance_text(level: psn_api::AssuranceLevel) -> &'static str {
    match level {
        psn_api::AssuranceLevel::SelfAsserted => "Self-asserted",
        psn_api::AssuranceLevel::IndependentlyTested => "Independently tested",
        psn_api::AssuranceLevel::ExternallyCertified => "Externally certified",
    }
}

async fn review_page(
    ui: &Ui,
    viewer: &Viewer,
    id: &str,
    fields: DecisionFields,
    problems: Vec<Problem>,
) -> Result<ReviewPage, Failure> {
    let actor = reviewer(viewer)?;
    let a = &ui.authority;
    let s = facade::submission(a, &actor, id).await.map_err(failure)?;
    let files = facade::evidence(a, &actor, &s.member)
        .await
        .map_err(failure)?
        .evidence;
    let answers = s
        .answers
        .iter()
        .map(|answer| {
            let mut line = answer_line(ui, &s, answer, &fields);
            line.evidence = files
                .iter()
                .filter(|f| answer.evidence.contains(&f.sha256))
                .map(|f| evidence_line(&s.member, f))
                .collect();
            line
        })
        .collect();
    Ok(ReviewPage {
        layout: viewer.frame("/ui/compliance"),
        csrf: viewer.csrf.clone(),
        id: s.id.clone(),
        member: s.member.to_string(),
        kind: s.kind.clone(),
        framework: format!("{} {}", s.framework, s.version),
        state: state_text(s.state),
        waiting: s.state == SubmissionState::Submitted,
        own_member: !actor.may_review(&s.member),
        answers,
        fields,
        problems,
    })
}

/// `GET /ui/compliance/review/{id}`.
pub async fn review_form(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Response {
    match review_page(&ui, &viewer, &id, DecisionFields::default(), Vec::new()).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.fail(f),
    }
}

/// `POST /ui/compliance/review/{id}`: records the decision and goes to the status list.
pub async fn decide(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return super::render::error_page(
            None,
            StatusCode::PAYLOAD_TOO_LARGE,
            "The form was too large",
            "What you entered is longer than this service accepts. Nothing was changed.".into(),
        );
    };
    let (fields, csrf) = DecisionFields::parse(&body);
    if !viewer.sent_csrf(&csrf) {
        return forged_form();
    }
    let actor = match reviewer(&viewer) {
        Ok(a) => a,
        Err(f) => return viewer.fail(f),
    };
    let a = &ui.authority;
    let submission = match facade::submission(a, &actor, &id).await {
        Ok(s) => s,
        Err(e) => return viewer.fail(failure(e)),
    };
    let refused = match fields.decision(&submission) {
        Ok(decision) => match facade::review(a, &actor, &id, &decision).await {
            Ok(_) => return Redirect::to("/ui/compliance/status").into_response(),
            Err(e) => match problems(e, decision_field, "") {
                Ok(found) => found,
                Err(f) => return viewer.fail(f),
            },
        },
        Err(found) => found,
    };
    match review_page(&ui, &viewer, &id, fields, refused).await {
        Ok(page) => render(StatusCode::BAD_REQUEST, &page),
        Err(f) => viewer.fail(f),
    }
}

/// The status list's filters.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StatusQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    expiring: String,
}

/// One member in the status list.
pub struct StatusLine {
    pub member: String,
    pub name: String,
    pub certificates: Vec<CertificateLine>,
    pub suspended: bool,
}

/// `/ui/compliance/status`.
#[derive(Template)]
#[template(path = "compliance_status.html")]
pub struct StatusPage {
    pub layout: super::views::Layout,
    pub q: String,
    pub expiring: bool,
    pub members: Vec<StatusLine>,
    pub at: String,
}

async fn status_page(
    ui: &Ui,
    viewer: Option<&Viewer>,
    query: StatusQuery,
) -> Result<StatusPage, Failure> {
    let q = query.q.trim().to_owned();
    if q.chars().count() > MAX_FILTER || q.chars().any(char::is_control) {
        return Err(Failure::BadRequest(format!(
            "The member filter must be at most {MAX_FILTER} characters on one line."
        )));
    }
    let expiring = match query.expiring.as_str() {
        "" => false,
        "30" => true,
        _ => {
            return Err(Failure::BadRequest(
                "The expiring filter is 30 (days) or nothing.".into(),
            ))
        }
    };
    let window = expiring.then(|| time::Duration::days(EXPIRING_DAYS));
    let status = facade::status(&ui.authority, None, window)
        .await
        .map_err(failure)?;
    let needle = q.to_lowercase();
    let members = status
        .members
        .into_iter()
        .filter(|m| {
            needle.is_empty()
                || m.name.to_lowercase().contains(&needle)
                || m.member.to_string().to_lowercase().contains(&needle)
        })
        .map(|m| StatusLine {
            member: m.member.to_string(),
            name: m.name,
            certificates: m.certificates.iter().map(certificate_line).collect(),
            suspended: m.suspended_by_compliance,
        })
        .collect();
    Ok(StatusPage {
        layout: match viewer {
            Some(v) => v.frame("/ui/compliance"),
            None => layout("", None),
        },
        q,
        expiring,
        members,
        at: super::pages::when(status.at),
    })
}

/// `GET /ui/compliance/status`: open without signing in, like the accessibility statement:
/// which members hold which certificates is what the network publishes to everyone.
pub async fn status(
    State(ui): State<Arc<Ui>>,
    viewer: Result<Viewer, Response>,
    query: Result<Query<StatusQuery>, QueryRejection>,
) -> Response {
    let viewer = viewer.ok();
    let page = async {
        let Query(q) = query.map_err(|e| Failure::BadRequest(e.body_text()))?;
        status_page(&ui, viewer.as_ref(), q).await
    };
    match page.await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => match &viewer {
            Some(v) => v.fail(f),
            None => f.page(None),
        },
    }
}
