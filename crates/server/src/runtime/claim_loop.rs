//! The loop every lease-based worker runs: claim as many items as there are free
//! slots, work on each in its own task, and sleep until woken by the store's notifier,
//! until the next item is due, or until a slot frees up.
//!
//! While busy, the loop barely claims itself: the writer that records a batch of
//! outcomes claims, in the same transaction, as many items as the batch frees slots
//! ([`switchyard_store::Claim`]) and hands them here through a [`Refill`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use switchyard_store::{Claim, StoreError};
use tokio::sync::{Notify, mpsc, watch};
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

/// Where the writer recording outcomes hands the items it claimed for the slots they
/// free. Open only while the loop runs: before it starts and once it stops, nothing is
/// claimed for it.
#[derive(Debug)]
pub(crate) struct Refill<T> {
    tx: mpsc::UnboundedSender<Vec<T>>,
    open: Arc<AtomicBool>,
    /// How long the items claimed are leased (milliseconds).
    lease: i64,
}

impl<T> Clone for Refill<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            open: self.open.clone(),
            lease: self.lease,
        }
    }
}

/// The loop's end of a [`Refill`].
#[derive(Debug)]
pub(crate) struct Refills<T> {
    rx: mpsc::UnboundedReceiver<Vec<T>>,
    open: Arc<AtomicBool>,
}

impl<T> Refill<T> {
    /// A refill whose items are leased for `lease` milliseconds.
    pub(crate) fn channel(lease: i64) -> (Refill<T>, Refills<T>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let open = Arc::new(AtomicBool::new(false));
        (
            Refill {
                tx,
                open: open.clone(),
                lease,
            },
            Refills { rx, open },
        )
    }

    /// How many items to claim after `finished` outcomes: one per slot they free, none
    /// while the loop is not running.
    pub(crate) fn limit(&self, finished: usize) -> u32 {
        if self.open.load(Ordering::Acquire) {
            u32::try_from(finished).unwrap_or(u32::MAX)
        } else {
            0
        }
    }

    /// The claim to make at `now`, after recording `finished` outcomes.
    pub(crate) fn claim(&self, finished: usize, now: i64) -> Claim {
        Claim {
            limit: self.limit(finished),
            lease_until: now + self.lease,
        }
    }

    /// Hands claimed items to the loop. Call before answering the outcomes' callers,
    /// so that a slot is seen free only with its replacement already waiting.
    pub(crate) fn hand(&self, items: Vec<T>) {
        if !items.is_empty() && self.tx.send(items).is_err() {
            // The loop is gone (shutting down): the items keep their lease and are
            // claimed again when it ends.
            tracing::debug!("claimed items handed to a stopped worker; left to their lease");
        }
    }
}

/// A worker's [`Refills`], kept until its loop starts.
#[derive(Debug)]
pub(crate) struct Parked<T>(std::sync::Mutex<Option<Refills<T>>>);

impl<T> Parked<T> {
    pub(crate) fn new(refills: Refills<T>) -> Self {
        Self(std::sync::Mutex::new(Some(refills)))
    }

    /// The refills, for the one loop that runs; `None` (logged) for any later one.
    pub(crate) fn take(&self, what: &str) -> Option<Refills<T>> {
        let taken = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        if taken.is_none() {
            tracing::error!("the {what} loop runs once per process; not started again");
        }
        taken
    }
}

fn spawn_refills<C: Claimer>(
    claimer: &C,
    refills: &mut Refills<C::Item>,
    running: &mut JoinSet<()>,
) {
    while let Ok(items) = refills.rx.try_recv() {
        spawn(claimer, items, running);
    }
}

fn spawn<C: Claimer>(claimer: &C, items: Vec<C::Item>, running: &mut JoinSet<()>) {
    for item in items {
        let this = claimer.clone();
        running.spawn(async move { this.work(item).await });
    }
}

pub(crate) async fn run<C: Claimer>(
    claimer: C,
    notify: Arc<Notify>,
    concurrency: usize,
    mut refills: Refills<C::Item>,
    mut shutdown: watch::Receiver<bool>,
) {
    refills.open.store(true, Ordering::Release);
    let mut running = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        // Finished tasks first, then the refills: a finished task's replacement was
        // handed before it finished, so the slots counted free below really are.
        while running.try_join_next().is_some() {}
        spawn_refills(&claimer, &mut refills, &mut running);
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
                    Some(items) = refills.rx.recv() => spawn(&claimer, items, &mut running),
                    _ = shutdown.changed() => break,
                }
            }
            if *shutdown.borrow() {
                break;
            }
            while running.try_join_next().is_some() {}
            spawn_refills(&claimer, &mut refills, &mut running);
        }
        let free = concurrency.saturating_sub(running.len());
        if free == 0 {
            continue;
        }
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
        spawn(&claimer, claimed, &mut running);
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
            Some(items) = refills.rx.recv() => spawn(&claimer, items, &mut running),
            _ = shutdown.changed() => {}
        }
    }
    // Nothing more is claimed for this loop; what was claimed already is worked on
    // like the items in flight, and a task that finishes may still bring the
    // replacements its outcome's writer claimed before the refill closed.
    refills.open.store(false, Ordering::Release);
    loop {
        spawn_refills(&claimer, &mut refills, &mut running);
        if running.join_next().await.is_none() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Claims nothing itself; records what it worked on.
    #[derive(Clone, Default)]
    struct Worked(Arc<Mutex<Vec<u32>>>);

    impl Claimer for Worked {
        type Item = u32;
        const WHAT: &'static str = "numbers";
        async fn claim(&self, _free: usize) -> Result<Vec<u32>, StoreError> {
            Ok(Vec::new())
        }
        async fn next_due(&self) -> Result<Option<i64>, StoreError> {
            Ok(None)
        }
        async fn work(&self, item: u32) {
            self.0.lock().unwrap().push(item);
        }
    }

    #[tokio::test]
    async fn refills_are_worked_only_while_the_loop_runs() {
        let (refill, refills) = Refill::channel(60_000);
        assert_eq!(
            refill.limit(5),
            0,
            "nothing is claimed before the loop runs"
        );
        let worked = Worked::default();
        let (stop, shutdown) = watch::channel(false);
        let notify = Arc::new(Notify::new());
        let running = tokio::spawn(run(worked.clone(), notify, 8, refills, shutdown));
        while refill.limit(5) == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(refill.limit(5), 5, "one item per freed slot");
        refill.hand(vec![1, 2, 3]);
        while worked.0.lock().unwrap().len() < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        stop.send(true).unwrap();
        running.await.unwrap();
        assert_eq!(
            refill.limit(5),
            0,
            "nothing is claimed once the loop stopped"
        );
        let mut seen = worked.0.lock().unwrap().clone();
        seen.sort();
        assert_eq!(seen, [1, 2, 3]);
    }
}
