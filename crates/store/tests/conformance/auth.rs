//! Conformance of the auth slice: users unique per pool, sessions rotated by counter and
//! ended together, single-use link tokens and sign-in states, identities, limits, and
//! the vault's concurrent updates the pools' keys rely on.

use std::sync::Arc;

use switchyard_core::auth::{Ending, LinkPurpose, Session, User, UserStatus};
use switchyard_core::vault::{Keyring, MasterKey};
use switchyard_store::auth::Identity;
use switchyard_store::testing::TestDb;
use switchyard_store::vault::Vault;
use switchyard_store::{Store, conformance};

conformance!(
    users_are_unique_per_pool_and_end_their_sessions,
    sessions_rotate_once_per_counter,
    links_states_and_identities_are_single_use,
    limits_count_and_cooldowns_hold,
    vault_updates_never_overwrite_each_other,
    sweeping_keeps_only_what_can_still_be_used,
);

fn user(pool: &str, id: &str, email: &str) -> User {
    User {
        id: id.into(),
        pool: pool.into(),
        email: email.into(),
        email_verified: false,
        password_hash: Some("$argon2id$x".into()),
        roles: vec!["student".into()],
        status: UserStatus::Active,
        metadata: serde_json::json!({"a": 1}),
        created_at: 1,
        updated_at: 1,
    }
}

fn session(pool: &str, id: &str, user_id: &str) -> Session {
    Session {
        id: id.into(),
        pool: pool.into(),
        user_id: user_id.into(),
        counter: 0,
        created_at: 1,
        rotated_at: 1,
        last_used_at: 1,
        expires_at: 1_000_000,
        revoked_at: None,
        revoked_reason: None,
        client_ip: Some("203.0.113.1".into()),
        user_agent: None,
    }
}

async fn users_are_unique_per_pool_and_end_their_sessions(db: &TestDb) {
    let store = db.store().await;
    let a = user("p", "usr_a", "a@example.com");
    assert!(store.insert_user(&a, None).await.unwrap());
    assert!(
        !store
            .insert_user(&user("p", "usr_b", "a@example.com"), None)
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_user(&user("q", "usr_c", "a@example.com"), None)
            .await
            .unwrap(),
        "per pool"
    );
    assert_eq!(store.get_user("p", "usr_a").await.unwrap(), Some(a.clone()));
    assert_eq!(store.get_user("q", "usr_a").await.unwrap(), None);
    assert_eq!(
        store
            .find_user("p", "a@example.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        "usr_a"
    );

    assert!(
        store
            .insert_user(&user("p", "usr_d", "d@example.com"), None)
            .await
            .unwrap()
    );
    let mut taken = user("p", "usr_d", "a@example.com");
    taken.updated_at = 2;
    assert_eq!(store.update_user(&taken, None).await.unwrap(), Some(false));
    assert_eq!(
        store
            .update_user(&user("p", "usr_zz", "z@example.com"), None)
            .await
            .unwrap(),
        None
    );

    for id in ["ses_1", "ses_2", "ses_3"] {
        store
            .insert_session(&session("p", id, "usr_a"))
            .await
            .unwrap();
    }
    let mut suspended = a.clone();
    suspended.status = UserStatus::Suspended;
    let end = Ending {
        reason: "status",
        at: 5,
        except: Some("ses_3"),
    };
    assert_eq!(
        store.update_user(&suspended, Some(end)).await.unwrap(),
        Some(true)
    );
    let s1 = store.get_session("p", "ses_1").await.unwrap().unwrap();
    assert_eq!(
        (s1.revoked_at, s1.revoked_reason.as_deref()),
        (Some(5), Some("status"))
    );
    assert_eq!(
        store
            .get_session("p", "ses_3")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None,
        "the exception stays"
    );
    assert_eq!(
        store.live_sessions("p", "usr_a", 10).await.unwrap().len(),
        1
    );
    let all = Ending {
        reason: "revoked",
        at: 6,
        except: None,
    };
    assert_eq!(store.end_user_sessions("p", "usr_a", all).await.unwrap(), 1);
    assert!(
        store
            .live_sessions("p", "usr_a", 10)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(store.delete_user("p", "usr_a").await.unwrap());
    assert!(!store.delete_user("p", "usr_a").await.unwrap());
    assert_eq!(
        store.get_session("p", "ses_1").await.unwrap(),
        None,
        "sessions go with the user"
    );
}

async fn sessions_rotate_once_per_counter(db: &TestDb) {
    let store: Arc<dyn Store> = db.store().await;
    store
        .insert_user(&user("p", "usr_r", "r@example.com"), None)
        .await
        .unwrap();
    store
        .insert_session(&session("p", "ses_r", "usr_r"))
        .await
        .unwrap();
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.rotate_session("p", "ses_r", 0, 7).await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for r in racers {
        won += usize::from(r.await.unwrap());
    }
    assert_eq!(won, 1, "one rotation from counter 0");
    let s = store.get_session("p", "ses_r").await.unwrap().unwrap();
    assert_eq!((s.counter, s.rotated_at, s.last_used_at), (1, 7, 7));
    assert!(store.end_session("p", "ses_r", "logout", 8).await.unwrap());
    assert!(!store.end_session("p", "ses_r", "logout", 9).await.unwrap());
    assert!(
        !store.rotate_session("p", "ses_r", 1, 10).await.unwrap(),
        "an ended session does not rotate"
    );
}

async fn links_states_and_identities_are_single_use(db: &TestDb) {
    let store = db.store().await;
    store
        .insert_user(&user("p", "usr_l", "l@example.com"), None)
        .await
        .unwrap();
    store
        .insert_link("d1", "p", LinkPurpose::PasswordReset, "usr_l", 100)
        .await
        .unwrap();
    assert_eq!(
        store
            .consume_link("d1", "p", LinkPurpose::VerifyEmail, 50)
            .await
            .unwrap(),
        None,
        "another purpose"
    );
    store
        .insert_link("d2", "p", LinkPurpose::PasswordReset, "usr_l", 100)
        .await
        .unwrap();
    assert_eq!(
        store
            .consume_link("d1", "p", LinkPurpose::PasswordReset, 50)
            .await
            .unwrap(),
        None,
        "replaced by d2"
    );
    assert_eq!(
        store
            .consume_link("d2", "q", LinkPurpose::PasswordReset, 50)
            .await
            .unwrap(),
        None,
        "another pool"
    );
    assert_eq!(
        store
            .consume_link("d2", "p", LinkPurpose::PasswordReset, 50)
            .await
            .unwrap()
            .as_deref(),
        Some("usr_l")
    );
    assert_eq!(
        store
            .consume_link("d2", "p", LinkPurpose::PasswordReset, 50)
            .await
            .unwrap(),
        None,
        "once"
    );
    store
        .insert_link("d3", "p", LinkPurpose::VerifyEmail, "usr_l", 100)
        .await
        .unwrap();
    assert_eq!(
        store
            .consume_link("d3", "p", LinkPurpose::VerifyEmail, 100)
            .await
            .unwrap(),
        None,
        "expired"
    );

    store
        .insert_oauth_state("s1", "p", "{\"v\":1}", 100)
        .await
        .unwrap();
    assert_eq!(
        store
            .take_oauth_state("s1", "p", 50)
            .await
            .unwrap()
            .as_deref(),
        Some("{\"v\":1}")
    );
    assert_eq!(store.take_oauth_state("s1", "p", 50).await.unwrap(), None);

    let google = Identity {
        provider: "google",
        subject: "123",
    };
    assert!(
        store
            .insert_user(&user("p", "usr_g", "g@example.com"), Some(google))
            .await
            .unwrap()
    );
    assert_eq!(
        store.find_identity("p", google).await.unwrap().as_deref(),
        Some("usr_g")
    );
    assert!(
        !store.link_identity("p", google, "usr_l", 5).await.unwrap(),
        "an identity has one user"
    );
    let other = Identity {
        provider: "google",
        subject: "456",
    };
    assert!(store.link_identity("p", other, "usr_l", 5).await.unwrap());
    assert_eq!(store.find_identity("q", other).await.unwrap(), None);
}

async fn limits_count_and_cooldowns_hold(db: &TestDb) {
    let store = db.store().await;
    assert_eq!(store.limit_get("k").await.unwrap(), None);
    assert_eq!(store.limit_count("k", 10).await.unwrap(), 1);
    assert_eq!(store.limit_count("k", 20).await.unwrap(), 2);
    assert_eq!(store.limit_get("k").await.unwrap(), Some((2, 20)));
    store.limit_clear("k").await.unwrap();
    assert_eq!(store.limit_get("k").await.unwrap(), None);
    assert!(
        store.limit_take("c", 100, 40).await.unwrap(),
        "the first is taken"
    );
    assert!(
        !store.limit_take("c", 120, 60).await.unwrap(),
        "inside the cooldown"
    );
    assert!(store.limit_take("c", 200, 140).await.unwrap(), "after it");
}

async fn vault_updates_never_overwrite_each_other(db: &TestDb) {
    let store: Arc<dyn Store> = db.store().await;
    let vault = Vault::new(store, Keyring::new(MasterKey::generate(), vec![]), None);
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let vault = vault.clone();
            tokio::spawn(async move {
                vault
                    .update("list", |current| {
                        let mut items: Vec<u32> = current
                            .map(|c| serde_json::from_slice(c).unwrap())
                            .unwrap_or_default();
                        items.push(i);
                        serde_json::to_vec(&items).unwrap()
                    })
                    .await
                    .unwrap()
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let value = vault.get("list").await.unwrap().unwrap();
    let mut items: Vec<u32> = serde_json::from_slice(value.expose()).unwrap();
    items.sort();
    assert_eq!(items, (0..10).collect::<Vec<_>>(), "every update is kept");
}

async fn sweeping_keeps_only_what_can_still_be_used(db: &TestDb) {
    let store = db.store().await;
    store
        .insert_user(&user("p", "usr_s", "s@example.com"), None)
        .await
        .unwrap();
    let mut ended = session("p", "ses_ended", "usr_s");
    ended.expires_at = 10_000;
    store.insert_session(&ended).await.unwrap();
    store
        .end_session("p", "ses_ended", "logout", 50)
        .await
        .unwrap();
    let mut expired = session("p", "ses_expired", "usr_s");
    expired.expires_at = 60;
    store.insert_session(&expired).await.unwrap();
    store
        .insert_session(&session("p", "ses_live", "usr_s"))
        .await
        .unwrap();
    store
        .insert_link("gone", "p", LinkPurpose::VerifyEmail, "usr_s", 90)
        .await
        .unwrap();
    store
        .insert_link("kept", "p", LinkPurpose::PasswordReset, "usr_s", 500)
        .await
        .unwrap();
    store.insert_oauth_state("st", "p", "{}", 90).await.unwrap();
    store.limit_count("old", 40).await.unwrap();
    store.limit_count("new", 150).await.unwrap();
    let gone = store.sweep_auth(100, 100).await.unwrap();
    assert_eq!(gone, 5, "two sessions, one link, one state, one counter");
    assert!(store.get_session("p", "ses_live").await.unwrap().is_some());
    assert!(store.get_session("p", "ses_ended").await.unwrap().is_none());
    assert_eq!(
        store
            .consume_link("kept", "p", LinkPurpose::PasswordReset, 100)
            .await
            .unwrap()
            .as_deref(),
        Some("usr_s")
    );
    assert!(store.limit_get("new").await.unwrap().is_some());
    assert!(store.limit_get("old").await.unwrap().is_none());
}
