//! Compliance (docs/compliance.md): the versioned frameworks a member is assessed against. A
//! framework is data in the repository (`data/compliance/`); a certificate names the framework
//! version it was assessed against, so a network can adopt a new version without invalidating
//! the certificates of the old.

use serde::{Deserialize, Serialize};

/// A kind of certificate a framework issues, and what holding one allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateKind {
    /// `connection`, `service-provision`, or a kind the network defines.
    pub kind: String,
    /// For people, e.g. `Service provision`.
    pub title: String,
    /// What holding it allows.
    pub purpose: String,
    /// How long a certificate of this kind lasts, months (1 to 36).
    pub validity_months: u32,
}

/// One control of a framework: what a member must do, and how it shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// Stable id within the framework, e.g. `coco-1`.
    pub id: String,
    /// Short title, e.g. `Boundary firewalls and internet gateways`.
    pub title: String,
    /// What meeting it means.
    pub guidance: String,
    /// The evidence an assessor expects to see.
    pub evidence: Vec<String>,
    /// The certificate kinds it applies to.
    pub kinds: Vec<String>,
    /// The Cyber Essentials technical controls it covers (`Firewalls`, `Secure configuration`,
    /// `Security update management`, `User access control`, `Malware protection`).
    pub cyber_essentials: Vec<String>,
    /// The NCSC Cyber Assessment Framework principles it contributes to (`A1` … `D2`).
    pub caf: Vec<String>,
}

/// A versioned framework.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Framework {
    /// Stable id, e.g. `psn-coco`.
    pub id: String,
    /// Version, e.g. `2026.1`.
    pub version: String,
    /// For people.
    pub title: String,
    /// What it is for.
    pub summary: String,
    /// The certificates it issues.
    pub kinds: Vec<CertificateKind>,
    /// Its controls, in the order a submission answers them.
    pub controls: Vec<Control>,
}

/// A framework version in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameworkSummary {
    /// Its id.
    pub id: String,
    /// Its version.
    pub version: String,
    /// Its title.
    pub title: String,
    /// How many controls it has.
    pub controls: u64,
    /// The certificate kinds it issues.
    pub kinds: Vec<String>,
}

/// Every framework version the network has adopted (`GET /v1/compliance/frameworks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameworkList {
    /// By id, then version.
    pub frameworks: Vec<FrameworkSummary>,
}

/// How a member answers one control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnswerStatus {
    /// The control is met.
    Met,
    /// Partly met: needs an improvement plan and the date it will be met.
    PartlyMet,
    /// Does not apply to this member: needs the reason.
    NotApplicable,
}

impl AnswerStatus {
    /// As written on the wire and in pages.
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerStatus::Met => "met",
            AnswerStatus::PartlyMet => "partly-met",
            AnswerStatus::NotApplicable => "not-applicable",
        }
    }
}

/// How sure anyone can be that a control is met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AssuranceLevel {
    /// The member says so.
    SelfAsserted,
    /// Someone independent of the team that runs it tested it (e.g. an IT health check).
    IndependentlyTested,
    /// An external certificate covers it (e.g. Cyber Essentials Plus): give its number.
    ExternallyCertified,
}

impl AssuranceLevel {
    /// As written on the wire and in pages.
    pub fn as_str(self) -> &'static str {
        match self {
            AssuranceLevel::SelfAsserted => "self-asserted",
            AssuranceLevel::IndependentlyTested => "independently-tested",
            AssuranceLevel::ExternallyCertified => "externally-certified",
        }
    }
}

/// A member's answer to one control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// The control's id, e.g. `coco-1`.
    pub control: String,
    /// Met, partly met or not applicable.
    pub status: AnswerStatus,
    /// What the member will do to meet it (partly met only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub improvement_plan: Option<String>,
    /// When it will be met, `YYYY-MM-DD` (partly met only).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::types::iso_date::option"
    )]
    pub improvement_due: Option<time::Date>,
    /// Why it does not apply (not applicable only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How sure anyone can be.
    pub assurance: AssuranceLevel,
    /// The external certificate's number (externally certified only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_number: Option<String>,
    /// The external certificate's expiry, `YYYY-MM-DD`, where it has one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::types::iso_date::option"
    )]
    pub certificate_expiry: Option<time::Date>,
    /// Evidence files the member uploaded, by SHA-256 (lowercase hex).
    #[serde(default)]
    pub evidence: Vec<String>,
    /// Anything else the assessor should know.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// What a member saves as its submission for one certificate kind
/// (`PUT /v1/gateway/compliance/submissions/{kind}`); it may be incomplete until submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionDraft {
    /// The framework's id, e.g. `psn-coco`.
    pub framework: String,
    /// The framework version assessed against, e.g. `2026.1`.
    pub version: String,
    /// Answers, at most one per control of the kind.
    pub answers: Vec<Answer>,
}

/// Where a submission is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubmissionState {
    /// Being answered by the member.
    Draft,
    /// Waiting for an assessor.
    Submitted,
    /// An assessor returned controls with comments; the member revises and submits again.
    Returned,
    /// Decided: a certificate was issued.
    Certified,
    /// Decided: refused, with reasons.
    Refused,
}

impl SubmissionState {
    /// As written on the wire and in pages.
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionState::Draft => "draft",
            SubmissionState::Submitted => "submitted",
            SubmissionState::Returned => "returned",
            SubmissionState::Certified => "certified",
            SubmissionState::Refused => "refused",
        }
    }

    /// Whether the member may still change the answers.
    pub fn is_open(self) -> bool {
        matches!(self, SubmissionState::Draft | SubmissionState::Returned)
    }
}

/// An assessor's verdict on one control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ControlVerdict {
    /// Accepted as answered.
    Accepted,
    /// Returned to the member, with a comment saying what is missing.
    Returned,
}

/// An assessor's verdict and comment on one control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlReview {
    /// The control's id.
    pub control: String,
    /// Accepted or returned.
    pub verdict: ControlVerdict,
    /// Required when returned.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
}

/// What an assessor decides about a submitted submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReviewOutcome {
    /// Every control accepted: issue a certificate for the kind's validity.
    Certify,
    /// Not yet to standard: issue a time-limited certificate on a mandatory improvement plan.
    ApproachingStandard,
    /// Back to the member to revise the returned controls; no decision yet.
    Return,
    /// Refused, with reasons; no certificate.
    Refuse,
}

impl ReviewOutcome {
    /// As written on the wire and in pages.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewOutcome::Certify => "certify",
            ReviewOutcome::ApproachingStandard => "approaching-standard",
            ReviewOutcome::Return => "return",
            ReviewOutcome::Refuse => "refuse",
        }
    }
}

/// An assessor's review (`POST /v1/compliance/submissions/{id}/review`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecision {
    /// What happens next.
    pub outcome: ReviewOutcome,
    /// A verdict on every control answered.
    pub controls: Vec<ControlReview>,
    /// Why (required to refuse).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reasons: String,
    /// The improvement plan the certificate is conditional on (required for approaching
    /// standard).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub improvement_plan: String,
    /// Months the certificate lasts, when shorter than the default (the kind's validity to
    /// certify; 3 for approaching standard, at most 6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_months: Option<u32>,
}

/// One review of a submission, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewView {
    /// Who reviewed.
    pub assessor: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
    /// What they decided.
    pub decision: ReviewDecision,
    /// The certificate it issued, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
}

/// An evidence file a member uploaded (`POST /v1/gateway/compliance/evidence`), stored once by
/// its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceView {
    /// SHA-256 of the content, lowercase hex: how answers refer to it.
    pub sha256: String,
    /// The file name given at upload (a plain name, no directories).
    pub name: String,
    /// The content's type: `application/pdf`, `image/png`, `image/jpeg`, `text/plain` or
    /// `text/csv`.
    pub media_type: String,
    /// Size in bytes.
    pub bytes: u64,
    /// When it was uploaded.
    #[serde(with = "time::serde::rfc3339")]
    pub uploaded_at: time::OffsetDateTime,
}

/// A member's evidence files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceList {
    /// The member.
    pub member: psn_core::names::MemberId,
    /// Newest first.
    pub evidence: Vec<EvidenceView>,
    /// Bytes held, against the member's quota.
    pub bytes: u64,
    /// The member's quota, bytes.
    pub quota: u64,
}

/// A submission as members and assessors see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionView {
    /// Its id, e.g. `sub-12`.
    pub id: String,
    /// The member assessed.
    pub member: psn_core::names::MemberId,
    /// The certificate kind applied for.
    pub kind: String,
    /// The framework.
    pub framework: String,
    /// Its version.
    pub version: String,
    /// Where it is.
    pub state: SubmissionState,
    /// The answers so far.
    pub answers: Vec<Answer>,
    /// When it was last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: time::OffsetDateTime,
    /// When it was last submitted.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub submitted_at: Option<time::OffsetDateTime>,
    /// Its reviews, oldest first.
    pub reviews: Vec<ReviewView>,
}

/// Submissions (`GET /v1/compliance/submissions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionList {
    /// Oldest submitted first.
    pub submissions: Vec<SubmissionView>,
}

/// Where a certificate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertificateState {
    /// Current.
    Valid,
    /// Current, time-limited, on an improvement plan.
    ApproachingStandard,
    /// Past its expiry.
    Expired,
    /// Withdrawn by the operator for non-compliance.
    Withdrawn,
    /// Replaced by a newer certificate of the same kind.
    Superseded,
}

impl CertificateState {
    /// As written on the wire and in pages.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateState::Valid => "valid",
            CertificateState::ApproachingStandard => "approaching-standard",
            CertificateState::Expired => "expired",
            CertificateState::Withdrawn => "withdrawn",
            CertificateState::Superseded => "superseded",
        }
    }

    /// Whether a certificate in this state lets its member do what the kind allows.
    pub fn is_current(self) -> bool {
        matches!(
            self,
            CertificateState::Valid | CertificateState::ApproachingStandard
        )
    }
}

/// A compliance certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplianceCertificate {
    /// Its id, e.g. `cert-7`.
    pub id: String,
    /// Who holds it.
    pub member: psn_core::names::MemberId,
    /// Its kind, e.g. `connection`.
    pub kind: String,
    /// The framework assessed against.
    pub framework: String,
    /// Its version.
    pub version: String,
    /// Where it is.
    pub state: CertificateState,
    /// When it was issued.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: time::OffsetDateTime,
    /// When it expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: time::OffsetDateTime,
    /// Who decided it.
    pub assessor: String,
    /// The submission it was decided on.
    pub submission: String,
    /// The improvement plan an approaching-standard certificate is conditional on.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub improvement_plan: String,
    /// Why it was withdrawn.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub withdrawn_reason: String,
}

/// A member's compliance standing, as the public status list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberCompliance {
    /// The member.
    pub member: psn_core::names::MemberId,
    /// Its name.
    pub name: String,
    /// Its latest certificate of each kind, by kind.
    pub certificates: Vec<ComplianceCertificate>,
    /// Reminder stages already sent for its current certificates (`30d`, `7d`, `0d`, `+7d`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reminders: Vec<String>,
    /// Whether compliance suspended it (it is reinstated when a new certificate is issued).
    pub suspended_by_compliance: bool,
}

/// The public status list (`GET /v1/compliance/status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplianceStatus {
    /// The time the states were worked out at (the authority's clock).
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
    /// Members with at least one certificate, by id.
    pub members: Vec<MemberCompliance>,
}

/// Why the operator withdraws a certificate (`POST /v1/compliance/certificates/{id}/withdraw`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateWithdrawal {
    /// Why: shown to the member and in the public status.
    pub reason: String,
}

/// What a review did (`POST /v1/compliance/submissions/{id}/review`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewResult {
    /// The submission after the review.
    pub submission: SubmissionView,
    /// The certificate it issued, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<ComplianceCertificate>,
}

/// What one run of the compliance lifecycle did (`POST /v1/compliance/lifecycle/run`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRun {
    /// The compliance clock's time it ran at.
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
    /// Certificates that expired.
    pub expired: Vec<String>,
    /// Reminders sent, as `cert-N:stage`.
    pub reminders: Vec<String>,
    /// Holds placed or lifted, e.g. `GB/LA/E10000016:connection held`.
    pub holds_changed: Vec<String>,
    /// The configuration version after it.
    pub config_version: u64,
}
