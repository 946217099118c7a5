//! The stores in use: those of the configuration file (or the `default` local store
//! when it has none), built at start, and those configured through the API (sealed in
//! the vault, read again every few seconds, at once after a change on this node).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use switchyard_core::provider::Capability;
use switchyard_core::storage::Visibility;
use switchyard_providers::storage::{Backend, StoreConfig, StoreKind};
use switchyard_store::vault::ids;
use utoipa::ToSchema;

use super::{Storage, StorageError};
use crate::http::ApiError;
use crate::providers::{ProviderInfo, Registrant, SettingsError};
use crate::runtime::refreshed::Refreshed;

/// How long a node uses the stores configured through the API before reading them
/// again (changes made on this node apply at once).
const STORE_TTL: Duration = Duration::from_secs(5);

/// Why `name` cannot name a store.
pub(crate) fn name_problem(name: &str) -> Option<&'static str> {
    if !crate::http::validate::is_name(name, 64) {
        return Some("1 to 64 letters, digits, _ - or .");
    }
    (name == "stores").then_some("`stores` is the name of the stores' own route")
}

/// Builds a store configured through the API. Unlike the configuration file's, it
/// reads nothing from the process environment (an API caller must not be able to send
/// the host's credentials to an endpoint of its choosing), and a `local` store's `path`
/// is a directory under `<data_dir>/storage/`.
pub(crate) fn build_api(
    config: &StoreConfig,
    data_dir: &std::path::Path,
) -> Result<Backend, SettingsError> {
    let mut config = config.clone();
    if config.env_prefix.is_some() {
        return Err(SettingsError::Invalid(
            "env_prefix is for the configuration file; give the credentials themselves".into(),
        ));
    }
    if let Some(path) = &config.path {
        let relative = std::path::Path::new(path);
        let inside = relative
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside {
            return Err(SettingsError::Invalid(format!(
                "path: {path:?} must be a relative directory without `..`; it is placed under the data directory's storage/"
            )));
        }
        config.path = Some(
            data_dir
                .join("storage")
                .join(relative)
                .display()
                .to_string(),
        );
    }
    Ok(config.build_with_env(data_dir, &|_| None)?)
}

/// One store in use.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) config: Arc<StoreConfig>,
    pub(crate) backend: Backend,
    /// `config`, `api` or `default`.
    pub(crate) origin: &'static str,
}

impl Entry {
    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    /// Whether the hub signs this store's URLs itself (no backend scheme).
    pub(crate) fn hub_signed(&self) -> bool {
        self.backend.signer.is_none()
    }

    /// The content type to give the backend, for backends that keep one.
    pub(crate) fn keeps_attributes(&self) -> bool {
        !matches!(self.backend.kind, StoreKind::Local | StoreKind::Memory)
    }
}

/// A store as listed; never its credentials.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct StoreView {
    name: String,
    kind: StoreKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    bucket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_endpoint: Option<String>,
    /// Bytes; `null`: no limit of the store's own.
    max_size: Option<u64>,
    /// MIME patterns; empty: any type.
    allowed_types: Vec<String>,
    default_visibility: Visibility,
    public_prefixes: Vec<String>,
    /// `config` (the configuration file), `api` or `default`.
    origin: &'static str,
}

impl From<&Entry> for StoreView {
    fn from(e: &Entry) -> Self {
        let c = &e.config;
        StoreView {
            name: c.name.clone(),
            kind: c.kind,
            bucket: c.bucket.clone(),
            prefix: c.prefix.clone(),
            public_endpoint: c.public_endpoint.clone(),
            max_size: c.max_size,
            allowed_types: c.allowed_types.clone(),
            default_visibility: c.default_visibility,
            public_prefixes: c.public_prefixes.clone(),
            origin: e.origin,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Stores {
    configured: Vec<Entry>,
    api: Refreshed<Vec<Entry>>,
    /// API stores built so far, by name, with the version they were built from.
    built: Mutex<HashMap<String, (i64, Entry)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Stores {
    pub(crate) fn from_config(
        configs: &[StoreConfig],
        data_dir: &std::path::Path,
    ) -> Result<Self, StorageError> {
        let mut configured = Vec::new();
        for (index, c) in configs.iter().enumerate() {
            let backend = c
                .build(data_dir)
                .map_err(|error| StorageError::Store { index, error })?;
            configured.push(Entry {
                config: Arc::new(c.clone()),
                backend,
                origin: "config",
            });
        }
        if configs.is_empty() {
            let c: StoreConfig = serde_json::from_value(serde_json::json!({
                "name": "default", "kind": "local"
            }))
            .expect("the default store's settings are valid");
            let backend = c
                .build(data_dir)
                .map_err(|error| StorageError::Store { index: 0, error })?;
            configured.push(Entry {
                config: Arc::new(c),
                backend,
                origin: "default",
            });
        }
        Ok(Self {
            configured,
            api: Refreshed::new(STORE_TTL),
            built: Mutex::default(),
        })
    }

    fn invalidate(&self) {
        self.api.invalidate();
    }
}

impl Storage {
    /// Every store in use, reading the API stores again when older than [`STORE_TTL`].
    pub(crate) async fn entries(&self) -> Vec<Entry> {
        let s = &self.inner.stores;
        let api = s
            .api
            .get(
                "the stores configured through the API",
                self.load_api_stores(),
            )
            .await;
        let mut all = s.configured.clone();
        all.extend(
            api.iter()
                .filter(|a| !s.configured.iter().any(|c| c.name() == a.name()))
                .cloned(),
        );
        all
    }

    async fn load_api_stores(&self) -> Result<Vec<Entry>, LoadError> {
        let inner = &self.inner;
        let records = inner.store.list_providers().await?;
        let mut out = Vec::new();
        let mut keep = HashMap::new();
        for r in records
            .into_iter()
            .filter(|r| r.capability == Capability::Storage)
        {
            let cached = lock(&inner.stores.built).get(&r.name).cloned();
            let entry = match cached {
                Some((version, entry)) if version == r.updated_at => entry,
                _ => {
                    let key = ids::provider_settings(r.capability.as_str(), &r.name);
                    let Some(sealed) = inner.vault.get(&key).await? else {
                        tracing::warn!(store = %r.name, "store settings missing from the vault; skipped");
                        continue;
                    };
                    let built = serde_json::from_slice::<StoreConfig>(sealed.expose())
                        .map_err(SettingsError::from)
                        .and_then(|c| Ok((build_api(&c, &inner.data_dir)?, c)));
                    match built {
                        Ok((backend, config)) => Entry {
                            config: Arc::new(config),
                            backend,
                            origin: "api",
                        },
                        Err(e) => {
                            tracing::error!(store = %r.name, error = %e, "stored store settings cannot be built; skipped");
                            continue;
                        }
                    }
                }
            };
            keep.insert(r.name.clone(), (r.updated_at, entry.clone()));
            out.push(entry);
        }
        *lock(&inner.stores.built) = keep;
        Ok(out)
    }

    /// The store a route names; 404 `not_found` naming the stores there are.
    pub(crate) async fn entry(&self, name: &str) -> Result<Entry, ApiError> {
        let entries = self.entries().await;
        entries
            .iter()
            .find(|e| e.name() == name)
            .cloned()
            .ok_or_else(|| {
                let known: Vec<&str> = entries.iter().map(Entry::name).collect();
                ApiError::new(
                    http::StatusCode::NOT_FOUND,
                    "not_found",
                    format!(
                        "no store is named {name:?}; configured: {}",
                        known.join(", ")
                    ),
                )
            })
    }

    pub(crate) fn is_configured(&self, name: &str) -> bool {
        self.inner
            .stores
            .configured
            .iter()
            .any(|e| e.name() == name)
    }

    pub(crate) fn invalidate(&self) {
        self.inner.stores.invalidate();
    }
}

/// The stores configured through the API could not be read.
#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error(transparent)]
    Store(#[from] switchyard_store::StoreError),
    #[error(transparent)]
    Vault(#[from] switchyard_store::vault::SecretError),
}

/// The stores, as the provider registry sees them.
#[derive(Debug)]
pub(crate) struct Registered(pub(crate) Storage);

#[async_trait]
impl Registrant for Registered {
    fn capability(&self) -> Capability {
        Capability::Storage
    }

    fn is_configured(&self, name: &str) -> bool {
        self.0.is_configured(name)
    }

    fn check(&self, settings: &serde_json::Value) -> Result<(&'static str, i64), SettingsError> {
        let config: StoreConfig = serde_json::from_value(settings.clone())?;
        if let Some(why) = name_problem(&config.name) {
            return Err(SettingsError::Invalid(why.into()));
        }
        build_api(&config, &self.0.inner.data_dir)?;
        Ok((config.kind.as_str(), 0))
    }

    fn changed(&self) {
        self.0.invalidate();
    }

    async fn in_use(&self) -> Vec<ProviderInfo> {
        self.0
            .entries()
            .await
            .iter()
            .map(|e| ProviderInfo {
                capability: Capability::Storage,
                channel: None,
                name: e.name().to_string(),
                kind: e.config.kind.as_str(),
                priority: 0,
                origin: e.origin,
                breaker_open: false,
            })
            .collect()
    }
}
