//! The gateway's data directory. Everything a gateway needs to restart without the authority is
//! here, so several gateways of one member can share nothing but the network.
//!
//! ```text
//! gateway.toml        identity, network and authority endpoints
//! ca.pem              network CA (checked against the enrolment token's pin)
//! identity.pem        private key followed by the certificate chain (mode 0600; replaced atomically)
//! config/v{N}.json        an accepted version, whole (when fetched whole, and every 256 deltas)
//! config/v{N}.delta.json  an accepted version, as the delta from the version before it
//! ```

use crate::{io_error, GatewayError};
use psn_core::names::{GatewayId, NetworkId, ServiceId, SubsystemId};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings from `gateway.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// The network.
    pub network: NetworkId,
    /// This gateway's identity.
    pub gateway: GatewayId,
    /// Authority base URLs, in order of preference.
    pub authority: Vec<String>,
    /// Peer-facing `host:port` announced to the authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Where the member's own systems call the gateway: plain HTTP on a private interface, or
    /// HTTPS with `internal_tls`.
    #[serde(default = "default_internal_listen")]
    pub internal_listen: SocketAddr,
    /// Serve the internal listener over TLS with the member's own certificate, and optionally
    /// accept client certificates from the member's own CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_tls: Option<InternalTls>,
    /// Where peer gateways connect (mutual TLS 1.3).
    #[serde(default = "default_external_listen")]
    pub external_listen: SocketAddr,
    /// Which internal systems may act as which subsystem. A subsystem without a rule may be
    /// used from loopback only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<ClientRule>,
    /// Services this gateway provides, with their backends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<LocalService>,
    /// Size and time limits.
    #[serde(default)]
    pub limits: Limits,
    /// The audit log: sealing, rotation, and per-service durability.
    #[serde(default)]
    pub audit: AuditSettings,
    /// Aggregates for the authority and availability probes.
    #[serde(default)]
    pub monitoring: MonitoringSettings,
}

impl GatewaySettings {
    /// Settings for a newly enrolled gateway, with default listeners and limits.
    pub fn new(gateway: GatewayId, authority: Vec<String>, address: Option<String>) -> Self {
        Self {
            network: gateway.member().network().clone(),
            gateway,
            authority,
            address,
            internal_listen: default_internal_listen(),
            internal_tls: None,
            external_listen: default_external_listen(),
            clients: Vec::new(),
            services: Vec::new(),
            limits: Limits::default(),
            audit: AuditSettings::default(),
            monitoring: MonitoringSettings::default(),
        }
    }
}

fn default_internal_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_external_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8443))
}

/// Internal authentication of one subsystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRule {
    /// The subsystem, one of this member's.
    pub subsystem: SubsystemId,
    /// Source networks allowed to act as it, e.g. `10.1.0.0/16`, `127.0.0.1/32`.
    #[serde(default)]
    pub allow: Vec<String>,
    /// If set, callers must also send `PSN-Api-Key` whose SHA-256 (base64url) is this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_sha256: Option<String>,
    /// If set, callers must also present, over `internal_tls`, a certificate issued by its
    /// `client_ca` that names this (subject common name, DNS or URI alternative name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_name: Option<String>,
}

/// TLS on the internal listener. Relative paths are read from the gateway data directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InternalTls {
    /// PEM certificate chain the listener presents (the member's own PKI, not the network's).
    pub certificate: PathBuf,
    /// PEM private key for it.
    pub key: PathBuf,
    /// PEM CA bundle that issues the member's client certificates; without it no client
    /// certificate is asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
}

/// A service this gateway provides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalService {
    /// The service id (one of this member's subsystems).
    pub id: ServiceId,
    /// Base URL of the backend (`http://` or `https://host:port/path`); the rest of the
    /// request path is appended.
    pub backend: String,
    /// PEM CA bundle trusted for an `https://` backend (required for one; the backend's host
    /// name is checked against its certificate). Relative to the data directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_ca: Option<PathBuf>,
    /// Path on the backend that answers 2xx while it is healthy (e.g. `/healthz`). The gateway
    /// probes it, records each probe in its audit log and answers consumers' probes with the
    /// result, so the backend's availability is known without traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_path: Option<String>,
}

impl LocalService {
    /// The backend URL of `path_and_query` (appended to the backend's base URL).
    pub fn backend_uri(&self, path_and_query: &str) -> Result<http::Uri, http::uri::InvalidUri> {
        format!("{}{path_and_query}", self.backend.trim_end_matches('/')).parse()
    }

    /// Checks the backend URL (and, for `https://`, its CA bundle) so a mistake is reported when
    /// the service is added or the gateway starts, not on the first call. Returns the CA bundle
    /// PEM for an `https://` backend.
    pub fn check_backend(&self, dir: &GatewayDir) -> Result<Option<String>, GatewayError> {
        let bad = |why: &str| {
            GatewayError::Setup(format!("backend {:?} of {}: {why}", self.backend, self.id))
        };
        let uri: http::Uri = self
            .backend
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
        if uri.authority().is_none() {
            return Err(bad("the URL names no host"));
        }
        if let Some(path) = &self.health_path {
            let valid = path.starts_with('/')
                && path.len() <= 1024
                && path.parse::<http::uri::PathAndQuery>().is_ok();
            if !valid {
                return Err(bad(&format!(
                    "health path {path:?} must be an absolute path such as /healthz"
                )));
            }
        }
        match (uri.scheme_str(), &self.backend_ca) {
            (Some("http"), None) => Ok(None),
            (Some("http"), Some(_)) => Err(bad("a backend CA applies only to an https:// backend")),
            (Some("https"), Some(ca)) => {
                let pem = dir.read_named("backend CA", ca)?;
                psn_pki::backend_client_config(&pem).map_err(|e| bad(&e.to_string()))?;
                Ok(Some(pem))
            }
            (Some("https"), None) => Err(bad(
                "an https:// backend needs backend_ca (the CA bundle its certificate chains to)",
            )),
            _ => Err(bad("the URL must start with http:// or https://")),
        }
    }
}

/// The audit log's settings (`[audit]` in `gateway.toml`). Every exchange is recorded; these
/// say how often the chain is sealed, when segments rotate, and which services trade the
/// durability of their records for throughput.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Seal after this many records.
    pub seal_every_records: u64,
    /// Seal unsealed records at least this often.
    #[serde(with = "psn_core::duration::text")]
    pub seal_interval: Duration,
    /// Start a new segment at this size.
    pub max_segment_bytes: u64,
    /// Start a new segment at this age.
    #[serde(with = "psn_core::duration::text")]
    pub max_segment_age: Duration,
    /// Services whose records are synced at most `max_delay` after the response is released,
    /// rather than before (a power failure inside that window can lose them; a process crash
    /// cannot). Applies on either side of the exchange.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buffered: Vec<BufferedAudit>,
    /// Services whose request and response bodies are kept next to the log (covered by the
    /// records' digests). By default no body is kept: data minimisation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keep_bodies: Vec<ServiceId>,
    /// How often closed segments are compressed into `audit/archive/` (and retention applied).
    #[serde(with = "psn_core::duration::text")]
    pub archive_interval: Duration,
    /// Delete archives (and the bodies they kept) this long after their final seal; without it
    /// archives are kept forever. Unsealed and unarchived segments are never deleted.
    #[serde(
        with = "psn_core::duration::optional_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub retention: Option<Duration>,
    /// Refusals of requests whose caller or target was never established (no or an unknown
    /// `PSN-Client`, a malformed message id or path, an untrusted peer…) recorded per second,
    /// with bursts of ten times as many. Beyond it they are only counted
    /// (`psn_gateway_refusals_unrecorded_total`), so a flood of bad requests can neither fill
    /// the disk nor queue good exchanges behind its records.
    pub unidentified_refusals_per_second: u32,
}

/// The most refusals of unidentified requests a gateway may be set to record per second.
pub const MAX_UNIDENTIFIED_REFUSALS_PER_SECOND: u32 = 10_000;

/// One service whose audit records are written with buffered durability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferedAudit {
    /// The service.
    pub service: ServiceId,
    /// Longest a record waits for its sync.
    #[serde(with = "psn_core::duration::text")]
    pub max_delay: Duration,
}

/// The log's own defaults, archival hourly, archives kept forever.
impl Default for AuditSettings {
    fn default() -> Self {
        let log = psn_audit::LogOptions::default();
        Self {
            seal_every_records: log.seal_every_records,
            seal_interval: log.seal_interval,
            max_segment_bytes: log.max_segment_bytes,
            max_segment_age: log.max_segment_age,
            buffered: Vec::new(),
            keep_bodies: Vec::new(),
            archive_interval: Duration::from_secs(3600),
            retention: None,
            unidentified_refusals_per_second: 50,
        }
    }
}

impl AuditSettings {
    /// Refuses settings the log could not run with, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        let zero = [
            ("seal_interval", self.seal_interval.is_zero()),
            ("archive_interval", self.archive_interval.is_zero()),
            ("seal_every_records", self.seal_every_records == 0),
            ("max_segment_bytes", self.max_segment_bytes == 0),
            (
                "unidentified_refusals_per_second",
                self.unidentified_refusals_per_second == 0,
            ),
        ];
        if let Some((field, _)) = zero.iter().find(|(_, is_zero)| *is_zero) {
            return Err(format!("[audit] {field} must be more than zero"));
        }
        if self.unidentified_refusals_per_second > MAX_UNIDENTIFIED_REFUSALS_PER_SECOND {
            return Err(format!(
                "[audit] unidentified_refusals_per_second must be at most {MAX_UNIDENTIFIED_REFUSALS_PER_SECOND}"
            ));
        }
        Ok(())
    }

    /// The log's options.
    pub fn log_options(&self) -> psn_audit::LogOptions {
        psn_audit::LogOptions {
            seal_every_records: self.seal_every_records,
            seal_interval: self.seal_interval,
            max_segment_bytes: self.max_segment_bytes,
            max_segment_age: self.max_segment_age,
        }
    }
}

/// Operational monitoring (`[monitoring]` in `gateway.toml`, DESIGN.md "Operational monitoring
/// and SLAs"): how often the per-minute aggregates derived from the audit log go to the
/// authority, and how often providers and backends are probed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitoringSettings {
    /// How often new audit records are aggregated and pushed to the authority.
    #[serde(with = "psn_core::duration::text")]
    pub push_interval: Duration,
    /// How often the provider gateways of the services this member uses, and this gateway's
    /// own backends with a `health_path`, are probed.
    #[serde(with = "psn_core::duration::text")]
    pub probe_interval: Duration,
    /// Longest a probe waits for its answer.
    #[serde(with = "psn_core::duration::text")]
    pub probe_timeout: Duration,
    /// Turns probing off (aggregates of member traffic are still pushed).
    pub probes: bool,
    /// Turns delivery of aggregates to the authority off (the audit log still holds every
    /// record, and delivery resumes from the authority's cursor when turned back on).
    pub aggregates: bool,
}

impl Default for MonitoringSettings {
    fn default() -> Self {
        Self {
            push_interval: Duration::from_secs(10),
            probe_interval: Duration::from_secs(30),
            probe_timeout: Duration::from_secs(5),
            probes: true,
            aggregates: true,
        }
    }
}

impl MonitoringSettings {
    /// Refuses intervals the gateway could not run with, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        let zero = [
            ("push_interval", self.push_interval),
            ("probe_interval", self.probe_interval),
            ("probe_timeout", self.probe_timeout),
        ];
        match zero.iter().find(|(_, d)| d.is_zero()) {
            Some((field, _)) => Err(format!("[monitoring] {field} must be more than zero")),
            None => Ok(()),
        }
    }
}

/// Limits on every exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest request or response body, bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: u64,
    /// Time to connect to a peer gateway or backend.
    #[serde(with = "psn_core::duration::text", default = "default_connect_timeout")]
    pub connect_timeout: Duration,
    /// Time from sending a request to receiving the response head.
    #[serde(
        with = "psn_core::duration::text",
        default = "default_response_timeout"
    )]
    pub response_timeout: Duration,
}

fn default_max_body() -> u64 {
    4 * 1024 * 1024 * 1024
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_response_timeout() -> Duration {
    Duration::from_secs(30)
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: default_max_body(),
            connect_timeout: default_connect_timeout(),
            response_timeout: default_response_timeout(),
        }
    }
}

/// Paths in a gateway data directory.
#[derive(Debug, Clone)]
pub struct GatewayDir {
    root: PathBuf,
}

impl GatewayDir {
    /// The directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `gateway.toml`.
    pub fn settings(&self) -> PathBuf {
        self.root.join("gateway.toml")
    }
    /// Network CA.
    pub fn ca(&self) -> PathBuf {
        self.root.join("ca.pem")
    }
    /// Key and chain.
    pub fn identity(&self) -> PathBuf {
        self.root.join("identity.pem")
    }
    /// Configuration cache directory.
    pub fn config_dir(&self) -> PathBuf {
        self.root.join("config")
    }

    /// Reads a file named in `gateway.toml` (relative to this directory unless absolute).
    pub fn read_named(&self, what: &str, path: &Path) -> Result<String, GatewayError> {
        let path = self.root.join(path);
        std::fs::read_to_string(&path)
            .map_err(|e| GatewayError::Setup(format!("{what} {}: {e}", path.display())))
    }

    /// Reads `gateway.toml`.
    pub fn load_settings(&self) -> Result<GatewaySettings, GatewayError> {
        let path = self.settings();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            GatewayError::Setup(format!(
                "{}: {e} (is this a gateway data directory? create one with `psn gateway enrol`)",
                path.display()
            ))
        })?;
        toml::from_str(&text).map_err(|e| GatewayError::Setup(format!("{}: {e}", path.display())))
    }

    /// Writes `gateway.toml` atomically.
    pub fn save_settings(&self, settings: &GatewaySettings) -> Result<(), GatewayError> {
        let text = toml::to_string(settings).map_err(|e| GatewayError::Setup(e.to_string()))?;
        write_private(&self.settings(), text.as_bytes())
    }

    /// Reads the network CA (DER).
    pub fn load_ca(&self) -> Result<Vec<u8>, GatewayError> {
        let path = self.ca();
        let pem = std::fs::read_to_string(&path).map_err(io_error(&path))?;
        Ok(psn_pki::parse_pem_certificates(&pem)?.remove(0).to_vec())
    }

    /// Reads the key and chain.
    pub fn load_identity(&self) -> Result<(psn_pki::TlsIdentity, String), GatewayError> {
        let path = self.identity();
        let pem = std::fs::read_to_string(&path).map_err(io_error(&path))?;
        Ok((psn_pki::TlsIdentity::from_pem(&pem, &pem)?, pem))
    }
}

/// Writes a file readable only by its owner, atomically and durably.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> Result<(), GatewayError> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(io_error(&tmp))?;
    file.write_all(contents).map_err(io_error(&tmp))?;
    file.sync_all().map_err(io_error(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_error(path))?;
    sync_parent(path);
    Ok(())
}

/// Makes a rename into `path`'s directory durable, where the platform allows.
fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent() {
        if let Ok(dir) = std::fs::File::open(parent) {
            let _ = dir.sync_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audit_section_names_only_what_differs_from_the_defaults() {
        let settings: AuditSettings =
            toml::from_str("retention = \"400d\"\nseal_interval = \"250ms\"").expect("parse");
        assert_eq!(settings.retention, Some(Duration::from_secs(400 * 86_400)));
        assert_eq!(settings.seal_interval, Duration::from_millis(250));
        assert_eq!(
            settings.max_segment_bytes,
            AuditSettings::default().max_segment_bytes
        );
        let text = toml::to_string(&settings).expect("write");
        assert_eq!(toml::from_str::<AuditSettings>(&text), Ok(settings));
        assert!(toml::from_str::<AuditSettings>("retention = \"forever\"").is_err());
        assert!(toml::from_str::<AuditSettings>("sael_interval = \"1s\"").is_err());
        for zero in [
            "seal_interval = \"0s\"",
            "archive_interval = \"0ms\"",
            "seal_every_records = 0",
            "max_segment_bytes = 0",
        ] {
            let settings: AuditSettings = toml::from_str(zero).expect("parse");
            let field = zero.split(' ').next().unwrap_or_default();
            assert!(
                settings.validate().is_err_and(|e| e.contains(field)),
                "{zero} accepted"
            );
        }
        assert!(AuditSettings::default().validate().is_ok());
    }

    #[test]
    fn a_monitoring_section_is_checked_and_refuses_zero_intervals() {
        let settings: MonitoringSettings =
            toml::from_str("push_interval = \"2s\"\nprobes = false").expect("parse");
        assert_eq!(settings.push_interval, Duration::from_secs(2));
        assert!(!settings.probes);
        assert_eq!(
            settings.probe_interval,
            MonitoringSettings::default().probe_interval
        );
        for hostile in [
            "push_interval = \"soon\"",
            "probe_interval = -1",
            "probes = \"yes\"",
            "push_intervall = \"1s\"",
        ] {
            assert!(
                toml::from_str::<MonitoringSettings>(hostile).is_err(),
                "{hostile} accepted"
            );
        }
        for zero in [
            "push_interval = \"0s\"",
            "probe_interval = \"0ms\"",
            "probe_timeout = \"0s\"",
        ] {
            let settings: MonitoringSettings = toml::from_str(zero).expect("parse");
            let field = zero.split(' ').next().unwrap_or_default();
            assert!(
                settings.validate().is_err_and(|e| e.contains(field)),
                "{zero} accepted"
            );
        }
        assert!(MonitoringSettings::default().validate().is_ok());
    }

    #[test]
    fn backends_are_checked_when_added_not_on_the_first_call() {
        let dir = tempfile::tempdir().expect("tempdir");
        let gateway_dir = GatewayDir::new(dir.path());
        let service = |backend: &str, backend_ca: Option<&str>| LocalService {
            id: "GB/GOV/D6/eligibility/fsm-check".parse().expect("service"),
            backend: backend.into(),
            backend_ca: backend_ca.map(PathBuf::from),
            health_path: None,
        };
        assert_eq!(
            service("http://10.0.0.5:9000/fsm", None)
                .check_backend(&gateway_dir)
                .ok(),
            Some(None)
        );
        for (backend, ca, why) in [
            ("http://10.0.0.5:9000", Some("ca.pem"), "only to an https"),
            ("https://fsm.internal", None, "needs backend_ca"),
            ("https://fsm.internal", Some("missing.pem"), "missing.pem"),
            ("ftp://fsm.internal/", None, "http:// or https://"),
            ("/relative/path", None, "no host"),
            ("http://exa mple", None, "backend"),
        ] {
            let error = service(backend, ca)
                .check_backend(&gateway_dir)
                .expect_err(backend);
            assert!(error.to_string().contains(why), "{backend}: {error}");
        }
        for bad in ["healthz", "/a b", &format!("/{}", "x".repeat(1024))] {
            let mut with_health = service("http://10.0.0.5:9000", None);
            with_health.health_path = Some(bad.to_owned());
            let error = with_health.check_backend(&gateway_dir).expect_err(bad);
            assert!(error.to_string().contains("health path"), "{bad}: {error}");
        }
        let mut with_health = service("http://10.0.0.5:9000", None);
        with_health.health_path = Some("/healthz?deep=1".into());
        assert!(with_health.check_backend(&gateway_dir).is_ok());
        std::fs::write(dir.path().join("not-a-ca.pem"), "not PEM").expect("write");
        assert!(service("https://fsm.internal", Some("not-a-ca.pem"))
            .check_backend(&gateway_dir)
            .is_err());
    }
}
