//! The proxy's rules: the path only extends the base URL, private destinations need
//! leave, failures are retried with `Retry-After` honoured up to the connector's limit
//! and longer waits passed back.

use super::*;

async fn paths_only_extend_the_base_url(backend: Backend) {
    let app = hub(backend).await;
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&upstream)
        .await;
    let id = connect(
        &app,
        json!({"connector": "open-meteo", "config": {"base_url": format!("{}/v1", upstream.uri())}}),
    )
    .await;
    for rest in [
        "/a/%2e%2e/%2E%2E/admin",
        "/a/../../admin",
        "/..%2fsecret",
        "/a%5c..%5cb",
    ] {
        let (status, body) = raw_get(&app, &format!("/v1/proxy/{id}{rest}")).await;
        assert_eq!(status, 400, "{rest}: {body}");
        assert!(body.contains("invalid_path"), "{rest}: {body}");
    }
    assert!(upstream.received_requests().await.unwrap().is_empty());
    // What looks like another host stays a path on the upstream's.
    for (rest, seen) in [
        ("//evil.example/steal", "/v1//evil.example/steal"),
        ("/@evil.example/x", "/v1/@evil.example/x"),
        ("/%2F%2Fevil.example/steal", "/v1/%2F%2Fevil.example/steal"),
    ] {
        let (status, body) = raw_get(&app, &format!("/v1/proxy/{id}{rest}")).await;
        assert_eq!(status, 200, "{rest}: {body}");
        let sent = upstream.received_requests().await.unwrap();
        assert_eq!(sent.last().unwrap().url.path(), seen);
    }
    let r = proxy(&app, Method::GET, &id, "/forecast%20x?latitude=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sent = upstream.received_requests().await.unwrap();
    assert_eq!(sent.last().unwrap().url.path(), "/v1/forecast%20x");
    assert_eq!(r.headers().get_all("content-type").iter().count(), 1);
    app.finish().await;
}

async fn private_destinations_need_leave(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        |c| {
            c.connectors.define = vec![json!({
                "name": "intranet", "base_url": "{config.site}", "allow_private_networks": true,
                "config": {"site": {"required": true}}})];
        },
        vec![],
    )
    .await;
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&upstream)
        .await;
    for body in [
        json!({"connector": "open-meteo", "config": {"base_url": upstream.uri()}}),
        json!({"connector": "moodle", "config": {"site": "http://10.1.2.3/moodle"},
            "credentials": {"token": "t"}}),
        json!({"connector": "google-calendar", "config": {"token_url": "http://169.254.169.254/token"},
            "credentials": {"client_id": "c", "client_secret": "s"}}),
        json!({"connector": "nominatim", "config": {"base_url": "http://[::1]:8080",
            "user_agent": "a/1"}}),
    ] {
        let r = app.post("/v1/connections", body).send().await.unwrap();
        let p = problem(r, 422, "private_destination").await;
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains("connectors.allow_private_networks"),
            "{p}"
        );
    }
    // A connector that allows it for itself (a self-hosted API).
    let id = connect(
        &app,
        json!({"connector": "intranet", "config": {"site": upstream.uri()}}),
    )
    .await;
    let r = proxy(&app, Method::GET, &id, "/status")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.finish().await;
}

async fn retries_honour_retry_after_up_to_the_limit(backend: Backend) {
    let app = hub(backend).await;
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/busy"))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path("/busy"))
        .respond_with(ResponseTemplate::new(200).set_body_string("done"))
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path("/later"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "120"))
        .mount(&upstream)
        .await;
    Mock::given(method("POST"))
        .and(path("/orders"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&upstream)
        .await;
    let id = connect(
        &app,
        json!({"connector": "printify", "config": {"base_url": upstream.uri()},
            "credentials": {"api_key": "k"}}),
    )
    .await;
    let started = std::time::Instant::now();
    let r = proxy(&app, Method::GET, &id, "/busy").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "done");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "Retry-After: 1 was not waited for"
    );
    // 120 s is beyond the connector's 5 s: the caller gets the 429 and its wait at once.
    let started = std::time::Instant::now();
    let r = proxy(&app, Method::GET, &id, "/later")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "120");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A POST that reached the upstream is not sent twice.
    let r = proxy(&app, Method::POST, &id, "/orders")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let log = calls(&app, &id, 3).await;
    let attempts: Vec<_> = log
        .iter()
        .map(|c| c["attempts"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 1, 2]);
    let posts = upstream
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    assert_eq!(posts, 1);
    // An upstream that is not there: 502 after the retries.
    let gone = connect(
        &app,
        json!({"connector": "open-meteo", "config": {"base_url": "http://127.0.0.1:9"}}),
    )
    .await;
    let r = proxy(&app, Method::GET, &gone, "/x").send().await.unwrap();
    problem(r, 502, "upstream_unreachable").await;
    app.finish().await;
}

/// A retry is a request like any other: it waits for its own slot under the limits.
async fn retries_take_their_own_slots(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        |c| {
            c.connectors.allow_private_networks = true;
            c.connectors.define = vec![json!({
                "name": "paced", "base_url": "{config.site}",
                "config": {"site": {"required": true}},
                "rate_limits": [{"requests": 1, "per": "1s"}]})];
        },
        vec![],
    )
    .await;
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&upstream)
        .await;
    let id = connect(
        &app,
        json!({"connector": "paced", "config": {"site": upstream.uri()}}),
    )
    .await;
    let r = proxy(&app, Method::GET, &id, "/flaky")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sent = upstream.received_requests().await.unwrap();
    assert_eq!(sent.len(), 2);
    let log = calls(&app, &id, 1).await;
    assert_eq!(log[0]["attempts"], 2);
    assert!(
        log[0]["duration_ms"].as_i64().unwrap() >= 1_000,
        "the retry went before the next slot: {log:?}"
    );
    app.finish().await;
}

both_backends!(
    retries_take_their_own_slots,
    paths_only_extend_the_base_url,
    private_destinations_need_leave,
    retries_honour_retry_after_up_to_the_limit,
);

/// A GET sent byte for byte as written (an HTTP client would resolve `..` itself): the
/// status and the body.
async fn raw_get(app: &TestApp, target: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        app.addr, app.key
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}
