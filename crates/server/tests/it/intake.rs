//! Webhook intake over HTTP: verification, de-duplication, processing, the events API
//! and client hang-ups (which neither strand an event nor hide it from the metrics).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_signatures::{standard, stripe};
use switchyard_store::Backend;

use crate::{TestApp, both_backends, problem};

both_backends!(
    stripe_events_are_verified_stored_once_and_normalized,
    rejections_are_problem_documents_and_change_nothing,
    events_api_filters_and_replays,
    concurrent_duplicates_store_one_event,
    hang_ups_never_strand_an_event,
);

pub const STRIPE_SECRET: &str = "whsec_test_secret";

pub async fn create_source(app: &TestApp, body: Value) -> Value {
    let r = app.post("/v1/sources", body).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    r.json().await.unwrap()
}

pub fn now() -> i64 {
    switchyard_core::time::now_ms() / 1000
}

pub fn stripe_event(id: &str, kind: &str) -> String {
    json!({"id": id, "object": "event", "type": kind, "data": {"object": {"id": "cs_1"}}})
        .to_string()
}

pub async fn post_stripe(
    app: &TestApp,
    source: &str,
    body: &str,
    secret: &str,
    t: i64,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/in/{source}")))
        .header("stripe-signature", stripe::sign(secret, t, body.as_bytes()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// Waits until the event is processed and returns it.
pub async fn processed(app: &TestApp, id: &str) -> Value {
    for _ in 0..200 {
        let e: Value = app.get_json(&format!("/v1/events/{id}")).await;
        if e["state"] == "processed" {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("event {id} was not processed");
}

async fn stripe_events_are_verified_stored_once_and_normalized(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let source = create_source(
        &app,
        json!({"name": "stripe", "kind": "stripe", "secret": STRIPE_SECRET}),
    )
    .await;
    let id = source["id"].as_str().unwrap();
    assert!(
        source["intake_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/in/{id}"))
    );
    let body = stripe_event("evt_123", "checkout.session.completed");

    let first = post_stripe(&app, id, &body, STRIPE_SECRET, now()).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["status"], "accepted");
    let event_id = first["event_id"].as_str().unwrap().to_string();

    // The provider retries: answered 2xx, stored once.
    let again: Value = post_stripe(&app, id, &body, STRIPE_SECRET, now())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, json!({"status": "duplicate", "event_id": event_id}));

    let event = processed(&app, &event_id).await;
    assert_eq!(event["type"], "payment.checkout.completed");
    assert_eq!(event["provider_type"], "checkout.session.completed");
    assert_eq!(event["provider_event_id"], "evt_123");
    assert_eq!(event["source_id"], id);
    assert_eq!(event["payload"]["data"]["object"]["id"], "cs_1");
    assert!(
        event["headers"].get("stripe-signature").is_none(),
        "signatures are not kept"
    );

    // An unknown type is kept and passed on under the provider's name.
    let other: Value = post_stripe(
        &app,
        id,
        &stripe_event("evt_124", "customer.created"),
        STRIPE_SECRET,
        now(),
    )
    .await
    .json()
    .await
    .unwrap();
    let other = processed(&app, other["event_id"].as_str().unwrap()).await;
    assert_eq!(other["type"], "customer.created");

    let listed: Value = app.get_json(&format!("/v1/events?source={id}")).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(&format!(
            "switchyard_intake_events_total{{source=\"{id}\",outcome=\"accepted\"}} 2"
        )),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "switchyard_intake_events_total{{source=\"{id}\",outcome=\"duplicate\"}} 1"
    )));
    app.finish().await;
}

async fn rejections_are_problem_documents_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let source = create_source(
        &app,
        json!({"name": "stripe", "kind": "stripe", "secret": STRIPE_SECRET, "body_limit": 2048}),
    )
    .await;
    let id = source["id"].as_str().unwrap();
    let body = stripe_event("evt_1", "invoice.paid");

    let wrong_secret = post_stripe(&app, id, &body, "whsec_other", now()).await;
    problem(wrong_secret, 401, "unauthorized").await;
    let stale = post_stripe(&app, id, &body, STRIPE_SECRET, now() - 301).await;
    problem(stale, 401, "unauthorized").await;
    let tampered = app
        .client
        .post(app.url(&format!("/in/{id}")))
        .header(
            "stripe-signature",
            stripe::sign(STRIPE_SECRET, now(), body.as_bytes()),
        )
        .body(body.replace("invoice.paid", "invoice.free"))
        .send()
        .await
        .unwrap();
    problem(tampered, 401, "unauthorized").await;
    let unsigned = app
        .client
        .post(app.url(&format!("/in/{id}")))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    problem(unsigned, 401, "unauthorized").await;
    // Signed but not a Stripe event: malformed, 400.
    let malformed = post_stripe(&app, id, "not json", STRIPE_SECRET, now()).await;
    problem(malformed, 400, "malformed_webhook").await;
    let huge = format!("{{\"id\":\"evt_big\",\"pad\":\"{}\"}}", "x".repeat(4096));
    problem(
        post_stripe(&app, id, &huge, STRIPE_SECRET, now()).await,
        413,
        "body_too_large",
    )
    .await;
    problem(
        post_stripe(
            &app,
            "src_00000000000000000000000000",
            &body,
            STRIPE_SECRET,
            now(),
        )
        .await,
        404,
        "unknown_source",
    )
    .await;
    problem(
        post_stripe(&app, "nonsense", &body, STRIPE_SECRET, now()).await,
        404,
        "unknown_source",
    )
    .await;

    let listed: Value = app.get_json("/v1/events").await;
    assert!(
        listed["data"].as_array().unwrap().is_empty(),
        "nothing was stored"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(&format!(
            "switchyard_intake_rejections_total{{source=\"{id}\",reason=\"mismatch\"}} 2"
        )),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "switchyard_intake_rejections_total{{source=\"{id}\",reason=\"timestamp\"}} 1"
    )));
    app.finish().await;
}

async fn events_api_filters_and_replays(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = create_source(
        &app,
        json!({"name": "a", "kind": "stripe", "secret": STRIPE_SECRET}),
    )
    .await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let b = create_source(
        &app,
        json!({"name": "b", "kind": "standard_webhooks", "secret": secret}),
    )
    .await;
    let a_id = a["id"].as_str().unwrap();
    let b_id = b["id"].as_str().unwrap();
    let mut last = String::new();
    for i in 0..3 {
        let r: Value = post_stripe(
            &app,
            a_id,
            &stripe_event(&format!("evt_{i}"), "invoice.paid"),
            STRIPE_SECRET,
            now(),
        )
        .await
        .json()
        .await
        .unwrap();
        last = r["event_id"].as_str().unwrap().to_string();
    }
    let body = json!({"type": "email.opened", "data": {"email_id": "e1"}}).to_string();
    let ts = now();
    let r = app
        .client
        .post(app.url(&format!("/in/{b_id}")))
        .header("svix-id", "msg_1")
        .header("svix-timestamp", ts.to_string())
        .header(
            "svix-signature",
            standard::sign(secret, "msg_1", ts, body.as_bytes()).unwrap(),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let opened: Value = r.json().await.unwrap();
    let opened = processed(&app, opened["event_id"].as_str().unwrap()).await;
    assert_eq!(opened["type"], "message.opened");
    processed(&app, &last).await;

    let page: Value = app
        .get_json(&format!("/v1/events?source={a_id}&limit=2"))
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .get_json(&format!("/v1/events?source={a_id}&limit=2&cursor={cursor}"))
        .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    let typed: Value = app.get_json("/v1/events?type=payment.invoice.paid").await;
    assert_eq!(typed["data"].as_array().unwrap().len(), 3);
    let future: Value = app.get_json("/v1/events?since=2999-01-01T00:00:00Z").await;
    assert!(future["data"].as_array().unwrap().is_empty());
    problem(
        app.get("/v1/events?since=yesterday").send().await.unwrap(),
        400,
        "invalid_query",
    )
    .await;

    let r = app
        .req(Method::POST, &format!("/v1/events/{last}/replay"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let replayed = processed(&app, &last).await;
    assert_eq!(replayed["type"], "payment.invoice.paid");
    problem(
        app.req(Method::POST, "/v1/events/evt_nope/replay")
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    app.finish().await;
}

async fn concurrent_duplicates_store_one_event(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let source = create_source(
        &app,
        json!({"name": "s", "kind": "stripe", "secret": STRIPE_SECRET}),
    )
    .await;
    let id = source["id"].as_str().unwrap().to_string();
    let body = stripe_event("evt_same", "invoice.paid");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = app.client.clone();
        let url = app.url(&format!("/in/{id}"));
        let header = stripe::sign(STRIPE_SECRET, now(), body.as_bytes());
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .header("stripe-signature", header)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }));
    }
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.unwrap());
    }
    assert_eq!(
        replies.iter().filter(|r| r["status"] == "accepted").count(),
        1
    );
    assert!(
        replies
            .iter()
            .all(|r| r["event_id"] == replies[0]["event_id"])
    );
    let listed: Value = app.get_json("/v1/events").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    app.finish().await;
}

/// Providers that drop the connection mid-request: whatever was stored is processed,
/// and no PostgreSQL session is left idle in a transaction.
async fn hang_ups_never_strand_an_event(backend: Backend) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = TestApp::spawn(backend).await;
    let source = create_source(
        &app,
        json!({"name": "s", "kind": "stripe", "secret": STRIPE_SECRET}),
    )
    .await;
    let id = source["id"].as_str().unwrap().to_string();
    // A few at a time, so that the 0–15 ms hang-ups fall before, during and after the
    // hub's answer.
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = Vec::new();
    for i in 0..300u64 {
        let addr = app.addr;
        let id = id.clone();
        let slot = slots.clone().acquire_owned().await.unwrap();
        tasks.push(tokio::spawn(async move {
            let _slot = slot;
            let body = stripe_event(&format!("evt_hang_{i}"), "invoice.paid");
            let request = format!(
                "POST /in/{id} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\nstripe-signature: {}\r\ncontent-length: {}\r\n\r\n{body}",
                stripe::sign(STRIPE_SECRET, now(), body.as_bytes()),
                body.len()
            );
            let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
            socket.write_all(request.as_bytes()).await.unwrap();
            if i % 4 == 0 {
                // Some wait for the answer before hanging up: those were acknowledged.
                let mut answer = [0u8; 12];
                socket.read_exact(&mut answer).await.unwrap();
                assert_eq!(&answer, b"HTTP/1.1 200");
                return;
            }
            tokio::time::sleep(Duration::from_millis(i % 16)).await;
            drop(socket); // hang up, answered or not
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Let in-flight writes finish, then every stored event must reach `processed`.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut cursor: Option<String> = None;
        let (mut total, mut waiting) = (0, 0);
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/events?limit=100&cursor={c}"),
                None => "/v1/events?limit=100".into(),
            };
            let page: Value = app.get_json(&path).await;
            for e in page["data"].as_array().unwrap() {
                total += 1;
                if e["state"] != "processed" {
                    waiting += 1;
                }
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.into()),
                None => break,
            }
        }
        if waiting == 0 && app.state.store.queue_depth().await.unwrap().is_empty() {
            assert!(
                total >= 75,
                "every acknowledged request was stored: {total}"
            );
            // Each stored event was answered once, and counted, whether or not its
            // client stayed for the answer.
            let metrics = app.metrics().await;
            let answered: u64 = metrics
                .lines()
                .find_map(|l| {
                    l.strip_prefix(
                        r#"switchyard_http_requests_total{method="POST",route="/in/{source_id}",status="200"} "#,
                    )
                })
                .map_or(0, |n| n.trim().parse().unwrap());
            assert_eq!(answered, total, "stored webhooks missing from metrics");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{waiting} of {total} stored events were stranded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if backend == Backend::Postgres {
        let url = app.db.url.clone();
        let name = url.rsplit('/').next().unwrap().to_string();
        let mut conn = <sqlx_conn::PgConnection as sqlx_conn::Connection>::connect(&url)
            .await
            .unwrap();
        let idle: i64 = sqlx_conn::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND state = 'idle in transaction'
             AND state_change < now() - interval '2 seconds'",
        )
        .bind(&name)
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(idle, 0, "sessions left idle in transaction");
    }
    app.finish().await;
}

mod sqlx_conn {
    pub use sqlx::{Connection, PgConnection, query_scalar};
}
