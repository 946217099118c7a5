-- Where events go: the application's endpoints, one delivery per (event, endpoint),
-- and every attempt made for a delivery.
CREATE TABLE endpoints (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    description     TEXT,
    event_types     TEXT NOT NULL,
    headers         TEXT NOT NULL,
    rate_limit      INTEGER,
    ordered         INTEGER NOT NULL DEFAULT 0,
    enabled         INTEGER NOT NULL DEFAULT 1,
    disabled_reason TEXT,
    secret_grace_until INTEGER,
    failing_since   INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL,
    endpoint_id     TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint_id, id);
CREATE INDEX deliveries_by_event ON deliveries (event_id);

CREATE TABLE delivery_attempts (
    delivery_id   TEXT NOT NULL,
    attempt       INTEGER NOT NULL,
    started_at    INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    status_code   INTEGER,
    response_body TEXT,
    error_kind    TEXT,
    PRIMARY KEY (delivery_id, attempt)
);


-- Rate limits shared by every node: deliveries sent per endpoint per 100 ms slot.
CREATE TABLE endpoint_rate (
    endpoint_id TEXT NOT NULL,
    slot        BIGINT NOT NULL,
    used        BIGINT NOT NULL,
    PRIMARY KEY (endpoint_id, slot)
);
