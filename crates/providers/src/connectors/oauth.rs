//! The OAuth 2.0 authorization-code flow of a connection (RFC 6749 §4.1 with S256
//! PKCE, RFC 7636): the authorization URL and refreshes at the connector's token
//! endpoint (the code exchange is `auth::oidc::exchange_code`). Client credentials go in the form, as Google documents.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use switchyard_core::Secret;

pub use crate::auth::oidc::pkce_challenge;
use crate::auth::oidc::{TokenError, Tokens, token_call};
use crate::http::Body;

/// A new PKCE verifier (32 random bytes, 43 characters) and its challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = pkce_challenge(&verifier);
    (verifier, challenge)
}

/// Where the user's browser goes to grant access: `authorization_url` with
/// `response_type=code`, the client, redirect URI, scopes (space-separated), `state`,
/// the PKCE challenge and the connector's extra parameters.
pub fn authorize_url(
    authorization_url: &str,
    client_id: &str,
    redirect_uri: &str,
    scopes: &[String],
    state: &str,
    challenge: Option<&str>,
    params: &BTreeMap<String, String>,
) -> Result<String, String> {
    let mut url = url::Url::parse(authorization_url)
        .map_err(|e| format!("{authorization_url:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{authorization_url:?} is not an http(s) URL"));
    }
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri);
        if !scopes.is_empty() {
            q.append_pair("scope", &scopes.join(" "));
        }
        q.append_pair("state", state);
        if let Some(c) = challenge {
            q.append_pair("code_challenge", c)
                .append_pair("code_challenge_method", "S256");
        }
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    Ok(url.into())
}

/// Trades a refresh token for a new access token (and, where the provider rotates
/// them, a new refresh token).
pub async fn refresh(
    client: &reqwest::Client,
    token_url: &str,
    client_id: &str,
    client_secret: &Secret<String>,
    refresh_token: &Secret<String>,
    timeout: Duration,
) -> Result<Tokens, TokenError> {
    let form = Body::form([
        ("grant_type", "refresh_token".to_string()),
        ("refresh_token", refresh_token.expose().clone()),
        ("client_id", client_id.to_string()),
        ("client_secret", client_secret.expose().clone()),
    ]);
    token_call(client, token_url, form, timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_the_unpadded_base64url_sha256_of_the_verifier() {
        // From Python: base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gXk-fFWjk"),
            "j3dp07vdid6iM7dVV45jlzDPIisDaVJYLEnKUQxC-U8"
        );
        let (v, c) = pkce_pair();
        assert_eq!(v.len(), 43);
        assert_eq!(pkce_challenge(&v), c);
    }

    #[test]
    fn the_authorization_url_carries_the_flow() {
        let params = BTreeMap::from([
            ("access_type".to_string(), "offline".to_string()),
            ("prompt".to_string(), "consent".to_string()),
        ]);
        let url = authorize_url(
            "https://accounts.google.com/o/oauth2/v2/auth",
            "cid",
            "https://hub.example/oauth/callback",
            &["https://www.googleapis.com/auth/calendar.events".to_string()],
            "st",
            Some("ch"),
            &params,
        )
        .unwrap();
        let u = url::Url::parse(&url).unwrap();
        let q: BTreeMap<String, String> = u.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["redirect_uri"], "https://hub.example/oauth/callback");
        assert_eq!(
            q["scope"],
            "https://www.googleapis.com/auth/calendar.events"
        );
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(
            (q["access_type"].as_str(), q["prompt"].as_str()),
            ("offline", "consent")
        );
    }
}
