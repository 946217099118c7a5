//! Telnyx: Ed25519 signatures over a timestamped body, checked with the account's
//! public key. Message webhooks report on SMS the hub sent; `message.finalized` says
//! how the message ended in its payload.

use http::HeaderMap;
use serde_json::Value;
use switchyard_core::source::{SourceKind, SourceSettings};
use switchyard_signatures as sig;

use super::*;

pub(super) struct Telnyx;

impl Kind for Telnyx {
    fn kind(&self) -> SourceKind {
        SourceKind::Telnyx
    }

    fn credential(&self) -> Option<Credential> {
        Some(Credential::PublicKey)
    }

    fn settings(&self) -> &'static [&'static str] {
        &["body_limit", "tolerance_secs", "public_url"]
    }

    fn check_credential(&self, credential: &str) -> Result<(), KindError> {
        sig::telnyx::decode_public_key(credential)
            .map(|_| ())
            .map_err(|_| KindError {
                field: "public_key",
                message: "expected the base64 Ed25519 public key Telnyx shows for the account"
                    .into(),
            })
    }

    fn verifier(
        &self,
        settings: &SourceSettings,
        credentials: Vec<String>,
        _: &VerifyContext,
    ) -> Result<Box<dyn Verify>, KindError> {
        Ok(offline(sig::telnyx::Telnyx {
            public_keys: credentials,
            tolerance_secs: tolerance(settings),
        }))
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &["telnyx-timestamp"]
    }

    fn parse(&self, _: &HeaderMap, body: &[u8]) -> Result<Vec<ParsedEvent>, Malformed> {
        let v = json(body)?;
        one(
            body,
            owned(string_at(&v, "/data/id")),
            owned(string_at(&v, "/data/event_type")),
        )
    }

    fn types(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("message.sent", "message.sent"),
            ("message.received", "message.received"),
        ]
    }

    fn normalize(&self, provider_type: &str, payload: &[u8]) -> Option<&'static str> {
        if provider_type != "message.finalized" {
            return self.listed(provider_type);
        }
        let v: Value = serde_json::from_slice(payload).ok()?;
        match string_at(&v, "/data/payload/to/0/status")? {
            "delivered" => Some("message.delivered"),
            "delivery_failed" | "sending_failed" | "delivery_unconfirmed" => Some("message.failed"),
            _ => None,
        }
    }

    #[cfg(test)]
    fn payload_types(&self) -> &'static [&'static str] {
        &["message.delivered", "message.failed"]
    }

    /// `data.payload.id`.
    fn message_ref(&self, payload: &[u8]) -> Option<String> {
        let v: Value = serde_json::from_slice(payload).ok()?;
        owned(string_at(&v, "/data/payload/id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finalized_depends_on_the_delivery_status() {
        let body = br#"{"data":{"id":"e1","event_type":"message.finalized","payload":{"id":"40317f","to":[{"status":"delivered"}]}}}"#;
        let e = &Telnyx.parse(&HeaderMap::new(), body).unwrap()[0];
        assert_eq!(e.dedupe_key, "e1");
        assert_eq!(
            Telnyx.normalize("message.finalized", body),
            Some("message.delivered")
        );
        let failed = br#"{"data":{"payload":{"to":[{"status":"sending_failed"}]}}}"#;
        assert_eq!(
            Telnyx.normalize("message.finalized", failed),
            Some("message.failed")
        );
        assert_eq!(Telnyx.normalize("message.finalized", b"{}"), None);
        assert_eq!(Telnyx.message_ref(body).as_deref(), Some("40317f"));
    }

    #[test]
    fn garbage_public_keys_are_refused() {
        for bad in ["not a key", "c2hvcnQ=", ""] {
            assert!(Telnyx.check_credential(bad).is_err(), "{bad}");
        }
        use base64::Engine as _;
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        let good = base64::engine::general_purpose::STANDARD.encode(key.to_bytes());
        assert!(Telnyx.check_credential(&good).is_ok());
    }
}
