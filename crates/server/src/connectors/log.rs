//! The call log: each proxied call is queued here and written in batches by one task
//! (a call's answer never waits for its log line), and read back at
//! `GET /v1/connections/{id}/calls`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use serde::Serialize;
use switchyard_core::apikey::Scope;
use switchyard_core::connector::Call;
use switchyard_core::time::rfc3339;
use switchyard_store::Store;
use tokio::sync::{Notify, watch};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Connectors;
use super::connections::ID;
use crate::http::{ApiPath, ApiQuery, ApiResult, Cursor, List, Need, PageQuery, require};

/// How often queued calls are written.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Calls written in one statement, at most.
const BATCH: usize = 500;
/// Calls queued at most; past this the oldest are dropped (and counted in a warning).
const QUEUE: usize = 50_000;

pub(super) fn router() -> OpenApiRouter<Connectors> {
    OpenApiRouter::new().routes(require(Need::Read(Scope::Connectors), routes!(list)))
}

#[derive(Clone)]
pub(super) struct CallLog {
    store: Arc<dyn Store>,
    queue: Arc<Mutex<Vec<Call>>>,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for CallLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallLog").finish_non_exhaustive()
    }
}

impl CallLog {
    pub(super) fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            queue: Arc::default(),
            wake: Arc::default(),
        }
    }

    pub(super) fn push(&self, call: Call) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.len() >= QUEUE {
            queue.remove(0);
            tracing::warn!("the call log is behind; the oldest queued call was dropped");
        }
        queue.push(call);
        if queue.len() >= BATCH {
            self.wake.notify_one();
        }
    }

    fn take(&self) -> Vec<Call> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let n = queue.len().min(BATCH);
        queue.drain(..n).collect()
    }

    async fn flush(&self) {
        loop {
            let calls = self.take();
            if calls.is_empty() {
                return;
            }
            if let Err(e) = self.store.insert_calls(&calls).await {
                tracing::warn!(calls = calls.len(), error = %e, "writing the call log failed; these calls are not logged");
                return;
            }
        }
    }

    /// Writes queued calls until `shutdown`, then what is left.
    pub(super) async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => break,
                () = tokio::time::sleep(FLUSH_EVERY) => {}
                () = self.wake.notified() => {}
            }
            self.flush().await;
        }
        self.flush().await;
    }
}

/// One proxied call.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CallView {
    pub(crate) id: String,
    pub(crate) method: String,
    /// The path under the connector's base URL with the query, secret parameters
    /// redacted.
    pub(crate) path: String,
    /// The status answered; `null` when none was.
    pub(crate) status: Option<u16>,
    /// Upstream attempts (0: answered from the cache, or refused before sending).
    pub(crate) attempts: u32,
    /// `hit`, `miss`, or `none` (not cacheable).
    pub(crate) cache: String,
    pub(crate) duration_ms: i64,
    /// Bytes of the answer's body.
    pub(crate) bytes: i64,
    pub(crate) error: Option<String>,
    pub(crate) at: String,
}

/// A connection's proxied calls, newest first. Calls appear within a moment of their
/// answer and are kept for `connectors.call_log_ttl`.
#[utoipa::path(get, path = "/v1/connections/{id}/calls", tag = "connectors", operation_id = "connections.calls",
    params(("id" = String, Path, description = ID), PageQuery),
    responses((status = 200, body = inline(List<CallView>))))]
async fn list(
    State(connectors): State<Connectors>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<List<CallView>>> {
    let (limit, page) = query.page(Cursor::Id("call"))?;
    connectors.load(&id).await?;
    let views = connectors
        .store()
        .list_calls(&id, &page)
        .await?
        .into_iter()
        .map(|c| CallView {
            id: c.id,
            method: c.method,
            path: c.path,
            status: c.status,
            attempts: c.attempts,
            cache: c.cache,
            duration_ms: c.duration_ms,
            bytes: c.bytes,
            error: c.error,
            at: rfc3339(c.at),
        })
        .collect();
    Ok(axum::Json(List::from_overfetch(
        views,
        limit,
        |c: &CallView| c.id.clone(),
    )))
}
