//! PayPal over HTTP against a `wiremock` PayPal: one OAuth token for the whole flow;
//! an order made once, approved by the buyer, captured by the hub when the signed
//! `CHECKOUT.ORDER.APPROVED` webhook arrives, refunded; a subscription made once,
//! activated, and canceled (now only); and what PayPal cannot do is 422
//! `not_supported`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use serde_json::{Value, json};
use sha2::Sha256;
use switchyard_providers::payments::PaymentProviderConfig;
use switchyard_providers::testing::Method;
use switchyard_providers::testing::paypal::PaypalFake;
use switchyard_signatures as sig;
use switchyard_store::Backend;

use super::{call, intake_url, until};
use crate::{TestApp, both_backends, problem};

both_backends!(paypal_orders_and_subscriptions_end_to_end);

const CERT: &str = include_str!("../../../../signatures/tests/fixtures/paypal-test-cert.pem");
const KEY: &str = include_str!("../../../../signatures/tests/fixtures/paypal-test-key.pem");
const WEBHOOK_ID: &str = "1JE4291016473214C";

/// Serves the PayPal test certificate; its base URL.
async fn certificates() -> String {
    let router = axum::Router::new().fallback(|| async { CERT });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/certs/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

/// Posts `body` to `url` signed as PayPal signs webhooks for `WEBHOOK_ID`.
async fn deliver(app: &TestApp, url: &str, certs: &str, body: &str) {
    let key = SigningKey::<Sha256>::new(rsa::RsaPrivateKey::from_pkcs8_pem(KEY).unwrap());
    let mut h = sig::paypal::PaypalHeaders {
        transmission_id: format!("{:032x}", rand::random::<u128>()),
        transmission_time: switchyard_core::time::rfc3339(switchyard_core::time::now_ms()),
        transmission_sig: String::new(),
        cert_url: format!("{certs}CERT-360caa42-fca2a594-a5cafa77"),
        auth_algo: sig::paypal::SHA256_WITH_RSA.into(),
    };
    let message = sig::paypal::message(&h, body.as_bytes(), WEBHOOK_ID);
    h.transmission_sig = BASE64.encode(key.sign(message.as_bytes()).to_bytes());
    let r = app
        .client
        .post(url)
        .header("content-type", "application/json")
        .header("paypal-transmission-id", &h.transmission_id)
        .header("paypal-transmission-time", &h.transmission_time)
        .header("paypal-transmission-sig", &h.transmission_sig)
        .header("paypal-cert-url", &h.cert_url)
        .header("paypal-auth-algo", &h.auth_algo)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

async fn paypal_orders_and_subscriptions_end_to_end(backend: Backend) {
    let fake = PaypalFake::start().await;
    let certs = certificates().await;
    let mut settings = fake.config("paypal");
    if let PaymentProviderConfig::Paypal(p) = &mut settings {
        p.webhook_id = Some(WEBHOOK_ID.into());
        p.success_url = Some("https://app.example/paid".into());
        p.cancel_url = Some("https://app.example/cart".into());
    }
    let app = TestApp::spawn_with(
        backend,
        |c| {
            c.payments.providers = vec![settings];
            c.intake.paypal_cert_urls = vec![certs.clone()];
        },
        vec![],
    )
    .await;
    let hook = intake_url(&app, "payments-paypal").await;

    // PayPal keeps no customers: the customer is the hub's.
    let ada = call(
        &app,
        "/v1/payments/customers",
        json!({"email": "ada@example.com", "external_id": "u_7"}),
        201,
    )
    .await;
    assert_eq!(ada["state"], "ready");
    assert!(ada["provider_id"].is_null());

    // A one-time order: made once, with the hub's key.
    let order = json!({
        "mode": "payment",
        "customer": id(&ada),
        "line_items": [{"name": "Workshop", "amount": 1234, "currency": "usd"}],
    });
    let checkout = call(&app, "/v1/payments/checkout", order, 201).await;
    assert_eq!(checkout["status"], "open");
    assert!(
        checkout["url"].as_str().unwrap().contains("checkoutnow"),
        "{checkout}"
    );
    let sent = fake.last_request(Method::POST, "/v2/checkout/orders");
    let body = sent.json();
    assert_eq!(
        body["purchase_units"][0]["custom_id"],
        id(&checkout).as_str()
    );
    assert_eq!(body["purchase_units"][0]["amount"]["value"], "12.34");
    assert_eq!(
        sent.header("paypal-request-id"),
        Some(format!("switchyard-{}", id(&checkout)).as_str())
    );

    // The buyer approves; the webhook makes the hub capture.
    let order_id = checkout["provider_id"].as_str().unwrap().to_string();
    let approved = fake.approve_order(&order_id);
    deliver(
        &app,
        &hook,
        &certs,
        &fake.event("CHECKOUT.ORDER.APPROVED", approved),
    )
    .await;
    let path = format!("/v1/payments/checkout/{}", id(&checkout));
    let paid = until(&app, &path, "the capture", |c| c["status"] == "complete").await;
    assert!(paid["payment"].is_string(), "{paid}");
    assert_eq!(fake.created("capture"), 1);
    let capture = fake.last_request(
        Method::POST,
        &format!("/v2/checkout/orders/{order_id}/capture"),
    );
    assert_eq!(
        capture.header("paypal-request-id"),
        Some(format!("switchyard-{}-capture", id(&checkout)).as_str())
    );

    // A partial refund of the capture.
    let refund = call(
        &app,
        "/v1/payments/refunds",
        json!({"payment": id(&checkout), "amount": 234}),
        201,
    )
    .await;
    assert_eq!(
        (refund["status"].as_str(), refund["amount"].as_i64()),
        (Some("succeeded"), Some(234))
    );
    let sent = fake
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.route().ends_with("/refund"))
        .unwrap();
    assert_eq!(sent.json()["amount"]["value"], "2.34");
    assert_eq!(
        sent.header("paypal-request-id"),
        Some(format!("switchyard-{}", id(&refund)).as_str())
    );

    // A subscription: product, plan and subscription made once each.
    let sub_checkout = call(
        &app,
        "/v1/payments/checkout",
        json!({
            "mode": "subscription",
            "customer": id(&ada),
            "line_items": [{"name": "Membership", "amount": 999, "currency": "usd", "interval": "month"}],
        }),
        201,
    )
    .await;
    assert_eq!(
        (
            fake.created("product"),
            fake.created("plan"),
            fake.created("subscription")
        ),
        (1, 1, 1)
    );
    let sub_id = sub_checkout["provider_id"].as_str().unwrap().to_string();
    let active = fake.activate_subscription(&sub_id);
    deliver(
        &app,
        &hook,
        &certs,
        &fake.event("BILLING.SUBSCRIPTION.ACTIVATED", active),
    )
    .await;
    let customer_path = format!("/v1/payments/customers/{}", id(&ada));
    let subscribed = until(&app, &customer_path, "subscribed", |c| {
        c["subscribed"] == true
    })
    .await;
    let psub = subscribed["subscriptions"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    until(
        &app,
        &format!("/v1/payments/checkout/{}", id(&sub_checkout)),
        "the subscription checkout",
        |c| c["status"] == "complete",
    )
    .await;

    // PayPal cancels at once only.
    let r = app
        .post(
            &format!("/v1/payments/subscriptions/{psub}/cancel"),
            json!({"at_period_end": true}),
        )
        .send()
        .await
        .unwrap();
    let p = problem(r, 422, "not_supported").await;
    assert_eq!(
        (p["provider"].as_str(), p["operation"].as_str()),
        (Some("paypal"), Some("cancellation at period end"))
    );
    let canceled = call(
        &app,
        &format!("/v1/payments/subscriptions/{psub}/cancel"),
        json!({}),
        200,
    )
    .await;
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(app.get_json(&customer_path).await["subscribed"], false);

    // What PayPal does not do.
    for (path, body) in [
        (
            "/v1/payments/portal",
            json!({"customer": id(&ada), "return_url": "https://app.example/me"}),
        ),
        (
            "/v1/payments/connected-accounts",
            json!({"kind": "express", "email": "s@example.com", "country": "US"}),
        ),
        (
            "/v1/payments/checkout",
            json!({
                "mode": "payment",
                "line_items": [{"name": "Mug", "amount": 3000, "currency": "usd"}],
                "marketplace": {"connected_account": "pacct_00000000000000000000000000", "application_fee_amount": 300},
            }),
        ),
    ] {
        let r = app.post(path, body).send().await.unwrap();
        let p = problem(r, 422, "not_supported").await;
        assert_eq!(p["provider"], "paypal", "{path}");
    }

    // Every call above shared one OAuth token.
    assert_eq!(fake.token_requests(), 1);
    app.finish().await;
}
