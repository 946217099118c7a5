//! Refusals: keys that climb out or hide characters, bodies over the limit or of a
//! type the store refuses (nothing is kept, in the hub or in the backend), unknown
//! stores, scopes; and stores configured through the API, whose credentials are never
//! shown.

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_store::Backend;

use super::{Kind, PART, Setup, pattern};
use crate::{both_backends, problem};

both_backends!(
    bad_keys_are_refused_and_change_nothing,
    oversize_and_wrong_type_bodies_leave_nothing_behind,
    stores_are_configured_through_the_api_without_showing_credentials,
);

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(read) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in read.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

async fn bad_keys_are_refused_and_change_nothing(backend: Backend) {
    let s = Setup::start(backend, Kind::Local).await;
    // Sent as written: an HTTP client would resolve the dot segments itself.
    for key in [
        "%2E%2E/escape",
        "a/%2E%2E/%2E%2E/b",
        "a/../b",
        "a//b",
        "a/",
        "%2Fabs",
        "a%00b",
        "a%0Ab",
        "x/./y",
    ] {
        let request = format!(
            "PUT /v1/storage/files/objects/{key} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-length: 1\r\nconnection: close\r\n\r\nx",
            s.app.key
        );
        let (status, _, body) = crate::edges::raw(&s.app, request.as_bytes()).await;
        assert_eq!(status, 400, "{key}: {body}");
        assert!(
            matches!(
                body["code"].as_str(),
                Some("invalid_key" | "invalid_characters")
            ),
            "{key}: {body}"
        );
    }
    let long = "k".repeat(1025);
    let r = s
        .app
        .req(Method::PUT, &format!("/v1/storage/files/objects/{long}"))
        .body("x")
        .send()
        .await
        .unwrap();
    problem(r, 400, "invalid_key").await;
    let r = s
        .app
        .post("/v1/storage/files/copy", json!({"from": "a", "to": "../b"}))
        .send()
        .await
        .unwrap();
    problem(r, 400, "invalid_key").await;
    let r = s
        .app
        .post(
            "/v1/storage/files/signed-urls",
            json!({"key": "../a", "method": "GET"}),
        )
        .send()
        .await
        .unwrap();
    problem(r, 400, "invalid_key").await;
    let page = s.app.get_json("/v1/storage/files/objects").await;
    assert_eq!(page["data"], json!([]));
    let dir = s.app.db.dir.clone().unwrap();
    assert!(
        files(&dir.join("storage")).is_empty(),
        "nothing written under the data directory"
    );
    assert!(!dir.parent().unwrap().join("escape").exists());

    problem(
        s.app
            .get("/v1/storage/nostore/objects/a")
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    let r = s
        .app
        .post("/v1/keys", json!({"name": "mail", "scopes": ["messages"]}))
        .send()
        .await
        .unwrap();
    let other: Value = r.json().await.unwrap();
    let r = s
        .app
        .client
        .put(s.app.url("/v1/storage/files/objects/a"))
        .bearer_auth(other["key"].as_str().unwrap())
        .body("x")
        .send()
        .await
        .unwrap();
    problem(r, 403, "forbidden").await;
    s.finish().await;
}

async fn oversize_and_wrong_type_bodies_leave_nothing_behind(backend: Backend) {
    for kind in [Kind::Local, Kind::S3] {
        let s = Setup::start_with(backend, kind, |c| {
            c.max_size = Some((PART + 100) as u64);
            c.allowed_types = vec!["image/*".into(), "application/pdf".into()];
        })
        .await;
        let root = match &s.peer {
            Some(p) => p.root.clone(),
            None => s.app.db.dir.clone().unwrap().join("storage"),
        };
        let before = files(&root);
        // Declared too long: refused before a byte is read.
        let request = format!(
            "PUT /v1/storage/files/objects/a.png HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: image/png\r\ncontent-length: {}\r\n\r\n",
            s.app.key,
            PART + 101
        );
        let (status, _, body) = crate::edges::raw(&s.app, request.as_bytes()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (413, Some("too_large")),
            "{body}"
        );
        // Not declared (streamed): refused when the limit passes, mid multipart upload.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            (0..6).map(|i| Ok(pattern(PART / 4, i))).collect();
        let stream = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
        let r = s.put("b.png", stream, "image/png").await;
        problem(r, 413, "too_large").await;
        let r = s.put("c.txt", "text", "text/plain").await;
        problem(r, 415, "unsupported_type").await;
        let r = s
            .app
            .post(
                "/v1/storage/files/uploads",
                json!({"content_type": "image/png", "size": PART + 101}),
            )
            .send()
            .await
            .unwrap();
        problem(r, 413, "too_large").await;
        let r = s
            .app
            .post(
                "/v1/storage/files/uploads",
                json!({"content_type": "text/html", "size": 1}),
            )
            .send()
            .await
            .unwrap();
        problem(r, 415, "unsupported_type").await;
        assert_eq!(
            s.put("ok.png", "png", "IMAGE/PNG").await.status(),
            201,
            "types compare case-insensitively"
        );
        for key in ["a.png", "b.png", "c.txt"] {
            problem(s.get(key).await, 404, "not_found").await;
        }
        let page = s.app.get_json("/v1/storage/files/objects").await;
        assert_eq!(page["data"].as_array().unwrap().len(), 1, "{page}");
        // s3s-fs names an object's side files with the key in base64 (`b2sucG5n`).
        let after: Vec<String> = files(&root)
            .into_iter()
            .filter(|f| !before.contains(f) && !f.contains("ok.png") && !f.contains("b2sucG5n"))
            .collect();
        assert!(after.is_empty(), "{kind:?}: left behind {after:?}");
        s.finish().await;
    }
}

async fn stores_are_configured_through_the_api_without_showing_credentials(backend: Backend) {
    let s = Setup::start(backend, Kind::S3).await;
    let peer = s.peer.as_ref().unwrap();
    peer.create_bucket("media").unwrap();
    let body = json!({
        "kind": "minio", "endpoint": peer.endpoint, "bucket": "media",
        "access_key_id": peer.access_key, "secret_access_key": peer.secret_key,
        "max_size": 1000
    });
    let r = s
        .app
        .req(Method::PUT, "/v1/storage/stores/media")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    assert_eq!(
        (
            made["name"].as_str(),
            made["kind"].as_str(),
            made["origin"].as_str()
        ),
        (Some("media"), Some("minio"), Some("api"))
    );
    let listed = s.app.get_json("/v1/storage/stores").await.to_string();
    assert!(
        !listed.contains(&peer.secret_key) && !listed.contains(&peer.access_key),
        "{listed}"
    );
    let providers = s.app.get_json("/v1/providers").await.to_string();
    assert!(providers.contains("\"media\""), "{providers}");
    let r = s
        .app
        .req(Method::PUT, "/v1/storage/media/objects/a.txt")
        .body("through the api store")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(
        peer.root.join("media").join("a.txt").exists(),
        "written to the minio bucket"
    );
    let r = s
        .app
        .req(Method::PUT, "/v1/storage/stores/media")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "replaced");

    let r = s
        .app
        .req(Method::PUT, "/v1/storage/stores/files")
        .json(&json!({"kind": "memory"}))
        .send()
        .await
        .unwrap();
    problem(r, 409, "conflict").await;
    let r = s
        .app
        .req(Method::PUT, "/v1/storage/stores/bad")
        .json(&json!({"kind": "nas"}))
        .send()
        .await
        .unwrap();
    problem(r, 422, "validation_failed").await;
    let r = s
        .app
        .req(Method::PUT, "/v1/storage/stores/stores")
        .json(&json!({"kind": "memory"}))
        .send()
        .await
        .unwrap();
    problem(r, 422, "validation_failed").await;
    let r = s
        .app
        .req(Method::PUT, "/v1/storage/stores/s3nokey")
        .json(&json!({"kind": "s3", "bucket": "b", "endpoint": "http://127.0.0.1:1"}))
        .send()
        .await
        .unwrap();
    let refused = problem(r, 422, "validation_failed").await.to_string();
    assert!(
        refused.contains("AWS_ACCESS_KEY_ID") || refused.contains("access_key_id"),
        "{refused}"
    );
    let r = s
        .app
        .req(Method::DELETE, "/v1/storage/stores/media")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    problem(
        s.app
            .get("/v1/storage/media/objects/a.txt")
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    s.finish().await;
}
