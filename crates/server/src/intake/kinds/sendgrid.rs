//! SendGrid's Event Webhook: an ECDSA P-256 signature over a timestamped body, checked
//! with the verification key SendGrid shows; one request posts a JSON array of events,
//! each identified by its `sg_event_id`, each a status report on an email the hub sent.

use http::HeaderMap;
use serde_json::Value;
use switchyard_core::source::{SourceKind, SourceSettings};
use switchyard_signatures as sig;

use super::*;

pub(super) struct Sendgrid;

impl Kind for Sendgrid {
    fn kind(&self) -> SourceKind {
        SourceKind::Sendgrid
    }

    fn credential(&self) -> Option<Credential> {
        Some(Credential::PublicKey)
    }

    fn settings(&self) -> &'static [&'static str] {
        TIMED
    }

    fn check_credential(&self, credential: &str) -> Result<(), KindError> {
        sig::sendgrid::decode_public_key(credential)
            .map(|_| ())
            .map_err(|_| KindError {
                field: "public_key",
                message:
                    "expected the verification key SendGrid shows (base64 of a P-256 public key)"
                        .into(),
            })
    }

    fn verifier(
        &self,
        settings: &SourceSettings,
        credentials: Vec<String>,
        _: &VerifyContext,
    ) -> Result<Box<dyn Verify>, KindError> {
        // SendGrid's own libraries apply no window unless one is asked for.
        Ok(offline(sig::sendgrid::SendGrid {
            public_keys: credentials,
            tolerance_secs: settings.tolerance_secs,
        }))
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &["x-twilio-email-event-webhook-timestamp"]
    }

    fn parse(&self, _: &HeaderMap, body: &[u8]) -> Result<Vec<ParsedEvent>, Malformed> {
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_slice(body)
            .map_err(|e| Malformed(format!("SendGrid posts a JSON array of events: {e}")))?;
        items
            .into_iter()
            .map(|raw| {
                let bytes = raw.get().as_bytes();
                let v: Value =
                    serde_json::from_str(raw.get()).map_err(|e| Malformed(e.to_string()))?;
                Ok(ParsedEvent {
                    dedupe_key: string_at(&v, "/sg_event_id")
                        .map_or_else(|| digest(bytes), str::to_string),
                    provider_type: owned(string_at(&v, "/event")),
                    payload: bytes.to_vec(),
                })
            })
            .collect()
    }

    fn types(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("processed", "message.accepted"),
            ("delivered", "message.delivered"),
            ("deferred", "message.deferred"),
            ("bounce", "message.bounced"),
            ("dropped", "message.failed"),
            ("open", "message.opened"),
            ("click", "message.clicked"),
            ("spamreport", "message.complained"),
            ("unsubscribe", "message.unsubscribed"),
            ("group_unsubscribe", "message.unsubscribed"),
        ]
    }

    /// `sg_message_id` is the `X-Message-Id` the send returned, followed by a
    /// `.filter…` suffix: the part before the first dot.
    fn message_ref(&self, payload: &[u8]) -> Option<String> {
        let v: Value = serde_json::from_slice(payload).ok()?;
        let id = string_at(&v, "/sg_message_id")?;
        Some(id.split('.').next().unwrap_or(id).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_split_into_raw_elements() {
        let body = br#"[{"email":"a@x.io","event":"open","sg_event_id":"e1"}, {"email":"b@x.io","event":"bounce"}]"#;
        let events = Sendgrid.parse(&HeaderMap::new(), body).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].dedupe_key, "e1");
        assert_eq!(
            events[0].payload,
            br#"{"email":"a@x.io","event":"open","sg_event_id":"e1"}"#
        );
        assert!(events[1].dedupe_key.starts_with("sha256:"));
        assert_eq!(events[1].provider_type.as_deref(), Some("bounce"));
        assert!(
            Sendgrid
                .parse(&HeaderMap::new(), br#"{"event":"open"}"#)
                .is_err()
        );
    }

    #[test]
    fn message_refs_drop_the_filter_suffix() {
        let sg = br#"{"sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","event":"open"}"#;
        assert_eq!(Sendgrid.message_ref(sg).as_deref(), Some("14c5d75ce93"));
        assert_eq!(Sendgrid.message_ref(b"{}"), None);
    }
}
