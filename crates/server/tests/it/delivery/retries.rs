//! Failed deliveries: retries with the same webhook id, Retry-After, 410 Gone, timeouts,
//! dead letters and replay, and ordered endpoints that wait for their oldest delivery.

use super::*;

pub(super) async fn failures_are_retried_with_the_same_webhook_id(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| fast_retries(c, &[100, 100, 100]), vec![]).await;
    let receiver = Receiver::start().await;
    receiver.script([(500, vec![], Duration::ZERO), (500, vec![], Duration::ZERO)]);
    let endpoint = create_endpoint(&app, json!({"url": receiver.url("/")})).await;
    publish(&app, "thing.happened", json!({"n": 1})).await;
    let got = receiver.wait_for(3).await;
    let ids: Vec<&str> = got.iter().map(|r| header(r, "webhook-id")).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let delivery = delivery_in(&app, ids[0], "succeeded").await;
    assert_eq!(delivery["attempts"], 3);
    let statuses: Vec<Value> = delivery["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].clone())
        .collect();
    assert_eq!(statuses, [json!(500), json!(500), json!(200)]);
    assert_eq!(delivery["attempt_log"][0]["response_body"], "answer 500");
    assert_eq!(delivery["endpoint_id"], endpoint["id"]);
    let ep: Value = app
        .get_json(&format!(
            "/v1/endpoints/{}",
            endpoint["id"].as_str().unwrap()
        ))
        .await;
    assert!(
        ep["failing_since"].is_null(),
        "a success clears the failure streak"
    );
    assert!(
        app.metrics()
            .await
            .contains("switchyard_delivery_attempts_total")
    );
    app.finish().await;
}

pub(super) async fn retry_after_gone_and_timeouts(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        |c| {
            fast_retries(c, &[50, 50]);
            // Short, yet long enough that a loaded machine answers every other request.
            c.delivery.timeout.0 = Duration::from_secs(2);
        },
        vec![],
    )
    .await;
    // 429 with Retry-After: the next attempt waits that long, not the 50 ms schedule.
    let receiver = Receiver::start().await;
    receiver.script([(429, vec![("retry-after", "1".to_string())], Duration::ZERO)]);
    create_endpoint(&app, json!({"url": receiver.url("/")})).await;
    publish(&app, "a.b", json!({})).await;
    let got = receiver.wait_for(2).await;
    let waited = got[1].at - got[0].at;
    assert!(waited >= Duration::from_millis(950), "waited {waited:?}");

    // A timeout counts as a failed attempt and is retried.
    let slow = Receiver::start().await;
    slow.script([(200, vec![], Duration::from_secs(5))]);
    create_endpoint(
        &app,
        json!({"url": slow.url("/"), "event_types": ["slow.*"]}),
    )
    .await;
    publish(&app, "slow.one", json!({})).await;
    let got = slow.wait_for(2).await;
    let d = delivery_in(&app, header(&got[0], "webhook-id"), "succeeded").await;
    assert_eq!(d["attempt_log"][0]["error_kind"], "timeout");
    assert!(d["attempt_log"][0]["status_code"].is_null());

    // 410 Gone: the delivery fails and the endpoint is disabled.
    let gone = Receiver::start().await;
    gone.script([(410, vec![], Duration::ZERO)]);
    let ep = create_endpoint(
        &app,
        json!({"url": gone.url("/"), "event_types": ["gone.*"]}),
    )
    .await;
    let ep = ep["id"].as_str().unwrap();
    publish(&app, "gone.one", json!({})).await;
    let got = gone.wait_for(1).await;
    let d = delivery_in(&app, header(&got[0], "webhook-id"), "failed").await;
    assert_eq!(d["attempts"], 1);
    let shown: Value = app.get_json(&format!("/v1/endpoints/{ep}")).await;
    assert_eq!(
        (shown["enabled"].clone(), shown["disabled_reason"].clone()),
        (json!(false), json!("gone"))
    );
    publish(&app, "gone.two", json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(gone.received().len(), 1, "a disabled endpoint gets nothing");
    app.finish().await;
}

pub(super) async fn dead_letters_and_replay(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| fast_retries(c, &[50]), vec![]).await;
    let receiver = Receiver::start().await;
    let fail = (503, vec![], Duration::ZERO);
    receiver.script([fail.clone(), fail.clone(), fail.clone(), fail]);
    let ep = create_endpoint(&app, json!({"url": receiver.url("/")})).await;
    let ep = ep["id"].as_str().unwrap().to_string();
    let since = switchyard_core::time::rfc3339(switchyard_core::time::now_ms() - 1000);
    let first = publish(&app, "x.one", json!({})).await;
    publish(&app, "x.two", json!({})).await;
    let got = receiver.wait_for(4).await;
    let one = got.iter().find(|r| body(r)["type"] == "x.one").unwrap();
    let one_id = header(one, "webhook-id").to_string();
    let d = delivery_in(&app, &one_id, "failed").await;
    assert_eq!(d["attempts"], 2, "1 attempt + 1 retry, then a dead letter");
    // The receiver answers before the outcome is committed: wait for both.
    let two = got.iter().find(|r| body(r)["type"] == "x.two").unwrap();
    delivery_in(&app, header(two, "webhook-id"), "failed").await;
    let failed: Value = app
        .get_json(&format!("/v1/endpoints/{ep}/deliveries?state=failed"))
        .await;
    assert_eq!(failed["data"].as_array().unwrap().len(), 2);

    // One delivery again now: the receiver answers 200 from here on.
    let r = app
        .post(&format!("/v1/deliveries/{one_id}/retry"), json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    delivery_in(&app, &one_id, "succeeded").await;
    // Bulk: the endpoint's other failed delivery.
    let r = app
        .post(
            &format!("/v1/endpoints/{ep}/replay"),
            json!({"since": since}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await.unwrap()["replayed"], 1);
    let got = receiver.wait_for(6).await;
    let two = got.iter().find(|r| body(r)["type"] == "x.two").unwrap();
    delivery_in(&app, header(two, "webhook-id"), "succeeded").await;
    // One event again to all its current endpoints: a new delivery.
    let r = app
        .post(&format!("/v1/events/{first}/replay"), json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let got = receiver.wait_for(7).await;
    assert_eq!(body(&got[6])["type"], "x.one");
    assert_ne!(header(&got[6], "webhook-id"), one_id);
    // Unknown ids and bad input are problem documents.
    let r = app
        .post("/v1/deliveries/dlv_missing/retry", json!({}))
        .send()
        .await
        .unwrap();
    problem(r, 404, "not_found").await;
    let r = app
        .post(
            &format!("/v1/endpoints/{ep}/replay"),
            json!({"since": "yesterday"}),
        )
        .send()
        .await
        .unwrap();
    problem(r, 422, "validation_failed").await;
    app.finish().await;
}

pub(super) async fn ordered_endpoints_deliver_in_order_despite_failures(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| fast_retries(c, &[100, 100, 100]), vec![]).await;
    let receiver = Receiver::start().await;
    receiver.script([(500, vec![], Duration::ZERO), (500, vec![], Duration::ZERO)]);
    create_endpoint(&app, json!({"url": receiver.url("/"), "ordered": true})).await;
    for n in 0..6 {
        publish(&app, "seq.item", json!({"n": n})).await;
    }
    let got = receiver.wait_for(8).await;
    let sequence: Vec<i64> = got
        .iter()
        .map(|r| body(r)["data"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(
        sequence,
        [0, 0, 0, 1, 2, 3, 4, 5],
        "one at a time, in order"
    );
    app.finish().await;
}
