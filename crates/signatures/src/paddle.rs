//! Paddle Billing: `Paddle-Signature: ts=<unix>;h1=<hex>[;h1=…]`, HMAC-SHA256 over
//! `"{ts}:{body}"`. Every `h1` is tried with every secret, so rotations on either side work.

use std::fmt;

use crate::{
    Inbound, Redacted, Verifier, VerifyError, any_secret_matches, check_timestamp, header_str,
    hex_lower, parse_unix, require_secrets,
};

pub const HEADER: &str = "Paddle-Signature";

/// Paddle notification destination configuration.
#[derive(Clone)]
pub struct Paddle {
    /// Accepted secret keys (`pdl_ntfset_…`), used verbatim as HMAC keys.
    pub secrets: Vec<String>,
    /// Largest accepted distance between the signed timestamp and now, in either direction.
    /// Paddle's SDKs default to 5 seconds.
    pub tolerance_secs: u64,
}

impl fmt::Debug for Paddle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Paddle")
            .field("secrets", &Redacted(self.secrets.len()))
            .field("tolerance_secs", &self.tolerance_secs)
            .finish()
    }
}

/// The parts of a `Paddle-Signature` value that take part in verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader<'a> {
    /// The `ts` value exactly as sent; it is part of the signed bytes.
    pub timestamp: &'a str,
    pub unix: i64,
    /// Every `h1` value, in order.
    pub h1: Vec<&'a str>,
}

/// Parses a `Paddle-Signature` value. Exactly one `ts` is required; elements are trimmed,
/// empty ones skipped and unknown keys ignored.
pub fn parse_header(value: &str) -> Result<SignatureHeader<'_>, VerifyError> {
    let (timestamp, h1) = crate::timestamped_list(value, ';', "ts", "h1", HEADER)?;
    Ok(SignatureHeader {
        timestamp,
        unix: parse_unix(timestamp, HEADER)?,
        h1,
    })
}

/// The `Paddle-Signature` value Paddle sends for `body` at time `ts`.
pub fn sign(secret: &str, ts: i64, body: &[u8]) -> String {
    let ts = ts.to_string();
    let mac = crate::hmac_sha256(secret.as_bytes(), &[ts.as_bytes(), b":", body]);
    format!("ts={ts};h1={}", hex_lower(&mac))
}

impl Verifier for Paddle {
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        require_secrets(&self.secrets)?;
        let header = parse_header(header_str(req.headers, HEADER)?)?;
        let parts: [&[u8]; 3] = [header.timestamp.as_bytes(), b":", req.body];
        let matched = header.h1.iter().fold(false, |found, sig| {
            found | any_secret_matches(&self.secrets, &parts, sig, hex_lower)
        });
        if !matched {
            return Err(VerifyError::Mismatch);
        }
        check_timestamp(header.unix, req.now, self.tolerance_secs)
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;
    use crate::test_support::{Fixture, NOW, TOLERANCE, TimeRule, check, headers, run_conformance};

    const SECRETS: [&str; 3] = ["pdl_ntfset_one", "pdl_ntfset_two", "pdl_ntfset_other"];

    struct PaddleFixture;

    impl Fixture for PaddleFixture {
        fn verifier(&self, keys: &[usize]) -> Box<dyn Verifier> {
            Box::new(Paddle {
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
            TimeRule::Both
        }
    }

    #[test]
    fn conformance() {
        run_conformance(&PaddleFixture);
    }

    #[test]
    fn any_h1_with_any_secret() {
        let body = br#"{"event_type":"transaction.completed"}"#;
        let new = sign(SECRETS[1], NOW, body);
        let new_h1 = new.split_once(";h1=").expect("h1").1;
        let value = format!("ts={NOW};h1={};h1={new_h1}", "f".repeat(64));
        let v = Paddle {
            secrets: vec![SECRETS[0].into(), SECRETS[1].into()],
            tolerance_secs: 5,
        };
        assert_eq!(check(&v, &headers(&[(HEADER, &value)]), body, NOW), Ok(()));
        let last_only_wrong = format!("ts={NOW};h1={new_h1};h1={}", "f".repeat(64));
        assert_eq!(
            check(&v, &headers(&[(HEADER, &last_only_wrong)]), body, NOW),
            Ok(())
        );
    }

    #[test]
    fn header_parsing() {
        assert_eq!(
            parse_header(" ts=12 ; h1=a;;x=y;h1=b").expect("valid"),
            SignatureHeader {
                timestamp: "12",
                unix: 12,
                h1: vec!["a", "b"]
            }
        );
        for bad in ["", "h1=a", "ts=1;ts=1;h1=a", "ts=x;h1=a", "ts=1;h1"] {
            assert_eq!(
                parse_header(bad),
                Err(VerifyError::MalformedHeader(HEADER)),
                "{bad:?}"
            );
        }
        let v = Paddle {
            secrets: vec![SECRETS[0].into()],
            tolerance_secs: 5,
        };
        assert_eq!(
            check(&v, &headers(&[(HEADER, "ts=1700000000")]), b"{}", NOW),
            Err(VerifyError::Mismatch)
        );
    }
}
