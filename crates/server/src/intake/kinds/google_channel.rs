//! Google Calendar push notifications (`events.watch` channels): an empty POST whose
//! headers say which channel and resource changed. Nothing is signed; the channel's
//! `token`, chosen when the channel was created and echoed in `X-Goog-Channel-Token`,
//! is compared in constant time. The `sync` message that opens a channel carries no
//! change and yields no event; each later message is one event identified by its
//! channel and message number.

use http::{HeaderMap, HeaderName};
use serde_json::{Value, json};
use switchyard_core::source::{SourceKind, SourceSettings};
use switchyard_signatures as sig;

use super::*;

pub(super) struct GoogleChannel;

const TOKEN: &str = "x-goog-channel-token";
const CHANNEL_ID: &str = "x-goog-channel-id";
const CHANNEL_EXPIRATION: &str = "x-goog-channel-expiration";
const RESOURCE_ID: &str = "x-goog-resource-id";
const RESOURCE_URI: &str = "x-goog-resource-uri";
const RESOURCE_STATE: &str = "x-goog-resource-state";
const MESSAGE_NUMBER: &str = "x-goog-message-number";

/// The scheme: the whole `X-Goog-Channel-Token` value equals one of `tokens`.
fn scheme(tokens: Vec<String>) -> sig::shared_secret::SharedSecret {
    sig::shared_secret::SharedSecret {
        header: HeaderName::from_static(TOKEN),
        secrets: tokens,
    }
}

impl Kind for GoogleChannel {
    fn kind(&self) -> SourceKind {
        SourceKind::GoogleChannel
    }

    fn verifier(
        &self,
        _: &SourceSettings,
        credentials: Vec<String>,
        _: &VerifyContext,
    ) -> Result<Box<dyn Verify>, KindError> {
        Ok(offline(scheme(credentials)))
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &[
            CHANNEL_ID,
            CHANNEL_EXPIRATION,
            RESOURCE_ID,
            RESOURCE_URI,
            RESOURCE_STATE,
            MESSAGE_NUMBER,
        ]
    }

    fn parse(&self, headers: &HeaderMap, _: &[u8]) -> Result<Vec<ParsedEvent>, Malformed> {
        let required = |name: &str| {
            header(headers, name).ok_or_else(|| Malformed(format!("{name} is missing")))
        };
        let channel_id = required(CHANNEL_ID)?;
        let resource_id = required(RESOURCE_ID)?;
        // The identity of a message within its channel.
        let message_number = required(MESSAGE_NUMBER)?;
        let state = header(headers, RESOURCE_STATE);
        if state == Some("sync") {
            return Ok(Vec::new());
        }
        let payload = json!({
            "channel_id": channel_id,
            "resource_id": resource_id,
            "resource_uri": header(headers, RESOURCE_URI),
            "resource_state": state,
            "message_number": message_number
                .parse::<u64>()
                .map_or_else(|_| Value::from(message_number), Value::from),
            "channel_expiration": header(headers, CHANNEL_EXPIRATION),
        });
        Ok(vec![ParsedEvent {
            dedupe_key: format!("{channel_id}:{message_number}"),
            provider_type: owned(state),
            payload: payload.to_string().into_bytes(),
        }])
    }

    fn types(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("exists", "calendar.changed"),
            ("not_exists", "calendar.changed"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http::HeaderValue;
    use switchyard_signatures::{Inbound, VerifyError};

    use super::*;
    use crate::intake::paypal::PaypalCerts;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn notification(state: &'static str, number: &'static str) -> HeaderMap {
        headers(&[
            ("x-goog-channel-id", "chan-1"),
            ("x-goog-channel-token", "tok-current"),
            ("x-goog-channel-expiration", "Tue, 19 Nov 2030 01:13:52 GMT"),
            ("x-goog-resource-id", "res-9"),
            (
                "x-goog-resource-uri",
                "https://www.googleapis.com/calendar/v3/calendars/primary/events?alt=json",
            ),
            ("x-goog-resource-state", state),
            ("x-goog-message-number", number),
        ])
    }

    #[test]
    fn the_sync_message_yields_no_event() {
        let events = GoogleChannel
            .parse(&notification("sync", "1"), b"")
            .unwrap();
        assert_eq!(events, Vec::new());
    }

    #[test]
    fn a_change_is_one_event_built_from_the_headers() {
        let events = GoogleChannel
            .parse(&notification("exists", "2"), b"")
            .unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.dedupe_key, "chan-1:2");
        assert_eq!(e.provider_type.as_deref(), Some("exists"));
        let payload: Value = serde_json::from_slice(&e.payload).unwrap();
        assert_eq!(
            payload,
            json!({
                "channel_id": "chan-1",
                "resource_id": "res-9",
                "resource_uri": "https://www.googleapis.com/calendar/v3/calendars/primary/events?alt=json",
                "resource_state": "exists",
                "message_number": 2,
                "channel_expiration": "Tue, 19 Nov 2030 01:13:52 GMT",
            })
        );
        assert_eq!(
            GoogleChannel.normalize("exists", &e.payload),
            Some("calendar.changed")
        );
        assert_eq!(
            GoogleChannel.normalize("not_exists", &e.payload),
            Some("calendar.changed")
        );
        assert_eq!(GoogleChannel.normalize("sync", &e.payload), None);
    }

    #[test]
    fn optional_headers_are_null_and_odd_numbers_kept_as_given() {
        let mut h = notification("not_exists", "0x10");
        h.remove("x-goog-channel-expiration");
        h.remove("x-goog-resource-uri");
        let e = &GoogleChannel.parse(&h, b"").unwrap()[0];
        let payload: Value = serde_json::from_slice(&e.payload).unwrap();
        assert_eq!(payload["channel_expiration"], Value::Null);
        assert_eq!(payload["resource_uri"], Value::Null);
        assert_eq!(payload["message_number"], "0x10");
        assert_eq!(e.dedupe_key, "chan-1:0x10");
    }

    #[test]
    fn missing_identity_headers_are_malformed() {
        for name in [
            "x-goog-channel-id",
            "x-goog-resource-id",
            "x-goog-message-number",
        ] {
            for state in ["sync", "exists"] {
                let mut h = notification(state, "3");
                h.remove(name);
                let err = GoogleChannel.parse(&h, b"").unwrap_err();
                assert!(err.0.contains(name), "{name}: {err}");
                h.insert(name, HeaderValue::from_static(" "));
                assert!(GoogleChannel.parse(&h, b"").is_err(), "{name} blank");
            }
        }
    }

    #[test]
    fn the_token_is_kept_out_of_the_stored_headers() {
        assert!(!GoogleChannel.kept_headers().contains(&TOKEN));
        assert!(GoogleChannel.kept_headers().contains(&RESOURCE_STATE));
    }

    #[test]
    fn the_token_is_compared_by_the_constant_time_shared_secret_scheme() {
        // The comparison of SHA-256 digests with `ct_eq` is `shared_secret`'s, tested
        // there; this kind only names the header and the accepted tokens.
        let s = scheme(vec!["tok-current".into(), "tok-previous".into()]);
        assert_eq!(s.header, TOKEN);
        assert_eq!(s.secrets, ["tok-current", "tok-previous"]);
    }

    async fn verify(tokens: &[&str], given: Option<&'static str>) -> Result<(), VerifyError> {
        let context = VerifyContext {
            paypal: Arc::new(PaypalCerts::new(Vec::new())),
        };
        let verifier = GoogleChannel
            .verifier(
                &SourceSettings::default(),
                tokens.iter().map(|t| t.to_string()).collect(),
                &context,
            )
            .unwrap();
        let mut h = notification("exists", "4");
        h.remove(TOKEN);
        if let Some(token) = given {
            h.insert(TOKEN, HeaderValue::from_static(token));
        }
        verifier
            .verify(&Inbound {
                headers: &h,
                body: b"",
                url: "http://hub.test/in/src_1",
                now: 0,
            })
            .await
    }

    #[tokio::test]
    async fn a_wrong_or_missing_token_is_refused() {
        let current = ["tok-current"];
        assert_eq!(verify(&current, Some("tok-current")).await, Ok(()));
        for wrong in [
            "tok-curren",
            "tok-current ",
            "TOK-CURRENT",
            "Bearer tok-current",
        ] {
            assert_eq!(
                verify(&current, Some(wrong)).await,
                Err(VerifyError::Mismatch),
                "{wrong:?}"
            );
        }
        assert!(matches!(
            verify(&current, None).await,
            Err(VerifyError::MissingHeader(_))
        ));
    }

    #[tokio::test]
    async fn the_previous_token_is_accepted_during_a_rotation() {
        let rotating = ["tok-current", "tok-previous"];
        assert_eq!(verify(&rotating, Some("tok-previous")).await, Ok(()));
        assert_eq!(verify(&rotating, Some("tok-current")).await, Ok(()));
        assert_eq!(
            verify(&["tok-current"], Some("tok-previous")).await,
            Err(VerifyError::Mismatch)
        );
    }
}
