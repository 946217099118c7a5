//! SendGrid signed Event Webhook: ECDSA P-256 / SHA-256 over `timestamp + body` (no
//! separator), with a base64 DER signature in `X-Twilio-Email-Event-Webhook-Signature`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;

use crate::{Inbound, Verifier, VerifyError, check_timestamp, header_str, parse_unix};

pub const SIGNATURE: &str = "X-Twilio-Email-Event-Webhook-Signature";
pub const TIMESTAMP: &str = "X-Twilio-Email-Event-Webhook-Timestamp";

/// SendGrid Event Webhook configuration.
#[derive(Debug, Clone)]
pub struct SendGrid {
    /// Accepted verification keys: base64 DER SubjectPublicKeyInfo as shown by SendGrid,
    /// optionally wrapped in `-----BEGIN PUBLIC KEY-----` armor.
    pub public_keys: Vec<String>,
    /// When set, the largest accepted distance between the signed timestamp and now, in either
    /// direction. SendGrid's own libraries apply no window.
    pub tolerance_secs: Option<u64>,
}

/// Decodes a SendGrid verification key; anything but a P-256 SubjectPublicKeyInfo is
/// `BadKey`.
pub fn decode_public_key(key: &str) -> Result<VerifyingKey, VerifyError> {
    let encoded: String = key
        .lines()
        .filter(|line| !line.trim_start().starts_with("-----"))
        .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
        .collect();
    let der = STANDARD
        .decode(encoded)
        .map_err(|e| VerifyError::BadKey(format!("verification key is not base64: {e}")))?;
    VerifyingKey::from_public_key_der(&der).map_err(|e| {
        VerifyError::BadKey(format!("verification key is not a P-256 public key: {e}"))
    })
}

impl Verifier for SendGrid {
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
            .and_then(|der| Signature::from_der(&der).ok())
            .ok_or(VerifyError::MalformedHeader(SIGNATURE))?;
        let unix = match self.tolerance_secs {
            Some(_) => Some(parse_unix(timestamp, TIMESTAMP)?),
            None => None,
        };

        let mut message = Vec::with_capacity(timestamp.len() + req.body.len());
        message.extend_from_slice(timestamp.as_bytes());
        message.extend_from_slice(req.body);
        if !keys
            .iter()
            .any(|key| key.verify(&message, &signature).is_ok())
        {
            return Err(VerifyError::Mismatch);
        }
        match (unix, self.tolerance_secs) {
            (Some(unix), Some(tolerance)) => check_timestamp(unix, req.now, tolerance),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer as _;
    use p256::pkcs8::{EncodePublicKey as _, LineEnding};

    use super::*;
    use crate::test_support::{Fixture, NOW, TOLERANCE, TimeRule, check, headers, run_conformance};

    fn signing_key(n: usize) -> SigningKey {
        let byte = u8::try_from(n).expect("small").wrapping_add(1);
        SigningKey::from_bytes(&[byte; 32].into()).expect("valid scalar")
    }

    fn public_key(n: usize) -> String {
        let der = signing_key(n)
            .verifying_key()
            .to_public_key_der()
            .expect("encodes");
        STANDARD.encode(der.as_bytes())
    }

    fn signed(key: &SigningKey, body: &[u8], ts: &str) -> HeaderMap {
        let mut message = ts.as_bytes().to_vec();
        message.extend_from_slice(body);
        let sig: Signature = key.sign(&message);
        headers(&[
            (SIGNATURE, &STANDARD.encode(sig.to_der().as_bytes())),
            (TIMESTAMP, ts),
        ])
    }

    struct SendGridFixture(TimeRule);

    impl Fixture for SendGridFixture {
        fn verifier(&self, keys: &[usize]) -> Box<dyn Verifier> {
            let tolerance_secs = (self.0 == TimeRule::Both).then_some(TOLERANCE);
            Box::new(SendGrid {
                public_keys: keys.iter().map(|&k| public_key(k)).collect(),
                tolerance_secs,
            })
        }
        fn sign(&self, key: usize, body: &[u8], ts: i64) -> HeaderMap {
            signed(&signing_key(key), body, &ts.to_string())
        }
        fn signature_header(&self) -> &'static str {
            SIGNATURE
        }
        fn required_headers(&self) -> Vec<&'static str> {
            vec![SIGNATURE, TIMESTAMP]
        }
        fn time_rule(&self) -> TimeRule {
            self.0
        }
    }

    #[test]
    fn conformance_with_a_time_window() {
        run_conformance(&SendGridFixture(TimeRule::Both));
    }

    #[test]
    fn conformance_without_a_time_window() {
        run_conformance(&SendGridFixture(TimeRule::None));
    }

    #[test]
    fn keys_look_like_sendgrid_verification_keys() {
        assert!(public_key(0).starts_with("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"));
    }

    #[test]
    fn pem_armored_keys_are_accepted() {
        let pem = signing_key(0)
            .verifying_key()
            .to_public_key_pem(LineEnding::CRLF)
            .expect("encodes");
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        let v = SendGrid {
            public_keys: vec![pem],
            tolerance_secs: None,
        };
        assert_eq!(
            check(
                &v,
                &signed(&signing_key(0), b"[]", "1700000000"),
                b"[]",
                NOW
            ),
            Ok(())
        );
    }

    #[test]
    fn bad_keys_are_configuration_errors() {
        let ed25519_like = STANDARD.encode([3u8; 32]);
        for key in ["%%%", ed25519_like.as_str(), ""] {
            let v = SendGrid {
                public_keys: vec![key.into()],
                tolerance_secs: None,
            };
            let h = signed(&signing_key(0), b"[]", "1700000000");
            assert!(
                matches!(check(&v, &h, b"[]", NOW), Err(VerifyError::BadKey(_))),
                "{key:?}"
            );
        }
    }

    #[test]
    fn signature_must_be_der() {
        let v = SendGrid {
            public_keys: vec![public_key(0)],
            tolerance_secs: None,
        };
        let raw = STANDARD.encode([1u8; 64]);
        for sig in [raw.as_str(), "!!", ""] {
            let h = headers(&[(SIGNATURE, sig), (TIMESTAMP, "1700000000")]);
            assert_eq!(
                check(&v, &h, b"[]", NOW),
                Err(VerifyError::MalformedHeader(SIGNATURE)),
                "{sig:?}"
            );
        }
    }

    #[test]
    fn timestamp_is_free_form_without_a_window_and_numeric_with_one() {
        let h = signed(&signing_key(0), b"[]", "not-a-number");
        let open = SendGrid {
            public_keys: vec![public_key(0)],
            tolerance_secs: None,
        };
        assert_eq!(check(&open, &h, b"[]", NOW), Ok(()));
        let windowed = SendGrid {
            public_keys: vec![public_key(0)],
            tolerance_secs: Some(300),
        };
        assert_eq!(
            check(&windowed, &h, b"[]", NOW),
            Err(VerifyError::MalformedHeader(TIMESTAMP))
        );
    }
}
