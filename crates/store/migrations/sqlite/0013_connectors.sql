-- Connectors: connections to third-party APIs (their credentials are sealed in the
-- vault), the single-use states of their OAuth flows, the refresh lock of each
-- connection, the slots of the rate limits shared by every node, and the call log.
CREATE TABLE connections (
    id          TEXT PRIMARY KEY,
    connector   TEXT NOT NULL,
    name        TEXT,
    external_id TEXT,
    config      TEXT NOT NULL,
    status      TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    expires_at  INTEGER,
    last_error  TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX connections_connector ON connections (connector, external_id);

CREATE TABLE connection_states (
    digest        TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL,
    data          TEXT NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX connection_states_connection ON connection_states (connection_id);

CREATE TABLE connection_locks (
    connection_id TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    until         INTEGER NOT NULL
);

-- The last `requests` reserved times of each limit, one row per slot.
CREATE TABLE rate_slots (
    key       TEXT NOT NULL,
    slot      INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    window_ms INTEGER NOT NULL,
    PRIMARY KEY (key, slot)
);

CREATE TABLE connector_calls (
    id            TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL,
    connector     TEXT NOT NULL,
    method        TEXT NOT NULL,
    path          TEXT NOT NULL,
    status        INTEGER,
    attempts      INTEGER NOT NULL,
    cache         TEXT NOT NULL,
    duration_ms   INTEGER NOT NULL,
    bytes         INTEGER NOT NULL,
    error         TEXT,
    at            INTEGER NOT NULL
);
CREATE INDEX connector_calls_connection ON connector_calls (connection_id, id);
CREATE INDEX connector_calls_at ON connector_calls (at);
