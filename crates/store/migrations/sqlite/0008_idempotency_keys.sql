-- Idempotency-Key of API requests whose route has no idempotency of its own: the
-- digest of the first request (method, path and body) and, once it succeeded, its
-- status. Its answer, which may hold a secret, is sealed in the vault
-- (`idempotency:<key>`). `status` is NULL while the first request runs.
CREATE TABLE idempotency_keys (
    key        TEXT PRIMARY KEY,
    digest     TEXT NOT NULL,
    status     INTEGER,
    started_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
