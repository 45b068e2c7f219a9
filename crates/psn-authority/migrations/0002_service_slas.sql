-- Service level declarations, one per service, made by the service's provider. The declaration is
-- kept as its JSON document (psn_core::sla::SlaDeclaration), validated before it is stored.
CREATE TABLE service_slas (
    service_id  TEXT PRIMARY KEY REFERENCES services (id),
    document    TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
