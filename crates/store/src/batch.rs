//! Group commit: callers submit items one at a time; a few tasks take whatever is
//! waiting and handle it with one store transaction, then answer every caller of the
//! batch. Under load a commit serves many callers; alone, a caller waits for nobody.
//!
//! The tasks own the work: a caller that goes away after submitting does not cancel
//! its item's commit.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

type Reply<R> = oneshot::Sender<Result<R, String>>;
type Inbox<T, R> = Arc<Mutex<mpsc::Receiver<(T, Reply<R>)>>>;

#[derive(Debug)]
pub struct Batcher<T, R> {
    tx: mpsc::Sender<(T, Reply<R>)>,
}

impl<T, R> Clone for Batcher<T, R> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

/// The batch could not be handled; every caller of the batch gets the same message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct BatchError(pub String);

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// Starts `tasks` tasks that call `handle` with up to `max` items at a time.
    /// `handle` returns one result per item, in order.
    pub fn start<F, Fut>(tasks: usize, max: usize, handle: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<R>, String>> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(max * 4);
        let rx: Inbox<T, R> = Arc::new(Mutex::new(rx));
        let handle = Arc::new(handle);
        for _ in 0..tasks.max(1) {
            tokio::spawn(run(rx.clone(), handle.clone(), max));
        }
        Self { tx }
    }

    /// Hands `item` to the batch tasks and waits until its batch is handled.
    pub async fn submit(&self, item: T) -> Result<R, BatchError> {
        let stopped = || BatchError("batch writer stopped".into());
        let (reply, answer) = oneshot::channel();
        self.tx.send((item, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?.map_err(BatchError)
    }
}

async fn run<T, R, F, Fut>(rx: Inbox<T, R>, handle: Arc<F>, max: usize)
where
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = Result<Vec<R>, String>>,
{
    let mut batch = Vec::with_capacity(max);
    loop {
        // One task at a time takes what is waiting; the others commit meanwhile.
        if rx.lock().await.recv_many(&mut batch, max).await == 0 {
            return;
        }
        let (items, replies): (Vec<T>, Vec<Reply<R>>) = batch.drain(..).unzip();
        let n = items.len();
        match handle(items).await {
            Ok(results) if results.len() == n => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
            }
            Ok(results) => {
                let message = format!("a batch of {n} gave {} results", results.len());
                for reply in replies {
                    let _ = reply.send(Err(message.clone()));
                }
            }
            Err(message) => {
                for reply in replies {
                    let _ = reply.send(Err(message.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn concurrent_items_share_batches_and_get_their_own_results() {
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let batcher = Batcher::start(1, 64, move |items: Vec<u32>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(items.len());
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                Ok(items.into_iter().map(|i| i * 2).collect())
            }
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
    async fn a_failed_batch_fails_each_of_its_callers() {
        let batcher = Batcher::start(2, 8, |_: Vec<u8>| async {
            Err::<Vec<()>, _>("disk full".to_string())
        });
        let err = batcher.submit(1).await.unwrap_err();
        assert_eq!(err.to_string(), "disk full");
    }
}
