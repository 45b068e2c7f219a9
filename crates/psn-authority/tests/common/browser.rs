//! A browser for the web UI's tests: a cookie jar that checks every cookie's attributes as it
//! takes it, and no redirect following, so each step of a sign-in is seen.

use super::TestAuthority;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use std::collections::HashMap;

/// A browser: a cookie jar (what the server set, by name) and no redirect following.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    pub cookies: HashMap<String, String>,
}

/// A response as the tests look at it.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The value of the first `csrf` hidden field.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a csrf field") + marker.len();
        let end = self.body[start..].find('"').expect("end of value") + start;
        self.body[start..end].to_owned()
    }
}

impl Browser {
    pub fn new(a: &TestAuthority) -> Self {
        let tls = psn_pki::client_config(&a.ca_der, None).expect("tls");
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            http,
            base: a.url.clone(),
            cookies: HashMap::new(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = if self.cookies.is_empty() {
            request
        } else {
            request.header(reqwest::header::COOKIE, self.cookie_header())
        };
        let response = request.send().await.expect("send");
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().expect("ascii cookie");
            let (pair, attributes) = text.split_once(';').expect("attributes");
            let (name, value) = pair.split_once('=').expect("name=value");
            // Only the OpenID Connect binding cookie must survive the provider's cross-site
            // redirect back; every other cookie is Strict.
            let same_site = if name == psn_authority::ui::OIDC_COOKIE {
                "SameSite=Lax"
            } else {
                "SameSite=Strict"
            };
            for required in ["Path=/", "Secure", "HttpOnly", same_site] {
                assert!(attributes.contains(required), "{text} lacks {required}");
            }
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.expect("body"),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let request = self.http.post(format!("{}{path}", self.base)).form(fields);
        self.send(request).await
    }

    /// Opens the sign-in form and submits it.
    pub async fn sign_in(&mut self, username: &str, password: &str) -> Page {
        let form = self.get("/ui/sign-in").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = form.csrf();
        self.post(
            "/ui/sign-in",
            &[
                ("username", username),
                ("password", password),
                ("csrf", &csrf),
            ],
        )
        .await
    }

    pub async fn signed_in(a: &TestAuthority, username: &str, password: &str) -> Self {
        let mut browser = Self::new(a);
        let page = browser.sign_in(username, password).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        assert_eq!(page.location(), "/ui/");
        browser
    }
}
