//! The OpenAPI document is the authority's contract, so it must say what the server does: the
//! routes the router serves are exactly the document's operations, and the identifier schemas
//! accept exactly what `psn_core::names` accepts (checked on hand-picked and mutated examples
//! with the `regex` crate, reading the document's patterns as JSON Schema does); and the
//! limits it states are the ones a real authority enforces.

mod common;

use common::{Backend, TestAuthority};
use psn_api::{NewMember, StatusChange};
use psn_core::access::Grantee;
use psn_core::names::{
    ClassCode, GatewayCode, GatewayId, MemberCode, MemberId, NetworkId, ServiceId, SubsystemCode,
    SubsystemId,
};
use psn_core::problem::ProblemType;
use serde_json::Value;
use std::collections::BTreeSet;

fn document() -> Value {
    serde_json::from_str(psn_authority::api::OPENAPI).expect("openapi.json is JSON")
}

/// `(path, method)` of every route in the router's source, e.g. `("/v1/members", "post")`:
/// each `.route("path", get(..).post(..))` call, with its method-router functions.
fn routed() -> BTreeSet<(String, String)> {
    let source = concat!(
        include_str!("../src/api.rs"),
        include_str!("../src/api/access.rs"),
        include_str!("../src/api/benchmarks.rs"),
        include_str!("../src/api/compliance.rs"),
        include_str!("../src/api/federation.rs"),
        include_str!("../src/people.rs")
    );
    let mut routes = BTreeSet::new();
    for call in source.split(".route(").skip(1) {
        let Some(path) = call.split('"').nth(1) else {
            continue;
        };
        // The call's arguments end at the parenthesis that closes `.route(`.
        let mut depth = 1;
        let end = call
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map_or(call.len(), |(i, _)| i);
        let args = &call[..end];
        for method in ["get", "post", "put", "delete", "patch"] {
            let called = args.starts_with(&format!("\"{path}\", {method}("))
                || args.contains(&format!(".{method}("))
                || args.contains(&format!(" {method}("))
                || args.contains(&format!("\n{method}("));
            if called {
                routes.insert((path.to_owned(), method.to_owned()));
            }
        }
    }
    routes
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if method != "parameters" {
                operations.insert((path.clone(), method.clone()));
            }
        }
    }
    operations
}

#[test]
fn the_document_lists_exactly_the_routes_the_router_serves() {
    let doc = document();
    let routed = routed();
    assert!(routed.len() >= 30, "the source scan found {routed:?}");
    let documented = documented(&doc);
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(missing.is_empty(), "served but not documented: {missing:?}");
    assert!(extra.is_empty(), "documented but not served: {extra:?}");
}

#[test]
fn every_operation_states_its_responses_and_typed_parameters() {
    let doc = document();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let what = format!("{method} {path}");
            let responses = op["responses"].as_object().expect("responses");
            assert!(!responses.contains_key("default"), "{what}: list its codes");
            assert!(
                responses.keys().any(|c| c.starts_with('2')),
                "{what}: no success"
            );
            for (code, response) in responses {
                assert!(code.len() == 3 && code.parse::<u16>().is_ok(), "{what}");
                // A refused returns file answers with every row's verdict, not one problem.
                let verdicts = what == "post /v1/gateway/benchmarks/returns" && code == "422";
                if (code.starts_with('4') || code.starts_with('5')) && !verdicts {
                    assert_eq!(
                        response["content"]["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{what} {code}"
                    );
                }
            }
            let authenticated = op["security"].as_array().is_some_and(|s| !s.is_empty());
            if authenticated {
                assert!(responses.contains_key("401"), "{what}: 401 not listed");
            }
            if op.get("requestBody").is_some() {
                for code in ["400", "413", "415"] {
                    assert!(responses.contains_key(code), "{what}: {code} not listed");
                }
            }
            for parameter in op["parameters"].as_array().into_iter().flatten() {
                let schema = &parameter["schema"];
                assert!(
                    schema.get("$ref").is_some()
                        || schema.get("pattern").is_some()
                        || schema.get("enum").is_some()
                        || schema.get("maximum").is_some()
                        || schema.get("format").is_some()
                        || schema["items"].get("pattern").is_some()
                        || parameter["in"] == "header",
                    "{what}: parameter {} states no constraint",
                    parameter["name"]
                );
            }
        }
    }
}

/// Whether `schema` (a string schema of the document) accepts `value`: `$ref`, `oneOf`, `not`,
/// `const`, `minLength`/`maxLength` in characters and `pattern` unanchored, as JSON Schema
/// reads them.
fn accepts(doc: &Value, schema: &Value, value: &str) -> bool {
    if let Some(target) = schema["$ref"].as_str() {
        let name = target
            .strip_prefix("#/components/schemas/")
            .expect("local reference");
        return accepts(doc, &doc["components"]["schemas"][name], value);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let matching = options.iter().filter(|s| accepts(doc, s, value)).count();
        return matching == 1;
    }
    if let Some(constant) = schema.get("const") {
        return constant.as_str() == Some(value);
    }
    let chars = value.chars().count() as u64;
    let checks = [
        schema["minLength"].as_u64().is_none_or(|min| chars >= min),
        schema["maxLength"].as_u64().is_none_or(|max| chars <= max),
        schema["pattern"].as_str().is_none_or(|p| {
            regex::Regex::new(p)
                .unwrap_or_else(|e| panic!("pattern {p}: {e}"))
                .is_match(value)
        }),
        schema
            .get("not")
            .is_none_or(|not| !accepts(doc, not, value)),
    ];
    checks.iter().all(|ok| *ok)
}

/// Valid identifiers of each kind, the document's schema for the kind; each kind's last has
/// every segment at its longest, so a character more breaks a length rule.
const VALID: &[(&str, &[&str])] = &[
    ("NetworkId", &["GB", "GB-KENT", "A1", "X-Y-Z", "AB-12", "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"]),
    ("ClassCode", &["LA", "NHS", "GOV", "A1234567", "ABCDEFGH"]),
    ("MemberCode", &["E10000016", "D6", "A", "1-", "A--B", "ABCDEFGHIJKLMNOPQRSTUVWXYZ-01234"]),
    ("SubsystemCode", &["revenues", "a", "0-x", "pay-roll-", "abcdefghijklmnopqrstuvwxyz-0123456789-abcdefghijklmnopqrstuvwxy"]),
    ("GatewayCode", &["gw1", "g", "gw-", "a-b", "abcdefghijklmnopqrstuvwxyz-0123"]),
    (
        "MemberId",
        &["GB/LA/E10000016", "GB-KENT/GOV/D6", "AB/CD/E", "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345/ABCDEFGH/ABCDEFGHIJKLMNOPQRSTUVWXYZ-01234"],
    ),
    (
        "SubsystemId",
        &[
            "GB/LA/E10000016/revenues",
            "GB/GOV/D6/eligibility",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345/ABCDEFGH/ABCDEFGHIJKLMNOPQRSTUVWXYZ-01234/abcdefghijklmnopqrstuvwxyz-0123456789-abcdefghijklmnopqrstuvwxy",
        ],
    ),
    (
        "ServiceId",
        &[
            "GB/GOV/D6/eligibility/fsm-check",
            "GB/GOV/D6/eligibility/fsm-check.v2",
            "GB/GOV/D6/eligibility/x.v9999",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345/ABCDEFGH/ABCDEFGHIJKLMNOPQRSTUVWXYZ-01234/abcdefghijklmnopqrstuvwxyz-0123456789-abcdefghijklmnopqrstuvwxy/abcdefghijklmnopqrstuvwxyz-0123456789-abcdefghijklmnopqrstuvwxy.v9999",
        ],
    ),
    ("GatewayId", &["GB/LA/E10000016@gw1", "GB/GOV/D6@a", "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345/ABCDEFGH/ABCDEFGHIJKLMNOPQRSTUVWXYZ-01234@abcdefghijklmnopqrstuvwxyz-0123"]),
    (
        "Grantee",
        &["GB/LA", "GB/LA/E10000016", "GB/LA/E10000016/revenues"],
    ),
];

/// Invalid ones: every rule of `psn_core::names`, broken once.
const INVALID: &[&str] = &[
    "",
    "G",
    "gb",
    "-GB",
    "GB-",
    "G--B",
    "GB/la/E1",
    "GB/L/E1",
    "GB/1A/E1",
    "GB/LA/-E1",
    "GB/LA/e1",
    "GB/LA/E1/Rev",
    "GB/LA/E1/-rev",
    "GB/LA/E1/rev/svc.v0",
    "GB/LA/E1/rev/svc.v01",
    "GB/LA/E1/rev/svc.v10000",
    "GB/LA/E1/rev/svc.x1",
    "GB/LA/E1/rev/.v1",
    "GB/LA/E1/rev/svc.",
    "GB/LA/E1/rev/svc/extra",
    "GB/LA/E1@Gw",
    "GB/LA/E1@gw/x",
    "GB/LA/E1@",
    "GB//E1",
    "/GB/LA",
    "GB/LA/",
    "GB/LA/E1 ",
    "GB/LA/E%31",
    "GB/LA/..",
    "GB/LA/./rev",
    "GB/LA/E1\u{0}",
    "GB/LA/É1",
    "unknown",
];

fn parses(kind: &str, value: &str) -> bool {
    match kind {
        "NetworkId" => value.parse::<NetworkId>().is_ok(),
        "ClassCode" => value.parse::<ClassCode>().is_ok(),
        "MemberCode" => value.parse::<MemberCode>().is_ok(),
        "SubsystemCode" => value.parse::<SubsystemCode>().is_ok(),
        "GatewayCode" => value.parse::<GatewayCode>().is_ok(),
        "MemberId" => value.parse::<MemberId>().is_ok(),
        "SubsystemId" => value.parse::<SubsystemId>().is_ok(),
        "ServiceId" => value.parse::<ServiceId>().is_ok(),
        "GatewayId" => value.parse::<GatewayId>().is_ok(),
        "Grantee" => value.parse::<Grantee>().is_ok(),
        other => panic!("no parser for {other}"),
    }
}

/// Every one-character change of `value`: each character deleted, and each of a set of
/// characters that matter to the rules inserted at every position.
fn mutations(value: &str) -> Vec<String> {
    let chars: Vec<char> = value.chars().collect();
    let mut out = Vec::new();
    for i in 0..=chars.len() {
        if i < chars.len() {
            let mut deleted = chars.clone();
            deleted.remove(i);
            out.push(deleted.into_iter().collect());
        }
        for c in [
            '-', '/', '@', '.', 'v', 'a', 'A', '0', '1', ' ', '*', '%', 'é',
        ] {
            let mut inserted = chars.clone();
            inserted.insert(i, c);
            out.push(inserted.into_iter().collect());
        }
    }
    out
}

#[test]
fn identifier_schemas_accept_exactly_what_psn_core_accepts() {
    let doc = document();
    let mut checked = 0;
    for (kind, valid) in VALID {
        let schema = serde_json::json!({ "$ref": format!("#/components/schemas/{kind}") });
        for value in *valid {
            assert!(parses(kind, value), "{kind} example {value:?} is not valid");
            assert!(accepts(&doc, &schema, value), "{kind} refuses {value:?}");
        }
        let long = format!("{}{}", valid[0], "x".repeat(300));
        let candidates = valid
            .iter()
            .flat_map(|v| mutations(v))
            .chain(INVALID.iter().map(|s| (*s).to_owned()))
            .chain(std::iter::once(long));
        for value in candidates {
            assert_eq!(
                accepts(&doc, &schema, &value),
                parses(kind, &value),
                "{kind}: the document and psn_core disagree on {value:?}"
            );
            checked += 1;
        }
    }
    assert!(checked > 1_000, "only {checked} examples checked");
}

#[test]
fn aggregate_rows_name_identifiers_or_unknown() {
    let doc = document();
    let key = &doc["components"]["schemas"]["AggregateBatch"]["properties"]["rows"]["items"]
        ["properties"]["key"]["properties"];
    for (field, value, ok) in [
        ("service", "GB/GOV/D6/eligibility/fsm-check", true),
        ("service", "unknown", true),
        ("service", "GB/GOV/D6/eligibility", false),
        ("client", "GB/LA/E10000016/revenues", true),
        ("client", "GB/LA/E10000016@gw1", true),
        ("client", "unknown", true),
        ("client", "someone", false),
    ] {
        assert_eq!(accepts(&doc, &key[field], value), ok, "{field} {value:?}");
    }
}

#[tokio::test]
async fn the_stated_limits_are_the_enforced_ones() {
    let a = TestAuthority::start(Backend::Sqlite).await;
    let op = a.operator();
    // Free text counts characters, as JSON Schema's maxLength does, not bytes.
    let member = |name: String| NewMember {
        id: "GB/LA/E10000016".parse().expect("id"),
        name,
        sector: None,
        region: None,
    };
    let e = op
        .add_member(&member("é".repeat(513)))
        .await
        .expect_err("513 characters");
    assert_eq!(e.problem_type(), Some(ProblemType::InvalidRequest));
    op.add_member(&member("é".repeat(512)))
        .await
        .expect("512 characters of two bytes each");
    let e = op
        .suspend_member(
            &"GB/LA/E10000016".parse().expect("id"),
            &StatusChange {
                reason: Some(" \t ".into()),
            },
        )
        .await
        .expect_err("blank reason");
    assert_eq!(e.problem_type(), Some(ProblemType::InvalidRequest));
    a.assert_invalid_queries(
        "/v1/members",
        &[
            "?limit=0",
            "?limit=10001",
            "?q=%00",
            "?class=L%0A",
            "?sector=%7F",
            &format!("?q={}", "é".repeat(513)),
        ],
    )
    .await;
    a.assert_invalid_queries("/v1/config", &["?wait=61", "?wait=-1"])
        .await;
    a.assert_invalid_queries("/v1/config/delta", &["?from=1&wait=61", "?wait=1"])
        .await;
    a.assert_invalid_queries("/v1/events", &["?limit=0", "?limit=10001"])
        .await;
    let raw = a.raw();
    // A regular expression with a NUL character compiles, but is no text to store.
    let class =
        serde_json::json!({"code": "XY", "description": "test", "code_pattern": "[A-Z]+\u{0}"});
    let resp = raw
        .post(format!("{}/v1/classes", a.url))
        .bearer_auth(&a.operator_token)
        .json(&class)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400, "a control character in code_pattern");
    let resp = raw
        .get(format!("{}/v1/members?q={}", a.url, "é".repeat(512)))
        .bearer_auth(&a.operator_token)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200, "512 characters of query text");
    a.stop().await;
}

/// Sends `POST path` over HTTP/1.1 with a `size`-byte body written whole before anything is
/// read, as clients that do not watch for an early answer do, and returns the status line.
async fn post_whole_body(a: &TestAuthority, path: &str, size: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tls = psn_pki::client_config(&a.ca_der, None).expect("tls");
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls));
    let address = a.url.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let mut stream = connector.connect(name, tcp).await.expect("handshake");
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\ncontent-length: {size}\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < size {
        let n = chunk.len().min(size - sent);
        if let Err(e) = stream.write_all(&chunk[..n]).await {
            panic!("{path}: the connection failed after {sent} of {size} body bytes: {e}");
        }
        sent += n;
    }
    stream.flush().await.expect("flush");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
            Err(e) => panic!("{path}: reading the answer failed: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn requests_refused_before_their_body_is_read_still_get_their_answer() {
    let a = TestAuthority::start(Backend::Sqlite).await;
    for path in ["/v1/members/import", "/v1/gateway/aggregates"] {
        let status = post_whole_body(&a, path, 8 * 1024 * 1024).await;
        assert_eq!(status, "HTTP/1.1 401 Unauthorized", "{path}");
    }
    a.stop().await;
}

#[tokio::test]
async fn grant_ids_have_the_shape_the_authority_gives_them() {
    for backend in common::backends() {
        let a = TestAuthority::start(backend).await;
        let op = a.operator();
        let member: psn_core::names::MemberId = "GB/GOV/D6".parse().expect("id");
        op.add_member(&NewMember {
            id: member.clone(),
            name: "Department for Education".into(),
            sector: None,
            region: None,
        })
        .await
        .expect("member");
        let token = op
            .create_token(&psn_api::TokenRequest {
                member,
                gateway: "gw1".parse().expect("code"),
                ttl_seconds: None,
            })
            .await
            .expect("token")
            .token;
        let dir = psn_gateway::GatewayDir::new(a.gateway_dir("dfe"));
        let options = psn_gateway::EnrolOptions {
            token,
            address: None,
        };
        psn_gateway::enrol(&dir, options).await.expect("enrol");
        let (identity, _) = dir.load_identity().expect("identity");
        let gateway =
            psn_api::AuthorityClient::gateway(&a.url, &a.ca_der, identity).expect("client");
        // A NUL character is text PostgreSQL cannot even compare: refused before any lookup.
        for id in [
            "g-\u{0}",
            "G-0123456789ABCDEF",
            "g-0123456789abcde",
            "../x",
            "",
        ] {
            let e = gateway
                .revoke_grant(&psn_api::GrantRef { id: id.into() })
                .await
                .expect_err(id);
            assert_eq!(
                e.problem_type(),
                Some(ProblemType::InvalidRequest),
                "{id:?} ({backend:?})"
            );
        }
        let e = gateway
            .revoke_grant(&psn_api::GrantRef {
                id: "g-0123456789abcdef".into(),
            })
            .await
            .expect_err("no such grant");
        assert_eq!(e.problem_type(), Some(ProblemType::NotFound), "{backend:?}");
        a.stop().await;
    }
}
