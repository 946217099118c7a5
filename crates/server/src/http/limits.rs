//! Request body limits. A route's limit is known before its body is read, so a request
//! that declares a longer body is answered 413 at once instead of being waited for.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;

use super::problem::ApiError;

/// The body limit of the route a request is for, in bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyCap(pub(crate) usize);

pub(crate) fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "the request body exceeds this route's limit (http.body_limit)",
    )
}

/// 413 when the request declares a body longer than its route's limit.
pub(crate) fn check_declared_length(req: &Request) -> Result<(), ApiError> {
    let Some(BodyCap(cap)) = req.extensions().get::<BodyCap>().copied() else {
        return Ok(());
    };
    if declares_over(req.headers(), cap) {
        return Err(too_large());
    }
    Ok(())
}

/// Whether `headers` declare a body longer than `limit` bytes.
pub(crate) fn declares_over(headers: &HeaderMap, limit: usize) -> bool {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > limit as u64)
}

async fn set_cap(State(cap): State<usize>, mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(BodyCap(cap));
    next.run(req).await
}

/// Caps the bodies of every route of `router` at `limit` bytes.
pub(crate) fn cap<S: Clone + Send + Sync + 'static>(router: Router<S>, limit: usize) -> Router<S> {
    router
        .layer(DefaultBodyLimit::max(limit))
        .layer(from_fn_with_state(limit, set_cap))
}

/// Caps the bodies of the routes of `routes` at `limit` bytes, overriding a cap set
/// around them.
pub(crate) fn cap_routes<S: Clone + Send + Sync + 'static>(
    routes: utoipa_axum::router::UtoipaMethodRouter<S>,
    limit: usize,
) -> utoipa_axum::router::UtoipaMethodRouter<S> {
    use utoipa_axum::router::UtoipaMethodRouterExt as _;
    routes
        .layer(DefaultBodyLimit::max(limit))
        .layer(from_fn_with_state(limit, set_cap))
}
