-- Where events go: the application's endpoints, one delivery per (event, endpoint),
-- and every attempt made for a delivery.
CREATE TABLE endpoints (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    description     TEXT,
    event_types     TEXT NOT NULL,
    headers         TEXT NOT NULL,
    rate_limit      BIGINT,
    ordered         BOOLEAN NOT NULL DEFAULT FALSE,
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    disabled_reason TEXT,
    secret_grace_until BIGINT,
    failing_since   BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL,
    endpoint_id     TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending',
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint_id, id);
CREATE INDEX deliveries_by_event ON deliveries (event_id);

CREATE TABLE delivery_attempts (
    delivery_id   TEXT NOT NULL,
    attempt       BIGINT NOT NULL,
    started_at    BIGINT NOT NULL,
    duration_ms   BIGINT NOT NULL,
    status_code   BIGINT,
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
