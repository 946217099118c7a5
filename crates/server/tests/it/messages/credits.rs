//! Credits over HTTP: reserved when a message is accepted (402 when short), committed
//! when it is sent, refunded when it fails; exactly the balance is accepted under
//! concurrency.

use serde_json::{Value, json};
use switchyard_store::Backend;
use wiremock::ResponseTemplate;

use super::{accepted, status_is};
use crate::{TestApp, both_backends, problem};

both_backends!(
    credits_are_reserved_committed_and_refunded,
    concurrent_sends_take_exactly_the_balance,
    required_credits_refuse_unknown_accounts,
);

async fn grant(app: &TestApp, account: &str, channel: &str, amount: i64) {
    let r = app
        .post(
            &format!("/v1/accounts/{account}/credits"),
            json!({"channel": channel, "amount": amount, "reason": "test"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

async fn ledger_sums_to_balance(app: &TestApp, account: &str, channel: &str) -> i64 {
    let balance = app
        .get_json(&format!("/v1/accounts/{account}/credits"))
        .await[channel]
        .as_i64()
        .unwrap();
    let ledger = app
        .get_json(&format!("/v1/accounts/{account}/credits/ledger?limit=100"))
        .await;
    let sum: i64 = ledger["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["channel"] == channel)
        .map(|e| e["delta"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, balance, "{ledger:#}");
    balance
}

fn email(to: &[&str], account: &str) -> Value {
    json!({"from": "shop@example.com", "to": to, "subject": "Hi", "text": "Hello", "account": account})
}

async fn credits_are_reserved_committed_and_refunded(backend: Backend) {
    let rejecting = crate::messages::fake(None, ResponseTemplate::new(400).set_body_json(
            json!({"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400}),
        )).await;
    let uri = rejecting.uri();
    let app = TestApp::spawn_with(
        backend,
        |c| {
            c.sms.providers =
                serde_json::from_value(json!([{"kind": "twilio", "account_sid": "AC1",
                "auth_token": "t", "from": "+15550001111", "base_url": uri}]))
                .unwrap()
        },
        vec![],
    )
    .await;
    grant(&app, "acme", "email", 3).await;
    grant(&app, "acme", "sms", 1).await;

    // Three recipients need three credits; four are refused, nothing stored.
    let four = app
        .post(
            "/v1/emails",
            email(&["a@x.io", "b@x.io", "c@x.io", "d@x.io"], "acme"),
        )
        .send()
        .await
        .unwrap();
    let p = problem(four, 402, "insufficient_credits").await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("has 3 email credits"),
        "{p}"
    );
    assert_eq!(app.get_json("/v1/messages").await["data"], json!([]));

    let id = accepted(&app, "/v1/emails", email(&["a@x.io", "b@x.io"], "acme")).await;
    let m = status_is(&app, &id, "sent").await;
    assert_eq!(m["credits"], 2);
    assert_eq!(ledger_sums_to_balance(&app, "acme", "email").await, 1);
    let ledger = app.get_json("/v1/accounts/acme/credits/ledger").await;
    let kinds: Vec<&str> = ledger["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["message_id"] == id.as_str())
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["commit", "reserve"], "newest first");

    // A rejected SMS gives its credit back.
    let sms = accepted(
        &app,
        "/v1/sms",
        json!({"to": "+15550002222", "body": "hi", "account": "acme"}),
    )
    .await;
    let failed = status_is(&app, &sms, "failed").await;
    assert!(
        failed["last_error"].as_str().unwrap().contains("21211"),
        "{failed:#}"
    );
    assert_eq!(ledger_sums_to_balance(&app, "acme", "sms").await, 1);
    let ledger = app.get_json("/v1/accounts/acme/credits/ledger").await;
    let moves: Vec<(&str, i64)> = ledger["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["message_id"] == sms.as_str())
        .map(|e| (e["kind"].as_str().unwrap(), e["delta"].as_i64().unwrap()))
        .collect();
    assert_eq!(moves, [("refund", 1), ("reserve", -1)], "newest first");

    // Accounts without a credit record are not metered.
    let free = accepted(&app, "/v1/emails", email(&["a@x.io"], "other")).await;
    assert_eq!(status_is(&app, &free, "sent").await["credits"], 0);
    app.finish().await;
}

async fn concurrent_sends_take_exactly_the_balance(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    grant(&app, "acme", "sms", 7).await;
    let sends = (0..20).map(|i| {
        app.post(
            "/v1/sms",
            json!({"to": format!("+1555000{i:04}"), "body": "hi", "account": "acme"}),
        )
        .send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 402).count(),
        13,
        "{statuses:?}"
    );
    assert_eq!(ledger_sums_to_balance(&app, "acme", "sms").await, 0);
    app.finish().await;
}

async fn required_credits_refuse_unknown_accounts(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.credits.required = true, vec![]).await;
    let r = app
        .post("/v1/emails", email(&["a@x.io"], "nobody"))
        .send()
        .await
        .unwrap();
    problem(r, 402, "insufficient_credits").await;
    grant(&app, "nobody", "email", 1).await;
    accepted(&app, "/v1/emails", email(&["a@x.io"], "nobody")).await;
    app.finish().await;
}
