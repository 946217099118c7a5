//! The payment providers against stateful fakes of Stripe and PayPal
//! (`switchyard_providers::testing::{stripe, paypal}`), through the `PaymentProvider`
//! trait only.
//!
//! One conformance suite (`conformance`) runs against each provider, each step
//! asserting what a user of the hub relies on: customers; a one-time checkout made once
//! however often it is asked for, with the documented fields; the buyer paying; partial,
//! full and refused refunds; a subscription started and cancelled; the provider's
//! refusals, 5xx, 429 and timeouts mapped to what the caller does next (with retries
//! that never make a second object); and webhooks read into the reports the mirror
//! needs. The modules `stripe` and `paypal` check what only one provider has.

mod conformance;
mod paypal;
mod peers;
mod stripe;

use std::collections::BTreeMap;

use switchyard_core::payment::{CheckoutMode, CustomerState, Interval};
use switchyard_providers::payments::{LineItem, NewCheckout, NewRefund, PaymentError};

use peers::Peer;

const EMAIL: &str = "ann@example.test";
const HUB_CUSTOMER: &str = "pcus_conf1";
const SUCCESS_URL: &str = "https://shop.example.test/thanks?session={CHECKOUT_SESSION_ID}";
const CANCEL_URL: &str = "https://shop.example.test/cart";

fn now_ms() -> i64 {
    switchyard_core::time::now_ms()
}

fn inline(name: &str, amount: i64, interval: Option<Interval>) -> LineItem {
    LineItem::Inline {
        name: name.into(),
        amount,
        currency: "usd".into(),
        quantity: 1,
        interval,
    }
}

/// A one-time checkout of 12.34 USD (10.00 + 2.34) for the suite's customer.
fn one_time(hub_id: &str, customer: &CustomerState) -> NewCheckout {
    NewCheckout {
        hub_id: hub_id.into(),
        mode: CheckoutMode::Payment,
        provider_customer: customer.provider_id.clone(),
        hub_customer: Some(HUB_CUSTOMER.into()),
        customer_email: Some(EMAIL.into()),
        line_items: vec![inline("Course", 1000, None), inline("Workbook", 234, None)],
        success_url: Some(SUCCESS_URL.into()),
        cancel_url: Some(CANCEL_URL.into()),
        reference: Some("order-1001".into()),
        metadata: BTreeMap::from([("cart".to_string(), "c-77".to_string())]),
        marketplace: None,
    }
}

/// A monthly 9.99 USD subscription checkout for the suite's customer.
fn monthly(hub_id: &str, customer: &CustomerState) -> NewCheckout {
    NewCheckout {
        hub_id: hub_id.into(),
        mode: CheckoutMode::Subscription,
        line_items: vec![inline("Pro plan", 999, Some(Interval::Month))],
        reference: None,
        metadata: BTreeMap::new(),
        ..one_time(hub_id, customer)
    }
}

fn refund(hub_id: &str, payment: &str, amount: Option<i64>) -> NewRefund {
    NewRefund {
        hub_id: hub_id.into(),
        payment: payment.into(),
        amount,
        currency: Some("usd".into()),
        reason: Some("requested_by_customer".into()),
    }
}

fn key(hub_id: &str) -> String {
    format!("switchyard-{hub_id}")
}

fn rejected(e: PaymentError) -> (Option<String>, String, Option<String>) {
    match e {
        PaymentError::Rejected {
            code,
            message,
            param,
        } => (code, message, param),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn stripe_conforms() {
    conformance::run(Peer::stripe().await).await;
}

#[tokio::test]
async fn paypal_conforms() {
    conformance::run(Peer::paypal().await).await;
}
