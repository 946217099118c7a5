//! The SMTP provider against a real SMTP server (`maildev`, read back through its HTTP
//! API), and the file and console providers.
//!
//! `scripts/test` installs maildev and sets `SWITCHYARD_TEST_MAILDEV`; each test that
//! needs it starts its own instance on free ports and stops it when done.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mail_parser::MimeHeaders as _;
use serde_json::Value;
use switchyard_core::Secret;
use switchyard_core::message::Category;
use switchyard_providers::SendError;
use switchyard_providers::email::console::ConsoleConfig;
use switchyard_providers::email::file::FileConfig;
use switchyard_providers::email::smtp::{SmtpConfig, SmtpTls};
use switchyard_providers::email::{Attachment, Email, EmailProvider, EmailProviderConfig};

use switchyard_providers::testing::{Maildev, TempDir, free_port};

fn smtp(url: String, timeout_secs: u64) -> Arc<dyn EmailProvider> {
    smtp_with(url, timeout_secs, SmtpTls::None, None)
}

fn smtp_with(
    url: String,
    timeout_secs: u64,
    tls: SmtpTls,
    ca_file: Option<&Path>,
) -> Arc<dyn EmailProvider> {
    EmailProviderConfig::Smtp(SmtpConfig {
        name: Some("relay".into()),
        priority: 0,
        timeout_secs: Some(timeout_secs),
        url: Secret::new(url),
        tls,
        pool_size: Some(2),
        from: None,
        ca_file: ca_file.map(|p| p.to_string_lossy().into_owned()),
    })
    .build_with_env(&switchyard_providers::http_client(), &|_| None)
    .expect("smtp provider")
}

fn email(id: &str, subject: &str) -> Email {
    Email {
        message_id: id.into(),
        from: "Acme <no-reply@acme.test>".into(),
        to: vec!["Ann Example <ann@example.test>".into()],
        cc: vec![],
        bcc: vec![],
        reply_to: None,
        subject: subject.into(),
        text: None,
        html: None,
        attachments: vec![],
        category: Category::Transactional,
    }
}

fn addresses(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["address"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// SMTP against maildev

#[tokio::test]
async fn smtp_delivers_text_html_and_attachments_and_hides_bcc() {
    let maildev = Maildev::start(&["--silent"]).await;
    let provider = smtp(maildev.smtp_url(""), 10);

    // Text only, with non-ASCII content.
    let mut plain = email("msg_01plain", "Grüße aus Zürich");
    plain.text = Some("Hallo Ann,\nschöne Grüße.".into());
    let sent = provider.send(&plain).await.expect("sent");
    assert_eq!(
        sent.provider_message_id.as_deref(),
        Some("<msg_01plain@acme.test>")
    );
    let got = maildev.email("Grüße aus Zürich").await;
    assert_eq!(
        got["text"].as_str().map(str::trim_end),
        Some("Hallo Ann,\nschöne Grüße.")
    );
    assert!(got["html"].is_null() || got["html"] == false, "{got}");
    assert_eq!(got["headers"]["message-id"], "<msg_01plain@acme.test>");
    assert_eq!(got["headers"]["x-switchyard-message-id"], "msg_01plain");
    assert_eq!(addresses(&got["from"]), ["no-reply@acme.test"]);
    assert_eq!(got["from"][0]["name"], "Acme");

    // HTML only.
    let mut html = email("msg_01html", "HTML only");
    html.html = Some("<h1>Welcome</h1>".into());
    provider.send(&html).await.expect("sent");
    let got = maildev.email("HTML only").await;
    assert_eq!(
        got["html"].as_str().map(str::trim_end),
        Some("<h1>Welcome</h1>")
    );

    // Both bodies, an attachment, cc, bcc and reply-to.
    let content: Vec<u8> = (0u8..=255).cycle().take(3000).collect();
    let mut full = email("msg_01full", "Invoice 42");
    full.text = Some("Your invoice is attached.".into());
    full.html = Some("<p>Your invoice is <b>attached</b>.</p>".into());
    full.cc = vec!["carl@example.test".into()];
    full.bcc = vec!["bea@example.test".into()];
    full.reply_to = Some("billing@acme.test".into());
    full.attachments = vec![Attachment {
        filename: "invoice-42.bin".into(),
        content_type: "application/octet-stream".into(),
        content: content.clone(),
    }];
    provider.send(&full).await.expect("sent");
    let got = maildev.email("Invoice 42").await;
    assert_eq!(
        got["text"].as_str().map(str::trim_end),
        Some("Your invoice is attached.")
    );
    assert_eq!(
        got["html"].as_str().map(str::trim_end),
        Some("<p>Your invoice is <b>attached</b>.</p>")
    );
    assert_eq!(addresses(&got["to"]), ["ann@example.test"]);
    assert_eq!(addresses(&got["cc"]), ["carl@example.test"]);
    let mut envelope = addresses(&got["envelope"]["to"]);
    envelope.sort();
    assert_eq!(
        envelope,
        ["ann@example.test", "bea@example.test", "carl@example.test"]
    );

    let attachment = &got["attachments"][0];
    assert_eq!(attachment["filename"], "invoice-42.bin");
    assert_eq!(attachment["contentType"], "application/octet-stream");
    let id = got["id"].as_str().expect("id");
    let stored = attachment["generatedFileName"]
        .as_str()
        .expect("stored name");
    assert_eq!(
        maildev
            .get(&format!("/email/{id}/attachment/{stored}"))
            .await,
        content
    );

    let source =
        String::from_utf8(maildev.get(&format!("/email/{id}/source")).await).expect("utf-8");
    assert!(
        !source.contains("bea@example.test"),
        "bcc leaked into the message:\n{source}"
    );
    assert!(!source.to_ascii_lowercase().contains("\nbcc:"), "{source}");
    assert!(source.contains("Reply-To: billing@acme.test"), "{source}");
}

#[tokio::test]
async fn smtp_authenticates_and_maps_the_servers_refusals() {
    let maildev = Maildev::start(&[
        "--silent",
        "--incoming-user",
        "hub@acme.test",
        "--incoming-pass",
        "p@ss:w/rd",
        "--max-message-size",
        "4096",
    ])
    .await;

    // Credentials in the URL are percent-encoded.
    let provider = smtp(maildev.smtp_url("hub%40acme.test:p%40ss%3Aw%2Frd@"), 10);
    let mut ok = email("msg_01auth", "Authenticated");
    ok.text = Some("hello".into());
    provider
        .send(&ok)
        .await
        .expect("sent with the right password");
    maildev.email("Authenticated").await;

    let wrong = smtp(maildev.smtp_url("hub%40acme.test:wrong@"), 10);
    let e = wrong.send(&ok).await.expect_err("wrong password");
    assert!(
        matches!(&e, SendError::Unauthorized(t) if t.starts_with("535")),
        "{e:?}"
    );

    let anonymous = smtp(maildev.smtp_url(""), 10);
    let e = anonymous.send(&ok).await.expect_err("no credentials");
    assert!(
        matches!(&e, SendError::Unauthorized(t) if t.starts_with("530")),
        "{e:?}"
    );

    let mut big = email("msg_01big", "Too big");
    big.text = Some("x".repeat(20_000));
    let e = provider.send(&big).await.expect_err("over the size limit");
    assert!(
        matches!(&e, SendError::Rejected(t) if t.starts_with("552")),
        "{e:?}"
    );

    // The pool still works after the refusal.
    let mut after = email("msg_01after", "After refusal");
    after.text = Some("still fine".into());
    provider.send(&after).await.expect("sent after a refusal");
    maildev.email("After refusal").await;
}

#[tokio::test]
async fn smtp_pool_carries_concurrent_messages() {
    let maildev = Maildev::start(&["--silent"]).await;
    let provider = smtp(maildev.smtp_url(""), 10);
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..20 {
        let provider = Arc::clone(&provider);
        sends.spawn(async move {
            let mut message = email(&format!("msg_01pool{i}"), &format!("Pooled {i}"));
            message.text = Some(format!("message {i}"));
            provider.send(&message).await
        });
    }
    while let Some(result) = sends.join_next().await {
        result.expect("task").expect("sent");
    }
    for i in 0..20 {
        let got = maildev.email(&format!("Pooled {i}")).await;
        assert_eq!(
            got["text"].as_str().map(str::trim_end),
            Some(format!("message {i}").as_str())
        );
    }
}

/// A private certificate authority and a certificate it signed for 127.0.0.1, made
/// with the `openssl` command: `(authority, certificate, key)` as PEM files in `dir`.
fn private_authority(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl command");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    run(&[
        &["req", "-x509", "-nodes", "-days", "2"],
        &ec[..],
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=Switchyard Test CA",
        ],
    ]
    .concat());
    run(&[
        &["req", "-nodes"],
        &ec[..],
        &[
            "-keyout",
            "relay.key",
            "-out",
            "relay.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("relay.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions");
    run(&[
        "x509",
        "-req",
        "-in",
        "relay.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "relay.ext",
        "-out",
        "relay.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("relay.pem"),
        dir.join("relay.key"),
    )
}

/// Subjects of every email maildev holds.
async fn subjects(maildev: &Maildev) -> Vec<String> {
    let list: Vec<Value> = serde_json::from_slice(&maildev.get("/email").await).expect("list");
    list.iter()
        .filter_map(|e| e["subject"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn smtp_over_tls_trusts_the_configured_authority_only() {
    let dir = TempDir::new("smtp-tls");
    let (ca, cert, key) = private_authority(dir.path());
    let (cert, key) = (cert.to_string_lossy(), key.to_string_lossy());
    let maildev = Maildev::start(&[
        "--silent",
        "--incoming-secure",
        "--incoming-cert",
        &cert,
        "--incoming-key",
        &key,
    ])
    .await;
    let mut message = email("msg_01tls", "Over TLS");
    message.text = Some("encrypted on the way".into());
    let trusted = smtp_with(maildev.smtp_url(""), 10, SmtpTls::Tls, Some(&ca));
    trusted.send(&message).await.expect("sent over TLS");
    let got = maildev.email("Over TLS").await;
    assert_eq!(
        got["text"].as_str().map(str::trim_end),
        Some("encrypted on the way")
    );

    // Without the authority, the relay's certificate is not trusted: nothing is sent.
    let mut refused = email("msg_01untrusted", "Untrusted");
    refused.text = Some("x".into());
    let untrusted = smtp_with(maildev.smtp_url(""), 10, SmtpTls::Tls, None);
    let e = untrusted.send(&refused).await.expect_err("unknown issuer");
    assert!(
        matches!(&e, SendError::Transient(t) if t.to_lowercase().contains("certificate")),
        "{e:?}"
    );

    // `starttls` never falls back to plain text: a relay without STARTTLS gets nothing.
    let plain = Maildev::start(&["--silent"]).await;
    let starttls = smtp_with(plain.smtp_url(""), 10, SmtpTls::Starttls, Some(&ca));
    let e = starttls
        .send(&refused)
        .await
        .expect_err("no STARTTLS offered");
    assert!(
        matches!(&e, SendError::Unauthorized(t) if t.contains("STARTTLS")),
        "a relay that cannot be used as configured: {e:?}"
    );
    assert!(subjects(&plain).await.is_empty());
    assert_eq!(subjects(&maildev).await, ["Over TLS"]);
}

#[test]
fn an_unreadable_authority_file_is_a_configuration_error() {
    let dir = TempDir::new("smtp-ca");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    for (path, says) in [
        (dir.path().join("missing.pem"), "cannot read"),
        (garbage, "no usable PEM certificate"),
    ] {
        let e = EmailProviderConfig::Smtp(SmtpConfig {
            name: None,
            priority: 0,
            timeout_secs: None,
            url: Secret::new("smtp://relay.example".into()),
            tls: SmtpTls::Tls,
            pool_size: None,
            from: None,
            ca_file: Some(path.to_string_lossy().into_owned()),
        })
        .build_with_env(&switchyard_providers::http_client(), &|_| None)
        .expect_err("bad ca_file");
        let text = e.to_string();
        assert!(text.contains("ca_file") && text.contains(says), "{text}");
    }
}

// ---------------------------------------------------------------------------------------
// SMTP failures that need no server

#[tokio::test]
async fn an_unreachable_relay_is_transient() {
    let provider = smtp(format!("smtp://127.0.0.1:{}", free_port()), 5);
    let mut message = email("msg_01down", "Down");
    message.text = Some("x".into());
    let e = provider.send(&message).await.expect_err("nothing listens");
    assert!(matches!(e, SendError::Transient(_)), "{e:?}");
}

#[tokio::test]
async fn a_silent_relay_times_out_as_transient() {
    // Accepts connections and never greets.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let provider = smtp(format!("smtp://127.0.0.1:{port}"), 1);
    let mut message = email("msg_01silent", "Silent");
    message.text = Some("x".into());
    let started = Instant::now();
    let e = provider.send(&message).await.expect_err("no greeting");
    assert_eq!(e, SendError::Transient("timed out after 1s".into()));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    silent.abort();
}

// ---------------------------------------------------------------------------------------
// File and console

#[tokio::test]
async fn file_provider_writes_a_parseable_eml() {
    let scratch = TempDir::new("file");
    let dir = scratch.path().join("nested").join("outbox");
    let provider = EmailProviderConfig::File(FileConfig {
        name: None,
        priority: 0,
        dir: dir.clone(),
        from: Some("no-reply@acme.test".into()),
    })
    .build_with_env(&switchyard_providers::http_client(), &|_| None)
    .expect("file provider");
    assert_eq!(provider.default_from(), Some("no-reply@acme.test"));

    let mut message = email("msg_01file", "Written to disk");
    message.text = Some("plain part".into());
    message.html = Some("<p>html part</p>".into());
    message.cc = vec!["carl@example.test".into()];
    message.bcc = vec!["bea@example.test".into()];
    message.attachments = vec![Attachment {
        filename: "notes.txt".into(),
        content_type: "text/plain".into(),
        content: b"line one\nline two\n".to_vec(),
    }];
    let sent = provider.send(&message).await.expect("written");
    assert_eq!(
        sent.provider_message_id.as_deref(),
        Some("<msg_01file@acme.test>")
    );

    let raw = std::fs::read(dir.join("msg_01file.eml")).expect("eml file");
    let parsed = mail_parser::MessageParser::default()
        .parse(&raw)
        .expect("parseable message");
    assert_eq!(parsed.subject(), Some("Written to disk"));
    assert_eq!(parsed.message_id(), Some("msg_01file@acme.test"));
    assert_eq!(
        parsed.header_raw("X-Switchyard-Message-Id").map(str::trim),
        Some("msg_01file")
    );
    let first = |a: Option<&mail_parser::Address>| {
        a.and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_string)
    };
    assert_eq!(first(parsed.from()).as_deref(), Some("no-reply@acme.test"));
    assert_eq!(first(parsed.to()).as_deref(), Some("ann@example.test"));
    assert_eq!(first(parsed.cc()).as_deref(), Some("carl@example.test"));
    assert_eq!(
        first(parsed.bcc()).as_deref(),
        Some("bea@example.test"),
        "files keep Bcc"
    );
    assert_eq!(
        parsed.body_text(0).as_deref().map(str::trim_end),
        Some("plain part")
    );
    assert_eq!(
        parsed.body_html(0).as_deref().map(str::trim_end),
        Some("<p>html part</p>")
    );
    let attachment = parsed.attachment(0).expect("attachment");
    assert_eq!(attachment.attachment_name(), Some("notes.txt"));
    assert_eq!(attachment.contents(), b"line one\nline two\n");

    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        leftovers,
        ["msg_01file.eml"],
        "no partial files left behind"
    );

    let mut hostile = email("../escape", "Nope");
    hostile.text = Some("x".into());
    assert!(matches!(
        provider.send(&hostile).await,
        Err(SendError::Rejected(_))
    ));
}

#[tokio::test]
async fn console_provider_returns_an_id() {
    let provider = EmailProviderConfig::Console(ConsoleConfig::default())
        .build_with_env(&switchyard_providers::http_client(), &|_| None)
        .expect("console provider");
    let mut message = email("msg_01console", "Logged");
    message.text = Some("not logged".into());
    let sent = provider.send(&message).await.expect("sent");
    assert_eq!(
        sent.provider_message_id.as_deref(),
        Some("console-msg_01console")
    );
    assert_eq!((provider.kind(), provider.name()), ("console", "console"));
}
