//! API keys: only the SHA-256 digest of a raw key is stored.

use async_trait::async_trait;
use switchyard_core::apikey::{ApiKey, Scope};

use crate::{Page, Result};

pub(crate) mod sql;

/// A key to insert. `digest` is the SHA-256 of the raw key; the raw key is never stored.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub id: String,
    pub name: String,
    pub digest: [u8; 32],
    pub hint: String,
    pub scopes: Vec<Scope>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub rotated_from: Option<String>,
}

/// A key found by digest, with the stored digest for a constant-time comparison.
#[derive(Debug, Clone)]
pub struct KeyMatch {
    pub key: ApiKey,
    pub digest: Vec<u8>,
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn insert_key(&self, key: &NewKey) -> Result<()>;
    /// Inserts `key` only when the store holds no key at all (bootstrap). Safe against
    /// several nodes starting at once: at most one of them inserts.
    async fn insert_first_key(&self, key: &NewKey) -> Result<bool>;
    async fn find_key_by_digest(&self, digest: &[u8; 32]) -> Result<Option<KeyMatch>>;
    async fn get_key(&self, id: &str) -> Result<Option<ApiKey>>;
    async fn list_keys(&self, page: &Page) -> Result<Vec<ApiKey>>;
    /// Marks a key revoked (idempotent). `None` when no such key exists.
    async fn revoke_key(&self, id: &str, now: i64) -> Result<Option<ApiKey>>;
    /// Atomically inserts `replacement` and makes the key `id` expire at `old_expires_at`
    /// (or earlier, if it already expires sooner). `None` when `id` does not exist or is
    /// revoked.
    async fn rotate_key(
        &self,
        id: &str,
        replacement: &NewKey,
        old_expires_at: i64,
    ) -> Result<Option<ApiKey>>;
    async fn touch_key(&self, id: &str, now: i64) -> Result<()>;
}

pub(crate) fn scopes_from_db(s: &str) -> Result<Vec<Scope>> {
    Scope::parse_list(s).map_err(crate::StoreError::Corrupt)
}
