//! PayPal: an RSA signature checked offline against PayPal's signing certificate
//! (fetched from an allow-listed URL and cached), covering the webhook's id as PayPal
//! shows it (`webhook_id`).

use async_trait::async_trait;
use http::HeaderMap;
use switchyard_core::source::{SourceKind, SourceSettings};
use switchyard_signatures::{Inbound, VerifyError};

use super::*;

pub(super) struct Paypal;

struct CertificateCheck {
    certs: Arc<PaypalCerts>,
    webhook_id: String,
    tolerance_secs: u64,
}

#[async_trait]
impl Verify for CertificateCheck {
    async fn verify(&self, inbound: &Inbound<'_>) -> Result<(), VerifyError> {
        self.certs
            .verify(inbound, &self.webhook_id, self.tolerance_secs)
            .await
    }
}

impl Kind for Paypal {
    fn kind(&self) -> SourceKind {
        SourceKind::Paypal
    }

    fn credential(&self) -> Option<Credential> {
        None
    }

    fn settings(&self) -> &'static [&'static str] {
        &["body_limit", "tolerance_secs", "webhook_id"]
    }

    fn check(&self, settings: &SourceSettings, p: &mut Problems) {
        if settings
            .webhook_id
            .as_deref()
            .is_none_or(|id| id.trim().is_empty())
        {
            p.add(
                "webhook_id",
                "is required for paypal: the webhook id PayPal shows for this endpoint",
            );
        }
    }

    fn verifier(
        &self,
        settings: &SourceSettings,
        _: Vec<String>,
        context: &VerifyContext,
    ) -> Result<Box<dyn Verify>, KindError> {
        Ok(Box::new(CertificateCheck {
            certs: context.paypal.clone(),
            webhook_id: settings.webhook_id.clone().unwrap_or_default(),
            tolerance_secs: tolerance(settings),
        }))
    }

    fn kept_headers(&self) -> &'static [&'static str] {
        &["paypal-transmission-id", "paypal-transmission-time"]
    }

    fn parse(&self, _: &HeaderMap, body: &[u8]) -> Result<Vec<ParsedEvent>, Malformed> {
        let v = json(body)?;
        one(
            body,
            owned(string_at(&v, "/id")),
            owned(string_at(&v, "/event_type")),
        )
    }

    fn types(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("CHECKOUT.ORDER.APPROVED", "payment.checkout.approved"),
            ("CHECKOUT.ORDER.COMPLETED", "payment.checkout.completed"),
            ("PAYMENT.CAPTURE.COMPLETED", "payment.checkout.completed"),
            ("PAYMENT.CAPTURE.PENDING", "payment.checkout.pending"),
            ("PAYMENT.CAPTURE.DENIED", "payment.intent.failed"),
            ("PAYMENT.CAPTURE.REFUNDED", "payment.refunded"),
            ("PAYMENT.SALE.REFUNDED", "payment.refunded"),
            (
                "BILLING.SUBSCRIPTION.CREATED",
                "payment.subscription.created",
            ),
            (
                "BILLING.SUBSCRIPTION.UPDATED",
                "payment.subscription.updated",
            ),
            (
                "BILLING.SUBSCRIPTION.ACTIVATED",
                "payment.subscription.updated",
            ),
            (
                "BILLING.SUBSCRIPTION.SUSPENDED",
                "payment.subscription.updated",
            ),
            (
                "BILLING.SUBSCRIPTION.CANCELLED",
                "payment.subscription.canceled",
            ),
            (
                "BILLING.SUBSCRIPTION.EXPIRED",
                "payment.subscription.canceled",
            ),
            (
                "BILLING.SUBSCRIPTION.PAYMENT.FAILED",
                "payment.invoice.payment_failed",
            ),
            ("PAYMENT.SALE.COMPLETED", "payment.invoice.paid"),
        ]
    }
}
