//! kill -9 of a hub process: nothing it acknowledged is lost, and the jobs it was running
//! run again in the next process once their leases expire.
//!
//! The hub runs in a child process: this test binary started again with only the
//! `crash::child_hub` test selected and `SY_CHILD_DIR` set.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use switchyard_server::config::Overrides;
use switchyard_server::{Config, Hub};
use switchyard_store::Backend;
use switchyard_store::queue::{Job, JobError, JobHandler, NewJob};
use switchyard_store::testing::TestDb;

use crate::{both_backends, config_for};

both_backends!(kill_9_loses_no_acknowledged_row_and_resumes_jobs);

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
        tokio::time::sleep(Duration::from_millis(1500)).await;
        std::fs::write(self.0.join(format!("done-{}", job.payload)), b"").unwrap();
        Ok(())
    }
}

#[test]
#[ignore = "a child process of kill_9_loses_no_acknowledged_row_and_resumes_jobs"]
fn child_hub() {
    let Ok(dir) = std::env::var("SY_CHILD_DIR") else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        // Configuration comes from SWITCHYARD_* variables set by the parent.
        let config = Config::load(None, &Overrides::default()).unwrap().config;
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

fn start_child(dir: &Path, config: &Config) -> (Child, String) {
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
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
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
    (child, addr)
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
    let dir =
        std::env::temp_dir().join(format!("switchyard_crash_{}", switchyard_core::new_id("t")));
    std::fs::create_dir_all(&dir).unwrap();

    let (mut first, addr) = start_child(&dir, &config);
    let key = std::fs::read_to_string(dir.join("bootstrap")).unwrap();
    let client = reqwest::Client::new();
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let r = client
            .post(format!("http://{addr}/v1/keys"))
            .bearer_auth(&key)
            .json(&json!({"name": format!("ack-{i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        acknowledged.push(
            r.json::<serde_json::Value>().await.unwrap()["id"]
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
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while files(&dir, "started-").len() < 4 {
        assert!(std::time::Instant::now() < deadline, "jobs never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    assert!(
        files(&dir, "done-").is_empty(),
        "the jobs were cut off mid-run"
    );

    let (mut second, addr) = start_child(&dir, &config);
    // Every acknowledged row is there.
    let listed: serde_json::Value = client
        .get(format!("http://{addr}/v1/keys?limit=100"))
        .bearer_auth(&key)
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
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while files(&dir, "done-").len() < 4 || !store.queue_depth().await.unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "jobs were not resumed: {:?}",
            files(&dir, "")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        files(&dir, "done-"),
        ["done-job0", "done-job1", "done-job2", "done-job3"]
    );
    let second_pid = second.id();
    assert_eq!(
        files(&dir, "started-")
            .iter()
            .filter(|n| n.ends_with(&format!("-{second_pid}")))
            .count(),
        4
    );
    second.kill().unwrap();
    second.wait().unwrap();
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    db.cleanup().await;
}
