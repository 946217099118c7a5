//! A shared secret carried verbatim in a configured header (for providers that sign
//! nothing, such as The Things Stack's custom webhook headers).
//!
//! The whole header value must equal one configured secret. For `Authorization` that means
//! the configured secret includes its scheme, e.g. `Bearer 3f9c…`. The body is not covered.

use std::fmt;

use http::HeaderName;
use sha2::{Digest, Sha256};

use crate::{Inbound, Redacted, Verifier, VerifyError, ct_eq, require_secrets};

/// The label reported in `MissingHeader` / `MalformedHeader`, since the header is configured.
pub const HEADER_LABEL: &str = "shared secret header";

/// Shared-secret header configuration.
#[derive(Clone)]
pub struct SharedSecret {
    /// The header carrying the secret.
    pub header: HeaderName,
    /// Accepted header values.
    pub secrets: Vec<String>,
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedSecret")
            .field("header", &self.header)
            .field("secrets", &Redacted(self.secrets.len()))
            .finish()
    }
}

impl Verifier for SharedSecret {
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        require_secrets(&self.secrets)?;
        let given = req
            .headers
            .get(&self.header)
            .ok_or(VerifyError::MissingHeader(HEADER_LABEL))?
            .to_str()
            .map_err(|_| VerifyError::MalformedHeader(HEADER_LABEL))?;
        // Comparing digests keeps the secrets' lengths out of the timing.
        let given = Sha256::digest(given.as_bytes());
        let matched = self.secrets.iter().fold(false, |found, secret| {
            found | ct_eq(&Sha256::digest(secret.as_bytes()), &given)
        });
        if matched {
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

    const SECRETS: [&str; 3] = ["Bearer one-1f2e3d", "Bearer two-4c5b6a", "Bearer other-000"];

    struct SharedFixture;

    impl Fixture for SharedFixture {
        fn verifier(&self, keys: &[usize]) -> Box<dyn Verifier> {
            Box::new(SharedSecret {
                header: http::header::AUTHORIZATION,
                secrets: keys.iter().map(|&k| SECRETS[k].to_owned()).collect(),
            })
        }
        fn sign(&self, key: usize, _body: &[u8], _ts: i64) -> HeaderMap {
            headers(&[("authorization", SECRETS[key])])
        }
        fn signature_header(&self) -> &'static str {
            "authorization"
        }
        fn required_headers(&self) -> Vec<&'static str> {
            Vec::new()
        }
        fn time_rule(&self) -> TimeRule {
            TimeRule::None
        }
        fn covers_body(&self) -> bool {
            false
        }
    }

    #[test]
    fn conformance() {
        run_conformance(&SharedFixture);
    }

    fn verifier() -> SharedSecret {
        SharedSecret {
            header: HeaderName::from_static("x-webhook-token"),
            secrets: vec!["s3cret-token".into()],
        }
    }

    #[test]
    fn whole_value_must_match() {
        let v = verifier();
        assert_eq!(
            check(
                &v,
                &headers(&[("X-Webhook-Token", "s3cret-token")]),
                b"",
                NOW
            ),
            Ok(())
        );
        for value in [
            "s3cret-toke",
            "s3cret-token ",
            "Bearer s3cret-token",
            "S3CRET-TOKEN",
            "",
        ] {
            assert_eq!(
                check(&v, &headers(&[("x-webhook-token", value)]), b"", NOW),
                Err(VerifyError::Mismatch),
                "{value:?}"
            );
        }
    }

    #[test]
    fn missing_or_binary_header() {
        let v = verifier();
        assert_eq!(
            check(&v, &HeaderMap::new(), b"", NOW),
            Err(VerifyError::MissingHeader(HEADER_LABEL))
        );
        let mut h = HeaderMap::new();
        h.insert(
            "x-webhook-token",
            http::HeaderValue::from_bytes(b"\xfe\xff").expect("obs-text"),
        );
        assert_eq!(
            check(&v, &h, b"", NOW),
            Err(VerifyError::MalformedHeader(HEADER_LABEL))
        );
    }

    #[test]
    fn empty_secret_is_a_configuration_error() {
        let v = SharedSecret {
            header: HeaderName::from_static("x-webhook-token"),
            secrets: vec![String::new()],
        };
        assert!(matches!(
            check(&v, &headers(&[("x-webhook-token", "")]), b"", NOW),
            Err(VerifyError::BadKey(_))
        ));
    }
}
