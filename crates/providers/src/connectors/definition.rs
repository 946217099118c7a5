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
