//! Conformance of the payments mirror: objects stored once per idempotency key (and
//! per external id), provider reports applied so that an older or repeated report
//! never moves a row back, reports applied inside processing with the event's object
//! delivered, and sweeps claimed once.

use std::collections::HashMap;
use std::sync::Arc;

use switchyard_core::event::NewEvent;
use switchyard_core::payment::{
    Checkout, CheckoutMode, CheckoutState, CheckoutStatus, Customer, CustomerState, Keyed,
    ObjectKind, ObjectState, ObjectView, ProviderReport, RefundState, RefundStatus, Report,
    Subscription, SubscriptionState, SubscriptionStatus,
};
use switchyard_core::time::now_ms;
use switchyard_store::payments::{self, Inserted, ObjectFilter};
use switchyard_store::testing::TestDb;
use switchyard_store::{NewJob, Page, ProcessTx, ReceivedEvent, Stage, Store, conformance};

conformance!(
    objects_are_made_once_per_key_and_external_id,
    reports_fill_rows_and_never_move_them_back,
    subscriptions_made_at_the_provider_get_rows_and_stay_canceled,
    refunds_find_their_checkout_by_payment,
    processing_applies_reports_and_delivers_the_object,
    sweeps_are_claimed_once,
);

fn customer(provider: &str, external_id: Option<&str>) -> Customer {
    let now = now_ms();
    Customer {
        id: switchyard_core::new_id("pcus"),
        provider: provider.into(),
        provider_id: None,
        email: Some("ada@example.com".into()),
        name: None,
        external_id: external_id.map(str::to_string),
        metadata: Default::default(),
        state: ObjectState::Creating,
        error: None,
        keyed: Keyed::default(),
        as_of: 0,
        created_at: now,
        updated_at: now,
    }
}

fn checkout(provider: &str, key: Option<&str>) -> Checkout {
    let now = now_ms();
    Checkout {
        id: switchyard_core::new_id("pchk"),
        provider: provider.into(),
        provider_id: None,
        mode: CheckoutMode::Subscription,
        status: CheckoutStatus::Creating,
        customer: None,
        customer_email: None,
        url: None,
        expires_at: None,
        reference: Some("order-7".into()),
        metadata: Default::default(),
        payment_id: None,
        subscription: None,
        amount_total: None,
        currency: None,
        error: None,
        request: "{}".into(),
        keyed: Keyed {
            idempotency_key: key.map(str::to_string),
            request_digest: Some("d".into()),
        },
        as_of: 0,
        created_at: now,
        updated_at: now,
    }
}

fn report(as_of: i64, reports: Vec<Report>) -> ProviderReport {
    ProviderReport { as_of, reports }
}

fn subscription_state(id: &str, status: SubscriptionStatus) -> SubscriptionState {
    SubscriptionState {
        provider_id: id.into(),
        provider_customer: Some("cus_1".into()),
        hub_checkout: None,
        hub_customer: None,
        status,
        current_period_end: Some(1_000),
        cancel_at_period_end: false,
        canceled_at: None,
    }
}

async fn get<T: payments::Mirrored>(store: &Arc<dyn Store>, id: &str) -> T {
    payments::get::<T>(store.as_ref(), id)
        .await
        .unwrap()
        .expect("stored")
}

async fn objects_are_made_once_per_key_and_external_id(db: &TestDb) {
    let store = db.store().await;
    let first = checkout("stripe", Some("k1"));
    assert!(matches!(
        payments::insert(store.as_ref(), &first).await.unwrap(),
        Inserted::New(_)
    ));
    let again = checkout("stripe", Some("k1"));
    let Inserted::Existing(found) = payments::insert(store.as_ref(), &again).await.unwrap() else {
        panic!("the same key makes one checkout");
    };
    assert_eq!(found.id, first.id);
    assert!(matches!(
        payments::insert(store.as_ref(), &checkout("stripe", None))
            .await
            .unwrap(),
        Inserted::New(_)
    ));
    assert!(matches!(
        payments::insert(store.as_ref(), &checkout("stripe", None))
            .await
            .unwrap(),
        Inserted::New(_)
    ));

    let ada = customer("stripe", Some("u_42"));
    payments::insert(store.as_ref(), &ada).await.unwrap();
    let Inserted::Existing(same) =
        payments::insert(store.as_ref(), &customer("stripe", Some("u_42")))
            .await
            .unwrap()
    else {
        panic!("one customer per provider and external id");
    };
    assert_eq!(same.id, ada.id);
    assert!(matches!(
        payments::insert(store.as_ref(), &customer("paypal", Some("u_42")))
            .await
            .unwrap(),
        Inserted::New(_)
    ));

    let mut filter = ObjectFilter::of(ObjectKind::Customer);
    filter.external_id = Some("u_42".into());
    let page = Page {
        limit: 10,
        cursor: None,
    };
    let both: Vec<Customer> = payments::list(store.as_ref(), &filter, &page)
        .await
        .unwrap();
    assert_eq!(both.len(), 2);
    filter.provider = Some("stripe".into());
    let one: Vec<Customer> = payments::list(store.as_ref(), &filter, &page)
        .await
        .unwrap();
    assert_eq!(one, vec![ada.clone()]);
    let checkouts: Vec<Checkout> = payments::list(
        store.as_ref(),
        &ObjectFilter::of(ObjectKind::Checkout),
        &page,
    )
    .await
    .unwrap();
    assert_eq!(checkouts.len(), 3);
    assert!(
        checkouts.windows(2).all(|w| w[0].id > w[1].id),
        "newest first"
    );
}

async fn reports_fill_rows_and_never_move_them_back(db: &TestDb) {
    let store = db.store().await;
    let mine = customer("stripe", Some("u_1"));
    payments::insert(store.as_ref(), &mine).await.unwrap();
    let mut c = checkout("stripe", None);
    c.customer = Some(mine.id.clone());
    payments::insert(store.as_ref(), &c).await.unwrap();

    // The webhook of the paid checkout arrives before the answer to the creation.
    let mut done = CheckoutState::new("cs_1", CheckoutStatus::Complete);
    done.hub_id = Some(c.id.clone());
    done.provider_customer = Some("cus_1".into());
    done.provider_subscription = Some("sub_1".into());
    let applied = store
        .apply_payment_report(
            "stripe",
            &report(2_000, vec![Report::Checkout(done)]),
            now_ms(),
        )
        .await
        .unwrap();
    let view = applied.view.expect("the checkout is the hub's");
    assert_eq!(
        (view.kind.as_str(), view.status.as_deref()),
        ("checkout", Some("complete"))
    );
    assert_eq!(view.external_id.as_deref(), Some("u_1"));

    let mut answer = CheckoutState::new("cs_1", CheckoutStatus::Open);
    answer.hub_id = Some(c.id.clone());
    answer.url = Some("https://pay.example/cs_1".into());
    store
        .apply_payment_report(
            "stripe",
            &report(3_000, vec![Report::Checkout(answer)]),
            now_ms(),
        )
        .await
        .unwrap();
    let now: Checkout = get(&store, &c.id).await;
    assert_eq!(
        now.status,
        CheckoutStatus::Complete,
        "a paid checkout stays paid"
    );
    assert_eq!(now.url.as_deref(), Some("https://pay.example/cs_1"));
    assert_eq!(now.provider_id.as_deref(), Some("cs_1"));
    let sub_id = now
        .subscription
        .clone()
        .expect("linked to its subscription");
    let customer: Customer = get(&store, &mine.id).await;
    assert_eq!(
        customer.provider_id.as_deref(),
        Some("cus_1"),
        "the hub's customer got its id"
    );

    // Subscription reports, out of order and repeated.
    let updated = subscription_state("sub_1", SubscriptionStatus::Active);
    let created = subscription_state("sub_1", SubscriptionStatus::Incomplete);
    for (as_of, s) in [(5_000, updated.clone()), (5_000, created), (4_000, updated)] {
        store
            .apply_payment_report(
                "stripe",
                &report(as_of, vec![Report::Subscription(s)]),
                now_ms(),
            )
            .await
            .unwrap();
    }
    let sub: Subscription = get(&store, &sub_id).await;
    assert_eq!(
        sub.status,
        SubscriptionStatus::Active,
        "the same-second pair settles on active"
    );
    assert_eq!(sub.customer.as_deref(), Some(mine.id.as_str()));
    assert_eq!(sub.checkout.as_deref(), Some(c.id.as_str()));

    let page = Page {
        limit: 10,
        cursor: None,
    };
    let mut filter = ObjectFilter::of(ObjectKind::Subscription);
    filter.customer = Some(mine.id.clone());
    filter.status = Some("active".into());
    let subs: Vec<Subscription> = payments::list(store.as_ref(), &filter, &page)
        .await
        .unwrap();
    assert_eq!(subs.len(), 1);

    // Customer reports: older ones change nothing, newer ones update.
    let named = |name: &str| CustomerState {
        provider_id: Some("cus_1".into()),
        email: Some("ada@new.example".into()),
        name: Some(name.into()),
        hub_id: None,
        deleted: false,
    };
    store
        .apply_payment_report(
            "stripe",
            &report(9_000, vec![Report::Customer(named("New"))]),
            now_ms(),
        )
        .await
        .unwrap();
    let applied = store
        .apply_payment_report(
            "stripe",
            &report(8_000, vec![Report::Customer(named("Old"))]),
            now_ms(),
        )
        .await
        .unwrap();
    let c: Customer = get(&store, &mine.id).await;
    assert_eq!(c.name.as_deref(), Some("New"));
    assert_eq!(c.state, ObjectState::Ready);
    assert_eq!(applied.view.unwrap().subscribed, Some(true));
}

async fn subscriptions_made_at_the_provider_get_rows_and_stay_canceled(db: &TestDb) {
    let store = db.store().await;
    let canceled = subscription_state("sub_9", SubscriptionStatus::Canceled);
    let applied = store
        .apply_payment_report(
            "stripe",
            &report(7_000, vec![Report::Subscription(canceled)]),
            now_ms(),
        )
        .await
        .unwrap();
    let view = applied.view.expect("a row was made");
    let sub: Subscription = get(&store, &view.id).await;
    assert_eq!(sub.status, SubscriptionStatus::Canceled);
    let owner: Customer = get(&store, sub.customer.as_deref().expect("a customer row too")).await;
    assert_eq!(owner.provider_id.as_deref(), Some("cus_1"));
    // A later-arriving update, even one written later, never revives it.
    for as_of in [6_000, 7_000, 8_000] {
        let late = subscription_state("sub_9", SubscriptionStatus::Active);
        store
            .apply_payment_report(
                "stripe",
                &report(as_of, vec![Report::Subscription(late)]),
                now_ms(),
            )
            .await
            .unwrap();
    }
    let sub: Subscription = get(&store, &view.id).await;
    assert_eq!(sub.status, SubscriptionStatus::Canceled);
    // The same provider id at another provider is another subscription.
    let other = store
        .apply_payment_report(
            "stripe-eu",
            &report(
                1,
                vec![Report::Subscription(subscription_state(
                    "sub_9",
                    SubscriptionStatus::Active,
                ))],
            ),
            now_ms(),
        )
        .await
        .unwrap();
    assert_ne!(other.view.unwrap().id, view.id);
}

async fn refunds_find_their_checkout_by_payment(db: &TestDb) {
    let store = db.store().await;
    let mut c = checkout("stripe", None);
    c.mode = CheckoutMode::Payment;
    payments::insert(store.as_ref(), &c).await.unwrap();
    let mut paid = CheckoutState::new("cs_2", CheckoutStatus::Complete);
    paid.hub_id = Some(c.id.clone());
    paid.payment_id = Some("pi_2".into());
    store
        .apply_payment_report(
            "stripe",
            &report(1_000, vec![Report::Checkout(paid)]),
            now_ms(),
        )
        .await
        .unwrap();
    let refund = |status| RefundState {
        provider_id: "re_2".into(),
        hub_id: None,
        payment_id: Some("pi_2".into()),
        amount: Some(500),
        currency: Some("usd".into()),
        status,
    };
    let applied = store
        .apply_payment_report(
            "stripe",
            &report(2_000, vec![Report::Refund(refund(RefundStatus::Succeeded))]),
            now_ms(),
        )
        .await
        .unwrap();
    let view = applied.view.unwrap();
    assert_eq!(view.checkout.as_deref(), Some(c.id.as_str()));
    assert_eq!(
        (view.amount, view.status.as_deref()),
        (Some(500), Some("succeeded"))
    );
    // The same report again changes nothing, not even `updated_at`.
    let before: switchyard_core::payment::Refund = get(&store, &view.id).await;
    let again = store
        .apply_payment_report(
            "stripe",
            &report(2_000, vec![Report::Refund(refund(RefundStatus::Succeeded))]),
            now_ms() + 5_000,
        )
        .await
        .unwrap();
    assert_eq!(again.changed, 0);
    assert_eq!(
        get::<switchyard_core::payment::Refund>(&store, &view.id).await,
        before
    );
    // A repeat of an older pending report changes nothing.
    store
        .apply_payment_report(
            "stripe",
            &report(1_500, vec![Report::Refund(refund(RefundStatus::Pending))]),
            now_ms(),
        )
        .await
        .unwrap();
    let r: switchyard_core::payment::Refund = get(&store, &view.id).await;
    assert_eq!(r.status, RefundStatus::Succeeded);
    assert_eq!(r.payment, "pi_2");
}

/// Applies to each event the report the test set for it, as the payments stage does.
#[derive(Debug)]
struct Mirroring(HashMap<String, ProviderReport>);

#[async_trait::async_trait]
impl Stage for Mirroring {
    fn name(&self) -> &'static str {
        "mirror"
    }

    async fn run(
        &self,
        tx: &mut dyn ProcessTx,
        events: &[ReceivedEvent],
        at: i64,
    ) -> switchyard_store::Result<()> {
        let payloads = tx
            .payloads(&events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>())
            .await?;
        let mut objects = Vec::new();
        for e in events {
            let key = String::from_utf8(payloads[&e.id].clone()).unwrap();
            let Some(report) = self.0.get(&key) else {
                continue;
            };
            let applied = tx.apply_payment_report("paypal", report, at).await?;
            if let Some(view) = applied.view {
                objects.push((e.id.as_str(), view));
            }
            for capture in applied.captures {
                tx.enqueue(&NewJob::now("test.capture", capture)).await?;
            }
        }
        let objects: Vec<(&str, &ObjectView)> = objects.iter().map(|(id, v)| (*id, v)).collect();
        tx.set_event_objects(&objects).await?;
        tx.fan_out(events, at).await?;
        Ok(())
    }
}

async fn processing_applies_reports_and_delivers_the_object(db: &TestDb) {
    let store = db.store().await;
    let mut c = checkout("paypal", None);
    c.mode = CheckoutMode::Payment;
    payments::insert(store.as_ref(), &c).await.unwrap();
    let mut endpoint = switchyard_core::delivery::Endpoint::new(
        switchyard_core::new_id("ep"),
        "https://example.com/hook".into(),
        1,
    );
    endpoint.event_types = vec!["payment.*".into()];
    store.insert_endpoint(&endpoint).await.unwrap();
    let mut approved = CheckoutState::new("O-1", CheckoutStatus::Pending);
    approved.hub_id = Some(c.id.clone());
    approved.needs_capture = true;
    let mut reports = HashMap::new();
    reports.insert(
        "approved".to_string(),
        report(1_000, vec![Report::Checkout(approved)]),
    );
    let mut event = NewEvent::published(
        "payment.checkout.approved",
        &serde_json::json!({}),
        None,
        now_ms(),
    );
    event.payload = b"approved".to_vec();
    store.insert_events(&[event.clone()]).await.unwrap();
    let stages: Vec<Arc<dyn Stage>> = vec![Arc::new(Mirroring(reports))];
    assert_eq!(
        store.process_received(10, now_ms(), &stages).await.unwrap(),
        1
    );

    let now: Checkout = get(&store, &c.id).await;
    assert_eq!(now.status, CheckoutStatus::Pending);
    let jobs = store
        .claim(10, std::time::Duration::from_secs(30), now_ms())
        .await
        .unwrap();
    let capture: Vec<_> = jobs.iter().filter(|j| j.kind == "test.capture").collect();
    assert_eq!(capture.len(), 1, "{jobs:?}");
    assert_eq!(capture[0].payload, c.id);
    let claimed = store
        .claim_deliveries(10, now_ms(), now_ms() + 30_000)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let object: serde_json::Value = serde_json::from_str(
        claimed[0]
            .object
            .as_deref()
            .expect("the object is delivered"),
    )
    .unwrap();
    assert_eq!(object["kind"], "checkout");
    assert_eq!(object["id"], c.id.as_str());
    assert_eq!(object["status"], "pending");
    assert_eq!(object["reference"], "order-7");
}

async fn sweeps_are_claimed_once(db: &TestDb) {
    let store = db.store().await;
    let now = now_ms();
    let mut due = Vec::new();
    for i in 0..20 {
        let c = checkout("stripe", None);
        let at = if i < 12 { now - 1_000 } else { now + 60_000 };
        payments::insert_swept(store.as_ref(), &c, Some(at))
            .await
            .unwrap();
        if i < 12 {
            due.push(c.id);
        }
    }
    let (a, b) = tokio::join!(
        store.claim_payment_sweeps(now, now + 30_000, 8),
        store.claim_payment_sweeps(now, now + 30_000, 8)
    );
    let mut taken: Vec<String> = a
        .unwrap()
        .into_iter()
        .chain(b.unwrap())
        .map(|r| r.id)
        .collect();
    let before = taken.len();
    taken.sort();
    taken.dedup();
    assert_eq!(before, taken.len(), "no object is claimed twice");
    due.sort();
    assert_eq!(taken, due, "every due object, and only those");
    assert!(
        store
            .claim_payment_sweeps(now, now + 30_000, 8)
            .await
            .unwrap()
            .is_empty()
    );
    let later = store
        .claim_payment_sweeps(now + 31_000, now + 60_000, 50)
        .await
        .unwrap();
    assert_eq!(later.len(), 12, "a lease that ran out is claimable again");
    // Unscheduled objects are never claimed; updates leave the schedule alone.
    for row in &later {
        store
            .schedule_payment_sweep(ObjectKind::Checkout, &row.id, None)
            .await
            .unwrap();
    }
    let one: Checkout = get(&store, &later[0].id).await;
    payments::update(store.as_ref(), &one).await.unwrap();
    assert!(
        store
            .claim_payment_sweeps(now + 600_000, now + 700_000, 50)
            .await
            .unwrap()
            .len()
            == 8
    );
}
