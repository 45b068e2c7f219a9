//! The authority's data directory: settings, keys and (by default) the SQLite database.
//!
//! ```text
//! authority.toml          settings (network, database, validity periods, OpenID Connect providers)
//! ca.pem, ca-key.pem      network CA (key mode 0600)
//! signer.pem, signer-key.pem   configuration-signing key and certificate (key mode 0600)
//! operator.token          the first operator's API token (mode 0600)
//! authority.db            SQLite registry, unless database_url points elsewhere
//! authority.json          while serving: the API URL and process id, for the local CLI
//! ```

use psn_api::PersonRole;
use psn_core::names::{MemberId, NetworkId};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings from `authority.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The network this authority runs.
    pub network: NetworkId,
    /// `postgres://...` for PostgreSQL; absent for the embedded SQLite file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Lifetime of gateway certificates; gateways renew after two thirds of it.
    #[serde(
        with = "psn_core::duration::text",
        default = "default_certificate_validity"
    )]
    pub gateway_certificate_validity: Duration,
    /// Validity window of each configuration version.
    #[serde(with = "psn_core::duration::text", default = "default_config_validity")]
    pub config_validity: Duration,
    /// Default lifetime of enrolment tokens.
    #[serde(with = "psn_core::duration::text", default = "default_token_validity")]
    pub token_validity: Duration,
    /// OpenID Connect providers people may sign in to the web UI with (`[[oidc]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub oidc: Vec<OidcProvider>,
    /// Publication rules of benchmark reports (`[benchmarks]`, docs/benchmarks.md).
    #[serde(default)]
    pub benchmarks: BenchmarkSettings,
    /// The compliance policy (`[compliance]`, docs/compliance.md).
    #[serde(default)]
    pub compliance: ComplianceSettings,
    /// How partners' configurations are followed (`[federation]`, docs/federation.md).
    #[serde(default)]
    pub federation: FederationSettings,
}

/// How this authority follows its federated partners (`[federation]` in `authority.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationSettings {
    /// How long one poll of a partner's authority is held open waiting for a change (a long
    /// poll): a partner's change arrives as soon as it is published, and a quiet partner is
    /// heard from at least this often.
    #[serde(with = "psn_core::duration::text", default = "default_poll_wait")]
    pub poll_wait: Duration,
    /// How many polling intervals may pass without an answer before the partner is shown as
    /// `degraded` (its last good configuration is still used until it expires).
    #[serde(default = "default_missed_polls")]
    pub missed_polls: u32,
}

impl Default for FederationSettings {
    fn default() -> Self {
        Self {
            poll_wait: default_poll_wait(),
            missed_polls: default_missed_polls(),
        }
    }
}

fn default_poll_wait() -> Duration {
    Duration::from_secs(25)
}

fn default_missed_polls() -> u32 {
    3
}

/// The network's compliance policy (`[compliance]` in `authority.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplianceSettings {
    /// A member needs a current connection certificate to be given enrolment tokens; a member
    /// whose connection certificate lapses (expires or is withdrawn) is suspended, so its
    /// gateways leave the next configuration, and reinstated by a new certificate.
    #[serde(default)]
    pub require_connection: bool,
    /// A member needs a current service-provision certificate to publish listings; a member
    /// whose service-provision certificate lapses has its services withheld from the
    /// configuration and the catalogue until a new one is issued.
    #[serde(default)]
    pub require_service_provision: bool,
    /// How often certificates are checked for expiry and reminders.
    #[serde(
        with = "psn_core::duration::text",
        default = "default_compliance_interval"
    )]
    pub check_interval: Duration,
    /// The network's own framework files (JSON, as `GET /v1/compliance/frameworks/{id}/{version}`
    /// answers), relative to the data directory: new versions, or frameworks issuing the
    /// network's own certificate kinds, adopted beside the shipped ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frameworks: Vec<PathBuf>,
    /// For rehearsing the lifecycle: a file, relative to the data directory, holding a number
    /// of seconds the compliance clock runs ahead of real time (read at every check, so a
    /// rehearsal moves time without a restart). Never set on a live network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rehearsal_clock_file: Option<PathBuf>,
}

impl Default for ComplianceSettings {
    fn default() -> Self {
        Self {
            require_connection: false,
            require_service_provision: false,
            check_interval: default_compliance_interval(),
            frameworks: Vec::new(),
            rehearsal_clock_file: None,
        }
    }
}

fn default_compliance_interval() -> Duration {
    Duration::from_secs(60)
}

/// The network's publication rules for benchmarks (`[benchmarks]` in `authority.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkSettings {
    /// Months after a financial year ends before a member's own figures are shown to others
    /// (unless it opts in).
    #[serde(default = "default_embargo_months")]
    pub embargo_months: u32,
    /// Fewest contributors an aggregate is shown for.
    #[serde(default = "default_min_contributors")]
    pub min_contributors: u32,
    /// A peer model to use instead of the shipped one (JSON, as `GET /v1/benchmarks/model`
    /// answers), relative to the data directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_model: Option<PathBuf>,
    /// More variables for the peer model, as CSV files of `code,<variable>,...` (council GSS
    /// codes), relative to the data directory, merged in order over the shipped profiles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peer_variables: Vec<PathBuf>,
}

impl Default for BenchmarkSettings {
    fn default() -> Self {
        Self {
            embargo_months: default_embargo_months(),
            min_contributors: default_min_contributors(),
            peer_model: None,
            peer_variables: Vec::new(),
        }
    }
}

fn default_embargo_months() -> u32 {
    12
}
fn default_min_contributors() -> u32 {
    5
}

/// Longest provider `name`: it is part of URLs and of the usernames of its people.
pub const MAX_PROVIDER_NAME: usize = 32;

/// An OpenID Connect provider (`[[oidc]]` in `authority.toml`, docs/ui.md "OpenID Connect").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProvider {
    /// Short id, in URLs (`/ui/sign-in/oidc/{name}`) and usernames: `a-z`, `0-9`, `-`.
    pub name: String,
    /// Shown on the button: "Sign in with {label}".
    pub label: String,
    /// The issuer (`https://`); discovery is at `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The client id registered with the provider; ID tokens must be addressed to it.
    pub client_id: String,
    /// File holding the client secret, relative to the data directory (mode 0600).
    pub client_secret_file: PathBuf,
    /// This authority's callback as registered with the provider:
    /// `https://HOST:PORT/ui/sign-in/oidc/{name}/callback`.
    pub redirect_url: String,
    /// Extra trust roots (PEM) for the provider's TLS, relative to the data directory; the
    /// system's roots are trusted too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Scopes to ask for besides `openid`, for the claims the rules read (`["profile",
    /// "groups"]`, as the provider names them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Claim-to-role rules, first match wins; no match refuses sign-in.
    #[serde(default)]
    pub rules: Vec<OidcRule>,
}

/// A rule mapping a claim value to a member and role (`[[oidc.rules]]`). Mapping is explicit
/// per provider, so one body's provider grants only what the operator wrote here.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcRule {
    /// Name of a string or array-of-strings claim of the ID token (or, when the token has none
    /// of the rules' claims, of the provider's userinfo answer).
    pub claim: String,
    /// The value the claim must be, or contain.
    pub value: String,
    /// Member the person acts for (member roles only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberId>,
    /// Role given.
    pub role: PersonRole,
}

impl OidcProvider {
    /// The callback path this provider's `redirect_url` must end with.
    pub fn callback_path(&self) -> String {
        format!("/ui/sign-in/oidc/{}/callback", self.name)
    }

    /// Checks one provider's fields; `at` names it in messages (`oidc[0] (kent)`).
    fn validate(&self, at: &str) -> Result<(), String> {
        let url_safe = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        if self.name.is_empty()
            || self.name.len() > MAX_PROVIDER_NAME
            || !self.name.chars().all(url_safe)
        {
            return Err(format!(
                "{at}.name: 1 to {MAX_PROVIDER_NAME} characters of a-z, 0-9 and -"
            ));
        }
        if self.label.trim().is_empty() || self.label.len() > 100 {
            return Err(format!("{at}.label: 1 to 100 characters"));
        }
        if !https_url(&self.issuer) {
            return Err(format!("{at}.issuer: must be an https:// URL"));
        }
        let scope_char = |c: char| c.is_ascii_graphic() && c != '"' && c != '\\';
        if let Some(bad) = self
            .scopes
            .iter()
            .find(|s| s.is_empty() || s.as_str() == "openid" || !s.chars().all(scope_char))
        {
            return Err(format!(
                "{at}.scopes: {bad:?} is not a scope to add (openid is always asked for)"
            ));
        }
        if self.client_id.is_empty() {
            return Err(format!("{at}.client_id: must not be empty"));
        }
        let callback = self.callback_path();
        if !https_url(&self.redirect_url) || !self.redirect_url.ends_with(&callback) {
            return Err(format!(
                "{at}.redirect_url: must be https://HOST[:PORT]{callback} (this authority's \
                 public address)"
            ));
        }
        if self.rules.is_empty() {
            return Err(format!(
                "{at}.rules: at least one [[oidc.rules]] is needed, or nobody could sign in"
            ));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let at = format!("{at}.rules[{i}]");
            if rule.claim.is_empty() || rule.value.is_empty() {
                return Err(format!("{at}: claim and value must not be empty"));
            }
            rule.role
                .check_member(rule.member.as_ref())
                .map_err(|e| format!("{at}.member: {e}"))?;
        }
        Ok(())
    }
}

/// Whether `url` is `https://` with a host.
fn https_url(url: &str) -> bool {
    url.strip_prefix("https://")
        .and_then(|rest| rest.split(['/', '?', '#']).next())
        .is_some_and(|host| !host.is_empty() && !url.contains(char::is_whitespace))
}

fn default_certificate_validity() -> Duration {
    Duration::from_secs(7 * 86_400)
}
fn default_config_validity() -> Duration {
    Duration::from_secs(7 * 86_400)
}
fn default_token_validity() -> Duration {
    Duration::from_secs(86_400)
}

impl Settings {
    /// Defaults for a new network.
    pub fn new(network: NetworkId, database_url: Option<String>) -> Self {
        Self {
            network,
            database_url,
            gateway_certificate_validity: default_certificate_validity(),
            config_validity: default_config_validity(),
            token_validity: default_token_validity(),
            oidc: Vec::new(),
            benchmarks: BenchmarkSettings::default(),
            compliance: ComplianceSettings::default(),
            federation: FederationSettings::default(),
        }
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.gateway_certificate_validity < Duration::from_secs(600) {
            return Err("gateway_certificate_validity must be at least 10m".into());
        }
        if self.compliance.check_interval < Duration::from_secs(1)
            || self.compliance.check_interval > Duration::from_secs(86_400)
        {
            return Err("[compliance] check_interval must be between 1s and 1d".into());
        }
        if self.federation.poll_wait < Duration::from_secs(1)
            || self.federation.poll_wait > Duration::from_secs(60)
        {
            return Err("[federation] poll_wait must be between 1s and 60s".into());
        }
        if !(1..=100).contains(&self.federation.missed_polls) {
            return Err("[federation] missed_polls must be between 1 and 100".into());
        }
        if self.config_validity < Duration::from_secs(600) {
            return Err("config_validity must be at least 10m".into());
        }
        if self.token_validity < Duration::from_secs(60) {
            return Err("token_validity must be at least 1m".into());
        }
        if self.benchmarks.embargo_months > 120 {
            return Err("benchmarks.embargo_months must be at most 120".into());
        }
        if !(2..=1000).contains(&self.benchmarks.min_contributors) {
            return Err("benchmarks.min_contributors must be 2 to 1000".into());
        }
        for (i, provider) in self.oidc.iter().enumerate() {
            let at = format!("oidc[{i}] ({})", provider.name);
            provider.validate(&at)?;
            if self.oidc[..i].iter().any(|p| p.name == provider.name) {
                return Err(format!("{at}.name: another provider has this name"));
            }
        }
        Ok(())
    }
}

/// Paths inside an authority data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `authority.toml`.
    pub fn settings(&self) -> PathBuf {
        self.root.join("authority.toml")
    }
    /// CA certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.root.join("ca.pem")
    }
    /// CA key.
    pub fn ca_key(&self) -> PathBuf {
        self.root.join("ca-key.pem")
    }
    /// Signer certificate.
    pub fn signer_cert(&self) -> PathBuf {
        self.root.join("signer.pem")
    }
    /// Signer key.
    pub fn signer_key(&self) -> PathBuf {
        self.root.join("signer-key.pem")
    }
    /// First operator's token.
    pub fn operator_token(&self) -> PathBuf {
        self.root.join("operator.token")
    }
    /// Embedded database file.
    pub fn database(&self) -> PathBuf {
        self.root.join("authority.db")
    }
    /// Runtime file written while serving.
    pub fn runtime(&self) -> PathBuf {
        self.root.join("authority.json")
    }
    /// The database URL: the configured one, or the embedded SQLite file.
    pub fn database_url(&self, settings: &Settings) -> String {
        settings
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.database().display()))
    }

    /// Reads and validates `authority.toml`.
    pub fn load_settings(&self) -> Result<Settings, String> {
        let path = self.settings();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!("{}: {e} (is this an authority data directory? create one with `psn authority init`)", path.display())
        })?;
        let settings: Settings =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        settings
            .validate()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(settings)
    }
}

/// What `authority serve` publishes for the local CLI.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Runtime {
    /// Base URL of the API.
    pub url: String,
    /// Serving process.
    pub pid: u32,
}

/// Writes a file readable only by its owner, atomically (temporary file then rename), so a crash
/// never leaves a half-written key.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::Settings;

    /// The README's `[[oidc]]` example is a valid configuration, so the documentation cannot
    /// drift from what the authority accepts.
    #[test]
    fn the_readme_provider_example_is_valid() {
        let readme = include_str!("../../../README.md");
        let start = readme
            .find("```toml\n[[oidc]]")
            .expect("the README's [[oidc]] example");
        let block = &readme[start + "```toml\n".len()..];
        let block = &block[..block.find("```").expect("end of the example")];
        let settings: Settings =
            toml::from_str(&format!("network = \"GB\"\n{block}")).expect("parses");
        settings.validate().expect("valid");
        assert_eq!(settings.oidc.len(), 1);
        assert_eq!(settings.oidc[0].rules.len(), 2);
    }
}
