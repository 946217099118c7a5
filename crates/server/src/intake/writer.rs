//! Group commit for intake: concurrent requests hand their events to a few writer tasks,
//! which store whatever is waiting in one transaction and then answer every request of
//! the batch. Nothing is answered before its batch commits, and a request whose client
//! hung up still has its batch committed (and its events processed): the writer owns
//! the work, not the request. An event the store refuses fails alone.
//!
//! Once processing has started, a batch is processed as it is stored
//! (`EventStore::insert_processed`): the events are written once, already processed,
//! with their deliveries and whatever else the stages write, in the same transaction.

use std::sync::{Arc, OnceLock};

use switchyard_core::event::{NewEvent, Stored};
use switchyard_core::metrics::Metrics;
use switchyard_core::time::now_ms;
use switchyard_store::batch::{BatchError, Batcher};
use switchyard_store::{Stage, Store, StoreError};

/// Most events stored in one transaction.
const MAX_BATCH: usize = 512;

#[derive(Debug, Clone)]
pub(super) struct Writer {
    batcher: Batcher<NewEvent, Stored>,
    /// The processing stages, once processing has started.
    stages: Arc<OnceLock<Vec<Arc<dyn Stage>>>>,
}

impl Writer {
    /// Starts `writers` tasks (one suits SQLite's single writer; PostgreSQL benefits
    /// from a few transactions in flight).
    pub(super) fn start(store: Arc<dyn Store>, metrics: Arc<Metrics>, writers: usize) -> Writer {
        let stages: Arc<OnceLock<Vec<Arc<dyn Stage>>>> = Arc::default();
        let processing = stages.clone();
        let batcher = Batcher::start(writers, MAX_BATCH, move |events: &[NewEvent]| {
            let (store, metrics) = (store.clone(), metrics.clone());
            let stages = processing.get().cloned();
            Box::pin(async move {
                let stored = match stages {
                    Some(stages) => {
                        let stored = store.insert_processed(events, now_ms(), &stages).await;
                        stored.map(|(stored, processed)| {
                            metrics.events_processed.add(&[], processed);
                            stored
                        })
                    }
                    None => store.insert_events(events).await,
                };
                stored.inspect_err(|e| {
                    tracing::error!(error = %e, events = events.len(), "storing an intake batch failed");
                })
            })
        });
        Writer { batcher, stages }
    }

    /// From now on, batches are processed as they are stored, by `stages`.
    pub(super) fn process_with(&self, stages: Vec<Arc<dyn Stage>>) {
        if self.stages.set(stages).is_err() {
            tracing::debug!("intake writer already processes its batches");
        }
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
