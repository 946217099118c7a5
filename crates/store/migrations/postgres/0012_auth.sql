-- Auth: users of each pool, their sessions (refresh-token families), single-use link
-- tokens kept only as digests, Google sign-in states, linked identities and the
-- counters of the brute-force limits.
CREATE TABLE auth_users (
    id             TEXT PRIMARY KEY,
    pool           TEXT NOT NULL,
    email          TEXT NOT NULL,
    email_verified BOOLEAN NOT NULL,
    password_hash  TEXT,
    roles          TEXT NOT NULL,
    status         TEXT NOT NULL,
    metadata       TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    UNIQUE (pool, email)
);

CREATE TABLE auth_sessions (
    id             TEXT PRIMARY KEY,
    pool           TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    counter        BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    rotated_at     BIGINT NOT NULL,
    last_used_at   BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    revoked_at     BIGINT,
    revoked_reason TEXT,
    client_ip      TEXT,
    user_agent     TEXT
);
CREATE INDEX auth_sessions_user ON auth_sessions (pool, user_id);

CREATE TABLE auth_links (
    digest     TEXT PRIMARY KEY,
    pool       TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX auth_links_user ON auth_links (pool, user_id, purpose);

CREATE TABLE auth_oauth_states (
    digest     TEXT PRIMARY KEY,
    pool       TEXT NOT NULL,
    data       TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE auth_identities (
    pool       TEXT NOT NULL,
    provider   TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (pool, provider, subject)
);
CREATE INDEX auth_identities_user ON auth_identities (pool, user_id);

CREATE TABLE auth_limits (
    key     TEXT PRIMARY KEY,
    count   BIGINT NOT NULL,
    last_at BIGINT NOT NULL
);
