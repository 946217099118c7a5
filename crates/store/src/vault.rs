//! The secret vault: values sealed with the keyring and kept in the store.
//!
//! Readers never see downtime during a master-key rotation: the keyring holds the new
//! key and the previous ones, so a value opens whether or not it has been re-sealed yet.

use std::sync::{Arc, RwLock};

use switchyard_core::Secret;
use switchyard_core::time::now_ms;
use switchyard_core::vault::{Keyring, VaultError};

use crate::{Store, StoreError};

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

    pub async fn delete(&self, id: &str) -> Result<bool, SecretError> {
        Ok(self.store.delete_secret(id).await?)
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
