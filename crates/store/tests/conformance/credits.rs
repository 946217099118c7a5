//! Conformance of account credits.

use switchyard_core::credit::{LedgerKind, Reservation};
use switchyard_core::message::Channel;
use switchyard_core::time::now_ms;
use switchyard_store::testing::TestDb;
use switchyard_store::{Page, Store, conformance};

conformance!(
    credits_reserve_commit_refund_and_balance,
    concurrent_reservations_accept_exactly_the_balance,
);

async fn ledger_sum(store: &dyn Store, account: &str, channel: Channel) -> i64 {
    let page = Page {
        limit: 10_000,
        cursor: None,
    };
    store
        .credit_ledger(account, &page)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.channel == channel)
        .map(|e| e.delta)
        .sum()
}

async fn credits_reserve_commit_refund_and_balance(db: &TestDb) {
    let store = db.store().await;
    let now = now_ms();
    // No record: not metered.
    assert_eq!(
        store
            .reserve_credits("acme", Channel::Email, 1, "msg_a", now)
            .await
            .unwrap(),
        Reservation::Unmetered
    );
    assert_eq!(
        store
            .grant_credits("acme", Channel::Email, 5, Some("welcome"), now)
            .await
            .unwrap(),
        Some(5)
    );
    assert_eq!(
        store
            .reserve_credits("acme", Channel::Email, 3, "msg_b", now)
            .await
            .unwrap(),
        Reservation::Reserved { balance: 2 }
    );
    assert_eq!(
        store
            .reserve_credits("acme", Channel::Email, 3, "msg_c", now)
            .await
            .unwrap(),
        Reservation::Insufficient { balance: 2 },
        "a short balance is unchanged"
    );
    store
        .settle_credits("acme", Channel::Email, 3, "msg_b", false, now)
        .await
        .unwrap();
    assert_eq!(
        store.credit_balances("acme").await.unwrap(),
        [(Channel::Email, 5)]
    );
    assert_eq!(
        store
            .reserve_credits("acme", Channel::Email, 2, "msg_d", now)
            .await
            .unwrap(),
        Reservation::Reserved { balance: 3 }
    );
    store
        .settle_credits("acme", Channel::Email, 2, "msg_d", true, now)
        .await
        .unwrap();
    // Taking back more than is there is refused and changes nothing.
    assert_eq!(
        store
            .grant_credits("acme", Channel::Email, -4, None, now)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .grant_credits("acme", Channel::Email, -1, Some("correction"), now)
            .await
            .unwrap(),
        Some(2)
    );
    assert_eq!(ledger_sum(store.as_ref(), "acme", Channel::Email).await, 2);
    let kinds: Vec<LedgerKind> = store
        .credit_ledger(
            "acme",
            &Page {
                limit: 100,
                cursor: None,
            },
        )
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            LedgerKind::Grant,
            LedgerKind::Commit,
            LedgerKind::Reserve,
            LedgerKind::Refund,
            LedgerKind::Reserve,
            LedgerKind::Grant
        ],
        "newest first"
    );
    assert!(store.credit_balances("other").await.unwrap().is_empty());
}

async fn concurrent_reservations_accept_exactly_the_balance(db: &TestDb) {
    let store = db.store().await;
    let now = now_ms();
    let balance = 20;
    store
        .grant_credits("race", Channel::Sms, balance, None, now)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let store = db.store().await;
        tasks.push(tokio::spawn(async move {
            let mut reserved = 0;
            for i in 0..15 {
                let id = format!("msg_{worker}_{i}");
                match store
                    .reserve_credits("race", Channel::Sms, 1, &id, now)
                    .await
                    .unwrap()
                {
                    Reservation::Reserved { .. } => reserved += 1,
                    Reservation::Insufficient { balance } => assert_eq!(balance, 0),
                    Reservation::Unmetered => panic!("the account is metered"),
                }
            }
            reserved
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await.unwrap();
    }
    assert_eq!(accepted, balance, "60 attempts against a balance of 20");
    assert_eq!(
        store.credit_balances("race").await.unwrap(),
        [(Channel::Sms, 0)]
    );
    assert_eq!(ledger_sum(store.as_ref(), "race", Channel::Sms).await, 0);
}
