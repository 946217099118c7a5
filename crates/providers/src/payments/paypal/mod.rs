//! PayPal: Orders v2 for one-time payments, Subscriptions v1 for recurring ones, and
//! refunds of captures, authenticated with an OAuth2 client-credentials token that the
//! HTTP layer caches.
//!
//! Every POST carries a `PayPal-Request-Id` derived from the hub's id of the object
//! (and of the step, for objects made in several calls), so a repeat gets the first
//! answer. PayPal has no customer objects (a customer is the hub's alone), no
//! customer portal, no cancellation at period end and, outside approved partners, no
//! marketplace payments: those are [`PaymentError::NotSupported`].

use std::time::Duration;

use async_trait::async_trait;
use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchyard_core::Secret;
use switchyard_core::payment::{
    CheckoutMode, CheckoutState, CustomerState, Interval, PaymentKind, RefundState,
    SubscriptionState, SubscriptionStatus, provider_key,
};
use switchyard_core::source::SourceKind;

use super::error::from_failure;
use super::{
    Built, LineItem, NewCheckout, NewCustomer, NewRefund, PaymentError, PaymentProvider,
    WebhookSource,
};
use crate::config::Ctx;
use crate::http::{Auth, Body, Call, ClientCredentials, HttpApi, Retry, segment};
use crate::{ConfigError, Env};

mod money;
pub(crate) mod webhook;
mod wire;

/// `kind = "paypal"`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaypalConfig {
    /// The provider's name in calls (`provider`) and listings; defaults to `paypal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether calls that name no provider use this one.
    #[serde(default)]
    pub default: bool,
    /// The REST app's client id; defaults to `PAYPAL_CLIENT_ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The REST app's secret; defaults to `PAYPAL_CLIENT_SECRET`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub client_secret: Option<Secret<String>>,
    /// `sandbox` (default) or `live`; defaults to `PAYPAL_ENVIRONMENT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Overrides the environment's base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The webhook's id as PayPal shows it; when set, the hub declares the source
    /// `payments-<name>` that feeds the mirror.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<String>,
    /// Instead of `webhook_id`: the existing source (its id, or the name of a
    /// `[[sources]]` entry) whose events feed this provider's mirror.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Where a buyer lands after approving, when a checkout names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_url: Option<String>,
    /// Where a buyer lands after giving up, when a checkout names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_url: Option<String>,
    /// Seconds a request may take (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Retries of a call that got no answer or a 5xx (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
}

impl PaypalConfig {
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
        let client_id = ctx.required(self.client_id.as_deref(), "client_id", "PAYPAL_CLIENT_ID")?;
        let client_secret = ctx.required_secret(
            self.client_secret.as_ref(),
            "client_secret",
            "PAYPAL_CLIENT_SECRET",
        )?;
        let environment = ctx
            .or_env(self.environment.as_deref(), "PAYPAL_ENVIRONMENT")
            .unwrap_or_else(|| "sandbox".into());
        let default_base = match environment.as_str() {
            "sandbox" => "https://api-m.sandbox.paypal.com",
            "live" => "https://api-m.paypal.com",
            other => {
                return Err(ctx.invalid("environment", format!("{other:?} is not sandbox or live")));
            }
        };
        let api = HttpApi::new(
            http,
            name,
            ctx.base_url(self.base_url.as_deref(), default_base)?,
            Auth::OAuth(ClientCredentials::new(
                "/v1/oauth2/token",
                client_id,
                client_secret,
            )),
            ctx.timeout(Some(self.timeout_secs.unwrap_or(30)))?,
            |_| None,
        )
        .with_retry(Retry {
            retries: self.max_retries.unwrap_or(2),
            base: Duration::from_millis(500),
            cap: Duration::from_secs(5),
            also: |_, _| None,
        });
        let webhooks = match (&self.source, &self.webhook_id) {
            (None, Some(id)) if !id.trim().is_empty() => vec![WebhookSource {
                name: format!("payments-{name}"),
                kind: SourceKind::Paypal,
                secret: None,
                webhook_id: Some(id.clone()),
            }],
            _ => Vec::new(),
        };
        let paypal = Paypal {
            name: name.to_string(),
            success_url: self.success_url.clone(),
            cancel_url: self.cancel_url.clone(),
            api,
        };
        Ok(Built {
            provider: std::sync::Arc::new(paypal),
            webhooks,
        })
    }
}

#[derive(Debug)]
pub(crate) struct Paypal {
    name: String,
    success_url: Option<String>,
    cancel_url: Option<String>,
    api: HttpApi,
}

fn not_supported(operation: &'static str) -> PaymentError {
    PaymentError::NotSupported {
        operation,
        provider: "paypal",
    }
}

/// PayPal's names of billing intervals.
fn interval_unit(i: Interval) -> &'static str {
    match i {
        Interval::Day => "DAY",
        Interval::Week => "WEEK",
        Interval::Month => "MONTH",
        Interval::Year => "YEAR",
    }
}

impl Paypal {
    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        call: Call<'_>,
    ) -> Result<T, PaymentError> {
        let reply = self
            .api
            .call(call)
            .await
            .map_err(|f| from_failure(f, wire::explain))?;
        let body = if reply.body.is_empty() {
            b"{}".as_slice()
        } else {
            &reply.body
        };
        serde_json::from_slice(body).map_err(|e| PaymentError::unreadable(&self.name, &e))
    }

    /// A POST of JSON that is safe to repeat: `PayPal-Request-Id` is derived from
    /// `hub_id` and `step`.
    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: serde_json::Value,
        hub_id: &str,
        step: Option<&str>,
    ) -> Result<T, PaymentError> {
        let body = serde_json::to_vec(&body).expect("JSON values serialize");
        let call = Call::new(Method::POST, path, Body::Json(body))
            .idempotent_with("PayPal-Request-Id", provider_key(hub_id, step))
            .header("Prefer", "return=representation".into());
        self.send(call).await
    }

    fn urls(&self, c: &NewCheckout) -> (Option<String>, Option<String>) {
        (
            c.success_url.clone().or_else(|| self.success_url.clone()),
            c.cancel_url.clone().or_else(|| self.cancel_url.clone()),
        )
    }

    async fn create_order(&self, c: &NewCheckout) -> Result<CheckoutState, PaymentError> {
        let mut items = Vec::new();
        let mut currency: Option<&str> = None;
        let mut total = 0i64;
        for item in &c.line_items {
            let LineItem::Inline {
                name,
                amount,
                currency: cur,
                quantity,
                interval: None,
            } = item
            else {
                return Err(not_supported(
                    "prices that exist at the provider in payment mode",
                ));
            };
            if currency.is_some_and(|c| !c.eq_ignore_ascii_case(cur)) {
                return Err(PaymentError::Rejected {
                    code: Some("CURRENCY_MISMATCH".into()),
                    message: "every line item of a PayPal order must have the same currency".into(),
                    param: Some("line_items".into()),
                });
            }
            currency = Some(cur);
            total += amount * i64::from(*quantity);
            items.push(json!({
                "name": name,
                "quantity": quantity.to_string(),
                "unit_amount": {"currency_code": cur.to_ascii_uppercase(), "value": money::to_value(*amount, cur)},
            }));
        }
        let currency = currency.unwrap_or("usd").to_ascii_uppercase();
        let value = money::to_value(total, &currency);
        let (return_url, cancel_url) = self.urls(c);
        let body = json!({
            "intent": "CAPTURE",
            "purchase_units": [{
                "reference_id": c.hub_id,
                "custom_id": c.hub_id,
                "invoice_id": c.reference,
                "amount": {"currency_code": currency, "value": value,
                    "breakdown": {"item_total": {"currency_code": currency, "value": value}}},
                "items": items,
            }],
            "payment_source": {"paypal": {"experience_context": {
                "return_url": return_url, "cancel_url": cancel_url, "user_action": "PAY_NOW"}}},
        });
        let order: wire::Order = self
            .post("/v2/checkout/orders", body, &c.hub_id, None)
            .await?;
        Ok(order.state())
    }

    async fn create_subscription(&self, c: &NewCheckout) -> Result<CheckoutState, PaymentError> {
        let [item] = c.line_items.as_slice() else {
            return Err(PaymentError::Rejected {
                code: Some("ONE_PLAN".into()),
                message: "a PayPal subscription checkout has exactly one line item".into(),
                param: Some("line_items".into()),
            });
        };
        let (plan, quantity) = match item {
            LineItem::Price { price, quantity } => (price.clone(), *quantity),
            LineItem::Inline {
                name,
                amount,
                currency,
                quantity,
                interval,
            } => {
                let interval = interval.unwrap_or(Interval::Month);
                (
                    self.plan(&c.hub_id, name, *amount, currency, interval)
                        .await?,
                    *quantity,
                )
            }
        };
        let (return_url, cancel_url) = self.urls(c);
        let mut body = json!({
            "plan_id": plan,
            "quantity": quantity.to_string(),
            "custom_id": c.hub_id,
            "application_context": {"return_url": return_url, "cancel_url": cancel_url,
                "user_action": "SUBSCRIBE_NOW"},
        });
        if let Some(email) = &c.customer_email {
            body["subscriber"] = json!({"email_address": email});
        }
        let sub: wire::Subscription = self
            .post("/v1/billing/subscriptions", body, &c.hub_id, None)
            .await?;
        Ok(sub.checkout())
    }

    /// A product and a plan for an inline recurring price, made once per checkout.
    async fn plan(
        &self,
        hub_id: &str,
        name: &str,
        amount: i64,
        currency: &str,
        interval: Interval,
    ) -> Result<String, PaymentError> {
        #[derive(Deserialize)]
        struct Made {
            id: String,
        }
        let product: Made = self
            .post(
                "/v1/catalogs/products",
                json!({"name": name, "type": "SERVICE"}),
                hub_id,
                Some("product"),
            )
            .await?;
        let currency = currency.to_ascii_uppercase();
        let plan: Made = self
            .post(
                "/v1/billing/plans",
                json!({
                    "product_id": product.id,
                    "name": name,
                    "status": "ACTIVE",
                    "billing_cycles": [{
                        "frequency": {"interval_unit": interval_unit(interval), "interval_count": 1},
                        "tenure_type": "REGULAR",
                        "sequence": 1,
                        "total_cycles": 0,
                        "pricing_scheme": {"fixed_price": {"currency_code": currency,
                            "value": money::to_value(amount, &currency)}},
                    }],
                    "payment_preferences": {"auto_bill_outstanding": true, "payment_failure_threshold": 3},
                }),
                hub_id,
                Some("plan"),
            )
            .await?;
        Ok(plan.id)
    }

    async fn order(&self, id: &str) -> Result<wire::Order, PaymentError> {
        self.send(Call::get(&format!("/v2/checkout/orders/{}", segment(id))))
            .await
    }

    async fn subscription(&self, id: &str) -> Result<wire::Subscription, PaymentError> {
        self.send(Call::get(&format!(
            "/v1/billing/subscriptions/{}",
            segment(id)
        )))
        .await
    }
}

#[async_trait]
impl PaymentProvider for Paypal {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> PaymentKind {
        PaymentKind::Paypal
    }

    /// PayPal keeps no customers: the customer is the hub's, and checkouts carry its
    /// email.
    async fn create_customer(&self, c: &NewCustomer) -> Result<CustomerState, PaymentError> {
        Ok(CustomerState {
            provider_id: None,
            email: Some(c.email.clone()),
            name: c.name.clone(),
            hub_id: Some(c.hub_id.clone()),
            deleted: false,
        })
    }

    async fn create_checkout(&self, c: &NewCheckout) -> Result<CheckoutState, PaymentError> {
        if c.marketplace.is_some() {
            return Err(not_supported("marketplace checkouts"));
        }
        match c.mode {
            CheckoutMode::Payment => self.create_order(c).await,
            CheckoutMode::Subscription => self.create_subscription(c).await,
        }
    }

    async fn retrieve_checkout(
        &self,
        provider_id: &str,
        mode: CheckoutMode,
        hub_id: &str,
    ) -> Result<CheckoutState, PaymentError> {
        if mode == CheckoutMode::Subscription {
            return Ok(self.subscription(provider_id).await?.checkout());
        }
        let order = self.order(provider_id).await?;
        if order.status.as_deref() != Some("APPROVED") {
            return Ok(order.state());
        }
        let path = format!("/v2/checkout/orders/{}/capture", segment(provider_id));
        match self
            .post::<wire::Order>(&path, json!({}), hub_id, Some("capture"))
            .await
        {
            Ok(captured) => Ok(captured.state()),
            // Captured meanwhile (by another node, or an earlier attempt).
            Err(PaymentError::Rejected {
                code: Some(code), ..
            }) if code == "ORDER_ALREADY_CAPTURED" => Ok(self.order(provider_id).await?.state()),
            Err(e) => Err(e),
        }
    }

    async fn retrieve_subscription(
        &self,
        provider_id: &str,
    ) -> Result<SubscriptionState, PaymentError> {
        Ok(self.subscription(provider_id).await?.state())
    }

    async fn cancel_subscription(
        &self,
        provider_id: &str,
        at_period_end: bool,
    ) -> Result<SubscriptionState, PaymentError> {
        if at_period_end {
            return Err(not_supported("cancellation at period end"));
        }
        let path = format!("/v1/billing/subscriptions/{}/cancel", segment(provider_id));
        let body = serde_json::to_vec(&json!({"reason": "Canceled through the application"}))
            .expect("JSON values serialize");
        let call = Call::new(Method::POST, &path, Body::Json(body))
            .idempotent_with("PayPal-Request-Id", switchyard_core::new_id("req"));
        match self.send::<serde_json::Value>(call).await {
            Ok(_) => self.retrieve_subscription(provider_id).await,
            // Already cancelled or expired: read what it is. Not cancellable for another
            // reason (approval pending): the refusal stands, as the subscription may
            // still start.
            Err(PaymentError::Rejected {
                code: Some(code),
                message,
                param,
            }) if code == "SUBSCRIPTION_STATUS_INVALID" => {
                let sub = self.retrieve_subscription(provider_id).await?;
                if sub.status == SubscriptionStatus::Canceled {
                    Ok(sub)
                } else {
                    Err(PaymentError::Rejected {
                        code: Some(code),
                        message,
                        param,
                    })
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn refund(&self, r: &NewRefund) -> Result<RefundState, PaymentError> {
        let mut body = json!({"custom_id": r.hub_id});
        if let Some(amount) = r.amount {
            let Some(currency) = &r.currency else {
                return Err(PaymentError::Rejected {
                    code: Some("CURRENCY_REQUIRED".into()),
                    message: "a partial PayPal refund needs the payment's currency".into(),
                    param: Some("amount".into()),
                });
            };
            let currency = currency.to_ascii_uppercase();
            body["amount"] =
                json!({"currency_code": currency, "value": money::to_value(amount, &currency)});
        }
        if let Some(reason) = &r.reason {
            body["note_to_payer"] = json!(reason);
        }
        let path = format!("/v2/payments/captures/{}/refund", segment(&r.payment));
        let refund: wire::Refund = self.post(&path, body, &r.hub_id, None).await?;
        Ok(refund.state(Some(&r.payment)))
    }
}
