//! Group commit for intake: concurrent requests hand their events to a few writer tasks,
//! which store whatever is waiting in one transaction and then answer every request of
//! the batch. Nothing is answered before its batch commits, and a request whose client
//! hung up still has its batch committed (and its events processed): the writer owns
//! the work, not the request. An event the store refuses fails alone.

use std::sync::Arc;

use switchyard_core::event::{NewEvent, Stored};
use switchyard_store::batch::{BatchError, Batcher};
use switchyard_store::{Store, StoreError};

/// Most events stored in one transaction.
const MAX_BATCH: usize = 512;

#[derive(Debug, Clone)]
pub(super) struct Writer {
    batcher: Batcher<NewEvent, Stored>,
}

impl Writer {
    /// Starts `writers` tasks (one suits SQLite's single writer; PostgreSQL benefits
    /// from a few transactions in flight).
    pub(super) fn start(store: Arc<dyn Store>, writers: usize) -> Writer {
        let batcher = Batcher::start(writers, MAX_BATCH, move |events: &[NewEvent]| {
            let store = store.clone();
            Box::pin(async move {
                store.insert_events(events).await.inspect_err(|e| {
                    tracing::error!(error = %e, events = events.len(), "storing an intake batch failed");
                })
            })
        });
        Writer { batcher }
    }

    /// Stores `event` and returns once committed.
    pub(super) async fn store_one(
        &self,
        event: NewEvent,
    ) -> Result<Stored, BatchError<StoreError>> {
        self.batcher.submit(event).await
    }

    /// Stores the events of one request and returns once each is committed; the first
    /// failure, if any.
    pub(super) async fn store(
        &self,
        events: Vec<NewEvent>,
    ) -> Result<Vec<Stored>, BatchError<StoreError>> {
        self.batcher.submit_all(events).await.into_iter().collect()
    }
}
