//! The generic HMAC kind.

use super::*;

/// A generic HMAC sender configured like `source`.
fn hmac_sender(source: &Value, secret: &str) -> GenericHmac {
    let setting = |name: &str| source[name].as_str().map(str::to_string);
    GenericHmac {
        header: HeaderName::from_bytes(source["header"].as_str().unwrap().as_bytes()).unwrap(),
        algorithm: match source["algorithm"].as_str() {
            Some("sha512") => Algorithm::Sha512,
            _ => Algorithm::Sha256,
        },
        encoding: match source["encoding"].as_str() {
            Some("base64") => Encoding::Base64,
            _ => Encoding::Hex,
        },
        prefix: setting("prefix"),
        timestamp_header: setting("timestamp_header")
            .map(|h| HeaderName::from_bytes(h.as_bytes()).unwrap()),
        template: setting("template"),
        secrets: vec![secret.into()],
        tolerance_secs: 300,
    }
}

pub(super) async fn hmac_sha256_hex_with_prefix(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secrets = ["hmac-kinds-test", "hmac-someone-else"];
    let source = json!({
        "kind": "hmac", "secret": secrets[0], "header": "x-signature",
        "algorithm": "sha256", "encoding": "hex", "prefix": "sha256=",
    });
    let scheme = Scheme {
        source: source.clone(),
        body: r#"{"id":"{id}","type":"build.finished","n":{v}}"#,
        required: &["x-signature"],
        processed_type: "build.finished",
        ..Scheme::default()
    };
    check(&app, &scheme, |k, m| {
        let header = hmac_sender(&source, secrets[k])
            .sign(secrets[k], None, m.body.as_bytes())
            .unwrap();
        signed(m.url, [("x-signature", header)])
    })
    .await;
    app.finish().await;
}

pub(super) async fn hmac_sha512_base64_with_timestamp(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secrets = ["hmac512-kinds-test", "hmac512-someone-else"];
    let source = json!({
        "kind": "hmac", "secret": secrets[0], "header": "x-webhook-signature",
        "algorithm": "sha512", "encoding": "base64",
        "timestamp_header": "x-webhook-timestamp", "template": "{timestamp}.{body}",
    });
    let scheme = Scheme {
        source: source.clone(),
        body: r#"{"id":"{id}","event":"device.offline","n":{v}}"#,
        required: &["x-webhook-signature", "x-webhook-timestamp"],
        timed: true,
        processed_type: "device.offline",
        ..Scheme::default()
    };
    check(&app, &scheme, |k, m| {
        let header = hmac_sender(&source, secrets[k])
            .sign(secrets[k], Some(m.ts), m.body.as_bytes())
            .unwrap();
        signed(
            m.url,
            [
                ("x-webhook-signature", header),
                ("x-webhook-timestamp", m.ts.to_string()),
            ],
        )
    })
    .await;

    // A template and timestamp header that disagree could never verify anything: such a
    // source is refused when it is created.
    for (settings, field) in [
        (json!({"timestamp_header": "x-ts"}), "template"),
        (
            json!({"template": "{timestamp}.{body}"}),
            "timestamp_header",
        ),
        (
            json!({"template": "{timestamp}", "timestamp_header": "x-ts"}),
            "template",
        ),
    ] {
        let mut body = json!({"name": "bad", "kind": "hmac", "secret": "s", "header": "x-sig"});
        body.as_object_mut()
            .unwrap()
            .extend(settings.as_object().unwrap().clone());
        let r = app.post("/v1/sources", body).send().await.unwrap();
        let p = problem(r, 422, "validation_failed").await;
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }
    app.finish().await;
}
