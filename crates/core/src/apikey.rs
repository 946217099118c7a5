//! API keys: generation, digests and scopes.
//!
//! A raw key is `sk_` followed by the URL-safe base64 of 32 random bytes. Only its
//! SHA-256 digest is ever stored; a presented key is digested and compared with the
//! stored digest in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::Secret;

pub const KEY_PREFIX: &str = "sk_";

/// A freshly generated key: the raw value (shown once) and what the store keeps.
#[derive(Debug)]
pub struct GeneratedKey {
    pub raw: Secret<String>,
    pub digest: [u8; 32],
    /// The last four characters, kept so people can tell keys apart in listings.
    pub hint: String,
}

pub fn generate() -> GeneratedKey {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let raw = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hint = raw[raw.len() - 4..].to_string();
    GeneratedKey {
        digest: digest(&raw),
        raw: Secret::new(raw),
        hint,
    }
}

pub fn digest(raw: &str) -> [u8; 32] {
    Sha256::digest(raw.as_bytes()).into()
}

/// Constant-time comparison of two digests.
pub fn digests_match(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Whether a presented token has the shape of a key (cheap pre-check before hashing).
pub fn looks_like_key(token: &str) -> bool {
    token.len() == KEY_PREFIX.len() + 43
        && token.starts_with(KEY_PREFIX)
        && token[KEY_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

crate::text_enum! {
    /// What a key may do. `admin` may do everything; `read` may call every `GET`; a
    /// resource scope grants reading and writing that resource.
    pub enum Scope {
        Admin = "admin",
        Read = "read",
        Keys = "keys",
        Sources = "sources",
        Events = "events",
        Endpoints = "endpoints",
        Messages = "messages",
        Templates = "templates",
        Accounts = "accounts",
        Payments = "payments",
        Storage = "storage",
        Auth = "auth",
        Connectors = "connectors",
    }
}

impl Scope {
    /// Parses a space- or comma-separated list, as stored and as typed on the CLI.
    pub fn parse_list(s: &str) -> Result<Vec<Scope>, String> {
        let mut scopes = Vec::new();
        for part in s.split([' ', ',']).filter(|p| !p.is_empty()) {
            let scope = Scope::parse(part).ok_or_else(|| {
                format!("unknown scope {part:?}; expected one of {}", Scope::names())
            })?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        scopes.sort();
        Ok(scopes)
    }

    pub fn join(scopes: &[Scope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Whether a key holding `granted` may perform an operation on `resource`.
pub fn allows(granted: &[Scope], resource: Scope, write: bool) -> bool {
    granted.contains(&Scope::Admin)
        || granted.contains(&resource)
        || (!write && granted.contains(&Scope::Read))
}

/// Whether a key holding `granted` holds every scope of `wanted` (`admin` holds them
/// all). A key may only hand on, rotate or revoke what it holds itself.
pub fn holds_all(granted: &[Scope], wanted: &[Scope]) -> bool {
    granted.contains(&Scope::Admin) || wanted.iter().all(|w| granted.contains(w))
}

crate::text_enum! {
    /// Whether a key works.
    pub enum KeyStatus { Active = "active", Expired = "expired", Revoked = "revoked" }
}

/// A stored key as listed; never contains the raw key or its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub hint: String,
    pub scopes: Vec<Scope>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub rotated_from: Option<String>,
}

impl ApiKey {
    /// Usable at `now`: not revoked and not past its expiry.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|t| t > now)
    }

    pub fn status(&self, now: i64) -> KeyStatus {
        if self.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if self.is_active(now) {
            KeyStatus::Active
        } else {
            KeyStatus::Expired
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_long_random_and_digest_only_matches_itself() {
        let a = generate();
        let b = generate();
        assert!(looks_like_key(a.raw.expose()), "{}", a.raw.expose().len());
        assert_ne!(a.raw.expose(), b.raw.expose());
        assert!(digests_match(&a.digest, &digest(a.raw.expose())));
        assert!(!digests_match(&a.digest, &b.digest));
        assert!(a.raw.expose().ends_with(&a.hint));
        assert!(!looks_like_key("sk_short"));
        assert!(!looks_like_key(&a.raw.expose().replace("sk_", "pk_")));
    }

    #[test]
    fn scopes_parse_and_authorize() {
        assert_eq!(
            Scope::parse_list("keys, read keys"),
            Ok(vec![Scope::Read, Scope::Keys])
        );
        assert!(
            Scope::parse_list("root")
                .unwrap_err()
                .contains("unknown scope \"root\"")
        );
        assert!(allows(&[Scope::Admin], Scope::Keys, true));
        assert!(allows(&[Scope::Read], Scope::Keys, false));
        assert!(!allows(&[Scope::Read], Scope::Keys, true));
        assert!(!allows(&[Scope::Events], Scope::Keys, false));
        assert!(holds_all(&[Scope::Admin], &[Scope::Admin, Scope::Keys]));
        assert!(holds_all(&[Scope::Keys, Scope::Read], &[Scope::Read]));
        assert!(!holds_all(&[Scope::Keys], &[Scope::Admin]));
        assert!(!holds_all(&[Scope::Keys, Scope::Read], &[Scope::Sources]));
    }
}
