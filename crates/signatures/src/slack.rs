//! Slack: `X-Slack-Signature: v0=<hex>`, HMAC-SHA256 over `"v0:{timestamp}:{body}"` with the
//! time in `X-Slack-Request-Timestamp`.

use std::fmt;

use crate::{
    Inbound, Redacted, Verifier, VerifyError, any_secret_matches, check_timestamp, header_str,
    hex_lower, parse_unix, require_secrets,
};

pub const SIGNATURE: &str = "X-Slack-Signature";
pub const TIMESTAMP: &str = "X-Slack-Request-Timestamp";

/// Slack app configuration.
#[derive(Clone)]
pub struct Slack {
    /// Accepted signing secrets.
    pub secrets: Vec<String>,
    /// Largest accepted distance between the request timestamp and now, in either direction.
    pub tolerance_secs: u64,
}

impl fmt::Debug for Slack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slack")
            .field("secrets", &Redacted(self.secrets.len()))
            .field("tolerance_secs", &self.tolerance_secs)
            .finish()
    }
}

/// The `X-Slack-Signature` value Slack sends for `body` at time `ts`.
pub fn sign(secret: &str, ts: i64, body: &[u8]) -> String {
    let ts = ts.to_string();
    format!(
        "v0={}",
        hex_lower(&crate::hmac_sha256(
            secret.as_bytes(),
            &[b"v0:", ts.as_bytes(), b":", body]
        ))
    )
}

impl Verifier for Slack {
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        require_secrets(&self.secrets)?;
        let given = header_str(req.headers, SIGNATURE)?
            .strip_prefix("v0=")
            .ok_or(VerifyError::MalformedHeader(SIGNATURE))?;
        let timestamp = header_str(req.headers, TIMESTAMP)?;
        let unix = parse_unix(timestamp, TIMESTAMP)?;
        let parts: [&[u8]; 4] = [b"v0:", timestamp.as_bytes(), b":", req.body];
        if !any_secret_matches(&self.secrets, &parts, given, hex_lower) {
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

    const SECRETS: [&str; 3] = ["slack-one", "slack-two", "slack-other"];

    struct SlackFixture;

    impl Fixture for SlackFixture {
        fn verifier(&self, keys: &[usize]) -> Box<dyn Verifier> {
            Box::new(Slack {
                secrets: keys.iter().map(|&k| SECRETS[k].to_owned()).collect(),
                tolerance_secs: TOLERANCE,
            })
        }
        fn sign(&self, key: usize, body: &[u8], ts: i64) -> HeaderMap {
            headers(&[
                (SIGNATURE, &sign(SECRETS[key], ts, body)),
                (TIMESTAMP, &ts.to_string()),
            ])
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
        run_conformance(&SlackFixture);
    }

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: i64 = 1_531_420_618;
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const EXPECTED: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn documented_vector() {
        assert_eq!(sign(SECRET, TS, BODY), EXPECTED);
        let v = Slack {
            secrets: vec![SECRET.into()],
            tolerance_secs: 300,
        };
        let h = headers(&[(SIGNATURE, EXPECTED), (TIMESTAMP, "1531420618")]);
        assert_eq!(check(&v, &h, BODY, TS), Ok(()));
        assert_eq!(check(&v, &h, BODY, TS + 301), Err(VerifyError::Timestamp));
    }

    #[test]
    fn malformed_headers() {
        let v = Slack {
            secrets: vec![SECRET.into()],
            tolerance_secs: 300,
        };
        let bare = EXPECTED.strip_prefix("v0=").expect("prefixed");
        let h = headers(&[(SIGNATURE, bare), (TIMESTAMP, "1531420618")]);
        assert_eq!(
            check(&v, &h, BODY, TS),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
        let h = headers(&[(SIGNATURE, EXPECTED), (TIMESTAMP, "yesterday")]);
        assert_eq!(
            check(&v, &h, BODY, TS),
            Err(VerifyError::MalformedHeader(TIMESTAMP))
        );
    }
}
