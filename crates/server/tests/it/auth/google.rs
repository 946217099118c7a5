//! Google sign-in end to end against a real OpenID Provider run locally
//! (`oidc-provider`, standing in for Google through `google_issuer`): PKCE, a single-use
//! state, the nonce, the `id_token` checked against the provider's keys, identities
//! keyed on `sub` and linking by verified email only.

use serde_json::{Value, json};
use switchyard_store::Backend;

use super::{claims, create_user, send};
use crate::idp::{Idp, IdpClient};
use crate::{TestApp, both_backends, problem};

both_backends!(google_sign_in_creates_finds_and_links_users);

const REDIRECT: &str = "http://127.0.0.1:9/app/google/callback";

async fn sign_in(app: &TestApp, idp: &Idp, login: &str) -> (reqwest::Response, String) {
    let started: Value = send(
        app,
        "/v1/auth/default/oauth/google/start",
        json!({"redirect_uri": REDIRECT}),
    )
    .await
    .json()
    .await
    .unwrap();
    let url = started["authorize_url"].as_str().expect("an authorize_url");
    let parsed = reqwest::Url::parse(url).unwrap();
    let query: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["client_id"], "hub-client");
    assert!(query["nonce"].len() >= 32 && query.contains_key("code_challenge"));
    let back = idp.sign_in(url, login).await;
    assert_eq!(
        back.state,
        started["state"].as_str().unwrap(),
        "the state comes back"
    );
    let r = send(
        app,
        "/v1/auth/default/oauth/google/callback",
        json!({"code": back.code, "state": back.state}),
    )
    .await;
    (r, back.state)
}

async fn google_sign_in_creates_finds_and_links_users(backend: Backend) {
    let idp = Idp::start(&[IdpClient::new("hub-client", "hub-secret", REDIRECT)]).await;
    let issuer = idp.issuer.clone();
    let app = TestApp::spawn_with(
        backend,
        |c| {
            c.auth.pools = serde_json::from_value(json!([{
                "name": "default", "google_client_id": "hub-client",
                "google_client_secret": "hub-secret", "google_issuer": issuer,
            }, {"name": "plain"}]))
            .unwrap();
        },
        vec![],
    )
    .await;

    let (r, state) = sign_in(&app, &idp, "alice@example.com").await;
    assert_eq!(r.status(), 200, "{}", idp.log());
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["created"], true);
    assert_eq!(first["linked"], false);
    assert_eq!(first["user"]["email"], "alice@example.com");
    assert_eq!(first["user"]["email_verified"], true);
    assert_eq!(first["user"]["has_password"], false);
    let alice = first["user"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        claims(first["access_token"].as_str().unwrap())["sub"],
        alice.as_str()
    );
    let refreshed = send(
        &app,
        "/v1/auth/default/token/refresh",
        json!({"refresh_token": first["refresh_token"]}),
    )
    .await;
    assert_eq!(refreshed.status(), 200, "a session like any other");

    let replay = send(
        &app,
        "/v1/auth/default/oauth/google/callback",
        json!({"code": "anything", "state": state}),
    )
    .await;
    problem(replay, 400, "invalid_state").await;

    let (r, _) = sign_in(&app, &idp, "alice@example.com").await;
    let again: Value = r.json().await.unwrap();
    assert_eq!(
        (again["created"].clone(), again["linked"].clone()),
        (json!(false), json!(false))
    );
    assert_eq!(again["user"]["id"], alice.as_str(), "found by sub");

    // An existing user with a verified email is linked; an unverified one is not.
    let carol = create_user(&app, "default", json!({"email": "carol@example.com", "password": "carol's password", "email_verified": true})).await;
    let (r, _) = sign_in(&app, &idp, "carol@example.com").await;
    let linked: Value = r.json().await.unwrap();
    assert_eq!(linked["linked"], true, "{linked}");
    assert_eq!(linked["user"]["id"], carol["id"]);
    create_user(
        &app,
        "default",
        json!({"email": "dave@example.com", "password": "dave's password"}),
    )
    .await;
    let (r, _) = sign_in(&app, &idp, "dave@example.com").await;
    problem(r, 409, "email_taken").await;
    // Unverified at the provider: a new user, unverified.
    let (r, _) = sign_in(&app, &idp, "erin.unverified@example.com").await;
    let erin: Value = r.json().await.unwrap();
    assert_eq!(erin["created"], true);
    assert_eq!(erin["user"]["email_verified"], false);
    create_user(&app, "default", json!({"email": "frank.unverified@example.com", "password": "frank's password", "email_verified": true})).await;
    let (r, _) = sign_in(&app, &idp, "frank.unverified@example.com").await;
    problem(r, 409, "email_taken").await;

    let unknown = send(
        &app,
        "/v1/auth/default/oauth/google/callback",
        json!({"code": "x", "state": "never-issued"}),
    )
    .await;
    problem(unknown, 400, "invalid_state").await;
    let plain = send(
        &app,
        "/v1/auth/plain/oauth/google/start",
        json!({"redirect_uri": REDIRECT}),
    )
    .await;
    problem(plain, 409, "not_configured").await;
    app.finish().await;
}
