//! What one gateway records about one exchange (DESIGN.md "Audit log"). Fields are plain text
//! as the gateway saw them, so a record decodes and displays even when an identifier is one this
//! version of psn would refuse today.

use psn_core::proof::StatementKind;
use serde::{Deserialize, Serialize};

/// Which side of the exchange the recording gateway was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The gateway of the calling member: its peer's statement is the provider's response
    /// statement.
    Consumer,
    /// The gateway of the providing member: its peer's statement is the consumer's request
    /// statement.
    Provider,
}

impl Role {
    /// The kind of statement the peer signs for this side.
    pub fn peer_statement_kind(self) -> StatementKind {
        match self {
            Role::Consumer => StatementKind::Response,
            Role::Provider => StatementKind::Request,
        }
    }

    /// The lowercase word used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Consumer => "consumer",
            Role::Provider => "provider",
        }
    }
}

/// When the exchange crossed each hop of this gateway, Unix milliseconds (DESIGN.md
/// "Operational monitoring"): absent hops were never reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HopTimes {
    /// The request arrived (from the member's system, or from the peer gateway).
    pub received_ms: i64,
    /// The request was sent on (to the peer gateway, or to the backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_ms: Option<i64>,
    /// The response head came back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_in_ms: Option<i64>,
    /// The response was released to the caller (its last byte, with its trailers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_out_ms: Option<i64>,
}

/// One exchange at one gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The exchange's message id (a UUID on the data plane).
    pub message_id: String,
    /// Which side recorded it.
    pub role: Role,
    /// The consumer subsystem, `{member}/{subsystem}`.
    pub client: String,
    /// The service called.
    pub service: String,
    /// HTTP method.
    pub method: String,
    /// Path below the service, with the query (as in the statements).
    pub path: String,
    /// The lawful purpose the caller gave (`PSN-Purpose`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// Hop timestamps.
    pub times: HopTimes,
    /// RFC 9530 `Content-Digest` of the request body, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_digest: Option<String>,
    /// `Content-Digest` of the response body, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_digest: Option<String>,
    /// HTTP status released to the caller.
    pub status: u16,
    /// Request body bytes.
    pub request_bytes: u64,
    /// Response body bytes.
    pub response_bytes: u64,
    /// The peer gateway, `{member}@{code}`, if one was reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// Serial of the peer's certificate on the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_serial: Option<String>,
    /// The peer's signed statement as received (`statement.signature.path`, see
    /// `psn_core::proof`). Absent when the peer sent none (it raised the error itself) or was
    /// never reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_proof: Option<String>,
    /// The psn problem type (`urn:psn:problem:…`) when psn refused or failed the exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The request body is kept next to the log (the service opted in); the request digest
    /// covers it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub request_body_stored: bool,
    /// The response body is kept next to the log; the response digest covers it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub response_body_stored: bool,
}

/// Which body of an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyPart {
    /// The request body.
    Request,
    /// The response body.
    Response,
}

impl BodyPart {
    /// The lowercase word used in file names.
    pub fn as_str(self) -> &'static str {
        match self {
            BodyPart::Request => "request",
            BodyPart::Response => "response",
        }
    }
}

/// The file name a stored body gets: `{message_id}.{role}.{part}`. `None` when the message id
/// could not be part of a file name (only `[A-Za-z0-9-]`, at most 64 characters, are used).
pub fn body_file_name(message_id: &str, role: Role, part: BodyPart) -> Option<String> {
    let safe = !message_id.is_empty()
        && message_id.len() <= 64
        && message_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    safe.then(|| format!("{message_id}.{}.{}", role.as_str(), part.as_str()))
}

impl AuditRecord {
    /// The body parts this record says are stored.
    pub fn stored_bodies(&self) -> Vec<BodyPart> {
        let mut parts = Vec::new();
        if self.request_body_stored {
            parts.push(BodyPart::Request);
        }
        if self.response_body_stored {
            parts.push(BodyPart::Response);
        }
        parts
    }

    /// The digest a stored body must match.
    pub fn digest_of(&self, part: BodyPart) -> Option<&str> {
        match part {
            BodyPart::Request => self.request_digest.as_deref(),
            BodyPart::Response => self.response_digest.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_names_refuse_anything_that_could_escape_the_directory() {
        assert_eq!(
            body_file_name("0b6b4a52-2f6c", Role::Provider, BodyPart::Request).as_deref(),
            Some("0b6b4a52-2f6c.provider.request")
        );
        for bad in ["", "../x", "a/b", "a.b", &"a".repeat(65)] {
            assert_eq!(
                body_file_name(bad, Role::Consumer, BodyPart::Response),
                None
            );
        }
    }
}
