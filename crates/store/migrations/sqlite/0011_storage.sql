-- Object storage: what the hub knows of every object, whatever backend holds its
-- bytes; access rules by key prefix; direct uploads waiting to be checked. Keys sort
-- byte by byte on both backends, so listings page the same way everywhere.
CREATE TABLE storage_objects (
    store        TEXT NOT NULL,
    key          TEXT NOT NULL,
    -- 'ready', or 'writing': a create-only write holds the key until it finishes.
    state        TEXT NOT NULL,
    size         BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    etag         TEXT NOT NULL,
    sha256       TEXT,
    visibility   TEXT,
    owner        TEXT,
    grants       TEXT NOT NULL,
    -- When a 'writing' claim left by a stopped node may be taken over.
    expires_at   BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (store, key)
);
CREATE INDEX storage_objects_claims ON storage_objects (expires_at) WHERE state = 'writing';

CREATE TABLE storage_rules (
    store      TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    owner      TEXT,
    visibility TEXT,
    grants     TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (store, prefix)
);

CREATE TABLE storage_uploads (
    id           TEXT PRIMARY KEY,
    store        TEXT NOT NULL,
    key          TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT,
    owner        TEXT,
    visibility   TEXT,
    multipart_id TEXT,
    parts        BIGINT NOT NULL,
    state        TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX storage_uploads_due ON storage_uploads (expires_at) WHERE state = 'pending';
