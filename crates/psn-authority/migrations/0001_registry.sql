-- psn authority registry. One dialect for SQLite and PostgreSQL: TEXT and BIGINT only,
-- timestamps as Unix milliseconds, sequences from the counters table (no autoincrement).

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('registry', 0);
INSERT INTO counters (name, value) VALUES ('event', 0);

CREATE TABLE network (
    id         TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE member_classes (
    code         TEXT PRIMARY KEY,
    description  TEXT NOT NULL,
    code_pattern TEXT NOT NULL
);

CREATE TABLE members (
    id            TEXT PRIMARY KEY,
    class         TEXT NOT NULL REFERENCES member_classes (code),
    code          TEXT NOT NULL,
    name          TEXT NOT NULL,
    status        TEXT NOT NULL,
    status_reason TEXT,
    sector        TEXT,
    region        TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX members_class ON members (class);
CREATE INDEX members_status ON members (status);

CREATE TABLE subsystems (
    id         TEXT PRIMARY KEY,
    member_id  TEXT NOT NULL REFERENCES members (id),
    code       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX subsystems_member ON subsystems (member_id);

CREATE TABLE gateways (
    id         TEXT PRIMARY KEY,
    member_id  TEXT NOT NULL REFERENCES members (id),
    code       TEXT NOT NULL,
    address    TEXT,
    status     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX gateways_member ON gateways (member_id);

CREATE TABLE certificates (
    serial      TEXT PRIMARY KEY,
    gateway_id  TEXT NOT NULL REFERENCES gateways (id),
    not_before  BIGINT NOT NULL,
    not_after   BIGINT NOT NULL,
    issued_at   BIGINT NOT NULL,
    revoked_at  BIGINT,
    pem         TEXT NOT NULL
);
CREATE INDEX certificates_gateway ON certificates (gateway_id);

CREATE TABLE enrolment_tokens (
    secret_hash  TEXT PRIMARY KEY,
    member_id    TEXT NOT NULL REFERENCES members (id),
    gateway_code TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);

CREATE TABLE services (
    id           TEXT PRIMARY KEY,
    subsystem_id TEXT NOT NULL REFERENCES subsystems (id),
    title        TEXT NOT NULL,
    description  TEXT NOT NULL,
    processes    TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX services_subsystem ON services (subsystem_id);

CREATE TABLE access_grants (
    id           TEXT PRIMARY KEY,
    service_id   TEXT NOT NULL REFERENCES services (id),
    grantee      TEXT NOT NULL,
    method       TEXT,
    path_pattern TEXT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX access_grants_service ON access_grants (service_id);

CREATE TABLE config_versions (
    version             BIGINT PRIMARY KEY,
    registry_generation BIGINT NOT NULL,
    issued_at           BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    digest              TEXT NOT NULL,
    document            TEXT
);

CREATE TABLE operators (
    name       TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE admin_events (
    seq    BIGINT PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
