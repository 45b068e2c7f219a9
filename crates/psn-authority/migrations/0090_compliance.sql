-- Compliance (docs/compliance.md): members' evidence files, submissions against a framework
-- version, assessors' reviews, the certificates they issue, reminders sent, and what the
-- network's policy did about a lapse. Same dialect as 0001 (TEXT and BIGINT, timestamps as
-- Unix milliseconds) except evidence content, BYTEA (PostgreSQL's bytes; SQLite keeps a blob
-- in a column of any declared type).

-- Evidence content, stored once per SHA-256 whichever members uploaded it.
CREATE TABLE compliance_blobs (
    sha256  TEXT PRIMARY KEY,
    content BYTEA NOT NULL,
    bytes   BIGINT NOT NULL
);

-- A member's evidence files: the name and type it gave, pointing at the content.
CREATE TABLE compliance_evidence (
    member_id   TEXT NOT NULL REFERENCES members (id),
    sha256      TEXT NOT NULL REFERENCES compliance_blobs (sha256),
    name        TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    bytes       BIGINT NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    PRIMARY KEY (member_id, sha256)
);

-- answers is the JSON array of psn_api::Answer. A member has at most one open submission
-- (draft, submitted or returned) per kind: open is 1 for those, 0 once decided.
CREATE TABLE compliance_submissions (
    id           BIGINT PRIMARY KEY,
    member_id    TEXT NOT NULL REFERENCES members (id),
    kind         TEXT NOT NULL,
    framework    TEXT NOT NULL,
    version      TEXT NOT NULL,
    state        TEXT NOT NULL,
    open         BIGINT NOT NULL,
    answers      TEXT NOT NULL,
    updated_by   TEXT NOT NULL,
    updated_at   BIGINT NOT NULL,
    submitted_at BIGINT
);
CREATE UNIQUE INDEX compliance_submissions_open ON compliance_submissions (member_id, kind) WHERE open = 1;

-- decision is the JSON of psn_api::ReviewDecision.
CREATE TABLE compliance_reviews (
    submission_id  BIGINT NOT NULL REFERENCES compliance_submissions (id),
    seq            BIGINT NOT NULL,
    assessor       TEXT NOT NULL,
    at             BIGINT NOT NULL,
    decision       TEXT NOT NULL,
    certificate_id BIGINT,
    PRIMARY KEY (submission_id, seq)
);

CREATE TABLE compliance_certificates (
    id               BIGINT PRIMARY KEY,
    member_id        TEXT NOT NULL REFERENCES members (id),
    kind             TEXT NOT NULL,
    framework        TEXT NOT NULL,
    version          TEXT NOT NULL,
    state            TEXT NOT NULL,
    issued_at        BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    assessor         TEXT NOT NULL,
    submission_id    BIGINT NOT NULL,
    improvement_plan TEXT NOT NULL,
    withdrawn_reason TEXT NOT NULL
);
CREATE INDEX compliance_certificates_member ON compliance_certificates (member_id, kind);
CREATE INDEX compliance_certificates_expiry ON compliance_certificates (state, expires_at);

-- Each reminder stage (30d, 7d, 0d, +7d) is sent once per certificate.
CREATE TABLE compliance_reminders (
    certificate_id BIGINT NOT NULL REFERENCES compliance_certificates (id),
    stage          TEXT NOT NULL,
    sent_at        BIGINT NOT NULL,
    PRIMARY KEY (certificate_id, stage)
);

-- What the policy did about a lapse, so that a new certificate undoes exactly that: kind
-- `connection` means compliance suspended the member; `service-provision` means its services
-- are withheld from the configuration and the catalogue.
CREATE TABLE compliance_holds (
    member_id TEXT NOT NULL REFERENCES members (id),
    kind      TEXT NOT NULL,
    since     BIGINT NOT NULL,
    reason    TEXT NOT NULL,
    PRIMARY KEY (member_id, kind)
);
