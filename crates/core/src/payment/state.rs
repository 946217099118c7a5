//! What a provider reports about an object, in the hub's vocabulary: the answer to a
//! call, or what a webhook says. Fields the report does not carry are `None`, so that
//! applying it leaves what the mirror already knows.

use super::{CheckoutStatus, RefundStatus, SubscriptionStatus};

/// A customer as the provider describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerState {
    /// `None` for providers without customer objects (PayPal): the customer is the hub's.
    pub provider_id: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// The hub's id, when the provider carries it back (`metadata`).
    pub hub_id: Option<String>,
    pub deleted: bool,
}

/// A checkout as the provider describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutState {
    pub provider_id: String,
    /// The hub's id, from `client_reference_id`, `custom_id` or metadata.
    pub hub_id: Option<String>,
    pub status: CheckoutStatus,
    pub url: Option<String>,
    pub expires_at: Option<i64>,
    pub payment_id: Option<String>,
    pub provider_customer: Option<String>,
    pub customer_email: Option<String>,
    pub provider_subscription: Option<String>,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    /// A PayPal order the buyer approved: the hub must capture it to be paid.
    pub needs_capture: bool,
}

impl CheckoutState {
    /// A report of `provider_id` in `status` and nothing else.
    pub fn new(provider_id: impl Into<String>, status: CheckoutStatus) -> Self {
        Self {
            provider_id: provider_id.into(),
            hub_id: None,
            status,
            url: None,
            expires_at: None,
            payment_id: None,
            provider_customer: None,
            customer_email: None,
            provider_subscription: None,
            amount_total: None,
            currency: None,
            needs_capture: false,
        }
    }
}

/// A subscription as the provider describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    pub provider_id: String,
    pub provider_customer: Option<String>,
    /// The hub's checkout that started it, from metadata or `custom_id`.
    pub hub_checkout: Option<String>,
    /// The hub's customer, from metadata.
    pub hub_customer: Option<String>,
    pub status: SubscriptionStatus,
    pub current_period_end: Option<i64>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<i64>,
}

/// A refund as the provider describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundState {
    pub provider_id: String,
    pub hub_id: Option<String>,
    /// The provider's id of the refunded payment.
    pub payment_id: Option<String>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub status: RefundStatus,
}

/// A connected account as the provider describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountState {
    pub provider_id: String,
    pub hub_id: Option<String>,
    pub charges_enabled: bool,
    pub payouts_enabled: bool,
    pub details_submitted: bool,
    pub requirements_due: Vec<String>,
}

/// One object a provider event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    Customer(CustomerState),
    Checkout(CheckoutState),
    Subscription(SubscriptionState),
    Refund(RefundState),
    Account(AccountState),
    /// An event about a payment (by the provider's id) that describes no object the
    /// mirror keeps, such as a refund event without the refund: its checkout is the
    /// object it is about.
    Payment(String),
}

/// What one provider event says: the objects it describes, as of when the provider
/// wrote it (epoch ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderReport {
    pub as_of: i64,
    pub reports: Vec<Report>,
}
