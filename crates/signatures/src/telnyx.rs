//! Telnyx API v2: Ed25519 over `"{timestamp}|{body}"`, with the signature in
//! `telnyx-signature-ed25519` (base64) and the time in `telnyx-timestamp`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};

use crate::{Inbound, Verifier, VerifyError, check_timestamp, header_str, parse_unix};

pub const SIGNATURE: &str = "telnyx-signature-ed25519";
pub const TIMESTAMP: &str = "telnyx-timestamp";

/// Telnyx account configuration.
#[derive(Debug, Clone)]
pub struct Telnyx {
    /// Accepted public keys, each the base64 of a raw 32-byte Ed25519 key.
    pub public_keys: Vec<String>,
    /// Largest accepted distance between the signed timestamp and now, in either direction.
    pub tolerance_secs: u64,
}

/// Decodes a base64 raw Ed25519 public key; anything else is `BadKey`.
pub fn decode_public_key(key: &str) -> Result<VerifyingKey, VerifyError> {
    let bytes = STANDARD
        .decode(key.trim())
        .map_err(|e| VerifyError::BadKey(format!("public key is not base64: {e}")))?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
        VerifyError::BadKey(format!("public key has {} bytes, expected 32", b.len()))
    })?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| VerifyError::BadKey("public key is not an Ed25519 point".into()))
}

impl Verifier for Telnyx {
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        if self.public_keys.is_empty() {
            return Err(VerifyError::BadKey("no key configured".into()));
        }
        let keys = self
            .public_keys
            .iter()
            .map(|k| decode_public_key(k))
            .collect::<Result<Vec<_>, _>>()?;
        let signature = header_str(req.headers, SIGNATURE)?;
        let timestamp = header_str(req.headers, TIMESTAMP)?;
        let signature = STANDARD
            .decode(signature)
            .ok()
            .and_then(|bytes| Signature::from_slice(&bytes).ok())
            .ok_or(VerifyError::MalformedHeader(SIGNATURE))?;
        let unix = parse_unix(timestamp, TIMESTAMP)?;

        let mut message = Vec::with_capacity(timestamp.len() + 1 + req.body.len());
        message.extend_from_slice(timestamp.as_bytes());
        message.push(b'|');
        message.extend_from_slice(req.body);
        if !keys
            .iter()
            .any(|key| key.verify_strict(&message, &signature).is_ok())
        {
            return Err(VerifyError::Mismatch);
        }
        check_timestamp(unix, req.now, self.tolerance_secs)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use ed25519_dalek::{Signer, SigningKey};
    use http::HeaderMap;

    use super::*;
    use crate::test_support::{Fixture, NOW, TOLERANCE, TimeRule, check, headers, run_conformance};

    pub fn signing_key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n.wrapping_mul(31).wrapping_add(7); 32])
    }

    pub fn public_key(n: u8) -> String {
        STANDARD.encode(signing_key(n).verifying_key().as_bytes())
    }

    pub fn signed(key: &SigningKey, body: &[u8], ts: i64) -> HeaderMap {
        let mut message = format!("{ts}|").into_bytes();
        message.extend_from_slice(body);
        let sig = STANDARD.encode(key.sign(&message).to_bytes());
        headers(&[(SIGNATURE, &sig), (TIMESTAMP, &ts.to_string())])
    }

    struct TelnyxFixture;

    impl Fixture for TelnyxFixture {
        fn verifier(&self, keys: &[usize]) -> Box<dyn Verifier> {
            let public_keys = keys
                .iter()
                .map(|&k| public_key(u8::try_from(k).expect("small")))
                .collect();
            Box::new(Telnyx {
                public_keys,
                tolerance_secs: TOLERANCE,
            })
        }
        fn sign(&self, key: usize, body: &[u8], ts: i64) -> HeaderMap {
            signed(&signing_key(u8::try_from(key).expect("small")), body, ts)
        }
        fn signature_header(&self) -> &'static str {
            SIGNATURE
        }
        fn required_headers(&self) -> Vec<&'static str> {
            vec![SIGNATURE, TIMESTAMP]
        }
        fn time_rule(&self) -> TimeRule {
            TimeRule::Both
        }
    }

    #[test]
    fn conformance() {
        run_conformance(&TelnyxFixture);
    }

    #[test]
    fn bad_keys_are_configuration_errors() {
        let short = STANDARD.encode([1u8; 31]);
        for key in ["not base64!", short.as_str(), ""] {
            let v = Telnyx {
                public_keys: vec![key.into()],
                tolerance_secs: 300,
            };
            let h = signed(&signing_key(0), b"{}", NOW);
            assert!(
                matches!(check(&v, &h, b"{}", NOW), Err(VerifyError::BadKey(_))),
                "{key:?}"
            );
        }
    }

    #[test]
    fn malformed_signature_and_timestamp() {
        let v = Telnyx {
            public_keys: vec![public_key(0)],
            tolerance_secs: 300,
        };
        let short_sig = STANDARD.encode([0u8; 63]);
        for sig in ["***", short_sig.as_str(), ""] {
            let h = headers(&[(SIGNATURE, sig), (TIMESTAMP, "1700000000")]);
            assert_eq!(
                check(&v, &h, b"{}", NOW),
                Err(VerifyError::MalformedHeader(SIGNATURE)),
                "{sig:?}"
            );
        }
        let mut h = signed(&signing_key(0), b"{}", NOW);
        h.insert(TIMESTAMP, http::HeaderValue::from_static("soon"));
        assert_eq!(
            check(&v, &h, b"{}", NOW),
            Err(VerifyError::MalformedHeader(TIMESTAMP))
        );
    }

    #[test]
    fn timestamp_is_part_of_the_signed_bytes() {
        let v = Telnyx {
            public_keys: vec![public_key(0)],
            tolerance_secs: 300,
        };
        let mut h = signed(&signing_key(0), b"{}", NOW);
        h.insert(
            TIMESTAMP,
            http::HeaderValue::from_str(&(NOW + 1).to_string()).expect("ascii"),
        );
        assert_eq!(check(&v, &h, b"{}", NOW), Err(VerifyError::Mismatch));
    }
}
