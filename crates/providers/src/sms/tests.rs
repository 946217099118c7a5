use std::collections::HashMap;

use serde::Deserialize;

use super::*;

#[derive(Debug, Deserialize)]
struct Doc {
    providers: Vec<SmsProviderConfig>,
}

fn parse(toml_text: &str) -> Result<Vec<SmsProviderConfig>, toml::de::Error> {
    toml::from_str::<Doc>(toml_text).map(|d| d.providers)
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

#[test]
fn every_kind_parses_and_reads_its_environment() {
    let providers = parse(
        r#"
[[providers]]
kind = "console"
priority = 9

[[providers]]
kind = "twilio"
name = "twilio-us"
messaging_service_sid = "MG123"

[[providers]]
kind = "telnyx"
api_key = "KEYsecret"
timeout_secs = 2
"#,
    )
    .expect("parsed");
    let summary: Vec<_> = providers
        .iter()
        .map(|p| (p.kind(), p.name(), p.priority()))
        .collect();
    assert_eq!(
        summary,
        [
            ("console", "console", 9),
            ("twilio", "twilio-us", 0),
            ("telnyx", "telnyx", 0)
        ]
    );

    let http = crate::http_client();
    let env = env(&[
        ("TWILIO_ACCOUNT_SID", "AC123"),
        ("TWILIO_AUTH_TOKEN", "tw-secret"),
    ]);
    for config in &providers {
        let provider = config.build_with_env(&http, &env).expect("built");
        assert_eq!(
            (provider.kind(), provider.name()),
            (config.kind(), config.name())
        );
        let debug = format!("{provider:?}");
        assert!(
            !debug.contains("tw-secret") && !debug.contains("KEYsecret"),
            "{debug}"
        );
    }
}

#[test]
fn missing_credentials_name_key_and_variable() {
    let http = crate::http_client();
    let twilio = &parse("[[providers]]\nkind = \"twilio\"\n").expect("parsed")[0];
    let e = twilio.build_with_env(&http, &env(&[])).expect_err("no sid");
    assert_eq!(
        e.to_string(),
        "sms provider \"twilio\": account_sid is not set (set it or TWILIO_ACCOUNT_SID)"
    );
    let e = twilio
        .build_with_env(&http, &env(&[("TWILIO_ACCOUNT_SID", "AC1")]))
        .expect_err("no token");
    assert_eq!(
        e.to_string(),
        "sms provider \"twilio\": auth_token is not set (set it or TWILIO_AUTH_TOKEN)"
    );
    let e = twilio
        .build_with_env(
            &http,
            &env(&[
                ("TWILIO_ACCOUNT_SID", "AC1/../x"),
                ("TWILIO_AUTH_TOKEN", "t"),
            ]),
        )
        .expect_err("bad sid");
    assert!(e.to_string().contains("account_sid is invalid"), "{e}");
    let telnyx = &parse("[[providers]]\nkind = \"telnyx\"\n").expect("parsed")[0];
    let e = telnyx.build_with_env(&http, &env(&[])).expect_err("no key");
    assert_eq!(
        e.to_string(),
        "sms provider \"telnyx\": api_key is not set (set it or TELNYX_API_KEY)"
    );
    assert!(parse("[[providers]]\nkind = \"telnyx\"\nfrom_number = \"+1\"\n").is_err());
}

#[test]
fn secrets_serialize_redacted() {
    let providers = parse(
        "[[providers]]\nkind = \"twilio\"\naccount_sid = \"AC1\"\nauth_token = \"tw-secret\"\n",
    )
    .expect("parsed");
    let json = serde_json::to_value(&providers[0]).expect("json");
    assert_eq!(
        json,
        serde_json::json!({"kind": "twilio", "priority": 0, "account_sid": "AC1", "auth_token": "[redacted]"})
    );
    assert!(!format!("{providers:?}").contains("tw-secret"));
}

#[tokio::test]
async fn console_takes_text_and_declines_media() {
    let console = SmsProviderConfig::Console(console::ConsoleConfig::default())
        .build_with_env(&crate::http_client(), &env(&[]))
        .expect("built");
    let mut sms = Sms {
        message_id: "msg_1".into(),
        from: None,
        to: "+15550100".into(),
        body: "hello".into(),
        media_urls: vec![],
        status_callback: None,
    };
    let sent = console.send(&sms).await.expect("sent");
    assert_eq!(sent.provider_message_id.as_deref(), Some("console-msg_1"));
    sms.media_urls.push("https://example.test/cat.png".into());
    let e = console.send(&sms).await.expect_err("mms");
    assert_eq!(e.kind(), "not_supported");
}

#[test]
fn the_sender_is_the_messages_then_the_configured_one() {
    let mut sms = Sms {
        message_id: "msg_1".into(),
        from: None,
        to: "+15550100".into(),
        body: "hi".into(),
        media_urls: vec![],
        status_callback: None,
    };
    assert_eq!(sender(&sms, Some("+1999"), false), Ok(Some("+1999")));
    assert_eq!(sender(&sms, None, true), Ok(None));
    assert!(matches!(
        sender(&sms, None, false),
        Err(SendError::NotSupported(_))
    ));
    sms.from = Some("+1888".into());
    assert_eq!(sender(&sms, Some("+1999"), false), Ok(Some("+1888")));
}
