//! Clients that hang up mid-request never leave the hub half-way: a request runs to
//! completion without its client, so no pooled connection is left inside a transaction
//! (every later request succeeds), and a keyed request that committed keeps its answer,
//! so its retry — even after the stale window — is a replay, never a second run.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_store::Backend;

use crate::{TestApp, both_backends};

both_backends!(keyed_grants_whose_clients_hang_up_apply_once);

/// Writes a whole request on its own connection, then, after `wait`, resets the
/// connection (`SO_LINGER` 0) without reading the answer.
fn post_and_reset(
    addr: SocketAddr,
    api_key: &str,
    path: &str,
    body: &Value,
    key: Option<&str>,
    wait: Duration,
) {
    let body = body.to_string();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {api_key}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    if let Some(key) = key {
        head.push_str(&format!("idempotency-key: {key}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    std::thread::sleep(wait);
    socket_linger_zero(&stream);
    drop(stream);
}

fn socket_linger_zero(stream: &TcpStream) {
    let sock = socket2::SockRef::from(stream);
    let _ = sock.set_linger(Some(Duration::ZERO));
}

/// Hundreds of API writes whose clients reset the connection, then hundreds of ordinary
/// requests: every one of those succeeds, and no session of the hub is left inside a
/// transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hang_ups_leave_no_connection_inside_a_transaction() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let hangers = 300;
    let posts: Vec<_> = (0..hangers)
        .map(|i| {
            let (addr, key) = (app.addr, app.key.clone());
            let body = match i % 3 {
                0 => json!({"channel": "sms", "amount": 1}),
                1 => {
                    json!({"url": "http://127.0.0.1:9/hook", "description": format!("hung up {i}")})
                }
                _ => json!({"type": "order.shipped", "data": {"n": i}}),
            };
            let path = match i % 3 {
                0 => "/v1/accounts/acme/credits",
                1 => "/v1/endpoints",
                _ => "/v1/events",
            };
            tokio::task::spawn_blocking(move || {
                post_and_reset(addr, &key, path, &body, None, Duration::ZERO)
            })
        })
        .collect();
    for p in posts {
        p.await.unwrap();
    }
    let mut failures = Vec::new();
    for i in 0..300 {
        let path = match i % 4 {
            0 => "/v1/endpoints".to_string(),
            1 => "/v1/events?limit=5".to_string(),
            2 => "/v1/accounts/acme/credits".to_string(),
            _ => "/v1/keys".to_string(),
        };
        let r = app.get(&path).send().await.unwrap();
        if r.status() != 200 {
            failures.push(format!(
                "GET {path}: {} {}",
                r.status(),
                r.text().await.unwrap()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    // Writes made after the storm work too.
    let r = app
        .post(
            "/v1/accounts/acme/credits",
            json!({"channel": "email", "amount": 2}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let admin = app.db.url.clone();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap();
    let stuck: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_activity
         WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(stuck, 0, "sessions left inside a transaction");
    drop(conn);
    app.finish().await;
}

/// Keyed credit grants whose clients hang up are retried, with the same keys, after the
/// window in which an unanswered key would be taken over: each grant is applied once,
/// and a retry of one that committed is answered as a replay of it.
async fn keyed_grants_whose_clients_hang_up_apply_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let grants: usize = 150;
    let body = json!({"channel": "sms", "amount": 3, "reason": "welcome"});
    // A few at a time, so that the hub reads each request promptly and the 0–15 ms
    // hang-ups fall before, during and after its grant commits.
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(8));
    let mut hangers = Vec::new();
    for i in 0..grants {
        let (addr, key, body) = (app.addr, app.key.clone(), body.clone());
        let slot = slots.clone().acquire_owned().await.unwrap();
        hangers.push(tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let idem = format!("grant-{i}");
            let wait = Duration::from_millis(i as u64 % 16);
            post_and_reset(
                addr,
                &key,
                "/v1/accounts/hang/credits",
                &body,
                Some(&idem),
                wait,
            );
        }));
    }
    for h in hangers {
        h.await.unwrap();
    }
    // Past the stale window (60 s) of a key whose request never answered.
    tokio::time::sleep(Duration::from_secs(62)).await;
    let mut replayed = 0;
    for i in 0..grants {
        let r = app
            .post("/v1/accounts/hang/credits", body.clone())
            .header("Idempotency-Key", format!("grant-{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "grant-{i}");
        if r.headers().get("idempotent-replayed").is_some() {
            replayed += 1;
        }
    }
    let balance = app.get_json("/v1/accounts/hang/credits").await;
    let ledger = app
        .get_json("/v1/accounts/hang/credits/ledger?limit=100")
        .await;
    let mut entries = ledger["data"].as_array().unwrap().len();
    let mut cursor = ledger["next_cursor"].as_str().map(str::to_string);
    while let Some(c) = cursor {
        let page = app
            .get_json(&format!(
                "/v1/accounts/hang/credits/ledger?limit=100&cursor={c}"
            ))
            .await;
        entries += page["data"].as_array().unwrap().len();
        cursor = page["next_cursor"].as_str().map(str::to_string);
    }
    assert_eq!(entries, grants, "one ledger entry per grant");
    assert_eq!(
        balance["sms"],
        json!(3 * grants),
        "every grant applied exactly once"
    );
    // A request reset before the hub read it never ran, and its retry is its first run;
    // every other retry is answered as a replay of the committed first answer.
    assert!(
        replayed >= grants / 4,
        "only {replayed} of {grants} hung-up grants were committed before their retry"
    );
    app.finish().await;
}
