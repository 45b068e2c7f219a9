-- Federation (docs/federation.md): the partner networks this one trusts, as imported from their
-- signed anchors; what this network exports to each; and the last good view each exported to
-- this one, with its freshness. Same dialect as 0001 (TEXT and BIGINT, timestamps as Unix
-- milliseconds).
CREATE TABLE federation_partners (
    network          TEXT PRIMARY KEY,
    -- The signed anchor exactly as imported, and what it says.
    anchor           TEXT NOT NULL,
    fingerprint      TEXT NOT NULL,
    endpoints        TEXT NOT NULL,
    ca_certificate   TEXT NOT NULL,
    imported_at      BIGINT NOT NULL,
    imported_by      TEXT NOT NULL,
    -- psn_api::ExportPolicy as JSON.
    export_policy    TEXT NOT NULL,
    -- The last view that verified: its JWS (evidence) and its payload (what is used).
    view_jws         TEXT,
    view_payload     TEXT,
    view_version     BIGINT,
    view_expires_at  BIGINT,
    -- A view or a "nothing newer" answer.
    last_success_at  BIGINT,
    last_error       TEXT,
    last_error_at    BIGINT
);
