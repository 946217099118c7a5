//! The provider registry: the providers of every capability that sends through
//! providers (email and SMS now), the ones in use (`GET /v1/providers`), and the ones
//! configured through the API (`PUT`/`DELETE /v1/providers/{capability}/{name}`), whose
//! settings, credentials included, are sealed in the vault and never shown again. A
//! capability plugs in with a [`Registrant`].

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use switchyard_core::message::Channel;
use switchyard_core::provider::Capability;
use switchyard_store::Store;
use switchyard_store::vault::Vault;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

mod routes;

/// Settings that do not make a provider.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SettingsError {
    #[error("{0}")]
    Shape(#[from] serde_json::Error),
    #[error("{0}")]
    Provider(#[from] switchyard_providers::ConfigError),
    #[error("{0}")]
    Invalid(String),
}

/// A provider as listed; never its settings.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ProviderInfo {
    pub(crate) capability: Capability,
    /// For messaging providers: the channel (the same as `capability`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) channel: Option<Channel>,
    pub(crate) name: String,
    pub(crate) kind: &'static str,
    /// Lower is tried first.
    pub(crate) priority: i64,
    /// `config` (the configuration file), `api` (`PUT /v1/providers/…`) or `default`.
    pub(crate) origin: &'static str,
    /// Whether its circuit breaker is open (the provider is being skipped).
    pub(crate) breaker_open: bool,
}

/// A capability's providers, as the registry sees them.
#[async_trait]
pub(crate) trait Registrant: Send + Sync + std::fmt::Debug {
    fn capability(&self) -> Capability;
    /// Whether the configuration file defines a provider of this name (the API may not
    /// change those).
    fn is_configured(&self, name: &str) -> bool;
    /// Builds a provider from `settings` (`name` included) without keeping it: its
    /// kind and priority, or what is wrong.
    fn check(&self, settings: &serde_json::Value) -> Result<(&'static str, i64), SettingsError>;
    /// A provider of this capability changed through the API on this node.
    fn changed(&self);
    /// The providers in use, in the order they are tried.
    async fn in_use(&self) -> Vec<ProviderInfo>;
}

/// The registry's routes.
#[derive(Debug, Clone)]
pub(crate) struct Registry {
    store: Arc<dyn Store>,
    vault: Vault,
    registrants: Arc<[Arc<dyn Registrant>]>,
}

impl Registry {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        vault: Vault,
        registrants: Vec<Arc<dyn Registrant>>,
    ) -> Self {
        Self {
            store,
            vault,
            registrants: registrants.into(),
        }
    }

    /// The `/v1/providers` routes.
    pub(crate) fn api(&self) -> OpenApiRouter {
        routes::router().with_state(self.clone())
    }

    fn registrant(&self, capability: Capability) -> Option<&Arc<dyn Registrant>> {
        self.registrants
            .iter()
            .find(|r| r.capability() == capability)
    }
}

/// Seals `body` (with `name` from the path) as the settings of the provider `name` of
/// `registrant`'s capability and records it; `true` when it was created. A provider of
/// the configuration file is 409; settings that do not build one are 400.
pub(crate) async fn configure(
    store: &dyn Store,
    vault: &Vault,
    registrant: &dyn Registrant,
    name: &str,
    body: serde_json::Map<String, serde_json::Value>,
    by: &crate::http::Principal,
) -> Result<bool, crate::http::ApiError> {
    use crate::http::ApiError;
    let capability = registrant.capability();
    if registrant.is_configured(name) {
        return Err(ApiError::conflict(format!(
            "{name:?} is defined in the configuration file; change it there"
        )));
    }
    if body.get("name").is_some_and(|n| n.as_str() != Some(name)) {
        return Err(ApiError::invalid_field(
            "name",
            "differs from the name in the path",
        ));
    }
    let mut settings = body;
    settings.insert("name".into(), serde_json::Value::String(name.to_string()));
    let settings = serde_json::Value::Object(settings);
    let (kind, priority) = registrant
        .check(&settings)
        .map_err(|e| ApiError::invalid_field("settings", e.to_string()))?;
    let bytes = serde_json::to_vec(&settings).map_err(ApiError::internal)?;
    vault
        .put(
            &switchyard_store::vault::ids::provider_settings(capability.as_str(), name),
            &bytes,
        )
        .await?;
    let now = switchyard_core::time::now_ms();
    let created = store
        .put_provider(&switchyard_core::provider::ProviderRecord {
            capability,
            name: name.to_string(),
            kind: kind.into(),
            priority,
            created_at: now,
            updated_at: now,
        })
        .await?;
    registrant.changed();
    tracing::info!(capability = capability.as_str(), provider = %name, kind, by = %by.key_id,
        "provider configured through the API");
    Ok(created)
}

/// Removes a provider configured through the API, and its sealed settings.
pub(crate) async fn remove(
    store: &dyn Store,
    vault: &Vault,
    registrant: &dyn Registrant,
    name: &str,
) -> Result<(), crate::http::ApiError> {
    use crate::http::ApiError;
    let capability = registrant.capability();
    if registrant.is_configured(name) {
        return Err(ApiError::conflict(format!(
            "{name:?} is defined in the configuration file; remove it there"
        )));
    }
    if !store.delete_provider(capability, name).await? {
        return Err(ApiError::not_found("provider", name));
    }
    vault
        .delete(&switchyard_store::vault::ids::provider_settings(
            capability.as_str(),
            name,
        ))
        .await?;
    registrant.changed();
    Ok(())
}
