//! `[connectors]`: connector definitions added to (or changing) the built-in ones, where
//! OAuth flows may return to, and how the proxy paces, caches and logs calls.
//!
//! A file may write its definitions as `[[connectors]]` tables; loading reads them as
//! `connectors.define`, so `[connectors]` settings (or
//! `SWITCHYARD_CONNECTORS__ALLOW_PRIVATE_NETWORKS`) and definitions combine.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{ByteSize, HumanDuration};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectorsConfig {
    /// Connector definitions in the connector format (`name`, `base_url`, `auth`,
    /// `config`, `headers`, `query`, `rate_limits`, `cache`, `retry`, `error_in_body`,
    /// `redact_query`…). One named like a built-in connector changes only the fields it
    /// gives (tables merge key by key).
    pub define: Vec<serde_json::Value>,
    /// Let every connector reach loopback, private and link-local addresses (a
    /// self-hosted API on the local network). A connector may allow it for itself with
    /// `allow_private_networks = true`.
    pub allow_private_networks: bool,
    /// Where an OAuth flow may send the browser back to: URLs that `return_to` must
    /// start with (`https://app.example.com/settings/`). Empty: `return_to` is refused
    /// and the callback answers a short JSON document instead.
    pub return_to: Vec<String>,
    /// The longest a proxied call waits for a slot under a rate limit before it is
    /// answered 429 with `Retry-After`.
    pub max_rate_wait: HumanDuration,
    /// Answers kept in each node's cache of successful GETs.
    pub cache_entries: usize,
    /// Larger answers are not cached.
    pub cache_max_body: ByteSize,
    /// The largest request body the proxy forwards (larger: 413).
    pub max_body: ByteSize,
    /// How long the call log keeps a call.
    pub call_log_ttl: HumanDuration,
    /// The longest an upstream attempt may take when the connector does not say.
    pub timeout: HumanDuration,
    /// Renew an OAuth access token this long before it expires.
    pub refresh_before: HumanDuration,
}

impl Default for ConnectorsConfig {
    fn default() -> Self {
        Self {
            define: Vec::new(),
            allow_private_networks: false,
            return_to: Vec::new(),
            max_rate_wait: HumanDuration(Duration::from_secs(2)),
            cache_entries: 10_000,
            cache_max_body: ByteSize(1 << 20),
            max_body: ByteSize(10 << 20),
            call_log_ttl: HumanDuration(Duration::from_secs(7 * 24 * 3600)),
            timeout: HumanDuration(Duration::from_secs(10)),
            refresh_before: HumanDuration(Duration::from_secs(60)),
        }
    }
}

impl ConnectorsConfig {
    /// The first problem found, as `(key, what is expected)`.
    pub(crate) fn problem(&self) -> Option<(String, String)> {
        for (i, prefix) in self.return_to.iter().enumerate() {
            let ok = reqwest::Url::parse(prefix)
                .ok()
                .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                && prefix.ends_with('/');
            if !ok {
                return Some((
                    format!("connectors.return_to[{i}]"),
                    "an http(s) URL ending in / such as \"https://app.example.com/\"".into(),
                ));
            }
        }
        if self.cache_entries == 0 {
            return Some(("connectors.cache_entries".into(), "at least 1".into()));
        }
        None
    }
}
