//! Object storage: what the hub records of each object (its bytes are in a backend),
//! access rules by key prefix, create-only claims on keys and direct uploads waiting to
//! be checked. Objects' `storage.object.*` events are written in the same transaction
//! as the change they announce.

use async_trait::async_trait;
use switchyard_core::event::NewEvent;
use switchyard_core::storage::{Grant, PrefixRule, StoredObject, Upload, Visibility};

use crate::Result;

pub(crate) mod sql;

/// A change of access settings: each `Some` replaces the field (`Some(None)` clears it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessChange {
    pub owner: Option<Option<String>>,
    pub visibility: Option<Option<Visibility>>,
    pub grants: Option<Vec<Grant>>,
}

#[async_trait]
pub trait StorageStore: Send + Sync {
    /// Holds `key` for a create-only write until `expires_at`: `false` when an object,
    /// or a claim not yet expired, has it.
    async fn claim_object_key(
        &self,
        store: &str,
        key: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<bool>;
    /// Lets go of a claim whose write did not happen (an object is left alone).
    async fn release_object_key(&self, store: &str, key: &str) -> Result<()>;
    /// Records `object` as written, replacing what its key held (a claim included), and
    /// inserts `event` in the same transaction. Returns the object it replaced.
    async fn put_object(
        &self,
        object: &StoredObject,
        event: Option<&NewEvent>,
    ) -> Result<Option<StoredObject>>;
    async fn get_object(&self, store: &str, key: &str) -> Result<Option<StoredObject>>;
    /// Forgets the object, inserting `event` in the same transaction; the removed one.
    async fn delete_object(
        &self,
        store: &str,
        key: &str,
        event: Option<&NewEvent>,
    ) -> Result<Option<StoredObject>>;
    /// Objects whose key starts with `prefix`, in key order (bytewise), after `after`.
    async fn list_objects(
        &self,
        store: &str,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredObject>>;
    /// Changes an object's access settings; `None` when there is no such object.
    async fn set_object_access(
        &self,
        store: &str,
        key: &str,
        change: &AccessChange,
        now: i64,
    ) -> Result<Option<StoredObject>>;
    /// Creates or changes the rule of `prefix`; the rule as it now is.
    async fn set_prefix_rule(
        &self,
        store: &str,
        prefix: &str,
        change: &AccessChange,
        now: i64,
    ) -> Result<PrefixRule>;
    /// The rules of every prefix of `key` (the empty prefix included), shortest first.
    async fn prefix_rules(&self, store: &str, key: &str) -> Result<Vec<PrefixRule>>;
    async fn insert_upload(&self, upload: &Upload) -> Result<()>;
    async fn get_upload(&self, id: &str) -> Result<Option<Upload>>;
    /// Marks a pending upload complete and records its object with `event`, in one
    /// transaction; `false` (and nothing changed) when the upload was not pending.
    async fn complete_upload(
        &self,
        id: &str,
        object: &StoredObject,
        event: Option<&NewEvent>,
    ) -> Result<bool>;
    /// Removes a pending upload (refused, or swept); `false` when it was not pending.
    async fn drop_upload(&self, id: &str) -> Result<bool>;
    /// Pending uploads past their expiry, soonest expired first.
    async fn expired_uploads(&self, now: i64, limit: u32) -> Result<Vec<Upload>>;
    /// Create-only claims past their expiry, as `(store, key)`.
    async fn expired_claims(&self, now: i64, limit: u32) -> Result<Vec<(String, String)>>;
}
