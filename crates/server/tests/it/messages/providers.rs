//! Providers configured through the API: settings sealed in the vault and never shown,
//! used for sending at once, refused when incomplete, removable.

use serde_json::json;
use switchyard_store::Backend;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{accepted, status_is};
use crate::{TestApp, both_backends, problem};

both_backends!(providers_configured_through_the_api_are_sealed_and_used);

async fn providers_configured_through_the_api_are_sealed_and_used(backend: Backend) {
    let resend = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/emails"))
        .and(header("authorization", "Bearer re_api_secret_123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "re-api-1"})))
        .mount(&resend)
        .await;
    let app = TestApp::spawn(backend).await;
    let put = |name: &str, body: serde_json::Value| {
        app.req(reqwest::Method::PUT, &format!("/v1/providers/email/{name}"))
            .json(&body)
            .send()
    };
    let r = put(
        "transactional",
        json!({"kind": "resend", "api_key": "re_api_secret_123", "base_url": resend.uri(), "priority": 1}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let text = r.text().await.unwrap();
    assert!(!text.contains("re_api_secret_123"), "{text}");
    let listed = app
        .get("/v1/providers")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!listed.contains("re_api_secret_123"), "{listed}");
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let email: Vec<_> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["channel"] == "email")
        .collect();
    assert_eq!(email.len(), 1, "the console default gives way: {listed}");
    assert_eq!(email[0]["name"], "transactional");
    assert_eq!(email[0]["kind"], "resend");
    assert_eq!(email[0]["origin"], "api");

    // Sealed at rest: the stored value does not contain the key.
    let sealed = app
        .state
        .store
        .get_secret("provider:email:transactional")
        .await
        .unwrap()
        .unwrap();
    let stored = format!("{sealed:?}");
    assert!(!stored.contains("re_api_secret_123"));

    let id = accepted(&app, "/v1/emails", json!({"from": "shop@example.com", "to": ["a@example.com"], "subject": "Hi", "text": "Hello"})).await;
    let m = status_is(&app, &id, "sent").await;
    assert_eq!(m["provider"], "transactional");
    assert_eq!(m["provider_message_id"], "re-api-1");

    // Incomplete or unknown settings are refused and change nothing.
    let r = put(
        "broken",
        json!({"kind": "sendgrid", "base_url": "http://127.0.0.1:9"}),
    )
    .await
    .unwrap();
    let p = problem(r, 422, "validation_failed").await;
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("api_key"),
        "{p}"
    );
    let r = put("weird", json!({"kind": "carrier-pigeon"}))
        .await
        .unwrap();
    problem(r, 422, "validation_failed").await;
    let r = app
        .req(reqwest::Method::PUT, "/v1/providers/fax/x")
        .json(&json!({"kind": "console"}))
        .send()
        .await
        .unwrap();
    problem(r, 404, "not_found").await;

    // Removed: the channel falls back to the console.
    let r = app
        .req(reqwest::Method::DELETE, "/v1/providers/email/transactional")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(
        app.state
            .store
            .get_secret("provider:email:transactional")
            .await
            .unwrap()
            .is_none()
    );
    let r = app
        .req(reqwest::Method::DELETE, "/v1/providers/email/transactional")
        .send()
        .await
        .unwrap();
    problem(r, 404, "not_found").await;
    let id = accepted(&app, "/v1/emails", json!({"from": "shop@example.com", "to": ["a@example.com"], "subject": "Hi", "text": "Hello"})).await;
    assert_eq!(status_is(&app, &id, "sent").await["provider"], "console");
    app.finish().await;
}
