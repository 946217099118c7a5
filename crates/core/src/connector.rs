//! Connections to third-party REST APIs: one set of credentials for one connector, the
//! single-use states of their OAuth flows, and the record of each proxied call.

use serde::{Deserialize, Serialize};

crate::text_enum! {
    /// Whether a connection can be used. `needs_auth`: it has no usable OAuth grant
    /// (never authorized, or the provider answered `invalid_grant`); `error`: the last
    /// refresh failed for another reason.
    pub enum ConnectionStatus {
        Ok = "ok",
        NeedsAuth = "needs_auth",
        Error = "error",
    }
}

/// A connection. Its credentials and OAuth tokens are sealed in the vault, never here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    /// `conn_…`.
    pub id: String,
    pub connector: String,
    pub name: Option<String>,
    /// The application's user the connection belongs to.
    pub external_id: Option<String>,
    /// The connection's non-secret settings (`site`, `cluster`, `user_agent`, overrides
    /// of `base_url` / `authorization_url` / `token_url`), a JSON object.
    pub config: serde_json::Value,
    pub status: ConnectionStatus,
    /// The scopes the provider granted, for OAuth connections.
    pub scopes: Vec<String>,
    /// When the access token expires (ms), for OAuth connections.
    pub expires_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One proxied call, as the call log keeps it. `path` carries the query with the
/// connector's secret parameters redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// `call_…`.
    pub id: String,
    pub connection_id: String,
    pub connector: String,
    pub method: String,
    pub path: String,
    /// The status answered to the caller; `None` when no upstream answer came.
    pub status: Option<u16>,
    /// Upstream attempts (0 for a cache hit or a request refused before sending).
    pub attempts: u32,
    /// `hit`, `miss` or `none` (not cacheable).
    pub cache: String,
    pub duration_ms: i64,
    /// Bytes of the answer's body.
    pub bytes: i64,
    pub error: Option<String>,
    pub at: i64,
}
