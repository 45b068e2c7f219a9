-- Per-minute aggregates that gateways derive from their audit logs and push
-- (psn_core::aggregate). A gateway's cursor says where in its log its next batch must start; a
-- batch is accepted only if it starts there, and the cursor moves in the same transaction that
-- stores its rows, so delivery is exactly-once and the rows add up to the logs' record counts.

CREATE TABLE aggregate_cursors (
    gateway_id TEXT PRIMARY KEY REFERENCES gateways (id),
    segment    BIGINT NOT NULL,
    position   BIGINT NOT NULL,
    batches    BIGINT NOT NULL,
    records    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Insert-only. Two batches may carry rows with the same key (a minute split across batches);
-- readers add them up. Histograms are psn_core::aggregate::LatencyHistogram as JSON.
CREATE TABLE aggregate_rows (
    gateway_id TEXT NOT NULL REFERENCES gateways (id),
    batch      BIGINT NOT NULL,
    minute     BIGINT NOT NULL,
    side       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    service_id TEXT NOT NULL,
    client     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    count      BIGINT NOT NULL,
    total      TEXT NOT NULL,
    upstream   TEXT NOT NULL
);
CREATE INDEX aggregate_rows_service_minute ON aggregate_rows (service_id, minute);
CREATE INDEX aggregate_rows_minute ON aggregate_rows (minute);
