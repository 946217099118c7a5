-- Messages the hub sends: the message with its current status (which only moves to a
-- higher rank), its status history (from the sender and from provider webhooks), every
-- call made to a provider, and stored templates.
CREATE TABLE messages (
    id                  TEXT PRIMARY KEY,
    channel             TEXT NOT NULL,
    category            TEXT NOT NULL,
    account             TEXT,
    status              TEXT NOT NULL,
    status_rank         BIGINT NOT NULL,
    provider            TEXT,
    provider_message_id TEXT,
    recipients          TEXT NOT NULL,
    subject             TEXT,
    content             TEXT NOT NULL,
    metadata            TEXT,
    idempotency_key     TEXT UNIQUE,
    request_digest      TEXT,
    credits             BIGINT NOT NULL DEFAULT 0,
    attempts            BIGINT NOT NULL DEFAULT 0,
    next_attempt_at     BIGINT NOT NULL,
    lease_until         BIGINT,
    last_error          TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
-- The send queue: messages not yet sent, by due time.
CREATE INDEX messages_due ON messages (next_attempt_at) WHERE status IN ('queued', 'sending');
CREATE INDEX messages_by_provider_id ON messages (provider_message_id)
    WHERE provider_message_id IS NOT NULL;
CREATE INDEX messages_by_account ON messages (account, id);
CREATE INDEX messages_by_channel ON messages (channel, id);
CREATE INDEX messages_by_status ON messages (status, id);

-- A report about a message whose provider id is not known yet (the provider answered
-- the webhook before the sender recorded the send) waits with message_id NULL and is
-- adopted when the send is recorded.
CREATE TABLE message_status (
    seq                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id          TEXT,
    provider_message_id TEXT,
    status              TEXT NOT NULL,
    at                  BIGINT NOT NULL,
    detail              TEXT,
    event_id            TEXT
);
CREATE INDEX message_status_by_message ON message_status (message_id, seq);
CREATE INDEX message_status_unclaimed ON message_status (provider_message_id)
    WHERE message_id IS NULL;

CREATE TABLE message_attempts (
    message_id  TEXT NOT NULL,
    n           BIGINT NOT NULL,
    provider    TEXT NOT NULL,
    at          BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    outcome     TEXT NOT NULL,
    error       TEXT,
    PRIMARY KEY (message_id, n)
);

CREATE TABLE templates (
    name       TEXT PRIMARY KEY,
    subject    TEXT,
    html       TEXT,
    text       TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
