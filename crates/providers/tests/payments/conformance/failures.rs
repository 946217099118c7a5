//! Steps 6a–6e: the provider's refusals, 5xx, 429 and timeouts mapped to what the caller
//! does next, with retries that never make a second object.

use std::time::{Duration, Instant};

use switchyard_core::payment::{CheckoutMode, CheckoutStatus};
use switchyard_providers::payments::{LineItem, NewCheckout, PaymentError};
use switchyard_providers::testing::Method;

use super::Suite;
use crate::peers::{Peer, build, with_retries};
use crate::{key, one_time, rejected};

/// 6a. A request the provider refuses is `Rejected` with its code, message and
///     parameter, and is not retried.
pub(super) async fn refusals_are_rejected_with_the_providers_values(s: &Suite) {
    let customer = s.customer.clone().expect("step 1");
    let hub = "pchk_conf_bad";
    let mode = CheckoutMode::Payment;
    let kind = s.peer.checkout_kind(mode);
    let before = s.peer.created(kind);
    let (new, expected) = match &s.peer {
        Peer::Stripe(_) => (
            NewCheckout {
                success_url: None,
                ..one_time(hub, &customer)
            },
            (
                Some("parameter_missing".to_string()),
                "Missing required param: success_url.".to_string(),
                Some("success_url".to_string()),
            ),
        ),
        Peer::Paypal(_) => (
            NewCheckout {
                line_items: vec![LineItem::Inline {
                    name: "Course".into(),
                    amount: 1000,
                    currency: "xyz".into(),
                    quantity: 1,
                    interval: None,
                }],
                ..one_time(hub, &customer)
            },
            (
                Some("CURRENCY_NOT_SUPPORTED".to_string()),
                "Currency code is not currently supported. Please refer https://developer.paypal.com/api/rest/reference/currency-codes/ for list of supported currency codes.".to_string(),
                Some(format!(
                    "/purchase_units/@reference_id=='{hub}'/amount/currency_code"
                )),
            ),
        ),
    };
    let e = s.provider.create_checkout(&new).await.expect_err("refused");
    assert!(!e.is_retryable());
    assert_eq!(rejected(e), expected);
    assert_eq!(s.peer.created(kind), before);
    let path = s.peer.checkout_path(mode);
    assert_eq!(s.peer.keyed(Method::POST, path, &key(hub)).len(), 1);
}

/// 6b. A 500 is retried with the same key, and the object is made once.
pub(super) async fn a_5xx_is_retried_with_the_same_key(s: &Suite) {
    let customer = s.customer.clone().expect("step 1");
    let hub = "pchk_conf_500";
    let mode = CheckoutMode::Payment;
    let path = s.peer.checkout_path(mode);
    let kind = s.peer.checkout_kind(mode);
    let before = s.peer.created(kind);
    s.peer.fail_next(Method::POST, path, s.peer.failure(500));
    let checkout = s
        .provider
        .create_checkout(&one_time(hub, &customer))
        .await
        .expect("succeeds on the retry");
    assert_eq!(checkout.status, CheckoutStatus::Open);
    assert_eq!(s.peer.scripted_left(), 0);
    assert_eq!(s.peer.keyed(Method::POST, path, &key(hub)).len(), 2);
    assert_eq!(s.peer.created(kind), before + 1);
}

/// 6c. 503s beyond the retries: `Unavailable`, nothing made; asking later makes it.
pub(super) async fn persistent_5xx_is_unavailable(s: &Suite) {
    let customer = s.customer.clone().expect("step 1");
    let hub = "pchk_conf_503";
    let mode = CheckoutMode::Payment;
    let path = s.peer.checkout_path(mode);
    let kind = s.peer.checkout_kind(mode);
    let before = s.peer.created(kind);
    for _ in 0..3 {
        s.peer.fail_next(Method::POST, path, s.peer.failure(503));
    }
    let e = s
        .provider
        .create_checkout(&one_time(hub, &customer))
        .await
        .expect_err("down");
    assert!(
        matches!(&e, PaymentError::Unavailable { detail, .. } if detail.contains("503")),
        "{e:?}"
    );
    assert!(e.is_retryable());
    assert_eq!(s.peer.scripted_left(), 0, "the call and its two retries");
    assert_eq!(s.peer.keyed(Method::POST, path, &key(hub)).len(), 3);
    assert_eq!(s.peer.created(kind), before);
    s.provider
        .create_checkout(&one_time(hub, &customer))
        .await
        .expect("up again");
    assert_eq!(s.peer.created(kind), before + 1);
}

/// 6d. 429 goes back to the caller with its `Retry-After`, after one request.
pub(super) async fn rate_limits_are_not_retried(s: &Suite) {
    let customer = s.customer.clone().expect("step 1");
    let hub = "pchk_conf_429";
    let mode = CheckoutMode::Payment;
    let path = s.peer.checkout_path(mode);
    s.peer.fail_next(
        Method::POST,
        path,
        s.peer.failure(429).insert_header("Retry-After", "7"),
    );
    let e = s
        .provider
        .create_checkout(&one_time(hub, &customer))
        .await
        .expect_err("rate limited");
    assert_eq!(
        e,
        PaymentError::RateLimited {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert_eq!(s.peer.keyed(Method::POST, path, &key(hub)).len(), 1);
}

/// 6e. An answer slower than the timeout is `Unavailable`; the provider did make the
///     object, and asking again with the same hub id gets it rather than a second one.
pub(super) async fn a_timeout_is_unavailable_and_the_retry_makes_nothing_new(s: &Suite) {
    let customer = s.customer.clone().expect("step 1");
    let hub = "pchk_conf_slow";
    let mode = CheckoutMode::Payment;
    let kind = s.peer.checkout_kind(mode);
    let before = s.peer.created(kind);
    let impatient = build(&with_retries(s.peer.config(), 0));
    // Holds a token before the provider turns slow (PayPal).
    let paid = s.paid.clone().expect("step 3");
    impatient
        .retrieve_checkout(&paid.provider_id, CheckoutMode::Payment, "pchk_conf_pay")
        .await
        .expect("warm up");
    s.peer.delay(Duration::from_secs(3));
    let started = Instant::now();
    let e = impatient
        .create_checkout(&one_time(hub, &customer))
        .await
        .expect_err("too slow");
    let took = started.elapsed();
    s.peer.delay(Duration::ZERO);
    assert!(
        matches!(&e, PaymentError::Unavailable { detail, .. } if detail.contains("timed out")),
        "{e:?}"
    );
    assert!(took < Duration::from_millis(2900), "{took:?}");
    assert_eq!(
        s.peer.created(kind),
        before + 1,
        "carried out, answered late"
    );
    let later = s
        .provider
        .create_checkout(&one_time(hub, &customer))
        .await
        .expect("asked again");
    assert_eq!(later.status, CheckoutStatus::Open);
    assert_eq!(s.peer.created(kind), before + 1, "still one");
}
