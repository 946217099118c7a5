//! Versioned schema migrations, embedded in the binary. Each backend applies the list
//! in order, each migration in its own transaction, recording it in `schema_migrations`.

use serde::Serialize;

#[derive(Debug)]
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! migrations {
    ($dir:literal: $($version:literal $name:literal $file:literal),* $(,)?) => {
        &[$(Migration { version: $version, name: $name, sql: include_str!(concat!("../migrations/", $dir, "/", $file)) }),*]
    };
}

pub(crate) const SQLITE: &[Migration] = migrations!("sqlite":
    1 "init" "0001_init.sql",
    2 "sources_events" "0002_sources_events.sql",
    3 "event_log_queue" "0003_event_log_queue.sql",
    4 "endpoints_deliveries" "0004_endpoints_deliveries.sql",
    5 "credits" "0005_credits.sql",
    6 "messages" "0006_messages.sql",
    7 "provider_configs" "0007_provider_configs.sql",
    8 "idempotency_keys" "0008_idempotency_keys.sql",
    9 "capability_layout" "0009_capability_layout.sql",
    10 "payments" "0010_payments.sql",
    11 "storage" "0011_storage.sql",
    12 "auth" "0012_auth.sql",
    13 "connectors" "0013_connectors.sql",
    14 "message_queue" "0014_message_queue.sql",
);

pub(crate) const POSTGRES: &[Migration] = migrations!("postgres":
    1 "init" "0001_init.sql",
    2 "sources_events" "0002_sources_events.sql",
    3 "event_log_queue" "0003_event_log_queue.sql",
    4 "endpoints_deliveries" "0004_endpoints_deliveries.sql",
    5 "credits" "0005_credits.sql",
    6 "messages" "0006_messages.sql",
    7 "provider_configs" "0007_provider_configs.sql",
    8 "idempotency_keys" "0008_idempotency_keys.sql",
    9 "capability_layout" "0009_capability_layout.sql",
    10 "payments" "0010_payments.sql",
    11 "storage" "0011_storage.sql",
    12 "auth" "0012_auth.sql",
    13 "connectors" "0013_connectors.sql",
    14 "message_queue" "0014_message_queue.sql",
);

pub(crate) const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/// One known migration and when (if ever) it was applied to this store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationStatus {
    pub version: i64,
    pub name: &'static str,
    pub applied_at: Option<i64>,
}

pub(crate) fn status(known: &[Migration], applied: &[(i64, i64)]) -> Vec<MigrationStatus> {
    known
        .iter()
        .map(|m| MigrationStatus {
            version: m.version,
            name: m.name,
            applied_at: applied
                .iter()
                .find(|(v, _)| *v == m.version)
                .map(|(_, at)| *at),
        })
        .collect()
}
