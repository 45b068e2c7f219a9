//! `/ui/services/{id}/edit`: the provider's member-admin edits its listing (title, description,
//! processes and every term) in a form. The form is checked by the same function as
//! `POST /v1/gateway/services` (`crate::catalogue::check_listing`), saved through the same path
//! (`crate::catalogue::save_listing`: the registry, the events trail, a new configuration
//! version, the search index), and a refusal re-shows the form with the GOV.UK error summary,
//! having changed nothing.

use super::pages::{find_service, ServicePath};
use super::render::{render, Failure};
use super::session::{forged_form, Viewer};
use super::views::Layout;
use super::Ui;
use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use psn_api::{ListingDetails, PersonRole, Price, ServiceListing};
use psn_core::names::ServiceId;
use serde::Deserialize;
use std::sync::Arc;

/// One field of the form.
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    pub value: String,
    pub multiline: bool,
    /// For a select: (value, text).
    pub choices: Vec<(&'static str, &'static str)>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "listing_edit.html")]
pub struct ListingEditPage {
    pub layout: Layout,
    pub csrf: String,
    pub service: String,
    pub title: String,
    pub fields: Vec<Field>,
    pub errors: Vec<(&'static str, String)>,
}

/// The form as sent: every field text, every field optional (a missing one is empty).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ListingForm {
    csrf: String,
    title: String,
    description: String,
    processes: String,
    version: String,
    lifecycle: String,
    sunset: String,
    service_type: String,
    who_may_apply: String,
    member_classes: String,
    classification: String,
    contact: String,
    price: String,
    onboarding_terms: String,
    areas: String,
}

/// The value of a select whose options are a serde enum's wire names.
fn choice<T: serde::de::DeserializeOwned>(
    field: &'static str,
    text: &str,
) -> Result<T, (&'static str, String)> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| (field, format!("Choose a {}", field.replace('_', " "))))
}

impl ListingForm {
    /// The form of a stored listing.
    fn of(listing: &ServiceListing) -> Self {
        let d = &listing.details;
        Self {
            csrf: String::new(),
            title: listing.title.clone(),
            description: listing.description.clone(),
            processes: listing.processes.join(" "),
            version: d.version.clone().unwrap_or_default(),
            lifecycle: crate::search::wire_name(&d.lifecycle),
            sunset: d.sunset.map(|s| s.to_string()).unwrap_or_default(),
            service_type: crate::search::wire_name(&d.service_type),
            who_may_apply: crate::search::wire_name(&d.who_may_apply),
            member_classes: d
                .member_classes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            classification: crate::search::wire_name(&d.classification),
            contact: d.contact.clone().unwrap_or_default(),
            price: d.price.to_string(),
            onboarding_terms: d.onboarding_terms.clone(),
            areas: d.areas.join("\n"),
        }
    }

    /// The listing the form describes, or the first field it cannot read and why.
    fn listing(&self, id: &ServiceId) -> Result<ServiceListing, (&'static str, String)> {
        let optional = |text: &str| Some(text.trim().to_owned()).filter(|t| !t.is_empty());
        let sunset = match optional(&self.sunset) {
            None => None,
            Some(day) => Some(
                time::Date::parse(
                    &day,
                    time::macros::format_description!("[year]-[month]-[day]"),
                )
                .map_err(|_| ("sunset", "Enter the sunset date as YYYY-MM-DD".to_owned()))?,
            ),
        };
        let member_classes = self
            .member_classes
            .split_whitespace()
            .map(|c| {
                c.parse().map_err(|_| {
                    (
                        "member_classes",
                        format!("{c:?} is not a member class code"),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let price: Price = self
            .price
            .trim()
            .parse()
            .map_err(|e: String| ("price", e))?;
        Ok(ServiceListing {
            id: id.clone(),
            title: self.title.trim().to_owned(),
            description: self.description.replace("\r\n", "\n").trim().to_owned(),
            processes: self
                .processes
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            details: ListingDetails {
                version: optional(&self.version),
                lifecycle: choice("lifecycle", &self.lifecycle)?,
                sunset,
                service_type: choice("service_type", &self.service_type)?,
                who_may_apply: choice("who_may_apply", &self.who_may_apply)?,
                member_classes,
                classification: choice("classification", &self.classification)?,
                contact: optional(&self.contact),
                price,
                onboarding_terms: self
                    .onboarding_terms
                    .replace("\r\n", "\n")
                    .trim()
                    .to_owned(),
                areas: self
                    .areas
                    .lines()
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect(),
            },
        })
    }
}

fn fields(form: &ListingForm, error: Option<&(&'static str, String)>) -> Vec<Field> {
    let field = |name: &'static str, label, hint, value: &str| Field {
        name,
        label,
        hint,
        value: value.to_owned(),
        multiline: false,
        choices: Vec::new(),
        error: error.filter(|(f, _)| *f == name).map(|(_, m)| m.clone()),
    };
    let text = |name, label, hint, value: &str| Field {
        multiline: true,
        ..field(name, label, hint, value)
    };
    let select = |name, label, hint, value: &str, choices| Field {
        choices,
        ..field(name, label, hint, value)
    };
    vec![
        field("title", "Title", "One line, at most 512 characters", &form.title),
        text("description", "Description", "What it does and for whom, at most 4,096 characters", &form.description),
        field("processes", "Processes", "Process ids separated by spaces, such as lgsl:4 psn:4002; search the catalogue's processes to find them", &form.processes),
        field("version", "Version (optional)", "Your own label, such as 2.1", &form.version),
        select("lifecycle", "Lifecycle", "A deprecated service needs a sunset date", &form.lifecycle, vec![
            ("discovery", "Discovery"), ("alpha", "Alpha"), ("beta", "Beta"), ("live", "Live"),
            ("deprecated", "Deprecated"), ("withdrawn", "Withdrawn"),
        ]),
        field("sunset", "Sunset date (deprecated only)", "YYYY-MM-DD, the last day it answers", &form.sunset),
        select("service_type", "Type", "How consumers exchange data with it", &form.service_type, vec![
            ("rest", "REST"), ("soap", "SOAP"), ("events", "Events"), ("files", "Files"),
        ]),
        select("who_may_apply", "Who may apply", "Member classes needs the classes below", &form.who_may_apply, vec![
            ("any-member", "Any member"), ("member-classes", "Members of some classes"),
            ("by-request", "By invitation"),
        ]),
        field("member_classes", "Member classes (optional)", "Class codes separated by spaces, such as LA NHS", &form.member_classes),
        select("classification", "Classification", "The most sensitive data it carries", &form.classification, vec![
            ("official", "OFFICIAL"), ("official-sensitive", "OFFICIAL-SENSITIVE"),
        ]),
        field("contact", "Contact (optional)", "Your team's email address", &form.contact),
        field("price", "Price", "free, or pounds per unit per interval such as 3.50-4.42/employee/month", &form.price),
        text("onboarding_terms", "Onboarding terms (optional)", "At most 4,000 characters", &form.onboarding_terms),
        text("areas", "Areas served (optional)", "One a line, at most 32", &form.areas),
    ]
}

/// Only the provider's member-admins edit its listings: the network's people see them but do
/// not speak for a member.
fn may_edit(viewer: &Viewer, id: &ServiceId) -> bool {
    viewer.person.role == PersonRole::MemberAdmin
        && viewer.person.member.as_ref() == Some(id.member())
}

fn page(
    viewer: &Viewer,
    id: &ServiceId,
    form: &ListingForm,
    error: Option<(&'static str, String)>,
) -> ListingEditPage {
    ListingEditPage {
        layout: viewer.frame("/ui/services"),
        csrf: viewer.csrf.clone(),
        service: id.to_string(),
        title: form.title.clone(),
        fields: fields(form, error.as_ref()),
        errors: error.into_iter().collect(),
    }
}

/// `GET /ui/services/{id}/edit`.
pub async fn form(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    Path(parts): Path<ServicePath>,
) -> Response {
    let (id, record) = match find_service(&ui, parts).await {
        Ok(found) => found,
        Err(f) => return viewer.fail(f),
    };
    if !may_edit(&viewer, &id) {
        return viewer.fail(Failure::Forbidden);
    }
    let listing = ServiceListing {
        id: id.clone(),
        title: record.title,
        description: record.description,
        processes: record.processes,
        details: record.details,
    };
    render(
        StatusCode::OK,
        &page(&viewer, &id, &ListingForm::of(&listing), None),
    )
}

/// `POST /ui/services/{id}/edit`.
pub async fn save(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    Path(parts): Path<ServicePath>,
    form: Result<Form<ListingForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return viewer.fail(Failure::BadRequest(
            "The form could not be read; nothing was changed.".into(),
        ));
    };
    if !viewer.sent_csrf(&form.csrf) {
        return forged_form();
    }
    let (id, _) = match find_service(&ui, parts).await {
        Ok(found) => found,
        Err(f) => return viewer.fail(f),
    };
    if !may_edit(&viewer, &id) {
        return viewer.fail(Failure::Forbidden);
    }
    let a = &ui.authority;
    let checked = form.listing(&id).and_then(|listing| {
        crate::catalogue::check_listing(&a.processes, &listing).map(|()| listing)
    });
    let listing = match checked {
        Ok(listing) => listing,
        Err(error) => {
            return render(
                StatusCode::BAD_REQUEST,
                &page(&viewer, &id, &form, Some(error)),
            );
        }
    };
    let actor = format!("person:{}", viewer.person.username);
    match crate::catalogue::save_listing(a, &actor, listing).await {
        Ok(_) => Redirect::to(&format!("/ui/services/{id}")).into_response(),
        Err(crate::catalogue::SaveError::Store(e)) => viewer.fail(Failure::from(e)),
        Err(crate::catalogue::SaveError::Publish(_)) => viewer.fail(Failure::Internal(
            "The listing is saved, but publishing the configuration failed; it will be retried."
                .into(),
        )),
    }
}
