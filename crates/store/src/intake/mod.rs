//! Sources, the event log, and processing: received events are the processing queue,
//! and the stages capabilities register run in each batch's processing transaction.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use switchyard_core::event::{Event, EventFilter, NewEvent, Stored};
use switchyard_core::source::{Source, SourceKind};

use switchyard_core::payment::{ObjectView, ProviderReport};

use crate::messaging::StatusReport;
use crate::payments::Applied;
use crate::queue::NewJob;
use crate::{Page, Result};

pub(crate) mod events_sql;
pub(crate) mod sources_sql;

#[async_trait]
pub trait SourceStore: Send + Sync {
    async fn insert_source(&self, source: &Source) -> Result<()>;
    async fn get_source(&self, id: &str) -> Result<Option<Source>>;
    async fn list_sources(&self, page: &Page) -> Result<Vec<Source>>;
    /// Replaces every field but `id` and `created_at`. `false` if there is no such source.
    async fn update_source(&self, source: &Source) -> Result<bool>;
    /// Removes the source; its events stay. `false` if there is no such source.
    async fn delete_source(&self, id: &str) -> Result<bool>;
}

/// An event taken for processing, as stages see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedEvent {
    pub id: String,
    pub event_type: String,
    /// `None` for events the application or the hub published.
    pub source_kind: Option<SourceKind>,
    /// The source the event arrived at (`app` for published events).
    pub source_id: Option<String>,
    pub received_at: i64,
}

impl ReceivedEvent {
    /// The event being stored, as stages see it.
    pub fn of(event: &NewEvent) -> ReceivedEvent {
        ReceivedEvent {
            id: event.id.clone(),
            event_type: event.event_type.clone(),
            source_kind: event.source_kind,
            source_id: event.source_id.clone(),
            received_at: event.received_at,
        }
    }
}

/// The processing transaction as stages see it. Each capability's part is written
/// beside its SQL; what a stage does here commits (or not) with the batch.
#[async_trait]
pub trait ProcessTx: Send {
    /// The payloads of events of this batch, by id.
    async fn payloads(&mut self, ids: &[&str]) -> Result<HashMap<String, Vec<u8>>>;
    /// Delivery: one delivery, due at `at`, per enabled endpoint subscribed to each
    /// event. Returns how many were created.
    async fn fan_out(&mut self, events: &[ReceivedEvent], at: i64) -> Result<usize>;
    /// Messaging: provider reports about messages the hub sent. Each joins its message's
    /// history (or waits, unowned, until the send naming its provider id is recorded)
    /// and may raise the message's status.
    async fn apply_status_reports(&mut self, reports: &[StatusReport], at: i64) -> Result<()>;
    /// Payments: what `provider` reported, applied to the mirror (see
    /// [`crate::payments`]).
    async fn apply_payment_report(
        &mut self,
        provider: &str,
        report: &ProviderReport,
        at: i64,
    ) -> Result<Applied>;
    /// Sets the mirror's view of the object each event (by id) is about, delivered with
    /// it: one statement for the batch.
    async fn set_event_objects(&mut self, objects: &[(&str, &ObjectView)]) -> Result<()>;
    /// Enqueues a job that runs once the batch commits.
    async fn enqueue(&mut self, job: &NewJob) -> Result<()>;
}

/// Work a capability does with every batch of events being processed, inside the
/// batch's transaction: a failure rolls the whole batch back, to be processed again.
#[async_trait]
pub trait Stage: Send + Sync + std::fmt::Debug {
    /// For logs.
    fn name(&self) -> &'static str;
    async fn run(&self, tx: &mut dyn ProcessTx, events: &[ReceivedEvent], at: i64) -> Result<()>;
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Stores events in one transaction, in state `received`, and answers per event
    /// whether it was new or a duplicate of an earlier event of the same source with the
    /// same `dedupe_key` (enforced by a unique index, so nodes racing on one event store
    /// it once). Received events are the processing queue: storing one wakes the
    /// processors ([`crate::JobQueue::work_notifier`]).
    async fn insert_events(&self, events: &[NewEvent]) -> Result<Vec<Stored>>;
    /// [`insert_events`](Self::insert_events), with the new events processed in the same
    /// transaction: each `stage` runs on them as in
    /// [`process_received`](Self::process_received), and they are stored `processed` at
    /// `at`, so that an event costs one write. Duplicates are not processed again. If a
    /// stage fails, nothing it did is kept and the events are stored `received` instead,
    /// for the processors to take. Answers per event as `insert_events` does, and how
    /// many events were processed.
    async fn insert_processed(
        &self,
        events: &[NewEvent],
        at: i64,
        stages: &[Arc<dyn Stage>],
    ) -> Result<(Vec<Stored>, u64)>;
    async fn get_event(&self, id: &str) -> Result<Option<Event>>;
    /// Newest first; payloads included.
    async fn list_events(&self, filter: &EventFilter, page: &Page) -> Result<Vec<Event>>;
    /// Processes up to `limit` received events, oldest first, in one transaction: runs
    /// every stage on them, in order, and marks them `processed` at `at`. Events another
    /// node is processing at the same time are skipped, never waited on or processed
    /// twice. Returns how many events.
    async fn process_received(&self, limit: u32, at: i64, stages: &[Arc<dyn Stage>])
    -> Result<u64>;
    /// Sets the event back to `received`, so that it is processed again. `false` if
    /// there is no such event.
    async fn requeue_event(&self, id: &str) -> Result<bool>;
}

/// Rows per multi-row INSERT (11 parameters a row stays far below SQLite's limit). A
/// batch takes one statement, prepared once per size and then served from the
/// connection's statement cache.
pub(crate) const ROWS_PER_STATEMENT: usize = 256;

/// The state an event is stored in: `processed` when processed as it is stored.
pub(crate) fn stored_state(processed: Option<i64>) -> &'static str {
    if processed.is_some() {
        "processed"
    } else {
        "received"
    }
}

/// `INSERT INTO events … VALUES (…), (…) … RETURNING id` for `rows` events; rows that
/// collide with a stored (source, identity) are skipped, and only new ids come back.
pub(crate) fn insert_events_sql(rows: usize) -> String {
    let mut sql = crate::sql::values_sql(
        "INSERT INTO events (id, source_id, source_kind, dedupe_key, provider_type, type, payload,
             headers, received_at, state, processed_at)",
        rows,
        11,
    );
    sql.push_str(" ON CONFLICT (source_id, dedupe_key) DO NOTHING RETURNING id");
    sql
}
