//! Intake throughput: signed Stripe webhooks (each a distinct event) posted by
//! concurrent clients to a hub in this process, answered only after their group commit.
//! Baseline: `GET /healthz` of the same server, same clients, same run.

use std::time::Duration;

use clap::Args as ClapArgs;
use switchyard_server::{Config, Hub};
use switchyard_store::Backend;
use switchyard_store::testing::TestDb;

use crate::load;

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
    /// Intake writer tasks (0: the hub's default for the store).
    #[arg(long, default_value_t = 0)]
    writers: usize,
}

const SECRET: &str = "whsec_bench_secret";

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
        config.intake.writers = args.writers;
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

        let duration = Duration::from_secs(args.seconds);
        let baseline = load::run(addr, args.connections, duration, |_, _| {
            load::request("GET", "/healthz", &[], b"")
        })
        .await;
        let intake_path = format!("/in/{}", source["id"].as_str().unwrap());
        let intake = load::run(addr, args.connections, duration, move |_, n| {
            let body = format!(
                r#"{{"id":"evt_bench_{n}","object":"event","type":"checkout.session.completed","data":{{"object":{{"id":"cs_{n}"}}}}}}"#
            );
            let t = switchyard_core::time::now_ms() / 1000;
            let header = switchyard_signatures::stripe::sign(SECRET, t, body.as_bytes());
            load::request(
                "POST",
                &intake_path,
                &[("stripe-signature", &header), ("content-type", "application/json")],
                body.as_bytes(),
            )
        })
        .await;
        println!("{backend:?}:");
        println!("{}", baseline.line("GET /healthz (baseline)"));
        println!("{}", intake.line("POST /in (signed Stripe)"));
        println!(
            "  intake / baseline          {:>8.2}x",
            intake.rate() / baseline.rate()
        );
        let _ = stop.send(());
        let _ = server.await;
        db.cleanup().await;
    }
}
