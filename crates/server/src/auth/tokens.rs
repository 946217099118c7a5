//! A pool's tokens: ES256 signing keys kept sealed in the vault (the retired ones
//! published until every token they signed has expired), access tokens, the JWKS, and
//! refresh tokens that name their session and counter under the pool's HMAC key.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use switchyard_core::auth::User;
use switchyard_store::vault::{SecretError, Vault, ids};

use crate::runtime::refreshed::Refreshed;

/// One signing key as sealed in the vault.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredKey {
    pub(crate) kid: String,
    /// PKCS#8 DER, base64.
    pub(crate) private: String,
    /// The public point, for the JWKS.
    pub(crate) x: String,
    pub(crate) y: String,
    pub(crate) created_at: i64,
    pub(crate) retired_at: Option<i64>,
}

/// A pool's keys: the newest unretired one signs.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    pub(crate) keys: Vec<StoredKey>,
}

fn new_key(now: i64) -> StoredKey {
    let secret = loop {
        if let Ok(k) = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
            break k;
        }
    };
    let point =
        p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&secret.public_key(), false);
    let der = secret.to_pkcs8_der().expect("a P-256 key encodes");
    StoredKey {
        kid: switchyard_core::new_id("kid"),
        private: STANDARD.encode(der.as_bytes()),
        x: URL_SAFE_NO_PAD.encode(point.x().expect("uncompressed")),
        y: URL_SAFE_NO_PAD.encode(point.y().expect("uncompressed")),
        created_at: now,
        retired_at: None,
    }
}

fn parse(bytes: Option<&[u8]>) -> Vec<StoredKey> {
    bytes
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_default()
}

/// The pool's signing keys, read again from the vault every few seconds so that a
/// rotation on any node is picked up.
#[derive(Debug)]
pub(crate) struct Keys {
    pool: String,
    vault: Vault,
    cache: Refreshed<KeySet>,
    /// How long a retired key stays published: the access-token lifetime plus the
    /// cache's, so every token it signed has expired before it goes.
    keep: Duration,
}

/// How often a node reads its pools' keys again.
const KEYS_TTL: Duration = Duration::from_secs(10);

impl Keys {
    pub(crate) fn new(pool: &str, vault: Vault, access_ttl: Duration) -> Self {
        Keys {
            pool: pool.to_string(),
            vault,
            cache: Refreshed::new(KEYS_TTL),
            keep: access_ttl + KEYS_TTL + Duration::from_secs(60),
        }
    }

    /// The keys, with a signing key made first if the pool has none.
    pub(crate) async fn get(&self) -> std::sync::Arc<KeySet> {
        let load = async {
            let now = switchyard_core::time::now_ms();
            let keep = self.keep.as_millis() as i64;
            let value = self
                .vault
                .update(&ids::auth_signing_keys(&self.pool), |current| {
                    let mut keys = parse(current);
                    keys.retain(|k| k.retired_at.is_none_or(|r| r + keep > now));
                    if !keys.iter().any(|k| k.retired_at.is_none()) {
                        keys.push(new_key(now));
                    }
                    serde_json::to_vec(&keys).expect("keys serialize")
                })
                .await?;
            Ok::<_, SecretError>(KeySet {
                keys: parse(Some(value.expose())),
            })
        };
        self.cache.get("signing keys", load).await
    }

    /// Retires the signing key and makes a new one; the new key's id.
    pub(crate) async fn rotate(&self) -> Result<String, SecretError> {
        let now = switchyard_core::time::now_ms();
        let fresh = new_key(now);
        let kid = fresh.kid.clone();
        self.vault
            .update(&ids::auth_signing_keys(&self.pool), |current| {
                let mut keys = parse(current);
                for k in keys.iter_mut().filter(|k| k.retired_at.is_none()) {
                    k.retired_at = Some(now);
                }
                keys.push(fresh.clone());
                serde_json::to_vec(&keys).expect("keys serialize")
            })
            .await?;
        self.cache.invalidate();
        Ok(kid)
    }

    /// The JWKS: every key not retired longer ago than tokens live.
    pub(crate) async fn jwks(&self) -> serde_json::Value {
        let set = self.get().await;
        let keys: Vec<serde_json::Value> = set
            .keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig",
                    "kid": k.kid, "x": k.x, "y": k.y,
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// The claims of a hub access token.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AccessClaims {
    pub(crate) iss: String,
    pub(crate) aud: String,
    pub(crate) sub: String,
    pub(crate) sid: String,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
    pub(crate) roles: Vec<String>,
    pub(crate) email: String,
    pub(crate) email_verified: bool,
    pub(crate) status: String,
}

/// Signs an access token for `user` in session `sid` with the pool's current key.
pub(crate) fn sign_access(
    set: &KeySet,
    issuer: &str,
    pool: &str,
    user: &User,
    sid: &str,
    now_s: i64,
    ttl: Duration,
) -> Result<String, String> {
    let key = set
        .keys
        .iter()
        .rev()
        .find(|k| k.retired_at.is_none())
        .ok_or("the pool has no signing key")?;
    let der = STANDARD.decode(&key.private).map_err(|e| e.to_string())?;
    // Checks the stored key before it is used.
    p256::SecretKey::from_pkcs8_der(&der).map_err(|e| e.to_string())?;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    header.typ = Some("at+jwt".into());
    let claims = AccessClaims {
        iss: issuer.to_string(),
        aud: pool.to_string(),
        sub: user.id.clone(),
        sid: sid.to_string(),
        iat: now_s,
        exp: now_s + ttl.as_secs() as i64,
        roles: user.roles.clone(),
        email: user.email.clone(),
        email_verified: user.email_verified,
        status: user.status.as_str().to_string(),
    };
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ec_der(&der))
        .map_err(|e| e.to_string())
}

/// The pool's refresh-token key, made on first use.
pub(crate) async fn refresh_key(vault: &Vault, pool: &str) -> Result<Vec<u8>, SecretError> {
    let value = vault
        .update(&ids::auth_refresh_key(pool), |current| match current {
            Some(k) if k.len() == 32 => k.to_vec(),
            _ => rand::random::<[u8; 32]>().to_vec(),
        })
        .await?;
    Ok(value.expose().clone())
}

const REFRESH_PREFIX: &str = "srt_";

/// `srt_<session>.<counter>.<mac>`: nothing but the session's counter is stored.
pub(crate) fn refresh_token(key: &[u8], session: &str, counter: i64) -> String {
    format!(
        "{REFRESH_PREFIX}{session}.{counter}.{}",
        refresh_mac(key, session, counter)
    )
}

fn refresh_mac(key: &[u8], session: &str, counter: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(session.as_bytes());
    mac.update(b".");
    mac.update(counter.to_string().as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The session and counter a refresh token names, if its MAC holds.
pub(crate) fn open_refresh(key: &[u8], token: &str) -> Option<(String, i64)> {
    let rest = token.strip_prefix(REFRESH_PREFIX)?;
    let mut parts = rest.splitn(3, '.');
    let (session, counter, mac) = (parts.next()?, parts.next()?, parts.next()?);
    if !switchyard_core::id::has_prefix(session, "ses") {
        return None;
    }
    let counter: i64 = counter.parse().ok().filter(|c| *c >= 0)?;
    let expected = refresh_mac(key, session, counter);
    bool::from(expected.as_bytes().ct_eq(mac.as_bytes())).then(|| (session.to_string(), counter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_open_only_with_their_key_and_unaltered() {
        let key = [7u8; 32];
        let sid = switchyard_core::new_id("ses");
        let t = refresh_token(&key, &sid, 3);
        assert_eq!(open_refresh(&key, &t), Some((sid.clone(), 3)));
        assert_eq!(open_refresh(&[8u8; 32], &t), None);
        let bumped = t.replacen(".3.", ".4.", 1);
        assert_eq!(open_refresh(&key, &bumped), None);
        assert_eq!(open_refresh(&key, "srt_garbage"), None);
    }
}
