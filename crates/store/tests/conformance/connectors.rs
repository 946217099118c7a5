//! Conformance of the connectors slice: connections and their filters, single-use OAuth
//! states, the refresh lock, rate limit slots exact under concurrent reservations, the
//! call log and the sweep.

use std::sync::Arc;

use switchyard_core::connector::{Call, Connection, ConnectionStatus};
use switchyard_store::testing::TestDb;
use switchyard_store::{ConnectionFilter, ConnectionState, Page, Reservation, Store, conformance};

conformance!(
    connections_roundtrip_filter_and_delete,
    oauth_states_are_single_use_and_expire,
    the_refresh_lock_has_one_holder_until_it_lapses,
    rate_slots_hold_the_limit_under_concurrent_reservations,
    calls_are_logged_newest_first_and_swept,
);

fn connection(id: &str, connector: &str, external_id: Option<&str>) -> Connection {
    Connection {
        id: id.into(),
        connector: connector.into(),
        name: Some("Main".into()),
        external_id: external_id.map(Into::into),
        config: serde_json::json!({"site": "https://moodle.example.com"}),
        status: ConnectionStatus::Ok,
        scopes: vec![],
        expires_at: None,
        last_error: None,
        created_at: 1,
        updated_at: 1,
    }
}

fn page(limit: u32, cursor: Option<&str>) -> Page {
    Page {
        limit,
        cursor: cursor.map(Into::into),
    }
}

async fn connections_roundtrip_filter_and_delete(db: &TestDb) {
    let store = db.store().await;
    let a = connection("conn_a", "google-calendar", Some("instructor-1"));
    let b = connection("conn_b", "google-calendar", Some("instructor-2"));
    let c = connection("conn_c", "moodle", None);
    for conn in [&a, &b, &c] {
        store.insert_connection(conn).await.unwrap();
    }
    assert_eq!(
        store.get_connection("conn_a").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(store.get_connection("conn_x").await.unwrap(), None);

    let all = store
        .list_connections(&ConnectionFilter::default(), &page(10, None))
        .await
        .unwrap();
    let ids: Vec<_> = all.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["conn_c", "conn_b", "conn_a"]);
    let after = store
        .list_connections(&ConnectionFilter::default(), &page(1, Some("conn_c")))
        .await
        .unwrap();
    assert_eq!(after[0].id, "conn_b");
    let mine = store
        .list_connections(
            &ConnectionFilter {
                connector: Some("google-calendar".into()),
                external_id: Some("instructor-2".into()),
            },
            &page(10, None),
        )
        .await
        .unwrap();
    assert_eq!(mine, vec![b.clone()]);

    let mut changed = a.clone();
    changed.name = None;
    changed.config = serde_json::json!({"base_url": "https://other.example"});
    changed.updated_at = 5;
    assert!(store.update_connection(&changed).await.unwrap());
    assert_eq!(
        store.get_connection("conn_a").await.unwrap(),
        Some(changed.clone())
    );
    assert!(
        !store
            .update_connection(&connection("conn_x", "m", None))
            .await
            .unwrap()
    );

    let scopes = vec!["https://www.googleapis.com/auth/calendar.events".to_string()];
    let state = ConnectionState {
        status: ConnectionStatus::Ok,
        scopes: Some(&scopes),
        expires_at: Some(Some(99)),
        last_error: None,
        now: 7,
    };
    assert!(store.set_connection_state("conn_a", &state).await.unwrap());
    // Leaving scopes and expiry as they are while the status moves.
    let state = ConnectionState {
        status: ConnectionStatus::NeedsAuth,
        scopes: None,
        expires_at: None,
        last_error: Some("invalid_grant"),
        now: 8,
    };
    assert!(store.set_connection_state("conn_a", &state).await.unwrap());
    let got = store.get_connection("conn_a").await.unwrap().unwrap();
    assert_eq!(got.status, ConnectionStatus::NeedsAuth);
    assert_eq!(got.scopes, scopes);
    assert_eq!(got.expires_at, Some(99));
    assert_eq!(got.last_error.as_deref(), Some("invalid_grant"));
    assert_eq!(got.updated_at, 8);
    let clear = ConnectionState {
        status: ConnectionStatus::Ok,
        scopes: None,
        expires_at: Some(None),
        last_error: None,
        now: 9,
    };
    assert!(store.set_connection_state("conn_a", &clear).await.unwrap());
    let got = store.get_connection("conn_a").await.unwrap().unwrap();
    assert_eq!((got.expires_at, got.last_error), (None, None));
    assert!(!store.set_connection_state("conn_x", &clear).await.unwrap());

    store
        .insert_calls(&[call("call_1", "conn_a", 1)])
        .await
        .unwrap();
    store
        .insert_connection_state("d1", "conn_a", "{}", 1_000)
        .await
        .unwrap();
    assert!(store.delete_connection("conn_a").await.unwrap());
    assert!(!store.delete_connection("conn_a").await.unwrap());
    assert_eq!(store.get_connection("conn_a").await.unwrap(), None);
    assert!(
        store
            .list_calls("conn_a", &page(10, None))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.take_connection_state("d1", 0).await.unwrap(), None);
}

async fn oauth_states_are_single_use_and_expire(db: &TestDb) {
    let store = db.store().await;
    store
        .insert_connection_state("d1", "conn_a", r#"{"v":1}"#, 1_000)
        .await
        .unwrap();
    store
        .insert_connection_state("d2", "conn_a", "{}", 1_000)
        .await
        .unwrap();
    assert_eq!(
        store.take_connection_state("d1", 10).await.unwrap(),
        Some(("conn_a".to_string(), r#"{"v":1}"#.to_string()))
    );
    assert_eq!(store.take_connection_state("d1", 10).await.unwrap(), None);
    // Expired: refused, and gone.
    assert_eq!(
        store.take_connection_state("d2", 1_000).await.unwrap(),
        None
    );
    assert_eq!(store.take_connection_state("nope", 0).await.unwrap(), None);
}

async fn the_refresh_lock_has_one_holder_until_it_lapses(db: &TestDb) {
    let store = db.store().await;
    assert!(store.lock_connection("conn_a", "n1", 0, 100).await.unwrap());
    assert!(
        !store
            .lock_connection("conn_a", "n2", 50, 150)
            .await
            .unwrap()
    );
    // Another connection has its own lock.
    assert!(
        store
            .lock_connection("conn_b", "n2", 50, 150)
            .await
            .unwrap()
    );
    // The holder's time passed: taken over.
    assert!(
        store
            .lock_connection("conn_a", "n2", 100, 200)
            .await
            .unwrap()
    );
    // Giving back a lock no longer held changes nothing.
    store.unlock_connection("conn_a", "n1").await.unwrap();
    assert!(
        !store
            .lock_connection("conn_a", "n3", 150, 250)
            .await
            .unwrap()
    );
    store.unlock_connection("conn_a", "n2").await.unwrap();
    assert!(
        store
            .lock_connection("conn_a", "n3", 150, 250)
            .await
            .unwrap()
    );

    // Many contenders at once: exactly one wins.
    let store: Arc<dyn Store> = store;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .lock_connection("conn_c", &format!("n{i}"), 0, 1_000)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
}

async fn rate_slots_hold_the_limit_under_concurrent_reservations(db: &TestDb) {
    let store = db.store().await;
    // 2 per second: two at once, the third when the first leaves the window.
    let r = |now, wait| {
        let store = store.clone();
        async move { store.reserve_rate("k", 2, 1_000, now, wait).await.unwrap() }
    };
    assert_eq!(r(10_000, 0).await, Reservation::At(10_000));
    assert_eq!(r(10_100, 0).await, Reservation::At(10_100));
    assert_eq!(r(10_200, 500).await, Reservation::Full(11_000));
    assert_eq!(r(10_200, 800).await, Reservation::At(11_000));
    assert_eq!(r(10_300, 900).await, Reservation::At(11_100));
    assert_eq!(r(20_000, 0).await, Reservation::At(20_000));
    // Another key is not held by this one.
    assert_eq!(
        store
            .reserve_rate("other", 1, 1_000, 10_000, 0)
            .await
            .unwrap(),
        Reservation::At(10_000)
    );
    // A smaller limit applies at once.
    assert_eq!(
        store.reserve_rate("k", 1, 1_000, 20_100, 0).await.unwrap(),
        Reservation::Full(21_000)
    );

    // 50 reservations at once for 5 per second, waiting as long as needed: no second
    // holds more than 5 of the slots handed out.
    let store: Arc<dyn Store> = store;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .reserve_rate("burst", 5, 1_000, 100_000, 60_000)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut times = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Reservation::At(at) => times.push(at),
            Reservation::Full(at) => panic!("refused with a long enough wait: {at}"),
        }
    }
    times.sort_unstable();
    assert_eq!(times.len(), 50);
    for (i, &at) in times.iter().enumerate() {
        let in_window = times[i..].iter().take_while(|&&t| t < at + 1_000).count();
        assert!(
            in_window <= 5,
            "{in_window} slots in the second from {at}: {times:?}"
        );
    }
    assert_eq!(times[49], 109_000, "{times:?}");
}

fn call(id: &str, connection_id: &str, at: i64) -> Call {
    Call {
        id: id.into(),
        connection_id: connection_id.into(),
        connector: "moodle".into(),
        method: "GET".into(),
        path: "/webservice/rest/server.php?wstoken=REDACTED".into(),
        status: Some(200),
        attempts: 1,
        cache: "miss".into(),
        duration_ms: 12,
        bytes: 345,
        error: None,
        at,
    }
}

async fn calls_are_logged_newest_first_and_swept(db: &TestDb) {
    let store = db.store().await;
    let mut refused = call("call_2", "conn_a", 2_000);
    refused.status = None;
    refused.attempts = 0;
    refused.error = Some("rate limited".into());
    let many: Vec<_> = (0..150)
        .map(|i| call(&format!("call_x{i:03}"), "conn_b", 3_000))
        .collect();
    store
        .insert_calls(&[call("call_1", "conn_a", 1_000), refused.clone()])
        .await
        .unwrap();
    store.insert_calls(&many).await.unwrap();
    store.insert_calls(&[]).await.unwrap();
    let got = store.list_calls("conn_a", &page(10, None)).await.unwrap();
    assert_eq!(got, vec![refused, call("call_1", "conn_a", 1_000)]);
    let next = store
        .list_calls("conn_a", &page(10, Some("call_2")))
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(
        store
            .list_calls("conn_b", &page(200, None))
            .await
            .unwrap()
            .len(),
        150
    );

    store
        .insert_connection_state("old", "conn_a", "{}", 500)
        .await
        .unwrap();
    store
        .insert_connection_state("new", "conn_a", "{}", 5_000)
        .await
        .unwrap();
    store.reserve_rate("gone", 1, 100, 1_000, 0).await.unwrap();
    store
        .reserve_rate("kept", 1, 10_000, 1_000, 0)
        .await
        .unwrap();
    // One state, one call and one rate window go.
    assert_eq!(store.sweep_connectors(1_500, 1_500).await.unwrap(), 3);
    assert_eq!(
        store
            .list_calls("conn_a", &page(10, None))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .take_connection_state("new", 1_500)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store
            .reserve_rate("kept", 1, 10_000, 1_600, 0)
            .await
            .unwrap(),
        Reservation::Full(11_000)
    );
}
