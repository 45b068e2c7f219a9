//! Access requests in the web UI (docs/access.md): a member-admin asks for access from a
//! service's page, and the inbox (`/ui/access`) lists the member's outgoing and incoming
//! requests with forms to withdraw, approve (optionally narrower) or decline, and the member's
//! webhook. Member viewers see the same without the forms; operators and assessors see every
//! request. Every form carries the session's token; a rejected form changes nothing and comes
//! back with the GOV.UK error summary. The rules are the API's (`crate::api::access`).

use super::render::{render, Failure};
use super::session::{forged_form, Viewer};
use super::signin::unreadable_form;
use super::Ui;
use crate::api::access as rules;
use crate::api::ApiError;
use crate::store::RequestFilter;
use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use psn_api::{
    AccessApproval, AccessRequestState, AccessRequestView, NewAccessRequest, PersonRole,
};
use psn_core::names::{MemberId, ServiceId};
use serde::Deserialize;
use std::sync::Arc;

/// One request as the inbox shows it.
pub struct RequestLine {
    pub id: String,
    pub subsystem: String,
    pub service: String,
    pub provider: String,
    pub purpose: String,
    pub asked: String,
    pub state: &'static str,
    pub tag_class: &'static str,
    pub created: String,
    pub outcome: String,
    pub pending: bool,
}

fn asked(methods: &[String], path: Option<&str>) -> String {
    let methods = if methods.is_empty() {
        "every method".to_owned()
    } else {
        methods.join(", ")
    };
    format!("{methods} on {}", path.unwrap_or("every path"))
}

fn line(r: &AccessRequestView) -> RequestLine {
    let tag_class = match r.state {
        AccessRequestState::Pending => "govuk-tag--blue",
        AccessRequestState::Approved => "govuk-tag--green",
        AccessRequestState::Declined => "govuk-tag--red",
        AccessRequestState::Withdrawn => "govuk-tag--grey",
    };
    let outcome = match r.state {
        AccessRequestState::Pending => String::new(),
        AccessRequestState::Approved => format!(
            "Approved for {} (grants {})",
            asked(
                r.approved_methods.as_deref().unwrap_or_default(),
                r.approved_path.as_deref()
            ),
            r.grants.join(", ")
        ),
        AccessRequestState::Declined => {
            format!("Declined: {}", r.reason.as_deref().unwrap_or_default())
        }
        AccessRequestState::Withdrawn => "Withdrawn by the requester".to_owned(),
    };
    RequestLine {
        id: r.id.clone(),
        subsystem: r.subsystem.to_string(),
        service: r.service.to_string(),
        provider: r.provider.to_string(),
        purpose: r.purpose.clone(),
        asked: asked(&r.methods, r.path.as_deref()),
        state: r.state.as_str(),
        tag_class,
        created: super::pages::when(r.created_at),
        outcome,
        pending: r.state == AccessRequestState::Pending,
    }
}

/// A webhook delivery as the inbox shows it.
pub struct DeliveryLine {
    pub event: String,
    pub request: String,
    pub state: String,
    pub attempts: u32,
    pub error: String,
    pub when: String,
}

/// A rejected form: which field, and what to do.
pub struct FormError {
    pub field: String,
    pub message: String,
}

/// `/ui/access`.
#[derive(Template)]
#[template(path = "access.html")]
pub struct InboxPage {
    pub layout: super::views::Layout,
    pub csrf: String,
    pub everyone: bool,
    pub may_act: bool,
    pub incoming: Vec<RequestLine>,
    pub outgoing: Vec<RequestLine>,
    pub webhook: Option<String>,
    pub new_secret: Option<String>,
    pub deliveries: Vec<DeliveryLine>,
    pub error: Option<FormError>,
}

/// `/ui/access/new`.
#[derive(Template)]
#[template(path = "access_new.html")]
pub struct NewRequestPage {
    pub layout: super::views::Layout,
    pub csrf: String,
    pub service: String,
    pub title: String,
    pub subsystems: Vec<(String, bool)>,
    pub purpose: String,
    pub methods: String,
    pub path: String,
    pub error: Option<FormError>,
}

/// The member a member-admin acts for; `Forbidden` for everyone else.
fn acting_member(viewer: &Viewer) -> Result<MemberId, Failure> {
    match (&viewer.person.role, &viewer.person.member) {
        (PersonRole::MemberAdmin, Some(m)) => Ok(m.clone()),
        _ => Err(Failure::Forbidden),
    }
}

fn actor(viewer: &Viewer) -> String {
    format!("person:{}", viewer.person.username)
}

/// Splits a methods field (`GET, POST` or `GET POST`) into methods.
fn methods_of(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .collect()
}

fn optional(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// An API refusal as a form error on `field`, or a page failure for a fault.
fn refusal(e: ApiError, field: String) -> Result<(StatusCode, FormError), Failure> {
    let status = StatusCode::from_u16(e.0.status).unwrap_or(StatusCode::BAD_REQUEST);
    if status.is_server_error() {
        return Err(Failure::Internal(e.0.detail.unwrap_or_default()));
    }
    let mut message = e.0.detail.unwrap_or_else(|| e.0.title.clone());
    if let Some(first) = message.get(..1) {
        message = format!(
            "{}{}",
            first.to_uppercase(),
            message.get(1..).unwrap_or_default()
        );
    }
    Ok((status, FormError { field, message }))
}

/// Most webhook deliveries the inbox lists.
const DELIVERIES_SHOWN: i64 = 20;

async fn inbox_page(
    ui: &Ui,
    viewer: &Viewer,
    error: Option<FormError>,
    new_secret: Option<String>,
) -> Result<InboxPage, Failure> {
    let store = &ui.authority.store;
    let member = viewer.person.member.clone();
    let everyone = member.is_none();
    let all = store
        .access_requests(&RequestFilter {
            member: member.clone(),
            ..RequestFilter::default()
        })
        .await?;
    let (incoming, outgoing) = match &member {
        Some(m) => (
            all.iter().filter(|r| &r.provider == m).map(line).collect(),
            all.iter().filter(|r| &r.requester == m).map(line).collect(),
        ),
        None => (all.iter().map(line).collect(), Vec::new()),
    };
    let (webhook, deliveries) = match &member {
        Some(m) => (
            store.webhook(m).await?,
            store
                .deliveries_of(m, DELIVERIES_SHOWN)
                .await?
                .into_iter()
                .map(|d| DeliveryLine {
                    event: d.event,
                    request: d.request_id,
                    state: d.state,
                    attempts: d.attempts,
                    error: d.last_error.unwrap_or_default(),
                    when: super::pages::when(d.updated_at),
                })
                .collect(),
        ),
        None => (None, Vec::new()),
    };
    Ok(InboxPage {
        layout: viewer.frame("/ui/access"),
        csrf: viewer.csrf.clone(),
        everyone,
        may_act: acting_member(viewer).is_ok(),
        incoming,
        outgoing,
        webhook,
        new_secret,
        deliveries,
        error,
    })
}

fn show(viewer: &Viewer, status: StatusCode, page: Result<InboxPage, Failure>) -> Response {
    match page {
        Ok(page) => render(status, &page),
        Err(f) => viewer.fail(f),
    }
}

/// `GET /ui/access`: the inbox.
pub async fn inbox(State(ui): State<Arc<Ui>>, viewer: Viewer) -> Response {
    let page = inbox_page(&ui, &viewer, None, None).await;
    show(&viewer, StatusCode::OK, page)
}

/// Re-renders the inbox with `e` on `field`, or the error page for a fault.
async fn rejected(ui: &Ui, viewer: &Viewer, e: ApiError, field: String) -> Response {
    match refusal(e, field) {
        Ok((status, error)) => {
            let page = inbox_page(ui, viewer, Some(error), None).await;
            show(viewer, status, page)
        }
        Err(f) => viewer.fail(f),
    }
}

fn done() -> Response {
    Redirect::to("/ui/access").into_response()
}

/// The approval form: the session token and optional narrowing.
#[derive(Deserialize)]
pub struct ApproveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    methods: String,
    #[serde(default)]
    path: String,
}

/// `POST /ui/access/{id}/approve`.
pub async fn approve(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    Path(id): Path<String>,
    form: Result<Form<ApproveForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return unreadable_form(&e),
    };
    if !viewer.sent_csrf(&form.csrf) {
        return forged_form();
    }
    let member = match acting_member(&viewer) {
        Ok(m) => m,
        Err(f) => return viewer.fail(f),
    };
    let approval = AccessApproval {
        methods: optional(&form.methods).map(|m| methods_of(&m)),
        path: optional(&form.path),
    };
    let a = &ui.authority;
    match rules::approve(a, &actor(&viewer), &member, &id, &approval).await {
        Ok(_) => done(),
        Err(e) => rejected(&ui, &viewer, e, format!("methods-{id}")).await,
    }
}

/// The decline form.
#[derive(Deserialize)]
pub struct DeclineForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// `POST /ui/access/{id}/decline`.
pub async fn decline(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    Path(id): Path<String>,
    form: Result<Form<DeclineForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return unreadable_form(&e),
    };
    if !viewer.sent_csrf(&form.csrf) {
        return forged_form();
    }
    let member = match acting_member(&viewer) {
        Ok(m) => m,
        Err(f) => return viewer.fail(f),
    };
    let a = &ui.authority;
    match rules::decline(a, &actor(&viewer), &member, &id, &form.reason).await {
        Ok(_) => done(),
        Err(e) => rejected(&ui, &viewer, e, format!("reason-{id}")).await,
    }
}

/// `POST /ui/access/{id}/withdraw`.
pub async fn withdraw(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    Path(id): Path<String>,
    form: Result<Form<super::signin::TokenForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return unreadable_form(&e),
    };
    if !viewer.sent_csrf(&form.csrf) {
        return forged_form();
    }
    let member = match acting_member(&viewer) {
        Ok(m) => m,
        Err(f) => return viewer.fail(f),
    };
    match rules::withdraw(&ui.authority, &actor(&viewer), &member, &id).await {
        Ok(_) => done(),
        Err(e) => rejected(&ui, &viewer, e, format!("withdraw-{id}")).await,
    }
}

/// The webhook form.
#[derive(Deserialize)]
pub struct WebhookForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    url: String,
}

/// `POST /ui/access/webhook`: sets the member's webhook and shows its secret, once.
pub async fn set_webhook(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    form: Result<Form<WebhookForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return unreadable_form(&e),
    };
    if !viewer.sent_csrf(&form.csrf) {
        return forged_form();
    }
    let member = match acting_member(&viewer) {
        Ok(m) => m,
        Err(f) => return viewer.fail(f),
    };
    let url = form.url.trim();
    match rules::put_webhook(&ui.authority, &actor(&viewer), &member, url).await {
        Ok(set) => {
            let page = inbox_page(&ui, &viewer, None, set.secret).await;
            show(&viewer, StatusCode::OK, page)
        }
        Err(e) => rejected(&ui, &viewer, e, "webhook-url".into()).await,
    }
}

/// `POST /ui/access/webhook/remove`.
pub async fn remove_webhook(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    form: Result<Form<super::signin::TokenForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return unreadable_form(&e),
    };
    if !viewer.sent_csrf(&form.csrf) {
        return forged_form();
    }
    let member = match acting_member(&viewer) {
        Ok(m) => m,
        Err(f) => return viewer.fail(f),
    };
    match ui
        .authority
        .store
        .remove_webhook(&actor(&viewer), &member)
        .await
    {
        Ok(_) => done(),
        Err(e) => rejected(&ui, &viewer, e.into(), "webhook-url".into()).await,
    }
}

/// `?service=` of the request form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceQuery {
    service: String,
}

/// The request form's fields.
#[derive(Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    subsystem: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    methods: String,
    #[serde(default)]
    path: String,
}

/// The form for asking for `service`, with what was entered and the error, if any.
async fn request_page(
    ui: &Ui,
    viewer: &Viewer,
    member: &MemberId,
    service: &str,
    form: Option<&RequestForm>,
    error: Option<FormError>,
) -> Result<NewRequestPage, Failure> {
    let id: ServiceId = service
        .parse()
        .map_err(|_| Failure::NotFound(format!("{service} is not a service id.")))?;
    let store = &ui.authority.store;
    let record = store
        .service(&id)
        .await?
        .ok_or_else(|| Failure::NotFound(format!("There is no service {id}.")))?;
    if id.member() == member {
        return Err(Failure::BadRequest(format!(
            "{id} is your own member's service: grant access to it instead of requesting it."
        )));
    }
    let chosen = form.map(|f| f.subsystem.as_str()).unwrap_or_default();
    let subsystems = store
        .subsystems_of(member)
        .await?
        .into_iter()
        .map(|s| {
            let s = s.to_string();
            let selected = s == chosen;
            (s, selected)
        })
        .collect();
    Ok(NewRequestPage {
        layout: viewer.frame("/ui/access"),
        csrf: viewer.csrf.clone(),
        service: id.to_string(),
        title: record.title,
        subsystems,
        purpose: form.map(|f| f.purpose.clone()).unwrap_or_default(),
        methods: form.map(|f| f.methods.clone()).unwrap_or_default(),
        path: form.map(|f| f.path.clone()).unwrap_or_default(),
        error,
    })
}

/// `GET /ui/access/new?service=`: the request form (member-admins of other members).
pub async fn new_form(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    query: Result<Query<ServiceQuery>, QueryRejection>,
) -> Response {
    let page = async {
        let Query(q) = query.map_err(|e| Failure::BadRequest(e.body_text()))?;
        let member = acting_member(&viewer)?;
        request_page(&ui, &viewer, &member, &q.service, None, None).await
    };
    match page.await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.fail(f),
    }
}

/// Which field an API refusal of a new request is about, for the error summary's link.
fn request_field(detail: &str) -> &'static str {
    if detail.contains("purpose") {
        "purpose"
    } else if detail.contains("method") {
        "methods"
    } else if detail.contains("path") {
        "path"
    } else {
        "subsystem"
    }
}

/// `POST /ui/access/new`: makes the request and sends the browser to the inbox.
pub async fn create(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    form: Result<Form<RequestForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(e) => return unreadable_form(&e),
    };
    if !viewer.sent_csrf(&form.csrf) {
        return forged_form();
    }
    let member = match acting_member(&viewer) {
        Ok(m) => m,
        Err(f) => return viewer.fail(f),
    };
    let parsed: (
        Result<psn_core::names::SubsystemId, _>,
        Result<ServiceId, _>,
    ) = (form.subsystem.parse(), form.service.parse());
    let outcome = match parsed {
        (Ok(subsystem), Ok(service)) => {
            let new = NewAccessRequest {
                subsystem,
                service,
                purpose: form.purpose.clone(),
                methods: methods_of(&form.methods),
                path: optional(&form.path),
            };
            rules::create(&ui.authority, &actor(&viewer), &member, new).await
        }
        (Err(_), _) => Err(ApiError(Box::new(psn_core::problem::Problem::new(
            psn_core::problem::ProblemType::InvalidRequest,
            "choose which of your subsystems would call the service",
        )))),
        (_, Err(_)) => {
            return viewer.fail(Failure::NotFound(format!(
                "{} is not a service id.",
                form.service
            )))
        }
    };
    let e = match outcome {
        Ok(_) => return done(),
        Err(e) => e,
    };
    let field = request_field(e.0.detail.as_deref().unwrap_or_default()).to_owned();
    let (status, error) = match refusal(e, field) {
        Ok(r) => r,
        Err(f) => return viewer.fail(f),
    };
    match request_page(
        &ui,
        &viewer,
        &member,
        &form.service,
        Some(&form),
        Some(error),
    )
    .await
    {
        Ok(page) => render(status, &page),
        Err(f) => viewer.fail(f),
    }
}
