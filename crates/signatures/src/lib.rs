//! Webhook signature schemes over raw request bytes.
//!
//! Each provider module exposes a plain configuration struct implementing [`Verifier`].
//! Verifiers see the request exactly as received ([`Inbound`]) and never re-serialize the
//! body. Every secret comparison runs in constant time. No function here performs I/O or
//! panics on any input: every decoding problem becomes a [`VerifyError`].
//!
//! Contracts shared by all verifiers:
//! - A verifier holds a list of accepted keys; a request passes when any key verifies it
//!   (key rotation). An empty key list, or any key that cannot be decoded, is
//!   [`VerifyError::BadKey`], reported before the request is looked at.
//! - Schemes with a timestamp check the signature first, so [`VerifyError::Timestamp`] is
//!   only reported for requests whose signature is valid but whose time is out of range.
#![forbid(unsafe_code)]

use std::fmt;

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub mod github;
pub mod hmac_generic;
pub mod lemonsqueezy;
pub mod paddle;
pub mod paypal;
pub mod sendgrid;
pub mod shared_secret;
pub mod shopify;
pub mod slack;
pub mod standard;
pub mod stripe;
pub mod telnyx;
pub mod twilio;

/// What a verifier sees: the request exactly as received.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The full public URL the provider called (scheme, host, optional port, path, query). Only Twilio uses it.
    pub url: &'a str,
    /// Current unix time in seconds.
    pub now: i64,
}

/// Why a request was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("malformed header {0}")]
    MalformedHeader(&'static str),
    #[error("malformed body: {0}")]
    MalformedBody(String),
    #[error("signature does not match")]
    Mismatch,
    #[error("timestamp outside the tolerance window")]
    Timestamp,
    /// The configured key material is unusable: a configuration problem, not the caller's.
    #[error("invalid verification key: {0}")]
    BadKey(String),
}

impl VerifyError {
    /// Reason label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::MissingHeader(_) => "missing_header",
            VerifyError::MalformedHeader(_) => "malformed_header",
            VerifyError::MalformedBody(_) => "malformed_body",
            VerifyError::Mismatch => "mismatch",
            VerifyError::Timestamp => "timestamp",
            VerifyError::BadKey(_) => "bad_key",
        }
    }

    /// True when the request itself is malformed (answer 400) rather than forged or stale
    /// (answer 401).
    pub fn is_malformed_request(&self) -> bool {
        matches!(self, VerifyError::MalformedBody(_))
    }
}

/// An inbound signature scheme configured with the keys it currently accepts.
pub trait Verifier {
    /// `Ok(())` when any configured key verifies the request.
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError>;
}

/// Constant-time equality of two byte strings. Only the lengths may leak.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The header's value as a string, or `MissingHeader(name)` / `MalformedHeader(name)` when
/// it is absent or not visible ASCII. `name` is matched case-insensitively.
pub fn header_str<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, VerifyError> {
    match headers.get(name) {
        None => Err(VerifyError::MissingHeader(name)),
        Some(v) => v.to_str().map_err(|_| VerifyError::MalformedHeader(name)),
    }
}

/// Parses unix seconds written as 1 to 18 ASCII digits; anything else is
/// `MalformedHeader(header)`.
pub fn parse_unix(value: &str, header: &'static str) -> Result<i64, VerifyError> {
    if value.is_empty() || value.len() > 18 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::MalformedHeader(header));
    }
    value
        .parse()
        .map_err(|_| VerifyError::MalformedHeader(header))
}

/// Splits a `key=value` list such as Stripe's `t=…,v1=…,v1=…` at `separator`: exactly one
/// `timestamp_key` (returned as sent) and every `signature_key` value in order. Elements are
/// trimmed, empty ones skipped and unknown keys ignored.
pub(crate) fn timestamped_list<'a>(
    value: &'a str,
    separator: char,
    timestamp_key: &str,
    signature_key: &str,
    header: &'static str,
) -> Result<(&'a str, Vec<&'a str>), VerifyError> {
    let malformed = || VerifyError::MalformedHeader(header);
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for element in value
        .split(separator)
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let (key, val) = element.split_once('=').ok_or_else(malformed)?;
        if key == timestamp_key {
            if timestamp.replace(val).is_some() {
                return Err(malformed());
            }
        } else if key == signature_key {
            signatures.push(val);
        }
    }
    Ok((timestamp.ok_or_else(malformed)?, signatures))
}

/// `Err(Timestamp)` when `timestamp` is more than `tolerance_secs` away from `now`, in either
/// direction.
pub fn check_timestamp(timestamp: i64, now: i64, tolerance_secs: u64) -> Result<(), VerifyError> {
    let skew = (i128::from(now) - i128::from(timestamp)).unsigned_abs();
    if skew > u128::from(tolerance_secs) {
        Err(VerifyError::Timestamp)
    } else {
        Ok(())
    }
}

/// HMAC-SHA256 of the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Rejects an empty key list or an empty key: both would make forging trivial.
pub(crate) fn require_secrets<S: AsRef<[u8]>>(secrets: &[S]) -> Result<(), VerifyError> {
    if secrets.is_empty() {
        return Err(VerifyError::BadKey("no key configured".into()));
    }
    if secrets.iter().any(|s| s.as_ref().is_empty()) {
        return Err(VerifyError::BadKey("empty key".into()));
    }
    Ok(())
}

/// Verifies a scheme whose signature is one lowercase-hex or base64 HMAC-SHA256 string over
/// `parts`, accepting any of `secrets`.
pub(crate) fn any_secret_matches(
    secrets: &[String],
    parts: &[&[u8]],
    given: &str,
    encode: fn(&[u8]) -> String,
) -> bool {
    secrets.iter().fold(false, |found, secret| {
        let expected = encode(&hmac_sha256(secret.as_bytes(), parts));
        found | ct_eq(expected.as_bytes(), given.as_bytes())
    })
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

pub(crate) fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Shows how many secrets a configuration holds without showing them.
pub(crate) struct Redacted(pub(crate) usize);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{} redacted]", self.0)
    }
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_and_status_classes() {
        let all = [
            (VerifyError::MissingHeader("x"), "missing_header"),
            (VerifyError::MalformedHeader("x"), "malformed_header"),
            (VerifyError::MalformedBody("x".into()), "malformed_body"),
            (VerifyError::Mismatch, "mismatch"),
            (VerifyError::Timestamp, "timestamp"),
            (VerifyError::BadKey("x".into()), "bad_key"),
        ];
        for (err, reason) in all {
            assert_eq!(err.reason(), reason);
            assert_eq!(err.is_malformed_request(), reason == "malformed_body");
        }
    }

    #[test]
    fn timestamp_window_is_symmetric_and_inclusive() {
        assert_eq!(check_timestamp(1000, 1300, 300), Ok(()));
        assert_eq!(check_timestamp(1000, 700, 300), Ok(()));
        assert_eq!(
            check_timestamp(1000, 1301, 300),
            Err(VerifyError::Timestamp)
        );
        assert_eq!(check_timestamp(1000, 699, 300), Err(VerifyError::Timestamp));
        assert_eq!(check_timestamp(i64::MIN, i64::MAX, u64::MAX), Ok(()));
        assert_eq!(
            check_timestamp(i64::MIN, i64::MAX, 0),
            Err(VerifyError::Timestamp)
        );
    }

    #[test]
    fn unix_parsing_is_strict() {
        assert_eq!(parse_unix("1614265330", "h"), Ok(1_614_265_330));
        for bad in [
            "",
            "-1",
            "+1",
            " 1",
            "1 ",
            "1.5",
            "0x10",
            "9999999999999999999",
            "١٢",
        ] {
            assert_eq!(
                parse_unix(bad, "h"),
                Err(VerifyError::MalformedHeader("h")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn header_lookup_is_case_insensitive_and_ascii_only() {
        let mut map = HeaderMap::new();
        map.insert("x-sig", http::HeaderValue::from_static("abc"));
        map.insert(
            "x-bin",
            http::HeaderValue::from_bytes(b"\xff").expect("obs-text is allowed"),
        );
        assert_eq!(header_str(&map, "X-Sig"), Ok("abc"));
        assert_eq!(
            header_str(&map, "X-Other"),
            Err(VerifyError::MissingHeader("X-Other"))
        );
        assert_eq!(
            header_str(&map, "X-Bin"),
            Err(VerifyError::MalformedHeader("X-Bin"))
        );
    }

    #[test]
    fn secrets_must_be_present_and_non_empty() {
        assert!(matches!(
            require_secrets::<String>(&[]),
            Err(VerifyError::BadKey(_))
        ));
        assert!(matches!(
            require_secrets(&["a", ""]),
            Err(VerifyError::BadKey(_))
        ));
        assert_eq!(require_secrets(&["a"]), Ok(()));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let s = stripe::Stripe {
            secrets: vec!["whsec_top".into()],
            tolerance_secs: 300,
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("whsec_top"), "{shown}");
        assert!(shown.contains("[1 redacted]"), "{shown}");
    }
}
