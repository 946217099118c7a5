//! The `event.process` job: gives a stored event its normalized type and marks it
//! processed. Later stages (delivery fan-out, message status) hook in here.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use switchyard_core::event::Event;
use switchyard_core::provider::{self, SourceKind};
use switchyard_core::time::now_ms;
use switchyard_store::Store;
use switchyard_store::batch::Batcher;
use switchyard_store::queue::{Job, JobError, JobHandler};

/// Most events marked processed in one transaction.
const MARK_BATCH: usize = 512;

#[derive(Debug)]
pub struct ProcessEvent {
    /// Events read in batches: one query serves every job running at the time.
    reads: Batcher<String, Option<Event>>,
    /// `(event id, hub type)` pairs marked processed in batches (group commit).
    marks: Batcher<(String, String), ()>,
}

impl ProcessEvent {
    pub fn new(store: Arc<dyn Store>) -> Self {
        let reader = store.clone();
        let reads = Batcher::start(1, MARK_BATCH, move |ids: Vec<String>| {
            let store = reader.clone();
            async move {
                let mut found: HashMap<String, Event> = store
                    .get_events(&ids)
                    .await
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(|e| (e.id.clone(), e))
                    .collect();
                Ok(ids.iter().map(|id| found.remove(id)).collect())
            }
        });
        let writer = store.clone();
        let marks = Batcher::start(1, MARK_BATCH, move |marks: Vec<(String, String)>| {
            let store = writer.clone();
            async move {
                store
                    .mark_events("processed", &marks, now_ms())
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(vec![(); marks.len()])
            }
        });
        Self { reads, marks }
    }
}

#[async_trait]
impl JobHandler for ProcessEvent {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let Some(event) = self
            .reads
            .submit(job.payload.clone())
            .await
            .map_err(JobError::retry)?
        else {
            tracing::warn!(event_id = %job.payload, "event to process no longer exists");
            return Ok(());
        };
        let kind = event.source_kind.as_deref().and_then(SourceKind::parse);
        let provider_type = event.provider_type.as_deref().unwrap_or(&event.event_type);
        let normalized = kind
            .and_then(|k| provider::normalize(k, provider_type, &event.payload))
            .map_or_else(|| provider_type.to_string(), str::to_string);
        self.marks
            .submit((event.id, normalized))
            .await
            .map_err(JobError::retry)?;
        Ok(())
    }
}
