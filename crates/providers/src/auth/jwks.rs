//! JWKS documents and OpenID discovery documents, fetched once per call (no retry: the
//! caller keeps its last good set and decides when to ask again).

use std::time::Duration;

use http::HeaderMap;
use serde_json::Value;

use crate::http::{Auth, Call, Failure, HttpApi};

/// A JWKS document as served, and how long its server says it may be kept.
#[derive(Debug, Clone)]
pub struct FetchedJwks {
    /// The document: an object with a `keys` array (each key is left to the caller).
    pub body: Value,
    /// `Cache-Control: max-age` less `Age`; zero for `no-cache` or `no-store`; `None`
    /// when the server said nothing.
    pub max_age: Option<Duration>,
}

/// The path of an OpenID discovery document under its issuer.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// GETs the JWKS at `url` (http or https), within `timeout`.
pub async fn fetch_jwks(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<FetchedJwks, String> {
    let (headers, body) = get_json(client, url, timeout).await?;
    if !body.get("keys").is_some_and(Value::is_array) {
        return Err(format!("the JWKS at {url} has no \"keys\" array"));
    }
    Ok(FetchedJwks {
        body,
        max_age: max_age(&headers),
    })
}

/// Reads the OpenID discovery document at `url` (`{issuer}/.well-known/openid-configuration`)
/// and returns its `jwks_uri`. The document's `issuer` must be the one `url` is under
/// (OpenID Connect Discovery §4.3), and `jwks_uri` an http or https URL.
pub async fn discover_jwks_url(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<String, String> {
    let (_, body) = get_json(client, url, timeout).await?;
    let issuer = body.get("issuer").and_then(Value::as_str).unwrap_or("");
    let expected = url.strip_suffix(DISCOVERY_PATH).unwrap_or(url);
    if issuer.trim_end_matches('/') != expected.trim_end_matches('/') {
        return Err(format!(
            "the discovery document at {url} names the issuer {issuer:?}, not {expected:?}"
        ));
    }
    match body.get("jwks_uri").and_then(Value::as_str) {
        Some(jwks) if jwks.starts_with("https://") || jwks.starts_with("http://") => {
            Ok(jwks.to_string())
        }
        _ => Err(format!(
            "the discovery document at {url} has no http(s) \"jwks_uri\""
        )),
    }
}

async fn get_json(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<(HeaderMap, Value), String> {
    let (base, path) = split(url).ok_or_else(|| format!("{url:?} is not an http(s) URL"))?;
    let api = HttpApi::new(
        client,
        "jwks",
        base.to_string(),
        Auth::None,
        timeout,
        |_| None,
    );
    let call = Call::get(path).header("accept", "application/json".into());
    let reply = api.call(call).await.map_err(|f| match f {
        Failure::Status { status, .. } => format!("{url} answered HTTP {}", status.as_u16()),
        Failure::Transport { detail, .. } | Failure::Build(detail) => {
            format!("{url} could not be fetched: {detail}")
        }
    })?;
    let body: Value = serde_json::from_slice(&reply.body)
        .map_err(|e| format!("{url} did not answer JSON: {e}"))?;
    if !body.is_object() {
        return Err(format!("{url} did not answer a JSON object"));
    }
    Ok((reply.headers, body))
}

/// `https://host[:port]` and the rest (`/` at least), for the HTTP layer.
pub(super) fn split(url: &str) -> Option<(&str, &str)> {
    let after = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let scheme = url.len() - after.len();
    let host_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    if host_end == 0 {
        return None;
    }
    let (base, rest) = url.split_at(scheme + host_end);
    let rest = rest.split('#').next().unwrap_or("");
    Some((base, if rest.is_empty() { "/" } else { rest }))
}

/// How long the answer may be kept: `max-age` (or zero for `no-cache`/`no-store`) less `Age`.
fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut secs = None;
    for value in headers.get_all(http::header::CACHE_CONTROL) {
        let Ok(text) = value.to_str() else { continue };
        for directive in text.split(',') {
            let directive = directive.trim().to_ascii_lowercase();
            if directive == "no-cache" || directive == "no-store" {
                secs = Some(0);
            } else if let Some(n) = directive.strip_prefix("max-age=")
                && let Ok(n) = n.trim_matches('"').parse::<u64>()
                && secs != Some(0)
            {
                secs = Some(n);
            }
        }
    }
    let age = headers
        .get(http::header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    secs.map(|s: u64| Duration::from_secs(s.saturating_sub(age)))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    #[test]
    fn splits_urls_for_the_http_layer() {
        assert_eq!(
            split("https://example.com/a/jwks.json?x=1"),
            Some(("https://example.com", "/a/jwks.json?x=1"))
        );
        assert_eq!(
            split("http://127.0.0.1:8080"),
            Some(("http://127.0.0.1:8080", "/"))
        );
        assert_eq!(split("ftp://example.com/x"), None);
        assert_eq!(split("https:///x"), None);
    }

    #[test]
    fn reads_max_age_less_age() {
        let mut h = HeaderMap::new();
        assert_eq!(max_age(&h), None);
        h.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=19800, must-revalidate"),
        );
        assert_eq!(max_age(&h), Some(Duration::from_secs(19800)));
        h.insert(http::header::AGE, HeaderValue::from_static("800"));
        assert_eq!(max_age(&h), Some(Duration::from_secs(19000)));
        h.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store, max-age=60"),
        );
        assert_eq!(max_age(&h), Some(Duration::ZERO));
    }

    #[tokio::test]
    async fn fetches_a_jwks_and_refuses_other_documents() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/.well-known/jwks.json"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("cache-control", "max-age=300")
                    .set_body_json(serde_json::json!({"keys": []})),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/other"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"a": 1})))
            .mount(&server)
            .await;
        let client = crate::http_client();
        let url = format!("{}/.well-known/jwks.json", server.uri());
        let got = fetch_jwks(&client, &url, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(got.body["keys"], serde_json::json!([]));
        assert_eq!(got.max_age, Some(Duration::from_secs(300)));
        let err = fetch_jwks(
            &client,
            &format!("{}/other", server.uri()),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(err.contains("no \"keys\" array"), "{err}");
        let err = fetch_jwks(
            &client,
            &format!("{}/missing", server.uri()),
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(err.contains("HTTP 404"), "{err}");
    }

    #[tokio::test]
    async fn discovery_checks_the_issuer() {
        let server = MockServer::start().await;
        let issuer = format!("{}/realm", server.uri());
        Mock::given(method("GET"))
            .and(path("/realm/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "issuer": issuer, "jwks_uri": format!("{}/realm/certs", server.uri()),
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/liar/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "issuer": "https://elsewhere.example", "jwks_uri": "https://elsewhere.example/certs",
            })))
            .mount(&server)
            .await;
        let client = crate::http_client();
        let t = Duration::from_secs(5);
        let jwks = discover_jwks_url(&client, &format!("{issuer}{DISCOVERY_PATH}"), t)
            .await
            .unwrap();
        assert_eq!(jwks, format!("{}/realm/certs", server.uri()));
        let err = discover_jwks_url(
            &client,
            &format!("{}/liar{DISCOVERY_PATH}", server.uri()),
            t,
        )
        .await
        .unwrap_err();
        assert!(err.contains("names the issuer"), "{err}");
    }
}
