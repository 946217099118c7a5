//! Switchyard benchmarks. Each prints its figures beside a baseline measured in the same
//! run on the same machine, so ratios stay meaningful across machines.
//!
//! `cargo run --release -p switchyard-bench -- queue [--jobs N] [--backend sqlite|postgres|both]`
//! `cargo run --release -p switchyard-bench -- intake [--seconds N] [--connections N] [--backend …]`
//! `cargo run --release -p switchyard-bench -- delivery [--events N] [--rate N] [--backend …]`
//! `cargo run --release -p switchyard-bench -- email [--emails N] [--backend …] [--accept-only]`
//! `cargo run --release -p switchyard-bench -- payments [--checkouts N] [--rate N] [--seconds N] [--backend …]`
//! `cargo run --release -p switchyard-bench -- auth [--seconds N] [--connections N] [--backend …]`
//! `cargo run --release -p switchyard-bench -- connectors [--seconds N] [--connections N] [--limit N] [--backend …]`
//! `cargo run --release -p switchyard-bench -- storage [--size-mib N] [--runs N] [--connections N] [--seconds N] [--no-gib] [--backend …]`
#![forbid(unsafe_code)]

mod auth;
mod connectors;
mod delivery;
mod email;
mod floor;
mod hub;
mod intake;
mod load;
mod payments;
mod queue;
mod smtp_sink;
mod storage;

use clap::{Parser, Subcommand};

/// The allocator the `switchyard` binary uses, so that figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(about = "Switchyard benchmarks")]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Durable job queue: jobs enqueued and completed per second.
    Queue(queue::Args),
    /// Webhook intake: signed Stripe events accepted per second, p50/p99 latency.
    Intake(intake::Args),
    /// Event delivery: deliveries per second to a local receiver, and end-to-end
    /// latency from intake to receiver.
    Delivery(delivery::Args),
    /// Email: emails per second through the hub to an SMTP sink (pooled connections)
    /// and to an HTTP provider fake.
    Email(email::Args),
    /// Payments: latency the hub adds to `POST /v1/payments/checkout` over the Stripe
    /// fake called directly, and the lag from a webhook to the mirror showing it.
    Payments(payments::Args),
    /// Storage: uploads and downloads through the hub beside the same backend used
    /// directly (S3) or a plain file (local), signed URLs per second, and resident
    /// memory while 1 GiB streams through.
    Storage(storage::Args),
    /// Auth: logins per second beside raw argon2id hashing, token verifications beside
    /// `GET /healthz`, refreshes per second.
    Auth(auth::Args),
    /// Connectors: latency the proxy adds over the upstream called directly, cache hits
    /// per second beside `GET /healthz`, and the rate limiter's accuracy.
    Connectors(connectors::Args),
}

#[tokio::main]
async fn main() {
    // Counts the statements the store runs, for the figures of statements per item.
    let _ = switchyard_store::statements::Statements::global();
    match Cli::parse().bench {
        Bench::Queue(args) => queue::run(args).await,
        Bench::Intake(args) => intake::run(args).await,
        Bench::Delivery(args) => delivery::run(args).await,
        Bench::Email(args) => email::run(args).await,
        Bench::Payments(args) => payments::run(args).await,
        Bench::Storage(args) => storage::run(args).await,
        Bench::Auth(args) => auth::run(args).await,
        Bench::Connectors(args) => connectors::run(args).await,
    }
}
