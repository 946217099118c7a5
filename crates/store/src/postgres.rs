//! The multi-node store: PostgreSQL. Any number of hub processes share one database;
//! jobs are claimed with `FOR UPDATE SKIP LOCKED`, and enqueues wake workers on every
//! node through `LISTEN/NOTIFY`.

use std::collections::HashSet;
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgSslMode};
use sqlx::{PgConnection, Postgres, Transaction};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::dialect::Dialect;
use crate::wake::Wakers;
use crate::{Admin, ConnectOptions, MigrationStatus, Result};

const CHANNEL: &str = "switchyard_jobs";
const MIGRATION_LOCK: i64 = 0x5357_4d49_4752; // "SWMIGR"
const BOOTSTRAP_LOCK: i64 = 0x5357_424f_4f54; // "SWBOOT"
/// The key space of per provider message id locks (two-key advisory locks).
const PROVIDER_REF_LOCKS: i32 = 0x534d_5347; // "SMSG"
/// The key space of per rate limit locks.
const RATE_LOCKS: i32 = 0x5352_4154; // "SRAT"

#[derive(Debug)]
pub struct PgStore {
    pool: PgPool,
    /// Wakes this node's workers.
    wakers: Arc<Wakers>,
    /// The kinds of work the announcer is to tell the other nodes about.
    pending: Arc<AtomicU8>,
    /// Asks the announcer to tell the other nodes.
    announce: Arc<Notify>,
    listener: JoinHandle<()>,
    announcer: JoinHandle<()>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.listener.abort();
        self.announcer.abort();
    }
}

impl PgStore {
    pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Self> {
        let mut connect = PgConnectOptions::from_str(url)?.application_name("switchyard");
        if loopback_without_sslmode(url, &connect) {
            connect = connect.ssl_mode(PgSslMode::Disable);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(2))
            .acquire_timeout(options.acquire_timeout)
            // sqlx pings a connection when it comes back; the check below runs then too,
            // in the task that returns it, so handing a connection out costs no round
            // trip on the caller's path.
            .test_before_acquire(false)
            .after_release(|conn, _| Box::pin(async move { leave_transaction(conn).await }))
            .connect_with(connect)
            .await?;
        let wakers = Arc::new(Wakers::default());
        let pending = Arc::new(AtomicU8::new(0));
        let announce = Arc::new(Notify::new());
        let listener = tokio::spawn(listen(pool.clone(), wakers.clone()));
        let announcer = tokio::spawn(announce_jobs(
            pool.clone(),
            pending.clone(),
            announce.clone(),
        ));
        Ok(Self {
            pool,
            wakers,
            pending,
            announce,
            listener,
            announcer,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Makes sure a connection coming back to the pool is not inside a transaction before
/// it can be handed out again. A task dropped half-way through `BEGIN` can return its
/// connection with the server inside a transaction that the client does not know about;
/// every later statement on it would then run in that transaction (and, once one fails,
/// fail). Sent as a simple query, outside a transaction block the statement's own
/// transaction starts with it, so the two timestamps are equal; inside one they differ.
/// (Sent as a prepared statement, they would differ outside a block too: its implicit
/// transaction starts at the first message, the statement at the last.) A connection in
/// a failed transaction answers the check with an error and is dropped.
async fn leave_transaction(conn: &mut PgConnection) -> std::result::Result<bool, sqlx::Error> {
    use sqlx::Row as _;
    let outside: bool = sqlx::raw_sql("SELECT transaction_timestamp() = statement_timestamp()")
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    if !outside {
        tracing::warn!("a pooled PostgreSQL connection was left inside a transaction; rolled back");
        sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await?;
    }
    Ok(true)
}

/// A URL that names no `sslmode` gets PostgreSQL's default, `prefer`: TLS when the
/// server offers it, without checking its certificate. Over loopback that protects
/// nothing, and the TLS client in use sends without `TCP_NODELAY`, so small writes wait
/// for delayed ACKs (tens of milliseconds). Loopback connections therefore go without
/// TLS unless the URL asks for it; remote ones keep the default.
fn loopback_without_sslmode(url: &str, options: &PgConnectOptions) -> bool {
    let asks = url
        .split_once('?')
        .is_some_and(|(_, query)| query.split('&').any(|p| p.starts_with("sslmode=")));
    let host = options.get_host();
    let loopback = host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !asks && std::env::var_os("PGSSLMODE").is_none() && loopback
}

impl Dialect for PgStore {
    type Db = Postgres;

    const MIGRATIONS: &'static [crate::migrate::Migration] = crate::migrate::POSTGRES;

    const CLAIM_JOBS: &'static str = "WITH due AS (
            SELECT id FROM jobs WHERE state = 'ready' AND run_at <= $2
            ORDER BY run_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
        UPDATE jobs SET state = 'running', attempts = jobs.attempts + 1,
            lease_until = $1, updated_at = $2
        FROM due WHERE jobs.id = due.id
        RETURNING jobs.id, jobs.kind, jobs.payload, jobs.attempts, jobs.max_attempts";

    const PROCESS_RECEIVED: &'static str = "WITH due AS (
            SELECT id FROM events WHERE state = 'received'
            ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
        UPDATE events SET state = 'processed', processed_at = $1
        FROM due WHERE events.id = due.id
        RETURNING events.id, events.type, events.source_kind, events.received_at, events.source_id";

    const CLAIM_DELIVERIES: &'static str = "WITH due AS (
            SELECT d.id FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
            WHERE d.state = 'pending' AND d.next_attempt_at <= $2 AND e.enabled = TRUE
              AND (e.ordered = FALSE OR d.id = (SELECT MIN(o.id) FROM deliveries o
                   WHERE o.endpoint_id = d.endpoint_id AND o.state = 'pending'))
            ORDER BY d.next_attempt_at LIMIT $3 FOR UPDATE OF d SKIP LOCKED),
        claimed AS (
            UPDATE deliveries SET attempts = deliveries.attempts + 1, next_attempt_at = $1,
                updated_at = $2
            FROM due WHERE deliveries.id = due.id
            RETURNING deliveries.id, deliveries.endpoint_id, deliveries.event_id, deliveries.attempts)
        SELECT c.id, c.endpoint_id, c.event_id, c.attempts, e.type, e.payload, e.received_at, e.object
        FROM claimed c LEFT JOIN events e ON e.id = c.event_id";

    const CLAIM_PAYMENT_SWEEPS: &'static str = "WITH due AS (
            SELECT id AS due_id FROM payment_objects
            WHERE sweep_at IS NOT NULL AND sweep_at <= $2
            ORDER BY sweep_at LIMIT $3 FOR UPDATE SKIP LOCKED)
        UPDATE payment_objects SET sweep_at = $1 FROM due WHERE payment_objects.id = due.due_id";

    const FOR_UPDATE: &'static str = " FOR UPDATE";

    const CLAIM_MESSAGES: &'static str = "WITH due AS (
            SELECT id AS claim_id FROM messages
            WHERE due_at <= $2 AND status IN ('queued', 'sending')
              AND (lease_until IS NULL OR lease_until < $2)
            ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
        UPDATE messages SET status = 'sending',
            status_rank = CASE WHEN status_rank < $4 THEN $4 ELSE status_rank END,
            lease_until = $1, attempts = attempts + 1, updated_at = $2
        FROM due WHERE messages.id = due.claim_id";

    const ANONYMOUS_PARAMETERS: bool = false;

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    /// Wakes local workers at once and other nodes through the announcer. NOTIFY is not
    /// sent inside the enqueuing transaction: PostgreSQL serializes the commits of
    /// notifying transactions, which would cap enqueue throughput.
    fn wakers(&self) -> &Wakers {
        &self.wakers
    }

    fn work_added(&self, kinds: u8) {
        self.wakers.wake(kinds);
        self.pending.fetch_or(kinds, Ordering::SeqCst);
        self.announce.notify_one();
    }

    /// Inserts events with one statement over arrays, whatever their number (one
    /// prepared statement serves every batch size); returns the ids of the new rows.
    async fn insert_event_rows(
        tx: &mut Transaction<'static, Postgres>,
        events: &[switchyard_core::event::NewEvent],
        processed: Option<i64>,
    ) -> Result<HashSet<String>> {
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        let sources: Vec<Option<&str>> = events.iter().map(|e| e.source_id.as_deref()).collect();
        let kinds: Vec<Option<&str>> = events
            .iter()
            .map(|e| e.source_kind.map(|k| k.as_str()))
            .collect();
        let keys: Vec<Option<&str>> = events.iter().map(|e| e.dedupe_key.as_deref()).collect();
        let provider_types: Vec<Option<&str>> =
            events.iter().map(|e| e.provider_type.as_deref()).collect();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        let payloads: Vec<&[u8]> = events.iter().map(|e| e.payload.as_slice()).collect();
        let headers: Vec<&str> = events.iter().map(|e| e.headers.as_str()).collect();
        let received: Vec<i64> = events.iter().map(|e| e.received_at).collect();
        let inserted: Vec<String> = sqlx::query_scalar(
            "INSERT INTO events (id, source_id, source_kind, dedupe_key, provider_type, type,
                 payload, headers, received_at, state, processed_at)
             SELECT *, $10::text, $11::bigint FROM UNNEST($1::text[], $2::text[], $3::text[],
                 $4::text[], $5::text[], $6::text[], $7::bytea[], $8::text[], $9::bigint[])
             ON CONFLICT (source_id, dedupe_key) DO NOTHING RETURNING id",
        )
        .bind(&ids)
        .bind(&sources)
        .bind(&kinds)
        .bind(&keys)
        .bind(&provider_types)
        .bind(&types)
        .bind(&payloads)
        .bind(&headers)
        .bind(&received)
        .bind(crate::intake::stored_state(processed))
        .bind(processed)
        .fetch_all(&mut **tx)
        .await?;
        Ok(inserted.into_iter().collect())
    }

    /// Sorting and bitmap scans off for the rest of the transaction: the claim then walks
    /// its queue's index (`deliveries_due`, `messages_due`) in order and stops at its
    /// limit.
    async fn plan_claims(conn: &mut PgConnection) -> Result<()> {
        sqlx::query(
            "SELECT set_config('enable_sort', 'off', true), set_config('enable_bitmapscan', 'off', true)",
        )
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Lets this transaction's commit return before its WAL is flushed (for work whose
    /// loss in a crash is harmless).
    async fn commit_without_flush(tx: &mut Transaction<'static, Postgres>) -> Result<()> {
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Deletes completed jobs with one statement.
    async fn delete_completed(&self, jobs: &[crate::queue::Job]) -> Result<Vec<bool>> {
        let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
        let attempts: Vec<i32> = jobs.iter().map(|j| j.attempts).collect();
        let deleted: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM jobs j USING UNNEST($1::bigint[], $2::int[]) AS d(id, attempts)
             WHERE j.id = d.id AND j.attempts = d.attempts AND j.state = 'running'
             RETURNING j.id",
        )
        .bind(&ids)
        .bind(&attempts)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.iter().map(|id| deleted.contains(id)).collect())
    }

    async fn lock_bootstrap(tx: &mut Transaction<'static, Postgres>) -> Result<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(BOOTSTRAP_LOCK)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Locks provider message ids until the transaction ends, in one order whatever the
    /// caller's, so that a send being recorded and reports naming its provider id take
    /// turns: either the report sees the message, or the send adopts the report.
    async fn lock_provider_refs(conn: &mut PgConnection, refs: &[String]) -> Result<()> {
        if refs.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "SELECT pg_advisory_xact_lock($2, k)
             FROM (SELECT DISTINCT hashtext(r) AS k FROM UNNEST($1::text[]) AS r) AS refs ORDER BY k",
        )
        .bind(refs)
        .bind(PROVIDER_REF_LOCKS)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn lock_rate_key(conn: &mut PgConnection, key: &str) -> Result<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(RATE_LOCKS)
            .bind(key)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn lock_migrations(conn: &mut PgConnection) -> Result<()> {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn unlock_migrations(conn: &mut PgConnection) -> Result<()> {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

crate::common::sql_store_impl!(PgStore, Postgres);

/// Sends `NOTIFY switchyard_jobs` after work was added, coalescing bursts into one
/// notice whose payload names the kinds of work (see [`crate::wake`]).
async fn announce_jobs(pool: PgPool, pending: Arc<AtomicU8>, announce: Arc<Notify>) {
    loop {
        announce.notified().await;
        let kinds = pending.swap(0, Ordering::SeqCst);
        if kinds == 0 {
            continue;
        }
        if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(kinds.to_string())
            .execute(&pool)
            .await
        {
            tracing::debug!(error = %e, "announcing enqueued jobs failed; other nodes will poll");
        }
    }
}

/// Forwards `NOTIFY switchyard_jobs` from any node to this node's workers, reconnecting
/// after errors. Workers also poll, so a gap while reconnecting only delays jobs.
async fn listen(pool: PgPool, wakers: Arc<Wakers>) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "job notification listener cannot connect; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "LISTEN failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        loop {
            match listener.recv().await {
                Ok(notification) => wakers.wake(crate::wake::parse(notification.payload())),
                Err(e) => {
                    tracing::warn!(error = %e, "job notification listener lost its connection");
                    break;
                }
            }
        }
    }
}

#[async_trait]
impl Admin for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrate(&self) -> Result<Vec<MigrationStatus>> {
        self.run_migrations(true).await
    }

    async fn migration_status(&self) -> Result<Vec<MigrationStatus>> {
        self.run_migrations(false).await
    }

    async fn close(&self) {
        self.listener.abort();
        self.announcer.abort();
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(url: &str) -> bool {
        loopback_without_sslmode(url, &PgConnectOptions::from_str(url).unwrap())
    }

    #[test]
    fn loopback_goes_without_tls_unless_asked() {
        assert!(plain("postgres://u@127.0.0.1:5432/db"));
        assert!(plain("postgres://u@localhost/db"));
        assert!(plain("postgres://u@[::1]:5432/db"));
        assert!(!plain("postgres://u@127.0.0.1/db?sslmode=require"));
        assert!(!plain("postgres://u@db.internal:5432/db"));
        assert!(!plain("postgres://u@10.0.0.5/db"));
    }

    /// A connection given back while the server is inside a transaction the client does
    /// not know of (a `BEGIN` whose future was dropped) is rolled back before anyone gets
    /// it again; ordinary connections are not touched (no stray `ROLLBACK`).
    #[tokio::test]
    async fn a_connection_returned_inside_a_transaction_is_rolled_back() {
        let db = crate::testing::TestDb::postgres().await;
        let store = PgStore::connect(
            &db.url,
            &ConnectOptions {
                max_connections: 2,
                ..ConnectOptions::default()
            },
        )
        .await
        .unwrap();
        // Watches from a connection of its own.
        let mut watcher = store.pool().acquire().await.unwrap();
        let mut conn = store.pool().acquire().await.unwrap();
        assert!(leave_transaction(&mut conn).await.unwrap(), "outside: kept");
        sqlx::raw_sql("BEGIN").execute(&mut *conn).await.unwrap();
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let state: Option<String> =
                sqlx::query_scalar("SELECT state FROM pg_stat_activity WHERE pid = $1")
                    .bind(pid)
                    .fetch_optional(&mut *watcher)
                    .await
                    .unwrap();
            if state.as_deref() == Some("idle") {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "still {state:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(watcher);
        // Every connection the pool hands out now runs statements outside a transaction.
        for _ in 0..4 {
            let mut c = store.pool().acquire().await.unwrap();
            assert!(leave_transaction(&mut c).await.unwrap());
            let outside: bool =
                sqlx::raw_sql("SELECT transaction_timestamp() = statement_timestamp()")
                    .fetch_one(&mut *c)
                    .await
                    .unwrap()
                    .try_get(0)
                    .unwrap();
            assert!(outside);
        }
        drop(store);
        db.cleanup().await;
    }
}
