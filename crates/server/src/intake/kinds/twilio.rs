//! Twilio: `X-Twilio-Signature` (HMAC-SHA1 over the full URL and the sorted form
//! fields) with the account's auth token. Status callbacks report on SMS the hub sent.

use http::HeaderMap;
use serde_json::Value;
use switchyard_core::form::form;
use switchyard_core::source::{SourceKind, SourceSettings};
use switchyard_signatures as sig;

use super::*;

pub(super) struct Twilio;

impl Kind for Twilio {
    fn kind(&self) -> SourceKind {
        SourceKind::Twilio
    }

    fn credential(&self) -> Option<Credential> {
        Some(Credential::AuthToken)
    }

    fn settings(&self) -> &'static [&'static str] {
        &["body_limit", "public_url"]
    }

    fn verifier(
        &self,
        _: &SourceSettings,
        credentials: Vec<String>,
        _: &VerifyContext,
    ) -> Result<Box<dyn Verify>, KindError> {
        Ok(offline(sig::twilio::Twilio {
            auth_tokens: credentials,
        }))
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &["i-twilio-idempotency-token"]
    }

    fn parse(&self, headers: &HeaderMap, body: &[u8]) -> Result<Vec<ParsedEvent>, Malformed> {
        let status = status(headers, body);
        if let Some(token) = header(headers, "i-twilio-idempotency-token") {
            return one(body, Some(token.to_string()), status);
        }
        let sid = if is_form(headers) {
            form_value(&form(body), &["MessageSid", "SmsSid", "CallSid"]).map(str::to_string)
        } else {
            None
        };
        let key = sid.map(|sid| format!("{sid}:{}", status.as_deref().unwrap_or("")));
        one(body, key, status)
    }

    fn types(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("sent", "message.sent"),
            ("delivered", "message.delivered"),
            ("undelivered", "message.bounced"),
            ("failed", "message.failed"),
            ("read", "message.read"),
        ]
    }

    /// `MessageSid` (or `SmsSid`) of the form body.
    fn message_ref(&self, payload: &[u8]) -> Option<String> {
        form(payload)
            .into_iter()
            .find(|(k, v)| (k == "MessageSid" || k == "SmsSid") && !v.is_empty())
            .map(|(_, v)| v)
    }
}

fn status(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    if is_form(headers) {
        return form_value(&form(body), &["MessageStatus", "SmsStatus", "CallStatus"])
            .map(str::to_string);
    }
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| owned(string_at(&v, "/MessageStatus").or_else(|| string_at(&v, "/type"))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn form_headers(token: Option<&'static str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        if let Some(t) = token {
            h.insert("i-twilio-idempotency-token", HeaderValue::from_static(t));
        }
        h
    }

    #[test]
    fn status_callbacks_are_identified_by_sid_and_status() {
        let body = b"MessageSid=SM123&MessageStatus=delivered&To=%2B15551234567";
        let events = Twilio.parse(&form_headers(None), body).unwrap();
        assert_eq!(events[0].dedupe_key, "SM123:delivered");
        assert_eq!(events[0].provider_type.as_deref(), Some("delivered"));
        assert_eq!(
            Twilio.parse(&form_headers(Some("tok-1")), body).unwrap()[0].dedupe_key,
            "tok-1"
        );
        assert_eq!(
            Twilio.normalize("delivered", body),
            Some("message.delivered")
        );
        assert_eq!(Twilio.message_ref(body).as_deref(), Some("SM123"));
        assert_eq!(Twilio.message_ref(b"To=%2B1"), None);
    }
}
