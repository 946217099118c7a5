//! Stripe: `Stripe-Signature` (HMAC-SHA256 over a timestamped body) with a `whsec_`
//! endpoint secret; the event's `id` identifies it.

use http::HeaderMap;
use serde_json::Value;
use switchyard_core::source::{SourceKind, SourceSettings};
use switchyard_signatures as sig;

use super::*;

pub(super) struct Stripe;

impl Kind for Stripe {
    fn kind(&self) -> SourceKind {
        SourceKind::Stripe
    }

    fn settings(&self) -> &'static [&'static str] {
        TIMED
    }

    fn check_credential(&self, credential: &str) -> Result<(), KindError> {
        if credential.starts_with("whsec_") && credential.len() > "whsec_".len() {
            Ok(())
        } else {
            Err(KindError {
                field: "secret",
                message: "expected the endpoint's signing secret as Stripe shows it: whsec_…"
                    .into(),
            })
        }
    }

    fn verifier(
        &self,
        settings: &SourceSettings,
        credentials: Vec<String>,
        _: &VerifyContext,
    ) -> Result<Box<dyn Verify>, KindError> {
        Ok(offline(sig::stripe::Stripe {
            secrets: credentials,
            tolerance_secs: tolerance(settings),
        }))
    }

    fn parse(&self, _: &HeaderMap, body: &[u8]) -> Result<Vec<ParsedEvent>, Malformed> {
        let v = json(body)?;
        let id = string_at(&v, "/id")
            .ok_or_else(|| Malformed("the Stripe event has no \"id\"".into()))?;
        one(body, Some(id.to_string()), owned(string_at(&v, "/type")))
    }

    fn types(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("checkout.session.completed", "payment.checkout.completed"),
            (
                "checkout.session.async_payment_succeeded",
                "payment.checkout.completed",
            ),
            (
                "checkout.session.async_payment_failed",
                "payment.checkout.failed",
            ),
            ("checkout.session.expired", "payment.checkout.expired"),
            (
                "customer.subscription.created",
                "payment.subscription.created",
            ),
            (
                "customer.subscription.updated",
                "payment.subscription.updated",
            ),
            (
                "customer.subscription.paused",
                "payment.subscription.updated",
            ),
            (
                "customer.subscription.resumed",
                "payment.subscription.updated",
            ),
            (
                "customer.subscription.deleted",
                "payment.subscription.canceled",
            ),
            ("invoice.paid", "payment.invoice.paid"),
            ("invoice.payment_failed", "payment.invoice.payment_failed"),
            ("payment_intent.succeeded", "payment.intent.succeeded"),
            ("payment_intent.payment_failed", "payment.intent.failed"),
            ("charge.refunded", "payment.refunded"),
            ("charge.dispute.created", "payment.dispute.created"),
            ("account.updated", "payment.account.updated"),
        ]
    }

    /// A completed session whose payment has not settled (an asynchronous method) is
    /// pending, not completed.
    fn normalize(&self, provider_type: &str, payload: &[u8]) -> Option<&'static str> {
        if provider_type == "checkout.session.completed" && unpaid(payload) {
            return Some("payment.checkout.pending");
        }
        self.listed(provider_type)
    }

    #[cfg(test)]
    fn payload_types(&self) -> &'static [&'static str] {
        &["payment.checkout.pending"]
    }
}

fn unpaid(payload: &[u8]) -> bool {
    serde_json::from_slice::<Value>(payload)
        .ok()
        .is_some_and(|v| {
            v.pointer("/data/object/payment_status")
                .and_then(|s| s.as_str())
                == Some("unpaid")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_normalization() {
        let body = br#"{"id":"evt_1","object":"event","type":"checkout.session.completed"}"#;
        let events = Stripe.parse(&HeaderMap::new(), body).unwrap();
        assert_eq!(events[0].dedupe_key, "evt_1");
        assert_eq!(
            events[0].provider_type.as_deref(),
            Some("checkout.session.completed")
        );
        assert_eq!(
            Stripe.normalize("checkout.session.completed", body),
            Some("payment.checkout.completed")
        );
        assert_eq!(Stripe.normalize("customer.created", body), None);
        let unpaid = br#"{"id":"evt_2","type":"checkout.session.completed","data":{"object":{"payment_status":"unpaid"}}}"#;
        assert_eq!(
            Stripe.normalize("checkout.session.completed", unpaid),
            Some("payment.checkout.pending")
        );
        let paid = br#"{"id":"evt_3","type":"checkout.session.completed","data":{"object":{"payment_status":"paid"}}}"#;
        assert_eq!(
            Stripe.normalize("checkout.session.completed", paid),
            Some("payment.checkout.completed")
        );
        assert!(Stripe.parse(&HeaderMap::new(), b"not json").is_err());
        assert!(Stripe.parse(&HeaderMap::new(), b"{}").is_err());
    }

    #[test]
    fn only_signing_secrets_are_taken() {
        assert!(Stripe.check_credential("whsec_abc123").is_ok());
        for bad in ["sk_live_123", "abc", "whsec_"] {
            assert_eq!(
                Stripe.check_credential(bad).unwrap_err().field,
                "secret",
                "{bad}"
            );
        }
    }
}
