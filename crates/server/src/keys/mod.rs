//! API keys: the `/v1/keys` routes, the authentication of every `/v1` request, and the
//! key operations the command line shares.

use std::sync::Arc;

use switchyard_store::Store;
use utoipa_axum::router::OpenApiRouter;

mod auth;
pub mod ops;
mod routes;

pub(crate) use auth::{Gate, keys_changed, require_key};
pub use ops::{CreatedKey, bootstrap, create, rotate, status};

/// The `/v1/keys` routes.
pub(crate) fn router(store: Arc<dyn Store>) -> OpenApiRouter {
    routes::router().with_state(store)
}
