//! Signatures made by the providers' official SDKs (PyPI `stripe`, `standardwebhooks`,
//! `twilio`), run as independent peers, are accepted end to end over HTTP.
//!
//! `scripts/test` prepares the SDKs and sets `SWITCHYARD_TEST_PYTHON`.

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use switchyard_store::Backend;

use crate::intake::{create_source, processed};
use crate::{TestApp, both_backends, problem};

both_backends!(
    stripe_sdk_signatures,
    standardwebhooks_sdk_signatures,
    twilio_sdk_signatures
);

/// Runs the Python peer `tests/peers/{script}` (installed by scripts/test) with one
/// JSON request on stdin; its JSON answer.
pub(crate) fn python_peer(script: &str, request: &Value) -> Value {
    let python = std::env::var("SWITCHYARD_TEST_PYTHON").expect(
        "SWITCHYARD_TEST_PYTHON is not set: run the suite with scripts/test, which installs the Python peers",
    );
    let path = format!("{}/../../tests/peers/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(python)
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Python peer");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Asks the official SDK to sign; returns the headers it produced.
pub(crate) fn sdk_sign(request: Value) -> Value {
    python_peer("sign.py", &request)
}

fn now() -> i64 {
    switchyard_core::time::now_ms() / 1000
}

pub(crate) async fn post(
    app: &TestApp,
    path: &str,
    headers: &Value,
    content_type: &str,
    body: String,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url(path))
        .header("content-type", content_type)
        .body(body);
    for (k, v) in headers.as_object().unwrap() {
        if k != "url" {
            req = req.header(k.as_str(), v.as_str().unwrap());
        }
    }
    req.send().await.unwrap()
}

async fn stripe_sdk_signatures(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = "whsec_sdk_interop";
    let source = create_source(
        &app,
        json!({"name": "stripe", "kind": "stripe", "secret": secret}),
    )
    .await;
    let path = format!("/in/{}", source["id"].as_str().unwrap());
    let body =
        json!({"id": "evt_sdk_1", "object": "event", "type": "invoice.payment_failed"}).to_string();
    let headers = sdk_sign(
        json!({"scheme": "stripe", "secret": secret, "payload": body, "timestamp": now()}),
    );
    let r = post(&app, &path, &headers, "application/json", body.clone()).await;
    assert_eq!(r.status(), 200);
    let reply: Value = r.json().await.unwrap();
    let event = processed(&app, reply["event_id"].as_str().unwrap()).await;
    assert_eq!(event["type"], "payment.invoice.payment_failed");

    let forged = sdk_sign(
        json!({"scheme": "stripe", "secret": "whsec_wrong", "payload": body, "timestamp": now()}),
    );
    problem(
        post(&app, &path, &forged, "application/json", body).await,
        401,
        "unauthorized",
    )
    .await;
    app.finish().await;
}

async fn standardwebhooks_sdk_signatures(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let source = create_source(
        &app,
        json!({"name": "resend", "kind": "standard_webhooks", "secret": secret}),
    )
    .await;
    let path = format!("/in/{}", source["id"].as_str().unwrap());
    let body = json!({"type": "email.delivered", "data": {"email_id": "4ef9a417"}}).to_string();
    let headers = sdk_sign(json!({
        "scheme": "standardwebhooks", "secret": secret, "payload": body, "msg_id": "msg_sdk_1", "timestamp": now()
    }));
    let r = post(&app, &path, &headers, "application/json", body.clone()).await;
    assert_eq!(r.status(), 200);
    let reply: Value = r.json().await.unwrap();
    assert_eq!(
        processed(&app, reply["event_id"].as_str().unwrap()).await["type"],
        "message.delivered"
    );

    // Svix and Resend send the same signature under svix-* names.
    let body2 = json!({"type": "email.opened", "data": {"email_id": "4ef9a417"}}).to_string();
    let signed = sdk_sign(json!({
        "scheme": "standardwebhooks", "secret": secret, "payload": body2, "msg_id": "msg_sdk_2", "timestamp": now()
    }));
    let svix = json!({
        "svix-id": signed["webhook-id"], "svix-timestamp": signed["webhook-timestamp"],
        "svix-signature": signed["webhook-signature"],
    });
    assert_eq!(
        post(&app, &path, &svix, "application/json", body2.clone())
            .await
            .status(),
        200
    );
    // A replay of the same message id is a duplicate, not a new event.
    let again: Value = post(&app, &path, &svix, "application/json", body2)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["status"], "duplicate");
    app.finish().await;
}

async fn twilio_sdk_signatures(backend: Backend) {
    let public = "https://hooks.example.com";
    let app = TestApp::spawn_with(backend, |c| c.public_url = Some(public.into()), vec![]).await;
    let token = "twilio_auth_token_123";
    let source = create_source(
        &app,
        json!({"name": "sms", "kind": "twilio", "auth_token": token}),
    )
    .await;
    let id = source["id"].as_str().unwrap();
    let path = format!("/in/{id}");
    assert_eq!(source["intake_url"], format!("{public}/in/{id}"));

    // Form-encoded status callback, signed over the public URL the provider called.
    let params = json!({"MessageSid": "SM123", "MessageStatus": "delivered", "To": "+15551234567", "Body": "hi & bye"});
    let form: String = params
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v.as_str().unwrap())))
        .collect::<Vec<_>>()
        .join("&");
    let headers = sdk_sign(
        json!({"scheme": "twilio", "auth_token": token, "url": format!("{public}{path}"), "params": params}),
    );
    let r = post(
        &app,
        &path,
        &headers,
        "application/x-www-form-urlencoded",
        form.clone(),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let reply: Value = r.json().await.unwrap();
    let event = processed(&app, reply["event_id"].as_str().unwrap()).await;
    assert_eq!(event["type"], "message.delivered");
    assert_eq!(event["provider_event_id"], "SM123:delivered");

    // The SDK also accepts the URL with the default port; so does the hub.
    let with_port = sdk_sign(
        json!({"scheme": "twilio", "auth_token": token, "url": format!("https://hooks.example.com:443{path}"), "params": params}),
    );
    assert_eq!(
        post(
            &app,
            &path,
            &with_port,
            "application/x-www-form-urlencoded",
            form.clone()
        )
        .await
        .status(),
        200
    );
    let wrong_url = sdk_sign(
        json!({"scheme": "twilio", "auth_token": token, "url": format!("https://evil.example.com{path}"), "params": params}),
    );
    problem(
        post(
            &app,
            &path,
            &wrong_url,
            "application/x-www-form-urlencoded",
            form,
        )
        .await,
        401,
        "unauthorized",
    )
    .await;

    // JSON body: the signature covers the URL with bodySHA256, which must match the body.
    let body = json!({"MessageSid": "SM124", "MessageStatus": "failed"}).to_string();
    let signed = sdk_sign(
        json!({"scheme": "twilio_json", "auth_token": token, "url": format!("{public}{path}"), "payload": body}),
    );
    let url: String = signed["url"].as_str().unwrap().to_string();
    let query = url.split_once('?').unwrap().1;
    let r = post(
        &app,
        &format!("{path}?{query}"),
        &signed,
        "application/json",
        body.clone(),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let altered = body.replace("failed", "delivered");
    let r = post(
        &app,
        &format!("{path}?{query}"),
        &signed,
        "application/json",
        altered,
    )
    .await;
    problem(r, 401, "unauthorized").await;
    app.finish().await;
}

pub(crate) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
