//! Event delivery to the application's endpoints over HTTP: Standard Webhooks signing
//! (checked by the Rust verifier and the official `standardwebhooks` library), retries,
//! Retry-After, 410 Gone, timeouts, dead letters, replay, ordering, filters, the
//! address guard, and application-published events.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use serde_json::{Value, json};
use switchyard_signatures::{Inbound, Verifier as _, standard};
use switchyard_store::Backend;

use crate::intake::{STRIPE_SECRET, create_source, now, post_stripe, stripe_event};
pub use crate::receiver::{Received, Receiver, body, header};
use crate::{TestApp, both_backends, problem};

mod limits;
mod retries;

use limits::failing_endpoints_are_disabled_with_an_event;
use retries::{
    dead_letters_and_replay, failures_are_retried_with_the_same_webhook_id,
    ordered_endpoints_deliver_in_order_despite_failures, retry_after_gone_and_timeouts,
};

both_backends!(
    deliveries_are_signed_and_verify_with_the_official_library,
    failures_are_retried_with_the_same_webhook_id,
    retry_after_gone_and_timeouts,
    dead_letters_and_replay,
    ordered_endpoints_deliver_in_order_despite_failures,
    filters_select_events,
    application_events_are_idempotent,
    failing_endpoints_are_disabled_with_an_event,
);

/// The Rust reference check: the request verifies under `secret`.
fn verifies(r: &Received, secret: &str) -> bool {
    standard::StandardWebhooks {
        secrets: vec![secret.into()],
        tolerance_secs: 300,
    }
    .verify(&Inbound {
        headers: &r.headers,
        body: &r.body,
        url: "",
        now: now(),
    })
    .is_ok()
}

/// The official library's verdict for each `(request, secret)`.
fn library_verdicts(items: &[(&Received, &str)]) -> Vec<Value> {
    let python = std::env::var("SWITCHYARD_TEST_PYTHON").expect(
        "SWITCHYARD_TEST_PYTHON is not set: run the suite with scripts/test, which installs the peers",
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/peers/verify.py");
    let input: Vec<Value> = items
        .iter()
        .map(|(r, secret)| {
            json!({
                "secret": secret,
                "payload": String::from_utf8(r.body.to_vec()).unwrap(),
                "headers": {
                    "webhook-id": header(r, "webhook-id"),
                    "webhook-timestamp": header(r, "webhook-timestamp"),
                    "webhook-signature": header(r, "webhook-signature"),
                },
            })
        })
        .collect();
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the verifier peer");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(Value::Array(input).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "verifier peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub async fn create_endpoint(app: &TestApp, body: Value) -> Value {
    let r = app.post("/v1/endpoints", body).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

pub async fn publish(app: &TestApp, event_type: &str, data: Value) -> String {
    let r = app
        .post("/v1/events", json!({"type": event_type, "data": data}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let v: Value = r.json().await.unwrap();
    v["id"].as_str().unwrap().to_string()
}

/// Waits until the delivery reaches `state` and returns it with its attempts.
async fn delivery_in(app: &TestApp, id: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d: Value = app.get_json(&format!("/v1/deliveries/{id}")).await;
        if d["state"] == state {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "delivery never became {state}: {d}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn deliveries_of(app: &TestApp, endpoint: &str) -> Vec<Value> {
    let list: Value = app
        .get_json(&format!("/v1/endpoints/{endpoint}/deliveries?limit=100"))
        .await;
    list["data"].as_array().unwrap().clone()
}

fn fast_retries(config: &mut switchyard_server::Config, delays_ms: &[u64]) {
    config.delivery.schedule = delays_ms
        .iter()
        .map(|ms| switchyard_server::config::HumanDuration(Duration::from_millis(*ms)))
        .collect();
}

async fn deliveries_are_signed_and_verify_with_the_official_library(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let receiver = Receiver::start().await;
    // A password in the URL and header values are credentials: sealed, and shown to
    // readers only masked, but sent as given.
    let url = receiver
        .url("/hooks")
        .replacen("http://", "http://hook:s3cret-pw@", 1);
    let endpoint = create_endpoint(
        &app,
        json!({"url": url, "event_types": ["payment.*", "order.*"],
               "headers": {"X-Tenant": "acme-tenant-token"}}),
    )
    .await;
    for view in [
        endpoint.clone(),
        app.get_json(&format!(
            "/v1/endpoints/{}",
            endpoint["id"].as_str().unwrap()
        ))
        .await,
        app.get_json("/v1/endpoints").await["data"][0].clone(),
    ] {
        let text = view.to_string();
        assert!(
            !text.contains("s3cret-pw") && !text.contains("acme-tenant-token"),
            "{text}"
        );
        assert_eq!(view["headers"]["x-tenant"], "********", "{view}");
        assert!(
            view["url"].as_str().unwrap().contains("hook:********@"),
            "{view}"
        );
    }
    let secret = endpoint["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    assert!(endpoint["id"].as_str().unwrap().starts_with("ep_"));
    // The secret is shown on creation and on explicit request only.
    let shown: Value = app
        .get_json(&format!(
            "/v1/endpoints/{}",
            endpoint["id"].as_str().unwrap()
        ))
        .await;
    assert!(shown.get("secret").is_none(), "{shown}");
    let listed: Value = app.get_json("/v1/endpoints").await;
    assert!(!listed.to_string().contains(&secret));
    let fetched: Value = app
        .get_json(&format!(
            "/v1/endpoints/{}/secret",
            endpoint["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(fetched["secret"], secret);

    // A provider event (normalized to payment.checkout.completed) and an application event.
    let source = create_source(
        &app,
        json!({"name": "s", "kind": "stripe", "secret": STRIPE_SECRET}),
    )
    .await;
    let r = post_stripe(
        &app,
        source["id"].as_str().unwrap(),
        &stripe_event("evt_pay_1", "checkout.session.completed"),
        STRIPE_SECRET,
        now(),
    )
    .await;
    assert_eq!(r.status(), 200);
    publish(&app, "order.shipped", json!({"order": 42})).await;
    let got = receiver.wait_for(2).await;
    let types: Vec<Value> = got.iter().map(|r| body(r)["type"].clone()).collect();
    assert!(
        types.contains(&json!("payment.checkout.completed")),
        "{types:?}"
    );
    assert!(types.contains(&json!("order.shipped")), "{types:?}");
    let order = got
        .iter()
        .find(|r| body(r)["type"] == "order.shipped")
        .unwrap();
    assert_eq!(body(order)["data"], json!({"order": 42}));
    let payment = got
        .iter()
        .find(|r| body(r)["type"] != "order.shipped")
        .unwrap();
    assert_eq!(
        body(payment)["data"]["id"],
        "evt_pay_1",
        "the provider payload is the data"
    );
    for r in &got {
        assert!(verifies(r, &secret));
        assert!(!verifies(r, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        assert_eq!(header(r, "content-type"), "application/json");
        assert!(header(r, "user-agent").starts_with("Switchyard"));
        assert_eq!(header(r, "x-tenant"), "acme-tenant-token");
        use base64::Engine as _;
        let basic = base64::engine::general_purpose::STANDARD.encode("hook:s3cret-pw");
        assert_eq!(header(r, "authorization"), format!("Basic {basic}"));
        assert!(header(r, "webhook-id").starts_with("dlv_"));
        assert!(body(r)["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    let ids: Vec<&str> = got.iter().map(|r| header(r, "webhook-id")).collect();
    let ep = endpoint["id"].as_str().unwrap();
    let recorded: Vec<String> = deliveries_of(&app, ep)
        .await
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    for id in &ids {
        assert!(
            recorded.iter().any(|r| r == id),
            "webhook-id is the delivery id"
        );
    }

    // Rotation: during the grace, each delivery carries both signatures.
    let r = app
        .post(
            &format!("/v1/endpoints/{ep}/rotate-secret"),
            json!({"grace": "1h"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rotated: Value = r.json().await.unwrap();
    let fresh = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(fresh, secret);
    publish(&app, "order.returned", json!({"order": 42})).await;
    let got = receiver.wait_for(3).await;
    let last = got
        .iter()
        .find(|r| body(r)["type"] == "order.returned")
        .unwrap();
    assert_eq!(header(last, "webhook-signature").split(' ').count(), 2);
    assert!(verifies(last, &secret) && verifies(last, &fresh));

    let mut checks: Vec<(&Received, &str)> =
        got[..2].iter().map(|r| (r, secret.as_str())).collect();
    checks.push((last, secret.as_str()));
    checks.push((last, fresh.as_str()));
    let verdicts = library_verdicts(&checks);
    assert!(verdicts.iter().all(|v| *v == json!(true)), "{verdicts:?}");
    // The library rejects a tampered body: the check can fail.
    let mut tampered = got[0].clone();
    tampered.body = Bytes::from(
        String::from_utf8(got[0].body.to_vec())
            .unwrap()
            .replacen("\"type\"", "\"kind\"", 1),
    );
    assert_ne!(tampered.body, got[0].body);
    let wrong = library_verdicts(&[(&tampered, secret.as_str()), (&got[0], fresh.as_str())]);
    assert!(wrong.iter().all(|v| *v != json!(true)), "{wrong:?}");
    app.finish().await;
}

async fn filters_select_events(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let all = Receiver::start().await;
    let some = Receiver::start().await;
    create_endpoint(&app, json!({"url": all.url("/")})).await;
    create_endpoint(
        &app,
        json!({"url": some.url("/"), "event_types": ["payment.*", "message.delivered"]}),
    )
    .await;
    for t in [
        "payment.invoice.paid",
        "message.delivered",
        "message.bounced",
        "payment",
    ] {
        publish(&app, t, json!({})).await;
    }
    all.wait_for(4).await;
    let got = some.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut types: Vec<String> = some
        .received()
        .iter()
        .map(|r| body(r)["type"].as_str().unwrap().to_string())
        .collect();
    types.sort();
    assert_eq!(
        types,
        ["message.delivered", "payment.invoice.paid"],
        "{got:?}"
    );

    // Bad subscriptions and destinations are refused with the field named.
    let r = app
        .post(
            "/v1/endpoints",
            json!({"url": "ftp://x", "event_types": ["a..b"], "rate_limit": 0}),
        )
        .send()
        .await
        .unwrap();
    let p = problem(r, 422, "validation_failed").await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in ["url", "event_types", "rate_limit"] {
        assert!(fields.contains(&f), "{p}");
    }
    let r = app
        .post(
            "/v1/endpoints",
            json!({"url": all.url("/"), "headers": {"webhook-id": "x"}}),
        )
        .send()
        .await
        .unwrap();
    problem(r, 422, "validation_failed").await;
    assert_eq!(
        app.get_json("/v1/endpoints").await["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    app.finish().await;
}

async fn application_events_are_idempotent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let send = |key: &'static str| {
        app.post(
            "/v1/events",
            json!({"type": "order.created", "data": {"id": 7}}),
        )
        .header("idempotency-key", key)
        .send()
    };
    let a: Value = send("order-7").await.unwrap().json().await.unwrap();
    let b = send("order-7").await.unwrap();
    assert_eq!(b.status(), 202);
    assert_eq!(b.headers()["idempotent-replayed"], "true");
    let b: Value = b.json().await.unwrap();
    assert_eq!(a["id"], b["id"]);
    // The same key for another event is refused, and stores nothing.
    let reused = app
        .post(
            "/v1/events",
            json!({"type": "order.created", "data": {"id": 8}}),
        )
        .header("idempotency-key", "order-7")
        .send()
        .await
        .unwrap();
    problem(reused, 409, "idempotency_key_reused").await;
    // Keys belong to the caller: another API key's identical key is another event.
    let other = app
        .post_json("/v1/keys", json!({"name": "other", "scopes": ["events"]}))
        .await;
    let theirs: Value = app
        .client
        .post(app.url("/v1/events"))
        .json(&json!({"type": "order.created", "data": {"id": 7}}))
        .bearer_auth(other["key"].as_str().unwrap())
        .header("idempotency-key", "order-7")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(theirs["id"], a["id"]);
    let c: Value = send("order-8").await.unwrap().json().await.unwrap();
    assert_ne!(a["id"], c["id"]);
    let listed: Value = app.get_json("/v1/events?type=order.created").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 3);
    let event: Value = app
        .get_json(&format!("/v1/events/{}", a["id"].as_str().unwrap()))
        .await;
    assert_eq!(event["payload"], json!({"id": 7}));
    assert_eq!(event["source_id"], "app");
    for bad in [
        json!({"type": "order.*", "data": {}}),
        json!({"type": "x"}),
        json!({"type": "x", "data": 5, "extra": 1}),
    ] {
        let r = app.post("/v1/events", bad).send().await.unwrap();
        problem(r, 422, "validation_failed").await;
    }
    app.finish().await;
}

/// Without `delivery.allow_private_networks`, private destinations are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_destinations_are_refused_by_default() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        |c| c.delivery.allow_private_networks = false,
        vec![],
    )
    .await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
        "http://10.1.2.3/",
    ] {
        let r = app
            .post("/v1/endpoints", json!({"url": url}))
            .send()
            .await
            .unwrap();
        let p = problem(r, 422, "validation_failed").await;
        assert_eq!(p["errors"][0]["field"], "url", "{p}");
        assert!(
            p["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("allow_private_networks"),
            "{p}"
        );
    }
    app.finish().await;
}
