//! `[intake]`: how provider webhooks are taken in.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::HumanDuration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntakeConfig {
    /// Group-commit writer tasks; 0 picks 1 for SQLite and 4 for PostgreSQL.
    pub writers: usize,
    /// How long a node keeps a loaded source (and its credentials) before reading it
    /// again; changes made through another node take effect after this.
    pub source_cache_ttl: HumanDuration,
    /// URL prefixes PayPal signing certificates may be fetched from.
    pub paypal_cert_urls: Vec<String>,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        Self {
            writers: 0,
            source_cache_ttl: HumanDuration(Duration::from_secs(5)),
            paypal_cert_urls: [
                "https://api.paypal.com/",
                "https://api-m.paypal.com/",
                "https://api.sandbox.paypal.com/",
                "https://api-m.sandbox.paypal.com/",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}
