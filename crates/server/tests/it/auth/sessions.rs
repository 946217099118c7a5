//! Sessions and tokens over HTTP: hub access tokens verified by PyJWT's `PyJWKClient`
//! through the pool's JWKS before and after a key rotation, refresh-token rotation with
//! its grace and reuse detection, concurrent refreshes, logout and revocation.

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_store::Backend;

use super::{claims, create_user, login, peer, send};
use crate::{TestApp, both_backends, problem};

both_backends!(
    hub_tokens_verify_with_pyjwt_before_and_after_a_key_rotation,
    refresh_rotates_allows_the_predecessor_briefly_and_ends_the_session_on_reuse,
    concurrent_refreshes_of_one_token_leave_one_live_session,
    sessions_are_listed_revoked_opened_for_the_application_and_logged_out,
);

async fn refresh(app: &TestApp, token: &Value) -> reqwest::Response {
    send(
        app,
        "/v1/auth/default/token/refresh",
        json!({"refresh_token": token}),
    )
    .await
}

async fn hub_tokens_verify_with_pyjwt_before_and_after_a_key_rotation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = create_user(
        &app,
        "default",
        json!({"email": "jwt@example.com", "password": "verify me please", "roles": ["admin"]}),
    )
    .await;
    let config = app
        .client
        .get(app.url("/auth/default/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert!(
        config.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let config: Value = config.json().await.unwrap();
    let issuer = config["issuer"].as_str().unwrap().to_string();
    assert_eq!(issuer, app.url("/auth/default"));
    let jwks_url = config["jwks_uri"].as_str().unwrap().to_string();
    assert_eq!(jwks_url, app.url("/auth/default/.well-known/jwks.json"));
    let jwks = app.client.get(&jwks_url).send().await.unwrap();
    assert!(
        jwks.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public")
    );

    let verify = |token: &str| {
        peer(
            json!({"op": "verify", "jwks_url": jwks_url, "token": token, "audience": "default", "issuer": issuer}),
        )
    };
    let first = login(&app, "default", "jwt@example.com", "verify me please").await;
    let token1 = first["access_token"].as_str().unwrap().to_string();
    let v1 = verify(&token1);
    assert!(v1.get("error").is_none(), "{v1}");
    assert_eq!(v1["alg"], "ES256");
    assert_eq!(v1["typ"], "at+jwt");
    assert_eq!(v1["claims"]["sub"], user["id"]);
    assert_eq!(v1["claims"]["sid"], first["session_id"]);
    assert_eq!(v1["claims"]["roles"], json!(["admin"]));
    assert_eq!(v1["claims"]["email"], "jwt@example.com");
    assert_eq!(v1["claims"]["email_verified"], false);
    assert_eq!(v1["claims"]["status"], "active");
    let c = &v1["claims"];
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900);

    let rotated: Value = send(&app, "/v1/auth/default/keys/rotate", json!({}))
        .await
        .json()
        .await
        .unwrap();
    let new_kid = rotated["kid"].as_str().unwrap();
    assert_ne!(new_kid, v1["kid"].as_str().unwrap());
    let second = login(&app, "default", "jwt@example.com", "verify me please").await;
    let token2 = second["access_token"].as_str().unwrap();
    let v2 = verify(token2);
    assert_eq!(v2["kid"], new_kid, "{v2}");
    let again = verify(&token1);
    assert!(
        again.get("error").is_none(),
        "a token of the previous key still verifies: {again}"
    );
    let keys: Value = app
        .client
        .get(&jwks_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2);
    assert!(
        keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("d").is_none()),
        "no private part is published"
    );

    let wrong_aud = peer(
        json!({"op": "verify", "jwks_url": jwks_url, "token": token2, "audience": "other", "issuer": issuer}),
    );
    assert!(
        wrong_aud["error"]
            .as_str()
            .unwrap()
            .contains("InvalidAudience"),
        "{wrong_aud}"
    );
    let mut forged: Vec<String> = token2.split('.').map(str::to_string).collect();
    forged[1] = token1.split('.').nth(1).unwrap().to_string();
    let forged = verify(&forged.join("."));
    assert!(
        forged["error"].as_str().unwrap().contains("Signature"),
        "{forged}"
    );

    // The hub verifies its own tokens the way it verifies other issuers'.
    let checked: Value = send(&app, "/v1/auth/verify", json!({"token": token2}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(checked["issuer"], "default", "{checked}");
    assert_eq!(checked["sub"], user["id"]);
    assert_eq!(checked["roles"], json!(["admin"]));
    app.finish().await;
}

async fn refresh_rotates_allows_the_predecessor_briefly_and_ends_the_session_on_reuse(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    create_user(
        &app,
        "default",
        json!({"email": "r@example.com", "password": "rotate me please"}),
    )
    .await;
    let p0 = login(&app, "default", "r@example.com", "rotate me please").await;
    let r = refresh(&app, &p0["refresh_token"]).await;
    assert_eq!(r.status(), 200);
    let p1: Value = r.json().await.unwrap();
    assert_ne!(p1["refresh_token"], p0["refresh_token"]);
    assert_eq!(p1["session_id"], p0["session_id"]);
    assert_eq!(
        claims(p1["access_token"].as_str().unwrap())["sid"],
        p0["session_id"]
    );

    // A client that lost the answer retries with the same token: the same pair again.
    let retry: Value = refresh(&app, &p0["refresh_token"])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(retry["refresh_token"], p1["refresh_token"]);
    let p2: Value = refresh(&app, &p1["refresh_token"])
        .await
        .json()
        .await
        .unwrap();
    // p0 is now two rotations old: not the direct predecessor, so reuse.
    let reused = refresh(&app, &p0["refresh_token"]).await;
    problem(reused, 401, "refresh_token_reused").await;
    let after = refresh(&app, &p2["refresh_token"]).await;
    problem(after, 401, "session_ended").await;
    let session = app
        .state
        .store
        .get_session("default", p0["session_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        session.revoked_reason.as_deref(),
        Some("reuse"),
        "the reuse is recorded"
    );

    // The grace lasts 10 s: the predecessor presented later ends the session.
    let q0 = login(&app, "default", "r@example.com", "rotate me please").await;
    let q1: Value = refresh(&app, &q0["refresh_token"])
        .await
        .json()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    problem(
        refresh(&app, &q0["refresh_token"]).await,
        401,
        "refresh_token_reused",
    )
    .await;
    problem(
        refresh(&app, &q1["refresh_token"]).await,
        401,
        "session_ended",
    )
    .await;

    let garbage = refresh(&app, &json!("srt_not.a.token")).await;
    problem(garbage, 401, "invalid_refresh_token").await;
    let altered = p2["refresh_token"].as_str().unwrap().replace(".2.", ".3.");
    problem(
        refresh(&app, &json!(altered)).await,
        401,
        "invalid_refresh_token",
    )
    .await;
    app.finish().await;
}

async fn concurrent_refreshes_of_one_token_leave_one_live_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = create_user(
        &app,
        "default",
        json!({"email": "c@example.com", "password": "race me please"}),
    )
    .await;
    let p0 = login(&app, "default", "c@example.com", "race me please").await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let client = app.client.clone();
        let url = app.url("/v1/auth/default/token/refresh");
        let key = app.key.clone();
        let token = p0["refresh_token"].clone();
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(key)
                .json(&json!({"refresh_token": token}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }));
    }
    let mut tokens = std::collections::HashSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200, "every racer gets the current pair: {body}");
        tokens.insert(body["refresh_token"].as_str().unwrap().to_string());
    }
    assert_eq!(
        tokens.len(),
        1,
        "one rotation won; the others answered its pair"
    );
    let sessions = app
        .get_json(&format!(
            "/v1/auth/default/users/{}/sessions",
            user["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(sessions["data"].as_array().unwrap().len(), 1);
    let next = refresh(&app, &json!(tokens.into_iter().next().unwrap())).await;
    assert_eq!(next.status(), 200, "the winning token keeps working");
    app.finish().await;
}

async fn sessions_are_listed_revoked_opened_for_the_application_and_logged_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = create_user(
        &app,
        "default",
        json!({"email": "l@example.com", "password": "list me please"}),
    )
    .await;
    let id = user["id"].as_str().unwrap();
    let a = send(&app, "/v1/auth/default/login", json!({"email": "l@example.com", "password": "list me please", "client_ip": "203.0.113.9", "user_agent": "Firefox"})).await;
    let a: Value = a.json().await.unwrap();
    let b = send(&app, "/v1/auth/default/sessions", json!({"user_id": id})).await;
    assert_eq!(b.status(), 201);
    let b: Value = b.json().await.unwrap();
    assert_eq!(claims(b["access_token"].as_str().unwrap())["sub"], id);
    let listed = app
        .get_json(&format!("/v1/auth/default/users/{id}/sessions"))
        .await;
    let listed = listed["data"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1]["client_ip"], "203.0.113.9");
    assert_eq!(listed[1]["user_agent"], "Firefox");

    let out = send(
        &app,
        "/v1/auth/default/logout",
        json!({"refresh_token": a["refresh_token"]}),
    )
    .await;
    assert_eq!(out.status(), 204);
    problem(
        refresh(&app, &a["refresh_token"]).await,
        401,
        "session_ended",
    )
    .await;
    let revoked: Value = send(
        &app,
        &format!("/v1/auth/default/users/{id}/sessions/revoke"),
        json!({}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(revoked["revoked"], 1);
    problem(
        refresh(&app, &b["refresh_token"]).await,
        401,
        "session_ended",
    )
    .await;
    let none = app
        .get_json(&format!("/v1/auth/default/users/{id}/sessions"))
        .await;
    assert_eq!(none["data"], json!([]));
    let missing = send(
        &app,
        "/v1/auth/default/sessions",
        json!({"user_id": "usr_00000000000000000000000000"}),
    )
    .await;
    problem(missing, 404, "not_found").await;
    app.finish().await;
}
