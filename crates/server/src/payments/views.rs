//! Payment objects as the API shows them: hub ids, the hub's vocabulary, RFC 3339
//! times; the provider's ids beside, for support.

use std::collections::BTreeMap;

use serde::Serialize;
use switchyard_core::payment::{
    AccountKind, Checkout, CheckoutMode, CheckoutStatus, ConnectedAccount, Customer, ObjectState,
    Refund, RefundStatus, Subscription, SubscriptionStatus,
};
use switchyard_core::time::rfc3339;
use utoipa::ToSchema;

fn time(ms: Option<i64>) -> Option<String> {
    ms.map(rfc3339)
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CustomerView {
    /// `pcus_…`
    id: String,
    provider: String,
    /// The provider's id (Stripe `cus_…`); `null` for PayPal, which keeps no customers.
    provider_id: Option<String>,
    email: Option<String>,
    name: Option<String>,
    /// The application's id for this customer; unique per provider.
    external_id: Option<String>,
    metadata: BTreeMap<String, String>,
    /// `creating` until the provider answered, then `ready`; `failed` or `deleted`.
    state: ObjectState,
    /// Why the provider refused it, when `failed`.
    error: Option<String>,
    /// Whether any subscription is `active` or `trialing`, from the mirror.
    subscribed: bool,
    /// Newest first.
    subscriptions: Vec<SubscriptionView>,
    created_at: String,
    updated_at: String,
}

impl CustomerView {
    pub(super) fn new(c: Customer, subscriptions: Vec<Subscription>) -> Self {
        Self {
            subscribed: subscriptions.iter().any(|s| s.status.is_subscribed()),
            subscriptions: subscriptions
                .into_iter()
                .map(SubscriptionView::from)
                .collect(),
            id: c.id,
            provider: c.provider,
            provider_id: c.provider_id,
            email: c.email,
            name: c.name,
            external_id: c.external_id,
            metadata: c.metadata,
            state: c.state,
            error: c.error,
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CheckoutView {
    /// `pchk_…`
    id: String,
    provider: String,
    /// The provider's id (Stripe `cs_…`, PayPal order `…` or subscription `I-…`).
    provider_id: Option<String>,
    mode: CheckoutMode,
    status: CheckoutStatus,
    /// Where to send the buyer.
    url: Option<String>,
    expires_at: Option<String>,
    /// `pcus_…`
    customer: Option<String>,
    customer_email: Option<String>,
    reference: Option<String>,
    metadata: BTreeMap<String, String>,
    /// The provider's id of the payment (Stripe `pi_…`, PayPal capture), once paid.
    payment: Option<String>,
    /// `psub_…`, for a subscription checkout once the provider reported it.
    subscription: Option<String>,
    amount_total: Option<i64>,
    currency: Option<String>,
    /// Why the provider refused it, when `failed` at creation.
    error: Option<String>,
    created_at: String,
    updated_at: String,
}

impl From<Checkout> for CheckoutView {
    fn from(c: Checkout) -> Self {
        Self {
            id: c.id,
            provider: c.provider,
            provider_id: c.provider_id,
            mode: c.mode,
            status: c.status,
            url: c.url,
            expires_at: time(c.expires_at),
            customer: c.customer,
            customer_email: c.customer_email,
            reference: c.reference,
            metadata: c.metadata,
            payment: c.payment_id,
            subscription: c.subscription,
            amount_total: c.amount_total,
            currency: c.currency,
            error: c.error,
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SubscriptionView {
    /// `psub_…`
    id: String,
    provider: String,
    /// The provider's id (Stripe `sub_…`, PayPal `I-…`).
    provider_id: String,
    /// `pcus_…`
    customer: Option<String>,
    /// `pchk_…` that started it, if the hub made it.
    checkout: Option<String>,
    status: SubscriptionStatus,
    /// When the paid period ends (the next renewal).
    current_period_end: Option<String>,
    /// Whether it ends at `current_period_end` instead of renewing.
    cancel_at_period_end: bool,
    canceled_at: Option<String>,
    created_at: String,
    updated_at: String,
}

impl From<Subscription> for SubscriptionView {
    fn from(s: Subscription) -> Self {
        Self {
            id: s.id,
            provider: s.provider,
            provider_id: s.provider_id,
            customer: s.customer,
            checkout: s.checkout,
            status: s.status,
            current_period_end: time(s.current_period_end),
            cancel_at_period_end: s.cancel_at_period_end,
            canceled_at: time(s.canceled_at),
            created_at: rfc3339(s.created_at),
            updated_at: rfc3339(s.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RefundView {
    /// `pref_…`
    id: String,
    provider: String,
    /// The provider's id (Stripe `re_…`, PayPal refund id).
    provider_id: Option<String>,
    /// `pchk_…` whose payment was refunded, when known.
    checkout: Option<String>,
    /// The provider's id of the refunded payment.
    payment: String,
    /// Minor units; `null` until the provider says how much a full refund was.
    amount: Option<i64>,
    currency: Option<String>,
    reason: Option<String>,
    status: RefundStatus,
    /// Why the provider refused it, when `failed` at creation.
    error: Option<String>,
    created_at: String,
    updated_at: String,
}

impl From<Refund> for RefundView {
    fn from(r: Refund) -> Self {
        Self {
            id: r.id,
            provider: r.provider,
            provider_id: r.provider_id,
            checkout: r.checkout,
            payment: r.payment,
            amount: r.amount,
            currency: r.currency,
            reason: r.reason,
            status: r.status,
            error: r.error,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AccountView {
    /// `pacct_…`
    id: String,
    provider: String,
    /// The provider's id (`acct_…`).
    provider_id: Option<String>,
    kind: AccountKind,
    email: Option<String>,
    country: Option<String>,
    charges_enabled: bool,
    payouts_enabled: bool,
    details_submitted: bool,
    /// What the provider still needs before the account is fully enabled.
    requirements_due: Vec<String>,
    state: ObjectState,
    error: Option<String>,
    created_at: String,
    updated_at: String,
}

impl From<ConnectedAccount> for AccountView {
    fn from(a: ConnectedAccount) -> Self {
        Self {
            id: a.id,
            provider: a.provider,
            provider_id: a.provider_id,
            kind: a.kind,
            email: a.email,
            country: a.country,
            charges_enabled: a.charges_enabled,
            payouts_enabled: a.payouts_enabled,
            details_submitted: a.details_submitted,
            requirements_due: a.requirements_due,
            state: a.state,
            error: a.error,
            created_at: rfc3339(a.created_at),
            updated_at: rfc3339(a.updated_at),
        }
    }
}

/// A URL to send someone to.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LinkView {
    pub(super) url: String,
    /// Until when the URL works, when the provider says.
    pub(super) expires_at: Option<String>,
}

impl From<switchyard_providers::payments::Link> for LinkView {
    fn from(l: switchyard_providers::payments::Link) -> Self {
        Self {
            url: l.url,
            expires_at: time(l.expires_at),
        }
    }
}
