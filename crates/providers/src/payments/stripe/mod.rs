//! Stripe: Checkout Sessions, the Billing Portal, subscriptions, refunds and Connect,
//! over `https://api.stripe.com/v1` with a secret key, form-encoded bodies and a pinned
//! `Stripe-Version`.
//!
//! Every POST that creates something carries an `Idempotency-Key` derived from the
//! hub's id of the object; Stripe replays the first answer to a repeat (5xx answers
//! included), so retries never make a second object. The HTTP layer retries
//! connection errors, 5xx, 409 and `Stripe-Should-Retry: true` twice (as Stripe's own
//! clients do), never 429.

use std::time::Duration;

use async_trait::async_trait;
use http::{HeaderMap, Method, StatusCode};
use serde::{Deserialize, Serialize};
use switchyard_core::Secret;
use switchyard_core::payment::{
    AccountState, CheckoutMode, CheckoutState, CustomerState, HUB_CHECKOUT_KEY, HUB_CUSTOMER_KEY,
    HUB_ID_KEY, PaymentKind, RefundState, SubscriptionState, SubscriptionStatus, provider_key,
};
use switchyard_core::source::SourceKind;

use super::error::from_failure;
use super::{
    BillingPortal, Built, ConnectedAccounts, LineItem, Link, Listing, NewAccount, NewCheckout,
    NewCustomer, NewRefund, Page, PaymentError, PaymentProvider, WebhookSource,
};
use crate::config::Ctx;
use crate::http::{Auth, Body, Call, HttpApi, Retry, segment};
use crate::{ConfigError, Env};

mod form;
pub(crate) mod webhook;
mod wire;

use form::{Form, at};

/// The API version the hub's requests and its reading of answers are written for.
pub const API_VERSION: &str = "2026-02-25.clover";

/// `kind = "stripe"`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StripeConfig {
    /// The provider's name in calls (`provider`) and listings; defaults to `stripe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether calls that name no provider use this one.
    #[serde(default)]
    pub default: bool,
    /// The secret key (`sk_live_…`, `sk_test_…` or a restricted `rk_…`); defaults to
    /// `STRIPE_SECRET_KEY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub secret_key: Option<Secret<String>>,
    /// Sent as `Stripe-Version`; defaults to the version the hub is written for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Where a buyer lands after paying, when a checkout names none; defaults to
    /// `STRIPE_SUCCESS_URL`. May contain `{CHECKOUT_SESSION_ID}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_url: Option<String>,
    /// Where a buyer lands after giving up; defaults to `STRIPE_CANCEL_URL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_url: Option<String>,
    /// The endpoint's signing secret (`whsec_…`); defaults to `STRIPE_WEBHOOK_SECRET`.
    /// When set, the hub declares the source `payments-<name>` that feeds the mirror.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub webhook_secret: Option<Secret<String>>,
    /// The signing secret of the Connect endpoint (its own endpoint, for events of
    /// connected accounts); the hub declares `payments-<name>-connect`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub connect_webhook_secret: Option<Secret<String>>,
    /// Instead of `webhook_secret`: the existing source (its id, or the name of a
    /// `[[sources]]` entry) whose events feed this provider's mirror.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Likewise for Connect events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_source: Option<String>,
    /// Defaults to `https://api.stripe.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Seconds a request may take (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Retries of a call that got no answer or a 5xx (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
}

impl StripeConfig {
    pub(super) fn build(
        &self,
        name: &str,
        http: &reqwest::Client,
        env: Env<'_>,
    ) -> Result<Built, ConfigError> {
        let ctx = Ctx {
            channel: "payments",
            provider: name,
            env,
        };
        let secret_key =
            ctx.required_secret(self.secret_key.as_ref(), "secret_key", "STRIPE_SECRET_KEY")?;
        let timeout = ctx.timeout(Some(self.timeout_secs.unwrap_or(30)))?;
        let api = HttpApi::new(
            http,
            name,
            ctx.base_url(self.base_url.as_deref(), "https://api.stripe.com")?,
            Auth::Bearer(secret_key),
            timeout,
            |_| None,
        )
        .with_retry(Retry {
            retries: self.max_retries.unwrap_or(2),
            base: Duration::from_millis(500),
            cap: Duration::from_secs(5),
            also: should_retry,
        });
        let mut webhooks = Vec::new();
        let secret = |own: &Option<Secret<String>>, var| {
            own.clone()
                .filter(|s| !s.expose().is_empty())
                .or_else(|| ctx.or_env(None, var).map(Secret::new))
        };
        if self.source.is_none()
            && let Some(secret) = secret(&self.webhook_secret, "STRIPE_WEBHOOK_SECRET")
        {
            webhooks.push(WebhookSource {
                name: format!("payments-{name}"),
                kind: SourceKind::Stripe,
                secret: Some(secret),
                webhook_id: None,
            });
        }
        if self.connect_source.is_none()
            && let Some(secret) = self.connect_webhook_secret.clone()
        {
            webhooks.push(WebhookSource {
                name: format!("payments-{name}-connect"),
                kind: SourceKind::Stripe,
                secret: Some(secret),
                webhook_id: None,
            });
        }
        let stripe = Stripe {
            name: name.to_string(),
            api_version: self
                .api_version
                .clone()
                .unwrap_or_else(|| API_VERSION.to_string()),
            success_url: ctx.or_env(self.success_url.as_deref(), "STRIPE_SUCCESS_URL"),
            cancel_url: ctx.or_env(self.cancel_url.as_deref(), "STRIPE_CANCEL_URL"),
            api,
        };
        Ok(Built {
            provider: std::sync::Arc::new(stripe),
            webhooks,
        })
    }
}

/// Stripe's own retry advice: `Stripe-Should-Retry`, and 409 (a request with the same
/// idempotency key is still running, or a lock was busy).
fn should_retry(status: StatusCode, headers: &HeaderMap) -> Option<bool> {
    match headers
        .get("stripe-should-retry")
        .and_then(|v| v.to_str().ok())
    {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => (status == StatusCode::CONFLICT).then_some(true),
    }
}

#[derive(Debug)]
pub(crate) struct Stripe {
    name: String,
    api_version: String,
    success_url: Option<String>,
    cancel_url: Option<String>,
    api: HttpApi,
}

impl Stripe {
    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        call: Call<'_>,
    ) -> Result<T, PaymentError> {
        let call = call.header("Stripe-Version", self.api_version.clone());
        let reply = self
            .api
            .call(call)
            .await
            .map_err(|f| from_failure(f, wire::explain))?;
        serde_json::from_slice(&reply.body).map_err(|e| PaymentError::unreadable(&self.name, &e))
    }

    /// A POST that creates the object `hub_id` (or takes step `step` of it), safe to
    /// repeat.
    async fn create<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        form: Form,
        hub_id: &str,
        step: Option<&str>,
    ) -> Result<T, PaymentError> {
        let call = Call::new(Method::POST, path, Body::Form(form.into_pairs()))
            .idempotent_with("Idempotency-Key", provider_key(hub_id, step));
        self.send(call).await
    }

    /// A POST that changes something and is safe to repeat within this call.
    async fn change<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        form: Form,
    ) -> Result<T, PaymentError> {
        let key = switchyard_core::new_id("req");
        let call = Call::new(method, path, Body::Form(form.into_pairs()))
            .idempotent_with("Idempotency-Key", key);
        self.send(call).await
    }

    fn checkout_form(&self, c: &NewCheckout) -> Result<Form, PaymentError> {
        let success = c.success_url.clone().or_else(|| self.success_url.clone());
        let cancel = c.cancel_url.clone().or_else(|| self.cancel_url.clone());
        let mut form = Form::new()
            .set("mode", c.mode.as_str())
            .maybe("success_url", success)
            .maybe("cancel_url", cancel)
            .set("client_reference_id", &c.hub_id)
            .map("metadata", &c.metadata)
            .set(format!("metadata[{HUB_ID_KEY}]"), &c.hub_id)
            .maybe("metadata[reference]", c.reference.as_deref());
        form = match (&c.provider_customer, &c.customer_email) {
            (Some(customer), _) => form.set("customer", customer),
            (None, Some(email)) => form.set("customer_email", email),
            (None, None) => form,
        };
        for (i, item) in c.line_items.iter().enumerate() {
            let base = at("line_items", i);
            form = match item {
                LineItem::Price { price, quantity } => form
                    .set(format!("{base}[price]"), price)
                    .set(format!("{base}[quantity]"), quantity),
                LineItem::Inline {
                    name,
                    amount,
                    currency,
                    quantity,
                    interval,
                } => form
                    .set(format!("{base}[price_data][currency]"), currency)
                    .set(format!("{base}[price_data][unit_amount]"), amount)
                    .set(format!("{base}[price_data][product_data][name]"), name)
                    .maybe(
                        format!("{base}[price_data][recurring][interval]"),
                        interval.map(|i| i.as_str()),
                    )
                    .set(format!("{base}[quantity]"), quantity),
            };
        }
        let (data, hub_key) = match c.mode {
            CheckoutMode::Payment => ("payment_intent_data", HUB_ID_KEY),
            CheckoutMode::Subscription => ("subscription_data", HUB_CHECKOUT_KEY),
        };
        form = form
            .set(format!("{data}[metadata][{hub_key}]"), &c.hub_id)
            .maybe(
                format!("{data}[metadata][{HUB_CUSTOMER_KEY}]"),
                c.hub_customer.as_deref(),
            );
        if let Some(m) = &c.marketplace {
            form = form.set(
                format!("{data}[transfer_data][destination]"),
                &m.connected_account,
            );
            form = match c.mode {
                CheckoutMode::Payment => form.maybe(
                    "payment_intent_data[application_fee_amount]",
                    m.application_fee_amount,
                ),
                CheckoutMode::Subscription => form.maybe(
                    "subscription_data[application_fee_percent]",
                    m.application_fee_percent,
                ),
            };
        }
        Ok(form)
    }
}

/// Stripe's refund reasons; any other reason travels in metadata.
const REFUND_REASONS: [&str; 3] = ["duplicate", "fraudulent", "requested_by_customer"];

#[async_trait]
impl PaymentProvider for Stripe {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> PaymentKind {
        PaymentKind::Stripe
    }

    async fn create_customer(&self, c: &NewCustomer) -> Result<CustomerState, PaymentError> {
        let form = Form::new()
            .set("email", &c.email)
            .maybe("name", c.name.as_deref())
            .map("metadata", &c.metadata)
            .set(format!("metadata[{HUB_ID_KEY}]"), &c.hub_id)
            .maybe("metadata[external_id]", c.external_id.as_deref());
        let customer: wire::Customer = self.create("/v1/customers", form, &c.hub_id, None).await?;
        Ok(customer.state())
    }

    async fn create_checkout(&self, c: &NewCheckout) -> Result<CheckoutState, PaymentError> {
        let form = self.checkout_form(c)?;
        let session: wire::Session = self
            .create("/v1/checkout/sessions", form, &c.hub_id, None)
            .await?;
        Ok(session.state())
    }

    async fn retrieve_checkout(
        &self,
        provider_id: &str,
        _: CheckoutMode,
        _: &str,
    ) -> Result<CheckoutState, PaymentError> {
        let path = format!("/v1/checkout/sessions/{}", segment(provider_id));
        let session: wire::Session = self.send(Call::get(&path)).await?;
        Ok(session.state())
    }

    async fn retrieve_subscription(
        &self,
        provider_id: &str,
    ) -> Result<SubscriptionState, PaymentError> {
        let path = format!("/v1/subscriptions/{}", segment(provider_id));
        let sub: wire::Subscription = self.send(Call::get(&path)).await?;
        Ok(sub.state())
    }

    async fn cancel_subscription(
        &self,
        provider_id: &str,
        at_period_end: bool,
    ) -> Result<SubscriptionState, PaymentError> {
        let path = format!("/v1/subscriptions/{}", segment(provider_id));
        let sub: wire::Subscription = if at_period_end {
            let form = Form::new().set("cancel_at_period_end", "true");
            self.change(Method::POST, &path, form).await?
        } else {
            match self.change(Method::DELETE, &path, Form::new()).await {
                Ok(sub) => sub,
                // Stripe answers `resource_missing` to cancelling a subscription already
                // canceled (by a retry of this DELETE whose answer was lost, or
                // elsewhere): read what it is.
                Err(PaymentError::NotFound(missing)) => {
                    let sub: wire::Subscription = self.send(Call::get(&path)).await?;
                    if sub.state().status != SubscriptionStatus::Canceled {
                        return Err(PaymentError::NotFound(missing));
                    }
                    sub
                }
                Err(e) => return Err(e),
            }
        };
        Ok(sub.state())
    }

    async fn refund(&self, r: &NewRefund) -> Result<RefundState, PaymentError> {
        let target = if r.payment.starts_with("ch_") {
            "charge"
        } else {
            "payment_intent"
        };
        let (reason, other) = match r.reason.as_deref() {
            Some(reason) if REFUND_REASONS.contains(&reason) => (Some(reason), None),
            other => (None, other),
        };
        let form = Form::new()
            .set(target, &r.payment)
            .maybe("amount", r.amount)
            .maybe("reason", reason)
            .maybe("metadata[reason]", other)
            .set(format!("metadata[{HUB_ID_KEY}]"), &r.hub_id);
        let refund: wire::Refund = self.create("/v1/refunds", form, &r.hub_id, None).await?;
        Ok(refund.state())
    }

    fn portal(&self) -> Option<&dyn BillingPortal> {
        Some(self)
    }

    fn connect(&self) -> Option<&dyn ConnectedAccounts> {
        Some(self)
    }

    fn listing(&self) -> Option<&dyn Listing> {
        Some(self)
    }
}

#[async_trait]
impl BillingPortal for Stripe {
    async fn portal_session(&self, customer: &str, return_url: &str) -> Result<Link, PaymentError> {
        let form = Form::new()
            .set("customer", customer)
            .set("return_url", return_url);
        let link: wire::Link = self
            .change(Method::POST, "/v1/billing_portal/sessions", form)
            .await?;
        Ok(link.link())
    }
}

#[async_trait]
impl ConnectedAccounts for Stripe {
    async fn create_account(&self, a: &NewAccount) -> Result<AccountState, PaymentError> {
        let mut form = Form::new()
            .set("type", a.kind.as_str())
            .set("email", &a.email)
            .set("country", &a.country)
            .set(format!("metadata[{HUB_ID_KEY}]"), &a.hub_id);
        if a.kind == switchyard_core::payment::AccountKind::Express {
            form = form
                .set("capabilities[card_payments][requested]", "true")
                .set("capabilities[transfers][requested]", "true");
        }
        let account: wire::Account = self.create("/v1/accounts", form, &a.hub_id, None).await?;
        Ok(account.state())
    }

    async fn onboarding_link(
        &self,
        provider_id: &str,
        refresh_url: &str,
        return_url: &str,
    ) -> Result<Link, PaymentError> {
        let form = Form::new()
            .set("account", provider_id)
            .set("type", "account_onboarding")
            .set("refresh_url", refresh_url)
            .set("return_url", return_url);
        let link: wire::Link = self.change(Method::POST, "/v1/account_links", form).await?;
        Ok(link.link())
    }

    async fn retrieve_account(&self, provider_id: &str) -> Result<AccountState, PaymentError> {
        let path = format!("/v1/accounts/{}", segment(provider_id));
        let account: wire::Account = self.send(Call::get(&path)).await?;
        Ok(account.state())
    }
}

#[async_trait]
impl Listing for Stripe {
    async fn customers(&self, after: Option<&str>) -> Result<Page<CustomerState>, PaymentError> {
        let path = list_path("/v1/customers?limit=100", after);
        let list: wire::List<wire::Customer> = self.send(Call::get(&path)).await?;
        Ok(page(list, |c| c.id.clone(), wire::Customer::state))
    }

    async fn subscriptions(
        &self,
        after: Option<&str>,
    ) -> Result<Page<SubscriptionState>, PaymentError> {
        let path = list_path("/v1/subscriptions?status=all&limit=100", after);
        let list: wire::List<wire::Subscription> = self.send(Call::get(&path)).await?;
        Ok(page(list, |s| s.id.clone(), wire::Subscription::state))
    }
}

fn list_path(base: &str, after: Option<&str>) -> String {
    match after {
        Some(id) => format!("{base}&starting_after={}", segment(id)),
        None => base.to_string(),
    }
}

fn page<T, S>(list: wire::List<T>, id: impl Fn(&T) -> String, state: impl Fn(&T) -> S) -> Page<S> {
    let next = if list.has_more {
        list.data.last().map(&id)
    } else {
        None
    };
    Page {
        items: list.data.iter().map(state).collect(),
        next,
    }
}
