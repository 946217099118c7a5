//! Stripe's objects as the API and its webhooks describe them, and their meaning in the
//! hub's vocabulary. Fields Stripe may omit, or that older and newer API versions place
//! differently, are optional.

use std::collections::BTreeMap;

use serde::Deserialize;
use switchyard_core::payment::{
    AccountState, CheckoutState, CheckoutStatus, CustomerState, HUB_CHECKOUT_KEY, HUB_CUSTOMER_KEY,
    HUB_ID_KEY, RefundState, RefundStatus, SubscriptionState, SubscriptionStatus,
};

use crate::payments::error::Explained;

/// An id, or the object it names when expanded.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum Expandable {
    Id(String),
    Object { id: String },
}

impl Expandable {
    fn id(&self) -> &str {
        match self {
            Expandable::Id(id) | Expandable::Object { id } => id,
        }
    }
}

fn id_of(e: &Option<Expandable>) -> Option<String> {
    e.as_ref().map(|e| e.id().to_string())
}

fn ms(seconds: Option<i64>) -> Option<i64> {
    seconds.map(|s| s * 1000)
}

#[derive(Debug, Deserialize)]
pub(crate) struct Session {
    pub id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    payment_status: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    client_reference_id: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    payment_intent: Option<Expandable>,
    #[serde(default)]
    customer: Option<Expandable>,
    #[serde(default)]
    customer_email: Option<String>,
    #[serde(default)]
    customer_details: Option<CustomerDetails>,
    #[serde(default)]
    subscription: Option<Expandable>,
    #[serde(default)]
    amount_total: Option<i64>,
    #[serde(default)]
    currency: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CustomerDetails {
    #[serde(default)]
    email: Option<String>,
}

impl Session {
    /// `complete` with `payment_status: unpaid` is a buyer who finished with a payment
    /// that has not settled: pending, not complete.
    pub fn state(&self) -> CheckoutState {
        let status = match (self.status.as_deref(), self.payment_status.as_deref()) {
            (Some("expired"), _) => CheckoutStatus::Expired,
            (Some("complete"), Some("unpaid")) => CheckoutStatus::Pending,
            (Some("complete"), _) => CheckoutStatus::Complete,
            _ => CheckoutStatus::Open,
        };
        CheckoutState {
            provider_id: self.id.clone(),
            hub_id: self
                .client_reference_id
                .clone()
                .or_else(|| self.metadata.get(HUB_ID_KEY).cloned()),
            status,
            url: self.url.clone(),
            expires_at: ms(self.expires_at),
            payment_id: id_of(&self.payment_intent),
            provider_customer: id_of(&self.customer),
            customer_email: self
                .customer_details
                .as_ref()
                .and_then(|d| d.email.clone())
                .or_else(|| self.customer_email.clone()),
            provider_subscription: id_of(&self.subscription),
            amount_total: self.amount_total,
            currency: self.currency.clone(),
            needs_capture: false,
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Subscription {
    pub id: String,
    status: String,
    #[serde(default)]
    customer: Option<Expandable>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    /// Before API version 2025-03-31.basil.
    #[serde(default)]
    current_period_end: Option<i64>,
    #[serde(default)]
    items: Option<Items>,
    #[serde(default)]
    cancel_at_period_end: bool,
    #[serde(default)]
    canceled_at: Option<i64>,
    #[serde(default)]
    ended_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Items {
    #[serde(default)]
    data: Vec<Item>,
}

#[derive(Debug, Deserialize)]
struct Item {
    /// Since API version 2025-03-31.basil.
    #[serde(default)]
    current_period_end: Option<i64>,
}

/// Stripe's subscription statuses; `incomplete_expired` never started, so it has ended.
pub(crate) fn subscription_status(status: &str) -> SubscriptionStatus {
    match status {
        "trialing" => SubscriptionStatus::Trialing,
        "active" => SubscriptionStatus::Active,
        "past_due" => SubscriptionStatus::PastDue,
        "paused" => SubscriptionStatus::Paused,
        "unpaid" => SubscriptionStatus::Unpaid,
        "canceled" | "incomplete_expired" => SubscriptionStatus::Canceled,
        _ => SubscriptionStatus::Incomplete,
    }
}

impl Subscription {
    pub fn state(&self) -> SubscriptionState {
        let item_end = self
            .items
            .as_ref()
            .and_then(|i| i.data.first())
            .and_then(|i| i.current_period_end);
        SubscriptionState {
            provider_id: self.id.clone(),
            provider_customer: id_of(&self.customer),
            hub_checkout: self.metadata.get(HUB_CHECKOUT_KEY).cloned(),
            hub_customer: self.metadata.get(HUB_CUSTOMER_KEY).cloned(),
            status: subscription_status(&self.status),
            current_period_end: ms(self.current_period_end.or(item_end)),
            cancel_at_period_end: self.cancel_at_period_end,
            canceled_at: ms(self.canceled_at.or(self.ended_at)),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Refund {
    pub id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    amount: Option<i64>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    payment_intent: Option<Expandable>,
    #[serde(default)]
    charge: Option<Expandable>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

impl Refund {
    pub fn state(&self) -> RefundState {
        let status = match self.status.as_deref() {
            Some("succeeded") => RefundStatus::Succeeded,
            Some("failed") => RefundStatus::Failed,
            Some("canceled") => RefundStatus::Canceled,
            _ => RefundStatus::Pending,
        };
        RefundState {
            provider_id: self.id.clone(),
            hub_id: self.metadata.get(HUB_ID_KEY).cloned(),
            payment_id: id_of(&self.payment_intent).or_else(|| id_of(&self.charge)),
            amount: self.amount,
            currency: self.currency.clone(),
            status,
        }
    }
}

/// A charge, as `charge.refunded` describes it.
#[derive(Debug, Deserialize)]
pub(crate) struct Charge {
    id: String,
    #[serde(default)]
    payment_intent: Option<Expandable>,
    #[serde(default)]
    refunds: Option<List<Refund>>,
}

impl Charge {
    pub fn refunds(&self) -> impl Iterator<Item = RefundState> + '_ {
        self.refunds
            .iter()
            .flat_map(|l| l.data.iter().map(Refund::state))
    }

    /// The payment the charge belongs to: its payment intent, else itself.
    pub fn payment(&self) -> Option<String> {
        id_of(&self.payment_intent).or_else(|| Some(self.id.clone()))
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Account {
    pub id: String,
    #[serde(default)]
    charges_enabled: bool,
    #[serde(default)]
    payouts_enabled: bool,
    #[serde(default)]
    details_submitted: bool,
    #[serde(default)]
    requirements: Option<Requirements>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct Requirements {
    #[serde(default)]
    currently_due: Vec<String>,
}

impl Account {
    pub fn state(&self) -> AccountState {
        AccountState {
            provider_id: self.id.clone(),
            hub_id: self.metadata.get(HUB_ID_KEY).cloned(),
            charges_enabled: self.charges_enabled,
            payouts_enabled: self.payouts_enabled,
            details_submitted: self.details_submitted,
            requirements_due: self
                .requirements
                .as_ref()
                .map(|r| r.currently_due.clone())
                .unwrap_or_default(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Customer {
    pub id: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    deleted: bool,
}

impl Customer {
    pub fn state(&self) -> CustomerState {
        CustomerState {
            provider_id: Some(self.id.clone()),
            email: self.email.clone(),
            name: self.name.clone(),
            hub_id: self.metadata.get(HUB_ID_KEY).cloned(),
            deleted: self.deleted,
        }
    }
}

/// A portal session or an account link: a URL, and until when it works.
#[derive(Debug, Deserialize)]
pub(crate) struct Link {
    pub url: String,
    #[serde(default)]
    pub expires_at: Option<i64>,
}

impl Link {
    pub fn link(self) -> crate::payments::Link {
        crate::payments::Link {
            url: self.url,
            expires_at: ms(self.expires_at),
        }
    }
}

/// A page of a list endpoint.
#[derive(Debug, Deserialize)]
pub(crate) struct List<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
}

/// Stripe's error body: `{"error": {"type", "code", "decline_code", "message", "param"}}`.
pub(crate) fn explain(body: &[u8]) -> Explained {
    #[derive(Deserialize)]
    struct Body {
        error: Error,
    }
    #[derive(Deserialize)]
    struct Error {
        #[serde(default, rename = "type")]
        kind: Option<String>,
        #[serde(default)]
        code: Option<String>,
        #[serde(default)]
        decline_code: Option<String>,
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        param: Option<String>,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(Body { error }) => Explained {
            code: error.code.or(error.decline_code).or(error.kind),
            message: error.message,
            param: error.param,
        },
        Err(_) => Explained::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_unpaid_session_is_pending_and_ids_may_be_expanded() {
        let s: Session = serde_json::from_str(
            r#"{"id":"cs_1","status":"complete","payment_status":"unpaid","client_reference_id":"pchk_1",
                "customer":{"id":"cus_1","object":"customer"},"payment_intent":"pi_1","expires_at":10}"#,
        )
        .unwrap();
        let state = s.state();
        assert_eq!(state.status, CheckoutStatus::Pending);
        assert_eq!(state.hub_id.as_deref(), Some("pchk_1"));
        assert_eq!(state.provider_customer.as_deref(), Some("cus_1"));
        assert_eq!(state.payment_id.as_deref(), Some("pi_1"));
        assert_eq!(state.expires_at, Some(10_000));
    }

    #[test]
    fn the_period_end_is_read_where_either_api_version_puts_it() {
        let old: Subscription = serde_json::from_str(
            r#"{"id":"sub_1","status":"active","current_period_end":100,"customer":"cus_1"}"#,
        )
        .unwrap();
        let new: Subscription = serde_json::from_str(
            r#"{"id":"sub_1","status":"incomplete_expired","items":{"data":[{"current_period_end":200}]},
                "metadata":{"switchyard_checkout":"pchk_1","switchyard_customer":"pcus_1"}}"#,
        )
        .unwrap();
        assert_eq!(old.state().current_period_end, Some(100_000));
        let state = new.state();
        assert_eq!(state.current_period_end, Some(200_000));
        assert_eq!(state.status, SubscriptionStatus::Canceled);
        assert_eq!(state.hub_checkout.as_deref(), Some("pchk_1"));
        assert_eq!(state.hub_customer.as_deref(), Some("pcus_1"));
    }

    #[test]
    fn errors_keep_stripes_code_message_and_param() {
        let e = explain(
            br#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds.","param":"payment_method"}}"#,
        );
        assert_eq!(e.code.as_deref(), Some("card_declined"));
        assert_eq!(e.param.as_deref(), Some("payment_method"));
        assert_eq!(
            explain(br#"{"error":{"type":"api_error"}}"#)
                .code
                .as_deref(),
            Some("api_error")
        );
        assert_eq!(explain(b"<html>").code, None);
    }
}
