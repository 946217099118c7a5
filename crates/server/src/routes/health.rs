//! Unauthenticated operational endpoints: liveness, readiness, metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use switchyard_core::metrics::render_gauge;
use utoipa::ToSchema;

use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub status: &'static str,
    pub store: &'static str,
    pub migrations: usize,
}

/// The store is reachable and every migration this build knows is applied.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, body = Readiness),
    (status = 503, body = crate::problem::Problem, content_type = "application/problem+json"),
))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<axum::Json<Readiness>> {
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
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
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
