//! The store conformance suite: one set of behaviours every `Store` implementation must
//! show, run against SQLite and PostgreSQL.

use switchyard_core::apikey::{self, Scope};
use switchyard_core::time::now_ms;
use switchyard_core::vault::{Keyring, MasterKey, VaultError};
use switchyard_store::testing::TestDb;
use switchyard_store::vault::{SecretError, Vault};
use switchyard_store::{NewKey, Page, StoreError, conformance};

#[path = "conformance/auth.rs"]
mod auth;
#[path = "conformance/claims.rs"]
mod claims;
#[path = "conformance/connectors.rs"]
mod connectors;
#[path = "conformance/credits.rs"]
mod credits;
#[path = "conformance/events.rs"]
mod events;
#[path = "conformance/idempotency.rs"]
mod idempotency;
#[path = "conformance/message_log.rs"]
mod message_log;
#[path = "conformance/messages.rs"]
mod messages;
#[path = "conformance/payments.rs"]
mod payments;
#[path = "conformance/processing.rs"]
mod processing;
#[path = "conformance/queue.rs"]
mod queue;
#[path = "conformance/storage.rs"]
mod storage;
#[path = "conformance/templates.rs"]
mod templates;

conformance!(
    migrations_are_recorded_and_idempotent,
    keys_roundtrip,
    bootstrap_key_is_inserted_once,
    key_rotation_and_revocation,
    secrets_roundtrip_and_compare_and_swap,
    vault_reseals_under_a_new_master_key,
);

fn new_key(name: &str, scopes: &[Scope]) -> (NewKey, String) {
    let g = apikey::generate();
    let key = NewKey {
        id: switchyard_core::new_id("key"),
        name: name.into(),
        digest: g.digest,
        hint: g.hint.clone(),
        scopes: scopes.to_vec(),
        created_at: now_ms(),
        expires_at: None,
        rotated_from: None,
    };
    (key, g.raw.expose().clone())
}

async fn migrations_are_recorded_and_idempotent(db: &TestDb) {
    let store = db.store().await;
    let status = store.migration_status().await.unwrap();
    assert!(!status.is_empty());
    assert!(status.iter().all(|m| m.applied_at.is_some()), "{status:?}");
    let again = store.migrate().await.unwrap();
    assert_eq!(status, again, "a second migrate changes nothing");
    store.ping().await.unwrap();
}

async fn keys_roundtrip(db: &TestDb) {
    let store = db.store().await;
    let (key, raw) = new_key("ci", &[Scope::Events, Scope::Read]);
    store.insert_key(&key).await.unwrap();
    assert!(matches!(
        store.insert_key(&key).await,
        Err(StoreError::Conflict(_))
    ));

    let found = store
        .find_key_by_digest(&apikey::digest(&raw))
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found.key.id, key.id);
    assert_eq!(found.key.scopes, vec![Scope::Read, Scope::Events]);
    assert!(apikey::digests_match(&found.digest, &key.digest));
    assert!(
        store
            .find_key_by_digest(&apikey::digest("sk_other"))
            .await
            .unwrap()
            .is_none()
    );

    let mut ids = vec![key.id.clone()];
    for i in 0..4 {
        let (k, _) = new_key(&format!("k{i}"), &[Scope::Admin]);
        store.insert_key(&k).await.unwrap();
        ids.push(k.id);
    }
    ids.reverse(); // newest first
    let first = store
        .list_keys(&Page {
            limit: 3,
            cursor: None,
        })
        .await
        .unwrap();
    let first_ids: Vec<_> = first.iter().map(|k| k.id.clone()).collect();
    assert_eq!(first_ids, ids[..3]);
    let rest = store
        .list_keys(&Page {
            limit: 3,
            cursor: Some(first_ids[2].clone()),
        })
        .await
        .unwrap();
    let rest_ids: Vec<_> = rest.iter().map(|k| k.id.clone()).collect();
    assert_eq!(rest_ids, ids[3..]);

    store.touch_key(&key.id, 1234).await.unwrap();
    assert_eq!(
        store.get_key(&key.id).await.unwrap().unwrap().last_used_at,
        Some(1234)
    );
    assert!(store.get_key("key_missing").await.unwrap().is_none());
}

async fn bootstrap_key_is_inserted_once(db: &TestDb) {
    // Several "nodes" (separate connections) race to bootstrap an empty store.
    let mut tasks = Vec::new();
    for i in 0..6 {
        let store = db.store().await;
        tasks.push(tokio::spawn(async move {
            let (key, _) = new_key(&format!("bootstrap-{i}"), &[Scope::Admin]);
            store.insert_first_key(&key).await.unwrap()
        }));
    }
    let mut inserted = 0;
    for t in tasks {
        inserted += usize::from(t.await.unwrap());
    }
    assert_eq!(inserted, 1);
    let store = db.store().await;
    assert_eq!(
        store
            .list_keys(&Page {
                limit: 10,
                cursor: None
            })
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn key_rotation_and_revocation(db: &TestDb) {
    let store = db.store().await;
    let (old, _) = new_key("deploy", &[Scope::Keys]);
    store.insert_key(&old).await.unwrap();
    let (mut replacement, _) = new_key("deploy", &[Scope::Keys]);
    replacement.rotated_from = Some(old.id.clone());
    let grace_end = now_ms() + 86_400_000;
    let rotated = store
        .rotate_key(&old.id, &replacement, grace_end)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.expires_at, Some(grace_end));
    assert!(rotated.is_active(now_ms()));
    assert!(!rotated.is_active(grace_end));
    let new = store.get_key(&replacement.id).await.unwrap().unwrap();
    assert_eq!(new.rotated_from.as_deref(), Some(old.id.as_str()));
    assert!(new.is_active(grace_end + 1));

    // A second rotation with a longer grace never extends the old key's life.
    let (again, _) = new_key("deploy", &[Scope::Keys]);
    let r2 = store
        .rotate_key(&old.id, &again, grace_end + 1_000_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r2.expires_at, Some(grace_end));

    let revoked = store.revoke_key(&new.id, 42).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(42));
    assert!(!revoked.is_active(0));
    // Idempotent: the first revocation time stays.
    assert_eq!(
        store
            .revoke_key(&new.id, 99)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(42)
    );
    assert!(store.revoke_key("key_missing", 1).await.unwrap().is_none());
    // A revoked key cannot be rotated.
    let (third, _) = new_key("deploy", &[Scope::Keys]);
    assert!(
        store
            .rotate_key(&new.id, &third, grace_end)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store.get_key(&third.id).await.unwrap().is_none(),
        "nothing inserted"
    );
}

async fn secrets_roundtrip_and_compare_and_swap(db: &TestDb) {
    let store = db.store().await;
    let ring = Keyring::new(MasterKey::generate(), vec![]);
    let a = ring.seal("sec_a", b"one");
    store.put_secret("sec_a", &a, 1).await.unwrap();
    assert_eq!(store.get_secret("sec_a").await.unwrap(), Some(a.clone()));
    let b = ring.seal("sec_a", b"two");
    store.put_secret("sec_a", &b, 2).await.unwrap();
    assert_eq!(store.get_secret("sec_a").await.unwrap(), Some(b.clone()));

    // Compare-and-swap: replacing from a stale value does nothing.
    let c = ring.seal("sec_a", b"three");
    assert!(!store.replace_secret("sec_a", &a, &c, 3).await.unwrap());
    assert!(store.replace_secret("sec_a", &b, &c, 3).await.unwrap());
    assert_eq!(store.get_secret("sec_a").await.unwrap(), Some(c));

    let other = Keyring::new(MasterKey::generate(), vec![]);
    store
        .put_secret("sec_b", &other.seal("sec_b", b"x"), 4)
        .await
        .unwrap();
    let stale = store
        .secrets_not_under(ring.current().id(), 10)
        .await
        .unwrap();
    assert_eq!(
        stale.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        ["sec_b"]
    );

    assert!(store.delete_secret("sec_a").await.unwrap());
    assert!(!store.delete_secret("sec_a").await.unwrap());
    assert_eq!(store.get_secret("sec_a").await.unwrap(), None);
}

async fn vault_reseals_under_a_new_master_key(db: &TestDb) {
    let store = db.store().await;
    let old = MasterKey::generate();
    let vault = Vault::new(store.clone(), Keyring::new(old.clone(), vec![]), None);
    for i in 0..300 {
        vault
            .put(&format!("sec_{i:04}"), format!("value {i}").as_bytes())
            .await
            .unwrap();
    }
    let new = MasterKey::generate();
    let rotated = Vault::new(store.clone(), Keyring::new(new.clone(), vec![old]), None);
    // Readers with the new ring read old values before the re-seal...
    assert_eq!(
        rotated.get("sec_0007").await.unwrap().unwrap().expose(),
        b"value 7"
    );
    assert_eq!(rotated.reseal_all().await.unwrap(), 300);
    assert!(
        store
            .secrets_not_under(new.id(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // ...and after it; a vault holding only the new key reads everything.
    let only_new = Vault::new(store.clone(), Keyring::new(new, vec![]), None);
    assert_eq!(
        only_new.get("sec_0299").await.unwrap().unwrap().expose(),
        b"value 299"
    );
    assert_eq!(rotated.reseal_all().await.unwrap(), 0);

    // A tampered row is an error, not a panic.
    let mut sealed = store.get_secret("sec_0001").await.unwrap().unwrap();
    sealed.ciphertext[3] ^= 0x40;
    store
        .put_secret("sec_0001", &sealed, now_ms())
        .await
        .unwrap();
    assert!(matches!(
        only_new.get("sec_0001").await,
        Err(SecretError::Vault(VaultError::Tampered))
    ));
    assert!(only_new.get("sec_missing").await.unwrap().is_none());
}
