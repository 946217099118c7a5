//! Intake throughput: signed Stripe webhooks (each a distinct event) posted by
//! concurrent clients to a hub in this process, answered only after their group commit.
//! Baseline: `GET /healthz` of the same server, same clients, same run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use switchyard_server::{Config, Hub};
use switchyard_store::Backend;
use switchyard_store::testing::TestDb;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// sqlite, postgres or both.
    #[arg(long, default_value = "both")]
    backend: String,
    /// Store events without processing them (isolates the intake path).
    #[arg(long)]
    no_processing: bool,
}

const SECRET: &str = "whsec_bench_secret";

struct Figures {
    requests: usize,
    failures: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    }
}

pub async fn run(args: Args) {
    let backends: Vec<Backend> = match args.backend.as_str() {
        "sqlite" => vec![Backend::Sqlite],
        "postgres" => vec![Backend::Postgres],
        _ => vec![Backend::Sqlite, Backend::Postgres],
    };
    println!(
        "intake benchmark: {} connections, {} s per measurement",
        args.connections, args.seconds
    );
    for backend in backends {
        let db = TestDb::new(backend).await;
        let mut config = Config {
            database_url: db.url.clone(),
            ..Config::default()
        };
        config.log.level = "error".into();
        config.queue.enabled = !args.no_processing;
        if backend == Backend::Postgres {
            config.master_key = Some(
                switchyard_core::vault::MasterKey::generate()
                    .to_base64()
                    .clone(),
            );
        } else {
            config.master_key_file = db.dir.as_ref().map(|d| d.join("master.key"));
        }
        let hub = Hub::open(config).await.expect("hub opens");
        let key = hub.bootstrap_key().unwrap().raw.expose().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(hub.serve(listener, async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(args.connections)
            .build()
            .unwrap();
        let source: serde_json::Value = client
            .post(format!("http://{addr}/v1/sources"))
            .bearer_auth(&key)
            .json(&serde_json::json!({"name": "bench", "kind": "stripe", "secret": SECRET}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let intake_url = format!("http://{addr}/in/{}", source["id"].as_str().unwrap());

        let baseline = load(&client, &args, {
            let url = format!("http://{addr}/healthz");
            move |c: &reqwest::Client, _n: usize| c.get(&url)
        })
        .await;
        let intake = load(&client, &args, move |c: &reqwest::Client, n: usize| {
            let body = format!(
                r#"{{"id":"evt_bench_{n}","object":"event","type":"checkout.session.completed","data":{{"object":{{"id":"cs_{n}"}}}}}}"#
            );
            let t = switchyard_core::time::now_ms() / 1000;
            let header = switchyard_signatures::stripe::sign(SECRET, t, body.as_bytes());
            c.post(&intake_url).header("stripe-signature", header).header("content-type", "application/json").body(body)
        })
        .await;
        println!("{backend:?}:");
        for (name, f) in [
            ("GET /healthz (baseline)", &baseline),
            ("POST /in (signed Stripe)", &intake),
        ] {
            println!(
                "  {name:<26} {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  failures {}",
                f.rate(),
                f.percentile(0.50).as_secs_f64() * 1e3,
                f.percentile(0.99).as_secs_f64() * 1e3,
                f.failures
            );
        }
        println!(
            "  intake / baseline          {:>8.2}x",
            intake.rate() / baseline.rate()
        );
        let _ = stop.send(());
        let _ = server.await;
        db.cleanup().await;
    }
}

async fn load<F>(client: &reqwest::Client, args: &Args, make: F) -> Figures
where
    F: Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let counter = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let (client, make, counter) = (client.clone(), make.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut failures) = (Vec::new(), 0);
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t0 = Instant::now();
                match make(&client, n).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        latencies.push(t0.elapsed());
                    }
                    _ => failures += 1,
                }
            }
            (latencies, failures)
        }));
    }
    let mut figures = Figures {
        requests: 0,
        failures: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for t in tasks {
        let (latencies, failures) = t.await.unwrap();
        figures.requests += latencies.len();
        figures.failures += failures;
        figures.latencies.extend(latencies);
    }
    figures.elapsed = started.elapsed();
    figures
}
