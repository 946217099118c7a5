//! The storage conformance suite, objects: what every backend answers the same way
//! (`urls.rs` holds the suite's signed URLs and direct uploads).

use reqwest::Method;
use serde_json::{Value, json};

use super::{PART, Setup, pattern, sha256_hex};
use crate::{every_store, problem};

every_store!(
    objects_are_written_read_in_ranges_copied_and_deleted,
    create_only_writes_refuse_a_taken_key,
    listings_page_in_key_order_and_roll_up_prefixes,
    large_bodies_go_up_in_parts_and_come_back_whole,
);

async fn events(s: &Setup, kind: &str) -> Vec<Value> {
    let page = s
        .app
        .get_json(&format!("/v1/events?type={kind}&limit=100"))
        .await;
    page["data"].as_array().unwrap().clone()
}

async fn objects_are_written_read_in_ranges_copied_and_deleted(s: &Setup) {
    let body = pattern(10_000, 1);
    let r = s
        .put("docs/a b/ü.txt", body.clone(), "text/plain; charset=utf-8")
        .await;
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    assert_eq!(made["key"], "docs/a b/ü.txt");
    assert_eq!(made["size"], 10_000);
    assert_eq!(made["content_type"], "text/plain; charset=utf-8");
    assert_eq!(made["sha256"], sha256_hex(&body));
    assert_eq!(made["visibility"], "private");
    let etag = made["etag"].as_str().unwrap().to_string();

    let r = s.get("docs/a b/ü.txt").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(r.headers()["content-length"], "10000");
    assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(
        r.headers()["x-switchyard-sha256"].to_str().unwrap(),
        sha256_hex(&body)
    );
    assert_eq!(r.bytes().await.unwrap(), body);

    let ranged = |range: &'static str| {
        s.app
            .get("/v1/storage/files/objects/docs/a%20b/%C3%BC.txt")
            .header("range", range)
            .send()
    };
    let r = ranged("bytes=100-199").await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 100-199/10000");
    assert_eq!(r.headers()["content-length"], "100");
    assert_eq!(r.bytes().await.unwrap(), &body[100..200]);
    let r = ranged("bytes=-10").await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap(), &body[9990..]);
    let r = ranged("bytes=20000-").await.unwrap();
    assert_eq!(r.headers()["content-range"], "bytes */10000");
    problem(r, 416, "range_not_satisfiable").await;

    let r = s
        .app
        .get("/v1/storage/files/objects/docs/a%20b/%C3%BC.txt")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert!(r.bytes().await.unwrap().is_empty());

    let r = s
        .app
        .req(
            Method::HEAD,
            "/v1/storage/files/objects/docs/a%20b/%C3%BC.txt",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], "10000");
    assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
    assert!(r.bytes().await.unwrap().is_empty());

    // A new version keeps the key's creation time and access settings.
    let r = s
        .app
        .req(
            Method::PUT,
            "/v1/storage/files/objects/docs/a%20b/%C3%BC.txt",
        )
        .header("x-switchyard-owner", "u1")
        .body("v2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a replacement");
    let v2: Value = r.json().await.unwrap();
    assert_eq!(
        (v2["size"].as_i64(), v2["owner"].as_str()),
        (Some(2), Some("u1"))
    );
    assert_eq!(v2["created_at"], made["created_at"]);
    assert_ne!(v2["etag"], made["etag"]);
    assert_eq!(v2["content_type"], "application/octet-stream");
    let r = s.put("docs/a b/ü.txt", "v3", "text/plain").await;
    let v3: Value = r.json().await.unwrap();
    assert_eq!(v3["owner"], "u1", "an owner the write does not name stays");

    let r = s
        .app
        .post(
            "/v1/storage/files/copy",
            json!({"from": "docs/a b/ü.txt", "to": "copies/one.txt"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let copy: Value = r.json().await.unwrap();
    assert_eq!(
        (copy["sha256"].clone(), copy["owner"].clone()),
        (v3["sha256"].clone(), json!("u1"))
    );
    assert_eq!(s.get("copies/one.txt").await.bytes().await.unwrap(), "v3");
    let r = s
        .app
        .post("/v1/storage/files/copy", json!({"from": "nope", "to": "x"}))
        .send()
        .await
        .unwrap();
    problem(r, 422, "validation_failed").await;

    let r = s
        .app
        .req(Method::DELETE, "/v1/storage/files/objects/copies/one.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    problem(s.get("copies/one.txt").await, 404, "not_found").await;
    let r = s
        .app
        .req(Method::DELETE, "/v1/storage/files/objects/copies/one.txt")
        .send()
        .await
        .unwrap();
    problem(r, 404, "not_found").await;
    assert_eq!(
        s.get("docs/a b/ü.txt").await.bytes().await.unwrap(),
        "v3",
        "the original stays"
    );

    let created = events(s, "storage.object.created").await;
    assert_eq!(created.len(), 4, "three writes and a copy");
    let deleted = events(s, "storage.object.deleted").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["payload"]["key"], "copies/one.txt");
    assert_eq!(deleted[0]["payload"]["store"], "files");
}

async fn create_only_writes_refuse_a_taken_key(s: &Setup) {
    let once = |body: &'static str| {
        s.app
            .req(Method::PUT, "/v1/storage/files/objects/only/once")
            .header("if-none-match", "*")
            .body(body)
            .send()
    };
    assert_eq!(once("first").await.unwrap().status(), 201);
    problem(once("second").await.unwrap(), 412, "already_exists").await;
    assert_eq!(s.get("only/once").await.bytes().await.unwrap(), "first");
    // Concurrent create-only writes: exactly one wins.
    let racers: Vec<_> = (0..6)
        .map(|i| {
            let url = s.app.url("/v1/storage/files/objects/only/race");
            let req = s
                .app
                .client
                .put(url)
                .bearer_auth(&s.app.key)
                .header("if-none-match", "*")
                .body(format!("racer {i}"));
            tokio::spawn(async move { req.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for r in racers {
        statuses.push(r.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [201, 412, 412, 412, 412, 412]);
    let r = s
        .app
        .req(Method::PUT, "/v1/storage/files/objects/only/x")
        .header("if-none-match", "\"abc\"")
        .body("x")
        .send()
        .await
        .unwrap();
    problem(r, 400, "invalid_header").await;
}

async fn listings_page_in_key_order_and_roll_up_prefixes(s: &Setup) {
    let mut keys = vec![
        "a.txt", "b/1", "b/2", "b/c/3", "b/c/4", "b0", "c/1", "c/2/x", "d", "e/f/g/h",
    ];
    for k in &keys {
        assert_eq!(s.put(k, *k, "text/plain").await.status(), 201, "{k}");
    }
    keys.sort();
    for limit in [1, 2, 3, 1000] {
        let (all, prefixes) = s.keys("", limit).await;
        assert_eq!(all, keys, "limit {limit}");
        assert!(prefixes.is_empty());
        let (top, rolled) = s.keys("delimiter=/", limit).await;
        assert_eq!(top, ["a.txt", "b0", "d"], "limit {limit}");
        assert_eq!(rolled, ["b/", "c/", "e/"], "limit {limit}");
        let (inside, rolled) = s.keys("prefix=b/&delimiter=/", limit).await;
        assert_eq!(inside, ["b/1", "b/2"]);
        assert_eq!(rolled, ["b/c/"]);
        let (under, _) = s.keys("prefix=b/c/", limit).await;
        assert_eq!(under, ["b/c/3", "b/c/4"]);
    }
    let page = s
        .app
        .get_json("/v1/storage/files/objects?prefix=b/&limit=1")
        .await;
    let item = &page["data"][0];
    for field in [
        "key",
        "size",
        "content_type",
        "etag",
        "sha256",
        "visibility",
        "owner",
        "created_at",
    ] {
        assert!(item.get(field).is_some(), "{field} in {item}");
    }
    let r = s
        .app
        .get("/v1/storage/files/objects?cursor=%21%21")
        .send()
        .await
        .unwrap();
    problem(r, 400, "invalid_query").await;
    let other = page["next_cursor"].as_str().unwrap();
    let r = s
        .app
        .get(&format!(
            "/v1/storage/files/objects?prefix=c/&cursor={other}"
        ))
        .send()
        .await
        .unwrap();
    problem(r, 400, "invalid_query").await;
    let r = s
        .app
        .get("/v1/storage/files/objects?limit=1001")
        .send()
        .await
        .unwrap();
    problem(r, 400, "invalid_query").await;
}

async fn large_bodies_go_up_in_parts_and_come_back_whole(s: &Setup) {
    let body = pattern(2 * PART + 12_345, 7);
    let r = s
        .put("big/blob.bin", body.clone(), "application/octet-stream")
        .await;
    assert_eq!(r.status(), 201);
    let made: Value = r.json().await.unwrap();
    assert_eq!(made["size"].as_u64(), Some(body.len() as u64));
    assert_eq!(made["sha256"], sha256_hex(&body));
    let back = s.get("big/blob.bin").await.bytes().await.unwrap();
    assert_eq!(back.len(), body.len());
    assert!(back == body, "the bytes come back as they went");
    let a = PART as u64 - 10;
    let r = s
        .app
        .get("/v1/storage/files/objects/big/blob.bin")
        .header("range", format!("bytes={a}-{}", a + 19))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.bytes().await.unwrap(),
        &body[a as usize..a as usize + 20],
        "a range across parts"
    );
}
