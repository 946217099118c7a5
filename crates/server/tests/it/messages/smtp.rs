//! An email sent through the API reaches a real SMTP server (`maildev`, with
//! authentication) through the `smtp` provider, and is read back through its API.

use serde_json::{Value, json};
use switchyard_providers::testing::Maildev;
use switchyard_store::Backend;

use super::{accepted, status_is};
use crate::TestApp;

fn addresses(list: &Value) -> Vec<&str> {
    let mut out: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["address"].as_str().unwrap())
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_reaches_a_real_smtp_server_with_attachments_cc_and_bcc() {
    let maildev = Maildev::start(&[
        "--silent",
        "--incoming-user",
        "hub",
        "--incoming-pass",
        "s3cret",
    ])
    .await;
    let url = maildev.smtp_url("hub:s3cret@");
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        |c| {
            c.email.providers =
                serde_json::from_value(json!([{"kind": "smtp", "url": url, "tls": "none"}]))
                    .unwrap();
        },
        vec![],
    )
    .await;
    let id = accepted(
        &app,
        "/v1/emails",
        json!({
            "from": "Shop <shop@example.com>",
            "to": ["ada@example.com"],
            "cc": ["carl@example.com"],
            "bcc": ["bea@example.com"],
            "reply_to": "help@example.com",
            "subject": "Invoice 42",
            "text": "Your invoice is attached.",
            "html": "<p>Your <b>invoice</b> is attached.</p>",
            "attachments": [{"filename": "invoice-42.txt", "content": "aW52b2ljZSA0Mg==", "content_type": "text/plain"}],
        }),
    )
    .await;
    let m = status_is(&app, &id, "sent").await;
    assert_eq!(m["provider"], "smtp");

    let got = maildev.email("Invoice 42").await;
    assert_eq!(
        got["text"].as_str().unwrap().trim_end(),
        "Your invoice is attached."
    );
    assert_eq!(
        got["html"].as_str().unwrap().trim_end(),
        "<p>Your <b>invoice</b> is attached.</p>"
    );
    assert_eq!(got["headers"]["x-switchyard-message-id"], id.as_str());
    assert_eq!(m["provider_message_id"], got["headers"]["message-id"]);
    assert_eq!(addresses(&got["to"]), ["ada@example.com"]);
    assert_eq!(addresses(&got["cc"]), ["carl@example.com"]);
    assert_eq!(
        addresses(&got["envelope"]["to"]),
        ["ada@example.com", "bea@example.com", "carl@example.com"]
    );
    let email_id = got["id"].as_str().unwrap();
    let source =
        String::from_utf8(maildev.get(&format!("/email/{email_id}/source")).await).unwrap();
    assert!(!source.contains("bea@example.com"), "bcc leaked:\n{source}");
    let attachment = &got["attachments"][0];
    assert_eq!(attachment["filename"], "invoice-42.txt");
    let stored = attachment["generatedFileName"].as_str().unwrap();
    assert_eq!(
        maildev
            .get(&format!("/email/{email_id}/attachment/{stored}"))
            .await,
        b"invoice 42"
    );

    // A wrong password is the provider's fault, not the message's: it is retried, and
    // the attempt records why.
    app.finish().await;
    let wrong = maildev.smtp_url("hub:wrong@");
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        |c| {
            c.email.providers =
                serde_json::from_value(json!([{"kind": "smtp", "url": wrong, "tls": "none"}]))
                    .unwrap();
            c.messages.provider_retries = 0;
        },
        vec![],
    )
    .await;
    let id = accepted(
        &app,
        "/v1/emails",
        json!({"from": "shop@example.com", "to": ["ada@example.com"], "subject": "Nope", "text": "x"}),
    )
    .await;
    let mut m = Value::Null;
    for _ in 0..200 {
        m = app.get_json(&format!("/v1/messages/{id}")).await;
        if !m["attempts"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(m["status"], "sending", "{m:#}");
    assert_eq!(m["attempts"][0]["outcome"], "retryable", "{m:#}");
    assert!(m["last_error"].as_str().unwrap().contains("535"), "{m:#}");
    assert!(
        !m["last_error"].as_str().unwrap().contains("wrong"),
        "no password in errors: {m:#}"
    );
    app.finish().await;
}
