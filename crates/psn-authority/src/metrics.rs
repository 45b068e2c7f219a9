//! Prometheus metrics of the authority (DESIGN.md "Operational monitoring"), at `/metrics`: API
//! requests by route and outcome with their latency, and the configuration in force. Routes are
//! labelled by their template, never by the path asked for, so hostile paths cannot grow the
//! label set.

use crate::Authority;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use time::OffsetDateTime;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route template (`/v1/members/:network/:class/:code`), or `unmatched`.
    route: String,
    /// `2xx`, `4xx`, `5xx`…
    status_class: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartnerLabels {
    network: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartnerStateLabels {
    network: String,
    /// `pending`, `active`, `degraded` or `expired`.
    state: String,
}

/// Every freshness state, so each partner has one series per state (1 for its current one).
const PARTNER_STATES: [psn_api::FreshnessState; 4] = [
    psn_api::FreshnessState::Pending,
    psn_api::FreshnessState::Active,
    psn_api::FreshnessState::Degraded,
    psn_api::FreshnessState::Expired,
];

type Histograms = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The authority's metrics.
pub struct AuthorityMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Histograms,
    config_version: Gauge,
    config_expires_in: Gauge,
    partner_age: Family<PartnerLabels, Gauge>,
    partner_version: Family<PartnerLabels, Gauge>,
    partner_state: Family<PartnerStateLabels, Gauge>,
}

impl Default for AuthorityMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl AuthorityMetrics {
    /// Registers every metric under the `psn_authority` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("psn_authority");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "api_requests",
            "API requests by method, route and status class",
            requests.clone(),
        );
        let duration = Histograms::new_with_constructor(latency_histogram);
        registry.register(
            "api_request_duration_seconds",
            "Time to answer an API request, by route (long polls included)",
            duration.clone(),
        );
        let config_version = Gauge::default();
        registry.register(
            "config_version",
            "Version of the published signed configuration",
            config_version.clone(),
        );
        let config_expires_in = Gauge::default();
        registry.register(
            "config_expires_in_seconds",
            "Seconds until the published configuration expires",
            config_expires_in.clone(),
        );
        let partner_age = Family::<PartnerLabels, Gauge>::default();
        registry.register(
            "federation_partner_age_seconds",
            "Seconds since a federated partner's authority last answered (-1 before it ever did)",
            partner_age.clone(),
        );
        let partner_version = Family::<PartnerLabels, Gauge>::default();
        registry.register(
            "federation_partner_version",
            "The partner's configuration version this network holds (0 before one arrived)",
            partner_version.clone(),
        );
        let partner_state = Family::<PartnerStateLabels, Gauge>::default();
        registry.register(
            "federation_partner_state",
            "1 for a federated partner's current freshness state, 0 for the others",
            partner_state.clone(),
        );
        Self {
            registry,
            requests,
            duration,
            config_version,
            config_expires_in,
            partner_age,
            partner_version,
            partner_state,
        }
    }

    /// Sets a partner's freshness series.
    pub fn partner(&self, network: &psn_core::names::NetworkId, freshness: &psn_api::Freshness) {
        let labels = PartnerLabels {
            network: network.to_string(),
        };
        let age = freshness
            .age_seconds
            .map_or(-1, |a| i64::try_from(a).unwrap_or(i64::MAX));
        self.partner_age.get_or_create(&labels).set(age);
        self.partner_version.get_or_create(&labels).set(
            freshness
                .version
                .map_or(0, |v| i64::try_from(v).unwrap_or(i64::MAX)),
        );
        for state in PARTNER_STATES {
            self.partner_state
                .get_or_create(&PartnerStateLabels {
                    network: network.to_string(),
                    state: state.as_str().to_owned(),
                })
                .set(i64::from(state == freshness.state));
        }
    }

    /// Drops a removed partner's series.
    pub fn forget_partner(&self, network: &psn_core::names::NetworkId) {
        let labels = PartnerLabels {
            network: network.to_string(),
        };
        self.partner_age.remove(&labels);
        self.partner_version.remove(&labels);
        for state in PARTNER_STATES {
            self.partner_state.remove(&PartnerStateLabels {
                network: network.to_string(),
                state: state.as_str().to_owned(),
            });
        }
    }

    fn render(&self, authority: &Authority) -> String {
        if let Some(published) = authority.publisher.current() {
            self.config_version
                .set(i64::try_from(published.version).unwrap_or(i64::MAX));
            self.config_expires_in
                .set((published.expires_at - OffsetDateTime::now_utc()).whole_seconds());
        }
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        text
    }
}

impl AuthorityMetrics {
    /// Counts a request that matched no route (the fallback answers it, outside the route
    /// middleware).
    pub fn unmatched(&self, method: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: "unmatched".to_owned(),
                status_class: format!("{}xx", status / 100),
            })
            .inc();
    }
}

/// Route middleware counting and timing every API request that matched a route.
pub async fn track(State(authority): State<Arc<Authority>>, req: Request, next: Next) -> Response {
    // `/v1/members/:network/:class/:code`: the template, written without braces, which some
    // exposition parsers mistake for the end of the label set.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .replace('{', ":")
        .replace('}', "");
    let method = req.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    let metrics = &authority.metrics;
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route: route.clone(),
            status_class: format!("{}xx", response.status().as_u16() / 100),
        })
        .inc();
    metrics
        .duration
        .get_or_create(&RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// `GET /metrics`: the OpenMetrics text exposition.
pub async fn endpoint(State(authority): State<Arc<Authority>>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        authority.metrics.render(&authority),
    )
}
