//! Standard Webhooks (Svix, Resend, and whoever follows the spec): `webhook-signature`
//! with a `whsec_` secret; `webhook-id` (or `svix-id`) identifies the event. Resend's
//! `email.*` events report on emails the hub sent.

use http::HeaderMap;
use serde_json::Value;
use switchyard_core::source::{SourceKind, SourceSettings};
use switchyard_signatures as sig;

use super::*;

pub(super) struct StandardWebhooks;

impl Kind for StandardWebhooks {
    fn kind(&self) -> SourceKind {
        SourceKind::StandardWebhooks
    }

    fn settings(&self) -> &'static [&'static str] {
        TIMED
    }

    fn check_credential(&self, credential: &str) -> Result<(), KindError> {
        sig::standard::decode_secret(credential)
            .map(|_| ())
            .map_err(|e| KindError {
                field: "secret",
                message: e.to_string(),
            })
    }

    fn verifier(
        &self,
        settings: &SourceSettings,
        credentials: Vec<String>,
        _: &VerifyContext,
    ) -> Result<Box<dyn Verify>, KindError> {
        Ok(offline(sig::standard::StandardWebhooks {
            secrets: credentials,
            tolerance_secs: tolerance(settings),
        }))
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &[
            "webhook-id",
            "webhook-timestamp",
            "svix-id",
            "svix-timestamp",
        ]
    }

    fn parse(&self, headers: &HeaderMap, body: &[u8]) -> Result<Vec<ParsedEvent>, Malformed> {
        let v = json(body)?;
        let id = header(headers, "webhook-id").or_else(|| header(headers, "svix-id"));
        one(
            body,
            owned(id),
            owned(string_at(&v, "/type").or_else(|| string_at(&v, "/event"))),
        )
    }

    fn types(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("email.sent", "message.sent"),
            ("email.delivered", "message.delivered"),
            ("email.delivery_delayed", "message.deferred"),
            ("email.bounced", "message.bounced"),
            ("email.complained", "message.complained"),
            ("email.opened", "message.opened"),
            ("email.clicked", "message.clicked"),
            ("email.failed", "message.failed"),
        ]
    }

    /// Resend's `data.email_id`.
    fn message_ref(&self, payload: &[u8]) -> Option<String> {
        let v: Value = serde_json::from_slice(payload).ok()?;
        owned(string_at(&v, "/data/email_id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn identity_from_either_header_and_resend_refs() {
        let mut h = HeaderMap::new();
        h.insert("svix-id", HeaderValue::from_static("msg_1"));
        let e = &StandardWebhooks
            .parse(&h, br#"{"type":"email.opened"}"#)
            .unwrap()[0];
        assert_eq!(e.dedupe_key, "msg_1");
        assert_eq!(e.provider_type.as_deref(), Some("email.opened"));
        let rs = br#"{"type":"email.delivered","data":{"email_id":"4ef9a417"}}"#;
        assert_eq!(
            StandardWebhooks.message_ref(rs).as_deref(),
            Some("4ef9a417")
        );
        assert_eq!(StandardWebhooks.message_ref(b"{}"), None);
    }
}
