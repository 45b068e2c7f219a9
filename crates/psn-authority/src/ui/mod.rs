//! The web UI (docs/ui.md): server-rendered pages under `/ui/` on the authority's own HTTPS
//! listener, in the markup of the GOV.UK Design System's components with psn's own generic header
//! (psn is not GOV.UK). Every page works without JavaScript; people sign in with a password or
//! an OpenID Connect provider of the network, get a server-side session, and see what their
//! role allows.

mod access;
mod assets;
mod benchmark_charts;
mod benchmarks;
mod chart;
mod compliance;
mod compliance_review;
mod documents;
mod federation;
mod headers;
mod listing;
mod oidc;
mod pages;
mod paging;
pub(crate) mod password;
mod render;
mod search;
mod session;
mod signin;
mod sla;
mod throttle;
mod views;

pub use assets::GOVUK_FRONTEND_VERSION;
pub use headers::CONTENT_SECURITY_POLICY;
pub use oidc::{username_for as oidc_username, OidcProviders, OIDC_COOKIE};
pub use session::{SESSION_COOKIE, SIGN_IN_COOKIE};
pub use signin::{LOCKOUT, MAX_ACCOUNT_FAILURES};
pub use throttle::MAX_FAILURES as MAX_ADDRESS_FAILURES;

use crate::Authority;
use axum::extract::DefaultBodyLimit;
use axum::response::Redirect;
use axum::routing::{any, get, post};
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;

/// Largest form body: sign-in fields are small; anything bigger is refused with an error page.
const FORM_LIMIT: usize = 8 * 1024;
/// Largest listing form: a description and terms of a few thousand characters each, percent-encoded.
const LISTING_FORM_LIMIT: usize = 96 * 1024;

/// The address a request came from, put in its extensions by the listener.
#[derive(Clone, Copy, Debug)]
pub struct RemoteAddr(pub SocketAddr);

/// What the UI's handlers share.
pub struct Ui {
    authority: Arc<Authority>,
    throttle: throttle::AddressThrottle,
}

/// The UI's routes, to be merged into the authority's router. Every response under `/ui/`
/// carries the security headers.
pub fn router(authority: Arc<Authority>) -> Router {
    let ui = Arc::new(Ui {
        authority,
        throttle: throttle::AddressThrottle::default(),
    });
    Router::new()
        .route("/ui/", get(pages::overview))
        .route("/ui/sign-in", get(signin::form).post(signin::submit))
        .route("/ui/sign-in/oidc/{name}", post(oidc::begin))
        .route("/ui/sign-in/oidc/{name}/callback", get(oidc::callback))
        .route("/ui/sign-out", post(signin::sign_out))
        .route("/ui/accessibility", get(pages::accessibility))
        .route("/ui/members", get(pages::members))
        .route("/ui/members/{network}/{class}/{code}", get(pages::member))
        .route(
            "/ui/members/{network}/{class}/{code}/grants",
            get(pages::grants),
        )
        .route("/ui/catalogue", get(search::catalogue))
        .route("/ui/partners", get(search::partners))
        .route("/ui/services", get(pages::services))
        .route(
            "/ui/services/{network}/{class}/{code}/{subsystem}/{service}",
            get(pages::service),
        )
        .route(
            "/ui/services/{network}/{class}/{code}/{subsystem}/{service}/edit",
            get(listing::form)
                .post(listing::save)
                .layer(DefaultBodyLimit::max(LISTING_FORM_LIMIT)),
        )
        .route(
            "/ui/services/{network}/{class}/{code}/{subsystem}/{service}/sla",
            get(sla::service),
        )
        .route(
            "/ui/services/{network}/{class}/{code}/{subsystem}/{service}/openapi.json",
            get(documents::openapi),
        )
        .route("/ui/sla", get(sla::network))
        .route("/ui/access", get(access::inbox))
        .route("/ui/access/new", get(access::new_form).post(access::create))
        .route("/ui/access/webhook", post(access::set_webhook))
        .route("/ui/access/webhook/remove", post(access::remove_webhook))
        .route("/ui/access/{id}/approve", post(access::approve))
        .route("/ui/access/{id}/decline", post(access::decline))
        .route("/ui/access/{id}/withdraw", post(access::withdraw))
        .route("/ui/benchmarks", get(benchmarks::overview))
        .route("/ui/benchmarks/report", get(benchmarks::report))
        .route("/ui/benchmarks/report.csv", get(benchmarks::report_csv))
        .route("/ui/benchmarks/report.json", get(benchmarks::report_json))
        .route("/ui/benchmarks/peers", get(benchmarks::peers))
        .route(
            "/ui/benchmarks/returns",
            get(benchmarks::returns)
                .post(benchmarks::submit_returns)
                .layer(DefaultBodyLimit::max(benchmarks::RETURNS_FORM_LIMIT)),
        )
        .route("/ui/benchmarks/returns.csv", get(benchmarks::returns_csv))
        .route(
            "/ui/benchmarks/groups",
            get(benchmarks::groups).post(benchmarks::save_group),
        )
        .route(
            "/ui/benchmarks/groups/delete",
            post(benchmarks::delete_group),
        )
        .route("/ui/compliance", get(compliance::tasks))
        .route(
            "/ui/compliance/evidence",
            get(compliance::evidence)
                .post(compliance::upload)
                .layer(DefaultBodyLimit::max(compliance::EVIDENCE_FORM_LIMIT)),
        )
        .route(
            "/ui/compliance/evidence/{network}/{class}/{code}/{sha256}",
            get(compliance::download),
        )
        .route("/ui/compliance/review", get(compliance_review::review_list))
        .route(
            "/ui/compliance/review/{id}",
            get(compliance_review::review_form)
                .post(compliance_review::decide)
                .layer(DefaultBodyLimit::max(compliance_review::REVIEW_FORM_LIMIT)),
        )
        .route("/ui/compliance/status", get(compliance_review::status))
        .route("/ui/compliance/{kind}/submit", post(compliance::submit))
        .route(
            "/ui/compliance/{kind}/{control}",
            get(compliance::control_form)
                .post(compliance::save_control)
                .layer(DefaultBodyLimit::max(compliance::CONTROL_FORM_LIMIT)),
        )
        .route("/ui/gateways", get(pages::gateways))
        .route("/ui/federation", get(federation::partners))
        .route("/ui/federation/{network}", get(federation::partner))
        .route("/ui/people", get(pages::people))
        .route("/ui/events", get(pages::events))
        .route("/ui/assets/{digest}/{file}", get(assets::serve))
        .route("/ui/{*rest}", any(pages::not_found))
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .layer(axum::middleware::from_fn(headers::secure))
        .layer(DefaultBodyLimit::max(FORM_LIMIT))
        .with_state(ui)
}
