//! Sources ready to verify requests: the stored row, its sealed credentials (current,
//! and the previous one while its overlap lasts), and a verifier built from them, cached
//! briefly so that intake does not open the vault on every request.

use std::sync::Arc;
use std::time::Duration;

use switchyard_core::source::Source;
use switchyard_core::time::now_ms;
use switchyard_store::Store;
use switchyard_store::vault::{Vault, ids};

use super::kinds::{self, Verify, VerifyContext};
use crate::http::ApiError;
use crate::runtime::ttl::TtlCache;

/// A source ready to verify requests.
pub(super) struct Loaded {
    pub(super) source: Source,
    pub(super) verifier: Box<dyn Verify>,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("source", &self.source.id)
            .field("kind", &self.source.kind)
            .finish_non_exhaustive()
    }
}

/// Loaded sources by id, each kept for a short time. Changes made through this node's
/// API take effect at once; changes made on another node within the time-to-live.
#[derive(Debug)]
pub(super) struct SourceCache {
    ttl: Duration,
    entries: TtlCache<Option<Arc<Loaded>>>,
}

impl SourceCache {
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: TtlCache::new(10_000),
        }
    }

    pub(super) fn invalidate(&self, id: &str) {
        self.entries.remove(id);
    }

    /// The enabled source `id`, or `None` when it does not exist or is disabled.
    pub(super) async fn get(
        &self,
        store: &Arc<dyn Store>,
        vault: &Vault,
        context: &VerifyContext,
        id: &str,
    ) -> Result<Option<Arc<Loaded>>, ApiError> {
        if let Some(loaded) = self.entries.get(id) {
            return Ok(loaded);
        }
        let loaded = load(store, vault, context, id).await?.map(Arc::new);
        // A previous credential stops working when its overlap ends, not up to a
        // time-to-live later.
        let now = now_ms();
        let overlap_left = loaded
            .as_ref()
            .and_then(|l| l.source.previous_until)
            .filter(|until| *until > now)
            .map(|until| Duration::from_millis((until - now) as u64));
        let ttl = overlap_left.map_or(self.ttl, |left| left.min(self.ttl));
        self.entries.insert(id, loaded.clone(), ttl);
        Ok(loaded)
    }
}

async fn load(
    store: &Arc<dyn Store>,
    vault: &Vault,
    context: &VerifyContext,
    id: &str,
) -> Result<Option<Loaded>, ApiError> {
    let Some(source) = store.get_source(id).await? else {
        return Ok(None);
    };
    if !source.enabled {
        return Ok(None);
    }
    let open = |record: String| async move {
        vault
            .get(&record)
            .await?
            .map(|s| String::from_utf8(s.expose().clone()).map_err(ApiError::internal))
            .transpose()
    };
    let mut credentials = Vec::new();
    if let Some(current) = open(ids::source_credential(id)).await? {
        credentials.push(current);
    }
    if source.previous_until.is_some_and(|until| until > now_ms())
        && let Some(previous) = open(ids::source_previous(id)).await?
    {
        credentials.push(previous);
    }
    let verifier = kinds::kind(source.kind)
        .verifier(&source.settings, credentials, context)
        .map_err(|e| {
            ApiError::new(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "source_unavailable",
                "this source cannot verify requests now; the hub logged why",
            )
            .caused_by(format!("source {id} cannot build its verifier: {e}"))
        })?;
    Ok(Some(Loaded { source, verifier }))
}
