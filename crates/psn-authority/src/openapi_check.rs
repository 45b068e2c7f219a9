//! The check of a provider's OpenAPI document before the catalogue keeps and serves it
//! (docs/catalogue.md "OpenAPI documents").
//!
//! Why a walk over `serde_json::Value` rather than a typed model: `openapiv3` models 3.0 only
//! and `oas3` 3.1 only, so either would refuse half of what providers hold; deserialising into
//! them stops at the first mismatch and names no place in the document; and neither looks at
//! what matters most here, the `$ref`s. An external reference (`other.json#/x`,
//! `https://…`) would make the authority, or every reader's tooling, fetch an arbitrary URL
//! named by a provider, so only references within the document (`#/…`) are accepted, and each
//! must resolve. The walk checks the structure the catalogue relies on and reports every
//! problem it finds (up to [`MAX_FINDINGS`]) with its JSON pointer, so a provider fixes them in
//! one round. JSON only: YAML would need a parser crate, and the well-kept ones are either
//! deprecated (`serde_yaml`) or of doubtful provenance; providers convert with `yq -o=json`.

use psn_api::MAX_OPENAPI_BYTES;
use serde_json::{Map, Value};
use std::fmt;

/// Deepest nesting of arrays and objects accepted (real documents stay under 20).
pub const MAX_DEPTH: usize = 64;
/// Most JSON values (objects, arrays, strings, numbers…) in one document.
pub const MAX_NODES: usize = 250_000;
/// Most paths one document describes.
pub const MAX_PATHS: usize = 5_000;
/// Most `$ref`s in one document.
pub const MAX_REFS: usize = 50_000;
/// Most problems reported at once; the rest are counted.
pub const MAX_FINDINGS: usize = 50;

/// The operations of a path item (OpenAPI 3.0 and 3.1).
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// One problem, at a place in the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// RFC 6901 JSON pointer to the value at fault (empty for the whole document).
    pub pointer: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "(document)"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {}", self.message)
    }
}

/// Why a document was refused: every problem found, and how many more there were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The problems, in document order, at most [`MAX_FINDINGS`].
    pub findings: Vec<Finding>,
    /// Problems found beyond those.
    pub more: usize,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the OpenAPI document was refused: ")?;
        let parts: Vec<String> = self.findings.iter().map(ToString::to_string).collect();
        write!(f, "{}", parts.join("; "))?;
        if self.more > 0 {
            write!(f, "; and {} more problems", self.more)?;
        }
        Ok(())
    }
}

impl std::error::Error for Refusal {}

/// What an accepted document declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The `openapi` version, e.g. `3.1.0`.
    pub openapi: String,
    /// `info.title`.
    pub title: String,
    /// `info.version`.
    pub version: String,
}

/// Checks `text` as an OpenAPI 3.0 or 3.1 document the catalogue may serve.
pub fn check(text: &str) -> Result<Checked, Refusal> {
    if text.len() > MAX_OPENAPI_BYTES {
        return Err(one(
            "",
            format!(
                "is {} bytes; at most {MAX_OPENAPI_BYTES} (1 MiB) are accepted",
                text.len()
            ),
        ));
    }
    if let Some((depth_at, line)) = too_deep(text) {
        return Err(one(
            "",
            format!("nests arrays and objects more than {MAX_DEPTH} deep (at byte {depth_at}, line {line})"),
        ));
    }
    let root: Value = serde_json::from_str(text).map_err(|e| {
        one(
            "",
            format!(
                "is not JSON ({e}); upload the document as JSON (convert YAML with e.g. `yq -o=json openapi.yaml`)"
            ),
        )
    })?;
    let mut walk = Walk::default();
    let checked = walk.document(&root);
    walk.references(&root);
    match (walk.findings.is_empty(), checked) {
        (true, Some(checked)) => Ok(checked),
        _ => Err(walk.refusal()),
    }
}

fn one(pointer: &str, message: String) -> Refusal {
    Refusal {
        findings: vec![Finding {
            pointer: pointer.to_owned(),
            message,
        }],
        more: 0,
    }
}

/// The byte offset and line where nesting first goes past [`MAX_DEPTH`], scanning the text
/// before it is parsed (so a hostile document cannot make the parser recurse at all).
fn too_deep(text: &str) -> Option<(usize, usize)> {
    let (mut depth, mut line, mut in_string, mut escaped) = (0usize, 1usize, false, false);
    for (at, byte) in text.bytes().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'\n' => line += 1,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some((at, line));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// RFC 6901: `~` as `~0`, `/` as `~1`.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn child(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", escape(token))
}

#[derive(Default)]
struct Walk {
    findings: Vec<Finding>,
    more: usize,
    nodes: usize,
    refs: usize,
}

impl Walk {
    fn find(&mut self, pointer: &str, message: impl Into<String>) {
        if self.findings.len() < MAX_FINDINGS {
            self.findings.push(Finding {
                pointer: pointer.to_owned(),
                message: message.into(),
            });
        } else {
            self.more += 1;
        }
    }

    fn refusal(self) -> Refusal {
        Refusal {
            findings: self.findings,
            more: self.more,
        }
    }

    /// The top level: version, info, paths. `None` if the document is not usable at all.
    fn document(&mut self, root: &Value) -> Option<Checked> {
        let Some(top) = root.as_object() else {
            self.find("", "must be a JSON object (an OpenAPI document)");
            return None;
        };
        if top.contains_key("swagger") {
            self.find(
                "/swagger",
                "this is a Swagger (OpenAPI 2.0) document; upload OpenAPI 3.0 or 3.1 (convert with e.g. swagger2openapi)",
            );
            return None;
        }
        let openapi = self.version(top);
        let (title, version) = self.info(top);
        self.paths(top, openapi.as_deref());
        Some(Checked {
            openapi: openapi?,
            title: title?,
            version: version?,
        })
    }

    fn version(&mut self, top: &Map<String, Value>) -> Option<String> {
        match top.get("openapi") {
            Some(Value::String(v)) if is_supported(v) => Some(v.clone()),
            Some(Value::String(v)) => {
                let shown: String = v.chars().take(32).collect();
                self.find(
                    "/openapi",
                    format!("version {shown:?} is not supported; 3.0.x or 3.1.x are"),
                );
                None
            }
            Some(_) => {
                self.find("/openapi", "must be a string such as \"3.1.0\"");
                None
            }
            None => {
                self.find("", "has no \"openapi\" field; an OpenAPI 3.0 or 3.1 document starts with one, e.g. \"openapi\": \"3.1.0\"");
                None
            }
        }
    }

    fn info(&mut self, top: &Map<String, Value>) -> (Option<String>, Option<String>) {
        let Some(info) = top.get("info").and_then(Value::as_object) else {
            self.find(
                "/info",
                "is required: an object with \"title\" and \"version\"",
            );
            return (None, None);
        };
        let mut text = |field: &str| match info.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            _ => {
                self.find(
                    &format!("/info/{field}"),
                    "is required and must be a non-empty string",
                );
                None
            }
        };
        (text("title"), text("version"))
    }

    fn paths(&mut self, top: &Map<String, Value>, openapi: Option<&str>) {
        let Some(paths) = top.get("paths") else {
            let is_31 = openapi.is_some_and(|v| v.starts_with("3.1."));
            if !is_31 {
                self.find("/paths", "is required in OpenAPI 3.0");
            } else if !top.contains_key("components") && !top.contains_key("webhooks") {
                self.find(
                    "/paths",
                    "is required unless the document has \"components\" or \"webhooks\"",
                );
            }
            return;
        };
        let Some(paths) = paths.as_object() else {
            self.find("/paths", "must be an object of paths");
            return;
        };
        if paths.len() > MAX_PATHS {
            self.find(
                "/paths",
                format!("has {} paths; at most {MAX_PATHS}", paths.len()),
            );
            return;
        }
        for (path, item) in paths {
            let at = child("/paths", path);
            if path.starts_with("x-") {
                continue;
            }
            if !path.starts_with('/') {
                self.find(&at, "a path must start with \"/\"");
                continue;
            }
            self.path_item(&at, item);
        }
    }

    fn path_item(&mut self, at: &str, item: &Value) {
        let Some(item) = item.as_object() else {
            self.find(at, "must be a path item object");
            return;
        };
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let op_at = child(at, method);
            match operation.as_object() {
                None => self.find(&op_at, "must be an operation object"),
                Some(op) => match op.get("responses") {
                    Some(Value::Object(r)) if !r.is_empty() => {}
                    Some(Value::Object(_)) => self.find(
                        &format!("{op_at}/responses"),
                        "must name at least one response",
                    ),
                    Some(_) => self.find(&format!("{op_at}/responses"), "must be an object"),
                    None => self.find(
                        &op_at,
                        "has no \"responses\"; every operation must say what it answers",
                    ),
                },
            }
        }
    }

    /// Every `$ref` in the document: internal (`#…`), resolving, and not too many; counts the
    /// values too. Literal data (`example`, `default`, `enum`, `const`) is not looked into:
    /// a `$ref` there is an example's text, not a reference.
    fn references(&mut self, root: &Value) {
        let mut stack: Vec<(String, &Value)> = vec![(String::new(), root)];
        while let Some((at, value)) = stack.pop() {
            self.nodes += 1;
            if self.nodes > MAX_NODES {
                self.find("", format!("has more than {MAX_NODES} values"));
                return;
            }
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        self.reference(&child(&at, "$ref"), target, root);
                        if self.refs > MAX_REFS {
                            self.find("", format!("has more than {MAX_REFS} $refs"));
                            return;
                        }
                    }
                    for (key, v) in map.iter().rev() {
                        if !matches!(key.as_str(), "example" | "default" | "enum" | "const") {
                            stack.push((child(&at, key), v));
                        }
                    }
                }
                Value::Array(items) => {
                    for (i, v) in items.iter().enumerate().rev() {
                        stack.push((format!("{at}/{i}"), v));
                    }
                }
                _ => {}
            }
        }
    }

    fn reference(&mut self, at: &str, target: &str, root: &Value) {
        self.refs += 1;
        let shown: String = target.chars().take(120).collect();
        let Some(fragment) = target.strip_prefix('#') else {
            self.find(
                at,
                format!("{shown:?} is an external reference; only references within the document (\"#/…\") are accepted, so that nobody is made to fetch another URL"),
            );
            return;
        };
        let Some(pointer) = percent_decode(fragment) else {
            self.find(at, format!("{shown:?} is not a valid URI fragment"));
            return;
        };
        if !(pointer.is_empty() || pointer.starts_with('/')) || root.pointer(&pointer).is_none() {
            self.find(
                at,
                format!("{shown:?} does not resolve to anything in this document"),
            );
        }
    }
}

/// `3.0.N` or `3.1.N`.
fn is_supported(version: &str) -> bool {
    let mut parts = version.split('.');
    let (major, minor, patch) = (parts.next(), parts.next(), parts.next());
    major == Some("3")
        && matches!(minor, Some("0" | "1"))
        && patch.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && parts.next().is_none()
}

/// A URI fragment's percent-encoding undone (`#/paths/~1pets%7Bid%7D`); `None` if malformed.
fn percent_decode(fragment: &str) -> Option<String> {
    let bytes = fragment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = fragment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid_30() -> Value {
        json!({
            "openapi": "3.0.3",
            "info": {"title": "Free school meals check", "version": "1.2"},
            "paths": {
                "/check/{nino}": {
                    "get": {
                        "parameters": [{"$ref": "#/components/parameters/Nino"}],
                        "responses": {"200": {"description": "eligible or not",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Answer"}}}}}
                    }
                }
            },
            "components": {
                "parameters": {"Nino": {"name": "nino", "in": "path", "required": true, "schema": {"type": "string"}}},
                "schemas": {"Answer": {"type": "object", "properties": {"eligible": {"type": "boolean"},
                    "next": {"$ref": "#/components/schemas/Answer"}},
                    "example": {"$ref": "https://not.a.reference/just/text"}}}
            }
        })
    }

    fn refused(doc: &Value) -> Refusal {
        check(&doc.to_string()).expect_err("should be refused")
    }

    /// The pointers of the findings, sorted (map order depends on serde_json's features).
    fn pointers(r: &Refusal) -> Vec<&str> {
        let mut all: Vec<&str> = r.findings.iter().map(|f| f.pointer.as_str()).collect();
        all.sort_unstable();
        all
    }

    #[test]
    fn valid_30_and_31_documents_are_accepted() {
        let checked = check(&valid_30().to_string()).expect("3.0 accepted");
        assert_eq!(checked.openapi, "3.0.3");
        assert_eq!(checked.title, "Free school meals check");
        let mut doc = valid_30();
        doc["openapi"] = json!("3.1.0");
        doc["paths"]["/a~b/c"] = json!({"post": {"responses": {"default": {"description": "x"}}}});
        doc["components"]["schemas"]["Tilde"] = json!({"$ref": "#/paths/~1a~0b~1c"});
        doc["components"]["schemas"]["Pct"] = json!({"$ref": "#/paths/~1check~1%7Bnino%7D"});
        assert_eq!(
            check(&doc.to_string()).expect("3.1 accepted").openapi,
            "3.1.0"
        );
        let webhooks_only = json!({"openapi": "3.1.1", "info": {"title": "t", "version": "1"},
            "webhooks": {}});
        check(&webhooks_only.to_string()).expect("3.1 without paths");
    }

    #[test]
    fn the_authority_s_own_description_passes() {
        let checked = check(crate::api::OPENAPI).expect("the authority's openapi.json");
        assert!(checked.openapi.starts_with("3.1."));
    }

    #[test]
    fn text_that_is_not_json_is_refused_with_advice() {
        let r = check("openapi: 3.1.0\ninfo: {title: x}").expect_err("YAML refused");
        assert!(r.to_string().contains("is not JSON"), "{r}");
        assert!(r.to_string().contains("yq -o=json"), "{r}");
        assert!(check("[1, 2]").is_err());
    }

    #[test]
    fn swagger_2_is_refused() {
        let r = refused(
            &json!({"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {}}),
        );
        assert_eq!(pointers(&r), ["/swagger"]);
        assert!(r.to_string().contains("Swagger (OpenAPI 2.0)"), "{r}");
        let r = refused(
            &json!({"openapi": "4.0.0", "info": {"title": "t", "version": "1"}, "paths": {}}),
        );
        assert!(r.to_string().contains("\"4.0.0\" is not supported"), "{r}");
    }

    #[test]
    fn missing_info_and_bad_paths_are_all_reported_at_once() {
        let r = refused(&json!({"openapi": "3.0.0", "info": {"version": ""},
            "paths": {"pets": {}, "/ok": {"get": {"description": "no responses"},
                "put": {"responses": {}}, "delete": 3}}}));
        assert_eq!(
            pointers(&r),
            [
                "/info/title",
                "/info/version",
                "/paths/pets",
                "/paths/~1ok/delete",
                "/paths/~1ok/get",
                "/paths/~1ok/put/responses"
            ]
        );
        assert!(
            r.to_string()
                .contains("/paths/pets: a path must start with \"/\""),
            "{r}"
        );
        let r = refused(&json!({"openapi": "3.0.0", "paths": {}}));
        assert_eq!(pointers(&r), ["/info"]);
        let r = refused(&json!({"openapi": "3.0.0", "info": {"title": "t", "version": "1"}}));
        assert_eq!(pointers(&r), ["/paths"]);
    }

    #[test]
    fn external_references_are_refused_wherever_they_are() {
        let mut doc = valid_30();
        doc["components"]["schemas"]["Far"] = json!({"$ref": "https://evil.example/schema.json"});
        doc["paths"]["/x"] = json!({"$ref": "paths.json#/x"});
        let r = refused(&doc);
        assert_eq!(
            pointers(&r),
            ["/components/schemas/Far/$ref", "/paths/~1x/$ref"]
        );
        assert!(r.to_string().contains("is an external reference"), "{r}");
    }

    #[test]
    fn dangling_references_are_refused() {
        let mut doc = valid_30();
        doc["components"]["schemas"]["Gone"] = json!({"$ref": "#/components/schemas/Missing"});
        doc["components"]["schemas"]["Bad"] = json!({"$ref": "#/components/%zz"});
        doc["components"]["schemas"]["Rel"] = json!({"$ref": "#components"});
        let r = refused(&doc);
        assert_eq!(r.findings.len(), 3, "{r}");
        assert!(
            r.to_string()
                .contains("\"#/components/schemas/Missing\" does not resolve"),
            "{r}"
        );
        assert!(r.to_string().contains("not a valid URI fragment"), "{r}");
    }

    #[test]
    fn documents_too_deep_or_too_large_are_refused_before_parsing() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let r = check(&deep).expect_err("too deep");
        assert!(r.to_string().contains("more than 64 deep"), "{r}");
        // Brackets inside strings do not count.
        let mut doc = valid_30();
        doc["info"]["description"] = json!("[".repeat(500));
        check(&doc.to_string()).expect("brackets in text are text");
        let mut big = valid_30();
        big["info"]["description"] = json!("x".repeat(MAX_OPENAPI_BYTES));
        let r = refused(&big);
        assert!(r.to_string().contains("at most 1048576 (1 MiB)"), "{r}");
    }

    #[test]
    fn absurd_counts_are_refused_and_findings_are_capped() {
        let paths: Map<String, Value> = (0..=MAX_PATHS)
            .map(|i| (format!("/p{i}"), json!({})))
            .collect();
        let r = refused(
            &json!({"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "paths": paths}),
        );
        assert!(r.to_string().contains("has 5001 paths"), "{r}");
        let paths: Map<String, Value> = (0..80).map(|i| (format!("p{i}"), json!({}))).collect();
        let r = refused(
            &json!({"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "paths": paths}),
        );
        assert_eq!(r.findings.len(), MAX_FINDINGS);
        assert_eq!(r.more, 30);
        assert!(r.to_string().ends_with("and 30 more problems"), "{r}");
    }
}
