//! Building stores from configuration and the environment; nothing here opens a
//! connection. The same clients against a real S3 server: `tests/storage.rs`.

use std::collections::HashMap;
use std::time::Duration;

use object_store::path::Path;
use object_store::signer::Method;
use object_store::{ObjectStoreExt as _, PutMode, PutPayload};

use super::*;
use crate::testing::TempDir;

const SECRET: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

fn parse(json: serde_json::Value) -> StoreConfig {
    serde_json::from_value(json).expect("a store config")
}

fn build(config: &StoreConfig, vars: &[(&str, &str)]) -> Result<Backend, ConfigError> {
    config.build_with_env(std::path::Path::new("/nonexistent"), &env(vars))
}

/// A presigned GET of `key` for five minutes.
async fn get_url(backend: &Backend, key: &str) -> String {
    backend
        .presign(
            Method::GET,
            &backend.full_path(&Path::from(key)),
            Duration::from_secs(300),
            None,
            &[],
        )
        .await
        .expect("signed")
        .to_string()
}

fn aws() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "AKIAFROMAWS"),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
    ]
}

#[tokio::test]
async fn s3_reads_the_aws_variables_and_addresses_aws_virtual_hosted() {
    let config = parse(serde_json::json!({"name": "media", "kind": "s3", "bucket": "media"}));
    let mut vars = aws();
    vars.push(("AWS_DEFAULT_REGION", "eu-west-3"));
    let backend = build(&config, &vars).expect("built");
    let url = get_url(&backend, "a/b.png").await;
    assert!(
        url.starts_with("https://media.s3.eu-west-3.amazonaws.com/a/b.png?"),
        "{url}"
    );
    assert!(url.contains("X-Amz-Expires=300"), "{url}");
    assert!(url.contains("AKIAFROMAWS%2F"), "{url}");
    assert!(url.contains("%2Feu-west-3%2Fs3%2F"), "{url}");
    assert!(!url.contains(SECRET));

    // AWS_REGION wins over AWS_DEFAULT_REGION; a bucket with a dot is path-style.
    vars.push(("AWS_REGION", "ap-south-1"));
    let dotted = StoreConfig {
        bucket: Some("media.example.com".into()),
        ..config.clone()
    };
    let url = get_url(&build(&dotted, &vars).expect("built"), "k").await;
    assert!(
        url.starts_with("https://s3.ap-south-1.amazonaws.com/media.example.com/k?"),
        "{url}"
    );
    let url = get_url(&build(&config, &aws()).expect("built"), "k").await;
    assert!(
        url.contains("%2Fus-east-1%2Fs3%2F"),
        "default region: {url}"
    );
}

#[tokio::test]
async fn s3_with_an_endpoint_is_path_style_unless_told_otherwise() {
    let config = parse(serde_json::json!({"name": "media", "kind": "s3", "bucket": "media"}));
    let mut vars = aws();
    vars.push(("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/"));
    let url = get_url(&build(&config, &vars).expect("built"), "k").await;
    assert!(url.starts_with("http://127.0.0.1:9000/media/k?"), "{url}");

    // The S3-specific variable wins over the general one.
    vars.push(("AWS_ENDPOINT_URL_S3", "https://s3.example.com"));
    let url = get_url(&build(&config, &vars).expect("built"), "k").await;
    assert!(url.starts_with("https://s3.example.com/media/k?"), "{url}");

    let virtual_hosted = StoreConfig {
        virtual_hosted_style: Some(true),
        ..config.clone()
    };
    let url = get_url(&build(&virtual_hosted, &vars).expect("built"), "k").await;
    assert!(url.starts_with("https://media.s3.example.com/k?"), "{url}");
}

#[tokio::test]
async fn public_endpoint_is_the_host_urls_are_signed_for_and_prefix_is_applied() {
    let config = parse(serde_json::json!({
        "name": "media", "kind": "s3", "bucket": "media", "prefix": "/uploads/",
        "endpoint": "http://minio.internal:9000",
        "public_endpoint": "https://files.example.com",
    }));
    let backend = build(&config, &aws()).expect("built");
    assert_eq!(backend.sign_prefix.as_ref(), "uploads");
    let url = get_url(&backend, "a b.txt").await;
    assert!(
        url.starts_with("https://files.example.com/media/uploads/a%20b.txt?"),
        "{url}"
    );
    assert!(backend.multipart().is_some());
    let shown = format!("{backend:?}");
    assert!(shown.contains("minio.internal"), "{shown}");
    assert!(!shown.contains(SECRET), "{shown}");
}

#[tokio::test]
async fn presign_signs_the_content_type_and_the_query() {
    let config = parse(serde_json::json!({"name": "media", "kind": "s3", "bucket": "media"}));
    let backend = build(&config, &aws()).expect("built");
    let url = backend
        .presign(
            Method::PUT,
            &Path::from("big.bin"),
            Duration::from_secs(60),
            Some("application/pdf"),
            &[("partNumber", "2"), ("uploadId", "u-1")],
        )
        .await
        .expect("signed")
        .to_string();
    assert!(url.contains("partNumber=2"), "{url}");
    assert!(url.contains("uploadId=u-1"), "{url}");
    assert!(
        url.contains("X-Amz-SignedHeaders=content-type%3Bhost"),
        "{url}"
    );
    let refused = backend
        .presign(
            Method::GET,
            &Path::from("k"),
            Duration::from_secs(60),
            None,
            &[("X-Amz-Expires", "1")],
        )
        .await;
    assert!(refused.is_err(), "a signing parameter cannot be overridden");
}

#[tokio::test]
async fn r2_takes_its_endpoint_from_the_account_and_signs_for_region_auto() {
    let config = parse(serde_json::json!({"name": "files", "kind": "r2"}));
    let vars = [
        ("R2_ACCOUNT_ID", "0123abcd"),
        ("R2_ACCESS_KEY_ID", "r2-key"),
        ("R2_SECRET_ACCESS_KEY", SECRET),
        ("R2_BUCKET", "assets"),
    ];
    let url = get_url(&build(&config, &vars).expect("built"), "k.txt").await;
    assert!(
        url.starts_with("https://0123abcd.r2.cloudflarestorage.com/assets/k.txt?"),
        "{url}"
    );
    assert!(url.contains("r2-key%2F"), "{url}");
    assert!(url.contains("%2Fauto%2Fs3%2F"), "{url}");
    let e = build(&config, &vars[1..]).expect_err("no account");
    assert_eq!(
        e.to_string(),
        "storage provider \"files\": account_id is not set (set it or R2_ACCOUNT_ID)"
    );
}

#[tokio::test]
async fn minio_adds_a_scheme_and_is_always_path_style() {
    let config = parse(serde_json::json!({"name": "files", "kind": "minio"}));
    let vars = [
        ("MINIO_ENDPOINT", "localhost:9000"),
        ("MINIO_ROOT_USER", "minioadmin"),
        ("MINIO_ROOT_PASSWORD", SECRET),
        ("MINIO_BUCKET", "assets"),
    ];
    let url = get_url(&build(&config, &vars).expect("built"), "k").await;
    assert!(url.starts_with("http://localhost:9000/assets/k?"), "{url}");
    assert!(url.contains("minioadmin%2F"), "{url}");
    let e = build(&config, &vars[1..]).expect_err("no endpoint");
    assert!(e.to_string().contains("(set it or MINIO_ENDPOINT)"), "{e}");
    let hosted = StoreConfig {
        virtual_hosted_style: Some(true),
        ..config
    };
    assert!(build(&hosted, &vars).is_err());
}

#[tokio::test]
async fn env_prefix_reads_the_prefixed_variables_and_ignores_the_usual_ones() {
    let config = parse(serde_json::json!({
        "name": "media", "kind": "s3", "env_prefix": "MEDIA_S3_",
    }));
    let mut vars = aws();
    vars.extend([
        ("AWS_ENDPOINT_URL", "https://wrong.example.com"),
        ("MEDIA_S3_ENDPOINT", "http://10.0.0.5:9000"),
        ("MEDIA_S3_PUBLIC_ENDPOINT", "https://media.example.com"),
        ("MEDIA_S3_ACCESS_KEY_ID", "AKIAMEDIA"),
        ("MEDIA_S3_REGION", "eu-central-1"),
        ("MEDIA_S3_BUCKET", "media-bucket"),
    ]);
    let e = build(&config, &vars).expect_err("no prefixed secret");
    assert_eq!(
        e,
        ConfigError::MissingVar {
            channel: "storage",
            provider: "media".into(),
            key: "secret_access_key",
            env: "MEDIA_S3_SECRET_ACCESS_KEY".into(),
        }
    );
    vars.push(("MEDIA_S3_SECRET_ACCESS_KEY", "media-secret"));
    let backend = build(&config, &vars).expect("built");
    let url = get_url(&backend, "k").await;
    assert!(
        url.starts_with("https://media.example.com/media-bucket/k?"),
        "{url}"
    );
    assert!(url.contains("AKIAMEDIA%2F"), "{url}");
    assert!(url.contains("%2Feu-central-1%2F"), "{url}");
    let shown = format!("{backend:?}");
    assert!(
        shown.contains("media-bucket") && shown.contains("http://10.0.0.5:9000"),
        "{shown}"
    );
}

#[test]
fn missing_settings_name_the_key_and_the_variable() {
    let config = parse(serde_json::json!({"name": "media", "kind": "s3", "bucket": "b"}));
    let e = build(&config, &[]).expect_err("no keys");
    assert_eq!(
        e.to_string(),
        "storage provider \"media\": access_key_id is not set (set it or AWS_ACCESS_KEY_ID)"
    );
    let e = build(&config, &[("AWS_ACCESS_KEY_ID", "AKIA")]).expect_err("no secret");
    assert_eq!(
        e.to_string(),
        "storage provider \"media\": secret_access_key is not set (set it or AWS_SECRET_ACCESS_KEY)"
    );
    let no_bucket = parse(serde_json::json!({"name": "media", "kind": "s3"}));
    let e = build(&no_bucket, &aws()).expect_err("no bucket");
    assert_eq!(
        e.to_string(),
        "storage provider \"media\": bucket is not set"
    );
    let e = build(
        &config,
        &[aws(), vec![("AWS_ENDPOINT_URL", "ftp://files")]].concat(),
    )
    .expect_err("bad endpoint");
    assert_eq!(
        e.to_string(),
        "storage provider \"media\": endpoint is invalid: scheme \"ftp\" is not http or https (read from AWS_ENDPOINT_URL)"
    );
}

#[test]
fn bad_names_kinds_and_settings_are_refused() {
    for name in ["", "..", "-x", "a/b", "a b", &"x".repeat(65)] {
        let config = StoreConfig::new(name, StoreKind::Memory);
        let e = build(&config, &[]).expect_err(name);
        assert!(
            matches!(e, ConfigError::Invalid { key: "name", .. }),
            "{name:?}: {e}"
        );
    }
    assert!(build(&StoreConfig::new("a.b-c_9", StoreKind::Memory), &[]).is_ok());
    let e = serde_json::from_value::<StoreConfig>(serde_json::json!({"name": "x", "kind": "ftp"}))
        .expect_err("kind");
    assert!(
        e.to_string()
            .contains("expected one of s3, r2, minio, gcs, local, memory"),
        "{e}"
    );
    let unknown = serde_json::json!({"name": "x", "kind": "memory", "colour": "red"});
    assert!(serde_json::from_value::<StoreConfig>(unknown).is_err());

    let cases = [
        (
            serde_json::json!({"name": "x", "kind": "s3", "path": "/tmp"}),
            "path",
        ),
        (
            serde_json::json!({"name": "x", "kind": "local", "bucket": "b"}),
            "bucket",
        ),
        (
            serde_json::json!({"name": "x", "kind": "gcs", "region": "eu"}),
            "region",
        ),
        (
            serde_json::json!({"name": "x", "kind": "s3", "account_id": "a"}),
            "account_id",
        ),
        (
            serde_json::json!({"name": "x", "kind": "memory", "max_size": 0}),
            "max_size",
        ),
        (
            serde_json::json!({"name": "x", "kind": "memory", "allowed_types": ["image"]}),
            "allowed_types",
        ),
        (
            serde_json::json!({"name": "x", "kind": "s3", "env_prefix": "A-B"}),
            "env_prefix",
        ),
        (
            serde_json::json!({"name": "x", "kind": "memory", "prefix": "a//b"}),
            "prefix",
        ),
        (
            serde_json::json!({"name": "x", "kind": "memory", "prefix": "a/../b"}),
            "prefix",
        ),
    ];
    for (json, key) in cases {
        let e = build(&parse(json.clone()), &aws()).expect_err(key);
        assert!(
            matches!(e, ConfigError::Invalid { key: k, .. } if k == key),
            "{json}: {e}"
        );
    }
}

#[test]
fn secrets_appear_in_no_debug_output_error_or_serialization() {
    let config = parse(serde_json::json!({
        "name": "media", "kind": "s3", "bucket": "media", "access_key_id": "AKIA",
        "secret_access_key": SECRET, "session_token": "token-value-secret",
        "endpoint": "http://127.0.0.1:9000",
    }));
    let backend = build(&config, &[]).expect("built");
    for shown in [
        format!("{backend:?}"),
        format!("{config:?}"),
        serde_json::to_string(&config).expect("json"),
    ] {
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains("token-value-secret"), "{shown}");
    }
    let bad = StoreConfig {
        endpoint: Some(format!("http://AKIA:{SECRET}@host")),
        ..config
    };
    let e = build(&bad, &[]).expect_err("credentials in the URL");
    assert!(!e.to_string().contains(SECRET), "{e}");
    assert!(
        e.to_string().contains("must not contain credentials"),
        "{e}"
    );
}

#[test]
fn types_match_by_pattern_ignoring_case_and_parameters() {
    let mut config = StoreConfig::new("x", StoreKind::Memory);
    assert!(config.matches_type("anything/at-all"));
    config.allowed_types = vec!["image/*".into(), "Application/PDF".into()];
    assert!(config.matches_type("image/png"));
    assert!(config.matches_type("IMAGE/SVG+XML; charset=utf-8"));
    assert!(config.matches_type("application/pdf;name=a.pdf"));
    assert!(!config.matches_type("application/pdfx"));
    assert!(!config.matches_type("text/plain"));
    assert!(!config.matches_type("image"));
    assert!(!config.matches_type("imagex/png"));
    config.allowed_types = vec!["*/*".into()];
    assert!(config.matches_type("text/plain"));
    assert!(!config.matches_type("nonsense"));
}

#[tokio::test]
async fn local_stores_live_in_the_data_directory_and_clean_up_after_deletes() {
    let data = TempDir::new("storage-local");
    let config = parse(serde_json::json!({"name": "docs", "kind": "local", "prefix": "uploads/"}));
    let backend = config
        .build_with_env(data.path(), &env(&[]))
        .expect("built");
    assert!(backend.signer.is_none() && backend.multipart().is_none());
    let root = data.path().join("storage/docs");
    let key = Path::from("2024/report.pdf");
    backend
        .store
        .put(&key, PutPayload::from_static(b"pdf"))
        .await
        .expect("put");
    assert_eq!(
        std::fs::read(root.join("uploads/2024/report.pdf")).expect("file"),
        b"pdf"
    );
    let got = backend
        .store
        .get(&key)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(got.as_ref(), b"pdf");
    backend.store.delete(&key).await.expect("delete");
    assert!(
        !root.join("uploads/2024").exists(),
        "empty directories are removed"
    );
    let e = backend
        .presign(Method::GET, &key, Duration::from_secs(60), None, &[])
        .await
        .expect_err("no presigned URLs");
    assert!(matches!(e, object_store::Error::NotSupported { .. }), "{e}");
}

#[tokio::test]
async fn create_mode_refuses_an_existing_key_on_local_and_memory_stores() {
    let data = TempDir::new("storage-create");
    for kind in [StoreKind::Local, StoreKind::Memory] {
        let backend = StoreConfig::new("s", kind)
            .build_with_env(data.path(), &env(&[]))
            .expect("built");
        let key = Path::from("once");
        let put = || {
            backend
                .store
                .put_opts(&key, PutPayload::from_static(b"x"), PutMode::Create.into())
        };
        put().await.expect("first");
        let e = put().await.expect_err("second");
        assert!(
            matches!(e, object_store::Error::AlreadyExists { .. }),
            "{kind}: {e}"
        );
    }
}

/// What the server must know of keys on disk: `Path::parse` keeps a key's characters and
/// `Path::from` percent-encodes some; the file is named by the raw path; a name ending in
/// `#<digits>` is refused; a key cannot also be a "directory" of other keys.
#[tokio::test]
async fn local_files_are_named_by_the_raw_path() {
    let data = TempDir::new("storage-keys");
    let backend = StoreConfig::new("k", StoreKind::Local)
        .build_with_env(data.path(), &env(&[]))
        .expect("built");
    let root = data.path().join("storage/k");
    let put = |key: Path| {
        let store = backend.store.clone();
        async move { store.put(&key, PutPayload::from_static(b"x")).await }
    };
    let parsed = Path::parse("a b/ü?*%2F.txt").expect("parsed");
    assert_eq!(Path::from("ü").as_ref(), "%C3%BC");
    put(parsed).await.expect("put");
    assert!(root.join("a b/ü?*%2F.txt").is_file());
    assert!(Path::parse("../x").is_err() && Path::parse("a//b").is_err());
    assert_eq!(Path::from("..").as_ref(), "%2E%2E");
    let e = put(Path::parse("v#1").expect("parsed"))
        .await
        .expect_err("#digits");
    assert!(e.to_string().contains("not supported"), "{e}");
    put(Path::from("file")).await.expect("put");
    assert!(put(Path::from("file/child")).await.is_err());
}
