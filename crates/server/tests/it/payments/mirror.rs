//! The mirror under what providers really do: webhooks unordered, repeated, and about
//! objects the hub did not make; and backfills that import what the provider already
//! has, idempotently.

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_providers::payments::PaymentProviderConfig;
use switchyard_providers::testing::stripe::StripeFake;
use switchyard_signatures::stripe;
use switchyard_store::Backend;

use super::{WEBHOOK_SECRET, call, intake_url, until};
use crate::{TestApp, both_backends};

both_backends!(
    unordered_and_repeated_webhooks_never_move_the_mirror_back,
    a_backfill_imports_what_the_provider_has_and_a_rerun_changes_nothing,
);

async fn hub(backend: Backend, fake: &StripeFake) -> TestApp {
    let mut settings = fake.config("stripe");
    if let PaymentProviderConfig::Stripe(s) = &mut settings {
        s.webhook_secret = Some(WEBHOOK_SECRET.to_string().into());
        s.success_url = Some("https://app.example/paid".into());
    }
    TestApp::spawn_with(backend, |c| c.payments.providers = vec![settings], vec![]).await
}

/// A Stripe event as Stripe writes it, created at `created` (seconds).
fn event(id: &str, kind: &str, created: i64, object: Value) -> String {
    json!({"id": id, "object": "event", "type": kind, "created": created, "api_version": "2026-02-25.clover",
        "data": {"object": object}})
    .to_string()
}

async fn deliver(app: &TestApp, url: &str, body: &str) {
    let t = switchyard_core::time::now_ms() / 1000;
    let r = app
        .client
        .post(url)
        .header("content-type", "application/json")
        .header(
            "stripe-signature",
            stripe::sign(WEBHOOK_SECRET, t, body.as_bytes()),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

fn subscription(status: &str) -> Value {
    json!({"id": "sub_outside", "object": "subscription", "status": status, "customer": "cus_outside",
        "cancel_at_period_end": false, "items": {"data": [{"current_period_end": 1_900_000_000}]}})
}

async fn unordered_and_repeated_webhooks_never_move_the_mirror_back(backend: Backend) {
    let fake = StripeFake::start().await;
    let app = hub(backend, &fake).await;
    let url = intake_url(&app, "payments-stripe").await;
    let t = 1_800_000_000;
    let created = event(
        "evt_1",
        "customer.subscription.created",
        t,
        subscription("active"),
    );
    let updated = event(
        "evt_2",
        "customer.subscription.updated",
        t + 10,
        subscription("past_due"),
    );
    let deleted = event(
        "evt_3",
        "customer.subscription.deleted",
        t + 20,
        subscription("canceled"),
    );
    let late = event(
        "evt_4",
        "customer.subscription.updated",
        t + 15,
        subscription("active"),
    );
    // Stripe's order is created, updated, deleted; they arrive otherwise, and twice.
    for body in [&updated, &deleted, &created, &updated, &late, &deleted] {
        deliver(&app, &url, body).await;
    }
    let subs = until(
        &app,
        "/v1/payments/subscriptions",
        "the subscription",
        |v| v["data"][0]["status"] == "canceled",
    )
    .await;
    assert_eq!(subs["data"].as_array().unwrap().len(), 1, "{subs}");
    assert_eq!(subs["data"][0]["provider_id"], "sub_outside");
    // Let every event be processed; the late update still has not revived it.
    until(&app, "/v1/events?limit=100", "processing", |v| {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["state"] == "processed")
    })
    .await;
    let subs = app.get_json("/v1/payments/subscriptions").await;
    assert_eq!(subs["data"][0]["status"], "canceled");
    assert!(subs["data"][0]["canceled_at"].is_null() || subs["data"][0]["canceled_at"].is_string());

    // The customer was made at Stripe: the mirror has a row for it, not subscribed.
    let customers = app.get_json("/v1/payments/customers").await;
    let all = customers["data"].as_array().unwrap();
    assert_eq!(all.len(), 1, "{customers}");
    assert_eq!(all[0]["provider_id"], "cus_outside");
    assert_eq!(all[0]["subscribed"], false);
    assert_eq!(all[0]["subscriptions"][0]["status"], "canceled");

    // Its details arrive later; a new subscription makes it subscribed.
    deliver(
        &app,
        &url,
        &event("evt_5", "customer.updated", t + 30,
            json!({"id": "cus_outside", "object": "customer", "email": "old@example.com", "name": "Grace"})),
    )
    .await;
    let mut again = subscription("trialing");
    again["id"] = json!("sub_second");
    deliver(
        &app,
        &url,
        &event("evt_6", "customer.subscription.created", t + 40, again),
    )
    .await;
    let id = all[0]["id"].as_str().unwrap();
    let c = until(
        &app,
        &format!("/v1/payments/customers/{id}"),
        "subscribed again",
        |c| c["subscribed"] == true,
    )
    .await;
    assert_eq!(
        (c["email"].as_str(), c["name"].as_str()),
        (Some("old@example.com"), Some("Grace"))
    );
    assert_eq!(c["subscriptions"].as_array().unwrap().len(), 2);
    app.finish().await;
}

async fn a_backfill_imports_what_the_provider_has_and_a_rerun_changes_nothing(backend: Backend) {
    let fake = StripeFake::start().await;
    let http = switchyard_providers::http_client();
    let mut customers = Vec::new();
    for i in 0..3 {
        let c: Value = http
            .post(format!("{}/v1/customers", fake.url()))
            .bearer_auth(fake.secret_key())
            .form(&[("email", format!("user{i}@example.com"))])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        customers.push(c["id"].as_str().unwrap().to_string());
    }
    let app = hub(backend, &fake).await;
    // Two of them subscribe through checkouts made at Stripe, not through the hub.
    for customer in &customers[..2] {
        let session: Value = http
            .post(format!("{}/v1/checkout/sessions", fake.url()))
            .bearer_auth(fake.secret_key())
            .form(&[
                ("mode", "subscription"),
                ("customer", customer),
                ("success_url", "https://app.example/ok"),
                ("line_items[0][price_data][currency]", "usd"),
                ("line_items[0][price_data][unit_amount]", "500"),
                ("line_items[0][price_data][product_data][name]", "Basic"),
                ("line_items[0][price_data][recurring][interval]", "month"),
                ("line_items[0][quantity]", "1"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        fake.complete_checkout(session["id"].as_str().unwrap());
    }

    let mut config = crate::config_for(&app.db);
    config.master_key = app.master_key.clone();
    config.bootstrap_key = false;
    config.queue.enabled = false;
    config.payments.providers = vec![fake.config("stripe")];
    let other = switchyard_server::Hub::open(config)
        .await
        .expect("a second hub opens");
    let mut pages = 0;
    let first = other
        .payments_sync("stripe", &mut |_| pages += 1)
        .await
        .unwrap();
    assert_eq!((first.customers, first.subscriptions), (3, 2));
    assert!(first.changed >= 5, "{first:?}");
    assert!(pages >= 2, "progress after each page");
    let listed = app.get_json("/v1/payments/customers").await;
    let subscribed: Vec<&Value> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["subscribed"] == true)
        .collect();
    assert_eq!(listed["data"].as_array().unwrap().len(), 3, "{listed}");
    assert_eq!(subscribed.len(), 2);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = other.payments_sync("stripe", &mut |_| {}).await.unwrap();
    assert_eq!(
        (second.customers, second.subscriptions, second.changed),
        (3, 2, 0)
    );
    assert_eq!(
        app.get_json("/v1/payments/customers").await,
        listed,
        "nothing changed"
    );
    assert!(matches!(
        other.payments_sync("nope", &mut |_| {}).await,
        Err(switchyard_server::SyncError::UnknownProvider(_))
    ));
    other.services().store.close().await;

    // The checkout route still works on the imported customer.
    let id = listed["data"][0]["id"].as_str().unwrap();
    call(
        &app,
        "/v1/payments/checkout",
        json!({"mode": "payment", "customer": id,
            "line_items": [{"name": "Extra", "amount": 100, "currency": "usd"}]}),
        201,
    )
    .await;
    app.finish().await;
}
