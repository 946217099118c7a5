//! The store conformance suite: one set of behaviours every `Store` implementation must
//! show, run against SQLite and PostgreSQL.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use switchyard_core::apikey::{self, Scope};
use switchyard_core::metrics::Metrics;
use switchyard_core::time::now_ms;
use switchyard_core::vault::{Keyring, MasterKey, VaultError};
use switchyard_store::queue::{
    Handlers, Job, JobError, JobFate, JobHandler, NewJob, Worker, WorkerConfig,
};
use switchyard_store::testing::TestDb;
use switchyard_store::vault::{SecretError, Vault};
use switchyard_store::{NewKey, Page, Store, StoreError, conformance};
use tokio::sync::watch;

#[path = "conformance/credits.rs"]
mod credits;
#[path = "conformance/events.rs"]
mod events;
#[path = "conformance/message_log.rs"]
mod message_log;
#[path = "conformance/messages.rs"]
mod messages;
#[path = "conformance/templates.rs"]
mod templates;

conformance!(
    migrations_are_recorded_and_idempotent,
    keys_roundtrip,
    bootstrap_key_is_inserted_once,
    key_rotation_and_revocation,
    secrets_roundtrip_and_compare_and_swap,
    vault_reseals_under_a_new_master_key,
    queue_claims_in_due_order_and_fences_completion,
    queue_never_runs_one_job_twice_at_once,
    queue_reclaims_jobs_of_a_dead_worker,
    queue_backs_off_then_dead_letters,
    queue_wakes_workers_promptly,
);

fn new_key(name: &str, scopes: &[Scope]) -> (NewKey, String) {
    let g = apikey::generate();
    let key = NewKey {
        id: switchyard_core::new_id("key"),
        name: name.into(),
        digest: g.digest,
        hint: g.hint.clone(),
        scopes: scopes.to_vec(),
        created_at: now_ms(),
        expires_at: None,
        rotated_from: None,
    };
    (key, g.raw.expose().clone())
}

async fn migrations_are_recorded_and_idempotent(db: &TestDb) {
    let store = db.store().await;
    let status = store.migration_status().await.unwrap();
    assert!(!status.is_empty());
    assert!(status.iter().all(|m| m.applied_at.is_some()), "{status:?}");
    let again = store.migrate().await.unwrap();
    assert_eq!(status, again, "a second migrate changes nothing");
    store.ping().await.unwrap();
}

async fn keys_roundtrip(db: &TestDb) {
    let store = db.store().await;
    let (key, raw) = new_key("ci", &[Scope::Events, Scope::Read]);
    store.insert_key(&key).await.unwrap();
    assert!(matches!(
        store.insert_key(&key).await,
        Err(StoreError::Conflict(_))
    ));

    let found = store
        .find_key_by_digest(&apikey::digest(&raw))
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found.key.id, key.id);
    assert_eq!(found.key.scopes, vec![Scope::Read, Scope::Events]);
    assert!(apikey::digests_match(&found.digest, &key.digest));
    assert!(
        store
            .find_key_by_digest(&apikey::digest("sk_other"))
            .await
            .unwrap()
            .is_none()
    );

    let mut ids = vec![key.id.clone()];
    for i in 0..4 {
        let (k, _) = new_key(&format!("k{i}"), &[Scope::Admin]);
        store.insert_key(&k).await.unwrap();
        ids.push(k.id);
    }
    ids.reverse(); // newest first
    let first = store
        .list_keys(&Page {
            limit: 3,
            cursor: None,
        })
        .await
        .unwrap();
    let first_ids: Vec<_> = first.iter().map(|k| k.id.clone()).collect();
    assert_eq!(first_ids, ids[..3]);
    let rest = store
        .list_keys(&Page {
            limit: 3,
            cursor: Some(first_ids[2].clone()),
        })
        .await
        .unwrap();
    let rest_ids: Vec<_> = rest.iter().map(|k| k.id.clone()).collect();
    assert_eq!(rest_ids, ids[3..]);

    store.touch_key(&key.id, 1234).await.unwrap();
    assert_eq!(
        store.get_key(&key.id).await.unwrap().unwrap().last_used_at,
        Some(1234)
    );
    assert!(store.get_key("key_missing").await.unwrap().is_none());
}

async fn bootstrap_key_is_inserted_once(db: &TestDb) {
    // Several "nodes" (separate connections) race to bootstrap an empty store.
    let mut tasks = Vec::new();
    for i in 0..6 {
        let store = db.store().await;
        tasks.push(tokio::spawn(async move {
            let (key, _) = new_key(&format!("bootstrap-{i}"), &[Scope::Admin]);
            store.insert_first_key(&key).await.unwrap()
        }));
    }
    let mut inserted = 0;
    for t in tasks {
        inserted += usize::from(t.await.unwrap());
    }
    assert_eq!(inserted, 1);
    let store = db.store().await;
    assert_eq!(
        store
            .list_keys(&Page {
                limit: 10,
                cursor: None
            })
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn key_rotation_and_revocation(db: &TestDb) {
    let store = db.store().await;
    let (old, _) = new_key("deploy", &[Scope::Keys]);
    store.insert_key(&old).await.unwrap();
    let (mut replacement, _) = new_key("deploy", &[Scope::Keys]);
    replacement.rotated_from = Some(old.id.clone());
    let grace_end = now_ms() + 86_400_000;
    let rotated = store
        .rotate_key(&old.id, &replacement, grace_end)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.expires_at, Some(grace_end));
    assert!(rotated.is_active(now_ms()));
    assert!(!rotated.is_active(grace_end));
    let new = store.get_key(&replacement.id).await.unwrap().unwrap();
    assert_eq!(new.rotated_from.as_deref(), Some(old.id.as_str()));
    assert!(new.is_active(grace_end + 1));

    // A second rotation with a longer grace never extends the old key's life.
    let (again, _) = new_key("deploy", &[Scope::Keys]);
    let r2 = store
        .rotate_key(&old.id, &again, grace_end + 1_000_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r2.expires_at, Some(grace_end));

    let revoked = store.revoke_key(&new.id, 42).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(42));
    assert!(!revoked.is_active(0));
    // Idempotent: the first revocation time stays.
    assert_eq!(
        store
            .revoke_key(&new.id, 99)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(42)
    );
    assert!(store.revoke_key("key_missing", 1).await.unwrap().is_none());
    // A revoked key cannot be rotated.
    let (third, _) = new_key("deploy", &[Scope::Keys]);
    assert!(
        store
            .rotate_key(&new.id, &third, grace_end)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store.get_key(&third.id).await.unwrap().is_none(),
        "nothing inserted"
    );
}

async fn secrets_roundtrip_and_compare_and_swap(db: &TestDb) {
    let store = db.store().await;
    let ring = Keyring::new(MasterKey::generate(), vec![]);
    let a = ring.seal("sec_a", b"one");
    store.put_secret("sec_a", &a, 1).await.unwrap();
    assert_eq!(store.get_secret("sec_a").await.unwrap(), Some(a.clone()));
    let b = ring.seal("sec_a", b"two");
    store.put_secret("sec_a", &b, 2).await.unwrap();
    assert_eq!(store.get_secret("sec_a").await.unwrap(), Some(b.clone()));

    // Compare-and-swap: replacing from a stale value does nothing.
    let c = ring.seal("sec_a", b"three");
    assert!(!store.replace_secret("sec_a", &a, &c, 3).await.unwrap());
    assert!(store.replace_secret("sec_a", &b, &c, 3).await.unwrap());
    assert_eq!(store.get_secret("sec_a").await.unwrap(), Some(c));

    let other = Keyring::new(MasterKey::generate(), vec![]);
    store
        .put_secret("sec_b", &other.seal("sec_b", b"x"), 4)
        .await
        .unwrap();
    let stale = store
        .secrets_not_under(ring.current().id(), 10)
        .await
        .unwrap();
    assert_eq!(
        stale.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        ["sec_b"]
    );

    assert!(store.delete_secret("sec_a").await.unwrap());
    assert!(!store.delete_secret("sec_a").await.unwrap());
    assert_eq!(store.get_secret("sec_a").await.unwrap(), None);
}

async fn vault_reseals_under_a_new_master_key(db: &TestDb) {
    let store = db.store().await;
    let old = MasterKey::generate();
    let vault = Vault::new(store.clone(), Keyring::new(old.clone(), vec![]), None);
    for i in 0..300 {
        vault
            .put(&format!("sec_{i:04}"), format!("value {i}").as_bytes())
            .await
            .unwrap();
    }
    let new = MasterKey::generate();
    let rotated = Vault::new(store.clone(), Keyring::new(new.clone(), vec![old]), None);
    // Readers with the new ring read old values before the re-seal...
    assert_eq!(
        rotated.get("sec_0007").await.unwrap().unwrap().expose(),
        b"value 7"
    );
    assert_eq!(rotated.reseal_all().await.unwrap(), 300);
    assert!(
        store
            .secrets_not_under(new.id(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // ...and after it; a vault holding only the new key reads everything.
    let only_new = Vault::new(store.clone(), Keyring::new(new, vec![]), None);
    assert_eq!(
        only_new.get("sec_0299").await.unwrap().unwrap().expose(),
        b"value 299"
    );
    assert_eq!(rotated.reseal_all().await.unwrap(), 0);

    // A tampered row is an error, not a panic.
    let mut sealed = store.get_secret("sec_0001").await.unwrap().unwrap();
    sealed.ciphertext[3] ^= 0x40;
    store
        .put_secret("sec_0001", &sealed, now_ms())
        .await
        .unwrap();
    assert!(matches!(
        only_new.get("sec_0001").await,
        Err(SecretError::Vault(VaultError::Tampered))
    ));
    assert!(only_new.get("sec_missing").await.unwrap().is_none());
}

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
    let dead_worker = store
        .claim(1, Duration::from_millis(300), now_ms())
        .await
        .unwrap();
    assert_eq!(dead_worker[0].id, id);
    assert_eq!(
        store.reclaim_expired(now_ms()).await.unwrap(),
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
    // Backoff of 300–600 ms: long enough to observe, short enough to wait out.
    let config = WorkerConfig {
        backoff_base: Duration::from_millis(300),
        backoff_max: Duration::from_millis(600),
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
        due >= before + 150,
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
