//! Sealing of secrets with AES-256-GCM under a master key.
//!
//! Each value gets a fresh random 96-bit nonce; the id of the master key that sealed it
//! is kept beside the ciphertext so a keyring holding the current and previous master
//! keys can open values sealed under any of them. The record id is bound as associated
//! data, so a ciphertext moved to another record fails to open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::Secret;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    #[error("master key must be the base64 encoding of exactly 32 bytes")]
    BadMasterKey,
    #[error("value was sealed under master key {0}, which is not in the keyring")]
    UnknownKey(String),
    #[error("sealed value failed authentication (tampered or bound to another record)")]
    Tampered,
}

/// A 256-bit master key and its public id (the first 8 bytes of its SHA-256, in hex).
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    cipher: Aes256Gcm,
    encoded: Secret<String>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    pub fn from_base64(encoded: &str) -> Result<Self, VaultError> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| VaultError::BadMasterKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| VaultError::BadMasterKey)?;
        Ok(Self::from_bytes(key))
    }

    pub fn from_bytes(key: [u8; 32]) -> Self {
        let id = hex::encode(&Sha256::digest(key)[..8]);
        Self {
            id,
            cipher: Aes256Gcm::new(&key.into()),
            encoded: Secret::new(STANDARD.encode(key)),
        }
    }

    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self::from_bytes(key)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The base64 form, for writing a key file.
    pub fn to_base64(&self) -> &Secret<String> {
        &self.encoded
    }

    /// A 256-bit key for one `purpose` (e.g. `"storage.signed-urls"`), derived from this
    /// master key with HMAC-SHA256, so that no purpose ever uses the master key itself.
    pub fn derive(&self, purpose: &str) -> Secret<[u8; 32]> {
        use hmac::{Hmac, Mac};
        let raw = STANDARD
            .decode(self.encoded.expose())
            .expect("the encoded form was made from the key");
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&raw).expect("any key length");
        mac.update(b"switchyard/");
        mac.update(purpose.as_bytes());
        Secret::new(mac.finalize().into_bytes().into())
    }
}

/// A sealed value as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// The current master key (used to seal) and previous ones (used only to open).
#[derive(Debug, Clone)]
pub struct Keyring {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl Keyring {
    pub fn new(current: MasterKey, previous: Vec<MasterKey>) -> Self {
        let previous = previous
            .into_iter()
            .filter(|k| k.id != current.id)
            .collect();
        Self { current, previous }
    }

    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    /// The current key first, then the previous ones.
    pub fn keys(&self) -> impl Iterator<Item = &MasterKey> {
        std::iter::once(&self.current).chain(&self.previous)
    }

    pub fn contains(&self, key_id: &str) -> bool {
        self.key(key_id).is_some()
    }

    fn key(&self, key_id: &str) -> Option<&MasterKey> {
        self.keys().find(|k| k.id == key_id)
    }

    /// Seals `plaintext` for the record `record_id` under the current key.
    pub fn seal(&self, record_id: &str, plaintext: &[u8]) -> Sealed {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: record_id.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        Sealed {
            key_id: self.current.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    /// Opens a value sealed for `record_id` under any key of the ring.
    pub fn open(&self, record_id: &str, sealed: &Sealed) -> Result<Secret<Vec<u8>>, VaultError> {
        let key = self
            .key(&sealed.key_id)
            .ok_or_else(|| VaultError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.nonce.len() != 12 {
            return Err(VaultError::Tampered);
        }
        key.cipher
            .decrypt(
                Nonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: record_id.as_bytes(),
                },
            )
            .map(Secret::new)
            .map_err(|_| VaultError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_tamper_detection() {
        let ring = Keyring::new(MasterKey::generate(), vec![]);
        let sealed = ring.seal("sec_1", b"whsec_abc");
        assert_eq!(ring.open("sec_1", &sealed).unwrap().expose(), b"whsec_abc");
        assert_ne!(sealed.ciphertext, b"whsec_abc");

        let mut flipped = sealed.clone();
        flipped.ciphertext[0] ^= 1;
        assert_eq!(
            ring.open("sec_1", &flipped).unwrap_err(),
            VaultError::Tampered
        );
        assert_eq!(
            ring.open("sec_2", &sealed).unwrap_err(),
            VaultError::Tampered
        );
        let mut short = sealed.clone();
        short.nonce.truncate(3);
        assert_eq!(
            ring.open("sec_1", &short).unwrap_err(),
            VaultError::Tampered
        );
        let mut empty = sealed.clone();
        empty.ciphertext.clear();
        assert_eq!(
            ring.open("sec_1", &empty).unwrap_err(),
            VaultError::Tampered
        );
    }

    #[test]
    fn previous_keys_open_but_do_not_seal() {
        let old = MasterKey::generate();
        let old_ring = Keyring::new(old.clone(), vec![]);
        let sealed = old_ring.seal("sec_1", b"v");
        let new_ring = Keyring::new(MasterKey::generate(), vec![old.clone()]);
        assert_eq!(new_ring.open("sec_1", &sealed).unwrap().expose(), b"v");
        assert_ne!(new_ring.seal("sec_1", b"v").key_id, old.id());
        let stranger = Keyring::new(MasterKey::generate(), vec![]);
        assert!(matches!(
            stranger.open("sec_1", &sealed),
            Err(VaultError::UnknownKey(_))
        ));
    }

    #[test]
    fn master_key_parsing() {
        let key = MasterKey::generate();
        let again = MasterKey::from_base64(key.to_base64().expose()).unwrap();
        assert_eq!(key.id(), again.id());
        assert_eq!(
            MasterKey::from_base64("c2hvcnQ=").unwrap_err(),
            VaultError::BadMasterKey
        );
        assert_eq!(
            MasterKey::from_base64("not base64!").unwrap_err(),
            VaultError::BadMasterKey
        );
        assert!(!format!("{key:?}").contains(key.to_base64().expose()));
    }
}
