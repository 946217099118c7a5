//! A configurable HMAC scheme for providers without a dedicated module: one signature
//! header, SHA-256 or SHA-512, hex or base64, an optional prefix, and an optional signed
//! timestamp header.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use http::HeaderName;
use sha2::{Sha256, Sha512};

use crate::{
    Inbound, Redacted, Verifier, VerifyError, base64_std, check_timestamp, ct_eq, parse_unix,
    require_secrets,
};

/// The label reported for the configured signature header.
pub const SIGNATURE_LABEL: &str = "signature header";
/// The label reported for the configured timestamp header.
pub const TIMESTAMP_LABEL: &str = "timestamp header";

const DEFAULT_TEMPLATE: &str = "{body}";

/// Received base64 may omit its padding.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

/// How the MAC is written in the header. Hex is accepted in either case; base64 with or
/// without padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Hex,
    Base64,
}

/// Generic HMAC configuration.
#[derive(Clone)]
pub struct GenericHmac {
    /// The header carrying the signature.
    pub header: HeaderName,
    pub algorithm: Algorithm,
    pub encoding: Encoding,
    /// Text that must precede the signature in the header value, such as `sha256=`.
    pub prefix: Option<String>,
    /// A header carrying unix seconds. When set, the template must contain `{timestamp}` and
    /// the time window applies.
    pub timestamp_header: Option<HeaderName>,
    /// The signed content, with placeholders `{timestamp}` and `{body}`; `{body}` is required.
    /// Defaults to `{body}`.
    pub template: Option<String>,
    /// Accepted secrets, used verbatim as HMAC keys.
    pub secrets: Vec<String>,
    /// Largest accepted distance between the timestamp and now, in either direction.
    pub tolerance_secs: u64,
}

impl fmt::Debug for GenericHmac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GenericHmac")
            .field("header", &self.header)
            .field("algorithm", &self.algorithm)
            .field("encoding", &self.encoding)
            .field("prefix", &self.prefix)
            .field("timestamp_header", &self.timestamp_header)
            .field("template", &self.template)
            .field("secrets", &Redacted(self.secrets.len()))
            .field("tolerance_secs", &self.tolerance_secs)
            .finish()
    }
}

impl GenericHmac {
    fn template(&self) -> &str {
        self.template.as_deref().unwrap_or(DEFAULT_TEMPLATE)
    }

    /// Checks the configuration alone, without a request: the errors `verify` would report
    /// as `BadKey` for any request.
    pub fn validate(&self) -> Result<(), VerifyError> {
        require_secrets(&self.secrets)?;
        let template = self.template();
        if !template.contains("{body}") {
            return Err(VerifyError::BadKey("template does not sign {body}".into()));
        }
        match (
            template.contains("{timestamp}"),
            self.timestamp_header.is_some(),
        ) {
            (true, false) => Err(VerifyError::BadKey(
                "template signs {timestamp} but no timestamp header is set".into(),
            )),
            (false, true) => Err(VerifyError::BadKey(
                "timestamp header is set but the template does not sign {timestamp}".into(),
            )),
            _ => Ok(()),
        }
    }

    fn mac(&self, secret: &str, content: &[u8]) -> Vec<u8> {
        match self.algorithm {
            Algorithm::Sha256 => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
                    .expect("HMAC accepts keys of any length");
                mac.update(content);
                mac.finalize().into_bytes().to_vec()
            }
            Algorithm::Sha512 => {
                let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(secret.as_bytes())
                    .expect("HMAC accepts keys of any length");
                mac.update(content);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    /// The signature header value a sender configured like this produces.
    pub fn sign(
        &self,
        secret: &str,
        timestamp: Option<i64>,
        body: &[u8],
    ) -> Result<String, VerifyError> {
        self.validate()?;
        let timestamp = timestamp.map(|t| t.to_string());
        let content = render(self.template(), timestamp.as_deref(), body)?;
        let mac = self.mac(secret, &content);
        let encoded = match self.encoding {
            Encoding::Hex => hex::encode(mac),
            Encoding::Base64 => base64_std(&mac),
        };
        Ok(format!(
            "{}{encoded}",
            self.prefix.as_deref().unwrap_or_default()
        ))
    }
}

/// Fills the template's placeholders; `{timestamp}` without a timestamp is `BadKey`.
fn render(template: &str, timestamp: Option<&str>, body: &[u8]) -> Result<Vec<u8>, VerifyError> {
    let mut out = Vec::with_capacity(template.len() + body.len());
    let mut rest = template;
    loop {
        let next = ["{body}", "{timestamp}"]
            .into_iter()
            .filter_map(|p| rest.find(p).map(|i| (i, p)))
            .min_by_key(|&(i, _)| i);
        let Some((i, placeholder)) = next else {
            out.extend_from_slice(rest.as_bytes());
            return Ok(out);
        };
        out.extend_from_slice(&rest.as_bytes()[..i]);
        if placeholder == "{body}" {
            out.extend_from_slice(body);
        } else {
            let ts = timestamp.ok_or_else(|| {
                VerifyError::BadKey("template signs {timestamp} without a timestamp".into())
            })?;
            out.extend_from_slice(ts.as_bytes());
        }
        rest = &rest[i + placeholder.len()..];
    }
}

fn header_value<'h>(
    req: &Inbound<'h>,
    name: &HeaderName,
    label: &'static str,
) -> Result<&'h str, VerifyError> {
    req.headers
        .get(name)
        .ok_or(VerifyError::MissingHeader(label))?
        .to_str()
        .map_err(|_| VerifyError::MalformedHeader(label))
}

impl Verifier for GenericHmac {
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        self.validate()?;
        let value = header_value(req, &self.header, SIGNATURE_LABEL)?.trim();
        let encoded = match &self.prefix {
            Some(prefix) => value
                .strip_prefix(prefix.as_str())
                .ok_or(VerifyError::MalformedHeader(SIGNATURE_LABEL))?,
            None => value,
        };
        let given = match self.encoding {
            Encoding::Hex => hex::decode(encoded).ok(),
            Encoding::Base64 => LENIENT_BASE64.decode(encoded).ok(),
        }
        .ok_or(VerifyError::MalformedHeader(SIGNATURE_LABEL))?;
        let timestamp = match &self.timestamp_header {
            Some(name) => {
                let raw = header_value(req, name, TIMESTAMP_LABEL)?;
                Some((raw, parse_unix(raw, TIMESTAMP_LABEL)?))
            }
            None => None,
        };

        let content = render(self.template(), timestamp.map(|(raw, _)| raw), req.body)?;
        let matched = self.secrets.iter().fold(false, |found, secret| {
            found | ct_eq(&self.mac(secret, &content), &given)
        });
        if !matched {
            return Err(VerifyError::Mismatch);
        }
        match timestamp {
            Some((_, unix)) => check_timestamp(unix, req.now, self.tolerance_secs),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;
    use crate::test_support::{Fixture, NOW, TOLERANCE, TimeRule, check, headers, run_conformance};

    const SECRETS: [&str; 3] = ["generic-one", "generic-two", "generic-other"];

    fn config(algorithm: Algorithm, encoding: Encoding, timed: bool) -> GenericHmac {
        GenericHmac {
            header: HeaderName::from_static("x-signature"),
            algorithm,
            encoding,
            prefix: Some("sha=".into()),
            timestamp_header: timed.then(|| HeaderName::from_static("x-timestamp")),
            template: timed.then(|| "{timestamp}.{body}".into()),
            secrets: Vec::new(),
            tolerance_secs: TOLERANCE,
        }
    }

    struct GenericFixture(GenericHmac);

    impl Fixture for GenericFixture {
        fn verifier(&self, keys: &[usize]) -> Box<dyn Verifier> {
            Box::new(GenericHmac {
                secrets: keys.iter().map(|&k| SECRETS[k].to_owned()).collect(),
                ..self.0.clone()
            })
        }
        fn sign(&self, key: usize, body: &[u8], ts: i64) -> HeaderMap {
            let signer = GenericHmac {
                secrets: vec![SECRETS[key].into()],
                ..self.0.clone()
            };
            let timed = self.0.timestamp_header.is_some();
            let sig = signer
                .sign(SECRETS[key], timed.then_some(ts), body)
                .expect("valid config");
            headers(&[("x-signature", &sig), ("x-timestamp", &ts.to_string())])
        }
        fn signature_header(&self) -> &'static str {
            "x-signature"
        }
        fn required_headers(&self) -> Vec<&'static str> {
            Vec::new()
        }
        fn time_rule(&self) -> TimeRule {
            if self.0.timestamp_header.is_some() {
                TimeRule::Both
            } else {
                TimeRule::None
            }
        }
    }

    #[test]
    fn conformance_for_every_shape() {
        for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
            for encoding in [Encoding::Hex, Encoding::Base64] {
                for timed in [false, true] {
                    run_conformance(&GenericFixture(config(algorithm, encoding, timed)));
                }
            }
        }
    }

    #[test]
    fn matches_known_providers() {
        let github_like = GenericHmac {
            header: HeaderName::from_static("x-hub-signature-256"),
            algorithm: Algorithm::Sha256,
            encoding: Encoding::Hex,
            prefix: Some("sha256=".into()),
            timestamp_header: None,
            template: None,
            secrets: vec!["It's a Secret to Everybody".into()],
            tolerance_secs: 0,
        };
        let value = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(
            check(
                &github_like,
                &headers(&[("X-Hub-Signature-256", value)]),
                b"Hello, World!",
                NOW
            ),
            Ok(())
        );
        let upper = format!(" sha256={} ", &value[7..].to_uppercase());
        assert_eq!(
            check(
                &github_like,
                &headers(&[("X-Hub-Signature-256", &upper)]),
                b"Hello, World!",
                NOW
            ),
            Ok(())
        );

        let slack_like = GenericHmac {
            header: HeaderName::from_static("x-slack-signature"),
            prefix: Some("v0=".into()),
            timestamp_header: Some(HeaderName::from_static("x-slack-request-timestamp")),
            template: Some("v0:{timestamp}:{body}".into()),
            secrets: vec!["slack-secret".into()],
            tolerance_secs: 300,
            ..github_like
        };
        let h = headers(&[
            (
                "x-slack-signature",
                &crate::slack::sign("slack-secret", NOW, b"a=b"),
            ),
            ("x-slack-request-timestamp", &NOW.to_string()),
        ]);
        assert_eq!(check(&slack_like, &h, b"a=b", NOW), Ok(()));
    }

    #[test]
    fn unpadded_base64_is_accepted() {
        let v = GenericHmac {
            secrets: vec![SECRETS[0].into()],
            prefix: None,
            ..config(Algorithm::Sha256, Encoding::Base64, false)
        };
        let sig = v.sign(SECRETS[0], None, b"{}").expect("valid");
        assert!(sig.ends_with('='));
        assert_eq!(
            check(
                &v,
                &headers(&[("x-signature", sig.trim_end_matches('='))]),
                b"{}",
                NOW
            ),
            Ok(())
        );
    }

    #[test]
    fn inconsistent_templates_are_configuration_errors() {
        let base = GenericHmac {
            secrets: vec![SECRETS[0].into()],
            ..config(Algorithm::Sha256, Encoding::Hex, false)
        };
        let cases = [
            GenericHmac {
                template: Some("{timestamp}".into()),
                ..base.clone()
            },
            GenericHmac {
                template: Some("{timestamp}.{body}".into()),
                ..base.clone()
            },
            GenericHmac {
                timestamp_header: Some(HeaderName::from_static("x-ts")),
                ..base.clone()
            },
        ];
        assert_eq!(base.validate(), Ok(()));
        for v in cases {
            assert!(matches!(v.validate(), Err(VerifyError::BadKey(_))), "{v:?}");
            let h = headers(&[("x-signature", "sha=00"), ("x-ts", "1")]);
            assert!(
                matches!(check(&v, &h, b"{}", NOW), Err(VerifyError::BadKey(_))),
                "{v:?}"
            );
        }
    }

    #[test]
    fn template_rendering() {
        assert_eq!(
            render("{timestamp}.{body}.{body}{x}", Some("12"), b"B").expect("renders"),
            b"12.B.B{x}"
        );
        assert_eq!(render("{body}", None, b"").expect("renders"), b"");
        assert!(matches!(
            render("{timestamp}", None, b""),
            Err(VerifyError::BadKey(_))
        ));
    }

    #[test]
    fn malformed_and_missing_headers() {
        let v = GenericHmac {
            secrets: vec![SECRETS[0].into()],
            ..config(Algorithm::Sha256, Encoding::Hex, true)
        };
        let ts = NOW.to_string();
        let cases = [
            (
                headers(&[("x-timestamp", &ts)]),
                VerifyError::MissingHeader(SIGNATURE_LABEL),
            ),
            (
                headers(&[("x-signature", "sha=00")]),
                VerifyError::MissingHeader(TIMESTAMP_LABEL),
            ),
            (
                headers(&[("x-signature", "00"), ("x-timestamp", &ts)]),
                VerifyError::MalformedHeader(SIGNATURE_LABEL),
            ),
            (
                headers(&[("x-signature", "sha=zz"), ("x-timestamp", &ts)]),
                VerifyError::MalformedHeader(SIGNATURE_LABEL),
            ),
            (
                headers(&[("x-signature", "sha=00"), ("x-timestamp", "now")]),
                VerifyError::MalformedHeader(TIMESTAMP_LABEL),
            ),
        ];
        for (h, expected) in cases {
            assert_eq!(check(&v, &h, b"{}", NOW), Err(expected));
        }
    }
}
