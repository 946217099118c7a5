-- Email and SMS providers configured through the API. Their settings, credentials
-- included, are sealed in the vault (`provider:<channel>:<name>`); this table lists them.
CREATE TABLE provider_configs (
    channel    TEXT NOT NULL,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    priority   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (channel, name)
);
