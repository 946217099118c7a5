//! The hub's configuration: one typed struct, loaded in layers — built-in defaults, then
//! `switchyard.toml` (or `--config PATH`), then `SWITCHYARD_*` environment variables
//! (`__` separates nested keys: `SWITCHYARD_LOG__FORMAT=json`), then command-line flags —
//! and validated before anything starts.

//! Each capability's section lives with the capability; this module puts them together
//! with the server-wide sections (listen address, store, log, HTTP, queue, vault).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_core::Secret;
use switchyard_store::{Backend, redact_url};

mod load;
mod queue;
mod units;

pub use crate::auth::{AuthConfig, HashingConfig, IssuerConfig, LimitsConfig, PoolConfig};
pub use crate::connectors::ConnectorsConfig;
pub use crate::credits::CreditsConfig;
pub use crate::delivery::DeliveryConfig;
pub use crate::intake::{DeclaredSource, IntakeConfig};
pub use crate::messaging::{EmailConfig, MessagesConfig, SmsConfig};
pub use crate::payments::PaymentsConfig;
pub use crate::storage::StorageConfig;
pub use load::Loaded;
pub use queue::QueueConfig;
pub use units::{ByteSize, HumanDuration};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8760";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://switchyard.db";
pub const DEFAULT_CONFIG_FILE: &str = "switchyard.toml";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// `sqlite://PATH` (embedded, single node) or `postgres://USER@HOST/DB` (multi-node).
    pub database_url: String,
    /// The hub's public base URL as providers and applications reach it
    /// (e.g. `https://hooks.example.com`); used to build intake URLs.
    pub public_url: Option<String>,
    /// Base64 of 32 random bytes; seals provider credentials and endpoint secrets.
    /// Required with PostgreSQL. Without it (SQLite only) a key file is generated.
    pub master_key: Option<Secret<String>>,
    /// Comma-separated earlier master keys, still accepted for opening values during a
    /// rotation.
    pub previous_master_keys: Option<Secret<String>>,
    /// Where the generated development master key lives. Default: beside the SQLite
    /// file, as `<database file>.master-key`.
    pub master_key_file: Option<PathBuf>,
    /// Create and print an admin API key when the store has none.
    pub bootstrap_key: bool,
    /// Where the hub keeps files of its own (the `default` local store, `local` stores
    /// without a `path`). Default: the SQLite file's directory, or `./switchyard-data`
    /// with PostgreSQL.
    pub data_dir: Option<PathBuf>,
    pub log: LogConfig,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub queue: QueueConfig,
    pub intake: IntakeConfig,
    pub delivery: DeliveryConfig,
    pub email: EmailConfig,
    pub sms: SmsConfig,
    pub messages: MessagesConfig,
    pub credits: CreditsConfig,
    pub payments: PaymentsConfig,
    pub storage: StorageConfig,
    pub auth: AuthConfig,
    /// Connectors to third-party APIs and their proxy. A file may list its definitions
    /// as `[[connectors]]` tables (read as `connectors.define`).
    pub connectors: ConnectorsConfig,
    /// Sources declared here (`[[sources]]` tables with the same fields as
    /// `POST /v1/sources`, plus an optional fixed `id`) are created or brought up to
    /// date at every start. A credential may be read from the environment instead:
    /// `secret_env = "VAR"` (likewise `auth_token_env`, `public_key_env`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<DeclaredSource>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `human` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `switchyard=debug,info`.
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest accepted request body, e.g. `1MiB`, `512KiB` or a number of bytes.
    pub body_limit: ByteSize,
    /// Longest time a request may take before the hub answers 503.
    pub request_timeout: HumanDuration,
    /// Time allowed for in-flight requests and running jobs at shutdown.
    pub shutdown_grace: HumanDuration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Connection pool size (per process).
    pub max_connections: u32,
    /// How long to wait for a pooled connection.
    pub acquire_timeout: HumanDuration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().expect("valid default"),
            database_url: DEFAULT_DATABASE_URL.into(),
            public_url: None,
            master_key: None,
            previous_master_keys: None,
            master_key_file: None,
            bootstrap_key: true,
            data_dir: None,
            log: LogConfig::default(),
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            queue: QueueConfig::default(),
            intake: IntakeConfig::default(),
            delivery: DeliveryConfig::default(),
            email: EmailConfig::default(),
            sms: SmsConfig::default(),
            messages: MessagesConfig::default(),
            credits: CreditsConfig::default(),
            payments: PaymentsConfig::default(),
            storage: StorageConfig::default(),
            auth: AuthConfig::default(),
            connectors: ConnectorsConfig::default(),
            sources: Vec::new(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".into(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit: ByteSize(1024 * 1024),
            request_timeout: HumanDuration(Duration::from_secs(30)),
            shutdown_grace: HumanDuration(Duration::from_secs(30)),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: HumanDuration(Duration::from_secs(10)),
        }
    }
}

/// Values given as command-line flags; they override every other layer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Checks what types alone cannot; every message names the key and what it expects.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        if let Err(e) = Backend::of(&self.database_url) {
            return invalid(format!("database_url: {e}"));
        }
        for (key, value) in [("master_key", &self.master_key)] {
            if let Some(v) = value
                && switchyard_core::vault::MasterKey::from_base64(v.expose()).is_err()
            {
                return invalid(format!(
                    "{key}: expected the base64 encoding of 32 random bytes (generate one with `switchyard vault generate-key`)"
                ));
            }
        }
        if let Some(list) = &self.previous_master_keys {
            for part in list.expose().split(',').filter(|p| !p.trim().is_empty()) {
                if switchyard_core::vault::MasterKey::from_base64(part).is_err() {
                    return invalid(
                        "previous_master_keys: expected comma-separated base64 encodings of 32 bytes".into(),
                    );
                }
            }
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return invalid(format!(
                "public_url: expected an http:// or https:// URL, got {url:?}"
            ));
        }
        if self.http.body_limit.0 == 0 {
            return invalid("http.body_limit: must be greater than zero".into());
        }
        if self.database.max_connections == 0 {
            return invalid("database.max_connections: must be at least 1".into());
        }
        if self.queue.concurrency == 0 {
            return invalid("queue.concurrency: must be at least 1".into());
        }
        if let Some((key, expected)) = self.delivery.problem() {
            return invalid(format!("{key}: {expected}"));
        }
        if let Some((key, expected)) = self.messages.problem() {
            return invalid(format!("{key}: {expected}"));
        }
        if let Some((key, expected)) = self.intake.problem() {
            return invalid(format!("{key}: {expected}"));
        }
        if let Some((key, expected)) = self.payments.problem() {
            return invalid(format!("{key}: {expected}"));
        }
        if let Some((key, expected)) = self.storage.problem() {
            return invalid(format!("{key}: {expected}"));
        }
        if let Some((key, expected)) = self.auth.problem() {
            return invalid(format!("{key}: {expected}"));
        }
        if let Some((key, expected)) = self.connectors.problem() {
            return invalid(format!("{key}: {expected}"));
        }
        if self.queue.lease.0 < Duration::from_secs(1) {
            return invalid("queue.lease: must be at least 1s".into());
        }
        if tracing_filter_is_invalid(&self.log.level) {
            return invalid(format!(
                "log.level: {:?} is not a valid filter (try \"info\" or \"debug\")",
                self.log.level
            ));
        }
        Ok(())
    }

    /// The effective configuration as TOML, with every secret redacted.
    pub fn redacted_toml(&self) -> String {
        // Secrets serialize as `[redacted]`; only the store URL's password is in plain text.
        let mut shown = self.clone();
        shown.database_url = redact_url(&self.database_url);
        toml::to_string_pretty(&shown).expect("config serializes")
    }

    pub fn backend(&self) -> Backend {
        Backend::of(&self.database_url).expect("validated")
    }

    /// `data_dir`, or its default: the SQLite file's directory, else `switchyard-data`.
    pub fn data_dir(&self) -> PathBuf {
        if let Some(dir) = &self.data_dir {
            return dir.clone();
        }
        match switchyard_store::sqlite::database_path(&self.database_url) {
            Some(db) => match db.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            },
            None => PathBuf::from("switchyard-data"),
        }
    }

    /// The hub's base URL as browsers reach it: `public_url`, else the listen address.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }
}

fn tracing_filter_is_invalid(level: &str) -> bool {
    tracing_subscriber::EnvFilter::try_new(level).is_err()
}
