//! Intake throughput: signed Stripe webhooks (each a distinct event) posted by
//! concurrent clients to a hub in this process, answered only after their group commit,
//! and events the application publishes (`POST /v1/events` with an `Idempotency-Key`).
//! Baselines: `GET /healthz` of the same server, same clients, same run; and the floor
//! (`floor.rs`): the same event rows written by as many clients through a group commit,
//! one multi-row INSERT per batch. Statements per item are counted as the store runs
//! them (`switchyard_store::statements`).

use std::time::Duration;

use crate::floor::{self, Rows, Value};
use crate::hub::{self, BenchHub};
use crate::load::{self, Figures};
use clap::Args as ClapArgs;
use switchyard_store::statements::Statements;

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

fn stripe_event(n: usize) -> String {
    format!(
        r#"{{"id":"evt_bench_{n}","object":"event","type":"checkout.session.completed","data":{{"object":{{"id":"cs_{n}"}}}}}}"#
    )
}

/// Statements the store ran per request while `run` measured.
async fn counted(run: impl Future<Output = Figures>) -> (Figures, f64) {
    let counter = Statements::global();
    let before = counter.map_or(0, |c| c.count());
    let figures = run.await;
    let statements = counter.map_or(0, |c| c.count()) - before;
    let per = statements as f64 / figures.requests.max(1) as f64;
    (figures, per)
}

/// Event rows as intake stores them: processed, with the bench's payload.
fn event_rows(prefix: &'static str) -> Rows {
    Rows {
        table: "events",
        columns: &[
            "id",
            "source_id",
            "source_kind",
            "dedupe_key",
            "provider_type",
            "type",
            "payload",
            "headers",
            "received_at",
            "state",
            "processed_at",
        ],
        make: Box::new(move |n| {
            let now = switchyard_core::time::now_ms();
            vec![
                Value::Text(switchyard_core::new_id("evt")),
                Value::Text(format!("src_{prefix}")),
                Value::Text("stripe".into()),
                Value::Text(format!("{prefix}_{n}")),
                Value::Text("checkout.session.completed".into()),
                Value::Text("payment.checkout.completed".into()),
                Value::Bytes(stripe_event(n as usize).into_bytes()),
                Value::Text("{}".into()),
                Value::Int(now),
                Value::Text("processed".into()),
                Value::Int(now),
            ]
        }),
    }
}

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
        let (intake, intake_statements) =
            counted(load::run(addr, args.connections, duration, move |_, n| {
                let body = stripe_event(n);
                let t = switchyard_core::time::now_ms() / 1000;
                let header = switchyard_signatures::stripe::sign(SECRET, t, body.as_bytes());
                load::request(
                    "POST",
                    &intake_path,
                    &[
                        ("stripe-signature", &header),
                        ("content-type", "application/json"),
                    ],
                    body.as_bytes(),
                )
            }))
            .await;
        let auth = format!("Bearer {}", hub.key);
        let (publish, publish_statements) = counted(load::run(addr, args.connections, duration, move |_, n| {
            let body = format!(r#"{{"type":"order.shipped","data":{{"order":"ord_{n}","carrier":"ups","items":3}}}}"#);
            load::request(
                "POST",
                "/v1/events",
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                    ("idempotency-key", &format!("ship-{n}")),
                ],
                body.as_bytes(),
            )
        }))
        .await;
        let floor = floor::run(
            backend,
            hub.database_url(),
            args.connections,
            duration,
            None,
            event_rows("floor"),
        )
        .await;
        println!("{backend:?}:");
        println!("{}", baseline.line("GET /healthz (baseline)"));
        println!("{}", intake.line("POST /in (signed Stripe)"));
        println!("{}", publish.line("POST /v1/events (keyed)"));
        println!("{}", floor.line("floor: event rows"));
        println!(
            "  intake / baseline          {:>8.2}x",
            intake.rate() / baseline.rate()
        );
        println!(
            "  intake / floor             {:>8.2}x   {:.3} statements an event",
            intake.rate() / floor.rate(),
            intake_statements
        );
        println!(
            "  publish / floor            {:>8.2}x   {:.3} statements an event",
            publish.rate() / floor.rate(),
            publish_statements
        );
        println!(
            "  publish / intake           {:>8.2}x",
            publish.rate() / intake.rate()
        );
        hub.stop().await;
    }
}
