//! Logins under pressure: an unknown email costs the time of a wrong password, and a
//! burst of concurrent logins is answered — 200, 401, or 503 with `Retry-After` — with
//! none left hanging.

use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_store::Backend;

use super::create_user;
use crate::{TestApp, both_backends};

both_backends!(
    an_unknown_email_takes_the_time_of_a_wrong_password,
    a_burst_of_fifty_logins_is_answered_without_hanging,
);

async fn an_unknown_email_takes_the_time_of_a_wrong_password(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.auth.limits.enabled = false, vec![]).await;
    create_user(
        &app,
        "default",
        json!({"email": "known@example.com", "password": "the known password"}),
    )
    .await;
    let time = |email: &'static str| {
        let request = app.post(
            "/v1/auth/default/login",
            json!({"email": email, "password": "a wrong password"}),
        );
        async move {
            let t0 = Instant::now();
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), 401);
            t0.elapsed()
        }
    };
    // Interleaved, so that both see the same machine.
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..31 {
        known.push(time("known@example.com").await);
        unknown.push(time("nobody@example.com").await);
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[15].as_secs_f64(), unknown[15].as_secs_f64());
    assert!(
        (u / k - 1.0).abs() <= 0.2,
        "median unknown {u:.4} s vs wrong password {k:.4} s"
    );
    app.finish().await;
}

async fn a_burst_of_fifty_logins_is_answered_without_hanging(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        |c| {
            c.auth.limits.enabled = false;
            c.auth.hashing.queue = 16;
            c.auth.hashing.wait.0 = Duration::from_secs(2);
        },
        vec![],
    )
    .await;
    create_user(
        &app,
        "default",
        json!({"email": "burst@example.com", "password": "the burst password"}),
    )
    .await;
    let started = Instant::now();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let password = if i % 2 == 0 {
                "the burst password"
            } else {
                "not the password"
            };
            let request = app.post(
                "/v1/auth/default/login",
                json!({"email": "burst@example.com", "password": password}),
            );
            tokio::spawn(async move {
                tokio::time::timeout(Duration::from_secs(30), request.send()).await
            })
        })
        .collect();
    let mut seen = std::collections::BTreeMap::new();
    for t in tasks {
        let r = t.await.unwrap().expect("no login hangs").unwrap();
        let status = r.status().as_u16();
        assert!(matches!(status, 200 | 401 | 503), "{status}");
        if status == 503 {
            assert!(r.headers().contains_key("retry-after"));
        }
        *seen.entry(status).or_insert(0) += 1;
    }
    assert!(seen.get(&200).is_some_and(|n| *n > 0), "{seen:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "answered within {:?}",
        started.elapsed()
    );
    app.finish().await;
}
