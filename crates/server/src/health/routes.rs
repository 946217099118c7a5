//! Unauthenticated operational endpoints: liveness, readiness, metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use switchyard_core::metrics::render_gauge;
use utoipa::ToSchema;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Operations as Ctx;
use crate::http::{ApiError, ApiResult};

pub(super) fn router() -> OpenApiRouter<Ctx> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    pub(crate) status: &'static str,
    pub(crate) version: &'static str,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "health.live", responses((status = 200, body = Health)))]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Readiness {
    pub(crate) status: &'static str,
    pub(crate) store: &'static str,
    pub(crate) migrations: usize,
}

/// The store is reachable and every migration this build knows is applied.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "health.ready", responses(
    (status = 200, body = Readiness),
    (status = 503, description = "The store is unreachable (`unavailable`), or a migration is not applied", body = crate::http::problem::Problem, content_type = "application/problem+json"),
))]
async fn readyz(State(state): State<Ctx>) -> ApiResult<axum::Json<Readiness>> {
    let status = state.store.migration_status().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check: store unreachable");
        ApiError::unavailable("the store is unreachable")
    })?;
    if let Some(pending) = status.iter().find(|m| m.applied_at.is_none()) {
        return Err(ApiError::unavailable(format!(
            "migration {} ({}) is not applied; run `switchyard migrate`",
            pending.version, pending.name
        )));
    }
    Ok(axum::Json(Readiness {
        status: "ready",
        store: state.store.backend(),
        migrations: status.len(),
    }))
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "health.metrics", responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<Ctx>) -> impl IntoResponse {
    let mut out = String::with_capacity(8192);
    state.metrics.render(&mut out);
    match state.store.queue_depth().await {
        Ok(depth) => {
            let rows: Vec<_> = depth
                .into_iter()
                .map(|d| (vec![d.kind, d.state], d.count as f64))
                .collect();
            render_gauge(
                &mut out,
                "switchyard_queue_jobs",
                "Jobs in the queue by kind and state.",
                &["kind", "state"],
                &rows,
            );
            render_gauge(
                &mut out,
                "switchyard_store_up",
                "Whether the store answered this scrape.",
                &[],
                &[(vec![], 1.0)],
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics: queue depth unavailable");
            render_gauge(
                &mut out,
                "switchyard_store_up",
                "Whether the store answered this scrape.",
                &[],
                &[(vec![], 0.0)],
            );
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
