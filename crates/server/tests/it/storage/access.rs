//! Access rules over HTTP: the owner, grants to users and groups, prefix rules, public
//! objects and public prefixes, and `/public`, which never reveals a private object.

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_store::Backend;

use super::{Kind, Setup};
use crate::{both_backends, problem};

both_backends!(
    access_rules_decide_by_owner_grants_groups_prefixes_and_visibility,
    public_objects_are_served_without_a_key_and_private_ones_are_not_found,
);

async fn check(
    s: &Setup,
    key: &str,
    principal: Option<&str>,
    groups: &[&str],
    permission: &str,
) -> (bool, String) {
    let r = s
        .app
        .post(
            "/v1/storage/files/access/check",
            json!({"key": key, "principal": principal, "groups": groups, "permission": permission}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    (
        v["allowed"].as_bool().unwrap(),
        v["reason"].as_str().unwrap().to_string(),
    )
}

async fn set(s: &Setup, body: Value) -> Value {
    let r = s
        .app
        .req(Method::PUT, "/v1/storage/files/access")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{body}");
    r.json().await.unwrap()
}

async fn access_rules_decide_by_owner_grants_groups_prefixes_and_visibility(backend: Backend) {
    let s = Setup::start(backend, Kind::Memory).await;
    let owned = s
        .app
        .req(Method::PUT, "/v1/storage/files/objects/courses/1/notes.pdf")
        .header("x-switchyard-owner", "teacher")
        .body("pdf")
        .send()
        .await
        .unwrap();
    assert_eq!(owned.status(), 201);
    s.put("courses/1/slides.pdf", "pdf", "application/pdf")
        .await;
    s.put("courses/2/x.pdf", "pdf", "application/pdf").await;

    let m = |allowed: bool, reason: &str| (allowed, reason.to_string());
    assert_eq!(
        check(&s, "courses/1/notes.pdf", Some("teacher"), &[], "write").await,
        m(true, "owner")
    );
    assert_eq!(
        check(&s, "courses/1/notes.pdf", Some("student"), &[], "read").await,
        m(false, "not_granted")
    );
    assert_eq!(
        check(&s, "courses/1/notes.pdf", None, &[], "read").await,
        m(false, "not_granted")
    );
    assert_eq!(
        check(&s, "courses/1/none.pdf", Some("teacher"), &[], "read").await,
        m(false, "no_such_object")
    );

    let v = set(&s, json!({"key": "courses/1/notes.pdf", "grants": [{"principal": "student", "permission": "read"}, {"principal": "group:staff", "permission": "write"}]})).await;
    assert_eq!(v["owner"], "teacher", "{v}");
    assert_eq!(
        check(&s, "courses/1/notes.pdf", Some("student"), &[], "read").await,
        m(true, "granted")
    );
    assert_eq!(
        check(&s, "courses/1/notes.pdf", Some("student"), &[], "write").await,
        m(false, "not_granted")
    );
    assert_eq!(
        check(&s, "courses/1/notes.pdf", Some("ta"), &["staff"], "read").await,
        m(true, "granted_to_group"),
        "write implies read"
    );
    assert_eq!(
        check(&s, "courses/1/notes.pdf", Some("ta"), &["students"], "read").await,
        m(false, "not_granted")
    );

    // A prefix rule covers every key under it; the object's own owner wins.
    let rule = set(&s, json!({"prefix": "courses/1/", "owner": "head", "grants": [{"principal": "group:course-1", "permission": "read"}]})).await;
    assert_eq!(rule["prefix"], "courses/1/");
    assert_eq!(
        check(&s, "courses/1/slides.pdf", Some("head"), &[], "write").await,
        m(true, "owner")
    );
    assert_eq!(
        check(&s, "courses/1/notes.pdf", Some("head"), &[], "write").await,
        m(false, "not_granted")
    );
    assert_eq!(
        check(
            &s,
            "courses/1/slides.pdf",
            Some("s1"),
            &["course-1"],
            "read"
        )
        .await,
        m(true, "granted_to_group")
    );
    assert_eq!(
        check(&s, "courses/2/x.pdf", Some("s1"), &["course-1"], "read").await,
        m(false, "not_granted")
    );

    // Public: readable by anyone, writable by no one it does not grant.
    set(&s, json!({"prefix": "courses/2/", "visibility": "public"})).await;
    assert_eq!(
        check(&s, "courses/2/x.pdf", None, &[], "read").await,
        m(true, "public")
    );
    assert_eq!(
        check(&s, "courses/2/x.pdf", Some("anyone"), &[], "write").await,
        m(false, "not_granted")
    );
    let v = set(
        &s,
        json!({"key": "courses/2/x.pdf", "visibility": "private"}),
    )
    .await;
    assert_eq!(v["visibility"], "private");
    assert_eq!(
        check(&s, "courses/2/x.pdf", None, &[], "read").await,
        m(false, "not_granted"),
        "the object's own setting wins"
    );
    let v = set(&s, json!({"key": "courses/2/x.pdf", "visibility": null})).await;
    assert_eq!(
        v["visibility"], "private",
        "cleared: the store's default shows"
    );
    assert_eq!(
        check(&s, "courses/2/x.pdf", None, &[], "read").await,
        m(true, "public"),
        "the prefix's rule again"
    );

    // Bad settings change nothing.
    for bad in [
        json!({"prefix": "a/", "key": "a/b"}),
        json!({}),
        json!({"key": "../x", "owner": "u"}),
        json!({"key": "courses/1/notes.pdf", "grants": [{"principal": "group:", "permission": "read"}]}),
        json!({"key": "courses/1/notes.pdf", "grants": [{"principal": "u", "permission": "own"}]}),
        json!({"key": "courses/1/notes.pdf", "visibility": "secret"}),
    ] {
        let r = s
            .app
            .req(Method::PUT, "/v1/storage/files/access")
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert!(
            matches!(r.status().as_u16(), 400 | 422),
            "{bad}: {}",
            r.status()
        );
    }
    let r = s
        .app
        .req(Method::PUT, "/v1/storage/files/access")
        .json(&json!({"key": "courses/none", "owner": "x"}))
        .send()
        .await
        .unwrap();
    problem(r, 404, "not_found").await;
    assert_eq!(
        check(&s, "courses/1/notes.pdf", Some("student"), &[], "read").await,
        m(true, "granted")
    );
    s.finish().await;
}

async fn public_objects_are_served_without_a_key_and_private_ones_are_not_found(backend: Backend) {
    let s = Setup::start_with(backend, Kind::Local, |c| {
        c.public_prefixes = vec!["assets/".into()];
    })
    .await;
    let plain = switchyard_providers::http_client();
    s.put("assets/logo.png", "png", "image/png").await;
    s.put("private/secret.txt", "secret", "text/plain").await;
    s.app
        .req(Method::PUT, "/v1/storage/files/objects/shared/open.txt")
        .header("x-switchyard-visibility", "public")
        .body("open")
        .send()
        .await
        .unwrap();

    let r = plain
        .get(s.app.url("/public/files/assets/logo.png"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.headers()["cache-control"], "public, max-age=300");
    assert!(r.headers().contains_key("etag"));
    assert_eq!(r.bytes().await.unwrap(), "png");
    let r = plain
        .get(s.app.url("/public/files/shared/open.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap(), "open");

    let secret = plain
        .get(s.app.url("/public/files/private/secret.txt"))
        .send()
        .await
        .unwrap();
    let missing = plain
        .get(s.app.url("/public/files/private/none.txt"))
        .send()
        .await
        .unwrap();
    let secret = problem(secret, 404, "not_found").await;
    let missing = problem(missing, 404, "not_found").await;
    assert_eq!(
        secret["detail"], missing["detail"],
        "a private object looks like a missing one"
    );
    problem(
        plain
            .get(s.app.url("/public/nostore/a"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    let (status, _, body) = crate::edges::raw(
        &s.app,
        b"GET /public/files/%2E%2E/x HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    // The key's own API still needs a key.
    let r = plain
        .get(s.app.url("/v1/storage/files/objects/private/secret.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    s.finish().await;
}
