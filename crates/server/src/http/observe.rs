//! The request pipeline shared by every route: request id, timing, logging, metrics,
//! the request timeout, and problem documents for requests that never reach a route.
//!
//! Every request runs to completion in a task of its own, whether or not its client
//! waits for the answer: a client that hangs up (or a request that outlasts
//! `http.request_timeout`) never cancels a handler half-way through a store write, and
//! the request is logged and counted like any other.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use switchyard_core::metrics::Metrics;
use tracing::Instrument as _;

use super::problem::ApiError;
use super::{request_id, validate};

/// What [`observe`] needs.
#[derive(Debug, Clone)]
pub(crate) struct Observer {
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) timeout: Duration,
    /// Routes whose bodies stream for as long as they take (each bounds its own idle
    /// time): they run without `timeout`.
    pub(crate) streaming: Arc<std::collections::HashSet<&'static str>>,
}

pub(crate) async fn observe(State(o): State<Observer>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id::from_header(request.headers().get(request_id::HEADER));
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let timeout = if o.streaming.contains(route.as_str()) {
        Duration::MAX
    } else {
        o.timeout
    };
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let clean = request
        .uri()
        .path_and_query()
        .is_none_or(|pq| validate::uri_is_clean(pq.as_str()));
    let metrics = o.metrics.clone();
    let task_id = id.clone();
    let work = async move {
        let mut response = if clean {
            next.run(request).await
        } else {
            ApiError::bad_request(
                "invalid_characters",
                "the path or query holds a percent-encoded control character; no id, name, filter or cursor holds one",
            )
            .into_response()
        };
        if let Ok(value) = HeaderValue::from_str(&task_id) {
            response.headers_mut().insert(request_id::HEADER, value);
        }
        record(
            &metrics,
            &method,
            &route,
            response.status(),
            started.elapsed(),
        );
        response
    };
    let mut task = tokio::spawn(request_id::scope(id.clone(), work.instrument(span.clone())));
    let answer = match tokio::time::timeout(timeout, &mut task).await {
        Ok(Ok(response)) => return response,
        Ok(Err(join)) => ApiError::internal(join),
        Err(_) => {
            span.in_scope(|| {
                tracing::warn!(timeout = ?o.timeout, "request outlasted http.request_timeout; it goes on without its client")
            });
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!(
                    "the request took longer than {:?} (http.request_timeout)",
                    o.timeout
                ),
            )
        }
    };
    let mut response = request_id::scope(id.clone(), async { answer.into_response() }).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(request_id::HEADER, value);
    }
    response
}

fn record(metrics: &Metrics, method: &Method, route: &str, status: StatusCode, elapsed: Duration) {
    let status_label = status.as_str();
    metrics
        .http_requests
        .inc(&[method.as_str(), route, status_label]);
    metrics.http_duration.observe(
        &[method.as_str(), route, status_label],
        elapsed.as_secs_f64(),
    );
    let ms = elapsed.as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::warn!(status = status.as_u16(), duration_ms = ms, "request failed");
    } else {
        tracing::info!(status = status.as_u16(), duration_ms = ms, "request");
    }
}

/// Unknown routes.
pub(crate) async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        format!("no route for {} {}", request.method(), request.uri().path()),
    )
}

/// Known routes called with the wrong method.
pub(crate) async fn method_not_allowed(request: Request) -> ApiError {
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
