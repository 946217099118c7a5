//! Google Calendar push notifications: empty bodies, everything in `X-Goog-*` headers,
//! the channel token as the credential, the opening `sync` message ignored.

use super::*;

both_backends!(google_calendar_notifications);

const TOKEN: &str = "channel-token-3f9c2a";

/// A notification of `channel`'s message `number` about `state`, sent with `token`.
async fn notify(
    app: &TestApp,
    src: &str,
    token: Option<&str>,
    state: &str,
    number: u32,
) -> Response {
    let mut r = app
        .client
        .post(app.url(&format!("/in/{src}")))
        .header("x-goog-channel-id", "01234567-89ab-cdef-0123456789ab")
        .header("x-goog-channel-expiration", "Tue, 19 Nov 2030 01:13:52 GMT")
        .header("x-goog-resource-id", "o3hgv1538sdjfh")
        .header(
            "x-goog-resource-uri",
            "https://www.googleapis.com/calendar/v3/calendars/primary/events?alt=json",
        )
        .header("x-goog-resource-state", state)
        .header("x-goog-message-number", number.to_string())
        .header("content-length", "0");
    if let Some(token) = token {
        r = r.header("x-goog-channel-token", token);
    }
    r.send().await.unwrap()
}

async fn listed(app: &TestApp, src: &str) -> Vec<Value> {
    let listed: Value = app
        .get_json(&format!("/v1/events?source={src}&limit=100"))
        .await;
    listed["data"].as_array().unwrap().clone()
}

async fn google_calendar_notifications(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = create_source(
        &app,
        json!({"name": "calendar", "kind": "google_channel", "secret": TOKEN}),
    )
    .await;
    let src = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["kind"], "google_channel");

    // The message opening the channel is answered and stores nothing.
    let sync = reply(notify(&app, &src, Some(TOKEN), "sync", 1).await).await;
    assert_eq!(sync, json!({"status": "ignored"}));
    assert!(listed(&app, &src).await.is_empty());

    // A change is one event, named in the hub's vocabulary.
    let first = accepted(notify(&app, &src, Some(TOKEN), "exists", 2).await).await;
    let event = processed(&app, &first).await;
    assert_eq!(event["type"], "calendar.changed", "{event}");
    assert_eq!(event["provider_type"], "exists");
    assert_eq!(event["source_kind"], "google_channel");
    assert_eq!(
        event["provider_event_id"],
        "01234567-89ab-cdef-0123456789ab:2"
    );
    assert_eq!(
        event["payload"],
        json!({
            "channel_id": "01234567-89ab-cdef-0123456789ab",
            "resource_id": "o3hgv1538sdjfh",
            "resource_uri": "https://www.googleapis.com/calendar/v3/calendars/primary/events?alt=json",
            "resource_state": "exists",
            "message_number": 2,
            "channel_expiration": "Tue, 19 Nov 2030 01:13:52 GMT",
        })
    );
    let kept = &event["headers"];
    assert_eq!(kept["x-goog-resource-state"], "exists", "{event}");
    assert_eq!(kept["x-goog-message-number"], "2", "{event}");
    assert!(kept.get("x-goog-channel-token").is_none(), "{event}");

    // Google redelivers a message it saw no 2xx for: the same message number.
    let again = reply(notify(&app, &src, Some(TOKEN), "exists", 2).await).await;
    assert_eq!(again, json!({"status": "duplicate", "event_id": first}));

    // A wrong or missing token is refused like a bad signature; a request without its
    // channel is malformed.
    refused(
        notify(&app, &src, Some("someone-else"), "exists", 3).await,
        "does not match",
    )
    .await;
    refused(
        notify(&app, &src, None, "exists", 3).await,
        "missing header",
    )
    .await;
    let r = app
        .client
        .post(app.url(&format!("/in/{src}")))
        .header("x-goog-channel-token", TOKEN)
        .header("x-goog-resource-state", "exists")
        .header("x-goog-message-number", "3")
        .send()
        .await
        .unwrap();
    problem(r, 400, "malformed_webhook").await;
    assert_eq!(listed(&app, &src).await.len(), 1);

    // A deleted resource is a change too; during a rotation the replaced token still
    // verifies.
    let r = app
        .req(reqwest::Method::PATCH, &format!("/v1/sources/{src}"))
        .json(&json!({"secret": "channel-token-new", "previous_credential_grace": "1h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let gone = accepted(notify(&app, &src, Some(TOKEN), "not_exists", 3).await).await;
    assert_eq!(processed(&app, &gone).await["type"], "calendar.changed");
    accepted(notify(&app, &src, Some("channel-token-new"), "exists", 4).await).await;
    assert_eq!(listed(&app, &src).await.len(), 3);
    app.finish().await;
}
