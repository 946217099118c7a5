//! Group commit for intake: concurrent requests hand their events to a few writer tasks,
//! which store whatever is waiting in one transaction and then answer every request of
//! the batch. Nothing is answered before its batch commits, and a request whose client
//! hung up still has its batch committed (and its events processed) — the writer owns
//! the work, not the request.

use std::sync::Arc;

use switchyard_core::event::{NewEvent, Stored};
use switchyard_store::Store;
use switchyard_store::batch::{BatchError, Batcher};

/// Most requests stored in one transaction.
const MAX_BATCH: usize = 512;

#[derive(Debug, Clone)]
pub struct Writer {
    batcher: Batcher<Vec<NewEvent>, Vec<Stored>>,
}

impl Writer {
    /// Starts `writers` tasks (one suits SQLite's single writer; PostgreSQL benefits
    /// from a few transactions in flight).
    pub fn start(store: Arc<dyn Store>, writers: usize) -> Writer {
        let batcher = Batcher::start(writers, MAX_BATCH, move |requests: Vec<Vec<NewEvent>>| {
            let store = store.clone();
            async move {
                let sizes: Vec<usize> = requests.iter().map(Vec::len).collect();
                let all: Vec<NewEvent> = requests.into_iter().flatten().collect();
                let mut stored = store.insert_events(&all).await.map_err(|e| {
                    tracing::error!(error = %e, events = all.len(), "storing an intake batch failed");
                    e.to_string()
                })?;
                // Hand each request back its own events, in order.
                let mut out = Vec::with_capacity(sizes.len());
                for n in sizes.iter().rev() {
                    out.push(stored.split_off(stored.len() - n));
                }
                out.reverse();
                Ok(out)
            }
        });
        Writer { batcher }
    }

    /// Stores `events` and returns once committed; processing picks them up from there.
    pub async fn store(&self, events: Vec<NewEvent>) -> Result<Vec<Stored>, BatchError> {
        self.batcher.submit(events).await
    }
}
