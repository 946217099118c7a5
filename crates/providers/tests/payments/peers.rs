//! The two fakes behind one face, for the conformance suite: what the suite asks of "the
//! provider's peer" (the buyer paying, scripted failures, the provider's error shapes,
//! the paths and keys it documents), answered for Stripe by [`StripeFake`] and for
//! PayPal by [`PaypalFake`].

use std::sync::Arc;

use serde_json::{Value, json};
use switchyard_core::payment::{CheckoutMode, PaymentKind};
use switchyard_providers::payments::{PaymentProvider, PaymentProviderConfig};
use switchyard_providers::testing::paypal::PaypalFake;
use switchyard_providers::testing::stripe::StripeFake;
use switchyard_providers::testing::{Method, Recorded, ResponseTemplate};

pub enum Peer {
    Stripe(StripeFake),
    Paypal(PaypalFake),
}

pub fn no_env(_: &str) -> Option<String> {
    None
}

/// Builds `config` the way the hub does, with an empty environment.
pub fn build(config: &PaymentProviderConfig) -> Arc<dyn PaymentProvider> {
    config
        .build_with_env(&switchyard_providers::http_client(), &no_env)
        .expect("the fake's settings build")
        .provider
}

/// `config` with `retries` retries instead of the fake's two.
pub fn with_retries(config: PaymentProviderConfig, retries: u32) -> PaymentProviderConfig {
    match config {
        PaymentProviderConfig::Stripe(mut c) => {
            c.max_retries = Some(retries);
            PaymentProviderConfig::Stripe(c)
        }
        PaymentProviderConfig::Paypal(mut c) => {
            c.max_retries = Some(retries);
            PaymentProviderConfig::Paypal(c)
        }
    }
}

impl Peer {
    pub async fn stripe() -> Peer {
        Peer::Stripe(StripeFake::start().await)
    }

    pub async fn paypal() -> Peer {
        Peer::Paypal(PaypalFake::start().await)
    }

    pub fn kind(&self) -> PaymentKind {
        match self {
            Peer::Stripe(_) => PaymentKind::Stripe,
            Peer::Paypal(_) => PaymentKind::Paypal,
        }
    }

    pub fn config(&self) -> PaymentProviderConfig {
        match self {
            Peer::Stripe(f) => f.config("stripe-test"),
            Peer::Paypal(f) => f.config("paypal-test"),
        }
    }

    pub fn provider(&self) -> Arc<dyn PaymentProvider> {
        build(&self.config())
    }

    pub fn requests(&self) -> Vec<Recorded> {
        match self {
            Peer::Stripe(f) => f.requests(),
            Peer::Paypal(f) => f.requests(),
        }
    }

    pub fn requests_to(&self, method: Method, path: &str) -> Vec<Recorded> {
        match self {
            Peer::Stripe(f) => f.requests_to(method, path),
            Peer::Paypal(f) => f.requests_to(method, path),
        }
    }

    /// The requests to `method` `path` that carried the idempotency key `key`.
    pub fn keyed(&self, method: Method, path: &str, key: &str) -> Vec<Recorded> {
        let header = self.key_header();
        self.requests_to(method, path)
            .into_iter()
            .filter(|r| r.header(header) == Some(key))
            .collect()
    }

    pub fn fail_next(&self, method: Method, path: &str, response: ResponseTemplate) {
        match self {
            Peer::Stripe(f) => f.fail_next(method, path, response),
            Peer::Paypal(f) => f.fail_next(method, path, response),
        }
    }

    pub fn scripted_left(&self) -> usize {
        match self {
            Peer::Stripe(f) => f.scripted_left(),
            Peer::Paypal(f) => f.scripted_left(),
        }
    }

    pub fn delay(&self, delay: std::time::Duration) {
        match self {
            Peer::Stripe(f) => f.delay(delay),
            Peer::Paypal(f) => f.delay(delay),
        }
    }

    pub fn created(&self, kind: &str) -> usize {
        match self {
            Peer::Stripe(f) => f.created(kind),
            Peer::Paypal(f) => f.created(kind),
        }
    }

    pub fn object(&self, id: &str) -> Value {
        match self {
            Peer::Stripe(f) => f.object(id),
            Peer::Paypal(f) => f.object(id),
        }
    }

    pub fn event(&self, kind: &str, object: Value) -> String {
        match self {
            Peer::Stripe(f) => f.event(kind, object),
            Peer::Paypal(f) => f.event(kind, object),
        }
    }

    /// The header carrying the idempotency key.
    pub fn key_header(&self) -> &'static str {
        match self {
            Peer::Stripe(_) => "Idempotency-Key",
            Peer::Paypal(_) => "PayPal-Request-Id",
        }
    }

    /// Where a checkout of `mode` is created.
    pub fn checkout_path(&self, mode: CheckoutMode) -> &'static str {
        match (self, mode) {
            (Peer::Stripe(_), _) => "/v1/checkout/sessions",
            (Peer::Paypal(_), CheckoutMode::Payment) => "/v2/checkout/orders",
            (Peer::Paypal(_), CheckoutMode::Subscription) => "/v1/billing/subscriptions",
        }
    }

    /// The kind of object a checkout of `mode` is at the provider.
    pub fn checkout_kind(&self, mode: CheckoutMode) -> &'static str {
        match (self, mode) {
            (Peer::Stripe(_), _) => "checkout_session",
            (Peer::Paypal(_), CheckoutMode::Payment) => "order",
            (Peer::Paypal(_), CheckoutMode::Subscription) => "subscription",
        }
    }

    /// The prefix of a checkout's provider id.
    pub fn checkout_prefix(&self, mode: CheckoutMode) -> &'static str {
        match (self, mode) {
            (Peer::Stripe(_), _) => "cs_",
            (Peer::Paypal(_), CheckoutMode::Payment) => "O-",
            (Peer::Paypal(_), CheckoutMode::Subscription) => "I-",
        }
    }

    /// The prefix of a payment's provider id.
    pub fn payment_prefix(&self) -> &'static str {
        match self {
            Peer::Stripe(_) => "pi_",
            Peer::Paypal(_) => "CAP-",
        }
    }

    pub fn refund_prefix(&self) -> &'static str {
        match self {
            Peer::Stripe(_) => "re_",
            Peer::Paypal(_) => "R-",
        }
    }

    /// A payment the provider has never seen.
    pub fn unknown_payment(&self) -> &'static str {
        match self {
            Peer::Stripe(_) => "pi_3UnknownPayment0000000",
            Peer::Paypal(_) => "CAP-0UNKNOWN000000000",
        }
    }

    /// The buyer pays the one-time checkout `id`: Stripe completes the session, PayPal
    /// approves the order (the hub captures it).
    pub fn pay(&self, id: &str) {
        match self {
            Peer::Stripe(f) => {
                f.complete_checkout(id);
            }
            Peer::Paypal(f) => {
                f.approve_order(id);
            }
        }
    }

    /// The buyer completes the subscription checkout `id`; returns the subscription's
    /// provider id.
    pub fn subscribe(&self, id: &str) -> String {
        match self {
            Peer::Stripe(f) => f.complete_checkout(id)["subscription"]
                .as_str()
                .expect("a completed subscription session names its subscription")
                .to_string(),
            Peer::Paypal(f) => f.activate_subscription(id)["id"]
                .as_str()
                .expect("id")
                .to_string(),
        }
    }

    /// The provider's own error body for a failure with `status`.
    pub fn error_body(&self, status: u16) -> Value {
        match (self, status) {
            (Peer::Stripe(_), 429) => json!({"error": {"type": "invalid_request_error",
                "code": "rate_limit",
                "message": "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests."}}),
            (Peer::Stripe(_), _) => json!({"error": {"type": "api_error",
                "message": "Sorry, something went wrong. We've already been notified of the problem."}}),
            (Peer::Paypal(_), 429) => json!({"name": "RATE_LIMIT_REACHED",
                "message": "Too many requests. Blocked due to rate limiting.", "debug_id": "9f3a1c2b4d5e6"}),
            (Peer::Paypal(_), 503) => json!({"name": "SERVICE_UNAVAILABLE",
                "message": "Service Unavailable.", "debug_id": "9f3a1c2b4d5e6"}),
            (Peer::Paypal(_), _) => json!({"name": "INTERNAL_SERVER_ERROR",
                "message": "An internal server error has occurred.", "debug_id": "9f3a1c2b4d5e6"}),
        }
    }

    /// A failure answer with `status` in the provider's shape.
    pub fn failure(&self, status: u16) -> ResponseTemplate {
        ResponseTemplate::new(status).set_body_json(self.error_body(status))
    }
}
