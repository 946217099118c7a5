//! The embedded default store: one SQLite file in WAL mode.
//!
//! Writes go through a pool of exactly one connection, so writers queue in-process
//! instead of contending for SQLite's lock; reads use a separate pool. Commits are
//! `synchronous = FULL`: an acknowledged write survives a crash of the process and of
//! the machine.

use std::collections::HashSet;
use std::path::PathBuf;
use std::str::FromStr as _;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};

use crate::dialect::Dialect;
use crate::{Admin, ConnectOptions, MigrationStatus, Result};

/// Rolls back a transaction a connection was returned to the pool in (a task dropped
/// half-way through one), so that the next user never inherits it.
async fn leave_transaction(conn: &mut SqliteConnection) -> std::result::Result<bool, sqlx::Error> {
    if sqlx::Connection::is_in_transaction(conn) {
        tracing::warn!("a pooled SQLite connection was still in a transaction; rolled back");
        sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await?;
    }
    Ok(true)
}

/// The database file a `sqlite:` URL names; `None` for in-memory databases.
pub fn database_path(url: &str) -> Option<PathBuf> {
    let path = SqliteConnectOptions::from_str(url)
        .ok()?
        .get_filename()
        .to_path_buf();
    (!path.as_os_str().is_empty() && !path.to_string_lossy().contains(":memory:")).then_some(path)
}

#[derive(Debug)]
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    wakers: crate::wake::Wakers,
    path: Option<PathBuf>,
}

impl SqliteStore {
    pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Self> {
        let connect = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(options.acquire_timeout)
            .foreign_keys(true);
        let path = connect.get_filename().to_path_buf();
        let in_memory = path.as_os_str().is_empty() || path.to_string_lossy().contains(":memory:");
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .before_acquire(|conn, _| Box::pin(async move { leave_transaction(conn).await }))
            .connect_with(connect.clone())
            .await?;
        // An in-memory database exists per connection: share the single one.
        let read = if in_memory {
            write.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(options.max_connections.max(1))
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await?
        };
        Ok(Self {
            write,
            read,
            wakers: crate::wake::Wakers::default(),
            path: (!in_memory).then_some(path),
        })
    }

    /// The database file, unless in memory.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }
}

impl Dialect for SqliteStore {
    type Db = Sqlite;

    const MIGRATIONS: &'static [crate::migrate::Migration] = crate::migrate::SQLITE;

    const CLAIM_JOBS: &'static str = "UPDATE jobs SET state = 'running', attempts = attempts + 1,
            lease_until = $1, updated_at = $2
        WHERE id IN (SELECT id FROM jobs WHERE state = 'ready' AND run_at <= $2
                     ORDER BY run_at, id LIMIT $3)
        RETURNING id, kind, payload, attempts, max_attempts";

    const PROCESS_RECEIVED: &'static str =
        "UPDATE events SET state = 'processed', processed_at = $1
        WHERE id IN (SELECT id FROM events WHERE state = 'received' ORDER BY id LIMIT $2)
        RETURNING id, type, source_kind, received_at, source_id";

    const CLAIM_DELIVERIES: &'static str = "UPDATE deliveries
        SET attempts = attempts + 1, next_attempt_at = $1, updated_at = $2
        WHERE id IN (
            SELECT d.id FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
            WHERE d.state = 'pending' AND d.next_attempt_at <= $2 AND e.enabled = TRUE
              AND (e.ordered = FALSE OR d.id = (SELECT MIN(o.id) FROM deliveries o
                   WHERE o.endpoint_id = d.endpoint_id AND o.state = 'pending'))
            ORDER BY d.next_attempt_at LIMIT $3)
        RETURNING id, endpoint_id, event_id, attempts,
            (SELECT type FROM events WHERE events.id = deliveries.event_id),
            (SELECT payload FROM events WHERE events.id = deliveries.event_id),
            (SELECT received_at FROM events WHERE events.id = deliveries.event_id),
            (SELECT object FROM events WHERE events.id = deliveries.event_id)";

    const CLAIM_PAYMENT_SWEEPS: &'static str = "UPDATE payment_objects SET sweep_at = $1
        WHERE id IN (SELECT id FROM payment_objects
                     WHERE sweep_at IS NOT NULL AND sweep_at <= $2 ORDER BY sweep_at LIMIT $3)";

    /// One writer connection: nothing else changes a row meanwhile.
    const FOR_UPDATE: &'static str = "";

    const CLAIM_MESSAGES: &'static str = "UPDATE messages SET status = 'sending',
            status_rank = CASE WHEN status_rank < $4 THEN $4 ELSE status_rank END,
            lease_until = $1, attempts = attempts + 1, updated_at = $2
        WHERE id IN (SELECT id FROM messages
                     WHERE due_at <= $2 AND status IN ('queued', 'sending')
                       AND (lease_until IS NULL OR lease_until < $2)
                     ORDER BY due_at, id LIMIT $3)";

    const ANONYMOUS_PARAMETERS: bool = true;

    fn writer(&self) -> &SqlitePool {
        &self.write
    }

    fn reader(&self) -> &SqlitePool {
        &self.read
    }

    fn wakers(&self) -> &crate::wake::Wakers {
        &self.wakers
    }

    fn work_added(&self, kinds: u8) {
        self.wakers.wake(kinds);
    }

    /// Inserts events with multi-row statements (a batch costs one statement, not one
    /// per event).
    async fn insert_event_rows(
        tx: &mut Transaction<'static, Sqlite>,
        events: &[switchyard_core::event::NewEvent],
        processed: Option<i64>,
    ) -> Result<HashSet<String>> {
        let state = crate::intake::stored_state(processed);
        let mut inserted = HashSet::with_capacity(events.len());
        for chunk in events.chunks(crate::intake::ROWS_PER_STATEMENT) {
            let sql = crate::sql::statement::<Self>(crate::intake::insert_events_sql(chunk.len()));
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for e in chunk {
                query = query
                    .bind(&e.id)
                    .bind(&e.source_id)
                    .bind(e.source_kind.map(|k| k.as_str()))
                    .bind(&e.dedupe_key)
                    .bind(&e.provider_type)
                    .bind(&e.event_type)
                    .bind(&e.payload)
                    .bind(&e.headers)
                    .bind(e.received_at)
                    .bind(state)
                    .bind(processed);
            }
            inserted.extend(query.fetch_all(&mut **tx).await?);
        }
        Ok(inserted)
    }

    /// SQLite plans from the schema alone (no statistics are gathered): the claim
    /// already walks `deliveries_due`.
    async fn plan_claims(_conn: &mut SqliteConnection) -> Result<()> {
        Ok(())
    }

    /// Every SQLite commit flushes (one writer connection, `synchronous = FULL`).
    async fn commit_without_flush(_tx: &mut Transaction<'static, Sqlite>) -> Result<()> {
        Ok(())
    }

    /// Deletes completed jobs in one transaction: one commit for the batch.
    async fn delete_completed(&self, jobs: &[crate::queue::Job]) -> Result<Vec<bool>> {
        let mut tx = self.write.begin().await?;
        let mut done = Vec::with_capacity(jobs.len());
        for job in jobs {
            let deleted = sqlx::query(
                "DELETE FROM jobs WHERE id = $1 AND attempts = $2 AND state = 'running'",
            )
            .bind(job.id)
            .bind(job.attempts)
            .execute(&mut *tx)
            .await?;
            done.push(deleted.rows_affected() == 1);
        }
        tx.commit().await?;
        Ok(done)
    }

    /// The single writer connection already serializes bootstrap inserts.
    async fn lock_bootstrap(_tx: &mut Transaction<'static, Sqlite>) -> Result<()> {
        Ok(())
    }

    /// Writes are serialized (one writer connection, SQLite's write lock held from a
    /// transaction's first write), so a send and a report never interleave.
    async fn lock_provider_refs(_conn: &mut SqliteConnection, _refs: &[String]) -> Result<()> {
        Ok(())
    }

    /// Every write goes through the single writer connection: transactions take turns.
    async fn lock_rate_key(_conn: &mut SqliteConnection, _key: &str) -> Result<()> {
        Ok(())
    }

    /// Migrations run on the single writer connection; a second process is held off by
    /// SQLite's write lock and the primary key of `schema_migrations`.
    async fn lock_migrations(_conn: &mut SqliteConnection) -> Result<()> {
        Ok(())
    }

    async fn unlock_migrations(_conn: &mut SqliteConnection) -> Result<()> {
        Ok(())
    }
}

crate::common::sql_store_impl!(SqliteStore, Sqlite);

#[async_trait]
impl Admin for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn migrate(&self) -> Result<Vec<MigrationStatus>> {
        self.run_migrations(true).await
    }

    async fn migration_status(&self) -> Result<Vec<MigrationStatus>> {
        self.run_migrations(false).await
    }

    async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}
