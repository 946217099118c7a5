//! 1 GiB up and down through a hub process: the bytes stream, so the hub's resident
//! memory stays within a bound whatever the object's size; an object acknowledged
//! before a kill -9 is there, whole, after the restart; and signed URLs' query strings
//! never reach the hub's log.

use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt as _;
use sha2::Digest as _;
use switchyard_store::Backend;
use switchyard_store::testing::TestDb;

use crate::crash::{ChildHub, LOG_FILE, scratch_dir};
use crate::{both_backends, config_for};

both_backends!(
    a_gigabyte_streams_up_and_down_in_bounded_memory,
    objects_acknowledged_before_a_kill_9_are_whole_after_it,
    signed_url_query_strings_never_reach_the_log,
);

const GIB: usize = 1 << 30;
const CHUNK: usize = 1 << 20;

/// A kibibyte-granular reading of `/proc/<pid>/status`.
fn status_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn chunk(i: usize) -> Bytes {
    let mut c = vec![0u8; CHUNK];
    for (j, b) in c.iter_mut().enumerate().step_by(512) {
        *b = (i + j / 512) as u8;
    }
    Bytes::from(c)
}

async fn a_gigabyte_streams_up_and_down_in_bounded_memory(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = config_for(&db);
    let dir = scratch_dir();
    let data = dir.join("data");
    let hub = ChildHub::start_with(
        &dir,
        &config,
        &[
            ("SWITCHYARD_DATA_DIR", data.to_str().unwrap()),
            ("SWITCHYARD_LOG__LEVEL", "warn"),
        ],
    );
    let pid = hub.child.id();
    let client = switchyard_providers::http_client();
    // Warm up: connections, the store, the first multipart upload.
    let warm = client
        .put(hub.url("/v1/storage/default/objects/warm"))
        .bearer_auth(&hub.key)
        .body(vec![7u8; 20 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(warm.status(), 201);
    let before = status_kib(pid, "VmRSS:");

    let started = Instant::now();
    let hashed = std::sync::Arc::new(std::sync::Mutex::new(sha2::Sha256::new()));
    let h = hashed.clone();
    let body = futures_util::stream::iter(0..GIB / CHUNK).map(move |i| {
        let c = chunk(i);
        h.lock().unwrap().update(&c);
        Ok::<_, std::io::Error>(c)
    });
    let r = client
        .put(hub.url("/v1/storage/default/objects/big/gigabyte.bin"))
        .bearer_auth(&hub.key)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let made: serde_json::Value = r.json().await.unwrap();
    let sent = hex::encode(hashed.lock().unwrap().clone().finalize());
    assert_eq!(made["size"].as_u64(), Some(GIB as u64));
    assert_eq!(made["sha256"], sent);
    let up = started.elapsed();

    let started = Instant::now();
    let r = client
        .get(hub.url("/v1/storage/default/objects/big/gigabyte.bin"))
        .bearer_auth(&hub.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let mut got = sha2::Sha256::new();
    let mut n = 0usize;
    while let Some(c) = stream.next().await {
        let c = c.unwrap();
        n += c.len();
        got.update(&c);
    }
    assert_eq!(n, GIB);
    assert_eq!(
        hex::encode(got.finalize()),
        sent,
        "the same bytes came back"
    );
    let down = started.elapsed();

    let peak = status_kib(pid, "VmHWM:");
    let after = status_kib(pid, "VmRSS:");
    let grew = peak.saturating_sub(before) / 1024;
    println!(
        "1 GiB up {up:?}, down {down:?}; hub RSS {} MiB before, peak {} MiB, {} MiB after",
        before / 1024,
        peak / 1024,
        after / 1024
    );
    assert!(grew < 64, "resident memory grew by {grew} MiB moving 1 GiB");
    drop(hub);
    let _ = std::fs::remove_dir_all(&dir);
    db.cleanup().await;
}

async fn objects_acknowledged_before_a_kill_9_are_whole_after_it(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = config_for(&db);
    let dir = scratch_dir();
    let data = dir.join("data");
    let env = [("SWITCHYARD_DATA_DIR", data.to_str().unwrap())];
    let mut first = ChildHub::start_with(&dir, &config, &env);
    let client = switchyard_providers::http_client();
    let total = 200usize;
    let size = |i: usize| (256 << 10) + i;
    let (acks, mut acked) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let url = first.url(&format!("/v1/storage/default/objects/crash/{i}"));
        let req = client
            .put(url)
            .bearer_auth(&first.key)
            .body(vec![i as u8; size(i)]);
        let acks = acks.clone();
        tasks.spawn(async move {
            let status = req.send().await.map(|r| r.status().as_u16());
            if let Ok(201) = status {
                let _ = acks.send(i);
            }
            (i, status)
        });
    }
    // Kill once some writes are acknowledged and others are still streaming.
    for _ in 0..20 {
        acked.recv().await.unwrap();
    }
    first.kill_9();
    let mut acknowledged = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let (i, Ok(201)) = done.unwrap() {
            acknowledged.push(i);
        }
    }
    assert!(acknowledged.len() < total, "the kill interrupted writes");
    let second = ChildHub::start_with(&dir, &config, &env);
    for i in 0..total {
        let r = client
            .get(second.url(&format!("/v1/storage/default/objects/crash/{i}")))
            .bearer_auth(&second.key)
            .send()
            .await
            .unwrap();
        if acknowledged.contains(&i) {
            assert_eq!(r.status(), 200, "object {i} was acknowledged");
        }
        if r.status() == 200 {
            let body = r.bytes().await.unwrap();
            assert_eq!(body.len(), size(i), "object {i} is whole");
            assert!(body.iter().all(|b| *b == i as u8), "object {i} is its own");
        } else {
            assert_eq!(r.status(), 404);
        }
    }
    println!(
        "{} of {total} writes acknowledged before the kill; all whole after it, the others absent",
        acknowledged.len()
    );
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
    db.cleanup().await;
}

async fn signed_url_query_strings_never_reach_the_log(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = config_for(&db);
    let dir = scratch_dir();
    let data = dir.join("data");
    let log = dir.join("hub.log");
    let env = [
        ("SWITCHYARD_DATA_DIR", data.to_str().unwrap()),
        ("SWITCHYARD_LOG__LEVEL", "debug"),
        (LOG_FILE, log.to_str().unwrap()),
    ];
    let hub = ChildHub::start_with(&dir, &config, &env);
    let client = switchyard_providers::http_client();
    let sign = |method: &'static str| {
        client
            .post(hub.url("/v1/storage/default/signed-urls"))
            .bearer_auth(&hub.key)
            .json(&serde_json::json!({"key": "logged/a.txt", "method": method}))
            .send()
    };
    let put: serde_json::Value = sign("PUT").await.unwrap().json().await.unwrap();
    let put_url = put["url"].as_str().unwrap().to_string();
    assert_eq!(
        client
            .put(&put_url)
            .body("x")
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    let get: serde_json::Value = sign("GET").await.unwrap().json().await.unwrap();
    let get_url = get["url"].as_str().unwrap().to_string();
    assert_eq!(client.get(&get_url).send().await.unwrap().status(), 200);
    let forged = get_url.replace("signature=", "signature=00");
    assert_eq!(client.get(&forged).send().await.unwrap().status(), 403);
    drop(hub);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("/s/{store}/{*key}"),
        "requests to signed URLs are logged by route"
    );
    for url in [&put_url, &get_url] {
        let signature = url.split("signature=").nth(1).unwrap();
        assert!(!text.contains(signature), "a signature reached the log");
        assert!(
            !text.contains("signature="),
            "a query string reached the log"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    db.cleanup().await;
}
