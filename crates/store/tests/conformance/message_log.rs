//! Conformance of the communications log: provider status reports (only moving a
//! message forward, waiting for their message), published `message.*` events, and
//! listing with filters and pagination.

use serde_json::{Value, json};
use switchyard_core::event::{Event, EventFilter, NewEvent};
use switchyard_core::message::{Channel, Message, Status};
use switchyard_core::new_id;
use switchyard_core::source::SourceKind;
use switchyard_core::time::now_ms;
use switchyard_store::testing::TestDb;
use switchyard_store::{MessageFilter, Page, Store, conformance};

use crate::messages::{accept, claim_all, failed, message, page, sent, status_of, statuses};

conformance!(
    status_reports_only_raise_and_wait_for_their_message,
    reports_racing_their_send_are_never_lost,
    outcomes_are_published_as_events,
    messages_filter_and_paginate,
);

/// A provider's status report about the message it knows as `reference`, in the test
/// stages' form (see `switchyard_store::testing::stages`).
fn report(event_type: &str, reference: &str) -> NewEvent {
    let id = new_id("evt");
    NewEvent {
        dedupe_key: Some(id.clone()),
        id,
        source_id: Some("src_provider".into()),
        source_kind: Some(SourceKind::Sendgrid),
        provider_type: Some(event_type.into()),
        event_type: event_type.into(),
        payload: json!({ "message_ref": reference }).to_string().into_bytes(),
        headers: "{}".into(),
        received_at: now_ms(),
    }
}

async fn deliver_reports(store: &dyn Store, reports: &[NewEvent]) {
    store.insert_events(reports).await.unwrap();
    while store
        .process_received(100, now_ms(), &switchyard_store::testing::stages())
        .await
        .unwrap()
        > 0
    {}
}

async fn status_reports_only_raise_and_wait_for_their_message(db: &TestDb) {
    let store = db.store().await;
    let a = accept(store.as_ref(), &message(Channel::Email, None, None), None).await;
    let b = accept(store.as_ref(), &message(Channel::Sms, None, None), None).await;
    let c = accept(store.as_ref(), &message(Channel::Email, None, None), None).await;
    let claimed = claim_all(store.as_ref(), now_ms()).await;
    let current = |m: &Message| claimed.iter().find(|x| x.id == m.id).unwrap().clone();
    for (m, reference) in [(&a, "sg-a"), (&c, "sg-c")] {
        assert!(
            store
                .record_send(&sent(&current(m), reference), now_ms())
                .await
                .unwrap()
        );
    }

    // Delivered, then a late `sent`: recorded, but the message stays delivered. A
    // report naming no message the hub sent changes nothing.
    let delivered = report("message.delivered", "sg-a");
    let foreign = report("message.delivered", "sg-unknown");
    deliver_reports(store.as_ref(), &[delivered.clone(), foreign]).await;
    assert_eq!(status_of(store.as_ref(), &a.id).await, Status::Delivered);
    assert_eq!(status_of(store.as_ref(), &c.id).await, Status::Sent);
    let late = report("message.sent", "sg-a");
    deliver_reports(store.as_ref(), std::slice::from_ref(&late)).await;
    assert_eq!(status_of(store.as_ref(), &a.id).await, Status::Delivered);
    let history = store.message_history(&a.id).await.unwrap();
    assert_eq!(
        history.iter().map(|e| e.status).collect::<Vec<_>>(),
        [
            Status::Queued,
            Status::Sending,
            Status::Sent,
            Status::Delivered,
            Status::Sent
        ]
    );
    assert_eq!(history[3].event_id.as_deref(), Some(delivered.id.as_str()));
    assert_eq!(history[3].at, delivered.received_at);
    assert_eq!(history[4].event_id.as_deref(), Some(late.id.as_str()));

    // A report that arrives before the send is recorded waits for its message.
    let early = report("message.delivered", "SM-b");
    deliver_reports(store.as_ref(), std::slice::from_ref(&early)).await;
    assert_eq!(status_of(store.as_ref(), &b.id).await, Status::Sending);
    assert_eq!(
        statuses(store.as_ref(), &b.id).await,
        [Status::Queued, Status::Sending]
    );
    assert!(
        store
            .record_send(&sent(&current(&b), "SM-b"), now_ms())
            .await
            .unwrap()
    );
    assert_eq!(status_of(store.as_ref(), &b.id).await, Status::Delivered);
    let history = store.message_history(&b.id).await.unwrap();
    let adopted = history
        .iter()
        .find(|e| e.event_id.as_deref() == Some(early.id.as_str()))
        .expect("the early report is in the history");
    assert_eq!(adopted.status, Status::Delivered);
    assert!(history.iter().any(|e| e.status == Status::Sent));

    // A later, higher report still moves it on.
    let opened = report("message.read", "SM-b");
    deliver_reports(store.as_ref(), &[opened]).await;
    assert_eq!(status_of(store.as_ref(), &b.id).await, Status::Opened);
}

/// Sends being recorded while reports naming them are processed (on other nodes): every
/// report ends up applied to its message, whichever commits first.
async fn reports_racing_their_send_are_never_lost(db: &TestDb) {
    let store = db.store().await;
    let total = 30;
    for _ in 0..total {
        accept(store.as_ref(), &message(Channel::Sms, None, None), None).await;
    }
    let claimed = claim_all(store.as_ref(), now_ms()).await;
    assert_eq!(claimed.len(), total);
    let sender = db.store().await;
    let processor = db.store().await;
    let mut tasks = Vec::new();
    for (i, m) in claimed.iter().enumerate() {
        let reference = format!("SM-race-{i}");
        let (sender, m, r) = (sender.clone(), m.clone(), reference.clone());
        tasks.push(tokio::spawn(async move {
            assert!(sender.record_send(&sent(&m, &r), now_ms()).await.unwrap());
        }));
        let processor = processor.clone();
        tasks.push(tokio::spawn(async move {
            let event = report("message.delivered", &reference);
            processor.insert_events(&[event]).await.unwrap();
            processor
                .process_received(100, now_ms(), &switchyard_store::testing::stages())
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    while store
        .process_received(100, now_ms(), &switchyard_store::testing::stages())
        .await
        .unwrap()
        > 0
    {}
    for m in &claimed {
        assert_eq!(
            status_of(store.as_ref(), &m.id).await,
            Status::Delivered,
            "{}",
            m.id
        );
    }
}

async fn published(store: &dyn Store, event_type: &str) -> Vec<Event> {
    let filter = EventFilter {
        event_type: Some(event_type.into()),
        ..EventFilter::default()
    };
    store.list_events(&filter, &page(10)).await.unwrap()
}

async fn outcomes_are_published_as_events(db: &TestDb) {
    let store = db.store().await;
    let a = accept(
        store.as_ref(),
        &message(Channel::Email, Some("acme"), None),
        None,
    )
    .await;
    let b = accept(
        store.as_ref(),
        &message(Channel::Sms, Some("acme"), None),
        None,
    )
    .await;
    let claimed = claim_all(store.as_ref(), now_ms()).await;
    let current = |m: &Message| claimed.iter().find(|x| x.id == m.id).unwrap().clone();
    store
        .record_send(&sent(&current(&a), "pm-a"), now_ms())
        .await
        .unwrap();
    store
        .record_send(&failed(&current(&b), "invalid number"), now_ms())
        .await
        .unwrap();

    let sent_events = published(store.as_ref(), "message.sent").await;
    assert_eq!(sent_events.len(), 1);
    let event = &sent_events[0];
    assert_eq!(
        (event.source_id.as_deref(), event.state.as_str()),
        (Some("app"), "received"),
        "published as the hub's own event, awaiting delivery"
    );
    let payload: Value = serde_json::from_slice(&event.payload).unwrap();
    assert_eq!(payload["message_id"], a.id.as_str());
    assert_eq!(payload["status"], "sent");
    assert_eq!(payload["provider_message_id"], "pm-a");
    assert_eq!(payload["metadata"], json!({"order": 42}));

    let failed_events = published(store.as_ref(), "message.failed").await;
    assert_eq!(failed_events.len(), 1);
    let payload: Value = serde_json::from_slice(&failed_events[0].payload).unwrap();
    assert_eq!(payload["message_id"], b.id.as_str());
    assert_eq!(payload["detail"], "invalid number");

    // Processing them does not mistake them for provider reports.
    while store
        .process_received(100, now_ms(), &switchyard_store::testing::stages())
        .await
        .unwrap()
        > 0
    {}
    assert_eq!(status_of(store.as_ref(), &a.id).await, Status::Sent);
    assert_eq!(
        statuses(store.as_ref(), &a.id).await,
        [Status::Queued, Status::Sending, Status::Sent]
    );
}

async fn messages_filter_and_paginate(db: &TestDb) {
    let store = db.store().await;
    let t0 = now_ms();
    let specs = [
        (Channel::Email, "acme"),
        (Channel::Sms, "acme"),
        (Channel::Email, "beta"),
        (Channel::Sms, "beta"),
        (Channel::Email, "acme"),
    ];
    let mut ids = Vec::new();
    for (i, (channel, account)) in specs.into_iter().enumerate() {
        let m = Message {
            created_at: t0 + i as i64 * 10,
            ..message(channel, Some(account), None)
        };
        ids.push(accept(store.as_ref(), &m, None).await.id);
    }
    let claimed = claim_all(store.as_ref(), now_ms()).await;
    let third = claimed.iter().find(|m| m.id == ids[2]).unwrap();
    store
        .record_send(&failed(third, "bad address"), now_ms())
        .await
        .unwrap();

    let list = async |filter: MessageFilter| -> Vec<String> {
        let found = store.list_messages(&filter, &page(100)).await.unwrap();
        found.into_iter().map(|m| m.id).collect()
    };
    let newest_first =
        |picks: &[usize]| -> Vec<String> { picks.iter().rev().map(|&i| ids[i].clone()).collect() };
    assert_eq!(
        list(MessageFilter::default()).await,
        newest_first(&[0, 1, 2, 3, 4])
    );
    let sms = MessageFilter {
        channel: Some(Channel::Sms),
        ..MessageFilter::default()
    };
    assert_eq!(list(sms).await, newest_first(&[1, 3]));
    let beta = MessageFilter {
        account: Some("beta".into()),
        ..MessageFilter::default()
    };
    assert_eq!(list(beta).await, newest_first(&[2, 3]));
    let failed = MessageFilter {
        status: Some(Status::Failed),
        ..MessageFilter::default()
    };
    assert_eq!(list(failed).await, newest_first(&[2]));
    let window = MessageFilter {
        since: Some(t0 + 10),
        until: Some(t0 + 30),
        ..MessageFilter::default()
    };
    assert_eq!(
        list(window).await,
        newest_first(&[1, 2]),
        "since inclusive, until exclusive"
    );
    let acme_email = MessageFilter {
        channel: Some(Channel::Email),
        account: Some("acme".into()),
        status: Some(Status::Sending),
        ..MessageFilter::default()
    };
    assert_eq!(list(acme_email).await, newest_first(&[0, 4]));

    // Pages of two, each starting after the last id of the previous one.
    let mut cursor = None;
    let mut paged = Vec::new();
    loop {
        let batch = store
            .list_messages(
                &MessageFilter::default(),
                &Page {
                    limit: 2,
                    cursor: cursor.clone(),
                },
            )
            .await
            .unwrap();
        assert!(batch.len() <= 2);
        let Some(last) = batch.last() else { break };
        cursor = Some(last.id.clone());
        paged.extend(batch.into_iter().map(|m| m.id));
    }
    assert_eq!(paged, newest_first(&[0, 1, 2, 3, 4]));
}
