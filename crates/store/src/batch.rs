//! Group commit: callers submit items one at a time; a few tasks take whatever is
//! waiting and handle it with one store transaction, then answer every caller of the
//! batch. Under load a commit serves many callers; alone, a caller waits for nobody.
//!
//! The tasks own the work: a caller that goes away after submitting does not cancel
//! its item's commit. An item the store refuses does not take its neighbours down with
//! it: when a batch fails for a reason that is not passing (bad data rather than an
//! unreachable database), each of its items is tried alone, so only the items that
//! fail alone fail.

use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::StoreError;

type Reply<R, E> = oneshot::Sender<Result<R, BatchError<E>>>;
type Inbox<T, R, E> = Arc<Mutex<mpsc::Receiver<(T, Reply<R, E>)>>>;

/// How a batch failure affects the batch's items.
pub trait BatchFailure {
    /// Whether the failure may be caused by one item alone, so that trying the items
    /// one by one lets the others through.
    fn may_be_one_item(&self) -> bool;
}

impl BatchFailure for StoreError {
    fn may_be_one_item(&self) -> bool {
        !self.is_retryable()
    }
}

#[derive(Debug)]
pub struct Batcher<T, R, E = StoreError> {
    tx: mpsc::Sender<(T, Reply<R, E>)>,
}

impl<T, R, E> Clone for Batcher<T, R, E> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

/// Why an item was not handled.
#[derive(Debug)]
pub enum BatchError<E> {
    /// Handling the item's batch (or, after isolation, the item alone) failed.
    Failed(Arc<E>),
    /// The handler answered the wrong number of results: a bug, reported to every
    /// caller of the batch.
    Mismatch { items: usize, results: usize },
    /// The batch tasks are gone (the hub is shutting down).
    Stopped,
}

impl<E> Clone for BatchError<E> {
    fn clone(&self) -> Self {
        match self {
            BatchError::Failed(e) => BatchError::Failed(e.clone()),
            BatchError::Mismatch { items, results } => BatchError::Mismatch {
                items: *items,
                results: *results,
            },
            BatchError::Stopped => BatchError::Stopped,
        }
    }
}

impl<E: fmt::Display> fmt::Display for BatchError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::Failed(e) => e.fmt(f),
            BatchError::Mismatch { items, results } => {
                write!(f, "a batch of {items} gave {results} results")
            }
            BatchError::Stopped => f.write_str("batch writer stopped"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for BatchError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BatchError::Failed(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl BatchError<StoreError> {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            BatchError::Failed(e) => e.is_retryable(),
            BatchError::Stopped => true,
            BatchError::Mismatch { .. } => false,
        }
    }
}

/// What handles a batch: one result per item, in order.
pub type Handler<T, R, E> =
    dyn for<'a> Fn(&'a [T]) -> BoxFuture<'a, Result<Vec<R>, E>> + Send + Sync;

impl<T, R, E> Batcher<T, R, E>
where
    T: Send + 'static,
    R: Send + 'static,
    E: BatchFailure + Send + Sync + 'static,
{
    /// Starts `tasks` tasks that call `handle` with up to `max` items at a time.
    pub fn start<F>(tasks: usize, max: usize, handle: F) -> Self
    where
        F: for<'a> Fn(&'a [T]) -> BoxFuture<'a, Result<Vec<R>, E>> + Send + Sync + 'static,
    {
        let (tx, rx) = mpsc::channel(max * 4);
        let rx: Inbox<T, R, E> = Arc::new(Mutex::new(rx));
        let handle: Arc<Handler<T, R, E>> = Arc::new(handle);
        for _ in 0..tasks.max(1) {
            tokio::spawn(run(rx.clone(), handle.clone(), max));
        }
        Self { tx }
    }

    /// Hands `item` to the batch tasks and waits until its batch is handled.
    pub async fn submit(&self, item: T) -> Result<R, BatchError<E>> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((item, reply))
            .await
            .map_err(|_| BatchError::Stopped)?;
        answer.await.map_err(|_| BatchError::Stopped)?
    }

    /// Hands every item to the batch tasks and waits until each is handled; the
    /// answers are in order.
    pub async fn submit_all(&self, items: Vec<T>) -> Vec<Result<R, BatchError<E>>> {
        let mut answers = Vec::with_capacity(items.len());
        for item in items {
            let (reply, answer) = oneshot::channel();
            match self.tx.send((item, reply)).await {
                Ok(()) => answers.push(Some(answer)),
                Err(_) => answers.push(None),
            }
        }
        let mut out = Vec::with_capacity(answers.len());
        for answer in answers {
            out.push(match answer {
                Some(a) => a.await.unwrap_or(Err(BatchError::Stopped)),
                None => Err(BatchError::Stopped),
            });
        }
        out
    }
}

async fn run<T, R, E>(rx: Inbox<T, R, E>, handle: Arc<Handler<T, R, E>>, max: usize)
where
    E: BatchFailure,
{
    let mut batch = Vec::with_capacity(max);
    loop {
        // One task at a time takes what is waiting; the others commit meanwhile.
        if rx.lock().await.recv_many(&mut batch, max).await == 0 {
            return;
        }
        let (items, replies): (Vec<T>, Vec<Reply<R, E>>) = batch.drain(..).unzip();
        let n = items.len();
        match handle(&items).await {
            Ok(results) if results.len() == n => answer(replies, results),
            Ok(results) => {
                let error = BatchError::Mismatch {
                    items: n,
                    results: results.len(),
                };
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
            Err(e) if n > 1 && e.may_be_one_item() => {
                // Find the items at fault: each alone.
                for (i, reply) in replies.into_iter().enumerate() {
                    let alone = match handle(&items[i..=i]).await {
                        Ok(mut results) if results.len() == 1 => Ok(results.remove(0)),
                        Ok(results) => Err(BatchError::Mismatch {
                            items: 1,
                            results: results.len(),
                        }),
                        Err(e) => Err(BatchError::Failed(Arc::new(e))),
                    };
                    let _ = reply.send(alone);
                }
            }
            Err(e) => {
                let error = BatchError::Failed(Arc::new(e));
                for reply in replies {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
}

fn answer<R, E>(replies: Vec<Reply<R, E>>, results: Vec<R>) {
    for (reply, result) in replies.into_iter().zip(results) {
        let _ = reply.send(Ok(result));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Refused(&'static str);

    impl BatchFailure for Refused {
        fn may_be_one_item(&self) -> bool {
            self.0 == "bad item"
        }
    }

    impl fmt::Display for Refused {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    #[tokio::test]
    async fn concurrent_items_share_batches_and_get_their_own_results() {
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let batcher = Batcher::start(1, 64, move |items: &[u32]| {
            let seen = seen.clone();
            Box::pin(async move {
                seen.lock().unwrap().push(items.len());
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                Ok::<_, Refused>(items.iter().map(|i| i * 2).collect())
            })
        });
        let mut tasks = Vec::new();
        for i in 0..200u32 {
            let b = batcher.clone();
            tasks.push(tokio::spawn(async move { (i, b.submit(i).await.unwrap()) }));
        }
        for t in tasks {
            let (i, doubled) = t.await.unwrap();
            assert_eq!(doubled, i * 2);
        }
        let sizes = sizes.lock().unwrap();
        assert_eq!(sizes.iter().sum::<usize>(), 200);
        assert!(sizes.len() < 200, "items were batched: {sizes:?}");
        assert!(sizes.iter().all(|n| *n <= 64));
    }

    #[tokio::test]
    async fn a_passing_failure_fails_each_caller_of_the_batch() {
        let batcher = Batcher::start(2, 8, |_: &[u8]| {
            Box::pin(async { Err::<Vec<()>, _>(Refused("disk full")) })
        });
        let err = batcher.submit(1).await.unwrap_err();
        assert_eq!(err.to_string(), "disk full");
    }

    #[tokio::test]
    async fn a_bad_item_fails_alone_and_its_neighbours_go_through() {
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = calls.clone();
        let batcher = Batcher::start(1, 64, move |items: &[u32]| {
            let seen = seen.clone();
            Box::pin(async move {
                seen.lock().unwrap().push(items.len());
                // Let the whole burst gather into one batch.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                if items.contains(&13) {
                    Err(Refused("bad item"))
                } else {
                    Ok(items.to_vec())
                }
            })
        });
        let answers = batcher.submit_all((10..20).collect()).await;
        for (i, answer) in (10..20).zip(&answers) {
            match answer {
                Ok(v) => assert_eq!(*v, i),
                Err(e) => {
                    assert_eq!(i, 13, "only the bad item fails");
                    assert_eq!(e.to_string(), "bad item");
                }
            }
        }
        assert!(answers[3].is_err());
        let calls = calls.lock().unwrap();
        assert!(calls[0] > 1, "the items were batched first: {calls:?}");
        assert!(
            calls[1..].iter().all(|n| *n == 1),
            "then tried alone: {calls:?}"
        );
    }
}
