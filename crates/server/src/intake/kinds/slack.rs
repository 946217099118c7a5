//! Slack: `X-Slack-Signature` (HMAC-SHA256 over `v0:{timestamp}:{body}`); events carry
//! an `event_id`, slash commands and interactions come as forms.

use http::HeaderMap;
use switchyard_core::form::form;
use switchyard_core::source::{SourceKind, SourceSettings};
use switchyard_signatures as sig;

use super::*;

pub(super) struct Slack;

impl Kind for Slack {
    fn kind(&self) -> SourceKind {
        SourceKind::Slack
    }

    fn settings(&self) -> &'static [&'static str] {
        TIMED
    }

    fn verifier(
        &self,
        settings: &SourceSettings,
        credentials: Vec<String>,
        _: &VerifyContext,
    ) -> Result<Box<dyn Verify>, KindError> {
        Ok(offline(sig::slack::Slack {
            secrets: credentials,
            tolerance_secs: tolerance(settings),
        }))
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &["x-slack-request-timestamp", "x-slack-retry-num"]
    }

    fn parse(&self, headers: &HeaderMap, body: &[u8]) -> Result<Vec<ParsedEvent>, Malformed> {
        if is_form(headers) {
            let pairs = form(body);
            return one(body, None, owned(form_value(&pairs, &["command", "type"])));
        }
        let v = json(body)?;
        one(
            body,
            owned(string_at(&v, "/event_id")),
            owned(string_at(&v, "/event/type").or_else(|| string_at(&v, "/type"))),
        )
    }
}
