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
