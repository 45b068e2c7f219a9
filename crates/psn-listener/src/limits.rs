//! Request-head limits. The documented limits are enforced here, by psn, so that exceeding one
//! gets a problem document with a precise detail. The HTTP library's own limits (which answer
//! with a bare status, or over HTTP/2 a stream reset) are set a bounded margin above them, so
//! they only ever catch heads far beyond what psn documents.

use http::{HeaderMap, Uri};
use psn_core::problem::ProblemType;

/// Largest total size of a request's header names and values.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Most header fields in one request (each value of a repeated field counts once).
pub const MAX_HEADER_FIELDS: usize = 256;
/// Longest request target (scheme, authority, path and query).
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// HTTP/1.1: most header fields hyper parses. Twice the documented count: a request between
/// the two is refused by [`check`] with a precise problem; beyond it hyper refuses by itself.
pub const HTTP1_MAX_HEADERS: usize = 2 * MAX_HEADER_FIELDS;
/// HTTP/1.1: the smallest read buffer (`max_buf_size`) a listener may set, which bounds the
/// whole request head. It holds the documented headers and target with every field's framing
/// and leaves a margin of more than 50 KiB.
pub const HTTP1_MIN_BUF_SIZE: usize = 128 * 1024;
/// HTTP/2: `SETTINGS_MAX_HEADER_LIST_SIZE` (names, values and 32 bytes a field, RFC 9113
/// §6.5.2). The documented headers and target with that overhead come to under 82 KiB.
pub const HTTP2_MAX_HEADER_LIST_SIZE: u32 = 128 * 1024;
/// The longest request target hyper (the `http` crate) can represent; longer ones are refused
/// before psn sees the request.
pub const HARD_URI_BYTES: usize = u16::MAX as usize - 1;

// The library's limits sit a margin of at least 32 KiB above a head at every documented limit
// (an HTTP/1.1 field's framing is 4 bytes; an HTTP/2 field counts 32 more, pseudo-headers too).
const _: () = assert!(
    HTTP1_MIN_BUF_SIZE
        > MAX_URI_BYTES + MAX_HEADER_BYTES + MAX_HEADER_FIELDS * ": \r\n".len() + 64 + 32 * 1024
);
const _: () = assert!(
    HTTP2_MAX_HEADER_LIST_SIZE as usize
        > MAX_URI_BYTES + MAX_HEADER_BYTES + (MAX_HEADER_FIELDS + 4) * 32 + 32 * 1024
);
const _: () = assert!(HTTP1_MAX_HEADERS > MAX_HEADER_FIELDS && HARD_URI_BYTES > MAX_URI_BYTES);

/// Why a request head is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The problem type (`headers-too-large` or `uri-too-long`).
    pub kind: ProblemType,
    /// What was over which limit.
    pub detail: String,
}

/// What a consumer gateway adds to a caller's request head when it relays it to a provider
/// gateway (`PSN-Client`, `PSN-Message-Id`, `PSN-Purpose`, the request statement, trace
/// context, the peer's scheme and address): a provider admits this much more, so a request
/// within the documented limits at the consumer is never refused for its size at the provider.
pub const RELAY_ALLOWANCE: Allowance = Allowance {
    target_bytes: 512,
    header_fields: 16,
    header_bytes: 8 * 1024,
};

/// Room beyond the documented limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allowance {
    /// Extra request-target bytes.
    pub target_bytes: usize,
    /// Extra header fields.
    pub header_fields: usize,
    /// Extra header name and value bytes.
    pub header_bytes: usize,
}

const _: () = assert!(
    HTTP2_MAX_HEADER_LIST_SIZE as usize
        > MAX_URI_BYTES
            + RELAY_ALLOWANCE.target_bytes
            + MAX_HEADER_BYTES
            + RELAY_ALLOWANCE.header_bytes
            + (MAX_HEADER_FIELDS + RELAY_ALLOWANCE.header_fields + 4) * 32
            + 16 * 1024
);

/// Checks a request head against the documented limits.
pub fn check(uri: &Uri, headers: &HeaderMap) -> Result<(), Refusal> {
    check_with(uri, headers, Allowance::default())
}

/// Checks a request head against the documented limits plus `allowance`.
pub fn check_with(uri: &Uri, headers: &HeaderMap, allowance: Allowance) -> Result<(), Refusal> {
    let max_target = MAX_URI_BYTES + allowance.target_bytes;
    let max_fields = MAX_HEADER_FIELDS + allowance.header_fields;
    let max_bytes = MAX_HEADER_BYTES + allowance.header_bytes;
    let target = target_len(uri);
    if target > max_target {
        return Err(Refusal {
            kind: ProblemType::UriTooLong,
            detail: format!("the request target is {target} bytes; the limit is {max_target}"),
        });
    }
    if headers.len() > max_fields {
        return Err(Refusal {
            kind: ProblemType::HeadersTooLarge,
            detail: format!(
                "the request has {} header fields; the limit is {max_fields}",
                headers.len()
            ),
        });
    }
    let bytes = header_bytes(headers);
    if bytes > max_bytes {
        return Err(Refusal {
            kind: ProblemType::HeadersTooLarge,
            detail: format!("the request headers total {bytes} bytes; the limit is {max_bytes}"),
        });
    }
    Ok(())
}

/// The total size of the header names and values.
pub fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum()
}

/// The length of the request target as the client sent it: an origin-form target is the path
/// and query; an absolute-form one adds the scheme and authority.
fn target_len(uri: &Uri) -> usize {
    let scheme = uri.scheme_str().map_or(0, |s| s.len() + "://".len());
    let authority = uri.authority().map_or(0, |a| a.as_str().len());
    let path = uri.path_and_query().map_or(0, |p| p.as_str().len());
    scheme + authority + path
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};

    fn fields(count: usize, value_len: usize) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(&"v".repeat(value_len)).expect("value");
        for i in 0..count {
            let name = HeaderName::from_bytes(format!("x-f{i}").as_bytes()).expect("name");
            headers.insert(name, value.clone());
        }
        headers
    }

    fn uri(path_len: usize) -> Uri {
        format!("/{}", "a".repeat(path_len - 1))
            .parse()
            .expect("uri")
    }

    #[test]
    fn heads_within_every_limit_pass() {
        let exact = MAX_HEADER_BYTES / 4 - "x-f0".len();
        assert!(check(&uri(MAX_URI_BYTES), &fields(MAX_HEADER_FIELDS, 10)).is_ok());
        assert!(check(&uri(1), &fields(4, exact)).is_ok());
    }

    #[test]
    fn each_limit_refuses_one_past_it() {
        let refusal = check(&uri(MAX_URI_BYTES + 1), &HeaderMap::new()).expect_err("uri");
        assert_eq!(refusal.kind, ProblemType::UriTooLong);
        assert!(refusal.detail.contains("8193 bytes"), "{}", refusal.detail);

        let refusal = check(&uri(1), &fields(MAX_HEADER_FIELDS + 1, 1)).expect_err("count");
        assert_eq!(refusal.kind, ProblemType::HeadersTooLarge);
        assert!(
            refusal.detail.contains("257 header fields"),
            "{}",
            refusal.detail
        );

        let refusal = check(&uri(1), &fields(1, MAX_HEADER_BYTES)).expect_err("bytes");
        assert_eq!(refusal.kind, ProblemType::HeadersTooLarge);
        assert!(refusal.detail.contains("65540 bytes"), "{}", refusal.detail);
    }

    #[test]
    fn an_absolute_target_counts_scheme_and_authority() {
        let long = format!("http://example.test/{}", "a".repeat(MAX_URI_BYTES - 19));
        let absolute: Uri = long.parse().expect("uri");
        assert_eq!(target_len(&absolute), long.len());
        assert_eq!(
            check(&absolute, &HeaderMap::new()).map_err(|r| r.kind),
            Err(ProblemType::UriTooLong)
        );
    }
}
