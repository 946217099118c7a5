//! The one HTTP layer every HTTP provider sends through.
//!
//! A provider describes its request (method, path, body, extra headers) and reads the
//! answer; this layer adds authentication (a bearer key, Basic, or an OAuth2 token it
//! fetches and caches), applies the timeout, retries what its [`Retry`] policy allows,
//! and traces method, URL, status, attempt and duration. It never traces headers or
//! bodies, which carry credentials and customer data.
//!
//! Answers other than 2xx come back as a [`Failure`]; each capability maps a failure to
//! its own error ([`SendError`] for messaging, through [`HttpApi::post`]).

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use switchyard_core::Secret;

use crate::SendError;

pub mod forward;
mod oauth;

pub(crate) use oauth::ClientCredentials;

/// A builder of `reqwest` clients for the hub and its tests. TLS is rustls on `ring`,
/// the build's one crypto stack, installed as the process's default the first time.
/// Every client is made here (`clippy.toml` refuses `reqwest::Client::new` and
/// `::builder`): a client made before the default is installed would panic.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    #[allow(clippy::disallowed_methods)] // the one place clients are made
    reqwest::Client::builder()
}

/// Installs rustls on `ring` as the process's default crypto provider, once. Whatever
/// builds a `reqwest` client without [`client_builder`] (object stores' own clients)
/// calls this first.
pub(crate) fn install_crypto_provider() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // Another default installed first (by an embedding program) is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A client with `reqwest`'s defaults, from [`client_builder`].
pub fn client() -> reqwest::Client {
    client_builder()
        .build()
        .expect("a client with the default settings builds")
}

/// How a provider authenticates its requests.
#[derive(Debug)]
#[allow(clippy::enum_variant_names)] // `OAuth` is the protocol's name, not a repeat of `Auth`.
pub(crate) enum Auth {
    /// No credentials: public documents (a JWKS, an OpenID discovery document).
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(Secret<String>),
    /// HTTP Basic with a public user name (e.g. an account SID) and a secret password.
    Basic {
        user: String,
        password: Secret<String>,
    },
    /// A bearer token obtained with the OAuth2 client-credentials grant and cached until
    /// shortly before it expires.
    OAuth(ClientCredentials),
}

/// Reads the provider's own explanation out of an error response body, if it has one.
pub(crate) type ErrorDetail = fn(&[u8]) -> Option<String>;

/// A request body.
pub(crate) enum Body {
    /// No body.
    Empty,
    /// Already encoded JSON.
    Json(Vec<u8>),
    /// `application/x-www-form-urlencoded`; a key may repeat.
    Form(Vec<(String, String)>),
}

impl Body {
    pub fn json<T: Serialize>(value: &T) -> Result<Body, SendError> {
        serde_json::to_vec(value)
            .map(Body::Json)
            .map_err(|e| SendError::Rejected(format!("the message cannot be encoded: {e}")))
    }

    /// A form from pairs whose keys may be static.
    pub fn form<K: Into<String>>(pairs: impl IntoIterator<Item = (K, String)>) -> Body {
        Body::Form(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

/// One request.
pub(crate) struct Call<'a> {
    pub method: Method,
    /// Starts with `/`; may carry a query string.
    pub path: &'a str,
    pub body: Body,
    pub headers: Vec<(&'static str, String)>,
    /// Whether repeating the request is safe (a read, or a write with an idempotency
    /// key): only such calls are retried.
    pub idempotent: bool,
}

impl<'a> Call<'a> {
    pub fn get(path: &'a str) -> Self {
        Self {
            method: Method::GET,
            path,
            body: Body::Empty,
            headers: Vec::new(),
            idempotent: true,
        }
    }

    /// A write that is not retried unless [`Call::idempotent_with`] says it may be.
    pub fn new(method: Method, path: &'a str, body: Body) -> Self {
        Self {
            method,
            path,
            body,
            headers: Vec::new(),
            idempotent: false,
        }
    }

    /// Adds `header: value`, which makes repeating the call safe (an idempotency key).
    pub fn idempotent_with(mut self, header: &'static str, value: String) -> Self {
        self.headers.push((header, value));
        self.idempotent = true;
        self
    }

    pub fn header(mut self, header: &'static str, value: String) -> Self {
        self.headers.push((header, value));
        self
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
                tracing::warn!(provider, error = %e, "provider answered 2xx but its answer could not be read");
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

/// Why a call got no 2xx answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The provider answered with a non-2xx status.
    Status {
        status: StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
    },
    /// No answer: connection refused or reset, or the timeout passed.
    Transport { timed_out: bool, detail: String },
    /// The request could not be built (a bad URL or header): a bug or bad settings.
    Build(String),
}

impl Failure {
    /// `Retry-After` of a status answer, as delay-seconds or an HTTP date.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::Status { headers, .. } => retry_after(headers, SystemTime::now()),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Failure::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// When and how often a call is tried again: up to `retries` more times, waiting a
/// jittered, doubling delay from `base` up to `cap`, for idempotent calls that failed
/// with no answer, a 5xx, or a status `also` names. 429 is never retried here: its
/// `Retry-After` goes back to the caller.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    pub retries: u32,
    pub base: Duration,
    pub cap: Duration,
    /// Further statuses (or headers) that ask for a retry, e.g. Stripe's 409 on a key
    /// in use and `Stripe-Should-Retry`. Returns `Some(false)` to forbid a retry the
    /// status alone would allow.
    pub also: fn(StatusCode, &HeaderMap) -> Option<bool>,
}

impl Retry {
    /// No retries (messaging: the sender fails over instead).
    pub const NONE: Retry = Retry {
        retries: 0,
        base: Duration::ZERO,
        cap: Duration::ZERO,
        also: |_, _| None,
    };

    fn wants(&self, failure: &Failure) -> bool {
        match failure {
            Failure::Transport { .. } => true,
            Failure::Build(_) => false,
            Failure::Status {
                status, headers, ..
            } => match (self.also)(*status, headers) {
                Some(verdict) => verdict,
                None => status.is_server_error() || *status == StatusCode::REQUEST_TIMEOUT,
            },
        }
    }

    /// The wait before retry `n` (1-based): half to all of `base × 2^(n-1)`, at most `cap`.
    fn delay(&self, n: u32) -> Duration {
        let full = self.base.saturating_mul(1 << (n - 1).min(16)).min(self.cap);
        let jitter = rand::random::<f64>() * 0.5 + 0.5;
        full.mul_f64(jitter)
    }
}

/// One provider's API: where it is, how to authenticate, how long a request may take,
/// and when to retry.
pub(crate) struct HttpApi {
    client: reqwest::Client,
    provider: String,
    base_url: String,
    auth: Auth,
    timeout: Duration,
    error_detail: ErrorDetail,
    retry: Retry,
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
            retry: Retry::NONE,
        }
    }

    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// POSTs `body` to `path` once and returns the answer if it is a 2xx; any other
    /// outcome is the matching [`SendError`].
    pub async fn post(
        &self,
        path: &str,
        body: Body,
        headers: &[(&'static str, &str)],
    ) -> Result<Reply, SendError> {
        let mut call = Call::new(Method::POST, path, body);
        for (name, value) in headers {
            call = call.header(name, value.to_string());
        }
        self.call(call)
            .await
            .map_err(|f| send_error(&f, self.error_detail, SystemTime::now()))
    }

    /// Sends `call`, retrying as the policy allows; a 2xx answer, or the last failure.
    pub async fn call(&self, call: Call<'_>) -> Result<Reply, Failure> {
        let mut attempt = 1;
        let mut refreshed = false;
        loop {
            let token = match &self.auth {
                Auth::OAuth(oauth) => Some(oauth.token(self).await?),
                _ => None,
            };
            let failure = match self.once(&call, attempt, token.as_ref()).await {
                Ok(reply) => return Ok(reply),
                Err(f) => f,
            };
            // A cached token the provider no longer takes: fetch a new one, once.
            if let (Auth::OAuth(oauth), Some(used), Some(StatusCode::UNAUTHORIZED), false) =
                (&self.auth, &token, failure.status(), refreshed)
            {
                oauth.forget(used).await;
                refreshed = true;
                continue;
            }
            if !call.idempotent || attempt > self.retry.retries || !self.retry.wants(&failure) {
                return Err(failure);
            }
            tokio::time::sleep(self.retry.delay(attempt)).await;
            attempt += 1;
        }
    }

    async fn once(
        &self,
        call: &Call<'_>,
        attempt: u32,
        token: Option<&Secret<String>>,
    ) -> Result<Reply, Failure> {
        let url = format!("{}{}", self.base_url, call.path);
        let mut request = self
            .client
            .request(call.method.clone(), &url)
            .timeout(self.timeout);
        request = match &self.auth {
            Auth::None => request,
            Auth::Bearer(token) => request.bearer_auth(token.expose()),
            Auth::Basic { user, password } => request.basic_auth(user, Some(password.expose())),
            Auth::OAuth(_) => request.bearer_auth(token.map_or("", |t| t.expose())),
        };
        request = match &call.body {
            Body::Empty => request,
            Body::Json(bytes) => request
                .header(CONTENT_TYPE, "application/json")
                .body(bytes.clone()),
            Body::Form(pairs) => request.form(pairs),
        };
        for (name, value) in &call.headers {
            request = request.header(*name, value);
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
                tracing::debug!(provider = %self.provider, method = %call.method, url = %url,
                    status = status.as_u16(), attempt, duration_ms, "provider request");
                if status.is_success() {
                    Ok(Reply { headers, body })
                } else {
                    Err(Failure::Status {
                        status,
                        headers,
                        body,
                    })
                }
            }
            Err(e) => {
                let failure = self.transport_failure(&e);
                tracing::debug!(provider = %self.provider, method = %call.method, url = %url,
                    attempt, duration_ms, error = ?failure, "provider request failed");
                Err(failure)
            }
        }
    }

    fn transport_failure(&self, e: &reqwest::Error) -> Failure {
        if e.is_builder() {
            Failure::Build(format!("the request cannot be built: {}", chain(e)))
        } else if e.is_timeout() {
            Failure::Transport {
                timed_out: true,
                detail: format!("timed out after {}s", self.timeout.as_secs()),
            }
        } else if e.is_connect() {
            Failure::Transport {
                timed_out: false,
                detail: format!("cannot connect to {}: {}", self.provider, chain(e)),
            }
        } else {
            Failure::Transport {
                timed_out: false,
                detail: format!("request to {} failed: {}", self.provider, chain(e)),
            }
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

/// Maps a failed send: 401/403 unauthorized; 429 rate limited; 408 and 5xx transient;
/// other 4xx rejected with the provider's reason; no answer transient.
pub(crate) fn send_error(
    failure: &Failure,
    error_detail: ErrorDetail,
    now: SystemTime,
) -> SendError {
    let (status, headers, body) = match failure {
        Failure::Status {
            status,
            headers,
            body,
        } => (*status, headers, body),
        Failure::Transport { detail, .. } => return SendError::Transient(detail.clone()),
        Failure::Build(detail) => return SendError::Rejected(detail.clone()),
    };
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
pub(crate) fn fallback_detail(status: StatusCode, body: &[u8]) -> String {
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

/// What stays unescaped in a path segment: RFC 3986's unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `id` as one path segment or query value, escaped.
pub(crate) fn segment(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, SEGMENT).to_string()
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
mod tests;
