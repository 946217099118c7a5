//! How objects and access rules are shown.

use serde::Serialize;
use switchyard_core::storage::{Grant, PrefixRule, StoredObject, Visibility};
use switchyard_core::time::rfc3339;
use utoipa::ToSchema;

/// An object as the hub records it, the same on every backend.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ObjectView {
    pub(crate) store: String,
    pub(crate) key: String,
    /// Bytes.
    pub(crate) size: i64,
    pub(crate) content_type: String,
    /// Quoted, as in the `ETag` header.
    pub(crate) etag: String,
    /// Hex SHA-256 of the bytes; `null` for an object written straight to the bucket
    /// and never read through the hub.
    pub(crate) sha256: Option<String>,
    /// The object's own, else the store's `default_visibility` (prefix rules may still
    /// make it public: `/access/check` decides).
    pub(crate) visibility: Visibility,
    pub(crate) owner: Option<String>,
    pub(crate) grants: Vec<Grant>,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

impl ObjectView {
    pub(crate) fn new(o: &StoredObject, default_visibility: Visibility) -> Self {
        ObjectView {
            store: o.store.clone(),
            key: o.key.clone(),
            size: o.size,
            content_type: o.content_type.clone(),
            etag: o.etag.clone(),
            sha256: o.sha256.clone(),
            visibility: o.visibility.unwrap_or(default_visibility),
            owner: o.owner.clone(),
            grants: o.grants.clone(),
            created_at: rfc3339(o.created_at),
            updated_at: rfc3339(o.updated_at),
        }
    }
}

/// The access settings of every key under a prefix.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct RuleView {
    pub(crate) store: String,
    pub(crate) prefix: String,
    pub(crate) owner: Option<String>,
    /// `null`: as the store's default (or a shorter prefix's rule) says.
    pub(crate) visibility: Option<Visibility>,
    pub(crate) grants: Vec<Grant>,
    pub(crate) updated_at: String,
}

impl From<PrefixRule> for RuleView {
    fn from(r: PrefixRule) -> Self {
        RuleView {
            store: r.store,
            prefix: r.prefix,
            owner: r.owner,
            visibility: r.visibility,
            grants: r.grants,
            updated_at: rfc3339(r.updated_at),
        }
    }
}
