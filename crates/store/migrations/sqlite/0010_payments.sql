-- The payments mirror: customers, checkouts, subscriptions, refunds and connected
-- accounts, one row per object in one table. `data` holds the object as the hub keeps
-- it; the other columns repeat what lookups, lists and the sweeper select on. Each
-- unique index leads with its selective column, so that a generic plan made before
-- the table has statistics still finds a row by it rather than scanning a kind.
CREATE TABLE payment_objects (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    provider        TEXT NOT NULL,
    provider_id     TEXT,
    customer        TEXT,
    status          TEXT NOT NULL,
    external_id     TEXT,
    idempotency_key TEXT,
    sweep_at        BIGINT,
    as_of           BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    data            TEXT NOT NULL
);
CREATE UNIQUE INDEX payment_objects_provider_id ON payment_objects (provider_id, kind, provider);
CREATE UNIQUE INDEX payment_objects_key ON payment_objects (idempotency_key, kind);
CREATE UNIQUE INDEX payment_objects_external ON payment_objects (external_id, kind, provider);
CREATE INDEX payment_objects_customer ON payment_objects (customer, kind);
CREATE INDEX payment_objects_sweep ON payment_objects (sweep_at);
CREATE INDEX payment_objects_list ON payment_objects (kind, id);

-- The mirror's view of the object a payment event is about, delivered with it.
ALTER TABLE events ADD COLUMN object TEXT;
