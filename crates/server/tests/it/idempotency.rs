//! `Idempotency-Key` on the POST routes without idempotency of their own: a repeat
//! replays the first answer and changes nothing; the key with another request is 409;
//! a failed request releases its key; the kept answer is sealed at rest.

use serde_json::{Value, json};
use switchyard_store::{Backend, idempotency_secret_id};

use crate::{TestApp, both_backends, problem};

both_backends!(
    repeated_requests_replay_the_first_answer,
    racing_repeats_run_once
);

/// The id of the key the test hub's requests are made with.
async fn admin_key_id(app: &TestApp) -> String {
    let keys = app.get_json("/v1/keys").await;
    keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "bootstrap")
        .expect("the bootstrap key is listed")["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn send(app: &TestApp, path: &str, key: &str, body: Value) -> reqwest::Response {
    app.post(path, body)
        .header("Idempotency-Key", key)
        .send()
        .await
        .unwrap()
}

async fn repeated_requests_replay_the_first_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let grant = json!({"channel": "sms", "amount": 5, "reason": "welcome"});
    let path = "/v1/accounts/acme/credits";
    let first = send(&app, path, "grant-1", grant.clone()).await;
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = send(&app, path, "grant-1", grant.clone()).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(app.get_json(path).await["sms"], 5, "granted once");
    let ledger = app.get_json("/v1/accounts/acme/credits/ledger").await;
    assert_eq!(ledger["data"].as_array().unwrap().len(), 1);

    // The key with another request, on this route or another, changes nothing.
    let other = json!({"channel": "sms", "amount": 50});
    problem(
        send(&app, path, "grant-1", other).await,
        409,
        "idempotency_key_reused",
    )
    .await;
    let endpoint = json!({"url": "http://127.0.0.1:9/hook"});
    problem(
        send(&app, "/v1/endpoints", "grant-1", endpoint.clone()).await,
        409,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(app.get_json(path).await["sms"], 5);

    // A refused request releases its key for the corrected one.
    let bad = send(&app, "/v1/endpoints", "ep-1", json!({"url": "ftp://x"})).await;
    problem(bad, 422, "validation_failed").await;
    let created = send(&app, "/v1/endpoints", "ep-1", endpoint.clone()).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let replayed = send(&app, "/v1/endpoints", "ep-1", endpoint).await;
    assert_eq!(replayed.status(), 201);
    assert_eq!(replayed.json::<Value>().await.unwrap(), created);
    let endpoints = app.get_json("/v1/endpoints").await;
    assert_eq!(endpoints["data"].as_array().unwrap().len(), 1);

    // A new API key is shown again on a repeat, and is sealed while kept.
    let made = send(&app, "/v1/keys", "key-1", json!({"name": "deploy"})).await;
    assert_eq!(made.status(), 201);
    let made: Value = made.json().await.unwrap();
    let raw = made["key"].as_str().unwrap().to_string();
    let again = send(&app, "/v1/keys", "key-1", json!({"name": "deploy"})).await;
    assert_eq!(again.json::<Value>().await.unwrap()["key"], raw.as_str());
    let keys = app.get_json("/v1/keys").await;
    let named = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["name"] == "deploy")
        .count();
    assert_eq!(named, 1);
    let sealed = app
        .state
        .store
        .get_secret(&idempotency_secret_id(&admin_key_id(&app).await, "key-1"))
        .await
        .unwrap()
        .expect("the answer is kept in the vault");
    let needle = raw.as_bytes();
    assert!(
        !sealed.ciphertext.windows(needle.len()).any(|w| w == needle),
        "the kept answer is encrypted"
    );

    // Keys must be 1 to 255 visible ASCII characters.
    let long = "k".repeat(256);
    let r = send(&app, path, &long, grant).await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "Idempotency-Key");
    app.finish().await;
}

/// Repeats sent at once: one runs, the others replay it or are told it is in progress.
async fn racing_repeats_run_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let path = "/v1/accounts/racer/credits";
    let grant = json!({"channel": "email", "amount": 3});
    let sends = (0..8).map(|_| send(&app, path, "race-1", grant.clone()));
    for r in futures_util::future::join_all(sends).await {
        match r.status().as_u16() {
            200 => {}
            409 => {
                assert_eq!(r.headers()["retry-after"], "1");
                problem(r, 409, "idempotency_key_in_use").await;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(app.get_json(path).await["email"], 3, "granted once");
    app.finish().await;
}
