//! The processing stage of payments: each Stripe or PayPal event is read into the hub's
//! vocabulary and applied to its provider's mirror in the transaction that marks the
//! event processed; the event keeps the mirror's view of its object, delivered with it;
//! an approved PayPal order gets a capture job in the same transaction.

use async_trait::async_trait;
use switchyard_core::payment::{ObjectView, PaymentKind};
use switchyard_core::source::SourceKind;
use switchyard_providers::payments::read_webhook;
use switchyard_store::{NewJob, ProcessTx, ReceivedEvent, Stage, StoreError};

use super::{CAPTURE_JOB, Payments};

#[derive(Debug)]
pub(super) struct Mirror(pub(super) Payments);

fn payment_kind(kind: Option<SourceKind>) -> Option<PaymentKind> {
    match kind? {
        SourceKind::Stripe => Some(PaymentKind::Stripe),
        SourceKind::Paypal => Some(PaymentKind::Paypal),
        _ => None,
    }
}

#[async_trait]
impl Stage for Mirror {
    fn name(&self) -> &'static str {
        "payments mirror"
    }

    async fn run(
        &self,
        tx: &mut dyn ProcessTx,
        events: &[ReceivedEvent],
        at: i64,
    ) -> Result<(), StoreError> {
        let ours: Vec<(&ReceivedEvent, PaymentKind)> = events
            .iter()
            .filter_map(|e| payment_kind(e.source_kind).map(|k| (e, k)))
            .collect();
        if ours.is_empty() {
            return Ok(());
        }
        let entries = self.0.cached_entries();
        let ids: Vec<&str> = ours.iter().map(|(e, _)| e.id.as_str()).collect();
        let payloads = tx.payloads(&ids).await?;
        let metrics = &self.0.inner.metrics;
        let mut objects = Vec::new();
        for (event, kind) in ours {
            let Some(payload) = payloads.get(&event.id) else {
                continue;
            };
            let Some(report) = read_webhook(kind, payload) else {
                continue;
            };
            let Some(provider) =
                Payments::provider_for_event(&entries, event.source_id.as_deref(), kind)
            else {
                tracing::debug!(event_id = %event.id, "no payment provider takes events of this source");
                metrics.payment_reports.inc(&["none", "unmatched"]);
                continue;
            };
            let applied = tx.apply_payment_report(&provider, &report, at).await?;
            let outcome = if applied.changed > 0 {
                "applied"
            } else {
                "unchanged"
            };
            metrics.payment_reports.inc(&[&provider, outcome]);
            if let Some(view) = applied.view {
                objects.push((event.id.as_str(), view));
            }
            for checkout in applied.captures {
                tx.enqueue(&NewJob::now(CAPTURE_JOB, checkout)).await?;
            }
        }
        if !objects.is_empty() {
            let objects: Vec<(&str, &ObjectView)> =
                objects.iter().map(|(id, v)| (*id, v)).collect();
            tx.set_event_objects(&objects).await?;
        }
        Ok(())
    }
}
