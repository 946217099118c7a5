//! Start-up and shutdown: bootstrap key once, master-key requirements, graceful stop
//! that lets running jobs finish.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use switchyard_server::{Config, Hub};
use switchyard_store::Backend;
use switchyard_store::queue::{Job, JobError, JobHandler, NewJob};
use switchyard_store::testing::TestDb;

use crate::{TestApp, both_backends, config_for};

both_backends!(
    bootstrap_key_only_on_an_empty_store,
    shutdown_waits_for_running_jobs,
    vault_seals_with_the_configured_key
);

async fn bootstrap_key_only_on_an_empty_store(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = config_for(&db);
    let first = Hub::open(config.clone()).await.unwrap();
    let key = first
        .bootstrap_key()
        .expect("first start prints a key")
        .raw
        .expose()
        .clone();
    assert!(key.starts_with("sk_"));
    first.services().store.close().await;
    drop(first);
    let second = Hub::open(config).await.unwrap();
    assert!(second.bootstrap_key().is_none(), "the key is shown once");
    second.services().store.close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn postgres_requires_a_master_key() {
    let db = TestDb::new(Backend::Postgres).await;
    let config = Config {
        database_url: db.url.clone(),
        ..Config::default()
    };
    let err = Hub::open(config).await.unwrap_err().to_string();
    assert!(err.contains("SWITCHYARD_MASTER_KEY"), "{err}");
    db.cleanup().await;
}

struct Slow {
    started: AtomicUsize,
    finished: AtomicUsize,
}

#[async_trait]
impl JobHandler for Slow {
    async fn run(&self, _job: &Job) -> Result<(), JobError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(2)).await;
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

async fn shutdown_waits_for_running_jobs(backend: Backend) {
    let slow = Arc::new(Slow {
        started: AtomicUsize::new(0),
        finished: AtomicUsize::new(0),
    });
    let mut app = TestApp::spawn_with(
        backend,
        |_| {},
        vec![("slow", slow.clone() as Arc<dyn JobHandler>)],
    )
    .await;
    for i in 0..3 {
        app.state
            .store
            .enqueue(&NewJob::now("slow", format!("{i}")))
            .await
            .unwrap();
    }
    while slow.started.load(Ordering::SeqCst) < 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(slow.finished.load(Ordering::SeqCst), 0);
    let store = switchyard_store::connect(&app.db.url, &Default::default())
        .await
        .unwrap();
    app.stop().await;
    assert_eq!(
        slow.finished.load(Ordering::SeqCst),
        3,
        "shutdown let the running jobs finish"
    );
    assert!(
        store.queue_depth().await.unwrap().is_empty(),
        "their completion was recorded"
    );
    // And the server no longer accepts connections.
    assert!(app.client.get(app.url("/healthz")).send().await.is_err());
    store.close().await;
    app.db.cleanup().await;
}

async fn vault_seals_with_the_configured_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.state
        .vault
        .put("sec_test", b"whsec_value")
        .await
        .unwrap();
    let stored = app
        .state
        .store
        .get_secret("sec_test")
        .await
        .unwrap()
        .unwrap();
    assert!(
        !stored.ciphertext.windows(11).any(|w| w == b"whsec_value"),
        "stored encrypted"
    );
    assert_eq!(
        app.state
            .vault
            .get("sec_test")
            .await
            .unwrap()
            .unwrap()
            .expose(),
        b"whsec_value"
    );
    app.finish().await;
}
