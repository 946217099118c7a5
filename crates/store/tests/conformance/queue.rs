//! Conformance of the durable job queue: claims in due order with fenced completion,
//! no job run twice at once, leases reclaimed from dead workers, backoff and dead
//! letters, prompt wake-ups.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use switchyard_core::metrics::Metrics;
use switchyard_core::time::now_ms;
use switchyard_store::queue::{
    Handlers, Job, JobError, JobFate, JobHandler, NewJob, Worker, WorkerConfig,
};
use switchyard_store::testing::TestDb;
use switchyard_store::{Store, conformance};
use tokio::sync::watch;

conformance!(
    queue_claims_in_due_order_and_fences_completion,
    queue_never_runs_one_job_twice_at_once,
    queue_reclaims_jobs_of_a_dead_worker,
    queue_backs_off_then_dead_letters,
    queue_wakes_workers_promptly,
);

async fn queue_claims_in_due_order_and_fences_completion(db: &TestDb) {
    let store = db.store().await;
    let now = now_ms();
    let later = store
        .enqueue(&NewJob {
            run_at: now + 60_000,
            ..NewJob::now("test", "later")
        })
        .await
        .unwrap();
    let first = store
        .enqueue(&NewJob {
            run_at: now - 10,
            ..NewJob::now("test", "a")
        })
        .await
        .unwrap();
    let second = store.enqueue(&NewJob::now("test", "b")).await.unwrap();

    let lease = Duration::from_secs(30);
    let claimed = store.claim(10, lease, now_ms()).await.unwrap();
    assert_eq!(
        claimed.iter().map(|j| j.id).collect::<Vec<_>>(),
        [first, second]
    );
    assert_eq!(claimed[0].payload, "a");
    assert_eq!(claimed[0].attempts, 1);
    assert!(
        store.claim(10, lease, now_ms()).await.unwrap().is_empty(),
        "leased jobs are not claimable"
    );
    assert_eq!(store.next_due().await.unwrap(), Some(now + 60_000));

    assert!(store.complete(&claimed[0]).await.unwrap());
    assert!(
        !store.complete(&claimed[0]).await.unwrap(),
        "completing twice is a no-op"
    );
    let stale = Job {
        attempts: 7,
        ..claimed[1].clone()
    };
    assert!(
        !store.complete(&stale).await.unwrap(),
        "a wrong fencing token cannot complete"
    );
    assert_eq!(
        store.fail(&stale, "x", now, false).await.unwrap(),
        JobFate::LostLease
    );

    let depth = store.queue_depth().await.unwrap();
    let count = |state: &str| {
        depth
            .iter()
            .find(|d| d.state == state)
            .map_or(0, |d| d.count)
    };
    assert_eq!((count("ready"), count("running")), (1, 1));

    // The scheduled job becomes claimable once due.
    let due = store.claim(10, lease, now + 60_001).await.unwrap();
    assert_eq!(due.iter().map(|j| j.id).collect::<Vec<_>>(), [later]);
}

/// Records which jobs run, failing the test if one job ever runs in two places at once.
#[derive(Default)]
struct Recorder {
    running: Mutex<HashSet<String>>,
    runs: Mutex<Vec<String>>,
    overlaps: AtomicUsize,
}

#[async_trait]
impl JobHandler for Recorder {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        if !self.running.lock().unwrap().insert(job.payload.clone()) {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        self.running.lock().unwrap().remove(&job.payload);
        self.runs.lock().unwrap().push(job.payload.clone());
        Ok(())
    }
}

fn fast_config() -> WorkerConfig {
    WorkerConfig {
        concurrency: 8,
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(200),
        backoff_base: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
    }
}

async fn wait_until(what: &str, timeout: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn queue_never_runs_one_job_twice_at_once(db: &TestDb) {
    let recorder = Arc::new(Recorder::default());
    let (stop, stopped) = watch::channel(false);
    let mut workers = Vec::new();
    for _ in 0..2 {
        // Separate connections stand for separate hub nodes.
        let store = db.store().await;
        let mut handlers = Handlers::default();
        handlers.register("record", recorder.clone());
        let worker = Worker::new(store, handlers, fast_config(), Arc::new(Metrics::default()));
        workers.push(tokio::spawn(worker.run(stopped.clone())));
    }
    let producer = db.store().await;
    for i in 0..300 {
        producer
            .enqueue(&NewJob::now("record", format!("job-{i}")))
            .await
            .unwrap();
    }
    wait_until("all jobs to run", Duration::from_secs(60), async || {
        recorder.runs.lock().unwrap().len() >= 300
    })
    .await;
    stop.send(true).unwrap();
    for w in workers {
        w.await.unwrap();
    }
    let runs = recorder.runs.lock().unwrap().clone();
    let distinct: HashSet<_> = runs.iter().collect();
    assert_eq!(runs.len(), 300, "every job ran exactly once");
    assert_eq!(distinct.len(), 300);
    assert_eq!(recorder.overlaps.load(Ordering::SeqCst), 0);
    assert!(
        producer.queue_depth().await.unwrap().is_empty(),
        "completed jobs leave the queue"
    );
}

async fn queue_reclaims_jobs_of_a_dead_worker(db: &TestDb) {
    let store = db.store().await;
    let id = store
        .enqueue(&NewJob::now("record", "orphan"))
        .await
        .unwrap();
    // A worker claims with a short lease, then "dies" (never completes or renews).
    let claimed_at = now_ms();
    let dead_worker = store
        .claim(1, Duration::from_millis(300), claimed_at)
        .await
        .unwrap();
    assert_eq!(dead_worker[0].id, id);
    assert_eq!(
        store.reclaim_expired(claimed_at + 299).await.unwrap(),
        0,
        "lease still valid"
    );

    let recorder = Arc::new(Recorder::default());
    let mut handlers = Handlers::default();
    handlers.register("record", recorder.clone());
    // A short lease makes the surviving worker look for expired leases often.
    let config = WorkerConfig {
        lease: Duration::from_secs(1),
        ..fast_config()
    };
    let worker = Worker::new(
        db.store().await,
        handlers,
        config,
        Arc::new(Metrics::default()),
    );
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));
    wait_until(
        "the orphaned job to run again",
        Duration::from_secs(20),
        async || !recorder.runs.lock().unwrap().is_empty(),
    )
    .await;
    stop.send(true).unwrap();
    running.await.unwrap();
    assert_eq!(*recorder.runs.lock().unwrap(), ["orphan"]);
    assert!(
        !store.complete(&dead_worker[0]).await.unwrap(),
        "the dead worker's claim is fenced off"
    );
    assert!(store.queue_depth().await.unwrap().is_empty());
}

struct AlwaysFails(AtomicUsize);

#[async_trait]
impl JobHandler for AlwaysFails {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        if job.payload == "permanent" {
            return Err(JobError::Permanent("rejected for good".into()));
        }
        Err(JobError::retry(format!("boom on attempt {}", job.attempts)))
    }
}

async fn queue_backs_off_then_dead_letters(db: &TestDb) {
    let store = db.store().await;
    let handler = Arc::new(AlwaysFails(AtomicUsize::new(0)));
    let mut handlers = Handlers::default();
    handlers.register("flaky", handler.clone());
    let metrics = Arc::new(Metrics::default());
    // Backoff of 0.5–2 s: long enough to observe on a loaded machine, short enough to
    // wait out.
    let config = WorkerConfig {
        backoff_base: Duration::from_secs(1),
        backoff_max: Duration::from_secs(2),
        ..fast_config()
    };
    let worker = Worker::new(store.clone(), handlers, config, metrics.clone());
    let retried = store
        .enqueue(&NewJob {
            max_attempts: 3,
            ..NewJob::now("flaky", "retry")
        })
        .await
        .unwrap();
    let permanent = store
        .enqueue(&NewJob::now("flaky", "permanent"))
        .await
        .unwrap();

    // First round: both run once; the permanent failure is dead at once, the other is
    // scheduled in the future (backoff), so an immediate second round finds nothing.
    let before = now_ms();
    assert_eq!(worker.run_due().await.unwrap(), 2);
    assert_eq!(
        worker.run_due().await.unwrap(),
        0,
        "backoff delays the retry"
    );
    let due = store.next_due().await.unwrap().expect("retry scheduled");
    assert!(
        due >= before + 500,
        "retry waits at least half the base backoff"
    );

    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(worker.clone().run(stopped));
    wait_until("the job to be dead", Duration::from_secs(20), async || {
        store.dead_jobs(10).await.unwrap().len() == 2
    })
    .await;
    stop.send(true).unwrap();
    running.await.unwrap();

    let dead = store.dead_jobs(10).await.unwrap();
    let by_id = |id| dead.iter().find(|d| d.id == id).unwrap();
    assert_eq!(by_id(retried).attempts, 3);
    assert_eq!(
        by_id(retried).last_error.as_deref(),
        Some("boom on attempt 3")
    );
    assert_eq!(by_id(permanent).attempts, 1);
    assert_eq!(handler.0.load(Ordering::SeqCst), 4);
    assert_eq!(metrics.jobs.get(&["flaky", "retried"]), 2);
    assert_eq!(metrics.jobs.get(&["flaky", "dead"]), 2);
    assert!(
        store
            .claim(10, Duration::from_secs(1), now_ms() + 10_000_000)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn queue_wakes_workers_promptly(db: &TestDb) {
    // The worker's safety-net poll is far longer than the wait below, so only a wake-up
    // (in-process on SQLite, NOTIFY from another connection on PostgreSQL) can pass.
    let recorder = Arc::new(Recorder::default());
    let mut handlers = Handlers::default();
    handlers.register("record", recorder.clone());
    let config = WorkerConfig {
        poll_interval: Duration::from_secs(120),
        ..fast_config()
    };
    let worker_store = db.store().await;
    let producer: Arc<dyn Store> = match db.backend {
        switchyard_store::Backend::Sqlite => worker_store.clone(),
        switchyard_store::Backend::Postgres => db.store().await,
    };
    let worker = Worker::new(worker_store, handlers, config, Arc::new(Metrics::default()));
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));
    tokio::time::sleep(Duration::from_millis(500)).await; // worker is idle now
    producer
        .enqueue(&NewJob::now("record", "wake"))
        .await
        .unwrap();
    wait_until("the worker to wake", Duration::from_secs(10), async || {
        !recorder.runs.lock().unwrap().is_empty()
    })
    .await;
    stop.send(true).unwrap();
    running.await.unwrap();
}
