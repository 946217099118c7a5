//! Verification and reset mails through the hub's own email, received by a real SMTP
//! server (maildev): their tokens work once, a reset ends every session, and a reset
//! for an unknown address answers the same and sends nothing.

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_providers::testing::Maildev;
use switchyard_store::Backend;

use super::{create_user, login, send};
use crate::messages::status_is;
use crate::{TestApp, both_backends, problem};

both_backends!(verification_and_reset_links_arrive_by_mail_and_work_once);

/// The token in the link of a received mail.
fn token_of(mail: &Value, page: &str) -> String {
    let text = mail["text"].as_str().unwrap();
    let start = text
        .find(page)
        .unwrap_or_else(|| panic!("no link to {page} in {text}"));
    let link = text[start..].split_whitespace().next().unwrap();
    link.split("token=").nth(1).unwrap().to_string()
}

async fn verification_and_reset_links_arrive_by_mail_and_work_once(backend: Backend) {
    let maildev = Maildev::start(&["--silent"]).await;
    let url = maildev.smtp_url("");
    let app = TestApp::spawn_with(
        backend,
        |c| {
            c.email.providers =
                serde_json::from_value(json!([{"kind": "smtp", "url": url, "tls": "none"}]))
                    .unwrap();
            c.auth.pools = serde_json::from_value(json!([{
                "name": "default",
                "verify_url": "https://app.example.com/verify",
                "reset_url": "https://app.example.com/reset?lang=en",
                "from": "Accounts <accounts@example.com>",
            }]))
            .unwrap();
        },
        vec![],
    )
    .await;
    let user = create_user(
        &app,
        "default",
        json!({"email": "m@example.com", "password": "first password!"}),
    )
    .await;
    let id = user["id"].as_str().unwrap();

    let sent = send(
        &app,
        "/v1/auth/default/verify-email/send",
        json!({"user_id": id}),
    )
    .await;
    assert_eq!(sent.status(), 202);
    let sent: Value = sent.json().await.unwrap();
    let mail = maildev.email("Confirm your email address").await;
    assert_eq!(mail["to"][0]["address"], "m@example.com");
    assert_eq!(mail["from"][0]["address"], "accounts@example.com");
    let token = token_of(&mail, "https://app.example.com/verify?token=");
    // The SMTP server has the mail before the hub records the outcome: wait for it.
    let message = status_is(&app, sent["message_id"].as_str().unwrap(), "sent").await;
    assert!(
        !message.to_string().contains(&token),
        "once sent, the log keeps no copy of the link token: {message}"
    );
    let confirmed: Value = send(
        &app,
        "/v1/auth/default/verify-email/confirm",
        json!({"token": token}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(confirmed["email_verified"], true);
    let twice = send(
        &app,
        "/v1/auth/default/verify-email/confirm",
        json!({"token": token}),
    )
    .await;
    problem(twice, 400, "invalid_token").await;

    // A reset for an unknown address answers the same and sends nothing.
    let unknown = send(
        &app,
        "/v1/auth/default/password/reset",
        json!({"email": "ghost@example.com"}),
    )
    .await;
    assert_eq!(unknown.status(), 202);
    let unknown: Value = unknown.json().await.unwrap();
    let sessions = [
        login(&app, "default", "m@example.com", "first password!").await,
        login(&app, "default", "m@example.com", "first password!").await,
    ];
    let known: Value = send(
        &app,
        "/v1/auth/default/password/reset",
        json!({"email": "M@example.com"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        known, unknown,
        "the same answer whether or not the account exists"
    );
    let mail = maildev.email("Reset your password").await;
    let token = token_of(&mail, "https://app.example.com/reset?lang=en&token=");
    let list: Vec<Value> = serde_json::from_slice(&maildev.get("/email").await).unwrap();
    assert!(
        list.iter()
            .all(|m| m["to"][0]["address"] != "ghost@example.com"),
        "nothing is sent to an unknown address"
    );
    let cooled = send(
        &app,
        "/v1/auth/default/password/reset",
        json!({"email": "m@example.com"}),
    )
    .await;
    assert_eq!(cooled.status(), 202);

    let weak = send(
        &app,
        "/v1/auth/default/password/reset/confirm",
        json!({"token": token, "password": "password1"}),
    )
    .await;
    problem(weak, 422, "validation_failed").await;
    let done = send(
        &app,
        "/v1/auth/default/password/reset/confirm",
        json!({"token": token, "password": "second password!"}),
    )
    .await;
    assert_eq!(done.status(), 200);
    for s in &sessions {
        let r = send(
            &app,
            "/v1/auth/default/token/refresh",
            json!({"refresh_token": s["refresh_token"]}),
        )
        .await;
        problem(r, 401, "session_ended").await;
    }
    let again = send(
        &app,
        "/v1/auth/default/password/reset/confirm",
        json!({"token": token, "password": "third password!!"}),
    )
    .await;
    problem(again, 400, "invalid_token").await;
    let old = send(
        &app,
        "/v1/auth/default/login",
        json!({"email": "m@example.com", "password": "first password!"}),
    )
    .await;
    problem(old, 401, "invalid_credentials").await;
    login(&app, "default", "m@example.com", "second password!").await;
    maildev.email("Your password was changed").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let list: Vec<Value> = serde_json::from_slice(&maildev.get("/email").await).unwrap();
    let resets = list
        .iter()
        .filter(|m| m["subject"] == "Reset your password")
        .count();
    assert_eq!(resets, 1, "the second request fell in the cooldown");

    // Change with the current password; a wrong one is refused.
    let wrong = send(&app, "/v1/auth/default/password/change", json!({"user_id": id, "current_password": "nope nope nope", "new_password": "fourth password!"})).await;
    problem(wrong, 401, "invalid_credentials").await;
    let changed = send(&app, "/v1/auth/default/password/change", json!({"user_id": id, "current_password": "second password!", "new_password": "fourth password!"})).await;
    assert_eq!(changed.status(), 200);
    login(&app, "default", "m@example.com", "fourth password!").await;

    // The templates are the hub's own until replaced through /v1/templates.
    let builtin = app.get_json("/v1/templates/auth.verify_email").await;
    assert!(
        builtin["text"].as_str().unwrap().contains("{{ link }}"),
        "{builtin}"
    );
    let put = app
        .req(reqwest::Method::PUT, "/v1/templates/auth.verify_email")
        .json(&json!({"subject": "Bitte bestätigen Sie {{ email }}", "text": "Hier: {{ link }}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    send(
        &app,
        "/v1/auth/default/verify-email/send",
        json!({"user_id": id}),
    )
    .await;
    let mail = maildev.email("Bitte bestätigen Sie m@example.com").await;
    let token = token_of(&mail, "https://app.example.com/verify?token=");
    let ok = send(
        &app,
        "/v1/auth/default/verify-email/confirm",
        json!({"token": token}),
    )
    .await;
    assert_eq!(ok.status(), 200);
    app.finish().await;
}
