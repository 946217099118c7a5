//! Stripe's failures as the application sees them, against a `wiremock` Stripe: a
//! refusal is 422 with Stripe's own code; a 5xx is retried with the same
//! `Idempotency-Key`; a 429 is 503 with its `Retry-After`; a timeout is 503 and the
//! client's retry (or the sweeper) still makes one object. The request is encoded as
//! Stripe documents it.

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_providers::payments::PaymentProviderConfig;
use switchyard_providers::payments::stripe::{API_VERSION, StripeConfig};
use switchyard_providers::testing::stripe::StripeFake;
use switchyard_providers::testing::{Method, ResponseTemplate};
use switchyard_store::Backend;

use super::{call, until};
use crate::{TestApp, problem};

/// A hub whose only payment provider is `fake`, with `tweak` applied to its settings.
async fn hub(fake: &StripeFake, tweak: impl FnOnce(&mut StripeConfig)) -> TestApp {
    let mut settings = fake.config("stripe");
    let PaymentProviderConfig::Stripe(stripe) = &mut settings else {
        unreachable!("the Stripe fake's settings are Stripe's");
    };
    stripe.success_url = Some("https://app.example/paid".into());
    tweak(stripe);
    TestApp::spawn_with(
        Backend::Sqlite,
        |c| {
            c.payments.providers = vec![settings];
            c.payments.sweep_interval.0 = Duration::from_millis(100);
            c.payments.retry_creating_after.0 = Duration::from_millis(300);
        },
        vec![],
    )
    .await
}

fn order() -> Value {
    json!({
        "mode": "payment",
        "customer_email": "ada@example.com",
        "line_items": [{"name": "Course", "amount": 4900, "currency": "usd", "quantity": 2}],
        "metadata": {"order": "7"},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_encoded_as_stripe_documents_them() {
    let fake = StripeFake::start().await;
    let app = hub(&fake, |_| {}).await;
    let checkout = call(&app, "/v1/payments/checkout", order(), 201).await;
    let sent = fake.last_request(Method::POST, "/v1/checkout/sessions");
    let id = checkout["id"].as_str().unwrap();
    for (key, value) in [
        ("mode", "payment"),
        ("line_items[0][price_data][product_data][name]", "Course"),
        ("line_items[0][price_data][unit_amount]", "4900"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][quantity]", "2"),
        ("customer_email", "ada@example.com"),
        ("client_reference_id", id),
        ("metadata[order]", "7"),
        ("metadata[switchyard_id]", id),
        ("success_url", "https://app.example/paid"),
    ] {
        assert_eq!(
            sent.form_value(key),
            Some(value),
            "{key} in {:?}",
            sent.form
        );
    }
    assert_eq!(
        sent.header("idempotency-key"),
        Some(format!("switchyard-{id}").as_str())
    );
    assert_eq!(sent.header("stripe-version"), Some(API_VERSION));
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {}", fake.secret_key()).as_str())
    );
    assert_eq!(checkout["amount_total"], 9800);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_422_with_stripes_code_and_nothing_is_retried() {
    let fake = StripeFake::start().await;
    let app = hub(&fake, |_| {}).await;
    let declined = json!({"error": {"type": "card_error", "code": "card_declined",
        "decline_code": "generic_decline", "message": "Your card was declined.", "param": "payment_method"}});
    fake.fail_next(
        Method::POST,
        "/v1/checkout/sessions",
        ResponseTemplate::new(402).set_body_json(declined),
    );
    let r = app
        .post("/v1/payments/checkout", order())
        .send()
        .await
        .unwrap();
    let p = problem(r, 422, "provider_rejected").await;
    assert_eq!(p["provider"], "stripe");
    assert_eq!(p["provider_code"], "card_declined");
    assert_eq!(p["provider_message"], "Your card was declined.");
    assert_eq!(p["provider_param"], "payment_method");
    assert_eq!(
        fake.requests_to(Method::POST, "/v1/checkout/sessions")
            .len(),
        1
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_is_retried_with_the_same_idempotency_key() {
    let fake = StripeFake::start().await;
    let app = hub(&fake, |_| {}).await;
    fake.fail_next(
        Method::POST,
        "/v1/checkout/sessions",
        ResponseTemplate::new(500)
            .set_body_json(json!({"error": {"type": "api_error", "message": "boom"}})),
    );
    let checkout = call(&app, "/v1/payments/checkout", order(), 201).await;
    assert_eq!(checkout["status"], "open");
    // The hub retried after the 500 (and its sweeper, 300 ms on in these tests, may
    // have asked once more): every try carries the one key, and one session exists.
    let tries = fake.requests_to(Method::POST, "/v1/checkout/sessions");
    assert!(tries.len() >= 2, "{} tries", tries.len());
    let key = tries[0].header("idempotency-key").expect("a key");
    assert!(key.starts_with("switchyard-pchk_"), "{key}");
    assert!(
        tries
            .iter()
            .all(|t| t.header("idempotency-key") == Some(key))
    );
    assert_eq!(fake.created("checkout_session"), 1);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_503_with_its_retry_after_and_is_not_retried() {
    let fake = StripeFake::start().await;
    let app = hub(&fake, |_| {}).await;
    fake.fail_next(
        Method::POST,
        "/v1/checkout/sessions",
        ResponseTemplate::new(429)
            .insert_header("retry-after", "7")
            .set_body_json(json!({"error": {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests"}})),
    );
    let r = app
        .post("/v1/payments/checkout", order())
        .header("Idempotency-Key", "order-7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["retry-after"], "7");
    problem(r, 503, "provider_unavailable").await;
    assert_eq!(
        fake.requests_to(Method::POST, "/v1/checkout/sessions")
            .len(),
        1
    );
    // The client's retry with the same key completes the same checkout.
    let r = app
        .post("/v1/payments/checkout", order())
        .header("Idempotency-Key", "order-7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(fake.created("checkout_session"), 1);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_timeout_the_retry_and_the_sweeper_make_one_object() {
    let fake = StripeFake::start().await;
    let app = hub(&fake, |s| {
        s.timeout_secs = Some(1);
        s.max_retries = Some(0);
    })
    .await;
    fake.delay(Duration::from_millis(1500));
    let r = app
        .post("/v1/payments/checkout", order())
        .header("Idempotency-Key", "order-8")
        .send()
        .await
        .unwrap();
    let p = problem(r, 503, "provider_unavailable").await;
    assert!(
        p["detail"].as_str().unwrap().contains("Idempotency-Key"),
        "{p}"
    );
    fake.delay(Duration::ZERO);
    // Meanwhile the sweeper asks again, with the same key: the checkout opens on its own.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while fake
        .requests_to(Method::POST, "/v1/checkout/sessions")
        .len()
        < 2
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweeper never asked again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = app
        .post("/v1/payments/checkout", order())
        .header("Idempotency-Key", "order-8")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let checkout: Value = r.json().await.unwrap();
    let path = format!("/v1/payments/checkout/{}", checkout["id"].as_str().unwrap());
    until(&app, &path, "an open checkout", |c| c["status"] == "open").await;
    let keys: Vec<_> = fake
        .requests_to(Method::POST, "/v1/checkout/sessions")
        .iter()
        .map(|r| r.header("idempotency-key").unwrap().to_string())
        .collect();
    assert!(keys.len() >= 2, "{keys:?}");
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
    assert_eq!(fake.created("checkout_session"), 1);
    app.finish().await;
}
