//! Who may call what: every operation of the served document against a key of every
//! single scope, the scopes a key may hand on, rotate or revoke, and idempotent replays,
//! which are answered only to the caller that made the first request and only after the
//! route's access check.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_store::Backend;

use crate::{TestApp, problem};

/// What each operation needs, written independently of the hub's own declarations: a
/// scope (`"keys"`), a scope or `read` (`"keys|read"`), or `admin` alone. `admin` may
/// call every operation.
const NEEDS: &[(&str, &str)] = &[
    ("keys.create", "keys"),
    ("keys.list", "keys|read"),
    ("keys.get", "keys|read"),
    ("keys.revoke", "keys"),
    ("keys.rotate", "keys"),
    ("sources.create", "sources"),
    ("sources.list", "sources|read"),
    ("sources.get", "sources|read"),
    ("sources.update", "sources"),
    ("sources.delete", "sources"),
    ("events.list", "events|read"),
    ("events.get", "events|read"),
    ("events.publish", "events"),
    ("events.replay", "events"),
    ("endpoints.create", "endpoints"),
    ("endpoints.list", "endpoints|read"),
    ("endpoints.get", "endpoints|read"),
    ("endpoints.update", "endpoints"),
    ("endpoints.delete", "endpoints"),
    ("endpoints.secret", "endpoints"),
    ("endpoints.rotate_secret", "endpoints"),
    ("endpoints.deliveries", "endpoints|read"),
    ("endpoints.replay", "endpoints"),
    ("deliveries.get", "endpoints|read"),
    ("deliveries.retry", "endpoints"),
    ("credits.get", "accounts|read"),
    ("credits.grant", "accounts"),
    ("credits.ledger", "accounts|read"),
    ("messages.send_email", "messages"),
    ("messages.send_sms", "messages"),
    ("messages.list", "messages|read"),
    ("messages.get", "messages|read"),
    ("templates.create", "templates"),
    ("templates.put", "templates"),
    ("templates.list", "templates|read"),
    ("templates.get", "templates|read"),
    ("templates.delete", "templates"),
    ("payments.customers.create", "payments"),
    ("payments.customers.list", "payments|read"),
    ("payments.customers.get", "payments|read"),
    ("payments.checkout.create", "payments"),
    ("payments.checkout.get", "payments|read"),
    ("payments.checkout.sync", "payments"),
    ("payments.portal.create", "payments"),
    ("payments.subscriptions.list", "payments|read"),
    ("payments.subscriptions.get", "payments|read"),
    ("payments.subscriptions.cancel", "payments"),
    ("payments.refunds.create", "payments"),
    ("payments.refunds.get", "payments|read"),
    ("payments.accounts.create", "payments"),
    ("payments.accounts.get", "payments|read"),
    ("payments.accounts.onboarding_link", "payments"),
    ("storage.stores.list", "storage|read"),
    ("storage.stores.put", "admin"),
    ("storage.stores.delete", "admin"),
    ("storage.objects.put", "storage"),
    ("storage.objects.get", "storage|read"),
    ("storage.objects.delete", "storage"),
    ("storage.objects.list", "storage|read"),
    ("storage.objects.copy", "storage"),
    ("storage.access.set", "storage"),
    ("storage.access.check", "storage|read"),
    ("storage.signed_urls.create", "storage"),
    ("storage.uploads.create", "storage"),
    ("storage.uploads.complete", "storage"),
    ("providers.list", "messages|read"),
    ("providers.put", "admin"),
    ("providers.delete", "admin"),
    ("auth.users.create", "auth"),
    ("auth.users.find", "auth|read"),
    ("auth.users.get", "auth|read"),
    ("auth.users.update", "auth"),
    ("auth.users.delete", "auth"),
    ("auth.login", "auth"),
    ("auth.token.refresh", "auth"),
    ("auth.logout", "auth"),
    ("auth.sessions.create", "auth"),
    ("auth.sessions.list", "auth|read"),
    ("auth.sessions.revoke", "auth"),
    ("auth.keys.rotate", "auth"),
    ("auth.verify_email.send", "auth"),
    ("auth.verify_email.confirm", "auth"),
    ("auth.password.reset", "auth"),
    ("auth.password.reset_confirm", "auth"),
    ("auth.password.change", "auth"),
    ("auth.google.start", "auth"),
    ("auth.google.callback", "auth"),
    ("auth.verify", "auth"),
    ("connections.create", "connectors"),
    ("connections.list", "connectors|read"),
    ("connections.get", "connectors|read"),
    ("connections.update", "connectors"),
    ("connections.delete", "connectors"),
    ("connections.authorize", "connectors"),
    ("connections.calls", "connectors|read"),
    ("connections.proxy.get", "connectors"),
    ("connections.proxy.post", "connectors"),
    ("connections.proxy.put", "connectors"),
    ("connections.proxy.patch", "connectors"),
    ("connections.proxy.delete", "connectors"),
];

const SCOPES: [&str; 13] = [
    "admin",
    "read",
    "keys",
    "sources",
    "events",
    "endpoints",
    "messages",
    "templates",
    "accounts",
    "payments",
    "storage",
    "auth",
    "connectors",
];

fn allowed(need: &str, scope: &str) -> bool {
    scope == "admin" || need.split('|').any(|n| n == scope)
}

/// A path of the template with well-formed ids that name nothing.
fn concrete(template: &str) -> String {
    let id = |prefix: &str| format!("{prefix}_{}", "0".repeat(26));
    let mut path = template
        .replace("{source_id}", &id("src"))
        .replace("{account}", "acme")
        .replace("{name}", "nothing-here")
        .replace("{capability}", "email")
        .replace("{store}", "default")
        .replace("{key}", "nothing/here")
        .replace("{pool}", "default")
        .replace("{connection}", &id("conn"))
        .replace("{path}", "nothing/here");
    for (segment, prefix) in [
        ("/v1/keys/{id}", "key"),
        ("/v1/sources/{id}", "src"),
        ("/v1/events/{id}", "evt"),
        ("/v1/endpoints/{id}", "ep"),
        ("/v1/deliveries/{id}", "dlv"),
        ("/v1/messages/{id}", "msg"),
        ("/v1/payments/customers/{id}", "pcus"),
        ("/v1/payments/checkout/{id}", "pchk"),
        ("/v1/payments/subscriptions/{id}", "psub"),
        ("/v1/payments/refunds/{id}", "pref"),
        ("/v1/payments/connected-accounts/{id}", "pacct"),
        ("/v1/storage/default/uploads/{id}", "upl"),
        ("/v1/auth/default/users/{id}", "usr"),
        ("/v1/connections/{id}", "conn"),
    ] {
        if path.starts_with(segment) {
            path = path.replacen("{id}", &id(prefix), 1);
        }
    }
    assert!(!path.contains('{'), "no id for {template}");
    path
}

async fn key_with(app: &TestApp, scopes: &[&str]) -> String {
    let r = app
        .post(
            "/v1/keys",
            json!({"name": scopes.join("+"), "scopes": scopes}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Every `/v1` operation of the document, called with a key of each single scope: a key
/// without a scope the operation needs is refused with 403; one with it gets past the
/// access check (to the route's own answer: 2xx, 400, 404, 409 or 422). The document
/// and the table above list the same operations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_against_every_single_scope_key() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = app.get_json("/openapi.json").await;
    let mut operations = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap().to_string();
            operations.insert(id, (method.to_uppercase(), path.clone()));
        }
    }
    let needs: BTreeMap<&str, &str> = NEEDS.iter().copied().collect();
    let documented: Vec<&String> = operations.keys().collect();
    let tabled: Vec<&&str> = needs.keys().collect();
    assert_eq!(
        documented.len(),
        tabled.len(),
        "the table and the document list the same operations:\n{documented:?}\n{tabled:?}"
    );
    for id in operations.keys() {
        assert!(needs.contains_key(id.as_str()), "{id} is not in the table");
    }
    let mut keys = BTreeMap::new();
    for scope in SCOPES {
        keys.insert(scope, key_with(&app, &[scope]).await);
    }
    let mut checked = 0;
    for (id, (method, path)) in &operations {
        let need = needs[id.as_str()];
        let url = concrete(path);
        for (scope, key) in &keys {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let mut request = app
                .client
                .request(method.clone(), app.url(&url))
                .bearer_auth(key);
            if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
                request = request.json(&json!({}));
            }
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            if allowed(need, scope) {
                assert!(
                    ![401, 403, 500, 503].contains(&status),
                    "{id} with a {scope} key: {status} {}",
                    r.text().await.unwrap()
                );
            } else {
                assert_eq!(status, 403, "{id} with a {scope} key");
                let p = problem(r, 403, "forbidden").await;
                assert!(p["detail"].as_str().unwrap().contains("scope"), "{p}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, NEEDS.len() * SCOPES.len());
    app.finish().await;
}

/// A key hands on, rotates and revokes only what it holds itself: a `keys` key cannot
/// mint an admin key, nor rotate or revoke one; it can manage keys of its own scopes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_manage_only_keys_within_their_own_scopes() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let manager = key_with(&app, &["keys"]).await;
    let as_manager = |method: Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .bearer_auth(&manager)
    };
    let listed = app.get_json("/v1/keys").await;
    let admin_id = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "bootstrap")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (method, path) in [
        (Method::POST, format!("/v1/keys/{admin_id}/rotate")),
        (Method::DELETE, format!("/v1/keys/{admin_id}")),
    ] {
        let r = as_manager(method, &path).send().await.unwrap();
        problem(r, 403, "forbidden").await;
    }
    let r = as_manager(Method::POST, "/v1/keys")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    problem(r, 403, "forbidden").await;
    // The admin key still works: nothing was rotated or revoked.
    assert_eq!(app.get("/v1/keys").send().await.unwrap().status(), 200);

    let r = as_manager(Method::POST, "/v1/keys")
        .json(&json!({"name": "peer", "scopes": ["keys"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let peer: Value = r.json().await.unwrap();
    let peer_id = peer["id"].as_str().unwrap();
    let r = as_manager(Method::POST, &format!("/v1/keys/{peer_id}/rotate"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let rotated: Value = r.json().await.unwrap();
    let r = as_manager(
        Method::DELETE,
        &format!("/v1/keys/{}", rotated["id"].as_str().unwrap()),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    app.finish().await;
}

/// An idempotent answer is never replayed to another caller: a key without the route's
/// scope is refused before any replay, and another caller with the scope runs its own
/// request (its identical key is another key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_are_authorized_and_belong_to_their_caller() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let body = json!({"name": "deploy", "scopes": ["keys"]});
    let first = app
        .post("/v1/keys", body.clone())
        .header("Idempotency-Key", "mint-1")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = app
        .post("/v1/keys", body.clone())
        .header("Idempotency-Key", "mint-1")
        .send()
        .await
        .unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap()["key"], first["key"]);

    let reader = key_with(&app, &["read"]).await;
    let r = app
        .client
        .post(app.url("/v1/keys"))
        .bearer_auth(&reader)
        .header("Idempotency-Key", "mint-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    let p = problem(r, 403, "forbidden").await;
    assert!(!p.to_string().contains(first["key"].as_str().unwrap()));

    let other = key_with(&app, &["keys"]).await;
    let r = app
        .client
        .post(app.url("/v1/keys"))
        .bearer_auth(&other)
        .header("Idempotency-Key", "mint-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(r.headers().get("idempotent-replayed").is_none());
    let own: Value = r.json().await.unwrap();
    assert_ne!(
        own["key"], first["key"],
        "another caller's request runs on its own"
    );

    // The same holds for keys that events and messages keep.
    let publish = |key: String| {
        app.client
            .post(app.url("/v1/events"))
            .bearer_auth(key)
            .header("Idempotency-Key", "order-1")
            .json(&json!({"type": "order.shipped", "data": {"id": 1}}))
            .send()
    };
    let a: Value = publish(app.key.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events_key = key_with(&app, &["events"]).await;
    let b: Value = publish(events_key.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let c: Value = publish(events_key).await.unwrap().json().await.unwrap();
    assert_ne!(a["id"], b["id"], "two callers publish two events");
    assert_eq!(b["id"], c["id"], "one caller's repeat is the same event");
    problem(publish(reader.clone()).await.unwrap(), 403, "forbidden").await;
    app.finish().await;
}
