//! Test peers shared by the test suites of this crate and of the server: a real SMTP
//! server (`maildev`, installed by `scripts/test`, which sets `SWITCHYARD_TEST_MAILDEV`)
//! with its HTTP API, scratch directories, and stateful fakes of the payment providers
//! ([`stripe::StripeFake`], [`paypal::PaypalFake`]) built on `wiremock` from the
//! providers' documented wire formats, and a strict S3 server in-process
//! ([`s3::S3Peer`]).
#![allow(clippy::missing_panics_doc)]

#[cfg(feature = "testing")]
mod fake;
#[cfg(feature = "testing")]
pub mod paypal;
#[cfg(feature = "testing")]
pub mod s3;
#[cfg(feature = "testing")]
pub mod stripe;

#[cfg(feature = "testing")]
pub use fake::Recorded;
#[cfg(feature = "testing")]
pub use wiremock::ResponseTemplate;
#[cfg(feature = "testing")]
pub use wiremock::http::Method;

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A scratch directory removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "switchyard-providers-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn free_port() -> u16 {
    let [port] = free_ports();
    port
}

/// `N` distinct ports nothing listens on: every listener is held until all are chosen,
/// so the kernel cannot hand out one port twice.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("free port"))
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().expect("free port").port())
}

/// A running maildev, killed on drop.
#[derive(Debug)]
pub struct Maildev {
    child: Child,
    pub smtp_port: u16,
    pub web_port: u16,
    dir: TempDir,
    http: reqwest::Client,
}

impl Maildev {
    /// Starts maildev with `args` added, and waits until both its SMTP and HTTP ports
    /// answer.
    pub async fn start(args: &[&str]) -> Maildev {
        let bin = std::env::var("SWITCHYARD_TEST_MAILDEV").expect(
            "SWITCHYARD_TEST_MAILDEV is not set: run the suite with scripts/test, which installs maildev",
        );
        let dir = TempDir::new("maildev");
        let [smtp_port, web_port] = free_ports();
        let log = File::create(dir.path().join("maildev.log")).expect("log file");
        let child = Command::new(&bin)
            .args(["--ip", "127.0.0.1", "--web-ip", "127.0.0.1"])
            .args(["-s", &smtp_port.to_string(), "-w", &web_port.to_string()])
            .arg("--mail-directory")
            .arg(dir.path().join("mail"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("log file")))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start maildev at {bin}: {e}"));
        let mut maildev = Maildev {
            child,
            smtp_port,
            web_port,
            dir,
            http: crate::http_client(),
        };
        maildev.wait_ready().await;
        maildev
    }

    pub async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("maildev exited with {status}: {}", self.log());
            }
            let smtp_up = TcpStream::connect(("127.0.0.1", self.smtp_port)).is_ok();
            let api_up = match self.http.get(self.api("/healthz")).send().await {
                Ok(r) => r.status().is_success(),
                Err(_) => false,
            };
            if smtp_up && api_up {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "maildev did not start: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maildev.log")).unwrap_or_default()
    }

    pub fn api(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/api{path}", self.web_port)
    }

    pub fn smtp_url(&self, credentials: &str) -> String {
        format!("smtp://{credentials}127.0.0.1:{}", self.smtp_port)
    }

    pub async fn get(&self, path: &str) -> Vec<u8> {
        let response = self
            .http
            .get(self.api(path))
            .send()
            .await
            .expect("maildev API");
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.bytes().await.expect("body").to_vec()
    }

    /// The received email with this subject, waiting briefly for maildev to store it.
    pub async fn email(&self, subject: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let list: Vec<Value> =
                serde_json::from_slice(&self.get("/email").await).expect("email list");
            if let Some(found) = list.into_iter().find(|e| e["subject"] == subject) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no email with subject {subject:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Maildev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
