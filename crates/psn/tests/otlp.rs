//! Trace export over OTLP/HTTP with the real `psn gateway serve` processes: a fake collector (a
//! collector sits outside psn) records what both gateways POST to `/v1/traces`, and the spans
//! must form one trace from the caller's `traceparent` through both gateways to the backend.

mod common;

use bytes::Bytes;
use common::process::{spawn_gateway_with, GatewayProcess};
use common::{client, Net, CONSUMER, PROVIDER, SERVICE};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, Span};
use prost::Message;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::mpsc;

const CLIENT: &str = "GB/LA/E10000016/revenues";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";
/// Long enough for a slow CI machine; the wait ends as soon as the spans arrive.
const PATIENCE: Duration = Duration::from_secs(60);

/// One POST the collector received.
struct Posted {
    path: String,
    content_type: String,
    body: Bytes,
}

/// The fake collector: answers every POST with 200 and hands it to the test.
async fn collector() -> (String, mpsc::UnboundedReceiver<Posted>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let tx = tx.clone();
                    async move {
                        let path = req.uri().path().to_owned();
                        let content_type = req
                            .headers()
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        // Handed over before the answer, so an exporter that has its answer
                        // has been recorded.
                        let _ = tx.send(Posted {
                            path,
                            content_type,
                            body,
                        });
                        let mut response = http::Response::new(Full::new(Bytes::new()));
                        response.headers_mut().insert(
                            "content-type",
                            http::HeaderValue::from_static("application/x-protobuf"),
                        );
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (url, rx)
}

/// A span as exported, with the resource that sent it.
#[derive(Debug, Clone)]
struct Exported {
    service_name: String,
    role: String,
    span: Span,
}

impl Exported {
    fn attribute(&self, key: &str) -> Option<any_value::Value> {
        find(&self.span.attributes, key)
    }

    fn string(&self, key: &str) -> Option<String> {
        match self.attribute(key) {
            Some(any_value::Value::StringValue(s)) => Some(s),
            _ => None,
        }
    }

    fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }
}

fn find(attributes: &[KeyValue], key: &str) -> Option<any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone())
        .and_then(|v| v.value)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks one POST is an OTLP/HTTP protobuf trace export and returns its spans.
fn decode(posted: &Posted) -> Vec<Exported> {
    assert_eq!(posted.path, "/v1/traces");
    assert_eq!(posted.content_type, "application/x-protobuf");
    let request = ExportTraceServiceRequest::decode(posted.body.clone()).expect("OTLP protobuf");
    let mut spans = Vec::new();
    for resource_spans in request.resource_spans {
        let attributes = resource_spans
            .resource
            .map(|r| r.attributes)
            .unwrap_or_default();
        let text = |key| match find(&attributes, key) {
            Some(any_value::Value::StringValue(s)) => s,
            _ => String::new(),
        };
        let (service_name, role) = (text("service.name"), text("psn.role"));
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                spans.push(Exported {
                    service_name: service_name.clone(),
                    role: role.clone(),
                    span,
                });
            }
        }
    }
    spans
}

/// What the collector has received, decoded.
struct Spans {
    exports: mpsc::UnboundedReceiver<Posted>,
    seen: Vec<Exported>,
}

impl Spans {
    fn new(exports: mpsc::UnboundedReceiver<Posted>) -> Spans {
        Spans {
            exports,
            seen: Vec::new(),
        }
    }

    fn find(&self, name: &str, message_id: &str) -> Option<Exported> {
        self.seen
            .iter()
            .find(|s| {
                s.span.name == name && s.string("psn.message_id").as_deref() == Some(message_id)
            })
            .cloned()
    }

    /// Receives exports until both gateways' spans of the exchange `message_id` have arrived.
    async fn of(&mut self, message_id: &str) -> (Exported, Exported) {
        let wait = async {
            loop {
                if let (Some(c), Some(p)) = (
                    self.find("psn.consume", message_id),
                    self.find("psn.provide", message_id),
                ) {
                    return (c, p);
                }
                let posted = self.exports.recv().await.expect("collector running");
                self.seen.extend(decode(&posted));
            }
        };
        tokio::time::timeout(PATIENCE, wait)
            .await
            .expect("both gateways exported the exchange's spans")
    }

    /// Takes what has already arrived, without waiting.
    fn drain(&mut self) {
        while let Ok(posted) = self.exports.try_recv() {
            self.seen.extend(decode(&posted));
        }
    }
}

/// Both gateways synced to the authority's configuration, ready to be started as processes.
async fn network() -> Net {
    let net = Net::prepare(Duration::from_secs(30)).await;
    for member in [CONSUMER, PROVIDER] {
        psn_gateway::sync_config(&net.members[member].dir, None)
            .await
            .expect("sync");
    }
    net
}

fn exporting(endpoint: &str, delay_ms: &'static str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", delay_ms.to_owned()),
        ("PSN_LOG", "warn".to_owned()),
    ]
}

fn start(net: &Net, member: &str, args: &[&str], env: &[(&str, String)]) -> GatewayProcess {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn_gateway_with(net, member, args, &env)
}

/// Calls the service through the consumer's gateway; returns the message id and the
/// `traceparent` the backend received.
async fn exchange(net: &Net, traceparent: &str) -> (String, String) {
    let resp = client()
        .get(format!(
            "{}/r1/{SERVICE}/check",
            net.members[CONSUMER].internal
        ))
        .header("PSN-Client", CLIENT)
        .header("traceparent", traceparent)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["psn-message-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let seen: serde_json::Value = resp.json().await.expect("json");
    let at_backend = seen["traceparent"]
        .as_str()
        .expect("traceparent")
        .to_owned();
    (id, at_backend)
}

/// The trace id and parent span id of a valid `traceparent`.
fn parse_traceparent(value: &str) -> (String, String) {
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 4, "{value}");
    assert_eq!(parts[0], "00", "{value}");
    assert_eq!(parts[1].len(), 32, "{value}");
    assert_eq!(parts[2].len(), 16, "{value}");
    (parts[1].to_owned(), parts[2].to_owned())
}

/// Checks what both gateways must say of every exchange, whatever its trace: the attributes,
/// and that the provider's span is the child of the consumer's and the backend's caller.
fn check_exchange(consume: &Exported, provide: &Exported, at_backend: &str) {
    for (span, kind) in [(consume, "consume"), (provide, "provide")] {
        assert_eq!(span.role, "gateway", "{kind}");
        assert_eq!(
            span.string("psn.service").as_deref(),
            Some(SERVICE),
            "{kind}"
        );
        assert_eq!(span.string("psn.client").as_deref(), Some(CLIENT), "{kind}");
        assert_eq!(
            span.attribute("http.response.status_code"),
            Some(any_value::Value::IntValue(200)),
            "{kind}"
        );
        assert_eq!(span.span.kind, SpanKind::Server as i32, "{kind}");
    }
    assert_eq!(provide.trace_id(), consume.trace_id());
    assert_eq!(
        provide.span.parent_span_id, consume.span.span_id,
        "the consumer gateway sent its span's context to the provider gateway"
    );
    let (backend_trace, backend_parent) = parse_traceparent(at_backend);
    assert_eq!(backend_trace, consume.trace_id());
    assert_eq!(
        backend_parent,
        hex(&provide.span.span_id),
        "the provider gateway sent its span's context to the backend"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_gateways_export_spans_in_the_callers_trace() {
    let (endpoint, exports) = collector().await;
    let mut spans = Spans::new(exports);
    let net = network().await;
    let mut provider_env = exporting(&endpoint, "100");
    provider_env.push(("OTEL_SERVICE_NAME", "dfe-gateway".to_owned()));
    let provider = start(&net, PROVIDER, &[], &provider_env);
    let consumer = start(&net, CONSUMER, &[], &exporting(&endpoint, "100"));

    let traceparent = format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01");
    let (id, at_backend) = exchange(&net, &traceparent).await;
    let (consume, provide) = spans.of(&id).await;

    assert_eq!(consume.trace_id(), TRACE_ID, "the caller's trace continues");
    assert_eq!(
        hex(&consume.span.parent_span_id),
        CALLER_SPAN_ID,
        "the consumer gateway's span is the child of the caller's"
    );
    check_exchange(&consume, &provide, &at_backend);
    assert_eq!(consume.service_name, "psn-gateway", "the default name");
    assert_eq!(provide.service_name, "dfe-gateway", "OTEL_SERVICE_NAME");

    consumer.interrupt();
    provider.interrupt();
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_traceparent_is_ignored_and_a_fresh_trace_starts() {
    let (endpoint, exports) = collector().await;
    let mut spans = Spans::new(exports);
    let net = network().await;
    let provider = start(&net, PROVIDER, &[], &exporting(&endpoint, "100"));
    let consumer = start(&net, CONSUMER, &[], &exporting(&endpoint, "100"));

    let short = &TRACE_ID[1..];
    for malformed in [
        format!("00-{short}-{CALLER_SPAN_ID}-01"),
        format!("00-{}-{CALLER_SPAN_ID}-01", TRACE_ID.to_uppercase()),
        format!("00-{}-{CALLER_SPAN_ID}-01", "0".repeat(32)),
        format!("00-{TRACE_ID}-{}-01", "0".repeat(16)),
        format!("ff-{TRACE_ID}-{CALLER_SPAN_ID}-01"),
        format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01-extra"),
        "not a trace context".to_owned(),
    ] {
        let (id, at_backend) = exchange(&net, &malformed).await;
        let (consume, provide) = spans.of(&id).await;
        assert!(
            consume.span.parent_span_id.is_empty(),
            "the consumer gateway's span is a root despite {malformed:?}"
        );
        assert_eq!(consume.span.trace_id.len(), 16);
        assert_ne!(consume.trace_id(), TRACE_ID, "{malformed:?}");
        assert!(consume.span.trace_id.iter().any(|b| *b != 0));
        check_exchange(&consume, &provide, &at_backend);
    }

    consumer.interrupt();
    provider.interrupt();
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_flushes_queued_spans_when_stopped() {
    let (endpoint, exports) = collector().await;
    let mut spans = Spans::new(exports);
    let net = network().await;
    // An hour between batches: the spans can only arrive through the flush at shutdown. The
    // provider's variable points nowhere; its flag, which overrides it, at the collector.
    let mut provider_env = exporting("http://127.0.0.1:9", "3600000");
    provider_env.push(("OTEL_SERVICE_NAME", "dfe-gateway".to_owned()));
    let provider = start(
        &net,
        PROVIDER,
        &["--otlp-endpoint", &endpoint],
        &provider_env,
    );
    let consumer = start(&net, CONSUMER, &[], &exporting(&endpoint, "3600000"));

    let traceparent = format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01");
    let (id, at_backend) = exchange(&net, &traceparent).await;
    consumer.interrupt();
    provider.interrupt();

    // Both processes have exited, so their final exports were answered, and so recorded.
    spans.drain();
    let of = |name: &str| {
        spans
            .find(name, &id)
            .unwrap_or_else(|| panic!("{name} was not flushed at shutdown"))
    };
    let (consume, provide) = (of("psn.consume"), of("psn.provide"));
    assert_eq!(consume.trace_id(), TRACE_ID);
    assert_eq!(provide.service_name, "dfe-gateway");
    check_exchange(&consume, &provide, &at_backend);
    net.stop().await;
}
