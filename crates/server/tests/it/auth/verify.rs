//! `POST /v1/auth/verify` against tokens shaped like each provider's, signed by PyJWT
//! (`tests/peers/jwt_peer.py`, prepared by `scripts/test`), with the issuers' key sets
//! served by a local server that counts its fetches. The caching of key sets is in
//! `cache.rs`.

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_store::Backend;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{TestApp, problem};

mod cache;

/// Asks the PyJWT peer; `requests` is a list, answered in order.
fn peer(requests: Value) -> Vec<Value> {
    serde_json::from_value(crate::interop::python_peer("jwt_peer.py", &requests)).unwrap()
}

#[derive(Debug, Clone)]
struct Key {
    kid: String,
    alg: &'static str,
    pem: String,
    public_pem: String,
    jwk: Value,
}

/// Keys made by the peer: `("EC" | "RSA", kid)`.
fn keygen(specs: &[(&str, &str)]) -> Vec<Key> {
    let reqs: Vec<Value> = specs
        .iter()
        .map(|(kty, kid)| json!({"op": "keygen", "kty": kty, "kid": kid}))
        .collect();
    peer(Value::Array(reqs))
        .into_iter()
        .zip(specs)
        .map(|(k, (kty, kid))| Key {
            kid: kid.to_string(),
            alg: if *kty == "EC" { "ES256" } else { "RS256" },
            pem: k["private_pem"].as_str().unwrap().into(),
            public_pem: k["public_pem"].as_str().unwrap().into(),
            jwk: k["jwk"].clone(),
        })
        .collect()
}

/// A request to sign `claims` with `key` (its kid in the header unless `headers` says).
fn with(key: &Key, claims: Value, headers: Value) -> Value {
    let mut h = json!({"kid": key.kid});
    h.as_object_mut()
        .unwrap()
        .extend(headers.as_object().unwrap().clone());
    json!({"op": "sign", "alg": key.alg, "key": key.pem, "claims": claims, "headers": h})
}

/// The tokens for `requests`, signed by the peer in one call.
fn sign(requests: Vec<Value>) -> Vec<String> {
    peer(Value::Array(requests))
        .into_iter()
        .map(|a| a["token"].as_str().unwrap().to_string())
        .collect()
}

fn now() -> i64 {
    switchyard_core::time::now_ms() / 1000
}

/// A JWKS document of `keys`.
fn jwks_of(keys: &[&Key]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})
}

/// Serves `body` at `at` with `Cache-Control: max-age=600`, after `delay`.
async fn serve(server: &MockServer, at: &str, body: Value, delay: Duration) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("cache-control", "public, max-age=600")
                .set_body_json(body)
                .set_delay(delay),
        )
        .mount(server)
        .await;
}

/// How many times `at` was fetched.
async fn hits(server: &MockServer, at: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == at)
        .count()
}

async fn spawn(issuers: Value) -> TestApp {
    TestApp::spawn_with(
        Backend::Sqlite,
        |c| c.auth.issuers = serde_json::from_value(issuers).expect("issuer entries"),
        vec![],
    )
    .await
}

async fn verify(app: &TestApp, token: &str, issuer: Option<&str>) -> reqwest::Response {
    let mut body = json!({"token": token});
    if let Some(name) = issuer {
        body["issuer"] = json!(name);
    }
    app.post("/v1/auth/verify", body).send().await.unwrap()
}

async fn accepted(app: &TestApp, token: &str, issuer: Option<&str>) -> Value {
    let r = verify(app, token, issuer).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

async fn refused(app: &TestApp, token: &str, issuer: Option<&str>, reason: &str) {
    problem(verify(app, token, issuer).await, 401, reason).await;
}

const STACK_PROJECT: &str = "5b1c6b2e-1d2f-4b7c-9a55-0c1e8d4f2a10";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_auth_tokens_and_the_attacks_on_them() {
    let server = MockServer::start().await;
    let keys = keygen(&[("EC", "k1"), ("EC", "k1"), ("RSA", "r1")]);
    let (key, impostor, rsa) = (&keys[0], &keys[1], &keys[2]);
    serve(&server, "/stack/jwks.json", jwks_of(&[key]), Duration::ZERO).await;
    let app = spawn(json!([{
        "name": "stack", "kind": "stack_auth", "project_id": STACK_PROJECT,
        "jwks_url": format!("{}/stack/jwks.json", server.uri()),
    }]))
    .await;
    let iss = format!("https://api.stack-auth.com/api/v1/projects/{STACK_PROJECT}");
    let anon_iss =
        format!("https://api.stack-auth.com/api/v1/projects-anonymous-users/{STACK_PROJECT}");
    let exp = now() + 600;
    let claims = |extra: Value| {
        let mut c = json!({"iss": iss, "aud": STACK_PROJECT, "sub": "user-1", "exp": exp,
            "iat": now(), "email": "ada@example.com", "email_verified": true});
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    };
    let none = json!({});
    serve(&server, "/evil.json", jwks_of(&[impostor]), Duration::ZERO).await;
    let t = sign(vec![
        with(key, claims(none.clone()), none.clone()),
        with(key, claims(json!({"aud": "another-project"})), none.clone()),
        with(
            key,
            claims(json!({"iss": anon_iss, "aud": format!("{STACK_PROJECT}:anon")})),
            none.clone(),
        ),
        with(key, claims(json!({"exp": now() - 3600})), none.clone()),
        with(key, claims(json!({"nbf": now() + 3600})), none.clone()),
        // Another key under the same kid, and one that points at itself.
        with(impostor, claims(none.clone()), none.clone()),
        with(
            impostor,
            claims(none.clone()),
            json!({"jku": format!("{}/evil.json", server.uri()), "jwk": impostor.jwk}),
        ),
        // An RS256 token: Stack Auth signs with ES256 only.
        with(rsa, claims(json!({})), json!({"kid": "k1"})),
        json!({"op": "sign_none", "claims": claims(none.clone()), "headers": {"kid": "k1"}}),
        // HS256 keyed with the issuer's public key (the key-confusion attack), and with any secret.
        json!({"op": "sign_hmac_raw", "key": key.public_pem, "claims": claims(none.clone()), "headers": {"kid": "k1"}}),
        json!({"op": "sign", "alg": "HS256", "key": "a-secret-of-the-attackers-choosing", "claims": claims(none.clone()), "headers": {"kid": "k1"}}),
        with(
            key,
            claims(json!({"iss": "https://issuer.example"})),
            none.clone(),
        ),
        with(
            key,
            claims(json!({"email_verified": "false", "sub": "user-2"})),
            none.clone(),
        ),
    ]);

    let body = accepted(&app, &t[0], None).await;
    assert_eq!(body["issuer"], "stack");
    assert_eq!(body["sub"], "user-1");
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(body["email_verified"], true);
    assert_eq!(body["roles"], json!([]));
    assert_eq!(body["claims"]["aud"], STACK_PROJECT);
    assert_eq!(
        body["expires_at"],
        switchyard_core::time::rfc3339(exp * 1000)
    );
    assert_eq!(accepted(&app, &t[0], Some("stack")).await["sub"], "user-1");
    let second = accepted(&app, &t[12], None).await;
    assert_eq!(
        (second["sub"].as_str(), second["email_verified"].as_bool()),
        (Some("user-2"), Some(false))
    );

    refused(&app, &t[1], None, "wrong_audience").await;
    // Anonymous users have their own issuer, which is not the project's.
    refused(&app, &t[2], Some("stack"), "wrong_issuer").await;
    refused(&app, &t[2], None, "unknown_issuer").await;
    refused(&app, &t[3], None, "expired").await;
    refused(&app, &t[4], None, "not_yet_valid").await;
    refused(&app, &t[5], None, "bad_signature").await;
    refused(&app, &t[6], None, "bad_signature").await;
    refused(&app, &t[7], None, "algorithm_not_allowed").await;
    refused(&app, &t[8], None, "algorithm_not_allowed").await;
    refused(&app, &t[9], None, "algorithm_not_allowed").await;
    refused(&app, &t[10], None, "algorithm_not_allowed").await;
    refused(&app, &t[11], Some("stack"), "wrong_issuer").await;
    refused(&app, &t[11], None, "unknown_issuer").await;
    // A changed payload under a good signature.
    let mut parts: Vec<String> = t[0].split('.').map(str::to_string).collect();
    parts[1] = t[1].split('.').nth(1).unwrap().to_string();
    refused(&app, &parts.join("."), None, "bad_signature").await;
    refused(&app, "not-a-token", None, "malformed").await;
    refused(&app, &format!("{}.e30", t[0]), None, "malformed").await;

    // The token is never echoed in a refusal.
    let r = verify(&app, &t[5], None).await;
    let text = r.text().await.unwrap();
    assert!(
        !text.contains(&t[5]) && !text.contains(t[5].split('.').nth(2).unwrap()),
        "{text}"
    );

    // An issuer that is not configured is a bad request, not a refusal of the token.
    let p = problem(
        verify(&app, &t[0], Some("nobody")).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "issuer");
    // The attacker's key set was never fetched; the issuer's once for all of this.
    assert_eq!(hits(&server, "/evil.json").await, 0);
    assert_eq!(hits(&server, "/stack/jwks.json").await, 1);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth0_tokens_with_a_trailing_slash_issuer_and_an_audience() {
    let server = MockServer::start().await;
    let keys = keygen(&[("RSA", "current"), ("RSA", "next")]);
    serve(
        &server,
        "/.well-known/jwks.json",
        jwks_of(&[&keys[0], &keys[1]]),
        Duration::ZERO,
    )
    .await;
    let domain = "example.eu.auth0.com";
    let app = spawn(json!([{
        "name": "auth0", "kind": "auth0", "domain": domain, "audience": "https://api.example.com",
        "jwks_url": format!("{}/.well-known/jwks.json", server.uri()),
    }]))
    .await;
    let good = json!({"iss": format!("https://{domain}/"), "sub": "auth0|42",
        "aud": ["https://api.example.com", format!("https://{domain}/userinfo")],
        "exp": now() + 600, "permissions": ["read:reports", "write:reports"], "scope": "openid"});
    let mut no_slash = good.clone();
    no_slash["iss"] = json!(format!("https://{domain}"));
    let mut other_api = good.clone();
    other_api["aud"] = json!("https://other.example.com");
    let t = sign(vec![
        with(&keys[0], good.clone(), json!({})),
        with(&keys[1], good.clone(), json!({})),
        with(&keys[0], no_slash, json!({})),
        with(&keys[0], other_api, json!({})),
    ]);
    let body = accepted(&app, &t[0], None).await;
    assert_eq!(body["issuer"], "auth0");
    assert_eq!(body["sub"], "auth0|42");
    assert_eq!(body["roles"], json!(["read:reports", "write:reports"]));
    assert_eq!(body["email"], Value::Null);
    // The next key, published beside the current one, verifies too.
    assert_eq!(accepted(&app, &t[1], None).await["sub"], "auth0|42");
    refused(&app, &t[2], Some("auth0"), "wrong_issuer").await;
    refused(&app, &t[3], None, "wrong_audience").await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clerk_tokens_are_checked_against_authorized_parties() {
    let server = MockServer::start().await;
    let keys = keygen(&[("RSA", "ins_1")]);
    serve(
        &server,
        "/clerk/jwks.json",
        jwks_of(&[&keys[0]]),
        Duration::ZERO,
    )
    .await;
    let fapi = "https://clerk.example.com";
    let app = spawn(json!([{
        "name": "clerk", "kind": "clerk", "frontend_api": fapi,
        "authorized_parties": ["https://app.example.com"],
        "jwks_url": format!("{}/clerk/jwks.json", server.uri()),
    }]))
    .await;
    let claims = |azp: Option<&str>| {
        let mut c = json!({"iss": fapi, "sub": "user_2abc", "sid": "sess_1", "exp": now() + 60,
            "nbf": now() - 5, "org_role": "org:admin", "o": {"id": "org_1", "rol": "admin"}});
        if let Some(a) = azp {
            c["azp"] = json!(a);
        }
        c
    };
    let t = sign(vec![
        with(&keys[0], claims(Some("https://app.example.com")), json!({})),
        with(
            &keys[0],
            claims(Some("https://evil.example.com")),
            json!({}),
        ),
        with(&keys[0], claims(None), json!({})),
    ]);
    let body = accepted(&app, &t[0], None).await;
    assert_eq!(body["sub"], "user_2abc");
    assert_eq!(body["claims"]["sid"], "sess_1");
    assert_eq!(body["roles"], json!(["org:admin", "admin"]));
    refused(&app, &t[1], None, "wrong_party").await;
    refused(&app, &t[2], None, "wrong_party").await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supabase_tokens_from_keys_and_from_a_legacy_secret() {
    let server = MockServer::start().await;
    let keys = keygen(&[("EC", "supa-1")]);
    let project = server.uri();
    serve(
        &server,
        "/auth/v1/.well-known/jwks.json",
        jwks_of(&[&keys[0]]),
        Duration::ZERO,
    )
    .await;
    let secret = "super-secret-jwt-token-with-at-least-32-characters-long";
    let legacy = "https://legacyref.supabase.co";
    // The project's usual JWKS location, on the local server: no jwks_url needed.
    let app = spawn(json!([
        {"name": "supa", "kind": "supabase", "project_url": project},
        {"name": "legacy", "kind": "supabase", "project_url": legacy, "jwt_secret": secret},
    ]))
    .await;
    let claims = |iss: &str| {
        json!({"iss": format!("{iss}/auth/v1"), "aud": "authenticated", "role": "authenticated",
            "sub": "8f1c", "email": "grace@example.com", "exp": now() + 600,
            "app_metadata": {"provider": "email", "roles": ["staff"]}})
    };
    let t = sign(vec![
        with(&keys[0], claims(&project), json!({})),
        json!({"op": "sign", "alg": "HS256", "key": secret, "claims": claims(legacy)}),
        json!({"op": "sign", "alg": "HS256", "key": "another-secret-another-secret-another", "claims": claims(legacy)}),
        with(&keys[0], claims(legacy), json!({})),
        json!({"op": "sign", "alg": "HS256", "key": secret, "claims": claims(&project)}),
    ]);
    let body = accepted(&app, &t[0], None).await;
    assert_eq!(
        (body["issuer"].as_str(), body["roles"].clone()),
        (Some("supa"), json!(["staff"]))
    );
    let body = accepted(&app, &t[1], None).await;
    assert_eq!(body["issuer"], "legacy");
    assert_eq!(body["email"], "grace@example.com");
    refused(&app, &t[2], None, "bad_signature").await;
    refused(&app, &t[3], None, "algorithm_not_allowed").await;
    // The project on keys takes no HS256 token, even one made with a secret it never had.
    refused(&app, &t[4], None, "algorithm_not_allowed").await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_and_oidc_discovery_with_a_token_type() {
    let server = MockServer::start().await;
    let keys = keygen(&[("RSA", "g1"), ("EC", "o1")]);
    serve(
        &server,
        "/oauth2/v3/certs",
        jwks_of(&[&keys[0]]),
        Duration::ZERO,
    )
    .await;
    let issuer = format!("{}/realms/main", server.uri());
    serve(
        &server,
        "/realms/main/.well-known/openid-configuration",
        json!({"issuer": issuer, "jwks_uri": format!("{issuer}/certs")}),
        Duration::ZERO,
    )
    .await;
    serve(
        &server,
        "/realms/main/certs",
        jwks_of(&[&keys[1]]),
        Duration::ZERO,
    )
    .await;
    let client_id = "1234-web.apps.googleusercontent.com";
    let app = spawn(json!([
        {"name": "google", "kind": "google", "client_id": client_id,
         "jwks_url": format!("{}/oauth2/v3/certs", server.uri())},
        {"name": "kc", "kind": "oidc", "issuer": issuer, "audience": "api",
         "token_type": "at+jwt", "roles_claim": "realm_access.roles"},
    ]))
    .await;
    let google = |iss: &str, aud: &str| {
        json!({"iss": iss, "aud": aud, "azp": aud, "sub": "1098", "email": "lin@example.com",
            "email_verified": "true", "exp": now() + 600})
    };
    let oidc = json!({"iss": issuer, "aud": "api", "sub": "u-7", "exp": now() + 600,
        "realm_access": {"roles": ["admin"]}});
    let t = sign(vec![
        with(
            &keys[0],
            google("https://accounts.google.com", client_id),
            json!({}),
        ),
        with(
            &keys[0],
            google("accounts.google.com", client_id),
            json!({}),
        ),
        with(
            &keys[0],
            google("https://accounts.google.com", "other-client"),
            json!({}),
        ),
        with(&keys[1], oidc.clone(), json!({"typ": "at+jwt"})),
        with(&keys[1], oidc, json!({"typ": "JWT"})),
    ]);
    let body = accepted(&app, &t[0], None).await;
    assert_eq!(
        (body["issuer"].as_str(), body["email_verified"].as_bool()),
        (Some("google"), Some(true))
    );
    assert_eq!(accepted(&app, &t[1], None).await["sub"], "1098");
    refused(&app, &t[2], None, "wrong_audience").await;
    let body = accepted(&app, &t[3], None).await;
    assert_eq!(
        (body["issuer"].as_str(), body["roles"].clone()),
        (Some("kc"), json!(["admin"]))
    );
    refused(&app, &t[4], None, "wrong_type").await;
    assert_eq!(
        hits(&server, "/realms/main/.well-known/openid-configuration").await,
        1
    );
    assert_eq!(hits(&server, "/realms/main/certs").await, 1);
    app.finish().await;
}
