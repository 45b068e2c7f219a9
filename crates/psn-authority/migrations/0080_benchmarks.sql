-- Benchmarks (docs/benchmarks.md): members' returns per process and financial year, and the
-- peer groups members save. Same dialect as 0001: TEXT and BIGINT only, timestamps as Unix
-- milliseconds.

-- Every version of a return is kept: a correction inserts version n + 1 and clears `current` on
-- version n in the same transaction, so the history of what a member said, and when, survives.
-- year_start is the calendar year the financial year starts in (2024 for 2024-25). fte_milli is
-- full-time equivalents in thousandths; satisfaction_centi is percent in hundredths. The flags
-- are 0 or 1.
CREATE TABLE benchmark_returns (
    member_id          TEXT NOT NULL REFERENCES members (id),
    process            TEXT NOT NULL,
    year_start         BIGINT NOT NULL,
    version            BIGINT NOT NULL,
    current_version    BIGINT NOT NULL,
    cost_pence         BIGINT NOT NULL,
    volume             BIGINT NOT NULL,
    fte_milli          BIGINT,
    satisfaction_centi BIGINT,
    note               TEXT,
    outlier_confirmed  BIGINT NOT NULL,
    publish_now        BIGINT NOT NULL,
    synthetic          BIGINT NOT NULL,
    submitted_by       TEXT NOT NULL,
    submitted_at       BIGINT NOT NULL,
    PRIMARY KEY (member_id, process, year_start, version)
);
CREATE INDEX benchmark_returns_by_process ON benchmark_returns (process, year_start, current_version);

-- members is a JSON array of member ids.
CREATE TABLE benchmark_peer_groups (
    owner_id TEXT NOT NULL REFERENCES members (id),
    name     TEXT NOT NULL,
    members  TEXT NOT NULL,
    saved_by TEXT NOT NULL,
    saved_at BIGINT NOT NULL,
    PRIMARY KEY (owner_id, name)
);
