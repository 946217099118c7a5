//! Idempotency keys of API requests whose route has no idempotency of its own. A key
//! belongs to the API key that used it: another caller's identical key is a different
//! key.

use async_trait::async_trait;

use crate::Result;

pub(crate) mod sql;

/// What [`IdempotencyStore::begin_request`] found for an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// The key is new (or its earlier request died unanswered): run the request.
    Run,
    /// An earlier request with the same digest succeeded with this status; its answer
    /// is in the vault under [`idempotency_secret_id`].
    Replay { status: u16 },
    /// The key was used for a different request.
    Mismatch,
    /// A request with this key is running.
    InProgress,
}

/// Where the vault keeps the answer replayed for `principal`'s idempotency `key`.
pub fn idempotency_secret_id(principal: &str, key: &str) -> String {
    format!("idempotency:{principal}:{key}")
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `principal`'s `key` for a request with `digest`. A key created before
    /// `expired_before` is forgotten; one whose request started before `stale_before`
    /// and never answered (its node died) is taken over.
    async fn begin_request(
        &self,
        principal: &str,
        key: &str,
        digest: &str,
        now: i64,
        stale_before: i64,
        expired_before: i64,
    ) -> Result<Begun>;
    /// Records that the request holding the key succeeded with `status` (its answer is
    /// sealed in the vault first).
    async fn finish_request(&self, principal: &str, key: &str, status: u16) -> Result<()>;
    /// Releases the key after its request failed, so that it can be tried again.
    async fn abandon_request(&self, principal: &str, key: &str) -> Result<()>;
    /// Forgets keys created before `before`, and their answers; how many were forgotten.
    async fn purge_idempotency_keys(&self, before: i64) -> Result<u64>;
}
