//! Account credits over HTTP: balances, grants, the ledger, and refusals.

use serde_json::{Value, json};
use switchyard_store::Backend;

use crate::{TestApp, both_backends, problem};

both_backends!(credits_are_granted_listed_and_refused_precisely);

async fn credits_are_granted_listed_and_refused_precisely(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let unmetered: Value = app.get_json("/v1/accounts/acme/credits").await;
    assert_eq!(
        unmetered,
        json!({"account": "acme", "email": null, "sms": null})
    );

    let grant = |body: Value| app.post("/v1/accounts/acme/credits", body).send();
    let r = grant(json!({"channel": "sms", "amount": 10, "reason": "trial"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"account": "acme", "email": null, "sms": 10})
    );
    let r = grant(json!({"channel": "sms", "amount": -3}))
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["sms"], 7);

    // Refusals change nothing.
    let r = grant(json!({"channel": "sms", "amount": -8}))
        .await
        .unwrap();
    problem(r, 409, "insufficient_credits").await;
    let r = grant(json!({"channel": "fax", "amount": 0})).await.unwrap();
    let p = problem(r, 422, "validation_failed").await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["channel", "amount"]);
    let r = app
        .post(
            "/v1/accounts/has%20space/credits",
            json!({"channel": "sms", "amount": 1}),
        )
        .send()
        .await
        .unwrap();
    problem(r, 400, "invalid_account").await;
    assert_eq!(app.get_json("/v1/accounts/acme/credits").await["sms"], 7);

    let ledger: Value = app.get_json("/v1/accounts/acme/credits/ledger").await;
    let entries = ledger["data"].as_array().unwrap();
    let deltas: Vec<i64> = entries
        .iter()
        .map(|e| e["delta"].as_i64().unwrap())
        .collect();
    assert_eq!(deltas, [-3, 10], "newest first");
    assert_eq!(
        deltas.iter().sum::<i64>(),
        7,
        "the ledger sums to the balance"
    );
    assert_eq!(entries[1]["reason"], "trial");
    assert_eq!(entries[1]["kind"], "grant");
    app.finish().await;
}
