//! S3-family stores against a strict S3 server in this process (`testing::s3::S3Peer`,
//! which checks SigV4 signatures, presigned expiry and checksums): objects round-trip,
//! presigned URLs work for exactly what they were signed for, multipart uploads complete.

use std::collections::HashMap;
use std::time::Duration;

use http::StatusCode;
use switchyard_providers::storage::object_store::path::Path;
use switchyard_providers::storage::object_store::signer::Method;
use switchyard_providers::storage::object_store::{
    self, ObjectStore, ObjectStoreExt as _, PutMode, PutPayload, WriteMultipart,
};
use switchyard_providers::storage::{Backend, StoreConfig, StoreKind};
use switchyard_providers::testing::TempDir;
use switchyard_providers::testing::s3::S3Peer;

const MIB: usize = 1024 * 1024;

/// A peer with bucket `media`, and its scratch directory.
async fn peer() -> (S3Peer, TempDir) {
    let dir = TempDir::new("s3-peer");
    let peer = S3Peer::start(&dir.path().join("s3")).await.expect("peer");
    peer.create_bucket("media").expect("bucket");
    (peer, dir)
}

fn build(config: &StoreConfig, dir: &TempDir, vars: &[(&str, &str)]) -> Backend {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    config
        .build_with_env(dir.path(), &|k| map.get(k).cloned())
        .expect("built")
}

async fn read(store: &dyn ObjectStore, key: &str) -> object_store::Result<Vec<u8>> {
    Ok(store.get(&Path::from(key)).await?.bytes().await?.to_vec())
}

async fn presign(
    backend: &Backend,
    method: Method,
    key: &str,
    secs: u64,
    ct: Option<&str>,
) -> String {
    backend
        .presign(
            method,
            &backend.full_path(&Path::from(key)),
            Duration::from_secs(secs),
            ct,
            &[],
        )
        .await
        .expect("signed")
        .to_string()
}

/// `url` with the last character of its signature changed.
fn tampered(url: &str) -> String {
    let mut url = url.to_string();
    let last = url.pop().expect("non-empty");
    url.push(if last == '0' { '1' } else { '0' });
    assert!(url.contains("X-Amz-Signature="));
    url
}

async fn status_of(request: reqwest::RequestBuilder) -> StatusCode {
    request.send().await.expect("sent").status()
}

#[tokio::test]
async fn a_prefixed_s3_store_puts_gets_lists_and_deletes() {
    let (peer, dir) = peer().await;
    let config = StoreConfig {
        prefix: Some("uploads/".into()),
        ..peer.store_config("media", "media")
    };
    let backend = build(&config, &dir, &[]);
    let store = backend.store.as_ref();
    for (key, body) in [("a/one.txt", "one"), ("a/two.txt", "two!"), ("b.txt", "b")] {
        store
            .put(&Path::from(key), PutPayload::from(body.as_bytes().to_vec()))
            .await
            .expect("put");
    }
    assert_eq!(read(store, "a/two.txt").await.expect("get"), b"two!");
    assert!(peer.root.join("media/uploads/a/one.txt").is_file());
    let listed = store
        .list_with_delimiter(Some(&Path::from("a")))
        .await
        .expect("listed");
    let mut names: Vec<_> = listed
        .objects
        .iter()
        .map(|o| (o.location.to_string(), o.size))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [("a/one.txt".to_string(), 3), ("a/two.txt".to_string(), 4)]
    );
    let top = store.list_with_delimiter(None).await.expect("listed");
    assert_eq!(top.common_prefixes, [Path::from("a")]);
    store
        .delete(&Path::from("a/one.txt"))
        .await
        .expect("deleted");
    let gone = read(store, "a/one.txt").await.expect_err("deleted");
    assert!(
        matches!(gone, object_store::Error::NotFound { .. }),
        "{gone}"
    );

    let once_key = Path::from("once");
    let once = || {
        store.put_opts(
            &once_key,
            PutPayload::from_static(b"1"),
            PutMode::Create.into(),
        )
    };
    once().await.expect("created");
    let again = once().await.expect_err("exists");
    assert!(
        matches!(again, object_store::Error::AlreadyExists { .. }),
        "{again}"
    );

    let wrong = StoreConfig {
        secret_access_key: Some("not-the-secret".to_string().into()),
        ..config
    };
    let refused = read(build(&wrong, &dir, &[]).store.as_ref(), "b.txt").await;
    assert!(refused.is_err(), "a wrong secret is refused");
}

#[tokio::test]
async fn a_minio_store_from_the_minio_variables() {
    let (peer, dir) = peer().await;
    let host = peer.endpoint.trim_start_matches("http://");
    let vars = [
        ("MINIO_ENDPOINT", host),
        ("MINIO_ROOT_USER", &peer.access_key),
        ("MINIO_ROOT_PASSWORD", &peer.secret_key),
        ("MINIO_BUCKET", "media"),
    ];
    let backend = build(&StoreConfig::new("files", StoreKind::Minio), &dir, &vars);
    let key = Path::from("x/y.bin");
    let store = backend.store.as_ref();
    store
        .put(&key, PutPayload::from_static(b"minio"))
        .await
        .expect("put");
    assert_eq!(read(store, "x/y.bin").await.expect("get"), b"minio");
    assert!(peer.root.join("media/x/y.bin").is_file());
    store.delete(&key).await.expect("deleted");
    assert!(read(store, "x/y.bin").await.is_err());
}

#[tokio::test]
async fn presigned_urls_work_for_what_they_were_signed_for_only() {
    let (peer, dir) = peer().await;
    let config = StoreConfig {
        prefix: Some("p".into()),
        ..peer.store_config("media", "media")
    };
    let backend = build(&config, &dir, &[]);
    let http = switchyard_providers::http_client();
    backend
        .store
        .put(&Path::from("doc.txt"), PutPayload::from_static(b"hello"))
        .await
        .expect("put");

    let url = presign(&backend, Method::GET, "doc.txt", 300, None).await;
    assert!(url.contains("X-Amz-Expires=300"), "{url}");
    let response = http.get(&url).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.expect("body").as_ref(), b"hello");
    assert_eq!(
        status_of(http.get(tampered(&url))).await,
        StatusCode::FORBIDDEN
    );
    let other = presign(&backend, Method::GET, "other.txt", 300, None).await;
    let swapped = url.replace("doc.txt", "other.txt");
    assert_ne!(swapped, other);
    assert_eq!(status_of(http.get(&swapped)).await, StatusCode::FORBIDDEN);

    let put = presign(&backend, Method::PUT, "up.txt", 300, Some("text/plain")).await;
    let wrong_type = http
        .put(&put)
        .header("content-type", "text/html")
        .body("no");
    assert_eq!(status_of(wrong_type).await, StatusCode::FORBIDDEN);
    let right = http
        .put(&put)
        .header("content-type", "text/plain")
        .body("uploaded");
    assert_eq!(status_of(right).await, StatusCode::OK);
    assert_eq!(
        read(backend.store.as_ref(), "up.txt").await.expect("get"),
        b"uploaded"
    );
    assert_eq!(
        status_of(http.get(&put)).await,
        StatusCode::FORBIDDEN,
        "a PUT URL does not read"
    );

    let short = presign(&backend, Method::GET, "doc.txt", 1, None).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(status_of(http.get(&short)).await, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn urls_are_signed_for_the_public_endpoint() {
    let (peer, dir) = peer().await;
    let public = peer.endpoint.replace("127.0.0.1", "localhost");
    let config = StoreConfig {
        public_endpoint: Some(public.clone()),
        ..peer.store_config("media", "media")
    };
    let backend = build(&config, &dir, &[]);
    backend
        .store
        .put(&Path::from("pic.png"), PutPayload::from_static(b"png"))
        .await
        .expect("put through the inner endpoint");
    let url = presign(&backend, Method::GET, "pic.png", 60, None).await;
    assert!(
        url.starts_with(&format!("{public}/media/pic.png?")),
        "{url}"
    );
    let http = switchyard_providers::http_client();
    assert_eq!(status_of(http.get(&url)).await, StatusCode::OK);
    let inner_host = url.replace("localhost", "127.0.0.1");
    assert_eq!(
        status_of(http.get(&inner_host)).await,
        StatusCode::FORBIDDEN,
        "the signature binds the host"
    );
}

#[tokio::test]
async fn a_12_mib_upload_in_5_mib_parts_round_trips() {
    let (peer, dir) = peer().await;
    let backend = build(&peer.store_config("media", "media"), &dir, &[]);
    let body: Vec<u8> = (0..12 * MIB).map(|i| (i % 251) as u8).collect();
    let key = Path::from("big/file.bin");
    let upload = backend.store.put_multipart(&key).await.expect("started");
    let mut writer = WriteMultipart::new_with_chunk_size(upload, 5 * MIB);
    for chunk in body.chunks(MIB) {
        writer.write(chunk);
    }
    writer.finish().await.expect("completed");
    let meta = backend.store.head(&key).await.expect("head");
    assert_eq!(meta.size, body.len() as u64);
    assert!(
        read(backend.store.as_ref(), "big/file.bin")
            .await
            .expect("get")
            == body
    );
}

#[tokio::test]
async fn parts_uploaded_to_presigned_urls_complete_into_one_object() {
    let (peer, dir) = peer().await;
    let config = StoreConfig {
        prefix: Some("in".into()),
        ..peer.store_config("media", "media")
    };
    let backend = build(&config, &dir, &[]);
    let multipart = backend
        .multipart()
        .expect("an S3 store has multipart uploads");
    let full = backend.full_path(&Path::from("video.mp4"));
    assert_eq!(full.as_ref(), "in/video.mp4");
    let id = multipart.create_multipart(&full).await.expect("created");
    let parts: [Vec<u8>; 2] = [vec![7u8; 5 * MIB], b"tail".to_vec()];
    let http = switchyard_providers::http_client();
    let mut etags = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let number = (i + 1).to_string();
        let url = backend
            .presign(
                Method::PUT,
                &full,
                Duration::from_secs(300),
                None,
                &[("partNumber", &number), ("uploadId", &id)],
            )
            .await
            .expect("signed");
        let response = http.put(url).body(part.clone()).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK, "part {number}");
        let etag = response.headers()["etag"]
            .to_str()
            .expect("etag")
            .to_string();
        etags.push(object_store::multipart::PartId { content_id: etag });
    }
    multipart
        .complete_multipart(&full, &id, etags)
        .await
        .expect("completed");
    let got = read(backend.store.as_ref(), "video.mp4")
        .await
        .expect("get");
    assert_eq!(got.len(), 5 * MIB + 4);
    assert!(got.ends_with(b"tail"));
}

#[tokio::test]
async fn a_bucket_can_be_created_through_the_s3_api() {
    let (peer, dir) = peer().await;
    let backend = build(&peer.store_config("made", "made"), &dir, &[]);
    // (s3s-fs writes an object into a missing bucket; listing one is refused.)
    assert!(
        backend.store.list_with_delimiter(None).await.is_err(),
        "no bucket yet"
    );
    // `PUT /<bucket>/` is CreateBucket; the bucket's root path signs that URL.
    let url = backend
        .presign(
            Method::PUT,
            &Path::default(),
            Duration::from_secs(60),
            None,
            &[],
        )
        .await
        .expect("signed");
    let http = switchyard_providers::http_client();
    assert_eq!(status_of(http.put(url)).await, StatusCode::OK);
    assert!(peer.root.join("made").is_dir());
    let listed = backend
        .store
        .list_with_delimiter(None)
        .await
        .expect("listed");
    assert!(listed.objects.is_empty());
}
