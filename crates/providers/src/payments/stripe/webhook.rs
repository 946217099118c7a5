//! Stripe events as the mirror reads them: the object in `data.object`, as of the
//! event's `created`. Delivery is at least once and unordered; `created` lets the
//! mirror ignore a report older than what it holds.

use serde::Deserialize;
use serde_json::Value;
use switchyard_core::payment::{CheckoutStatus, ProviderReport, Report};

use super::wire;

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    /// Seconds.
    created: i64,
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    object: Value,
}

fn object<T: serde::de::DeserializeOwned>(v: Value) -> Option<T> {
    serde_json::from_value(v).ok()
}

/// The objects a Stripe event describes; `None` for events about nothing the mirror
/// keeps (or a payload that is not a Stripe event).
pub(crate) fn read(payload: &[u8]) -> Option<ProviderReport> {
    let event: Event = serde_json::from_slice(payload).ok()?;
    let o = event.data.object;
    let reports = match event.kind.as_str() {
        "checkout.session.completed" | "checkout.session.expired" => {
            vec![Report::Checkout(object::<wire::Session>(o)?.state())]
        }
        "checkout.session.async_payment_succeeded" => {
            let mut state = object::<wire::Session>(o)?.state();
            state.status = CheckoutStatus::Complete;
            vec![Report::Checkout(state)]
        }
        "checkout.session.async_payment_failed" => {
            let mut state = object::<wire::Session>(o)?.state();
            state.status = CheckoutStatus::Failed;
            vec![Report::Checkout(state)]
        }
        k if k.starts_with("customer.subscription.") => {
            vec![Report::Subscription(
                object::<wire::Subscription>(o)?.state(),
            )]
        }
        "customer.created" | "customer.updated" => {
            vec![Report::Customer(object::<wire::Customer>(o)?.state())]
        }
        "customer.deleted" => {
            let mut state = object::<wire::Customer>(o)?.state();
            state.deleted = true;
            vec![Report::Customer(state)]
        }
        "charge.refunded" => {
            let charge = object::<wire::Charge>(o)?;
            let refunds: Vec<Report> = charge.refunds().map(Report::Refund).collect();
            // API versions since 2022-11-15 leave the refunds out of the charge.
            match (refunds.is_empty(), charge.payment()) {
                (true, Some(payment)) => vec![Report::Payment(payment)],
                _ => refunds,
            }
        }
        "refund.created" | "refund.updated" | "refund.failed" | "charge.refund.updated" => {
            vec![Report::Refund(object::<wire::Refund>(o)?.state())]
        }
        "account.updated" => vec![Report::Account(object::<wire::Account>(o)?.state())],
        _ => return None,
    };
    Some(ProviderReport {
        as_of: event.created * 1000,
        reports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::payment::SubscriptionStatus;

    #[test]
    fn events_become_reports_as_of_their_creation() {
        let body = br#"{"id":"evt_1","type":"customer.subscription.deleted","created":1700000000,
            "data":{"object":{"id":"sub_1","object":"subscription","status":"canceled","customer":"cus_1"}}}"#;
        let report = read(body).unwrap();
        assert_eq!(report.as_of, 1_700_000_000_000);
        let [Report::Subscription(s)] = report.reports.as_slice() else {
            panic!("{report:?}");
        };
        assert_eq!(s.status, SubscriptionStatus::Canceled);
        assert_eq!(s.provider_customer.as_deref(), Some("cus_1"));
    }

    #[test]
    fn async_payment_outcomes_override_the_sessions_status() {
        let event = |kind: &str| {
            format!(
                r#"{{"id":"evt_1","type":"{kind}","created":1,"data":{{"object":{{"id":"cs_1","status":"complete","payment_status":"unpaid"}}}}}}"#
            )
        };
        let status = |kind: &str| match read(event(kind).as_bytes()).unwrap().reports.remove(0) {
            Report::Checkout(c) => c.status,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            status("checkout.session.completed"),
            CheckoutStatus::Pending
        );
        assert_eq!(
            status("checkout.session.async_payment_succeeded"),
            CheckoutStatus::Complete
        );
        assert_eq!(
            status("checkout.session.async_payment_failed"),
            CheckoutStatus::Failed
        );
    }

    #[test]
    fn events_about_nothing_the_mirror_keeps_are_skipped() {
        assert!(
            read(br#"{"id":"evt_1","type":"plan.created","created":1,"data":{"object":{}}}"#)
                .is_none()
        );
        assert!(read(b"not json").is_none());
        let charge = br#"{"id":"evt_1","type":"charge.refunded","created":1,"data":{"object":{"id":"ch_1",
            "refunds":{"data":[{"id":"re_1","status":"succeeded","amount":500,"currency":"usd","payment_intent":"pi_1"}]}}}}"#;
        let report = read(charge).unwrap();
        let [Report::Refund(r)] = report.reports.as_slice() else {
            panic!("{report:?}");
        };
        assert_eq!((r.provider_id.as_str(), r.amount), ("re_1", Some(500)));
        let bare =
            br#"{"id":"evt_2","type":"charge.refunded","created":1,"data":{"object":{"id":"ch_1",
            "payment_intent":"pi_1","amount_refunded":500}}}"#;
        assert_eq!(
            read(bare).unwrap().reports,
            vec![Report::Payment("pi_1".into())]
        );
    }
}
