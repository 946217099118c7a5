//! Payments: what the hub adds to a provider call, and how fast provider webhooks reach
//! the mirror.
//!
//! 1. `POST /v1/payments/checkout` (a one-time Checkout Session with an inline price)
//!    through the hub to the stateful Stripe fake, beside the same fake called directly
//!    by the hub's own Stripe provider (no API, no store) with the same concurrency. The
//!    difference of the percentiles is the latency the hub adds: its API, the `creating`
//!    row written before the call and the row updated after it.
//! 2. Mirror lag: signed `customer.subscription.created` webhooks for customers the hub
//!    made, posted to the hub's declared Stripe source at a steady rate; for each, the
//!    time from posting it until the mirror lists its subscription as `active` (which
//!    is when its customer answers `subscribed: true`). Beside it, the webhooks' own
//!    answer times (`POST /in`, 200 after commit) and the list read's round trip, which
//!    bounds the lag's resolution.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use serde_json::{Value, json};
use switchyard_core::payment::CheckoutMode;
use switchyard_providers::payments::{LineItem, NewCheckout, PaymentProviderConfig};
use switchyard_providers::testing::stripe::StripeFake;
use tokio::sync::Mutex;

use crate::hub::{self, BenchHub};
use crate::load;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Checkouts per measurement.
    #[arg(long, default_value_t = 2_000)]
    checkouts: usize,
    /// Concurrent clients creating checkouts (1: the latency a lone call sees; more
    /// measure it under load, which on a small machine is mostly waiting for a core).
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Webhooks per second in the mirror-lag measurement.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// Seconds of webhooks in the mirror-lag measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// sqlite, postgres or both.
    #[arg(long, default_value = "both")]
    backend: String,
}

const WEBHOOK_SECRET: &str = "whsec_bench_payments";

fn checkout_body(n: usize) -> String {
    json!({
        "mode": "payment",
        "customer_email": format!("buyer{n}@example.com"),
        "line_items": [{"name": "Course", "amount": 4900, "currency": "eur", "quantity": 1}],
        "success_url": "https://app.example/paid",
        "cancel_url": "https://app.example/cancel",
        "reference": format!("order_{n}"),
    })
    .to_string()
}

/// The hub's Stripe provider called directly, `connections` at a time.
async fn direct(fake: &StripeFake, n: usize, connections: usize) -> load::Figures {
    let built = fake
        .config("stripe")
        .build(&switchyard_providers::http_client())
        .expect("stripe provider");
    let provider = built.provider;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (provider, next) = (provider.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut failures) = (Vec::new(), 0);
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let checkout = NewCheckout {
                    hub_id: format!("pchk_direct{i}"),
                    mode: CheckoutMode::Payment,
                    provider_customer: None,
                    hub_customer: None,
                    customer_email: Some(format!("buyer{i}@example.com")),
                    line_items: vec![LineItem::Inline {
                        name: "Course".into(),
                        amount: 4900,
                        currency: "eur".into(),
                        quantity: 1,
                        interval: None,
                    }],
                    success_url: Some("https://app.example/paid".into()),
                    cancel_url: Some("https://app.example/cancel".into()),
                    reference: Some(format!("order_{i}")),
                    metadata: Default::default(),
                    marketplace: None,
                };
                let t0 = Instant::now();
                match provider.create_checkout(&checkout).await {
                    Ok(_) => latencies.push(t0.elapsed()),
                    Err(_) => failures += 1,
                }
            }
            (latencies, failures)
        }));
    }
    let mut figures = load::Figures {
        requests: 0,
        failures: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for t in tasks {
        let (latencies, failures) = t.await.expect("direct task");
        figures.requests += latencies.len();
        figures.failures += failures;
        figures.latencies.extend(latencies);
    }
    figures.elapsed = started.elapsed();
    figures
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn settings(fake: &StripeFake) -> PaymentProviderConfig {
    let mut settings = fake.config("stripe");
    if let PaymentProviderConfig::Stripe(s) = &mut settings {
        s.webhook_secret = Some(WEBHOOK_SECRET.to_string().into());
    }
    settings
}

async fn checkout_latency(hub: &BenchHub, args: &Args, baseline: &load::Figures) {
    let post = |count: usize, from: usize| {
        let key = hub.key.clone();
        load::run_count(hub.addr, args.connections, count, move |_, n| {
            load::request(
                "POST",
                "/v1/payments/checkout",
                &[
                    ("authorization", &format!("Bearer {key}")),
                    ("content-type", "application/json"),
                ],
                checkout_body(from + n).as_bytes(),
            )
        })
    };
    // Warm the hub's store connections and its client's connections to the fake.
    let _ = post(200, 1_000_000).await;
    let through = post(args.checkouts, 0).await;
    println!("{}", through.line("POST /v1/payments/checkout"));
    let added = |p: f64| ms(through.percentile(p)) - ms(baseline.percentile(p));
    println!(
        "  added by the hub               p50 {:>6.2} ms  p99 {:>6.2} ms  (target < 2 ms, < 10 ms)",
        added(0.50),
        added(0.99)
    );
}

/// Creates `n` customers through the hub; their hub ids and the fake's ids.
async fn customers(hub: &BenchHub, n: usize) -> Vec<(String, String)> {
    let next = Arc::new(Mutex::new(0usize));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (client, next) = (hub.client.clone(), next.clone());
        let (url, key) = (
            format!("http://{}/v1/payments/customers", hub.addr),
            hub.key.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut made = Vec::new();
            loop {
                let i = {
                    let mut next = next.lock().await;
                    *next += 1;
                    *next - 1
                };
                if i >= n {
                    return made;
                }
                let body = json!({"email": format!("member{i}@example.com"), "external_id": format!("u_{i}")});
                let r = client
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await
                    .expect("create customer");
                assert!(r.status().is_success(), "customer: {}", r.status());
                let v: Value = r.json().await.unwrap();
                made.push((
                    v["id"].as_str().unwrap().to_string(),
                    v["provider_id"].as_str().unwrap().to_string(),
                ));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("customer task"));
    }
    all
}

async fn intake_path(hub: &BenchHub) -> String {
    let sources: Value = hub
        .client
        .get(format!("http://{}/v1/sources?limit=100", hub.addr))
        .bearer_auth(&hub.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let source = sources["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "payments-stripe")
        .expect("the declared Stripe source");
    format!("/in/{}", source["id"].as_str().unwrap())
}

#[derive(Default)]
struct Lag {
    lag: Vec<Duration>,
    answer: Vec<Duration>,
    read: Vec<Duration>,
    lost: usize,
}

fn percentile(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
        .map_or(0.0, |d| ms(*d))
}

/// Posts one `customer.subscription.created` per customer at `rate` per second, while
/// one reader lists the newest subscriptions of the mirror
/// (`GET /v1/payments/subscriptions?limit=50`, newest first) back to back: a webhook's
/// lag is the time from posting it until its subscription is listed. One list read
/// serves every pending webhook, so the measurement costs the hub little.
async fn mirror_lag(hub: &BenchHub, args: &Args) {
    let n = (args.rate * args.seconds) as usize;
    let made = customers(hub, n).await;
    let path = intake_path(hub).await;
    let url = format!("http://{}{path}", hub.addr);
    let figures = Arc::new(Mutex::new(Lag::default()));
    let pending = Arc::new(Mutex::new(
        std::collections::HashMap::<String, Instant>::new(),
    ));
    let posting = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let reader = {
        let (client, figures, pending, posting) = (
            hub.client.clone(),
            figures.clone(),
            pending.clone(),
            posting.clone(),
        );
        let (list, key) = (
            format!("http://{}/v1/payments/subscriptions?limit=50", hub.addr),
            hub.key.clone(),
        );
        tokio::spawn(async move {
            loop {
                let done = !posting.load(std::sync::atomic::Ordering::Relaxed);
                if done && pending.lock().await.is_empty() {
                    return;
                }
                let r0 = Instant::now();
                let listed = match client.get(&list).bearer_auth(&key).send().await {
                    Ok(r) => r.json::<Value>().await.ok(),
                    Err(_) => None,
                };
                let seen_at = Instant::now();
                let mut f = figures.lock().await;
                f.read.push(seen_at - r0);
                let mut waiting = pending.lock().await;
                for sub in listed
                    .as_ref()
                    .and_then(|v| v["data"].as_array())
                    .into_iter()
                    .flatten()
                {
                    let active = sub["status"] == "active";
                    if let Some(posted) = sub["provider_id"]
                        .as_str()
                        .filter(|_| active)
                        .and_then(|id| waiting.remove(id))
                    {
                        f.lag.push(seen_at - posted);
                    }
                }
                let before = waiting.len();
                waiting.retain(|_, posted| posted.elapsed() < Duration::from_secs(10));
                f.lost += before - waiting.len();
                drop((waiting, f));
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };

    let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / args.rate));
    let mut posts = Vec::new();
    let started = Instant::now();
    for (i, (_, cus)) in made.into_iter().enumerate() {
        ticks.tick().await;
        let (client, url, figures, pending) = (
            hub.client.clone(),
            url.clone(),
            figures.clone(),
            pending.clone(),
        );
        posts.push(tokio::spawn(async move {
            let body = json!({
                "id": format!("evt_bench_sub_{i}"), "object": "event", "type": "customer.subscription.created",
                "created": switchyard_core::time::now_ms() / 1000, "api_version": "2026-02-25.clover",
                "data": {"object": {"id": format!("sub_bench_{i}"), "object": "subscription", "status": "active",
                    "customer": cus, "cancel_at_period_end": false,
                    "items": {"data": [{"current_period_end": 1_900_000_000}]}}}
            })
            .to_string();
            let t = switchyard_core::time::now_ms() / 1000;
            let header = switchyard_signatures::stripe::sign(WEBHOOK_SECRET, t, body.as_bytes());
            let posted = Instant::now();
            pending.lock().await.insert(format!("sub_bench_{i}"), posted);
            let r = client
                .post(&url)
                .header("stripe-signature", header)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            let answered = posted.elapsed();
            if !r.is_ok_and(|r| r.status().is_success()) {
                pending.lock().await.remove(&format!("sub_bench_{i}"));
                figures.lock().await.lost += 1;
                return;
            }
            figures.lock().await.answer.push(answered);
        }));
    }
    let offered = n as f64 / started.elapsed().as_secs_f64();
    for t in posts {
        let _ = t.await;
    }
    posting.store(false, std::sync::atomic::Ordering::Relaxed);
    let _ = reader.await;
    let mut f = figures.lock().await;
    let count = f.lag.len();
    println!(
        "  webhook → mirror ({offered:.0}/s, {count} seen)  p50 {:>6.2} ms  p99 {:>6.2} ms  not seen {}  (target p99 < 50 ms)",
        percentile(&mut f.lag, 0.50),
        percentile(&mut f.lag, 0.99),
        f.lost
    );
    println!(
        "  POST /in answered (baseline)   p50 {:>6.2} ms  p99 {:>6.2} ms",
        percentile(&mut f.answer, 0.50),
        percentile(&mut f.answer, 0.99)
    );
    println!(
        "  GET subscriptions (the reader)  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} reads)",
        percentile(&mut f.read, 0.50),
        percentile(&mut f.read, 0.99),
        f.read.len()
    );
}

pub async fn run(args: Args) {
    println!(
        "payments benchmark: {} checkouts over {} connections; {} webhooks/s for {} s",
        args.checkouts, args.connections, args.rate, args.seconds
    );
    let fake = StripeFake::start().await;
    // Warm the fake and the client's connections, then measure the baseline.
    let _ = direct(&fake, 200, args.connections).await;
    let baseline = direct(&fake, args.checkouts, args.connections).await;
    println!("{}", baseline.line("Stripe provider → fake (baseline)"));
    for backend in hub::backends(&args.backend) {
        let hub = BenchHub::start(backend, |c| c.payments.providers = vec![settings(&fake)]).await;
        println!("{backend:?}:");
        checkout_latency(&hub, &args, &baseline).await;
        mirror_lag(&hub, &args).await;
        hub.stop().await;
        fake.clear_requests();
    }
}
