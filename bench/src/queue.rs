//! Queue throughput: N jobs enqueued by concurrent producers (one transaction each, as
//! an API request would) and run to completion by the worker with a no-op handler.
//!
//! Baseline: the least durable work any queue must do per job on the same database —
//! one committed INSERT to create it and one committed DELETE to retire it — issued
//! with the same concurrency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clap::Args as ClapArgs;
use switchyard_core::metrics::Metrics;
use switchyard_store::Backend;
use switchyard_store::queue::{Handlers, Job, JobError, JobHandler, NewJob, Worker, WorkerConfig};
use switchyard_store::testing::TestDb;
use tokio::sync::watch;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Jobs per run.
    #[arg(long, default_value_t = 20_000)]
    jobs: usize,
    /// Concurrent producers (and worker concurrency).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// sqlite, postgres or both.
    #[arg(long, default_value = "both")]
    backend: String,
}

struct Noop;

#[async_trait]
impl JobHandler for Noop {
    async fn run(&self, _job: &Job) -> Result<(), JobError> {
        Ok(())
    }
}

pub async fn run(args: Args) {
    let backends: Vec<Backend> = match args.backend.as_str() {
        "sqlite" => vec![Backend::Sqlite],
        "postgres" => vec![Backend::Postgres],
        _ => vec![Backend::Sqlite, Backend::Postgres],
    };
    println!(
        "queue benchmark: {} jobs, {} producers, worker concurrency {}",
        args.jobs, args.concurrency, args.concurrency
    );
    for backend in backends {
        let baseline = baseline(backend, &args).await;
        let (enqueue, drain, total) = queue(backend, &args).await;
        let n = args.jobs as f64;
        println!("{backend:?}:");
        println!(
            "  baseline insert+delete   {:>9.0} pairs/s",
            n / baseline.as_secs_f64()
        );
        println!(
            "  enqueue                  {:>9.0} jobs/s",
            n / enqueue.as_secs_f64()
        );
        println!(
            "  claim+run+complete       {:>9.0} jobs/s",
            n / drain.as_secs_f64()
        );
        println!(
            "  enqueued+completed       {:>9.0} jobs/s   ({:.2}x baseline)",
            n / total.as_secs_f64(),
            baseline.as_secs_f64() / total.as_secs_f64()
        );
    }
}

async fn produce(store: Arc<dyn switchyard_store::Store>, args: &Args) {
    let per = args.jobs / args.concurrency;
    let mut tasks = Vec::new();
    for p in 0..args.concurrency {
        let store = store.clone();
        let count = if p == 0 {
            per + args.jobs % args.concurrency
        } else {
            per
        };
        tasks.push(tokio::spawn(async move {
            for i in 0..count {
                store
                    .enqueue(&NewJob::now("noop", format!("{p}-{i}")))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Returns (enqueue time, drain time, total).
async fn queue(backend: Backend, args: &Args) -> (Duration, Duration, Duration) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let started = Instant::now();
    produce(store.clone(), args).await;
    let enqueued = started.elapsed();

    let mut handlers = Handlers::default();
    handlers.register("noop", Arc::new(Noop));
    let config = WorkerConfig {
        concurrency: args.concurrency,
        ..WorkerConfig::default()
    };
    let worker = Worker::new(
        store.clone(),
        handlers,
        config,
        Arc::new(Metrics::default()),
    );
    let (stop, stopped) = watch::channel(false);
    let drain_started = Instant::now();
    let running = tokio::spawn(worker.run(stopped));
    loop {
        if store.queue_depth().await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drained = drain_started.elapsed();
    stop.send(true).unwrap();
    running.await.unwrap();
    store.close().await;
    db.cleanup().await;
    (enqueued, drained, enqueued + drained)
}

/// `concurrency` tasks each committing `per` INSERT + DELETE pairs on `pool`.
macro_rules! insert_delete_pairs {
    ($pool:expr, $concurrency:expr, $per:expr) => {{
        let mut tasks = Vec::new();
        for p in 0..$concurrency {
            let pool = $pool.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..$per {
                    let id: i64 = sqlx::query_scalar("INSERT INTO t (v) VALUES ($1) RETURNING id")
                        .bind(format!("{p}-{i}"))
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                    sqlx::query("DELETE FROM t WHERE id = $1")
                        .bind(id)
                        .execute(&pool)
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }};
}

async fn baseline(backend: Backend, args: &Args) -> Duration {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    use std::str::FromStr as _;

    let db = TestDb::new(backend).await;
    let per = args.jobs / args.concurrency;
    let elapsed = match backend {
        Backend::Sqlite => {
            // The same settings as the store: WAL, synchronous FULL, one writer.
            let opts = SqliteConnectOptions::from_str(&db.url)
                .unwrap()
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full);
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(opts)
                .await
                .unwrap();
            sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
                .execute(&pool)
                .await
                .unwrap();
            let started = Instant::now();
            insert_delete_pairs!(pool, args.concurrency, per);
            let elapsed = started.elapsed();
            pool.close().await;
            elapsed
        }
        Backend::Postgres => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(16)
                .connect(&db.url)
                .await
                .unwrap();
            sqlx::query("CREATE TABLE t (id BIGSERIAL PRIMARY KEY, v TEXT)")
                .execute(&pool)
                .await
                .unwrap();
            let started = Instant::now();
            insert_delete_pairs!(pool, args.concurrency, per);
            let elapsed = started.elapsed();
            pool.close().await;
            elapsed
        }
    };
    db.cleanup().await;
    scale(elapsed, args, per)
}

/// Scales to the full job count when it does not divide evenly among producers.
fn scale(elapsed: Duration, args: &Args, per: usize) -> Duration {
    elapsed.mul_f64(args.jobs as f64 / (per * args.concurrency) as f64)
}
