//! What every handler can reach.

use std::sync::Arc;

use switchyard_core::metrics::Metrics;
use switchyard_store::Store;
use switchyard_store::vault::Vault;

use crate::config::Config;

#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub vault: Vault,
    /// Sends deliveries; routes tell it when an endpoint changes.
    pub delivery: crate::delivery::Dispatcher,
    pub metrics: Arc<Metrics>,
    pub config: Arc<Config>,
    pub intake: crate::intake::Intake,
    /// Email and SMS providers and the sender.
    pub messaging: crate::messaging::Messaging,
}
