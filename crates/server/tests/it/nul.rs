//! NUL characters (which PostgreSQL refuses in text) in every string field, id, filter
//! and cursor are refused at the edge with a 4xx on both stores, change nothing, and do
//! not fail the valid requests committed beside them.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use switchyard_signatures::stripe;
use switchyard_store::Backend;

use crate::intake::{STRIPE_SECRET, create_source, now, post_stripe};
use crate::{TestApp, both_backends, problem};

both_backends!(
    nul_in_any_field_id_filter_or_cursor_is_refused,
    bad_items_fail_alone_in_a_group_commit
);

/// The property names a schema (or any of its variants) has, following references.
fn properties(doc: &Value, schema: &Value, out: &mut BTreeSet<String>, depth: usize) {
    if depth > 6 {
        return;
    }
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        properties(doc, &doc["components"]["schemas"][name], out, depth + 1);
        return;
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        for variant in schema[key].as_array().into_iter().flatten() {
            properties(doc, variant, out, depth + 1);
        }
    }
    if let Some(props) = schema["properties"].as_object() {
        out.extend(props.keys().cloned());
    }
}

async fn nul_in_any_field_id_filter_or_cursor_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doc = app.get_json("/openapi.json").await;
    let mut refused = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let id = op["operationId"].as_str().unwrap();
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let sample = |name: &str| match name {
                "account" => "acme".to_string(),
                "capability" => "email".to_string(),
                "name" => "welcome".to_string(),
                _ => format!("src_{}", "0".repeat(26)),
            };
            let base: String =
                params
                    .iter()
                    .filter(|p| p["in"] == "path")
                    .fold(path.clone(), |p, param| {
                        let name = param["name"].as_str().unwrap();
                        p.replace(&format!("{{{name}}}"), &sample(name))
                    });
            // Each id in the path.
            for param in params.iter().filter(|p| p["in"] == "path") {
                let name = param["name"].as_str().unwrap();
                let url =
                    params
                        .iter()
                        .filter(|p| p["in"] == "path")
                        .fold(path.clone(), |p, other| {
                            let n = other["name"].as_str().unwrap();
                            let value = if n == name {
                                "a%00b".to_string()
                            } else {
                                sample(n)
                            };
                            p.replace(&format!("{{{n}}}"), &value)
                        });
                let r = app.req(method.clone(), &url).send().await.unwrap();
                problem(r, 400, "invalid_characters").await;
                refused += 1;
            }
            // Each filter and cursor.
            for param in params.iter().filter(|p| p["in"] == "query") {
                let name = param["name"].as_str().unwrap();
                let url = format!("{base}?{name}=a%00b");
                let r = app.req(method.clone(), &url).send().await.unwrap();
                problem(r, 400, "invalid_characters").await;
                refused += 1;
            }
            // Each field of the body.
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            if schema.is_null() {
                continue;
            }
            let mut fields = BTreeSet::new();
            properties(&doc, schema, &mut fields, 0);
            assert!(
                !fields.is_empty() || id == "keys.rotate" || id == "endpoints.rotate_secret",
                "{id} has no fields"
            );
            for field in fields {
                let body = json!({ field.clone(): "before\u{0}after" });
                let r = app
                    .req(method.clone(), &base)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                assert!((400..500).contains(&status), "{id} {field}: {status}");
                let p: Value = r.json().await.unwrap();
                assert_eq!(p["code"], "invalid_characters", "{id} {field}: {p}");
                refused += 1;
            }
        }
    }
    assert!(refused > 150, "only {refused} requests were tried");
    // Nothing was stored.
    for list in [
        "/v1/sources",
        "/v1/endpoints",
        "/v1/templates",
        "/v1/messages",
        "/v1/events",
    ] {
        let page = app.get_json(list).await;
        // The built-in auth templates are stored at the first start.
        let made = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| !t["name"].as_str().is_some_and(|n| n.starts_with("auth.")))
            .count();
        assert_eq!(made, 0, "{list}: {page}");
    }
    let r = app.get("/v1/accounts/acme/credits").send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["sms"], Value::Null);
    app.finish().await;
}

/// Bad webhooks and messages posted together with valid ones: the bad ones are refused,
/// every valid one is committed and answered as usual.
async fn bad_items_fail_alone_in_a_group_commit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let source = create_source(
        &app,
        json!({"name": "stripe", "kind": "stripe", "secret": STRIPE_SECRET}),
    )
    .await;
    let id = source["id"].as_str().unwrap().to_string();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let app_url = app.url(&format!("/in/{id}"));
        let client = app.client.clone();
        tasks.push(tokio::spawn(async move {
            let event_id = if i % 4 == 0 {
                format!("evt_bad\u{0}{i}")
            } else {
                format!("evt_good_{i}")
            };
            let body =
                json!({"id": event_id, "object": "event", "type": "invoice.paid"}).to_string();
            let signature = stripe::sign(STRIPE_SECRET, now(), body.as_bytes());
            let r = client
                .post(app_url)
                .header("stripe-signature", signature)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (i, r.status().as_u16())
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        let (i, status) = t.await.unwrap();
        if i % 4 == 0 {
            assert_eq!(status, 400, "event {i}");
        } else {
            assert_eq!(status, 200, "event {i}");
            accepted += 1;
        }
    }
    assert_eq!(accepted, 30);
    let listed = app.get_json("/v1/events?limit=100").await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 30);
    // A valid neighbour sent alone after the burst is fine too.
    let ok = post_stripe(
        &app,
        &id,
        &json!({"id": "evt_after", "type": "invoice.paid"}).to_string(),
        STRIPE_SECRET,
        now(),
    )
    .await;
    assert_eq!(ok.status(), 200);

    let mut sends = Vec::new();
    for i in 0..30 {
        let subject = if i % 3 == 0 {
            "bad\u{0}subject".to_string()
        } else {
            format!("order {i}")
        };
        let request = app.post(
            "/v1/emails",
            json!({"from": "shop@example.com", "to": "ada@example.com", "subject": subject, "text": "hi"}),
        );
        sends.push(tokio::spawn(async move {
            (i, request.send().await.unwrap().status().as_u16())
        }));
    }
    for s in sends {
        let (i, status) = s.await.unwrap();
        assert_eq!(status, if i % 3 == 0 { 422 } else { 202 }, "email {i}");
    }
    let messages = app.get_json("/v1/messages?limit=100").await;
    assert_eq!(messages["data"].as_array().unwrap().len(), 20);
    app.finish().await;
}
