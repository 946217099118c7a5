//! Every kind of webhook source over HTTP, on both backends: a genuine request is accepted
//! and processed, a re-delivery is a duplicate by the provider's identity of the event, and
//! tampered, forged, unsigned or stale requests are refused with a problem document and
//! store nothing.
//!
//! Each kind is described by a [`Scheme`] (its source, an event body, where its identity
//! is) and a signing function; [`check`] runs the same requests against every kind.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::Response;
use reqwest::header::HeaderName;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use switchyard_core::source::SourceKind;
use switchyard_signatures as sig;
use switchyard_signatures::hmac_generic::{Algorithm, Encoding, GenericHmac};
use switchyard_store::Backend;

use crate::intake::{create_source, processed};
use crate::{TestApp, both_backends, problem};

mod google_channel;
mod hmac;
mod paypal;
mod sendgrid;

use hmac::{hmac_sha256_hex_with_prefix, hmac_sha512_base64_with_timestamp};
use paypal::paypal_certificates_only_from_the_allow_list;
use sendgrid::sendgrid_p256_batches;

both_backends!(
    stripe,
    standard_webhooks_with_svix_headers,
    twilio_json_with_body_sha256_and_forms,
    telnyx_ed25519,
    sendgrid_p256_batches,
    paypal_certificates_only_from_the_allow_list,
    github,
    shopify,
    slack,
    paddle,
    lemonsqueezy,
    shared_secret,
    hmac_sha256_hex_with_prefix,
    hmac_sha512_base64_with_timestamp,
);

/// A reminder: a new kind needs its test here (`google_channel`'s, whose requests carry
/// no body, is its own module).
#[test]
fn every_kind_is_covered() {
    let covered = [
        "stripe",
        "standard_webhooks",
        "twilio",
        "telnyx",
        "sendgrid",
        "paypal",
        "github",
        "shopify",
        "slack",
        "paddle",
        "lemonsqueezy",
        "shared_secret",
        "hmac",
        "google_channel",
    ];
    let all: Vec<&str> = SourceKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(all, covered);
}

fn now() -> i64 {
    switchyard_core::time::now_ms() / 1000
}

/// What a provider signs: `body` (which carries `id` when the identity is in the body),
/// `id` for providers that send their identity in a header, and the time.
struct Msg<'a> {
    url: &'a str,
    id: &'a str,
    body: &'a str,
    ts: i64,
}

/// A signed request: the URL to post the body to and the headers to send with it.
#[derive(Clone)]
struct Signed {
    url: String,
    headers: Vec<(String, String)>,
}

fn signed<const N: usize>(url: &str, headers: [(&str, String); N]) -> Signed {
    Signed {
        url: url.into(),
        headers: headers.map(|(k, v)| (k.to_string(), v)).to_vec(),
    }
}

/// Where the provider's identity of an event is.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Identity {
    /// In the body: a re-delivery with other bytes, signed anew, is a duplicate.
    #[default]
    Body,
    /// In a header (the body does not carry `{id}`): other bytes under the same identity
    /// are a duplicate; the same bytes under another identity are a new event.
    Header,
    /// None: the body's digest, so only the same bytes are a duplicate.
    Digest,
}

#[derive(Default)]
struct Scheme {
    /// The `POST /v1/sources` body; the kind doubles as the name.
    source: Value,
    /// The event as sent, with `{id}` (the identity) and `{v}` (a number that changes the
    /// bytes but not the identity) to fill in. A one-element SendGrid batch is stored as
    /// its element.
    body: &'static str,
    /// Headers without which a request is refused; the first carries the signature.
    required: &'static [&'static str],
    identity: Identity,
    /// The provider's event id made from `{id}`, when it is not just `{id}`.
    key: Option<&'static str>,
    /// A signed time more than 300 s old is refused.
    timed: bool,
    /// The credential does not cover the body (shared_secret).
    unsigned_body: bool,
    /// The hub's type of the processed event.
    processed_type: &'static str,
}

async fn send(app: &TestApp, req: &Signed, body: &str) -> Response {
    let mut r = app.client.post(&req.url).body(body.to_string());
    if !req.headers.iter().any(|(k, _)| k == "content-type") {
        r = r.header("content-type", "application/json");
    }
    for (name, value) in &req.headers {
        r = r.header(name, value);
    }
    r.send().await.unwrap()
}

/// The JSON of a 200 answer.
async fn reply(r: Response) -> Value {
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// The event id of an `accepted` answer.
async fn accepted(r: Response) -> String {
    let r = reply(r).await;
    assert_eq!(r["status"], "accepted", "{r}");
    r["event_id"].as_str().unwrap().to_string()
}

/// A 401 problem whose detail names `why`.
async fn refused(r: Response, why: &str) {
    let p = problem(r, 401, "unauthorized").await;
    assert!(p["detail"].as_str().unwrap().contains(why), "{why}: {p}");
}

/// Runs the shared checks against a new source for `s`, whose requests `sign` signs
/// with key 0 (the source's credential) or key 1 (another); returns the source id.
async fn check(app: &TestApp, s: &Scheme, sign: impl Fn(usize, &Msg<'_>) -> Signed) -> String {
    let mut create = s.source.clone();
    create["name"] = create["kind"].clone();
    let src = create_source(app, create).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = app.url(&format!("/in/{src}"));
    let t = now();
    let body_of = |id: &str, v: u32| s.body.replace("{id}", id).replace("{v}", &v.to_string());
    let request = |key: usize, id: &str, v: u32, ts: i64| {
        let body = body_of(id, v);
        let signed = sign(
            key,
            &Msg {
                url: &url,
                id,
                body: &body,
                ts,
            },
        );
        (signed, body)
    };

    // Genuine, then retried as is.
    let (genuine, body) = request(0, "evt-1", 0, t);
    let first = accepted(send(app, &genuine, &body).await).await;
    let duplicate = json!({"status": "duplicate", "event_id": first});
    assert_eq!(reply(send(app, &genuine, &body).await).await, duplicate);
    // Re-delivered with other bytes, signed anew at another time.
    let (resent, other_body) = request(0, "evt-1", 1, t - 5);
    assert_ne!(other_body, body);
    let resent = reply(send(app, &resent, &other_body).await).await;
    let mut stored = 1;
    if s.identity == Identity::Digest {
        assert_eq!(resent["status"], "accepted", "{resent}");
        assert_ne!(resent["event_id"], first.as_str());
        stored += 1;
    } else {
        assert_eq!(resent, duplicate, "same identity, other bytes");
    }
    if s.identity == Identity::Header {
        let (renamed, same_body) = request(0, "evt-2", 0, t);
        assert_eq!(same_body, body);
        let other = accepted(send(app, &renamed, &body).await).await;
        assert_ne!(other, first, "same bytes, other identity");
        stored += 1;
    }

    let event = processed(app, &first).await;
    assert_eq!(event["type"], s.processed_type, "{event}");
    assert_eq!(event["source_id"], src.as_str());
    assert_eq!(event["source_kind"], s.source["kind"]);
    let key = match s.identity {
        Identity::Digest => Value::Null,
        _ => json!(s.key.unwrap_or("{id}").replace("{id}", "evt-1")),
    };
    assert_eq!(event["provider_event_id"], key, "{event}");
    let payload = match serde_json::from_str(&body) {
        Ok(Value::Array(mut batch)) if batch.len() == 1 => batch.remove(0),
        Ok(v) => v,
        Err(_) => Value::String(body.clone()),
    };
    assert_eq!(event["payload"], payload);
    assert!(
        event["headers"].get(s.required[0]).is_none(),
        "the signature is not kept: {event}"
    );

    // Forgeries, each of a request that is genuine once signed properly.
    let (genuine, body) = request(0, "evt-3", 0, t);
    if !s.unsigned_body {
        let tampered = body_of("evt-3", 9);
        refused(send(app, &genuine, &tampered).await, "does not match").await;
    }
    let (forged, forged_body) = request(1, "evt-3", 0, t);
    refused(send(app, &forged, &forged_body).await, "does not match").await;
    for name in s.required {
        let mut unsigned = genuine.clone();
        unsigned.headers.retain(|(k, _)| k != name);
        assert!(unsigned.headers.len() < genuine.headers.len(), "{name}");
        refused(send(app, &unsigned, &body).await, "missing header").await;
    }
    if s.timed {
        let (stale, stale_body) = request(0, "evt-3", 0, t - 301);
        refused(send(app, &stale, &stale_body).await, "timestamp").await;
    }
    // None of them stored anything: the genuine request is still new.
    accepted(send(app, &genuine, &body).await).await;
    stored += 1;
    let listed: Value = app
        .get_json(&format!("/v1/events?source={src}&limit=100"))
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), stored, "{listed}");
    src
}

async fn stripe(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secrets = ["whsec_kinds_test", "whsec_someone_else"];
    let scheme = Scheme {
        source: json!({"kind": "stripe", "secret": secrets[0]}),
        body: r#"{"id":"{id}","object":"event","type":"invoice.paid","data":{"n":{v}}}"#,
        required: &["stripe-signature"],
        timed: true,
        processed_type: "payment.invoice.paid",
        ..Scheme::default()
    };
    check(&app, &scheme, |k, m| {
        let header = sig::stripe::sign(secrets[k], m.ts, m.body.as_bytes());
        signed(m.url, [("stripe-signature", header)])
    })
    .await;
    app.finish().await;
}

async fn standard_webhooks_with_svix_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secrets = [
        sig::standard::generate_secret(),
        sig::standard::generate_secret(),
    ];
    let scheme = Scheme {
        source: json!({"kind": "standard_webhooks", "secret": secrets[0]}),
        body: r#"{"type":"email.delivered","data":{"email_id":"re_1","n":{v}}}"#,
        required: &["svix-signature", "svix-id", "svix-timestamp"],
        identity: Identity::Header,
        timed: true,
        processed_type: "message.delivered",
        ..Scheme::default()
    };
    check(&app, &scheme, |k, m| {
        let signature = sig::standard::sign(&secrets[k], m.id, m.ts, m.body.as_bytes()).unwrap();
        signed(
            m.url,
            [
                ("svix-id", m.id.to_string()),
                ("svix-timestamp", m.ts.to_string()),
                ("svix-signature", signature),
            ],
        )
    })
    .await;
    app.finish().await;
}

async fn twilio_json_with_body_sha256_and_forms(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tokens = ["twilio-auth-token", "another-auth-token"];
    // JSON bodies: Twilio signs the URL, which carries the body's SHA-256.
    let json_scheme = Scheme {
        source: json!({"kind": "twilio", "auth_token": tokens[0]}),
        body: r#"{"MessageSid":"SM1","MessageStatus":"delivered","ErrorCode":{v}}"#,
        required: &["x-twilio-signature"],
        identity: Identity::Header,
        processed_type: "message.delivered",
        ..Scheme::default()
    };
    check(&app, &json_scheme, |k, m| {
        let url = format!(
            "{}?bodySHA256={:x}",
            m.url,
            Sha256::digest(m.body.as_bytes())
        );
        let signature = sig::twilio::sign_url(tokens[k], &url);
        signed(
            &url,
            [
                ("x-twilio-signature", signature),
                ("i-twilio-idempotency-token", m.id.to_string()),
            ],
        )
    })
    .await;

    // Form bodies: Twilio signs the URL and the sorted parameters; the identity is the
    // message and its status.
    let form_scheme = Scheme {
        source: json_scheme.source.clone(),
        body: "MessageSid={id}&MessageStatus=delivered&To=%2B15551234567&ErrorCode={v}",
        required: &["x-twilio-signature"],
        key: Some("{id}:delivered"),
        processed_type: "message.delivered",
        ..Scheme::default()
    };
    let src = check(&app, &form_scheme, |k, m| {
        let params = sig::twilio::parse_form(m.body.as_bytes()).unwrap();
        let params: Vec<(&str, &str)> = params
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        signed(
            m.url,
            [
                (
                    "x-twilio-signature",
                    sig::twilio::sign(tokens[k], m.url, &params),
                ),
                ("content-type", "application/x-www-form-urlencoded".into()),
            ],
        )
    })
    .await;
    // A body that is not a form at all is malformed, not forged.
    let r = app
        .client
        .post(app.url(&format!("/in/{src}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", "AAAA")
        .body("MessageSid=SM%zz")
        .send()
        .await
        .unwrap();
    problem(r, 400, "malformed_webhook").await;
    app.finish().await;
}

async fn telnyx_ed25519(backend: Backend) {
    use ed25519_dalek::{Signer as _, SigningKey};
    let app = TestApp::spawn(backend).await;
    let keys = [(); 2].map(|()| SigningKey::from_bytes(&rand::random()));
    let public_key = BASE64.encode(keys[0].verifying_key().as_bytes());
    let scheme = Scheme {
        source: json!({"kind": "telnyx", "public_key": public_key}),
        body: concat!(
            r#"{"data":{"event_type":"message.finalized","id":"{id}","#,
            r#""payload":{"to":[{"status":"delivered"}],"parts":{v}}}}"#
        ),
        required: &["telnyx-signature-ed25519", "telnyx-timestamp"],
        timed: true,
        processed_type: "message.delivered",
        ..Scheme::default()
    };
    check(&app, &scheme, |k, m| {
        let signature = keys[k].sign(format!("{}|{}", m.ts, m.body).as_bytes());
        signed(
            m.url,
            [
                (
                    "telnyx-signature-ed25519",
                    BASE64.encode(signature.to_bytes()),
                ),
                ("telnyx-timestamp", m.ts.to_string()),
            ],
        )
    })
    .await;
    app.finish().await;
}

async fn github(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secrets = ["It's a Secret to Everybody", "not the secret"];
    let scheme = Scheme {
        source: json!({"kind": "github", "secret": secrets[0]}),
        body: r#"{"action":"opened","issue":{"number":{v}}}"#,
        required: &["x-hub-signature-256"],
        identity: Identity::Header,
        processed_type: "issues.opened",
        ..Scheme::default()
    };
    check(&app, &scheme, |k, m| {
        signed(
            m.url,
            [
                (
                    "x-hub-signature-256",
                    sig::github::sign(secrets[k], m.body.as_bytes()),
                ),
                ("x-github-delivery", m.id.to_string()),
                ("x-github-event", "issues".into()),
            ],
        )
    })
    .await;
    app.finish().await;
}

async fn shopify(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secrets = ["shpss_kinds_test", "shpss_someone_else"];
    let scheme = Scheme {
        source: json!({"kind": "shopify", "secret": secrets[0]}),
        body: r#"{"id":820982911946154508,"total_price":"{v}.00"}"#,
        required: &["x-shopify-hmac-sha256"],
        identity: Identity::Header,
        processed_type: "orders/create",
        ..Scheme::default()
    };
    check(&app, &scheme, |k, m| {
        signed(
            m.url,
            [
                (
                    "x-shopify-hmac-sha256",
                    sig::shopify::sign(secrets[k], m.body.as_bytes()),
                ),
                ("x-shopify-webhook-id", m.id.to_string()),
                ("x-shopify-topic", "orders/create".into()),
                ("x-shopify-shop-domain", "kinds.myshopify.com".into()),
            ],
        )
    })
    .await;
    app.finish().await;
}

async fn slack(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secrets = ["8f742231b10e8888abcd99yyyzzz85a5", "another-signing-secret"];
    let scheme = Scheme {
        source: json!({"kind": "slack", "secret": secrets[0]}),
        body: concat!(
            r#"{"type":"event_callback","event_id":"{id}","#,
            r#""event":{"type":"app_mention","text":"hi {v}"}}"#
        ),
        required: &["x-slack-signature", "x-slack-request-timestamp"],
        timed: true,
        processed_type: "app_mention",
        ..Scheme::default()
    };
    check(&app, &scheme, |k, m| {
        signed(
            m.url,
            [
                (
                    "x-slack-signature",
                    sig::slack::sign(secrets[k], m.ts, m.body.as_bytes()),
                ),
                ("x-slack-request-timestamp", m.ts.to_string()),
            ],
        )
    })
    .await;
    app.finish().await;
}

async fn paddle(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secrets = ["pdl_ntfset_kinds_test", "pdl_ntfset_someone_else"];
    let scheme = Scheme {
        source: json!({"kind": "paddle", "secret": secrets[0]}),
        body: r#"{"event_id":"{id}","event_type":"transaction.completed","data":{"n":{v}}}"#,
        required: &["paddle-signature"],
        timed: true,
        processed_type: "payment.checkout.completed",
        ..Scheme::default()
    };
    check(&app, &scheme, |k, m| {
        let header = sig::paddle::sign(secrets[k], m.ts, m.body.as_bytes());
        signed(m.url, [("paddle-signature", header)])
    })
    .await;
    app.finish().await;
}

async fn lemonsqueezy(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secrets = ["lemon-kinds-test", "lemon-someone-else"];
    let scheme = Scheme {
        source: json!({"kind": "lemonsqueezy", "secret": secrets[0]}),
        body: r#"{"meta":{"event_name":"order_created"},"data":{"id":"{id}","total":{v}}}"#,
        required: &["x-signature"],
        identity: Identity::Digest,
        processed_type: "payment.checkout.completed",
        ..Scheme::default()
    };
    check(&app, &scheme, |k, m| {
        let header = sig::lemonsqueezy::sign(secrets[k], m.body.as_bytes());
        signed(m.url, [("x-signature", header)])
    })
    .await;
    app.finish().await;
}

async fn shared_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secrets = ["Bearer NNSXS.kinds-test", "Bearer NNSXS.someone-else"];
    let scheme = Scheme {
        source: json!({"kind": "shared_secret", "header": "authorization", "secret": secrets[0]}),
        body: r#"{"id":"{id}","type":"uplink","rssi":{v}}"#,
        required: &["authorization"],
        unsigned_body: true,
        processed_type: "uplink",
        ..Scheme::default()
    };
    check(&app, &scheme, |k, m| {
        signed(m.url, [("authorization", secrets[k].to_string())])
    })
    .await;
    app.finish().await;
}
