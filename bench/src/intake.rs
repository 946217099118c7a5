//! Intake throughput: signed Stripe webhooks (each a distinct event) posted by
//! concurrent clients to a hub in this process, answered only after their group commit.
//! Baseline: `GET /healthz` of the same server, same clients, same run.

use std::time::Duration;

use crate::hub::{self, BenchHub};
use crate::load;
use clap::Args as ClapArgs;

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
    println!(
        "intake benchmark: {} connections, {} s per measurement",
        args.connections, args.seconds
    );
    for backend in hub::backends(&args.backend) {
        let hub = BenchHub::start(backend, |config| {
            config.queue.enabled = !args.no_processing;
            config.intake.writers = args.writers;
        })
        .await;
        let addr = hub.addr;
        let source = hub
            .create(
                "sources",
                serde_json::json!({"name": "bench", "kind": "stripe", "secret": SECRET}),
            )
            .await;

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
        hub.stop().await;
    }
}
