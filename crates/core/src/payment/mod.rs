//! Payments in the hub's own vocabulary: the objects the local mirror keeps (customers,
//! checkouts, subscriptions, refunds, connected accounts), their states, and what a
//! provider reports about them ([`state`]), whether in an answer or in a webhook.
//!
//! Every object belongs to the provider that created it (`provider` is the provider's
//! configured name) and carries the provider's id once the provider has answered.
//! `as_of` is when the provider last described the object (epoch ms): a report older
//! than what the mirror holds never moves a row back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod state;
pub mod view;

pub use state::{
    AccountState, CheckoutState, CustomerState, ProviderReport, RefundState, Report,
    SubscriptionState,
};
pub use view::ObjectView;

crate::text_enum! {
    /// The kinds of objects the mirror keeps.
    pub enum ObjectKind {
        Customer = "customer",
        Checkout = "checkout",
        Subscription = "subscription",
        Refund = "refund",
        ConnectedAccount = "connected_account",
    }
}

crate::text_enum! {
    /// The payment providers the hub talks to.
    pub enum PaymentKind {
        Stripe = "stripe",
        Paypal = "paypal",
    }
}

crate::text_enum! {
    /// What a checkout sells: a one-time payment or a subscription.
    pub enum CheckoutMode {
        Payment = "payment",
        Subscription = "subscription",
    }
}

crate::text_enum! {
    /// Where a hub-made object is with its provider.
    pub enum ObjectState {
        /// The hub's row exists; the provider has not answered yet (or the hub died
        /// before it did). The sweeper asks again with the same idempotency key.
        Creating = "creating",
        /// The provider made it.
        Ready = "ready",
        /// The provider refused to make it.
        Failed = "failed",
        /// The provider deleted it.
        Deleted = "deleted",
    }
}

crate::text_enum! {
    /// A checkout's status.
    pub enum CheckoutStatus {
        /// The hub's row exists; the provider has not answered yet.
        Creating = "creating",
        /// Waiting for the buyer.
        Open = "open",
        /// The buyer finished but the money has not settled: an asynchronous payment
        /// method, or a PayPal order approved and not yet captured.
        Pending = "pending",
        /// Paid.
        Complete = "complete",
        /// Expired unpaid.
        Expired = "expired",
        /// The payment failed, or the provider refused to create the checkout.
        Failed = "failed",
    }
}

impl CheckoutStatus {
    /// Whether nothing can change it any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            CheckoutStatus::Complete | CheckoutStatus::Expired | CheckoutStatus::Failed
        )
    }

    fn rank(self) -> u8 {
        match self {
            CheckoutStatus::Creating => 0,
            CheckoutStatus::Open => 1,
            CheckoutStatus::Pending => 2,
            CheckoutStatus::Complete | CheckoutStatus::Expired | CheckoutStatus::Failed => 3,
        }
    }

    /// Whether a report of `next` may replace `self`: a checkout only moves forward, and
    /// a final status stays.
    pub fn may_become(self, next: CheckoutStatus) -> bool {
        !self.is_final() && next.rank() >= self.rank()
    }
}

crate::text_enum! {
    /// A subscription's status, the same for every provider.
    pub enum SubscriptionStatus {
        /// Created, first payment not made (Stripe `incomplete`; PayPal approval pending).
        Incomplete = "incomplete",
        Trialing = "trialing",
        Active = "active",
        /// A renewal failed; the provider is retrying.
        PastDue = "past_due",
        /// Paused or suspended.
        Paused = "paused",
        /// Ended (canceled, expired, or never completed).
        Canceled = "canceled",
        /// Renewals failed and the provider stopped retrying.
        Unpaid = "unpaid",
    }
}

impl SubscriptionStatus {
    /// Whether a customer with a subscription in this status counts as subscribed.
    pub fn is_subscribed(self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Active | SubscriptionStatus::Trialing
        )
    }
}

crate::text_enum! {
    /// A refund's status.
    pub enum RefundStatus {
        /// The hub's row exists; the provider has not answered yet.
        Creating = "creating",
        Pending = "pending",
        Succeeded = "succeeded",
        Failed = "failed",
        Canceled = "canceled",
    }
}

crate::text_enum! {
    /// A Stripe Connect account type.
    pub enum AccountKind {
        Express = "express",
        Standard = "standard",
    }
}

crate::text_enum! {
    /// A recurring price's billing interval.
    pub enum Interval {
        Day = "day",
        Week = "week",
        Month = "month",
        Year = "year",
    }
}

/// A customer as the mirror keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// `pcus_…`
    pub id: String,
    pub provider: String,
    pub provider_id: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// The application's id for this customer; unique per provider.
    pub external_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub state: ObjectState,
    /// Why the provider refused it, when `failed`.
    pub error: Option<String>,
    pub keyed: Keyed,
    pub as_of: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A checkout as the mirror keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkout {
    /// `pchk_…`
    pub id: String,
    pub provider: String,
    pub provider_id: Option<String>,
    pub mode: CheckoutMode,
    pub status: CheckoutStatus,
    /// `pcus_…`
    pub customer: Option<String>,
    pub customer_email: Option<String>,
    /// Where the buyer pays.
    pub url: Option<String>,
    pub expires_at: Option<i64>,
    /// The application's reference (an order number).
    pub reference: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// The provider's id of the payment (Stripe payment intent, PayPal capture).
    pub payment_id: Option<String>,
    /// `psub_…`, once the provider reports the subscription a checkout started.
    pub subscription: Option<String>,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    /// Why the provider refused it, when `status` is `failed` at creation.
    pub error: Option<String>,
    /// The request as the provider is asked (JSON), kept so that a checkout left
    /// `creating` can be asked for again, with the same idempotency key.
    pub request: String,
    pub keyed: Keyed,
    pub as_of: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A subscription as the mirror keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// `psub_…`
    pub id: String,
    pub provider: String,
    pub provider_id: String,
    /// `pcus_…`
    pub customer: Option<String>,
    /// `pchk_…` that started it, if the hub made it.
    pub checkout: Option<String>,
    pub status: SubscriptionStatus,
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<i64>,
    pub as_of: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A refund as the mirror keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// `pref_…`
    pub id: String,
    pub provider: String,
    pub provider_id: Option<String>,
    /// `pchk_…` whose payment was refunded, when known.
    pub checkout: Option<String>,
    /// The provider's id of the refunded payment.
    pub payment: String,
    /// Minor units; `None` until the provider says (a full refund asked without one).
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub reason: Option<String>,
    pub status: RefundStatus,
    pub error: Option<String>,
    pub keyed: Keyed,
    pub as_of: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A connected (Stripe Connect) account as the mirror keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectedAccount {
    /// `pacct_…`
    pub id: String,
    pub provider: String,
    pub provider_id: Option<String>,
    pub kind: AccountKind,
    pub email: Option<String>,
    pub country: Option<String>,
    pub charges_enabled: bool,
    pub payouts_enabled: bool,
    pub details_submitted: bool,
    /// What the provider still needs before the account is fully enabled.
    pub requirements_due: Vec<String>,
    pub state: ObjectState,
    pub error: Option<String>,
    pub keyed: Keyed,
    pub as_of: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// How an object made through the API is told apart from a repeat of its request: the
/// caller's `Idempotency-Key` (scoped to the caller) and the digest of the request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keyed {
    pub idempotency_key: Option<String>,
    pub request_digest: Option<String>,
}

/// The idempotency key the hub sends the provider for the object `hub_id` (and, for
/// objects made in several calls, for the call `step`): the same for every retry, by
/// the hub, by a client, or after a restart, so that the provider makes the object once.
pub fn provider_key(hub_id: &str, step: Option<&str>) -> String {
    match step {
        Some(step) => format!("switchyard-{hub_id}-{step}"),
        None => format!("switchyard-{hub_id}"),
    }
}

/// The metadata key under which the hub tells the provider its own id of an object, so
/// that webhooks about it find it even before the provider's answer is recorded.
pub const HUB_ID_KEY: &str = "switchyard_id";

/// The metadata key under which a subscription checkout tells the provider the hub's
/// customer, so that the subscription it starts finds its customer.
pub const HUB_CUSTOMER_KEY: &str = "switchyard_customer";

/// The metadata key under which a subscription checkout tells the provider the hub's
/// checkout, so that the subscription it starts finds it.
pub const HUB_CHECKOUT_KEY: &str = "switchyard_checkout";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkouts_only_move_forward_and_final_statuses_stay() {
        use CheckoutStatus::*;
        assert!(Creating.may_become(Open));
        assert!(Open.may_become(Pending));
        assert!(Pending.may_become(Complete));
        assert!(Pending.may_become(Failed));
        assert!(Open.may_become(Open));
        assert!(!Pending.may_become(Open));
        for done in [Complete, Expired, Failed] {
            for next in CheckoutStatus::ALL {
                assert!(!done.may_become(*next), "{done} -> {next}");
            }
        }
    }

    #[test]
    fn only_active_and_trialing_count_as_subscribed() {
        let subscribed: Vec<_> = SubscriptionStatus::ALL
            .iter()
            .filter(|s| s.is_subscribed())
            .collect();
        assert_eq!(
            subscribed,
            [&SubscriptionStatus::Trialing, &SubscriptionStatus::Active]
        );
    }

    #[test]
    fn provider_keys_are_stable_per_object_and_step() {
        assert_eq!(provider_key("pchk_1", None), "switchyard-pchk_1");
        assert_eq!(
            provider_key("pchk_1", Some("plan")),
            "switchyard-pchk_1-plan"
        );
        assert_ne!(provider_key("pchk_1", None), provider_key("pchk_2", None));
    }
}
