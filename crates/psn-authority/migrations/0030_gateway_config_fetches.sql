-- Which configuration version each gateway last fetched or confirmed it holds, and when: the
-- network overview shows every gateway's version and freshness from it (docs/ui.md). One row per
-- gateway, replaced at each answer to its configuration long poll, so it never grows with time.
CREATE TABLE gateway_config_fetches (
    gateway_id     TEXT PRIMARY KEY REFERENCES gateways (id),
    config_version BIGINT NOT NULL,
    fetched_at     BIGINT NOT NULL
);
