-- Access requests from the catalogue (docs/access.md): a consumer member asks a provider member
-- for access to one of its services; the provider approves (creating grants) or declines.
-- Same dialect as 0001: TEXT and BIGINT only, timestamps as Unix milliseconds.

-- state is pending, approved, declined or withdrawn. methods, approved_methods and grant_ids are
-- JSON arrays of strings. pending_key is '{subsystem} {service}' while pending and NULL after, so
-- the unique index allows one pending request per subsystem and service and any number of
-- decided ones (both databases let a unique index hold many NULLs).
CREATE TABLE access_requests (
    id               TEXT PRIMARY KEY,
    subsystem_id     TEXT NOT NULL REFERENCES subsystems (id),
    requester_id     TEXT NOT NULL REFERENCES members (id),
    service_id       TEXT NOT NULL,
    provider_id      TEXT NOT NULL REFERENCES members (id),
    purpose          TEXT NOT NULL,
    methods          TEXT NOT NULL,
    path_pattern     TEXT,
    state            TEXT NOT NULL,
    pending_key      TEXT UNIQUE,
    created_by       TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    decided_by       TEXT,
    decided_at       BIGINT,
    reason           TEXT,
    approved_methods TEXT,
    approved_path    TEXT,
    grant_ids        TEXT
);
CREATE INDEX access_requests_requester ON access_requests (requester_id, created_at);
CREATE INDEX access_requests_provider ON access_requests (provider_id, created_at);

-- One webhook per member. secret is the HMAC-SHA256 key deliveries are signed with; it is held
-- in the clear because signing needs it (as the CA key and signer key are held).
CREATE TABLE member_webhooks (
    member_id  TEXT PRIMARY KEY REFERENCES members (id),
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The outbox: written in the transaction that changes a request, sent by the authority's
-- delivery task. state is pending, delivered or failed; next_attempt_at is when a pending one is
-- due.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    member_id       TEXT NOT NULL REFERENCES members (id),
    event           TEXT NOT NULL,
    request_id      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_member ON webhook_deliveries (member_id, created_at);
