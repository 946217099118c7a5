-- Idempotency keys belong to the API key that used them: the same key sent by two
-- callers is two keys. Keys kept so far were shared by every caller; they are dropped
-- with their answers (a repeat within the day runs again, once per caller).
DELETE FROM secrets WHERE id LIKE 'idempotency:%';
DROP TABLE idempotency_keys;
CREATE TABLE idempotency_keys (
    principal  TEXT NOT NULL,
    key        TEXT NOT NULL,
    digest     TEXT NOT NULL,
    status     INTEGER,
    started_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- The provider registry serves every capability with providers, not only the
-- messaging channels (`email`, `sms`).
ALTER TABLE provider_configs RENAME COLUMN channel TO capability;
