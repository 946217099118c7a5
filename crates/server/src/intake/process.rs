//! Event processing: received events are the queue. A processor takes what is waiting,
//! oldest first, and handles a batch in one transaction, running the stages the other
//! capabilities registered (delivery fan-out, message status) in it; on PostgreSQL the
//! processors of several nodes share the work without taking the same event twice.

use std::sync::Arc;
use std::time::Duration;

use switchyard_core::metrics::Metrics;
use switchyard_core::time::now_ms;
use switchyard_store::{Stage, Store};
use tokio::sync::watch;

/// Most events processed in one transaction.
const BATCH: u32 = 512;

/// How long a woken processor lets more events arrive before taking them.
const GATHER: Duration = Duration::from_millis(5);

/// Processes received events until `shutdown` turns true. Wakes when events are stored
/// (on PostgreSQL, by any node) and polls every `poll_interval` as a safety net.
pub(super) async fn run(
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    stages: Vec<Arc<dyn Stage>>,
    poll_interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let notify = store.work_notifier(switchyard_store::Work::Events);
    let mut failures = 0u32;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let wait = match store.process_received(BATCH, now_ms(), &stages).await {
            Ok(n) => {
                failures = 0;
                metrics.events_processed.add(&[], n);
                if n == u64::from(BATCH) {
                    continue; // more are waiting
                }
                poll_interval
            }
            Err(e) => {
                failures += 1;
                tracing::error!(error = %e, "processing received events failed; retrying");
                (Duration::from_millis(100) * 2u32.pow(failures.min(6))).min(poll_interval * 10)
            }
        };
        tokio::select! {
            _ = notified => {
                // Let a burst gather, so that one transaction (and one disk flush) serves
                // many events instead of one per intake commit.
                tokio::time::sleep(GATHER).await;
            }
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
}
