//! The federation pages (docs/ui.md "Federation pages"): every partner network this authority
//! follows and how fresh its configuration is, and one partner in detail.
//!
//! The pages only read: what a partner is and how fresh it is comes from `crate::federation`
//! (the code behind `GET /v1/federation/partners`), so a page never disagrees with the API or
//! `psn federation list`; changes stay with the CLI and the API, where the operator confirms a
//! fingerprint out of band.

use super::pages::when;
use super::render::{render, Failure};
use super::session::Viewer;
use super::views::Layout;
use super::Ui;
use crate::federation::{self as rules, Refusal};
use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use psn_api::{FreshnessState, PartnerView, Received};
use psn_core::names::NetworkId;
use psn_core::problem::ProblemType;
use std::sync::Arc;
use time::OffsetDateTime;

/// How much of a partner's last error the list shows: enough to recognise it (an endpoint and
/// the start of its reason), short enough that one partner cannot swamp the table.
const LIST_ERROR_CHARS: usize = 160;
/// How much the partner's own page shows: failures at every endpoint are joined into one error,
/// so it may be long. The store keeps 1,000 characters today; the page bounds it itself, since it
/// is text a partner's authority helped write.
const DETAIL_ERROR_CHARS: usize = 2_000;

/// A partner's freshness as the pages show it: a tag whose words say the state (colour is never
/// the only cue) and sentences about the configuration held.
pub struct FreshnessLine {
    /// The tag's colour modifier.
    pub tag_class: &'static str,
    /// The state in a word.
    pub tag: &'static str,
    /// What the state means for exchanges with the partner.
    pub meaning: &'static str,
    /// The partner's configuration version held, or that none is.
    pub version: String,
    /// When its authority last answered, relative and absolute, or never.
    pub last_answer: String,
    /// When the held configuration expires (or expired), relative and absolute.
    pub expires: String,
    /// The last failure, shortened, with when it happened.
    pub last_error: Option<String>,
}

/// A partner in the list.
pub struct PartnerLine {
    pub network: String,
    pub freshness: FreshnessLine,
    /// What this network trusts of it: members, gateways and services, in words.
    pub received: String,
}

/// `/ui/federation`.
#[derive(Template)]
#[template(path = "federation.html")]
pub struct FederationPage {
    pub layout: Layout,
    pub network: String,
    pub partners: Vec<PartnerLine>,
}

/// One list of an export policy: its entries, or "Nothing" when it is empty.
pub struct PolicyLine {
    pub what: &'static str,
    pub entries: Vec<String>,
}

/// `/ui/federation/{network}`.
#[derive(Template)]
#[template(path = "federation_partner.html")]
pub struct PartnerPage {
    pub layout: Layout,
    pub network: String,
    pub fingerprint: String,
    pub endpoints: Vec<String>,
    pub imported: String,
    pub policy: Vec<PolicyLine>,
    pub freshness: FreshnessLine,
    pub received: Vec<String>,
    /// Whether the partner may relay what is exported to it, in words.
    pub reexport: &'static str,
    pub relays: Vec<RelayLine>,
}

/// A network a partner relays to this one.
pub struct RelayLine {
    pub network: String,
    pub version: u64,
    pub expires: String,
    pub received: String,
}

/// The tag and meaning of a state.
fn state_words(state: FreshnessState) -> (&'static str, &'static str, &'static str) {
    match state {
        FreshnessState::Active => (
            "govuk-tag--green",
            "Active",
            "Its authority answers: its names in this network's configuration are current.",
        ),
        FreshnessState::Degraded => (
            "govuk-tag--yellow",
            "Degraded",
            "Its authority has not answered for longer than allowed: its last configuration is \
             still used until it expires.",
        ),
        FreshnessState::Expired => (
            "govuk-tag--red",
            "Expired",
            "The last configuration received has expired: exchanges with its members fail until \
             its authority answers again.",
        ),
        FreshnessState::Pending => (
            "govuk-tag--grey",
            "Pending",
            "Imported, but nothing received yet: its operator must import this network's anchor \
             too, and its authority must be reachable.",
        ),
    }
}

/// A length of time in the largest whole unit that fits: "12 seconds", "1 minute", "3 days".
fn span(seconds: u64) -> String {
    let (n, unit) = match seconds {
        s if s < 60 => (s, "second"),
        s if s < 3_600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3_600, "hour"),
        s => (s / 86_400, "day"),
    };
    counted(n, unit)
}

/// `n` and the noun, singular for one.
fn counted(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `at` relative to `now` and absolute: "12 seconds ago (2026-12-07 06:35 UTC)", or "in 7 days
/// (…)" for a time still to come.
fn relative(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let seconds = (at - now).whole_seconds();
    let distance = span(seconds.unsigned_abs());
    if seconds > 0 {
        format!("in {distance} ({})", when(at))
    } else {
        format!("{distance} ago ({})", when(at))
    }
}

/// At most `max` characters of `text`, with "…" where it was cut.
fn shortened(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// How fresh the partner is, in words. The last answer's age is the one `crate::federation`
/// computed the state from, so the words and the tag agree.
fn freshness_line(view: &PartnerView, error_chars: usize, now: OffsetDateTime) -> FreshnessLine {
    let f = &view.freshness;
    let (tag_class, tag, meaning) = state_words(f.state);
    let last_answer = match (f.age_seconds, f.last_success_at) {
        (Some(age), Some(at)) => format!("{} ago ({})", span(age), when(at)),
        _ => "Never".into(),
    };
    FreshnessLine {
        tag_class,
        tag,
        meaning,
        version: f
            .version
            .map_or_else(|| "None received".into(), |v| format!("Version {v}")),
        last_answer,
        expires: f
            .expires_at
            .map_or_else(|| "Nothing held to expire".into(), |at| relative(at, now)),
        last_error: f.last_error.as_deref().map(|error| {
            let at = f
                .last_error_at
                .map(|at| format!(", {}", relative(at, now)))
                .unwrap_or_default();
            format!("{}{at}", shortened(error, error_chars))
        }),
    }
}

fn policy_line<T: ToString>(what: &'static str, entries: &[T]) -> PolicyLine {
    PolicyLine {
        what,
        entries: entries.iter().map(ToString::to_string).collect(),
    }
}

fn received_words(r: &Received) -> Vec<String> {
    vec![
        counted(r.members, "member"),
        counted(r.gateways, "gateway"),
        counted(r.services, "service"),
    ]
}

/// The network's people only (operator, assessor), the same who read the audit trail: a
/// partner's endpoints, fingerprint and what this network exports to it are the network's
/// business; members see a partner's names where they matter, in the configuration.
fn allowed(viewer: &Viewer) -> Result<(), Failure> {
    if viewer.sees_events() {
        Ok(())
    } else {
        Err(Failure::Forbidden)
    }
}

fn failure(refusal: Refusal) -> Failure {
    match refusal {
        Refusal::Problem(ProblemType::NotFound, detail) => Failure::NotFound(format!(
            "{detail}. The partners this network follows are listed on the federation page."
        )),
        Refusal::Problem(_, detail) => Failure::Internal(detail),
        Refusal::Store(e) => e.into(),
    }
}

/// `GET /ui/federation`: every partner with its freshness.
pub async fn partners(State(ui): State<Arc<Ui>>, viewer: Viewer) -> Response {
    let page = async {
        allowed(&viewer)?;
        let views = rules::partner_views(&ui.authority).await.map_err(failure)?;
        let now = OffsetDateTime::now_utc();
        Ok(FederationPage {
            layout: viewer.frame("/ui/federation"),
            network: ui.authority.network.to_string(),
            partners: views
                .iter()
                .map(|view| PartnerLine {
                    network: view.network.to_string(),
                    freshness: freshness_line(view, LIST_ERROR_CHARS, now),
                    received: received_words(&view.received).join(", "),
                })
                .collect(),
        })
    };
    match page.await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.fail(f),
    }
}

/// The network an address names; not found when it is no network id (the reason says which
/// rule it broke, escaped and cut short by the parser), as for a malformed member id.
fn network_named(path: Result<Path<String>, PathRejection>) -> Result<NetworkId, Failure> {
    let Path(text) = path.map_err(|_| {
        Failure::NotFound(
            "This address does not name a network. Network ids are like GB-KENT.".into(),
        )
    })?;
    text.parse().map_err(|e: psn_core::names::NameError| {
        Failure::NotFound(format!("{e}. Network ids are like GB-KENT."))
    })
}

/// `GET /ui/federation/{network}`: one partner: its anchor's facts, the export policy and
/// its freshness.
pub async fn partner(
    State(ui): State<Arc<Ui>>,
    viewer: Viewer,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let page = async {
        allowed(&viewer)?;
        let network = network_named(path)?;
        let view = rules::partner_view(&ui.authority, &network)
            .await
            .map_err(failure)?;
        Ok(partner_page(
            viewer.frame("/ui/federation"),
            view,
            OffsetDateTime::now_utc(),
        ))
    };
    match page.await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(f) => viewer.fail(f),
    }
}

/// The partner page of `view` at `now`.
fn partner_page(layout: Layout, view: PartnerView, now: OffsetDateTime) -> PartnerPage {
    PartnerPage {
        layout,
        network: view.network.to_string(),
        freshness: freshness_line(&view, DETAIL_ERROR_CHARS, now),
        received: received_words(&view.received),
        imported: format!(
            "{} by {}",
            relative(view.imported_at, now),
            view.imported_by
        ),
        policy: vec![
            policy_line("Member classes", &view.policy.classes),
            policy_line("Members", &view.policy.members),
            policy_line("Services", &view.policy.services),
        ],
        reexport: if view.policy.reexport {
            "Allowed: it may relay these to its own partners"
        } else {
            "Not allowed"
        },
        relays: view
            .relays
            .iter()
            .map(|r| RelayLine {
                network: r.network.to_string(),
                version: r.version,
                expires: relative(r.expires_at, now),
                received: received_words(&r.received).join(", "),
            })
            .collect(),
        fingerprint: view.fingerprint,
        endpoints: view.endpoints,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_use_the_largest_whole_unit_and_say_one_in_the_singular() {
        assert_eq!(span(0), "0 seconds");
        assert_eq!(span(1), "1 second");
        assert_eq!(span(59), "59 seconds");
        assert_eq!(span(60), "1 minute");
        assert_eq!(span(3_599), "59 minutes");
        assert_eq!(span(7_200), "2 hours");
        assert_eq!(span(86_400), "1 day");
        assert_eq!(span(u64::MAX), format!("{} days", u64::MAX / 86_400));
    }

    #[test]
    fn times_read_as_ago_or_to_come_with_the_absolute_time() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        assert_eq!(
            relative(now - time::Duration::seconds(12), now),
            format!(
                "12 seconds ago ({})",
                when(now - time::Duration::seconds(12))
            )
        );
        assert!(relative(now + time::Duration::days(7), now).starts_with("in 7 days ("));
        assert!(relative(now, now).starts_with("0 seconds ago"));
    }

    fn partner(error: &str, now: OffsetDateTime) -> PartnerView {
        PartnerView {
            network: "GB-KENT".parse().expect("network"),
            fingerprint: "fp".into(),
            endpoints: vec!["https://kent.example".into()],
            imported_at: now,
            imported_by: "operator".into(),
            policy: psn_api::ExportPolicy::default(),
            received: Received::default(),
            freshness: psn_api::Freshness {
                state: FreshnessState::Expired,
                version: Some(4),
                last_success_at: Some(now - time::Duration::days(8)),
                age_seconds: Some(8 * 86_400),
                expires_at: Some(now - time::Duration::days(1)),
                last_error: Some(error.into()),
                last_error_at: Some(now),
            },
            relays: vec![],
        }
    }

    #[test]
    fn a_partner_page_says_whether_it_may_re_export_and_what_it_relays() {
        let now = OffsetDateTime::now_utc();
        let layout = || Layout {
            assets: "/assets",
            current: "/ui/federation",
            signed_in: None,
        };
        let alone = partner_page(layout(), partner("", now), now)
            .render()
            .expect("render");
        assert!(alone.contains("Not allowed") && !alone.contains("Networks it relays"));
        let mut hub = partner("", now);
        hub.policy.reexport = true;
        hub.relays.push(psn_api::RelayedNetwork {
            network: "GB-HANTS".parse().expect("network"),
            version: 12,
            expires_at: now + time::Duration::days(2),
            received: Received {
                members: 1,
                gateways: 1,
                services: 3,
            },
        });
        let page = partner_page(layout(), hub, now).render().expect("render");
        assert!(page.contains("Allowed: it may relay"), "{page}");
        assert!(page.contains("Networks it relays"), "{page}");
        assert!(
            page.contains(">GB-HANTS</th>") && page.contains("1 member, 1 gateway, 3 services"),
            "{page}"
        );
    }

    #[test]
    fn a_partners_error_is_shown_as_text_and_cut_short_in_the_list() {
        let now = OffsetDateTime::now_utc();
        let hostile = format!("<script>alert(1)</script>{}", "x".repeat(5_000));
        let view = partner(&hostile, now);
        let page = FederationPage {
            layout: super::super::render::layout("/ui/federation", None),
            network: "GB".into(),
            partners: vec![PartnerLine {
                network: view.network.to_string(),
                freshness: freshness_line(&view, LIST_ERROR_CHARS, now),
                received: received_words(&view.received).join(", "),
            }],
        };
        let html = page.render().expect("render");
        assert!(!html.contains("<script>alert"), "markup escaped");
        assert!(
            html.contains("&#60;script&#62;alert(1)") || html.contains("&lt;script&gt;alert(1)")
        );
        assert!(!html.contains(&"x".repeat(LIST_ERROR_CHARS)), "cut short");
        assert!(html.contains("govuk-tag--red\">Expired</strong>"));
        assert!(html.contains("Last answer: 8 days ago"));
        assert!(html.contains("Expires: 1 day ago"));
        assert!(html.contains("Version 4"));
    }

    #[test]
    fn errors_are_cut_at_a_character_not_a_byte() {
        assert_eq!(shortened("short", 10), "short");
        assert_eq!(shortened("ééééé", 3), "ééé…");
        assert_eq!(shortened("", 0), "");
    }
}
