//! `[intake]` (how provider webhooks are taken in) and `[[sources]]` (sources declared
//! in the configuration file).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_core::Secret;
use switchyard_core::source::{SourceKind, SourceSettings};

use crate::config::HumanDuration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntakeConfig {
    /// Group-commit writer tasks; 0 picks 1 for SQLite and 2 for PostgreSQL (fewer,
    /// larger transactions cost the database less than more, smaller ones).
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

impl IntakeConfig {
    /// The first problem found, as `(key, what is expected)`.
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        if let Some(bad) = self
            .paypal_cert_urls
            .iter()
            .find(|u| !u.ends_with('/') || !u.contains("://"))
        {
            return Some((
                "intake.paypal_cert_urls",
                format!("{bad:?} must be a URL prefix ending in '/', e.g. https://api.paypal.com/"),
            ));
        }
        None
    }
}

/// A source declared in the configuration file (`[[sources]]`): the fields of
/// `POST /v1/sources`, plus an optional fixed `id`. A credential may be read from the
/// environment instead (`secret_env = "VAR"`, likewise `auth_token_env`,
/// `public_key_env`). Created or brought up to date at every start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "DeclaredFields")]
pub struct DeclaredSource {
    /// `src_` followed by 26 lowercase base32 characters; default: derived from the name,
    /// so the intake URL stays the same across restarts and nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    pub kind: SourceKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<Secret<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<Secret<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_env: Option<String>,
    /// With a changed credential: how long the replaced one is still accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_credential_grace: Option<HumanDuration>,
    #[serde(flatten)]
    pub settings: SourceSettings,
}

/// [`DeclaredSource`] as written: what is not one of its own fields must be a setting
/// (so that a misspelt key is refused rather than ignored).
#[derive(Deserialize)]
struct DeclaredFields {
    #[serde(default)]
    id: Option<String>,
    name: String,
    kind: SourceKind,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    secret: Option<Secret<String>>,
    #[serde(default)]
    auth_token: Option<Secret<String>>,
    #[serde(default)]
    public_key: Option<Secret<String>>,
    #[serde(default)]
    secret_env: Option<String>,
    #[serde(default)]
    auth_token_env: Option<String>,
    #[serde(default)]
    public_key_env: Option<String>,
    #[serde(default)]
    previous_credential_grace: Option<HumanDuration>,
    #[serde(flatten)]
    settings: serde_json::Map<String, serde_json::Value>,
}

impl TryFrom<DeclaredFields> for DeclaredSource {
    type Error = serde_json::Error;

    fn try_from(d: DeclaredFields) -> Result<Self, Self::Error> {
        Ok(DeclaredSource {
            settings: serde_json::from_value(serde_json::Value::Object(d.settings))?,
            id: d.id,
            name: d.name,
            kind: d.kind,
            enabled: d.enabled,
            secret: d.secret,
            auth_token: d.auth_token,
            public_key: d.public_key,
            secret_env: d.secret_env,
            auth_token_env: d.auth_token_env,
            public_key_env: d.public_key_env,
            previous_credential_grace: d.previous_credential_grace,
        })
    }
}
