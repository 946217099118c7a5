//! Connectors: the latency the proxy adds beside calling the same local upstream
//! directly (p50/p99), proxied requests per second answered from the cache beside
//! `GET /healthz`, and how exactly the rate limiter holds a limit under a burst.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use serde_json::json;
use switchyard_store::Backend;

use crate::hub::{BenchHub, backends};
use crate::load;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent clients for the throughput figures.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Requests per second of the limit whose accuracy is measured.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// sqlite, postgres or both.
    #[arg(long, default_value = "both")]
    backend: String,
}

const ANSWER: &str = r#"{"hourly":{"time":["2026-12-01T00:00"],"temperature_2m":[1.5]}}"#;

/// A local upstream answering a small JSON document; notes when `/paced` calls arrive.
async fn upstream() -> (SocketAddr, Arc<Mutex<Vec<Instant>>>) {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let noted = arrivals.clone();
    let app = Router::new()
        .route(
            "/forecast",
            get(|| async { ([("content-type", "application/json")], ANSWER) }),
        )
        .route(
            "/paced",
            get(move || {
                noted.lock().unwrap().push(Instant::now());
                async { ANSWER }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, arrivals)
}

fn get_with(key: &str, path: &str) -> Vec<u8> {
    let auth = format!("Bearer {key}");
    load::request("GET", path, &[("authorization", &auth)], b"")
}

pub async fn run(args: Args) {
    println!(
        "connectors: {} s per measurement, {} clients for throughput",
        args.seconds, args.connections
    );
    for backend in backends(&args.backend) {
        measure(backend, &args).await;
    }
}

async fn measure(backend: Backend, args: &Args) {
    let seconds = Duration::from_secs(args.seconds);
    println!("{backend:?}:");
    let (up, arrivals) = upstream().await;
    let limit = args.limit;
    let hub = BenchHub::start(backend, |c| {
        c.connectors.allow_private_networks = true;
        c.connectors.define = vec![
            json!({"name": "plain", "base_url": "{config.site}", "config": {"site": {"required": true}}}),
            json!({"name": "cached", "base_url": "{config.site}", "cache": "1h",
                "config": {"site": {"required": true}}}),
            json!({"name": "paced", "base_url": "{config.site}", "config": {"site": {"required": true}},
                "rate_limits": [{"requests": limit, "per": "1s"}]}),
        ];
        c.connectors.max_rate_wait.0 = Duration::from_secs(30);
    })
    .await;
    let site = format!("http://{up}");
    let mut ids = Vec::new();
    for connector in ["plain", "cached", "paced"] {
        let c = hub
            .create(
                "connections",
                json!({"connector": connector, "config": {"site": site}}),
            )
            .await;
        ids.push(c["id"].as_str().unwrap().to_string());
    }
    let (addr, key) = (hub.addr, hub.key.clone());

    // One client, one request at a time: latency alone.
    let direct = load::run(up, 1, seconds, |_, _| {
        load::request("GET", "/forecast?latitude=52.52", &[], b"")
    })
    .await;
    println!("{}", direct.line("upstream directly (baseline)"));
    let (k, path) = (
        key.clone(),
        format!("/v1/proxy/{}/forecast?latitude=52.52", ids[0]),
    );
    let proxied = load::run(addr, 1, seconds, move |_, _| get_with(&k, &path)).await;
    let added =
        |p: f64| (proxied.percentile(p).as_secs_f64() - direct.percentile(p).as_secs_f64()) * 1e3;
    println!(
        "{}  added p50 {:.2} ms, p99 {:.2} ms",
        proxied.line("through the proxy"),
        added(0.50),
        added(0.99)
    );

    let healthz = load::run(addr, args.connections, seconds, |_, _| {
        load::request("GET", "/healthz", &[], b"")
    })
    .await;
    println!("{}", healthz.line("GET /healthz (baseline)"));
    let (k, path) = (
        key.clone(),
        format!("/v1/proxy/{}/forecast?latitude=52.52", ids[1]),
    );
    let hits = load::run(addr, args.connections, seconds, move |_, _| {
        get_with(&k, &path)
    })
    .await;
    println!(
        "{}  {:.2}x healthz",
        hits.line("proxy, answered from the cache"),
        hits.rate() / healthz.rate()
    );

    // A burst far over the limit: every call waits for its slot.
    let (k, id) = (key.clone(), ids[2].clone());
    let total = (limit as usize) * (args.seconds as usize);
    let paced = load::run_count(addr, args.connections, total, move |_, n| {
        get_with(&k, &format!("/v1/proxy/{id}/paced?n={n}"))
    })
    .await;
    let mut times = arrivals.lock().unwrap().clone();
    times.sort();
    let most = (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|&&t| t < times[i] + Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0);
    // Calls go in bursts of up to `limit`, one burst a window: `n` calls take
    // `n / limit` windows, the last of them starting at the last arrival.
    let span = match (times.first(), times.last()) {
        (Some(first), Some(last)) => (*last - *first).as_secs_f64() + 1.0,
        _ => f64::NAN,
    };
    let achieved = times.len() as f64 / span;
    println!(
        "  {:<30} {limit}/s limit: {achieved:.1}/s steady ({:.1} % of the limit), at most {most} in any second, {} of {total} answered 2xx",
        "rate limiter",
        achieved / f64::from(limit) * 100.0,
        paced.requests
    );
    hub.stop().await;
}
