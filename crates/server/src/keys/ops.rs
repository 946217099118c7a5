//! API key operations shared by the HTTP API and the command line.

use std::time::Duration;

use switchyard_core::Secret;
use switchyard_core::apikey::{self, ApiKey, Scope};
use switchyard_core::time::now_ms;
use switchyard_store::{NewKey, Store, StoreError};

pub use switchyard_core::apikey::KeyStatus;

/// A key just created: its record and the raw key, which is never retrievable again.
#[derive(Debug)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub raw: Secret<String>,
}

fn new_key(
    name: &str,
    scopes: &[Scope],
    expires_at: Option<i64>,
    rotated_from: Option<String>,
) -> (NewKey, Secret<String>) {
    let generated = apikey::generate();
    let key = NewKey {
        id: switchyard_core::new_id("key"),
        name: name.to_string(),
        digest: generated.digest,
        hint: generated.hint,
        scopes: scopes.to_vec(),
        created_at: now_ms(),
        expires_at,
        rotated_from,
    };
    (key, generated.raw)
}

fn to_api_key(key: NewKey) -> ApiKey {
    ApiKey {
        id: key.id,
        name: key.name,
        hint: key.hint,
        scopes: key.scopes,
        created_at: key.created_at,
        expires_at: key.expires_at,
        revoked_at: None,
        last_used_at: None,
        rotated_from: key.rotated_from,
    }
}

pub async fn create(
    store: &dyn Store,
    name: &str,
    scopes: &[Scope],
    expires_at: Option<i64>,
) -> Result<CreatedKey, StoreError> {
    let (key, raw) = new_key(name, scopes, expires_at, None);
    store.insert_key(&key).await?;
    Ok(CreatedKey {
        key: to_api_key(key),
        raw,
    })
}

/// Creates an admin key named `bootstrap` if the store has no key at all.
pub async fn bootstrap(store: &dyn Store) -> Result<Option<CreatedKey>, StoreError> {
    let (key, raw) = new_key("bootstrap", &[Scope::Admin], None, None);
    Ok(store.insert_first_key(&key).await?.then(|| CreatedKey {
        key: to_api_key(key),
        raw,
    }))
}

/// Issues a replacement for `id` with the same name and scopes; the old key keeps
/// working for `grace`. `None` if `id` does not exist or is revoked.
pub async fn rotate(
    store: &dyn Store,
    id: &str,
    grace: Duration,
) -> Result<Option<(CreatedKey, ApiKey)>, StoreError> {
    let Some(old) = store.get_key(id).await? else {
        return Ok(None);
    };
    let (key, raw) = new_key(&old.name, &old.scopes, None, Some(old.id.clone()));
    let grace_end = now_ms().saturating_add(grace.as_millis() as i64);
    let rotated = store.rotate_key(id, &key, grace_end).await?;
    super::keys_changed();
    let Some(old) = rotated else {
        return Ok(None);
    };
    Ok(Some((
        CreatedKey {
            key: to_api_key(key),
            raw,
        },
        old,
    )))
}

/// Whether `key` works at `now`.
pub fn status(key: &ApiKey, now: i64) -> KeyStatus {
    key.status(now)
}
