//! The key sets' cache, seen from outside: one fetch for concurrent callers, one
//! refetch for a rotated key, unknown kids asking again at most every 30 s, and the
//! last good set kept when the issuer's server fails.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{accepted, hits, jwks_of, keygen, now, refused, serve, sign, spawn, verify, with};
use crate::problem;

fn oidc_issuer(name: &str, server: &MockServer, at: &str, extra: Value) -> Value {
    let mut entry = json!({"name": name, "kind": "oidc", "issuer": format!("https://{name}.example"),
        "audience": "api", "jwks_url": format!("{}{at}", server.uri())});
    entry
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    entry
}

fn oidc_claims(name: &str) -> Value {
    json!({"iss": format!("https://{name}.example"), "aud": "api", "sub": "u", "exp": now() + 600})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_picked_up_with_one_refetch() {
    let server = MockServer::start().await;
    let keys = keygen(&[("RSA", "old"), ("RSA", "new")]);
    serve(&server, "/rot", jwks_of(&[&keys[0]]), Duration::ZERO).await;
    let app = spawn(json!([oidc_issuer(
        "rot",
        &server,
        "/rot",
        json!({"jwks_refetch_interval": "1s"})
    )]))
    .await;
    let t = sign(vec![
        with(&keys[0], oidc_claims("rot"), json!({})),
        with(&keys[1], oidc_claims("rot"), json!({})),
    ]);
    accepted(&app, &t[0], None).await;
    assert_eq!(hits(&server, "/rot").await, 1);
    // The issuer rotates: only the new key is published.
    server.reset().await;
    serve(&server, "/rot", jwks_of(&[&keys[1]]), Duration::ZERO).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    accepted(&app, &t[1], None).await;
    accepted(&app, &t[1], None).await;
    assert_eq!(
        hits(&server, "/rot").await,
        1,
        "one refetch after the reset"
    );
    // The old key is gone from the new set.
    refused(&app, &t[0], None, "unknown_key").await;
    assert_eq!(hits(&server, "/rot").await, 1);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kids_refetch_at_most_every_30_seconds() {
    let server = MockServer::start().await;
    let keys = keygen(&[("EC", "real"), ("EC", "ghost-1"), ("EC", "ghost-2")]);
    serve(&server, "/ghosts", jwks_of(&[&keys[0]]), Duration::ZERO).await;
    let app = spawn(json!([oidc_issuer(
        "ghosts",
        &server,
        "/ghosts",
        json!({})
    )]))
    .await;
    let t = sign(vec![
        with(&keys[1], oidc_claims("ghosts"), json!({})),
        with(&keys[2], oidc_claims("ghosts"), json!({})),
        with(
            &keys[1],
            oidc_claims("ghosts"),
            json!({"kid": "never-published"}),
        ),
        with(&keys[0], oidc_claims("ghosts"), json!({})),
    ]);
    // A cold cache: one fetch, which lacks the kid.
    refused(&app, &t[0], None, "unknown_key").await;
    for token in &t[..3] {
        refused(&app, token, None, "unknown_key").await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for token in &t[..3] {
        refused(&app, token, None, "unknown_key").await;
    }
    assert_eq!(hits(&server, "/ghosts").await, 1);
    accepted(&app, &t[3], None).await;
    assert_eq!(hits(&server, "/ghosts").await, 1);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_verifications_on_a_cold_cache_fetch_once() {
    let server = MockServer::start().await;
    let keys = keygen(&[("EC", "k")]);
    serve(
        &server,
        "/slow",
        jwks_of(&[&keys[0]]),
        Duration::from_millis(400),
    )
    .await;
    let app = spawn(json!([oidc_issuer(
        "cold",
        &server,
        "/slow",
        json!({"algorithms": ["ES256"]})
    )]))
    .await;
    let token = sign(vec![with(&keys[0], oidc_claims("cold"), json!({}))]).remove(0);
    let answers = futures_util::future::join_all((0..16).map(|_| verify(&app, &token, None))).await;
    for r in answers {
        assert_eq!(r.status(), 200);
    }
    assert_eq!(hits(&server, "/slow").await, 1);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_key_server_keeps_the_last_good_set() {
    let server = MockServer::start().await;
    let keys = keygen(&[("RSA", "k1"), ("RSA", "k2")]);
    serve(&server, "/flaky", jwks_of(&[&keys[0]]), Duration::ZERO).await;
    Mock::given(method("GET"))
        .and(path("/down"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let app = spawn(json!([
        oidc_issuer(
            "flaky",
            &server,
            "/flaky",
            json!({"jwks_refetch_interval": "1s"})
        ),
        oidc_issuer("down", &server, "/down", json!({})),
    ]))
    .await;
    let t = sign(vec![
        with(&keys[0], oidc_claims("flaky"), json!({})),
        with(&keys[1], oidc_claims("flaky"), json!({})),
        with(&keys[0], oidc_claims("down"), json!({})),
    ]);
    accepted(&app, &t[0], None).await;
    server.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // An unknown kid asks again, and the server fails: the kid is unknown, and the
    // last good set still verifies its own tokens.
    refused(&app, &t[1], None, "unknown_key").await;
    assert_eq!(
        hits(&server, "/flaky").await,
        1,
        "one refetch, which failed"
    );
    accepted(&app, &t[0], None).await;

    // No set was ever had: 503 with Retry-After, and the failing server is not asked
    // again at once.
    let r = verify(&app, &t[2], None).await;
    assert!(r.headers().contains_key("retry-after"));
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    problem(r, 503, "keys_unavailable").await;
    problem(verify(&app, &t[2], None).await, 503, "keys_unavailable").await;
    assert_eq!(hits(&server, "/down").await, 1);
    app.finish().await;
}
