//! SendGrid: P-256 signatures and batched events.

use super::*;

pub(super) async fn sendgrid_p256_batches(backend: Backend) {
    use p256::ecdsa::signature::Signer as _;
    use p256::ecdsa::{Signature, SigningKey};
    use p256::pkcs8::EncodePublicKey as _;
    let app = TestApp::spawn(backend).await;
    let keys = [(); 2].map(|()| {
        std::iter::repeat_with(rand::random::<[u8; 32]>)
            .find_map(|bytes| SigningKey::from_slice(&bytes).ok())
            .unwrap()
    });
    let der = keys[0].verifying_key().to_public_key_der().unwrap();
    let sign = |k: usize, m: &Msg<'_>| {
        let signature: Signature = keys[k].sign(format!("{}{}", m.ts, m.body).as_bytes());
        signed(
            m.url,
            [
                (
                    "x-twilio-email-event-webhook-signature",
                    BASE64.encode(signature.to_der().as_bytes()),
                ),
                ("x-twilio-email-event-webhook-timestamp", m.ts.to_string()),
            ],
        )
    };
    // SendGrid applies no time window of its own; with one configured, stale is refused.
    let scheme = Scheme {
        source: json!({
            "kind": "sendgrid",
            "public_key": BASE64.encode(der.as_bytes()),
            "tolerance_secs": 300,
        }),
        body: r#"[{"email":"a@example.com","event":"delivered","sg_event_id":"{id}","n":{v}}]"#,
        required: &[
            "x-twilio-email-event-webhook-signature",
            "x-twilio-email-event-webhook-timestamp",
        ],
        timed: true,
        processed_type: "message.delivered",
        ..Scheme::default()
    };
    let src = check(&app, &scheme, sign).await;

    // A batch stores one event per element, each with its own identity.
    let url = app.url(&format!("/in/{src}"));
    let batch = |ids: &[&str], ts: i64| {
        let events: Vec<Value> = ids
            .iter()
            .zip(["open", "bounce", "click"])
            .map(|(id, event)| json!({"email": "b@example.com", "event": event, "sg_event_id": id}))
            .collect();
        let body = Value::Array(events).to_string();
        (
            sign(
                0,
                &Msg {
                    url: &url,
                    id: "",
                    body: &body,
                    ts,
                },
            ),
            body,
        )
    };
    let t = now();
    let (req, body) = batch(&["sg-a", "sg-b", "sg-c"], t);
    let first = reply(send(&app, &req, &body).await).await;
    assert_eq!(first["status"], "accepted", "{first}");
    let events = first["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{first}");
    assert_eq!(first["event_id"], events[0]["event_id"]);
    let ids: Vec<&str> = events
        .iter()
        .map(|e| {
            assert_eq!(e["status"], "accepted", "{first}");
            e["event_id"].as_str().unwrap()
        })
        .collect();
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
    let sent: Value = serde_json::from_str(&body).unwrap();
    let expected = [
        ("sg-a", "message.opened"),
        ("sg-b", "message.bounced"),
        ("sg-c", "message.clicked"),
    ];
    for (i, (key, kind)) in expected.into_iter().enumerate() {
        let event = processed(&app, ids[i]).await;
        assert_eq!(event["provider_event_id"], key);
        assert_eq!(event["type"], kind);
        assert_eq!(event["payload"], sent[i]);
    }
    // The same batch again: all duplicates, same ids.
    let again = reply(send(&app, &req, &body).await).await;
    let mut expected_again = first.clone();
    expected_again["status"] = json!("duplicate");
    for e in expected_again["events"].as_array_mut().unwrap() {
        e["status"] = json!("duplicate");
    }
    assert_eq!(again, expected_again);
    // An overlapping batch signed at another time: only the new element is stored.
    let (req, body) = batch(&["sg-c", "sg-d"], t - 5);
    let overlap = reply(send(&app, &req, &body).await).await;
    assert_eq!(overlap["status"], "accepted", "{overlap}");
    assert_eq!(
        overlap["events"][0],
        json!({"status": "duplicate", "event_id": ids[2]})
    );
    assert_eq!(overlap["events"][1]["status"], "accepted", "{overlap}");
    app.finish().await;
}
