//! The floor: the least durable work the same store must do for the same items, measured
//! in the same run as the path it is printed beside. `clients` concurrent tasks each
//! hand one row at a time to a group commit (the hub's `Batcher`, with the writer count
//! the hub uses on that store) and wait for its commit; each batch is one multi-row
//! INSERT in one transaction, into the table the path itself writes, on the path's
//! database, with the store's durability (PostgreSQL's default `synchronous_commit`,
//! SQLite's WAL with `synchronous = FULL`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use switchyard_store::Backend;
use switchyard_store::batch::Batcher;

/// A value of a row.
#[derive(Debug, Clone)]
pub enum Value {
    Text(String),
    Int(i64),
    Bytes(Vec<u8>),
}

/// Rows of one table: its name and columns, and how to make row `n`.
pub struct Rows {
    pub table: &'static str,
    pub columns: &'static [&'static str],
    pub make: Box<dyn Fn(u64) -> Vec<Value> + Send + Sync>,
}

#[derive(Clone)]
enum Pool {
    Pg(PgPool),
    Sqlite(SqlitePool),
}

macro_rules! bind_all {
    ($query:expr, $rows:expr) => {{
        let mut q = $query;
        for row in $rows {
            for v in row {
                q = match v {
                    Value::Text(t) => q.bind(t.clone()),
                    Value::Int(i) => q.bind(*i),
                    Value::Bytes(b) => q.bind(b.clone()),
                };
            }
        }
        q
    }};
}

impl Pool {
    async fn open(backend: Backend, url: &str) -> Pool {
        match backend {
            Backend::Postgres => {
                // As the hub connects over loopback: without TLS.
                let options: sqlx::postgres::PgConnectOptions =
                    url.parse().expect("floor: PostgreSQL URL");
                let options = options.ssl_mode(sqlx::postgres::PgSslMode::Disable);
                Pool::Pg(
                    PgPool::connect_with(options)
                        .await
                        .expect("floor: PostgreSQL"),
                )
            }
            Backend::Sqlite => {
                let options: SqliteConnectOptions = url.parse().expect("floor: SQLite URL");
                let options = options
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(10));
                let pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await
                    .expect("floor: SQLite");
                Pool::Sqlite(pool)
            }
        }
    }

    /// One transaction holding one multi-row INSERT of `rows`.
    async fn insert(&self, sql: &str, rows: &[Vec<Value>]) -> Result<(), sqlx::Error> {
        match self {
            Pool::Pg(pool) => {
                // One statement over arrays whatever the batch's size, as the hub's own
                // multi-row inserts on PostgreSQL.
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
                for column in 0..rows.first().map_or(0, Vec::len) {
                    query = match &rows[0][column] {
                        Value::Text(_) => query.bind(
                            rows.iter()
                                .map(|r| match &r[column] {
                                    Value::Text(t) => t.clone(),
                                    _ => unreachable!("one type a column"),
                                })
                                .collect::<Vec<String>>(),
                        ),
                        Value::Int(_) => query.bind(
                            rows.iter()
                                .map(|r| match &r[column] {
                                    Value::Int(i) => *i,
                                    _ => unreachable!("one type a column"),
                                })
                                .collect::<Vec<i64>>(),
                        ),
                        Value::Bytes(_) => query.bind(
                            rows.iter()
                                .map(|r| match &r[column] {
                                    Value::Bytes(b) => b.clone(),
                                    _ => unreachable!("one type a column"),
                                })
                                .collect::<Vec<Vec<u8>>>(),
                        ),
                    };
                }
                let mut tx = pool.begin().await?;
                query.execute(&mut *tx).await?;
                tx.commit().await
            }
            Pool::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                bind_all!(sqlx::query(sqlx::AssertSqlSafe(sql.to_string())), rows)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            }
        }
    }
}

/// `INSERT … SELECT * FROM UNNEST(…)` for PostgreSQL, typed by `sample`.
fn unnest_sql(rows: &Rows, sample: &[Value]) -> String {
    let arrays: Vec<String> = sample
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let t = match v {
                Value::Text(_) => "text",
                Value::Int(_) => "bigint",
                Value::Bytes(_) => "bytea",
            };
            format!("${}::{t}[]", i + 1)
        })
        .collect();
    format!(
        "INSERT INTO {} ({}) SELECT * FROM UNNEST({})",
        rows.table,
        rows.columns.join(", "),
        arrays.join(", ")
    )
}

fn insert_sql(rows: &Rows, n: usize) -> String {
    let per = rows.columns.len();
    let values: Vec<String> = (0..n)
        .map(|r| {
            let cells: Vec<String> = (0..per).map(|c| format!("${}", r * per + c + 1)).collect();
            format!("({})", cells.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO {} ({}) VALUES {}",
        rows.table,
        rows.columns.join(", "),
        values.join(", ")
    )
}

/// What the floor measured.
pub struct Floor {
    pub items: u64,
    pub elapsed: Duration,
    pub batches: u64,
}

impl Floor {
    pub fn rate(&self) -> f64 {
        self.items as f64 / self.elapsed.as_secs_f64()
    }

    /// Statements per item: BEGIN, the INSERT and COMMIT for each batch.
    pub fn statements_per_item(&self) -> f64 {
        3.0 * self.batches as f64 / self.items.max(1) as f64
    }

    pub fn line(&self, name: &str) -> String {
        format!(
            "  {name:<30} {:>8.0} rows/s  ({:.1} rows a batch, {:.3} statements a row)",
            self.rate(),
            self.items as f64 / self.batches.max(1) as f64,
            self.statements_per_item()
        )
    }
}

/// The hub's writer count on `backend` (as `intake.writers = 0` picks).
pub fn writers(backend: Backend) -> usize {
    match backend {
        Backend::Postgres => 2,
        Backend::Sqlite => 1,
    }
}

/// Runs `clients` clients for `duration` (or until `total` rows, if given) against the
/// database at `url`.
pub async fn run(
    backend: Backend,
    url: &str,
    clients: usize,
    duration: Duration,
    total: Option<u64>,
    rows: Rows,
) -> Floor {
    let pool = Pool::open(backend, url).await;
    let rows = Arc::new(rows);
    let batches = Arc::new(AtomicU64::new(0));
    let batcher = {
        let (rows, batches) = (rows.clone(), batches.clone());
        Batcher::start(writers(backend), 512, move |items: &[Vec<Value>]| {
            let (pool, rows, batches) = (pool.clone(), rows.clone(), batches.clone());
            let backend = backend;
            Box::pin(async move {
                let sql = match backend {
                    Backend::Postgres => unnest_sql(&rows, &items[0]),
                    Backend::Sqlite => insert_sql(&rows, items.len()),
                };
                pool.insert(&sql, items)
                    .await
                    .map_err(switchyard_store::StoreError::from)?;
                batches.fetch_add(1, Ordering::Relaxed);
                Ok::<_, switchyard_store::StoreError>(vec![(); items.len()])
            })
        })
    };
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (batcher, rows, next, done) =
            (batcher.clone(), rows.clone(), next.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if total.is_some_and(|t| n >= t) {
                    break;
                }
                batcher
                    .submit((rows.make)(n))
                    .await
                    .expect("floor: a batch failed");
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    Floor {
        items: done.load(Ordering::Relaxed),
        elapsed,
        batches: batches.load(Ordering::Relaxed),
    }
}

/// Message rows as acceptance stores them (`queued`), for `POST /v1/emails`; due only
/// in a day, so that the hub's sender leaves them alone while the floor is measured.
pub fn message_rows() -> Rows {
    Rows {
        table: "messages",
        columns: &[
            "id",
            "channel",
            "category",
            "status",
            "status_rank",
            "recipients",
            "subject",
            "content",
            "credits",
            "attempts",
            "next_attempt_at",
            "created_at",
            "updated_at",
        ],
        make: Box::new(|n| {
            let now = switchyard_core::time::now_ms();
            let content = format!(
                r#"{{"from":"shop@example.com","to":["user{n}@example.com"],"subject":"Order {n}","text":"Thanks for order {n}.","html":"<p>Thanks for order <b>{n}</b>.</p>"}}"#
            );
            vec![
                Value::Text(switchyard_core::new_id("msg")),
                Value::Text("email".into()),
                Value::Text("transactional".into()),
                Value::Text("queued".into()),
                Value::Int(1),
                Value::Text(format!(r#"["user{n}@example.com"]"#)),
                Value::Text(format!("Order {n}")),
                Value::Text(content),
                Value::Int(0),
                Value::Int(0),
                Value::Int(now + 86_400_000),
                Value::Int(now),
                Value::Int(now),
            ]
        }),
    }
}

/// Attempt rows as the dispatcher records them, for a delivery's outcome.
pub fn attempt_rows() -> Rows {
    Rows {
        table: "delivery_attempts",
        columns: &[
            "delivery_id",
            "attempt",
            "started_at",
            "duration_ms",
            "status_code",
            "response_body",
        ],
        make: Box::new(|_| {
            vec![
                Value::Text(switchyard_core::new_id("dlv")),
                Value::Int(1),
                Value::Int(switchyard_core::time::now_ms()),
                Value::Int(1),
                Value::Int(200),
                Value::Text("ok".into()),
            ]
        }),
    }
}
