//! A stateful Stripe fake: customers, Checkout Sessions, payment intents and charges,
//! subscriptions, refunds, Billing Portal sessions, Connect accounts and account links,
//! answered in Stripe's shapes (form-encoded requests with bracketed keys, JSON answers,
//! amounts in minor units, timestamps in seconds, `{"error": {type, code, message,
//! param}}` errors) — so that a real client works against it.
//!
//! Like Stripe it checks `Authorization: Bearer <secret key>` on every call, refuses
//! parameters it does not know (`parameter_unknown`), replays the first answer to a POST
//! repeated with the same `Idempotency-Key` (and refuses the key with other parameters:
//! `idempotency_error`), and lists in pages of at most 100. What a buyer or Stripe does
//! outside the API (paying, onboarding, renewals) are controls:
//! [`StripeFake::complete_checkout`], [`StripeFake::onboard_account`], …
//!
//! Object kinds, as [`StripeFake::created`] counts them: `customer`,
//! `checkout_session`, `payment_intent`, `charge`, `subscription`, `refund`,
//! `billing_portal_session`, `account`, `account_link`, `price`.
//!
//! Its parts: `routes` (authentication, idempotency, the route table, and the reads
//! every kind shares), `checkout` (Checkout Sessions, their prices, and the buyer
//! paying), `objects` (the other endpoints) and `form` (the bracketed form parameters,
//! and Stripe's errors).

mod checkout;
mod form;
mod objects;
mod routes;

use std::collections::HashMap;

use serde_json::{Value, json};
use switchyard_core::Secret;

use super::fake::{ALPHANUMERIC, Core, Reply, Store, id, now_secs, random, shared_controls};
use crate::payments::PaymentProviderConfig;
use crate::payments::stripe::{API_VERSION, StripeConfig};
use checkout::{SessionExtra, price_object};

/// A running Stripe fake.
#[derive(Debug)]
pub struct StripeFake {
    core: Core<Stripe>,
    secret_key: String,
}

impl StripeFake {
    pub async fn start() -> StripeFake {
        let secret_key = format!("sk_test_{}", random(ALPHANUMERIC, 24));
        let key = secret_key.clone();
        let core = Core::start(move |_| Stripe {
            secret_key: key,
            store: Store::default(),
            sessions: HashMap::new(),
        })
        .await;
        StripeFake { core, secret_key }
    }

    shared_controls!();

    /// The secret key every call must carry.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// A provider named `name` pointed at this fake: 2 s timeout, 2 retries.
    pub fn config(&self, name: &str) -> PaymentProviderConfig {
        PaymentProviderConfig::Stripe(StripeConfig {
            name: Some(name.to_string()),
            secret_key: Some(Secret::new(self.secret_key.clone())),
            base_url: Some(self.url()),
            timeout_secs: Some(2),
            max_retries: Some(2),
            ..Default::default()
        })
    }

    /// A price that exists at Stripe (`price_…`), for `line_items[i][price]`;
    /// `interval` makes it recurring.
    pub fn create_price(
        &self,
        name: &str,
        unit_amount: i64,
        currency: &str,
        interval: Option<&str>,
    ) -> String {
        let mut shared = self.core.lock();
        let id = id("price_", 24);
        let price = price_object(&id, name, unit_amount, currency, interval);
        shared.api.store.insert("price", &id, price);
        id
    }

    /// The buyer pays the open session `id`. Payment mode: a succeeded payment intent
    /// and charge of `amount_total`. Subscription mode: the customer (made from
    /// `customer_email` if the session has none) and an active subscription whose
    /// metadata is the session's `subscription_data[metadata]`, paid for one period.
    /// Returns the session.
    ///
    /// # Panics
    /// When there is no such session or it is not open.
    pub fn complete_checkout(&self, id: &str) -> Value {
        self.core.lock().api.complete(id)
    }

    /// The open session `id` expires. Returns the session.
    ///
    /// # Panics
    /// When there is no such session or it is not open.
    pub fn expire_checkout(&self, id: &str) -> Value {
        let mut shared = self.core.lock();
        let session = shared
            .api
            .store
            .get_mut("checkout_session", id)
            .unwrap_or_else(|| panic!("no checkout session {id}"));
        assert_eq!(session["status"], "open", "only an open session expires");
        session["status"] = json!("expired");
        session["url"] = Value::Null;
        session.clone()
    }

    /// Sets the subscription's `status` (as a renewal, a failed payment or Stripe's
    /// dunning would); `canceled` also sets `canceled_at` and `ended_at`. Returns the
    /// subscription.
    ///
    /// # Panics
    /// When there is no such subscription.
    pub fn set_subscription(&self, id: &str, status: &str) -> Value {
        let mut shared = self.core.lock();
        let sub = shared
            .api
            .store
            .get_mut("subscription", id)
            .unwrap_or_else(|| panic!("no subscription {id}"));
        sub["status"] = json!(status);
        if status == "canceled" {
            let now = now_secs();
            if sub["canceled_at"].is_null() {
                sub["canceled_at"] = json!(now);
            }
            sub["ended_at"] = json!(now);
        }
        sub.clone()
    }

    /// The connected account `id` finishes onboarding: charges and payouts enabled,
    /// nothing due. Returns the account.
    ///
    /// # Panics
    /// When there is no such account.
    pub fn onboard_account(&self, id: &str) -> Value {
        let mut shared = self.core.lock();
        let account = shared
            .api
            .store
            .get_mut("account", id)
            .unwrap_or_else(|| panic!("no account {id}"));
        account["charges_enabled"] = json!(true);
        account["payouts_enabled"] = json!(true);
        account["details_submitted"] = json!(true);
        account["requirements"] = json!({
            "currently_due": [], "eventually_due": [], "past_due": [],
            "pending_verification": [], "disabled_reason": null, "errors": [],
        });
        if let Some(caps) = account["capabilities"].as_object_mut() {
            for v in caps.values_mut() {
                *v = json!("active");
            }
        }
        account.clone()
    }

    /// A Stripe event of type `kind` about `object` (`data.object`), created now, as a
    /// webhook delivers it. Events about a connected account carry its id in `account`.
    pub fn event(&self, kind: &str, object: Value) -> String {
        let mut event = json!({
            "id": id("evt_", 24),
            "object": "event",
            "api_version": API_VERSION,
            "created": now_secs(),
            "data": {"object": object},
            "livemode": false,
            "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null},
            "type": kind,
        });
        if object_kind(&event["data"]["object"]) == Some("account") {
            event["account"] = event["data"]["object"]["id"].clone();
        }
        event.to_string()
    }
}

fn object_kind(v: &Value) -> Option<&str> {
    v.get("object").and_then(Value::as_str)
}

/// The state machine: the secret key every call must carry, the objects, and what each
/// Checkout Session was asked for beyond its public fields.
pub(crate) struct Stripe {
    secret_key: String,
    store: Store,
    sessions: HashMap<String, SessionExtra>,
}

/// An endpoint's answer: `Err` is a refusal, answered as it is.
type Answer = Result<Reply, Reply>;
