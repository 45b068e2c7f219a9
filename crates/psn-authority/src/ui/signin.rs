//! Sign-in and sign-out. A wrong password counts against the account (locked for
//! `LOCKOUT` after `MAX_ACCOUNT_FAILURES` in a row) and against the source address
//! (`throttle`); a right one starts a new session whose token the browser never chose.

use super::render::{error_page, layout, render, Failure};
use super::session::{
    cookie, forged_form, random_token, same_token, set_cookie, Viewer, SESSION_COOKIE,
    SESSION_LIFETIME, SIGN_IN_COOKIE,
};
use super::views::SignInPage;
use super::{password, RemoteAddr, Ui};
use crate::store::{FailedSignIn, NewSession, SignInRecord};
use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use psn_api::{PersonView, MAX_USERNAME};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// Consecutive wrong passwords that lock an account.
pub const MAX_ACCOUNT_FAILURES: u64 = 5;
/// How long a locked account stays locked (an operator's password reset unlocks it at once).
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);

/// What the sign-in form sends. Missing fields are empty, and refused as such.
#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

/// A form that carries only its token (sign-out, a provider's sign-in button).
#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    pub csrf: String,
}

/// The error page for a form body that could not be read (too large, wrong type, malformed).
pub fn unreadable_form(e: &FormRejection) -> Response {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        error_page(
            None,
            StatusCode::PAYLOAD_TOO_LARGE,
            "The form was too large",
            "What you entered is longer than this service accepts. Nothing was changed.".into(),
        )
    } else {
        error_page(
            None,
            StatusCode::BAD_REQUEST,
            "The form could not be read",
            "The form was not sent as this service expects. Nothing was changed.".into(),
        )
    }
}

/// The sign-in page: the password form and a button per OpenID Connect provider.
fn sign_in_page(
    ui: &Ui,
    status: StatusCode,
    csrf: &str,
    username: &str,
    error: Option<String>,
) -> Response {
    let page = SignInPage {
        layout: layout("", None),
        csrf: csrf.to_owned(),
        username: username.to_owned(),
        error,
        providers: ui.authority.oidc.buttons(),
    };
    let mut response = render(status, &page);
    if let Some(policy) = ui.authority.oidc.sign_in_policy() {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

/// `GET /ui/sign-in`: the form, with a fresh form token in its own cookie.
pub async fn form(State(ui): State<Arc<Ui>>) -> Response {
    let token = match random_token() {
        Ok(t) => t,
        Err(f) => return f.into_response(),
    };
    let mut response = sign_in_page(&ui, StatusCode::OK, &token, "", None);
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(SIGN_IN_COOKIE, Some(&token)));
    response
}

/// `POST /ui/sign-in`.
pub async fn submit(
    State(ui): State<Arc<Ui>>,
    Extension(remote): Extension<RemoteAddr>,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(form)) => form,
        Err(e) => return unreadable_form(&e),
    };
    if !sign_in_token_matches(&headers, &form.csrf) {
        return forged_form();
    }
    if let Some(problem) = field_problem(&form) {
        return sign_in_page(&ui, StatusCode::BAD_REQUEST, &form.csrf, "", Some(problem));
    }
    let address = remote.0.ip();
    let (status, message) = if ui.throttle.blocked(address) {
        (StatusCode::TOO_MANY_REQUESTS, ADDRESS_BLOCKED.to_owned())
    } else {
        match check(&ui, &form.username.to_lowercase(), form.password).await {
            Ok(Checked::Right(record)) => {
                let landing = Redirect::to("/ui/").into_response();
                return start(&ui, &headers, &record.person, landing).await;
            }
            Ok(Checked::Wrong(message)) => {
                ui.throttle.fail(address);
                (StatusCode::BAD_REQUEST, message)
            }
            Ok(Checked::Locked(message)) => {
                ui.throttle.fail(address);
                (StatusCode::TOO_MANY_REQUESTS, message)
            }
            Err(f) => return f.into_response(),
        }
    };
    sign_in_page(&ui, status, &form.csrf, &form.username, Some(message))
}

const ADDRESS_BLOCKED: &str = "There have been too many failed sign-in attempts from your \
     network. Wait 15 minutes, then try again";

/// Whether the form sent back the token of its own sign-in cookie (double submit).
pub(super) fn sign_in_token_matches(headers: &HeaderMap, sent: &str) -> bool {
    cookie(headers, SIGN_IN_COOKIE).is_some_and(|expected| same_token(sent, &expected))
}

/// What is wrong with the fields before any account is looked at: too long, or empty.
fn field_problem(form: &SignInForm) -> Option<String> {
    if form.username.len() > MAX_USERNAME || form.password.len() > password::MAX_PASSWORD {
        return Some(format!(
            "Enter a username of at most {MAX_USERNAME} characters and a password of at most {} \
             characters",
            password::MAX_PASSWORD
        ));
    }
    (form.username.is_empty() || form.password.is_empty())
        .then(|| "Enter your username and password".to_owned())
}

/// The outcome of checking a username and password.
enum Checked {
    Right(Box<SignInRecord>),
    Wrong(String),
    Locked(String),
}

const WRONG: &str = "The username or password is not right";

fn locked_message(until: OffsetDateTime) -> String {
    format!(
        "This account is locked after {MAX_ACCOUNT_FAILURES} wrong passwords in a row. Try again \
         after {:02}:{:02} UTC, or ask an operator of the network to reset your password",
        until.hour(),
        until.minute()
    )
}

async fn check(ui: &Ui, username: &str, password: String) -> Result<Checked, Failure> {
    let store = &ui.authority.store;
    // People of an OpenID Connect provider have no password: they are answered as an unknown
    // username is, in the same time, and their account is never locked by it.
    let Some(record) = store
        .person_for_sign_in(username)
        .await?
        .filter(|r| r.person.oidc_provider.is_none())
    else {
        spawn_verify(password, None).await?;
        return Ok(Checked::Wrong(WRONG.into()));
    };
    let now = OffsetDateTime::now_utc();
    if let Some(until) = record.person.locked_until.filter(|u| *u > now) {
        return Ok(Checked::Locked(locked_message(until)));
    }
    if spawn_verify(password, Some(record.password_hash.clone())).await? {
        if record.person.disabled {
            return Ok(Checked::Wrong(
                "This account is disabled. Ask an operator of the network to enable it".into(),
            ));
        }
        return Ok(Checked::Right(Box::new(record)));
    }
    match store
        .record_failed_sign_in(&record.person.id, MAX_ACCOUNT_FAILURES, now + LOCKOUT)
        .await?
    {
        FailedSignIn::Locked(until) => Ok(Checked::Locked(locked_message(until))),
        FailedSignIn::Counted(_) => Ok(Checked::Wrong(WRONG.into())),
    }
}

/// Verifies off the async workers (argon2 takes tens of milliseconds by design).
async fn spawn_verify(password: String, stored: Option<String>) -> Result<bool, Failure> {
    tokio::task::spawn_blocking(move || match stored {
        Some(stored) => password::verify(&password, &stored),
        None => {
            password::verify_nobody(&password);
            false
        }
    })
    .await
    .map_err(|e| Failure::Internal(e.to_string()))
}

/// Starts a session with a new token and answers with `landing` carrying its cookie. A session
/// cookie the browser brought is ended, never adopted, so a planted cookie gives its planter
/// nothing (no session fixation). Password and OpenID Connect sign-in both end here.
pub(super) async fn start(
    ui: &Ui,
    headers: &HeaderMap,
    person: &PersonView,
    mut landing: Response,
) -> Response {
    let (token, csrf) = match (random_token(), random_token()) {
        (Ok(t), Ok(c)) => (t, c),
        (Err(f), _) | (_, Err(f)) => return f.into_response(),
    };
    let token_hash = psn_core::token::secret_hash(&token);
    let replaced = cookie(headers, SESSION_COOKIE).map(|t| psn_core::token::secret_hash(&t));
    let session = NewSession {
        token_hash: &token_hash,
        csrf_token: &csrf,
        expires_at: OffsetDateTime::now_utc() + SESSION_LIFETIME,
    };
    if let Err(e) = ui
        .authority
        .store
        .start_session(person, &session, replaced.as_deref())
        .await
    {
        return Failure::from(e).into_response();
    }
    let h = landing.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, Some(&token)));
    h.append(header::SET_COOKIE, set_cookie(SIGN_IN_COOKIE, None));
    landing
}

/// `POST /ui/sign-out`: ends the session (form token required) and sends the browser to sign in.
pub async fn sign_out(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(form)) => form,
        Err(e) => return unreadable_form(&e),
    };
    if !viewer.sent_csrf(&form.csrf) {
        return forged_form();
    }
    if let Err(e) = ui
        .authority
        .store
        .end_session(&viewer.token_hash, &viewer.person.username)
        .await
    {
        return Failure::from(e).into_response();
    }
    (
        [(header::SET_COOKIE, set_cookie(SESSION_COOKIE, None))],
        Redirect::to("/ui/sign-in"),
    )
        .into_response()
}
