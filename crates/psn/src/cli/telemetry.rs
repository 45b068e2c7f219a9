//! OpenTelemetry traces exported over OTLP/HTTP (protobuf), when an operator asks for them with
//! `--otlp-endpoint` or the standard `OTEL_EXPORTER_OTLP_*` variables (docs/tracing.md).
//!
//! Nothing here runs unless an endpoint is configured: no exporter, no batch task, no
//! propagator. The gateways look for the propagator before opening an exchange's span, so with
//! tracing off they open none and leave `traceparent` as the caller sent it.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::{runtime, Resource};
use std::path::PathBuf;
use std::time::Duration;

/// Where OTLP/HTTP collectors take traces, appended to a base endpoint (the spec's rule for
/// `OTEL_EXPORTER_OTLP_ENDPOINT`, which `--otlp-endpoint` follows too).
const TRACES_PATH: &str = "/v1/traces";

/// How long one export may take when no `OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT` says otherwise
/// (the specification's default).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The one OTLP protocol psn speaks: HTTP with protobuf bodies, so no gRPC stack is built in.
const PROTOCOL: &str = "http/protobuf";

/// What this process runs as: it names the service in traces by default and is recorded as the
/// `psn.role` resource attribute, so a collector can tell gateways from authorities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `psn gateway …`
    Gateway,
    /// `psn authority …`
    Authority,
    /// `psn demo`: an authority and gateways in one process.
    Demo,
    /// Any other operator command.
    Cli,
}

impl Role {
    /// The service name when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` gives one.
    fn default_service_name(self) -> &'static str {
        match self {
            Role::Gateway => "psn-gateway",
            Role::Authority => "psn-authority",
            Role::Demo | Role::Cli => "psn",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Authority => "authority",
            Role::Demo => "demo",
            Role::Cli => "cli",
        }
    }
}

/// Where and how traces are exported, resolved once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSettings {
    /// The full URL export requests are POSTed to.
    pub endpoint: String,
    /// The `service.name` to set, or `None` to keep the one `OTEL_RESOURCE_ATTRIBUTES` gives.
    pub service_name: Option<String>,
    /// How long one export request may take.
    pub timeout: Duration,
    /// A PEM bundle of extra CAs to trust for an `https` collector
    /// (`OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE`); the system's roots are trusted as well.
    pub ca_file: Option<PathBuf>,
    /// The role, recorded as `psn.role`.
    pub role: Role,
}

/// Resolves the export settings from the `--otlp-endpoint` flag and the environment (`env` looks
/// a variable up; empty values count as unset). `Ok(None)` means tracing is off: no endpoint is
/// configured, or `OTEL_SDK_DISABLED=true` / `OTEL_TRACES_EXPORTER=none` say so and no flag
/// overrides them. Precedence follows the specification: the flag, then the per-signal
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as it is), then `OTEL_EXPORTER_OTLP_ENDPOINT`
/// (with `/v1/traces` appended).
pub fn resolve(
    flag: Option<&str>,
    role: Role,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<ExportSettings>, String> {
    let var = |name: &str| {
        env(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let flag = flag.map(str::trim).filter(|f| !f.is_empty());
    if flag.is_none() {
        let disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let no_exporter =
            var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"));
        if disabled || no_exporter {
            return Ok(None);
        }
    }
    let endpoint = if let Some(base) = flag {
        with_traces_path(base)
    } else if let Some(url) = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        url
    } else if let Some(base) = var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        with_traces_path(&base)
    } else {
        return Ok(None);
    };
    let parsed = reqwest::Url::parse(&endpoint)
        .map_err(|e| format!("OTLP endpoint {endpoint:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "OTLP endpoint {endpoint:?} must be an http:// or https:// URL with a host"
        ));
    }
    if let Some(protocol) =
        var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"))
    {
        if protocol != PROTOCOL {
            return Err(format!(
                "OTLP protocol {protocol:?} is not supported; psn exports {PROTOCOL} only"
            ));
        }
    }
    let timeout = match var("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
        .or_else(|| var("OTEL_EXPORTER_OTLP_TIMEOUT"))
    {
        Some(ms) => ms
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| format!("OTLP export timeout {ms:?} is not a number of milliseconds"))?,
        None => DEFAULT_TIMEOUT,
    };
    let names_service = var("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|attributes| {
        attributes
            .split(',')
            .any(|pair| pair.split('=').next().map(str::trim) == Some("service.name"))
    });
    let service_name = match var("OTEL_SERVICE_NAME") {
        Some(name) => Some(name),
        None if names_service => None,
        None => Some(role.default_service_name().to_owned()),
    };
    let ca_file = var("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE")
        .or_else(|| var("OTEL_EXPORTER_OTLP_CERTIFICATE"))
        .map(PathBuf::from);
    Ok(Some(ExportSettings {
        endpoint,
        service_name,
        timeout,
        ca_file,
        role,
    }))
}

fn with_traces_path(base: &str) -> String {
    format!("{}{TRACES_PATH}", base.trim_end_matches('/'))
}

/// The tracer provider while traces are exported. It must be shut down before the process
/// exits, or the spans still queued in the batch are lost: [`Telemetry::shutdown`] does that.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Tracing is off: shutting down does nothing.
    pub fn off() -> Telemetry {
        Telemetry::default()
    }

    /// Exports the spans still queued and stops the exporter. Waits at most for one export
    /// (bounded by the export timeout); a collector that is down costs that long at exit, once.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // The batch processor's shutdown blocks the calling thread until its task, on this
        // runtime, has exported the queue; a runtime worker must not be the one blocked.
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "traces not flushed at shutdown"),
            Err(e) => tracing::warn!(error = %e, "traces not flushed at shutdown"),
        }
    }
}

/// Starts exporting: an OTLP/HTTP exporter behind a batch span processor on the tokio runtime
/// (so export is asynchronous network I/O, never on a request's path), and the W3C trace-context
/// propagator the gateways use. Must be called from within the runtime. Returns the tracer for
/// the `tracing` layer and the guard that flushes at exit.
pub fn start(settings: &ExportSettings) -> Result<(SdkTracer, Telemetry), String> {
    let mut client = reqwest::Client::builder()
        .timeout(settings.timeout)
        .no_proxy();
    if let Some(path) = &settings.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("OTLP CA certificate file {}: {e}", path.display()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("OTLP CA certificate file {}: {e}", path.display()))?;
        for certificate in certificates {
            client = client.add_root_certificate(certificate);
        }
    }
    let client = client
        .build()
        .map_err(|e| format!("OTLP HTTP client: {e}"))?;
    let exporter = SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(settings.endpoint.clone())
        .with_timeout(settings.timeout)
        .build()
        .map_err(|e| format!("OTLP exporter: {e}"))?;
    let processor = BatchSpanProcessor::builder(exporter, runtime::Tokio).build();
    let mut resource = Resource::builder()
        .with_attribute(KeyValue::new("psn.role", settings.role.as_str()))
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if let Some(name) = &settings.service_name {
        resource = resource.with_service_name(name.clone());
    }
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer_with_scope(
        InstrumentationScope::builder("psn")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    );
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    Ok((
        tracer,
        Telemetry {
            provider: Some(provider),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve_with(
        flag: Option<&str>,
        role: Role,
        vars: &[(&str, &str)],
    ) -> Result<Option<ExportSettings>, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve(flag, role, |name| vars.get(name).cloned())
    }

    fn endpoint(settings: Result<Option<ExportSettings>, String>) -> Option<String> {
        settings.expect("valid").map(|s| s.endpoint)
    }

    #[test]
    fn off_without_an_endpoint() {
        assert_eq!(resolve_with(None, Role::Gateway, &[]), Ok(None));
        let empty = [("OTEL_EXPORTER_OTLP_ENDPOINT", "")];
        assert_eq!(resolve_with(Some(" "), Role::Gateway, &empty), Ok(None));
    }

    #[test]
    fn flag_overrides_the_variables_and_gets_the_traces_path() {
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://env:4318/custom",
            ),
            ("OTEL_SDK_DISABLED", "true"),
        ];
        assert_eq!(
            endpoint(resolve_with(
                Some("http://flag:4318/"),
                Role::Gateway,
                &vars
            )),
            Some("http://flag:4318/v1/traces".into())
        );
    }

    #[test]
    fn per_signal_variable_is_used_as_it_is_and_wins_over_the_base() {
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://traces:443/in",
            ),
        ];
        assert_eq!(
            endpoint(resolve_with(None, Role::Gateway, &vars)),
            Some("https://traces:443/in".into())
        );
        let base = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318/prefix")];
        assert_eq!(
            endpoint(resolve_with(None, Role::Gateway, &base)),
            Some("http://base:4318/prefix/v1/traces".into())
        );
    }

    #[test]
    fn disabled_by_the_standard_switches() {
        for switch in [
            ("OTEL_SDK_DISABLED", "TRUE"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ] {
            let vars = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), switch];
            assert_eq!(resolve_with(None, Role::Gateway, &vars), Ok(None));
        }
    }

    #[test]
    fn service_name_defaults_by_role_unless_the_environment_names_one() {
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        let name = |role, vars: &[(&str, &str)]| {
            resolve_with(None, role, vars)
                .expect("valid")
                .expect("on")
                .service_name
        };
        assert_eq!(name(Role::Gateway, &[base]), Some("psn-gateway".into()));
        assert_eq!(name(Role::Authority, &[base]), Some("psn-authority".into()));
        assert_eq!(name(Role::Cli, &[base]), Some("psn".into()));
        let named = [base, ("OTEL_SERVICE_NAME", "kent-gw1")];
        assert_eq!(name(Role::Gateway, &named), Some("kent-gw1".into()));
        let attributes = [base, ("OTEL_RESOURCE_ATTRIBUTES", "a=b, service.name=x")];
        assert_eq!(name(Role::Gateway, &attributes), None);
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        for vars in [
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")][..],
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://collector")][..],
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ][..],
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
            ][..],
        ] {
            assert!(resolve_with(None, Role::Gateway, vars).is_err(), "{vars:?}");
        }
    }
}
