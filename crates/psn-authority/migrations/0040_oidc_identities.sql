-- OpenID Connect sign-in (docs/ui.md "OpenID Connect"): identities of configured providers
-- linked to people, and sign-ins in flight between the button and the provider's callback.

-- NULL for people who sign in with a password; otherwise the name of the [[oidc]] provider
-- they sign in with. Such people have no usable password (password_hash is empty, which never
-- verifies) and the password form refuses them.
ALTER TABLE people ADD COLUMN oidc_provider TEXT;

-- One row per identity: the issuer's subject is the stable key (an e-mail address is not), and
-- each identity and each person are linked at most once.
CREATE TABLE oidc_identities (
    issuer         TEXT NOT NULL,
    subject        TEXT NOT NULL,
    provider       TEXT NOT NULL,
    person_id      TEXT NOT NULL UNIQUE REFERENCES people (id),
    created_at     BIGINT NOT NULL,
    last_signed_in BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);

-- A sign-in between the button and the callback. binding_hash is the SHA-256 (base64url) of the
-- random value in the browser's __Host-psn-oidc cookie: the row is found only with that cookie
-- and is deleted when the callback takes it, so a callback URL replayed, or carried to another
-- browser, finds nothing. state, nonce and the PKCE verifier never leave the server.
CREATE TABLE oidc_sign_ins (
    binding_hash  TEXT PRIMARY KEY,
    provider      TEXT NOT NULL,
    state         TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX oidc_sign_ins_expiry ON oidc_sign_ins (expires_at);
