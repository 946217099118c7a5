//! The storage conformance suite, URLs: signed URLs and direct uploads on every backend.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Kind, PART, Setup, pattern, sha256_hex};
use crate::{every_store, problem};

every_store!(
    signed_urls_work_until_altered_or_expired,
    direct_uploads_are_checked_when_completed,
    uploads_never_completed_are_swept_after_their_expiry,
);

async fn sign(s: &Setup, body: Value) -> Value {
    let r = s
        .app
        .post("/v1/storage/files/signed-urls", body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

/// The URL with one character of its signature changed.
fn altered(url: &str) -> String {
    let at = url
        .find("signature=")
        .or_else(|| url.find("X-Amz-Signature="))
        .or_else(|| url.find("X-Goog-Signature="))
        .expect("a signature in the URL");
    let at = url[at..].find('=').unwrap() + at + 1;
    let mut bytes = url.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    String::from_utf8(bytes).unwrap()
}

async fn signed_urls_work_until_altered_or_expired(s: &Setup) {
    let plain = switchyard_providers::http_client();
    s.put("signed/a.txt", "hello", "text/plain").await;
    let get = sign(
        s,
        json!({"key": "signed/a.txt", "method": "GET", "expires_in": 300}),
    )
    .await;
    assert_eq!(get["method"], "GET");
    let url = get["url"].as_str().unwrap();
    if s.kind == Kind::S3 {
        assert!(
            url.contains("X-Amz-Signature="),
            "the backend's own scheme: {url}"
        );
    } else {
        assert!(
            url.starts_with(&s.app.url("/s/files/signed/a.txt?")),
            "the hub signs: {url}"
        );
    }
    let r = plain.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), "hello");
    let r = plain.get(altered(url)).send().await.unwrap();
    assert_eq!(r.status(), 403, "an altered signature");

    let put = sign(
        s,
        json!({"key": "signed/up.txt", "method": "PUT", "content_type": "text/plain", "max_size": 100, "expires_in": 300}),
    )
    .await;
    assert_eq!(put["headers"]["Content-Type"], "text/plain");
    let url = put["url"].as_str().unwrap();
    let r = plain
        .put(altered(url))
        .header("content-type", "text/plain")
        .body("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "an altered signature");
    let r = plain
        .put(url)
        .header("content-type", "text/plain")
        .body("uploaded")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let r = s.get("signed/up.txt").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.bytes().await.unwrap(), "uploaded");
    if s.kind != Kind::S3 {
        // The hub enforces the URL's size limit and content type.
        let r = plain
            .put(url)
            .header("content-type", "text/plain")
            .body(vec![b'x'; 101])
            .send()
            .await
            .unwrap();
        problem(r, 413, "too_large").await;
        let r = plain
            .put(url)
            .header("content-type", "text/html")
            .body("x")
            .send()
            .await
            .unwrap();
        problem(r, 403, "forbidden").await;
        assert_eq!(
            s.get("signed/up.txt").await.bytes().await.unwrap(),
            "uploaded"
        );
    }

    let short = sign(
        s,
        json!({"key": "signed/a.txt", "method": "GET", "expires_in": 1}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = plain
        .get(short["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "an expired URL");

    let r = s
        .app
        .post(
            "/v1/storage/files/signed-urls",
            json!({"key": "signed/a.txt", "method": "GET", "expires_in": 604_801}),
        )
        .send()
        .await
        .unwrap();
    problem(r, 422, "validation_failed").await;
    let r = s
        .app
        .post(
            "/v1/storage/files/signed-urls",
            json!({"key": "signed/none", "method": "GET"}),
        )
        .send()
        .await
        .unwrap();
    problem(r, 404, "not_found").await;
}

async fn direct_uploads_are_checked_when_completed(s: &Setup) {
    let plain = switchyard_providers::http_client();
    let body = pattern(3000, 3);
    let r = s
        .app
        .post(
            "/v1/storage/files/uploads",
            json!({"key": "direct/one.bin", "content_type": "application/pdf", "size": 3000, "sha256": sha256_hex(&body), "owner": "u7"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let upload: Value = r.json().await.unwrap();
    let id = upload["id"].as_str().unwrap();
    let complete = |id: &str, body: Value| {
        s.app
            .post(&format!("/v1/storage/files/uploads/{id}/complete"), body)
            .send()
    };
    problem(
        complete(id, json!({})).await.unwrap(),
        409,
        "upload_missing",
    )
    .await;
    problem(s.get("direct/one.bin").await, 404, "not_found").await;
    let r = plain
        .put(upload["url"].as_str().unwrap())
        .header("content-type", "application/pdf")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let r = complete(id, json!({})).await.unwrap();
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    assert_eq!(
        (done["size"].as_i64(), done["owner"].as_str()),
        (Some(3000), Some("u7"))
    );
    assert_eq!(done["sha256"], sha256_hex(&body));
    assert_eq!(s.get("direct/one.bin").await.bytes().await.unwrap(), body);
    let again = complete(id, json!({})).await.unwrap();
    assert_eq!(again.status(), 200, "completing twice answers the object");

    // Larger than declared: refused, and nothing is kept.
    let r = s
        .app
        .post(
            "/v1/storage/files/uploads",
            json!({"key": "direct/liar.bin", "content_type": "application/pdf", "size": 10}),
        )
        .send()
        .await
        .unwrap();
    let liar: Value = r.json().await.unwrap();
    let r = plain
        .put(liar["url"].as_str().unwrap())
        .header("content-type", "application/pdf")
        .body(vec![b'x'; 20])
        .send()
        .await
        .unwrap();
    if s.kind == Kind::S3 {
        // A presigned PUT cannot pin a size: the check comes on completion.
        assert!(r.status().is_success());
        let refused = problem(
            complete(liar["id"].as_str().unwrap(), json!({}))
                .await
                .unwrap(),
            422,
            "upload_rejected",
        )
        .await;
        assert_eq!(refused["errors"][0]["field"], "size", "{refused}");
    } else {
        problem(r, 413, "too_large").await;
    }
    problem(s.get("direct/liar.bin").await, 404, "not_found").await;

    // A large object on a cloud store goes up in parts, one URL each.
    if s.kind == Kind::S3 {
        let big = pattern(PART + 1000, 9);
        let r = s
            .app
            .post("/v1/storage/files/uploads", json!({"key": "direct/big.bin", "content_type": "application/octet-stream", "size": big.len()}))
            .send()
            .await
            .unwrap();
        let up: Value = r.json().await.unwrap();
        let parts = up["parts"].as_array().unwrap();
        assert_eq!(parts.len(), 2, "{up}");
        assert!(up["url"].is_null());
        let mut done = Vec::new();
        let mut at = 0usize;
        for p in parts {
            let n = p["size"].as_u64().unwrap() as usize;
            let r = plain
                .put(p["url"].as_str().unwrap())
                .body(big[at..at + n].to_vec())
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            done.push(json!({"part_number": p["part_number"], "etag": r.headers()["etag"].to_str().unwrap()}));
            at += n;
        }
        let r = complete(up["id"].as_str().unwrap(), json!({"parts": done}))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(s.get("direct/big.bin").await.bytes().await.unwrap() == big);
    }
}

async fn uploads_never_completed_are_swept_after_their_expiry(s: &Setup) {
    let plain = switchyard_providers::http_client();
    let r = s
        .app
        .post(
            "/v1/storage/files/uploads",
            json!({"key": "abandoned/a.bin", "content_type": "application/octet-stream", "size": 5, "expires_in": 1}),
        )
        .send()
        .await
        .unwrap();
    let upload: Value = r.json().await.unwrap();
    assert_eq!(
        upload["headers"]["Content-Type"],
        "application/octet-stream"
    );
    let r = plain
        .put(upload["url"].as_str().unwrap())
        .header("content-type", "application/octet-stream")
        .body("12345")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let id = upload["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut swept = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = s
            .app
            .post(
                &format!("/v1/storage/files/uploads/{id}/complete"),
                json!({}),
            )
            .send()
            .await
            .unwrap();
        if r.status() == 404 {
            swept = true;
            break;
        }
        problem(r, 410, "upload_expired").await;
    }
    assert!(swept, "the sweeper removed the upload");
    // Its bytes are gone from the backend too: a cloud store would otherwise show them.
    problem(s.get("abandoned/a.bin").await, 404, "not_found").await;
    if let Some(peer) = &s.peer {
        assert!(!peer.root.join("bucket/abandoned/a.bin").exists());
    }
}
