//! The declarative format of a connector: where an API is, how a connection
//! authenticates to it, what settings a connection gives, and how calls to it are
//! paced, cached and retried. The built-in connectors (`builtin.rs`) and
//! `[[connectors]]` of `switchyard.toml` are both written in it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorDef {
    /// Lowercase letters, digits and `-`; what connections name.
    pub name: String,
    /// A human name for listings.
    #[serde(default)]
    pub title: Option<String>,
    /// `https://…` without a trailing `/`; may use `{config.NAME}` from the
    /// connection's settings (Moodle's `site`, TTN's `cluster`).
    pub base_url: String,
    #[serde(default)]
    pub auth: AuthDef,
    /// The settings a connection gives, by name.
    #[serde(default)]
    pub config: BTreeMap<String, ConfigField>,
    /// Headers sent with every call; values may use `{config.NAME}`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Query parameters added to every call, after the caller's; values may use
    /// `{config.NAME}` (Moodle's `moodlewsrestformat = "json"`).
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    pub rate_limits: Vec<RateLimitDef>,
    /// How long a successful GET is answered from the cache (`"1h"`); none by default.
    #[serde(default)]
    pub cache: Option<String>,
    #[serde(default)]
    pub retry: RetryDef,
    /// An API that answers errors with a 2xx status and a field in the body.
    #[serde(default)]
    pub error_in_body: Option<ErrorInBody>,
    /// Query parameters whose values are never logged (the call log, traces).
    #[serde(default)]
    pub redact_query: Vec<String>,
    /// Whether this connector may reach private-network addresses (a self-hosted API
    /// on the local network), whatever `connectors.allow_private_networks` says.
    #[serde(default)]
    pub allow_private_networks: bool,
    /// The longest a call may take, per attempt (`"30s"` by default).
    #[serde(default)]
    pub timeout: Option<String>,
}

/// One setting of a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConfigField {
    #[serde(default)]
    pub required: bool,
    /// A secret setting is given in `credentials`, sealed, never shown.
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub description: Option<String>,
    /// The values allowed, if only some are (TTN's clusters).
    #[serde(default)]
    pub one_of: Vec<String>,
    #[serde(default)]
    pub default: Option<String>,
}

/// How a connection authenticates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthDef {
    #[default]
    None,
    /// A key from the connection's credential `credential` (default `api_key`), sent
    /// in a header (`header`, with `format` such as `"Bearer {key}"`) or a query
    /// parameter (`query`).
    ApiKey {
        #[serde(default = "default_key_credential")]
        credential: String,
        #[serde(default)]
        header: Option<String>,
        #[serde(default)]
        format: Option<String>,
        #[serde(default)]
        query: Option<String>,
    },
    /// HTTP Basic from the credentials `username` and `password`.
    Basic,
    /// OAuth 2.0 authorization code with PKCE and refresh.
    Oauth2(OAuth2Def),
}

fn default_key_credential() -> String {
    "api_key".to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Def {
    pub authorization_url: String,
    pub token_url: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Extra parameters of the authorization URL (Google: `access_type = "offline"`,
    /// `prompt = "consent"`).
    #[serde(default)]
    pub authorization_params: BTreeMap<String, String>,
    /// S256 PKCE (on by default).
    #[serde(default = "yes")]
    pub pkce: bool,
    /// The OAuth client, or the environment variables that hold it.
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub client_id_env: Option<String>,
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// Whether a grant without a refresh token is refused (true when the authorization
    /// asks for offline access: `access_type=offline` or the `offline_access` scope).
    #[serde(default)]
    pub require_refresh_token: Option<bool>,
}

fn yes() -> bool {
    true
}

/// Which calls a limit applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LimitScope {
    /// Every connection of the connector shares it (Nominatim's 1/s for the whole
    /// application).
    #[default]
    Connector,
    /// Each connection has its own (Printify's 600/min per account).
    Connection,
}

/// `requests` per `per` (a duration such as `"1s"` or `"1m"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitDef {
    pub requests: u32,
    pub per: String,
    #[serde(default)]
    pub scope: LimitScope,
    /// Only calls whose path starts with this count.
    #[serde(default)]
    pub path_prefix: Option<String>,
}

/// Which answers are tried again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryDef {
    /// Statuses tried again (connection errors always are, for idempotent calls).
    #[serde(default = "default_retry_statuses")]
    pub statuses: Vec<u16>,
    /// Further attempts after the first.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// The longest `Retry-After` waited for; a longer one goes back to the caller.
    #[serde(default = "default_max_retry_after")]
    pub max_retry_after: String,
}

fn default_retry_statuses() -> Vec<u16> {
    vec![429, 500, 502, 503, 504]
}

fn default_retries() -> u32 {
    2
}

fn default_max_retry_after() -> String {
    "5s".to_string()
}

impl Default for RetryDef {
    fn default() -> Self {
        Self {
            statuses: default_retry_statuses(),
            retries: default_retries(),
            max_retry_after: default_max_retry_after(),
        }
    }
}

/// An error inside a 2xx answer: a JSON object with `field` is an error, described by
/// its `message` and `code` fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorInBody {
    pub field: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
}

/// A duration of the format (`"1s"`, `"1m"`, `"1h30m"`), or why it is not one.
pub fn duration(field: &str, value: &str) -> Result<Duration, String> {
    switchyard_core::duration::parse(value).map_err(|e| format!("{field}: {e}"))
}

/// Settings every connection may give whatever its connector: overrides of where the
/// API and its OAuth endpoints are (a self-hosted instance, a test upstream).
pub const OVERRIDES: &[&str] = &["base_url", "authorization_url", "token_url"];

type Settings = serde_json::Map<String, serde_json::Value>;

impl ConnectorDef {
    /// Whether the definition is usable: its name, URLs, durations, limits and the
    /// settings its templates use. The error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            return Err(format!(
                "name: {:?} must be 1 to 64 lowercase letters, digits or -",
                self.name
            ));
        }
        self.template("base_url", &self.base_url, true)?;
        for (header, value) in &self.headers {
            http::HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| format!("headers.{header}: not a header name"))?;
            self.template(&format!("headers.{header}"), value, false)?;
        }
        for (param, value) in &self.query {
            self.template(&format!("query.{param}"), value, false)?;
        }
        for (i, limit) in self.rate_limits.iter().enumerate() {
            let per = duration(&format!("rate_limits[{i}].per"), &limit.per)?;
            if limit.requests == 0 || per.is_zero() {
                return Err(format!(
                    "rate_limits[{i}]: requests and per must be above zero"
                ));
            }
            if limit.requests > 10_000 {
                return Err(format!(
                    "rate_limits[{i}].requests: at most 10000 per window; use a shorter window"
                ));
            }
            if let Some(prefix) = &limit.path_prefix
                && !prefix.starts_with('/')
            {
                return Err(format!("rate_limits[{i}].path_prefix: must start with /"));
            }
        }
        if let Some(cache) = &self.cache {
            duration("cache", cache)?;
        }
        if let Some(timeout) = &self.timeout {
            duration("timeout", timeout)?;
        }
        duration("retry.max_retry_after", &self.retry.max_retry_after)?;
        if self.retry.retries > 10 {
            return Err("retry.retries: at most 10".into());
        }
        if let Some(s) = self
            .retry
            .statuses
            .iter()
            .find(|s| !(400..=599).contains(*s))
        {
            return Err(format!("retry.statuses: {s} is not an error status"));
        }
        match &self.auth {
            AuthDef::ApiKey { header, query, .. } if header.is_none() && query.is_none() => {
                return Err(
                    "auth: an api_key goes in a header or a query parameter: give header or query"
                        .into(),
                );
            }
            AuthDef::ApiKey {
                header: Some(h), ..
            } if http::HeaderName::from_bytes(h.as_bytes()).is_err() => {
                return Err(format!("auth.header: {h:?} is not a header name"));
            }
            AuthDef::Oauth2(o) => {
                self.template("auth.authorization_url", &o.authorization_url, true)?;
                self.template("auth.token_url", &o.token_url, true)?;
            }
            _ => {}
        }
        for (field, setting) in &self.config {
            if let Some(d) = &setting.default
                && !setting.one_of.is_empty()
                && !setting.one_of.contains(d)
            {
                return Err(format!(
                    "config.{field}.default: {d:?} is not one of its values"
                ));
            }
        }
        Ok(())
    }

    /// A template's `{config.NAME}` must name a non-secret setting; a URL must be
    /// http(s) once filled.
    fn template(&self, field: &str, value: &str, url: bool) -> Result<(), String> {
        for name in super::target::placeholders(value) {
            match self.config.get(name) {
                Some(s) if s.secret => {
                    return Err(format!(
                        "{field}: {{config.{name}}} is a secret setting, which is never put in a URL or header"
                    ));
                }
                Some(_) => {}
                None => {
                    return Err(format!(
                        "{field}: {{config.{name}}} is not a setting in config"
                    ));
                }
            }
        }
        if url {
            let probe = super::target::placeholders(value).fold(value.to_string(), |v, n| {
                v.replace(&format!("{{config.{n}}}"), "https://x.example")
            });
            let probe = probe.replace("https://https://", "https://");
            if !(probe.starts_with("https://") || probe.starts_with("http://")) {
                return Err(format!("{field}: {value:?} is not an http(s) URL"));
            }
        }
        Ok(())
    }

    /// `config` with the defaults of the settings it leaves out.
    pub fn with_defaults(&self, mut config: Settings) -> Settings {
        for (name, setting) in &self.config {
            if let (false, Some(d)) = (setting.secret, &setting.default) {
                config
                    .entry(name.clone())
                    .or_insert_with(|| serde_json::Value::String(d.clone()));
            }
        }
        config
    }

    /// Whether a connection's settings and credentials suit the connector: each
    /// required one given, as text, among its allowed values, and nothing it does not
    /// know. The error starts with the field (`config.site …`).
    pub fn check_connection(
        &self,
        config: &Settings,
        credentials: &Settings,
    ) -> Result<(), String> {
        for (key, value) in config {
            let known = OVERRIDES.contains(&key.as_str())
                || self.config.get(key).is_some_and(|s| !s.secret);
            if !known {
                let names: Vec<&str> = self
                    .config
                    .iter()
                    .filter(|(_, s)| !s.secret)
                    .map(|(n, _)| n.as_str())
                    .chain(OVERRIDES.iter().copied())
                    .collect();
                let hint = if self.config.get(key).is_some_and(|s| s.secret) {
                    "it is secret: give it in credentials".to_string()
                } else {
                    format!("the settings are {}", names.join(", "))
                };
                return Err(format!(
                    "config.{key} is not a setting of {}: {hint}",
                    self.name
                ));
            }
            if !value.is_string() {
                return Err(format!("config.{key} must be text"));
            }
        }
        let auth_credentials: Vec<&str> = match &self.auth {
            AuthDef::None => vec![],
            AuthDef::ApiKey { credential, .. } => vec![credential.as_str()],
            AuthDef::Basic => vec!["username", "password"],
            AuthDef::Oauth2(_) => vec!["client_id", "client_secret"],
        };
        for (key, value) in credentials {
            let known = auth_credentials.contains(&key.as_str())
                || self.config.get(key).is_some_and(|s| s.secret);
            if !known {
                return Err(format!(
                    "credentials.{key} is not a credential of {}",
                    self.name
                ));
            }
            if value.as_str().is_none_or(|v| v.is_empty()) {
                return Err(format!("credentials.{key} must be non-empty text"));
            }
        }
        let required_auth: Vec<&str> = match &self.auth {
            AuthDef::ApiKey { credential, .. } => vec![credential.as_str()],
            AuthDef::Basic => vec!["username", "password"],
            _ => vec![],
        };
        for name in required_auth {
            if !credentials.contains_key(name) {
                return Err(format!("credentials.{name} is required by {}", self.name));
            }
        }
        for (name, setting) in &self.config {
            let (place, given) = if setting.secret {
                ("credentials", credentials.get(name))
            } else {
                ("config", config.get(name))
            };
            let given = given.and_then(|v| v.as_str());
            match given {
                None if setting.required && setting.default.is_none() => {
                    let about = setting
                        .description
                        .as_deref()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default();
                    return Err(format!(
                        "{place}.{name} is required by {}{about}",
                        self.name
                    ));
                }
                Some(v) if !setting.one_of.is_empty() && !setting.one_of.iter().any(|o| o == v) => {
                    return Err(format!(
                        "{place}.{name} {v:?} is not one of {}",
                        setting.one_of.join(", ")
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}
