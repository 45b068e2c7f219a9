-- The registry's change log (docs/design.md "Incremental build"): one row per registry
-- generation saying what the change touched, so that the publisher works out the next
-- configuration version from the last one it built instead of reading the whole registry.
-- scope 'member': the entries of member_id (the member's own, its subsystems', gateways' and
-- services'); 'all': something any entry may depend on (classes, a partner's view, a bulk load);
-- 'none': nothing the configuration lists (grants, which gateways fetch with each version).
-- Rows older than the publisher can use are pruned when a version is stored.
CREATE TABLE registry_changes (
    generation BIGINT PRIMARY KEY,
    scope      TEXT NOT NULL,
    member_id  TEXT
);

-- A version worked out from the last one is stored with its delta at once; its whole document
-- (and the document's digest, '' until then) is written just after it is published.
ALTER TABLE config_versions ADD COLUMN delta TEXT;
