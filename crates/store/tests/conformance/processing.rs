//! Conformance of processing events as they are stored: one transaction writes an event
//! already processed, with everything its stages write.

use std::sync::Arc;

use switchyard_core::event::{EventState, NewEvent, Stored};
use switchyard_core::source::SourceKind;
use switchyard_core::time::now_ms;
use switchyard_store::testing::{TestDb, stages};
use switchyard_store::{Claim, DeliveryFilter, Page, ProcessTx, ReceivedEvent, Stage, StoreError};
use switchyard_store::{Store, conformance};

conformance!(
    events_are_processed_as_they_are_stored,
    a_failing_stage_leaves_the_batch_to_the_processors,
    racing_nodes_process_one_event_once,
    outcomes_process_the_events_they_publish,
);

fn event(key: &str, event_type: &str) -> NewEvent {
    NewEvent {
        id: switchyard_core::new_id("evt"),
        source_id: Some("src_inline".into()),
        source_kind: Some(SourceKind::Stripe),
        dedupe_key: Some(key.into()),
        provider_type: Some(event_type.into()),
        event_type: event_type.into(),
        payload: format!("{{\"id\":\"{key}\",\"message_ref\":\"ref_{key}\"}}").into_bytes(),
        headers: "{}".into(),
        received_at: now_ms(),
    }
}

async fn deliveries_of(store: &Arc<dyn Store>, event_id: &str) -> usize {
    let filter = DeliveryFilter {
        event_id: Some(event_id.into()),
        ..DeliveryFilter::default()
    };
    let page = Page {
        limit: 100,
        cursor: None,
    };
    store.list_deliveries(&filter, &page).await.unwrap().len()
}

/// New events are stored `processed` with their deliveries; a duplicate (in the batch or
/// of a stored event) is answered as such and fans out nothing more; the processors find
/// nothing left to do.
async fn events_are_processed_as_they_are_stored(db: &TestDb) {
    let store = db.store().await;
    let endpoint = switchyard_core::delivery::Endpoint::new(
        switchyard_core::new_id("ep"),
        "https://example.com/hook".into(),
        1,
    );
    store.insert_endpoint(&endpoint).await.unwrap();
    let first = event("a", "charge.succeeded");
    let batch = [
        first.clone(),
        event("a", "charge.succeeded"),
        event("b", "charge.refunded"),
    ];
    let (stored, processed) = store.insert_processed(&batch, 42, &stages()).await.unwrap();
    assert_eq!(processed, 2);
    assert_eq!(
        stored,
        [
            Stored::Inserted(first.id.clone()),
            Stored::Duplicate(first.id.clone()),
            Stored::Inserted(batch[2].id.clone()),
        ]
    );
    for id in [&first.id, &batch[2].id] {
        let got = store.get_event(id).await.unwrap().unwrap();
        assert_eq!(
            (got.state, got.processed_at),
            (EventState::Processed, Some(42))
        );
        assert_eq!(
            deliveries_of(&store, id).await,
            1,
            "one delivery per endpoint"
        );
    }
    let again = store
        .insert_processed(&[event("a", "charge.succeeded")], 43, &stages())
        .await
        .unwrap();
    assert_eq!(again, (vec![Stored::Duplicate(first.id.clone())], 0));
    assert_eq!(
        deliveries_of(&store, &first.id).await,
        1,
        "a duplicate fans out nothing"
    );
    assert_eq!(
        store.process_received(10, 44, &stages()).await.unwrap(),
        0,
        "nothing is left for the processors"
    );
    let claimed = store
        .claim_deliveries(10, now_ms(), now_ms() + 60_000)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2, "the deliveries are due at once");
}

#[derive(Debug)]
struct Failing;

#[async_trait::async_trait]
impl Stage for Failing {
    fn name(&self) -> &'static str {
        "failing"
    }

    async fn run(
        &self,
        _tx: &mut dyn ProcessTx,
        _events: &[ReceivedEvent],
        _at: i64,
    ) -> Result<(), StoreError> {
        Err(StoreError::Corrupt("refused".into()))
    }
}

/// A stage that fails rolls back what the others wrote; the events are stored
/// `received`, still acknowledged as new, and the processors then process them once.
async fn a_failing_stage_leaves_the_batch_to_the_processors(db: &TestDb) {
    let store = db.store().await;
    let endpoint = switchyard_core::delivery::Endpoint::new(
        switchyard_core::new_id("ep"),
        "https://example.com/hook".into(),
        1,
    );
    store.insert_endpoint(&endpoint).await.unwrap();
    let mut failing = stages();
    failing.push(Arc::new(Failing));
    let batch = [
        event("c", "charge.succeeded"),
        event("d", "charge.succeeded"),
    ];
    let (stored, processed) = store.insert_processed(&batch, 42, &failing).await.unwrap();
    assert_eq!(processed, 0, "left to the processors");
    assert!(stored.iter().all(|s| matches!(s, Stored::Inserted(_))));
    for e in &batch {
        let got = store.get_event(&e.id).await.unwrap().unwrap();
        assert_eq!(got.state, EventState::Received);
        assert_eq!(
            deliveries_of(&store, &e.id).await,
            0,
            "the fan-out was rolled back"
        );
    }
    assert_eq!(store.process_received(10, 44, &stages()).await.unwrap(), 2);
    for e in &batch {
        assert_eq!(deliveries_of(&store, &e.id).await, 1);
    }
    assert_eq!(store.process_received(10, 45, &stages()).await.unwrap(), 0);
}

/// Nodes storing the same provider event at once (each processing as it stores) keep
/// one event with one delivery per endpoint; every other answer names it.
async fn racing_nodes_process_one_event_once(db: &TestDb) {
    let store = db.store().await;
    let endpoint = switchyard_core::delivery::Endpoint::new(
        switchyard_core::new_id("ep"),
        "https://example.com/hook".into(),
        1,
    );
    store.insert_endpoint(&endpoint).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let store = db.store().await;
        tasks.push(tokio::spawn(async move {
            let (mut stored, _) = store
                .insert_processed(&[event("race", "charge.succeeded")], now_ms(), &stages())
                .await
                .unwrap();
            stored.remove(0)
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    let inserted: Vec<&Stored> = outcomes
        .iter()
        .filter(|o| matches!(o, Stored::Inserted(_)))
        .collect();
    assert_eq!(inserted.len(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| o.id() == inserted[0].id()));
    assert_eq!(deliveries_of(&store, inserted[0].id()).await, 1);
    assert_eq!(
        store
            .process_received(10, now_ms(), &stages())
            .await
            .unwrap(),
        0
    );
}

/// The `message.sent` event an outcome publishes is stored processed with its delivery;
/// when a stage fails, the outcome is recorded all the same and the event waits,
/// received, for the processors.
async fn outcomes_process_the_events_they_publish(db: &TestDb) {
    use switchyard_core::event::EventFilter;
    use switchyard_core::message::{Channel, SendOutcome, SendResult, Status};
    let store = db.store().await;
    let endpoint = switchyard_core::delivery::Endpoint::new(
        switchyard_core::new_id("ep"),
        "https://example.com/hook".into(),
        1,
    );
    store.insert_endpoint(&endpoint).await.unwrap();
    let mut failing = stages();
    failing.push(Arc::new(Failing));
    for (run, (these, processed)) in [(stages(), 1), (failing, 0)].into_iter().enumerate() {
        let m = switchyard_store::testing::message(Channel::Email, None, None);
        store.accept_message(&m, None).await.unwrap();
        let now = now_ms();
        let claimed = store.claim_messages(10, now, now + 60_000).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let result = SendResult {
            message_id: m.id.clone(),
            attempt: claimed[0].attempts,
            tries: vec![],
            outcome: SendOutcome::Sent {
                provider: "primary".into(),
                provider_message_id: Some(format!("pm-{run}")),
            },
            keep_content: None,
        };
        let done = store
            .record_sends_processed(&[result], now_ms(), &these, Claim::NONE)
            .await
            .unwrap();
        assert_eq!((done.recorded, done.processed), (vec![true], processed));
        let sent = store.get_message(&m.id).await.unwrap().unwrap();
        assert_eq!(sent.status, Status::Sent);
        let filter = EventFilter {
            event_type: Some("message.sent".into()),
            ..EventFilter::default()
        };
        let page = Page {
            limit: 1,
            cursor: None,
        };
        let event = store.list_events(&filter, &page).await.unwrap().remove(0);
        if processed == 1 {
            assert_eq!(event.state, EventState::Processed);
            assert_eq!(deliveries_of(&store, &event.id).await, 1);
        } else {
            assert_eq!(event.state, EventState::Received);
            assert_eq!(deliveries_of(&store, &event.id).await, 0);
            assert_eq!(
                store
                    .process_received(10, now_ms(), &stages())
                    .await
                    .unwrap(),
                1
            );
            assert_eq!(deliveries_of(&store, &event.id).await, 1);
        }
    }
}
