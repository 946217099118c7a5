//! Conformance of messages: acceptance with credits and idempotency keys, leased claims,
//! fenced outcomes, provider status reports, published events and templates.

use std::collections::HashSet;
use std::time::Duration;

use switchyard_core::message::{
    AttemptOutcome, Channel, Message, SendAttempt, SendOutcome, SendResult, Status, StatusEntry,
};
use switchyard_core::time::now_ms;
use switchyard_store::testing::TestDb;
use switchyard_store::{Acceptance, Charge, MessageFilter, Page, Store, conformance};

conformance!(
    accepting_is_idempotent_and_wakes_the_sender,
    credits_are_reserved_committed_and_refunded,
    concurrent_accepts_take_exactly_the_balance,
    claims_are_leased_and_outcomes_fenced,
    concurrent_claimers_never_share_a_message,
);

pub(crate) const LEASE: i64 = 60_000;

pub(crate) use switchyard_store::testing::message;

pub(crate) fn charge(account: &str, credits: i64, required: bool) -> Charge {
    Charge {
        account: account.into(),
        credits,
        required,
    }
}

pub(crate) fn page(limit: u32) -> Page {
    Page {
        limit,
        cursor: None,
    }
}

pub(crate) async fn accept(store: &dyn Store, m: &Message, charge: Option<&Charge>) -> Message {
    match store.accept_message(m, charge).await.unwrap() {
        Acceptance::Accepted(stored) => stored,
        other => panic!("expected acceptance, got {other:?}"),
    }
}

/// Claims every due message; returns them by id.
pub(crate) async fn claim_all(store: &dyn Store, now: i64) -> Vec<Message> {
    let mut claimed = store.claim_messages(100, now, now + LEASE).await.unwrap();
    claimed.sort_by(|a, b| a.id.cmp(&b.id));
    claimed
}

pub(crate) fn attempt(outcome: AttemptOutcome, error: Option<&str>) -> SendAttempt {
    SendAttempt {
        provider: "primary".into(),
        at: now_ms(),
        duration_ms: 12,
        outcome,
        error: error.map(str::to_string),
    }
}

pub(crate) fn sent(m: &Message, provider_message_id: &str) -> SendResult {
    SendResult {
        message_id: m.id.clone(),
        attempt: m.attempts,
        tries: vec![attempt(AttemptOutcome::Sent, None)],
        outcome: SendOutcome::Sent {
            provider: "primary".into(),
            provider_message_id: Some(provider_message_id.into()),
        },
        keep_content: None,
    }
}

pub(crate) fn failed(m: &Message, reason: &str) -> SendResult {
    SendResult {
        message_id: m.id.clone(),
        attempt: m.attempts,
        tries: vec![attempt(AttemptOutcome::Rejected, Some(reason))],
        outcome: SendOutcome::Failed {
            reason: reason.into(),
        },
        keep_content: None,
    }
}

pub(crate) async fn ledger_sum(store: &dyn Store, account: &str, channel: Channel) -> i64 {
    let ledger = store.credit_ledger(account, &page(10_000)).await.unwrap();
    ledger
        .iter()
        .filter(|e| e.channel == channel)
        .map(|e| e.delta)
        .sum()
}

pub(crate) async fn statuses(store: &dyn Store, id: &str) -> Vec<Status> {
    let history = store.message_history(id).await.unwrap();
    history.iter().map(|e| e.status).collect()
}

pub(crate) async fn status_of(store: &dyn Store, id: &str) -> Status {
    store.get_message(id).await.unwrap().unwrap().status
}

async fn accepting_is_idempotent_and_wakes_the_sender(db: &TestDb) {
    let store = db.store().await;
    let notify = store.work_notifier(switchyard_store::Work::Messages);
    let woken = notify.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();

    let first = message(Channel::Email, Some("acme"), Some("key-1"));
    let stored = accept(store.as_ref(), &first, None).await;
    assert_eq!(
        stored, first,
        "an unmetered queued message is stored as given"
    );
    assert_eq!(
        store.get_message(&first.id).await.unwrap(),
        Some(first.clone())
    );
    tokio::time::timeout(Duration::from_secs(5), woken)
        .await
        .expect("an accepted message wakes the sender");
    assert_eq!(
        store.message_history(&first.id).await.unwrap(),
        [StatusEntry {
            status: Status::Queued,
            at: first.created_at,
            detail: None,
            event_id: None,
        }]
    );

    // The same key again, even with a different request and a charge the account
    // cannot pay: the first message is the answer, nothing is stored or reserved.
    let repeat = Message {
        request_digest: Some("d2".into()),
        ..message(Channel::Email, Some("acme"), Some("key-1"))
    };
    store
        .grant_credits("acme", Channel::Email, 0, None, now_ms())
        .await
        .unwrap();
    assert_eq!(
        store
            .accept_message(&repeat, Some(&charge("acme", 5, true)))
            .await
            .unwrap(),
        Acceptance::Existing(first.clone())
    );
    assert!(store.get_message(&repeat.id).await.unwrap().is_none());
    assert_eq!(ledger_sum(store.as_ref(), "acme", Channel::Email).await, 0);
    assert_eq!(
        store.credit_ledger("acme", &page(10)).await.unwrap().len(),
        1
    );

    // Messages without a key never collide.
    for _ in 0..2 {
        accept(store.as_ref(), &message(Channel::Sms, None, None), None).await;
    }
    let all = store
        .list_messages(&MessageFilter::default(), &page(10))
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
}

async fn credits_are_reserved_committed_and_refunded(db: &TestDb) {
    let store = db.store().await;
    let now = now_ms();
    store
        .grant_credits("acme", Channel::Email, 5, None, now)
        .await
        .unwrap();
    let a = accept(
        store.as_ref(),
        &message(Channel::Email, Some("acme"), None),
        Some(&charge("acme", 2, true)),
    )
    .await;
    assert_eq!(a.credits, 2);
    let b = accept(
        store.as_ref(),
        &message(Channel::Email, Some("acme"), None),
        Some(&charge("acme", 2, true)),
    )
    .await;
    let short = message(Channel::Email, Some("acme"), None);
    assert_eq!(
        store
            .accept_message(&short, Some(&charge("acme", 2, true)))
            .await
            .unwrap(),
        Acceptance::Insufficient { balance: 1 }
    );
    assert!(store.get_message(&short.id).await.unwrap().is_none());
    assert_eq!(
        store.credit_balances("acme").await.unwrap(),
        [(Channel::Email, 1)]
    );

    // No credit record: refused when credits are required, free otherwise.
    let required = message(Channel::Sms, Some("nobody"), None);
    assert_eq!(
        store
            .accept_message(&required, Some(&charge("nobody", 1, true)))
            .await
            .unwrap(),
        Acceptance::Insufficient { balance: 0 }
    );
    let free = accept(
        store.as_ref(),
        &message(Channel::Sms, Some("nobody"), None),
        Some(&charge("nobody", 1, false)),
    )
    .await;
    assert_eq!(free.credits, 0);
    assert!(store.credit_balances("nobody").await.unwrap().is_empty());

    let claimed = claim_all(store.as_ref(), now_ms()).await;
    assert_eq!(claimed.len(), 3);
    let current = |m: &Message| claimed.iter().find(|c| c.id == m.id).unwrap().clone();

    // Sent: the reservation is committed, and the kept content replaces the request.
    let kept = current(&a).content.without_bodies();
    let result = SendResult {
        keep_content: Some(kept.clone()),
        ..sent(&current(&a), "pm-a")
    };
    assert!(store.record_send(&result, now_ms()).await.unwrap());
    let a_now = store.get_message(&a.id).await.unwrap().unwrap();
    assert_eq!(a_now.status, Status::Sent);
    assert_eq!(a_now.provider.as_deref(), Some("primary"));
    assert_eq!(a_now.provider_message_id.as_deref(), Some("pm-a"));
    assert_eq!(a_now.content, kept);
    assert_eq!(a_now.credits, 2);
    assert!(
        !store.record_send(&result, now_ms()).await.unwrap(),
        "an outcome is recorded once"
    );

    // Failed: the reservation goes back to the balance; kept content applies too.
    let result = SendResult {
        keep_content: Some(current(&b).content.without_bodies()),
        ..failed(&current(&b), "rejected by provider")
    };
    assert!(store.record_send(&result, now_ms()).await.unwrap());
    let b_now = store.get_message(&b.id).await.unwrap().unwrap();
    assert_eq!(b_now.status, Status::Failed);
    assert_eq!(b_now.last_error.as_deref(), Some("rejected by provider"));
    assert_eq!(b_now.content, current(&b).content.without_bodies());
    let history = store.message_history(&b.id).await.unwrap();
    assert_eq!(
        history.iter().map(|e| e.status).collect::<Vec<_>>(),
        [Status::Queued, Status::Sending, Status::Failed]
    );
    assert_eq!(history[2].detail.as_deref(), Some("rejected by provider"));
    assert!(
        store
            .record_send(&failed(&current(&free), "no route"), now_ms())
            .await
            .unwrap()
    );

    assert_eq!(
        store.credit_balances("acme").await.unwrap(),
        [(Channel::Email, 3)]
    );
    assert_eq!(ledger_sum(store.as_ref(), "acme", Channel::Email).await, 3);
    let ledger = store.credit_ledger("acme", &page(10)).await.unwrap();
    assert_eq!(
        ledger.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["refund", "commit", "reserve", "reserve", "grant"],
        "newest first"
    );
    assert_eq!(ledger[0].message_id.as_deref(), Some(b.id.as_str()));
    assert_eq!(ledger[1].message_id.as_deref(), Some(a.id.as_str()));
    assert!(store.credit_balances("nobody").await.unwrap().is_empty());
}

async fn concurrent_accepts_take_exactly_the_balance(db: &TestDb) {
    let store = db.store().await;
    let now = now_ms();
    store
        .grant_credits("race", Channel::Sms, 7, None, now)
        .await
        .unwrap();
    store
        .grant_credits("dup", Channel::Sms, 7, None, now)
        .await
        .unwrap();
    // Separate stores stand for separate nodes; 20 accepts at once against 7 credits,
    // and 8 repeats of one request at once.
    let mut distinct = Vec::new();
    let mut repeats = Vec::new();
    for _ in 0..4 {
        let node = db.store().await;
        for _ in 0..5 {
            let node = node.clone();
            distinct.push(tokio::spawn(async move {
                let m = message(Channel::Sms, Some("race"), None);
                node.accept_message(&m, Some(&charge("race", 1, true)))
                    .await
                    .unwrap()
            }));
        }
        for _ in 0..2 {
            let node = node.clone();
            repeats.push(tokio::spawn(async move {
                let m = message(Channel::Sms, Some("dup"), Some("same-request"));
                node.accept_message(&m, Some(&charge("dup", 1, true)))
                    .await
                    .unwrap()
            }));
        }
    }
    let mut accepted = 0;
    for t in distinct {
        match t.await.unwrap() {
            Acceptance::Accepted(_) => accepted += 1,
            Acceptance::Insufficient { balance } => assert_eq!(balance, 0),
            Acceptance::Existing(m) => panic!("no key, yet existing: {m:?}"),
        }
    }
    assert_eq!(accepted, 7, "20 accepts against a balance of 7");
    assert_eq!(
        store.credit_balances("race").await.unwrap(),
        [(Channel::Sms, 0)]
    );
    assert_eq!(ledger_sum(store.as_ref(), "race", Channel::Sms).await, 0);
    let filter = MessageFilter {
        account: Some("race".into()),
        ..MessageFilter::default()
    };
    let listed = store.list_messages(&filter, &page(100)).await.unwrap();
    assert_eq!(listed.len(), 7);
    assert!(listed.iter().all(|m| m.credits == 1));

    let mut ids = HashSet::new();
    let mut new = 0;
    for t in repeats {
        match t.await.unwrap() {
            Acceptance::Accepted(m) => {
                new += 1;
                ids.insert(m.id);
            }
            Acceptance::Existing(m) => {
                ids.insert(m.id);
            }
            Acceptance::Insufficient { balance } => panic!("balance {balance} was enough"),
        }
    }
    assert_eq!((new, ids.len()), (1, 1), "one message for one request");
    assert_eq!(
        store.credit_balances("dup").await.unwrap(),
        [(Channel::Sms, 6)],
        "only the stored message keeps its reservation"
    );
    assert_eq!(ledger_sum(store.as_ref(), "dup", Channel::Sms).await, 6);
}

async fn claims_are_leased_and_outcomes_fenced(db: &TestDb) {
    let store = db.store().await;
    let t0 = now_ms();
    let m = Message {
        next_attempt_at: t0,
        ..message(Channel::Email, None, None)
    };
    accept(store.as_ref(), &m, None).await;
    let later = Message {
        next_attempt_at: t0 + 1_000_000,
        ..message(Channel::Email, None, None)
    };
    accept(store.as_ref(), &later, None).await;
    assert_eq!(store.next_message_due().await.unwrap(), Some(t0));
    assert!(
        store
            .claim_messages(10, t0 - 1, t0 + 1000)
            .await
            .unwrap()
            .is_empty(),
        "not due yet"
    );

    let first = store.claim_messages(10, t0, t0 + 1000).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0].id.as_str(), first[0].status, first[0].attempts),
        (m.id.as_str(), Status::Sending, 1)
    );
    assert!(
        store
            .claim_messages(10, t0 + 500, t0 + 2000)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    assert_eq!(
        store.next_message_due().await.unwrap(),
        Some(later.next_attempt_at),
        "a held message is not due"
    );

    // A sender still at work holds its claim longer.
    assert!(
        store
            .extend_message_lease(&m.id, 1, t0 + 1500)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_messages(10, t0 + 1200, t0 + 2000)
            .await
            .unwrap()
            .is_empty(),
        "the extended lease holds"
    );

    // The lease expired (the sender died): claimable again, with a new attempt number.
    let second = store
        .claim_messages(10, t0 + 1501, t0 + 2000)
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].attempts, 2);
    assert!(
        !store
            .extend_message_lease(&m.id, 1, t0 + 9000)
            .await
            .unwrap(),
        "a stale claim cannot be extended"
    );
    assert!(
        !store
            .record_send(&sent(&first[0], "pm-stale"), t0 + 1500)
            .await
            .unwrap(),
        "the first claim is stale"
    );
    let unchanged = store.get_message(&m.id).await.unwrap().unwrap();
    assert_eq!(unchanged, second[0]);
    assert!(store.message_attempts(&m.id).await.unwrap().is_empty());

    // Retry: claimable again at `at`, not before.
    let retry = SendResult {
        message_id: m.id.clone(),
        attempt: 2,
        tries: vec![attempt(AttemptOutcome::Retryable, Some("timeout"))],
        outcome: SendOutcome::Retry {
            at: t0 + 5000,
            error: "timeout".into(),
        },
        keep_content: Some(m.content.without_bodies()),
    };
    assert!(store.record_send(&retry, t0 + 1600).await.unwrap());
    let waiting = store.get_message(&m.id).await.unwrap().unwrap();
    assert_eq!(waiting.status, Status::Sending);
    assert_eq!(waiting.last_error.as_deref(), Some("timeout"));
    assert_eq!(waiting.next_attempt_at, t0 + 5000);
    assert_eq!(waiting.content, m.content, "content is kept until sent");
    assert_eq!(store.next_message_due().await.unwrap(), Some(t0 + 5000));
    assert!(
        store
            .claim_messages(10, t0 + 4999, t0 + 9000)
            .await
            .unwrap()
            .is_empty()
    );
    let third = store
        .claim_messages(10, t0 + 5000, t0 + 9000)
        .await
        .unwrap();
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].attempts, 3);

    assert!(
        store
            .record_send(&sent(&third[0], "pm-1"), t0 + 5100)
            .await
            .unwrap()
    );
    let done = store.get_message(&m.id).await.unwrap().unwrap();
    assert_eq!(done.status, Status::Sent);
    assert_eq!(done.last_error, None);
    let attempts = store.message_attempts(&m.id).await.unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|a| a.outcome.as_str())
            .collect::<Vec<_>>(),
        ["retryable", "sent"]
    );
    assert_eq!(attempts[0], retry.tries[0]);
    assert_eq!(
        statuses(store.as_ref(), &m.id).await,
        [Status::Queued, Status::Sending, Status::Sent],
        "one `sending` whatever the number of claims"
    );
    assert_eq!(
        store.next_message_due().await.unwrap(),
        Some(later.next_attempt_at)
    );
}

async fn concurrent_claimers_never_share_a_message(db: &TestDb) {
    let store = db.store().await;
    let total = 40;
    for _ in 0..total {
        accept(store.as_ref(), &message(Channel::Sms, None, None), None).await;
    }
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let node = db.store().await;
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let now = now_ms();
                let claimed = node.claim_messages(3, now, now + LEASE).await.unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed.into_iter().map(|m| m.id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), total, "each message claimed once");
    assert_eq!(distinct.len(), total);
}
