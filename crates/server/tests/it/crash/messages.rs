//! kill -9 of a hub that is sending email.

use std::time::Duration;

use wiremock::{MockServer, ResponseTemplate};

use super::*;

/// kill -9 while messages are being sent: every accepted message is sent after a
/// restart (those the killed process had claimed, once their lease ends) and ends
/// `sent`.
pub(super) async fn kill_9_while_sending_loses_no_message(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = config_for(&db);
    let dir = scratch_dir();
    let provider = crate::messages::fake(
        Some("/v3/mail/send"),
        ResponseTemplate::new(202)
            .insert_header("x-message-id", "sg-crash")
            // 4 sends of 100 ms at once: about 40/s, so the hub is killed mid-way.
            .set_delay(Duration::from_millis(100)),
    )
    .await;
    let settings = dir.join("switchyard.toml");
    std::fs::write(
        &settings,
        format!(
            "[messages]\nconcurrency = 4\nlease = \"5s\"\n\n[[email.providers]]\nkind = \"sendgrid\"\napi_key = \"SG.crash\"\nbase_url = \"{}\"\n",
            provider.uri()
        ),
    )
    .unwrap();
    let env = [("SWITCHYARD_CONFIG", settings.to_str().unwrap())];
    let client = switchyard_providers::http_client();
    let mut first = ChildHub::start_with(&dir, &config, &env);
    let total = 300;
    let mut ids = Vec::new();
    for n in 0..total {
        let r = client
            .post(first.url("/v1/emails"))
            .bearer_auth(&first.key)
            .json(&json!({"from": "shop@example.com", "to": [format!("u{n}@example.com")], "subject": "s", "text": "t"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        ids.push(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while sent_ids(&provider).await.len() < 40 {
        assert!(Instant::now() < deadline, "sending did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill_9();
    let at_kill = sent_ids(&provider).await.len();
    assert!(
        at_kill < total,
        "the hub was killed before sending everything"
    );

    let second = ChildHub::start_with(&dir, &config, &env);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = sent_ids(&provider).await;
        let mut idle = true;
        for status in ["sending", "queued"] {
            let path = format!("/v1/messages?status={status}&limit=1");
            let page = get_json(&client, &second, &path).await;
            idle &= page["data"].as_array().unwrap().is_empty();
        }
        if idle && ids.iter().all(|id| seen.contains(id)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {total} messages reached the provider after the restart",
            ids.iter().filter(|id| seen.contains(*id)).count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for id in &ids {
        let m = get_json(&client, &second, &format!("/v1/messages/{id}")).await;
        assert_eq!(m["status"], "sent", "{m:#}");
    }
    db.cleanup().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The hub message ids the provider fake received.
async fn sent_ids(provider: &MockServer) -> HashSet<String> {
    let mut seen = HashSet::new();
    for r in provider.received_requests().await.unwrap() {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        seen.insert(
            body["custom_args"]["switchyard_message_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    seen
}

async fn get_json(client: &reqwest::Client, hub: &ChildHub, path: &str) -> Value {
    let r = client.get(hub.url(path)).bearer_auth(&hub.key).send().await;
    r.unwrap().json().await.unwrap()
}
