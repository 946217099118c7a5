//! The request pipeline shared by every route: request id, timing, logging, metrics,
//! and problem documents for requests that never reach a handler.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use tracing::Instrument as _;

use crate::problem::ApiError;
use crate::request_id;
use crate::state::AppState;

/// Assigns the request id, then logs and measures the request by its route template.
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id::from_header(request.headers().get(request_id::HEADER));
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let timeout = state.config.http.request_timeout.0;
    let handled = tokio::time::timeout(timeout, next.run(request).instrument(span.clone()));
    let mut response = request_id::scope(id.clone(), async {
        handled.await.unwrap_or_else(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!("the request took longer than {timeout:?} (http.request_timeout)"),
            )
            .into_response()
        })
    })
    .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(request_id::HEADER, value);
    }
    let elapsed = started.elapsed();
    let status = response.status();
    let status_label = status.as_str();
    state
        .metrics
        .http_requests
        .inc(&[method.as_str(), &route, status_label]);
    state.metrics.http_duration.observe(
        &[method.as_str(), &route, status_label],
        elapsed.as_secs_f64(),
    );
    span.in_scope(|| {
        let ms = elapsed.as_secs_f64() * 1000.0;
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), duration_ms = ms, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), duration_ms = ms, "request");
        }
    });
    response
}

/// Unknown routes.
pub async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        format!("no route for {} {}", request.method(), request.uri().path()),
    )
}

/// Known routes called with the wrong method.
pub async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}
