//! Persistence for Switchyard: the [`Store`] trait, its SQLite (embedded default) and
//! PostgreSQL (multi-node) implementations, versioned migrations, and the durable job
//! queue with its worker runner.
//!
//! The trait is sliced by capability ([`KeyStore`], [`SecretStore`], [`JobQueue`],
//! [`Admin`]); [`Store`] is their union and is what the server holds as
//! `Arc<dyn Store>`. Every implementation passes the same conformance suite
//! (`tests/conformance.rs`).
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use switchyard_core::apikey::{ApiKey, Scope};
use switchyard_core::credit::{LedgerEntry, Reservation};
use switchyard_core::delivery::{Attempt, Claimed, Delivery, Endpoint, Outcome};
use switchyard_core::event::{Event, EventFilter, NewEvent, Source, Stored};
use switchyard_core::message::{
    Channel, Message, ProviderRecord, SendAttempt, SendResult, Status, StatusEntry, Template,
};
use switchyard_core::vault::Sealed;

pub mod batch;
mod common;
mod credit_sql;
mod delivery_sql;
mod event_sql;
mod idempotency_sql;
mod message_sql;
mod migrate;
pub mod postgres;
mod provider_sql;
pub mod queue;
pub mod sqlite;
mod status_sql;
mod template_sql;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod vault;

pub use migrate::MigrationStatus;
pub use queue::{Job, JobFate, JobQueue, NewJob};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: expected sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("record already exists: {0}")]
    Conflict(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Backend(#[from] sqlx::Error),
}

impl StoreError {
    /// Whether retrying the same operation later may succeed (connection problems,
    /// pool exhaustion, lock timeouts).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Backend(
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
            )
        )
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Keyset pagination: newest first, starting strictly after `cursor` (an id).
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub limit: u32,
    pub cursor: Option<String>,
}

/// A key to insert. `digest` is the SHA-256 of the raw key; the raw key is never stored.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub id: String,
    pub name: String,
    pub digest: [u8; 32],
    pub hint: String,
    pub scopes: Vec<Scope>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub rotated_from: Option<String>,
}

/// A key found by digest, with the stored digest for a constant-time comparison.
#[derive(Debug, Clone)]
pub struct KeyMatch {
    pub key: ApiKey,
    pub digest: Vec<u8>,
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn insert_key(&self, key: &NewKey) -> Result<()>;
    /// Inserts `key` only when the store holds no key at all (bootstrap). Safe against
    /// several nodes starting at once: at most one of them inserts.
    async fn insert_first_key(&self, key: &NewKey) -> Result<bool>;
    async fn find_key_by_digest(&self, digest: &[u8; 32]) -> Result<Option<KeyMatch>>;
    async fn get_key(&self, id: &str) -> Result<Option<ApiKey>>;
    async fn list_keys(&self, page: &Page) -> Result<Vec<ApiKey>>;
    /// Marks a key revoked (idempotent). `None` when no such key exists.
    async fn revoke_key(&self, id: &str, now: i64) -> Result<Option<ApiKey>>;
    /// Atomically inserts `replacement` and makes the key `id` expire at `old_expires_at`
    /// (or earlier, if it already expires sooner). `None` when `id` does not exist or is
    /// revoked.
    async fn rotate_key(
        &self,
        id: &str,
        replacement: &NewKey,
        old_expires_at: i64,
    ) -> Result<Option<ApiKey>>;
    async fn touch_key(&self, id: &str, now: i64) -> Result<()>;
}

#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Inserts or replaces the sealed value of `id`.
    async fn put_secret(&self, id: &str, sealed: &Sealed, now: i64) -> Result<()>;
    async fn get_secret(&self, id: &str) -> Result<Option<Sealed>>;
    async fn delete_secret(&self, id: &str) -> Result<bool>;
    /// Up to `limit` values sealed under a key other than `key_id`.
    async fn secrets_not_under(&self, key_id: &str, limit: u32) -> Result<Vec<(String, Sealed)>>;
    /// Replaces the value of `id` only if it still holds `expected` (same nonce), so a
    /// concurrent write is never overwritten by a re-seal of older data.
    async fn replace_secret(
        &self,
        id: &str,
        expected: &Sealed,
        new: &Sealed,
        now: i64,
    ) -> Result<bool>;
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

#[async_trait]
pub trait SourceStore: Send + Sync {
    async fn insert_source(&self, source: &Source) -> Result<()>;
    async fn get_source(&self, id: &str) -> Result<Option<Source>>;
    async fn list_sources(&self, page: &Page) -> Result<Vec<Source>>;
    /// Replaces every field but `id` and `created_at`. `false` if there is no such source.
    async fn update_source(&self, source: &Source) -> Result<bool>;
    /// Removes the source; its events stay. `false` if there is no such source.
    async fn delete_source(&self, id: &str) -> Result<bool>;
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Stores events in one transaction, in state `received`, and answers per event
    /// whether it was new or a duplicate of an earlier event of the same source with the
    /// same `dedupe_key` (enforced by a unique index, so nodes racing on one event store
    /// it once). Received events are the processing queue: storing one wakes the
    /// processors ([`JobQueue::job_notifier`]).
    async fn insert_events(&self, events: &[NewEvent]) -> Result<Vec<Stored>>;
    async fn get_event(&self, id: &str) -> Result<Option<Event>>;
    /// Newest first; payloads included.
    async fn list_events(&self, filter: &EventFilter, page: &Page) -> Result<Vec<Event>>;
    /// Processes up to `limit` received events, oldest first, in one transaction: creates
    /// one delivery, due at `at`, per enabled endpoint subscribed to each, and marks the
    /// events `processed` at `at`. `message.*` events of the providers the hub sends
    /// through are status reports: each joins its message's history and may raise its
    /// status (see [`MessageStore`]). Events another node is processing at the same time
    /// are skipped, never waited on or processed twice. Returns how many events.
    async fn process_received(&self, limit: u32, at: i64) -> Result<u64>;
    /// Sets the event back to `received`, so that it is processed again. `false` if
    /// there is no such event.
    async fn requeue_event(&self, id: &str) -> Result<bool>;
}

/// Filters for listing deliveries.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub endpoint_id: Option<String>,
    pub event_id: Option<String>,
    pub state: Option<String>,
}

#[async_trait]
pub trait DeliveryStore: Send + Sync {
    async fn insert_endpoint(&self, endpoint: &Endpoint) -> Result<()>;
    async fn get_endpoint(&self, id: &str) -> Result<Option<Endpoint>>;
    async fn list_endpoints(&self, page: &Page) -> Result<Vec<Endpoint>>;
    /// Replaces every field but `id` and `created_at`. `false` if there is no such endpoint.
    async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<bool>;
    /// Removes the endpoint and its pending deliveries. `false` if there is none.
    async fn delete_endpoint(&self, id: &str) -> Result<bool>;
    /// Leases up to `limit` due pending deliveries until `lease_until` and counts the
    /// attempt; an ordered endpoint only ever has its oldest pending delivery claimed.
    /// Deliveries leased elsewhere are skipped.
    async fn claim_deliveries(
        &self,
        limit: u32,
        now: i64,
        lease_until: i64,
    ) -> Result<Vec<Claimed>>;
    /// Records attempts and their consequences in one transaction. For each, `false` if
    /// the delivery was claimed again meanwhile (its outcome is then ignored).
    async fn record_outcomes(&self, outcomes: &[Outcome], now: i64) -> Result<Vec<bool>>;
    async fn get_delivery(&self, id: &str) -> Result<Option<Delivery>>;
    async fn list_deliveries(&self, filter: &DeliveryFilter, page: &Page) -> Result<Vec<Delivery>>;
    async fn list_attempts(&self, delivery_id: &str) -> Result<Vec<Attempt>>;
    /// Makes a delivery due now again (whatever its state), with a fresh attempt budget.
    /// `false` if there is no such delivery.
    async fn retry_delivery(&self, id: &str, now: i64) -> Result<bool>;
    /// Makes an endpoint's failed deliveries created at or after `since` due now.
    async fn retry_failed(&self, endpoint_id: &str, since: i64, now: i64) -> Result<u64>;
    /// The earliest time a pending delivery can be claimed: deliveries of disabled
    /// endpoints and those behind the head of an ordered endpoint do not count.
    async fn next_delivery_due(&self) -> Result<Option<i64>>;
    /// Takes one send from an endpoint's allowance for time slot `slot`, shared by
    /// every node: `false` when `quota` sends were already taken in that slot.
    async fn take_rate_token(&self, endpoint_id: &str, slot: i64, quota: i64) -> Result<bool>;
    /// Hands a claimed delivery back without counting its attempt, due at `until`.
    /// `false` if it was claimed again meanwhile.
    async fn defer_delivery(&self, id: &str, attempt: i64, until: i64) -> Result<bool>;
}

#[async_trait]
pub trait CreditStore: Send + Sync {
    /// Adds `amount` (negative to take some back) to an account's channel, creating its
    /// credit record (and so metering it) if needed; returns the new balance. A balance
    /// never goes below zero: such a change is refused with `Ok(None)`.
    async fn grant_credits(
        &self,
        account: &str,
        channel: &str,
        amount: i64,
        reason: Option<&str>,
        now: i64,
    ) -> Result<Option<i64>>;
    /// Balances of an account's metered channels.
    async fn credit_balances(&self, account: &str) -> Result<Vec<(String, i64)>>;
    /// Takes `n` credits for `message_id` if the balance allows, atomically: of many
    /// concurrent reservations against a balance of K, exactly those fitting in K succeed.
    async fn reserve_credits(
        &self,
        account: &str,
        channel: &str,
        n: i64,
        message_id: &str,
        now: i64,
    ) -> Result<Reservation>;
    /// Settles a reservation: `commit` records that the credits were spent; otherwise
    /// they are refunded to the balance.
    async fn settle_credits(
        &self,
        account: &str,
        channel: &str,
        n: i64,
        message_id: &str,
        commit: bool,
        now: i64,
    ) -> Result<()>;
    /// An account's ledger, newest first.
    async fn credit_ledger(&self, account: &str, page: &Page) -> Result<Vec<LedgerEntry>>;
}

/// Filters for listing messages; times are milliseconds since the epoch, on `created_at`.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub channel: Option<Channel>,
    pub status: Option<Status>,
    pub account: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// Credits to reserve for a message in the transaction that stores it.
#[derive(Debug, Clone)]
pub struct Charge {
    pub account: String,
    pub credits: i64,
    /// An account without a credit record may not send (`credits.required`).
    pub required: bool,
}

/// What [`MessageStore::accept_message`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Acceptance {
    /// Stored (with its credits reserved) and queued.
    Accepted(Message),
    /// A message with the same idempotency key exists; nothing was stored.
    Existing(Message),
    /// Not enough credits; nothing was stored.
    Insufficient { balance: i64 },
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores a queued message, reserving `charge` in the same transaction. A message
    /// whose `idempotency_key` is taken is not stored: the existing one is returned,
    /// also to requests racing on that key. The message is stored `queued`, with no
    /// attempts and `credits` as reserved (0 when the account is not metered); storing
    /// it wakes the sender ([`JobQueue::job_notifier`]).
    async fn accept_message(
        &self,
        message: &Message,
        charge: Option<&Charge>,
    ) -> Result<Acceptance> {
        let batch = [(message.clone(), charge.cloned())];
        let mut answers = self.accept_messages(&batch).await?;
        answers
            .pop()
            .ok_or_else(|| StoreError::Corrupt("no answer for an accepted message".into()))
    }
    /// [`MessageStore::accept_message`] for many messages in one transaction (a group
    /// commit); one answer per message, in order.
    async fn accept_messages(&self, batch: &[(Message, Option<Charge>)])
    -> Result<Vec<Acceptance>>;
    /// Claims up to `limit` messages due at `now` (queued, or sending with an expired
    /// lease): each is leased until `lease_until`, moved to `sending` and its
    /// `attempts` incremented (the value returned fences [`MessageStore::record_send`]).
    async fn claim_messages(&self, limit: u32, now: i64, lease_until: i64) -> Result<Vec<Message>>;
    /// Holds a claim longer: its lease now ends at `lease_until`. `false` (and nothing
    /// changed) when the claim (`attempt`) is no longer current.
    async fn extend_message_lease(&self, id: &str, attempt: i64, lease_until: i64) -> Result<bool>;
    /// Records the attempts and outcome of a claim; `false` (and nothing changed) when
    /// the claim is no longer current. Sent: commits the credits, publishes
    /// `message.sent` and applies status reports that arrived before the provider id
    /// was known. Failed: refunds the credits and publishes `message.failed`. Retry:
    /// releases the lease until `at`.
    async fn record_send(&self, result: &SendResult, now: i64) -> Result<bool> {
        let mut recorded = self.record_sends(std::slice::from_ref(result), now).await?;
        recorded
            .pop()
            .ok_or_else(|| StoreError::Corrupt("no answer for a recorded send".into()))
    }
    /// [`MessageStore::record_send`] for many claims in one transaction; one answer per
    /// result, in order.
    async fn record_sends(&self, results: &[SendResult], now: i64) -> Result<Vec<bool>>;
    async fn get_message(&self, id: &str) -> Result<Option<Message>>;
    /// Newest first.
    async fn list_messages(&self, filter: &MessageFilter, page: &Page) -> Result<Vec<Message>>;
    /// Oldest first.
    async fn message_history(&self, id: &str) -> Result<Vec<StatusEntry>>;
    /// Oldest first.
    async fn message_attempts(&self, id: &str) -> Result<Vec<SendAttempt>>;
    /// The earliest time a message becomes claimable, if any is waiting.
    async fn next_message_due(&self) -> Result<Option<i64>>;
}

#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// Creates or replaces a template; `true` when it was created.
    async fn put_template(&self, template: &Template) -> Result<bool>;
    async fn get_template(&self, name: &str) -> Result<Option<Template>>;
    /// By name, starting after `page.cursor` (a name).
    async fn list_templates(&self, page: &Page) -> Result<Vec<Template>>;
    async fn delete_template(&self, name: &str) -> Result<bool>;
}

#[async_trait]
pub trait ProviderStore: Send + Sync {
    /// Creates or replaces the record of `(channel, name)`; `true` when it was created.
    async fn put_provider(&self, record: &ProviderRecord) -> Result<bool>;
    /// Every record, by channel, priority and name.
    async fn list_providers(&self) -> Result<Vec<ProviderRecord>>;
    async fn delete_provider(&self, channel: Channel, name: &str) -> Result<bool>;
}

/// What [`IdempotencyStore::begin_request`] found for an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// The key is new (or its earlier request died unanswered): run the request.
    Run,
    /// An earlier request with the same digest succeeded with this status; its answer
    /// is in the vault under [`idempotency_secret_id`].
    Replay { status: u16 },
    /// The key was used for a different request.
    Mismatch,
    /// A request with this key is running.
    InProgress,
}

/// Where the vault keeps the answer replayed for an idempotency key.
pub fn idempotency_secret_id(key: &str) -> String {
    format!("idempotency:{key}")
}

/// Idempotency keys of API requests that have no idempotency of their own.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for a request with `digest`. A key created before `expired_before`
    /// is forgotten; one whose request started before `stale_before` and never answered
    /// (its node died) is taken over.
    async fn begin_request(
        &self,
        key: &str,
        digest: &str,
        now: i64,
        stale_before: i64,
        expired_before: i64,
    ) -> Result<Begun>;
    /// Records that the request holding `key` succeeded with `status` (its answer is
    /// sealed in the vault first).
    async fn finish_request(&self, key: &str, status: u16) -> Result<()>;
    /// Releases `key` after its request failed, so that it can be tried again.
    async fn abandon_request(&self, key: &str) -> Result<()>;
    /// Forgets keys created before `before`, and their answers; how many were forgotten.
    async fn purge_idempotency_keys(&self, before: i64) -> Result<u64>;
}

/// Everything the hub persists.
pub trait Store:
    KeyStore
    + SecretStore
    + SourceStore
    + EventStore
    + DeliveryStore
    + CreditStore
    + MessageStore
    + ProviderStore
    + TemplateStore
    + IdempotencyStore
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
        + DeliveryStore
        + CreditStore
        + MessageStore
        + ProviderStore
        + TemplateStore
        + IdempotencyStore
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

fn scopes_from_db(s: &str) -> Result<Vec<Scope>> {
    Scope::parse_list(s).map_err(StoreError::Corrupt)
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
