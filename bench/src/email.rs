//! Email sending: messages posted to `POST /v1/emails` and sent by the hub, through the
//! `smtp` provider (pooled connections) to an SMTP sink in this process, and through the
//! `sendgrid` provider to an HTTP fake in this process.
//!
//! Figures per store and provider: the rate at which the hub accepts emails (202), and
//! the rate at which they reach the sink or fake (accepted → sent end to end). Baselines:
//! the same SMTP sink fed directly by the hub's SMTP provider (pooled), without the API
//! and the store, and the HTTP fake posted to
//! directly by the load generator.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use switchyard_providers::email::{Email, EmailProviderConfig};
use switchyard_store::Backend;
use switchyard_store::statements::Statements;

use crate::floor;
use crate::hub::{self, BenchHub};
use crate::load;
use crate::smtp_sink;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Emails per measurement.
    #[arg(long, default_value_t = 5_000)]
    emails: usize,
    /// sqlite, postgres or both.
    #[arg(long, default_value = "both")]
    backend: String,
    /// Only measure acceptance (`POST /v1/emails` → 202), with sending off.
    #[arg(long)]
    accept_only: bool,
}

/// Pooled SMTP connections, in the baseline and in the hub's provider.
const POOL: u32 = 32;

fn email_request(n: usize, key: &str) -> Vec<u8> {
    let body = format!(
        r#"{{"from":"shop@example.com","to":["user{n}@example.com"],"subject":"Order {n}","text":"Thanks for order {n}.","html":"<p>Thanks for order <b>{n}</b>.</p>"}}"#
    );
    load::request(
        "POST",
        "/v1/emails",
        &[
            ("authorization", &format!("Bearer {key}")),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
    )
}

/// Waits until `count` reaches `target`; the time since `since`, or `None` on timeout.
async fn reached(count: &AtomicU64, target: u64, since: Instant) -> Option<Duration> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while count.load(Ordering::Relaxed) < target {
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Some(since.elapsed())
}

fn line(name: &str, n: usize, took: Option<Duration>) -> String {
    match took {
        Some(t) => format!(
            "  {name:<44} {:>8.0} emails/s  ({n} in {:.2} s)",
            n as f64 / t.as_secs_f64(),
            t.as_secs_f64()
        ),
        None => format!("  {name:<44} did not finish within 120 s"),
    }
}

/// The hub's own SMTP provider, called directly by `POOL` tasks: the cost of SMTP alone.
async fn smtp_baseline(sink: &smtp_sink::SmtpSink, n: usize) -> Option<Duration> {
    let config: EmailProviderConfig = serde_json::from_value(smtp_provider(sink)).unwrap();
    let provider = config
        .build(&switchyard_providers::http_client())
        .expect("smtp provider");
    let start_count = sink.received.load(Ordering::Relaxed);
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..POOL {
        let (provider, next) = (provider.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n as u64 {
                    break;
                }
                let email = Email {
                    message_id: format!("msg_bench{i}"),
                    from: "shop@example.com".into(),
                    to: vec![format!("user{i}@example.com")],
                    cc: vec![],
                    bcc: vec![],
                    reply_to: None,
                    subject: format!("Order {i}"),
                    text: Some(format!("Thanks for order {i}.")),
                    html: Some(format!("<p>Thanks for order <b>{i}</b>.</p>")),
                    attachments: vec![],
                    category: Default::default(),
                };
                let _ = provider.send(&email).await;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    reached(&sink.received, start_count + n as u64, started).await
}

fn smtp_provider(sink: &smtp_sink::SmtpSink) -> serde_json::Value {
    serde_json::json!({"kind": "smtp", "url": format!("smtp://{}", sink.addr), "tls": "none", "pool_size": POOL})
}

/// An HTTP fake of SendGrid's `v3/mail/send`: 202 with an `X-Message-Id`.
async fn start_http_fake() -> (SocketAddr, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let counter = count.clone();
    let app = axum::Router::new().fallback(axum::routing::post(move || {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        async move {
            (
                axum::http::StatusCode::ACCEPTED,
                [("x-message-id", format!("bench{n}"))],
            )
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, count)
}

/// Posts `n` emails to the hub; prints the acceptance rate and the rate at which
/// `count` (what the sink or fake received) reaches `n`.
/// Beside each, the floor (`floor.rs`): the same number of message rows written by as
/// many clients, one multi-row INSERT per batch; and the statements the store ran per
/// email from posting to sent.
async fn through_hub(hub: &BenchHub, backend: Backend, n: usize, count: &AtomicU64, label: &str) {
    let before = count.load(Ordering::Relaxed);
    let key = hub.key.clone();
    let counter = Statements::global();
    let statements = counter.map_or(0, |c| c.count());
    let started = Instant::now();
    let accepted = load::run_count(hub.addr, 32, n, move |_, i| email_request(i, &key)).await;
    println!("{}", accepted.line(&format!("{label}: accepted (202)")));
    let took = reached(count, before + n as u64 - accepted.failures as u64, started).await;
    let statements = counter.map_or(0, |c| c.count()) - statements;
    println!("{}", line(&format!("{label}: posted → sent"), n, took));
    let floor = floor::run(
        backend,
        hub.database_url(),
        32,
        Duration::from_secs(120),
        Some(n as u64),
        floor::message_rows(),
    )
    .await;
    println!("{}", floor.line("floor: message rows"));
    if let Some(took) = took {
        println!(
            "  posted → sent / floor                        {:>8.2}x   {:.2} statements an email",
            n as f64 / took.as_secs_f64() / floor.rate(),
            statements as f64 / n as f64
        );
    }
}

pub async fn run(args: Args) {
    if args.accept_only {
        for backend in hub::backends(&args.backend) {
            let hub = BenchHub::start(backend, |c| c.messages.enabled = false).await;
            let key = hub.key.clone();
            let accepted = load::run_count(hub.addr, 32, args.emails, move |_, i| {
                email_request(i, &key)
            })
            .await;
            println!(
                "{}",
                accepted.line(&format!("{backend:?}: accepted, sending off"))
            );
            let floor = floor::run(
                backend,
                hub.database_url(),
                32,
                Duration::from_secs(120),
                Some(args.emails as u64),
                floor::message_rows(),
            )
            .await;
            println!("{}", floor.line("floor: message rows"));
            hub.stop().await;
        }
        return;
    }
    println!("email benchmark: {} emails per measurement", args.emails);
    let sink = smtp_sink::start().await.expect("SMTP sink");
    let took = smtp_baseline(&sink, args.emails).await;
    println!(
        "{}",
        line("SMTP client → sink alone (baseline)", args.emails, took)
    );
    let (fake, fake_count) = start_http_fake().await;
    let posted = load::run_count(fake, 32, args.emails, |_, i| {
        load::request(
            "POST",
            "/v3/mail/send",
            &[("content-type", "application/json")],
            format!("{{\"n\":{i}}}").as_bytes(),
        )
    })
    .await;
    println!("{}", posted.line("HTTP fake alone (baseline)"));

    for backend in hub::backends(&args.backend) {
        let smtp = smtp_provider(&sink);
        let hub = BenchHub::start(backend, |c| {
            c.email.providers =
                serde_json::from_value(serde_json::json!([smtp])).expect("smtp provider");
            c.messages.concurrency = 256;
        })
        .await;
        through_hub(
            &hub,
            backend,
            args.emails,
            &sink.received,
            &format!("{backend:?} via SMTP"),
        )
        .await;
        hub.stop().await;

        let base = format!("http://{fake}");
        let hub = BenchHub::start(backend, |c| {
            c.email.providers = serde_json::from_value(serde_json::json!([
                {"kind": "sendgrid", "api_key": "SG.bench", "base_url": base}
            ]))
            .expect("sendgrid provider");
            c.messages.concurrency = 256;
        })
        .await;
        through_hub(
            &hub,
            backend,
            args.emails,
            &fake_count,
            &format!("{backend:?} via HTTP (SendGrid fake)"),
        )
        .await;
        hub.stop().await;
    }
}
