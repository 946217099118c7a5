//! Event delivery: signed Stripe webhooks go in through intake, are processed, fanned
//! out and delivered (signed, Standard Webhooks) to a receiver in this process.
//!
//! Two figures per store: throughput — a burst of events posted as fast as intake takes
//! them, and the rate at which deliveries reach the receiver; and end-to-end latency —
//! from posting a webhook to the receiver getting its delivery, at a moderate fixed load.
//! Baseline: the same receiver, posted to directly by the same load generator.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use clap::Args as ClapArgs;

use crate::floor;
use crate::hub::{self, BenchHub};
use crate::load;
use switchyard_store::statements::Statements;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Events in the throughput burst.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Events per second offered in the latency measurement.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Seconds of the latency measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// sqlite, postgres or both.
    #[arg(long, default_value = "both")]
    backend: String,
}

const SECRET: &str = "whsec_bench_secret";

/// What the receiver saw: arrival times, and end-to-end latencies of tagged events.
#[derive(Debug, Default)]
struct Seen {
    arrivals: Vec<Instant>,
    latencies: Vec<Duration>,
}

#[derive(Debug, Clone)]
struct Receiver {
    seen: Arc<Mutex<Seen>>,
    epoch: Instant,
}

async fn receive(
    axum::extract::State(r): axum::extract::State<Receiver>,
    body: Bytes,
) -> &'static str {
    let now = Instant::now();
    // The event carries the microsecond (since `epoch`) it was posted at.
    let sent = find_number(&body, b"\"sent_us\":");
    let mut seen = r.seen.lock().unwrap();
    seen.arrivals.push(now);
    if let Some(us) = sent {
        let sent_at = r.epoch + Duration::from_micros(us);
        seen.latencies.push(now.saturating_duration_since(sent_at));
    }
    "ok"
}

fn find_number(haystack: &[u8], key: &[u8]) -> Option<u64> {
    let at = haystack.windows(key.len()).position(|w| w == key)? + key.len();
    let digits: Vec<u8> = haystack[at..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

async fn start_receiver(epoch: Instant) -> (SocketAddr, Receiver) {
    let receiver = Receiver {
        seen: Arc::default(),
        epoch,
    };
    let app = axum::Router::new()
        .fallback(axum::routing::post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, receiver)
}

fn webhook(path: &str, n: usize, sent_us: Option<u64>) -> Vec<u8> {
    let tag = sent_us.map_or(String::new(), |us| format!(r#","sent_us":{us}"#));
    let body = format!(
        r#"{{"id":"evt_bench_{n}","object":"event","type":"checkout.session.completed","data":{{"object":{{"id":"cs_{n}"{tag}}}}}}}"#
    );
    let t = switchyard_core::time::now_ms() / 1000;
    let header = switchyard_signatures::stripe::sign(SECRET, t, body.as_bytes());
    load::request(
        "POST",
        path,
        &[
            ("stripe-signature", &header),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
    )
}

fn percentile(values: &mut [Duration], p: f64) -> Duration {
    values.sort();
    values
        .get(((values.len() as f64 * p) as usize).min(values.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

pub async fn run(args: Args) {
    println!(
        "delivery benchmark: burst of {} events; latency at {} events/s for {} s",
        args.events, args.rate, args.seconds
    );
    let epoch = Instant::now();
    let (receiver_addr, receiver) = start_receiver(epoch).await;

    // Baseline: the receiver alone, posted to by the same load generator.
    let baseline = load::run(receiver_addr, 64, Duration::from_secs(3), |_, n| {
        webhook("/", n, None)
    })
    .await;
    println!("{}", baseline.line("receiver alone (baseline)"));

    for backend in hub::backends(&args.backend) {
        // The receiver listens on loopback. Deliveries start off: first a backlog.
        let hub = BenchHub::start(backend, |c| {
            c.delivery.allow_private_networks = true;
            c.delivery.enabled = false;
        })
        .await;
        let source = hub
            .create(
                "sources",
                serde_json::json!({"name": "bench", "kind": "stripe", "secret": SECRET}),
            )
            .await;
        hub.create(
            "endpoints",
            serde_json::json!({"url": format!("http://{receiver_addr}/hook")}),
        )
        .await;
        let path = format!("/in/{}", source["id"].as_str().unwrap());
        *receiver.seen.lock().unwrap() = Seen::default();

        // Delivery alone: a backlog of events, stored and fanned out, then a node that
        // delivers starts; time until the last delivery arrives.
        let backlog = {
            let path = path.clone();
            load::run_count(hub.addr, 64, args.events, move |_, n| {
                webhook(&path, n, None)
            })
            .await
        };
        wait_until(|| async { processed(&hub).await >= backlog.requests as u64 }).await;
        let hub = hub.restart(|c| c.delivery.enabled = true).await;
        let counter = Statements::global();
        let statements = counter.map_or(0, |c| c.count());
        let started = Instant::now();
        let drained = until_received(&receiver, backlog.requests, started).await;
        let statements = counter.map_or(0, |c| c.count()) - statements;
        // The floor: the attempt rows the drain records, written by as many clients as
        // the dispatcher's claims (half its slots), one multi-row INSERT per batch.
        let floor = floor::run(
            backend,
            hub.database_url(),
            128,
            Duration::from_secs(120),
            Some(backlog.requests as u64),
            floor::attempt_rows(),
        )
        .await;

        // Everything at once: a burst posted as fast as intake takes it, processed and
        // delivered meanwhile; time until the last delivery arrives.
        *receiver.seen.lock().unwrap() = Seen::default();
        let started = Instant::now();
        let burst = {
            let path = path.clone();
            let offset = args.events;
            load::run_count(hub.addr, 64, args.events, move |_, n| {
                webhook(&path, offset + n, None)
            })
            .await
        };
        let concurrent = until_received(&receiver, burst.requests, started).await;

        // Latency at a moderate fixed load.
        *receiver.seen.lock().unwrap() = Seen::default();
        let connections = 8usize;
        let interval = Duration::from_secs_f64(connections as f64 / f64::from(args.rate));
        let offset = 2 * args.events;
        let paced = load::run_paced(
            hub.addr,
            connections,
            Duration::from_secs(args.seconds),
            Some(interval),
            move |_, n| {
                let us = epoch.elapsed().as_micros() as u64;
                webhook(&path, offset + n, Some(us))
            },
        )
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut latencies = receiver.seen.lock().unwrap().latencies.clone();
        let measured = latencies.len();

        println!("{backend:?}:");
        println!(
            "  backlog of {} drained at {:.0} deliveries/s ({:.3}x the receiver alone)",
            backlog.requests,
            drained,
            drained / baseline.rate()
        );
        println!("{}", floor.line("floor: attempt rows"));
        println!(
            "  drain / floor              {:>8.2}x   {:.2} statements a delivery",
            drained / floor.rate(),
            statements as f64 / backlog.requests.max(1) as f64
        );
        println!(
            "  burst of {} posted at {:.0}/s and delivered meanwhile: {:.0} deliveries/s",
            burst.requests,
            burst.rate(),
            concurrent
        );
        println!(
            "  end to end at {:.0} events/s: {measured} delivered, p50 {:.2} ms, p99 {:.2} ms (intake answer p50 {:.2} ms)",
            paced.rate(),
            percentile(&mut latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&mut latencies, 0.99).as_secs_f64() * 1e3,
            paced.percentile(0.50).as_secs_f64() * 1e3,
        );
        hub.stop().await;
    }
}

/// Waits until `n` deliveries arrived (at most 5 minutes); their rate since `started`.
async fn until_received(receiver: &Receiver, n: usize, started: Instant) -> f64 {
    let deadline = started + Duration::from_secs(300);
    loop {
        let (got, last) = {
            let seen = receiver.seen.lock().unwrap();
            (seen.arrivals.len(), seen.arrivals.last().copied())
        };
        if got >= n || Instant::now() > deadline {
            let span = last.map_or(Duration::ZERO, |l| l - started);
            return got as f64 / span.as_secs_f64();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_until<F, Fut>(done: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(300);
    while !done().await && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Events processed by the hub so far, from `/metrics`.
async fn processed(hub: &BenchHub) -> u64 {
    let text = hub
        .client
        .get(format!("http://{}/metrics", hub.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("switchyard_events_processed_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
