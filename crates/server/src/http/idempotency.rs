//! `Idempotency-Key` on the API's POST routes that have none of their own (events and
//! messages keep theirs, stored with what they create).
//!
//! A key belongs to the API key that sent it: another caller's identical key is simply
//! another key, and a replay is only ever answered to the caller that made the first
//! request, after the route's access check. The first request with a key runs; when it
//! succeeds, its answer is kept for a day, sealed in the vault (it may hold a new
//! secret), and replayed for a repeat with `Idempotent-Replayed: true`. The same key
//! with another request (method, path or body) is 409 `idempotency_key_reused`; a
//! repeat while the first still runs is 409 `idempotency_key_in_use` with
//! `Retry-After: 1`. A request that fails releases its key, and so does one whose node
//! died mid-way, after [`STALE`]. Requests run to completion whether or not their
//! client waits (see [`super::observe`]), so a hang-up never leaves a committed request
//! without its recorded answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use sha2::{Digest as _, Sha256};
use switchyard_core::time::now_ms;
use switchyard_store::vault::Vault;
use switchyard_store::{Begun, Store, idempotency_secret_id};

use super::access::Principal;
use super::limits::{self, BodyCap};
use super::problem::ApiError;

pub(crate) const HEADER: &str = "idempotency-key";
/// How long an answer is replayed.
const KEEP: Duration = Duration::from_secs(24 * 3600);
/// After this, a key whose request never answered is free again.
const STALE: Duration = Duration::from_secs(60);

/// What the layer needs.
#[derive(Debug, Clone)]
pub(crate) struct Idempotency {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) vault: Vault,
    /// Routes with idempotency of their own, by path template.
    pub(crate) own: Arc<[&'static str]>,
}

/// The request's `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub(crate) fn key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    match headers.get(HEADER).map(|v| v.to_str()) {
        None => Ok(None),
        Some(Ok(k)) if !k.is_empty() && k.len() <= 255 => Ok(Some(k)),
        Some(_) => Err(ApiError::invalid_field(
            "Idempotency-Key",
            "expected 1 to 255 visible ASCII characters",
        )),
    }
}

/// The caller's key as a route with idempotency of its own stores it: scoped to the
/// caller (and to `scope`, e.g. the channel), so that callers never share keys.
pub(crate) fn scoped_key(principal: &Principal, scope: &str, key: &str) -> String {
    format!("{scope}:{}:{key}", principal.key_id)
}

/// Marks an answer as the replay of an earlier one.
pub(crate) fn mark_replayed(response: &mut Response) {
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
}

pub(crate) async fn layer(
    State(idem): State<Idempotency>,
    request: Request,
    next: Next,
) -> Response {
    let own = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| idem.own.contains(&p.as_str()));
    if request.method() != Method::POST || own {
        return next.run(request).await;
    }
    let key = match key(request.headers()) {
        Ok(Some(k)) => k.to_string(),
        Ok(None) => return next.run(request).await,
        Err(e) => return e.into_response(),
    };
    let Some(principal) = request
        .extensions()
        .get::<Principal>()
        .map(|p| p.key_id.clone())
    else {
        return ApiError::unauthorized("authentication required").into_response();
    };
    if let Err(e) = limits::check_declared_length(&request) {
        return e.into_response();
    }
    let limit = request
        .extensions()
        .get::<BodyCap>()
        .map_or(usize::MAX, |c| c.0);
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return limits::too_large().into_response(),
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update(b"\n");
    hasher.update(parts.uri.path_and_query().map_or("", |p| p.as_str()));
    hasher.update(b"\n");
    hasher.update(&body);
    let digest = hex::encode(hasher.finalize());
    let now = now_ms();
    let (keep, stale) = (KEEP.as_millis() as i64, STALE.as_millis() as i64);
    purge_now_and_then(&idem, now);
    let begun = match idem
        .store
        .begin_request(&principal, &key, &digest, now, now - stale, now - keep)
        .await
    {
        Ok(b) => b,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let vault_id = idempotency_secret_id(&principal, &key);
    match begun {
        Begun::Run => {}
        Begun::Replay { status } => return replay(&idem, &vault_id, status).await,
        Begun::Mismatch => {
            return ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                "the Idempotency-Key was used for a different request (method, path or body)",
            )
            .into_response();
        }
        Begun::InProgress => {
            return ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_in_use",
                "a request with this Idempotency-Key is still being handled; retry shortly",
            )
            .retry_after(1)
            .into_response();
        }
    }
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            let _ = idem.store.abandon_request(&principal, &key).await;
            return ApiError::internal(e).into_response();
        }
    };
    let kept = if parts.status.is_success() {
        match idem.vault.put(&vault_id, &body).await {
            Ok(()) => idem
                .store
                .finish_request(&principal, &key, parts.status.as_u16())
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    } else {
        idem.store
            .abandon_request(&principal, &key)
            .await
            .map_err(|e| e.to_string())
    };
    if let Err(e) = kept {
        // The request itself is done: answer it. Its key is released once stale.
        tracing::warn!(error = %e, "recording an idempotency key failed");
    }
    Response::from_parts(parts, Body::from(body))
}

async fn replay(idem: &Idempotency, vault_id: &str, status: u16) -> Response {
    let body = match idem.vault.get(vault_id).await {
        Ok(Some(body)) => body.expose().clone(),
        Ok(None) => return ApiError::internal("an idempotent answer is missing").into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body),
    )
        .into_response();
    mark_replayed(&mut response);
    response
}

/// Forgets expired keys about once an hour per node, off the request's path.
fn purge_now_and_then(idem: &Idempotency, now: i64) {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let last = LAST.load(Ordering::Relaxed);
    if now - last < 3_600_000
        || LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let store = idem.store.clone();
    tokio::spawn(async move {
        let before = now - KEEP.as_millis() as i64;
        if let Err(e) = store.purge_idempotency_keys(before).await {
            tracing::warn!(error = %e, "forgetting expired idempotency keys failed");
        }
    });
}
