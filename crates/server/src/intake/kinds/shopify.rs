//! Shopify: `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the body); the webhook id
//! identifies the event and the topic is its type.

use http::HeaderMap;
use switchyard_core::source::{SourceKind, SourceSettings};
use switchyard_signatures as sig;

use super::*;

pub(super) struct Shopify;

impl Kind for Shopify {
    fn kind(&self) -> SourceKind {
        SourceKind::Shopify
    }

    fn verifier(
        &self,
        _: &SourceSettings,
        credentials: Vec<String>,
        _: &VerifyContext,
    ) -> Result<Box<dyn Verify>, KindError> {
        Ok(offline(sig::shopify::Shopify {
            secrets: credentials,
        }))
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &[
            "x-shopify-webhook-id",
            "x-shopify-event-id",
            "x-shopify-topic",
            "x-shopify-shop-domain",
        ]
    }

    fn parse(&self, headers: &HeaderMap, body: &[u8]) -> Result<Vec<ParsedEvent>, Malformed> {
        let id = header(headers, "x-shopify-webhook-id")
            .or_else(|| header(headers, "x-shopify-event-id"));
        one(body, owned(id), owned(header(headers, "x-shopify-topic")))
    }
}
