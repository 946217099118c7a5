//! Paddle Billing: `Paddle-Signature` (HMAC-SHA256 over `{ts}:{body}`); the event's
//! `event_id` identifies it.

use http::HeaderMap;
use switchyard_core::source::{SourceKind, SourceSettings};
use switchyard_signatures as sig;

use super::*;

pub(super) struct Paddle;

impl Kind for Paddle {
    fn kind(&self) -> SourceKind {
        SourceKind::Paddle
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
        Ok(offline(sig::paddle::Paddle {
            secrets: credentials,
            tolerance_secs: tolerance(settings),
        }))
    }

    fn parse(&self, _: &HeaderMap, body: &[u8]) -> Result<Vec<ParsedEvent>, Malformed> {
        let v = json(body)?;
        one(
            body,
            owned(string_at(&v, "/event_id")),
            owned(string_at(&v, "/event_type")),
        )
    }

    fn types(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("transaction.completed", "payment.checkout.completed"),
            (
                "transaction.payment_failed",
                "payment.invoice.payment_failed",
            ),
            ("subscription.created", "payment.subscription.created"),
            ("subscription.updated", "payment.subscription.updated"),
            ("subscription.canceled", "payment.subscription.canceled"),
            ("adjustment.created", "payment.refunded"),
        ]
    }
}
