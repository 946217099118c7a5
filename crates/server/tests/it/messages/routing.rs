//! Routing: providers by priority, failover from a failing provider, the circuit
//! breaker, rejections that fail at once, retries that end in failure, and SMTP to a
//! real server.

use serde_json::{Value, json};
use switchyard_server::Config;
use switchyard_store::Backend;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{accepted, status_is, statuses};
use crate::{TestApp, both_backends};

both_backends!(
    failover_to_the_next_provider_and_breaker,
    rejections_fail_at_once_with_the_reason,
    retries_end_in_failure_after_max_attempts,
    rate_limits_are_waited_out_or_deferred,
    a_round_longer_than_the_lease_sends_once,
);

/// A hub whose email providers are `list`, with `tweak` applied to its other settings.
async fn spawn(backend: Backend, list: Value, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let setup = |c: &mut Config| {
        c.email.providers = serde_json::from_value(list).expect("provider config");
        tweak(c);
    };
    TestApp::spawn_with(backend, setup, vec![]).await
}

/// One field of each provider attempt of message `m`, oldest first.
fn tried<'a>(m: &'a Value, field: &str) -> Vec<&'a str> {
    m["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a[field].as_str().unwrap())
        .collect()
}

/// When attempt `i` of message `m` was made (milliseconds since the epoch).
fn tried_at(m: &Value, i: usize) -> i64 {
    switchyard_core::time::parse_rfc3339(m["attempts"][i]["at"].as_str().unwrap()).unwrap()
}

fn fast_retries(config: &mut Config) {
    config.messages.retry_base.0 = std::time::Duration::from_millis(50);
    config.messages.retry_max.0 = std::time::Duration::from_millis(200);
}

async fn sendgrid_fake(status: u16) -> MockServer {
    let server = MockServer::start().await;
    let response = if status == 202 {
        ResponseTemplate::new(202).insert_header("x-message-id", "sg-abc123")
    } else {
        ResponseTemplate::new(status)
            .set_body_json(json!({"errors": [{"message": "something went wrong", "field": null}]}))
    };
    Mock::given(method("POST"))
        .and(path("/v3/mail/send"))
        .and(header("authorization", "Bearer SG.test"))
        .respond_with(response)
        .mount(&server)
        .await;
    server
}

async fn resend_fake(status: u16, body: Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/emails"))
        .and(header("authorization", "Bearer re_test"))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(&server)
        .await;
    server
}

fn email(n: usize) -> Value {
    json!({"from": "shop@example.com", "to": [format!("user{n}@example.com")], "subject": "Hi", "text": "Hello"})
}

async fn failover_to_the_next_provider_and_breaker(backend: Backend) {
    let sendgrid = sendgrid_fake(500).await;
    let resend = resend_fake(200, json!({"id": "re-1"})).await;
    let (sg, re) = (sendgrid.uri(), resend.uri());
    let list = json!([
        {"kind": "resend", "name": "backup", "priority": 2, "api_key": "re_test", "base_url": re},
        {"kind": "sendgrid", "name": "primary", "priority": 1, "api_key": "SG.test", "base_url": sg},
    ]);
    let app = spawn(backend, list, |c| {
        c.messages.provider_retries = 1;
        c.messages.breaker_failures = 4;
        c.messages.concurrency = 1;
    })
    .await;
    let order: Vec<Value> = app.get_json("/v1/providers").await["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["channel"] == "email")
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(order, ["primary", "backup"], "tried by priority");

    let first = accepted(&app, "/v1/emails", email(0)).await;
    let m = status_is(&app, &first, "sent").await;
    assert_eq!(m["provider"], "backup");
    assert_eq!(m["provider_message_id"], "re-1");
    let tries: Vec<(&str, &str)> = tried(&m, "provider")
        .into_iter()
        .zip(tried(&m, "outcome"))
        .collect();
    let expected = [
        ("primary", "retryable"),
        ("primary", "retryable"),
        ("backup", "sent"),
    ];
    assert_eq!(tries, expected);
    assert!(
        m["attempts"][0]["error"].as_str().unwrap().contains("500"),
        "{m:#}"
    );

    // Two more failures open the primary's breaker: later messages skip it.
    let second = accepted(&app, "/v1/emails", email(1)).await;
    status_is(&app, &second, "sent").await;
    assert_eq!(sendgrid.received_requests().await.unwrap().len(), 4);
    let providers = app.get_json("/v1/providers").await;
    assert_eq!(providers["data"][0]["breaker_open"], true, "{providers}");
    for n in 2..6 {
        let id = accepted(&app, "/v1/emails", email(n)).await;
        let m = status_is(&app, &id, "sent").await;
        assert_eq!(m["attempts"].as_array().unwrap().len(), 1, "{m:#}");
        assert_eq!(m["provider"], "backup");
    }
    assert_eq!(
        sendgrid.received_requests().await.unwrap().len(),
        4,
        "skipped while open"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"switchyard_provider_sends_total{channel="email",provider="primary",result="transient"} 4"#),
        "{metrics}"
    );
    app.finish().await;
}

async fn rejections_fail_at_once_with_the_reason(backend: Backend) {
    let resend = resend_fake(
        422,
        json!({"statusCode": 422, "name": "validation_error", "message": "Invalid `to` field."}),
    )
    .await;
    let sendgrid = sendgrid_fake(202).await;
    let (sg, re) = (sendgrid.uri(), resend.uri());
    let app = spawn(
        backend,
        json!([
            {"kind": "resend", "api_key": "re_test", "base_url": re},
            {"kind": "sendgrid", "priority": 5, "api_key": "SG.test", "base_url": sg},
        ]),
        |_| {},
    )
    .await;
    let id = accepted(&app, "/v1/emails", email(0)).await;
    let m = status_is(&app, &id, "failed").await;
    assert_eq!(statuses(&m), ["queued", "sending", "failed"]);
    let reason = m["last_error"].as_str().unwrap();
    assert!(reason.contains("Invalid `to` field."), "{reason}");
    assert_eq!(
        m["attempts"].as_array().unwrap().len(),
        1,
        "no failover after a rejection"
    );
    assert!(sendgrid.received_requests().await.unwrap().is_empty());
    let failed = app.get_json("/v1/events?type=message.failed").await;
    assert_eq!(failed["data"][0]["payload"]["message_id"], id.as_str());
    app.finish().await;
}

async fn retries_end_in_failure_after_max_attempts(backend: Backend) {
    let sendgrid = sendgrid_fake(503).await;
    let sg = sendgrid.uri();
    let app = spawn(
        backend,
        json!([{"kind": "sendgrid", "api_key": "SG.test", "base_url": sg}]),
        |c| {
            c.messages.provider_retries = 0;
            c.messages.max_attempts = 3;
            c.messages.breaker_failures = 100;
            fast_retries(c);
        },
    )
    .await;
    let id = accepted(&app, "/v1/emails", email(0)).await;
    let m = status_is(&app, &id, "failed").await;
    assert_eq!(m["rounds"], 3);
    assert_eq!(m["attempts"].as_array().unwrap().len(), 3);
    assert!(
        m["last_error"].as_str().unwrap().contains("3 attempts"),
        "{m:#}"
    );
    // The rounds were spaced by the backoff.
    assert!(tried_at(&m, 1) - tried_at(&m, 0) >= 35, "{m:#}");
    assert_eq!(sendgrid.received_requests().await.unwrap().len(), 3);
    app.finish().await;
}

async fn rate_limits_are_waited_out_or_deferred(backend: Backend) {
    let sendgrid = MockServer::start().await;
    // The first call is refused for a second, the second is taken.
    Mock::given(method("POST"))
        .and(path("/v3/mail/send"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&sendgrid)
        .await;
    Mock::given(method("POST"))
        .and(path("/v3/mail/send"))
        .respond_with(ResponseTemplate::new(202).insert_header("x-message-id", "sg-1"))
        .with_priority(2)
        .mount(&sendgrid)
        .await;
    let sg = sendgrid.uri();
    let app = spawn(
        backend,
        json!([{"kind": "sendgrid", "api_key": "SG.test", "base_url": sg}]),
        |_| {},
    )
    .await;
    let id = accepted(&app, "/v1/emails", email(0)).await;
    let m = status_is(&app, &id, "sent").await;
    assert_eq!(tried(&m, "outcome"), ["retryable", "sent"], "{m:#}");
    assert_eq!(
        m["rounds"], 1,
        "a short Retry-After is waited out in the round"
    );
    assert!(tried_at(&m, 1) - tried_at(&m, 0) >= 950, "{m:#}");
    app.finish().await;

    // A Retry-After longer than messages.max_inline_wait defers the message instead.
    let slow = crate::messages::fake(
        None,
        ResponseTemplate::new(429).insert_header("retry-after", "120"),
    )
    .await;
    let uri = slow.uri();
    let app = spawn(
        backend,
        json!([{"kind": "sendgrid", "api_key": "SG.test", "base_url": uri}]),
        |_| {},
    )
    .await;
    let id = accepted(&app, "/v1/emails", email(1)).await;
    let mut m = Value::Null;
    for _ in 0..200 {
        m = app.get_json(&format!("/v1/messages/{id}")).await;
        if m["next_attempt_at"].is_string() && m["rounds"] == 1 && m["last_error"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let next =
        switchyard_core::time::parse_rfc3339(m["next_attempt_at"].as_str().unwrap()).unwrap();
    assert!(next - tried_at(&m, 0) >= 119_000, "{m:#}");
    assert_eq!(slow.received_requests().await.unwrap().len(), 1);
    app.finish().await;
}

/// A round that outlasts `messages.lease` (a provider timing out twice, then the next
/// one) keeps its claim: the message is not claimed and sent a second time meanwhile.
async fn a_round_longer_than_the_lease_sends_once(backend: Backend) {
    let slow = super::fake(
        Some("/v3/mail/send"),
        ResponseTemplate::new(202).set_delay(std::time::Duration::from_secs(30)),
    )
    .await;
    let resend = resend_fake(200, json!({"id": "re-once"})).await;
    let (sg, re) = (slow.uri(), resend.uri());
    let list = json!([
        {"kind": "sendgrid", "name": "slow", "priority": 1, "api_key": "SG.test", "base_url": sg, "timeout_secs": 3},
        {"kind": "resend", "name": "backup", "priority": 2, "api_key": "re_test", "base_url": re},
    ]);
    let app = spawn(backend, list, |c| {
        c.messages.provider_retries = 1;
        c.messages.lease.0 = std::time::Duration::from_secs(5);
    })
    .await;
    let id = accepted(&app, "/v1/emails", email(0)).await;
    let m = status_is(&app, &id, "sent").await;
    assert_eq!(m["provider"], "backup");
    assert_eq!(tried(&m, "provider"), ["slow", "slow", "backup"], "{m:#}");
    // Long enough for a second claim to have reached the backup, had there been one.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(resend.received_requests().await.unwrap().len(), 1);
    assert_eq!(slow.received_requests().await.unwrap().len(), 2);
    app.finish().await;
}
