//! A value read again once it is older than its time to live, by one caller at a time
//! (the others wait for that read and use it), and at once after an invalidation. A
//! failed read keeps the last value until the next time to live has passed.

use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct Refreshed<T> {
    value: RwLock<Arc<T>>,
    refreshed: Mutex<Option<Instant>>,
    reloading: tokio::sync::Mutex<()>,
    ttl: Duration,
}

impl<T: Default> Refreshed<T> {
    /// Empty until first read.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            value: RwLock::default(),
            refreshed: Mutex::new(None),
            reloading: tokio::sync::Mutex::new(()),
            ttl,
        }
    }
}

impl<T> Refreshed<T> {
    fn fresh(&self) -> bool {
        self.refreshed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| t.elapsed() < self.ttl)
    }

    /// The value, read again with `load` first when it is stale; `load`'s error is
    /// logged, naming `what`.
    pub(crate) async fn get<E: std::fmt::Display>(
        &self,
        what: &str,
        load: impl Future<Output = Result<T, E>>,
    ) -> Arc<T> {
        if !self.fresh() {
            let _one = self.reloading.lock().await;
            if !self.fresh() {
                match load.await {
                    Ok(v) => *self.value.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(v),
                    Err(e) => tracing::error!(error = %e, "reading {what} failed"),
                }
                *self.refreshed.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
            }
        }
        self.cached()
    }

    /// The value as last read, without reading again.
    pub(crate) fn cached(&self) -> Arc<T> {
        self.value.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The next [`Refreshed::get`] reads again.
    pub(crate) fn invalidate(&self) {
        *self.refreshed.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn reads_once_per_ttl_keeps_the_last_value_on_failure_and_rereads_after_invalidation() {
        let r: Refreshed<usize> = Refreshed::new(Duration::from_secs(60));
        let reads = AtomicUsize::new(0);
        let load = |ok: bool| {
            let n = reads.fetch_add(1, Ordering::SeqCst) + 1;
            async move { if ok { Ok(n) } else { Err("down") } }
        };
        assert_eq!(*r.get("x", load(true)).await, 1);
        assert_eq!(*r.get("x", load(true)).await, 1, "fresh: not read again");
        assert_eq!(
            reads.load(Ordering::SeqCst),
            2,
            "the future is made but never awaited"
        );
        r.invalidate();
        assert_eq!(
            *r.get("x", load(false)).await,
            1,
            "a failed read keeps the last value"
        );
        r.invalidate();
        assert_eq!(*r.get("x", load(true)).await, 4);
        assert_eq!(*r.cached(), 4);
    }
}
