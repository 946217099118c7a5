//! Stripe and Stripe Connect: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]`, HMAC-SHA256 over
//! `"{t}.{body}"` keyed with the whole `whsec_…` string.

use std::fmt;

use crate::{
    Inbound, Redacted, Verifier, VerifyError, header_str, hex_lower, hmac_sha256, parse_unix,
    require_secrets,
};

pub const HEADER: &str = "Stripe-Signature";

/// Stripe endpoint configuration.
#[derive(Clone)]
pub struct Stripe {
    /// Accepted endpoint secrets (`whsec_…`), used verbatim as HMAC keys.
    pub secrets: Vec<String>,
    /// Oldest accepted event age in seconds; 0 turns the check off. Events dated in the
    /// future are accepted, as the official SDKs do.
    pub tolerance_secs: u64,
}

impl fmt::Debug for Stripe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stripe")
            .field("secrets", &Redacted(self.secrets.len()))
            .field("tolerance_secs", &self.tolerance_secs)
            .finish()
    }
}

/// The parts of a `Stripe-Signature` value that take part in verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader<'a> {
    /// The `t` value exactly as sent; it is part of the signed bytes.
    pub timestamp: &'a str,
    pub unix: i64,
    /// Every `v1` value, in order. Other schemes (such as test mode's `v0`) are dropped.
    pub v1: Vec<&'a str>,
}

/// Parses a `Stripe-Signature` value. Exactly one `t` is required; elements are trimmed and
/// empty ones skipped.
pub fn parse_header(value: &str) -> Result<SignatureHeader<'_>, VerifyError> {
    let (timestamp, v1) = crate::timestamped_list(value, ',', "t", "v1", HEADER)?;
    Ok(SignatureHeader {
        timestamp,
        unix: parse_unix(timestamp, HEADER)?,
        v1,
    })
}

/// The full `Stripe-Signature` value Stripe would send for `body` at time `t`.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let ts = t.to_string();
    let mac = hmac_sha256(secret.as_bytes(), &[ts.as_bytes(), b".", body]);
    format!("t={ts},v1={}", hex_lower(&mac))
}

impl Verifier for Stripe {
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        require_secrets(&self.secrets)?;
        let header = parse_header(header_str(req.headers, HEADER)?)?;
        let parts: [&[u8]; 3] = [header.timestamp.as_bytes(), b".", req.body];
        let matched = header.v1.iter().fold(false, |found, sig| {
            found | crate::any_secret_matches(&self.secrets, &parts, sig, hex_lower)
        });
        if !matched {
            return Err(VerifyError::Mismatch);
        }
        let age = i128::from(req.now) - i128::from(header.unix);
        if self.tolerance_secs > 0 && age > i128::from(self.tolerance_secs) {
            return Err(VerifyError::Timestamp);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;
    use crate::test_support::{Fixture, NOW, TOLERANCE, TimeRule, check, headers, run_conformance};

    const SECRETS: [&str; 3] = ["whsec_first", "whsec_second", "whsec_other"];

    struct StripeFixture;

    impl Fixture for StripeFixture {
        fn verifier(&self, keys: &[usize]) -> Box<dyn Verifier> {
            Box::new(Stripe {
                secrets: keys.iter().map(|&k| SECRETS[k].to_owned()).collect(),
                tolerance_secs: TOLERANCE,
            })
        }
        fn sign(&self, key: usize, body: &[u8], ts: i64) -> HeaderMap {
            headers(&[(HEADER, &sign(SECRETS[key], ts, body))])
        }
        fn signature_header(&self) -> &'static str {
            HEADER
        }
        fn required_headers(&self) -> Vec<&'static str> {
            vec![HEADER]
        }
        fn time_rule(&self) -> TimeRule {
            TimeRule::PastOnly
        }
    }

    #[test]
    fn conformance() {
        run_conformance(&StripeFixture);
    }

    const VECTOR_BODY: &[u8] = br#"{"id":"evt_test","object":"event"}"#;
    const VECTOR_SIG: &str = "8042376f6ca064adbe037642a718227dfd59047137eb49497a54c49eb0cfb724";

    #[test]
    fn sdk_vector() {
        assert_eq!(
            sign("whsec_test_secret", 1_700_000_000, VECTOR_BODY),
            format!("t=1700000000,v1={VECTOR_SIG}")
        );
        let v = Stripe {
            secrets: vec!["whsec_test_secret".into()],
            tolerance_secs: 300,
        };
        let h = headers(&[("stripe-signature", &format!("t=1700000000,v1={VECTOR_SIG}"))]);
        assert_eq!(check(&v, &h, VECTOR_BODY, 1_700_000_100), Ok(()));
    }

    #[test]
    fn any_v1_matches_and_v0_is_ignored() {
        let v = Stripe {
            secrets: vec!["whsec_test_secret".into()],
            tolerance_secs: 300,
        };
        let value = format!(
            "t=1700000000, v1={}, v1={VECTOR_SIG}, v0=deadbeef",
            "0".repeat(64)
        );
        assert_eq!(
            check(&v, &headers(&[(HEADER, &value)]), VECTOR_BODY, NOW),
            Ok(())
        );
        let only_v0 = format!("t=1700000000,v0={VECTOR_SIG}");
        assert_eq!(
            check(&v, &headers(&[(HEADER, &only_v0)]), VECTOR_BODY, NOW),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn signature_must_be_lowercase_hex_as_sent_by_stripe() {
        let v = Stripe {
            secrets: vec!["whsec_test_secret".into()],
            tolerance_secs: 300,
        };
        let upper = format!("t=1700000000,v1={}", VECTOR_SIG.to_uppercase());
        assert_eq!(
            check(&v, &headers(&[(HEADER, &upper)]), VECTOR_BODY, NOW),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn zero_tolerance_disables_the_time_check() {
        let v = Stripe {
            secrets: vec!["whsec_test_secret".into()],
            tolerance_secs: 0,
        };
        let h = headers(&[(HEADER, &format!("t=1700000000,v1={VECTOR_SIG}"))]);
        assert_eq!(check(&v, &h, VECTOR_BODY, i64::MAX), Ok(()));
    }

    #[test]
    fn malformed_headers() {
        for bad in [
            "",
            "v1=abc",
            "t=,v1=abc",
            "t=abc,v1=abc",
            "t=1,t=1,v1=abc",
            "t=1,garbage",
            "t=-5,v1=abc",
        ] {
            assert_eq!(
                parse_header(bad),
                Err(VerifyError::MalformedHeader(HEADER)),
                "{bad:?}"
            );
        }
        let parsed = parse_header("t=12,,v1=a,v0=b,v1=c,").expect("valid");
        assert_eq!(
            parsed,
            SignatureHeader {
                timestamp: "12",
                unix: 12,
                v1: vec!["a", "c"]
            }
        );
    }

    #[test]
    fn empty_secret_is_a_configuration_error() {
        let v = Stripe {
            secrets: vec![String::new()],
            tolerance_secs: 300,
        };
        let h = headers(&[(HEADER, &sign("", NOW, b"x"))]);
        assert!(matches!(
            check(&v, &h, b"x", NOW),
            Err(VerifyError::BadKey(_))
        ));
    }
}
