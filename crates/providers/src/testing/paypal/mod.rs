//! A stateful PayPal fake: OAuth2 client-credentials tokens, Orders v2 (create, read,
//! capture), refunds of captures (Payments v2), and Subscriptions v1 (products, plans,
//! subscriptions, cancellation), answered in PayPal's shapes (JSON both ways, amounts
//! as decimal strings in the currency's major unit, RFC 3339 times, `{name, message,
//! debug_id, details: [{field, issue, description}]}` errors) — so that a real client
//! works against it.
//!
//! Tokens expire for real: a call with an expired, revoked or unknown token gets 401
//! `invalid_token`. A POST repeated with the same `PayPal-Request-Id` (to the same path)
//! gets the first answer again and makes nothing. What a buyer does outside the API
//! (approving) is a control: [`PaypalFake::approve_order`],
//! [`PaypalFake::activate_subscription`], …
//!
//! Object kinds, as [`PaypalFake::created`] counts them: `order`, `capture`, `refund`,
//! `product`, `plan`, `subscription`.
//!
//! Its parts: `routes` (authentication and the token endpoint, idempotency, and the
//! route table), `orders` (Orders v2, captures and their refunds), `subscriptions`
//! (Subscriptions v1: products, plans, subscriptions) and `wire` (JSON bodies, money,
//! times and links as PayPal writes them, and its errors).

mod orders;
mod routes;
mod subscriptions;
mod wire;

use std::collections::HashMap;
use std::time::Instant;

use serde_json::{Value, json};
use switchyard_core::Secret;

use super::Method;
use super::fake::{ALPHANUMERIC, Core, Reply, Store, UPPER, now_secs, random, shared_controls};
use crate::payments::PaymentProviderConfig;
use crate::payments::paypal::PaypalConfig;
use orders::Captured;
use wire::{link, payer, time};

/// The token lifetime PayPal states (about 9 hours), until
/// [`PaypalFake::set_token_lifetime`] changes it.
const DEFAULT_TOKEN_LIFETIME: u64 = 32_400;

/// A running PayPal fake.
#[derive(Debug)]
pub struct PaypalFake {
    core: Core<Paypal>,
    client_id: String,
    client_secret: String,
}

impl PaypalFake {
    pub async fn start() -> PaypalFake {
        let client_id = format!("A{}", random(ALPHANUMERIC, 79));
        let client_secret = format!("E{}", random(ALPHANUMERIC, 79));
        let (id, secret) = (client_id.clone(), client_secret.clone());
        let core = Core::start(move |url| Paypal {
            client_id: id,
            client_secret: secret,
            base_url: url.to_string(),
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            tokens: HashMap::new(),
            store: Store::default(),
            captures: HashMap::new(),
        })
        .await;
        PaypalFake {
            core,
            client_id,
            client_secret,
        }
    }

    shared_controls!();

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }

    /// A provider named `name` pointed at this fake: 2 s timeout, 2 retries.
    pub fn config(&self, name: &str) -> PaymentProviderConfig {
        PaymentProviderConfig::Paypal(PaypalConfig {
            name: Some(name.to_string()),
            client_id: Some(self.client_id.clone()),
            client_secret: Some(Secret::new(self.client_secret.clone())),
            base_url: Some(self.url()),
            timeout_secs: Some(2),
            max_retries: Some(2),
            ..Default::default()
        })
    }

    /// How many requests reached the token endpoint.
    pub fn token_requests(&self) -> usize {
        self.requests_to(Method::POST, "/v1/oauth2/token").len()
    }

    /// The `expires_in` (seconds) of tokens issued from now on; they stop working when
    /// it has passed.
    pub fn set_token_lifetime(&self, secs: u64) {
        self.core.lock().api.token_lifetime = secs;
    }

    /// Every token issued so far stops working (as when PayPal rotates them).
    pub fn revoke_tokens(&self) {
        self.core.lock().api.tokens.clear();
    }

    /// The buyer approves the order `id` (it can be captured now). Returns the order.
    ///
    /// # Panics
    /// When there is no such order or it is not waiting for the buyer.
    pub fn approve_order(&self, id: &str) -> Value {
        let mut shared = self.core.lock();
        let base = shared.api.base_url.clone();
        let order = shared
            .api
            .store
            .get_mut("order", id)
            .unwrap_or_else(|| panic!("no order {id}"));
        let status = order["status"].as_str().unwrap_or_default();
        assert!(
            status == "CREATED" || status == "PAYER_ACTION_REQUIRED",
            "order {id} is {status}: only an order waiting for the buyer can be approved"
        );
        let payer = payer();
        order["status"] = json!("APPROVED");
        order["payer"] = payer.clone();
        order["payment_source"] = json!({"paypal": {
            "email_address": payer["email_address"], "account_id": payer["payer_id"],
            "account_status": "VERIFIED", "name": payer["name"],
        }});
        order["update_time"] = json!(time(now_secs()));
        order["links"] = json!([
            link(format!("{base}/v2/checkout/orders/{id}"), "self", "GET"),
            link(format!("{base}/v2/checkout/orders/{id}"), "update", "PATCH"),
            link(
                format!("{base}/v2/checkout/orders/{id}/capture"),
                "capture",
                "POST"
            ),
        ]);
        order.clone()
    }

    /// The buyer approves the subscription `id`, which PayPal has not activated yet.
    /// Returns the subscription.
    ///
    /// # Panics
    /// When there is no such subscription or it is not pending approval.
    pub fn approve_subscription(&self, id: &str) -> Value {
        let mut shared = self.core.lock();
        let sub = shared
            .api
            .store
            .get_mut("subscription", id)
            .unwrap_or_else(|| panic!("no subscription {id}"));
        assert_eq!(sub["status"], "APPROVAL_PENDING", "subscription {id}");
        sub["status"] = json!("APPROVED");
        sub["status_update_time"] = json!(time(now_secs()));
        sub.clone()
    }

    /// The buyer approves the subscription `id` and PayPal activates it: the first
    /// cycle is paid and the next billing time is one plan interval away. Returns the
    /// subscription.
    ///
    /// # Panics
    /// When there is no such subscription or it is neither pending approval nor
    /// approved.
    pub fn activate_subscription(&self, id: &str) -> Value {
        self.core.lock().api.activate(id)
    }

    /// A PayPal webhook event of `event_type` about `resource`, created now.
    pub fn event(&self, event_type: &str, resource: Value) -> String {
        let resource_type = match event_type {
            t if t.starts_with("CHECKOUT.ORDER.") => "checkout-order",
            "PAYMENT.CAPTURE.REFUNDED" | "PAYMENT.SALE.REFUNDED" => "refund",
            t if t.starts_with("PAYMENT.CAPTURE.") => "capture",
            t if t.starts_with("PAYMENT.SALE.") => "sale",
            t if t.starts_with("BILLING.SUBSCRIPTION.") => "subscription",
            t if t.starts_with("BILLING.PLAN.") => "plan",
            t if t.starts_with("CATALOG.PRODUCT.") => "product",
            _ => "unknown",
        };
        let id = format!("WH-{}-{}", random(UPPER, 17), random(UPPER, 17));
        let webhooks = "https://api.sandbox.paypal.com/v1/notifications/webhooks-events";
        json!({
            "id": id,
            "event_version": "1.0",
            "create_time": time(now_secs()),
            "resource_type": resource_type,
            "resource_version": if resource_type == "subscription" { "2.0" } else { "1.0" },
            "event_type": event_type,
            "summary": format!("{event_type} event"),
            "resource": resource,
            "links": [
                link(format!("{webhooks}/{id}"), "self", "GET"),
                link(format!("{webhooks}/{id}/resend"), "resend", "POST"),
            ],
        })
        .to_string()
    }
}

/// The state machine: the app's credentials and the tokens issued to it, the objects,
/// and each capture's money.
pub(crate) struct Paypal {
    client_id: String,
    client_secret: String,
    base_url: String,
    token_lifetime: u64,
    /// Issued tokens and when they stop working.
    tokens: HashMap<String, Instant>,
    store: Store,
    captures: HashMap<String, Captured>,
}

/// An endpoint's answer: `Err` is a refusal, answered as it is.
type Answer = Result<Reply, Reply>;
