//! The mirror's view of the object a payment event is about, delivered beside the
//! provider's `data` so that the application needs none of the provider's vocabulary:
//! `{"kind": "subscription", "id": "psub_…", "status": "active", "customer": "pcus_…",
//! "external_id": "u_42"}`.

use serde::{Deserialize, Serialize};

use super::{Checkout, ConnectedAccount, Customer, Refund, Subscription};

/// One object, as the application sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectView {
    /// `customer`, `checkout`, `subscription`, `refund` or `connected_account`.
    pub kind: String,
    /// The hub's id (`pcus_…`, `pchk_…`, `psub_…`, `pref_…`, `pacct_…`).
    pub id: String,
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The hub's customer (`pcus_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    /// The customer's `external_id` (the application's user id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// For checkouts: the application's reference; for subscriptions and refunds: the
    /// checkout they came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// For customers: whether any subscription is active or trialing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribed: Option<bool>,
    /// For connected accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charges_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payouts_enabled: Option<bool>,
}

impl ObjectView {
    fn new(kind: &str, id: &str, provider: &str) -> Self {
        Self {
            kind: kind.to_string(),
            id: id.to_string(),
            provider: provider.to_string(),
            status: None,
            customer: None,
            external_id: None,
            reference: None,
            checkout: None,
            subscription: None,
            amount: None,
            currency: None,
            subscribed: None,
            charges_enabled: None,
            payouts_enabled: None,
        }
    }

    pub fn customer(c: &Customer, subscribed: bool) -> Self {
        Self {
            status: Some(c.state.as_str().into()),
            customer: Some(c.id.clone()),
            external_id: c.external_id.clone(),
            subscribed: Some(subscribed),
            ..Self::new("customer", &c.id, &c.provider)
        }
    }

    /// `customer` is the checkout's customer, if the mirror has it.
    pub fn checkout(c: &Checkout, customer: Option<&Customer>) -> Self {
        Self {
            status: Some(c.status.as_str().into()),
            customer: c.customer.clone(),
            external_id: customer.and_then(|c| c.external_id.clone()),
            reference: c.reference.clone(),
            subscription: c.subscription.clone(),
            amount: c.amount_total,
            currency: c.currency.clone(),
            ..Self::new("checkout", &c.id, &c.provider)
        }
    }

    pub fn subscription(s: &Subscription, customer: Option<&Customer>) -> Self {
        Self {
            status: Some(s.status.as_str().into()),
            customer: s.customer.clone(),
            external_id: customer.and_then(|c| c.external_id.clone()),
            checkout: s.checkout.clone(),
            ..Self::new("subscription", &s.id, &s.provider)
        }
    }

    pub fn refund(r: &Refund) -> Self {
        Self {
            status: Some(r.status.as_str().into()),
            checkout: r.checkout.clone(),
            amount: r.amount,
            currency: r.currency.clone(),
            ..Self::new("refund", &r.id, &r.provider)
        }
    }

    pub fn account(a: &ConnectedAccount) -> Self {
        Self {
            status: Some(a.state.as_str().into()),
            charges_enabled: Some(a.charges_enabled),
            payouts_enabled: Some(a.payouts_enabled),
            ..Self::new("connected_account", &a.id, &a.provider)
        }
    }
}
