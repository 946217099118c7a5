//! Conformance of sources, events, processing and deliveries.

use std::time::Duration;

use switchyard_core::event::{EventFilter, EventState, NewEvent, Stored};
use switchyard_core::source::{Source, SourceKind, SourceSettings};
use switchyard_core::time::now_ms;
use switchyard_store::testing::TestDb;
use switchyard_store::{Page, StoreError, conformance};

conformance!(
    sources_roundtrip,
    events_are_stored_once_per_identity,
    racing_nodes_store_one_event,
    events_filter_paginate_and_requeue,
    storing_events_wakes_processors,
    concurrent_processors_take_each_event_once,
    processing_fans_out_and_deliveries_are_claimed_once,
    only_claimable_deliveries_are_due,
);

fn source(name: &str) -> Source {
    let now = now_ms();
    Source {
        id: switchyard_core::new_id("src"),
        name: name.into(),
        kind: SourceKind::Stripe,
        settings: SourceSettings::default(),
        enabled: true,
        previous_until: None,
        created_at: now,
        updated_at: now,
    }
}

fn event(source_id: &str, key: &str, kind: &str) -> NewEvent {
    NewEvent {
        id: switchyard_core::new_id("evt"),
        source_id: Some(source_id.into()),
        source_kind: Some(SourceKind::Stripe),
        dedupe_key: Some(key.into()),
        provider_type: Some(kind.into()),
        event_type: kind.into(),
        payload: format!("{{\"id\":\"{key}\"}}").into_bytes(),
        headers: "{}".into(),
        received_at: now_ms(),
    }
}

async fn sources_roundtrip(db: &TestDb) {
    let store = db.store().await;
    let a = source("a");
    store.insert_source(&a).await.unwrap();
    assert!(matches!(
        store.insert_source(&a).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_source(&a.id).await.unwrap(), Some(a.clone()));
    let b = source("b");
    store.insert_source(&b).await.unwrap();
    let listed = store
        .list_sources(&Page {
            limit: 10,
            cursor: None,
        })
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["b", "a"]
    );
    let changed = Source {
        name: "renamed".into(),
        enabled: false,
        previous_until: Some(5),
        updated_at: 9,
        ..a.clone()
    };
    assert!(store.update_source(&changed).await.unwrap());
    assert_eq!(store.get_source(&a.id).await.unwrap(), Some(changed));
    assert!(store.delete_source(&a.id).await.unwrap());
    assert!(!store.delete_source(&a.id).await.unwrap());
    assert!(store.get_source(&a.id).await.unwrap().is_none());
    assert!(!store.update_source(&a).await.unwrap());
}

async fn events_are_stored_once_per_identity(db: &TestDb) {
    let store = db.store().await;
    let batch = [
        event("src_a", "evt_1", "charge.succeeded"),
        event("src_a", "evt_1", "charge.succeeded"),
        event("src_b", "evt_1", "x"),
    ];
    let stored = store.insert_events(&batch).await.unwrap();
    assert_eq!(stored[0], Stored::Inserted(batch[0].id.clone()));
    assert_eq!(
        stored[1],
        Stored::Duplicate(batch[0].id.clone()),
        "same source and key within one batch"
    );
    assert_eq!(
        stored[2],
        Stored::Inserted(batch[2].id.clone()),
        "keys are unique per source only"
    );
    let again = store
        .insert_events(&[event("src_a", "evt_1", "charge.succeeded")])
        .await
        .unwrap();
    assert_eq!(again, [Stored::Duplicate(batch[0].id.clone())]);

    let got = store.get_event(&batch[0].id).await.unwrap().unwrap();
    assert_eq!(got.payload, batch[0].payload);
    assert_eq!(got.state, EventState::Received);
    assert_eq!(got.provider_type.as_deref(), Some("charge.succeeded"));

    // Received events are the processing queue: the two new ones, no job rows.
    assert!(store.queue_depth().await.unwrap().is_empty());
    assert_eq!(
        store
            .process_received(10, 42, &switchyard_store::testing::stages())
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .process_received(10, 43, &switchyard_store::testing::stages())
            .await
            .unwrap(),
        0
    );
    let got = store.get_event(&batch[2].id).await.unwrap().unwrap();
    assert_eq!(
        (got.state.as_str(), got.processed_at),
        ("processed", Some(42))
    );
}

/// Storing events wakes the processors at once.
async fn storing_events_wakes_processors(db: &TestDb) {
    let store = db.store().await;
    let notify = store.work_notifier(switchyard_store::Work::Events);
    let woken = notify.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    store
        .insert_events(&[event("src_w", "evt_w", "t")])
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), woken)
        .await
        .expect("a stored event wakes the processors");
}

/// Processors running at once (as on several nodes) share the received events: every
/// event is processed exactly once.
async fn concurrent_processors_take_each_event_once(db: &TestDb) {
    let store = db.store().await;
    let total = 2000u64;
    let events: Vec<NewEvent> = (0..total)
        .map(|i| event("src_c", &format!("evt_c{i}"), "t"))
        .collect();
    for chunk in events.chunks(500) {
        store.insert_events(chunk).await.unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = db.store().await;
        tasks.push(tokio::spawn(async move {
            let mut mine = 0;
            loop {
                let n = store
                    .process_received(25, now_ms(), &switchyard_store::testing::stages())
                    .await
                    .unwrap();
                if n == 0 {
                    return mine;
                }
                mine += n;
            }
        }));
    }
    let mut counts = Vec::new();
    for t in tasks {
        counts.push(t.await.unwrap());
    }
    assert_eq!(
        counts.iter().sum::<u64>(),
        total,
        "per processor: {counts:?}"
    );
    let listed = store
        .list_events(
            &EventFilter::default(),
            &Page {
                limit: 1000,
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert!(listed.iter().all(|e| e.state == EventState::Processed));
}

async fn racing_nodes_store_one_event(db: &TestDb) {
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let store = db.store().await;
        tasks.push(tokio::spawn(async move {
            store
                .insert_events(&[event("src_r", "evt_race", "t")])
                .await
                .unwrap()
                .remove(0)
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    let inserted: Vec<_> = outcomes
        .iter()
        .filter(|o| matches!(o, Stored::Inserted(_)))
        .collect();
    assert_eq!(inserted.len(), 1, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|o| o.id() == inserted[0].id()),
        "duplicates name the stored event"
    );
    let store = db.store().await;
    let all = store
        .list_events(
            &EventFilter::default(),
            &Page {
                limit: 10,
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        store
            .process_received(10, now_ms(), &switchyard_store::testing::stages())
            .await
            .unwrap(),
        1,
        "processed once"
    );
}

async fn events_filter_paginate_and_requeue(db: &TestDb) {
    let store = db.store().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let kind = if i % 2 == 0 { "even" } else { "odd" };
        let e = event(
            if i < 3 { "src_x" } else { "src_y" },
            &format!("k{i}"),
            kind,
        );
        ids.push(e.id.clone());
        store.insert_events(&[e]).await.unwrap();
    }
    let page = |limit, cursor: Option<String>| Page { limit, cursor };
    let all = store
        .list_events(&EventFilter::default(), &page(3, None))
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        [ids[4].clone(), ids[3].clone(), ids[2].clone()]
    );
    let rest = store
        .list_events(&EventFilter::default(), &page(3, Some(ids[2].clone())))
        .await
        .unwrap();
    assert_eq!(rest.len(), 2);
    let by_source = EventFilter {
        source_id: Some("src_x".into()),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_events(&by_source, &page(10, None))
            .await
            .unwrap()
            .len(),
        3
    );
    let by_type = EventFilter {
        event_type: Some("odd".into()),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_events(&by_type, &page(10, None))
            .await
            .unwrap()
            .len(),
        2
    );
    let future = EventFilter {
        since: Some(now_ms() + 60_000),
        ..Default::default()
    };
    assert!(
        store
            .list_events(&future, &page(10, None))
            .await
            .unwrap()
            .is_empty()
    );
    let past = EventFilter {
        until: Some(now_ms() + 60_000),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_events(&past, &page(10, None))
            .await
            .unwrap()
            .len(),
        5
    );

    assert_eq!(
        store
            .process_received(10, 77, &switchyard_store::testing::stages())
            .await
            .unwrap(),
        5
    );
    let e = store.get_event(&ids[0]).await.unwrap().unwrap();
    assert_eq!((e.state.as_str(), e.processed_at), ("processed", Some(77)));
    assert!(store.requeue_event(&ids[0]).await.unwrap());
    assert!(!store.requeue_event("evt_missing").await.unwrap());
    assert_eq!(
        store.get_event(&ids[0]).await.unwrap().unwrap().state,
        EventState::Received
    );
}

fn endpoint(types: &[&str], ordered: bool) -> switchyard_core::delivery::Endpoint {
    let mut e = switchyard_core::delivery::Endpoint::new(
        switchyard_core::new_id("ep"),
        "https://example.com/hook".into(),
        1,
    );
    e.event_types = types.iter().map(|t| t.to_string()).collect();
    e.ordered = ordered;
    e
}

/// Processing creates one delivery per subscribed endpoint in its transaction; claimers
/// running at once (as on several nodes) never take the same delivery, and an ordered
/// endpoint only ever offers its oldest pending delivery.
async fn processing_fans_out_and_deliveries_are_claimed_once(db: &TestDb) {
    use switchyard_core::delivery::{Attempt, Next, Outcome};
    let store = db.store().await;
    let all = endpoint(&[], false);
    let payments = endpoint(&["payment.*"], false);
    let ordered = endpoint(&["seq"], true);
    for e in [&all, &payments, &ordered] {
        store.insert_endpoint(e).await.unwrap();
    }
    assert_eq!(
        store.get_endpoint(&payments.id).await.unwrap().as_ref(),
        Some(&payments)
    );
    let total = 300;
    let events: Vec<NewEvent> = (0..total)
        .map(|i| {
            event(
                "src_f",
                &format!("f{i}"),
                if i % 3 == 0 {
                    "payment.invoice.paid"
                } else {
                    "other"
                },
            )
        })
        .collect();
    store.insert_events(&events).await.unwrap();
    store
        .insert_events(&[event("src_f", "s1", "seq"), event("src_f", "s2", "seq")])
        .await
        .unwrap();
    while store
        .process_received(64, now_ms(), &switchyard_store::testing::stages())
        .await
        .unwrap()
        > 0
    {}
    let now = now_ms();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = db.store().await;
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = store.claim_deliveries(20, now, now + 60_000).await.unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed);
            }
        }));
    }
    let mut claimed = Vec::new();
    for t in tasks {
        claimed.extend(t.await.unwrap());
    }
    let mut ids: Vec<&str> = claimed.iter().map(|c| c.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), claimed.len(), "a delivery was claimed twice");
    let count = |ep: &str| claimed.iter().filter(|c| c.endpoint_id == ep).count();
    assert_eq!(count(&all.id), total + 2);
    assert_eq!(count(&payments.id), total / 3);
    assert_eq!(
        count(&ordered.id),
        1,
        "an ordered endpoint offers one delivery at a time"
    );
    let first = claimed
        .iter()
        .find(|c| c.endpoint_id == ordered.id)
        .unwrap()
        .clone();
    assert_eq!(first.attempt, 1);
    assert_eq!(first.event_type, "seq");

    // Its success lets the next one through; a stale outcome (wrong attempt) is ignored.
    let outcome = |attempt: i64, next: Next| Outcome {
        attempt: Attempt {
            delivery_id: first.id.clone(),
            attempt,
            started_at: now,
            duration_ms: 3,
            status_code: Some(200),
            response_body: Some("ok".into()),
            error_kind: None,
        },
        endpoint_id: ordered.id.clone(),
        next,
    };
    assert_eq!(
        store
            .record_outcomes(&[outcome(7, Next::Succeeded)], now)
            .await
            .unwrap(),
        [false]
    );
    assert_eq!(
        store
            .record_outcomes(&[outcome(1, Next::Succeeded)], now)
            .await
            .unwrap(),
        [true]
    );
    let next = store.claim_deliveries(10, now, now + 60_000).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].endpoint_id, ordered.id);
    assert_ne!(next[0].event_id, first.event_id);
    let done = store.get_delivery(&first.id).await.unwrap().unwrap();
    assert_eq!((done.state.as_str(), done.attempts), ("succeeded", 1));
    assert_eq!(store.list_attempts(&first.id).await.unwrap().len(), 1);

    // Rate tokens are shared: a slot's quota is handed out once across stores.
    let other = db.store().await;
    assert!(store.take_rate_token(&all.id, 5, 2).await.unwrap());
    assert!(other.take_rate_token(&all.id, 5, 2).await.unwrap());
    assert!(!store.take_rate_token(&all.id, 5, 2).await.unwrap());
    assert!(other.take_rate_token(&all.id, 6, 2).await.unwrap());
}

/// The due time a delivery worker sleeps until ignores what it could not claim: the
/// deliveries of a disabled endpoint and those behind an ordered endpoint's head.
async fn only_claimable_deliveries_are_due(db: &TestDb) {
    let store = db.store().await;
    let ordered = endpoint(&[], true);
    let mut off = endpoint(&[], false);
    for e in [&ordered, &off] {
        store.insert_endpoint(e).await.unwrap();
    }
    assert_eq!(store.next_delivery_due().await.unwrap(), None);
    store
        .insert_events(&[event("src_d", "d1", "a"), event("src_d", "d2", "a")])
        .await
        .unwrap();
    while store
        .process_received(64, now_ms(), &switchyard_store::testing::stages())
        .await
        .unwrap()
        > 0
    {}
    let now = now_ms();
    let due = store.next_delivery_due().await.unwrap().unwrap();
    assert!(due <= now, "fresh deliveries are due now");

    // The disabled endpoint's deliveries are not due, and while the ordered endpoint's
    // head is leased its second one is not either: the lease end is the next due time.
    off.enabled = false;
    off.disabled_reason = Some("manual".into());
    assert!(store.update_endpoint(&off).await.unwrap());
    let claimed = store.claim_deliveries(10, now, now + 60_000).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].endpoint_id, ordered.id);
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(now + 60_000));

    off.enabled = true;
    off.disabled_reason = None;
    assert!(store.update_endpoint(&off).await.unwrap());
    assert!(store.next_delivery_due().await.unwrap().unwrap() <= now);
}
