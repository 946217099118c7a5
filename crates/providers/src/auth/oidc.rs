//! OpenID Connect and OAuth 2.0 endpoints of an identity provider: its discovery
//! document and the authorization-code exchange (RFC 6749 §4.1.3, with PKCE's
//! `code_verifier`, RFC 7636), through the shared HTTP layer.

use std::time::Duration;

use http::Method;
use serde::Deserialize;
use serde_json::Value;
use switchyard_core::Secret;

use super::jwks::{DISCOVERY_PATH, split};
use crate::http::{Auth, Body, Call, Failure, HttpApi};

/// The endpoints a sign-in needs, from `{issuer}/.well-known/openid-configuration`.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

/// Reads the discovery document of `issuer` and checks that it names `issuer`.
pub async fn discover(
    client: &reqwest::Client,
    issuer: &str,
    timeout: Duration,
) -> Result<Discovery, String> {
    let issuer = issuer.trim_end_matches('/');
    let url = format!("{issuer}{DISCOVERY_PATH}");
    let (base, path) = split(&url).ok_or_else(|| format!("{issuer:?} is not an http(s) URL"))?;
    let api = HttpApi::new(
        client,
        "oidc",
        base.to_string(),
        Auth::None,
        timeout,
        |_| None,
    );
    let reply = api
        .call(Call::get(path).header("accept", "application/json".into()))
        .await
        .map_err(|f| describe(&url, &f))?;
    let found: Discovery = serde_json::from_slice(&reply.body)
        .map_err(|e| format!("the discovery document at {url} is not usable: {e}"))?;
    if found.issuer.trim_end_matches('/') != issuer {
        return Err(format!(
            "the discovery document at {url} names the issuer {:?}",
            found.issuer
        ));
    }
    for u in [
        &found.authorization_endpoint,
        &found.token_endpoint,
        &found.jwks_uri,
    ] {
        if !(u.starts_with("https://") || u.starts_with("http://")) {
            return Err(format!(
                "the discovery document at {url} has a non-http(s) endpoint {u:?}"
            ));
        }
    }
    Ok(found)
}

/// An authorization code to exchange.
#[derive(Debug)]
pub struct CodeExchange<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a Secret<String>,
    pub code: &'a str,
    pub redirect_uri: &'a str,
    /// The PKCE verifier, when the authorization URL carried its challenge.
    pub code_verifier: Option<&'a str>,
}

/// What a token endpoint answered.
#[derive(Debug, Clone, Deserialize)]
pub struct Tokens {
    pub access_token: Option<Secret<String>>,
    pub refresh_token: Option<Secret<String>>,
    pub id_token: Option<String>,
    pub expires_in: Option<u64>,
    pub scope: Option<String>,
    pub token_type: Option<String>,
}

/// A token endpoint's refusal: its OAuth `error` code (`invalid_grant`…) when it gave
/// one, and a description for the log.
#[derive(Debug, Clone)]
pub struct TokenError {
    pub error: Option<String>,
    pub detail: String,
}

/// The S256 challenge of a PKCE verifier (RFC 7636).
pub fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// Exchanges `exchange.code` at `token_endpoint` (client credentials in the form, as
/// Google documents).
pub async fn exchange_code(
    client: &reqwest::Client,
    token_endpoint: &str,
    exchange: &CodeExchange<'_>,
    timeout: Duration,
) -> Result<Tokens, TokenError> {
    let mut form = vec![
        ("grant_type", "authorization_code".to_string()),
        ("code", exchange.code.to_string()),
        ("redirect_uri", exchange.redirect_uri.to_string()),
        ("client_id", exchange.client_id.to_string()),
        ("client_secret", exchange.client_secret.expose().clone()),
    ];
    if let Some(v) = exchange.code_verifier {
        form.push(("code_verifier", v.to_string()));
    }
    token_call(client, token_endpoint, Body::form(form), timeout).await
}

/// Posts a grant to a token endpoint and reads the tokens.
pub(crate) async fn token_call(
    client: &reqwest::Client,
    token_endpoint: &str,
    form: Body,
    timeout: Duration,
) -> Result<Tokens, TokenError> {
    let (base, path) = split(token_endpoint).ok_or_else(|| TokenError {
        error: None,
        detail: format!("{token_endpoint:?} is not an http(s) URL"),
    })?;
    let api = HttpApi::new(
        client,
        "oauth",
        base.to_string(),
        Auth::None,
        timeout,
        |_| None,
    );
    let call = Call::new(Method::POST, path, form).header("accept", "application/json".into());
    let reply = api.call(call).await.map_err(|f| {
        let error = match &f {
            Failure::Status { body, .. } => serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string)),
            _ => None,
        };
        TokenError {
            error,
            detail: describe(token_endpoint, &f),
        }
    })?;
    serde_json::from_slice(&reply.body).map_err(|e| TokenError {
        error: None,
        detail: format!("{token_endpoint} did not answer tokens: {e}"),
    })
}

fn describe(url: &str, f: &Failure) -> String {
    match f {
        Failure::Status { status, .. } => format!("{url} answered HTTP {}", status.as_u16()),
        Failure::Transport { detail, .. } | Failure::Build(detail) => {
            format!("{url} could not be reached: {detail}")
        }
    }
}
