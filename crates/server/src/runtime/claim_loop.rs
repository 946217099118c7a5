//! The loop every lease-based worker runs: claim as many items as there are free
//! slots, work on each in its own task, and sleep until woken by the store's notifier,
//! until the next item is due, or until a slot frees up.

use std::sync::Arc;
use std::time::Duration;

use switchyard_store::StoreError;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

/// How long a busy worker waits for more free slots before claiming.
const CLAIM_LINGER: Duration = Duration::from_millis(2);
/// Longest sleep when nothing is due (the notifier normally wakes the loop earlier).
const POLL: Duration = Duration::from_secs(1);

/// What a worker claims and how it works on it.
pub(crate) trait Claimer: Clone + Send + Sync + 'static {
    type Item: Send + 'static;
    /// For logs: `deliveries`, `messages`.
    const WHAT: &'static str;
    fn claim(
        &self,
        free: usize,
    ) -> impl Future<Output = Result<Vec<Self::Item>, StoreError>> + Send;
    /// When the next item becomes claimable (milliseconds since the epoch).
    fn next_due(&self) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;
    fn work(&self, item: Self::Item) -> impl Future<Output = ()> + Send;
}

pub(crate) async fn run<C: Claimer>(
    claimer: C,
    notify: Arc<Notify>,
    concurrency: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut running = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        while running.try_join_next().is_some() {}
        let half = concurrency.div_ceil(2);
        if running.len() >= half {
            // Most slots busy: wait for several to free up (or briefly), so that one
            // claim fetches many items instead of one claim per finished one.
            let linger = tokio::time::sleep(CLAIM_LINGER);
            tokio::pin!(linger);
            while running.len() >= half {
                tokio::select! {
                    _ = &mut linger, if running.len() < concurrency => break,
                    joined = running.join_next() => if joined.is_none() { break },
                    _ = shutdown.changed() => break,
                }
            }
            if *shutdown.borrow() {
                break;
            }
        }
        let free = concurrency.saturating_sub(running.len());
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let claimed = match claimer.claim(free).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "claiming {} failed", C::WHAT);
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
        };
        let full = claimed.len() == free;
        for item in claimed {
            let this = claimer.clone();
            running.spawn(async move { this.work(item).await });
        }
        if full {
            continue;
        }
        let wait = match claimer.next_due().await {
            Ok(Some(due)) => {
                Duration::from_millis((due - switchyard_core::time::now_ms()).clamp(0, 1000) as u64)
            }
            _ => POLL,
        };
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep(wait) => {}
            _ = running.join_next(), if !running.is_empty() => {}
            _ = shutdown.changed() => {}
        }
    }
    while running.join_next().await.is_some() {}
}
