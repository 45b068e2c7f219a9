//! Sessions: a random token in a `__Host-` cookie (Secure, HttpOnly, SameSite=Strict, Path=/),
//! stored only as its hash, with a form token every POST of the session must send back.

use super::render::{error_page, Failure};
use super::Ui;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use psn_api::{PersonRole, PersonView};
use psn_core::names::MemberId;
use std::sync::Arc;
use std::time::Duration;

/// The session cookie. `__Host-` makes browsers refuse it unless Secure, Path=/ and host-only.
pub const SESSION_COOKIE: &str = "__Host-psn-session";
/// The sign-in form's own token cookie (double submit: no session exists yet to hold one).
pub const SIGN_IN_COOKIE: &str = "__Host-psn-sign-in";
/// How long a session lasts from sign-in, active or not.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// Longest cookie value accepted; tokens are 43 characters.
const MAX_TOKEN: usize = 64;

/// The value of cookie `name` in the request, if present and plausible as a token.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= MAX_TOKEN)
}

/// A `Set-Cookie` value for a token cookie; `None` deletes the cookie.
pub fn set_cookie(name: &str, value: Option<&str>) -> HeaderValue {
    let text = match value {
        Some(v) => format!("{name}={v}; Path=/; Secure; HttpOnly; SameSite=Strict"),
        None => format!("{name}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"),
    };
    // Names are constants and values base64url, so this cannot fail; an empty deletion
    // cookie is the safe fallback.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("psn=; Max-Age=0"))
}

/// 32 random bytes, base64url.
pub fn random_token() -> Result<String, Failure> {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| Failure::Internal("random number generator failed".into()))?;
    Ok(psn_core::encoding::b64url(&bytes))
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A signed-in person: their record and their session's form token.
pub struct Viewer {
    /// The person.
    pub person: PersonView,
    /// The session's form token.
    pub csrf: String,
    /// Hash of the session token, to end it.
    pub token_hash: String,
}

impl FromRequestParts<Arc<Ui>> for Viewer {
    type Rejection = Response;
    /// Without a valid session the browser is sent to sign in.
    async fn from_request_parts(parts: &mut Parts, ui: &Arc<Ui>) -> Result<Self, Response> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(Redirect::to("/ui/sign-in").into_response());
        };
        let token_hash = psn_core::token::secret_hash(&token);
        match ui.authority.store.session(&token_hash).await {
            Ok(Some((person, csrf))) => Ok(Viewer {
                person,
                csrf,
                token_hash,
            }),
            Ok(None) => Err((
                [(header::SET_COOKIE, set_cookie(SESSION_COOKIE, None))],
                Redirect::to("/ui/sign-in"),
            )
                .into_response()),
            Err(e) => Err(Failure::from(e).into_response()),
        }
    }
}

impl Viewer {
    /// Whether a form carried this session's token.
    pub fn sent_csrf(&self, sent: &str) -> bool {
        same_token(sent, &self.csrf)
    }

    /// Whether they may see a member's restricted parts (its grants): the network's people
    /// always, a member's people only for their own member.
    pub fn may_see_private(&self, member: &MemberId) -> bool {
        match self.person.role {
            PersonRole::Operator | PersonRole::Assessor => true,
            PersonRole::MemberAdmin | PersonRole::MemberViewer => {
                self.person.member.as_ref() == Some(member)
            }
        }
    }

    /// Whether they may read the audit trail: the network's people only (it names every
    /// member's changes and every person's sign-ins).
    pub fn sees_events(&self) -> bool {
        matches!(
            self.person.role,
            PersonRole::Operator | PersonRole::Assessor
        )
    }

    /// Whose people they may list: everyone's (`Some(None)`), their member's, or nobody's.
    pub fn people_scope(&self) -> Option<Option<MemberId>> {
        match self.person.role {
            PersonRole::Operator => Some(None),
            PersonRole::MemberAdmin => self.person.member.clone().map(Some),
            PersonRole::MemberViewer | PersonRole::Assessor => None,
        }
    }
}

/// The answer to a form without the right token.
pub fn forged_form() -> Response {
    error_page(
        None,
        StatusCode::FORBIDDEN,
        "The form could not be accepted",
        "The form did not carry this session's security token: it may have expired or come from \
         another site. Nothing was changed. Go back, reload the page and try again."
            .into(),
    )
}
