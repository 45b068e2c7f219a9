//! OpenID Connect sign-in (docs/ui.md "OpenID Connect"): the authorization code flow with PKCE
//! (S256), `state` and `nonce`, against the providers configured in `authority.toml`. The
//! `openidconnect` crate does discovery, the token exchange and every check of the ID token
//! (signature against the provider's JWKS, issuer, audience, expiry, nonce); this module keeps
//! the sign-in in flight on the server, maps claims to a member and role by the provider's rules,
//! and starts the same session as password sign-in.
//!
//! A provider that cannot be reached never stops the authority: discovery happens at the first
//! sign-in with it (and again when the cached copy is `DISCOVERY_TTL` old), within
//! `DISCOVERY_TIMEOUT`, and its failure is an error page for that button only.

use super::render::{error_page, layout, render, Failure};
use super::session::{cookie, forged_form, random_token, same_token};
use super::signin::{start, unreadable_form, TokenForm};
use super::views::SignedInPage;
use super::Ui;
use crate::datadir::{DataDir, OidcProvider, OidcRule, Settings};
use crate::store::{OidcIdentity, OidcLinked, OidcPending, StoreError};
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    StandardErrorResponse, StandardTokenResponse, SubjectIdentifier, TokenResponse, UserInfoClaims,
    UserInfoError,
};
use psn_api::MAX_USERNAME;
use psn_core::problem::error_chain;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// The cookie binding a sign-in in flight to the browser that started it. `SameSite=Lax`, not
/// `Strict`: the provider sends the browser back with a cross-site top-level GET, which must
/// carry it.
pub const OIDC_COOKIE: &str = "__Host-psn-oidc";
/// How long a sign-in may take between the button and the callback.
const FLOW_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// How long a provider's discovery document and keys are used before being fetched again (so a
/// rotated signing key is picked up).
const DISCOVERY_TTL: Duration = Duration::from_secs(15 * 60);
/// Bound on discovery (the document and the JWKS) as a whole.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(15);
/// Bound on each request to a provider.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on connecting to a provider.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest `code` accepted on the callback; real ones are far shorter.
const MAX_CODE: usize = 2048;
/// Longest `state` accepted (ours are 43 characters).
const MAX_STATE: usize = 128;
/// Longest `error` and `error_description` shown; longer ones are cut, not refused, so the
/// person still learns what the provider said.
const MAX_ERROR_SHOWN: usize = 300;

/// Every claim of an ID token beyond the standard ones (`groups`, say), so rules can match them.
#[derive(Debug, Deserialize, Serialize)]
pub struct OtherClaims(HashMap<String, serde_json::Value>);
impl AdditionalClaims for OtherClaims {}

type Tokens = StandardTokenResponse<
    IdTokenFields<
        OtherClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

/// A provider's client as discovery makes it: authorization endpoint known, token and userinfo
/// endpoints as the provider's metadata says.
type OidcClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// One configured provider, ready to use.
struct Provider {
    config: OidcProvider,
    secret: String,
    http: reqwest::Client,
    /// The discovered client and when it was discovered.
    discovered: Mutex<Option<(Instant, Arc<OidcClient>)>>,
}

/// The configured providers.
#[derive(Default)]
pub struct OidcProviders {
    list: Vec<Provider>,
}

/// A provider's button on the sign-in page.
pub struct ProviderButton {
    /// Its `name` (in the form's URL).
    pub name: String,
    /// Its label.
    pub label: String,
}

impl OidcProviders {
    /// Reads each provider's client secret and extra trust roots from the data directory and
    /// builds its HTTPS client. `Settings::validate` has checked the fields themselves; the
    /// messages name the field at fault.
    pub fn load(dir: &DataDir, settings: &Settings) -> Result<Self, String> {
        let list = settings
            .oidc
            .iter()
            .enumerate()
            .map(|(i, config)| {
                let at = format!("oidc[{i}] ({})", config.name);
                let secret = read_secret(&dir.root().join(&config.client_secret_file))
                    .map_err(|e| format!("{at}.client_secret_file: {e}"))?;
                let ca = config
                    .ca_file
                    .as_ref()
                    .map(|f| {
                        let path = dir.root().join(f);
                        std::fs::read_to_string(&path)
                            .map_err(|e| format!("{at}.ca_file: {}: {e}", path.display()))
                    })
                    .transpose()?;
                let http = http_client(ca.as_deref()).map_err(|e| format!("{at}.ca_file: {e}"))?;
                Ok(Provider {
                    config: config.clone(),
                    secret,
                    http,
                    discovered: Mutex::new(None),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { list })
    }

    /// The buttons of the sign-in page, in configuration order.
    pub fn buttons(&self) -> Vec<ProviderButton> {
        self.list
            .iter()
            .map(|p| ProviderButton {
                name: p.config.name.clone(),
                label: p.config.label.clone(),
            })
            .collect()
    }

    /// The sign-in page's Content-Security-Policy when providers are configured: its
    /// `form-action` must also allow the redirect to each provider (browsers check it on the
    /// redirects that follow a form), that is its issuer's origin and, once discovered, its
    /// authorization endpoint's.
    pub fn sign_in_policy(&self) -> Option<HeaderValue> {
        if self.list.is_empty() {
            return None;
        }
        let mut origins: Vec<String> = Vec::new();
        for p in &self.list {
            origins.extend(origin(&p.config.issuer));
            if let Some((_, client)) = &*lock(&p.discovered) {
                origins.extend(origin(client.auth_uri().as_str()));
            }
        }
        origins.sort();
        origins.dedup();
        let policy = super::CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'",
            &format!("form-action 'self' {}", origins.join(" ")),
        );
        HeaderValue::from_str(&policy).ok()
    }

    fn get(&self, name: &str) -> Option<&Provider> {
        self.list.iter().find(|p| p.config.name == name)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `scheme://host[:port]` of a URL, as a CSP source. Only plain host names and addresses are
/// used: an endpoint comes from the provider's discovery document, and a `;` or `'` in it must
/// not add to the policy.
fn origin(url: &str) -> Option<String> {
    let origin = openidconnect::url::Url::parse(url).ok()?.origin();
    let text = origin.ascii_serialization();
    let plain = |c: char| c.is_ascii_alphanumeric() || ".-:/[]".contains(c);
    (origin.is_tuple() && text.chars().all(plain)).then_some(text)
}

/// A client secret file: first line, trimmed; refused when empty or (on Unix) readable by
/// anyone but its owner, like the authority's own keys.
fn read_secret(path: &std::path::Path) -> Result<String, String> {
    let shown = path.display();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| format!("{shown}: {e}"))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "{shown} may be read by others (mode {:o}); make it 0600",
                mode & 0o777
            ));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    let secret = text.lines().next().unwrap_or_default().trim();
    if secret.is_empty() {
        return Err(format!("{shown} is empty"));
    }
    Ok(secret.to_owned())
}

/// The HTTPS client for one provider: the system's trust roots plus `ca_pem`, no redirects
/// followed (discovery and token requests must go where configured), bounded timeouts.
fn http_client(ca_pem: Option<&str>) -> Result<reqwest::Client, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A system root rustls cannot use is skipped, as browsers skip it.
        let _ = roots.add(cert);
    }
    if let Some(pem) = ca_pem {
        let certs = psn_pki::parse_pem_certificates(pem).map_err(|e| e.to_string())?;
        if certs.is_empty() {
            return Err("no certificate in the file".into());
        }
        for cert in certs {
            roots.add(cert).map_err(|e| e.to_string())?;
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())
}

impl Provider {
    /// The discovered client, from cache or fetched now. The lock is not held while fetching,
    /// so one slow provider does not queue every button press behind it.
    async fn client(&self) -> Result<Arc<OidcClient>, String> {
        if let Some((at, client)) = &*lock(&self.discovered) {
            if at.elapsed() < DISCOVERY_TTL {
                return Ok(client.clone());
            }
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone()).map_err(|e| e.to_string())?;
        let metadata = tokio::time::timeout(
            DISCOVERY_TIMEOUT,
            CoreProviderMetadata::discover_async(issuer, &self.http),
        )
        .await
        .map_err(|_| "discovery timed out".to_owned())?
        .map_err(|e| error_chain(&e))?;
        let redirect =
            RedirectUrl::new(self.config.redirect_url.clone()).map_err(|e| e.to_string())?;
        let client = Arc::new(
            OidcClient::from_provider_metadata(
                metadata,
                ClientId::new(self.config.client_id.clone()),
                Some(ClientSecret::new(self.secret.clone())),
            )
            .set_redirect_uri(redirect),
        );
        *lock(&self.discovered) = Some((Instant::now(), client.clone()));
        Ok(client)
    }

    /// The error page for a provider that could not be reached or answered wrongly.
    fn unavailable(&self, what: &str, error: &str) -> Response {
        tracing::warn!(provider = %self.config.name, %error, "OpenID Connect: {what}");
        error_page(
            None,
            StatusCode::BAD_GATEWAY,
            "Sign-in with your organisation is not available",
            format!(
                "{} could not be reached or did not answer as expected, so you cannot sign in \
                 with it at the moment. Nothing was changed. Try again later; if it keeps \
                 happening, tell an operator of the network.",
                self.config.label
            ),
        )
    }
}

fn unknown_provider() -> Response {
    error_page(
        None,
        StatusCode::NOT_FOUND,
        "Page not found",
        "This network has no sign-in provider of that name.".into(),
    )
}

/// `Set-Cookie` for the binding cookie; `None` deletes it.
fn binding_cookie(value: Option<&str>) -> HeaderValue {
    let lifetime = FLOW_LIFETIME.as_secs();
    let text = match value {
        Some(v) => {
            format!("{OIDC_COOKIE}={v}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={lifetime}")
        }
        None => format!("{OIDC_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0"),
    };
    // The value is base64url, so this cannot fail; an empty deletion cookie is the safe fallback.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("psn=; Max-Age=0"))
}

/// `POST /ui/sign-in/oidc/{name}`: the provider's button. Checks the sign-in form's token,
/// keeps `state`, `nonce` and the PKCE verifier on the server under a fresh browser binding,
/// and sends the browser to the provider.
pub async fn begin(
    State(ui): State<Arc<Ui>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(form)) => form,
        Err(e) => return unreadable_form(&e),
    };
    if !super::signin::sign_in_token_matches(&headers, &form.csrf) {
        return forged_form();
    }
    let Some(provider) = ui.authority.oidc.get(&name) else {
        return unknown_provider();
    };
    let client = match provider.client().await {
        Ok(c) => c,
        Err(e) => return provider.unavailable("discovery failed", &e),
    };
    let binding = match random_token() {
        Ok(b) => b,
        Err(f) => return f.into_response(),
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    // `openid` is always asked for; `scopes` adds what the rules' claims need.
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scopes(provider.config.scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge)
        .url();
    let pending = OidcPending {
        provider: name,
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
    };
    let expires_at = OffsetDateTime::now_utc() + FLOW_LIFETIME;
    let hash = psn_core::token::secret_hash(&binding);
    if let Err(e) = ui
        .authority
        .store
        .begin_oidc_sign_in(&hash, &pending, expires_at)
        .await
    {
        return Failure::from(e).into_response();
    }
    let mut response = Redirect::to(url.as_str()).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, binding_cookie(Some(&binding)));
    response
}

/// What the provider sends back. Other parameters (`iss`, `session_state`, ...) are ignored;
/// a repeated one is refused.
#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Why a callback was refused; each is an error page and changes nothing.
enum Refusal {
    /// Malformed or oversized parameters.
    Unreadable,
    /// No sign-in in flight for this browser (no cookie, expired, already used, other provider),
    /// or a `state` that is not its own.
    NotInFlight,
    /// The provider said no.
    ProviderError(String),
    /// The ID token failed a check.
    InvalidToken(String),
    /// No rule gives the identity a role.
    NoRule,
    /// The linked person is disabled.
    Disabled,
    /// The rule's member is not in the registry.
    UnknownMember(String),
    /// The derived username is someone else's.
    UsernameTaken(String),
    /// The provider could not be reached or answered wrongly: what was being done, and why.
    Unavailable(&'static str, String),
    /// Something on this side failed.
    Failed(Failure),
}

impl Refusal {
    fn page(self, provider: &Provider) -> Response {
        let label = &provider.config.label;
        let (status, title, message) = match self {
            Refusal::Unavailable(what, error) => return provider.unavailable(what, &error),
            Refusal::Failed(failure) => return failure.into_response(),
            Refusal::Unreadable => (
                StatusCode::BAD_REQUEST,
                "The sign-in could not be completed",
                "The answer from the sign-in provider could not be read. Nothing was changed. \
                 Go to sign in and try again."
                    .to_owned(),
            ),
            Refusal::NotInFlight => (
                StatusCode::BAD_REQUEST,
                "The sign-in could not be completed",
                format!(
                    "This browser has no sign-in with {label} waiting to finish: it may have \
                     been started in another browser, taken longer than {} minutes, or been \
                     used already. Nothing was changed. Go to sign in and try again.",
                    FLOW_LIFETIME.as_secs() / 60
                ),
            ),
            Refusal::ProviderError(said) => (
                StatusCode::FORBIDDEN,
                "The sign-in was not completed",
                format!("{label} did not sign you in. It said: {said}. Nothing was changed."),
            ),
            Refusal::InvalidToken(why) => {
                tracing::warn!(provider = %label, %why, "OpenID Connect: ID token refused");
                (
                    StatusCode::FORBIDDEN,
                    "The sign-in could not be verified",
                    format!(
                        "The identity {label} sent could not be verified, so you have not been \
                         signed in. Nothing was changed. Try again; if it keeps happening, tell \
                         an operator of the network."
                    ),
                )
            }
            Refusal::NoRule => (
                StatusCode::FORBIDDEN,
                "You cannot sign in to this network",
                format!(
                    "{label} signed you in, but this network gives your account no role: none \
                     of its rules for {label} matches you. Nothing was changed. Ask an operator \
                     of the network if you need access."
                ),
            ),
            Refusal::Disabled => (
                StatusCode::FORBIDDEN,
                "Your account is disabled",
                "This account is disabled. Ask an operator of the network to enable it.".to_owned(),
            ),
            Refusal::UnknownMember(m) => (
                StatusCode::FORBIDDEN,
                "You cannot sign in to this network",
                format!(
                    "The rule that gives your {label} account its role names a member that is \
                     not in the registry ({m}). Nothing was changed. Tell an operator of the \
                     network."
                ),
            ),
            Refusal::UsernameTaken(m) => (
                StatusCode::CONFLICT,
                "You cannot sign in to this network",
                format!(
                    "Your {label} account cannot be linked: {m}. Nothing was changed. Tell an \
                     operator of the network."
                ),
            ),
        };
        error_page(None, status, title, message)
    }
}

/// `GET /ui/sign-in/oidc/{name}/callback`: where the provider sends the browser back.
pub async fn callback(
    State(ui): State<Arc<Ui>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    query: Result<Query<Callback>, QueryRejection>,
) -> Response {
    let Some(provider) = ui.authority.oidc.get(&name) else {
        return unknown_provider();
    };
    let mut response = match finish(&ui, provider, &headers, query).await {
        Ok(person) => {
            let page = SignedInPage {
                layout: layout("", None),
            };
            let landing = render(StatusCode::OK, &page);
            start(&ui, &headers, &person, landing).await
        }
        Err(refusal) => refusal.page(provider),
    };
    // Whatever happened, this sign-in is over.
    response
        .headers_mut()
        .append(header::SET_COOKIE, binding_cookie(None));
    response
}

/// The callback's checks and the person it signs in as.
async fn finish(
    ui: &Ui,
    provider: &Provider,
    headers: &HeaderMap,
    query: Result<Query<Callback>, QueryRejection>,
) -> Result<psn_api::PersonView, Refusal> {
    let Ok(Query(callback)) = query else {
        return Err(Refusal::Unreadable);
    };
    let too_long = |v: &Option<String>, max: usize| v.as_ref().is_some_and(|v| v.len() > max);
    if too_long(&callback.code, MAX_CODE) || too_long(&callback.state, MAX_STATE) {
        return Err(Refusal::Unreadable);
    }
    let Some(binding) = cookie(headers, OIDC_COOKIE) else {
        return Err(Refusal::NotInFlight);
    };
    let hash = psn_core::token::secret_hash(&binding);
    let pending = match ui.authority.store.take_oidc_sign_in(&hash).await {
        Ok(Some(p)) if p.provider == provider.config.name => p,
        Ok(_) => return Err(Refusal::NotInFlight),
        Err(e) => return Err(Refusal::Failed(e.into())),
    };
    if let Some(error) = callback.error {
        let mut said = shorten(&error);
        if let Some(description) = callback.error_description {
            said = format!("{said} ({})", shorten(&description));
        }
        return Err(Refusal::ProviderError(said));
    }
    if !callback
        .state
        .as_deref()
        .is_some_and(|s| same_token(s, &pending.state))
    {
        return Err(Refusal::NotInFlight);
    }
    let Some(code) = callback.code.filter(|c| !c.is_empty()) else {
        return Err(Refusal::Unreadable);
    };
    let client = provider
        .client()
        .await
        .map_err(|e| Refusal::Unavailable("discovery failed", e))?;
    let exchange = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| Refusal::Unavailable("no token endpoint", e.to_string()))?;
    let tokens = exchange
        .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
        .request_async(&provider.http)
        .await
        .map_err(|e| Refusal::Unavailable("token exchange failed", error_chain(&e)))?;
    let Some(id_token) = tokens.id_token() else {
        return Err(Refusal::InvalidToken("no ID token in the answer".into()));
    };
    let claims = id_token
        .claims(&client.id_token_verifier(), &Nonce::new(pending.nonce))
        .map_err(|e| Refusal::InvalidToken(error_chain(&e)))?;
    let mut all = serde_json::to_value(claims).map_err(|e| Refusal::InvalidToken(e.to_string()))?;
    let rules = &provider.config.rules;
    if !rules.iter().any(|r| all.get(&r.claim).is_some()) {
        add_user_info(&client, provider, &tokens, claims.subject(), &mut all).await?;
    }
    let Some(rule) = rules.iter().find(|r| matches(r, &all)) else {
        tracing::info!(provider = %provider.config.name, subject = %claims.subject().as_str(),
            "OpenID Connect: no rule matched");
        return Err(Refusal::NoRule);
    };
    let subject = claims.subject().as_str();
    let username = username_for(&provider.config.name, subject);
    let new_id =
        crate::people::new_person_id().map_err(|e| Refusal::Failed(Failure::Internal(e)))?;
    let identity = OidcIdentity {
        provider: &provider.config.name,
        issuer: claims.issuer().as_str(),
        subject,
        username: &username,
        new_id: &new_id,
        member: rule.member.as_ref(),
        role: rule.role,
    };
    match ui.authority.store.link_oidc_person(&identity).await {
        Ok(OidcLinked::Ready(person)) => Ok(person),
        Ok(OidcLinked::Disabled(_)) => Err(Refusal::Disabled),
        Err(StoreError::NotFound(m)) => Err(Refusal::UnknownMember(m)),
        Err(StoreError::Conflict(m)) => Err(Refusal::UsernameTaken(m)),
        Err(e) => Err(Refusal::Failed(e.into())),
    }
}

/// Adds the claims of the provider's userinfo endpoint that the ID token lacks, for providers
/// that put claims such as groups only there. Asked only when the ID token has none of the
/// rules' claims, and only of providers that have the endpoint; the answer must be about the
/// same subject (the crate checks).
async fn add_user_info(
    client: &OidcClient,
    provider: &Provider,
    tokens: &Tokens,
    subject: &SubjectIdentifier,
    all: &mut serde_json::Value,
) -> Result<(), Refusal> {
    let Ok(request) = client.user_info(tokens.access_token().clone(), Some(subject.clone())) else {
        return Ok(());
    };
    let info: UserInfoClaims<OtherClaims, CoreGenderClaim> = request
        .request_async(&provider.http)
        .await
        .map_err(|e| match e {
            UserInfoError::ClaimsVerification(_) => Refusal::InvalidToken(error_chain(&e)),
            _ => Refusal::Unavailable("userinfo failed", error_chain(&e)),
        })?;
    let info = serde_json::to_value(info).map_err(|e| Refusal::InvalidToken(e.to_string()))?;
    if let (Some(all), serde_json::Value::Object(info)) = (all.as_object_mut(), info) {
        for (name, value) in info {
            all.entry(name).or_insert(value);
        }
    }
    Ok(())
}

/// At most `MAX_ERROR_SHOWN` characters of what a provider said.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_SHOWN) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// Whether the rule's claim is its value, or an array holding it.
fn matches(rule: &OidcRule, claims: &serde_json::Value) -> bool {
    match claims.get(&rule.claim) {
        Some(serde_json::Value::String(s)) => *s == rule.value,
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .any(|i| i.as_str().is_some_and(|s| s == rule.value)),
        _ => false,
    }
}

/// The username of a person created by sign-in: `{provider}.{subject}` when the subject is
/// already a valid username part, otherwise its lower-cased, cleaned prefix followed by `+`
/// and 16 hex digits of its SHA-256, so distinct subjects never share a username. Always
/// within `MAX_USERNAME`.
pub fn username_for(provider: &str, subject: &str) -> String {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || ".@_+-".contains(c);
    let clean: String = subject
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if allowed(c) { c } else { '-' })
        .collect();
    let whole = format!("{provider}.{subject}");
    if clean == subject && whole.len() <= MAX_USERNAME {
        return whole;
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, subject.as_bytes());
    let tag = psn_core::encoding::hex(&digest.as_ref()[..8]);
    let room = MAX_USERNAME.saturating_sub(provider.len() + 2 + tag.len());
    // `clean` is ASCII, so any byte index is a character boundary.
    let prefix = &clean[..clean.len().min(room)];
    format!("{provider}.{prefix}+{tag}")
}

#[cfg(test)]
mod tests {
    use super::{origin, username_for};

    #[test]
    fn only_plain_origins_enter_the_policy() {
        assert_eq!(
            origin("https://login.kent.example:8443/authorize?x=1").as_deref(),
            Some("https://login.kent.example:8443")
        );
        assert_eq!(origin("https://[::1]/a").as_deref(), Some("https://[::1]"));
        assert_eq!(origin("https://evil;script-src*/"), None);
        assert_eq!(origin("not a url"), None);
    }

    #[test]
    fn usernames_are_valid_bounded_and_distinct() {
        assert_eq!(username_for("kent", "alice"), "kent.alice");
        let upper = username_for("kent", "Alice");
        let lower = username_for("kent", "alice");
        assert_ne!(upper, lower);
        assert!(upper.starts_with("kent.alice+"), "{upper}");
        let long = "x".repeat(1000);
        for subject in ["Alice", "a b/c:d", "é", "", long.as_str()] {
            let name = username_for("kent", subject);
            psn_api::check_username(&name).expect(subject);
        }
        assert_ne!(username_for("kent", "a:b"), username_for("kent", "a/b"));
    }
}
