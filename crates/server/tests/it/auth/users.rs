//! Users of a pool over HTTP: creation and its checks, lookups, changes, deletion,
//! statuses at login, bcrypt import and the brute-force limits.

use serde_json::{Value, json};
use switchyard_store::Backend;

use super::{create_user, login, peer, send};
use crate::{TestApp, both_backends, problem};

both_backends!(
    users_are_created_found_changed_and_deleted,
    imported_bcrypt_hashes_log_in_and_become_argon2id,
    statuses_decide_who_logs_in_and_leaving_active_ends_sessions,
    failed_logins_slow_an_account_down_before_any_hash,
    a_burst_past_the_hashing_permits_is_told_to_retry,
);

async fn users_are_created_found_changed_and_deleted(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        |c| {
            c.auth.pools = serde_json::from_value(json!([{
                "name": "school", "roles": ["student", "instructor", "admin", "superadmin"],
                "default_roles": ["student"], "signup_status": "pending",
            }]))
            .unwrap();
        },
        vec![],
    )
    .await;
    let user = create_user(
        &app,
        "school",
        json!({"email": " Ada@Example.com ", "password": "correct horse battery", "metadata": {"cohort": 7}}),
    )
    .await;
    assert_eq!(user["email"], "ada@example.com", "trimmed and lowercased");
    assert_eq!(
        user["roles"],
        json!(["student"]),
        "the pool's default roles"
    );
    assert_eq!(user["status"], "pending", "the pool's signup status");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["has_password"], true);
    assert!(
        user.get("password_hash").is_none(),
        "the hash is never shown"
    );
    let id = user["id"].as_str().unwrap();

    let again = send(
        &app,
        "/v1/auth/school/users",
        json!({"email": "ADA@example.com", "password": "another long one"}),
    )
    .await;
    problem(again, 409, "email_taken").await;

    for (body, field) in [
        (
            json!({"email": "not-an-email", "password": "long enough pw"}),
            "email",
        ),
        (
            json!({"email": "b@example.com", "password": "short"}),
            "password",
        ),
        (
            json!({"email": "b@example.com", "password": "Password123"}),
            "password",
        ),
        (
            json!({"email": "b@example.com", "password": "long enough pw", "roles": ["wizard"]}),
            "roles[0]",
        ),
        (
            json!({"email": "b@example.com", "password": "long enough pw", "status": "banned"}),
            "status",
        ),
        (
            json!({"email": "b@example.com", "password_hash": "$1$md5"}),
            "password_hash",
        ),
        (
            json!({"email": "b@example.com", "metadata": [1]}),
            "metadata",
        ),
    ] {
        let r = send(&app, "/v1/auth/school/users", body.clone()).await;
        let p = problem(r, 422, "validation_failed").await;
        assert_eq!(p["errors"][0]["field"], field, "{body}");
    }
    let found = app
        .get_json("/v1/auth/school/users?email=ADA%40example.com")
        .await;
    assert_eq!(found["data"][0]["id"], id);
    let none = app
        .get_json("/v1/auth/school/users?email=nobody%40example.com")
        .await;
    assert_eq!(none["data"], json!([]));
    let other_pool = app
        .get(&format!("/v1/auth/default/users/{id}"))
        .send()
        .await
        .unwrap();
    problem(other_pool, 404, "not_found").await;
    let no_pool = app
        .get("/v1/auth/nope/users?email=a%40b.c")
        .send()
        .await
        .unwrap();
    problem(no_pool, 404, "pool_not_found").await;

    let changed: Value = app
        .req(reqwest::Method::PATCH, &format!("/v1/auth/school/users/{id}"))
        .json(&json!({"roles": ["instructor", "admin"], "status": "active", "email_verified": true, "metadata": {"cohort": 8}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(changed["roles"], json!(["instructor", "admin"]));
    assert_eq!(changed["status"], "active");
    assert_eq!(changed["metadata"], json!({"cohort": 8}));
    let moved: Value = app
        .req(
            reqwest::Method::PATCH,
            &format!("/v1/auth/school/users/{id}"),
        )
        .json(&json!({"email": "ada.l@example.com"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(moved["email"], "ada.l@example.com");
    assert_eq!(
        moved["email_verified"], false,
        "a new address is not verified yet"
    );

    let pair = login(&app, "school", "ada.l@example.com", "correct horse battery").await;
    let claims = super::claims(pair["access_token"].as_str().unwrap());
    assert_eq!(claims["roles"], json!(["instructor", "admin"]));
    let gone = app
        .req(
            reqwest::Method::DELETE,
            &format!("/v1/auth/school/users/{id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    let r = send(
        &app,
        "/v1/auth/school/token/refresh",
        json!({"refresh_token": pair["refresh_token"]}),
    )
    .await;
    assert_eq!(r.status(), 401, "deleting a user ends its sessions");
    let r = app
        .get(&format!("/v1/auth/school/users/{id}"))
        .send()
        .await
        .unwrap();
    problem(r, 404, "not_found").await;
    app.finish().await;
}

async fn imported_bcrypt_hashes_log_in_and_become_argon2id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let made = peer(json!({"op": "bcrypt", "password": "imported password 1", "rounds": 10}));
    let hash = made["hash"].as_str().unwrap();
    assert!(hash.starts_with("$2b$10$"), "{hash}");
    let user = create_user(
        &app,
        "default",
        json!({"email": "old@example.com", "password_hash": hash}),
    )
    .await;
    let id = user["id"].as_str().unwrap();
    let stored = |app: &TestApp| {
        let store = app.state.store.clone();
        let id = id.to_string();
        async move {
            store
                .get_user("default", &id)
                .await
                .unwrap()
                .unwrap()
                .password_hash
                .unwrap()
        }
    };
    assert_eq!(
        stored(&app).await,
        hash,
        "kept as imported until the next login"
    );

    let wrong = send(
        &app,
        "/v1/auth/default/login",
        json!({"email": "old@example.com", "password": "imported password 2"}),
    )
    .await;
    problem(wrong, 401, "invalid_credentials").await;
    assert_eq!(stored(&app).await, hash, "a failed login changes nothing");

    login(&app, "default", "old@example.com", "imported password 1").await;
    let upgraded = stored(&app).await;
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{upgraded}"
    );
    login(&app, "default", "old@example.com", "imported password 1").await;
    assert_eq!(stored(&app).await, upgraded, "an argon2id hash is kept");
    app.finish().await;
}

async fn statuses_decide_who_logs_in_and_leaving_active_ends_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = create_user(
        &app,
        "default",
        json!({"email": "s@example.com", "password": "a fine password"}),
    )
    .await;
    let id = user["id"].as_str().unwrap();
    let pair = login(&app, "default", "s@example.com", "a fine password").await;
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    assert_eq!(pair["user"]["id"], id);

    for status in ["suspended", "pending", "rejected"] {
        let r = app
            .req(
                reqwest::Method::PATCH,
                &format!("/v1/auth/default/users/{id}"),
            )
            .json(&json!({"status": status}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let right = send(
            &app,
            "/v1/auth/default/login",
            json!({"email": "s@example.com", "password": "a fine password"}),
        )
        .await;
        problem(right, 403, &format!("account_{status}")).await;
        let wrong = send(
            &app,
            "/v1/auth/default/login",
            json!({"email": "s@example.com", "password": "not the password"}),
        )
        .await;
        problem(wrong, 401, "invalid_credentials").await;
    }
    let refresh = send(
        &app,
        "/v1/auth/default/token/refresh",
        json!({"refresh_token": pair["refresh_token"]}),
    )
    .await;
    problem(refresh, 401, "session_ended").await;
    let session = app
        .state
        .store
        .get_session("default", pair["session_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.revoked_reason.as_deref(), Some("status"));

    let unknown = send(
        &app,
        "/v1/auth/default/login",
        json!({"email": "nobody@example.com", "password": "a fine password"}),
    )
    .await;
    let p = problem(unknown, 401, "invalid_credentials").await;
    assert_eq!(
        p["detail"], "the email or the password is wrong",
        "the same answer for unknown emails"
    );
    app.finish().await;
}

async fn failed_logins_slow_an_account_down_before_any_hash(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        |c| {
            c.auth.limits.ip_burst = 8;
            c.auth.limits.ip_per_minute = 1;
        },
        vec![],
    )
    .await;
    create_user(
        &app,
        "default",
        json!({"email": "bf@example.com", "password": "the real password"}),
    )
    .await;
    let attempt = |password: &'static str, ip: &'static str| {
        app.post(
            "/v1/auth/default/login",
            json!({"email": "bf@example.com", "password": password, "client_ip": ip}),
        )
        .send()
    };
    for _ in 0..5 {
        problem(
            attempt("guess guess", "10.0.0.1").await.unwrap(),
            401,
            "invalid_credentials",
        )
        .await;
    }
    let sixth = attempt("guess guess", "10.0.0.3").await.unwrap();
    problem(sixth, 429, "too_many_attempts").await;
    let r = attempt("the real password", "10.0.0.2").await.unwrap();
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=2).contains(&retry),
        "the first delay is 1 s, got {retry}"
    );
    problem(r, 429, "too_many_attempts").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let ok = attempt("the real password", "10.0.0.2").await.unwrap();
    assert_eq!(
        ok.status(),
        200,
        "the delay ends; nothing locks the account for good"
    );
    let ok = attempt("the real password", "10.0.0.2").await.unwrap();
    assert_eq!(ok.status(), 200, "a success clears the count");

    // One IP: its bucket of 8 is spent (5 above and the three here), then 429.
    for _ in 0..3 {
        attempt("guess again", "10.0.0.1").await.unwrap();
    }
    let r = attempt("the real password", "10.0.0.1").await.unwrap();
    assert!(r.headers().contains_key("retry-after"));
    problem(r, 429, "too_many_attempts").await;
    app.finish().await;
}

async fn a_burst_past_the_hashing_permits_is_told_to_retry(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        |c| {
            c.auth.hashing.permits = Some(1);
            c.auth.hashing.queue = 0;
        },
        vec![],
    )
    .await;
    let mut tasks = Vec::new();
    for i in 0..6 {
        let request = app.post(
            "/v1/auth/default/users",
            json!({"email": format!("u{i}@example.com"), "password": "hash me slowly"}),
        );
        tasks.push(tokio::spawn(async move { request.send().await.unwrap() }));
    }
    let (mut created, mut busy) = (0, 0);
    for t in tasks {
        let r = t.await.unwrap();
        if r.status() == 201 {
            created += 1;
        } else {
            assert!(r.headers().contains_key("retry-after"));
            problem(r, 503, "busy").await;
            busy += 1;
        }
    }
    assert!(created >= 1 && busy >= 1, "created {created}, busy {busy}");
    let listed = app
        .get_json("/v1/auth/default/users?email=u0%40example.com")
        .await;
    assert!(listed["data"].as_array().unwrap().len() <= 1);
    app.finish().await;
}
