-- The latest checkpoint (signed seal) of each gateway's audit log (psn_core::checkpoint), pushed
-- with its aggregates. Replaced only by one further along the log; one behind it, or another seal
-- at the same position, is refused. `psn audit verify --against-authority` compares a log with it.

CREATE TABLE log_checkpoints (
    gateway_id TEXT PRIMARY KEY REFERENCES gateways (id),
    segment    BIGINT NOT NULL,
    entry      BIGINT NOT NULL,
    chain_head TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
