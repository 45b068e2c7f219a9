-- People who sign in to the web UI, and their server-side sessions (docs/ui.md). Numbered apart
-- from the registry's own migrations so that others can be added before it.

-- member_id is NULL for the network operator's people (operators, assessors). Usernames are
-- lower case. password_hash is an argon2id PHC string. After failed_attempts consecutive wrong
-- passwords reach the limit, locked_until holds sign-in off until then.
CREATE TABLE people (
    id              TEXT PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    member_id       TEXT REFERENCES members (id),
    role            TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    disabled        BIGINT NOT NULL,
    failed_attempts BIGINT NOT NULL,
    locked_until    BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX people_member ON people (member_id);

-- token_hash is the base64url SHA-256 of the cookie's random token, so a copy of the database
-- cannot be used to sign in. csrf_token is what every form of the session must send back.
CREATE TABLE ui_sessions (
    token_hash TEXT PRIMARY KEY,
    person_id  TEXT NOT NULL REFERENCES people (id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX ui_sessions_person ON ui_sessions (person_id);
