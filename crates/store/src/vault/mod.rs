//! The secret vault: values sealed with the keyring and kept in the store.
//!
//! Readers never see downtime during a master-key rotation: the keyring holds the new
//! key and the previous ones, so a value opens whether or not it has been re-sealed yet.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use switchyard_core::Secret;
use switchyard_core::time::now_ms;
use switchyard_core::vault::{Keyring, Sealed, VaultError};

use crate::{Result, Store, StoreError};

pub(crate) mod sql;

/// The ids of everything the hub seals, in one place.
pub mod ids {
    /// A source's credential.
    pub fn source_credential(source_id: &str) -> String {
        format!("{source_id}/credential")
    }

    /// A source's previous credential, while a rotation's overlap lasts.
    pub fn source_previous(source_id: &str) -> String {
        format!("{source_id}/previous")
    }

    /// An endpoint's signing secret.
    pub fn endpoint_secret(endpoint_id: &str) -> String {
        format!("endpoint:{endpoint_id}")
    }

    /// An endpoint's previous signing secret, while a rotation's grace lasts.
    pub fn endpoint_previous(endpoint_id: &str) -> String {
        format!("endpoint:{endpoint_id}:previous")
    }

    /// The parts of an endpoint's destination that are secret: the URL's password and
    /// the extra headers' values.
    pub fn endpoint_private(endpoint_id: &str) -> String {
        format!("endpoint:{endpoint_id}:private")
    }

    /// The settings of a provider configured through the API.
    pub fn provider_settings(capability: &str, name: &str) -> String {
        format!("provider:{capability}:{name}")
    }

    /// A user pool's signing keys (a JSON list, the retired ones included).
    pub fn auth_signing_keys(pool: &str) -> String {
        format!("auth:{pool}:signing")
    }

    /// The key a user pool's refresh tokens are authenticated with.
    pub fn auth_refresh_key(pool: &str) -> String {
        format!("auth:{pool}:refresh")
    }

    /// A connection's credentials (API keys, secret settings, an OAuth client of its
    /// own), a JSON object.
    pub fn connection_credentials(connection_id: &str) -> String {
        format!("connection:{connection_id}:credentials")
    }

    /// A connection's OAuth tokens (access token, its expiry, refresh token), JSON.
    pub fn connection_tokens(connection_id: &str) -> String {
        format!("connection:{connection_id}:tokens")
    }

    pub use crate::idempotency::idempotency_secret_id as idempotency_answer;
}

/// Sealed values by id. Only the vault reads and writes them.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Inserts or replaces the sealed value of `id`.
    async fn put_secret(&self, id: &str, sealed: &Sealed, now: i64) -> Result<()>;
    async fn get_secret(&self, id: &str) -> Result<Option<Sealed>>;
    async fn delete_secret(&self, id: &str) -> Result<bool>;
    /// Up to `limit` values sealed under a key other than `key_id`.
    async fn secrets_not_under(&self, key_id: &str, limit: u32) -> Result<Vec<(String, Sealed)>>;
    /// Inserts the sealed value of `id` unless `id` holds one; whether it did.
    async fn insert_secret(&self, id: &str, sealed: &Sealed, now: i64) -> Result<bool>;
    /// Replaces the value of `id` only if it still holds `expected` (same nonce), so a
    /// concurrent write is never overwritten by a re-seal of older data.
    async fn replace_secret(
        &self,
        id: &str,
        expected: &Sealed,
        new: &Sealed,
        now: i64,
    ) -> Result<bool>;
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where keys come from; asked again when a value is sealed under an unknown key (for
/// example after another process rotated the key file).
pub trait KeySource: Send + Sync + std::fmt::Debug {
    fn load(&self) -> Result<Keyring, String>;
    /// Whether the keys changed since the last `load` (cheap; checked before sealing so
    /// a rotation done by another process is picked up).
    fn changed(&self) -> bool {
        false
    }
}

#[derive(Debug, Clone)]
pub struct Vault {
    store: Arc<dyn Store>,
    keyring: Arc<RwLock<Keyring>>,
    source: Option<Arc<dyn KeySource>>,
}

impl Vault {
    pub fn new(
        store: Arc<dyn Store>,
        keyring: Keyring,
        source: Option<Arc<dyn KeySource>>,
    ) -> Self {
        Self {
            store,
            keyring: Arc::new(RwLock::new(keyring)),
            source,
        }
    }

    pub fn keyring(&self) -> Keyring {
        self.keyring
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Seals and stores `value` under `id`, replacing any previous value.
    pub async fn put(&self, id: &str, value: &[u8]) -> Result<(), SecretError> {
        if self.source.as_ref().is_some_and(|s| s.changed()) {
            self.reload()?;
        }
        let sealed = self.keyring().seal(id, value);
        self.store.put_secret(id, &sealed, now_ms()).await?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<Option<Secret<Vec<u8>>>, SecretError> {
        let Some(sealed) = self.store.get_secret(id).await? else {
            return Ok(None);
        };
        match self.keyring().open(id, &sealed) {
            Err(VaultError::UnknownKey(key_id)) => {
                let reloaded = self.reload()?;
                if !reloaded.contains(&key_id) {
                    return Err(VaultError::UnknownKey(key_id).into());
                }
                Ok(Some(reloaded.open(id, &sealed)?))
            }
            other => Ok(Some(other?)),
        }
    }

    /// Changes the value of `id` to what `change` makes of the current one (`None` when
    /// there is none) and returns it. Concurrent changes, on any node, never overwrite
    /// one another: `change` runs again on the value another writer left.
    pub async fn update(
        &self,
        id: &str,
        change: impl Fn(Option<&[u8]>) -> Vec<u8>,
    ) -> Result<Secret<Vec<u8>>, SecretError> {
        loop {
            let current = self.store.get_secret(id).await?;
            let plain = match &current {
                Some(sealed) => Some(match self.keyring().open(id, sealed) {
                    Err(VaultError::UnknownKey(_)) => self.reload()?.open(id, sealed)?,
                    other => other?,
                }),
                None => None,
            };
            let value = change(plain.as_ref().map(|p| p.expose().as_slice()));
            if plain.as_ref().is_some_and(|p| *p.expose() == value) {
                return Ok(Secret::new(value));
            }
            let sealed = self.keyring().seal(id, &value);
            let done = match &current {
                Some(old) => {
                    self.store
                        .replace_secret(id, old, &sealed, now_ms())
                        .await?
                }
                None => self.store.insert_secret(id, &sealed, now_ms()).await?,
            };
            if done {
                return Ok(Secret::new(value));
            }
        }
    }

    pub async fn delete(&self, id: &str) -> Result<bool, SecretError> {
        Ok(self.store.delete_secret(id).await?)
    }

    /// Replaces the value of `current` with `value`. With a non-zero `grace`, the
    /// replaced value moves to `previous`, and the end of the grace is returned (while
    /// it lasts, both are valid); with none, `previous` is dropped. A rotation drops
    /// nothing in flight: the new value is sealed last.
    pub async fn rotate(
        &self,
        current: &str,
        previous: &str,
        value: &[u8],
        grace: std::time::Duration,
    ) -> Result<Option<i64>, SecretError> {
        let until = if grace.is_zero() {
            self.delete(previous).await?;
            None
        } else if let Some(old) = self.get(current).await? {
            self.put(previous, old.expose()).await?;
            Some(now_ms().saturating_add(grace.as_millis() as i64))
        } else {
            None
        };
        self.put(current, value).await?;
        Ok(until)
    }

    fn reload(&self) -> Result<Keyring, VaultError> {
        let Some(source) = &self.source else {
            return Ok(self.keyring());
        };
        match source.load() {
            Ok(ring) => {
                *self.keyring.write().unwrap_or_else(|e| e.into_inner()) = ring.clone();
                Ok(ring)
            }
            Err(e) => {
                tracing::error!(error = %e, "reloading master keys failed");
                Ok(self.keyring())
            }
        }
    }

    /// Re-seals every value not yet under the current master key. Values written
    /// concurrently are left as written (they are already under the current key).
    /// Returns how many values were re-sealed.
    pub async fn reseal_all(&self) -> Result<u64, SecretError> {
        let ring = self.keyring();
        let current = ring.current().id().to_string();
        let mut count = 0;
        loop {
            let batch = self.store.secrets_not_under(&current, 256).await?;
            if batch.is_empty() {
                return Ok(count);
            }
            for (id, sealed) in batch {
                let plain = ring.open(&id, &sealed)?;
                let fresh = ring.seal(&id, plain.expose());
                if self
                    .store
                    .replace_secret(&id, &sealed, &fresh, now_ms())
                    .await?
                {
                    count += 1;
                }
            }
        }
    }
}
