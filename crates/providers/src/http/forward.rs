//! Forwarding a caller's request as it is (the connectors' proxy): any method, headers
//! and body, the answer whatever its status. Retries what the policy names — no
//! answer, and the listed statuses — with a jittered, doubling backoff, or the
//! `Retry-After` the upstream asked for when it is no longer than the policy allows; a
//! longer one goes back to the caller at once. A request that may have been processed
//! (a reset, a timeout, a 5xx) is tried again only if its method is idempotent; a
//! refused connection or a 429 was not processed, so any method is. Traces name the
//! `log_url`, never the URL, which may carry a credential.

use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, Method, StatusCode};

use super::{chain, retry_after};

/// A request to send.
#[derive(Debug, Clone)]
pub struct Forward {
    pub method: Method,
    pub url: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The URL as it may be logged (secret query values redacted).
    pub log_url: String,
}

/// When to try again, and how long one attempt may take.
#[derive(Debug, Clone)]
pub struct ForwardPolicy {
    pub statuses: Vec<u16>,
    /// Further attempts after the first.
    pub retries: u32,
    pub max_retry_after: Duration,
    pub timeout: Duration,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

/// The upstream's last answer.
#[derive(Debug, Clone)]
pub struct Forwarded {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub attempts: u32,
    /// The `Retry-After` of the last answer, if it gave one.
    pub retry_after: Option<Duration>,
}

/// No answer came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardError {
    Transport {
        timed_out: bool,
        detail: String,
        attempts: u32,
    },
    /// The request could not be built (a bad header or URL).
    Build(String),
}

fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// What runs before each further attempt of [`forward`] (taking a rate limit's slot):
/// `false` ends the attempts with the last answer.
pub trait BeforeRetry: Send + Sync {
    fn before_retry(&self) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send + '_>>;
}

/// Sends `request` through `client` under `policy`; `name` labels the traces.
pub async fn forward(
    client: &reqwest::Client,
    request: &Forward,
    policy: &ForwardPolicy,
    name: &str,
    before_retry: &dyn BeforeRetry,
) -> Result<Forwarded, ForwardError> {
    let mut attempt = 1;
    loop {
        let started = Instant::now();
        let sent = client
            .request(request.method.clone(), &request.url)
            .headers(request.headers.clone())
            .body(request.body.clone())
            .timeout(policy.timeout)
            .send()
            .await;
        let result = match sent {
            Ok(response) => {
                let status = response.status();
                let headers = response.headers().clone();
                response
                    .bytes()
                    .await
                    .map(|body| (status, headers, body.to_vec()))
            }
            Err(e) => Err(e),
        };
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let more = attempt <= policy.retries;
        match result {
            Ok((status, headers, body)) => {
                tracing::debug!(connector = name, method = %request.method, url = %request.log_url,
                    status = status.as_u16(), attempt, duration_ms, "connector request");
                let asked = retry_after(&headers, SystemTime::now());
                let listed = policy.statuses.contains(&status.as_u16());
                let unprocessed = status == StatusCode::TOO_MANY_REQUESTS;
                let wait = match asked {
                    Some(w) if w > policy.max_retry_after => None,
                    Some(w) => Some(w),
                    None => Some(delay(policy, attempt)),
                };
                if let (true, true, true, Some(wait)) = (
                    more,
                    listed,
                    unprocessed || idempotent(&request.method),
                    wait,
                ) {
                    tokio::time::sleep(wait).await;
                    if before_retry.before_retry().await {
                        attempt += 1;
                        continue;
                    }
                }
                return Ok(Forwarded {
                    status,
                    headers,
                    body,
                    attempts: attempt,
                    retry_after: asked,
                });
            }
            Err(e) => {
                let connect = e.is_connect();
                let timed_out = e.is_timeout();
                let e = e.without_url();
                if e.is_builder() {
                    return Err(ForwardError::Build(format!(
                        "the request cannot be built: {}",
                        chain(&e)
                    )));
                }
                let detail = if timed_out {
                    format!("no answer within {} ms", policy.timeout.as_millis())
                } else {
                    chain(&e)
                };
                tracing::debug!(connector = name, method = %request.method, url = %request.log_url,
                    attempt, duration_ms, error = %detail, "connector request failed");
                if more && (connect || idempotent(&request.method)) {
                    tokio::time::sleep(delay(policy, attempt)).await;
                    if before_retry.before_retry().await {
                        attempt += 1;
                        continue;
                    }
                }
                return Err(ForwardError::Transport {
                    timed_out,
                    detail,
                    attempts: attempt,
                });
            }
        }
    }
}

/// Half to all of `base × 2^(n-1)`, at most `cap`.
fn delay(policy: &ForwardPolicy, n: u32) -> Duration {
    let full = policy
        .backoff_base
        .saturating_mul(1 << (n - 1).min(16))
        .min(policy.backoff_cap);
    full.mul_f64(rand::random::<f64>() * 0.5 + 0.5)
}
