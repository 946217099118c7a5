//! Object storage: what the hub costs on the way to a backend, and what it holds while
//! bytes stream through it.
//!
//! 1. An object (`--size-mib`) written with `PUT /v1/storage/s3/objects/{key}` and read
//!    back with `GET` through the hub to an in-process `s3s-fs` (strict SigV4), beside
//!    the same transfers made directly to the same server with `object_store`: a
//!    `WriteMultipart` of the hub's `storage.part_size` with the hub's parts in flight,
//!    and `get().into_stream()`. Both sides send the body from memory in 1 MiB chunks.
//! 2. The same object through the `local` store, beside a plain file in the same
//!    filesystem: written with `write_all` and `sync_all` (the local store syncs every
//!    write before it answers), read to its end into one reused 1 MiB buffer.
//!    For reference, the parts of the write path alone: HTTP to an in-process server
//!    that drops the body (and one serving it from memory), SHA-256, the file without
//!    `sync_all`, the hub to a `memory` store, and `object_store`'s local store direct.
//! 3. Signed URLs per second: `POST /v1/storage/{store}/signed-urls` on the `local`
//!    store (the hub's HMAC) and the `s3` store (SigV4 presign), for `GET` (the hub
//!    looks the object up first) and `PUT` (it does not), `--connections` at a time,
//!    beside `GET /v1/storage/stores` on the same hub: an authenticated route doing
//!    next to nothing, so the ratio shows what signing adds to the request path.
//! 4. Resident memory while 1 GiB, sent as a stream of 1 MiB chunks, is written to the
//!    `local` store and read back: `VmRSS` before, and `VmHWM` after each direction
//!    (reset before each through `/proc/self/clear_refs`). The hub runs in this
//!    process, so this is the hub's memory plus its client's.
//!
//! Every transfer runs as a task of the runtime, as the hub's own requests do. Each runs
//! `--runs` times after one warm-up run, hub and baseline alternating; the median is
//! printed with the spread (lowest–highest) and the cores the process kept busy.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args as ClapArgs;
use futures_util::StreamExt as _;
use serde_json::json;
use switchyard_providers::storage::StoreConfig;
use switchyard_providers::storage::object_store::path::Path as Key;
use switchyard_providers::storage::object_store::{
    ObjectStore, ObjectStoreExt as _, WriteMultipart,
};
use switchyard_providers::testing::s3::S3Peer;
use switchyard_server::Config;

use crate::hub::{self, BenchHub};
use crate::load;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Size of the object moved, in MiB.
    #[arg(long, default_value_t = 64)]
    size_mib: usize,
    /// Measured runs of each transfer (after one warm-up); the median is printed.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Concurrent clients asking for signed URLs.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Seconds of each signed-URL measurement.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Skip the 1 GiB transfer and its memory figures.
    #[arg(long)]
    no_gib: bool,
    /// sqlite, postgres or both.
    #[arg(long, default_value = "both")]
    backend: String,
}

const MIB: usize = 1 << 20;

/// Chunks the clients send bodies in, and the buffer the file baseline reads into.
const CHUNK: usize = MIB;

/// Parts of one upload in flight, as the hub's write path keeps them
/// (`crates/server/src/storage/stream.rs`).
const PARTS_IN_FLIGHT: usize = 2;

/// `len` bytes that no layer can compress or deduplicate.
fn random_bytes(len: usize) -> Bytes {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out.into()
}

/// `body` as a request body sent in [`CHUNK`]s, without copying it.
fn chunked(body: &Bytes) -> reqwest::Body {
    let body = body.clone();
    let chunks = body.len().div_ceil(CHUNK);
    reqwest::Body::wrap_stream(futures_util::stream::iter((0..chunks).map(move |i| {
        Ok::<_, Infallible>(body.slice(i * CHUNK..((i + 1) * CHUNK).min(body.len())))
    })))
}

/// `count` times `chunk` as a request body: a long body held once.
fn repeated(chunk: &Bytes, count: usize) -> reqwest::Body {
    let chunk = chunk.clone();
    reqwest::Body::wrap_stream(futures_util::stream::iter(
        (0..count).map(move |_| Ok::<_, Infallible>(chunk.clone())),
    ))
}

/// CPU time used so far by every thread of this process (`/proc/self/stat`, in ticks
/// of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// One transfer: MiB per second, and the cores the process kept busy meanwhile.
#[derive(Debug, Clone, Copy)]
struct Sample {
    mibs: f64,
    cores: f64,
}

/// Runs `work`, which moves `len` bytes, as a task.
async fn measure(len: usize, work: impl Future<Output = ()> + Send + 'static) -> Sample {
    let (cpu, started) = (cpu_time(), Instant::now());
    tokio::spawn(work).await.expect("a transfer");
    let wall = started.elapsed().as_secs_f64();
    Sample {
        mibs: len as f64 / MIB as f64 / wall,
        cores: (cpu_time() - cpu).as_secs_f64() / wall,
    }
}

/// The median of `v`, and its lowest and highest.
fn spread(v: impl Iterator<Item = f64>) -> (f64, f64, f64) {
    let mut s: Vec<f64> = v.collect();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => (0.0, 0.0, 0.0),
        n => ((s[(n - 1) / 2] + s[n / 2]) / 2.0, s[0], s[n - 1]),
    }
}

fn median_mibs(v: &[Sample]) -> f64 {
    spread(v.iter().map(|s| s.mibs)).0
}

fn figures(v: &[Sample]) -> String {
    let (m, lo, hi) = spread(v.iter().map(|s| s.mibs));
    let cores = spread(v.iter().map(|s| s.cores)).0;
    format!("{m:>6.0} MiB/s ({lo:>4.0}–{hi:<4.0}) {cores:.1} cores")
}

/// One line: the hub's figures beside the baseline's, and the ratio of their medians.
fn compare(name: &str, hub: &[Sample], baseline: &str, base: &[Sample], target: &str) {
    println!(
        "  {name:<9} hub {}   {baseline:<27} {}   ratio {:.2}{target}",
        figures(hub),
        figures(base),
        median_mibs(hub) / median_mibs(base)
    );
}

/// An HTTP client with a bearer key; each transfer owns what it uses.
#[derive(Debug, Clone)]
struct Client {
    http: reqwest::Client,
    bearer: String,
}

impl Client {
    fn of(hub: &BenchHub) -> Client {
        let (http, bearer) = (hub.client.clone(), hub.key.clone());
        Client { http, bearer }
    }

    /// `PUT`s `len` bytes of `body` to `url` and waits for the answer (through the hub:
    /// after the object is recorded).
    async fn put(self, url: String, body: reqwest::Body, len: usize) {
        let r = (self.http.put(&url).bearer_auth(self.bearer))
            .header("content-type", "application/octet-stream")
            .header("content-length", len)
            .body(body)
            .send()
            .await
            .expect("PUT");
        let status = r.status();
        let answer = r.text().await.unwrap_or_default();
        assert!(status.is_success(), "PUT {url}: {status} {answer}");
    }

    /// `GET`s `url`, reading every byte.
    async fn get(self, url: String, len: usize) {
        let r = self.http.get(&url).bearer_auth(self.bearer).send().await;
        let mut r = r.expect("GET");
        assert!(r.status().is_success(), "GET {url}: {}", r.status());
        let mut got = 0;
        while let Some(chunk) = r.chunk().await.expect("the body") {
            got += chunk.len();
        }
        assert_eq!(got, len, "GET {url}: every byte");
    }
}

/// Writes `body` to `key` as the hub's write path does: a multipart upload of
/// `part_size` parts, fed in [`CHUNK`]s with [`PARTS_IN_FLIGHT`] parts in flight.
async fn direct_put(store: Arc<dyn ObjectStore>, key: Key, body: Bytes, part_size: usize) {
    let upload = store
        .put_multipart(&key)
        .await
        .expect("create multipart upload");
    let mut parts = WriteMultipart::new_with_chunk_size(upload, part_size);
    for at in (0..body.len()).step_by(CHUNK) {
        parts
            .wait_for_capacity(PARTS_IN_FLIGHT)
            .await
            .expect("a part uploads");
        parts.put(body.slice(at..(at + CHUNK).min(body.len())));
    }
    parts.finish().await.expect("complete multipart upload");
}

/// Reads `key` as a stream to its end.
async fn direct_get(store: Arc<dyn ObjectStore>, key: Key, len: usize) {
    let mut stream = store.get(&key).await.expect("get").into_stream();
    let mut got = 0;
    while let Some(chunk) = stream.next().await {
        got += chunk.expect("the object's bytes").len();
    }
    assert_eq!(got, len, "direct get: every byte");
}

/// Writes `body` to a new file, and syncs it to disk with `sync`.
async fn file_put(path: PathBuf, body: Bytes, sync: bool) {
    use tokio::io::AsyncWriteExt as _;
    let mut file = tokio::fs::File::create(path).await.expect("create file");
    file.write_all(&body).await.expect("write file");
    if sync {
        file.sync_all().await.expect("sync file");
    } else {
        file.flush().await.expect("write file");
    }
}

/// Reads the file to its end into one reused [`CHUNK`] buffer.
async fn file_get(path: PathBuf, len: usize) {
    let got = tokio::task::spawn_blocking(move || {
        use std::io::Read as _;
        let mut file = std::fs::File::open(path)?;
        let (mut buf, mut got) = (vec![0u8; CHUNK], 0);
        loop {
            match file.read(&mut buf)? {
                0 => return Ok::<_, std::io::Error>(got),
                n => got += n,
            }
        }
    })
    .await
    .expect("the read")
    .expect("read file");
    assert_eq!(got, len, "file read: every byte");
}

/// SHA-256 of `body` in [`CHUNK`]s, as the hub's write path digests what it streams.
async fn digest(body: Bytes) {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    for chunk in body.chunks(CHUNK) {
        hasher.update(chunk);
    }
    std::hint::black_box(hasher.finalize());
}

/// An HTTP server in this process doing nothing but move bytes: `PUT /sink` reads and
/// drops the body, `GET /blob` answers `blob` from memory.
async fn bare_server(blob: Bytes) -> (String, tokio::task::JoinHandle<()>) {
    use axum::body::Body;
    use axum::http::StatusCode;
    let app = axum::Router::new()
        .route(
            "/sink",
            axum::routing::put(|body: Body| async move {
                let mut chunks = body.into_data_stream();
                while let Some(chunk) = chunks.next().await {
                    if chunk.is_err() {
                        return StatusCode::BAD_REQUEST;
                    }
                }
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/blob",
            axum::routing::get(move || async move { Body::from(blob) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, server)
}

fn object_url(hub: &BenchHub, store: &str, key: &str) -> String {
    format!("http://{}/v1/storage/{store}/objects/{key}", hub.addr)
}

/// Sections 1 and 2: the object through the hub to `s3` and `local` beside their
/// baselines, and the parts of the write path alone.
async fn transfers(hub: &BenchHub, args: &Args, ctx: &Ctx) {
    let (body, len, part_size) = (&ctx.body, ctx.body.len(), ctx.part_size);
    let client = Client::of(hub);
    let (direct, direct_key) = (&ctx.direct, Key::from("direct/object"));
    let s3 = object_url(hub, "s3", "bench/object");
    let local = object_url(hub, "local", "bench/object");
    let memory = object_url(hub, "memory", "bench/object");
    let file = ctx.scratch.join("baseline.bin");
    let (bare, bare_server) = bare_server(body.clone()).await;
    let (sink, blob) = (format!("{bare}/sink"), format!("{bare}/blob"));
    let mut all: [Vec<Sample>; 14] = Default::default();
    let put = |url: &String| measure(len, client.clone().put(url.clone(), chunked(body), len));
    let get = |url: &String| measure(len, client.clone().get(url.clone(), len));
    let store_put = |store: &Arc<dyn ObjectStore>| {
        let (store, key) = (store.clone(), direct_key.clone());
        measure(len, direct_put(store, key, body.clone(), part_size))
    };
    for run in 0..=args.runs {
        let samples = [
            store_put(direct).await,
            put(&s3).await,
            measure(len, direct_get(direct.clone(), direct_key.clone(), len)).await,
            get(&s3).await,
            measure(len, file_put(file.clone(), body.clone(), true)).await,
            put(&local).await,
            measure(len, file_get(file.clone(), len)).await,
            get(&local).await,
            put(&sink).await,
            get(&blob).await,
            measure(len, digest(body.clone())).await,
            measure(len, file_put(file.clone(), body.clone(), false)).await,
            put(&memory).await,
            store_put(&ctx.local).await,
        ];
        // The first run warms connections, caches and the allocator.
        if run > 0 {
            for (series, sample) in all.iter_mut().zip(samples) {
                series.push(sample);
            }
        }
    }
    bare_server.abort();
    let _ = tokio::fs::remove_file(&file).await;
    println!(
        "  {} MiB object, median of {} runs (lowest–highest); cores: CPU time of the process / wall time",
        args.size_mib, args.runs
    );
    let target = "  (target ≥ 0.8)";
    for (name, hub, baseline, base, target) in [
        ("s3 PUT", 1, "object_store WriteMultipart", 0, target),
        ("s3 GET", 3, "object_store get stream", 2, target),
        ("local PUT", 5, "file write_all + sync_all", 4, ""),
        ("local GET", 7, "file read, 1 MiB buffer", 6, ""),
    ] {
        compare(name, &all[hub], baseline, &all[base], target);
    }
    println!("  the write path's parts alone:");
    for (name, series) in [
        ("HTTP PUT, body dropped", &all[8]),
        ("HTTP GET, from memory", &all[9]),
        ("SHA-256", &all[10]),
        ("file write_all, no sync_all", &all[11]),
        ("hub PUT to a memory store", &all[12]),
        ("object_store local, direct", &all[13]),
    ] {
        println!("    {name:<28} {}", figures(series));
    }
    let serial = 1.0
        / [8, 10, 4]
            .map(|i| 1.0 / median_mibs(&all[i]))
            .iter()
            .sum::<f64>();
    println!("    HTTP PUT, SHA-256, write_all + sync_all one after another: {serial:.0} MiB/s");
    let mut small = Vec::new();
    for _ in 0..20 {
        let one = client
            .clone()
            .put(local.clone(), Bytes::from_static(b"x").into(), 1);
        let seconds = 1.0 / (measure(1, one).await.mibs * MIB as f64);
        small.push(seconds * 1e3);
    }
    let (m, lo, hi) = spread(small.into_iter());
    println!("    a 1-byte PUT to local (the write's fixed cost): {m:.2} ms ({lo:.2}–{hi:.2})");
}

/// Section 3: signed URLs per second beside a cheap authenticated route.
async fn signing(hub: &BenchHub, args: &Args) {
    let bearer = format!("Bearer {}", hub.key);
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    let list = load::request("GET", "/v1/storage/stores", &headers[..1], b"");
    let sign = |store: &str, method: &str| {
        let body = json!({"key": "bench/object", "method": method, "expires_in": 300});
        load::request(
            "POST",
            &format!("/v1/storage/{store}/signed-urls"),
            &headers,
            body.to_string().as_bytes(),
        )
    };
    let measure = |request: Vec<u8>, seconds: f64| {
        load::run(
            hub.addr,
            args.connections,
            Duration::from_secs_f64(seconds),
            move |_, _| request.clone(),
        )
    };
    let routes = [
        ("GET stores (baseline)", list),
        ("sign GET local (HMAC)", sign("local", "GET")),
        ("sign GET s3 (SigV4)", sign("s3", "GET")),
        ("sign PUT local (HMAC)", sign("local", "PUT")),
        ("sign PUT s3 (SigV4)", sign("s3", "PUT")),
    ];
    let _ = measure(routes[0].1.clone(), 1.0).await;
    // Rounds of every route, so that drift touches them all alike.
    let mut rounds: [Vec<load::Figures>; 5] = Default::default();
    for _ in 0..args.runs {
        for (i, (_, request)) in routes.iter().enumerate() {
            rounds[i].push(measure(request.clone(), args.seconds as f64).await);
        }
    }
    println!(
        "  signed URLs, {} connections, median of {} runs of {} s (for GET the hub looks the object up first):",
        args.connections, args.runs, args.seconds
    );
    let rate = |i: usize| spread(rounds[i].iter().map(load::Figures::rate));
    let ms = |i: usize, p: f64| {
        spread(
            rounds[i]
                .iter()
                .map(|f| f.percentile(p).as_secs_f64() * 1e3),
        )
        .0
    };
    for (i, (name, _)) in routes.iter().enumerate() {
        let (m, lo, hi) = rate(i);
        let failures: usize = rounds[i].iter().map(|f| f.failures).sum();
        println!(
            "  {name:<24} {m:>6.0} req/s ({lo:.0}–{hi:.0})  p50 {:.2} ms  p99 {:.2} ms  failures {failures}{}",
            ms(i, 0.5),
            ms(i, 0.99),
            match i {
                0 => String::new(),
                _ => format!("  ratio {:.2}", m / rate(0).0),
            }
        );
    }
}

/// A field of `/proc/self/status` in KiB (`VmRSS:`, `VmHWM:`).
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| {
        l.strip_prefix(field)?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    })
}

/// Resets `VmHWM` to the current `VmRSS` (Linux ≥ 4.0); whether it could.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Section 4: resident memory while 1 GiB streams through the `local` store.
async fn gib(hub: &BenchHub) {
    const COUNT: usize = 1024;
    let len = COUNT * CHUNK;
    let chunk = random_bytes(CHUNK);
    let client = Client::of(hub);
    let url = object_url(hub, "local", "bench/gib");
    let mut reset = reset_peak();
    let before = status_kib("VmRSS:");
    let body = repeated(&chunk, COUNT);
    let up = measure(len, client.clone().put(url.clone(), body, len)).await;
    let peak_up = status_kib("VmHWM:");
    reset &= reset_peak();
    let between = status_kib("VmRSS:");
    let down = measure(len, client.clone().get(url.clone(), len)).await;
    let peak_down = status_kib("VmHWM:");
    let r = hub.client.delete(&url).bearer_auth(&hub.key).send().await;
    assert!(r.is_ok_and(|r| r.status().is_success()), "DELETE {url}");
    let (Some(before), Some(peak_up), Some(between), Some(peak_down)) =
        (before, peak_up, between, peak_down)
    else {
        println!("  1 GiB through local: /proc/self/status unreadable; no memory figures");
        return;
    };
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "  1 GiB through local, 1 MiB chunks: PUT RSS {:.1} MiB, peak {:.1} (+{:.1}); GET RSS {:.1} MiB, peak {:.1} (+{:.1}){}; PUT {:.0} MiB/s, GET {:.0} MiB/s",
        mib(before),
        mib(peak_up),
        mib(peak_up.saturating_sub(before)),
        mib(between),
        mib(peak_down),
        mib(peak_down.saturating_sub(between)),
        if reset { "" } else { " (since start)" },
        up.mibs,
        down.mibs,
    );
}

/// What every backend's run shares.
struct Ctx {
    body: Bytes,
    scratch: PathBuf,
    /// The S3 peer's bucket, straight through `object_store`.
    direct: Arc<dyn ObjectStore>,
    /// A local store like the hub's, straight through `object_store`.
    local: Arc<dyn ObjectStore>,
    part_size: usize,
}

fn local_store(dir: &Path) -> StoreConfig {
    serde_json::from_value(json!({"name": "local", "kind": "local", "path": dir}))
        .expect("a local store's settings")
}

pub async fn run(args: Args) {
    let part_size = Config::default().storage.part_size.0;
    println!(
        "storage benchmark: {} MiB object, {} runs, part size {} MiB, {} signing connections{}",
        args.size_mib,
        args.runs,
        part_size / MIB,
        args.connections,
        if args.no_gib { "" } else { ", 1 GiB run" }
    );
    let scratch =
        std::env::temp_dir().join(format!("switchyard_bench_storage_{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch directory");
    let peer = S3Peer::start(&scratch.join("s3")).await.expect("S3 peer");
    peer.create_bucket("bucket").expect("bucket");
    let direct = peer
        .store_config("direct", "bucket")
        .build(&scratch)
        .expect("direct S3 store")
        .store;
    let ctx = Ctx {
        body: random_bytes(args.size_mib * MIB),
        scratch: scratch.clone(),
        direct,
        local: local_store(&scratch.join("local-direct"))
            .build(&scratch)
            .expect("local")
            .store,
        part_size,
    };
    for backend in hub::backends(&args.backend) {
        let stores = vec![
            peer.store_config("s3", "bucket"),
            serde_json::from_value(json!({"name": "memory", "kind": "memory"})).unwrap(),
            local_store(&scratch.join(format!("local-{backend:?}"))),
        ];
        let hub = BenchHub::start(backend, |c| c.storage.stores = stores).await;
        println!("{backend:?}:");
        // First, while the allocator holds the least memory freed by earlier runs.
        if !args.no_gib {
            gib(&hub).await;
        }
        transfers(&hub, &args, &ctx).await;
        signing(&hub, &args).await;
        hub.stop().await;
    }
    drop(peer);
    let _ = std::fs::remove_dir_all(&scratch);
}
