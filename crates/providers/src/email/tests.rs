use std::collections::HashMap;

use serde::Deserialize;

use super::*;
use crate::ConfigError;

#[derive(Debug, Deserialize)]
struct Doc {
    providers: Vec<EmailProviderConfig>,
}

fn parse(toml_text: &str) -> Result<Vec<EmailProviderConfig>, toml::de::Error> {
    toml::from_str::<Doc>(toml_text).map(|d| d.providers)
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

const ALL_KINDS: &str = r#"
[[providers]]
kind = "console"

[[providers]]
kind = "file"
dir = "/tmp/switchyard-mail"
priority = 5

[[providers]]
kind = "smtp"
name = "relay"
url = "smtp://user:hunter2@mail.acme.test:2525"
tls = "none"
pool_size = 4
timeout_secs = 3
from = "Acme <no-reply@acme.test>"

[[providers]]
kind = "sendgrid"
priority = -1
track_clicks = false

[[providers]]
kind = "resend"
api_key = "re_secret"
base_url = "http://127.0.0.1:9/"
"#;

/// Building needs no Tokio runtime and opens no connection.
#[test]
fn every_kind_parses_and_builds() {
    let providers = parse(ALL_KINDS).expect("parsed");
    let summary: Vec<_> = providers
        .iter()
        .map(|p| (p.kind(), p.name(), p.priority()))
        .collect();
    assert_eq!(
        summary,
        [
            ("console", "console", 0),
            ("file", "file", 5),
            ("smtp", "relay", 0),
            ("sendgrid", "sendgrid", -1),
            ("resend", "resend", 0),
        ]
    );
    let EmailProviderConfig::Sendgrid(sg) = &providers[3] else {
        panic!("expected sendgrid, got {:?}", providers[3]);
    };
    assert!(sg.track_opens && !sg.track_clicks);
    let EmailProviderConfig::Smtp(smtp) = &providers[2] else {
        panic!("expected smtp, got {:?}", providers[2]);
    };
    assert_eq!(
        (smtp.tls, smtp.pool_size, smtp.timeout_secs),
        (smtp::SmtpTls::None, Some(4), Some(3))
    );

    let http = crate::http_client();
    let env = env(&[("SENDGRID_API_KEY", "SG.from-env")]);
    for config in &providers {
        let provider = config.build_with_env(&http, &env).expect("built");
        assert_eq!(provider.kind(), config.kind());
        assert_eq!(provider.name(), config.name());
    }
    let relay = providers[2].build_with_env(&http, &env).expect("built");
    assert_eq!(relay.default_from(), Some("Acme <no-reply@acme.test>"));
}

#[test]
fn unknown_keys_and_kinds_are_refused() {
    let e = parse("[[providers]]\nkind = \"sendgrid\"\napi_kee = \"x\"\n").expect_err("typo");
    assert!(e.to_string().contains("api_kee"), "{e}");
    let e = parse("[[providers]]\nkind = \"mailgun\"\n").expect_err("kind");
    assert!(e.to_string().contains("mailgun"), "{e}");
    assert!(parse("[[providers]]\nkind = \"smtp\"\ntls = \"ssl\"\nurl = \"smtp://h\"\n").is_err());
    assert!(
        parse("[[providers]]\nkind = \"file\"\n").is_err(),
        "dir is required"
    );
}

#[test]
fn missing_keys_name_the_variable_that_would_supply_them() {
    let http = crate::http_client();
    let no_env = env(&[]);
    let sendgrid = &parse("[[providers]]\nkind = \"sendgrid\"\n").expect("parsed")[0];
    let e = sendgrid.build_with_env(&http, &no_env).expect_err("no key");
    assert_eq!(
        e.to_string(),
        "email provider \"sendgrid\": api_key is not set (set it or SENDGRID_API_KEY)"
    );
    assert_eq!(
        e,
        ConfigError::Missing {
            channel: "email",
            provider: "sendgrid".into(),
            key: "api_key",
            env: Some("SENDGRID_API_KEY"),
        }
    );
    let resend = &parse("[[providers]]\nkind = \"resend\"\nname = \"backup\"\napi_key = \"\"\n")
        .expect("parsed")[0];
    let e = resend
        .build_with_env(&http, &no_env)
        .expect_err("empty key");
    assert_eq!(
        e.to_string(),
        "email provider \"backup\": api_key is not set (set it or RESEND_API_KEY)"
    );
    assert!(
        resend
            .build_with_env(&http, &env(&[("RESEND_API_KEY", "re_x")]))
            .is_ok()
    );
}

#[test]
fn secrets_never_print() {
    let providers = parse(ALL_KINDS).expect("parsed");
    let debug = format!("{providers:?}");
    assert!(
        !debug.contains("hunter2") && !debug.contains("re_secret"),
        "{debug}"
    );
    let json = serde_json::to_string(&providers).expect("json");
    assert!(
        !json.contains("hunter2") && !json.contains("re_secret"),
        "{json}"
    );
    assert!(json.contains(r#""kind":"smtp""#), "{json}");
    assert!(json.contains(r#""url":"[redacted]""#), "{json}");
    assert!(json.contains(r#""api_key":"[redacted]""#), "{json}");

    let http = crate::http_client();
    let built = providers[4]
        .build_with_env(&http, &env(&[]))
        .expect("built");
    let debug = format!("{built:?}");
    assert!(!debug.contains("re_secret"), "{debug}");
    let e = EmailProviderConfig::Resend(resend::ResendConfig {
        api_key: Some(switchyard_core::Secret::new("re_secret".into())),
        base_url: Some("ftp://re_secret".into()),
        ..Default::default()
    });
    let message = e
        .build_with_env(&http, &env(&[]))
        .expect_err("bad url")
        .to_string();
    assert!(
        message.starts_with("email provider \"resend\": base_url is invalid"),
        "{message}"
    );
}

#[test]
fn shown_configuration_reads_back() {
    let providers = parse(ALL_KINDS).expect("parsed");
    let json = serde_json::to_value(&providers[1]).expect("json");
    assert_eq!(
        json,
        serde_json::json!({"kind": "file", "priority": 5, "dir": "/tmp/switchyard-mail"})
    );
    let back: EmailProviderConfig = serde_json::from_value(json).expect("round trip");
    assert_eq!(back.kind(), "file");
}
