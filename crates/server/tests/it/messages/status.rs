//! The status loop: provider status webhooks arriving through intake move the message
//! they name, and late reports never move it back.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use switchyard_store::Backend;
use wiremock::{MockServer, ResponseTemplate};

use super::{accepted, status_is, statuses};
use crate::interop::{encode, post, sdk_sign};
use crate::{TestApp, both_backends};

both_backends!(
    twilio_callbacks_signed_by_the_sdk_move_an_sms_to_delivered,
    sendgrid_events_move_an_email_to_opened,
    sms_providers_report_to_the_oldest_source_of_their_kind,
    telnyx_and_resend_reports_move_their_messages,
);

const PUBLIC: &str = "https://hooks.example.com";

fn declared(source: Value) -> switchyard_server::config::DeclaredSource {
    serde_json::from_value(source).unwrap()
}

async fn source_id(app: &TestApp, kind: &str) -> String {
    let sources = app.get_json("/v1/sources").await;
    sources["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == kind)
        .map(|s| s["id"].as_str().unwrap().to_string())
        .expect("declared source")
}

async fn twilio_callbacks_signed_by_the_sdk_move_an_sms_to_delivered(backend: Backend) {
    let twilio = crate::messages::fake(
        Some("/2010-04-01/Accounts/AC123/Messages.json"),
        ResponseTemplate::new(201).set_body_json(json!({"sid": "SM0123", "status": "queued"})),
    )
    .await;
    let token = "twilio_auth_token_123";
    let uri = twilio.uri();
    let app = TestApp::spawn_with(
        backend,
        |c| {
            c.public_url = Some(PUBLIC.into());
            c.sources = vec![declared(
                json!({"name": "twilio-status", "kind": "twilio", "auth_token": token}),
            )];
            c.sms.providers =
                serde_json::from_value(json!([{"kind": "twilio", "account_sid": "AC123",
                "auth_token": token, "from": "+15550001111", "base_url": uri}]))
                .unwrap();
        },
        vec![],
    )
    .await;
    let src = source_id(&app, "twilio").await;
    let id = accepted(
        &app,
        "/v1/sms",
        json!({"to": "+15550002222", "body": "Your code is 1234"}),
    )
    .await;
    let m = status_is(&app, &id, "sent").await;
    assert_eq!(m["provider_message_id"], "SM0123");
    // Twilio was told where to report status: the source's public intake URL.
    let sent = &twilio.received_requests().await.unwrap()[0];
    let form = String::from_utf8(sent.body.clone()).unwrap();
    assert!(
        form.contains(&format!(
            "StatusCallback={}",
            encode(&format!("{PUBLIC}/in/{src}"))
        )),
        "{form}"
    );

    let callback = |status: &str| {
        let params = json!({"MessageSid": "SM0123", "MessageStatus": status, "AccountSid": "AC123", "To": "+15550002222"});
        let body: String = params
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v.as_str().unwrap())))
            .collect::<Vec<_>>()
            .join("&");
        let headers = sdk_sign(json!({"scheme": "twilio", "auth_token": token,
            "url": format!("{PUBLIC}/in/{src}"), "params": params}));
        (headers, body)
    };
    let path = format!("/in/{src}");
    let (headers, body) = callback("delivered");
    let r = post(
        &app,
        &path,
        &headers,
        "application/x-www-form-urlencoded",
        body,
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let m = status_is(&app, &id, "delivered").await;
    let delivered_by = m["history"].as_array().unwrap().last().unwrap()["event_id"].clone();
    assert!(delivered_by.as_str().unwrap().starts_with("evt_"), "{m:#}");

    // A late `sent` is recorded but does not move the message back.
    let (headers, body) = callback("sent");
    let r = post(
        &app,
        &path,
        &headers,
        "application/x-www-form-urlencoded",
        body,
    )
    .await;
    assert_eq!(r.status(), 200);
    let reply: Value = r.json().await.unwrap();
    crate::intake::processed(&app, reply["event_id"].as_str().unwrap()).await;
    let m = app.get_json(&format!("/v1/messages/{id}")).await;
    assert_eq!(m["status"], "delivered");
    assert_eq!(
        statuses(&m),
        ["queued", "sending", "sent", "delivered", "sent"]
    );
    app.finish().await;
}

async fn sendgrid_events_move_an_email_to_opened(backend: Backend) {
    use p256::ecdsa::signature::Signer as _;
    use p256::ecdsa::{Signature, SigningKey};
    use p256::pkcs8::EncodePublicKey as _;
    let key = std::iter::repeat_with(rand::random::<[u8; 32]>)
        .find_map(|bytes| SigningKey::from_slice(&bytes).ok())
        .unwrap();
    let der = key.verifying_key().to_public_key_der().unwrap();
    let sendgrid = crate::messages::fake(
        Some("/v3/mail/send"),
        ResponseTemplate::new(202).insert_header("x-message-id", "14c5d75ce93"),
    )
    .await;
    let uri = sendgrid.uri();
    let app = TestApp::spawn_with(
        backend,
        |c| {
            c.sources = vec![declared(
                json!({"name": "sendgrid-events", "kind": "sendgrid",
                "public_key": BASE64.encode(der.as_bytes())}),
            )];
            c.email.providers = serde_json::from_value(
                json!([{"kind": "sendgrid", "api_key": "SG.x", "base_url": uri}]),
            )
            .unwrap();
        },
        vec![],
    )
    .await;
    let src = source_id(&app, "sendgrid").await;
    let id = accepted(
        &app,
        "/v1/emails",
        json!({"from": "shop@example.com", "to": ["ada@example.com"], "subject": "Hi", "html": "<p>Hi</p>"}),
    )
    .await;
    assert_eq!(
        status_is(&app, &id, "sent").await["provider_message_id"],
        "14c5d75ce93"
    );

    let events = |list: Value| {
        let body = list.to_string();
        let ts = switchyard_core::time::now_ms() / 1000;
        let signature: Signature = key.sign(format!("{ts}{body}").as_bytes());
        let headers = json!({
            "x-twilio-email-event-webhook-signature": BASE64.encode(signature.to_der().as_bytes()),
            "x-twilio-email-event-webhook-timestamp": ts.to_string(),
        });
        (headers, body)
    };
    let sg_id = "14c5d75ce93.filter0001.16648.5515E0B88.0";
    // Open arrives before delivered; both are recorded, opened stands.
    let (headers, body) = events(json!([
        {"email": "ada@example.com", "event": "open", "sg_event_id": "ev-open", "sg_message_id": sg_id, "timestamp": 1},
        {"email": "ada@example.com", "event": "delivered", "sg_event_id": "ev-dlv", "sg_message_id": sg_id, "timestamp": 1},
    ]));
    let r = post(
        &app,
        &format!("/in/{src}"),
        &headers,
        "application/json",
        body,
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let m = status_is(&app, &id, "opened").await;
    for _ in 0..100 {
        if statuses(&app.get_json(&format!("/v1/messages/{id}")).await).len() == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let m = app
        .get_json(&format!("/v1/messages/{}", m["id"].as_str().unwrap()))
        .await;
    assert_eq!(m["status"], "opened");
    assert_eq!(
        statuses(&m),
        ["queued", "sending", "sent", "opened", "delivered"]
    );
    app.finish().await;
}

async fn sms_providers_report_to_the_oldest_source_of_their_kind(backend: Backend) {
    let twilio = crate::messages::fake(
        None,
        ResponseTemplate::new(201).set_body_json(json!({"sid": "SM9", "status": "queued"})),
    )
    .await;
    let uri = twilio.uri();
    let app = TestApp::spawn_with(
        backend,
        |c| {
            c.public_url = Some(PUBLIC.into());
            c.sms.providers =
                serde_json::from_value(json!([{"kind": "twilio", "account_sid": "AC1",
                "auth_token": "t", "from": "+15550001111", "base_url": uri}]))
                .unwrap();
        },
        vec![],
    )
    .await;
    // No source yet: Twilio is not told where to report.
    let id = accepted(
        &app,
        "/v1/sms",
        json!({"to": "+15550002222", "body": "one"}),
    )
    .await;
    status_is(&app, &id, "sent").await;
    assert_eq!(status_callback(&twilio, 0).await, None);

    // Sources created over the API apply at once; the oldest of the kind is used.
    let first = crate::intake::create_source(
        &app,
        json!({"name": "sms-a", "kind": "twilio", "auth_token": "x"}),
    )
    .await;
    crate::intake::create_source(
        &app,
        json!({"name": "sms-b", "kind": "twilio", "auth_token": "y"}),
    )
    .await;
    let id = accepted(
        &app,
        "/v1/sms",
        json!({"to": "+15550002222", "body": "two"}),
    )
    .await;
    status_is(&app, &id, "sent").await;
    let expected = format!("{PUBLIC}/in/{}", first["id"].as_str().unwrap());
    assert_eq!(status_callback(&twilio, 1).await, Some(encode(&expected)));
    app.finish().await;
}

/// The `StatusCallback` of the `n`th request Twilio's fake received.
async fn status_callback(twilio: &MockServer, n: usize) -> Option<String> {
    let requests = twilio.received_requests().await.unwrap();
    let form = String::from_utf8(requests[n].body.clone()).unwrap();
    form.split('&')
        .find_map(|p| p.strip_prefix("StatusCallback=").map(str::to_string))
}

async fn telnyx_and_resend_reports_move_their_messages(backend: Backend) {
    use ed25519_dalek::{Signer as _, SigningKey};
    let telnyx = crate::messages::fake(
        Some("/v2/messages"),
        ResponseTemplate::new(200).set_body_json(json!({"data": {"id": "tx-msg-1"}})),
    )
    .await;
    let resend = crate::messages::fake(
        Some("/emails"),
        ResponseTemplate::new(200).set_body_json(json!({"id": "re-msg-1"})),
    )
    .await;
    let key = SigningKey::from_bytes(&rand::random());
    let secret = switchyard_signatures::standard::generate_secret();
    let (tx_uri, re_uri) = (telnyx.uri(), resend.uri());
    let app = TestApp::spawn_with(
        backend,
        |c| {
            c.public_url = Some(PUBLIC.into());
            c.sources = vec![
                declared(json!({"name": "telnyx-events", "kind": "telnyx",
                    "public_key": BASE64.encode(key.verifying_key().as_bytes())})),
                declared(
                    json!({"name": "resend-events", "kind": "standard_webhooks", "secret": secret}),
                ),
            ];
            c.sms.providers = serde_json::from_value(json!([{"kind": "telnyx", "api_key": "KEY1",
                "from": "+15550001111", "base_url": tx_uri}]))
            .unwrap();
            c.email.providers = serde_json::from_value(
                json!([{"kind": "resend", "api_key": "re_1", "base_url": re_uri}]),
            )
            .unwrap();
        },
        vec![],
    )
    .await;
    let telnyx_src = source_id(&app, "telnyx").await;
    let resend_src = source_id(&app, "standard_webhooks").await;

    // Telnyx: told where to report, then a signed message.finalized delivers the SMS.
    let sms = accepted(&app, "/v1/sms", json!({"to": "+15550002222", "body": "hi"})).await;
    assert_eq!(
        status_is(&app, &sms, "sent").await["provider_message_id"],
        "tx-msg-1"
    );
    let sent: Value =
        serde_json::from_slice(&telnyx.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(sent["webhook_url"], format!("{PUBLIC}/in/{telnyx_src}"));
    let body = json!({"data": {"event_type": "message.finalized", "id": "ev-tx-1",
        "payload": {"id": "tx-msg-1", "to": [{"phone_number": "+15550002222", "status": "delivered"}]}}})
    .to_string();
    let ts = (switchyard_core::time::now_ms() / 1000).to_string();
    let signature = key.sign(format!("{ts}|{body}").as_bytes());
    let headers = json!({"telnyx-signature-ed25519": BASE64.encode(signature.to_bytes()), "telnyx-timestamp": ts});
    let r = post(
        &app,
        &format!("/in/{telnyx_src}"),
        &headers,
        "application/json",
        body,
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    status_is(&app, &sms, "delivered").await;

    // Resend: events signed by the official standardwebhooks SDK.
    let email = accepted(
        &app,
        "/v1/emails",
        json!({"from": "shop@example.com", "to": ["ada@example.com"], "subject": "Hi", "text": "Hello"}),
    )
    .await;
    assert_eq!(
        status_is(&app, &email, "sent").await["provider_message_id"],
        "re-msg-1"
    );
    for (n, kind) in ["email.delivered", "email.opened"].into_iter().enumerate() {
        let payload = json!({"type": kind, "created_at": "2026-12-01T10:00:00.000Z",
            "data": {"email_id": "re-msg-1", "to": ["ada@example.com"]}})
        .to_string();
        let headers = sdk_sign(
            json!({"scheme": "standardwebhooks", "secret": secret, "payload": payload,
            "msg_id": format!("msg_resend_{n}"), "timestamp": switchyard_core::time::now_ms() / 1000}),
        );
        let r = post(
            &app,
            &format!("/in/{resend_src}"),
            &headers,
            "application/json",
            payload,
        )
        .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    let m = status_is(&app, &email, "opened").await;
    assert!(
        statuses(&m).ends_with(&["delivered".to_string(), "opened".to_string()]),
        "{m:#}"
    );
    app.finish().await;
}
