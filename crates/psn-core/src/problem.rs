//! RFC 9457 problem details: every error psn itself raises has one stable `type` per cause, so
//! operators and client software can branch on the cause without parsing prose.

use serde::{Deserialize, Serialize};

/// The media type of every error body psn produces.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One stable cause of failure. The `slug` is part of the public contract: it never changes once
/// released, and it forms the problem `type` URI `urn:psn:problem:{slug}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemType {
    /// The request is malformed: bad JSON, bad identifier, missing field.
    InvalidRequest,
    /// No credentials, or credentials that are not recognised.
    Unauthenticated,
    /// Credentials are valid but do not allow this operation.
    Forbidden,
    /// The named resource does not exist.
    NotFound,
    /// The resource exists but not with this method.
    MethodNotAllowed,
    /// The resource already exists, or the change conflicts with current state.
    Conflict,
    /// The body exceeds the configured limit.
    BodyTooLarge,
    /// The request's headers together exceed the limit.
    HeadersTooLarge,
    /// The request target (path and query) is longer than the limit.
    UriTooLong,
    /// The request's content type is not accepted by this endpoint.
    UnsupportedMediaType,
    /// The enrolment token is malformed, unknown, or does not match its claims.
    TokenInvalid,
    /// The enrolment token has passed its expiry.
    TokenExpired,
    /// The enrolment token has already been used.
    TokenUsed,
    /// The certificate signing request is malformed, badly signed or names the wrong identity.
    CsrInvalid,
    /// The member is suspended or has left the network.
    MemberNotActive,
    /// The gateway has been revoked.
    GatewayRevoked,
    /// The signed configuration failed verification or is older than one already accepted.
    ConfigInvalid,
    /// The cached configuration has passed its validity window.
    ConfigExpired,
    /// A federated partner network's configuration, as this network last received it, has
    /// passed its validity window: exchanges with that network fail closed until its authority
    /// is reached again.
    PartnerConfigExpired,
    /// No grant allows this client to call this service (method and path).
    AccessDenied,
    /// The service is not in the network's configuration, or its provider is not active.
    UnknownService,
    /// The PSN-Client header is missing, malformed, not a subsystem of this member, or not allowed from this source.
    UnknownClient,
    /// No gateway of the provider could be reached.
    ProviderUnreachable,
    /// The provider gateway did not answer in time.
    ProviderTimeout,
    /// The provider's backend refused or dropped the connection.
    BackendUnreachable,
    /// The provider's backend did not answer in time.
    BackendTimeout,
    /// The provider gateway's signed statement was missing or did not verify (raised by the
    /// consumer gateway: the provider's fault).
    ProofInvalid,
    /// The consumer gateway's signed request statement was missing or did not match the request
    /// that arrived (raised by the provider gateway: the consumer side's fault).
    RequestProofInvalid,
    /// The request body stopped arriving: nothing came for the response timeout (the caller's
    /// side stalled).
    RequestTimeout,
    /// The gateway cannot write its audit log, so it carries no exchange it could not record.
    AuditUnavailable,
    /// The gateway's clock differs from the authority's by more than the network tolerates
    /// (`crate::clock`), so it makes no statement another machine might refuse.
    ClockSkew,
    /// A fault inside psn; details are in the server log under the message id.
    Internal,
    /// A dependency (database, peer) is unavailable; retrying later may succeed.
    Unavailable,
}

impl ProblemType {
    /// Every problem type, for documentation and exhaustive tests.
    pub const ALL: &'static [ProblemType] = &[
        Self::InvalidRequest,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Conflict,
        Self::BodyTooLarge,
        Self::HeadersTooLarge,
        Self::UriTooLong,
        Self::UnsupportedMediaType,
        Self::TokenInvalid,
        Self::TokenExpired,
        Self::TokenUsed,
        Self::CsrInvalid,
        Self::MemberNotActive,
        Self::GatewayRevoked,
        Self::ConfigInvalid,
        Self::ConfigExpired,
        Self::PartnerConfigExpired,
        Self::AccessDenied,
        Self::UnknownService,
        Self::UnknownClient,
        Self::ProviderUnreachable,
        Self::ProviderTimeout,
        Self::BackendUnreachable,
        Self::BackendTimeout,
        Self::ProofInvalid,
        Self::RequestProofInvalid,
        Self::RequestTimeout,
        Self::AuditUnavailable,
        Self::ClockSkew,
        Self::Internal,
        Self::Unavailable,
    ];

    /// The stable short name of the cause.
    pub fn slug(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid-request",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Conflict => "conflict",
            Self::BodyTooLarge => "body-too-large",
            Self::HeadersTooLarge => "headers-too-large",
            Self::UriTooLong => "uri-too-long",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::TokenInvalid => "token-invalid",
            Self::TokenExpired => "token-expired",
            Self::TokenUsed => "token-used",
            Self::CsrInvalid => "csr-invalid",
            Self::MemberNotActive => "member-not-active",
            Self::GatewayRevoked => "gateway-revoked",
            Self::ConfigInvalid => "config-invalid",
            Self::ConfigExpired => "config-expired",
            Self::PartnerConfigExpired => "partner-config-expired",
            Self::AccessDenied => "access-denied",
            Self::UnknownService => "unknown-service",
            Self::UnknownClient => "unknown-client",
            Self::ProviderUnreachable => "provider-unreachable",
            Self::ProviderTimeout => "provider-timeout",
            Self::BackendUnreachable => "backend-unreachable",
            Self::BackendTimeout => "backend-timeout",
            Self::ProofInvalid => "proof-invalid",
            Self::RequestProofInvalid => "request-proof-invalid",
            Self::RequestTimeout => "request-timeout",
            Self::AuditUnavailable => "audit-unavailable",
            Self::ClockSkew => "clock-skew",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
        }
    }

    /// The HTTP status that goes with the cause.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidRequest | Self::CsrInvalid | Self::ConfigInvalid => 400,
            Self::Unauthenticated | Self::TokenInvalid | Self::TokenExpired | Self::TokenUsed => {
                401
            }
            Self::Forbidden | Self::MemberNotActive | Self::GatewayRevoked => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict => 409,
            Self::BodyTooLarge => 413,
            Self::HeadersTooLarge => 431,
            Self::UriTooLong => 414,
            Self::UnsupportedMediaType => 415,
            Self::AccessDenied => 403,
            Self::UnknownService => 404,
            Self::UnknownClient => 403,
            Self::ProviderUnreachable => 502,
            Self::ProviderTimeout => 504,
            Self::BackendUnreachable => 502,
            Self::BackendTimeout => 504,
            Self::ProofInvalid => 502,
            Self::RequestProofInvalid => 400,
            Self::RequestTimeout => 408,
            Self::Internal => 500,
            Self::Unavailable
            | Self::ConfigExpired
            | Self::PartnerConfigExpired
            | Self::AuditUnavailable
            | Self::ClockSkew => 503,
        }
    }

    /// A short human-readable summary that does not vary between occurrences.
    pub fn title(self) -> &'static str {
        match self {
            Self::InvalidRequest => "The request is invalid",
            Self::Unauthenticated => "Authentication is required",
            Self::Forbidden => "The operation is not allowed",
            Self::NotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::Conflict => "Conflict with the current state",
            Self::BodyTooLarge => "The body is too large",
            Self::HeadersTooLarge => "The headers are too large",
            Self::UriTooLong => "The request target is too long",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::TokenInvalid => "The enrolment token is invalid",
            Self::TokenExpired => "The enrolment token has expired",
            Self::TokenUsed => "The enrolment token has already been used",
            Self::CsrInvalid => "The certificate signing request is invalid",
            Self::MemberNotActive => "The member is not active",
            Self::GatewayRevoked => "The gateway has been revoked",
            Self::ConfigInvalid => "The configuration is invalid",
            Self::ConfigExpired => "The configuration has expired",
            Self::PartnerConfigExpired => "The partner network's configuration has expired",
            Self::AccessDenied => "Access denied",
            Self::UnknownService => "Unknown service",
            Self::UnknownClient => "Unknown client",
            Self::ProviderUnreachable => "Provider unreachable",
            Self::ProviderTimeout => "Provider timeout",
            Self::BackendUnreachable => "Backend unreachable",
            Self::BackendTimeout => "Backend timeout",
            Self::ProofInvalid => "Proof of origin invalid",
            Self::RequestProofInvalid => "The request's proof of origin is invalid",
            Self::RequestTimeout => "The request body did not arrive in time",
            Self::AuditUnavailable => "The audit log cannot be written",
            Self::ClockSkew => "The gateway's clock is out of step with the network's",
            Self::Internal => "Internal error",
            Self::Unavailable => "Service unavailable",
        }
    }

    /// The `type` URI of the cause.
    pub fn uri(self) -> String {
        format!("urn:psn:problem:{}", self.slug())
    }

    /// Recovers the cause from a `type` URI, so clients can map a received problem back.
    pub fn from_uri(uri: &str) -> Option<Self> {
        let slug = uri.strip_prefix("urn:psn:problem:")?;
        Self::ALL.iter().copied().find(|t| t.slug() == slug)
    }
}

/// An error and its sources in one line, for a problem's `detail`: HTTP and TLS libraries keep
/// the useful cause (a refused connection, an unknown CA) deep in the chain.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// An RFC 9457 problem document with psn's extension members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// `urn:psn:problem:{slug}`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Summary of the cause.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence, in words an operator can act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Which psn component raised the problem (`authority`, `consumer-gateway`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hop: Option<String>,
    /// The message id of the exchange, for correlation with logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

impl Problem {
    /// A problem of the given cause with a specific detail.
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            type_uri: kind.uri(),
            title: kind.title().to_owned(),
            status: kind.status(),
            detail: Some(detail.into()),
            hop: None,
            message_id: None,
        }
    }

    /// Attaches the exchange's message id.
    pub fn with_message_id(mut self, id: impl Into<String>) -> Self {
        self.message_id = Some(id.into());
        self
    }

    /// Names the component that raised the problem.
    pub fn with_hop(mut self, hop: impl Into<String>) -> Self {
        self.hop = Some(hop.into());
        self
    }

    /// The cause, if the type is one of psn's.
    pub fn kind(&self) -> Option<ProblemType> {
        ProblemType::from_uri(&self.type_uri)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.title, self.status)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_uri_and_slugs_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for kind in ProblemType::ALL {
            assert!(seen.insert(kind.slug()), "duplicate slug {}", kind.slug());
            assert_eq!(ProblemType::from_uri(&kind.uri()), Some(*kind));
            assert!((400..600).contains(&kind.status()));
        }
        assert_eq!(ProblemType::from_uri("urn:psn:problem:nope"), None);
        assert_eq!(ProblemType::from_uri("about:blank"), None);
    }

    #[test]
    fn serialises_with_rfc9457_member_names() {
        let p =
            Problem::new(ProblemType::NotFound, "no member GB/LA/E10000016").with_hop("authority");
        let json = serde_json::to_value(&p).expect("serialise");
        assert_eq!(json["type"], "urn:psn:problem:not-found");
        assert_eq!(json["status"], 404);
        assert_eq!(json["hop"], "authority");
        assert!(json.get("message_id").is_none());
    }
}
