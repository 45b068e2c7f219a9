//! Compliance records (docs/compliance.md): evidence files, submissions, reviews, certificates,
//! reminders and the holds the network's policy placed on a lapsed member. The rules (what a
//! valid answer or review is, when a reminder is due, what a lapse costs) live in
//! `psn_compliance` and `crate::compliance`; here each change is one transaction with its event
//! in the audit trail, and every time comes from the caller so the lifecycle runs on the
//! authority's injectable clock.

use super::{bump, event, from_i64, from_millis, parse, to_i64, to_millis, word, Changed};
use super::{Result, Store, StoreError};
use psn_api::{
    Answer, CertificateState, ComplianceCertificate, EvidenceView, ReviewDecision, ReviewView,
    SubmissionState, SubmissionView,
};
use psn_core::names::MemberId;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use time::OffsetDateTime;

/// Most submissions listed at once.
pub const MAX_LISTED: i64 = 500;
/// Most reviews one submission may collect (returned and resubmitted, again and again): bounded
/// so a submission's history cannot grow without end.
pub const MAX_REVIEWS: i64 = 50;

/// The policy's hold on a member with a lapsed certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Compliance suspended the member (no current connection certificate).
    Suspended,
    /// The member's services are withheld (no current service-provision certificate).
    ServicesWithheld,
}

impl Hold {
    fn kind(self) -> &'static str {
        match self {
            Hold::Suspended => "connection",
            Hold::ServicesWithheld => "service-provision",
        }
    }
}

/// What a decided review does to the submission and who holds what.
#[derive(Debug, Clone)]
pub struct Decided {
    /// The submission after the decision.
    pub submission: SubmissionView,
    /// The certificate issued, if the decision issued one.
    pub certificate: Option<ComplianceCertificate>,
}

/// A certificate to issue with a review.
#[derive(Debug, Clone)]
pub struct Issue {
    /// Valid or approaching standard.
    pub state: CertificateState,
    /// When it expires.
    pub expires_at: OffsetDateTime,
    /// The improvement plan an approaching-standard certificate is conditional on.
    pub improvement_plan: String,
}

const SUBMISSION_COLUMNS: &str =
    "id, member_id, kind, framework, version, state, answers, updated_at, submitted_at";
const CERTIFICATE_COLUMNS: &str = "id, member_id, kind, framework, version, state, issued_at, \
    expires_at, assessor, submission_id, improvement_plan, withdrawn_reason";
const EVIDENCE_COLUMNS: &str = "sha256, name, media_type, bytes, uploaded_at";

fn submission_id(id: i64) -> String {
    format!("sub-{id}")
}

fn certificate_id(id: i64) -> String {
    format!("cert-{id}")
}

/// The number in `sub-12` / `cert-7`, or `NotFound` naming what was asked for.
pub fn parse_id(prefix: &str, text: &str) -> Result<i64> {
    text.strip_prefix(prefix)
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            let clipped: String = text.chars().take(40).collect();
            StoreError::NotFound(format!("no {prefix}… record {clipped:?}"))
        })
}

fn evidence_from_row(row: &AnyRow) -> Result<EvidenceView> {
    Ok(EvidenceView {
        sha256: row.try_get("sha256")?,
        name: row.try_get("name")?,
        media_type: row.try_get("media_type")?,
        bytes: from_i64("evidence size", row.try_get("bytes")?)?,
        uploaded_at: from_millis(row.try_get("uploaded_at")?),
    })
}

fn certificate_from_row(row: &AnyRow) -> Result<ComplianceCertificate> {
    let member: String = row.try_get("member_id")?;
    Ok(ComplianceCertificate {
        id: certificate_id(row.try_get("id")?),
        member: parse("member id", &member)?,
        kind: row.try_get("kind")?,
        framework: row.try_get("framework")?,
        version: row.try_get("version")?,
        state: word("certificate state", row.try_get("state")?)?,
        issued_at: from_millis(row.try_get("issued_at")?),
        expires_at: from_millis(row.try_get("expires_at")?),
        assessor: row.try_get("assessor")?,
        submission: submission_id(row.try_get("submission_id")?),
        improvement_plan: row.try_get("improvement_plan")?,
        withdrawn_reason: row.try_get("withdrawn_reason")?,
    })
}

async fn next_id(tx: &mut Transaction<'_, Any>, table: &str) -> Result<i64> {
    let max: Option<i64> = sqlx::query_scalar(&format!("SELECT MAX(id) FROM {table}"))
        .fetch_one(&mut **tx)
        .await?;
    Ok(max.unwrap_or(0) + 1)
}

async fn load_submission(tx: &mut Transaction<'_, Any>, id: i64) -> Result<Option<SubmissionView>> {
    let row = sqlx::query(&format!(
        "SELECT {SUBMISSION_COLUMNS} FROM compliance_submissions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let reviews = sqlx::query(
        "SELECT assessor, at, decision, certificate_id FROM compliance_reviews \
         WHERE submission_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| {
        let decision: String = r.try_get("decision")?;
        Ok(ReviewView {
            assessor: r.try_get("assessor")?,
            at: from_millis(r.try_get("at")?),
            decision: serde_json::from_str::<ReviewDecision>(&decision)
                .map_err(|e| StoreError::Corrupt(format!("review decision: {e}")))?,
            certificate: r
                .try_get::<Option<i64>, _>("certificate_id")?
                .map(certificate_id),
        })
    })
    .collect::<Result<Vec<_>>>()?;
    let member: String = row.try_get("member_id")?;
    let answers: String = row.try_get("answers")?;
    Ok(Some(SubmissionView {
        id: submission_id(row.try_get("id")?),
        member: parse("member id", &member)?,
        kind: row.try_get("kind")?,
        framework: row.try_get("framework")?,
        version: row.try_get("version")?,
        state: word("submission state", row.try_get("state")?)?,
        answers: serde_json::from_str::<Vec<Answer>>(&answers)
            .map_err(|e| StoreError::Corrupt(format!("submission answers: {e}")))?,
        updated_at: from_millis(row.try_get("updated_at")?),
        submitted_at: row
            .try_get::<Option<i64>, _>("submitted_at")?
            .map(from_millis),
        reviews,
    }))
}

async fn open_submission(
    tx: &mut Transaction<'_, Any>,
    member: &MemberId,
    kind: &str,
) -> Result<Option<SubmissionView>> {
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM compliance_submissions WHERE member_id = $1 AND kind = $2 AND open = 1",
    )
    .bind(member.to_string())
    .bind(kind)
    .fetch_optional(&mut **tx)
    .await?;
    match id {
        Some(id) => load_submission(tx, id).await,
        None => Ok(None),
    }
}

fn state_text(state: SubmissionState) -> &'static str {
    state.as_str()
}

fn answers_text(answers: &[Answer]) -> Result<String> {
    serde_json::to_string(answers).map_err(|e| StoreError::Invalid(e.to_string()))
}

impl Store {
    /// Keeps an evidence file of `member` (already checked by `psn_compliance::check_evidence`).
    /// `Conflict` naming the earlier upload if the member already holds the same content;
    /// `Refused` if it would take the member past `quota` bytes. Nothing is stored on refusal.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_evidence(
        &self,
        actor: &str,
        member: &MemberId,
        sha256: &str,
        name: &str,
        media_type: &str,
        content: &[u8],
        quota: u64,
        now: OffsetDateTime,
    ) -> Result<EvidenceView> {
        let (_g, mut tx) = self.begin().await?;
        super::require_member(&mut tx, member).await?;
        let held: Option<String> = sqlx::query_scalar(
            "SELECT name FROM compliance_evidence WHERE member_id = $1 AND sha256 = $2",
        )
        .bind(member.to_string())
        .bind(sha256)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(earlier) = held {
            return Err(StoreError::Conflict(format!(
                "this file is already uploaded as {earlier:?}: refer to it as {sha256}"
            )));
        }
        let used: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(SUM(bytes) AS BIGINT) FROM compliance_evidence WHERE member_id = $1",
        )
        .bind(member.to_string())
        .fetch_one(&mut *tx)
        .await?;
        let used = from_i64("evidence total", used.unwrap_or(0))?;
        let size = content.len() as u64;
        if used.saturating_add(size) > quota {
            return Err(StoreError::Refused(format!(
                "{member} holds {used} bytes of evidence; this file of {size} bytes would pass the quota of {quota} bytes; remove files no submission needs"
            )));
        }
        let stored: Option<String> =
            sqlx::query_scalar("SELECT sha256 FROM compliance_blobs WHERE sha256 = $1")
                .bind(sha256)
                .fetch_optional(&mut *tx)
                .await?;
        if stored.is_none() {
            sqlx::query(
                "INSERT INTO compliance_blobs (sha256, content, bytes) VALUES ($1, $2, $3)",
            )
            .bind(sha256)
            .bind(content.to_vec())
            .bind(to_i64("evidence size", size)?)
            .execute(&mut *tx)
            .await?;
        }
        let view = EvidenceView {
            sha256: sha256.to_owned(),
            name: name.to_owned(),
            media_type: media_type.to_owned(),
            bytes: size,
            uploaded_at: from_millis(to_millis(now)),
        };
        sqlx::query(
            "INSERT INTO compliance_evidence (member_id, sha256, name, media_type, bytes, uploaded_by, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(member.to_string())
        .bind(sha256)
        .bind(name)
        .bind(media_type)
        .bind(to_i64("evidence size", size)?)
        .bind(actor)
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await?;
        event(
            &mut tx,
            actor,
            "compliance.evidence.upload",
            &member.to_string(),
            serde_json::json!({ "sha256": sha256, "name": name, "media_type": media_type, "bytes": size }),
        )
        .await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Removes one of a member's evidence files, and its content if no other member holds it.
    /// `NotFound` if the member does not hold it; `Conflict` naming the submissions that cite
    /// it, since what was assessed stays on record.
    pub async fn remove_evidence(
        &self,
        actor: &str,
        member: &MemberId,
        sha256: &str,
    ) -> Result<EvidenceView> {
        let (_g, mut tx) = self.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {EVIDENCE_COLUMNS} FROM compliance_evidence WHERE member_id = $1 AND sha256 = $2"
        ))
        .bind(member.to_string())
        .bind(sha256)
        .fetch_optional(&mut *tx)
        .await?;
        let view = row
            .as_ref()
            .map(evidence_from_row)
            .transpose()?
            .ok_or_else(|| {
                let clipped: String = sha256.chars().take(64).collect();
                StoreError::NotFound(format!("{member} holds no evidence file {clipped:?}"))
            })?;
        let rows = sqlx::query(
            "SELECT id, answers FROM compliance_submissions WHERE member_id = $1 ORDER BY id",
        )
        .bind(member.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let mut citing = Vec::new();
        for r in &rows {
            let answers: String = r.try_get("answers")?;
            let answers: Vec<Answer> = serde_json::from_str(&answers)
                .map_err(|e| StoreError::Corrupt(format!("submission answers: {e}")))?;
            if answers
                .iter()
                .any(|a| a.evidence.iter().any(|e| e == sha256))
            {
                citing.push(submission_id(r.try_get("id")?));
            }
        }
        if !citing.is_empty() {
            return Err(StoreError::Conflict(format!(
                "{:?} is cited by {}: evidence a submission cites stays on record",
                view.name,
                citing.join(", ")
            )));
        }
        sqlx::query("DELETE FROM compliance_evidence WHERE member_id = $1 AND sha256 = $2")
            .bind(member.to_string())
            .bind(sha256)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM compliance_blobs WHERE sha256 = $1 \
             AND NOT EXISTS (SELECT 1 FROM compliance_evidence WHERE sha256 = $1)",
        )
        .bind(sha256)
        .execute(&mut *tx)
        .await?;
        event(
            &mut tx,
            actor,
            "compliance.evidence.remove",
            &member.to_string(),
            serde_json::json!({ "sha256": sha256, "name": view.name }),
        )
        .await?;
        tx.commit().await?;
        Ok(view)
    }

    /// A member's evidence files, newest first, and the bytes they hold.
    pub async fn evidence(&self, member: &MemberId) -> Result<(Vec<EvidenceView>, u64)> {
        let rows = sqlx::query(&format!(
            "SELECT {EVIDENCE_COLUMNS} FROM compliance_evidence WHERE member_id = $1 \
             ORDER BY uploaded_at DESC, sha256"
        ))
        .bind(member.to_string())
        .fetch_all(&self.pool)
        .await?;
        let files = rows
            .iter()
            .map(evidence_from_row)
            .collect::<Result<Vec<_>>>()?;
        let total = files.iter().map(|f| f.bytes).sum();
        Ok((files, total))
    }

    /// One of a member's evidence files with its content, if the member holds it.
    pub async fn evidence_file(
        &self,
        member: &MemberId,
        sha256: &str,
    ) -> Result<Option<(EvidenceView, Vec<u8>)>> {
        let row = sqlx::query(
            "SELECT e.sha256, e.name, e.media_type, e.bytes, e.uploaded_at, b.content \
             FROM compliance_evidence e JOIN compliance_blobs b ON b.sha256 = e.sha256 \
             WHERE e.member_id = $1 AND e.sha256 = $2",
        )
        .bind(member.to_string())
        .bind(sha256)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Ok((evidence_from_row(&row)?, row.try_get("content")?)))
            .transpose()
    }

    /// Saves `answers` as `member`'s open submission for `kind` (a new draft if it has none).
    /// `Conflict` while a submission of the kind waits for review.
    #[allow(clippy::too_many_arguments)]
    pub async fn save_submission(
        &self,
        actor: &str,
        member: &MemberId,
        kind: &str,
        framework: &str,
        version: &str,
        answers: &[Answer],
        now: OffsetDateTime,
    ) -> Result<SubmissionView> {
        let (_g, mut tx) = self.begin().await?;
        super::require_member(&mut tx, member).await?;
        let open = open_submission(&mut tx, member, kind).await?;
        let id = match open {
            Some(s) if s.state == SubmissionState::Submitted => {
                return Err(StoreError::Conflict(format!(
                    "{} ({kind}) waits for an assessor; it can change again if it is returned",
                    s.id
                )))
            }
            Some(s) => {
                let id = parse_id("sub-", &s.id)?;
                sqlx::query(
                    "UPDATE compliance_submissions SET framework = $1, version = $2, answers = $3, \
                     updated_by = $4, updated_at = $5 WHERE id = $6",
                )
                .bind(framework)
                .bind(version)
                .bind(answers_text(answers)?)
                .bind(actor)
                .bind(to_millis(now))
                .bind(id)
                .execute(&mut *tx)
                .await?;
                id
            }
            None => {
                let id = next_id(&mut tx, "compliance_submissions").await?;
                sqlx::query(
                    "INSERT INTO compliance_submissions (id, member_id, kind, framework, version, state, open, \
                     answers, updated_by, updated_at, submitted_at) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, NULL)",
                )
                .bind(id)
                .bind(member.to_string())
                .bind(kind)
                .bind(framework)
                .bind(version)
                .bind(state_text(SubmissionState::Draft))
                .bind(answers_text(answers)?)
                .bind(actor)
                .bind(to_millis(now))
                .execute(&mut *tx)
                .await?;
                id
            }
        };
        event(
            &mut tx,
            actor,
            "compliance.submission.save",
            &member.to_string(),
            serde_json::json!({ "submission": submission_id(id), "kind": kind, "framework": framework,
                "version": version, "answers": answers.len() }),
        )
        .await?;
        let view = load_submission(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(submission_id(id)))?;
        tx.commit().await?;
        Ok(view)
    }

    /// `member`'s open submission for `kind`, if any.
    pub async fn open_submission(
        &self,
        member: &MemberId,
        kind: &str,
    ) -> Result<Option<SubmissionView>> {
        let mut tx = self.pool.begin().await?;
        let found = open_submission(&mut tx, member, kind).await?;
        tx.commit().await?;
        Ok(found)
    }

    /// Marks `member`'s open submission for `kind` submitted, once `ready` (the rules' check of
    /// its answers as stored) passes. `NotFound` without one, `Conflict` if already submitted.
    pub async fn submit_submission(
        &self,
        actor: &str,
        member: &MemberId,
        kind: &str,
        now: OffsetDateTime,
        ready: impl FnOnce(&SubmissionView) -> std::result::Result<(), String>,
    ) -> Result<SubmissionView> {
        let (_g, mut tx) = self.begin().await?;
        let open = open_submission(&mut tx, member, kind)
            .await?
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "{member} has no {kind} submission to submit; save its answers first"
                ))
            })?;
        if open.state == SubmissionState::Submitted {
            return Err(StoreError::Conflict(format!(
                "{} is already submitted and waits for an assessor",
                open.id
            )));
        }
        ready(&open).map_err(StoreError::Refused)?;
        let id = parse_id("sub-", &open.id)?;
        sqlx::query(
            "UPDATE compliance_submissions SET state = $1, submitted_at = $2, updated_by = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(state_text(SubmissionState::Submitted))
        .bind(to_millis(now))
        .bind(actor)
        .bind(to_millis(now))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        event(
            &mut tx,
            actor,
            "compliance.submission.submit",
            &member.to_string(),
            serde_json::json!({ "submission": open.id, "kind": kind }),
        )
        .await?;
        let view = load_submission(&mut tx, id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(open.id.clone()))?;
        tx.commit().await?;
        Ok(view)
    }

    /// One submission by id.
    pub async fn submission(&self, id: &str) -> Result<Option<SubmissionView>> {
        let Ok(n) = parse_id("sub-", id) else {
            return Ok(None);
        };
        let mut tx = self.pool.begin().await?;
        let found = load_submission(&mut tx, n).await?;
        tx.commit().await?;
        Ok(found)
    }

    /// Submissions, optionally of one member and in one state, oldest change first.
    pub async fn submissions(
        &self,
        member: Option<&MemberId>,
        state: Option<SubmissionState>,
    ) -> Result<Vec<SubmissionView>> {
        let mut tx = self.pool.begin().await?;
        let ids: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT id FROM compliance_submissions WHERE ($1 = '' OR member_id = $1) \
             AND ($2 = '' OR state = $2) ORDER BY updated_at, id LIMIT {MAX_LISTED}"
        ))
        .bind(member.map(|m| m.to_string()).unwrap_or_default())
        .bind(state.map(state_text).unwrap_or_default())
        .fetch_all(&mut *tx)
        .await?;
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(s) = load_submission(&mut tx, id).await? {
                found.push(s);
            }
        }
        tx.commit().await?;
        Ok(found)
    }

    /// Records an assessor's review of submitted submission `id`: the submission becomes
    /// `next` (returned, certified or refused) and, with `issue`, a certificate is issued that
    /// supersedes the member's current one of the kind. `check` (the rules, and that the
    /// assessor is not of the member) sees the submission as stored. `Conflict` unless it is
    /// submitted.
    pub async fn decide_submission(
        &self,
        assessor: &str,
        id: &str,
        decision: &ReviewDecision,
        now: OffsetDateTime,
        check: impl FnOnce(
            &SubmissionView,
        ) -> std::result::Result<(SubmissionState, Option<Issue>), StoreError>,
    ) -> Result<Decided> {
        let n = parse_id("sub-", id)?;
        let (_g, mut tx) = self.begin().await?;
        let submission = load_submission(&mut tx, n)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no submission {id}")))?;
        if submission.state != SubmissionState::Submitted {
            return Err(StoreError::Conflict(format!(
                "{id} is {}, not waiting for review",
                submission.state.as_str()
            )));
        }
        if submission.reviews.len() as i64 >= MAX_REVIEWS {
            return Err(StoreError::Refused(format!(
                "{id} has had {MAX_REVIEWS} reviews; decide it (certify, approaching standard or refuse)"
            )));
        }
        let (next, issue) = check(&submission)?;
        let certificate = match issue {
            Some(issue) => {
                Some(issue_certificate(&mut tx, assessor, &submission, &issue, now).await?)
            }
            None => None,
        };
        let cert_n = certificate
            .as_ref()
            .map(|c| parse_id("cert-", &c.id))
            .transpose()?;
        sqlx::query(
            "INSERT INTO compliance_reviews (submission_id, seq, assessor, at, decision, certificate_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(n)
        .bind(submission.reviews.len() as i64 + 1)
        .bind(assessor)
        .bind(to_millis(now))
        .bind(serde_json::to_string(decision).map_err(|e| StoreError::Invalid(e.to_string()))?)
        .bind(cert_n)
        .execute(&mut *tx)
        .await?;
        let open = i64::from(next.is_open() || next == SubmissionState::Submitted);
        sqlx::query("UPDATE compliance_submissions SET state = $1, open = $2, updated_at = $3 WHERE id = $4")
            .bind(state_text(next))
            .bind(open)
            .bind(to_millis(now))
            .bind(n)
            .execute(&mut *tx)
            .await?;
        event(
            &mut tx,
            assessor,
            &format!("compliance.review.{}", decision.outcome.as_str()),
            &submission.member.to_string(),
            serde_json::json!({ "submission": id, "kind": submission.kind,
                "certificate": certificate.as_ref().map(|c| &c.id),
                "returned": decision.controls.iter()
                    .filter(|c| c.verdict == psn_api::ControlVerdict::Returned)
                    .map(|c| &c.control).collect::<Vec<_>>() }),
        )
        .await?;
        let submission = load_submission(&mut tx, n)
            .await?
            .ok_or_else(|| StoreError::Corrupt(id.to_owned()))?;
        tx.commit().await?;
        Ok(Decided {
            submission,
            certificate,
        })
    }

    /// Certificates, optionally of one member, newest first.
    pub async fn certificates(
        &self,
        member: Option<&MemberId>,
    ) -> Result<Vec<ComplianceCertificate>> {
        let rows = sqlx::query(&format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM compliance_certificates \
             WHERE ($1 = '' OR member_id = $1) ORDER BY id DESC"
        ))
        .bind(member.map(|m| m.to_string()).unwrap_or_default())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(certificate_from_row).collect()
    }

    /// One certificate by id.
    pub async fn certificate(&self, id: &str) -> Result<Option<ComplianceCertificate>> {
        let Ok(n) = parse_id("cert-", id) else {
            return Ok(None);
        };
        let row = sqlx::query(&format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM compliance_certificates WHERE id = $1"
        ))
        .bind(n)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(certificate_from_row).transpose()
    }

    /// Withdraws current certificate `id` for non-compliance. `Conflict` unless it is current.
    pub async fn withdraw_certificate(
        &self,
        actor: &str,
        id: &str,
        reason: &str,
    ) -> Result<ComplianceCertificate> {
        let n = parse_id("cert-", id)?;
        let (_g, mut tx) = self.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM compliance_certificates WHERE id = $1"
        ))
        .bind(n)
        .fetch_optional(&mut *tx)
        .await?;
        let cert = row
            .as_ref()
            .map(certificate_from_row)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("no certificate {id}")))?;
        if !cert.state.is_current() {
            return Err(StoreError::Conflict(format!(
                "{id} is {}; only a current certificate can be withdrawn",
                cert.state.as_str()
            )));
        }
        sqlx::query(
            "UPDATE compliance_certificates SET state = $1, withdrawn_reason = $2 WHERE id = $3",
        )
        .bind(CertificateState::Withdrawn.as_str())
        .bind(reason)
        .bind(n)
        .execute(&mut *tx)
        .await?;
        event(
            &mut tx,
            actor,
            "compliance.certificate.withdraw",
            &cert.member.to_string(),
            serde_json::json!({ "certificate": id, "kind": cert.kind, "reason": reason }),
        )
        .await?;
        tx.commit().await?;
        Ok(ComplianceCertificate {
            state: CertificateState::Withdrawn,
            withdrawn_reason: reason.to_owned(),
            ..cert
        })
    }

    /// Marks every current certificate whose expiry is at or before `now` expired, each with
    /// its event; returns them.
    pub async fn expire_certificates(
        &self,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<ComplianceCertificate>> {
        let (_g, mut tx) = self.begin().await?;
        let rows = sqlx::query(&format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM compliance_certificates \
             WHERE state IN ('valid', 'approaching-standard') AND expires_at <= $1 ORDER BY id"
        ))
        .bind(to_millis(now))
        .fetch_all(&mut *tx)
        .await?;
        let mut expired = Vec::with_capacity(rows.len());
        for row in &rows {
            let cert = certificate_from_row(row)?;
            sqlx::query("UPDATE compliance_certificates SET state = $1 WHERE id = $2")
                .bind(CertificateState::Expired.as_str())
                .bind(parse_id("cert-", &cert.id)?)
                .execute(&mut *tx)
                .await?;
            event(
                &mut tx,
                actor,
                "compliance.certificate.expire",
                &cert.member.to_string(),
                serde_json::json!({ "certificate": cert.id, "kind": cert.kind,
                    "expired_at": cert.expires_at.unix_timestamp() }),
            )
            .await?;
            expired.push(ComplianceCertificate {
                state: CertificateState::Expired,
                ..cert
            });
        }
        tx.commit().await?;
        Ok(expired)
    }

    /// The reminder stages already sent for certificate `id`.
    pub async fn reminders_sent(&self, id: &str) -> Result<Vec<String>> {
        let n = parse_id("cert-", id)?;
        Ok(sqlx::query_scalar(
            "SELECT stage FROM compliance_reminders WHERE certificate_id = $1 ORDER BY sent_at, stage",
        )
        .bind(n)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records reminder `stage` of `cert` as sent, with its event and a webhook delivery to
    /// the member; `false` (and nothing written) if it was sent before.
    pub async fn record_reminder(
        &self,
        actor: &str,
        cert: &ComplianceCertificate,
        stage: &str,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let n = parse_id("cert-", &cert.id)?;
        let (_g, mut tx) = self.begin().await?;
        let sent: Option<String> = sqlx::query_scalar(
            "SELECT stage FROM compliance_reminders WHERE certificate_id = $1 AND stage = $2",
        )
        .bind(n)
        .bind(stage)
        .fetch_optional(&mut *tx)
        .await?;
        if sent.is_some() {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO compliance_reminders (certificate_id, stage, sent_at) VALUES ($1, $2, $3)",
        )
        .bind(n)
        .bind(stage)
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await?;
        event(
            &mut tx,
            actor,
            "compliance.reminder",
            &cert.member.to_string(),
            serde_json::json!({ "certificate": cert.id, "kind": cert.kind, "stage": stage,
                "expires_at": cert.expires_at.unix_timestamp() }),
        )
        .await?;
        let payload = serde_json::json!({ "certificate": cert, "reminder": stage });
        super::access::enqueue_delivery(
            &mut tx,
            &cert.member,
            "compliance.reminder",
            &cert.id,
            &payload.to_string(),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The holds compliance has placed, as (member, hold, reason).
    pub async fn compliance_holds(&self) -> Result<Vec<(MemberId, Hold, String)>> {
        let rows = sqlx::query(
            "SELECT member_id, kind, reason FROM compliance_holds ORDER BY member_id, kind",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let member: String = r.try_get("member_id")?;
                let kind: String = r.try_get("kind")?;
                let hold = match kind.as_str() {
                    "connection" => Hold::Suspended,
                    "service-provision" => Hold::ServicesWithheld,
                    other => return Err(StoreError::Corrupt(format!("compliance hold {other}"))),
                };
                Ok((parse("member id", &member)?, hold, r.try_get("reason")?))
            })
            .collect()
    }

    /// Places `hold` on `member`: suspends it (if active) or withholds its services, with the
    /// event, and moves the registry generation so the next configuration reflects it. `false`
    /// if the hold was already in place, or (to suspend) the member is not active.
    pub async fn place_hold(
        &self,
        member: &MemberId,
        hold: Hold,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let (_g, mut tx) = self.begin().await?;
        let held: Option<String> = sqlx::query_scalar(
            "SELECT kind FROM compliance_holds WHERE member_id = $1 AND kind = $2",
        )
        .bind(member.to_string())
        .bind(hold.kind())
        .fetch_optional(&mut *tx)
        .await?;
        if held.is_some() {
            return Ok(false);
        }
        if hold == Hold::Suspended {
            let suspended = sqlx::query(
                "UPDATE members SET status = 'suspended', status_reason = $1, updated_at = $2 \
                 WHERE id = $3 AND status = 'active'",
            )
            .bind(reason)
            .bind(to_millis(OffsetDateTime::now_utc()))
            .bind(member.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if suspended == 0 {
                return Ok(false);
            }
        }
        sqlx::query(
            "INSERT INTO compliance_holds (member_id, kind, since, reason) VALUES ($1, $2, $3, $4)",
        )
        .bind(member.to_string())
        .bind(hold.kind())
        .bind(to_millis(now))
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        let action = match hold {
            Hold::Suspended => "member.suspend",
            Hold::ServicesWithheld => "compliance.services.withhold",
        };
        event(
            &mut tx,
            "compliance",
            action,
            &member.to_string(),
            serde_json::json!({ "from": "active", "reason": reason }),
        )
        .await?;
        bump(&mut tx, Changed::Member(member)).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Lifts `hold` from `member`: reinstates it if compliance (not an operator) suspended it
    /// and it is still suspended, or releases its services. `false` if there was no such hold.
    pub async fn lift_hold(&self, member: &MemberId, hold: Hold, reason: &str) -> Result<bool> {
        let (_g, mut tx) = self.begin().await?;
        let removed =
            sqlx::query("DELETE FROM compliance_holds WHERE member_id = $1 AND kind = $2")
                .bind(member.to_string())
                .bind(hold.kind())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if removed == 0 {
            return Ok(false);
        }
        let action = match hold {
            Hold::Suspended => {
                sqlx::query(
                    "UPDATE members SET status = 'active', status_reason = $1, updated_at = $2 \
                     WHERE id = $3 AND status = 'suspended'",
                )
                .bind(reason)
                .bind(to_millis(OffsetDateTime::now_utc()))
                .bind(member.to_string())
                .execute(&mut *tx)
                .await?;
                "member.reinstate"
            }
            Hold::ServicesWithheld => "compliance.services.release",
        };
        event(
            &mut tx,
            "compliance",
            action,
            &member.to_string(),
            serde_json::json!({ "from": "suspended", "reason": reason }),
        )
        .await?;
        bump(&mut tx, Changed::Member(member)).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Issues a certificate on `submission`, superseding the member's current one of the kind.
async fn issue_certificate(
    tx: &mut Transaction<'_, Any>,
    assessor: &str,
    submission: &SubmissionView,
    issue: &Issue,
    now: OffsetDateTime,
) -> Result<ComplianceCertificate> {
    sqlx::query(
        "UPDATE compliance_certificates SET state = $1 WHERE member_id = $2 AND kind = $3 \
         AND state IN ('valid', 'approaching-standard')",
    )
    .bind(CertificateState::Superseded.as_str())
    .bind(submission.member.to_string())
    .bind(&submission.kind)
    .execute(&mut **tx)
    .await?;
    let id = next_id(tx, "compliance_certificates").await?;
    let cert = ComplianceCertificate {
        id: certificate_id(id),
        member: submission.member.clone(),
        kind: submission.kind.clone(),
        framework: submission.framework.clone(),
        version: submission.version.clone(),
        state: issue.state,
        issued_at: from_millis(to_millis(now)),
        expires_at: from_millis(to_millis(issue.expires_at)),
        assessor: assessor.to_owned(),
        submission: submission.id.clone(),
        improvement_plan: issue.improvement_plan.clone(),
        withdrawn_reason: String::new(),
    };
    sqlx::query(&format!(
        "INSERT INTO compliance_certificates ({CERTIFICATE_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(id)
    .bind(cert.member.to_string())
    .bind(&cert.kind)
    .bind(&cert.framework)
    .bind(&cert.version)
    .bind(cert.state.as_str())
    .bind(to_millis(cert.issued_at))
    .bind(to_millis(cert.expires_at))
    .bind(assessor)
    .bind(parse_id("sub-", &submission.id)?)
    .bind(&cert.improvement_plan)
    .bind("")
    .execute(&mut **tx)
    .await?;
    event(
        tx,
        assessor,
        "compliance.certificate.issue",
        &cert.member.to_string(),
        serde_json::json!({ "certificate": cert.id, "kind": cert.kind, "state": cert.state.as_str(),
            "framework": cert.framework, "version": cert.version,
            "expires_at": cert.expires_at.unix_timestamp() }),
    )
    .await?;
    Ok(cert)
}
