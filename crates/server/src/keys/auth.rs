//! `Authorization: Bearer sk_…` on `/v1`. The presented key is hashed and looked up by
//! digest; the stored digest is compared in constant time; revoked and expired keys are
//! refused. The caller goes on as a [`Principal`]; what it may do is checked by the
//! routes' access rules.
//!
//! Keys found are kept for [`CACHE_FOR`] per node, so that a burst of requests with one
//! key reads it once; revoking or rotating a key on a node empties that node's cache at
//! once, and other nodes (and the command line) are seen within [`CACHE_FOR`].

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use switchyard_core::apikey;
use switchyard_core::time::now_ms;
use switchyard_store::Store;

use crate::http::{ApiError, Principal};
use crate::runtime::ttl::TtlCache;

/// `last_used_at` is refreshed at most this often per key.
const TOUCH_EVERY_MS: i64 = 60_000;

/// How long a key read from the store is used without reading it again.
pub(crate) const CACHE_FOR: std::time::Duration = std::time::Duration::from_secs(1);
const CACHE_MAX: usize = 10_000;

/// Bumped whenever this process revokes or rotates a key: cached keys read before are
/// read again.
static CHANGES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Forgets every cached key (a key was revoked or rotated).
pub(crate) fn keys_changed() {
    CHANGES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// The store and this node's cache of keys by digest, with the [`CHANGES`] count they
/// were read under.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    store: Arc<dyn Store>,
    cache: Arc<TtlCache<(switchyard_store::KeyMatch, u64)>>,
}

impl Gate {
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        Gate {
            store,
            cache: Arc::new(TtlCache::new(CACHE_MAX)),
        }
    }

    async fn find(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<switchyard_store::KeyMatch>, switchyard_store::StoreError> {
        let generation = CHANGES.load(std::sync::atomic::Ordering::SeqCst);
        let id = hex::encode(digest);
        if let Some((found, g)) = self.cache.get(&id)
            && g == generation
        {
            return Ok(Some(found));
        }
        let found = self.store.find_key_by_digest(digest).await?;
        if let Some(f) = &found {
            self.cache.insert(&id, (f.clone(), generation), CACHE_FOR);
        }
        Ok(found)
    }

    /// The key's use is being recorded: its cached copy is read again next time.
    fn touched(&self, digest: &[u8; 32]) {
        self.cache.remove(&hex::encode(digest));
    }
}

pub(crate) async fn require_key(
    State(gate): State<Gate>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let principal = authenticate(&gate, request.headers().get(header::AUTHORIZATION)).await?;
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

async fn authenticate(
    gate: &Gate,
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
    let found = gate.find(&digest).await?.ok_or_else(invalid)?;
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
        gate.touched(&digest);
        let store = gate.store.clone();
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
