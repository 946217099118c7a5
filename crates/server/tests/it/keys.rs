//! API keys over HTTP: authentication, scopes, creation, listing, revocation, rotation.

use reqwest::Method;
use serde_json::json;
use switchyard_store::Backend;

use crate::{TestApp, both_backends, problem};

both_backends!(
    requests_need_a_valid_key,
    keys_lifecycle_over_http,
    scopes_limit_what_a_key_may_do,
    rotation_keeps_the_old_key_during_grace,
    listing_paginates_and_never_shows_secrets,
);

async fn requests_need_a_valid_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let no_key = app.client.get(app.url("/v1/keys")).send().await.unwrap();
    assert_eq!(
        no_key.headers()["www-authenticate"],
        "Bearer realm=\"switchyard\""
    );
    problem(no_key, 401, "unauthorized").await;
    let basic = app
        .client
        .get(app.url("/v1/keys"))
        .header("authorization", "Basic dTpw")
        .send()
        .await
        .unwrap();
    problem(basic, 401, "unauthorized").await;
    let garbage = app
        .client
        .get(app.url("/v1/keys"))
        .bearer_auth("sk_nope")
        .send()
        .await
        .unwrap();
    problem(garbage, 401, "unauthorized").await;
    // Right shape, wrong key; and the real key with one character changed.
    let mut wrong = app.key.clone().into_bytes();
    let last = wrong.len() - 1;
    wrong[last] = if wrong[last] == b'A' { b'B' } else { b'A' };
    let wrong = String::from_utf8(wrong).unwrap();
    let r = app
        .client
        .get(app.url("/v1/keys"))
        .bearer_auth(&wrong)
        .send()
        .await
        .unwrap();
    let body = problem(r, 401, "unauthorized").await;
    assert!(
        !body.to_string().contains(&wrong),
        "the presented key is not echoed"
    );
    assert_eq!(app.get("/v1/keys").send().await.unwrap().status(), 200);
    app.finish().await;
}

async fn keys_lifecycle_over_http(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app
        .post(
            "/v1/keys",
            json!({"name": "billing", "scopes": ["events", "read"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.unwrap();
    let raw = created["key"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(raw.starts_with("sk_") && raw.len() >= 46, "{raw}");
    assert!(id.starts_with("key_"));
    assert_eq!(created["scopes"], json!(["read", "events"]));
    assert_eq!(created["status"], "active");
    assert!(
        created["hint"]
            .as_str()
            .unwrap()
            .ends_with(&raw[raw.len() - 4..])
    );

    let fetched: serde_json::Value = app.get_json(&format!("/v1/keys/{id}")).await;
    assert_eq!(fetched["name"], "billing");
    assert!(
        fetched.get("key").is_none(),
        "the raw key is shown only at creation"
    );

    // The new key works (it may read keys), then stops working once revoked.
    let as_new = |path: &str| app.client.get(app.url(path)).bearer_auth(&raw);
    assert_eq!(as_new("/v1/keys").send().await.unwrap().status(), 200);
    let revoked = app
        .req(Method::DELETE, &format!("/v1/keys/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let revoked: serde_json::Value = revoked.json().await.unwrap();
    assert_eq!(revoked["status"], "revoked");
    let body = problem(
        as_new("/v1/keys").send().await.unwrap(),
        401,
        "unauthorized",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("revoked"));
    // Revoking again is harmless; unknown ids are 404.
    assert_eq!(
        app.req(Method::DELETE, &format!("/v1/keys/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    problem(
        app.req(Method::DELETE, "/v1/keys/key_00000000000000000000000000")
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;

    // Expiry: a key created with an expiry in the past is refused by validation; one that
    // expires soon stops working after it.
    let bad = app
        .post(
            "/v1/keys",
            json!({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}),
        )
        .send()
        .await
        .unwrap();
    let body = problem(bad, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "expires_at");
    let short: serde_json::Value = app
        .post("/v1/keys", json!({"name": "short", "expires_in": "3s"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let short_key = short["key"].as_str().unwrap().to_string();
    assert_eq!(
        app.client
            .get(app.url("/v1/keys"))
            .bearer_auth(&short_key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let r = app
        .client
        .get(app.url("/v1/keys"))
        .bearer_auth(&short_key)
        .send()
        .await
        .unwrap();
    let body = problem(r, 401, "unauthorized").await;
    assert!(body["detail"].as_str().unwrap().contains("expired"));
    app.finish().await;
}

async fn scopes_limit_what_a_key_may_do(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let make = |scopes: serde_json::Value| {
        let app = &app;
        async move {
            let v: serde_json::Value = app
                .post("/v1/keys", json!({"name": "s", "scopes": scopes}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["key"].as_str().unwrap().to_string()
        }
    };
    let reader = make(json!(["read"])).await;
    let events = make(json!(["events"])).await;
    let keys_admin = make(json!(["keys"])).await;

    let as_key = |key: &str, method: Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .bearer_auth(key.to_string())
    };
    assert_eq!(
        as_key(&reader, Method::GET, "/v1/keys")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = as_key(&reader, Method::POST, "/v1/keys")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    problem(r, 403, "forbidden").await;
    problem(
        as_key(&events, Method::GET, "/v1/keys")
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    // A `keys` key manages keys but hands on only what it holds: no admin key, and no
    // key with another scope.
    for scopes in [json!(["admin"]), json!(["read"]), json!(["keys", "events"])] {
        let r = as_key(&keys_admin, Method::POST, "/v1/keys")
            .json(&json!({"name": "x", "scopes": scopes}))
            .send()
            .await
            .unwrap();
        problem(r, 403, "forbidden").await;
    }
    let r = as_key(&keys_admin, Method::POST, "/v1/keys")
        .json(&json!({"name": "x", "scopes": ["keys"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    app.finish().await;
}

async fn rotation_keeps_the_old_key_during_grace(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let old: serde_json::Value = app
        .post("/v1/keys", json!({"name": "deploy"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let old_raw = old["key"].as_str().unwrap().to_string();
    let old_id = old["id"].as_str().unwrap();
    let works = |key: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/v1/keys"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    let rotated = app
        .req(Method::POST, &format!("/v1/keys/{old_id}/rotate"))
        .json(&json!({"grace": "3s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 201);
    let rotated: serde_json::Value = rotated.json().await.unwrap();
    let new_raw = rotated["key"].as_str().unwrap().to_string();
    assert_eq!(rotated["rotated_from"], old_id);
    assert_eq!(rotated["name"], "deploy");
    assert_eq!(rotated["previous"]["id"], old_id);
    assert!(rotated["previous"]["expires_at"].is_string());
    assert_eq!(
        (works(old_raw.clone()).await, works(new_raw.clone()).await),
        (200, 200),
        "both work during grace"
    );
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(
        (works(old_raw).await, works(new_raw.clone()).await),
        (401, 200),
        "old refused after grace"
    );

    // Body-less rotation uses the default grace; a revoked key cannot be rotated.
    let new_id = rotated["id"].as_str().unwrap();
    let again = app
        .req(Method::POST, &format!("/v1/keys/{new_id}/rotate"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 201);
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(again["previous"]["status"], "active");
    app.req(Method::DELETE, &format!("/v1/keys/{old_id}"))
        .send()
        .await
        .unwrap();
    let r = app
        .req(Method::POST, &format!("/v1/keys/{old_id}/rotate"))
        .send()
        .await
        .unwrap();
    problem(r, 404, "not_found").await;
    let r = app
        .req(Method::POST, &format!("/v1/keys/{new_id}/rotate"))
        .json(&json!({"grace": "soon"}))
        .send()
        .await
        .unwrap();
    problem(r, 422, "validation_failed").await;
    app.finish().await;
}

async fn listing_paginates_and_never_shows_secrets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut raws = vec![app.key.clone()];
    for i in 0..6 {
        let v: serde_json::Value = app
            .post("/v1/keys", json!({"name": format!("k{i}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        raws.push(v["key"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/keys?limit=3&cursor={c}"),
            None => "/v1/keys?limit=3".to_string(),
        };
        let response = app.get(&path).send().await.unwrap();
        let text = response.text().await.unwrap();
        for raw in &raws {
            assert!(!text.contains(raw.as_str()), "a listing exposes a raw key");
        }
        let page: serde_json::Value = serde_json::from_str(&text).unwrap();
        pages += 1;
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["name"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["k5", "k4", "k3", "k2", "k1", "k0", "bootstrap"]);
    app.finish().await;
}
