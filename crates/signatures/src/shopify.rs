//! Shopify: `X-Shopify-Hmac-Sha256`, base64 HMAC-SHA256 over the raw body.

use std::fmt;

use crate::{
    Inbound, Redacted, Verifier, VerifyError, any_secret_matches, base64_std, header_str,
    require_secrets,
};

pub const HEADER: &str = "X-Shopify-Hmac-Sha256";

/// Shopify webhook configuration.
#[derive(Clone)]
pub struct Shopify {
    /// Accepted secrets: the app's client secret, or the secret of admin-created webhooks.
    pub secrets: Vec<String>,
}

impl fmt::Debug for Shopify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shopify")
            .field("secrets", &Redacted(self.secrets.len()))
            .finish()
    }
}

/// The `X-Shopify-Hmac-Sha256` value Shopify sends for `body`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    base64_std(&crate::hmac_sha256(secret.as_bytes(), &[body]))
}

impl Verifier for Shopify {
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        require_secrets(&self.secrets)?;
        let given = header_str(req.headers, HEADER)?.trim();
        if any_secret_matches(&self.secrets, &[req.body], given, base64_std) {
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

    const SECRETS: [&str; 3] = ["shpss_one", "shpss_two", "shpss_other"];

    struct ShopifyFixture;

    impl Fixture for ShopifyFixture {
        fn verifier(&self, keys: &[usize]) -> Box<dyn Verifier> {
            Box::new(Shopify {
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
        run_conformance(&ShopifyFixture);
    }

    #[test]
    fn base64_of_the_raw_hmac() {
        // Same key and message as GitHub's documented vector, re-encoded as base64.
        let expected = base64_std(
            &hex::decode("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
                .expect("hex"),
        );
        assert_eq!(
            sign("It's a Secret to Everybody", b"Hello, World!"),
            expected
        );
        let v = Shopify {
            secrets: vec!["It's a Secret to Everybody".into()],
        };
        assert_eq!(
            check(&v, &headers(&[(HEADER, &expected)]), b"Hello, World!", NOW),
            Ok(())
        );
        let hex = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(
            check(&v, &headers(&[(HEADER, hex)]), b"Hello, World!", NOW),
            Err(VerifyError::Mismatch)
        );
    }
}
