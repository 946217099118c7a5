//! The Stripe flow end to end against `localstripe`: the hub calls the fake, the fake's
//! signed webhooks come back through intake, and the mirror answers.

use serde_json::{Value, json};
use switchyard_store::Backend;

use super::{
    CONNECT_SECRET, Localstripe, WEBHOOK_SECRET, call, intake_url, stripe_provider, until,
};
use crate::delivery::{Receiver, body, create_endpoint};
use crate::{TestApp, both_backends};

both_backends!(
    a_subscription_is_bought_canceled_and_ends,
    one_time_payments_are_refunded_in_part_and_in_full,
    connected_accounts_are_onboarded,
    an_asynchronous_payment_is_pending_until_it_settles,
);

/// A hub with `localstripe` as its Stripe, webhooks wired both ways.
async fn hub(backend: Backend) -> (TestApp, Localstripe) {
    let stripe = Localstripe::start();
    let app = TestApp::spawn_with(backend, |c| stripe_provider(c, &stripe.url), vec![]).await;
    let main = intake_url(&app, "payments-stripe").await;
    let connect = intake_url(&app, "payments-stripe-connect").await;
    stripe
        .webhook(
            "hub",
            &main,
            WEBHOOK_SECRET,
            &[
                "checkout.session.completed",
                "checkout.session.async_payment_succeeded",
                "checkout.session.async_payment_failed",
                "checkout.session.expired",
                "customer.subscription.created",
                "customer.subscription.updated",
                "customer.subscription.deleted",
                "charge.refunded",
            ],
        )
        .await;
    stripe
        .webhook("connect", &connect, CONNECT_SECRET, &["account.updated"])
        .await;
    (app, stripe)
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

async fn a_subscription_is_bought_canceled_and_ends(backend: Backend) {
    let (app, stripe) = hub(backend).await;
    let receiver = Receiver::start().await;
    create_endpoint(
        &app,
        json!({"url": receiver.url("/hooks"), "event_types": ["payment.*"]}),
    )
    .await;

    let ada = call(
        &app,
        "/v1/payments/customers",
        json!({"email": "ada@example.com", "name": "Ada", "external_id": "u_42"}),
        201,
    )
    .await;
    assert_eq!(ada["state"], "ready");
    assert!(ada["provider_id"].as_str().unwrap().starts_with("cus_"));
    assert_eq!(ada["subscribed"], false);
    // The same user again is the same customer.
    let again = call(
        &app,
        "/v1/payments/customers",
        json!({"email": "ada@example.com", "external_id": "u_42"}),
        200,
    )
    .await;
    assert_eq!(id(&again), id(&ada));

    let order = json!({
        "mode": "subscription",
        "customer": id(&ada),
        "line_items": [{"name": "Pro plan", "amount": 1500, "currency": "usd", "interval": "month"}],
        "reference": "order-1001",
    });
    let r = app
        .post("/v1/payments/checkout", order.clone())
        .header("Idempotency-Key", "checkout-1001")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let checkout: Value = r.json().await.unwrap();
    assert_eq!(checkout["status"], "open");
    assert!(checkout["url"].as_str().unwrap().starts_with(&stripe.url));
    assert_eq!(checkout["provider"], "stripe");
    assert!(checkout["expires_at"].is_string());
    let r = app
        .post("/v1/payments/checkout", order)
        .header("Idempotency-Key", "checkout-1001")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    assert_eq!(id(&r.json::<Value>().await.unwrap()), id(&checkout));

    // The buyer pays at Stripe; its webhooks arrive in any order.
    let session = checkout["provider_id"].as_str().unwrap();
    stripe
        .post(&format!("/_test/checkout/sessions/{session}/complete"), &[])
        .await;
    let customer_path = format!("/v1/payments/customers/{}", id(&ada));
    let subscribed = until(&app, &customer_path, "the customer to be subscribed", |c| {
        c["subscribed"] == true
    })
    .await;
    let sub = subscribed["subscriptions"][0].clone();
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["checkout"], id(&checkout));
    assert!(sub["current_period_end"].is_string());
    until(
        &app,
        &format!("/v1/payments/checkout/{}", id(&checkout)),
        "the checkout to be complete",
        |c| c["status"] == "complete" && c["subscription"] == sub["id"],
    )
    .await;
    let by_user = app
        .get_json("/v1/payments/customers?external_id=u_42")
        .await;
    assert_eq!(by_user["data"][0]["subscribed"], true);

    // Deliveries carry the mirror's view of their object.
    let got = receiver.wait_for(2).await;
    let delivered: Vec<Value> = got.iter().map(body).collect();
    let created = delivered
        .iter()
        .find(|b| b["type"] == "payment.subscription.created")
        .unwrap_or_else(|| panic!("{delivered:?}"));
    assert_eq!(created["object"]["kind"], "subscription");
    assert_eq!(created["object"]["id"], sub["id"]);
    assert_eq!(created["object"]["customer"], id(&ada));
    assert_eq!(created["object"]["external_id"], "u_42");
    let completed = delivered
        .iter()
        .find(|b| b["type"] == "payment.checkout.completed")
        .unwrap_or_else(|| panic!("{delivered:?}"));
    assert_eq!(completed["object"]["reference"], "order-1001");
    assert!(
        completed["data"]["id"]
            .as_str()
            .unwrap()
            .starts_with("evt_")
    );

    // The billing portal for the customer.
    let portal = call(
        &app,
        "/v1/payments/portal",
        json!({"customer": id(&ada), "return_url": "https://app.example/account"}),
        200,
    )
    .await;
    assert!(portal["url"].as_str().unwrap().contains("/portal/"));

    // Cancel at period end: still subscribed until Stripe ends it.
    let sub_path = format!("/v1/payments/subscriptions/{}", sub["id"].as_str().unwrap());
    let canceling = call(
        &app,
        &format!("{sub_path}/cancel"),
        json!({"at_period_end": true}),
        200,
    )
    .await;
    assert_eq!(canceling["cancel_at_period_end"], true);
    assert_eq!(canceling["status"], "active");
    assert_eq!(app.get_json(&customer_path).await["subscribed"], true);
    stripe
        .delete(&format!(
            "/v1/subscriptions/{}",
            sub["provider_id"].as_str().unwrap()
        ))
        .await;
    until(&app, &customer_path, "the subscription to end", |c| {
        c["subscribed"] == false && c["subscriptions"][0]["status"] == "canceled"
    })
    .await;
    let listed = app
        .get_json(&format!(
            "/v1/payments/subscriptions?customer={}&status=canceled",
            id(&ada)
        ))
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    app.finish().await;
}

async fn one_time_payments_are_refunded_in_part_and_in_full(backend: Backend) {
    let (app, stripe) = hub(backend).await;
    let checkout = call(
        &app,
        "/v1/payments/checkout",
        json!({
            "mode": "payment",
            "customer_email": "grace@example.com",
            "line_items": [{"name": "Course", "amount": 2000, "currency": "eur", "quantity": 1}],
        }),
        201,
    )
    .await;
    assert_eq!(
        (
            checkout["amount_total"].as_i64(),
            checkout["currency"].as_str()
        ),
        (Some(2000), Some("eur"))
    );
    let session = checkout["provider_id"].as_str().unwrap();
    stripe
        .post(&format!("/_test/checkout/sessions/{session}/complete"), &[])
        .await;
    let path = format!("/v1/payments/checkout/{}", id(&checkout));
    let paid = until(&app, &path, "the checkout to be paid", |c| {
        c["status"] == "complete"
    })
    .await;
    assert!(paid["payment"].as_str().unwrap().starts_with("pi_"));
    assert!(
        paid["customer"].as_str().unwrap().starts_with("pcus_"),
        "{paid}"
    );

    let part = call(
        &app,
        "/v1/payments/refunds",
        json!({"payment": id(&checkout), "amount": 500, "reason": "requested_by_customer"}),
        201,
    )
    .await;
    assert_eq!(
        (part["status"].as_str(), part["amount"].as_i64()),
        (Some("succeeded"), Some(500))
    );
    assert_eq!(part["checkout"], id(&checkout));
    let rest = call(
        &app,
        "/v1/payments/refunds",
        json!({"payment": id(&checkout)}),
        201,
    )
    .await;
    assert_eq!(
        (rest["status"].as_str(), rest["amount"].as_i64()),
        (Some("succeeded"), Some(1500))
    );
    // Nothing is left to refund.
    let r = app
        .post(
            "/v1/payments/refunds",
            json!({"payment": id(&checkout), "amount": 1}),
        )
        .send()
        .await
        .unwrap();
    let problem = crate::problem(r, 422, "provider_rejected").await;
    assert_eq!(problem["provider"], "stripe");
    assert!(problem["provider_message"].is_string(), "{problem}");
    let fetched = app
        .get_json(&format!("/v1/payments/refunds/{}", id(&part)))
        .await;
    assert_eq!(fetched["payment"], paid["payment"]);
    app.finish().await;
}

async fn connected_accounts_are_onboarded(backend: Backend) {
    let (app, stripe) = hub(backend).await;
    let account = call(
        &app,
        "/v1/payments/connected-accounts",
        json!({"kind": "express", "email": "seller@example.com", "country": "us"}),
        201,
    )
    .await;
    assert_eq!(account["country"], "US");
    assert_eq!(account["charges_enabled"], false);
    assert!(!account["requirements_due"].as_array().unwrap().is_empty());
    let link = call(
        &app,
        &format!("/v1/payments/connected-accounts/{}/onboarding-link", id(&account)),
        json!({"refresh_url": "https://app.example/again", "return_url": "https://app.example/done"}),
        200,
    )
    .await;
    assert!(link["url"].as_str().unwrap().contains("/onboard/"));
    assert!(link["expires_at"].is_string());
    stripe
        .post(
            &format!(
                "/_test/accounts/{}/onboard",
                account["provider_id"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    let done = until(
        &app,
        &format!("/v1/payments/connected-accounts/{}", id(&account)),
        "account.updated through the Connect source",
        |a| a["charges_enabled"] == true,
    )
    .await;
    assert_eq!(done["payouts_enabled"], true);
    assert_eq!(done["requirements_due"], json!([]));

    // A marketplace checkout pays the seller, less the platform's fee.
    let sale = call(
        &app,
        "/v1/payments/checkout",
        json!({
            "mode": "payment",
            "line_items": [{"name": "Handmade mug", "amount": 3000, "currency": "usd"}],
            "marketplace": {"connected_account": id(&account), "application_fee_amount": 300},
        }),
        201,
    )
    .await;
    assert_eq!(sale["status"], "open");
    app.finish().await;
}

async fn an_asynchronous_payment_is_pending_until_it_settles(backend: Backend) {
    let (app, stripe) = hub(backend).await;
    let receiver = Receiver::start().await;
    create_endpoint(
        &app,
        json!({"url": receiver.url("/hooks"), "event_types": ["payment.checkout.*"]}),
    )
    .await;
    let checkout = call(
        &app,
        "/v1/payments/checkout",
        json!({"mode": "payment", "line_items": [{"name": "Invoice 7", "amount": 9900, "currency": "eur"}]}),
        201,
    )
    .await;
    let session = checkout["provider_id"].as_str().unwrap();
    let path = format!("/v1/payments/checkout/{}", id(&checkout));
    stripe
        .post(
            &format!("/_test/checkout/sessions/{session}/complete"),
            &[("payment_status", "unpaid")],
        )
        .await;
    until(&app, &path, "pending", |c| c["status"] == "pending").await;
    stripe
        .post(
            &format!("/_test/checkout/sessions/{session}/async_succeeded"),
            &[],
        )
        .await;
    until(&app, &path, "complete", |c| c["status"] == "complete").await;
    let types: Vec<Value> = receiver
        .wait_for(2)
        .await
        .iter()
        .map(|r| body(r)["type"].clone())
        .collect();
    assert!(
        types.contains(&json!("payment.checkout.pending")),
        "{types:?}"
    );
    assert!(
        types.contains(&json!("payment.checkout.completed")),
        "{types:?}"
    );
    app.finish().await;
}
