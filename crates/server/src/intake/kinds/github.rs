//! GitHub: `X-Hub-Signature-256` (HMAC-SHA256 of the body); `X-GitHub-Delivery`
//! identifies the event, `X-GitHub-Event` and the body's `action` name its type.

use http::HeaderMap;
use serde_json::Value;
use switchyard_core::source::{SourceKind, SourceSettings};
use switchyard_signatures as sig;

use super::*;

pub(super) struct Github;

impl Kind for Github {
    fn kind(&self) -> SourceKind {
        SourceKind::Github
    }

    fn verifier(
        &self,
        _: &SourceSettings,
        credentials: Vec<String>,
        _: &VerifyContext,
    ) -> Result<Box<dyn Verify>, KindError> {
        Ok(offline(sig::github::GitHub {
            secrets: credentials,
        }))
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &["x-github-delivery", "x-github-event", "x-github-hook-id"]
    }

    fn parse(&self, headers: &HeaderMap, body: &[u8]) -> Result<Vec<ParsedEvent>, Malformed> {
        let event = header(headers, "x-github-event");
        let action = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| owned(string_at(&v, "/action")));
        let provider_type = match (event, action) {
            (Some(e), Some(a)) => Some(format!("{e}.{a}")),
            (Some(e), None) => Some(e.to_string()),
            _ => None,
        };
        one(
            body,
            owned(header(headers, "x-github-delivery")),
            provider_type,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn delivery_header_identifies_and_action_names() {
        let mut h = HeaderMap::new();
        h.insert("x-github-delivery", HeaderValue::from_static("d-1"));
        h.insert("x-github-event", HeaderValue::from_static("push"));
        let e = &Github.parse(&h, br#"{"ref":"main"}"#).unwrap()[0];
        assert_eq!(
            (e.dedupe_key.as_str(), e.provider_type.as_deref()),
            ("d-1", Some("push"))
        );
        let e = &Github.parse(&h, br#"{"action":"opened"}"#).unwrap()[0];
        assert_eq!(e.provider_type.as_deref(), Some("push.opened"));
    }
}
