//! `Authorization: Bearer sk_…` on `/v1`. The presented key is hashed and looked up by
//! digest; the stored digest is compared in constant time; revoked and expired keys are
//! refused. The caller goes on as a [`Principal`]; what it may do is checked by the
//! routes' access rules.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use switchyard_core::apikey;
use switchyard_core::time::now_ms;
use switchyard_store::Store;

use crate::http::{ApiError, Principal};

/// `last_used_at` is refreshed at most this often per key.
const TOUCH_EVERY_MS: i64 = 60_000;

pub(crate) async fn require_key(
    State(store): State<Arc<dyn Store>>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let principal = authenticate(&store, request.headers().get(header::AUTHORIZATION)).await?;
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

async fn authenticate(
    store: &Arc<dyn Store>,
    header: Option<&http::HeaderValue>,
) -> Result<Principal, ApiError> {
    let Some(value) = header else {
        return Err(ApiError::unauthorized(
            "missing Authorization header; send `Authorization: Bearer sk_…`",
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer sk_…`"))?;
    let invalid = || ApiError::unauthorized("invalid API key");
    if !apikey::looks_like_key(token) {
        return Err(invalid());
    }
    let digest = apikey::digest(token);
    let found = store
        .find_key_by_digest(&digest)
        .await?
        .ok_or_else(invalid)?;
    if !apikey::digests_match(&found.digest, &digest) {
        return Err(invalid());
    }
    let now = now_ms();
    let key = found.key;
    if key.revoked_at.is_some() {
        return Err(ApiError::unauthorized("this API key has been revoked"));
    }
    if !key.is_active(now) {
        return Err(ApiError::unauthorized("this API key has expired"));
    }
    if key.last_used_at.is_none_or(|t| now - t >= TOUCH_EVERY_MS) {
        let store = store.clone();
        let id = key.id.clone();
        tokio::spawn(async move {
            if let Err(e) = store.touch_key(&id, now).await {
                tracing::debug!(error = %e, "recording key use failed");
            }
        });
    }
    Ok(Principal {
        key_id: key.id,
        scopes: key.scopes,
    })
}
