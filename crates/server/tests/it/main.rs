//! HTTP tests of the hub: each starts a hub on `127.0.0.1:0` over a fresh SQLite file or
//! a fresh PostgreSQL database and talks to it with a plain HTTP client.

mod access;
mod accounts;
mod api;
mod architecture;
mod auth;
mod connectors;
mod crash;
mod delivery;
mod edges;
mod hangups;
mod idempotency;
mod idp;
mod intake;
mod interop;
mod keys;
mod kinds;
mod lifecycle;
mod messages;
mod nul;
mod openapi_client;
mod openapi_doc;
mod payments;
mod receiver;
mod sources;
mod storage;

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::{Method, RequestBuilder, Response};
use switchyard_core::vault::MasterKey;
use switchyard_server::{Config, Hub};
use switchyard_store::Backend;
use switchyard_store::queue::JobHandler;
use switchyard_store::testing::TestDb;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

#[allow(missing_debug_implementations)]
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// The bootstrap admin key.
    pub key: String,
    pub db: TestDb,
    pub state: switchyard_server::Services,
    /// The master key the hub was opened with (PostgreSQL), for restarts.
    pub master_key: Option<switchyard_core::Secret<String>>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), switchyard_server::ServerError>>>,
}

pub fn config_for(db: &TestDb) -> Config {
    let mut config = Config {
        database_url: db.url.clone(),
        ..Config::default()
    };
    config.log.level = "warn".into();
    config.queue.poll_interval.0 = std::time::Duration::from_millis(200);
    // Test receivers listen on loopback.
    config.delivery.allow_private_networks = true;
    config.data_dir = db.dir.clone();
    match db.backend {
        Backend::Postgres => {
            config.master_key = Some(MasterKey::generate().to_base64().clone());
        }
        Backend::Sqlite => {
            config.master_key_file = db.dir.as_ref().map(|d| d.join("master.key"));
        }
    }
    config
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}, vec![]).await
    }

    pub async fn spawn_with(
        backend: Backend,
        tweak: impl FnOnce(&mut Config),
        handlers: Vec<(&str, Arc<dyn JobHandler>)>,
    ) -> TestApp {
        let db = TestDb::new(backend).await;
        let mut config = config_for(&db);
        tweak(&mut config);
        let mut hub = Hub::open(config).await.expect("hub opens");
        for (kind, handler) in handlers {
            hub = hub.with_handler(kind, handler);
        }
        let key = hub
            .bootstrap_key()
            .expect("empty store gets a bootstrap key")
            .raw
            .expose()
            .clone();
        let state = hub.services().clone();
        let master_key = hub.config().master_key.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel();
        let handle = tokio::spawn(hub.serve(listener, async move {
            let _ = stopped.await;
        }));
        TestApp {
            addr,
            client: switchyard_providers::http_client(),
            key,
            db,
            state,
            master_key,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    /// Stops this hub and opens a new one on the same store (a restart), with `tweak`
    /// applied to the configuration.
    pub async fn restart_with(mut self, tweak: impl FnOnce(&mut Config)) -> TestApp {
        self.stop().await;
        let mut config = config_for(&self.db);
        if let Some(file) = &config.master_key_file {
            assert!(file.exists(), "the SQLite master key file is kept");
        }
        if self.db.backend == Backend::Postgres {
            config.master_key = self.master_key.clone();
        }
        tweak(&mut config);
        let hub = Hub::open(config).await.expect("hub reopens");
        let state = hub.services().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel();
        let handle = tokio::spawn(hub.serve(listener, async move {
            let _ = stopped.await;
        }));
        TestApp {
            addr,
            state,
            stop: Some(stop),
            handle: Some(handle),
            ..self
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A request authenticated with the bootstrap key.
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.key)
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.req(Method::GET, path)
    }

    /// `GET path` with the bootstrap key, read as JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.get(path).send().await.unwrap().json().await.unwrap()
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        let r = self.client.get(self.url("/metrics")).send().await.unwrap();
        r.text().await.unwrap()
    }

    pub fn post(&self, path: &str, body: serde_json::Value) -> RequestBuilder {
        self.req(Method::POST, path).json(&body)
    }

    /// `POST path` with `body` and the bootstrap key, the answer read as JSON.
    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        self.post(path, body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Signals shutdown and waits for the hub to finish.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("server task").expect("clean shutdown");
        }
    }

    pub async fn finish(mut self) {
        self.stop().await;
        self.db.cleanup().await;
    }
}

/// Reads a problem document, checking its content type and status.
pub async fn problem(response: Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(content_type, "application/problem+json");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    assert!(
        body["request_id"].as_str().is_some_and(|r| !r.is_empty()),
        "{body}"
    );
    body
}

/// Declares each listed async test function (taking a `Backend`) once per backend.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(switchyard_store::Backend::Sqlite).await }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(switchyard_store::Backend::Postgres).await }
            )*
        }
    };
}
