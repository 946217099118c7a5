//! Email and SMS over HTTP on both stores: acceptance and validation, idempotency,
//! templates, credits, routing with failover and circuit breakers, retries, the
//! communications log, and the status loop from provider webhooks.
//!
//! HTTP providers are `wiremock` fakes built from the providers' documented shapes;
//! SMTP goes to a real `maildev`.

mod credits;
mod providers;
mod routing;
mod smtp;
mod status;

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_store::Backend;

use crate::{TestApp, both_backends, problem};

both_backends!(
    console_messages_are_sent_and_logged,
    invalid_requests_are_refused_and_store_nothing,
    idempotency_keys_answer_the_original_message,
    templates_are_checked_when_saved_and_rendered_strictly,
    bodies_are_dropped_when_not_kept,
);

/// `POST path` and expect 202 `{"id", "status"}`.
pub async fn accepted(app: &TestApp, path: &str, body: Value) -> String {
    let r = app.post(path, body).send().await.unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let v: Value = r.json().await.unwrap();
    assert!(v["id"].as_str().unwrap().starts_with("msg_"), "{v}");
    v["id"].as_str().unwrap().to_string()
}

/// Waits until the message has `status`, and returns its detail.
pub async fn status_is(app: &TestApp, id: &str, status: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..400 {
        last = app.get_json(&format!("/v1/messages/{id}")).await;
        if last["status"] == status {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("message {id} never reached {status}: {last:#}");
}

pub fn statuses(detail: &Value) -> Vec<String> {
    detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap().to_string())
        .collect()
}

fn email(to: &str) -> Value {
    json!({"from": "Shop <shop@example.com>", "to": [to], "subject": "Your order", "text": "Thanks!"})
}

async fn console_messages_are_sent_and_logged(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let providers = app.get_json("/v1/providers").await;
    assert_eq!(providers["data"][0]["name"], "console", "{providers}");

    let id = accepted(
        &app,
        "/v1/emails",
        json!({"from": "shop@example.com", "to": "ada@example.com", "cc": ["bob@example.com"],
            "subject": "Hello", "html": "<p>Hi</p>", "category": "marketing", "metadata": {"order": 7}}),
    )
    .await;
    let m = status_is(&app, &id, "sent").await;
    assert_eq!(m["channel"], "email");
    assert_eq!(m["category"], "marketing");
    assert_eq!(m["provider"], "console");
    assert_eq!(
        m["recipients"],
        json!(["ada@example.com", "bob@example.com"])
    );
    assert_eq!(m["subject"], "Hello");
    assert_eq!(m["metadata"], json!({"order": 7}));
    assert_eq!(m["content"]["html"], "<p>Hi</p>");
    assert_eq!(statuses(&m), ["queued", "sending", "sent"]);
    assert_eq!(m["attempts"][0]["provider"], "console");
    assert_eq!(m["attempts"][0]["outcome"], "sent");
    assert!(m["provider_message_id"].as_str().is_some(), "{m}");

    let sms = accepted(
        &app,
        "/v1/sms",
        json!({"to": "+14155550123", "body": "Your code is 1234"}),
    )
    .await;
    let s = status_is(&app, &sms, "sent").await;
    assert_eq!(s["channel"], "sms");
    assert_eq!(s["category"], "transactional");
    assert_eq!(s["recipients"], json!(["+14155550123"]));

    // The log lists both, newest first, and filters.
    let all = app.get_json("/v1/messages").await;
    let ids: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [sms.as_str(), id.as_str()]);
    let emails = app.get_json("/v1/messages?channel=email").await;
    assert_eq!(emails["data"].as_array().unwrap().len(), 1);
    let page = app.get_json("/v1/messages?limit=1").await;
    let next = page["next_cursor"].as_str().unwrap();
    let rest = app
        .get_json(&format!("/v1/messages?limit=1&cursor={next}"))
        .await;
    assert_eq!(rest["data"][0]["id"], id.as_str());
    assert_eq!(
        app.get_json("/v1/messages?status=failed").await["data"],
        json!([])
    );

    // Each send publishes message.sent to the event log, naming the message.
    let events = app.get_json("/v1/events?type=message.sent").await;
    let ids: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["message_id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&id.as_str()) && ids.contains(&sms.as_str()),
        "{events:#}"
    );

    problem(
        app.get("/v1/messages/msg_nope").send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    problem(
        app.get("/v1/messages?channel=fax").send().await.unwrap(),
        400,
        "invalid_query",
    )
    .await;
    app.finish().await;
}

async fn invalid_requests_are_refused_and_store_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fields = |body: &Value| -> Vec<String> {
        body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_string())
            .collect()
    };
    let cases = [
        (
            json!({"from": "shop@example.com", "to": ["not-an-address"], "subject": "s", "text": "t"}),
            vec!["to[0]"],
        ),
        (
            json!({"from": "shop@example.com", "to": ["a@example.com"], "text": "t"}),
            vec!["subject"],
        ),
        (
            json!({"from": "shop@example.com", "to": ["a@example.com"], "subject": "s"}),
            vec!["text"],
        ),
        (
            json!({"to": ["a@example.com"], "subject": "s", "text": "t"}),
            vec!["from"],
        ),
        (
            json!({"from": "shop@example.com", "to": ["a@example.com"], "subject": "a\r\nBcc: x@y.z", "text": "t"}),
            vec!["subject"],
        ),
        (
            json!({"from": "shop@example.com", "to": ["a@example.com"], "subject": "s", "text": "t", "category": "spam"}),
            vec!["category"],
        ),
        (
            json!({"from": "shop@example.com", "to": ["a@example.com"], "subject": "s", "template": "missing"}),
            vec!["template", "text"],
        ),
        (
            json!({"from": "shop@example.com", "to": ["a@example.com"], "subject": "s", "text": "t",
            "attachments": [{"filename": "../x", "content": "***"}]}),
            vec!["attachments[0].filename", "attachments[0].content"],
        ),
        (
            json!({"from": "shop@example.com", "to": [], "subject": "s", "text": "t"}),
            vec!["to"],
        ),
    ];
    for (body, expected) in cases {
        let r = app.post("/v1/emails", body.clone()).send().await.unwrap();
        let p = problem(r, 422, "validation_failed").await;
        assert_eq!(fields(&p), expected, "{body}: {p:#}");
    }
    let sms_cases = [
        (json!({"to": "4155550123", "body": "hi"}), vec!["to"]),
        (json!({"to": "+14155550123"}), vec!["body"]),
        (
            json!({"to": "+14155550123", "body": "x".repeat(1601)}),
            vec!["body"],
        ),
        (
            json!({"to": "+14155550123", "body": "hi", "media_urls": ["ftp://x"]}),
            vec!["media_urls[0]"],
        ),
        (
            json!({"to": "+14155550123", "body": "hi", "account": "bad account!"}),
            vec!["account"],
        ),
    ];
    for (body, expected) in sms_cases {
        let r = app.post("/v1/sms", body.clone()).send().await.unwrap();
        let p = problem(r, 422, "validation_failed").await;
        assert_eq!(fields(&p), expected, "{body}: {p:#}");
    }
    // Unknown fields and wrong shapes are refused as well.
    let r = app
        .post(
            "/v1/sms",
            json!({"to": "+14155550123", "body": "hi", "colour": 1}),
        )
        .send()
        .await
        .unwrap();
    problem(r, 422, "invalid_body").await;
    assert_eq!(app.get_json("/v1/messages").await["data"], json!([]));
    app.finish().await;
}

async fn idempotency_keys_answer_the_original_message(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let send = |body: Value, key: &str| {
        app.post("/v1/emails", body)
            .header("idempotency-key", key)
            .send()
    };
    let first = send(email("a@example.com"), "order-7").await.unwrap();
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let again = send(email("a@example.com"), "order-7").await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);

    let other = send(email("b@example.com"), "order-7").await.unwrap();
    problem(other, 409, "idempotency_key_reused").await;
    // The same key on the SMS channel is a different key.
    let sms = app
        .post("/v1/sms", json!({"to": "+14155550123", "body": "hi"}))
        .header("idempotency-key", "order-7")
        .send()
        .await
        .unwrap();
    assert_eq!(sms.status(), 202);
    assert_eq!(
        app.get_json("/v1/messages").await["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    app.finish().await;
}

async fn templates_are_checked_when_saved_and_rendered_strictly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bad = app
        .post(
            "/v1/templates",
            json!({"name": "welcome", "subject": "Hi {{ name", "text": "x"}),
        )
        .send()
        .await
        .unwrap();
    let p = problem(bad, 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "subject", "{p}");
    let r = app
        .post(
            "/v1/templates",
            json!({"name": "welcome", "subject": "Welcome, {{ name }}",
                "html": "<p>Hello {{ name }}, you have {{ items | length }} items</p>",
                "text": "Hello {{ name }}"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let taken = app
        .post("/v1/templates", json!({"name": "welcome", "text": "x"}))
        .send()
        .await
        .unwrap();
    problem(taken, 409, "conflict").await;

    let id = accepted(
        &app,
        "/v1/emails",
        json!({"from": "shop@example.com", "to": ["a@example.com"], "template": "welcome",
            "data": {"name": "<Ada>", "items": [1, 2, 3]}}),
    )
    .await;
    let m = status_is(&app, &id, "sent").await;
    assert_eq!(m["subject"], "Welcome, <Ada>");
    assert_eq!(
        m["content"]["html"],
        "<p>Hello &lt;Ada&gt;, you have 3 items</p>"
    );
    assert_eq!(m["content"]["text"], "Hello <Ada>");

    // A variable missing from data is an error, not an empty string.
    let missing = app
        .post("/v1/emails", json!({"from": "shop@example.com", "to": ["a@example.com"], "template": "welcome", "data": {"name": "Ada"}}))
        .send()
        .await
        .unwrap();
    let p = problem(missing, 422, "validation_failed").await;
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("undefined"),
        "{p}"
    );

    // SMS bodies come from the text part.
    let sms = accepted(
        &app,
        "/v1/sms",
        json!({"to": "+14155550123", "template": "welcome", "data": {"name": "Bo", "items": []}}),
    )
    .await;
    assert_eq!(
        status_is(&app, &sms, "sent").await["content"]["body"],
        "Hello Bo"
    );

    let put = app
        .req(reqwest::Method::PUT, "/v1/templates/welcome")
        .json(&json!({"text": "Bye {{ name }}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(
        app.get_json("/v1/templates/welcome").await["text"],
        "Bye {{ name }}"
    );
    let names: Vec<String> = app.get_json("/v1/templates").await["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "auth.password_changed",
            "auth.password_reset",
            "auth.verify_email",
            "welcome"
        ],
        "the built-in auth templates, and the one made here"
    );
    let del = app
        .req(reqwest::Method::DELETE, "/v1/templates/welcome")
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    problem(
        app.get("/v1/templates/welcome").send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    app.finish().await;
}

async fn bodies_are_dropped_when_not_kept(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.messages.keep_bodies = false, vec![]).await;
    let id = accepted(
        &app,
        "/v1/emails",
        json!({"from": "shop@example.com", "to": ["a@example.com"], "subject": "Secret", "text": "code 1234",
            "attachments": [{"filename": "a.txt", "content": "aGVsbG8="}]}),
    )
    .await;
    let m = status_is(&app, &id, "sent").await;
    assert_eq!(m["subject"], "Secret");
    assert!(m["content"].get("text").is_none(), "{m:#}");
    assert_eq!(m["content"]["attachments"][0]["filename"], "a.txt");
    assert_eq!(m["content"]["attachments"][0]["size"], 5);
    assert!(
        m["content"]["attachments"][0].get("content").is_none(),
        "{m:#}"
    );
    app.finish().await;
}

/// A provider fake answering every POST (to `path`, when given) with `response`.
pub async fn fake(
    path: Option<&str>,
    response: wiremock::ResponseTemplate,
) -> wiremock::MockServer {
    use wiremock::matchers::method;
    let server = wiremock::MockServer::start().await;
    let mut mock = wiremock::Mock::given(method("POST"));
    if let Some(p) = path {
        mock = mock.and(wiremock::matchers::path(p));
    }
    mock.respond_with(response).mount(&server).await;
    server
}
