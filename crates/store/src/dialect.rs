//! What differs between the SQL backends. Every store behaviour is written once, as SQL
//! text both backends accept (`$n` parameters, `RETURNING`, `ON CONFLICT`), in the
//! capability modules' macros; those macros reach a backend only through this trait.

use std::collections::HashSet;

use sqlx::{Database, Pool, Transaction};
use switchyard_core::event::NewEvent;

use crate::Result;
use crate::migrate::Migration;
use crate::queue::Job;

pub(crate) trait Dialect {
    type Db: Database;

    const MIGRATIONS: &'static [Migration];
    /// Claims up to `$3` ready jobs due at `$2`, leased until `$1`, counting the attempt;
    /// returns `id, kind, payload, attempts, max_attempts`. Rows another node is
    /// claiming are skipped, never waited on.
    const CLAIM_JOBS: &'static str;
    /// Marks up to `$2` received events, oldest first, processed at `$1`; returns
    /// `id, type, source_kind, received_at, source_id`.
    const PROCESS_RECEIVED: &'static str;
    /// Leases up to `$3` due pending deliveries until `$1`, at `$2`; an ordered
    /// endpoint only has its oldest pending delivery claimed. Returns
    /// `id, endpoint_id, event_id, attempts` and the event's `type, payload,
    /// received_at, object` (NULL if the event is gone), in one statement.
    const CLAIM_DELIVERIES: &'static str;
    /// Claims up to `$3` due messages at `$2`, leased until `$1`, moving them to
    /// `sending` (rank `$4`); the caller appends `RETURNING` columns.
    const CLAIM_MESSAGES: &'static str;
    /// Moves the `sweep_at` of up to `$3` payment objects due at `$2` to `$1`; the caller
    /// appends `RETURNING` columns. Rows another node is claiming are skipped.
    const CLAIM_PAYMENT_SWEEPS: &'static str;
    /// Appended to a `SELECT` of one row that the transaction goes on to change: locks
    /// it where concurrent writers exist.
    const FOR_UPDATE: &'static str;

    /// The pool writes go through (on SQLite, a single connection).
    /// Whether statements bind faster with anonymous parameters (see
    /// [`crate::sql::statement`]).
    const ANONYMOUS_PARAMETERS: bool;

    fn writer(&self) -> &Pool<Self::Db>;
    fn reader(&self) -> &Pool<Self::Db>;
    /// What this node's workers wait on.
    fn wakers(&self) -> &crate::wake::Wakers;
    /// Wakes the workers of the kinds in `kinds` (bits of [`crate::Work`]) on this node
    /// (and, on PostgreSQL, on the others).
    fn work_added(&self, kinds: u8);

    /// Inserts events, skipping those whose (source, identity) is stored; returns the
    /// ids of the rows that were new. Stored `received`, or `processed` at `processed`.
    fn insert_event_rows(
        tx: &mut Transaction<'static, Self::Db>,
        events: &[NewEvent],
        processed: Option<i64>,
    ) -> impl Future<Output = Result<HashSet<String>>> + Send;
    /// Makes the rest of the transaction plan claims the one way that stays cheap
    /// however large the backlog: walking the due index in order and stopping at the
    /// limit. Without it, PostgreSQL's statistics taken while the table was small (a
    /// backlog that just built up) make it read and sort every due row at each claim.
    /// A no-op where the plan does not depend on statistics.
    fn plan_claims(
        conn: &mut <Self::Db as Database>::Connection,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Lets the transaction's commit return before it is flushed to disk (for work whose
    /// loss in a crash is harmless); a no-op where every commit flushes anyway.
    fn commit_without_flush(
        tx: &mut Transaction<'static, Self::Db>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Deletes completed jobs still held by their claim; one answer per job.
    fn delete_completed(&self, jobs: &[Job]) -> impl Future<Output = Result<Vec<bool>>> + Send;
    /// Serializes the bootstrap-key insert of nodes starting at once.
    fn lock_bootstrap(
        tx: &mut Transaction<'static, Self::Db>,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Makes recording a send and processing reports that name the same provider
    /// message ids take turns, until the transaction ends.
    fn lock_provider_refs(
        conn: &mut <Self::Db as Database>::Connection,
        refs: &[String],
    ) -> impl Future<Output = Result<()>> + Send;
    /// Makes reservations under the rate limit `key` take turns until the transaction
    /// ends.
    fn lock_rate_key(
        conn: &mut <Self::Db as Database>::Connection,
        key: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Holds off other nodes' migrations until [`Dialect::unlock_migrations`].
    fn lock_migrations(
        conn: &mut <Self::Db as Database>::Connection,
    ) -> impl Future<Output = Result<()>> + Send;
    fn unlock_migrations(
        conn: &mut <Self::Db as Database>::Connection,
    ) -> impl Future<Output = Result<()>> + Send;
}
