//! Loading sources for intake: the stored row, its sealed credentials (current, and the
//! previous one while its overlap lasts), and a verifier built from them — cached
//! briefly so intake does not open the vault on every request.

use std::sync::Arc;
use std::time::Duration;

use switchyard_core::event::Source;
use switchyard_core::provider::SourceKind;
use switchyard_core::time::now_ms;
use switchyard_signatures::{self as sig, Inbound, VerifyError};

use super::spec::{self, Settings};
use super::ttl::TtlCache;
use crate::problem::ApiError;
use crate::state::AppState;

/// Vault record ids of a source's credentials.
pub fn credential_id(source_id: &str) -> String {
    format!("{source_id}/credential")
}

pub fn previous_credential_id(source_id: &str) -> String {
    format!("{source_id}/previous")
}

/// A source ready to verify requests.
pub struct Loaded {
    pub source: Source,
    pub kind: SourceKind,
    pub settings: Settings,
    verifier: Option<Box<dyn sig::Verifier + Send + Sync>>,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("source", &self.source.id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Loaded {
    pub async fn verify(&self, state: &AppState, inbound: &Inbound<'_>) -> Result<(), VerifyError> {
        match &self.verifier {
            Some(v) => v.verify(inbound),
            None => {
                let webhook_id = self.settings.webhook_id.as_deref().unwrap_or_default();
                let tolerance = self
                    .settings
                    .tolerance_secs
                    .unwrap_or(spec::DEFAULT_TOLERANCE_SECS);
                state
                    .intake
                    .paypal
                    .verify(inbound, webhook_id, tolerance)
                    .await
            }
        }
    }
}

/// Loaded sources by id, each kept for a short time. Changes made through this node's
/// API take effect at once; changes made on another node within the time-to-live.
#[derive(Debug)]
pub struct SourceCache {
    ttl: Duration,
    entries: TtlCache<Option<Arc<Loaded>>>,
}

impl SourceCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: TtlCache::new(10_000),
        }
    }

    pub fn invalidate(&self, id: &str) {
        self.entries.remove(id);
    }

    /// The enabled source `id`, or `None` when it does not exist or is disabled.
    pub async fn get(&self, state: &AppState, id: &str) -> Result<Option<Arc<Loaded>>, ApiError> {
        if let Some(loaded) = self.entries.get(id) {
            return Ok(loaded);
        }
        let loaded = load(state, id).await?.map(Arc::new);
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

async fn load(state: &AppState, id: &str) -> Result<Option<Loaded>, ApiError> {
    let Some(source) = state.store.get_source(id).await? else {
        return Ok(None);
    };
    if !source.enabled {
        return Ok(None);
    }
    let kind = SourceKind::parse(&source.kind).ok_or_else(|| {
        ApiError::internal(format!("source {id} has unknown kind {:?}", source.kind))
    })?;
    let settings: Settings = serde_json::from_str(&source.settings).map_err(ApiError::internal)?;
    let open = |record: String| {
        let vault = state.vault.clone();
        async move {
            vault
                .get(&record)
                .await
                .map_err(ApiError::internal)?
                .map(|s| String::from_utf8(s.expose().clone()).map_err(ApiError::internal))
                .transpose()
        }
    };
    let mut credentials = Vec::new();
    if let Some(current) = open(credential_id(id)).await? {
        credentials.push(current);
    }
    if source.previous_until.is_some_and(|until| until > now_ms())
        && let Some(previous) = open(previous_credential_id(id)).await?
    {
        credentials.push(previous);
    }
    let verifier = if kind == SourceKind::Paypal {
        None
    } else {
        Some(spec::build(kind, &settings, credentials).map_err(ApiError::internal)?)
    };
    Ok(Some(Loaded {
        source,
        kind,
        settings,
        verifier,
    }))
}
