//! GitHub: `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 over the raw body.

use std::fmt;

use crate::{
    Inbound, Redacted, Verifier, VerifyError, any_secret_matches, header_str, hex_lower,
    require_secrets,
};

pub const HEADER: &str = "X-Hub-Signature-256";

/// GitHub webhook configuration.
#[derive(Clone)]
pub struct GitHub {
    /// Accepted webhook secrets, used verbatim as HMAC keys.
    pub secrets: Vec<String>,
}

impl fmt::Debug for GitHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHub")
            .field("secrets", &Redacted(self.secrets.len()))
            .finish()
    }
}

/// The `X-Hub-Signature-256` value GitHub sends for `body`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex_lower(&crate::hmac_sha256(secret.as_bytes(), &[body]))
    )
}

impl Verifier for GitHub {
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        require_secrets(&self.secrets)?;
        let given = header_str(req.headers, HEADER)?
            .strip_prefix("sha256=")
            .ok_or(VerifyError::MalformedHeader(HEADER))?;
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

    const SECRETS: [&str; 3] = ["gh-secret-1", "gh-secret-2", "gh-secret-x"];

    struct GitHubFixture;

    impl Fixture for GitHubFixture {
        fn verifier(&self, keys: &[usize]) -> Box<dyn Verifier> {
            Box::new(GitHub {
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
        run_conformance(&GitHubFixture);
    }

    const VECTOR: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn documented_vector() {
        assert_eq!(sign("It's a Secret to Everybody", b"Hello, World!"), VECTOR);
        let v = GitHub {
            secrets: vec!["It's a Secret to Everybody".into()],
        };
        assert_eq!(
            check(
                &v,
                &headers(&[("x-hub-signature-256", VECTOR)]),
                b"Hello, World!",
                NOW
            ),
            Ok(())
        );
    }

    #[test]
    fn prefix_is_required() {
        let v = GitHub {
            secrets: vec!["It's a Secret to Everybody".into()],
        };
        let bare = VECTOR.strip_prefix("sha256=").expect("prefixed");
        for value in [bare, "sha1=757107ea", "SHA256=757107ea"] {
            assert_eq!(
                check(&v, &headers(&[(HEADER, value)]), b"Hello, World!", NOW),
                Err(VerifyError::MalformedHeader(HEADER))
            );
        }
    }
}
