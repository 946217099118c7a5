//! The durable job queue: types, the [`JobQueue`] capability every store implements,
//! retry policy, and the [`Worker`] that runs handlers.
//!
//! Delivery is at-least-once. A claimed job carries a lease; a worker that dies stops
//! renewing it, the lease expires, and the job becomes claimable again. Each claim
//! increments `attempts`, which doubles as a fencing token: a worker whose lease was
//! taken over can no longer complete or fail the job.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng as _;
use serde::Serialize;
use switchyard_core::metrics::Metrics;
use switchyard_core::time::now_ms;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

pub(crate) mod sql;

use crate::batch::Batcher;
use crate::{Result, Store};

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub payload: String,
    pub run_at: i64,
    pub max_attempts: i32,
}

impl NewJob {
    /// A job due now with the default attempt budget.
    pub fn now(kind: impl Into<String>, payload: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            payload: payload.into(),
            run_at: now_ms(),
            max_attempts: 8,
        }
    }
}

/// A claimed job. `attempts` counts this run (the first run has `attempts == 1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub attempts: i32,
    pub max_attempts: i32,
}

/// Where a failed job went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFate {
    /// Scheduled to run again.
    Retrying,
    /// Attempts spent (or the failure was permanent): parked as `dead`.
    Dead,
    /// The lease had already passed to another worker; nothing was changed.
    LostLease,
}

/// Counts of jobs by kind and state (`ready`, `running`, `dead`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    pub kind: String,
    pub state: String,
    pub count: i64,
}

/// A job parked as dead, for inspection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadJob {
    pub id: i64,
    pub kind: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn enqueue(&self, job: &NewJob) -> Result<i64>;
    /// Leases up to `limit` due jobs until `now + lease`, oldest due first. Jobs leased by
    /// another worker are skipped, never waited on.
    async fn claim(&self, limit: u32, lease: Duration, now: i64) -> Result<Vec<Job>>;
    /// Removes finished jobs in one transaction (one commit for the whole batch). For
    /// each job, `false` if its lease was lost.
    async fn complete_many(&self, jobs: &[Job]) -> Result<Vec<bool>>;
    /// Removes a finished job. `false` if the lease was lost.
    async fn complete(&self, job: &Job) -> Result<bool> {
        Ok(self
            .complete_many(std::slice::from_ref(job))
            .await?
            .first()
            .copied()
            .unwrap_or(false))
    }
    /// Records a failure: the job runs again at `retry_at`, or becomes `dead` when its
    /// attempts are spent or `permanent` is set.
    async fn fail(&self, job: &Job, error: &str, retry_at: i64, permanent: bool)
    -> Result<JobFate>;
    /// Renews the lease of a running job. `false` if the lease was lost.
    async fn extend_lease(&self, job: &Job, until: i64) -> Result<bool>;
    /// Makes jobs whose lease expired before `now` claimable again (or dead, when their
    /// attempts are spent). Returns how many were reclaimed.
    async fn reclaim_expired(&self, now: i64) -> Result<u64>;
    /// The earliest `run_at` among ready jobs.
    async fn next_due(&self) -> Result<Option<i64>>;
    async fn queue_depth(&self) -> Result<Vec<QueueDepth>>;
    async fn dead_jobs(&self, limit: u32) -> Result<Vec<DeadJob>>;
    /// Woken whenever work of this kind is added — a job enqueued, an event received, a
    /// delivery or a message due — on this node (and, on PostgreSQL, on any node).
    fn work_notifier(&self, work: crate::Work) -> Arc<Notify>;
}

/// How a handler's run ended.
#[derive(Debug)]
pub enum JobError {
    /// Try again later: after `after` if given, else per the backoff policy.
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// Do not try again.
    Permanent(String),
}

impl JobError {
    pub fn retry(error: impl std::fmt::Display) -> Self {
        JobError::Retry {
            error: error.to_string(),
            after: None,
        }
    }
}

/// Runs one kind of job.
#[async_trait]
pub trait JobHandler: Send + Sync {
    async fn run(&self, job: &Job) -> Result<(), JobError>;
}

/// Handlers by job kind.
#[derive(Default, Clone)]
pub struct Handlers(HashMap<String, Arc<dyn JobHandler>>);

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Handlers {
    pub fn register(&mut self, kind: impl Into<String>, handler: Arc<dyn JobHandler>) -> &mut Self {
        self.0.insert(kind.into(), handler);
        self
    }
}

/// Worker settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Jobs run at once by this process.
    pub concurrency: usize,
    /// How long a claim holds a job before another worker may take it over. Running
    /// jobs renew it every third of this.
    pub lease: Duration,
    /// Safety-net poll when no wake-up arrives.
    pub poll_interval: Duration,
    /// First retry delay; doubles per attempt with jitter, up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 32,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(3600),
        }
    }
}

/// Exponential backoff with jitter: a delay in `[d/2, d]` where
/// `d = min(base · 2^(attempts-1), max)`.
pub fn backoff(config: &WorkerConfig, attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 32) as u32 - 1;
    let full = config
        .backoff_base
        .saturating_mul(2u32.saturating_pow(exp))
        .min(config.backoff_max);
    let half = full / 2;
    half + full
        .saturating_sub(half)
        .mul_f64(rand::rng().random::<f64>())
}

/// How long a busy worker waits for more free slots before claiming.
const CLAIM_LINGER: Duration = Duration::from_millis(2);

/// Most completions recorded in one transaction.
const COMPLETION_BATCH: usize = 512;

/// Runs jobs from a store with registered handlers until shut down.
#[derive(Debug, Clone)]
pub struct Worker {
    store: Arc<dyn Store>,
    handlers: Arc<Handlers>,
    config: WorkerConfig,
    metrics: Arc<Metrics>,
    /// Inside [`Worker::run`]: completions are recorded in batches (group commit).
    completions: Option<Batcher<Job, bool>>,
}

impl Worker {
    pub fn new(
        store: Arc<dyn Store>,
        handlers: Handlers,
        config: WorkerConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            handlers: Arc::new(handlers),
            config,
            metrics,
            completions: None,
        }
    }

    async fn complete(&self, job: &Job) -> Result<bool, String> {
        match &self.completions {
            Some(completions) => completions
                .submit(job.clone())
                .await
                .map_err(|e| e.to_string()),
            None => self.store.complete(job).await.map_err(|e| e.to_string()),
        }
    }

    /// Claims and runs every job due now, once, and waits for them. For tests and tools
    /// that want to control when jobs run. Returns how many ran.
    pub async fn run_due(&self) -> Result<usize> {
        let jobs = self
            .store
            .claim(self.config.concurrency as u32, self.config.lease, now_ms())
            .await?;
        let n = jobs.len();
        let mut set = JoinSet::new();
        for job in jobs {
            let this = self.clone();
            set.spawn(async move { this.run_one(job).await });
        }
        while set.join_next().await.is_some() {}
        Ok(n)
    }

    /// The worker loop. Returns after `shutdown` turns true and every running job has
    /// finished (their outcome recorded).
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        // Completions of running jobs are recorded as many per transaction as are
        // waiting; a job's run ends only once its completion is committed.
        let store = self.store.clone();
        self.completions = Some(Batcher::start(
            1,
            COMPLETION_BATCH,
            move |jobs: &[Job]| {
                let store = store.clone();
                Box::pin(async move { store.complete_many(jobs).await })
            },
        ));
        let permits = Arc::new(Semaphore::new(self.config.concurrency));
        let notify = self.store.work_notifier(crate::Work::Jobs);
        let mut last_reclaim = 0i64;
        let reclaim_every = (self.config.lease.as_millis() as i64 / 4).max(100);
        let mut running = JoinSet::new();
        loop {
            if *shutdown.borrow() {
                break;
            }
            while running.try_join_next().is_some() {}
            // Wait for a free slot before claiming, so claimed jobs never wait on us.
            if permits.available_permits() == 0 {
                tokio::select! {
                    _ = running.join_next() => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            // With most slots busy, linger briefly so that one claim fetches several
            // jobs instead of one claim (and one commit) per finished job.
            if permits.available_permits() < self.config.concurrency / 2 && !running.is_empty() {
                let linger = tokio::time::sleep(CLAIM_LINGER);
                tokio::pin!(linger);
                while permits.available_permits() < self.config.concurrency / 2 {
                    tokio::select! {
                        _ = &mut linger => break,
                        joined = running.join_next() => if joined.is_none() { break },
                        _ = shutdown.changed() => break,
                    }
                }
            }
            let free = permits.available_permits();
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            let now = now_ms();
            if now - last_reclaim >= reclaim_every {
                last_reclaim = now;
                match self.store.reclaim_expired(now).await {
                    Ok(n) if n > 0 => {
                        tracing::warn!(jobs = n, "reclaimed jobs whose lease expired")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "reclaiming expired leases failed"),
                }
            }
            let jobs = match self.store.claim(free as u32, self.config.lease, now).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::error!(error = %e, "claiming jobs failed");
                    tokio::select! {
                        _ = tokio::time::sleep(self.config.poll_interval) => {}
                        _ = shutdown.changed() => {}
                    }
                    continue;
                }
            };
            if jobs.is_empty() {
                let wait = match self.store.next_due().await {
                    Ok(Some(due)) => Duration::from_millis((due - now_ms()).max(1) as u64)
                        .min(self.config.poll_interval),
                    _ => self.config.poll_interval,
                };
                tokio::select! {
                    _ = &mut notified => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            for job in jobs {
                let permit = permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore is never closed");
                let this = self.clone();
                running.spawn(async move {
                    this.run_one(job).await;
                    drop(permit);
                });
            }
        }
        while running.join_next().await.is_some() {}
    }

    async fn run_one(&self, job: Job) {
        let started = std::time::Instant::now();
        let outcome = match self.handlers.0.get(&job.kind) {
            None => Err(JobError::Permanent(format!(
                "no handler for job kind {:?}",
                job.kind
            ))),
            Some(handler) => self.run_with_heartbeat(handler.clone(), &job).await,
        };
        self.metrics
            .job_duration
            .observe(&[&job.kind], started.elapsed().as_secs_f64());
        let label = match outcome {
            Ok(()) => match self.complete(&job).await {
                Ok(true) => "completed",
                Ok(false) => "lost_lease",
                Err(e) => {
                    // The lease will expire and the job run again: at-least-once.
                    tracing::error!(job.id, job.kind, error = %e, "recording job completion failed");
                    "store_error"
                }
            },
            Err(err) => {
                let (message, retry_at, permanent) = match err {
                    JobError::Retry { error, after } => {
                        let delay = after.unwrap_or_else(|| backoff(&self.config, job.attempts));
                        (error, now_ms() + delay.as_millis() as i64, false)
                    }
                    JobError::Permanent(error) => (error, now_ms(), true),
                };
                match self.store.fail(&job, &message, retry_at, permanent).await {
                    Ok(JobFate::Retrying) => {
                        tracing::warn!(job.id, job.kind, attempt = job.attempts, error = %message, "job failed; will retry");
                        "retried"
                    }
                    Ok(JobFate::Dead) => {
                        tracing::error!(job.id, job.kind, attempt = job.attempts, error = %message, "job is dead");
                        "dead"
                    }
                    Ok(JobFate::LostLease) => "lost_lease",
                    Err(e) => {
                        tracing::error!(job.id, job.kind, error = %e, "recording job failure failed");
                        "store_error"
                    }
                }
            }
        };
        self.metrics.jobs.inc(&[&job.kind, label]);
    }

    /// Runs the handler in its own task (a panic becomes a retryable failure) while
    /// renewing the lease.
    async fn run_with_heartbeat(
        &self,
        handler: Arc<dyn JobHandler>,
        job: &Job,
    ) -> Result<(), JobError> {
        let owned = job.clone();
        let mut task = tokio::spawn(async move { handler.run(&owned).await });
        let renew_every = self.config.lease / 3;
        loop {
            tokio::select! {
                joined = &mut task => {
                    return joined.unwrap_or_else(|e| Err(JobError::retry(format!("handler panicked: {e}"))));
                }
                _ = tokio::time::sleep(renew_every) => {
                    let until = now_ms() + self.config.lease.as_millis() as i64;
                    match self.store.extend_lease(job, until).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(job.id, job.kind, "lease lost while running"),
                        Err(e) => tracing::warn!(job.id, error = %e, "renewing lease failed"),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let c = WorkerConfig {
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(60),
            ..WorkerConfig::default()
        };
        for _ in 0..50 {
            let first = backoff(&c, 1);
            assert!(
                first >= Duration::from_secs(1) && first <= Duration::from_secs(2),
                "{first:?}"
            );
            let third = backoff(&c, 3);
            assert!(
                third >= Duration::from_secs(4) && third <= Duration::from_secs(8),
                "{third:?}"
            );
            let late = backoff(&c, 30);
            assert!(
                late >= Duration::from_secs(30) && late <= Duration::from_secs(60),
                "{late:?}"
            );
        }
    }
}
