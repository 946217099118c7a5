//! Account credits: balances per account and channel, and the ledger that sums to them
//! (`/v1/accounts/{account}/credits`). Messaging reserves credits when it accepts a
//! message; this capability grants them and shows them.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use switchyard_store::Store;
use utoipa_axum::router::OpenApiRouter;

mod routes;

/// `[credits]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CreditsConfig {
    /// Refuse sends for an account with no credit record (402). Off: such accounts are
    /// not metered.
    pub required: bool,
}

/// The credit routes.
pub(crate) fn router(store: Arc<dyn Store>) -> OpenApiRouter {
    routes::router().with_state(store)
}
