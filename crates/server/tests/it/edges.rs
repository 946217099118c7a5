//! Requests malformed at the edges — bytes that are not HTTP, an overlong URI or header
//! section, a body declared too long and never sent, an unreadable path segment, a
//! cursor or query parameter the route does not know — are all answered with a 4xx
//! problem document, at once, and change nothing.

use std::time::Duration;

use serde_json::Value;
use switchyard_store::Backend;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::TestApp;

/// Writes `request` on a new connection and reads the answer until the hub closes the
/// connection (or, for answers that keep it open, until the declared body is read).
pub(crate) async fn raw(app: &TestApp, request: &[u8]) -> (u16, String, Value) {
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    // The hub may answer and close before it has read all of a huge request.
    let _ = socket.write_all(request).await;
    let mut answer = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
            if complete(&answer) {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("the hub answers at once");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head[9..12].parse().unwrap();
    let body = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, head.to_ascii_lowercase(), body)
}

/// Whether `answer` holds a whole head and the body its `content-length` declares.
fn complete(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer).to_ascii_lowercase();
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .is_some_and(|n| body.len() >= n)
}

fn assert_problem(answer: &(u16, String, Value), status: u16, code: &str) {
    let (got, head, body) = answer;
    assert_eq!(*got, status, "{head}\n{body}");
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    assert!(body["request_id"].as_str().is_some(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparseable_requests_get_problem_documents() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let garbage = raw(
        &app,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    )
    .await;
    assert_problem(&garbage, 400, "malformed_request");
    let not_http = raw(&app, b"HELLO THERE\r\n\r\n").await;
    assert_problem(&not_http, 400, "malformed_request");

    let long_uri = format!(
        "GET /v1/keys?{} HTTP/1.1\r\nhost: x\r\n\r\n",
        "a".repeat(70_000)
    );
    assert_problem(&raw(&app, long_uri.as_bytes()).await, 414, "uri_too_long");

    let mut many = String::from("GET /healthz HTTP/1.1\r\nhost: x\r\n");
    for i in 0..200 {
        many.push_str(&format!("x-h{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_problem(&raw(&app, many.as_bytes()).await, 431, "headers_too_large");
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "b".repeat(600_000)
    );
    assert_problem(&raw(&app, huge.as_bytes()).await, 431, "headers_too_large");

    // The hub's own answers pass untouched, with and without a body.
    let ok = raw(
        &app,
        b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    assert!(ok.1.contains("content-type: application/json"), "{}", ok.1);
    let unauthorized = raw(
        &app,
        b"GET /v1/keys HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_problem(&unauthorized, 401, "unauthorized");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_declared_too_long_is_refused_before_it_is_sent() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let source = crate::intake::create_source(
        &app,
        serde_json::json!({"name": "s", "kind": "stripe", "secret": crate::intake::STRIPE_SECRET}),
    )
    .await;
    let api = format!(
        "POST /v1/keys HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: 1000000000\r\n\r\n{{",
        app.key
    );
    assert_problem(&raw(&app, api.as_bytes()).await, 413, "body_too_large");
    let hook = format!(
        "POST /in/{} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000000000\r\n\r\n{{",
        source["id"].as_str().unwrap()
    );
    assert_problem(&raw(&app, hook.as_bytes()).await, 413, "body_too_large");
    // Nothing was created.
    let keys: Value = app.get_json("/v1/keys").await;
    assert_eq!(keys["data"].as_array().unwrap().len(), 1);
    app.finish().await;
}

/// Every list route refuses a cursor that is not one of its own and a query parameter
/// it does not know, naming it; every route with an id refuses an unreadable one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_cursors_parameters_and_unreadable_ids_are_400() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc: Value = app.get_json("/openapi.json").await;
    let (mut lists, mut by_id, mut wrong) = (0, 0, Vec::new());
    let mut check = async |path: &str, url: String, code: &str, names: &str, or_404: bool| {
        let r = app.get(&url).send().await.unwrap();
        let status = r.status().as_u16();
        let problem_type = r.headers().get("content-type").cloned();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let named = body["detail"].as_str().is_some_and(|d| d.contains(names));
        let ok = (status == 400
            && body["code"] == code
            && named
            && problem_type.is_some_and(|t| t == "application/problem+json"))
            // A list under an id the hub does not have may say so before its cursor.
            || (or_404 && status == 404 && body["code"] == "not_found");
        if !ok {
            wrong.push(format!("{path}: GET {url} -> {status} {body}"));
        }
    };
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(get) = item.get("get") else { continue };
        if !path.starts_with("/v1/") {
            continue;
        }
        let params = get["parameters"].as_array().cloned().unwrap_or_default();
        let in_path: Vec<&str> = params
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        let concrete = |value: &str| {
            in_path.iter().fold(path.clone(), |p, name| {
                p.replace(&format!("{{{name}}}"), value)
            })
        };
        // The proxy forwards every query parameter to the upstream API as given.
        if !path.starts_with("/v1/proxy/") {
            let url = format!("{}?limmit=5", concrete("x"));
            check(path, url, "invalid_query", "limmit", false).await;
        }
        if params.iter().any(|p| p["name"] == "cursor") {
            lists += 1;
            let url = format!("{}?cursor=bogus%20cursor", concrete("x"));
            check(path, url, "invalid_query", "cursor", !in_path.is_empty()).await;
        }
        if !in_path.is_empty() {
            by_id += 1;
            check(path, concrete("%FF%FE"), "invalid_path", "", false).await;
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(lists >= 6, "{lists} lists");
    assert!(by_id >= 6, "{by_id} routes with ids");
    app.finish().await;
}
