//! The hub's own signed URLs, for `local` and `memory` stores: an HMAC-SHA256, under a
//! key derived from the master key (every key of the keyring is accepted, so URLs
//! outlive a rotation), over the method, store, key, expiry, content type, size limit
//! and upload id, checked in constant time.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use switchyard_core::Secret;
use switchyard_core::vault::Keyring;

/// The purpose the signing key is derived for.
const PURPOSE: &str = "storage.signed-urls";

/// Signs and checks the URLs of `local` and `memory` stores.
#[derive(Clone)]
pub(crate) struct HubSigner {
    /// By master key id: the current key first, then earlier ones still accepted.
    keys: Vec<(String, Secret<[u8; 32]>)>,
    /// `public_url`, else the address the hub listens on (known once it serves).
    base_url: Arc<RwLock<String>>,
}

impl std::fmt::Debug for HubSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubSigner")
            .field(
                "base_url",
                &*self.base_url.read().unwrap_or_else(|e| e.into_inner()),
            )
            .finish_non_exhaustive()
    }
}

/// What a hub-signed URL allows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Grant {
    pub(crate) method: &'static str,
    pub(crate) store: String,
    pub(crate) key: String,
    /// Unix seconds.
    pub(crate) expires: i64,
    pub(crate) content_type: Option<String>,
    pub(crate) max_size: Option<u64>,
    /// A direct upload the bytes are for (they are recorded on its completion).
    pub(crate) upload: Option<String>,
}

impl Grant {
    fn message(&self) -> String {
        format!(
            "v1\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.method,
            self.store,
            self.key,
            self.expires,
            self.content_type.as_deref().unwrap_or(""),
            self.max_size.map(|n| n.to_string()).unwrap_or_default(),
            self.upload.as_deref().unwrap_or(""),
        )
    }
}

/// Why a hub-signed URL is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    Malformed,
    Forged,
    Expired,
}

impl HubSigner {
    pub(crate) fn new(keyring: &Keyring, base_url: String) -> Self {
        let keys = keyring
            .keys()
            .map(|k| (k.id().to_string(), k.derive(PURPOSE)))
            .collect();
        Self {
            keys,
            base_url: Arc::new(RwLock::new(base_url.trim_end_matches('/').to_string())),
        }
    }

    /// Signs URLs for `base_url` from now on.
    pub(crate) fn set_base_url(&self, base_url: String) {
        *self.base_url.write().unwrap_or_else(|e| e.into_inner()) = base_url;
    }

    fn mac(key: &Secret<[u8; 32]>, grant: &Grant) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as hmac::Mac>::new_from_slice(key.expose()).expect("any key length");
        mac.update(grant.message().as_bytes());
        mac
    }

    /// The URL that allows `grant`.
    pub(crate) fn sign(&self, grant: &Grant) -> String {
        let (kid, key) = &self.keys[0];
        let signature = hex::encode(Self::mac(key, grant).finalize().into_bytes());
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("expires", &grant.expires.to_string());
        if let Some(ct) = &grant.content_type {
            query.append_pair("content_type", ct);
        }
        if let Some(n) = grant.max_size {
            query.append_pair("max_size", &n.to_string());
        }
        if let Some(u) = &grant.upload {
            query.append_pair("upload", u);
        }
        query.append_pair("kid", kid);
        query.append_pair("signature", &signature);
        let path: Vec<String> = grant
            .key
            .split('/')
            .map(|s| percent_encoding::utf8_percent_encode(s, SEGMENT).to_string())
            .collect();
        format!(
            "{}/s/{}/{}?{}",
            self.base_url.read().unwrap_or_else(|e| e.into_inner()),
            grant.store,
            path.join("/"),
            query.finish()
        )
    }

    /// The grant a request's method, path and query carry, if its signature holds and
    /// it has not expired at `now_ms`.
    pub(crate) fn check(
        &self,
        method: &'static str,
        store: &str,
        key: &str,
        query: Option<&str>,
        now_ms: i64,
    ) -> Result<Grant, Refused> {
        let mut pairs = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if pairs.insert(k.into_owned(), v.into_owned()).is_some() {
                return Err(Refused::Malformed);
            }
        }
        let mut take = |name: &str| pairs.remove(name);
        let expires = take("expires")
            .and_then(|e| e.parse().ok())
            .ok_or(Refused::Malformed)?;
        let max_size = match take("max_size") {
            None => None,
            Some(n) => Some(n.parse().map_err(|_| Refused::Malformed)?),
        };
        let grant = Grant {
            method,
            store: store.to_string(),
            key: key.to_string(),
            expires,
            content_type: take("content_type"),
            max_size,
            upload: take("upload"),
        };
        let kid = take("kid").ok_or(Refused::Malformed)?;
        let signature = take("signature")
            .and_then(|s| hex::decode(s).ok())
            .ok_or(Refused::Malformed)?;
        if !pairs.is_empty() {
            return Err(Refused::Malformed);
        }
        let (_, key) = self
            .keys
            .iter()
            .find(|(id, _)| *id == kid)
            .ok_or(Refused::Forged)?;
        // `verify_slice` compares in constant time.
        Self::mac(key, &grant)
            .verify_slice(&signature)
            .map_err(|_| Refused::Forged)?;
        if grant.expires.saturating_mul(1000) <= now_ms {
            return Err(Refused::Expired);
        }
        Ok(grant)
    }
}

/// What a URL path segment keeps unencoded.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::vault::MasterKey;

    fn signer(keys: Vec<MasterKey>) -> HubSigner {
        let mut keys = keys.into_iter();
        let ring = Keyring::new(keys.next().unwrap(), keys.collect());
        HubSigner::new(&ring, "https://files.example.com/".into())
    }

    fn query(url: &str) -> &str {
        url.split_once('?').unwrap().1
    }

    #[test]
    fn a_signed_url_holds_until_altered_or_expired() {
        let old = MasterKey::generate();
        let s = signer(vec![MasterKey::generate(), old.clone()]);
        let grant = Grant {
            method: "PUT",
            store: "media".into(),
            key: "a b/ü.png".into(),
            expires: 2_000,
            content_type: Some("image/png".into()),
            max_size: Some(10),
            upload: None,
        };
        let url = s.sign(&grant);
        assert!(
            url.starts_with("https://files.example.com/s/media/a%20b/%C3%BC.png?"),
            "{url}"
        );
        let q = query(&url);
        assert_eq!(
            s.check("PUT", "media", "a b/ü.png", Some(q), 1_999_999),
            Ok(grant.clone())
        );
        assert_eq!(
            s.check("PUT", "media", "a b/ü.png", Some(q), 2_000_000),
            Err(Refused::Expired)
        );
        assert_eq!(
            s.check("GET", "media", "a b/ü.png", Some(q), 1_000),
            Err(Refused::Forged)
        );
        assert_eq!(
            s.check("PUT", "media", "other", Some(q), 1_000),
            Err(Refused::Forged)
        );
        assert_eq!(
            s.check("PUT", "docs", "a b/ü.png", Some(q), 1_000),
            Err(Refused::Forged)
        );
        for (from, to) in [
            ("max_size=10", "max_size=11"),
            ("expires=2000", "expires=9000"),
            ("image%2Fpng", "text%2Fhtml"),
        ] {
            let altered = q.replace(from, to);
            assert_ne!(altered, q);
            assert_eq!(
                s.check("PUT", "media", "a b/ü.png", Some(&altered), 1_000),
                Err(Refused::Forged),
                "{from}"
            );
        }
        let dropped = q.replace("&max_size=10", "");
        assert_eq!(
            s.check("PUT", "media", "a b/ü.png", Some(&dropped), 1_000),
            Err(Refused::Forged)
        );
        let extra = format!("{q}&x=1");
        assert_eq!(
            s.check("PUT", "media", "a b/ü.png", Some(&extra), 1_000),
            Err(Refused::Malformed)
        );
        assert_eq!(
            s.check("PUT", "media", "a b/ü.png", None, 1_000),
            Err(Refused::Malformed)
        );

        // A URL signed under an earlier master key still holds during a rotation; one
        // signed under an unknown key does not.
        let before = signer(vec![old]).sign(&grant);
        assert!(
            s.check("PUT", "media", "a b/ü.png", Some(query(&before)), 1_000)
                .is_ok()
        );
        let stranger = signer(vec![MasterKey::generate()]).sign(&grant);
        assert_eq!(
            s.check("PUT", "media", "a b/ü.png", Some(query(&stranger)), 1_000),
            Err(Refused::Forged)
        );
    }
}
