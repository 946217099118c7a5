//! The provider registry: providers configured through the API, for every capability
//! that sends through providers. A record is what may be listed; the settings,
//! credentials included, are sealed in the vault.

use async_trait::async_trait;
use switchyard_core::provider::{Capability, ProviderRecord};

use crate::Result;

pub(crate) mod sql;

#[async_trait]
pub trait ProviderStore: Send + Sync {
    /// Creates or replaces the record of `(capability, name)`; `true` when it was
    /// created.
    async fn put_provider(&self, record: &ProviderRecord) -> Result<bool>;
    /// Every record, by capability, priority and name.
    async fn list_providers(&self) -> Result<Vec<ProviderRecord>>;
    async fn delete_provider(&self, capability: Capability, name: &str) -> Result<bool>;
}
