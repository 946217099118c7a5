//! OAuth access tokens of connections: sealed in the vault with their refresh token,
//! kept briefly per node, and refreshed shortly before they expire or once after the
//! upstream refused one — one refresh at a time per connection across every node (a
//! mutex on this node, then the store's lock; whoever holds it reads the tokens again
//! and refreshes only if that is still needed), so concurrent calls never race a
//! rotating refresh token.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use switchyard_core::Secret;
use switchyard_core::connector::{Connection, ConnectionStatus};
use switchyard_core::time::now_ms;
use switchyard_providers::auth::oidc::Tokens as Answer;
use switchyard_store::connectors::ConnectionState;
use switchyard_store::vault::ids;

use super::Connectors;
use super::catalog::Connector;
use crate::http::ApiError;
use crate::runtime::ttl::TtlCache;

/// How long a node waits for another node's refresh before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// How long a refresh may hold the lock if its node stops mid-way.
const LOCK_HOLD: Duration = Duration::from_secs(30);
/// How long a node keeps a token it read, at most.
const KEEP: Duration = Duration::from_secs(300);

/// A connection's grant, as sealed.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Grant {
    pub(super) access_token: String,
    #[serde(default)]
    pub(super) refresh_token: Option<String>,
    /// Epoch ms; `None` when the provider gave no lifetime.
    #[serde(default)]
    pub(super) expires_at: Option<i64>,
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grant")
            .field("expires_at", &self.expires_at)
            .field("refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

impl Grant {
    /// A grant from a token endpoint's answer; `previous` keeps its refresh token when
    /// the answer has none (providers that do not rotate them).
    pub(super) fn from_answer(answer: &Answer, previous: Option<&Grant>, now: i64) -> Option<Self> {
        let access_token = answer.access_token.as_ref()?.expose().clone();
        let refresh_token = answer
            .refresh_token
            .as_ref()
            .map(|t| t.expose().clone())
            .or_else(|| previous.and_then(|p| p.refresh_token.clone()));
        let expires_at = answer.expires_in.map(|s| {
            now.saturating_add(
                i64::try_from(s)
                    .unwrap_or(i64::MAX / 2)
                    .saturating_mul(1000),
            )
        });
        Some(Self {
            access_token,
            refresh_token,
            expires_at,
        })
    }

    fn fresh(&self, now: i64, before_ms: i64) -> bool {
        self.expires_at.is_none_or(|at| at - before_ms > now)
    }
}

/// Why no token could be had.
#[derive(Debug)]
pub(super) enum TokenProblem {
    /// Not authorized, or the grant was refused: authorize again.
    NeedsAuth(String),
    /// The refresh failed otherwise (the token endpoint is down…).
    Failed(String),
}

impl From<TokenProblem> for ApiError {
    fn from(p: TokenProblem) -> Self {
        match p {
            TokenProblem::NeedsAuth(d) => {
                ApiError::new(StatusCode::CONFLICT, "connection_needs_auth", d)
            }
            TokenProblem::Failed(d) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "token_refresh_failed", d)
            }
        }
    }
}

/// This node's tokens and refresh mutexes.
pub(super) struct Tokens {
    kept: TtlCache<Arc<Grant>>,
    refreshing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    owner: String,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens").finish_non_exhaustive()
    }
}

impl Default for Tokens {
    fn default() -> Self {
        Self {
            kept: TtlCache::new(10_000),
            refreshing: Mutex::default(),
            owner: switchyard_core::new_id("node"),
        }
    }
}

impl Tokens {
    pub(super) fn forget(&self, id: &str) {
        self.kept.remove(id);
    }

    fn mutex(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.refreshing.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, m| Arc::strong_count(m) > 1);
        }
        map.entry(id.to_string()).or_default().clone()
    }
}

impl Connectors {
    fn refresh_before_ms(&self) -> i64 {
        i64::try_from(self.inner.config.refresh_before.0.as_millis()).unwrap_or(60_000)
    }

    pub(super) async fn grant(&self, id: &str) -> Result<Option<Grant>, ApiError> {
        let Some(sealed) = self
            .inner
            .vault
            .get(&ids::connection_tokens(id))
            .await
            .map_err(ApiError::internal)?
        else {
            return Ok(None);
        };
        serde_json::from_slice(sealed.expose())
            .map(Some)
            .map_err(|e| ApiError::internal(e.to_string()))
    }

    pub(super) async fn save_grant(&self, id: &str, grant: &Grant) -> Result<(), ApiError> {
        let bytes = serde_json::to_vec(grant).map_err(|e| ApiError::internal(e.to_string()))?;
        self.inner
            .vault
            .put(&ids::connection_tokens(id), &bytes)
            .await
            .map_err(ApiError::internal)?;
        self.keep(id, grant);
        Ok(())
    }

    fn keep(&self, id: &str, grant: &Grant) {
        let now = now_ms();
        let left = grant
            .expires_at
            .map(|at| at - self.refresh_before_ms() - now)
            .map_or(KEEP, |ms| {
                Duration::from_millis(u64::try_from(ms).unwrap_or(0)).min(KEEP)
            });
        if !left.is_zero() {
            self.inner
                .tokens
                .kept
                .insert(id, Arc::new(grant.clone()), left);
        }
    }

    /// An access token for `connection` to send; `rejected` is one the upstream just
    /// answered 401 to, which is not handed out again.
    pub(super) async fn access_token(
        &self,
        connection: &Connection,
        connector: &Connector,
        rejected: Option<&str>,
    ) -> Result<Secret<String>, ApiError> {
        let id = connection.id.as_str();
        let usable = |g: &Grant, now: i64| {
            g.fresh(now, self.refresh_before_ms()) && rejected != Some(g.access_token.as_str())
        };
        if let Some(g) = self.inner.tokens.kept.get(id)
            && usable(&g, now_ms())
        {
            return Ok(Secret::new(g.access_token.clone()));
        }
        if let Some(g) = self.grant(id).await?
            && usable(&g, now_ms())
        {
            self.keep(id, &g);
            return Ok(Secret::new(g.access_token));
        }
        let mutex = self.inner.tokens.mutex(id);
        let _one_here = mutex.lock().await;
        // A refresh on this node may have finished while this call waited.
        if let Some(g) = self.inner.tokens.kept.get(id)
            && usable(&g, now_ms())
        {
            return Ok(Secret::new(g.access_token.clone()));
        }
        let owner = &self.inner.tokens.owner;
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        loop {
            let now = now_ms();
            let until = now + i64::try_from(LOCK_HOLD.as_millis()).unwrap_or(30_000);
            if self.store().lock_connection(id, owner, now, until).await? {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(TokenProblem::Failed(
                    "another refresh of this connection is taking too long".into(),
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let result = self.refresh_locked(connection, connector, &usable).await;
        if let Err(e) = self.store().unlock_connection(id, owner).await {
            tracing::warn!(connection_id = id, error = %e, "releasing a refresh lock failed; it expires on its own");
        }
        result
    }

    /// With the store's lock held: the tokens read again, refreshed only if still needed.
    async fn refresh_locked(
        &self,
        connection: &Connection,
        connector: &Connector,
        usable: &(dyn Fn(&Grant, i64) -> bool + Sync),
    ) -> Result<Secret<String>, ApiError> {
        let id = connection.id.as_str();
        let Some(current) = self.grant(id).await? else {
            return Err(TokenProblem::NeedsAuth(
                "the connection is not authorized yet: POST /v1/connections/{id}/authorize".into(),
            )
            .into());
        };
        if usable(&current, now_ms()) {
            self.keep(id, &current);
            return Ok(Secret::new(current.access_token));
        }
        let Some(refresh_token) = current.refresh_token.clone() else {
            return Err(self
                .refused(
                    connection,
                    "the access token expired and the grant has no refresh token",
                )
                .await);
        };
        let (client_id, client_secret, token_url) =
            self.oauth_client(connection, connector).await?;
        let answer = switchyard_providers::connectors::oauth::refresh(
            self.client(connector),
            &token_url,
            &client_id,
            &client_secret,
            &Secret::new(refresh_token),
            connector.policy.timeout,
        )
        .await;
        let now = now_ms();
        match answer {
            Ok(answer) => {
                let Some(grant) = Grant::from_answer(&answer, Some(&current), now) else {
                    return Err(self
                        .failed(connection, "the token endpoint answered no access_token")
                        .await);
                };
                self.save_grant(id, &grant).await?;
                let scopes = answer.scope.as_deref().map(split_scopes);
                let state = ConnectionState {
                    status: ConnectionStatus::Ok,
                    scopes: scopes.as_deref(),
                    expires_at: Some(grant.expires_at),
                    last_error: None,
                    now,
                };
                self.store().set_connection_state(id, &state).await?;
                self.inner
                    .metrics
                    .connector_refreshes
                    .inc(&[&connection.connector, "ok"]);
                Ok(Secret::new(grant.access_token))
            }
            Err(e) if e.error.as_deref() == Some("invalid_grant") => Err(self
                .refused(
                    connection,
                    &format!(
                        "the refresh token was refused (invalid_grant): {}",
                        e.detail
                    ),
                )
                .await),
            Err(e) => Err(self
                .failed(
                    connection,
                    &format!("refreshing the access token failed: {}", e.detail),
                )
                .await),
        }
    }

    /// The OAuth client (the connection's own, else the connector's) and token URL.
    pub(super) async fn oauth_client(
        &self,
        connection: &Connection,
        connector: &Connector,
    ) -> Result<(String, Secret<String>, String), ApiError> {
        let Some(oauth) = connector.oauth() else {
            return Err(ApiError::bad_request(
                "not_oauth",
                "the connector does not use OAuth 2.0",
            ));
        };
        let credentials = self.credentials(&connection.id).await?;
        let own = credentials
            .get("client_id")
            .and_then(|v| v.as_str())
            .zip(credentials.get("client_secret").and_then(|v| v.as_str()))
            .map(|(id, secret)| (id.to_string(), Secret::new(secret.to_string())));
        let overridden = connection
            .config
            .get("token_url")
            .and_then(|v| v.as_str())
            .is_some();
        let (client_id, client_secret) = match own {
            Some(c) => c,
            // The connector's own client is only ever sent to the connector's own token
            // endpoint.
            None if overridden => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "no_oauth_client",
                    "a connection with its own token_url needs its own client_id and client_secret credentials",
                ));
            }
            None => match &connector.client {
                Some(c) => (c.id.clone(), c.secret.clone()),
                None => {
                    let hint = oauth
                        .client_id_env
                        .as_deref()
                        .map(|v| {
                            format!(
                                "set {v} and {}",
                                oauth.client_secret_env.as_deref().unwrap_or("its secret")
                            )
                        })
                        .unwrap_or_else(|| {
                            "give client_id and client_secret in the connector's settings".into()
                        });
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "no_oauth_client",
                        format!(
                            "the connector {} has no OAuth client: {hint}, or give the connection client_id and client_secret credentials",
                            connector.def.name
                        ),
                    ));
                }
            },
        };
        let token_url = connection
            .config
            .get("token_url")
            .and_then(|v| v.as_str())
            .map_or_else(|| oauth.token_url.clone(), str::to_string);
        let token_url = switchyard_providers::connectors::target::fill(
            &token_url,
            connection
                .config
                .as_object()
                .unwrap_or(&serde_json::Map::new()),
        )
        .map_err(|e| ApiError::invalid_field("config.token_url", e))?;
        Ok((client_id, client_secret, token_url))
    }

    /// The grant was refused: `needs_auth`, `connection.needs_auth` published.
    async fn refused(&self, connection: &Connection, detail: &str) -> ApiError {
        tracing::warn!(connection_id = %connection.id, connector = %connection.connector, detail, "connection needs authorization again");
        if let Err(e) = self
            .mark(connection, ConnectionStatus::NeedsAuth, detail, "refused")
            .await
        {
            return e;
        }
        self.inner.tokens.forget(&connection.id);
        self.inner.targets.forget(&connection.id);
        self.needs_auth(connection, detail).await;
        TokenProblem::NeedsAuth(detail.to_string()).into()
    }

    async fn failed(&self, connection: &Connection, detail: &str) -> ApiError {
        tracing::warn!(connection_id = %connection.id, connector = %connection.connector, detail, "refreshing a connection's token failed");
        if let Err(e) = self
            .mark(connection, ConnectionStatus::Error, detail, "failed")
            .await
        {
            return e;
        }
        TokenProblem::Failed(detail.to_string()).into()
    }

    /// Records a refresh that did not give a token: the connection's status and error,
    /// and the refresh's outcome in the metrics.
    async fn mark(
        &self,
        connection: &Connection,
        status: ConnectionStatus,
        detail: &str,
        outcome: &str,
    ) -> Result<(), ApiError> {
        let state = ConnectionState {
            status,
            scopes: None,
            expires_at: None,
            last_error: Some(detail),
            now: now_ms(),
        };
        self.store()
            .set_connection_state(&connection.id, &state)
            .await?;
        self.inner
            .metrics
            .connector_refreshes
            .inc(&[&connection.connector, outcome]);
        Ok(())
    }
}

/// A token endpoint's `scope`: space-separated.
pub(super) fn split_scopes(scope: &str) -> Vec<String> {
    scope.split_whitespace().map(str::to_string).collect()
}
