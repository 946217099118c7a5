//! Conformance of the idempotency keys of API requests.

use switchyard_core::vault::{Keyring, MasterKey};
use switchyard_store::testing::TestDb;
use switchyard_store::{Begun, conformance, idempotency_secret_id};

conformance!(
    idempotency_keys_replay_refuse_and_expire,
    racing_requests_run_one_key_once
);

async fn idempotency_keys_replay_refuse_and_expire(db: &TestDb) {
    let store = db.store().await;
    let begin = |key: &'static str, digest: &'static str, now: i64| {
        let store = store.clone();
        async move {
            store
                .begin_request("key_a", key, digest, now, now - 60_000, now - 86_400_000)
                .await
                .unwrap()
        }
    };
    let t = 1_000_000_000;
    assert_eq!(begin("k1", "d1", t).await, Begun::Run);
    assert_eq!(begin("k1", "d1", t + 10).await, Begun::InProgress);
    assert_eq!(begin("k1", "other", t + 10).await, Begun::Mismatch);
    // The answer is sealed in the vault beside the key.
    let ring = Keyring::new(MasterKey::generate(), vec![]);
    let answer = idempotency_secret_id("key_a", "k1");
    let sealed = ring.seal(&answer, b"{\"id\":1}");
    store.put_secret(&answer, &sealed, t).await.unwrap();
    store.finish_request("key_a", "k1", 201).await.unwrap();
    assert_eq!(
        begin("k1", "d1", t + 20).await,
        Begun::Replay { status: 201 }
    );
    assert_eq!(begin("k1", "other", t + 20).await, Begun::Mismatch);

    // A failed request releases its key; a finished one keeps it.
    assert_eq!(begin("k2", "d2", t).await, Begun::Run);
    store.abandon_request("key_a", "k2").await.unwrap();
    assert_eq!(begin("k2", "d3", t + 30).await, Begun::Run);
    store.abandon_request("key_a", "k1").await.unwrap();
    assert!(matches!(
        begin("k1", "d1", t + 40).await,
        Begun::Replay { .. }
    ));

    // A request that never answered (its node died) is taken over once stale.
    assert_eq!(begin("k3", "d", t).await, Begun::Run);
    assert_eq!(begin("k3", "d", t + 59_000).await, Begun::InProgress);
    assert_eq!(begin("k3", "d", t + 61_000).await, Begun::Run);
    assert_eq!(begin("k3", "d", t + 62_000).await, Begun::InProgress);

    // After a day a key is forgotten with its answer, and purged keys are gone.
    let day = 86_400_000;
    assert_eq!(begin("k1", "new", t + day + 1).await, Begun::Run);
    assert!(store.get_secret(&answer).await.unwrap().is_none());
    let k3 = idempotency_secret_id("key_a", "k3");
    store
        .put_secret(&k3, &ring.seal(&k3, b"{}"), t)
        .await
        .unwrap();
    assert_eq!(store.purge_idempotency_keys(t + 61_000).await.unwrap(), 2);
    assert!(store.get_secret(&k3).await.unwrap().is_none());
    assert_eq!(begin("k2", "d4", t + 100).await, Begun::Run);
    assert_eq!(begin("k1", "new", t + day + 2).await, Begun::InProgress);

    // A key belongs to the API key that used it: another caller's same key is another
    // key, whatever the first one holds.
    let later = t + day + 3;
    let other = store
        .begin_request("key_b", "k1", "new", later, later - 60_000, later - day)
        .await
        .unwrap();
    assert_eq!(other, Begun::Run);
    store.finish_request("key_b", "k1", 200).await.unwrap();
    assert_eq!(begin("k1", "new", later + 1).await, Begun::InProgress);
    assert_ne!(
        idempotency_secret_id("key_a", "k1"),
        idempotency_secret_id("key_b", "k1")
    );
}

/// Requests racing on one key from several connections (as from several nodes): exactly
/// one runs.
async fn racing_requests_run_one_key_once(db: &TestDb) {
    let now = switchyard_core::time::now_ms();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = db.store().await;
        tasks.push(tokio::spawn(async move {
            store
                .begin_request("key_a", "race", "d", now, now - 60_000, now - 86_400_000)
                .await
                .unwrap()
        }));
    }
    let mut runs = 0;
    for t in tasks {
        match t.await.unwrap() {
            Begun::Run => runs += 1,
            other => assert_eq!(other, Begun::InProgress),
        }
    }
    assert_eq!(runs, 1);
}
