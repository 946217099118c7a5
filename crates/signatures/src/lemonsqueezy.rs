//! Lemon Squeezy: `X-Signature`, hex HMAC-SHA256 over the raw body.

use std::fmt;

use crate::{
    Inbound, Redacted, Verifier, VerifyError, any_secret_matches, header_str, hex_lower,
    require_secrets,
};

pub const HEADER: &str = "X-Signature";

/// Lemon Squeezy webhook configuration.
#[derive(Clone)]
pub struct LemonSqueezy {
    /// Accepted signing secrets, used verbatim as HMAC keys.
    pub secrets: Vec<String>,
}

impl fmt::Debug for LemonSqueezy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LemonSqueezy")
            .field("secrets", &Redacted(self.secrets.len()))
            .finish()
    }
}

/// The `X-Signature` value Lemon Squeezy sends for `body`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    hex_lower(&crate::hmac_sha256(secret.as_bytes(), &[body]))
}

impl Verifier for LemonSqueezy {
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        require_secrets(&self.secrets)?;
        let given = header_str(req.headers, HEADER)?.trim();
        if any_secret_matches(&self.secrets, &[req.body], given, hex_lower) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;
    use crate::test_support::{Fixture, NOW, TimeRule, check, headers, run_conformance};

    const SECRETS: [&str; 3] = ["lemon-one", "lemon-two", "lemon-other"];

    struct LemonFixture;

    impl Fixture for LemonFixture {
        fn verifier(&self, keys: &[usize]) -> Box<dyn Verifier> {
            Box::new(LemonSqueezy {
                secrets: keys.iter().map(|&k| SECRETS[k].to_owned()).collect(),
            })
        }
        fn sign(&self, key: usize, body: &[u8], _ts: i64) -> HeaderMap {
            headers(&[(HEADER, &sign(SECRETS[key], body))])
        }
        fn signature_header(&self) -> &'static str {
            HEADER
        }
        fn required_headers(&self) -> Vec<&'static str> {
            vec![HEADER]
        }
        fn time_rule(&self) -> TimeRule {
            TimeRule::None
        }
    }

    #[test]
    fn conformance() {
        run_conformance(&LemonFixture);
    }

    #[test]
    fn hex_of_the_raw_hmac() {
        let expected = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(
            sign("It's a Secret to Everybody", b"Hello, World!"),
            expected
        );
        let v = LemonSqueezy {
            secrets: vec!["It's a Secret to Everybody".into()],
        };
        assert_eq!(
            check(&v, &headers(&[(HEADER, expected)]), b"Hello, World!", NOW),
            Ok(())
        );
    }
}
