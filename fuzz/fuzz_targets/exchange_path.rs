//! A request head as a gateway receives it, from a member's system on the consumer side or a
//! peer gateway on the provider side, on arbitrary bytes: the first line is the request target
//! (optionally after a method and a space), each further line a `name: value` header.
//!
//! What runs is what both sides run before an exchange is admitted: the head limits, the
//! target's parse (`/r1/{network}/{class}/{code}/{subsystem}/{service}[/{path}][?{query}]`),
//! `PSN-Message-Id`, `PSN-Client`, `PSN-Purpose`, `PSN-Api-Key` and `traceparent`, and the claims
//! a refused request is recorded under. Nothing panics. A target that parses names a path below
//! its service with no way out of it (no `.` or `..` segment, no `//`, no backslash or encoded
//! separator), writes back to a target that parses to the same, and appended to a backend's base
//! URL stays on that backend under that base. A message id taken is a UUID in its hyphenated
//! form. Recorded claims stay within their bounds.

#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use libfuzzer_sys::fuzz_target;
use psn_core::names::SubsystemId;
use psn_gateway::plane::fuzzing::{well_formed_traceparent, Claims};
use psn_gateway::plane::{
    message_id, parse_target, single, Target, PSN_API_KEY, PSN_CLIENT, PSN_MESSAGE_ID, PSN_PURPOSE,
};
use psn_gateway::LocalService;
use psn_listener::limits;

/// The base URL a provider's backend is configured with.
const BACKEND: &str = "http://backend.example:8080/base";

/// A parsed target's invariants; `from_uri` when its path came through `http::Uri`, whose
/// characters are all valid in a URL.
fn target(target: &Target, from_uri: bool) {
    let rest = &target.rest;
    assert!(rest.is_empty() || rest.starts_with('/'), "{rest:?}");
    assert!(
        !rest.split('/').any(|s| s == "." || s == "..")
            && !rest.contains("//")
            && !rest.contains('\\'),
        "{rest:?} escapes its service"
    );
    let written = format!("/r1/{}{rest}", target.service);
    assert_eq!(
        parse_target(&written, target.query.as_deref()).as_ref(),
        Ok(target)
    );
    let service = LocalService {
        id: target.service.clone(),
        backend: BACKEND.to_owned(),
        backend_ca: None,
        health_path: None,
    };
    match service.backend_uri(&target.path_and_query()) {
        Ok(uri) => {
            assert_eq!(uri.host(), Some("backend.example"), "{uri}");
            assert_eq!(uri.port_u16(), Some(8080), "{uri}");
            assert!(uri.path().starts_with("/base"), "{uri}");
        }
        Err(e) => assert!(
            !from_uri,
            "{:?} is no backend URL: {e}",
            target.path_and_query()
        ),
    }
}

/// The psn headers, as the consumer and provider sides read them.
fn headers(headers: &HeaderMap) {
    if let Ok(id) = message_id(headers) {
        let uuid = uuid_of(&id);
        assert_eq!(uuid, id, "message ids are kept hyphenated and lowercase");
    }
    if let Ok(Some(client)) = single(headers, &PSN_CLIENT) {
        let _ = client.parse::<SubsystemId>();
    }
    let _ = single(headers, &PSN_PURPOSE);
    let _ = single(headers, &PSN_API_KEY);
    for value in headers.get_all("traceparent") {
        let Ok(value) = value.to_str() else {
            continue;
        };
        if well_formed_traceparent(value) {
            let fields: Vec<&str> = value.trim().split('-').collect();
            assert!(fields.len() >= 4, "{value:?}");
            assert_eq!(
                [
                    fields[0].len(),
                    fields[1].len(),
                    fields[2].len(),
                    fields[3].len()
                ],
                [2, 32, 16, 2],
                "{value:?}"
            );
        }
    }
}

/// The id `message_id` gave, written as it writes ids.
fn uuid_of(id: &str) -> String {
    let mut with = HeaderMap::new();
    let value = HeaderValue::from_str(id).expect("a message id is a header value");
    with.insert(PSN_MESSAGE_ID, value);
    message_id(&with).expect("a message id given is taken again")
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|b| *b == b'\n');
    let first = lines.next().unwrap_or_default();
    let (method, request_target) = match first.iter().position(|b| *b == b' ') {
        Some(space) => (&first[..space], &first[space + 1..]),
        None => (&b"GET"[..], first),
    };
    if let Ok(text) = std::str::from_utf8(request_target) {
        let (path, query) = match text.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (text, None),
        };
        if let Ok(parsed) = parse_target(path, query) {
            target(&parsed, false);
        }
    }
    let mut map = HeaderMap::new();
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let value = line[colon + 1..].trim_ascii();
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            map.append(name, value);
        }
    }
    headers(&map);
    let (Ok(method), Ok(uri)) = (Method::from_bytes(method), Uri::try_from(request_target)) else {
        return;
    };
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = map;
    let (parts, ()) = request.into_parts();
    let _ = limits::check(&parts.uri, &parts.headers);
    let _ = limits::check_with(&parts.uri, &parts.headers, limits::RELAY_ALLOWANCE);
    if let Ok(parsed) = parse_target(parts.uri.path(), parts.uri.query()) {
        target(&parsed, true);
    }
    let claims = Claims::of(&parts);
    assert!(claims.client.len() <= 256 && claims.service.len() <= 256);
    assert!(claims.method.len() <= 64 && claims.path.len() <= 1024);
});
