//! Turning templates into responses, and every failure into an HTML error page that says what
//! happened and what to do (never a stack trace, never a problem document: a person reads it).

use super::views::{ErrorPage, Layout, Link, SignedIn};
use crate::store::StoreError;
use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A frame for a page: asset prefix, current navigation item, signed-in person.
pub fn layout(current: &'static str, signed_in: Option<SignedIn>) -> Layout {
    Layout {
        assets: super::assets::prefix(),
        current,
        signed_in,
    }
}

/// Renders `page` as HTML with `status`.
pub fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be shown",
            )
                .into_response()
        }
    }
}

/// An error page.
pub fn error_page(
    signed_in: Option<SignedIn>,
    status: StatusCode,
    title: &'static str,
    message: String,
) -> Response {
    let next = match status {
        StatusCode::NOT_FOUND | StatusCode::FORBIDDEN if signed_in.is_some() => Some(Link {
            href: "/ui/",
            text: "Go to the network overview",
        }),
        _ if signed_in.is_none() => Some(Link {
            href: "/ui/sign-in",
            text: "Go to sign in",
        }),
        _ => None,
    };
    let page = ErrorPage {
        layout: layout("", signed_in),
        title,
        message,
        next,
    };
    render(status, &page)
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum Failure {
    /// The request asked for something malformed (a query or form field).
    BadRequest(String),
    /// The thing named does not exist.
    NotFound(String),
    /// The person's role does not allow it.
    Forbidden,
    /// Storage failed.
    Store(StoreError),
    /// Something else on the server failed.
    Internal(String),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => Failure::NotFound(m),
            StoreError::Invalid(m) => Failure::BadRequest(m),
            other => Failure::Store(other),
        }
    }
}

impl Failure {
    /// The error page, framed for the person signed in (if any).
    pub fn page(self, signed_in: Option<SignedIn>) -> Response {
        match self {
            Failure::BadRequest(m) => error_page(
                signed_in,
                StatusCode::BAD_REQUEST,
                "The request could not be understood",
                m,
            ),
            Failure::NotFound(m) => {
                error_page(signed_in, StatusCode::NOT_FOUND, "Page not found", m)
            }
            Failure::Forbidden => error_page(
                signed_in,
                StatusCode::FORBIDDEN,
                "You do not have access to this page",
                "Your role does not allow you to see this page. Ask an operator of the network if \
                 you need it."
                    .into(),
            ),
            Failure::Store(e) => {
                tracing::error!(error = %e, "storage failure behind a page");
                error_page(
                    signed_in,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Sorry, there is a problem with the service",
                    "The registry database is unavailable. Try again later.".into(),
                )
            }
            Failure::Internal(m) => {
                tracing::error!(error = %m, "failure behind a page");
                error_page(
                    signed_in,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Sorry, there is a problem with the service",
                    "Try again later.".into(),
                )
            }
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        self.page(None)
    }
}
