//! The member's compliance pages (docs/ui.md "Compliance pages"): the task list of each
//! certificate kind's controls, the form answering one control, and the evidence files.
//!
//! Every rule lives in the compliance facade (`crate::compliance`); these pages only turn a
//! signed-in person into an [`Actor`], forms into its calls, and its refusals into GOV.UK error
//! summaries. Forms post, and a saved answer redirects back to the task list (POST-redirect-GET)
//! so reloading never saves twice.

use super::compliance_review::{certificate_line, CertificateLine};
use super::render::{render, Failure};
use super::session::{forged_form, Viewer};
use super::signin::unreadable_form;
use super::Ui;
use crate::compliance::{self as facade, Actor, ComplianceError};
use askama::Template;
use axum::body::Bytes;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use psn_api::{
    Answer, AnswerStatus, AssuranceLevel, ControlVerdict, EvidenceView, Framework, PersonRole,
    SubmissionDraft, SubmissionView,
};
use psn_core::names::MemberId;
use std::sync::Arc;

/// Largest control form: three free texts of at most 4,000 characters each, percent-encoded
/// (up to nine bytes a character), and a few short fields.
pub const CONTROL_FORM_LIMIT: usize = 128 * 1024;
/// Largest upload request: one evidence file at its limit, plus the multipart framing and the
/// form token.
pub const EVIDENCE_FORM_LIMIT: usize = psn_compliance::MAX_EVIDENCE_BYTES as usize + 64 * 1024;

/// Who a signed-in person is to the compliance facade; recorded in the events trail as
/// `person:{username}`.
pub fn actor(viewer: &Viewer) -> Actor {
    let name = format!("person:{}", viewer.person.username);
    match (viewer.person.role, viewer.person.member.clone()) {
        (PersonRole::MemberAdmin, Some(member)) => Actor::Member {
            name,
            member,
            can_change: true,
        },
        (PersonRole::MemberViewer, Some(member)) => Actor::Member {
            name,
            member,
            can_change: false,
        },
        (PersonRole::Assessor, member) => Actor::Assessor { name, member },
        // The operator, and (never stored: `check_member` refuses it) a member role without a
        // member, which then may read nothing of any member's.
        _ => Actor::Operator(name),
    }
}

/// The member whose compliance a member's person works on; the network's people use the
/// review pages instead.
fn own_member(viewer: &Viewer) -> Result<MemberId, Failure> {
    match (viewer.person.role, &viewer.person.member) {
        (PersonRole::MemberAdmin | PersonRole::MemberViewer, Some(m)) => Ok(m.clone()),
        _ => Err(Failure::Forbidden),
    }
}

/// A facade refusal that is not about a field: the error page it deserves.
pub fn failure(e: ComplianceError) -> Failure {
    match e {
        ComplianceError::NotFound(m) => Failure::NotFound(m),
        ComplianceError::Forbidden(_) => Failure::Forbidden,
        ComplianceError::Store(s) => Failure::Store(s),
        other => Failure::BadRequest(other.to_string()),
    }
}

/// One problem in an error summary: the field it links to, and what to do.
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: sentence(&message.into()),
        }
    }

    /// Whether it is about `field` (templates mark that field in error).
    pub fn is(&self, field: &str) -> bool {
        self.field == field
    }
}

/// `message` with its first letter in capitals, as error summaries write it.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The facade's problems as form problems on the fields they name; faults become pages.
/// `control` is the control the page is about: the facade starts its problems with the id,
/// which the page already shows.
pub fn problems(
    e: ComplianceError,
    field_of: fn(&str) -> &'static str,
    control: &str,
) -> Result<Vec<Problem>, Failure> {
    let messages = match e {
        ComplianceError::Invalid(all) => all,
        ComplianceError::Conflict(m) | ComplianceError::Forbidden(m) => vec![m],
        ComplianceError::Evidence(refusal) => vec![refusal.to_string()],
        other => return Err(failure(other)),
    };
    let prefix = format!("{control}: ");
    Ok(messages
        .iter()
        .map(|m| {
            let text = m.strip_prefix(&prefix).unwrap_or(m);
            Problem::new(field_of(text), text)
        })
        .collect())
}

// ----------------------------------------------------------------------------------------
// The task list

/// One control as a task.
pub struct Task {
    pub id: String,
    pub title: String,
    pub href: String,
    /// `Not yet started`, `Completed` or `Returned by assessor`.
    pub status: &'static str,
    /// The tag's colour class; empty for `Completed`, which the pattern shows as plain text.
    pub tag: &'static str,
    /// The assessor's comment when returned.
    pub comment: String,
}

/// One certificate kind's section.
pub struct KindSection {
    pub kind: String,
    pub title: String,
    pub purpose: String,
    pub framework: String,
    /// The submission's state for people, e.g. `Draft`.
    pub state: String,
    pub tasks: Vec<Task>,
    pub done: usize,
    /// Whether every control is answered and the submission is still the member's to change.
    pub submittable: bool,
}

/// `/ui/compliance`.
#[derive(Template)]
#[template(path = "compliance_tasks.html")]
pub struct TasksPage {
    pub layout: super::views::Layout,
    pub csrf: String,
    pub member: String,
    pub may_change: bool,
    pub sections: Vec<KindSection>,
    pub certificates: Vec<CertificateLine>,
    pub reminders: Vec<String>,
    pub problems: Vec<Problem>,
}

/// A submission state for people.
pub fn state_text(state: psn_api::SubmissionState) -> &'static str {
    use psn_api::SubmissionState as S;
    match state {
        S::Draft => "In progress",
        S::Submitted => "Submitted: waiting for an assessor",
        S::Returned => "Returned by the assessor: revise and submit again",
        S::Certified => "Certified",
        S::Refused => "Refused",
    }
}

/// The member's latest submission of `kind`: its open one, else its newest decided or waiting
/// one.
async fn latest_submission(
    ui: &Ui,
    actor: &Actor,
    member: &MemberId,
    kind: &str,
) -> Result<Option<SubmissionView>, Failure> {
    let a = &ui.authority;
    if let Some(open) = facade::open_submission(a, actor, member, kind)
        .await
        .map_err(failure)?
    {
        return Ok(Some(open));
    }
    Ok(facade::submissions(a, actor, Some(member), None)
        .await
        .map_err(failure)?
        .into_iter()
        .filter(|s| s.kind == kind)
        .max_by_key(|s| s.updated_at))
}

/// The framework a submission answers: its own version, or the newest for a new one.
fn framework_of<'a>(
    ui: &'a Ui,
    kind: &str,
    submission: Option<&SubmissionView>,
) -> Option<&'a Framework> {
    let c = &ui.authority.compliance;
    match submission.filter(|s| s.state.is_open()) {
        Some(s) => c.framework(&s.framework, &s.version),
        None => c.framework_for(kind),
    }
}

fn task(kind: &str, control: &psn_api::Control, submission: Option<&SubmissionView>) -> Task {
    let answered = submission.is_some_and(|s| s.answers.iter().any(|a| a.control == control.id));
    let returned = submission
        .filter(|s| s.state == psn_api::SubmissionState::Returned)
        .and_then(|s| s.reviews.last())
        .and_then(|r| {
            r.decision
                .controls
                .iter()
                .find(|c| c.control == control.id && c.verdict == ControlVerdict::Returned)
        });
    let (status, tag, comment) = match (returned, answered) {
        (Some(r), _) => ("Returned by assessor", "govuk-tag--red", r.comment.clone()),
        (None, true) => ("Completed", "", String::new()),
        (None, false) => ("Not yet started", "govuk-tag--blue", String::new()),
    };
    Task {
        id: control.id.clone(),
        title: control.title.clone(),
        href: format!("/ui/compliance/{kind}/{}", control.id),
        status,
        tag,
        comment,
    }
}

async fn kind_section(
    ui: &Ui,
    actor: &Actor,
    member: &MemberId,
    kind: &psn_api::CertificateKind,
) -> Result<KindSection, Failure> {
    let submission = latest_submission(ui, actor, member, &kind.kind).await?;
    let framework = framework_of(ui, &kind.kind, submission.as_ref()).ok_or_else(|| {
        Failure::Internal(format!("no framework issues {} certificates", kind.kind))
    })?;
    let tasks: Vec<Task> = psn_compliance::controls_for(framework, &kind.kind)
        .into_iter()
        .map(|c| task(&kind.kind, c, submission.as_ref()))
        .collect();
    let open = submission.as_ref().filter(|s| s.state.is_open());
    let submittable = open.is_some_and(|s| {
        psn_compliance::missing_answers(framework, &kind.kind, &s.answers).is_empty()
    });
    Ok(KindSection {
        kind: kind.kind.clone(),
        title: kind.title.clone(),
        purpose: kind.purpose.clone(),
        framework: format!("{} {}", framework.title, framework.version),
        state: submission
            .as_ref()
            .map_or("Not started", |s| state_text(s.state))
            .to_owned(),
        done: tasks.iter().filter(|t| t.status == "Completed").count(),
        tasks,
        submittable,
    })
}

async fn tasks_page(
    ui: &Ui,
    viewer: &Viewer,
    problems: Vec<Problem>,
) -> Result<TasksPage, Failure> {
    let member = own_member(viewer)?;
    let actor = actor(viewer);
    let a = &ui.authority;
    let mut sections = Vec::new();
    for kind in a.compliance.kinds() {
        sections.push(kind_section(ui, &actor, &member, kind).await?);
    }
    let status = facade::status(a, Some(&member), None)
        .await
        .map_err(failure)?;
    let mine = status.members.into_iter().find(|m| m.member == member);
    let (certificates, reminders) = match mine {
        Some(m) => (
            m.certificates.iter().map(certificate_line).collect(),
            m.reminders,
        ),
        None => (Vec::new(), Vec::new()),
    };
    Ok(TasksPage {
        layout: viewer.frame("/ui/compliance"),
        csrf: viewer.csrf.clone(),
        member: member.to_string(),
        may_change: matches!(
            actor,
            Actor::Member {
                can_change: true,
                ..
            }
        ),
        sections,
        certificates,
        reminders,
        problems,
    })
}

/// `GET /ui/compliance`: the member's task lists; the network's people go to the review list.
pub async fn tasks(State(ui): State<Arc<Ui>>, viewer: Viewer) -> Response {
    if own_member(&viewer).is_err() {
        return Redirect::to("/ui/compliance/review").into_response();
    }
    match tasks_page(&ui, &viewer, Vec::new()).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.fail(f),
    }
}

/// `POST /ui/compliance/{kind}/submit`: submits the open submission for review.
pub async fn submit(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    Path(kind): Path<String>,
    form: Result<axum::Form<super::signin::TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = match form {
        Ok(axum::Form(f)) => f,
        Err(e) => return unreadable_form(&e),
    };
    if !viewer.sent_csrf(&form.csrf) {
        return forged_form();
    }
    if let Err(f) = own_member(&viewer) {
        return viewer.fail(f);
    }
    if ui.authority.compliance.framework_for(&kind).is_none() {
        return viewer.fail(Failure::NotFound(
            "The network issues no certificate of that kind.".into(),
        ));
    }
    match facade::submit(&ui.authority, &actor(&viewer), None, &kind).await {
        Ok(_) => Redirect::to("/ui/compliance").into_response(),
        Err(e) => match problems(e, |_| "submit", "") {
            Ok(mut found) => {
                // Linked to the section's own button (the kind is one the network issues).
                for p in &mut found {
                    p.field = format!("submit-{kind}");
                }
                match tasks_page(&ui, &viewer, found).await {
                    Ok(page) => render(StatusCode::BAD_REQUEST, &page),
                    Err(f) => viewer.fail(f),
                }
            }
            Err(f) => viewer.fail(f),
        },
    }
}

// ----------------------------------------------------------------------------------------
// One control's answer

/// A GOV.UK date input's three fields, as typed.
#[derive(Default, Clone)]
pub struct DateFields {
    pub day: String,
    pub month: String,
    pub year: String,
}

impl DateFields {
    fn of(date: Option<time::Date>) -> Self {
        date.map_or_else(Self::default, |d| Self {
            day: d.day().to_string(),
            month: u8::from(d.month()).to_string(),
            year: d.year().to_string(),
        })
    }

    fn is_empty(&self) -> bool {
        self.day.trim().is_empty() && self.month.trim().is_empty() && self.year.trim().is_empty()
    }

    /// The date, none when all three are empty, or what is wrong with it.
    fn date(&self, what: &str) -> Result<Option<time::Date>, String> {
        if self.is_empty() {
            return Ok(None);
        }
        let bad = || format!("{what} must be a real date, for example 27 3 2027");
        let day: u8 = self.day.trim().parse().map_err(|_| bad())?;
        let month: u8 = self.month.trim().parse().map_err(|_| bad())?;
        let year: i32 = self.year.trim().parse().map_err(|_| bad())?;
        if !(2000..=2200).contains(&year) {
            return Err(format!("{what} must have a year from 2000 to 2200"));
        }
        let month = time::Month::try_from(month).map_err(|_| bad())?;
        time::Date::from_calendar_date(year, month, day)
            .map(Some)
            .map_err(|_| bad())
    }
}

/// The control form's fields, as typed (kept to show again beside the errors).
#[derive(Default)]
pub struct AnswerFields {
    pub status: String,
    pub improvement_plan: String,
    pub due: DateFields,
    pub reason: String,
    pub assurance: String,
    pub certificate_number: String,
    pub expiry: DateFields,
    pub note: String,
    pub evidence: Vec<String>,
}

impl AnswerFields {
    fn of(answer: &Answer) -> Self {
        Self {
            status: answer.status.as_str().to_owned(),
            improvement_plan: answer.improvement_plan.clone().unwrap_or_default(),
            due: DateFields::of(answer.improvement_due),
            reason: answer.reason.clone().unwrap_or_default(),
            assurance: answer.assurance.as_str().to_owned(),
            certificate_number: answer.certificate_number.clone().unwrap_or_default(),
            expiry: DateFields::of(answer.certificate_expiry),
            note: answer.note.clone(),
            evidence: answer.evidence.clone(),
        }
    }

    /// Reads a posted form (repeated `evidence` keys are the ticked files); the token too.
    fn parse(body: &[u8]) -> (Self, String) {
        let mut fields = Self::default();
        let mut csrf = String::new();
        for (key, value) in form_urlencoded::parse(body) {
            let value = value.into_owned();
            match key.as_ref() {
                "csrf" => csrf = value,
                "status" => fields.status = value,
                "improvement-plan" => fields.improvement_plan = value,
                "due-day" => fields.due.day = value,
                "due-month" => fields.due.month = value,
                "due-year" => fields.due.year = value,
                "reason" => fields.reason = value,
                "assurance" => fields.assurance = value,
                "certificate-number" => fields.certificate_number = value,
                "expiry-day" => fields.expiry.day = value,
                "expiry-month" => fields.expiry.month = value,
                "expiry-year" => fields.expiry.year = value,
                "note" => fields.note = value,
                "evidence" => fields.evidence.push(value),
                _ => {}
            }
        }
        (fields, csrf)
    }

    /// The answer to `control`, or what the page must ask for first. Fields that do not belong
    /// to the chosen status or assurance are dropped: without JavaScript every field shows, and
    /// what was typed into a hidden branch is not part of the answer.
    fn answer(&self, control: &str) -> Result<Answer, Vec<Problem>> {
        let mut found = Vec::new();
        let status = match self.status.as_str() {
            "met" => Some(AnswerStatus::Met),
            "partly-met" => Some(AnswerStatus::PartlyMet),
            "not-applicable" => Some(AnswerStatus::NotApplicable),
            _ => {
                found.push(Problem::new("status", "Select whether the control is met"));
                None
            }
        };
        let assurance = match self.assurance.as_str() {
            "self-asserted" => Some(AssuranceLevel::SelfAsserted),
            "independently-tested" => Some(AssuranceLevel::IndependentlyTested),
            "externally-certified" => Some(AssuranceLevel::ExternallyCertified),
            _ => {
                found.push(Problem::new(
                    "assurance",
                    "Select how sure anyone can be that it is met",
                ));
                None
            }
        };
        let partly = status == Some(AnswerStatus::PartlyMet);
        let certified = assurance == Some(AssuranceLevel::ExternallyCertified);
        let due = if partly {
            self.due
                .date("The date it will be met")
                .unwrap_or_else(|m| {
                    found.push(Problem::new("due-day", m));
                    None
                })
        } else {
            None
        };
        let expiry = if certified {
            self.expiry
                .date("The certificate's expiry")
                .unwrap_or_else(|m| {
                    found.push(Problem::new("expiry-day", m));
                    None
                })
        } else {
            None
        };
        let (Some(status), Some(assurance), true) = (status, assurance, found.is_empty()) else {
            return Err(found);
        };
        let typed =
            |keep: bool, text: &str| (keep && !text.trim().is_empty()).then(|| text.to_owned());
        Ok(Answer {
            control: control.to_owned(),
            status,
            improvement_plan: typed(partly, &self.improvement_plan),
            improvement_due: due,
            reason: typed(status == AnswerStatus::NotApplicable, &self.reason),
            assurance,
            certificate_number: typed(certified, self.certificate_number.trim()),
            certificate_expiry: expiry,
            evidence: self.evidence.clone(),
            note: self.note.trim().to_owned(),
        })
    }
}

/// Which field of the control form a facade problem is about, for the summary's link.
fn answer_field(message: &str) -> &'static str {
    if message.contains("improvement plan") {
        "improvement-plan"
    } else if message.contains("improvement date") || message.contains("improvement_due") {
        "due-day"
    } else if message.contains("reason") {
        "reason"
    } else if message.contains("certificate number") || message.contains("certificate's number") {
        "certificate-number"
    } else if message.contains("certificate expiry") {
        "expiry-day"
    } else if message.contains("the note") {
        "note"
    } else if message.contains("evidence") {
        "evidence"
    } else {
        "status"
    }
}

/// An evidence file as a checkbox.
pub struct EvidenceChoice {
    pub sha256: String,
    pub name: String,
    pub size: String,
    pub checked: bool,
}

/// `/ui/compliance/{kind}/{control}`.
#[derive(Template)]
#[template(path = "compliance_control.html")]
pub struct ControlPage {
    pub layout: super::views::Layout,
    pub csrf: String,
    pub kind: String,
    pub kind_title: String,
    pub control: psn_api::Control,
    pub may_change: bool,
    pub fields: AnswerFields,
    pub files: Vec<EvidenceChoice>,
    pub problems: Vec<Problem>,
}

impl ControlPage {
    /// Whether a problem is about `field`, to mark its form group.
    pub fn wrong(&self, field: impl AsRef<str>) -> bool {
        self.problems.iter().any(|p| p.is(field.as_ref()))
    }

    /// The problem about `field`, if any.
    pub fn problem(&self, field: impl AsRef<str>) -> Option<&Problem> {
        self.problems.iter().find(|p| p.is(field.as_ref()))
    }
}

/// What a control's page is about: its kind and the control, both known to the framework the
/// member answers.
struct ControlContext {
    member: MemberId,
    actor: Actor,
    kind: psn_api::CertificateKind,
    framework: Framework,
    control: psn_api::Control,
    open: Option<SubmissionView>,
}

async fn control_context(
    ui: &Ui,
    viewer: &Viewer,
    kind: &str,
    control: &str,
) -> Result<ControlContext, Failure> {
    let member = own_member(viewer)?;
    let actor = actor(viewer);
    let a = &ui.authority;
    let unknown = || Failure::NotFound("The network's framework has no such control.".into());
    let kind_of = a
        .compliance
        .kinds()
        .into_iter()
        .find(|k| k.kind == kind)
        .cloned()
        .ok_or_else(unknown)?;
    let open = facade::open_submission(a, &actor, &member, kind)
        .await
        .map_err(failure)?;
    let framework = framework_of(ui, kind, open.as_ref())
        .cloned()
        .ok_or_else(unknown)?;
    let control = psn_compliance::controls_for(&framework, kind)
        .into_iter()
        .find(|c| c.id == control)
        .cloned()
        .ok_or_else(unknown)?;
    Ok(ControlContext {
        member,
        actor,
        kind: kind_of,
        framework,
        control,
        open,
    })
}

async fn control_page(
    ui: &Ui,
    viewer: &Viewer,
    cx: ControlContext,
    fields: Option<AnswerFields>,
    problems: Vec<Problem>,
) -> Result<ControlPage, Failure> {
    let fields = fields.unwrap_or_else(|| {
        cx.open
            .as_ref()
            .and_then(|s| s.answers.iter().find(|a| a.control == cx.control.id))
            .map(AnswerFields::of)
            .unwrap_or_default()
    });
    let list = facade::evidence(&ui.authority, &cx.actor, &cx.member)
        .await
        .map_err(failure)?;
    let files = list
        .evidence
        .into_iter()
        .map(|e| EvidenceChoice {
            checked: fields.evidence.contains(&e.sha256),
            size: size(e.bytes),
            sha256: e.sha256,
            name: e.name,
        })
        .collect();
    Ok(ControlPage {
        layout: viewer.frame("/ui/compliance"),
        csrf: viewer.csrf.clone(),
        kind: cx.kind.kind,
        kind_title: cx.kind.title,
        control: cx.control,
        may_change: matches!(
            cx.actor,
            Actor::Member {
                can_change: true,
                ..
            }
        ),
        fields,
        files,
        problems,
    })
}

/// `GET /ui/compliance/{kind}/{control}`.
pub async fn control_form(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    Path((kind, control)): Path<(String, String)>,
) -> Response {
    let page = async {
        let cx = control_context(&ui, &viewer, &kind, &control).await?;
        control_page(&ui, &viewer, cx, None, Vec::new()).await
    };
    match page.await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.fail(f),
    }
}

/// The member's draft with `answer` in place of its earlier answer to the control, in the
/// framework's order.
fn draft_with(cx: &ControlContext, answer: Answer) -> SubmissionDraft {
    let mut answers: Vec<Answer> = cx
        .open
        .as_ref()
        .map(|s| s.answers.clone())
        .unwrap_or_default();
    answers.retain(|a| a.control != answer.control);
    answers.push(answer);
    let order = |id: &str| cx.framework.controls.iter().position(|c| c.id == id);
    answers.sort_by_key(|a| order(&a.control));
    SubmissionDraft {
        framework: cx.framework.id.clone(),
        version: cx.framework.version.clone(),
        answers,
    }
}

/// `POST /ui/compliance/{kind}/{control}`: saves the answer and goes back to the task list.
pub async fn save_control(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    Path((kind, control)): Path<(String, String)>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return super::render::error_page(
                None,
                StatusCode::PAYLOAD_TOO_LARGE,
                "The form was too large",
                "What you entered is longer than this service accepts. Nothing was changed.".into(),
            )
        }
        Err(_) => return viewer.fail(Failure::BadRequest("The form could not be read.".into())),
    };
    let (fields, csrf) = AnswerFields::parse(&body);
    if !viewer.sent_csrf(&csrf) {
        return forged_form();
    }
    let cx = match control_context(&ui, &viewer, &kind, &control).await {
        Ok(cx) => cx,
        Err(f) => return viewer.fail(f),
    };
    let refused = match fields.answer(&cx.control.id) {
        Ok(answer) => {
            let draft = draft_with(&cx, answer);
            match facade::save(&ui.authority, &cx.actor, None, &kind, &draft).await {
                Ok(_) => return Redirect::to("/ui/compliance").into_response(),
                Err(e) => match problems(e, answer_field, &cx.control.id) {
                    Ok(found) => found,
                    Err(f) => return viewer.fail(f),
                },
            }
        }
        Err(found) => found,
    };
    match control_page(&ui, &viewer, cx, Some(fields), refused).await {
        Ok(page) => render(StatusCode::BAD_REQUEST, &page),
        Err(f) => viewer.fail(f),
    }
}

// ----------------------------------------------------------------------------------------
// Evidence files

/// A size for people.
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} bytes"),
        b if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// An evidence file in the list.
pub struct EvidenceLine {
    pub name: String,
    pub href: String,
    pub media_type: String,
    pub size: String,
    pub uploaded: String,
}

/// A member's evidence file as a line with its download link.
pub fn evidence_line(member: &MemberId, e: &EvidenceView) -> EvidenceLine {
    EvidenceLine {
        name: e.name.clone(),
        href: format!("/ui/compliance/evidence/{member}/{}", e.sha256),
        media_type: e.media_type.clone(),
        size: size(e.bytes),
        uploaded: super::pages::when(e.uploaded_at),
    }
}

/// `/ui/compliance/evidence`.
#[derive(Template)]
#[template(path = "compliance_evidence.html")]
pub struct EvidencePage {
    pub layout: super::views::Layout,
    pub csrf: String,
    pub may_change: bool,
    pub files: Vec<EvidenceLine>,
    pub used: String,
    pub quota: String,
    pub uploaded: Option<String>,
    pub problems: Vec<Problem>,
}

async fn evidence_page(
    ui: &Ui,
    viewer: &Viewer,
    uploaded: Option<String>,
    problems: Vec<Problem>,
) -> Result<EvidencePage, Failure> {
    let member = own_member(viewer)?;
    let actor = actor(viewer);
    let list = facade::evidence(&ui.authority, &actor, &member)
        .await
        .map_err(failure)?;
    Ok(EvidencePage {
        layout: viewer.frame("/ui/compliance"),
        csrf: viewer.csrf.clone(),
        may_change: matches!(
            actor,
            Actor::Member {
                can_change: true,
                ..
            }
        ),
        files: list
            .evidence
            .iter()
            .map(|e| evidence_line(&member, e))
            .collect(),
        used: size(list.bytes),
        quota: size(list.quota),
        uploaded,
        problems,
    })
}

fn show_evidence(
    viewer: &Viewer,
    status: StatusCode,
    page: Result<EvidencePage, Failure>,
) -> Response {
    match page {
        Ok(page) => render(status, &page),
        Err(f) => viewer.fail(f),
    }
}

/// `GET /ui/compliance/evidence`.
pub async fn evidence(State(ui): State<Arc<Ui>>, viewer: Viewer) -> Response {
    let page = evidence_page(&ui, &viewer, None, Vec::new()).await;
    show_evidence(&viewer, StatusCode::OK, page)
}

/// An upload as the browser sent it.
#[derive(Default)]
struct Upload {
    csrf: String,
    file: Option<(String, Option<String>, Bytes)>,
}

/// Why an upload could not be read.
enum Unread {
    /// Something the person can fix (too large, two files): shown on the form.
    Problem(Problem),
    /// Not a form this page sent.
    Malformed,
}

/// Reads the multipart form: the token and exactly one file.
async fn read_upload(mut multipart: Multipart) -> Result<Upload, Unread> {
    let unreadable = |status: StatusCode| {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            Unread::Problem(Problem::new(
                "file",
                format!(
                    "The file is larger than the limit of {} (10 MiB)",
                    size(psn_compliance::MAX_EVIDENCE_BYTES)
                ),
            ))
        } else {
            Unread::Malformed
        }
    };
    let mut upload = Upload::default();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(upload),
            Err(e) => return Err(unreadable(e.status())),
        };
        let name = field.name().map(str::to_owned);
        match name.as_deref() {
            Some("csrf") => {
                upload.csrf = field.text().await.map_err(|e| unreadable(e.status()))?;
            }
            Some("file") => {
                if upload.file.is_some() {
                    return Err(Unread::Problem(Problem::new(
                        "file",
                        "Choose one file at a time",
                    )));
                }
                let name = field.file_name().unwrap_or_default().to_owned();
                let declared = field.content_type().map(str::to_owned);
                let bytes = field.bytes().await.map_err(|e| unreadable(e.status()))?;
                upload.file = Some((name, declared, bytes));
            }
            _ => {}
        }
    }
}

/// `POST /ui/compliance/evidence`: stores one file, or says why not and stores nothing.
pub async fn upload(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let multipart = match multipart {
        Ok(m) => m,
        Err(_) => {
            return viewer.fail(Failure::BadRequest(
                "The upload was not sent as a file form. Nothing was stored.".into(),
            ))
        }
    };
    let upload = match read_upload(multipart).await {
        Ok(u) => u,
        // An unreadable body carries no token to check; nothing was stored either way.
        Err(Unread::Problem(problem)) => {
            let page = evidence_page(&ui, &viewer, None, vec![problem]).await;
            return show_evidence(&viewer, StatusCode::BAD_REQUEST, page);
        }
        Err(Unread::Malformed) => {
            return super::render::error_page(
                None,
                StatusCode::BAD_REQUEST,
                "The form could not be read",
                "The form was not sent as this service expects. Nothing was stored.".into(),
            )
        }
    };
    if !viewer.sent_csrf(&upload.csrf) {
        return forged_form();
    }
    if let Err(f) = own_member(&viewer) {
        return viewer.fail(f);
    }
    let Some((name, declared, bytes)) = upload.file.filter(|(name, _, _)| !name.is_empty()) else {
        let page = evidence_page(
            &ui,
            &viewer,
            None,
            vec![Problem::new("file", "Choose a file to upload")],
        )
        .await;
        return show_evidence(&viewer, StatusCode::BAD_REQUEST, page);
    };
    let stored = facade::upload_evidence(
        &ui.authority,
        &actor(&viewer),
        None,
        &name,
        declared.as_deref(),
        &bytes,
    )
    .await;
    let (status, page) = match stored {
        Ok(e) => (
            StatusCode::OK,
            evidence_page(&ui, &viewer, Some(e.name), Vec::new()).await,
        ),
        Err(e) => match problems(e, |_| "file", "") {
            Ok(found) => (
                StatusCode::BAD_REQUEST,
                evidence_page(&ui, &viewer, None, found).await,
            ),
            Err(f) => return viewer.fail(f),
        },
    };
    show_evidence(&viewer, status, page)
}

/// `GET /ui/compliance/evidence/{network}/{class}/{code}/{sha256}`: one file, to download (the
/// member's own people, the network's people).
pub async fn download(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    Path((network, class, code, sha256)): Path<(String, String, String, String)>,
) -> Response {
    let Ok(member) = format!("{network}/{class}/{code}").parse::<MemberId>() else {
        return viewer.fail(Failure::NotFound("There is no such member.".into()));
    };
    match facade::evidence_file(&ui.authority, &actor(&viewer), &member, &sha256).await {
        Ok((view, content)) => {
            // The name was checked at upload to be a plain file name; quotes are dropped anyway
            // so the header cannot be broken out of.
            let name: String = view
                .name
                .chars()
                .filter(|c| *c != '"' && *c != '\\')
                .collect();
            let disposition = format!("attachment; filename=\"{name}\"");
            match (
                axum::http::HeaderValue::from_str(&view.media_type),
                axum::http::HeaderValue::from_str(&disposition),
            ) {
                (Ok(media_type), Ok(disposition)) => (
                    [
                        (axum::http::header::CONTENT_TYPE, media_type),
                        (axum::http::header::CONTENT_DISPOSITION, disposition),
                    ],
                    content,
                )
                    .into_response(),
                _ => viewer.fail(Failure::Internal(
                    "an evidence file's name is not a header value".into(),
                )),
            }
        }
        Err(e) => viewer.fail(failure(e)),
    }
}
