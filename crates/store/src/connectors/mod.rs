//! Connectors: connections (their credentials live sealed in the vault), the
//! single-use states of their OAuth flows, the lock one refresh at a time holds across
//! nodes, the windows of the connectors' rate limits shared by every node, and the call
//! log of the proxy.

pub(crate) mod sql;

use async_trait::async_trait;
use switchyard_core::connector::{Call, Connection, ConnectionStatus};

use crate::{Page, Result};

/// What a listing of connections is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct ConnectionFilter {
    pub connector: Option<String>,
    pub external_id: Option<String>,
}

/// What [`ConnectorStore::reserve_rate`] answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// A slot is taken: the request may go at this time (ms, `>= now`).
    At(i64),
    /// No slot before `now + max_wait`; the earliest slot is free at this time (ms).
    Full(i64),
}

/// What a refresh changed of a connection (the tokens themselves are in the vault).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionState<'a> {
    pub status: ConnectionStatus,
    /// `None` leaves the scopes as they are.
    pub scopes: Option<&'a [String]>,
    /// `None` leaves `expires_at` as it is; `Some(None)` clears it.
    pub expires_at: Option<Option<i64>>,
    pub last_error: Option<&'a str>,
    pub now: i64,
}

#[async_trait]
pub trait ConnectorStore: Send + Sync {
    async fn insert_connection(&self, connection: &Connection) -> Result<()>;
    async fn get_connection(&self, id: &str) -> Result<Option<Connection>>;
    /// Newest first (by id, descending), after `page.cursor`.
    async fn list_connections(
        &self,
        filter: &ConnectionFilter,
        page: &Page,
    ) -> Result<Vec<Connection>>;
    /// Writes every field of the connection; `false` when there is none with its id.
    async fn update_connection(&self, connection: &Connection) -> Result<bool>;
    /// Sets status, last error and (as given) scopes and expiry; `false` when there is
    /// no such connection.
    async fn set_connection_state(&self, id: &str, state: &ConnectionState<'_>) -> Result<bool>;
    /// Deletes the connection with its OAuth states, lock and calls.
    async fn delete_connection(&self, id: &str) -> Result<bool>;

    /// Stores an OAuth state (its digest; `data` is opaque to the store).
    async fn insert_connection_state(
        &self,
        digest: &str,
        connection_id: &str,
        data: &str,
        expires_at: i64,
    ) -> Result<()>;
    /// Takes an OAuth state, once, if it has not expired: `(connection_id, data)`.
    async fn take_connection_state(
        &self,
        digest: &str,
        now: i64,
    ) -> Result<Option<(String, String)>>;

    /// Takes the connection's refresh lock for `owner` until `until`, if it is free or
    /// its holder's time has passed; whether it was taken.
    async fn lock_connection(&self, id: &str, owner: &str, now: i64, until: i64) -> Result<bool>;
    /// Gives the lock back if `owner` still holds it.
    async fn unlock_connection(&self, id: &str, owner: &str) -> Result<()>;

    /// Reserves a slot under the limit `key` of `requests` per `window_ms`: at most
    /// `requests` reserved times fall in any `window_ms` span (a sliding window, exact
    /// across nodes). The slot is the earliest time `>= now` that keeps that true; it is
    /// taken only if it is no later than `now + max_wait_ms`.
    async fn reserve_rate(
        &self,
        key: &str,
        requests: u32,
        window_ms: i64,
        now: i64,
        max_wait_ms: i64,
    ) -> Result<Reservation>;

    /// Appends calls to the log, in one statement where the backend allows.
    async fn insert_calls(&self, calls: &[Call]) -> Result<()>;
    /// A connection's calls, newest first (by id, descending), after `page.cursor`.
    async fn list_calls(&self, connection_id: &str, page: &Page) -> Result<Vec<Call>>;

    /// Deletes OAuth states expired before `now`, calls logged before `calls_before` and
    /// rate windows whose every slot is older than `now` minus their window. How many
    /// rows went.
    async fn sweep_connectors(&self, now: i64, calls_before: i64) -> Result<u64>;
}
