//! Limits that hold: rate limits across nodes, one slow endpoint's backlog, and disabling
//! endpoints that keep failing.

use super::*;

/// Two hub nodes share one PostgreSQL store and one endpoint limited to 60 deliveries
/// a second: over any 10-second window of the backlog, the receiver sees 600 ± 10 %.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_hold_across_nodes() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let mut config = crate::config_for(&app.db);
    config.master_key = app.master_key.clone();
    config.bootstrap_key = false;
    let second = switchyard_server::Hub::open(config)
        .await
        .expect("second node opens");
    let second_state = second.services().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let node = tokio::spawn(second.serve(listener, async move {
        let _ = stopped.await;
    }));

    let receiver = Receiver::start().await;
    let limit = 60;
    let total = 720;
    let ep = create_endpoint(&app, json!({"url": receiver.url("/"), "rate_limit": limit})).await;
    let ep = ep["id"].as_str().unwrap().to_string();
    // Published 16 at a time, so that the backlog builds faster than the limit drains it
    // even when each commit waits for a slow disk.
    let numbers: Vec<usize> = (0..total).collect();
    for chunk in numbers.chunks(16) {
        let posts = chunk
            .iter()
            .map(|n| publish(&app, "load.item", json!({"n": n})));
        futures_util::future::join_all(posts).await;
    }
    let got = receiver.wait_for(total).await;
    let times: Vec<Instant> = got.iter().map(|r| r.at).collect();
    let last = *times.last().unwrap();
    let window = Duration::from_secs(10);
    let expected = (limit * 10) as usize;
    let counts: Vec<usize> = times
        .iter()
        .enumerate()
        .take_while(|(_, start)| **start + window <= last)
        .map(|(i, start)| {
            times[i..]
                .iter()
                .take_while(|t| **t < *start + window)
                .count()
        })
        .collect();
    let (low, high) = (counts.iter().min(), counts.iter().max());
    eprintln!(
        "10-second windows: {} checked, {low:?} to {high:?} deliveries",
        counts.len()
    );
    for n in &counts {
        assert!(
            n * 10 <= expected * 11 && n * 10 >= expected * 9,
            "{n} deliveries in a 10 s window (limit {limit}/s; windows ranged {low:?} to {high:?})"
        );
    }
    let checked = counts.len();
    assert!(checked > 0);
    // A node counts a delivery once it has read the answer, after the receiver saw it.
    let sent = |m: &switchyard_core::metrics::Metrics| m.deliveries.get(&[&ep, "succeeded"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (a, b) = loop {
        let (a, b) = (sent(&app.state.metrics), sent(&second_state.metrics));
        if a + b >= total as u64 || Instant::now() > deadline {
            break (a, b);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(a + b, total as u64);
    assert!(a > 0 && b > 0, "both nodes delivered: {a} and {b}");
    let _ = stop.send(());
    let _ = node.await;
    app.finish().await;
}

pub(super) async fn failing_endpoints_are_disabled_with_an_event(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        |c| {
            fast_retries(c, &[100; 20]);
            c.delivery.disable_after.0 = Duration::from_millis(400);
        },
        vec![],
    )
    .await;
    let broken = Receiver::start().await;
    broken.script(std::iter::repeat_n((500, vec![], Duration::ZERO), 100));
    let watcher = Receiver::start().await;
    let ep = create_endpoint(
        &app,
        json!({"url": broken.url("/"), "event_types": ["job.*"]}),
    )
    .await;
    let ep = ep["id"].as_str().unwrap().to_string();
    create_endpoint(
        &app,
        json!({"url": watcher.url("/"), "event_types": ["endpoint.*"]}),
    )
    .await;
    publish(&app, "job.done", json!({})).await;
    let got = watcher.wait_for(1).await;
    let notice = body(&got[0]);
    assert_eq!(notice["type"], "endpoint.disabled");
    assert_eq!(notice["data"]["endpoint_id"], ep.as_str());
    assert_eq!(notice["data"]["reason"], "failing");
    let shown: Value = app.get_json(&format!("/v1/endpoints/{ep}")).await;
    assert_eq!(shown["enabled"], false);
    assert_eq!(shown["disabled_reason"], "failing");
    assert!(shown["failing_since"].is_string());
    let attempts = broken.received().len();
    assert!(
        attempts >= 2,
        "retried while failing for 400 ms: {attempts}"
    );
    // Re-enabling resumes the pending delivery, which now succeeds.
    broken.inner.lock().unwrap().script.clear();
    let r = app
        .client
        .patch(app.url(&format!("/v1/endpoints/{ep}")))
        .bearer_auth(&app.key)
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = broken.wait_for(attempts + 1).await;
    delivery_in(&app, header(got.last().unwrap(), "webhook-id"), "succeeded").await;
    app.finish().await;
}

/// A slow endpoint's backlog outlasts a delivery's lease (9 s with a 1 s timeout):
/// deliveries waiting for its one slot are handed back in time, so none is sent twice
/// and the wait counts no attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_endpoint_gets_each_delivery_once() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        |c| {
            c.delivery.timeout.0 = Duration::from_secs(1);
            c.delivery.endpoint_concurrency = 1;
        },
        vec![],
    )
    .await;
    let receiver = Receiver::start().await;
    receiver.slow_down(Duration::from_millis(250));
    create_endpoint(&app, json!({"url": receiver.url("/")})).await;
    // About 11 s one at a time.
    let total = 45;
    for n in 0..total {
        publish(&app, "busy.item", json!({"n": n})).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiver.received().len() < total {
        assert!(
            Instant::now() < deadline,
            "{} of {total} delivered",
            receiver.received().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| header(r, "webhook-id").to_string())
        .collect();
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), total, "every delivery arrived");
    assert_eq!(ids.len(), total, "none arrived twice");
    for id in &ids {
        assert_eq!(delivery_in(&app, id, "succeeded").await["attempts"], 1);
    }
    app.finish().await;
}
