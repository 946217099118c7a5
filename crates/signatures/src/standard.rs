//! Standard Webhooks v1 (also Svix, Resend, Clerk): HMAC-SHA256 over
//! `"{id}.{timestamp}.{body}"`, keyed with the base64-decoded `whsec_` secret, sent as a
//! space-separated list of `v1,<base64>` entries.
//!
//! Inbound requests may use the `webhook-*` header names or, when `webhook-id` is absent,
//! Svix's `svix-*` names. Outbound signing ([`sign`], [`sign_all`]) produces the
//! `webhook-signature` value.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::{
    Inbound, Redacted, Verifier, VerifyError, base64_std, check_timestamp, ct_eq, header_str,
    hmac_sha256, parse_unix, require_secrets,
};

pub const ID: &str = "webhook-id";
pub const TIMESTAMP: &str = "webhook-timestamp";
pub const SIGNATURE: &str = "webhook-signature";
pub const SVIX_ID: &str = "svix-id";
pub const SVIX_TIMESTAMP: &str = "svix-timestamp";
pub const SVIX_SIGNATURE: &str = "svix-signature";

const SECRET_PREFIX: &str = "whsec_";

/// Secrets are read leniently: padding optional, stray trailing bits ignored.
const SECRET_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Standard Webhooks endpoint configuration.
#[derive(Clone)]
pub struct StandardWebhooks {
    /// Accepted secrets, base64 with or without the `whsec_` prefix.
    pub secrets: Vec<String>,
    /// Largest accepted distance between the message timestamp and now, in either direction.
    pub tolerance_secs: u64,
}

impl fmt::Debug for StandardWebhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StandardWebhooks")
            .field("secrets", &Redacted(self.secrets.len()))
            .field("tolerance_secs", &self.tolerance_secs)
            .finish()
    }
}

/// The HMAC key a secret stands for: base64 after an optional `whsec_` prefix, padding
/// optional. An empty or undecodable key is `BadKey`.
pub fn decode_secret(secret: &str) -> Result<Vec<u8>, VerifyError> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = SECRET_BASE64
        .decode(encoded)
        .map_err(|e| VerifyError::BadKey(format!("secret is not base64: {e}")))?;
    if key.is_empty() {
        return Err(VerifyError::BadKey("secret is empty".into()));
    }
    Ok(key)
}

/// The base64 signatures of every `v1` entry in a signature header value. Entries of other
/// versions, and entries without a comma, are skipped.
pub fn parse_signatures(value: &str) -> Vec<&str> {
    value
        .split_ascii_whitespace()
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .map(|(_, sig)| sig)
        .collect()
}

fn signature(key: &[u8], msg_id: &str, timestamp: &str, body: &[u8]) -> String {
    base64_std(&hmac_sha256(
        key,
        &[msg_id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    ))
}

/// The `v1,<base64>` signature of a message, for the `webhook-signature` header.
pub fn sign(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, VerifyError> {
    let key = decode_secret(secret)?;
    Ok(format!(
        "v1,{}",
        signature(&key, msg_id, &timestamp.to_string(), body)
    ))
}

/// One `v1` entry per secret, space-separated, so receivers holding any of them accept the
/// message during a rotation.
pub fn sign_all(
    secrets: &[String],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, VerifyError> {
    require_secrets(secrets)?;
    let entries = secrets
        .iter()
        .map(|s| sign(s, msg_id, timestamp, body))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(entries.join(" "))
}

/// A new random secret: `whsec_` followed by the base64 of 24 random bytes.
pub fn generate_secret() -> String {
    use rand::RngCore as _;
    let mut key = [0u8; 24];
    rand::rng().fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", base64_std(&key))
}

impl Verifier for StandardWebhooks {
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        require_secrets(&self.secrets)?;
        let keys = self
            .secrets
            .iter()
            .map(|s| decode_secret(s))
            .collect::<Result<Vec<_>, _>>()?;
        let (id_name, ts_name, sig_name) =
            if req.headers.contains_key(ID) || !req.headers.contains_key(SVIX_ID) {
                (ID, TIMESTAMP, SIGNATURE)
            } else {
                (SVIX_ID, SVIX_TIMESTAMP, SVIX_SIGNATURE)
            };
        let msg_id = header_str(req.headers, id_name)?;
        let timestamp = header_str(req.headers, ts_name)?;
        let signatures = parse_signatures(header_str(req.headers, sig_name)?);
        let unix = parse_unix(timestamp, ts_name)?;

        let matched = keys.iter().fold(false, |found, key| {
            let expected = signature(key, msg_id, timestamp, req.body);
            signatures.iter().fold(found, |found, given| {
                found | ct_eq(expected.as_bytes(), given.as_bytes())
            })
        });
        if !matched {
            return Err(VerifyError::Mismatch);
        }
        check_timestamp(unix, req.now, self.tolerance_secs)
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;
    use crate::test_support::{Fixture, TOLERANCE, TimeRule, check, headers, run_conformance};

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const PAYLOAD: &[u8] = br#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const OTHER: &str = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";

    fn verifier(secret: &str) -> StandardWebhooks {
        StandardWebhooks {
            secrets: vec![secret.into()],
            tolerance_secs: 300,
        }
    }

    fn request(signature: &str, ts: i64) -> HeaderMap {
        headers(&[
            (ID, MSG_ID),
            (TIMESTAMP, &ts.to_string()),
            (SIGNATURE, signature),
        ])
    }

    struct StandardFixture([String; 3]);

    impl Fixture for StandardFixture {
        fn verifier(&self, keys: &[usize]) -> Box<dyn Verifier> {
            Box::new(StandardWebhooks {
                secrets: keys.iter().map(|&k| self.0[k].clone()).collect(),
                tolerance_secs: TOLERANCE,
            })
        }
        fn sign(&self, key: usize, body: &[u8], ts: i64) -> HeaderMap {
            request(
                &sign(&self.0[key], MSG_ID, ts, body).expect("valid secret"),
                ts,
            )
        }
        fn signature_header(&self) -> &'static str {
            SIGNATURE
        }
        fn required_headers(&self) -> Vec<&'static str> {
            vec![ID, TIMESTAMP, SIGNATURE]
        }
        fn time_rule(&self) -> TimeRule {
            TimeRule::Both
        }
    }

    #[test]
    fn conformance() {
        run_conformance(&StandardFixture([
            generate_secret(),
            generate_secret(),
            generate_secret(),
        ]));
    }

    #[test]
    fn official_vector() {
        assert_eq!(sign(SECRET, MSG_ID, TS, PAYLOAD).as_deref(), Ok(EXPECTED));
        assert_eq!(
            check(&verifier(SECRET), &request(EXPECTED, TS), PAYLOAD, TS),
            Ok(())
        );
    }

    #[test]
    fn secret_with_or_without_prefix() {
        let bare = SECRET.strip_prefix("whsec_").expect("prefixed");
        assert_eq!(sign(bare, MSG_ID, TS, PAYLOAD).as_deref(), Ok(EXPECTED));
        assert_eq!(
            check(&verifier(bare), &request(EXPECTED, TS), PAYLOAD, TS),
            Ok(())
        );
    }

    #[test]
    fn secret_padding_is_optional() {
        let padded = format!("whsec_{}", base64_std(&[7u8; 25]));
        assert!(padded.ends_with("=="));
        let unpadded = padded.trim_end_matches('=');
        assert_eq!(decode_secret(unpadded), decode_secret(&padded));
        assert_eq!(decode_secret(&padded), Ok(vec![7u8; 25]));
    }

    #[test]
    fn unusable_secrets_are_configuration_errors() {
        for bad in ["whsec_", "", "whsec_!!not base64!!"] {
            assert!(
                matches!(sign(bad, MSG_ID, TS, PAYLOAD), Err(VerifyError::BadKey(_))),
                "{bad:?}"
            );
            assert!(matches!(
                check(&verifier(bad), &request(EXPECTED, TS), PAYLOAD, TS),
                Err(VerifyError::BadKey(_))
            ));
        }
    }

    #[test]
    fn valid_entry_among_others_passes() {
        let value =
            format!("{OTHER} v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {EXPECTED} {OTHER}");
        assert_eq!(
            check(&verifier(SECRET), &request(&value, TS), PAYLOAD, TS),
            Ok(())
        );
    }

    #[test]
    fn partial_or_empty_signatures_fail() {
        for bad in [
            "v1,dawfeoifkpqwoekfpqoekf",
            "v1,",
            "",
            "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "g0hM9SsE",
        ] {
            assert_eq!(
                check(&verifier(SECRET), &request(bad, TS), PAYLOAD, TS),
                Err(VerifyError::Mismatch),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn old_or_future_timestamps_fail() {
        let v = verifier(SECRET);
        assert_eq!(
            check(&v, &request(EXPECTED, TS), PAYLOAD, TS + 301),
            Err(VerifyError::Timestamp)
        );
        assert_eq!(
            check(&v, &request(EXPECTED, TS), PAYLOAD, TS - 301),
            Err(VerifyError::Timestamp)
        );
        assert_eq!(check(&v, &request(EXPECTED, TS), PAYLOAD, TS + 300), Ok(()));
    }

    #[test]
    fn malformed_timestamp() {
        let h = headers(&[
            (ID, MSG_ID),
            (TIMESTAMP, "1614265330.5"),
            (SIGNATURE, EXPECTED),
        ]);
        assert_eq!(
            check(&verifier(SECRET), &h, PAYLOAD, TS),
            Err(VerifyError::MalformedHeader(TIMESTAMP))
        );
    }

    #[test]
    fn empty_payload_verifies() {
        let sig = sign(SECRET, MSG_ID, TS, b"").expect("valid");
        assert_eq!(
            check(&verifier(SECRET), &request(&sig, TS), b"", TS),
            Ok(())
        );
    }

    #[test]
    fn svix_header_names() {
        let h = headers(&[
            (SVIX_ID, MSG_ID),
            (SVIX_TIMESTAMP, &TS.to_string()),
            (SVIX_SIGNATURE, EXPECTED),
        ]);
        assert_eq!(check(&verifier(SECRET), &h, PAYLOAD, TS), Ok(()));
        let partial = headers(&[(SVIX_ID, MSG_ID), (SVIX_SIGNATURE, EXPECTED)]);
        assert_eq!(
            check(&verifier(SECRET), &partial, PAYLOAD, TS),
            Err(VerifyError::MissingHeader(SVIX_TIMESTAMP))
        );
        assert_eq!(
            check(&verifier(SECRET), &HeaderMap::new(), PAYLOAD, TS),
            Err(VerifyError::MissingHeader(ID))
        );
    }

    #[test]
    fn sign_all_covers_every_secret() {
        let old = generate_secret();
        let new = generate_secret();
        let value = sign_all(&[new.clone(), old.clone()], MSG_ID, TS, PAYLOAD).expect("valid");
        assert_eq!(parse_signatures(&value).len(), 2);
        for secret in [&old, &new] {
            assert_eq!(
                check(&verifier(secret), &request(&value, TS), PAYLOAD, TS),
                Ok(())
            );
        }
        assert!(matches!(
            sign_all(&[], MSG_ID, TS, PAYLOAD),
            Err(VerifyError::BadKey(_))
        ));
        assert!(matches!(
            sign_all(&[new, "whsec_".into()], MSG_ID, TS, PAYLOAD),
            Err(VerifyError::BadKey(_))
        ));
    }

    #[test]
    fn generated_secrets_are_24_random_bytes() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a, b);
        assert!(a.starts_with("whsec_"));
        assert_eq!(decode_secret(&a).map(|k| k.len()), Ok(24));
    }

    #[test]
    fn signature_list_parsing() {
        assert_eq!(
            parse_signatures("v1,a  v1a,b v2,c v1,d nocomma v1,"),
            vec!["a", "d", ""]
        );
        assert!(parse_signatures("").is_empty());
    }
}
