//! kill -9 of a delivering hub.

use super::*;

/// kill -9 while deliveries are in flight: after a restart every event reaches the
/// receiver, and an event received twice came with the same `webhook-id` both times.
pub(super) async fn kill_9_while_delivering_loses_no_delivery(backend: Backend) {
    use crate::delivery::{Receiver, body, header};
    let db = TestDb::new(backend).await;
    let config = config_for(&db);
    let dir = scratch_dir();
    let client = switchyard_providers::http_client();
    let receiver = Receiver::start().await;
    // At most 4 deliveries of 100 ms at once: about 40/s, so the hub is killed mid-way
    // even when posting the events is slow.
    receiver.slow_down(Duration::from_millis(100));
    let env = [("SWITCHYARD_DELIVERY__ENDPOINT_CONCURRENCY", "4")];
    let mut first = ChildHub::start_with(&dir, &config, &env);
    let r = client
        .post(first.url("/v1/endpoints"))
        .bearer_auth(&first.key)
        .json(&json!({"url": receiver.url("/")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let endpoint = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let total = 300;
    for n in 0..total {
        let r = client
            .post(first.url("/v1/events"))
            .bearer_auth(&first.key)
            .json(&json!({"type": "crash.item", "data": {"n": n}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    receiver.wait_for(40).await;
    first.kill_9();
    let at_kill = receiver.received().len();
    assert!(
        at_kill < total,
        "the hub was killed before delivering everything"
    );

    let second = ChildHub::start_with(&dir, &config, &env);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut settled = false;
    loop {
        let mut ids: HashMap<i64, HashSet<String>> = HashMap::new();
        for r in receiver.received() {
            ids.entry(body(&r)["data"]["n"].as_i64().unwrap())
                .or_default()
                .insert(header(&r, "webhook-id").to_string());
        }
        if let Some((n, set)) = ids.iter().find(|(_, set)| set.len() > 1) {
            panic!("event {n} came with different webhook-ids: {set:?}");
        }
        if settled && ids.len() == total {
            break;
        }
        // Deliveries the killed process had claimed are sent again once their lease
        // ends; wait until none is pending, then check everything once more.
        let pending: Value = client
            .get(second.url(&format!(
                "/v1/endpoints/{endpoint}/deliveries?state=pending&limit=1"
            )))
            .bearer_auth(&second.key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        settled = ids.len() == total && pending["data"].as_array().unwrap().is_empty();
        assert!(
            Instant::now() < deadline,
            "{} of {total} events delivered after the restart",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    db.cleanup().await;
    let _ = std::fs::remove_dir_all(&dir);
}
