//! Payment providers: Stripe and PayPal behind [`PaymentProvider`].
//!
//! The core trait is what every provider does (customers, checkouts, subscriptions,
//! refunds); what only some can do is a capability trait a provider hands out when it
//! has it ([`BillingPortal`], [`ConnectedAccounts`], [`Listing`]), so that the hub
//! answers `not_supported` instead of approximating.
//!
//! Every call that creates something carries an idempotency key derived from the hub's
//! id of the object ([`switchyard_core::payment::provider_key`]), so a retried call —
//! by the HTTP layer after a timeout or 5xx, by a client, or after a restart — never
//! makes a second provider object. Webhook payloads are read into the hub's vocabulary
//! by [`read_webhook`].

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchyard_core::payment::{
    AccountKind, AccountState, CheckoutMode, CheckoutState, CustomerState, Interval, PaymentKind,
    ProviderReport, RefundState, SubscriptionState,
};

mod error;
pub mod paypal;
pub mod stripe;

pub use error::PaymentError;

use crate::ConfigError;

/// A customer to create.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewCustomer {
    /// `pcus_…`
    pub hub_id: String,
    pub email: String,
    pub name: Option<String>,
    pub external_id: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// One thing a checkout sells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LineItem {
    /// A price defined on the spot. `amount` is in minor units; `interval` makes it
    /// recurring (subscription mode).
    Inline {
        name: String,
        amount: i64,
        currency: String,
        quantity: u32,
        interval: Option<Interval>,
    },
    /// A price (Stripe `price_…`, PayPal plan `P-…`) that exists at the provider.
    Price { price: String, quantity: u32 },
}

/// A marketplace checkout: the money goes to a connected account, less the platform's
/// fee.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marketplace {
    /// The provider's id of the connected account (`acct_…`).
    pub connected_account: String,
    /// Payment mode: the platform's fee, in minor units.
    pub application_fee_amount: Option<i64>,
    /// Subscription mode: the platform's share of each invoice, in percent.
    pub application_fee_percent: Option<f64>,
}

/// A checkout to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCheckout {
    /// `pchk_…`
    pub hub_id: String,
    pub mode: CheckoutMode,
    /// The provider's id of the customer, if the hub has one.
    pub provider_customer: Option<String>,
    /// `pcus_…`, told to the provider so that what the checkout starts finds its customer.
    pub hub_customer: Option<String>,
    pub customer_email: Option<String>,
    pub line_items: Vec<LineItem>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub reference: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub marketplace: Option<Marketplace>,
}

/// A refund to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRefund {
    /// `pref_…`
    pub hub_id: String,
    /// The provider's id of the payment (Stripe `pi_…` or `ch_…`, PayPal capture id).
    pub payment: String,
    /// Minor units; `None` refunds what is left.
    pub amount: Option<i64>,
    /// Needed by PayPal for a partial refund.
    pub currency: Option<String>,
    pub reason: Option<String>,
}

/// A connected account to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAccount {
    /// `pacct_…`
    pub hub_id: String,
    pub kind: AccountKind,
    pub email: String,
    pub country: String,
}

/// A URL to send someone to, and until when it works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub url: String,
    pub expires_at: Option<i64>,
}

/// One page of a provider's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass to get the next page; `None` on the last one.
    pub next: Option<String>,
}

/// What every payment provider does.
#[async_trait]
pub trait PaymentProvider: Send + Sync + std::fmt::Debug {
    /// The configured name.
    fn name(&self) -> &str;
    fn kind(&self) -> PaymentKind;
    async fn create_customer(&self, customer: &NewCustomer) -> Result<CustomerState, PaymentError>;
    async fn create_checkout(&self, checkout: &NewCheckout) -> Result<CheckoutState, PaymentError>;
    /// The checkout as the provider has it now. A PayPal order the buyer approved is
    /// captured first (with a key derived from `hub_id`), so that it gets paid.
    async fn retrieve_checkout(
        &self,
        provider_id: &str,
        mode: CheckoutMode,
        hub_id: &str,
    ) -> Result<CheckoutState, PaymentError>;
    async fn retrieve_subscription(
        &self,
        provider_id: &str,
    ) -> Result<SubscriptionState, PaymentError>;
    /// Cancels now, or (where the provider can) at the end of the paid period.
    async fn cancel_subscription(
        &self,
        provider_id: &str,
        at_period_end: bool,
    ) -> Result<SubscriptionState, PaymentError>;
    async fn refund(&self, refund: &NewRefund) -> Result<RefundState, PaymentError>;
    /// The customer portal, if the provider has one.
    fn portal(&self) -> Option<&dyn BillingPortal> {
        None
    }
    /// Marketplace sellers' accounts, if the provider has them.
    fn connect(&self) -> Option<&dyn ConnectedAccounts> {
        None
    }
    /// Listing existing customers and subscriptions, for backfills.
    fn listing(&self) -> Option<&dyn Listing> {
        None
    }
}

/// A page where customers manage their own subscriptions and payment methods.
#[async_trait]
pub trait BillingPortal: Send + Sync {
    async fn portal_session(
        &self,
        provider_customer: &str,
        return_url: &str,
    ) -> Result<Link, PaymentError>;
}

/// Accounts of marketplace sellers, who are paid through the platform.
#[async_trait]
pub trait ConnectedAccounts: Send + Sync {
    async fn create_account(&self, account: &NewAccount) -> Result<AccountState, PaymentError>;
    async fn onboarding_link(
        &self,
        provider_id: &str,
        refresh_url: &str,
        return_url: &str,
    ) -> Result<Link, PaymentError>;
    async fn retrieve_account(&self, provider_id: &str) -> Result<AccountState, PaymentError>;
}

/// The provider's existing customers and subscriptions, page by page.
#[async_trait]
pub trait Listing: Send + Sync {
    async fn customers(&self, after: Option<&str>) -> Result<Page<CustomerState>, PaymentError>;
    async fn subscriptions(
        &self,
        after: Option<&str>,
    ) -> Result<Page<SubscriptionState>, PaymentError>;
}

/// A webhook payload of `kind` in the hub's vocabulary: the objects it describes and
/// when. `None` when the event is about nothing the mirror keeps.
pub fn read_webhook(kind: PaymentKind, payload: &[u8]) -> Option<ProviderReport> {
    match kind {
        PaymentKind::Stripe => stripe::webhook::read(payload),
        PaymentKind::Paypal => paypal::webhook::read(payload),
    }
}

/// A payment provider's settings, as in `[[payments.providers]]` or
/// `PUT /v1/providers/payments/{name}`: `name`, `kind`, `default`, and the kind's
/// fields. Credentials not given default from the provider's usual environment
/// variables. Unknown keys are refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PaymentProviderConfig {
    Stripe(stripe::StripeConfig),
    Paypal(paypal::PaypalConfig),
}

impl PaymentProviderConfig {
    /// The settings' OpenAPI schema (one object per kind, told apart by `kind`) and the
    /// components it refers to.
    pub fn openapi() -> (
        utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        switchyard_core::schema::Components,
    ) {
        switchyard_core::schema::TaggedUnion::new("kind", "A payment provider's settings, by kind.")
            .variant::<stripe::StripeConfig>("stripe", "StripeProvider")
            .variant::<paypal::PaypalConfig>("paypal", "PaypalProvider")
            .build()
    }

    pub fn kind(&self) -> PaymentKind {
        match self {
            PaymentProviderConfig::Stripe(_) => PaymentKind::Stripe,
            PaymentProviderConfig::Paypal(_) => PaymentKind::Paypal,
        }
    }

    /// The configured name, else the kind.
    pub fn name(&self) -> &str {
        let name = match self {
            PaymentProviderConfig::Stripe(c) => c.name.as_deref(),
            PaymentProviderConfig::Paypal(c) => c.name.as_deref(),
        };
        name.unwrap_or(self.kind().as_str())
    }

    /// Whether calls that name no provider use this one.
    pub fn is_default(&self) -> bool {
        match self {
            PaymentProviderConfig::Stripe(c) => c.default,
            PaymentProviderConfig::Paypal(c) => c.default,
        }
    }

    /// The intake source that feeds this provider's mirror: its id or the name of a
    /// declared source, when one is named.
    pub fn source(&self) -> Option<&str> {
        match self {
            PaymentProviderConfig::Stripe(c) => c.source.as_deref(),
            PaymentProviderConfig::Paypal(c) => c.source.as_deref(),
        }
    }

    /// Builds the provider, reading credentials not given from the process
    /// environment.
    pub fn build(&self, http: &reqwest::Client) -> Result<Built, ConfigError> {
        self.build_with_env(http, &crate::config::process_env)
    }

    /// Builds the provider with `env` standing in for the process environment.
    pub fn build_with_env(
        &self,
        http: &reqwest::Client,
        env: crate::Env<'_>,
    ) -> Result<Built, ConfigError> {
        match self {
            PaymentProviderConfig::Stripe(c) => c.build(self.name(), http, env),
            PaymentProviderConfig::Paypal(c) => c.build(self.name(), http, env),
        }
    }
}

/// A built provider and the webhook sources it asks the hub to declare for it.
#[derive(Debug)]
pub struct Built {
    pub provider: std::sync::Arc<dyn PaymentProvider>,
    pub webhooks: Vec<WebhookSource>,
}

/// A webhook source the provider's settings describe (`webhook_secret`,
/// `connect_webhook_secret`, `webhook_id`): the hub declares it so that the provider's
/// events feed the mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSource {
    /// `payments-<provider>` or `payments-<provider>-connect`.
    pub name: String,
    pub kind: switchyard_core::source::SourceKind,
    /// The signing secret (Stripe), if the kind takes one.
    pub secret: Option<switchyard_core::Secret<String>>,
    /// The webhook id (PayPal).
    pub webhook_id: Option<String>,
}
