//! The one HTTP layer every HTTP provider sends through.
//!
//! A provider describes its request (path, body, extra headers) and how to read the
//! reason out of its error bodies; this layer adds authentication, applies the timeout,
//! maps the answer to [`SendError`] and traces method, URL, status and duration. It never
//! traces headers or bodies, which carry credentials and message content.

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use switchyard_core::Secret;

use crate::SendError;

/// How a provider authenticates its requests.
#[derive(Debug)]
pub(crate) enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer(Secret<String>),
    /// HTTP Basic with a public user name (e.g. an account SID) and a secret password.
    Basic {
        user: String,
        password: Secret<String>,
    },
}

/// Reads the provider's own explanation out of an error response body, if it has one.
pub(crate) type ErrorDetail = fn(&[u8]) -> Option<String>;

/// A request body.
pub(crate) enum Body {
    /// Already encoded JSON.
    Json(Vec<u8>),
    /// `application/x-www-form-urlencoded`; a key may repeat.
    Form(Vec<(&'static str, String)>),
}

impl Body {
    pub fn json<T: Serialize>(value: &T) -> Result<Body, SendError> {
        serde_json::to_vec(value)
            .map(Body::Json)
            .map_err(|e| SendError::Rejected(format!("the message cannot be encoded: {e}")))
    }
}

/// A 2xx answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as `T`, or `None` (with a warning) when the provider answered something
    /// else. A provider that answered 2xx has taken the message, so an unreadable body
    /// must not turn into an error that would make the caller send it again.
    pub fn json<T: DeserializeOwned>(&self, provider: &str) -> Option<T> {
        match serde_json::from_slice(&self.body) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(provider, error = %e, "provider accepted the message but its answer could not be read");
                None
            }
        }
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }
}

/// One provider's API: where it is, how to authenticate, how long a request may take.
pub(crate) struct HttpApi {
    client: reqwest::Client,
    provider: String,
    base_url: String,
    auth: Auth,
    timeout: Duration,
    error_detail: ErrorDetail,
}

impl fmt::Debug for HttpApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpApi")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpApi {
    /// `base_url` has no trailing `/`; request paths start with one.
    pub fn new(
        client: &reqwest::Client,
        provider: &str,
        base_url: String,
        auth: Auth,
        timeout: Duration,
        error_detail: ErrorDetail,
    ) -> Self {
        Self {
            client: client.clone(),
            provider: provider.to_string(),
            base_url,
            auth,
            timeout,
            error_detail,
        }
    }

    /// POSTs `body` to `path` and returns the answer if it is a 2xx; any other outcome is
    /// the matching [`SendError`].
    pub async fn post(
        &self,
        path: &str,
        body: Body,
        headers: &[(&'static str, &str)],
    ) -> Result<Reply, SendError> {
        let url = format!("{}{}", self.base_url, path);
        let mut request = self.client.post(&url).timeout(self.timeout);
        request = match &self.auth {
            Auth::Bearer(token) => request.bearer_auth(token.expose()),
            Auth::Basic { user, password } => request.basic_auth(user, Some(password.expose())),
        };
        request = match body {
            Body::Json(bytes) => request.header(CONTENT_TYPE, "application/json").body(bytes),
            Body::Form(pairs) => request.form(&pairs),
        };
        for (name, value) in headers {
            request = request.header(*name, *value);
        }

        let started = Instant::now();
        let result = async {
            let response = request.send().await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body.to_vec()))
        }
        .await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);

        match result {
            Ok((status, headers, body)) => {
                tracing::debug!(
                    provider = %self.provider,
                    method = "POST",
                    url = %url,
                    status = status.as_u16(),
                    duration_ms,
                    "provider request"
                );
                if status.is_success() {
                    Ok(Reply { headers, body })
                } else {
                    Err(classify(
                        status,
                        &headers,
                        &body,
                        self.error_detail,
                        SystemTime::now(),
                    ))
                }
            }
            Err(e) => {
                let error = self.transport_error(&e);
                tracing::debug!(
                    provider = %self.provider,
                    method = "POST",
                    url = %url,
                    duration_ms,
                    error = %error,
                    "provider request failed"
                );
                Err(error)
            }
        }
    }

    fn transport_error(&self, e: &reqwest::Error) -> SendError {
        if e.is_timeout() {
            SendError::Transient(format!("timed out after {}s", self.timeout.as_secs()))
        } else if e.is_builder() {
            SendError::Rejected(format!("the request cannot be built: {}", chain(e)))
        } else if e.is_connect() {
            SendError::Transient(format!("cannot connect to {}: {}", self.provider, chain(e)))
        } else {
            SendError::Transient(format!("request to {} failed: {}", self.provider, chain(e)))
        }
    }
}

/// An error and its sources, joined with `: `.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Maps a non-2xx answer: 401/403 unauthorized; 429 rate limited; 408 and 5xx transient;
/// other 4xx rejected with the provider's reason.
fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    error_detail: ErrorDetail,
    now: SystemTime,
) -> SendError {
    let detail = error_detail(body)
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| fallback_detail(status, body));
    let code = status.as_u16();
    match code {
        401 | 403 => SendError::Unauthorized(format!("HTTP {code}: {detail}")),
        429 => SendError::RateLimited {
            retry_after: retry_after(headers, now),
            detail,
        },
        408 | 500..=599 => SendError::Transient(format!("HTTP {code}: {detail}")),
        400..=499 => SendError::Rejected(detail),
        _ => SendError::Transient(format!("unexpected HTTP {code}: {detail}")),
    }
}

/// The start of the body when the provider's error format was not recognised.
fn fallback_detail(status: StatusCode, body: &[u8]) -> String {
    const LIMIT: usize = 300;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return status
            .canonical_reason()
            .unwrap_or("no details")
            .to_string();
    }
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// `Retry-After` as delay-seconds or an HTTP date (a date in the past is zero).
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(retry_after: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, retry_after.parse().expect("header value"));
        h
    }

    fn no_detail(_: &[u8]) -> Option<String> {
        None
    }

    fn json_message(body: &[u8]) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        v.get("message")?.as_str().map(str::to_string)
    }

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
        assert_eq!(
            retry_after(&headers("7"), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(retry_after(&headers(" 0 "), now), Some(Duration::ZERO));
        assert_eq!(
            retry_after(&headers("Sun, 06 Nov 1994 08:50:07 GMT"), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(&headers("Sun, 06 Nov 1994 08:00:00 GMT"), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers("soon"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn statuses_map_to_what_the_caller_does_next() {
        let now = SystemTime::now();
        let body = br#"{"message":"bad number"}"#;
        let kind = |code: u16| {
            let status = StatusCode::from_u16(code).expect("status");
            classify(status, &HeaderMap::new(), body, json_message, now).kind()
        };
        assert_eq!(kind(400), "rejected");
        assert_eq!(kind(404), "rejected");
        assert_eq!(kind(422), "rejected");
        assert_eq!(kind(401), "unauthorized");
        assert_eq!(kind(403), "unauthorized");
        assert_eq!(kind(429), "rate_limited");
        assert_eq!(kind(408), "transient");
        assert_eq!(kind(500), "transient");
        assert_eq!(kind(503), "transient");
        assert_eq!(kind(302), "transient");
        assert_eq!(
            classify(
                StatusCode::BAD_REQUEST,
                &HeaderMap::new(),
                body,
                json_message,
                now
            ),
            SendError::Rejected("bad number".into())
        );
        assert_eq!(
            classify(
                StatusCode::TOO_MANY_REQUESTS,
                &headers("3"),
                b"",
                no_detail,
                now
            ),
            SendError::RateLimited {
                retry_after: Some(Duration::from_secs(3)),
                detail: "Too Many Requests".into()
            }
        );
    }

    #[test]
    fn unknown_error_bodies_are_quoted_briefly() {
        let long = "x".repeat(1000);
        let e = classify(
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            long.as_bytes(),
            no_detail,
            SystemTime::now(),
        );
        let SendError::Transient(text) = e else {
            panic!("expected transient, got {e:?}");
        };
        assert!(text.starts_with("HTTP 502: xxx"), "{text}");
        assert!(text.chars().count() < 320, "{}", text.len());
    }
}
