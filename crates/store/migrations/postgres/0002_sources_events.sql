CREATE TABLE sources (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    settings       TEXT NOT NULL,
    enabled        BOOLEAN NOT NULL DEFAULT TRUE,
    previous_until BIGINT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE events (
    id            TEXT PRIMARY KEY,
    source_id     TEXT,
    source_kind   TEXT,
    dedupe_key    TEXT,
    provider_type TEXT,
    type          TEXT NOT NULL,
    payload       BYTEA NOT NULL,
    headers       TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'received',
    received_at   BIGINT NOT NULL,
    processed_at  BIGINT
);
CREATE UNIQUE INDEX events_dedupe ON events (source_id, dedupe_key);
CREATE INDEX events_by_source ON events (source_id, id);
CREATE INDEX events_by_type ON events (type, id);
