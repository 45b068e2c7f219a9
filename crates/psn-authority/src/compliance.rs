//! Compliance (docs/compliance.md): the Code of Connection lifecycle that gates membership.
//!
//! The data flows one way. A member saves answers to a framework's controls for one
//! certificate kind, with evidence files it uploaded (checked by `psn_compliance`, stored by
//! content address); it submits when every control is answered. An assessor who is not of
//! that member reviews every control and decides: certify, approaching standard (time-limited,
//! on an improvement plan), return, or refuse. A certificate names the framework version it
//! was assessed against and expires. [`tick`] runs on the authority's [`Clock`]: it expires
//! certificates, sends reminders at 30, 7 and 0 days before expiry and 7 days after, and
//! applies the network's policy: a member whose connection certificate lapsed is suspended
//! (its gateways leave the next configuration), one whose service-provision certificate lapsed
//! has its services withheld; a new certificate lifts exactly what the policy did.
//!
//! Every rule lives here or in `psn_compliance`; the API and the pages only turn requests into
//! these calls and [`ComplianceError`]s into problems or pages.

use crate::datadir::ComplianceSettings;
use crate::store::{Hold, Issue, StoreError};
use crate::Authority;
use psn_api::{
    CertificateState, ComplianceCertificate, ComplianceStatus, EvidenceList, EvidenceView,
    Framework, MemberCompliance, ReviewDecision, ReviewOutcome, SubmissionDraft, SubmissionState,
    SubmissionView,
};
use psn_core::names::MemberId;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::OffsetDateTime;

/// The kind whose lapse suspends a member.
pub const CONNECTION: &str = "connection";
/// The kind whose lapse withholds a member's services.
pub const SERVICE_PROVISION: &str = "service-provision";
/// The actor the lifecycle's own changes are recorded as.
const LIFECYCLE_ACTOR: &str = "compliance";
/// Longest withdrawal reason.
const MAX_REASON: usize = 2_000;

/// Where compliance gets the time: the lifecycle is tested, and rehearsed, by moving it.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> OffsetDateTime;
}

/// Real time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// Real time plus the seconds written in a file (`[compliance] rehearsal_clock_file`), read at
/// every call so a rehearsal moves time without a restart. A file that cannot be read or
/// holds no number is reported and counts as no offset, so a mistake never moves time.
#[derive(Debug, Clone)]
pub struct RehearsalClock {
    file: PathBuf,
}

impl RehearsalClock {
    /// A clock offset by the seconds in `file`.
    pub fn new(file: PathBuf) -> Self {
        Self { file }
    }

    fn offset(&self) -> i64 {
        match std::fs::read_to_string(&self.file) {
            Ok(text) if text.trim().is_empty() => 0,
            Ok(text) => text.trim().parse::<i64>().unwrap_or_else(|e| {
                tracing::warn!(file = %self.file.display(), error = %e, "the rehearsal clock file holds no whole number of seconds; using real time");
                0
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => {
                tracing::warn!(file = %self.file.display(), error = %e, "the rehearsal clock file cannot be read; using real time");
                0
            }
        }
    }
}

impl Clock for RehearsalClock {
    fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        now.checked_add(time::Duration::seconds(self.offset()))
            .unwrap_or(now)
    }
}

/// The frameworks, policy and clock compliance works with.
pub struct Compliance {
    frameworks: Vec<Framework>,
    policy: ComplianceSettings,
    clock: Arc<dyn Clock>,
}

impl Compliance {
    /// The shipped frameworks plus the network's own (`[compliance] frameworks`, relative to
    /// `root`), checked together; the clock is real time unless a rehearsal file is set.
    pub fn load(policy: &ComplianceSettings, root: &Path) -> Result<Self, String> {
        let mut frameworks =
            psn_compliance::embedded().map_err(|e| format!("the compliance frameworks: {e}"))?;
        for file in &policy.frameworks {
            let path = root.join(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("[compliance] frameworks: {}: {e}", path.display()))?;
            frameworks.push(
                psn_compliance::parse(&path.display().to_string(), &text)
                    .map_err(|e| format!("[compliance] frameworks: {e}"))?,
            );
        }
        let frameworks = psn_compliance::combine(frameworks)
            .map_err(|e| format!("[compliance] frameworks: {e}"))?;
        let clock: Arc<dyn Clock> = match &policy.rehearsal_clock_file {
            Some(file) => {
                tracing::warn!(file = %root.join(file).display(), "compliance runs on a rehearsal clock");
                Arc::new(RehearsalClock::new(root.join(file)))
            }
            None => Arc::new(SystemClock),
        };
        Ok(Self {
            frameworks,
            policy: policy.clone(),
            clock,
        })
    }

    /// The same frameworks and policy on another clock (tests move time with it).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self { clock, ..self }
    }

    /// Every framework version adopted, by id then version.
    pub fn frameworks(&self) -> &[Framework] {
        &self.frameworks
    }

    /// One framework version.
    pub fn framework(&self, id: &str, version: &str) -> Option<&Framework> {
        self.frameworks
            .iter()
            .find(|f| f.id == id && f.version == version)
    }

    /// The newest version of the framework issuing `kind` (what a new submission answers).
    pub fn framework_for(&self, kind: &str) -> Option<&Framework> {
        self.frameworks
            .iter()
            .filter(|f| f.kinds.iter().any(|k| k.kind == kind))
            .max_by(|a, b| version_order(&a.version, &b.version))
    }

    /// Every certificate kind issued, in framework order.
    pub fn kinds(&self) -> Vec<&psn_api::CertificateKind> {
        let mut kinds: Vec<&psn_api::CertificateKind> = Vec::new();
        for f in &self.frameworks {
            for k in &f.kinds {
                if !kinds.iter().any(|seen| seen.kind == k.kind) {
                    kinds.push(k);
                }
            }
        }
        kinds
    }

    /// The network's policy.
    pub fn policy(&self) -> &ComplianceSettings {
        &self.policy
    }

    /// Now, by the compliance clock.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }
}

/// `2026.1` before `2026.10`: numeric parts compare as numbers.
fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parts(a).cmp(&parts(b)).then_with(|| a.cmp(b))
}

/// Who is asking, as far as compliance is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The network operator: may do anything, and names the member it acts for.
    Operator(String),
    /// A member acting for itself (its gateway, or a member-admin person): `can_change` is
    /// false for a member-viewer, who reads only.
    Member {
        /// Recorded in the events trail.
        name: String,
        /// The member.
        member: MemberId,
        /// Whether it may change anything.
        can_change: bool,
    },
    /// An assessor: reviews other members' submissions, never its own member's.
    Assessor {
        /// Recorded in the events trail and on certificates.
        name: String,
        /// The member the assessor belongs to, if any.
        member: Option<MemberId>,
    },
}

impl Actor {
    /// How the events trail names it.
    pub fn name(&self) -> &str {
        match self {
            Actor::Operator(name) | Actor::Member { name, .. } | Actor::Assessor { name, .. } => {
                name
            }
        }
    }

    /// Whether it may review `member`'s submissions: the operator, or an assessor not of
    /// that member.
    pub fn may_review(&self, member: &MemberId) -> bool {
        match self {
            Actor::Operator(_) => true,
            Actor::Assessor { member: own, .. } => own.as_ref() != Some(member),
            Actor::Member { .. } => false,
        }
    }

    /// Whether it may read `member`'s submissions and evidence.
    fn may_read(&self, member: &MemberId) -> bool {
        match self {
            Actor::Operator(_) | Actor::Assessor { .. } => true,
            Actor::Member { member: own, .. } => own == member,
        }
    }

    /// The member whose submission it changes: its own, or (operator) the one named.
    fn acting_for(&self, named: Option<&MemberId>) -> Outcome<MemberId> {
        match (self, named) {
            (
                Actor::Member {
                    member,
                    can_change: true,
                    ..
                },
                None,
            ) => Ok(member.clone()),
            (
                Actor::Member {
                    member,
                    can_change: true,
                    ..
                },
                Some(named),
            ) if named == member => Ok(member.clone()),
            (
                Actor::Member {
                    can_change: false, ..
                },
                _,
            ) => Err(ComplianceError::Forbidden(
                "a member-viewer reads submissions; a member-admin changes them".to_owned(),
            )),
            (Actor::Member { member, .. }, Some(named)) => Err(ComplianceError::Forbidden(
                format!("{member} may change only its own submissions, not {named}'s"),
            )),
            (Actor::Operator(_), Some(named)) => Ok(named.clone()),
            (Actor::Operator(_), None) => Err(ComplianceError::Invalid(vec![
                "name the member the operator acts for (member=GB/LA/...)".to_owned(),
            ])),
            (Actor::Assessor { .. }, _) => Err(ComplianceError::Forbidden(
                "an assessor reviews submissions; a member-admin makes them".to_owned(),
            )),
        }
    }
}

/// Why a compliance request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ComplianceError {
    /// The input breaks a rule; every problem found is listed.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// Nothing of that id visible to the caller.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The request conflicts with the state (already submitted, already uploaded).
    #[error("{0}")]
    Conflict(String),
    /// The evidence file was refused.
    #[error("{0}")]
    Evidence(#[from] psn_compliance::EvidenceRefusal),
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ComplianceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ComplianceError::NotFound(m),
            StoreError::Conflict(m) => ComplianceError::Conflict(m),
            StoreError::Refused(m) | StoreError::Invalid(m) => ComplianceError::Invalid(vec![m]),
            other => ComplianceError::Store(other),
        }
    }
}

type Outcome<T> = std::result::Result<T, ComplianceError>;

/// Stores an evidence file for a member (checked: size, name, type by content; at most the
/// quota per member; the same content twice is refused naming the earlier upload).
pub async fn upload_evidence(
    a: &Authority,
    actor: &Actor,
    member: Option<&MemberId>,
    name: &str,
    declared: Option<&str>,
    content: &[u8],
) -> Outcome<EvidenceView> {
    let member = actor.acting_for(member)?;
    let media_type = psn_compliance::check_evidence(name, declared, content)?;
    let sha256 = psn_compliance::sha256_hex(content);
    Ok(a.store
        .put_evidence(
            actor.name(),
            &member,
            &sha256,
            name,
            media_type,
            content,
            psn_compliance::MAX_EVIDENCE_QUOTA,
            a.compliance.now(),
        )
        .await?)
}

/// Removes one of a member's evidence files that no submission cites (freeing its quota).
pub async fn remove_evidence(
    a: &Authority,
    actor: &Actor,
    member: Option<&MemberId>,
    sha256: &str,
) -> Outcome<EvidenceView> {
    let member = actor.acting_for(member)?;
    Ok(a.store
        .remove_evidence(actor.name(), &member, sha256)
        .await?)
}

/// A member's evidence files.
pub async fn evidence(a: &Authority, actor: &Actor, member: &MemberId) -> Outcome<EvidenceList> {
    require_read(actor, member)?;
    let (evidence, bytes) = a.store.evidence(member).await?;
    Ok(EvidenceList {
        member: member.clone(),
        evidence,
        bytes,
        quota: psn_compliance::MAX_EVIDENCE_QUOTA,
    })
}

/// One evidence file with its content.
pub async fn evidence_file(
    a: &Authority,
    actor: &Actor,
    member: &MemberId,
    sha256: &str,
) -> Outcome<(EvidenceView, Vec<u8>)> {
    require_read(actor, member)?;
    a.store.evidence_file(member, sha256).await?.ok_or_else(|| {
        let clipped: String = sha256.chars().take(64).collect();
        ComplianceError::NotFound(format!("{member} holds no evidence file {clipped:?}"))
    })
}

fn require_read(actor: &Actor, member: &MemberId) -> Outcome<()> {
    if actor.may_read(member) {
        Ok(())
    } else {
        // Another member's records are not acknowledged to exist.
        Err(ComplianceError::NotFound(format!(
            "no compliance records of {member} visible to {}",
            actor.name()
        )))
    }
}

/// Saves a member's answers for `kind` as its open submission (a new draft if it has none).
/// Answers may be incomplete; each is checked, and every evidence file named must be one the
/// member uploaded.
pub async fn save(
    a: &Authority,
    actor: &Actor,
    member: Option<&MemberId>,
    kind: &str,
    draft: &SubmissionDraft,
) -> Outcome<SubmissionView> {
    let member = actor.acting_for(member)?;
    let framework = a
        .compliance
        .framework(&draft.framework, &draft.version)
        .ok_or_else(|| {
            ComplianceError::Invalid(vec![format!(
                "the network has adopted no framework {:?} version {:?}",
                clip(&draft.framework),
                clip(&draft.version)
            )])
        })?;
    let mut problems = psn_compliance::check_draft(framework, kind, draft)
        .err()
        .unwrap_or_default();
    let (held, _) = a.store.evidence(&member).await?;
    for answer in &draft.answers {
        for digest in &answer.evidence {
            if !held.iter().any(|e| &e.sha256 == digest) {
                problems.push(format!(
                    "{}: {member} has uploaded no evidence file {}",
                    clip(&answer.control),
                    clip(digest)
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(ComplianceError::Invalid(problems));
    }
    Ok(a.store
        .save_submission(
            actor.name(),
            &member,
            kind,
            &draft.framework,
            &draft.version,
            &draft.answers,
            a.compliance.now(),
        )
        .await?)
}

/// Submits a member's open submission for `kind` for review, once every control is answered.
pub async fn submit(
    a: &Authority,
    actor: &Actor,
    member: Option<&MemberId>,
    kind: &str,
) -> Outcome<SubmissionView> {
    let member = actor.acting_for(member)?;
    let now = a.compliance.now();
    let frameworks = &a.compliance;
    Ok(a.store
        .submit_submission(actor.name(), &member, kind, now, |open| {
            let framework = frameworks
                .framework(&open.framework, &open.version)
                .ok_or_else(|| {
                    format!(
                        "the network no longer has framework {} {}; save the answers against {}",
                        open.framework,
                        open.version,
                        frameworks
                            .framework_for(kind)
                            .map(|f| format!("{} {}", f.id, f.version))
                            .unwrap_or_else(|| "a current framework".to_owned())
                    )
                })?;
            psn_compliance::check_submittable(framework, kind, &open.answers, now.date())
                .map_err(|problems| problems.join("; "))
        })
        .await?)
}

/// A member's open submission for `kind`, if any.
pub async fn open_submission(
    a: &Authority,
    actor: &Actor,
    member: &MemberId,
    kind: &str,
) -> Outcome<Option<SubmissionView>> {
    require_read(actor, member)?;
    Ok(a.store.open_submission(member, kind).await?)
}

/// One submission, if the actor may see it (another member's is not acknowledged to exist).
pub async fn submission(a: &Authority, actor: &Actor, id: &str) -> Outcome<SubmissionView> {
    let missing = || ComplianceError::NotFound(format!("no submission {:?}", clip(id)));
    let found = a.store.submission(id).await?.ok_or_else(missing)?;
    if actor.may_read(&found.member) {
        Ok(found)
    } else {
        Err(missing())
    }
}

/// Submissions the actor may see: a member's own; everything for operators and assessors.
pub async fn submissions(
    a: &Authority,
    actor: &Actor,
    member: Option<&MemberId>,
    state: Option<SubmissionState>,
) -> Outcome<Vec<SubmissionView>> {
    let member = match (actor, member) {
        (Actor::Member { member: own, .. }, None) => Some(own),
        (Actor::Member { member: own, .. }, Some(named)) if named != own => {
            return Err(ComplianceError::Forbidden(format!(
                "{own} may read only its own submissions"
            )))
        }
        (_, named) => named,
    };
    Ok(a.store.submissions(member, state).await?)
}

/// An assessor's (or the operator's) review of a submitted submission. The assessor may not
/// review its own member. Certify and approaching standard issue a certificate (superseding
/// the member's current one of the kind), which lifts any hold the policy placed.
pub async fn review(
    a: &Authority,
    actor: &Actor,
    id: &str,
    decision: &ReviewDecision,
) -> Outcome<crate::store::Decided> {
    if matches!(actor, Actor::Member { .. }) {
        return Err(ComplianceError::Forbidden(
            "only an assessor or the operator reviews submissions".to_owned(),
        ));
    }
    // A submission's member never changes, so checking it before the transaction is enough.
    let target = submission(a, actor, id).await?;
    if !actor.may_review(&target.member) {
        return Err(ComplianceError::Forbidden(format!(
            "an assessor of {} may not review its own member's submission",
            target.member
        )));
    }
    let now = a.compliance.now();
    let compliance = &a.compliance;
    let decided = a
        .store
        .decide_submission(actor.name(), id, decision, now, |submission| {
            let framework = compliance
                .framework(&submission.framework, &submission.version)
                .ok_or_else(|| {
                    StoreError::Refused(format!(
                        "the network no longer has framework {} {}",
                        submission.framework, submission.version
                    ))
                })?;
            psn_compliance::check_review(
                framework,
                &submission.kind,
                &submission.answers,
                decision,
            )
            .map_err(|problems| StoreError::Invalid(problems.join("; ")))?;
            let months = psn_compliance::certificate_months(framework, &submission.kind, decision);
            Ok(outcome(decision, months, now))
        })
        .await?;
    if decided.certificate.is_some() {
        enforce(a, now).await?;
    }
    Ok(decided)
}

/// The submission's next state and the certificate a decision issues.
fn outcome(
    decision: &ReviewDecision,
    months: Option<u32>,
    now: OffsetDateTime,
) -> (SubmissionState, Option<Issue>) {
    let issue = |state| {
        months.map(|m| Issue {
            state,
            expires_at: psn_compliance::add_months(now, m),
            improvement_plan: decision.improvement_plan.clone(),
        })
    };
    match decision.outcome {
        ReviewOutcome::Certify => (SubmissionState::Certified, issue(CertificateState::Valid)),
        ReviewOutcome::ApproachingStandard => (
            SubmissionState::Certified,
            issue(CertificateState::ApproachingStandard),
        ),
        ReviewOutcome::Return => (SubmissionState::Returned, None),
        ReviewOutcome::Refuse => (SubmissionState::Refused, None),
    }
}

/// Withdraws a current certificate for non-compliance (operator only); the policy then
/// applies at once.
pub async fn withdraw(
    a: &Authority,
    actor: &Actor,
    id: &str,
    reason: &str,
) -> Outcome<ComplianceCertificate> {
    if !matches!(actor, Actor::Operator(_)) {
        return Err(ComplianceError::Forbidden(
            "only the network operator withdraws certificates".to_owned(),
        ));
    }
    let reason = reason.trim();
    if reason.is_empty()
        || reason.chars().count() > MAX_REASON
        || reason.chars().any(char::is_control)
    {
        return Err(ComplianceError::Invalid(vec![format!(
            "reason: say why in 1 to {MAX_REASON} characters on one line"
        )]));
    }
    let cert = a
        .store
        .withdraw_certificate(actor.name(), id, reason)
        .await?;
    enforce(a, a.compliance.now()).await?;
    Ok(cert)
}

/// Whether `member` holds a current certificate of `kind` now.
pub async fn holds(a: &Authority, member: &MemberId, kind: &str) -> Outcome<bool> {
    let now = a.compliance.now();
    Ok(a.store
        .certificates(Some(member))
        .await?
        .iter()
        .any(|c| c.kind == kind && is_current(c, now)))
}

fn is_current(c: &ComplianceCertificate, now: OffsetDateTime) -> bool {
    c.state.is_current() && c.expires_at > now
}

/// Refuses what the policy requires `kind` for, when `member` holds no current certificate
/// of it: `what` names the action (e.g. `create enrolment tokens`).
pub async fn require(a: &Authority, member: &MemberId, kind: &str, what: &str) -> Outcome<()> {
    let required = match kind {
        CONNECTION => a.compliance.policy.require_connection,
        SERVICE_PROVISION => a.compliance.policy.require_service_provision,
        _ => false,
    };
    if !required || holds(a, member, kind).await? {
        return Ok(());
    }
    Err(ComplianceError::Forbidden(format!(
        "{member} holds no current {kind} certificate, which this network requires to {what}; see psn compliance status --member {member}"
    )))
}

/// The public status: every member with a certificate, its latest of each kind and the
/// reminders sent; optionally one member, or only those with a current certificate expiring
/// within `expiring`.
pub async fn status(
    a: &Authority,
    member: Option<&MemberId>,
    expiring: Option<time::Duration>,
) -> Outcome<ComplianceStatus> {
    let now = a.compliance.now();
    let certificates = a.store.certificates(member).await?;
    let holds = a.store.compliance_holds().await?;
    // Newest first from the store: the first of each (member, kind) is its latest.
    let mut latest: BTreeMap<MemberId, BTreeMap<String, ComplianceCertificate>> = BTreeMap::new();
    for c in certificates {
        latest
            .entry(c.member.clone())
            .or_default()
            .entry(c.kind.clone())
            .or_insert(c);
    }
    let mut members = Vec::with_capacity(latest.len());
    for (id, by_kind) in latest {
        let certificates: Vec<ComplianceCertificate> = by_kind.into_values().collect();
        if let Some(window) = expiring {
            let soon = certificates
                .iter()
                .any(|c| is_current(c, now) && c.expires_at <= now + window);
            if !soon {
                continue;
            }
        }
        let mut reminders = Vec::new();
        for c in certificates.iter().filter(|c| c.state.is_current()) {
            reminders.extend(a.store.reminders_sent(&c.id).await?);
        }
        let name = a
            .store
            .member(&id)
            .await?
            .map(|m| m.name)
            .unwrap_or_else(|| id.to_string());
        members.push(MemberCompliance {
            suspended_by_compliance: holds
                .iter()
                .any(|(m, hold, _)| m == &id && *hold == Hold::Suspended),
            member: id,
            name,
            certificates,
            reminders,
        });
    }
    Ok(ComplianceStatus { at: now, members })
}

/// What one run of the lifecycle did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    /// Certificates that expired.
    pub expired: Vec<String>,
    /// Reminders sent, as `cert-N:stage`.
    pub reminders: Vec<String>,
    /// Holds placed or lifted, as `member:hold`.
    pub holds_changed: Vec<String>,
}

/// One run of the lifecycle at the compliance clock's now: expiry, reminders, the policy; a
/// new configuration is published when a hold changed, so gateways refuse (or accept again)
/// the member within the revocation bound.
pub async fn tick(a: &Authority) -> Outcome<TickReport> {
    let now = a.compliance.now();
    let mut report = TickReport {
        expired: a
            .store
            .expire_certificates(LIFECYCLE_ACTOR, now)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect(),
        ..TickReport::default()
    };
    for cert in latest_certificates(a).await? {
        if !matches!(
            cert.state,
            CertificateState::Valid
                | CertificateState::ApproachingStandard
                | CertificateState::Expired
        ) {
            continue;
        }
        for stage in psn_compliance::due_stages(cert.expires_at, now) {
            if a.store
                .record_reminder(LIFECYCLE_ACTOR, &cert, stage.as_str(), now)
                .await?
            {
                report
                    .reminders
                    .push(format!("{}:{}", cert.id, stage.as_str()));
            }
        }
    }
    if !report.reminders.is_empty() {
        a.webhooks.wake();
    }
    report.holds_changed = enforce(a, now).await?;
    Ok(report)
}

/// Each member's latest certificate of each kind.
async fn latest_certificates(a: &Authority) -> Outcome<Vec<ComplianceCertificate>> {
    let mut seen = std::collections::BTreeSet::new();
    Ok(a.store
        .certificates(None)
        .await?
        .into_iter()
        .filter(|c| seen.insert((c.member.clone(), c.kind.clone())))
        .collect())
}

/// Applies the policy: places a hold on each member whose latest certificate of a required
/// kind has lapsed, lifts holds where a current certificate exists (or the policy no longer
/// requires the kind), and publishes when anything changed. Returns what changed.
async fn enforce(a: &Authority, now: OffsetDateTime) -> Outcome<Vec<String>> {
    let policy = &a.compliance.policy;
    let latest = latest_certificates(a).await?;
    let held = a.store.compliance_holds().await?;
    let mut changed = Vec::new();
    for (kind, hold, required) in [
        (CONNECTION, Hold::Suspended, policy.require_connection),
        (
            SERVICE_PROVISION,
            Hold::ServicesWithheld,
            policy.require_service_provision,
        ),
    ] {
        for cert in latest.iter().filter(|c| c.kind == kind) {
            let lapsed = !is_current(cert, now);
            let is_held = held.iter().any(|(m, h, _)| m == &cert.member && *h == hold);
            if required && lapsed && !is_held {
                let reason = lapse_reason(cert);
                if a.store.place_hold(&cert.member, hold, &reason, now).await? {
                    changed.push(format!("{}:{kind} held", cert.member));
                }
            } else if is_held && (!lapsed || !required) {
                let reason = format!(
                    "compliance: {} {kind} certificate {}",
                    if lapsed {
                        "policy no longer requires a"
                    } else {
                        "current"
                    },
                    cert.id
                );
                if a.store.lift_hold(&cert.member, hold, &reason).await? {
                    changed.push(format!("{}:{kind} lifted", cert.member));
                }
            }
        }
    }
    if !changed.is_empty() {
        a.publisher
            .publish()
            .await
            .map_err(|e| ComplianceError::Store(StoreError::Corrupt(e.to_string())))?;
        if let Err(error) = a.catalogue.catch_up(a, OffsetDateTime::now_utc()).await {
            tracing::warn!(%error, "indexing a compliance change failed; the background indexer retries");
        }
        tracing::info!(changes = ?changed, "compliance policy applied");
    }
    Ok(changed)
}

fn lapse_reason(cert: &ComplianceCertificate) -> String {
    let date = cert.expires_at.date();
    match cert.state {
        CertificateState::Withdrawn => format!(
            "compliance: {} certificate {} withdrawn: {}",
            cert.kind, cert.id, cert.withdrawn_reason
        ),
        _ => format!(
            "compliance: {} certificate {} expired on {date}",
            cert.kind, cert.id
        ),
    }
}

/// Runs [`tick`] every `[compliance] check_interval` until the authority stops.
pub async fn run(a: Arc<Authority>, mut stopping: tokio::sync::watch::Receiver<bool>) {
    let interval = a.compliance.policy.check_interval;
    loop {
        if *stopping.borrow() {
            return;
        }
        match tick(&a).await {
            Ok(report) if report != TickReport::default() => {
                tracing::info!(?report, "compliance lifecycle ran")
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "the compliance lifecycle could not run; it retries")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stopping.changed() => {}
        }
    }
}

fn clip(text: &str) -> String {
    text.chars().take(60).collect()
}

/// Issues `member` a certificate of `kind` as if an assessor had decided it at `at`, on
/// answers of every control met and one evidence file: for `psn demo`'s members and for
/// rehearsals, where certificates must have a history (one near expiry, say) that the clock
/// cannot give. With `improvement_plan`, the certificate is approaching standard. Every step is
/// in the events trail as `actor`.
pub async fn seed_certificate(
    a: &Authority,
    actor: &str,
    member: &MemberId,
    kind: &str,
    at: OffsetDateTime,
    improvement_plan: Option<&str>,
) -> Outcome<ComplianceCertificate> {
    let framework = a.compliance.framework_for(kind).ok_or_else(|| {
        ComplianceError::NotFound(format!("no adopted framework issues {kind} certificates"))
    })?;
    let content = format!(
        "Information security policies and evidence pack of {member} for its {kind} certificate ({} {}).\n",
        framework.id, framework.version
    );
    let sha256 = psn_compliance::sha256_hex(content.as_bytes());
    a.store
        .put_evidence(
            actor,
            member,
            &sha256,
            &format!("{kind}-evidence-pack.txt"),
            "text/plain",
            content.as_bytes(),
            psn_compliance::MAX_EVIDENCE_QUOTA,
            at,
        )
        .await?;
    let answers: Vec<psn_api::Answer> = psn_compliance::controls_for(framework, kind)
        .into_iter()
        .map(|control| psn_api::Answer {
            control: control.id.clone(),
            status: psn_api::AnswerStatus::Met,
            improvement_plan: None,
            improvement_due: None,
            reason: None,
            assurance: psn_api::AssuranceLevel::SelfAsserted,
            certificate_number: None,
            certificate_expiry: None,
            evidence: vec![sha256.clone()],
            note: String::new(),
        })
        .collect();
    a.store
        .save_submission(
            actor,
            member,
            kind,
            &framework.id,
            &framework.version,
            &answers,
            at,
        )
        .await?;
    let submitted = a
        .store
        .submit_submission(actor, member, kind, at, |open| {
            psn_compliance::check_submittable(framework, kind, &open.answers, at.date())
                .map_err(|problems| problems.join("; "))
        })
        .await?;
    let decision = ReviewDecision {
        outcome: match improvement_plan {
            Some(_) => ReviewOutcome::ApproachingStandard,
            None => ReviewOutcome::Certify,
        },
        controls: answers
            .iter()
            .map(|answer| psn_api::ControlReview {
                control: answer.control.clone(),
                verdict: psn_api::ControlVerdict::Accepted,
                comment: String::new(),
            })
            .collect(),
        reasons: String::new(),
        improvement_plan: improvement_plan.unwrap_or_default().to_owned(),
        valid_months: None,
    };
    let decided = a
        .store
        .decide_submission(actor, &submitted.id, &decision, at, |_| {
            let months = psn_compliance::certificate_months(framework, kind, &decision);
            Ok(outcome(&decision, months, at))
        })
        .await?;
    decided
        .certificate
        .ok_or_else(|| ComplianceError::Conflict(format!("{} issued no certificate", submitted.id)))
}
