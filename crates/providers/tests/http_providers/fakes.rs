//! The fakes: for each HTTP provider, its documented request path, success and error
//! answers, and the request it must send; plus the email and SMS every provider sends.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use switchyard_core::Secret;
use switchyard_core::message::Category;
use switchyard_providers::email::{
    Attachment, Email, EmailProvider, EmailProviderConfig, resend::ResendConfig,
    sendgrid::SendgridConfig,
};
use switchyard_providers::sms::{
    Sms, SmsProvider, SmsProviderConfig, telnyx::TelnyxConfig, twilio::TwilioConfig,
};
use switchyard_providers::{SendError, Sent};
use wiremock::{Request, ResponseTemplate};

/// The timeout every provider is built with, in seconds.
pub const TIMEOUT_SECS: u64 = 3;

// ---------------------------------------------------------------------------------------
// The messages every provider sends

pub fn email() -> Email {
    Email {
        message_id: "msg_01conformance".into(),
        from: "Acme <no-reply@acme.test>".into(),
        to: vec!["Ann Example <ann@example.test>".into()],
        cc: vec!["carl@example.test".into()],
        bcc: vec!["bea@example.test".into()],
        reply_to: Some("support@acme.test".into()),
        subject: "Your invoice".into(),
        text: Some("Total: 10".into()),
        html: Some("<p>Total: <b>10</b></p>".into()),
        attachments: vec![Attachment {
            filename: "invoice.txt".into(),
            content_type: "text/plain".into(),
            content: b"total: 10\n".to_vec(),
        }],
        category: Category::Marketing,
    }
}

pub fn sms() -> Sms {
    Sms {
        message_id: "msg_01conformance".into(),
        from: None,
        to: "+15550100".into(),
        body: "Your code is 123456".into(),
        media_urls: vec![
            "https://cdn.acme.test/a.png".into(),
            "https://cdn.acme.test/b.png".into(),
        ],
        status_callback: Some("https://hub.acme.test/in/src_1".into()),
    }
}

// ---------------------------------------------------------------------------------------
// The fakes

/// A built provider of either channel, sending the message above.
pub enum Sender {
    Email(Arc<dyn EmailProvider>),
    Sms(Arc<dyn SmsProvider>),
}

impl Sender {
    pub async fn send(&self) -> Result<Sent, SendError> {
        match self {
            Sender::Email(p) => p.send(&email()).await,
            Sender::Sms(p) => p.send(&sms()).await,
        }
    }
}

/// What the suite needs to know about one provider.
pub struct Fake {
    /// The request path the provider posts to.
    pub path: &'static str,
    /// Builds the provider against `base_url` with [`TIMEOUT_SECS`].
    pub build: fn(base_url: &str) -> Sender,
    /// The documented success answer and the id it carries.
    pub success: fn() -> ResponseTemplate,
    pub expected_id: &'static str,
    /// The documented error body carrying `reason`.
    pub error: fn(status: u16, reason: &str) -> Value,
    /// Asserts the authentication and the documented fields of a request.
    pub check_request: fn(&Request),
}

pub fn http() -> reqwest::Client {
    switchyard_providers::http_client()
}

pub fn no_env(_: &str) -> Option<String> {
    None
}

pub fn email_provider(config: EmailProviderConfig) -> Sender {
    Sender::Email(config.build_with_env(&http(), &no_env).expect("build"))
}

pub fn sms_provider(config: SmsProviderConfig) -> Sender {
    Sender::Sms(config.build_with_env(&http(), &no_env).expect("build"))
}

pub fn sendgrid_config(base_url: &str) -> SendgridConfig {
    SendgridConfig {
        api_key: Some(Secret::new("SG.test-key".into())),
        base_url: Some(base_url.into()),
        timeout_secs: Some(TIMEOUT_SECS),
        ..Default::default()
    }
}

pub fn resend_config(base_url: &str) -> ResendConfig {
    ResendConfig {
        api_key: Some(Secret::new("re_test_key".into())),
        base_url: Some(base_url.into()),
        timeout_secs: Some(TIMEOUT_SECS),
        ..Default::default()
    }
}

pub fn twilio_config(base_url: &str) -> TwilioConfig {
    TwilioConfig {
        account_sid: Some("AC0123456789".into()),
        auth_token: Some(Secret::new("tw-token".into())),
        from: Some("+15550199".into()),
        base_url: Some(base_url.into()),
        timeout_secs: Some(TIMEOUT_SECS),
        ..Default::default()
    }
}

pub fn telnyx_config(base_url: &str) -> TelnyxConfig {
    TelnyxConfig {
        api_key: Some(Secret::new("KEYtelnyx".into())),
        from: Some("+15550188".into()),
        base_url: Some(base_url.into()),
        timeout_secs: Some(TIMEOUT_SECS),
        ..Default::default()
    }
}

pub fn sendgrid() -> Fake {
    Fake {
        path: "/v3/mail/send",
        build: |base| email_provider(EmailProviderConfig::Sendgrid(sendgrid_config(base))),
        success: || ResponseTemplate::new(202).insert_header("X-Message-Id", "sg-14c5d75ce93"),
        expected_id: "sg-14c5d75ce93",
        error: |_, reason| json!({"errors": [{"message": reason, "field": "personalizations.0.to", "help": null}]}),
        check_request: |req| {
            assert_eq!(header(req, "authorization"), "Bearer SG.test-key");
            assert!(header(req, "content-type").starts_with("application/json"));
            let body = json_body(req);
            let p = &body["personalizations"][0];
            assert_eq!(
                p["to"],
                json!([{"email": "ann@example.test", "name": "Ann Example"}])
            );
            assert_eq!(p["cc"], json!([{"email": "carl@example.test"}]));
            assert_eq!(p["bcc"], json!([{"email": "bea@example.test"}]));
            assert_eq!(
                body["from"],
                json!({"email": "no-reply@acme.test", "name": "Acme"})
            );
            assert_eq!(body["reply_to"], json!({"email": "support@acme.test"}));
            assert_eq!(body["subject"], "Your invoice");
            assert_eq!(
                body["content"],
                json!([
                    {"type": "text/plain", "value": "Total: 10"},
                    {"type": "text/html", "value": "<p>Total: <b>10</b></p>"}
                ])
            );
            assert_eq!(
                body["attachments"],
                json!([{
                    "content": BASE64.encode(b"total: 10\n"),
                    "filename": "invoice.txt",
                    "type": "text/plain",
                    "disposition": "attachment"
                }])
            );
            assert_eq!(body["categories"], json!(["marketing"]));
            assert_eq!(
                body["custom_args"],
                json!({"switchyard_message_id": "msg_01conformance"})
            );
            assert_eq!(
                body["tracking_settings"],
                json!({
                    "open_tracking": {"enable": true},
                    "click_tracking": {"enable": true, "enable_text": true}
                })
            );
        },
    }
}

pub fn resend() -> Fake {
    Fake {
        path: "/emails",
        build: |base| email_provider(EmailProviderConfig::Resend(resend_config(base))),
        success: || {
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"}))
        },
        expected_id: "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794",
        error: |status, reason| json!({"statusCode": status, "message": reason, "name": "validation_error"}),
        check_request: |req| {
            assert_eq!(header(req, "authorization"), "Bearer re_test_key");
            assert_eq!(header(req, "idempotency-key"), "msg_01conformance");
            let body = json_body(req);
            assert_eq!(body["from"], "Acme <no-reply@acme.test>");
            assert_eq!(body["to"], json!(["Ann Example <ann@example.test>"]));
            assert_eq!(body["cc"], json!(["carl@example.test"]));
            assert_eq!(body["bcc"], json!(["bea@example.test"]));
            assert_eq!(body["reply_to"], "support@acme.test");
            assert_eq!(body["subject"], "Your invoice");
            assert_eq!(body["text"], "Total: 10");
            assert_eq!(body["html"], "<p>Total: <b>10</b></p>");
            assert_eq!(
                body["attachments"],
                json!([{
                    "filename": "invoice.txt",
                    "content": BASE64.encode(b"total: 10\n"),
                    "content_type": "text/plain",
                }])
            );
            let tags = body["tags"].as_array().expect("tags");
            assert!(
                tags.contains(&json!({"name": "category", "value": "marketing"})),
                "{tags:?}"
            );
            assert!(
                tags.contains(
                    &json!({"name": "switchyard_message_id", "value": "msg_01conformance"})
                ),
                "{tags:?}"
            );
        },
    }
}

pub fn twilio() -> Fake {
    Fake {
        path: "/2010-04-01/Accounts/AC0123456789/Messages.json",
        build: |base| sms_provider(SmsProviderConfig::Twilio(twilio_config(base))),
        success: || {
            ResponseTemplate::new(201)
                .set_body_json(json!({"sid": "SM0123456789abcdef", "status": "queued"}))
        },
        expected_id: "SM0123456789abcdef",
        error: |status, reason| json!({"code": 21211, "message": reason, "more_info": "https://www.twilio.com/docs/errors/21211", "status": status}),
        check_request: |req| {
            let basic = BASE64.encode("AC0123456789:tw-token");
            assert_eq!(header(req, "authorization"), format!("Basic {basic}"));
            assert_eq!(
                header(req, "content-type"),
                "application/x-www-form-urlencoded"
            );
            let form = form_body(req);
            assert_eq!(form_values(&form, "To"), ["+15550100"]);
            assert_eq!(form_values(&form, "From"), ["+15550199"]);
            assert_eq!(form_values(&form, "Body"), ["Your code is 123456"]);
            assert_eq!(
                form_values(&form, "MediaUrl"),
                ["https://cdn.acme.test/a.png", "https://cdn.acme.test/b.png"]
            );
            assert_eq!(
                form_values(&form, "StatusCallback"),
                ["https://hub.acme.test/in/src_1"]
            );
            assert!(form_values(&form, "MessagingServiceSid").is_empty());
        },
    }
}

pub fn telnyx() -> Fake {
    Fake {
        path: "/v2/messages",
        build: |base| sms_provider(SmsProviderConfig::Telnyx(telnyx_config(base))),
        success: || {
            ResponseTemplate::new(200).set_body_json(json!({"data": {
                "record_type": "message",
                "direction": "outbound",
                "id": "40385f64-5717-4562-b3fc-2c963f66afa6",
                "type": "MMS"
            }}))
        },
        expected_id: "40385f64-5717-4562-b3fc-2c963f66afa6",
        error: |_, reason| json!({"errors": [{"code": "40310", "title": "Invalid 'to' address", "detail": reason}]}),
        check_request: |req| {
            assert_eq!(header(req, "authorization"), "Bearer KEYtelnyx");
            let body = json_body(req);
            assert_eq!(
                body,
                json!({
                    "from": "+15550188",
                    "to": "+15550100",
                    "text": "Your code is 123456",
                    "media_urls": ["https://cdn.acme.test/a.png", "https://cdn.acme.test/b.png"],
                    "webhook_url": "https://hub.acme.test/in/src_1"
                })
            );
        },
    }
}

// ---------------------------------------------------------------------------------------
// Request helpers

pub fn header(req: &Request, name: &str) -> String {
    req.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("ascii header")
        .to_string()
}

pub fn json_body(req: &Request) -> Value {
    serde_json::from_slice(&req.body).expect("JSON body")
}

pub fn form_body(req: &Request) -> Vec<(String, String)> {
    let body = std::str::from_utf8(&req.body).expect("utf-8 form");
    let url = reqwest::Url::parse(&format!("http://form.test/?{body}")).expect("form");
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn form_values<'a>(form: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    form.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}
