//! `Idempotency-Key` on the API's POST routes that have none of their own (events and
//! messages keep theirs, stored with what they create).
//!
//! The first request with a key runs; when it succeeds, its answer is kept for a day,
//! sealed in the vault (it may hold a new secret), and replayed for a repeat with
//! `Idempotent-Replayed: true`. The same key with another
//! request (method, path or body) is 409 `idempotency_key_reused`; a repeat while the
//! first still runs is 409 `idempotency_key_in_use` with `Retry-After: 1`. A request
//! that fails releases its key, and so does one whose node died mid-way, after
//! [`STALE`].

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use sha2::{Digest as _, Sha256};
use switchyard_core::time::now_ms;
use switchyard_store::{Begun, idempotency_secret_id};

use crate::problem::ApiError;
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";
/// How long an answer is replayed.
const KEEP: Duration = Duration::from_secs(24 * 3600);
/// After this, a key whose request never answered is free again.
const STALE: Duration = Duration::from_secs(60);
/// Routes with idempotency of their own.
const OWN: [&str; 3] = ["/v1/events", "/v1/emails", "/v1/sms"];

/// The request's `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub fn key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    match headers.get(HEADER).map(|v| v.to_str()) {
        None => Ok(None),
        Some(Ok(k)) if !k.is_empty() && k.len() <= 255 => Ok(Some(k)),
        Some(_) => Err(ApiError::invalid_field(
            "Idempotency-Key",
            "expected 1 to 255 visible ASCII characters",
        )),
    }
}

/// Marks an answer as the replay of an earlier one.
pub fn mark_replayed(response: &mut Response) {
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
}

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let own = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| OWN.contains(&p.as_str()));
    if request.method() != Method::POST || own {
        return next.run(request).await;
    }
    let key = match key(request.headers()) {
        Ok(Some(k)) => k.to_string(),
        Ok(None) => return next.run(request).await,
        Err(e) => return e.into_response(),
    };
    let (parts, body) = request.into_parts();
    let limit = state.config.http.body_limit.0;
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return crate::extract::body_rejection(StatusCode::PAYLOAD_TOO_LARGE, String::new())
                .into_response();
        }
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update(b"\n");
    hasher.update(parts.uri.path_and_query().map_or("", |p| p.as_str()));
    hasher.update(b"\n");
    hasher.update(&body);
    let digest = hex::encode(hasher.finalize());
    let store = &state.store;
    let now = now_ms();
    let (keep, stale) = (KEEP.as_millis() as i64, STALE.as_millis() as i64);
    purge_now_and_then(&state, now);
    let begun = match store
        .begin_request(&key, &digest, now, now - stale, now - keep)
        .await
    {
        Ok(b) => b,
        Err(e) => return ApiError::from(e).into_response(),
    };
    match begun {
        Begun::Run => {}
        Begun::Replay { status } => {
            let body = match state.vault.get(&idempotency_secret_id(&key)).await {
                Ok(Some(body)) => body.expose().clone(),
                Ok(None) => {
                    return ApiError::internal("an idempotent answer is missing").into_response();
                }
                Err(e) => return ApiError::internal(e).into_response(),
            };
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut response = (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                Body::from(body),
            )
                .into_response();
            mark_replayed(&mut response);
            return response;
        }
        Begun::Mismatch => {
            return ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                "the Idempotency-Key was used for a different request (method, path or body)",
            )
            .into_response();
        }
        Begun::InProgress => {
            let mut response = ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_in_use",
                "a request with this Idempotency-Key is still being handled; retry shortly",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
    }
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            let _ = store.abandon_request(&key).await;
            return ApiError::internal(format!("reading an answer: {e}")).into_response();
        }
    };
    let kept = if parts.status.is_success() {
        match state.vault.put(&idempotency_secret_id(&key), &body).await {
            Ok(()) => store
                .finish_request(&key, parts.status.as_u16())
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    } else {
        store.abandon_request(&key).await.map_err(|e| e.to_string())
    };
    if let Err(e) = kept {
        // The request itself is done: answer it. Its key is released once stale.
        tracing::warn!(error = %e, "recording an idempotency key failed");
    }
    Response::from_parts(parts, Body::from(body))
}

/// Forgets expired keys about once an hour per node, off the request's path.
fn purge_now_and_then(state: &AppState, now: i64) {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let last = LAST.load(Ordering::Relaxed);
    if now - last < 3_600_000
        || LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let store = state.store.clone();
    tokio::spawn(async move {
        let before = now - KEEP.as_millis() as i64;
        if let Err(e) = store.purge_idempotency_keys(before).await {
            tracing::warn!(error = %e, "forgetting expired idempotency keys failed");
        }
    });
}
