//! OpenID Connect sign-in end to end: a real authority over real HTTPS (SQLite, and PostgreSQL
//! when configured) and, outside psn, a fake identity provider in this file: an HTTPS server on
//! an ephemeral port with its own test CA, serving discovery, JWKS, `/authorize` and `/token`,
//! signing ID tokens with RS256 (test-only keys in `tests/data/oidc-*-key.pem`). The test plays
//! the browser: it reads each redirect's Location and follows it itself, so every cookie, state
//! and status can be checked, and every way of getting a token wrong can be tried.

mod common;

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::browser::{Browser, Page};
use common::{backends, Backend, TestAuthority};
use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey,
};
use openidconnect::{AdditionalClaims, IdToken, IdTokenClaims, JsonWebKeyId, PrivateSigningKey};
use psn_api::{NewMember, NewPerson, PersonRole};
use psn_authority::datadir::write_private;
use psn_core::names::MemberId;
use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const KENT: &str = "GB/LA/E10000016";
const DEVON: &str = "GB/LA/E10000008";
const CLIENT_ID: &str = "psn-authority";
const CLIENT_SECRET: &str = "kent-client-secret";

// ---------------------------------------------------------------------------------------------
// The fake identity provider
// ---------------------------------------------------------------------------------------------

/// Every claim beyond the standard ones, as the fake puts them in tokens.
#[derive(Debug, Serialize, Deserialize)]
struct Extra(HashMap<String, serde_json::Value>);
impl AdditionalClaims for Extra {}

/// What the fake gets wrong on purpose for the next sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// Signed with a key that is not in the JWKS (under the same key id).
    WrongKey,
    /// Addressed to another client.
    WrongAudience,
    /// Carries another nonce.
    WrongNonce,
    /// Expired ten minutes ago.
    Expired,
    /// The person declined: the callback gets `error` with markup in its description.
    Denied,
}

/// Who signs in next at the fake.
#[derive(Debug, Clone)]
struct Login {
    sub: String,
    groups: Vec<String>,
    fault: Fault,
    /// Groups only from the userinfo endpoint, not in the ID token; with this subject there.
    userinfo_only: Option<String>,
}

fn login(sub: &str, groups: &[&str]) -> Login {
    Login {
        sub: sub.into(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        fault: Fault::None,
        userinfo_only: None,
    }
}

/// A code handed out by `/authorize`, waiting for `/token`.
struct Issued {
    nonce: String,
    challenge: String,
    redirect_uri: String,
    login: Login,
}

struct IdpState {
    issuer: String,
    key: CoreRsaPrivateSigningKey,
    other_key: CoreRsaPrivateSigningKey,
    next: Mutex<Login>,
    codes: Mutex<HashMap<String, Issued>>,
    /// Access tokens handed out, and the userinfo answer of each.
    userinfo: Mutex<HashMap<String, serde_json::Value>>,
}

struct FakeIdp {
    issuer: String,
    ca_pem: String,
    http: reqwest::Client,
    state: Arc<IdpState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeIdp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn signing_key(pem: &str) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new("k1".into()))).expect("key")
}

impl FakeIdp {
    async fn start() -> Self {
        let ca_key = rcgen::KeyPair::generate().expect("ca key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "fake IdP test CA");
        let ca = ca_params.self_signed(&ca_key).expect("ca");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .expect("params")
            .signed_by(&key, &ca, &ca_key)
            .expect("cert");
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )
        .expect("server config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let issuer = format!("https://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(IdpState {
            issuer: issuer.clone(),
            key: signing_key(include_str!("data/oidc-idp-key.pem")),
            other_key: signing_key(include_str!("data/oidc-other-key.pem")),
            next: Mutex::new(login("nobody", &[])),
            codes: Mutex::new(HashMap::new()),
            userinfo: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state(state.clone());
        let task = tokio::spawn(serve_tls(listener, Arc::new(tls), app));
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(psn_pki::client_config(ca.der(), None).expect("tls"))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            issuer,
            ca_pem: ca.pem(),
            http,
            state,
            task,
        }
    }

    fn next(&self, login: Login) {
        *self.state.next.lock().expect("lock") = login;
    }

    /// Follows the authority's redirect to `/authorize` as the browser would; returns the path
    /// and query of the callback the provider sends the browser back to.
    async fn authorize(&self, location: &str) -> String {
        assert!(location.starts_with(&self.issuer), "{location}");
        let response = self.http.get(location).send().await.expect("authorize");
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let back = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .expect("location");
        let url = openidconnect::url::Url::parse(back).expect("callback url");
        format!("{}?{}", url.path(), url.query().unwrap_or_default())
    }
}

async fn serve_tls(listener: tokio::net::TcpListener, tls: Arc<rustls::ServerConfig>, app: Router) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    while let Ok((tcp, _)) = listener.accept().await {
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            if let Ok(tls) = acceptor.accept(tcp).await {
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
            }
        });
    }
}

async fn discovery(State(idp): State<Arc<IdpState>>) -> Json<serde_json::Value> {
    let i = &idp.issuer;
    Json(serde_json::json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(idp): State<Arc<IdpState>>) -> Json<CoreJsonWebKeySet> {
    Json(CoreJsonWebKeySet::new(vec![idp.key.as_verification_key()]))
}

fn bad_request(error: &str) -> Response {
    (
        AxumStatus::BAD_REQUEST,
        Json(serde_json::json!({ "error": error })),
    )
        .into_response()
}

fn redirect_to(url: &openidconnect::url::Url) -> Response {
    (
        AxumStatus::SEE_OTHER,
        [(header::LOCATION, url.as_str().to_owned())],
    )
        .into_response()
}

/// `/authorize`: checks what a provider checks of the request and hands out a code bound to the
/// nonce, the PKCE challenge and the redirect URI (or, for `Fault::Denied`, an error).
async fn authorize(
    State(idp): State<Arc<IdpState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let field = |k: &str| q.get(k).cloned().unwrap_or_default();
    if field("response_type") != "code"
        || field("client_id") != CLIENT_ID
        || field("code_challenge_method") != "S256"
        || field("code_challenge").is_empty()
        || field("nonce").is_empty()
        || field("state").is_empty()
        || !field("scope").split(' ').any(|s| s == "openid")
    {
        return bad_request("invalid_request");
    }
    let Ok(mut back) = openidconnect::url::Url::parse(&field("redirect_uri")) else {
        return bad_request("invalid_request");
    };
    let login = idp.next.lock().expect("lock").clone();
    if login.fault == Fault::Denied {
        back.query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("error_description", "<script>alert('denied')</script> & no")
            .append_pair("state", &field("state"));
        return redirect_to(&back);
    }
    let code = format!("code-{}", idp.codes.lock().expect("lock").len());
    idp.codes.lock().expect("lock").insert(
        code.clone(),
        Issued {
            nonce: field("nonce"),
            challenge: field("code_challenge"),
            redirect_uri: field("redirect_uri"),
            login,
        },
    );
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &field("state"));
    redirect_to(&back)
}

/// `/token`: client authentication, the code (once), PKCE and the redirect URI, then an ID token
/// made as the login's fault says.
async fn token(
    State(idp): State<Arc<IdpState>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let basic = format!(
        "Basic {}",
        base64_standard(format!("{CLIENT_ID}:{CLIENT_SECRET}").as_bytes())
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(basic.as_str())
    {
        return bad_request("invalid_client");
    }
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let Some(issued) = idp.codes.lock().expect("lock").remove(&field("code")) else {
        return bad_request("invalid_grant");
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, field("code_verifier").as_bytes());
    if field("grant_type") != "authorization_code"
        || psn_core::encoding::b64url(digest.as_ref()) != issued.challenge
        || field("redirect_uri") != issued.redirect_uri
    {
        return bad_request("invalid_grant");
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let fault = issued.login.fault;
    let (iat, exp) = if fault == Fault::Expired {
        (now - 1200, now - 600)
    } else {
        (now, now + 300)
    };
    let audience = if fault == Fault::WrongAudience {
        "someone-else"
    } else {
        CLIENT_ID
    };
    let nonce = if fault == Fault::WrongNonce {
        "not-the-nonce".to_owned()
    } else {
        issued.nonce
    };
    let mut claims = serde_json::json!({
        "iss": idp.issuer,
        "sub": issued.login.sub,
        "aud": [audience],
        "iat": iat,
        "exp": exp,
        "nonce": nonce,
    });
    let access_token = format!("access-{}", idp.userinfo.lock().expect("lock").len());
    match &issued.login.userinfo_only {
        Some(sub) => {
            idp.userinfo.lock().expect("lock").insert(
                access_token.clone(),
                serde_json::json!({ "sub": sub, "groups": issued.login.groups }),
            );
        }
        None => claims["groups"] = serde_json::json!(issued.login.groups),
    }
    let claims: IdTokenClaims<Extra, CoreGenderClaim> =
        serde_json::from_value(claims).expect("claims");
    let key = if fault == Fault::WrongKey {
        &idp.other_key
    } else {
        &idp.key
    };
    let id_token = IdToken::<
        Extra,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >::new(
        claims,
        key,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    )
    .expect("sign");
    Json(serde_json::json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token.to_string(),
    }))
    .into_response()
}

/// `/userinfo`: the claims of the bearer's access token.
async fn userinfo(State(idp): State<Arc<IdpState>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    match idp.userinfo.lock().expect("lock").get(token) {
        Some(claims) => Json(claims.clone()).into_response(),
        None => AxumStatus::UNAUTHORIZED.into_response(),
    }
}

/// Standard base64 with padding (HTTP Basic authentication).
fn base64_standard(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The authority and the browser
// ---------------------------------------------------------------------------------------------

/// A rule as written in `authority.toml`.
struct Rule<'a> {
    value: &'a str,
    member: Option<&'a str>,
    role: &'a str,
}

/// `[[oidc]]` for a provider named `name` at `issuer` with rules on the `groups` claim.
fn provider_toml(name: &str, issuer: &str, rules: &[Rule<'_>]) -> String {
    let mut text = format!(
        "\n[[oidc]]\nname = \"{name}\"\nlabel = \"Kent <County> Council\"\nissuer = \"{issuer}\"\n\
         client_id = \"{CLIENT_ID}\"\nclient_secret_file = \"oidc-{name}.secret\"\n\
         redirect_url = \"https://authority.example:8443/ui/sign-in/oidc/{name}/callback\"\n\
         ca_file = \"idp-ca.pem\"\nscopes = [\"profile\", \"groups\"]\n"
    );
    for rule in rules {
        text.push_str(&format!(
            "[[oidc.rules]]\nclaim = \"groups\"\nvalue = \"{}\"\nrole = \"{}\"\n",
            rule.value, rule.role
        ));
        if let Some(m) = rule.member {
            text.push_str(&format!("member = \"{m}\"\n"));
        }
    }
    text
}

/// Replaces the `[[oidc]]` sections of `authority.toml` and writes the files they name.
fn configure(a: &TestAuthority, idp_ca_pem: &str, providers: &str) {
    let data = a.data_dir();
    let path = data.settings();
    let text = std::fs::read_to_string(&path).expect("settings");
    let base = text
        .split("\n[[oidc]]")
        .next()
        .unwrap_or_default()
        .to_owned();
    write_private(&path, format!("{base}{providers}").as_bytes()).expect("write settings");
    write_private(&data.root().join("idp-ca.pem"), idp_ca_pem.as_bytes()).expect("ca");
    write_private(
        &data.root().join("oidc-kent.secret"),
        format!("{CLIENT_SECRET}\n").as_bytes(),
    )
    .expect("secret");
}

fn member(id: &str) -> MemberId {
    id.parse().expect("member id")
}

async fn add_members(a: &TestAuthority) {
    for (id, name) in [
        (KENT, "Kent County Council"),
        (DEVON, "Devon County Council"),
    ] {
        a.operator()
            .add_member(&NewMember {
                id: member(id),
                name: name.into(),
                sector: None,
                region: None,
            })
            .await
            .expect("add member");
    }
}

const KENT_ADMINS: Rule<'static> = Rule {
    value: "kent-admins",
    member: Some(KENT),
    role: "member-admin",
};
const NETWORK_OPS: Rule<'static> = Rule {
    value: "network-ops",
    member: None,
    role: "operator",
};

/// An authority with Kent and Devon, configured with the fake as provider `kent`.
async fn authority_with(backend: Backend, idp: &FakeIdp, rules: &[Rule<'_>]) -> TestAuthority {
    let mut a = TestAuthority::start(backend).await;
    add_members(&a).await;
    configure(&a, &idp.ca_pem, &provider_toml("kent", &idp.issuer, rules));
    a.restart().await;
    a
}

/// The OpenID Connect steps of a browser.
impl Browser {
    /// Opens the sign-in page and presses the provider's button.
    async fn press(&mut self, provider: &str) -> Page {
        let form = self.get("/ui/sign-in").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = form.csrf();
        self.post(&format!("/ui/sign-in/oidc/{provider}"), &[("csrf", &csrf)])
            .await
    }

    /// Presses `kent`'s button and signs in at the fake as `who`; returns the callback's path
    /// and query, not yet followed.
    async fn start_kent(&mut self, idp: &FakeIdp, who: Login) -> String {
        idp.next(who);
        let page = self.press("kent").await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        assert!(self.cookies.contains_key(psn_authority::ui::OIDC_COOKIE));
        idp.authorize(page.location()).await
    }

    /// The whole round trip; returns the callback's page.
    async fn sign_in_kent(&mut self, idp: &FakeIdp, who: Login) -> Page {
        let callback = self.start_kent(idp, who).await;
        self.get(&callback).await
    }
}

/// A callback page that signed the browser in: a page (not a redirect) that refreshes to the
/// overview, with the session cookie set and the binding cookie gone.
async fn assert_signed_in(browser: &mut Browser, page: &Page, expected: &str) {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("You are signed in"), "{}", page.body);
    assert!(
        page.body
            .contains("<meta http-equiv=\"refresh\" content=\"0; url=/ui/\">"),
        "{}",
        page.body
    );
    assert!(browser
        .cookies
        .contains_key(psn_authority::ui::SESSION_COOKIE));
    assert!(!browser.cookies.contains_key(psn_authority::ui::OIDC_COOKIE));
    let overview = browser.get("/ui/").await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.body);
    assert!(overview.body.contains(expected), "{}", overview.body);
}

async fn events(a: &TestAuthority, action: &str) -> Vec<psn_api::AdminEvent> {
    a.store()
        .events(0, 10_000)
        .await
        .expect("events")
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

async fn people(a: &TestAuthority) -> Vec<psn_api::PersonView> {
    a.operator().people().await.expect("people").items
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// The happy path and what follows it: the person is created, linked and signed in; signs in
/// again as the same person; gets the role of a changed rule; cannot use a password; is refused
/// once disabled.
#[tokio::test]
async fn signing_in_creates_links_updates_and_refuses_disabled_people() {
    let idp = FakeIdp::start().await;
    for backend in backends() {
        let mut a = authority_with(backend, &idp, &[NETWORK_OPS, KENT_ADMINS]).await;

        // The sign-in page offers the provider, label escaped, and lets its form go there.
        let mut browser = Browser::new(&a);
        let page = browser.get("/ui/sign-in").await;
        assert!(
            page.body
                .contains("Sign in with Kent &#60;County&#62; Council")
                || page
                    .body
                    .contains("Sign in with Kent &lt;County&gt; Council"),
            "{}",
            page.body
        );
        assert!(page.body.contains("action=\"/ui/sign-in/oidc/kent\""));
        let csp = page.headers["content-security-policy"]
            .to_str()
            .expect("csp");
        assert!(
            csp.contains(&format!("form-action 'self' {}", idp.issuer)),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");

        // The button: 303 to the provider with PKCE S256, state and nonce; a Lax binding cookie.
        idp.next(login("Alice", &["staff", "kent-admins"]));
        let press = browser.press("kent").await;
        assert_eq!(press.status, StatusCode::SEE_OTHER, "{}", press.body);
        let to_idp = press.location().to_owned();
        for part in [
            "response_type=code",
            "client_id=psn-authority",
            "code_challenge_method=S256",
            "code_challenge=",
            "state=",
            "nonce=",
            "scope=openid+profile+groups&",
            "redirect_uri=https%3A%2F%2Fauthority.example%3A8443%2Fui%2Fsign-in%2Foidc%2Fkent%2Fcallback",
        ] {
            assert!(to_idp.contains(part), "{to_idp} lacks {part}");
        }
        let set = press
            .headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(psn_authority::ui::OIDC_COOKIE))
            .expect("binding cookie")
            .to_owned();
        assert!(set.contains("Max-Age=600"), "{set}");
        let callback = idp.authorize(&to_idp).await;
        let page = browser.get(&callback).await;
        let username = psn_authority::ui::oidc_username("kent", "Alice");
        assert_signed_in(&mut browser, &page, &username).await;
        assert!(page.headers.get(LOCATION).is_none());

        let everyone = people(&a).await;
        assert_eq!(everyone.len(), 1);
        let alice = &everyone[0];
        assert_eq!(alice.username, username);
        assert_eq!(alice.role, PersonRole::MemberAdmin);
        assert_eq!(alice.member, Some(member(KENT)));
        assert_eq!(alice.oidc_provider.as_deref(), Some("kent"));
        let added = events(&a, "person.add").await;
        assert_eq!(added.len(), 1);
        assert_eq!(added[0].actor, "oidc:kent");
        assert_eq!(added[0].detail["oidc"]["subject"], "Alice");
        assert_eq!(added[0].detail["oidc"]["issuer"], idp.issuer.as_str());
        assert_eq!(events(&a, "person.sign-in").await.len(), 1);

        // The callback cannot be used twice: not by this browser (its cookie is gone) nor with
        // the cookie put back (the sign-in was taken).
        let again = browser.get(&callback).await;
        assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
        let mut replayer = Browser::new(&a);
        replayer.cookies.insert(
            psn_authority::ui::OIDC_COOKIE.into(),
            set.split(';')
                .next()
                .and_then(|p| p.split_once('='))
                .map(|(_, v)| v.to_owned())
                .expect("value"),
        );
        let replayed = replayer.get(&callback).await;
        assert_eq!(
            replayed.status,
            StatusCode::BAD_REQUEST,
            "{}",
            replayed.body
        );
        assert!(
            replayed.body.contains("no sign-in with"),
            "{}",
            replayed.body
        );

        // OIDC people have no password: the form answers as for an unknown username, and an
        // operator cannot give them one.
        let mut other = Browser::new(&a);
        let form = other.get("/ui/sign-in").await;
        let csrf = form.csrf();
        let refused = other
            .post(
                "/ui/sign-in",
                &[("username", &username), ("password", ""), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        let refused = other
            .post(
                "/ui/sign-in",
                &[
                    ("username", &username),
                    ("password", "anything at all"),
                    ("csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert!(refused
            .body
            .contains("The username or password is not right"));
        let reset = a.operator().reset_person_password(&username).await;
        assert!(reset.is_err(), "{reset:?}");

        // A second sign-in is the same person, with a fresh session token.
        let first_session = browser.cookies[psn_authority::ui::SESSION_COOKIE].clone();
        let page = browser
            .sign_in_kent(&idp, login("Alice", &["kent-admins"]))
            .await;
        assert_signed_in(&mut browser, &page, &username).await;
        assert_ne!(
            browser.cookies[psn_authority::ui::SESSION_COOKIE],
            first_session
        );
        let everyone = people(&a).await;
        assert_eq!(everyone.len(), 1);
        assert_eq!(everyone[0].id, alice.id);
        assert_eq!(events(&a, "person.add").await.len(), 1);

        // The operator changes the rule: the next sign-in applies it, recorded in the trail.
        configure(
            &a,
            &idp.ca_pem,
            &provider_toml(
                "kent",
                &idp.issuer,
                &[Rule {
                    value: "kent-admins",
                    member: Some(DEVON),
                    role: "member-viewer",
                }],
            ),
        );
        a.restart().await;
        let mut browser = Browser::new(&a);
        let page = browser
            .sign_in_kent(&idp, login("Alice", &["kent-admins"]))
            .await;
        assert_signed_in(&mut browser, &page, "member-viewer for GB/LA/E10000008").await;
        let now = &people(&a).await[0];
        assert_eq!(now.id, alice.id);
        assert_eq!(now.role, PersonRole::MemberViewer);
        assert_eq!(now.member, Some(member(DEVON)));
        let changed = events(&a, "person.set-role").await;
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].actor, "oidc:kent");
        assert_eq!(changed[0].detail["from"]["role"], "member-admin");

        // Disabled by an operator: the session ends and sign-in is refused, changing nothing.
        a.operator()
            .disable_person(&username)
            .await
            .expect("disable");
        assert_eq!(
            browser.get("/ui/").await.status,
            StatusCode::SEE_OTHER,
            "the session ended"
        );
        let events_before = a.store().events(0, 10_000).await.expect("events").len();
        let mut browser = Browser::new(&a);
        let page = browser
            .sign_in_kent(&idp, login("Alice", &["kent-admins"]))
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
        assert!(
            page.body.contains("This account is disabled"),
            "{}",
            page.body
        );
        assert!(!browser
            .cookies
            .contains_key(psn_authority::ui::SESSION_COOKIE));
        let still = &people(&a).await[0];
        assert!(still.disabled);
        assert_eq!(still.role, PersonRole::MemberViewer);
        assert_eq!(
            a.store().events(0, 10_000).await.expect("events").len(),
            events_before
        );

        // Enabled again (they have no password to reset): they sign in again.
        let enabled = a.operator().enable_person(&username).await.expect("enable");
        assert!(!enabled.disabled);
        assert!(a.operator().enable_person(&username).await.is_err());
        assert_eq!(events(&a, "person.enable").await.len(), 1);
        let mut browser = Browser::new(&a);
        let page = browser
            .sign_in_kent(&idp, login("Alice", &["kent-admins"]))
            .await;
        assert_signed_in(&mut browser, &page, &username).await;

        // People list and page show how each person signs in.
        let password = a
            .operator()
            .add_person(&NewPerson {
                username: "op".into(),
                member: None,
                role: PersonRole::Operator,
            })
            .await
            .expect("add op")
            .password;
        let listed = people(&a).await;
        let op = listed.iter().find(|p| p.username == "op").expect("op");
        assert_eq!(op.oidc_provider, None);
        let mut browser = Browser::new(&a);
        let form = browser.get("/ui/sign-in").await;
        let csrf = form.csrf();
        let page = browser
            .post(
                "/ui/sign-in",
                &[("username", "op"), ("password", &password), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        let page = browser.get("/ui/people").await;
        assert!(page.body.contains("OpenID Connect: kent"), "{}", page.body);
        assert!(
            page.body.contains("Signs in with password<"),
            "{}",
            page.body
        );
        a.stop().await;
    }
}

/// ID tokens that fail a check, and identities no rule maps, sign nobody in and create nobody.
#[tokio::test]
async fn tokens_failing_a_check_and_unmapped_identities_are_refused() {
    let idp = FakeIdp::start().await;
    for backend in backends() {
        let a = authority_with(backend, &idp, &[KENT_ADMINS]).await;
        for fault in [
            Fault::WrongKey,
            Fault::WrongAudience,
            Fault::WrongNonce,
            Fault::Expired,
        ] {
            let mut browser = Browser::new(&a);
            let mut who = login("mallory", &["kent-admins"]);
            who.fault = fault;
            let page = browser.sign_in_kent(&idp, who).await;
            assert_eq!(
                page.status,
                StatusCode::FORBIDDEN,
                "{fault:?}: {}",
                page.body
            );
            assert!(
                page.body.contains("could not be verified"),
                "{fault:?}: {}",
                page.body
            );
            assert!(!browser
                .cookies
                .contains_key(psn_authority::ui::SESSION_COOKIE));
            assert!(!browser.cookies.contains_key(psn_authority::ui::OIDC_COOKIE));
        }
        // Userinfo about another subject is refused like a bad token.
        let mut browser = Browser::new(&a);
        let mut who = login("mallory", &["kent-admins"]);
        who.userinfo_only = Some("someone-else".into());
        let page = browser.sign_in_kent(&idp, who).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
        assert!(page.body.contains("could not be verified"), "{}", page.body);
        let mut browser = Browser::new(&a);
        let page = browser
            .sign_in_kent(&idp, login("eve", &["devon-admins", "network-ops"]))
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
        assert!(
            page.body.contains("gives your account no role"),
            "{}",
            page.body
        );
        assert!(people(&a).await.is_empty());
        assert!(events(&a, "person.add").await.is_empty());
        assert!(events(&a, "person.sign-in").await.is_empty());
        a.stop().await;
    }
}

/// A provider that puts the rules' claim only in its userinfo answer: it is asked, and its
/// claims map like the ID token's.
#[tokio::test]
async fn claims_only_in_userinfo_are_used() {
    let idp = FakeIdp::start().await;
    let a = authority_with(Backend::Sqlite, &idp, &[KENT_ADMINS]).await;
    let mut browser = Browser::new(&a);
    let mut who = login("carol", &["kent-admins"]);
    who.userinfo_only = Some("carol".into());
    let page = browser.sign_in_kent(&idp, who).await;
    assert_signed_in(&mut browser, &page, "member-admin for GB/LA/E10000016").await;
    a.stop().await;
}

/// Callbacks that are not this browser's own sign-in, hostile parameters, the provider's error
/// and a forged button are each an error page that changes nothing.
#[tokio::test]
async fn callbacks_that_are_not_this_browsers_own_are_refused() {
    let idp = FakeIdp::start().await;
    let a = authority_with(Backend::Sqlite, &idp, &[KENT_ADMINS]).await;
    let who = || login("bob", &["kent-admins"]);

    // The button needs the sign-in form's token.
    let mut browser = Browser::new(&a);
    let forged = browser
        .post("/ui/sign-in/oidc/kent", &[("csrf", "made-up")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(!browser.cookies.contains_key(psn_authority::ui::OIDC_COOKIE));
    let form = browser.get("/ui/sign-in").await;
    let unknown = browser
        .post("/ui/sign-in/oidc/nobody", &[("csrf", &form.csrf())])
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let unknown = browser
        .get("/ui/sign-in/oidc/nobody/callback?code=x&state=y")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // A callback carried to another browser (no binding cookie) fails; the sign-in it belongs
    // to is untouched and still completes in its own browser.
    let callback = browser.start_kent(&idp, who()).await;
    let mut thief = Browser::new(&a);
    let stolen = thief.get(&callback).await;
    assert_eq!(stolen.status, StatusCode::BAD_REQUEST, "{}", stolen.body);
    assert!(!thief
        .cookies
        .contains_key(psn_authority::ui::SESSION_COOKIE));

    // ...nor in a browser with a sign-in of its own: the state is not that sign-in's.
    let _own = thief
        .start_kent(&idp, login("thief", &["kent-admins"]))
        .await;
    let stolen = thief.get(&callback).await;
    assert_eq!(stolen.status, StatusCode::BAD_REQUEST, "{}", stolen.body);
    assert!(!thief
        .cookies
        .contains_key(psn_authority::ui::SESSION_COOKIE));
    let page = browser.get(&callback).await;
    assert_signed_in(&mut browser, &page, "kent.bob").await;
    assert_eq!(people(&a).await.len(), 1);

    // A wrong state ends the sign-in: the right one cannot be used afterwards.
    let mut browser = Browser::new(&a);
    let callback = browser.start_kent(&idp, who()).await;
    let wrong = callback.replace("state=", "state=x");
    let page = browser.get(&wrong).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    let page = browser.get(&callback).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);

    // Malformed and oversized parameters are refused before anything is looked at.
    let long_code = "c".repeat(5000);
    let long_state = "s".repeat(500);
    for hostile in [
        "?code=a&state=b&state=c".to_owned(),
        format!("?code={long_code}&state=b"),
        format!("?code=a&state={long_state}"),
        "?code=a&state=b&error=x&error=y".to_owned(),
    ] {
        let mut browser = Browser::new(&a);
        let _ = browser.start_kent(&idp, who()).await;
        let page = browser
            .get(&format!("/ui/sign-in/oidc/kent/callback{hostile}"))
            .await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{hostile}: {}",
            page.body
        );
        assert!(
            page.body.contains("could not be read"),
            "{hostile}: {}",
            page.body
        );
        assert!(!browser.cookies.contains_key(psn_authority::ui::OIDC_COOKIE));
    }

    // The provider's error is shown, as text.
    let mut browser = Browser::new(&a);
    let mut denied = who();
    denied.fault = Fault::Denied;
    let page = browser.sign_in_kent(&idp, denied).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(page.body.contains("access_denied"), "{}", page.body);
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(page.body.contains("&#60;script&#62;") || page.body.contains("&lt;script&gt;"));

    assert_eq!(people(&a).await.len(), 1, "only bob");
    assert_eq!(events(&a, "person.sign-in").await.len(), 1);
    a.stop().await;
}

/// A provider that cannot be reached does not stop the authority or password sign-in; its
/// button gives an error page.
#[tokio::test]
async fn an_unreachable_provider_gives_an_error_page_and_passwords_still_work() {
    let idp = FakeIdp::start().await;
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let dead = format!("https://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let mut a = TestAuthority::start(Backend::Sqlite).await;
    add_members(&a).await;
    configure(
        &a,
        &idp.ca_pem,
        &provider_toml("kent", &dead, &[KENT_ADMINS]),
    );
    a.restart().await;
    let password = a
        .operator()
        .add_person(&NewPerson {
            username: "op".into(),
            member: None,
            role: PersonRole::Operator,
        })
        .await
        .expect("add")
        .password;
    let mut browser = Browser::new(&a);
    let page = browser.press("kent").await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.body);
    assert!(page.body.contains("could not be reached"), "{}", page.body);
    assert!(!browser.cookies.contains_key(psn_authority::ui::OIDC_COOKIE));
    let form = browser.get("/ui/sign-in").await;
    let csrf = form.csrf();
    let page = browser
        .post(
            "/ui/sign-in",
            &[("username", "op"), ("password", &password), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/ui/");
    a.stop().await;
}

/// A bad `[[oidc]]` stops the authority with a message naming the field.
#[tokio::test]
async fn bad_provider_configuration_stops_the_authority_naming_the_field() {
    let idp = FakeIdp::start().await;
    let mut a = TestAuthority::start(Backend::Sqlite).await;
    add_members(&a).await;
    let good = provider_toml("kent", &idp.issuer, &[KENT_ADMINS]);
    let cases: Vec<(String, &str)> = vec![
        (
            good.replace(&idp.issuer, &idp.issuer.replace("https", "http")),
            "oidc[0] (kent).issuer",
        ),
        (
            good.replace("name = \"kent\"", "name = \"Kent/../x\""),
            "oidc[0] (Kent/../x).name",
        ),
        (format!("{good}{good}"), "oidc[1] (kent).name"),
        (
            good.replace("/oidc/kent/callback", "/somewhere"),
            "oidc[0] (kent).redirect_url",
        ),
        (
            provider_toml(
                "kent",
                &idp.issuer,
                &[Rule {
                    value: "x",
                    member: Some(KENT),
                    role: "operator",
                }],
            ),
            "oidc[0] (kent).rules[0].member",
        ),
        (
            provider_toml(
                "kent",
                &idp.issuer,
                &[Rule {
                    value: "x",
                    member: None,
                    role: "member-admin",
                }],
            ),
            "oidc[0] (kent).rules[0].member",
        ),
        (
            provider_toml(
                "kent",
                &idp.issuer,
                &[
                    KENT_ADMINS,
                    Rule {
                        value: "x",
                        member: Some("GB/LA/E99999999"),
                        role: "member-viewer",
                    },
                ],
            ),
            "oidc[0] (kent).rules[1].member: no member GB/LA/E99999999",
        ),
        (
            provider_toml("kent", &idp.issuer, &[]),
            "oidc[0] (kent).rules",
        ),
        (
            good.replace("oidc-kent.secret", "missing.secret"),
            "oidc[0] (kent).client_secret_file",
        ),
        (
            good.replace("idp-ca.pem", "oidc-kent.secret"),
            "oidc[0] (kent).ca_file",
        ),
        (
            good.replace("\"groups\"]", "\"openid\"]"),
            "oidc[0] (kent).scopes",
        ),
        (
            good.replace("client_id", "client_identifier"),
            "unknown field `client_identifier`",
        ),
    ];
    for (toml, expected) in cases {
        configure(&a, &idp.ca_pem, &toml);
        let error = a.try_restart().await.expect_err(expected).to_string();
        assert!(error.contains(expected), "{expected}: {error}");
        assert!(error.contains("authority.toml"), "{error}");
    }
    // A secret others may read is refused too.
    configure(&a, &idp.ca_pem, &good);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let secret = a.data_dir().root().join("oidc-kent.secret");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let error = a.try_restart().await.expect_err("mode").to_string();
        assert!(
            error.contains("oidc[0] (kent).client_secret_file") && error.contains("0600"),
            "{error}"
        );
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    a.restart().await;
    a.stop().await;
}
