//! Steps 1–5: the objects a hub makes at the provider and what it does with them —
//! customers, a one-time checkout, the buyer paying, refunds, a subscription.

use std::collections::BTreeMap;

use serde_json::json;
use switchyard_core::payment::{CheckoutMode, CheckoutStatus, RefundStatus, SubscriptionStatus};
use switchyard_providers::payments::{NewCustomer, PaymentError};
use switchyard_providers::testing::Method;

use super::Suite;
use crate::peers::Peer;
use crate::{
    CANCEL_URL, EMAIL, HUB_CUSTOMER, SUCCESS_URL, key, monthly, now_ms, one_time, refund, rejected,
};

/// 1. Stripe makes a customer and answers its id; PayPal has none (the customer is the
///    hub's) and is not called.
pub(super) async fn creates_customers(s: &mut Suite) {
    let new = NewCustomer {
        hub_id: HUB_CUSTOMER.into(),
        email: EMAIL.into(),
        name: Some("Ann Example".into()),
        external_id: Some("user-42".into()),
        metadata: BTreeMap::from([("plan".to_string(), "pro".to_string())]),
    };
    let customer = s.provider.create_customer(&new).await.expect("customer");
    assert_eq!(customer.email.as_deref(), Some(EMAIL));
    assert_eq!(customer.name.as_deref(), Some("Ann Example"));
    assert_eq!(customer.hub_id.as_deref(), Some(HUB_CUSTOMER));
    match &s.peer {
        Peer::Stripe(fake) => {
            let id = customer.provider_id.clone().expect("a Stripe customer id");
            assert!(id.starts_with("cus_"), "{id}");
            let again = s.provider.create_customer(&new).await.expect("again");
            assert_eq!(again.provider_id.as_deref(), Some(id.as_str()));
            assert_eq!(
                fake.created("customer"),
                1,
                "one customer however often asked"
            );
            let request = fake.last_request(Method::POST, "/v1/customers");
            assert_eq!(
                request.header("idempotency-key"),
                Some(key(HUB_CUSTOMER).as_str())
            );
            assert_eq!(request.form_value("email"), Some(EMAIL));
            assert_eq!(
                request.form_value("metadata[switchyard_id]"),
                Some(HUB_CUSTOMER)
            );
            assert_eq!(request.form_value("metadata[external_id]"), Some("user-42"));
            assert_eq!(request.form_value("metadata[plan]"), Some("pro"));
            assert_eq!(fake.object(&id)["metadata"]["switchyard_id"], HUB_CUSTOMER);
        }
        Peer::Paypal(_) => {
            assert_eq!(customer.provider_id, None);
            assert!(s.peer.requests().is_empty(), "PayPal keeps no customers");
        }
    }
    s.customer = Some(customer);
}

/// 2. A one-time checkout is open with a URL; asked for again (the same hub id) it is
///    the same provider object, made once; the provider saw the documented fields.
pub(super) async fn creates_a_one_time_checkout_once(s: &mut Suite) {
    let customer = s.customer.clone().expect("step 1");
    let hub = "pchk_conf_pay";
    let new = one_time(hub, &customer);
    let mode = CheckoutMode::Payment;
    let path = s.peer.checkout_path(mode);
    let checkout = s.provider.create_checkout(&new).await.expect("checkout");
    assert_eq!(checkout.status, CheckoutStatus::Open);
    assert!(
        checkout
            .provider_id
            .starts_with(s.peer.checkout_prefix(mode)),
        "{checkout:?}"
    );
    assert_eq!(checkout.hub_id.as_deref(), Some(hub));
    let url = checkout.url.clone().expect("a URL to pay at");
    assert!(url.starts_with("https://"), "{url}");
    assert_eq!(checkout.amount_total, Some(1234));
    assert_eq!(checkout.currency.as_deref(), Some("usd"));

    let again = s.provider.create_checkout(&new).await.expect("again");
    assert_eq!(again.provider_id, checkout.provider_id);
    assert_eq!(again.url, checkout.url);
    assert_eq!(s.peer.created(s.peer.checkout_kind(mode)), 1);
    let requests = s.peer.keyed(Method::POST, path, &key(hub));
    assert_eq!(requests.len(), 2, "both asks carried the same key");

    let r = &requests[0];
    match &s.peer {
        Peer::Stripe(fake) => {
            let bearer = format!("Bearer {}", fake.secret_key());
            assert_eq!(r.header("authorization"), Some(bearer.as_str()));
            assert_eq!(
                r.header("stripe-version"),
                Some(switchyard_providers::payments::stripe::API_VERSION)
            );
            let expected = [
                ("mode", "payment"),
                ("client_reference_id", hub),
                ("success_url", SUCCESS_URL),
                ("cancel_url", CANCEL_URL),
                ("customer", customer.provider_id.as_deref().expect("cus")),
                ("line_items[0][price_data][product_data][name]", "Course"),
                ("line_items[0][price_data][unit_amount]", "1000"),
                ("line_items[0][price_data][currency]", "usd"),
                ("line_items[0][quantity]", "1"),
                ("line_items[1][price_data][product_data][name]", "Workbook"),
                ("line_items[1][price_data][unit_amount]", "234"),
                ("metadata[switchyard_id]", hub),
                ("metadata[reference]", "order-1001"),
                ("metadata[cart]", "c-77"),
                ("payment_intent_data[metadata][switchyard_id]", hub),
                (
                    "payment_intent_data[metadata][switchyard_customer]",
                    HUB_CUSTOMER,
                ),
            ];
            for (k, v) in expected {
                assert_eq!(r.form_value(k), Some(v), "{k} in {:?}", r.form);
            }
            assert_eq!(r.form_value("customer_email"), None, "customer wins");
            assert!(url.starts_with("https://checkout.stripe.com/"), "{url}");
        }
        Peer::Paypal(_) => {
            let body = r.json();
            let unit = &body["purchase_units"][0];
            assert_eq!(body["intent"], "CAPTURE");
            assert_eq!(unit["custom_id"], hub);
            assert_eq!(unit["reference_id"], hub);
            assert_eq!(unit["invoice_id"], "order-1001");
            assert_eq!(unit["amount"]["currency_code"], "USD");
            assert_eq!(unit["amount"]["value"], "12.34");
            assert_eq!(unit["amount"]["breakdown"]["item_total"]["value"], "12.34");
            assert_eq!(unit["items"][0]["name"], "Course");
            assert_eq!(unit["items"][0]["unit_amount"]["value"], "10.00");
            assert_eq!(unit["items"][1]["unit_amount"]["value"], "2.34");
            assert_eq!(unit["items"][0]["quantity"], "1");
            let context = &body["payment_source"]["paypal"]["experience_context"];
            assert_eq!(context["return_url"], SUCCESS_URL);
            assert_eq!(context["cancel_url"], CANCEL_URL);
            assert!(
                r.header("authorization")
                    .is_some_and(|a| a.starts_with("Bearer A21AA")),
                "a token from the token endpoint"
            );
            assert_eq!(r.header("prefer"), Some("return=representation"));
            assert!(url.contains("token="), "{url}");
        }
    }
    // Waiting for the buyer: reading it changes nothing.
    let read = s
        .provider
        .retrieve_checkout(&checkout.provider_id, mode, hub)
        .await
        .expect("read");
    assert_eq!(read.status, CheckoutStatus::Open);
    assert!(!read.needs_capture);
    s.paid = Some(checkout);
}

/// 3. The buyer pays; reading the checkout says complete with the payment's id (PayPal:
///    the read captures the approved order, once).
pub(super) async fn the_buyer_pays(s: &mut Suite) {
    let checkout = s.paid.clone().expect("step 2");
    let hub = checkout.hub_id.clone().expect("hub id");
    let id = checkout.provider_id.clone();
    s.peer.pay(&id);
    let paid = s
        .provider
        .retrieve_checkout(&id, CheckoutMode::Payment, &hub)
        .await
        .expect("read after paying");
    assert_eq!(paid.status, CheckoutStatus::Complete, "{paid:?}");
    let payment = paid.payment_id.clone().expect("a payment id");
    assert!(payment.starts_with(s.peer.payment_prefix()), "{payment}");
    assert_eq!(paid.hub_id.as_deref(), Some(hub.as_str()));
    assert_eq!(paid.amount_total, Some(1234));
    assert!(!paid.needs_capture);

    let again = s
        .provider
        .retrieve_checkout(&id, CheckoutMode::Payment, &hub)
        .await
        .expect("read again");
    assert_eq!(again.status, CheckoutStatus::Complete);
    assert_eq!(again.payment_id.as_deref(), Some(payment.as_str()));
    match &s.peer {
        Peer::Stripe(fake) => {
            assert_eq!(fake.created("payment_intent"), 1);
            assert_eq!(paid.customer_email.as_deref(), Some(EMAIL));
        }
        Peer::Paypal(fake) => {
            let captures =
                fake.requests_to(Method::POST, &format!("/v2/checkout/orders/{id}/capture"));
            assert_eq!(captures.len(), 1, "captured once, not on every read");
            assert_eq!(
                captures[0].header("paypal-request-id"),
                Some(format!("switchyard-{hub}-capture").as_str())
            );
            assert_eq!(fake.created("capture"), 1);
        }
    }
    s.completed = Some(match &s.peer {
        Peer::Stripe(_) => s.peer.object(&id),
        Peer::Paypal(_) => s.peer.object(&payment),
    });
    s.paid = Some(paid);
}

/// 4. Part of the payment, then the rest; more than is left and an unknown payment are
///    refused.
pub(super) async fn refunds_part_then_the_rest(s: &mut Suite) {
    let payment = s
        .paid
        .as_ref()
        .and_then(|p| p.payment_id.clone())
        .expect("step 3");
    let first = refund("pref_conf1", &payment, Some(500));
    let part = s.provider.refund(&first).await.expect("partial refund");
    assert_eq!(part.status, RefundStatus::Succeeded);
    assert_eq!(part.amount, Some(500));
    assert_eq!(part.currency.as_deref(), Some("usd"));
    assert_eq!(part.payment_id.as_deref(), Some(payment.as_str()));
    assert_eq!(part.hub_id.as_deref(), Some("pref_conf1"));
    assert!(
        part.provider_id.starts_with(s.peer.refund_prefix()),
        "{part:?}"
    );
    let again = s.provider.refund(&first).await.expect("asked again");
    assert_eq!(again.provider_id, part.provider_id);
    assert_eq!(
        s.peer.created("refund"),
        1,
        "a repeated refund refunds once"
    );

    let (code, message, param) = rejected(
        s.provider
            .refund(&refund("pref_conf2", &payment, Some(1000)))
            .await
            .expect_err("more than is left"),
    );
    match &s.peer {
        Peer::Stripe(_) => {
            assert_eq!(code.as_deref(), Some("invalid_request_error"));
            assert_eq!(param.as_deref(), Some("amount"));
            assert!(
                message.contains("greater than unrefunded amount"),
                "{message}"
            );
        }
        Peer::Paypal(_) => {
            assert_eq!(code.as_deref(), Some("REFUND_AMOUNT_EXCEEDED"));
            assert_eq!(param.as_deref(), Some("/amount/value"));
        }
    }

    let rest = s
        .provider
        .refund(&refund("pref_conf3", &payment, None))
        .await
        .expect("the rest");
    assert_eq!(rest.status, RefundStatus::Succeeded);
    assert_eq!(rest.amount, Some(734));
    assert_eq!(rest.payment_id.as_deref(), Some(payment.as_str()));
    assert_eq!(s.peer.created("refund"), 2);

    let (code, _, _) = rejected(
        s.provider
            .refund(&refund("pref_conf4", &payment, None))
            .await
            .expect_err("nothing left"),
    );
    let fully = match &s.peer {
        Peer::Stripe(_) => "charge_already_refunded",
        Peer::Paypal(_) => "CAPTURE_FULLY_REFUNDED",
    };
    assert_eq!(code.as_deref(), Some(fully));

    let unknown = s
        .provider
        .refund(&refund("pref_conf5", s.peer.unknown_payment(), Some(100)))
        .await
        .expect_err("unknown payment");
    assert!(
        matches!(
            unknown,
            PaymentError::NotFound(_) | PaymentError::Rejected { .. }
        ),
        "{unknown:?}"
    );
    assert!(!unknown.is_retryable());
    s.refund = Some(part.provider_id);
}

/// 5. A subscription checkout with an inline monthly price; the buyer subscribes; the
///    subscription is active until a period end; cancelled at period end where the
///    provider can, then now.
pub(super) async fn subscribes_and_cancels(s: &mut Suite) {
    let customer = s.customer.clone().expect("step 1");
    let hub = "pchk_conf_sub";
    let mode = CheckoutMode::Subscription;
    let new = monthly(hub, &customer);
    let kind = s.peer.checkout_kind(mode);
    let before = s.peer.created(kind);
    let checkout = s.provider.create_checkout(&new).await.expect("checkout");
    assert_eq!(checkout.status, CheckoutStatus::Open);
    assert!(checkout.url.is_some(), "{checkout:?}");
    assert!(
        checkout
            .provider_id
            .starts_with(s.peer.checkout_prefix(mode)),
        "{checkout:?}"
    );
    let again = s.provider.create_checkout(&new).await.expect("again");
    assert_eq!(again.provider_id, checkout.provider_id);
    assert_eq!(s.peer.created(kind), before + 1);
    let request = s
        .peer
        .keyed(Method::POST, s.peer.checkout_path(mode), &key(hub))
        .remove(0);
    match &s.peer {
        Peer::Stripe(_) => {
            let expected = [
                ("mode", "subscription"),
                ("line_items[0][price_data][recurring][interval]", "month"),
                ("line_items[0][price_data][unit_amount]", "999"),
                ("subscription_data[metadata][switchyard_checkout]", hub),
                (
                    "subscription_data[metadata][switchyard_customer]",
                    HUB_CUSTOMER,
                ),
            ];
            for (k, v) in expected {
                assert_eq!(request.form_value(k), Some(v), "{k} in {:?}", request.form);
            }
        }
        Peer::Paypal(fake) => {
            assert_eq!(fake.created("product"), 1);
            assert_eq!(fake.created("plan"), 1);
            let plan = fake.last_request(Method::POST, "/v1/billing/plans");
            assert_eq!(
                plan.header("paypal-request-id"),
                Some(format!("switchyard-{hub}-plan").as_str())
            );
            let cycle = &plan.json()["billing_cycles"][0];
            assert_eq!(cycle["frequency"]["interval_unit"], "MONTH");
            assert_eq!(
                cycle["pricing_scheme"]["fixed_price"],
                json!({"currency_code": "USD", "value": "9.99"})
            );
            let plans = fake.requests_to(Method::POST, "/v1/billing/plans");
            assert_eq!(plans.len(), 2, "the repeat asked again, with the same key");
            assert_eq!(
                plans[0].header("paypal-request-id"),
                plans[1].header("paypal-request-id")
            );
            let body = request.json();
            let made = fake.object(body["plan_id"].as_str().expect("a plan id"));
            assert_eq!(made["status"], "ACTIVE");
            assert_eq!(
                made["product_id"],
                fake.object(made["product_id"].as_str().expect("product"))["id"]
            );
            assert_eq!(body["custom_id"], hub);
            assert_eq!(body["subscriber"]["email_address"], EMAIL);
            assert_eq!(body["application_context"]["return_url"], SUCCESS_URL);
        }
    }
    let open = s
        .provider
        .retrieve_checkout(&checkout.provider_id, mode, hub)
        .await
        .expect("read");
    assert_eq!(open.status, CheckoutStatus::Open);

    let sub_id = s.peer.subscribe(&checkout.provider_id);
    let done = s
        .provider
        .retrieve_checkout(&checkout.provider_id, mode, hub)
        .await
        .expect("read after subscribing");
    assert_eq!(done.status, CheckoutStatus::Complete, "{done:?}");
    assert_eq!(done.provider_subscription.as_deref(), Some(sub_id.as_str()));
    assert_eq!(done.hub_id.as_deref(), Some(hub));

    let sub = s
        .provider
        .retrieve_subscription(&sub_id)
        .await
        .expect("subscription");
    assert_eq!(sub.status, SubscriptionStatus::Active);
    assert_eq!(sub.hub_checkout.as_deref(), Some(hub));
    let end = sub.current_period_end.expect("a period end");
    assert!(end > now_ms() + 27 * 86_400_000, "{end}");
    assert!(!sub.cancel_at_period_end);
    let active = s.peer.object(&sub_id);

    match &s.peer {
        Peer::Stripe(_) => {
            assert_eq!(sub.provider_customer, customer.provider_id);
            assert_eq!(sub.hub_customer.as_deref(), Some(HUB_CUSTOMER));
            let later = s
                .provider
                .cancel_subscription(&sub_id, true)
                .await
                .expect("cancel at period end");
            assert!(later.cancel_at_period_end);
            assert_eq!(later.status, SubscriptionStatus::Active, "still paid for");
            assert_eq!(later.current_period_end, Some(end));
        }
        Peer::Paypal(_) => {
            let e = s
                .provider
                .cancel_subscription(&sub_id, true)
                .await
                .expect_err("PayPal cancels only now");
            assert!(matches!(e, PaymentError::NotSupported { .. }), "{e:?}");
        }
    }
    let now = s
        .provider
        .cancel_subscription(&sub_id, false)
        .await
        .expect("cancel now");
    assert_eq!(now.status, SubscriptionStatus::Canceled);
    assert!(now.canceled_at.is_some(), "{now:?}");
    let read = s
        .provider
        .retrieve_subscription(&sub_id)
        .await
        .expect("read");
    assert_eq!(read.status, SubscriptionStatus::Canceled);
    s.subscription = Some((sub_id.clone(), active, s.peer.object(&sub_id)));
}
