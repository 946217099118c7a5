//! A configurable HMAC signature: the header, the digest (`sha256`, `sha512`), the
//! encoding (`hex`, `base64`), a prefix, and optionally a signed timestamp, for senders
//! with a scheme of their own.

use http::HeaderMap;
use switchyard_core::source::{HmacAlgorithm, HmacEncoding, SourceKind, SourceSettings};
use switchyard_signatures::hmac_generic::{Algorithm, Encoding, GenericHmac};

use super::*;

pub(super) struct Hmac;

impl Kind for Hmac {
    fn kind(&self) -> SourceKind {
        SourceKind::Hmac
    }

    fn settings(&self) -> &'static [&'static str] {
        &[
            "body_limit",
            "tolerance_secs",
            "header",
            "algorithm",
            "encoding",
            "prefix",
            "timestamp_header",
            "template",
        ]
    }

    /// The verifier refuses every request when the template and the timestamp header
    /// disagree: say so now rather than answer 401 to each genuine request.
    fn check(&self, settings: &SourceSettings, p: &mut Problems) {
        check_header(settings, p);
        let template = settings.template.as_deref().unwrap_or("{body}");
        if !template.contains("{body}") {
            p.add("template", "must contain {body}");
        }
        match (
            template.contains("{timestamp}"),
            settings.timestamp_header.is_some(),
        ) {
            (true, false) => p.add(
                "timestamp_header",
                "is required when the template signs {timestamp}",
            ),
            (false, true) => p.add(
                "template",
                "must contain {timestamp} when timestamp_header is set",
            ),
            _ => {}
        }
        if let Some(h) = &settings.timestamp_header
            && HeaderName::from_bytes(h.as_bytes()).is_err()
        {
            p.add("timestamp_header", "is not a valid header name");
        }
    }

    fn verifier(
        &self,
        settings: &SourceSettings,
        credentials: Vec<String>,
        _: &VerifyContext,
    ) -> Result<Box<dyn Verify>, KindError> {
        Ok(offline(GenericHmac {
            header: header_name("header", settings.header.as_deref())?,
            algorithm: match settings.algorithm.unwrap_or(HmacAlgorithm::Sha256) {
                HmacAlgorithm::Sha256 => Algorithm::Sha256,
                HmacAlgorithm::Sha512 => Algorithm::Sha512,
            },
            encoding: match settings.encoding.unwrap_or(HmacEncoding::Hex) {
                HmacEncoding::Hex => Encoding::Hex,
                HmacEncoding::Base64 => Encoding::Base64,
            },
            prefix: settings.prefix.clone(),
            timestamp_header: settings
                .timestamp_header
                .as_deref()
                .map(|h| header_name("timestamp_header", Some(h)))
                .transpose()?,
            template: settings.template.clone(),
            secrets: credentials,
            tolerance_secs: tolerance(settings),
        }))
    }

    fn parse(&self, _: &HeaderMap, body: &[u8]) -> Result<Vec<ParsedEvent>, Malformed> {
        generic(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unstructured_bodies_are_identified_by_their_digest() {
        let a = Hmac.parse(&HeaderMap::new(), b"temperature=20").unwrap();
        let b = Hmac.parse(&HeaderMap::new(), b"temperature=21").unwrap();
        assert_ne!(a[0].dedupe_key, b[0].dedupe_key);
        assert_eq!(
            a[0].dedupe_key,
            Hmac.parse(&HeaderMap::new(), b"temperature=20").unwrap()[0].dedupe_key
        );
    }
}
