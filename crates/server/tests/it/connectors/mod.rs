//! Connectors over HTTP: every built-in connector against a `wiremock` upstream built
//! from its API's documented shapes, the proxy's rules (traversal, host switching,
//! private destinations, cache, retries), OAuth end to end, and rate limits held across
//! two nodes.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_store::Backend;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::{TestApp, both_backends, problem};

mod limits;
mod oauth;
mod proxy;

/// A hub whose connectors may reach the loopback upstreams of the tests.
pub async fn hub(backend: Backend) -> TestApp {
    TestApp::spawn_with(
        backend,
        |c| {
            c.connectors.allow_private_networks = true;
            c.connectors.return_to = vec!["https://app.example.com/".into()];
        },
        vec![],
    )
    .await
}

/// Creates a connection; its id.
pub async fn connect(app: &TestApp, body: Value) -> String {
    let r = app.post("/v1/connections", body).send().await.unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

pub fn proxy(app: &TestApp, method: Method, id: &str, rest: &str) -> reqwest::RequestBuilder {
    app.req(method, &format!("/v1/proxy/{id}{rest}"))
}

/// The call log of a connection once it holds `n` calls.
pub async fn calls(app: &TestApp, id: &str, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let v = app
            .get_json(&format!("/v1/connections/{id}/calls?limit=100"))
            .await;
        let data = v["data"].as_array().unwrap().clone();
        if data.len() >= n {
            return data;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the call log of {id} never held {n} calls");
}

async fn printify_moodle_and_ttn_get_their_credentials(backend: Backend) {
    let app = hub(backend).await;
    let upstream = MockServer::start().await;
    // Printify: `Authorization: Bearer {api_key}`.
    Mock::given(method("GET"))
        .and(path("/v1/shops.json"))
        .and(header("authorization", "Bearer pk_live_123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 5, "title": "Shop"}])))
        .expect(1)
        .mount(&upstream)
        .await;
    let printify = connect(
        &app,
        json!({"connector": "printify", "name": "Store",
            "config": {"base_url": format!("{}/v1", upstream.uri())},
            "credentials": {"api_key": "pk_live_123"}}),
    )
    .await;
    // The caller's own key and cookies never reach the upstream.
    let r = proxy(&app, Method::GET, &printify, "/shops.json")
        .header("cookie", "session=abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()[0]["title"], "Shop");
    let sent = &upstream.received_requests().await.unwrap()[0];
    assert!(sent.headers.get("cookie").is_none());
    let shown = app.get_json(&format!("/v1/connections/{printify}")).await;
    assert_eq!(shown["status"], "ok");
    assert_eq!(shown["credentials"], json!(["api_key"]));
    assert!(!shown.to_string().contains("pk_live_123"), "{shown}");
    // New credentials are used from the next call; a deleted connection is gone.
    Mock::given(method("GET"))
        .and(path("/v1/shops.json"))
        .and(header("authorization", "Bearer pk_live_456"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&upstream)
        .await;
    let r = app
        .req(Method::PATCH, &format!("/v1/connections/{printify}"))
        .json(&json!({"name": "Main store", "credentials": {"api_key": "pk_live_456"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["name"], "Main store");
    let r = proxy(&app, Method::GET, &printify, "/shops.json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .req(Method::DELETE, &format!("/v1/connections/{printify}"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let r = proxy(&app, Method::GET, &printify, "/shops.json")
        .send()
        .await
        .unwrap();
    problem(r, 404, "not_found").await;

    // Moodle: `wstoken` and `moodlewsrestformat=json` in the query; an `exception`
    // inside a 200 is the error it is.
    Mock::given(method("GET"))
        .and(path("/webservice/rest/server.php"))
        .and(query_param("wstoken", "moodle-secret-token"))
        .and(query_param("moodlewsrestformat", "json"))
        .and(query_param("wsfunction", "core_webservice_get_site_info"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sitename": "Campus"})))
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path("/webservice/rest/server.php"))
        .and(query_param("wsfunction", "core_course_get_courses"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "exception": "moodle_exception", "errorcode": "invalidtoken",
            "message": "Invalid token - token not found"})))
        .mount(&upstream)
        .await;
    let moodle = connect(
        &app,
        json!({"connector": "moodle", "config": {"site": upstream.uri()},
            "credentials": {"token": "moodle-secret-token"}}),
    )
    .await;
    let ok = "/webservice/rest/server.php?wsfunction=core_webservice_get_site_info";
    let r = proxy(&app, Method::GET, &moodle, ok).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["sitename"], "Campus");
    let bad = "/webservice/rest/server.php?wsfunction=core_course_get_courses&wstoken=moodle-secret-token";
    let r = proxy(&app, Method::GET, &moodle, bad).send().await.unwrap();
    let p = problem(r, 502, "upstream_error").await;
    assert!(
        p["detail"].as_str().unwrap().contains("invalidtoken"),
        "{p}"
    );
    assert!(!p.to_string().contains("moodle-secret-token"), "{p}");
    let log = calls(&app, &moodle, 2).await;
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains("moodle-secret-token"), "{text}");
    assert_eq!(log[0]["status"], 502);
    assert!(
        log[0]["path"]
            .as_str()
            .unwrap()
            .contains("wstoken=REDACTED"),
        "{text}"
    );
    assert_eq!(log[1]["status"], 200);
    assert_eq!(log[1]["attempts"], 1);
    let metrics = app.metrics().await;
    assert!(!metrics.contains("moodle-secret-token"));
    assert!(metrics.contains("connector=\"moodle\""), "{metrics}");
    assert!(metrics.contains("outcome=\"upstream_error\""), "{metrics}");

    // The Things Network: a cluster among eu1, nam1, au1 and a Bearer API key.
    Mock::given(method("GET"))
        .and(path("/api/v3/applications/greenhouse/devices"))
        .and(header("authorization", "Bearer NNSXS.KEY"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"end_devices": []})))
        .expect(1)
        .mount(&upstream)
        .await;
    let r = app
        .post(
            "/v1/connections",
            json!({"connector": "ttn", "config": {"cluster": "mars1"},
                "credentials": {"api_key": "NNSXS.KEY"}}),
        )
        .send()
        .await
        .unwrap();
    let p = problem(r, 422, "validation_failed").await;
    assert!(p.to_string().contains("config.cluster"), "{p}");
    let ttn = connect(
        &app,
        json!({"connector": "ttn", "config": {"base_url": format!("{}/api/v3", upstream.uri())},
            "credentials": {"api_key": "NNSXS.KEY"}}),
    )
    .await;
    let shown = app.get_json(&format!("/v1/connections/{ttn}")).await;
    assert_eq!(
        shown["config"]["cluster"], "eu1",
        "the default is kept: {shown}"
    );
    let r = proxy(&app, Method::GET, &ttn, "/applications/greenhouse/devices")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A missing credential is refused when the connection is made.
    let r = app
        .post("/v1/connections", json!({"connector": "printify"}))
        .send()
        .await
        .unwrap();
    let p = problem(r, 422, "validation_failed").await;
    assert!(p.to_string().contains("credentials.api_key"), "{p}");
    app.finish().await;
}

async fn open_meteo_and_nominatim_are_cached_and_identified(backend: Backend) {
    let app = hub(backend).await;
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/forecast"))
        .and(query_param("latitude", "52.52"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"hourly": {"temperature_2m": [1.5]}})),
        )
        .expect(2)
        .mount(&upstream)
        .await;
    let meteo = connect(
        &app,
        json!({"connector": "open-meteo", "config": {"base_url": format!("{}/v1", upstream.uri())}}),
    )
    .await;
    let get = |q: &'static str, accept: &'static str| {
        proxy(&app, Method::GET, &meteo, q)
            .header("accept", accept)
            .send()
    };
    let first = get(
        "/forecast?latitude=52.52&longitude=13.41",
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-switchyard-cache"], "miss");
    // The same query in another order, the same Accept: a hit.
    let again = get(
        "/forecast?longitude=13.41&latitude=52.52",
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(again.headers()["x-switchyard-cache"], "hit");
    assert_eq!(
        again.json::<Value>().await.unwrap()["hourly"]["temperature_2m"][0],
        1.5
    );
    // Another Accept is another answer.
    let other = get("/forecast?latitude=52.52&longitude=13.41", "*/*")
        .await
        .unwrap();
    assert_eq!(other.headers()["x-switchyard-cache"], "miss");
    let log = calls(&app, &meteo, 3).await;
    let caches: Vec<_> = log.iter().map(|c| c["cache"].as_str().unwrap()).collect();
    assert_eq!(caches, ["miss", "hit", "miss"]);
    assert_eq!(log[1]["attempts"], 0);

    // Nominatim: the identifying User-Agent is required configuration.
    let r = app
        .post("/v1/connections", json!({"connector": "nominatim"}))
        .send()
        .await
        .unwrap();
    let p = problem(r, 422, "validation_failed").await;
    assert!(p.to_string().contains("config.user_agent"), "{p}");
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(header("user-agent", "acme-bookings/1.0 (ops@acme.example)"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([{"lat": "52.5", "lon": "13.4"}])),
        )
        .expect(1)
        .mount(&upstream)
        .await;
    let nominatim = connect(
        &app,
        json!({"connector": "nominatim", "config": {"base_url": upstream.uri(),
            "user_agent": "acme-bookings/1.0 (ops@acme.example)"}}),
    )
    .await;
    for cache in ["miss", "hit"] {
        let r = proxy(
            &app,
            Method::GET,
            &nominatim,
            "/search?q=Berlin&format=json",
        )
        .header("user-agent", "curl/8")
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-switchyard-cache"], cache);
    }
    app.finish().await;
}

both_backends!(
    printify_moodle_and_ttn_get_their_credentials,
    open_meteo_and_nominatim_are_cached_and_identified,
);
