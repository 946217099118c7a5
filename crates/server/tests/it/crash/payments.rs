//! kill -9 of a hub waiting for a payment provider's answer: the checkout's row was
//! committed before the call, so after a restart the client's retry with the same
//! `Idempotency-Key` and the sweeper ask again with the same provider key, and the
//! provider makes each object once.

use std::time::Duration;

use switchyard_providers::testing::Method;
use switchyard_providers::testing::stripe::StripeFake;

use super::*;

fn order(name: &str) -> Value {
    json!({"mode": "payment", "customer_email": "ada@example.com",
        "line_items": [{"name": name, "amount": 2500, "currency": "usd"}]})
}

/// The hub ids of the checkouts the fake was asked to create, by the hub key they came
/// with.
fn asked(fake: &StripeFake) -> HashMap<String, HashSet<String>> {
    let mut by_checkout: HashMap<String, HashSet<String>> = HashMap::new();
    for r in fake.requests_to(Method::POST, "/v1/checkout/sessions") {
        by_checkout
            .entry(r.form_value("client_reference_id").unwrap().to_string())
            .or_default()
            .insert(r.header("idempotency-key").unwrap().to_string());
    }
    by_checkout
}

pub(super) async fn kill_9_while_calling_the_provider_makes_each_object_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = config_for(&db);
    let dir = scratch_dir();
    let fake = StripeFake::start().await;
    let settings = dir.join("switchyard.toml");
    std::fs::write(
        &settings,
        format!(
            "[payments]\nsweep_interval = \"200ms\"\nretry_creating_after = \"1s\"\n\n\
             [[payments.providers]]\nkind = \"stripe\"\nname = \"stripe\"\nsecret_key = \"{}\"\nbase_url = \"{}\"\n\
             success_url = \"https://app.example/paid\"\ntimeout_secs = 30\n",
            fake.secret_key(),
            fake.url()
        ),
    )
    .unwrap();
    let env = [("SWITCHYARD_CONFIG", settings.to_str().unwrap())];
    let mut first = ChildHub::start_with(&dir, &config, &env);

    // Stripe makes the sessions at once but answers too late: the hub dies waiting.
    fake.delay(Duration::from_secs(30));
    let client = switchyard_providers::http_client();
    let mut calls = JoinSet::new();
    for (name, key) in [
        ("retried", "order-retried"),
        ("abandoned", "order-abandoned"),
    ] {
        let (client, url, token) = (
            client.clone(),
            first.url("/v1/payments/checkout"),
            first.key.clone(),
        );
        calls.spawn(async move {
            let _ = client
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&order(name))
                .send()
                .await;
        });
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while asked(&fake).len() < 2 {
        assert!(Instant::now() < deadline, "the hub never called Stripe");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill_9();
    calls.abort_all();
    assert_eq!(fake.created("checkout_session"), 2);
    fake.delay(Duration::ZERO);

    let second = ChildHub::start_with(&dir, &config, &env);
    // The client of one of them retries with its key.
    let r = client
        .post(second.url("/v1/payments/checkout"))
        .bearer_auth(&second.key)
        .header("Idempotency-Key", "order-retried")
        .json(&order("retried"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    // The other one's client is gone: the sweeper finishes it.
    let ids: Vec<String> = asked(&fake).into_keys().collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in &ids {
        loop {
            let c: Value = client
                .get(second.url(&format!("/v1/payments/checkout/{id}")))
                .bearer_auth(&second.key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if c["status"] == "open" {
                assert!(c["url"].is_string());
                break;
            }
            assert!(Instant::now() < deadline, "{id} stayed {c}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let by_checkout = asked(&fake);
    assert_eq!(by_checkout.len(), 2, "{by_checkout:?}");
    for (id, keys) in &by_checkout {
        assert_eq!(keys.len(), 1, "{id} was asked with one key: {keys:?}");
    }
    let calls = fake
        .requests_to(Method::POST, "/v1/checkout/sessions")
        .len();
    assert!(
        calls >= 4,
        "each was asked again after the restart ({calls} calls)"
    );
    assert_eq!(fake.created("checkout_session"), 2, "one session each");
    drop(second);
    db.cleanup().await;
    let _ = std::fs::remove_dir_all(&dir);
}
