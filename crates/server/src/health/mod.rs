//! Operations: liveness (`/healthz`), readiness (`/readyz`) and Prometheus metrics
//! (`/metrics`), unauthenticated.

use std::sync::Arc;

use switchyard_core::metrics::Metrics;
use switchyard_store::Store;
use utoipa_axum::router::OpenApiRouter;

mod routes;

/// What the operational routes read.
#[derive(Debug, Clone)]
pub(crate) struct Operations {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

/// The operational routes.
pub(crate) fn router(store: Arc<dyn Store>, metrics: Arc<Metrics>) -> OpenApiRouter {
    routes::router().with_state(Operations { store, metrics })
}
