//! PayPal events as the mirror reads them: the `resource`, as of the event's
//! `create_time`.

use serde::Deserialize;
use serde_json::Value;
use switchyard_core::payment::{CheckoutStatus, ProviderReport, RefundState, RefundStatus, Report};
use switchyard_core::time::parse_rfc3339;

use super::{money, wire};

#[derive(Deserialize)]
struct Event {
    event_type: String,
    create_time: String,
    resource: Value,
}

fn resource<T: serde::de::DeserializeOwned>(v: Value) -> Option<T> {
    serde_json::from_value(v).ok()
}

/// A v1 sale refund (`PAYMENT.SALE.REFUNDED`): `{id, state, amount: {total, currency},
/// sale_id}`.
fn sale_refund(v: Value) -> Option<RefundState> {
    let currency = v.pointer("/amount/currency")?.as_str()?.to_string();
    let amount = v
        .pointer("/amount/total")
        .and_then(Value::as_str)
        .and_then(|t| money::from_value(t.trim_start_matches('-'), &currency));
    Some(RefundState {
        provider_id: v.get("id")?.as_str()?.to_string(),
        hub_id: None,
        payment_id: v.get("sale_id").and_then(Value::as_str).map(str::to_string),
        amount,
        currency: Some(currency.to_ascii_lowercase()),
        status: match v.get("state").and_then(Value::as_str) {
            Some("completed") => RefundStatus::Succeeded,
            Some("failed") => RefundStatus::Failed,
            _ => RefundStatus::Pending,
        },
    })
}

/// The objects a PayPal event describes; `None` for events about nothing the mirror
/// keeps.
pub(crate) fn read(payload: &[u8]) -> Option<ProviderReport> {
    let event: Event = serde_json::from_slice(payload).ok()?;
    let r = event.resource;
    let reports = match event.event_type.as_str() {
        "CHECKOUT.ORDER.APPROVED" | "CHECKOUT.ORDER.COMPLETED" => {
            vec![Report::Checkout(resource::<wire::Order>(r)?.state())]
        }
        "PAYMENT.CAPTURE.COMPLETED"
        | "PAYMENT.CAPTURE.PENDING"
        | "PAYMENT.CAPTURE.DENIED"
        | "PAYMENT.CAPTURE.DECLINED" => {
            let mut state = resource::<wire::Capture>(r)?.checkout()?;
            if event.event_type.ends_with("DENIED") || event.event_type.ends_with("DECLINED") {
                state.status = CheckoutStatus::Failed;
            }
            vec![Report::Checkout(state)]
        }
        "PAYMENT.CAPTURE.REFUNDED" => {
            vec![Report::Refund(resource::<wire::Refund>(r)?.state(None))]
        }
        "PAYMENT.SALE.REFUNDED" => vec![Report::Refund(sale_refund(r)?)],
        k if k.starts_with("BILLING.SUBSCRIPTION.") => {
            let sub: wire::Subscription = resource(r)?;
            vec![
                Report::Subscription(sub.state()),
                Report::Checkout(sub.checkout()),
            ]
        }
        _ => return None,
    };
    Some(ProviderReport {
        as_of: parse_rfc3339(&event.create_time)?,
        reports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::payment::SubscriptionStatus;

    #[test]
    fn subscription_events_describe_the_subscription_and_its_checkout() {
        let body = br#"{"id":"WH-1","event_type":"BILLING.SUBSCRIPTION.ACTIVATED","create_time":"2026-01-02T03:04:05Z",
            "resource_type":"subscription","resource":{"id":"I-1","status":"ACTIVE","custom_id":"pchk_1",
            "billing_info":{"next_billing_time":"2026-02-02T10:00:00Z"}}}"#;
        let report = read(body).unwrap();
        assert_eq!(report.as_of, parse_rfc3339("2026-01-02T03:04:05Z").unwrap());
        let [Report::Subscription(s), Report::Checkout(c)] = report.reports.as_slice() else {
            panic!("{report:?}");
        };
        assert_eq!(s.status, SubscriptionStatus::Active);
        assert_eq!(s.hub_checkout.as_deref(), Some("pchk_1"));
        assert!(s.current_period_end.is_some());
        assert_eq!(c.status, CheckoutStatus::Complete);
        assert_eq!(c.hub_id.as_deref(), Some("pchk_1"));
    }

    #[test]
    fn captures_complete_the_order_they_pay_and_refunds_name_their_capture() {
        let capture = br#"{"id":"WH-2","event_type":"PAYMENT.CAPTURE.COMPLETED","create_time":"2026-01-02T03:04:05Z",
            "resource":{"id":"CAP-1","status":"COMPLETED","custom_id":"pchk_1","amount":{"currency_code":"EUR","value":"9.99"},
            "supplementary_data":{"related_ids":{"order_id":"O-1"}}}}"#;
        let report = read(capture).unwrap();
        let [Report::Checkout(c)] = report.reports.as_slice() else {
            panic!("{report:?}");
        };
        assert_eq!(
            (c.provider_id.as_str(), c.payment_id.as_deref(), c.status),
            ("O-1", Some("CAP-1"), CheckoutStatus::Complete)
        );
        assert_eq!(c.amount_total, Some(999));
        let refund = br#"{"id":"WH-3","event_type":"PAYMENT.CAPTURE.REFUNDED","create_time":"2026-01-02T03:04:05Z",
            "resource":{"id":"R-1","status":"COMPLETED","amount":{"currency_code":"EUR","value":"5.00"},
            "links":[{"rel":"up","href":"https://api-m.paypal.com/v2/payments/captures/CAP-1"}]}}"#;
        let report = read(refund).unwrap();
        let [Report::Refund(r)] = report.reports.as_slice() else {
            panic!("{report:?}");
        };
        assert_eq!(r.payment_id.as_deref(), Some("CAP-1"));
        assert_eq!((r.amount, r.status), (Some(500), RefundStatus::Succeeded));
    }
}
