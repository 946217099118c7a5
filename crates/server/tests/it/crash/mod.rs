//! kill -9 of a hub process: nothing it acknowledged is lost — neither rows written over
//! the API nor webhooks answered 2xx in the middle of sustained intake load — and the jobs
//! it was running run again in the next process once their leases expire.
//!
//! The hub runs in a child process: this test binary started again with only the
//! `crash::child_hub` test selected and `SY_CHILD_DIR` set.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};
use switchyard_server::config::Overrides;
use switchyard_server::{Config, Hub};
use switchyard_signatures::stripe;
use switchyard_store::Backend;
use switchyard_store::queue::{Job, JobError, JobHandler, NewJob};
use switchyard_store::testing::TestDb;
use tokio::task::JoinSet;

use crate::{both_backends, config_for};

mod delivery;
mod messages;
mod payments;

use delivery::kill_9_while_delivering_loses_no_delivery;
use messages::kill_9_while_sending_loses_no_message;
use payments::kill_9_while_calling_the_provider_makes_each_object_once;

both_backends!(
    kill_9_loses_no_acknowledged_row_and_resumes_jobs,
    kill_9_under_intake_load_loses_no_acknowledged_event,
    kill_9_while_delivering_loses_no_delivery,
    kill_9_while_sending_loses_no_message,
    kill_9_while_calling_the_provider_makes_each_object_once,
);

/// Marks a job's start and end with files; takes long enough to be killed mid-run.
struct Marker(PathBuf);

#[async_trait]
impl JobHandler for Marker {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        std::fs::write(
            self.0
                .join(format!("started-{}-{}", job.payload, std::process::id())),
            b"",
        )
        .unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        std::fs::write(self.0.join(format!("done-{}", job.payload)), b"").unwrap();
        Ok(())
    }
}

#[test]
#[ignore = "the hub process of the crash tests"]
fn child_hub() {
    let Ok(dir) = std::env::var("SY_CHILD_DIR") else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        // Configuration comes from SWITCHYARD_* variables set by the parent.
        let config = Config::load(None, &Overrides::default()).unwrap().config;
        // Logs as `switchyard serve` writes them, to standard error.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(&config.log.level))
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .try_init();
        let hub = Hub::open(config)
            .await
            .unwrap()
            .with_handler("mark", Arc::new(Marker(PathBuf::from(&dir))));
        if let Some(key) = hub.bootstrap_key() {
            std::fs::write(Path::new(&dir).join("bootstrap"), key.raw.expose()).unwrap();
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("LISTENING {}", listener.local_addr().unwrap());
        hub.serve(listener, std::future::pending()).await.unwrap();
    });
}

/// An environment variable of [`ChildHub::start_with`] naming the file the hub's log
/// (its standard error) goes to.
pub(crate) const LOG_FILE: &str = "SY_CHILD_LOG_FILE";

/// A hub in a child process. Dropping it kills the process, so a failed assertion leaves
/// nothing running.
pub(crate) struct ChildHub {
    pub(crate) child: Child,
    addr: String,
    /// The bootstrap admin key, written to the directory by the first hub over the database.
    pub(crate) key: String,
}

impl ChildHub {
    /// Starts a hub over `config`'s database and waits until it listens.
    fn start(dir: &Path, config: &Config) -> ChildHub {
        Self::start_with(dir, config, &[])
    }

    /// Like [`ChildHub::start`], with more environment variables.
    pub(crate) fn start_with(dir: &Path, config: &Config, env: &[(&str, &str)]) -> ChildHub {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "crash::child_hub",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SY_CHILD_DIR", dir)
        .env("SWITCHYARD_DATABASE_URL", &config.database_url)
        .env("SWITCHYARD_QUEUE__LEASE", "2s")
        .env("SWITCHYARD_QUEUE__POLL_INTERVAL", "200ms")
        .env("SWITCHYARD_LOG__LEVEL", "error")
        .env("SWITCHYARD_DELIVERY__ALLOW_PRIVATE_NETWORKS", "true")
        .env("SWITCHYARD_DELIVERY__TIMEOUT", "1s")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        // The caller's variables win over the defaults above.
        cmd.envs(env.iter().copied());
        // The hub's log goes to a file when the caller names one.
        if let Some((_, file)) = env.iter().find(|(k, _)| *k == LOG_FILE) {
            cmd.stderr(std::fs::File::create(file).unwrap());
        }
        if let Some(key) = &config.master_key {
            cmd.env("SWITCHYARD_MASTER_KEY", key.expose());
        }
        if let Some(file) = &config.master_key_file {
            cmd.env("SWITCHYARD_MASTER_KEY_FILE", file);
        }
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("child exited before listening")
                .unwrap();
            if let Some((_, addr)) = line.split_once("LISTENING ") {
                break addr.to_string();
            }
        };
        let key = std::fs::read_to_string(dir.join("bootstrap"))
            .expect("the first hub over this database wrote its bootstrap key");
        ChildHub { child, addr, key }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// kill -9 (`Child::kill` is SIGKILL on Unix), then reap the process.
    pub(crate) fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ChildHub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh directory for the child hubs' files.
pub(crate) fn scratch_dir() -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("switchyard_crash_{}", switchyard_core::new_id("t")));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn files(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

async fn kill_9_loses_no_acknowledged_row_and_resumes_jobs(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = config_for(&db);
    let dir = scratch_dir();

    let mut first = ChildHub::start(&dir, &config);
    let client = switchyard_providers::http_client();
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let r = client
            .post(first.url("/v1/keys"))
            .bearer_auth(&first.key)
            .json(&json!({"name": format!("ack-{i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        acknowledged.push(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let store = db.store().await;
    for i in 0..4 {
        store
            .enqueue(&NewJob::now("mark", format!("job{i}")))
            .await
            .unwrap();
    }
    // Kill the process while the jobs run.
    let deadline = Instant::now() + Duration::from_secs(20);
    while files(&dir, "started-").len() < 4 {
        assert!(Instant::now() < deadline, "jobs never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill_9();
    assert!(
        files(&dir, "done-").is_empty(),
        "the jobs were cut off mid-run"
    );

    let mut second = ChildHub::start(&dir, &config);
    // Every acknowledged row is there.
    let listed: Value = client
        .get(second.url("/v1/keys?limit=100"))
        .bearer_auth(&second.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    for id in &acknowledged {
        assert!(ids.contains(&id.as_str()), "acknowledged key {id} was lost");
    }
    // The interrupted jobs run again once their leases expire, and complete.
    let deadline = Instant::now() + Duration::from_secs(30);
    while files(&dir, "done-").len() < 4 || !store.queue_depth().await.unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "jobs were not resumed: {:?}",
            files(&dir, "")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        files(&dir, "done-"),
        ["done-job0", "done-job1", "done-job2", "done-job3"]
    );
    let second_pid = second.child.id();
    assert_eq!(
        files(&dir, "started-")
            .iter()
            .filter(|n| n.ends_with(&format!("-{second_pid}")))
            .count(),
        4
    );
    second.kill_9();
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    db.cleanup().await;
}

/// Clients posting webhooks at once until the hub dies.
const LOAD_CLIENTS: usize = 32;
/// How long the hub takes that load before it is killed.
const LOAD_FOR: Duration = Duration::from_millis(1500);
const LOAD_SECRET: &str = "whsec_load_secret";

/// Stripe event number `n`: its id and body.
fn load_event(n: u64) -> (String, String) {
    let id = format!("evt_load_{n}");
    let body = json!({
        "id": id,
        "object": "event",
        "type": "invoice.paid",
        "data": {"object": {"id": format!("in_load_{n}"), "object": "invoice"}},
    })
    .to_string();
    (id, body)
}

/// Posts Stripe event number `n`, signed now.
async fn post_load_event(
    client: &reqwest::Client,
    intake_url: &str,
    n: u64,
) -> reqwest::Result<reqwest::Response> {
    let (_, body) = load_event(n);
    let t = switchyard_core::time::now_ms() / 1000;
    client
        .post(intake_url)
        .header(
            "stripe-signature",
            stripe::sign(LOAD_SECRET, t, body.as_bytes()),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
}

/// What the load clients saw, by event number.
#[derive(Debug, Default)]
struct Seen {
    /// Answered 200 `accepted`, with the hub's event id.
    acknowledged: Vec<(u64, String)>,
    /// Answered 200, but the hub died before the body arrived: acknowledged all the same.
    acknowledged_without_body: Vec<u64>,
    /// Sent and never answered: in flight when the hub died. May or may not be stored.
    unanswered: Vec<u64>,
    /// Any other answer; none is expected while the hub is up.
    unexpected: Vec<(u64, String)>,
}

impl Seen {
    fn merge(&mut self, other: Seen) {
        self.acknowledged.extend(other.acknowledged);
        self.acknowledged_without_body
            .extend(other.acknowledged_without_body);
        self.unanswered.extend(other.unanswered);
        self.unexpected.extend(other.unexpected);
    }
}

/// Posts distinct events one after another until the hub stops answering.
async fn load_client(
    client: reqwest::Client,
    intake_url: String,
    next: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> Seen {
    let mut seen = Seen::default();
    while !stop.load(Ordering::Relaxed) {
        let n = next.fetch_add(1, Ordering::Relaxed);
        match post_load_event(&client, &intake_url, n).await {
            // Refused: the hub is gone and this request never reached it.
            Err(e) if e.is_connect() => break,
            Err(_) => {
                seen.unanswered.push(n);
                break;
            }
            Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                Ok(v) if v["status"] == "accepted" => seen
                    .acknowledged
                    .push((n, v["event_id"].as_str().unwrap().to_string())),
                Ok(v) => seen.unexpected.push((n, format!("200 {v}"))),
                Err(_) => {
                    seen.acknowledged_without_body.push(n);
                    break;
                }
            },
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                seen.unexpected.push((n, format!("{status} {text}")));
            }
        }
    }
    seen
}

/// Every event of `source_id`, through the paginated list.
async fn all_events(client: &reqwest::Client, hub: &ChildHub, source_id: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("source", source_id.to_string()), ("limit", "100".into())];
        if let Some(c) = cursor.take() {
            query.push(("cursor", c));
        }
        let r = client
            .get(hub.url("/v1/events"))
            .bearer_auth(&hub.key)
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let page: Value = r.json().await.unwrap();
        events.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return events,
        }
    }
}

/// Sustained intake load, kill -9 in the middle of it: every event answered 200 is in the
/// next process's store and gets processed; a provider's retry of it is a duplicate.
async fn kill_9_under_intake_load_loses_no_acknowledged_event(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = config_for(&db);
    let dir = scratch_dir();
    let client = switchyard_providers::http_client_builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let mut first = ChildHub::start(&dir, &config);
    let r = client
        .post(first.url("/v1/sources"))
        .bearer_auth(&first.key)
        .json(&json!({"name": "load", "kind": "stripe", "secret": LOAD_SECRET}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let source_id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = JoinSet::new();
    for _ in 0..LOAD_CLIENTS {
        clients.spawn(load_client(
            client.clone(),
            first.url(&format!("/in/{source_id}")),
            next.clone(),
            stop.clone(),
        ));
    }
    tokio::time::sleep(LOAD_FOR).await;
    first.kill_9();
    stop.store(true, Ordering::Relaxed);
    let mut seen = Seen::default();
    while let Some(s) = clients.join_next().await {
        seen.merge(s.unwrap());
    }
    assert!(
        seen.unexpected.is_empty(),
        "{} answers other than 200 accepted, e.g. {:?}",
        seen.unexpected.len(),
        &seen.unexpected[..seen.unexpected.len().min(5)]
    );
    let acknowledged: HashMap<String, String> = seen
        .acknowledged
        .iter()
        .map(|(n, event_id)| (load_event(*n).0, event_id.clone()))
        .collect();
    assert_eq!(acknowledged.len(), seen.acknowledged.len());
    assert!(
        acknowledged.len() > 100,
        "only {} events acknowledged: the hub was not under load",
        acknowledged.len()
    );

    let second = ChildHub::start(&dir, &config);
    let restarted = Instant::now();
    // Whatever was stored gets processed, including the events the killed process had
    // claimed (once their leases expire).
    let deadline = restarted + Duration::from_secs(15);
    let stored = loop {
        let events = all_events(&client, &second, &source_id).await;
        let pending = events.iter().filter(|e| e["state"] != "processed").count();
        if pending == 0 {
            break events;
        }
        assert!(
            Instant::now() < deadline,
            "{pending} of {} stored events not processed",
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let processed_after = restarted.elapsed();
    let stored_ids: HashMap<String, String> = stored
        .iter()
        .map(|e| {
            (
                e["provider_event_id"].as_str().unwrap().to_string(),
                e["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(stored_ids.len(), stored.len(), "an event was stored twice");

    // Every acknowledged event is there, under the id it was acknowledged with.
    for (stripe_id, event_id) in &acknowledged {
        assert_eq!(
            stored_ids.get(stripe_id),
            Some(event_id),
            "acknowledged event {stripe_id} ({event_id}) was lost"
        );
    }
    for n in &seen.acknowledged_without_body {
        let stripe_id = load_event(*n).0;
        assert!(
            stored_ids.contains_key(&stripe_id),
            "acknowledged event {stripe_id} was lost"
        );
    }
    // Nothing else was stored than what was acknowledged or cut off by the kill.
    let cut_off: HashSet<String> = seen
        .unanswered
        .iter()
        .chain(&seen.acknowledged_without_body)
        .map(|n| load_event(*n).0)
        .collect();
    for stripe_id in stored_ids.keys() {
        assert!(
            acknowledged.contains_key(stripe_id) || cut_off.contains(stripe_id),
            "{stripe_id} was stored but never sent"
        );
    }
    // Each one, read on its own, has its payload and is processed.
    let acknowledged = Arc::new(acknowledged.into_iter().collect::<Vec<_>>());
    let mut readers = JoinSet::new();
    for reader in 0..8 {
        let (client, acknowledged) = (client.clone(), acknowledged.clone());
        let (base, key) = (second.url("/v1/events/"), second.key.clone());
        readers.spawn(async move {
            for (stripe_id, event_id) in acknowledged.iter().skip(reader).step_by(8) {
                let r = client
                    .get(format!("{base}{event_id}"))
                    .bearer_auth(&key)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "acknowledged event {event_id}");
                let event: Value = r.json().await.unwrap();
                assert_eq!(event["payload"]["id"], stripe_id.as_str());
                assert_eq!(event["provider_event_id"], stripe_id.as_str());
                assert_eq!(event["state"], "processed");
            }
        });
    }
    while let Some(r) = readers.join_next().await {
        r.unwrap();
    }
    // The provider retries: acknowledged events are duplicates of what is stored...
    let intake_url = second.url(&format!("/in/{source_id}"));
    let sample: Vec<&(u64, String)> = seen
        .acknowledged
        .iter()
        .step_by((seen.acknowledged.len() / 50).max(1))
        .collect();
    for (n, event_id) in &sample {
        let r = post_load_event(&client, &intake_url, *n).await.unwrap();
        assert_eq!(r.status(), 200);
        let reply: Value = r.json().await.unwrap();
        assert_eq!(reply, json!({"status": "duplicate", "event_id": event_id}));
    }
    // ...and each event cut off by the kill ends up stored exactly once.
    let mut stored_by_retry = 0;
    for n in &seen.unanswered {
        let r = post_load_event(&client, &intake_url, *n).await.unwrap();
        assert_eq!(r.status(), 200);
        let reply: Value = r.json().await.unwrap();
        match stored_ids.get(&load_event(*n).0) {
            Some(id) => assert_eq!(reply, json!({"status": "duplicate", "event_id": id})),
            None => {
                assert_eq!(reply["status"], "accepted");
                stored_by_retry += 1;
            }
        }
    }
    assert_eq!(
        all_events(&client, &second, &source_id).await.len(),
        stored.len() + stored_by_retry
    );

    eprintln!(
        "{backend:?}: {} acknowledged in {LOAD_FOR:?} by {LOAD_CLIENTS} clients \
         ({} more answered 200 without a body), {} unanswered at the kill \
         ({} of them stored), {} stored in all; all processed {processed_after:?} after \
         the restart; {} retries answered duplicate",
        seen.acknowledged.len(),
        seen.acknowledged_without_body.len(),
        seen.unanswered.len(),
        seen.unanswered.len() - stored_by_retry,
        stored.len(),
        sample.len(),
    );
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
    db.cleanup().await;
}
