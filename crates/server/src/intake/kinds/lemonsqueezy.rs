//! Lemon Squeezy: `X-Signature` (hex HMAC-SHA256 of the body); events carry no id of
//! their own, so the body's digest identifies them.

use http::HeaderMap;
use switchyard_core::source::{SourceKind, SourceSettings};
use switchyard_signatures as sig;

use super::*;

pub(super) struct LemonSqueezy;

impl Kind for LemonSqueezy {
    fn kind(&self) -> SourceKind {
        SourceKind::Lemonsqueezy
    }

    fn verifier(
        &self,
        _: &SourceSettings,
        credentials: Vec<String>,
        _: &VerifyContext,
    ) -> Result<Box<dyn Verify>, KindError> {
        Ok(offline(sig::lemonsqueezy::LemonSqueezy {
            secrets: credentials,
        }))
    }

    fn parse(&self, _: &HeaderMap, body: &[u8]) -> Result<Vec<ParsedEvent>, Malformed> {
        let v = json(body)?;
        one(body, None, owned(string_at(&v, "/meta/event_name")))
    }

    fn types(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("order_created", "payment.checkout.completed"),
            ("order_refunded", "payment.refunded"),
            ("subscription_created", "payment.subscription.created"),
            ("subscription_updated", "payment.subscription.updated"),
            ("subscription_cancelled", "payment.subscription.canceled"),
            ("subscription_payment_success", "payment.invoice.paid"),
            (
                "subscription_payment_failed",
                "payment.invoice.payment_failed",
            ),
        ]
    }
}
