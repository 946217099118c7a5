//! The harness's own test: a sign-in, the tokens it yields, userinfo, introspection,
//! refresh, revocation, and the PKCE and offline-access rules.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Url;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Idp, IdpClient, IdpOptions};

/// The JSON in a JWT's header or payload segment, decoded without checking anything.
fn jwt_part(token: &str, index: usize) -> Value {
    let part = token
        .split('.')
        .nth(index)
        .unwrap_or_else(|| panic!("not a JWT: {token}"));
    let bytes = URL_SAFE_NO_PAD.decode(part).expect("base64url JWT part");
    serde_json::from_slice(&bytes).expect("JSON JWT part")
}

fn authorize_url(idp: &Idp, params: &[(&str, &str)]) -> String {
    let mut url = Url::parse(idp.authorization_endpoint()).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.into()
}

#[tokio::test]
async fn local_identity_provider_signs_in_and_issues_tokens() {
    // Nothing listens there: the sign-in stops at the redirect.
    let redirect_uri = "http://127.0.0.1:9/oauth/callback";
    let client = IdpClient::new("switchyard-test", "switchyard-test-secret", redirect_uri);
    let idp = Idp::start_with(
        std::slice::from_ref(&client),
        IdpOptions {
            access_token_ttl: Duration::from_secs(30),
            ..IdpOptions::default()
        },
    )
    .await;
    let http = switchyard_providers::http_client();

    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let login = "alice@example.com";
    let url = authorize_url(
        &idp,
        &[
            ("response_type", "code"),
            ("client_id", &client.client_id),
            ("redirect_uri", redirect_uri),
            ("scope", "openid email offline_access"),
            ("state", "state-1"),
            ("nonce", "nonce-1"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("access_type", "offline"),
            ("prompt", "consent"),
        ],
    );
    let signed_in = idp.sign_in(&url, login).await;
    assert_eq!(signed_in.state, "state-1");
    assert!(
        signed_in.redirect.as_str().starts_with(redirect_uri),
        "{}",
        signed_in.redirect
    );
    assert!(
        signed_in
            .redirect
            .query_pairs()
            .any(|(k, v)| k == "iss" && v == idp.issuer),
        "the redirect names the issuer (RFC 9207): {}",
        signed_in.redirect
    );

    // The code, with client_secret_post.
    let response = http
        .post(idp.token_endpoint())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &signed_in.code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", &verifier),
            ("client_id", &client.client_id),
            ("client_secret", &client.client_secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer", "{tokens}");
    assert_eq!(tokens["expires_in"], 30, "the access token TTL: {tokens}");
    let scope = tokens["scope"].as_str().unwrap();
    for wanted in ["openid", "email", "offline_access"] {
        assert!(scope.split(' ').any(|s| s == wanted), "{tokens}");
    }
    let access_token = tokens["access_token"].as_str().expect("an access token");
    let refresh_token = tokens["refresh_token"].as_str().expect("a refresh token");
    let id_token = tokens["id_token"].as_str().expect("an ID token");

    let header = jwt_part(id_token, 0);
    assert_eq!(header["alg"], "RS256", "{header}");
    let jwks: Value = http
        .get(idp.jwks_uri())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == header["kid"] && k["kty"] == "RSA" && k.get("d").is_none()),
        "the ID token's key is published (public part only): {jwks}"
    );
    let claims = jwt_part(id_token, 1);
    assert_eq!(claims["iss"], idp.issuer, "{claims}");
    assert_eq!(claims["aud"], client.client_id, "{claims}");
    assert_eq!(claims["nonce"], "nonce-1", "{claims}");
    assert_eq!(claims["email"], login, "{claims}");
    assert_eq!(claims["email_verified"], true, "{claims}");
    assert_eq!(claims["sub"], Idp::sub_for(login), "{claims}");

    let userinfo: Value = http
        .get(idp.userinfo_endpoint())
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["email"], login, "{userinfo}");
    assert_eq!(userinfo["sub"], claims["sub"], "{userinfo}");
    let introspection: Value = http
        .post(idp.endpoint("introspection_endpoint"))
        .basic_auth(&client.client_id, Some(&client.client_secret))
        .form(&[("token", access_token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspection["active"], true, "{introspection}");
    assert_eq!(introspection["sub"], claims["sub"], "{introspection}");

    // The refresh token, with client_secret_basic.
    let response = http
        .post(idp.token_endpoint())
        .basic_auth(&client.client_id, Some(&client.client_secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let refreshed: Value = response.json().await.unwrap();
    let new_access_token = refreshed["access_token"]
        .as_str()
        .expect("a new access token");
    assert_ne!(new_access_token, access_token);
    assert_eq!(refreshed["expires_in"], 30, "{refreshed}");
    assert_eq!(
        refreshed["refresh_token"], refresh_token,
        "not rotated by default: {refreshed}"
    );

    // Revoked, the refresh token stops working.
    let response = http
        .post(idp.revocation_endpoint())
        .basic_auth(&client.client_id, Some(&client.client_secret))
        .form(&[
            ("token", refresh_token),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = http
        .post(idp.token_endpoint())
        .basic_auth(&client.client_id, Some(&client.client_secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"], "invalid_grant", "{error}");

    // Without access_type=offline or offline_access: no refresh token. A login with
    // "unverified" in it has an unverified email. Without a code_challenge: refused.
    let login = "bob.unverified@example.com";
    let plain = [
        ("response_type", "code"),
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", redirect_uri),
        ("scope", "openid email"),
        ("state", "state-2"),
    ];
    let refused = idp.authorize(&authorize_url(&idp, &plain), login).await;
    assert!(
        refused
            .query_pairs()
            .any(|(k, v)| k == "error" && v == "invalid_request"),
        "PKCE is required: {refused}"
    );
    let mut with_pkce = plain.to_vec();
    with_pkce.extend([
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    let signed_in = idp.sign_in(&authorize_url(&idp, &with_pkce), login).await;
    assert_eq!(signed_in.state, "state-2");
    let tokens: Value = http
        .post(idp.token_endpoint())
        .basic_auth(&client.client_id, Some(&client.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &signed_in.code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(tokens["access_token"].is_string(), "{tokens}");
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    let claims = jwt_part(tokens["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["email"], login, "{claims}");
    assert_eq!(claims["email_verified"], false, "{claims}");
    assert_eq!(claims["sub"], Idp::sub_for(login), "{claims}");
}
