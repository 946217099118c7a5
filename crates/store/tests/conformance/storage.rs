//! Conformance of object storage records: objects, listings in byte order, create-only
//! claims, prefix rules, direct uploads, and events written with the change.

use switchyard_core::event::NewEvent;
use switchyard_core::storage::{Grant, Permission, StoredObject, Upload, UploadState, Visibility};
use switchyard_core::time::now_ms;
use switchyard_store::storage::AccessChange;
use switchyard_store::testing::TestDb;
use switchyard_store::{Page, conformance};

conformance!(
    objects_are_written_replaced_listed_in_byte_order_and_deleted,
    create_only_claims_hold_a_key_until_written_released_or_expired,
    access_settings_of_objects_and_prefixes,
    uploads_complete_once_and_expired_ones_are_found,
);

fn object(store: &str, key: &str, size: i64, at: i64) -> StoredObject {
    StoredObject {
        store: store.into(),
        key: key.into(),
        size,
        content_type: "text/plain".into(),
        etag: format!("\"{size}\""),
        sha256: Some("ab".repeat(32)),
        visibility: None,
        owner: Some("u1".into()),
        grants: vec![],
        created_at: at,
        updated_at: at,
    }
}

fn event(kind: &str, key: &str) -> NewEvent {
    NewEvent::published(kind, &serde_json::json!({ "key": key }), None, now_ms())
}

async fn events_of(db: &TestDb, kind: &str) -> usize {
    let store = db.store().await;
    let page = Page {
        limit: 1000,
        cursor: None,
    };
    store
        .list_events(&Default::default(), &page)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event_type == kind)
        .count()
}

async fn objects_are_written_replaced_listed_in_byte_order_and_deleted(db: &TestDb) {
    let store = db.store().await;
    let now = now_ms();
    let keys = ["b/2", "a", "b/1", "b~", "B", "b/1/x", "é", "b0"];
    for (i, k) in keys.iter().enumerate() {
        let before = store
            .put_object(
                &object("s", k, i as i64, now),
                Some(&event("storage.object.created", k)),
            )
            .await
            .unwrap();
        assert!(before.is_none());
    }
    store
        .put_object(&object("other", "a", 1, now), None)
        .await
        .unwrap();
    assert_eq!(events_of(db, "storage.object.created").await, keys.len());

    // Replacing keeps created_at and answers what was there.
    let mut again = object("s", "a", 99, now + 10);
    again.content_type = "image/png".into();
    let before = store.put_object(&again, None).await.unwrap().unwrap();
    assert_eq!(before.size, 1);
    let got = store.get_object("s", "a").await.unwrap().unwrap();
    assert_eq!(
        (got.size, got.created_at, got.updated_at),
        (99, now, now + 10)
    );
    assert_eq!(got.content_type, "image/png");
    assert_eq!(got.sha256.as_deref(), Some("ab".repeat(32).as_str()));

    let all: Vec<String> = store
        .list_objects("s", "", None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    let mut sorted: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    sorted.sort(); // Rust orders strings by their bytes
    assert_eq!(all, sorted, "bytewise order on every backend");

    let page = |prefix: &'static str, after: Option<&'static str>, limit| {
        let store = store.clone();
        async move {
            store
                .list_objects("s", prefix, after, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|o| o.key)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page("b/", None, 2).await, ["b/1", "b/1/x"]);
    assert_eq!(page("b/", Some("b/1/x"), 2).await, ["b/2"]);
    assert_eq!(page("b/", Some("b/2"), 2).await, Vec::<String>::new());
    assert_eq!(
        page("b%", None, 10).await,
        Vec::<String>::new(),
        "no LIKE patterns"
    );
    assert_eq!(page("é", None, 10).await, ["é"]);

    let gone = store
        .delete_object("s", "b/2", Some(&event("storage.object.deleted", "b/2")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(gone.key, "b/2");
    assert!(store.get_object("s", "b/2").await.unwrap().is_none());
    assert!(
        store
            .delete_object("s", "b/2", Some(&event("storage.object.deleted", "b/2")))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        events_of(db, "storage.object.deleted").await,
        1,
        "no event for nothing deleted"
    );
    assert!(store.get_object("other", "a").await.unwrap().is_some());
}

async fn create_only_claims_hold_a_key_until_written_released_or_expired(db: &TestDb) {
    let store = db.store().await;
    let now = now_ms();
    assert!(
        store
            .claim_object_key("s", "k", now, now + 1000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_object_key("s", "k", now, now + 1000)
            .await
            .unwrap()
    );
    // A claim is not an object.
    assert!(store.get_object("s", "k").await.unwrap().is_none());
    assert!(
        store
            .list_objects("s", "", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    store.release_object_key("s", "k").await.unwrap();
    assert!(
        store
            .claim_object_key("s", "k", now, now + 1000)
            .await
            .unwrap()
    );
    store
        .put_object(&object("s", "k", 3, now), None)
        .await
        .unwrap();
    assert!(
        !store
            .claim_object_key("s", "k", now + 5000, now + 6000)
            .await
            .unwrap(),
        "an object holds its key"
    );
    store.release_object_key("s", "k").await.unwrap();
    assert!(
        store.get_object("s", "k").await.unwrap().is_some(),
        "release leaves objects alone"
    );

    // A claim left by a stopped writer can be taken over once expired.
    assert!(
        store
            .claim_object_key("s", "j", now, now + 10)
            .await
            .unwrap()
    );
    assert_eq!(store.expired_claims(now + 5, 10).await.unwrap(), vec![]);
    assert_eq!(
        store.expired_claims(now + 11, 10).await.unwrap(),
        vec![("s".to_string(), "j".to_string())]
    );
    assert!(
        store
            .claim_object_key("s", "j", now + 11, now + 100)
            .await
            .unwrap()
    );
    assert_eq!(store.expired_claims(now + 11, 10).await.unwrap(), vec![]);
}

async fn access_settings_of_objects_and_prefixes(db: &TestDb) {
    let store = db.store().await;
    let now = now_ms();
    store
        .put_object(&object("s", "docs/a", 1, now), None)
        .await
        .unwrap();
    let change = AccessChange {
        visibility: Some(Some(Visibility::Public)),
        grants: Some(vec![Grant {
            principal: "group:staff".into(),
            permission: Permission::Write,
        }]),
        ..AccessChange::default()
    };
    let o = store
        .set_object_access("s", "docs/a", &change, now + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.visibility, Some(Visibility::Public));
    assert_eq!(o.owner.as_deref(), Some("u1"), "untouched fields stay");
    let clear = AccessChange {
        owner: Some(None),
        ..AccessChange::default()
    };
    let o = store
        .set_object_access("s", "docs/a", &clear, now + 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.owner, None);
    assert_eq!(o.grants.len(), 1);
    assert_eq!(store.get_object("s", "docs/a").await.unwrap().unwrap(), o);
    assert!(
        store
            .set_object_access("s", "nope", &clear, now)
            .await
            .unwrap()
            .is_none()
    );

    let owner = |o: &str| AccessChange {
        owner: Some(Some(o.into())),
        ..AccessChange::default()
    };
    store
        .set_prefix_rule("s", "docs/", &owner("t1"), now)
        .await
        .unwrap();
    store
        .set_prefix_rule("s", "", &owner("root"), now)
        .await
        .unwrap();
    store
        .set_prefix_rule("s", "docs/a/", &owner("deeper"), now)
        .await
        .unwrap();
    store
        .set_prefix_rule("s", "doc_", &owner("x"), now)
        .await
        .unwrap();
    let r = store
        .set_prefix_rule("s", "docs/", &change, now + 3)
        .await
        .unwrap();
    assert_eq!(
        r.owner.as_deref(),
        Some("t1"),
        "a change keeps what it does not name"
    );
    assert_eq!(r.visibility, Some(Visibility::Public));
    let rules = store.prefix_rules("s", "docs/a").await.unwrap();
    let prefixes: Vec<&str> = rules.iter().map(|r| r.prefix.as_str()).collect();
    assert_eq!(
        prefixes,
        ["", "docs/"],
        "prefixes of the key, shortest first; `_` is no wildcard"
    );
    assert_eq!(rules[1].grants.len(), 1);
    assert!(store.prefix_rules("t", "docs/a").await.unwrap().is_empty());
}

async fn uploads_complete_once_and_expired_ones_are_found(db: &TestDb) {
    let store = db.store().await;
    let now = now_ms();
    let upload = |id: &str, expires_at| Upload {
        id: id.into(),
        store: "s".into(),
        key: format!("in/{id}"),
        content_type: "image/png".into(),
        size: 10,
        sha256: None,
        owner: Some("u1".into()),
        visibility: Some(Visibility::Private),
        multipart_id: None,
        parts: 1,
        state: UploadState::Pending,
        expires_at,
        created_at: now,
    };
    store
        .insert_upload(&upload("upl_1", now + 100))
        .await
        .unwrap();
    store
        .insert_upload(&upload("upl_2", now + 50))
        .await
        .unwrap();
    store
        .insert_upload(&upload("upl_3", now + 10_000))
        .await
        .unwrap();
    assert!(
        store.insert_upload(&upload("upl_1", now)).await.is_err(),
        "ids are unique"
    );
    assert_eq!(
        store.get_upload("upl_1").await.unwrap().unwrap(),
        upload("upl_1", now + 100)
    );

    let o = object("s", "in/upl_1", 10, now);
    assert!(
        store
            .complete_upload(
                "upl_1",
                &o,
                Some(&event("storage.object.created", "in/upl_1"))
            )
            .await
            .unwrap()
    );
    assert!(
        !store.complete_upload("upl_1", &o, None).await.unwrap(),
        "once"
    );
    assert_eq!(
        store.get_upload("upl_1").await.unwrap().unwrap().state,
        UploadState::Complete
    );
    assert!(store.get_object("s", "in/upl_1").await.unwrap().is_some());
    assert_eq!(events_of(db, "storage.object.created").await, 1);

    let due: Vec<String> = store
        .expired_uploads(now + 200, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(due, ["upl_2"], "pending and expired only");
    assert!(store.drop_upload("upl_2").await.unwrap());
    assert!(!store.drop_upload("upl_2").await.unwrap());
    assert!(
        !store.drop_upload("upl_1").await.unwrap(),
        "a complete upload stays"
    );
    assert!(
        store
            .expired_uploads(now + 200, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
