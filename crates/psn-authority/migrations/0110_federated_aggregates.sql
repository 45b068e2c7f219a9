-- Aggregates across networks (docs/federation.md "Aggregates across networks"). Each side of a
-- cross-network exchange reports to its own authority; each authority forwards the rows that
-- concern a partner (a partner's service called, or a partner's subsystem calling) to that
-- partner, which pulls them over the federation channel, so both can report on both sides.

-- Rows queued for a partner: one entry per accepted gateway batch that concerned it, in the
-- order accepted (seq from the counters table). The partner's pull names the last entry it
-- stored; entries up to it are deleted then.
INSERT INTO counters (name, value) VALUES ('federation_outbox', 0);
CREATE TABLE federation_outbox (
    partner    TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    gateway_id TEXT NOT NULL,
    -- psn_core::aggregate::AggregateRow list as JSON.
    rows       TEXT NOT NULL,
    PRIMARY KEY (partner, seq)
);

-- Rows a partner forwarded, filed by what this network knows, as aggregate_rows is filed (no
-- reference to this network's gateways: the reporters are the partner's).
CREATE TABLE federated_aggregate_rows (
    partner    TEXT NOT NULL,
    gateway_id TEXT NOT NULL,
    seq        BIGINT NOT NULL,
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
CREATE INDEX federated_aggregate_rows_service_minute ON federated_aggregate_rows (service_id, minute);
CREATE INDEX federated_aggregate_rows_minute ON federated_aggregate_rows (minute);

-- The last outbox entry of each partner stored here.
ALTER TABLE federation_partners ADD COLUMN aggregates_after BIGINT NOT NULL DEFAULT 0;
