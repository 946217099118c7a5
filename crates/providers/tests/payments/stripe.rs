//! What only Stripe has: Billing Portal sessions, Connect accounts and marketplace
//! checkouts, listing in pages, refusing a wrong key, a reused idempotency key and
//! unknown parameters, expired sessions and subscriptions cancelled twice, and prices
//! that exist at Stripe.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use switchyard_core::payment::{
    AccountKind, CheckoutMode, CheckoutStatus, CustomerState, Report, SubscriptionStatus,
};
use switchyard_providers::payments::{
    LineItem, Marketplace, NewAccount, NewCheckout, NewCustomer, PaymentError, PaymentProvider,
    read_webhook,
};
use switchyard_providers::testing::Method;
use switchyard_providers::testing::stripe::StripeFake;

use crate::peers::build;
use crate::{EMAIL, inline, monthly, now_ms, one_time, rejected};

async fn stripe() -> (StripeFake, Arc<dyn PaymentProvider>) {
    let fake = StripeFake::start().await;
    let provider = build(&fake.config("stripe-test"));
    (fake, provider)
}

fn customer(hub_id: &str) -> NewCustomer {
    NewCustomer {
        hub_id: hub_id.into(),
        email: EMAIL.into(),
        name: None,
        external_id: None,
        metadata: BTreeMap::new(),
    }
}

#[tokio::test]
async fn stripe_opens_portal_sessions_for_its_customers() {
    let (fake, provider) = stripe().await;
    let cus = provider
        .create_customer(&customer("pcus_portal"))
        .await
        .expect("customer")
        .provider_id
        .expect("id");
    let portal = provider.portal().expect("Stripe has a portal");
    let link = portal
        .portal_session(&cus, "https://shop.example.test/account")
        .await
        .expect("portal session");
    assert!(
        link.url.starts_with("https://billing.stripe.com/"),
        "{link:?}"
    );
    assert_eq!(fake.created("billing_portal_session"), 1);
    let request = fake.last_request(Method::POST, "/v1/billing_portal/sessions");
    assert_eq!(request.form_value("customer"), Some(cus.as_str()));
    assert_eq!(
        request.form_value("return_url"),
        Some("https://shop.example.test/account")
    );
    assert!(request.header("idempotency-key").is_some());

    let e = portal
        .portal_session("cus_Unknown000000", "https://shop.example.test/account")
        .await
        .expect_err("unknown customer");
    let (code, message, param) = rejected(e);
    assert_eq!(code.as_deref(), Some("resource_missing"));
    assert_eq!(message, "No such customer: 'cus_Unknown000000'");
    assert_eq!(param.as_deref(), Some("customer"));
}

#[tokio::test]
async fn stripe_connected_accounts_are_created_once_onboarded_and_read() {
    let (fake, provider) = stripe().await;
    let connect = provider.connect().expect("Stripe has Connect");
    let new = NewAccount {
        hub_id: "pacct_1".into(),
        kind: AccountKind::Express,
        email: "seller@example.test".into(),
        country: "DE".into(),
    };
    let account = connect.create_account(&new).await.expect("account");
    assert!(account.provider_id.starts_with("acct_"), "{account:?}");
    assert_eq!(account.hub_id.as_deref(), Some("pacct_1"));
    assert!(!account.charges_enabled && !account.payouts_enabled && !account.details_submitted);
    assert!(!account.requirements_due.is_empty());
    let again = connect.create_account(&new).await.expect("again");
    assert_eq!(again.provider_id, account.provider_id);
    assert_eq!(fake.created("account"), 1);
    let request = fake.last_request(Method::POST, "/v1/accounts");
    assert_eq!(request.form_value("type"), Some("express"));
    assert_eq!(request.form_value("country"), Some("DE"));
    assert_eq!(
        request.form_value("capabilities[card_payments][requested]"),
        Some("true")
    );
    assert_eq!(
        request.form_value("capabilities[transfers][requested]"),
        Some("true")
    );
    assert_eq!(
        request.header("idempotency-key"),
        Some("switchyard-pacct_1")
    );

    let link = connect
        .onboarding_link(
            &account.provider_id,
            "https://shop.example.test/connect/refresh",
            "https://shop.example.test/connect/done",
        )
        .await
        .expect("onboarding link");
    assert!(
        link.url.starts_with("https://connect.stripe.com/"),
        "{link:?}"
    );
    assert!(link.expires_at.is_some_and(|t| t > now_ms()), "{link:?}");
    let request = fake.last_request(Method::POST, "/v1/account_links");
    assert_eq!(request.form_value("type"), Some("account_onboarding"));
    assert_eq!(
        request.form_value("account"),
        Some(account.provider_id.as_str())
    );

    let pending = connect
        .retrieve_account(&account.provider_id)
        .await
        .expect("read");
    assert!(!pending.charges_enabled);
    let onboarded = fake.onboard_account(&account.provider_id);
    let ready = connect
        .retrieve_account(&account.provider_id)
        .await
        .expect("read");
    assert!(ready.charges_enabled && ready.payouts_enabled && ready.details_submitted);
    assert!(ready.requirements_due.is_empty());

    let event = fake.event("account.updated", onboarded);
    let parsed: Value = serde_json::from_str(&event).expect("json");
    assert_eq!(parsed["account"], json!(account.provider_id));
    let report = read_webhook(
        switchyard_core::payment::PaymentKind::Stripe,
        event.as_bytes(),
    )
    .expect("report");
    let [Report::Account(a)] = report.reports.as_slice() else {
        panic!("{report:?}");
    };
    assert!(a.charges_enabled);
    assert_eq!(a.hub_id.as_deref(), Some("pacct_1"));

    let e = connect
        .retrieve_account("acct_Unknown0000000")
        .await
        .expect_err("unknown");
    assert!(matches!(e, PaymentError::NotFound(_)), "{e:?}");
}

#[tokio::test]
async fn stripe_marketplace_checkouts_pay_the_connected_account() {
    let (fake, provider) = stripe().await;
    let acct = provider
        .connect()
        .expect("connect")
        .create_account(&NewAccount {
            hub_id: "pacct_m".into(),
            kind: AccountKind::Standard,
            email: "seller@example.test".into(),
            country: "US".into(),
        })
        .await
        .expect("account")
        .provider_id;
    let buyer = CustomerState {
        provider_id: None,
        ..Default::default()
    };
    let pay = NewCheckout {
        marketplace: Some(Marketplace {
            connected_account: acct.clone(),
            application_fee_amount: Some(100),
            application_fee_percent: None,
        }),
        ..one_time("pchk_market_pay", &buyer)
    };
    provider.create_checkout(&pay).await.expect("payment");
    let r = fake.last_request(Method::POST, "/v1/checkout/sessions");
    assert_eq!(
        r.form_value("payment_intent_data[transfer_data][destination]"),
        Some(acct.as_str())
    );
    assert_eq!(
        r.form_value("payment_intent_data[application_fee_amount]"),
        Some("100")
    );
    assert_eq!(r.form_value("customer_email"), Some(EMAIL));

    let sub = NewCheckout {
        marketplace: Some(Marketplace {
            connected_account: acct.clone(),
            application_fee_amount: None,
            application_fee_percent: Some(12.5),
        }),
        ..monthly("pchk_market_sub", &buyer)
    };
    let checkout = provider.create_checkout(&sub).await.expect("subscription");
    let r = fake.last_request(Method::POST, "/v1/checkout/sessions");
    assert_eq!(
        r.form_value("subscription_data[transfer_data][destination]"),
        Some(acct.as_str())
    );
    assert_eq!(
        r.form_value("subscription_data[application_fee_percent]"),
        Some("12.5")
    );
    let session = fake.complete_checkout(&checkout.provider_id);
    let made = fake.object(session["subscription"].as_str().expect("sub"));
    assert_eq!(made["transfer_data"]["destination"], json!(acct));
    assert_eq!(made["application_fee_percent"], json!(12.5));

    let elsewhere = NewCheckout {
        marketplace: Some(Marketplace {
            connected_account: "acct_Nobody000000000".into(),
            application_fee_amount: Some(100),
            application_fee_percent: None,
        }),
        ..one_time("pchk_market_bad", &buyer)
    };
    let (code, _, param) = rejected(
        provider
            .create_checkout(&elsewhere)
            .await
            .expect_err("unknown destination"),
    );
    assert_eq!(code.as_deref(), Some("resource_missing"));
    assert_eq!(
        param.as_deref(),
        Some("payment_intent_data[transfer_data][destination]")
    );
}

#[tokio::test]
async fn stripe_listing_pages_through_every_customer_and_subscription() {
    let (fake, provider) = stripe().await;
    let mut made = Vec::new();
    for i in 0..150 {
        let c = provider
            .create_customer(&customer(&format!("pcus_list{i}")))
            .await
            .expect("customer");
        made.push(c.provider_id.expect("id"));
    }
    let listing = provider.listing().expect("Stripe lists");
    let first = listing.customers(None).await.expect("page 1");
    assert_eq!(first.items.len(), 100);
    let next = first.next.clone().expect("more");
    assert_eq!(next, made[99]);
    let second = listing.customers(Some(&next)).await.expect("page 2");
    assert_eq!(second.items.len(), 50);
    assert_eq!(second.next, None);
    let listed: Vec<String> = first
        .items
        .iter()
        .chain(&second.items)
        .map(|c| c.provider_id.clone().expect("id"))
        .collect();
    assert_eq!(listed, made, "every customer once, in order");
    assert_eq!(
        first.items[7].hub_id.as_deref(),
        Some("pcus_list7"),
        "metadata carries the hub id"
    );
    let asked: Vec<String> = fake
        .requests_to(Method::GET, "/v1/customers")
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        asked,
        [
            "/v1/customers?limit=100".to_string(),
            format!("/v1/customers?limit=100&starting_after={next}")
        ]
    );

    let buyer = CustomerState::default();
    let mut subs = Vec::new();
    for i in 0..101 {
        let c = provider
            .create_checkout(&monthly(&format!("pchk_list{i}"), &buyer))
            .await
            .expect("checkout");
        let session = fake.complete_checkout(&c.provider_id);
        subs.push(session["subscription"].as_str().expect("sub").to_string());
    }
    fake.set_subscription(&subs[3], "canceled");
    fake.set_subscription(&subs[4], "past_due");
    let first = listing.subscriptions(None).await.expect("page 1");
    assert_eq!(first.items.len(), 100);
    let second = listing
        .subscriptions(first.next.as_deref())
        .await
        .expect("page 2");
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.next, None);
    let all: Vec<_> = first.items.iter().chain(&second.items).collect();
    assert_eq!(
        all.iter()
            .map(|s| s.provider_id.clone())
            .collect::<Vec<_>>(),
        subs,
        "canceled ones included"
    );
    assert_eq!(all[3].status, SubscriptionStatus::Canceled);
    assert_eq!(all[4].status, SubscriptionStatus::PastDue);
    assert_eq!(all[0].hub_checkout.as_deref(), Some("pchk_list0"));
}

#[tokio::test]
async fn stripe_refuses_a_wrong_key_and_a_key_reused_for_another_request() {
    let (fake, provider) = stripe().await;
    let wrong = match fake.config("stripe-test") {
        switchyard_providers::payments::PaymentProviderConfig::Stripe(mut c) => {
            c.secret_key = Some(switchyard_core::Secret::new(
                "sk_test_wrongwrongwrong1234".into(),
            ));
            switchyard_providers::payments::PaymentProviderConfig::Stripe(c)
        }
        other => other,
    };
    let e = build(&wrong)
        .create_customer(&customer("pcus_wrong"))
        .await
        .expect_err("wrong key");
    match &e {
        PaymentError::Unauthorized(m) => {
            assert!(m.contains("Invalid API Key provided"), "{m}");
            assert!(!m.contains("wrongwrongwrong"), "the key is masked: {m}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.created("customer"), 0);

    let buyer = CustomerState::default();
    provider
        .create_checkout(&one_time("pchk_reuse", &buyer))
        .await
        .expect("first");
    let other = NewCheckout {
        line_items: vec![inline("Course", 2000, None)],
        ..one_time("pchk_reuse", &buyer)
    };
    let (code, message, _) = rejected(
        provider
            .create_checkout(&other)
            .await
            .expect_err("same key, other parameters"),
    );
    assert_eq!(code.as_deref(), Some("idempotency_error"));
    assert!(message.contains("switchyard-pchk_reuse"), "{message}");
    assert_eq!(fake.created("checkout_session"), 1);
}

#[tokio::test]
async fn stripe_fake_refuses_unknown_parameters_like_stripe() {
    let fake = StripeFake::start().await;
    let answer = switchyard_providers::http_client()
        .post(format!("{}/v1/customers", fake.url()))
        .bearer_auth(fake.secret_key())
        .form(&[("email", EMAIL), ("nickname", "Annie")])
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), 400);
    let body: Value = serde_json::from_slice(&answer.bytes().await.expect("body")).expect("json");
    assert_eq!(
        body["error"],
        json!({"type": "invalid_request_error", "code": "parameter_unknown",
            "doc_url": "https://stripe.com/docs/error-codes/parameter_unknown",
            "message": "Received unknown parameter: nickname", "param": "nickname"})
    );
    assert_eq!(fake.created("customer"), 0);
}

#[tokio::test]
async fn stripe_sessions_expire_and_canceled_subscriptions_stay_canceled() {
    let (fake, provider) = stripe().await;
    let buyer = CustomerState::default();
    let open = provider
        .create_checkout(&one_time("pchk_expire", &buyer))
        .await
        .expect("checkout");
    let expired = fake.expire_checkout(&open.provider_id);
    let read = provider
        .retrieve_checkout(&open.provider_id, CheckoutMode::Payment, "pchk_expire")
        .await
        .expect("read");
    assert_eq!(read.status, CheckoutStatus::Expired);
    let report = read_webhook(
        switchyard_core::payment::PaymentKind::Stripe,
        fake.event("checkout.session.expired", expired).as_bytes(),
    )
    .expect("report");
    let [Report::Checkout(c)] = report.reports.as_slice() else {
        panic!("{report:?}");
    };
    assert_eq!(
        (c.status, c.hub_id.as_deref()),
        (CheckoutStatus::Expired, Some("pchk_expire"))
    );

    // A cancellation asked twice (a retried DELETE whose first answer was lost, or a
    // subscription already canceled by the customer in the portal) reads as canceled.
    let sub = provider
        .create_checkout(&monthly("pchk_twice", &buyer))
        .await
        .expect("checkout");
    let session = fake.complete_checkout(&sub.provider_id);
    let sub_id = session["subscription"].as_str().expect("sub").to_string();
    let first = provider
        .cancel_subscription(&sub_id, false)
        .await
        .expect("cancel");
    assert_eq!(first.status, SubscriptionStatus::Canceled);
    let second = provider
        .cancel_subscription(&sub_id, false)
        .await
        .expect("cancelled already");
    assert_eq!(second.status, SubscriptionStatus::Canceled);
    assert_eq!(second.canceled_at, first.canceled_at);
    let e = provider
        .cancel_subscription("sub_Unknown0000000000000", false)
        .await
        .expect_err("unknown");
    assert!(matches!(e, PaymentError::NotFound(_)), "{e:?}");
}

#[tokio::test]
async fn stripe_prices_that_exist_are_sold_by_id() {
    let (fake, provider) = stripe().await;
    let price = fake.create_price("Seat", 1500, "eur", Some("year"));
    let buyer = CustomerState::default();
    let new = NewCheckout {
        line_items: vec![LineItem::Price {
            price: price.clone(),
            quantity: 3,
        }],
        ..monthly("pchk_price", &buyer)
    };
    let checkout = provider.create_checkout(&new).await.expect("checkout");
    assert_eq!(
        (checkout.amount_total, checkout.currency.as_deref()),
        (Some(4500), Some("eur"))
    );
    let r = fake.last_request(Method::POST, "/v1/checkout/sessions");
    assert_eq!(r.form_value("line_items[0][price]"), Some(price.as_str()));
    assert_eq!(r.form_value("line_items[0][quantity]"), Some("3"));
    let session = fake.complete_checkout(&checkout.provider_id);
    let sub = provider
        .retrieve_subscription(session["subscription"].as_str().expect("sub"))
        .await
        .expect("sub");
    let end = sub.current_period_end.expect("end");
    assert!(end > now_ms() + 360 * 86_400_000, "a yearly period: {end}");
}
