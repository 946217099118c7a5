//! Step 7: webhooks about the objects the steps before made, read into the reports the
//! mirror needs.

use switchyard_core::payment::{
    CheckoutStatus, ProviderReport, RefundStatus, Report, SubscriptionStatus,
};
use switchyard_providers::payments::read_webhook;

use super::Suite;
use crate::now_ms;
use crate::peers::Peer;

/// 7. Webhooks about the objects above: the checkout completed with the hub's id, the
///    subscription active then canceled with the hub's checkout, the refund with its
///    payment.
pub(super) async fn webhooks_tell_the_mirror_what_happened(s: &Suite) {
    let kind = s.peer.kind();
    let paid = s.paid.clone().expect("step 3");
    let payment = paid.payment_id.clone().expect("payment");
    let (sub_id, active, canceled) = s.subscription.clone().expect("step 5");
    let refund_id = s.refund.clone().expect("step 4");
    let completed = s.completed.clone().expect("step 3");
    let read = |payload: String| -> ProviderReport {
        let report = read_webhook(kind, payload.as_bytes()).expect("an event the mirror keeps");
        assert!(
            (now_ms() - report.as_of).abs() < 60_000,
            "as of now: {report:?}"
        );
        report
    };
    let (completed, activated, cancelled, refunded) = match &s.peer {
        Peer::Stripe(_) => (
            s.peer.event("checkout.session.completed", completed),
            s.peer.event("customer.subscription.created", active),
            s.peer.event("customer.subscription.deleted", canceled),
            s.peer.event("refund.created", s.peer.object(&refund_id)),
        ),
        Peer::Paypal(_) => (
            s.peer.event("PAYMENT.CAPTURE.COMPLETED", completed),
            s.peer.event("BILLING.SUBSCRIPTION.ACTIVATED", active),
            s.peer.event("BILLING.SUBSCRIPTION.CANCELLED", canceled),
            s.peer
                .event("PAYMENT.CAPTURE.REFUNDED", s.peer.object(&refund_id)),
        ),
    };

    let report = read(completed);
    let [Report::Checkout(c)] = report.reports.as_slice() else {
        panic!("{report:?}");
    };
    assert_eq!(c.provider_id, paid.provider_id);
    assert_eq!(c.hub_id, paid.hub_id);
    assert_eq!(c.status, CheckoutStatus::Complete);
    assert_eq!(c.payment_id.as_deref(), Some(payment.as_str()));
    assert_eq!(c.amount_total, Some(1234));

    for (payload, status) in [
        (activated, SubscriptionStatus::Active),
        (cancelled, SubscriptionStatus::Canceled),
    ] {
        let report = read(payload);
        let Some(Report::Subscription(sub)) = report.reports.first() else {
            panic!("{report:?}");
        };
        assert_eq!(sub.provider_id, sub_id);
        assert_eq!(sub.status, status);
        assert_eq!(sub.hub_checkout.as_deref(), Some("pchk_conf_sub"));
        if status == SubscriptionStatus::Active {
            assert!(sub.current_period_end.is_some());
        } else {
            assert!(sub.canceled_at.is_some());
        }
    }

    let report = read(refunded);
    let [Report::Refund(r)] = report.reports.as_slice() else {
        panic!("{report:?}");
    };
    assert_eq!(r.provider_id, refund_id);
    assert_eq!(r.payment_id.as_deref(), Some(payment.as_str()));
    assert_eq!(r.hub_id.as_deref(), Some("pref_conf1"));
    assert_eq!((r.amount, r.status), (Some(500), RefundStatus::Succeeded));
}
