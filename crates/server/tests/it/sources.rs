//! Sources over HTTP and in the configuration: credentials sealed and never shown,
//! validation, rotation with an overlap, disabling and deleting.

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_signatures::github;
use switchyard_store::Backend;

use switchyard_server::config::DeclaredSource;

use crate::intake::{STRIPE_SECRET, create_source, now, post_stripe, stripe_event};
use crate::{TestApp, both_backends, problem};

both_backends!(
    credential_rotation_overlaps_then_ends,
    disabled_and_deleted_sources_are_404,
    sources_never_return_credentials_and_validate_input,
    sources_declared_in_the_configuration,
);

async fn credential_rotation_overlaps_then_ends(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let old = "It's a Secret to Everybody";
    let source = create_source(&app, json!({"name": "gh", "kind": "github", "secret": old})).await;
    let id = source["id"].as_str().unwrap().to_string();
    let send = |secret: &'static str, delivery: &'static str| {
        let app = &app;
        let id = id.clone();
        async move {
            let body = format!("{{\"zen\":\"{delivery}\"}}");
            app.client
                .post(app.url(&format!("/in/{id}")))
                .header("x-hub-signature-256", github::sign(secret, body.as_bytes()))
                .header("x-github-delivery", delivery)
                .header("x-github-event", "ping")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(send(old, "d1").await, 200);
    let r = app
        .req(Method::PATCH, &format!("/v1/sources/{id}"))
        .json(&json!({"secret": "new secret", "previous_credential_grace": "1h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let updated: Value = r.json().await.unwrap();
    assert!(updated["previous_credential_until"].is_string());
    assert_eq!(
        (send(old, "d2").await, send("new secret", "d3").await),
        (200, 200),
        "both during the overlap"
    );

    // Rotating again without a grace ends the overlap at once.
    let r = app
        .req(Method::PATCH, &format!("/v1/sources/{id}"))
        .json(&json!({"secret": "newest"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        (send("new secret", "d4").await, send("newest", "d5").await),
        (401, 200)
    );
    app.finish().await;
}

async fn disabled_and_deleted_sources_are_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let source = create_source(
        &app,
        json!({"name": "s", "kind": "stripe", "secret": STRIPE_SECRET}),
    )
    .await;
    let id = source["id"].as_str().unwrap();
    let body = stripe_event("evt_9", "invoice.paid");
    app.req(Method::PATCH, &format!("/v1/sources/{id}"))
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    problem(
        post_stripe(&app, id, &body, STRIPE_SECRET, now()).await,
        404,
        "unknown_source",
    )
    .await;
    app.req(Method::PATCH, &format!("/v1/sources/{id}"))
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        post_stripe(&app, id, &body, STRIPE_SECRET, now())
            .await
            .status(),
        200
    );
    assert_eq!(
        app.req(Method::DELETE, &format!("/v1/sources/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    problem(
        post_stripe(&app, id, &body, STRIPE_SECRET, now()).await,
        404,
        "unknown_source",
    )
    .await;
    // Its events stay.
    let listed: Value = app.get_json("/v1/events").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    app.finish().await;
}

async fn sources_never_return_credentials_and_validate_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let created = create_source(
        &app,
        json!({"name": "resend", "kind": "standard_webhooks", "secret": secret}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    for path in [format!("/v1/sources/{id}"), "/v1/sources".to_string()] {
        let text = app.get(&path).send().await.unwrap().text().await.unwrap();
        assert!(!text.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "{text}");
    }
    let stored = app
        .state
        .store
        .get_secret(&format!("{id}/credential"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&stored.ciphertext).contains("MfKQ9r8"),
        "sealed at rest"
    );

    // Each bad request is refused naming the field at fault, and stores nothing.
    for (body, field) in [
        (
            json!({"name": "x", "kind": "carrier_pigeon", "secret": "s"}),
            "kind",
        ),
        (json!({"name": "x", "kind": "stripe"}), "secret"),
        (
            json!({"name": "x", "kind": "twilio", "secret": "s"}),
            "secret",
        ),
        (
            json!({"name": "x", "kind": "stripe", "secret": "whsec_abc", "colour": "red"}),
            "colour",
        ),
        (
            json!({"name": "x", "kind": "stripe", "secret": "not-a-signing-secret"}),
            "secret",
        ),
        (
            json!({"name": "x", "kind": "stripe", "secret": "whsec_abc", "header": "x-sig"}),
            "header",
        ),
        (
            json!({"name": "x", "kind": "standard_webhooks", "secret": "whsec_"}),
            "secret",
        ),
        (
            json!({"name": "x", "kind": "shared_secret", "secret": "s"}),
            "header",
        ),
        (
            json!({"name": "x", "kind": "shared_secret", "secret": "s", "header": "bad header"}),
            "header",
        ),
        (json!({"name": "x", "kind": "paypal"}), "webhook_id"),
        (
            json!({"name": "x", "kind": "telnyx", "public_key": "garbage"}),
            "public_key",
        ),
        (
            json!({"name": "x", "kind": "telnyx", "public_key": "c2hvcnQ="}),
            "public_key",
        ),
        (
            json!({"name": "x", "kind": "sendgrid", "public_key": "not a key"}),
            "public_key",
        ),
        (
            json!({"name": "x", "kind": "stripe", "secret": "whsec_abc", "body_limit": 0}),
            "body_limit",
        ),
        (
            json!({"name": "x", "kind": "stripe", "secret": "whsec_abc", "body_limit": 1_000_000_000}),
            "body_limit",
        ),
        (
            json!({"name": "x", "kind": "twilio", "auth_token": "t", "public_url": "ftp://x"}),
            "public_url",
        ),
        (
            json!({"name": "x", "kind": "hmac", "secret": "s", "header": "x-sig", "algorithm": "md5"}),
            "algorithm",
        ),
        (
            json!({"name": "x", "kind": "hmac", "secret": "s", "header": "x-sig", "template": "{timestamp}.{body}"}),
            "timestamp_header",
        ),
        (
            json!({"name": "", "kind": "stripe", "secret": "whsec_abc"}),
            "name",
        ),
        (
            json!({"name": "a\u{7}b", "kind": "stripe", "secret": "whsec_abc"}),
            "name",
        ),
        (json!({"kind": "stripe", "secret": "whsec_abc"}), "name"),
    ] {
        let r = app.post("/v1/sources", body.clone()).send().await.unwrap();
        let p = problem(r, 422, "validation_failed").await;
        let fields: Vec<&str> = p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{body}: expected {field}, got {p}");
    }
    let listed: Value = app.get_json("/v1/sources").await;
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        1,
        "rejected requests stored nothing"
    );
    app.finish().await;
}

/// `[[sources]]` in the configuration: created at start with a stable id, credentials
/// sealed and never shown, brought up to date at the next start (with an overlap for a
/// changed secret), and bad declarations stop the start with a message naming the field.
async fn sources_declared_in_the_configuration(backend: Backend) {
    let declared = |secret: &str, extra: Value| {
        let mut source = json!({"name": "stripe-main", "kind": "stripe", "secret": secret});
        source
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        source.as_object().unwrap().clone()
    };
    let typed = |source: &serde_json::Map<String, Value>| -> DeclaredSource {
        serde_json::from_value(Value::Object(source.clone())).unwrap()
    };
    let first = declared("whsec_declared_one", json!({"tolerance_secs": 600}));
    let app = TestApp::spawn_with(backend, |c| c.sources = vec![typed(&first)], vec![]).await;
    let list: Value = app.get_json("/v1/sources").await;
    let sources = list["data"].as_array().unwrap();
    assert_eq!(sources.len(), 1);
    let id = sources[0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        id,
        switchyard_core::id::derived_id("src", "source:stripe-main")
    );
    assert_eq!(sources[0]["settings"]["tolerance_secs"], 600);
    assert!(!list.to_string().contains("whsec_declared_one"));
    let body = stripe_event("evt_declared_1", "invoice.paid");
    let r = post_stripe(&app, &id, &body, "whsec_declared_one", now() - 500).await;
    assert_eq!(r.status(), 200, "the declared tolerance applies");

    // Next start: new secret with an overlap; the id and the events stay.
    let second = declared(
        "whsec_declared_two",
        json!({"previous_credential_grace": "1h", "secret_env": null}),
    );
    let mut second = second;
    second.remove("secret_env");
    let app = app.restart_with(|c| c.sources = vec![typed(&second)]).await;
    for (secret, n) in [("whsec_declared_two", 2), ("whsec_declared_one", 3)] {
        let body = stripe_event(&format!("evt_declared_{n}"), "invoice.paid");
        let r = post_stripe(&app, &id, &body, secret, now()).await;
        assert_eq!(r.status(), 200, "{secret} during the overlap");
    }
    let list: Value = app.get_json("/v1/sources").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(list["data"][0]["previous_credential_until"].is_string());
    assert_eq!(list["data"][0]["settings"]["tolerance_secs"], Value::Null);

    // The same declaration again changes nothing: the overlap is not renewed or lost.
    let app = app.restart_with(|c| c.sources = vec![typed(&second)]).await;
    let body = stripe_event("evt_declared_4", "invoice.paid");
    let r = post_stripe(&app, &id, &body, "whsec_declared_one", now()).await;
    assert_eq!(r.status(), 200);

    // A bad declaration refuses to start, naming the source and the field.
    let mut config = crate::config_for(&app.db);
    config.master_key = app.master_key.clone();
    config.sources = vec![typed(&declared("not-a-signing-secret", json!({})))];
    let err = switchyard_server::Hub::open(config.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sources[0] (stripe-main)") && err.contains("secret"),
        "{err}"
    );
    let mut from_env = declared("unused", json!({"secret_env": "SY_TEST_UNSET_SECRET"}));
    from_env.remove("secret");
    config.sources = vec![typed(&from_env)];
    let err = switchyard_server::Hub::open(config)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("secret_env: SY_TEST_UNSET_SECRET is not set"),
        "{err}"
    );
    app.finish().await;
}
