//! Access requests from the catalogue (docs/access.md): a consumer member asks a provider for
//! access to one of its services; the provider approves (the authority creates the grants) or
//! declines; and each member may have a webhook told of new and decided requests.

use psn_core::names::{MemberId, ServiceId, SubsystemId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A request for access, as the consumer's gateway sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccessRequest {
    /// The consumer subsystem that would call the service (one of the caller's member's).
    pub subsystem: SubsystemId,
    /// The service asked for (another member's).
    pub service: ServiceId,
    /// Why, in words the provider reads: at most 2,000 characters, no control characters
    /// other than line breaks.
    pub purpose: String,
    /// Only these methods (none: every method).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Only this path pattern (exact, or a prefix ending in `*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessRequestState {
    /// Waiting for the provider.
    Pending,
    /// Granted (the grants are named).
    Approved,
    /// Refused, with a reason.
    Declined,
    /// Taken back by the requester before a decision.
    Withdrawn,
}

impl AccessRequestState {
    /// The state's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Declined => "declined",
            Self::Withdrawn => "withdrawn",
        }
    }
}

impl std::str::FromStr for AccessRequestState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pending" => Ok(Self::Pending),
            "approved" => Ok(Self::Approved),
            "declined" => Ok(Self::Declined),
            "withdrawn" => Ok(Self::Withdrawn),
            other => Err(format!(
                "state {other:?} is not one of pending, approved, declined, withdrawn"
            )),
        }
    }
}

/// A request as both sides see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequestView {
    /// `ar-` and 16 lowercase hex digits.
    pub id: String,
    /// The consumer subsystem.
    pub subsystem: SubsystemId,
    /// The consumer member.
    pub requester: MemberId,
    /// The service.
    pub service: ServiceId,
    /// The provider member.
    pub provider: MemberId,
    /// Why.
    pub purpose: String,
    /// Methods asked for (empty: every method).
    #[serde(default)]
    pub methods: Vec<String>,
    /// Path pattern asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// State.
    pub state: AccessRequestState,
    /// Who asked (`gateway:{id}` or `person:{username}`).
    pub created_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Who decided or withdrew it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// When.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub decided_at: Option<OffsetDateTime>,
    /// Why it was declined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Methods approved (empty: every method), when approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_methods: Option<Vec<String>>,
    /// Path pattern approved, when approved with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_path: Option<String>,
    /// The grants the approval created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<String>,
}

/// Requests, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequestList {
    /// Requests.
    pub items: Vec<AccessRequestView>,
}

/// Which of a member's requests to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessDirection {
    /// Those the member's subsystems made.
    Outgoing,
    /// Those on the member's services.
    Incoming,
}

/// Filters of a request listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRequestQuery {
    /// Outgoing, incoming, or (absent) both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<AccessDirection>,
    /// Only requests in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<AccessRequestState>,
}

/// An approval, optionally narrower than the request: a subset of its methods, a path pattern
/// within its own. Absent fields approve what was asked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessApproval {
    /// Only these of the requested methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    /// Only this path pattern (within the requested one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// A refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessDecline {
    /// Why, for the requester: 1 to 2,000 characters.
    pub reason: String,
}

/// A member's webhook to set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSet {
    /// `https://` (or `http://` to a loopback address), at most 2,000 characters, no
    /// credentials.
    pub url: String,
}

/// A webhook as set: the signing secret is shown once, in the answer to setting it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookView {
    /// The member.
    pub member: MemberId,
    /// Where deliveries go.
    pub url: String,
    /// The HMAC-SHA256 key deliveries are signed with (only when just set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// What a webhook receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookPayload {
    /// `access-request.created`, `.approved`, `.declined` or `.withdrawn`; or
    /// `compliance.reminder` (docs/compliance.md).
    pub event: String,
    /// The access request after the change (access-request events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<AccessRequestView>,
    /// The certificate reminded about (`compliance.reminder`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<crate::ComplianceCertificate>,
    /// The reminder's stage, `30d`, `7d`, `0d` or `+7d` (`compliance.reminder`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder: Option<String>,
    /// When this attempt was sent.
    #[serde(with = "time::serde::rfc3339")]
    pub delivered_at: OffsetDateTime,
}
