//! What only PayPal has: OAuth2 tokens (one for many calls, replaced when expired or
//! revoked, refused for wrong credentials), a `PayPal-Request-Id` on every POST, no
//! portal, connected accounts, listing or marketplace, cancelling twice, and orders
//! approved but not yet captured.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use switchyard_core::payment::{
    CheckoutMode, CheckoutStatus, CustomerState, Report, SubscriptionStatus,
};
use switchyard_providers::payments::{
    Marketplace, NewCheckout, PaymentError, PaymentProvider, read_webhook,
};
use switchyard_providers::testing::paypal::PaypalFake;
use switchyard_providers::testing::{Method, ResponseTemplate};

use crate::peers::build;
use crate::{monthly, one_time, refund, rejected};

async fn paypal() -> (PaypalFake, Arc<dyn PaymentProvider>) {
    let fake = PaypalFake::start().await;
    let provider = build(&fake.config("paypal-test"));
    (fake, provider)
}

fn order(hub_id: &str) -> NewCheckout {
    one_time(hub_id, &CustomerState::default())
}

#[tokio::test]
async fn paypal_concurrent_calls_cost_one_token() {
    let (fake, provider) = paypal().await;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..24 {
        let provider = provider.clone();
        calls.spawn(async move {
            provider
                .create_checkout(&order(&format!("pchk_many{i}")))
                .await
        });
    }
    while let Some(done) = calls.join_next().await {
        done.expect("joined").expect("checkout");
    }
    assert_eq!(fake.created("order"), 24);
    assert_eq!(fake.token_requests(), 1);
    let token = fake.last_request(Method::POST, "/v1/oauth2/token");
    assert_eq!(token.form_value("grant_type"), Some("client_credentials"));
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{}:{}", fake.client_id(), fake.client_secret()),
    );
    assert_eq!(
        token.header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
}

#[tokio::test]
async fn paypal_an_expired_token_is_replaced_once() {
    let (fake, provider) = paypal().await;
    fake.set_token_lifetime(1);
    provider
        .create_checkout(&order("pchk_exp1"))
        .await
        .expect("first");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    provider
        .create_checkout(&order("pchk_exp2"))
        .await
        .expect("after the token expired");
    assert_eq!(fake.token_requests(), 2);
    assert_eq!(
        fake.requests_to(Method::POST, "/v2/checkout/orders").len(),
        2,
        "no call was refused for an expired token"
    );
}

#[tokio::test]
async fn paypal_a_revoked_token_is_fetched_again_and_the_call_succeeds() {
    let (fake, provider) = paypal().await;
    provider
        .create_checkout(&order("pchk_rev1"))
        .await
        .expect("first");
    fake.revoke_tokens();
    let checkout = provider
        .create_checkout(&order("pchk_rev2"))
        .await
        .expect("after the token was revoked");
    assert_eq!(checkout.status, CheckoutStatus::Open);
    assert_eq!(fake.token_requests(), 2, "refetched once");
    let tried = fake.requests_to(Method::POST, "/v2/checkout/orders");
    assert_eq!(tried.len(), 3, "the refused call and its repeat");
    assert_eq!(
        tried[1].header("paypal-request-id"),
        tried[2].header("paypal-request-id")
    );
    assert_ne!(
        tried[1].header("authorization"),
        tried[2].header("authorization")
    );
    assert_eq!(fake.created("order"), 2);

    // A token PayPal keeps refusing is not fetched forever.
    fake.revoke_tokens();
    fake.set_token_lifetime(0);
    let e = provider
        .create_checkout(&order("pchk_rev3"))
        .await
        .expect_err("every token refused");
    assert!(matches!(e, PaymentError::Unauthorized(_)), "{e:?}");
    assert_eq!(fake.token_requests(), 3);
}

#[tokio::test]
async fn paypal_request_ids_are_on_every_post_and_kept_across_retries() {
    let (fake, provider) = paypal().await;
    let checkout = provider
        .create_checkout(&order("pchk_keys"))
        .await
        .expect("checkout");
    fake.approve_order(&checkout.provider_id);
    let capture = format!("/v2/checkout/orders/{}/capture", checkout.provider_id);
    fake.fail_next(
        Method::POST,
        &capture,
        ResponseTemplate::new(502).set_body_json(json!({
            "name": "INTERNAL_SERVER_ERROR",
            "message": "An internal server error has occurred.",
            "debug_id": "90f5e8a1b2c3d",
        })),
    );
    let paid = provider
        .retrieve_checkout(&checkout.provider_id, CheckoutMode::Payment, "pchk_keys")
        .await
        .expect("captured on the retry");
    assert_eq!(paid.status, CheckoutStatus::Complete);
    let tries = fake.requests_to(Method::POST, &capture);
    assert_eq!(tries.len(), 2);
    for t in &tries {
        assert_eq!(
            t.header("paypal-request-id"),
            Some("switchyard-pchk_keys-capture")
        );
    }
    assert_eq!(fake.created("capture"), 1);

    let payment = paid.payment_id.expect("capture id");
    provider
        .refund(&refund("pref_keys", &payment, Some(100)))
        .await
        .expect("refund");
    let sub = provider
        .create_checkout(&monthly("pchk_keys_sub", &CustomerState::default()))
        .await
        .expect("subscription");
    fake.activate_subscription(&sub.provider_id);
    provider
        .cancel_subscription(&sub.provider_id, false)
        .await
        .expect("cancel");
    let posts: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::POST && r.route() != "/v1/oauth2/token")
        .collect();
    assert!(posts.len() >= 8, "{}", posts.len());
    for post in posts {
        assert!(
            post.header("paypal-request-id").is_some(),
            "POST {} without PayPal-Request-Id",
            post.path
        );
    }
}

#[tokio::test]
async fn paypal_has_no_portal_connected_accounts_listing_or_marketplace() {
    let (fake, provider) = paypal().await;
    assert!(provider.portal().is_none());
    assert!(provider.connect().is_none());
    assert!(provider.listing().is_none());
    let market = NewCheckout {
        marketplace: Some(Marketplace {
            connected_account: "acct_1".into(),
            application_fee_amount: Some(100),
            application_fee_percent: None,
        }),
        ..order("pchk_market")
    };
    let e = provider
        .create_checkout(&market)
        .await
        .expect_err("no marketplace");
    assert!(matches!(e, PaymentError::NotSupported { .. }), "{e:?}");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn paypal_cancelling_twice_reads_the_cancelled_subscription() {
    let (fake, provider) = paypal().await;
    let checkout = provider
        .create_checkout(&monthly("pchk_pp_twice", &CustomerState::default()))
        .await
        .expect("subscription");
    // Not active yet: PayPal refuses the cancel, and the hub is told so (the buyer could
    // still approve it).
    let (code, _, _) = rejected(
        provider
            .cancel_subscription(&checkout.provider_id, false)
            .await
            .expect_err("a pending subscription is not cancelled"),
    );
    assert_eq!(code.as_deref(), Some("SUBSCRIPTION_STATUS_INVALID"));
    fake.activate_subscription(&checkout.provider_id);
    let first = provider
        .cancel_subscription(&checkout.provider_id, false)
        .await
        .expect("cancel");
    assert_eq!(first.status, SubscriptionStatus::Canceled);
    let second = provider
        .cancel_subscription(&checkout.provider_id, false)
        .await
        .expect("cancelled already");
    assert_eq!(second.status, SubscriptionStatus::Canceled);
    assert_eq!(fake.object(&checkout.provider_id)["status"], "CANCELLED");
}

#[tokio::test]
async fn paypal_wrong_credentials_are_unauthorized() {
    let fake = PaypalFake::start().await;
    let wrong = match fake.config("paypal-test") {
        switchyard_providers::payments::PaymentProviderConfig::Paypal(mut c) => {
            c.client_secret = Some(switchyard_core::Secret::new("not-the-secret".into()));
            switchyard_providers::payments::PaymentProviderConfig::Paypal(c)
        }
        other => other,
    };
    let e = build(&wrong)
        .create_checkout(&order("pchk_wrong"))
        .await
        .expect_err("wrong secret");
    assert!(matches!(e, PaymentError::Unauthorized(_)), "{e:?}");
    assert_eq!(fake.created("order"), 0);
}

#[tokio::test]
async fn paypal_orders_approved_but_not_captured_are_pending_until_read() {
    let (fake, provider) = paypal().await;
    let checkout = provider
        .create_checkout(&order("pchk_approved"))
        .await
        .expect("checkout");
    let approved = fake.approve_order(&checkout.provider_id);
    let report = read_webhook(
        switchyard_core::payment::PaymentKind::Paypal,
        fake.event("CHECKOUT.ORDER.APPROVED", approved).as_bytes(),
    )
    .expect("report");
    let [Report::Checkout(c)] = report.reports.as_slice() else {
        panic!("{report:?}");
    };
    assert_eq!(c.status, CheckoutStatus::Pending);
    assert!(c.needs_capture, "the hub must capture it");
    assert_eq!(c.hub_id.as_deref(), Some("pchk_approved"));
    let paid = provider
        .retrieve_checkout(
            &checkout.provider_id,
            CheckoutMode::Payment,
            "pchk_approved",
        )
        .await
        .expect("captured");
    assert_eq!(paid.status, CheckoutStatus::Complete);
    let order = fake.object(&checkout.provider_id);
    let report = read_webhook(
        switchyard_core::payment::PaymentKind::Paypal,
        fake.event("CHECKOUT.ORDER.COMPLETED", order).as_bytes(),
    )
    .expect("report");
    let [Report::Checkout(c)] = report.reports.as_slice() else {
        panic!("{report:?}");
    };
    assert_eq!(c.status, CheckoutStatus::Complete);
    assert_eq!(c.payment_id, paid.payment_id);
}
