//! Trace export of exchanges (docs/tracing.md): one span per exchange on each gateway, linked
//! across the hop by W3C trace context. Off unless the binary exports traces.

use super::body::GatewayBody;
use http::{HeaderMap, Response};
use std::future::Future;
use tracing::Instrument;

/// An exchange's span, with the fields filled in as the exchange proceeds.
macro_rules! exchange_span {
    ($name:literal) => {
        tracing::info_span!(
            $name,
            otel.kind = "server",
            psn.message_id = tracing::field::Empty,
            psn.service = tracing::field::Empty,
            psn.client = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        )
    };
}
pub(super) use exchange_span;

/// Runs an exchange's handler in its span and records the status it answered.
pub(super) async fn traced(
    span: &tracing::Span,
    exchange: impl Future<Output = Response<GatewayBody>>,
) -> Response<GatewayBody> {
    let response = exchange.instrument(span.clone()).await;
    record_status(span, response.status());
    response
}

/// Whether the binary installed a trace-context propagator, which it does only while it exports
/// traces (docs/tracing.md). Without one the gateways open no span and leave `traceparent` as
/// the caller sent it, so tracing that is off costs one uncontended read lock per exchange.
pub(super) fn tracing_on() -> bool {
    opentelemetry::global::get_text_map_propagator(|p| p.fields().next().is_some())
}

/// Makes `span` the child of the W3C trace context the previous hop sent in `headers` (a fresh
/// trace when there is none or it is malformed), then rewrites those headers to name `span`,
/// so that the next hop, which receives them, becomes its child.
pub(super) fn continue_trace(span: &tracing::Span, headers: &mut HeaderMap) {
    use opentelemetry_http::{HeaderExtractor, HeaderInjector};
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let mut sent = headers.get_all("traceparent").iter();
    let well_formed = match (sent.next(), sent.next()) {
        (Some(value), None) => value.to_str().is_ok_and(well_formed_traceparent),
        _ => false,
    };
    opentelemetry::global::get_text_map_propagator(|propagator| {
        // An empty base, not the current context: a missing or malformed header starts a trace.
        let fresh = opentelemetry::Context::new();
        let parent = if well_formed {
            propagator.extract_with_context(&fresh, &HeaderExtractor(headers))
        } else {
            fresh
        };
        // Fails only when the span is not exported (filtered out); then there is nothing to link.
        let _ = span.set_parent(parent);
        propagator.inject_context(&span.context(), &mut HeaderInjector(headers));
    });
    if headers.get("tracestate").is_some_and(|v| v.is_empty()) {
        headers.remove("tracestate");
    }
}

/// W3C Trace Context's `traceparent` grammar, checked before the propagator sees the header:
/// the propagator parses loosely (it takes a trace id one digit short, for one), and a member's
/// malformed header must start a fresh trace, not a wrong one.
pub fn well_formed_traceparent(value: &str) -> bool {
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let not_zero = |s: &str| s.bytes().any(|b| b != b'0');
    let mut fields = value.trim().split('-');
    let (Some(version), Some(trace_id), Some(parent_id), Some(flags)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return false;
    };
    // Version 00 has exactly four fields; later versions may append more.
    let rest_allowed = version != "00" || fields.next().is_none();
    hex(version, 2)
        && version != "ff"
        && hex(trace_id, 32)
        && not_zero(trace_id)
        && hex(parent_id, 16)
        && not_zero(parent_id)
        && hex(flags, 2)
        && rest_allowed
}

/// Records the response status on an exchange's span; a 5xx marks the span as failed.
fn record_status(span: &tracing::Span, status: http::StatusCode) {
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
}
