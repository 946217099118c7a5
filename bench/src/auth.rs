//! Auth: password logins per second beside raw argon2id hashes on the same cores (the
//! floor: a login is one hash), token verifications beside `GET /healthz`, refreshes per
//! second, and whether a wrong password and an unknown email take the same time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde_json::{Value, json};
use switchyard_store::Backend;

use crate::hub::{BenchHub, backends};
use crate::load;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 8)]
    seconds: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Hashing permits of the hub (default: one per core, as the hub's own default).
    #[arg(long)]
    permits: Option<usize>,
    /// sqlite, postgres or both.
    #[arg(long, default_value = "both")]
    backend: String,
}

const PASSWORD: &str = "bench password 1";

/// argon2id at the hub's parameters on every core for `duration`: hashes per second.
fn raw_hashes(duration: Duration) -> f64 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let done = done.clone();
            std::thread::spawn(move || {
                let params = Params::new(19_456, 2, 1, None).unwrap();
                let a = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
                while started.elapsed() < duration {
                    let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
                    a.hash_password(PASSWORD.as_bytes(), &salt).unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn post(key: &str, path: &str, body: &Value) -> Vec<u8> {
    let auth = format!("Bearer {key}");
    load::request(
        "POST",
        path,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
}

pub async fn run(args: Args) {
    let seconds = Duration::from_secs(args.seconds);
    println!(
        "auth: {} s per measurement, {} clients",
        args.seconds, args.connections
    );
    let raw = tokio::task::spawn_blocking(move || raw_hashes(seconds))
        .await
        .unwrap();
    println!(
        "  {:<30} {raw:>8.1} hashes/s (every core)",
        "raw argon2id (baseline)"
    );
    for backend in backends(&args.backend) {
        measure(backend, &args, raw).await;
    }
}

async fn measure(backend: Backend, args: &Args, raw: f64) {
    let seconds = Duration::from_secs(args.seconds);
    println!("{backend:?}:");
    let permits = args.permits;
    let hub = BenchHub::start(backend, |c| {
        c.auth.limits.enabled = false;
        c.auth.hashing.queue = 1024;
        c.auth.hashing.permits = permits;
    })
    .await;
    let user = hub
        .create(
            "auth/default/users",
            json!({"email": "bench@example.com", "password": PASSWORD}),
        )
        .await;
    let (addr, key) = (hub.addr, hub.key.clone());

    let body = json!({"email": "bench@example.com", "password": PASSWORD});
    let k = key.clone();
    let logins = load::run(addr, args.connections, seconds, move |_, _| {
        post(&k, "/v1/auth/default/login", &body)
    })
    .await;
    println!(
        "{}  {:.2}x raw hashing",
        logins.line("POST /v1/auth/default/login"),
        logins.rate() / raw
    );

    // Equal time for a wrong password and an unknown email (one client, interleaved).
    let (mut wrong, mut unknown) = (Vec::new(), Vec::new());
    let url = format!("http://{addr}/v1/auth/default/login");
    for _ in 0..30 {
        for (email, into) in [
            ("bench@example.com", &mut wrong),
            ("nobody@example.com", &mut unknown),
        ] {
            let t0 = Instant::now();
            let r = hub
                .client
                .post(&url)
                .bearer_auth(&key)
                .json(&json!({"email": email, "password": "not the password"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401);
            into.push(t0.elapsed());
        }
    }
    wrong.sort();
    unknown.sort();
    println!(
        "  {:<30} wrong password p50 {:.1} ms, unknown email p50 {:.1} ms (ratio {:.2})",
        "login refusals",
        wrong[15].as_secs_f64() * 1e3,
        unknown[15].as_secs_f64() * 1e3,
        unknown[15].as_secs_f64() / wrong[15].as_secs_f64()
    );

    let healthz = load::run(addr, args.connections, seconds, |_, _| {
        load::request("GET", "/healthz", &[], b"")
    })
    .await;
    println!("{}", healthz.line("GET /healthz (baseline)"));
    let session = hub
        .create("auth/default/sessions", json!({"user_id": user["id"]}))
        .await;
    let token = json!({"token": session["access_token"]});
    let k = key.clone();
    let verifies = load::run(addr, args.connections, seconds, move |_, _| {
        post(&k, "/v1/auth/verify", &token)
    })
    .await;
    println!(
        "{}  {:.2}x healthz",
        verifies.line("POST /v1/auth/verify (a token)"),
        verifies.rate() / healthz.rate()
    );
    // Distinct tokens, each verified once: the ES256 signature is checked every time.
    let mut tokens = Vec::new();
    for _ in 0..3000 {
        let s = hub
            .create("auth/default/sessions", json!({"user_id": user["id"]}))
            .await;
        tokens.push(json!({"token": s["access_token"]}));
    }
    let (k, tokens) = (key.clone(), Arc::new(tokens));
    let total = tokens.len();
    let fresh = load::run_count(addr, args.connections, total, move |_, n| {
        post(&k, "/v1/auth/verify", &tokens[n])
    })
    .await;
    println!(
        "{}  {:.2}x healthz",
        fresh.line("POST /v1/auth/verify (new tokens)"),
        fresh.rate() / healthz.rate()
    );

    // Each client refreshes its own session, chaining the tokens.
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let s = hub
            .create("auth/default/sessions", json!({"user_id": user["id"]}))
            .await;
        let (client, key, done) = (hub.client.clone(), key.clone(), done.clone());
        let url = format!("http://{addr}/v1/auth/default/token/refresh");
        let mut token = s["refresh_token"].clone();
        tasks.push(tokio::spawn(async move {
            while started.elapsed() < seconds {
                let r = client
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&json!({"refresh_token": token}))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "refresh: {}", r.status());
                let pair: Value = r.json().await.unwrap();
                token = pair["refresh_token"].clone();
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    println!(
        "  {:<30} {rate:>8.0} req/s (rotation committed per refresh)",
        "POST /v1/auth/default/token/refresh"
    );
    hub.stop().await;
}
