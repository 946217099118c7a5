//! The statements the store sends per intake batch, per message and per delivery, on
//! both backends, counted as the driver runs them (`switchyard_store::statements`): a
//! path that grows a statement fails here, whatever its speed. Counts are per batch and
//! must not grow with the batch's size. One test, so that nothing else runs statements
//! while it counts.

use std::time::Duration;

use switchyard_core::delivery::{Endpoint, Outcome};
use switchyard_core::event::NewEvent;
use switchyard_core::message::{
    AttemptOutcome, Channel, Message, SendAttempt, SendOutcome, SendResult,
};
use switchyard_core::new_id;
use switchyard_core::source::SourceKind;
use switchyard_core::time::now_ms;
use switchyard_store::statements::Statements;
use switchyard_store::testing::{TestDb, message, stages, succeeded};
use switchyard_store::{Backend, Claim, Store};

/// Runs `work`, lets background statements it causes (PostgreSQL's notification of
/// other nodes, the check of a connection given back) finish, and answers the
/// statements counted, with their first words for messages.
async fn count<F: Future<Output = ()>>(work: F) -> (u64, Vec<String>) {
    let counter = Statements::global().expect("no other tracing subscriber");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = counter.count();
    counter.keep();
    work.await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    (counter.count() - before, counter.kept())
}

fn event(i: usize) -> NewEvent {
    let key = new_id("k");
    NewEvent {
        id: new_id("evt"),
        source_id: Some("src_count".into()),
        source_kind: Some(SourceKind::Stripe),
        dedupe_key: Some(key.clone()),
        provider_type: Some("charge.succeeded".into()),
        event_type: "charge.succeeded".into(),
        payload: format!("{{\"id\":\"{key}\",\"n\":{i}}}").into_bytes(),
        headers: "{}".into(),
        received_at: now_ms(),
    }
}

/// An intake batch: its events stored processed, with their deliveries.
async fn intake_batch(store: &dyn Store, size: usize) -> (u64, Vec<String>) {
    let events: Vec<NewEvent> = (0..size).map(event).collect();
    count(async {
        store
            .insert_processed(&events, now_ms(), &stages())
            .await
            .unwrap();
    })
    .await
}

/// `size` messages from acceptance to `sent`: accepted, claimed and recorded a batch
/// at a time, as the hub's writers and sender do; recording claims the next `size`.
async fn message_batch(store: &dyn Store, size: usize) -> Vec<(u64, Vec<String>)> {
    let messages: Vec<(Message, Option<switchyard_store::Charge>)> = (0..size)
        .map(|_| (message(Channel::Email, None, None), None))
        .collect();
    let accepted = count(async {
        store.accept_messages(&messages).await.unwrap();
    })
    .await;
    let mut claimed = Vec::new();
    let claim = count(async {
        let now = now_ms();
        claimed = store.claim_messages(1000, now, now + 60_000).await.unwrap();
    })
    .await;
    assert_eq!(claimed.len(), size);
    let next: Vec<(Message, Option<switchyard_store::Charge>)> = (0..size)
        .map(|_| (message(Channel::Email, None, None), None))
        .collect();
    store.accept_messages(&next).await.unwrap();
    let results: Vec<SendResult> = claimed
        .iter()
        .map(|m| SendResult {
            message_id: m.id.clone(),
            attempt: m.attempts,
            tries: vec![SendAttempt {
                provider: "primary".into(),
                at: now_ms(),
                duration_ms: 3,
                outcome: AttemptOutcome::Sent,
                error: None,
            }],
            outcome: SendOutcome::Sent {
                provider: "primary".into(),
                provider_message_id: Some(new_id("pm")),
            },
            keep_content: None,
        })
        .collect();
    let recorded = count(async {
        let now = now_ms();
        let next = Claim {
            limit: size as u32,
            lease_until: now + 60_000,
        };
        let done = store
            .record_sends_processed(&results, now, &[], next)
            .await
            .unwrap();
        assert!(done.recorded.iter().all(|d| *d));
        assert_eq!(done.claimed.len(), size);
    })
    .await;
    vec![accepted, claim, recorded]
}

/// The deliveries waiting, claimed and their outcomes recorded, a batch at a time;
/// recording claims the next `size`.
async fn delivery_batch(store: &dyn Store, size: usize) -> Vec<(u64, Vec<String>)> {
    let mut claimed = Vec::new();
    let claim = count(async {
        let now = now_ms();
        claimed = store
            .claim_deliveries(size as u32, now, now + 60_000)
            .await
            .unwrap();
    })
    .await;
    assert_eq!(claimed.len(), size);
    let events: Vec<NewEvent> = (0..size).map(event).collect();
    store
        .insert_processed(&events, now_ms(), &stages())
        .await
        .unwrap();
    let outcomes: Vec<Outcome> = claimed.iter().map(succeeded).collect();
    let recorded = count(async {
        let now = now_ms();
        let next = Claim {
            limit: size as u32,
            lease_until: now + 60_000,
        };
        let (done, claimed) = store
            .record_outcomes_and_claim(&outcomes, now, next)
            .await
            .unwrap();
        assert!(done.iter().all(|d| *d));
        assert_eq!(claimed.len(), size);
    })
    .await;
    vec![claim, recorded]
}

/// Statements per batch on `backend`: (intake, message acceptance, claim, outcome,
/// delivery claim, outcome).
async fn per_batch(backend: Backend, size: usize) -> Vec<(u64, Vec<String>)> {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let endpoint = Endpoint::new(new_id("ep"), "https://example.com/hook".into(), 1);
    store.insert_endpoint(&endpoint).await.unwrap();
    let mut counts = vec![intake_batch(&*store, size).await];
    counts.extend(message_batch(&*store, size).await);
    counts.extend(delivery_batch(&*store, size).await);
    drop(store);
    db.cleanup().await;
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_per_batch_do_not_grow_with_the_batch() {
    // (backend, what each path may send per batch)
    let expected = [
        // Each PostgreSQL transaction ends with COMMIT and the check of the connection
        // given back; one that gives workers something to do, with NOTIFY for other
        // nodes (and the check of its connection).
        // intake: events, endpoints, deliveries; accept: messages, history; claim:
        // synchronous_commit, the claim's plan, messages, history; record sends and
        // claim the next: lock the provider ids, messages, attempts, awaited reports,
        // history, events, then the claim's plan, messages and history; claim deliveries:
        // synchronous_commit, the claim's plan, deliveries with their events; record
        // outcomes and claim the next: deliveries, attempts, endpoints, then the
        // claim's plan and the claim.
        (Backend::Postgres, [7, 6, 6, 13, 5, 9]),
        (Backend::Sqlite, [3, 2, 2, 7, 1, 4]),
    ];
    for (backend, most) in expected {
        let small = per_batch(backend, 4).await;
        let large = per_batch(backend, 100).await;
        let names = [
            "intake",
            "accept",
            "claim messages",
            "record sends and claim",
            "claim deliveries",
            "record outcomes and claim",
        ];
        for (i, name) in names.iter().enumerate() {
            println!(
                "{backend:?} {name}: {} statements for 4, {} for 100: {:?}",
                small[i].0, large[i].0, large[i].1
            );
        }
        for (i, name) in names.iter().enumerate() {
            assert_eq!(
                small[i].0, large[i].0,
                "{backend:?} {name}: grows with the batch: {:?} vs {:?}",
                small[i].1, large[i].1
            );
            assert!(
                large[i].0 <= most[i],
                "{backend:?} {name}: {} statements: {:?}",
                large[i].0,
                large[i].1
            );
        }
    }
}
