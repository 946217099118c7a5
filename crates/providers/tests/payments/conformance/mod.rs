//! The conformance suite: one run of numbered steps against a provider and its peer,
//! each step building on what the ones before it made (kept in [`Suite`]). Steps 1–5
//! (`lifecycle`) make and use the objects: customers, a one-time checkout, the buyer
//! paying, refunds, a subscription. Steps 6a–6e (`failures`) check how the provider's
//! refusals, 5xx, 429 and timeouts reach the caller. Step 7 (`webhooks`) reads events
//! about the objects made into the reports the mirror needs.

mod failures;
mod lifecycle;
mod webhooks;

use std::sync::Arc;

use serde_json::Value;
use switchyard_core::payment::{CheckoutState, CustomerState};
use switchyard_providers::payments::PaymentProvider;

use crate::peers::Peer;

/// What the suite has seen, for the steps after.
struct Suite {
    peer: Peer,
    provider: Arc<dyn PaymentProvider>,
    customer: Option<CustomerState>,
    paid: Option<CheckoutState>,
    /// What the completion event describes: the session (Stripe) or the capture
    /// (PayPal), as it was when paid.
    completed: Option<Value>,
    refund: Option<String>,
    subscription: Option<(String, Value, Value)>,
}

/// Runs every step against `peer`'s provider, in order.
pub async fn run(peer: Peer) {
    let provider = peer.provider();
    let mut s = Suite {
        peer,
        provider,
        customer: None,
        paid: None,
        completed: None,
        refund: None,
        subscription: None,
    };
    lifecycle::creates_customers(&mut s).await;
    lifecycle::creates_a_one_time_checkout_once(&mut s).await;
    lifecycle::the_buyer_pays(&mut s).await;
    lifecycle::refunds_part_then_the_rest(&mut s).await;
    lifecycle::subscribes_and_cancels(&mut s).await;
    failures::refusals_are_rejected_with_the_providers_values(&s).await;
    failures::a_5xx_is_retried_with_the_same_key(&s).await;
    failures::persistent_5xx_is_unavailable(&s).await;
    failures::rate_limits_are_not_retried(&s).await;
    failures::a_timeout_is_unavailable_and_the_retry_makes_nothing_new(&s).await;
    webhooks::webhooks_tell_the_mirror_what_happened(&s).await;
}
