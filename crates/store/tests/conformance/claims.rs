//! Conformance of the claims that follow recorded outcomes in the same transaction.

use std::collections::HashSet;

use switchyard_core::delivery::{Endpoint, Outcome};
use switchyard_core::event::NewEvent;
use switchyard_core::message::{Channel, SendOutcome, SendResult, Status};
use switchyard_core::time::now_ms;
use switchyard_store::testing::{TestDb, message, stages, succeeded};
use switchyard_store::{Claim, Store, conformance};

conformance!(
    outcomes_claim_the_deliveries_they_free_slots_for,
    recorders_racing_on_nodes_claim_each_delivery_once,
    sends_claim_the_messages_they_free_slots_for,
);

fn endpoint(ordered: bool) -> Endpoint {
    let mut e = Endpoint::new(
        switchyard_core::new_id("ep"),
        "https://example.com/hook".into(),
        1,
    );
    e.ordered = ordered;
    e
}

/// `n` events, processed: one delivery each per endpoint.
async fn deliveries(store: &dyn Store, prefix: &str, n: usize) {
    let events: Vec<NewEvent> = (0..n)
        .map(|i| {
            NewEvent::published(
                "order.paid",
                &serde_json::json!({"order": format!("{prefix}{i}")}),
                Some(format!("{prefix}{i}")),
                now_ms(),
            )
        })
        .collect();
    store.insert_events(&events).await.unwrap();
    while store
        .process_received(64, now_ms(), &stages())
        .await
        .unwrap()
        > 0
    {}
}

/// Recording outcomes claims, in the same transaction, up to the limit asked for: with
/// their events, leased and counted like any claim, the next delivery of an ordered
/// endpoint included as soon as its head succeeded. No claim is made when none is
/// asked for.
async fn outcomes_claim_the_deliveries_they_free_slots_for(db: &TestDb) {
    let store = db.store().await;
    let ordered = endpoint(true);
    store.insert_endpoint(&ordered).await.unwrap();
    deliveries(&*store, "o", 3).await;
    let now = now_ms();
    let head = store.claim_deliveries(10, now, now + 60_000).await.unwrap();
    assert_eq!(head.len(), 1, "an ordered endpoint offers its head only");

    let (recorded, claimed) = store
        .record_outcomes_and_claim(&[succeeded(&head[0])], now, Claim::NONE)
        .await
        .unwrap();
    assert_eq!((recorded, claimed.len()), (vec![true], 0));
    // The head's success was recorded without a claim: the second is due now.
    let second = store.claim_deliveries(10, now, now + 60_000).await.unwrap();
    assert_eq!(second.len(), 1);

    let next = Claim {
        limit: 10,
        lease_until: now + 60_000,
    };
    let (recorded, third) = store
        .record_outcomes_and_claim(&[succeeded(&second[0])], now, next)
        .await
        .unwrap();
    assert_eq!(recorded, [true]);
    assert_eq!(third.len(), 1, "the ordered endpoint's next delivery, only");
    assert_ne!(third[0].id, second[0].id);
    assert_eq!(
        (third[0].attempt, third[0].event_type.as_str()),
        (1, "order.paid")
    );
    let payload: serde_json::Value = serde_json::from_slice(&third[0].payload).unwrap();
    assert_eq!(payload["order"], "o2");
    // Leased: not claimable again, and due when its lease ends.
    assert!(
        store
            .claim_deliveries(10, now, now + 60_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(now + 60_000));
    let d = store.get_delivery(&third[0].id).await.unwrap().unwrap();
    assert_eq!((d.attempts, d.next_attempt_at), (1, Some(now + 60_000)));

    // The limit holds, and a stale outcome still frees its slot.
    let other = endpoint(false);
    store.insert_endpoint(&other).await.unwrap();
    deliveries(&*store, "u", 5).await;
    let mut stale = succeeded(&third[0]);
    stale.attempt.attempt = 9;
    let next = Claim {
        limit: 2,
        lease_until: now + 60_000,
    };
    let (recorded, claimed) = store
        .record_outcomes_and_claim(&[stale], now_ms(), next)
        .await
        .unwrap();
    assert_eq!(recorded, [false]);
    assert_eq!(claimed.len(), 2);
    assert!(claimed.iter().all(|c| c.endpoint_id == other.id));
    assert!(claimed.windows(2).all(|w| w[0].id < w[1].id));
}

/// Nodes recording outcomes and claiming in the same transactions, at once, never take
/// the same delivery, and between them take every one.
async fn recorders_racing_on_nodes_claim_each_delivery_once(db: &TestDb) {
    let store = db.store().await;
    store.insert_endpoint(&endpoint(false)).await.unwrap();
    let total = 240;
    deliveries(&*store, "r", total).await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let node = db.store().await;
        tasks.push(tokio::spawn(async move {
            let now = now_ms();
            let next = Claim {
                limit: 7,
                lease_until: now + 60_000,
            };
            let mut mine: Vec<String> = Vec::new();
            let mut held = node.claim_deliveries(5, now, now + 60_000).await.unwrap();
            while !held.is_empty() {
                mine.extend(held.iter().map(|c| c.id.clone()));
                let outcomes: Vec<Outcome> = held.iter().map(succeeded).collect();
                let (recorded, claimed) = node
                    .record_outcomes_and_claim(&outcomes, now_ms(), next)
                    .await
                    .unwrap();
                assert!(
                    recorded.iter().all(|r| *r),
                    "an outcome of this node's own claim"
                );
                held = claimed;
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "a delivery was claimed twice");
    // A node stops once a claim comes back empty; whatever the others left is still due.
    let now = now_ms();
    let rest = store
        .claim_deliveries(1000, now, now + 60_000)
        .await
        .unwrap();
    assert_eq!(all.len() + rest.len(), total);
}

/// Recording send outcomes claims the next due messages in the same transaction, moved
/// to `sending` with their first `sending` entry, oldest due first.
async fn sends_claim_the_messages_they_free_slots_for(db: &TestDb) {
    let store = db.store().await;
    let first = message(Channel::Email, None, None);
    store.accept_message(&first, None).await.unwrap();
    let now = now_ms();
    let claimed = store.claim_messages(1, now, now + 60_000).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let mut queued = Vec::new();
    for i in 0..3 {
        let mut m = message(Channel::Email, None, None);
        m.next_attempt_at = now - 10 + i;
        store.accept_message(&m, None).await.unwrap();
        queued.push(m.id);
    }
    let result = SendResult {
        message_id: first.id.clone(),
        attempt: claimed[0].attempts,
        tries: vec![],
        outcome: SendOutcome::Sent {
            provider: "primary".into(),
            provider_message_id: Some("pm-claims".into()),
        },
        keep_content: None,
    };
    let next = Claim {
        limit: 2,
        lease_until: now + 60_000,
    };
    let done = store
        .record_sends_processed(&[result], now, &stages(), next)
        .await
        .unwrap();
    assert_eq!(done.recorded, [true]);
    let ids: Vec<&str> = done.claimed.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, [queued[0].as_str(), queued[1].as_str()]);
    for m in &done.claimed {
        assert_eq!((m.status, m.attempts), (Status::Sending, 1));
        let history = store.message_history(&m.id).await.unwrap();
        let statuses: Vec<Status> = history.iter().map(|e| e.status).collect();
        assert_eq!(statuses, [Status::Queued, Status::Sending]);
    }
    let sent = store.get_message(&first.id).await.unwrap().unwrap();
    assert_eq!(sent.status, Status::Sent);
    // The third is still queued and due.
    let rest = store.claim_messages(10, now, now + 60_000).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].id, queued[2]);
}
