//! Persistence for Switchyard: the [`Store`] trait, its SQLite (embedded default) and
//! PostgreSQL (multi-node) implementations, versioned migrations, the durable job queue
//! with its worker runner, group commits, and the secret vault.
//!
//! The trait is sliced by capability, each slice beside its SQL: [`keys`], [`vault`]
//! (secrets), [`intake`] (sources, events and their processing), [`delivery`],
//! [`credits`], [`messaging`] (messages, status reports, templates), [`payments`] (the
//! payments mirror), [`storage`] (objects, access rules, uploads), [`providers`] (the provider registry), [`idempotency`] and [`queue`]. [`Store`] is their union and is
//! what the server holds as `Arc<dyn Store>`. Every implementation passes the same
//! conformance suite (`tests/conformance.rs`). What differs between the two SQL
//! backends is confined to [`dialect::Dialect`].
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub mod auth;
pub mod batch;
pub mod claim;
mod common;
pub mod connectors;
pub mod credits;
pub mod delivery;
mod dialect;
mod error;
pub mod idempotency;
pub mod intake;
pub mod keys;
pub mod messaging;
mod migrate;
pub mod payments;
pub mod postgres;
pub mod providers;
pub mod queue;
mod sql;
pub mod sqlite;
#[cfg(any(test, feature = "testing"))]
pub mod statements;
pub mod storage;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod vault;
pub mod wake;

pub use auth::AuthStore;
pub use claim::Claim;
pub use connectors::{ConnectionFilter, ConnectionState, ConnectorStore, Reservation};
pub use credits::CreditStore;
pub use delivery::{DeliveryFilter, DeliveryStore, EndpointStore};
pub use error::{Result, StoreError};
pub use idempotency::{Begun, IdempotencyStore, idempotency_secret_id};
pub use intake::{EventStore, ProcessTx, ReceivedEvent, SourceStore, Stage};
pub use keys::{KeyMatch, KeyStore, NewKey};
pub use messaging::{
    Acceptance, Charge, MessageFilter, MessageStore, RecordedSends, StatusReport, TemplateStore,
};
pub use migrate::MigrationStatus;
pub use payments::PaymentStore;
pub use providers::ProviderStore;
pub use queue::{Job, JobFate, JobQueue, NewJob};
pub use storage::StorageStore;
pub use vault::SecretStore;
pub use wake::Work;

/// Keyset pagination: newest first, starting strictly after `cursor` (an id).
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub limit: u32,
    pub cursor: Option<String>,
}

#[async_trait]
pub trait Admin: Send + Sync {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> Result<()>;
    async fn migrate(&self) -> Result<Vec<MigrationStatus>>;
    async fn migration_status(&self) -> Result<Vec<MigrationStatus>>;
    /// Closes connections; waits for in-flight statements.
    async fn close(&self);
}

/// Everything the hub persists.
pub trait Store:
    KeyStore
    + SecretStore
    + SourceStore
    + EventStore
    + EndpointStore
    + DeliveryStore
    + CreditStore
    + MessageStore
    + ProviderStore
    + TemplateStore
    + IdempotencyStore
    + PaymentStore
    + StorageStore
    + AuthStore
    + ConnectorStore
    + JobQueue
    + Admin
    + std::fmt::Debug
{
}
impl<
    T: KeyStore
        + SecretStore
        + SourceStore
        + EventStore
        + EndpointStore
        + DeliveryStore
        + CreditStore
        + MessageStore
        + ProviderStore
        + TemplateStore
        + IdempotencyStore
        + PaymentStore
        + StorageStore
        + AuthStore
        + ConnectorStore
        + JobQueue
        + Admin
        + std::fmt::Debug,
> Store for T
{
}

/// Connection settings common to both backends.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// Opens the store named by `url` (`sqlite://…` or `postgres://…`), without migrating.
pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Arc<dyn Store>> {
    match Backend::of(url)? {
        Backend::Sqlite => Ok(Arc::new(sqlite::SqliteStore::connect(url, options).await?)),
        Backend::Postgres => Ok(Arc::new(postgres::PgStore::connect(url, options).await?)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of(url: &str) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(redact_url(url)))
        }
    }
}

/// The URL with any password replaced, for logs and errors.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:[redacted]{}",
            &url[..scheme_end + 3],
            &authority[..colon],
            &url[scheme_end + 3 + at..]
        ),
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://u:p%40ss@db:5432/x"),
            "postgres://u:[redacted]@db:5432/x"
        );
        assert_eq!(redact_url("postgres://u@db/x"), "postgres://u@db/x");
        assert_eq!(
            redact_url("sqlite://switchyard.db"),
            "sqlite://switchyard.db"
        );
        assert!(matches!(
            Backend::of("mysql://x"),
            Err(StoreError::UnsupportedUrl(_))
        ));
    }
}
