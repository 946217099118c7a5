//! OAuth2 client credentials (RFC 6749 §4.4), as PayPal uses them: one token serves
//! every call until shortly before it expires; when it has, the first call to notice
//! fetches a new one while the others wait for it, so many concurrent calls cost one
//! token request.

use std::time::{Duration, Instant};

use serde::Deserialize;
use switchyard_core::Secret;
use tokio::sync::Mutex;

use super::{Failure, HttpApi, chain};

/// How long before its stated expiry a token is no longer used.
const MARGIN: Duration = Duration::from_secs(60);

pub(crate) struct ClientCredentials {
    /// The token endpoint's path under the API's base URL.
    path: String,
    client_id: String,
    client_secret: Secret<String>,
    cached: Mutex<Option<Token>>,
}

struct Token {
    value: Secret<String>,
    usable_until: Instant,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("path", &self.path)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Granted {
    access_token: String,
    /// Seconds.
    expires_in: Option<u64>,
}

impl ClientCredentials {
    pub fn new(path: &str, client_id: String, client_secret: Secret<String>) -> Self {
        Self {
            path: path.to_string(),
            client_id,
            client_secret,
            cached: Mutex::new(None),
        }
    }

    /// A token that has not expired, fetched if need be.
    pub(super) async fn token(&self, api: &HttpApi) -> Result<Secret<String>, Failure> {
        let mut cached = self.cached.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| t.usable_until > Instant::now()) {
            return Ok(t.value.clone());
        }
        let token = self.fetch(api).await?;
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    /// Drops `used` if it is still the cached token (the provider refused it).
    pub(super) async fn forget(&self, used: &Secret<String>) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|t| &t.value == used) {
            *cached = None;
        }
    }

    async fn fetch(&self, api: &HttpApi) -> Result<Token, Failure> {
        let url = format!("{}{}", api.base_url, self.path);
        let started = Instant::now();
        let response = api
            .client
            .post(&url)
            .timeout(api.timeout)
            .basic_auth(&self.client_id, Some(self.client_secret.expose()))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .map_err(|e| api.transport_failure(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| api.transport_failure(&e))?
            .to_vec();
        tracing::debug!(provider = %api.provider, url = %url, status = status.as_u16(),
            duration_ms = started.elapsed().as_millis() as u64, "provider token request");
        if !status.is_success() {
            return Err(Failure::Status {
                status,
                headers,
                body,
            });
        }
        let granted: Granted = serde_json::from_slice(&body).map_err(|e| Failure::Transport {
            timed_out: false,
            detail: format!("the token answer cannot be read: {}", chain(&e)),
        })?;
        let lifetime = Duration::from_secs(granted.expires_in.unwrap_or(300));
        let margin = MARGIN.min(lifetime / 10);
        Ok(Token {
            value: Secret::new(granted.access_token),
            usable_until: Instant::now() + lifetime - margin,
        })
    }
}
