//! A lean HTTP/1.1 load generator: each connection sends one request, reads the whole
//! answer and sends the next (keep-alive, no pipelining), like `wrk`. It costs far less
//! CPU than a general-purpose client, so on a small machine the server under test gets
//! most of the cores.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// What a load run measured.
pub struct Figures {
    pub requests: usize,
    pub failures: usize,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
}

impl Figures {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile(&self, p: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    }

    pub fn line(&self, name: &str) -> String {
        format!(
            "  {name:<30} {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  failures {}",
            self.rate(),
            self.percentile(0.50).as_secs_f64() * 1e3,
            self.percentile(0.99).as_secs_f64() * 1e3,
            self.failures
        )
    }
}

/// Builds request `n` (method line, headers and body) for `addr`.
pub trait MakeRequest: Fn(SocketAddr, usize) -> Vec<u8> + Send + Sync + 'static {}
impl<F: Fn(SocketAddr, usize) -> Vec<u8> + Send + Sync + 'static> MakeRequest for F {}

/// A request with a body, in wire form.
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nhost: bench\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Runs `connections` connections against `addr` for `duration`, each sending as fast
/// as answers come; a request counts when its answer is a 2xx.
pub async fn run(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    make: impl MakeRequest,
) -> Figures {
    run_paced(addr, connections, duration, None, make).await
}

/// Like [`run`], but with `interval`, each connection starts a request at most once per
/// interval (a fixed offered load of `connections / interval`).
pub async fn run_paced(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    interval: Option<Duration>,
    make: impl MakeRequest,
) -> Figures {
    drive(
        addr,
        connections,
        Some(Instant::now() + duration),
        usize::MAX,
        interval,
        make,
    )
    .await
}

/// Sends requests `0..total` over `connections` connections, as fast as answers come.
pub async fn run_count(
    addr: SocketAddr,
    connections: usize,
    total: usize,
    make: impl MakeRequest,
) -> Figures {
    drive(addr, connections, None, total, None, make).await
}

async fn drive(
    addr: SocketAddr,
    connections: usize,
    deadline: Option<Instant>,
    total: usize,
    interval: Option<Duration>,
    make: impl MakeRequest,
) -> Figures {
    let make = Arc::new(make);
    let counter = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (make, counter) = (make.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut failures) = (Vec::new(), 0usize);
            let mut conn: Option<Connection> = None;
            let mut next = Instant::now();
            while deadline.is_none_or(|d| Instant::now() < d) {
                if let Some(every) = interval {
                    tokio::time::sleep_until(next.into()).await;
                    next += every;
                }
                let n = counter.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let request = make(addr, n);
                let t0 = Instant::now();
                let c = match conn.take() {
                    Some(c) => c,
                    None => match Connection::open(addr).await {
                        Ok(c) => c,
                        Err(_) => {
                            failures += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                };
                match c.exchange(&request).await {
                    Ok((c, status)) => {
                        conn = Some(c);
                        if (200..300).contains(&status) {
                            latencies.push(t0.elapsed());
                        } else {
                            failures += 1;
                        }
                    }
                    Err(_) => failures += 1,
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
        let (latencies, failures) = t.await.expect("load task");
        figures.requests += latencies.len();
        figures.failures += failures;
        figures.latencies.extend(latencies);
    }
    figures.elapsed = started.elapsed();
    figures
}

struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Sends `request` and reads its answer; the connection comes back for reuse.
    async fn exchange(mut self, request: &[u8]) -> std::io::Result<(Self, u16)> {
        self.stream.write_all(request).await?;
        self.buf.clear();
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).map_err(invalid)?;
        let status: u16 = head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid("no status"))?;
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .ok_or_else(|| invalid("no content-length"))?;
        while self.buf.len() < head_end + length {
            self.fill().await?;
        }
        Ok((self, status))
    }

    async fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}
