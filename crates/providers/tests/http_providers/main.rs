//! Every HTTP provider against a `wiremock` fake built from the provider's documented
//! request and response shapes (see `fakes`).
//!
//! One conformance suite (`conformance`) runs against each provider: success returns
//! the provider's id and sends the documented request; 400 is rejected with the
//! provider's reason; 401 is unauthorized; 429 carries `Retry-After`; 500, an
//! unreachable host and a slow answer are transient. Per-provider tests below check
//! what only that provider has.

mod fakes;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_providers::SendError;
use switchyard_providers::email::{Email, EmailProviderConfig, sendgrid::SendgridConfig};
use switchyard_providers::sms::{
    Sms, SmsProviderConfig, telnyx::TelnyxConfig, twilio::TwilioConfig,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use fakes::{
    Fake, Sender, TIMEOUT_SECS, email, form_body, form_values, header, http, json_body, no_env,
    resend, sendgrid, sendgrid_config, sms, telnyx, telnyx_config, twilio, twilio_config,
};

/// The provider's documented reason in the 400 the fakes answer.
const REASON: &str = "The recipient address is not valid";

/// A fake answering every request to the provider's path with `response`, expected to
/// be called exactly once (the layer must not retry on its own).
async fn fake_answering(fake: &Fake, response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(fake.path))
        .respond_with(response)
        .expect(1)
        .mount(&server)
        .await;
    server
}

async fn only_request(server: &MockServer) -> Request {
    let mut requests = server.received_requests().await.expect("recording on");
    assert_eq!(requests.len(), 1, "one request expected");
    requests.remove(0)
}

// ---------------------------------------------------------------------------------------
// The conformance suite

async fn conformance(fake: Fake) {
    sends_and_returns_the_provider_id(&fake).await;
    rejects_with_the_providers_reason(&fake).await;
    refused_credentials_are_unauthorized(&fake).await;
    rate_limits_carry_retry_after(&fake).await;
    server_errors_are_transient(&fake).await;
    an_unreachable_provider_is_transient(&fake).await;
    a_slow_provider_times_out_as_transient(&fake).await;
}

async fn sends_and_returns_the_provider_id(fake: &Fake) {
    let server = fake_answering(fake, (fake.success)()).await;
    let sent = (fake.build)(&server.uri()).send().await.expect("sent");
    assert_eq!(sent.provider_message_id.as_deref(), Some(fake.expected_id));
    (fake.check_request)(&only_request(&server).await);
}

async fn rejects_with_the_providers_reason(fake: &Fake) {
    let body = (fake.error)(400, REASON);
    let server = fake_answering(fake, ResponseTemplate::new(400).set_body_json(body)).await;
    match (fake.build)(&server.uri()).send().await {
        Err(SendError::Rejected(reason)) => assert!(reason.contains(REASON), "{reason}"),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

async fn refused_credentials_are_unauthorized(fake: &Fake) {
    let body = (fake.error)(401, "Authentication failed");
    let server = fake_answering(fake, ResponseTemplate::new(401).set_body_json(body)).await;
    let e = (fake.build)(&server.uri()).send().await.expect_err("401");
    assert!(matches!(e, SendError::Unauthorized(_)), "{e:?}");
    assert!(e.is_retryable());
}

async fn rate_limits_carry_retry_after(fake: &Fake) {
    let response = ResponseTemplate::new(429)
        .insert_header("Retry-After", "7")
        .set_body_json((fake.error)(429, "Too many requests"));
    let server = fake_answering(fake, response).await;
    match (fake.build)(&server.uri()).send().await {
        Err(SendError::RateLimited {
            retry_after,
            detail,
        }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)));
            assert!(detail.contains("Too many requests"), "{detail}");
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

async fn server_errors_are_transient(fake: &Fake) {
    let body = (fake.error)(500, "Internal error");
    let server = fake_answering(fake, ResponseTemplate::new(500).set_body_json(body)).await;
    let e = (fake.build)(&server.uri()).send().await.expect_err("500");
    assert!(
        matches!(&e, SendError::Transient(t) if t.contains("500")),
        "{e:?}"
    );
}

async fn an_unreachable_provider_is_transient(fake: &Fake) {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let e = (fake.build)(&format!("http://127.0.0.1:{port}"))
        .send()
        .await
        .expect_err("nothing listens");
    assert!(matches!(e, SendError::Transient(_)), "{e:?}");
}

async fn a_slow_provider_times_out_as_transient(fake: &Fake) {
    let slow = (fake.success)().set_delay(Duration::from_secs(TIMEOUT_SECS + 5));
    let server = fake_answering(fake, slow).await;
    let started = Instant::now();
    let e = (fake.build)(&server.uri())
        .send()
        .await
        .expect_err("too slow");
    assert!(
        started.elapsed() < Duration::from_secs(TIMEOUT_SECS + 4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        e,
        SendError::Transient(format!("timed out after {TIMEOUT_SECS}s"))
    );
}

#[tokio::test]
async fn sendgrid_conforms() {
    conformance(sendgrid()).await;
}

#[tokio::test]
async fn resend_conforms() {
    conformance(resend()).await;
}

#[tokio::test]
async fn twilio_conforms() {
    conformance(twilio()).await;
}

#[tokio::test]
async fn telnyx_conforms() {
    conformance(telnyx()).await;
}

// ---------------------------------------------------------------------------------------
// What only one provider has

#[tokio::test]
async fn sendgrid_follows_the_tracking_settings_and_dedupes_recipients() {
    let fake = sendgrid();
    let server = fake_answering(&fake, ResponseTemplate::new(202)).await;
    let config = SendgridConfig {
        track_opens: false,
        track_clicks: true,
        ..sendgrid_config(&server.uri())
    };
    let provider = EmailProviderConfig::Sendgrid(config)
        .build_with_env(&http(), &no_env)
        .expect("build");
    let mut message = email();
    message.cc.push("ANN@example.test".into());
    message.html = None;
    message.attachments.clear();
    let sent = provider.send(&message).await.expect("sent");
    assert_eq!(sent.provider_message_id, None, "no X-Message-Id, no id");

    let body = json_body(&only_request(&server).await);
    assert_eq!(
        body["tracking_settings"],
        json!({
            "open_tracking": {"enable": false},
            "click_tracking": {"enable": true, "enable_text": true}
        })
    );
    assert_eq!(
        body["custom_args"]["switchyard_message_id"],
        "msg_01conformance"
    );
    assert_eq!(
        body["personalizations"][0]["cc"],
        json!([{"email": "carl@example.test"}])
    );
    assert_eq!(
        body["content"],
        json!([{"type": "text/plain", "value": "Total: 10"}])
    );
    assert!(body.get("attachments").is_none(), "{body}");
}

#[tokio::test]
async fn sendgrid_joins_every_error_message() {
    let fake = sendgrid();
    let body = json!({"errors": [
        {"message": "The from address does not match a verified Sender Identity", "field": "from"},
        {"message": "Invalid type. Expected: string", "field": "subject"}
    ]});
    let server = fake_answering(&fake, ResponseTemplate::new(403).set_body_json(body)).await;
    let e = (fake.build)(&server.uri()).send().await.expect_err("403");
    assert_eq!(
        e,
        SendError::Unauthorized(
            "HTTP 403: from: The from address does not match a verified Sender Identity; \
             subject: Invalid type. Expected: string"
                .into()
        )
    );
}

#[tokio::test]
async fn resend_keys_each_message_by_its_hub_id() {
    let fake = resend();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(fake.path))
        .respond_with((fake.success)())
        .expect(2)
        .mount(&server)
        .await;
    let provider = (fake.build)(&server.uri());
    let Sender::Email(provider) = provider else {
        panic!("resend sends email");
    };
    let first = email();
    let second = Email {
        message_id: "msg_01second".into(),
        ..email()
    };
    provider.send(&first).await.expect("sent");
    provider.send(&second).await.expect("sent");
    let requests = server.received_requests().await.expect("recording on");
    let keys: Vec<_> = requests
        .iter()
        .map(|r| header(r, "idempotency-key"))
        .collect();
    assert_eq!(keys, ["msg_01conformance", "msg_01second"]);
    let body = json_body(&requests[1]);
    assert_eq!(
        body["headers"],
        json!({"X-Switchyard-Message-Id": "msg_01second"})
    );

    let mut bad = email();
    bad.message_id = "msg\r\nX-Injected: 1".into();
    assert!(matches!(
        provider.send(&bad).await,
        Err(SendError::Rejected(_))
    ));
}

#[tokio::test]
async fn twilio_uses_the_messaging_service_when_no_sender_is_known() {
    let fake = twilio();
    let server = fake_answering(&fake, (fake.success)()).await;
    let config = TwilioConfig {
        from: None,
        messaging_service_sid: Some("MG0123".into()),
        ..twilio_config(&server.uri())
    };
    let provider = SmsProviderConfig::Twilio(config)
        .build_with_env(&http(), &no_env)
        .expect("build");
    let message = Sms {
        media_urls: vec![],
        status_callback: None,
        ..sms()
    };
    provider.send(&message).await.expect("sent");
    let form = form_body(&only_request(&server).await);
    assert_eq!(form_values(&form, "MessagingServiceSid"), ["MG0123"]);
    assert!(form_values(&form, "From").is_empty(), "{form:?}");
    assert!(form_values(&form, "MediaUrl").is_empty(), "{form:?}");
    assert!(form_values(&form, "StatusCallback").is_empty(), "{form:?}");
}

#[tokio::test]
async fn twilio_reads_credentials_and_sender_from_the_environment() {
    let fake = twilio();
    let server = fake_answering(&fake, (fake.success)()).await;
    let env: HashMap<&str, &str> = HashMap::from([
        ("TWILIO_ACCOUNT_SID", "AC0123456789"),
        ("TWILIO_AUTH_TOKEN", "tw-token"),
        ("TWILIO_PHONE_NUMBER", "+15550199"),
    ]);
    let lookup = |k: &str| env.get(k).map(|v| v.to_string());
    let config = TwilioConfig {
        base_url: Some(server.uri()),
        ..Default::default()
    };
    let provider = SmsProviderConfig::Twilio(config)
        .build_with_env(&http(), &lookup)
        .expect("build");
    let sent = provider.send(&sms()).await.expect("sent");
    assert_eq!(sent.provider_message_id.as_deref(), Some(fake.expected_id));
    (fake.check_request)(&only_request(&server).await);
}

#[tokio::test]
async fn twilio_rejections_name_the_error_code() {
    let fake = twilio();
    let body = (fake.error)(400, "The 'To' number +1555 is not a valid phone number.");
    let server = fake_answering(&fake, ResponseTemplate::new(400).set_body_json(body)).await;
    let e = (fake.build)(&server.uri()).send().await.expect_err("400");
    assert_eq!(
        e,
        SendError::Rejected("21211: The 'To' number +1555 is not a valid phone number.".into())
    );
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn telnyx_sends_the_messaging_profile_and_the_messages_own_sender() {
    let fake = telnyx();
    let server = fake_answering(&fake, (fake.success)()).await;
    let config = TelnyxConfig {
        messaging_profile_id: Some("4000eba1-a0c0-4563-9925-b25e842a7cb6".into()),
        ..telnyx_config(&server.uri())
    };
    let provider = SmsProviderConfig::Telnyx(config)
        .build_with_env(&http(), &no_env)
        .expect("build");
    let message = Sms {
        from: Some("+15550177".into()),
        media_urls: vec![],
        status_callback: None,
        ..sms()
    };
    provider.send(&message).await.expect("sent");
    let body = json_body(&only_request(&server).await);
    assert_eq!(
        body,
        json!({
            "from": "+15550177",
            "to": "+15550100",
            "text": "Your code is 123456",
            "messaging_profile_id": "4000eba1-a0c0-4563-9925-b25e842a7cb6"
        })
    );
}

#[tokio::test]
async fn telnyx_without_any_sender_does_not_call_the_api() {
    let server = MockServer::start().await;
    let config = TelnyxConfig {
        from: None,
        ..telnyx_config(&server.uri())
    };
    let provider = SmsProviderConfig::Telnyx(config)
        .build_with_env(&http(), &no_env)
        .expect("build");
    let e = provider.send(&sms()).await.expect_err("no sender");
    assert_eq!(e.kind(), "not_supported");
    assert!(
        server
            .received_requests()
            .await
            .expect("recording on")
            .is_empty()
    );
}

#[tokio::test]
async fn an_accepted_message_with_an_unreadable_answer_is_still_sent() {
    let fake = telnyx();
    let server = fake_answering(
        &fake,
        ResponseTemplate::new(200).set_body_string("<html>ok</html>"),
    )
    .await;
    let sent = (fake.build)(&server.uri())
        .send()
        .await
        .expect("2xx means sent");
    assert_eq!(sent.provider_message_id, None);
}
