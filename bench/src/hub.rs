//! A hub in this process on a fresh database, for the benchmarks.

use std::net::SocketAddr;

use switchyard_server::{Config, Hub};
use switchyard_store::Backend;
use switchyard_store::testing::TestDb;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The backends a `--backend` argument names: `sqlite`, `postgres` or `both`.
pub fn backends(arg: &str) -> Vec<Backend> {
    match arg {
        "sqlite" => vec![Backend::Sqlite],
        "postgres" => vec![Backend::Postgres],
        _ => vec![Backend::Sqlite, Backend::Postgres],
    }
}

#[derive(Debug)]
pub struct BenchHub {
    pub addr: SocketAddr,
    /// The bootstrap admin key.
    pub key: String,
    pub client: reqwest::Client,
    db: TestDb,
    config: Config,
    stop: oneshot::Sender<()>,
    server: JoinHandle<Result<(), switchyard_server::ServerError>>,
}

impl BenchHub {
    /// Opens and serves a hub over a new database of `backend`, with `tweak` applied to
    /// its configuration.
    pub async fn start(backend: Backend, tweak: impl FnOnce(&mut Config)) -> BenchHub {
        let db = TestDb::new(backend).await;
        let mut config = Config {
            database_url: db.url.clone(),
            ..Config::default()
        };
        config.log.level = "error".into();
        if backend == Backend::Postgres {
            config.master_key = Some(
                switchyard_core::vault::MasterKey::generate()
                    .to_base64()
                    .clone(),
            );
        } else {
            config.master_key_file = db.dir.as_ref().map(|d| d.join("master.key"));
        }
        tweak(&mut config);
        let (addr, stop, server, key) = serve(config.clone()).await;
        BenchHub {
            addr,
            key: key.expect("a new store gets a bootstrap key"),
            client: switchyard_providers::http_client(),
            db,
            config,
            stop,
            server,
        }
    }

    /// Stops this hub and serves a new one on the same database, with `tweak` applied
    /// to the configuration.
    pub async fn restart(self, tweak: impl FnOnce(&mut Config)) -> BenchHub {
        let _ = self.stop.send(());
        let _ = self.server.await;
        let mut config = self.config;
        tweak(&mut config);
        let (addr, stop, server, _) = serve(config.clone()).await;
        BenchHub {
            addr,
            stop,
            server,
            config,
            ..self
        }
    }

    /// The database the hub uses.
    pub fn database_url(&self) -> &str {
        &self.db.url
    }

    /// `POST /v1/{path}` with `body`; the answer's JSON.
    pub async fn create(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let r = self
            .client
            .post(format!("http://{}/v1/{path}", self.addr))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
        self.db.cleanup().await;
    }
}

type Served = (
    SocketAddr,
    oneshot::Sender<()>,
    JoinHandle<Result<(), switchyard_server::ServerError>>,
    Option<String>,
);

async fn serve(config: Config) -> Served {
    let hub = Hub::open(config).await.expect("hub opens");
    let key = hub.bootstrap_key().map(|k| k.raw.expose().clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(hub.serve(listener, async move {
        let _ = stopped.await;
    }));
    (addr, stop, server, key)
}
