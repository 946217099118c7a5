//! A secret the sender puts in a header of its choice, compared in constant time (The
//! Things Network's webhooks, simple senders). `Bearer ` before it is accepted.

use http::HeaderMap;
use switchyard_core::source::{SourceKind, SourceSettings};
use switchyard_signatures as sig;

use super::*;

pub(super) struct SharedSecret;

impl Kind for SharedSecret {
    fn kind(&self) -> SourceKind {
        SourceKind::SharedSecret
    }

    fn settings(&self) -> &'static [&'static str] {
        &["body_limit", "header"]
    }

    fn check(&self, settings: &SourceSettings, p: &mut Problems) {
        check_header(settings, p);
    }

    fn verifier(
        &self,
        settings: &SourceSettings,
        credentials: Vec<String>,
        _: &VerifyContext,
    ) -> Result<Box<dyn Verify>, KindError> {
        Ok(offline(sig::shared_secret::SharedSecret {
            header: header_name("header", settings.header.as_deref())?,
            secrets: credentials,
        }))
    }

    fn parse(&self, _: &HeaderMap, body: &[u8]) -> Result<Vec<ParsedEvent>, Malformed> {
        generic(body)
    }
}
