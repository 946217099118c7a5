//! Operational endpoints, problem documents and the request pipeline.

use reqwest::Method;
use switchyard_store::Backend;

use crate::{TestApp, both_backends, problem};

both_backends!(
    health_readiness_and_openapi,
    errors_are_problem_documents,
    metrics_count_requests_by_route,
    request_ids_are_echoed,
);

async fn health_readiness_and_openapi(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(
        ready["store"],
        if backend == Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );

    let doc: serde_json::Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/keys",
        "/v1/keys/{id}",
        "/v1/keys/{id}/rotate",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(doc["paths"][path].is_object(), "OpenAPI lacks {path}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    app.finish().await;
}

async fn errors_are_problem_documents(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.http.body_limit.0 = 1024, vec![]).await;
    problem(
        app.get("/v1/nothing-here").send().await.unwrap(),
        404,
        "route_not_found",
    )
    .await;
    problem(
        app.req(Method::PUT, "/healthz").send().await.unwrap(),
        405,
        "method_not_allowed",
    )
    .await;
    let malformed = app
        .req(Method::POST, "/v1/keys")
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    problem(malformed, 400, "malformed_json").await;
    let wrong_type = app
        .req(Method::POST, "/v1/keys")
        .body("name=x")
        .send()
        .await
        .unwrap();
    problem(wrong_type, 415, "unsupported_media_type").await;
    let wrong_shape = app
        .post("/v1/keys", serde_json::json!({"name": 5}))
        .send()
        .await
        .unwrap();
    problem(wrong_shape, 422, "invalid_body").await;
    let huge = app
        .post("/v1/keys", serde_json::json!({"name": "x".repeat(2048)}))
        .send()
        .await
        .unwrap();
    problem(huge, 413, "body_too_large").await;
    let bad_query = app.get("/v1/keys?limit=1000").send().await.unwrap();
    problem(bad_query, 400, "invalid_query").await;
    let bad_query = app.get("/v1/keys?limit=abc").send().await.unwrap();
    problem(bad_query, 400, "invalid_query").await;
    problem(
        app.get("/v1/keys/key_nope").send().await.unwrap(),
        404,
        "not_found",
    )
    .await;

    // Nothing above stored anything: the bootstrap key is still the only key.
    let keys: serde_json::Value = app.get_json("/v1/keys").await;
    assert_eq!(keys["data"].as_array().unwrap().len(), 1);
    app.finish().await;
}

async fn metrics_count_requests_by_route(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for _ in 0..3 {
        app.get("/v1/keys").send().await.unwrap();
    }
    app.client.get(app.url("/v1/keys")).send().await.unwrap(); // 401
    app.get("/v1/keys/key_01m8420jp1edj9apaftjh900p4")
        .send()
        .await
        .unwrap(); // 404
    let text = app.metrics().await;
    assert!(
        text.contains(
            r#"switchyard_http_requests_total{method="GET",route="/v1/keys",status="200"} 3"#
        ),
        "{text}"
    );
    assert!(text.contains(
        r#"switchyard_http_requests_total{method="GET",route="/v1/keys",status="401"} 1"#
    ));
    // Routes are labelled by template, not by the concrete id.
    assert!(text.contains(r#"route="/v1/keys/{id}",status="404"} 1"#));
    assert!(text.contains("switchyard_http_request_duration_seconds_bucket"));
    assert!(text.contains("switchyard_store_up 1"));
    assert!(text.contains("# TYPE switchyard_queue_jobs gauge"));
    app.finish().await;
}

async fn request_ids_are_echoed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-123");
    let r = app
        .client
        .get(app.url("/v1/keys"))
        .header("x-request-id", "trace-456")
        .send()
        .await
        .unwrap();
    let body = problem(r, 401, "unauthorized").await;
    assert_eq!(body["request_id"], "trace-456");
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert!(
        r.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
    app.finish().await;
}
