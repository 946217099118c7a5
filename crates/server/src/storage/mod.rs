//! Object storage: named stores over S3, R2, MinIO, GCS, local disk and memory behind
//! one API (`/v1/storage`), bytes streamed both ways, the hub's own record of every
//! object (type, size, digest, owner, visibility, grants) whatever the backend, access
//! rules by object and by key prefix, public objects at `/public/…`, signed URLs (the
//! backend's own scheme for cloud stores, the hub's HMAC for local and memory stores, at
//! `/s/…`), and direct uploads from the browser to the bucket, checked on completion
//! and swept when abandoned.

mod access;
mod config;
mod keys;
mod objects;
mod routes;
mod serve;
mod signed;
mod signer;
mod stores;
mod stream;
mod uploads;
mod views;

use std::path::PathBuf;
use std::sync::Arc;

use switchyard_core::event::NewEvent;
use switchyard_core::time::now_ms;
use switchyard_store::Store;
use switchyard_store::vault::Vault;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use utoipa_axum::router::OpenApiRouter;

pub use config::StorageConfig;

use crate::providers::Registrant;

/// A store of the configuration file could not be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StorageError {
    #[error("storage.stores[{index}]: {error}")]
    Store {
        index: usize,
        error: switchyard_providers::ConfigError,
    },
}

/// What storage needs from the rest of the hub.
#[derive(Debug)]
pub(crate) struct Wiring {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) vault: Vault,
    /// Where `local` stores live unless they say, and the `default` store.
    pub(crate) data_dir: PathBuf,
    /// The hub's base URL as browsers reach it, for the URLs it signs itself.
    pub(crate) base_url: String,
}

/// The storage capability, shared by its routes and its sweeper.
#[derive(Debug, Clone)]
pub(crate) struct Storage {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    config: StorageConfig,
    stores: stores::Stores,
    vault: Vault,
    data_dir: PathBuf,
    signer: signer::HubSigner,
}

impl Storage {
    pub(crate) fn new(wiring: Wiring, config: &StorageConfig) -> Result<Self, StorageError> {
        let stores = stores::Stores::from_config(&config.stores, &wiring.data_dir)?;
        let signer = signer::HubSigner::new(&wiring.vault.keyring(), wiring.base_url);
        Ok(Storage {
            inner: Arc::new(Inner {
                store: wiring.store,
                config: config.clone(),
                stores,
                vault: wiring.vault,
                data_dir: wiring.data_dir,
                signer,
            }),
        })
    }

    /// The `/v1/storage` routes.
    pub(crate) fn api(&self) -> OpenApiRouter {
        routes::router()
            .merge(objects::router())
            .merge(access::router())
            .merge(signed::router())
            .merge(uploads::router())
            .with_state(self.clone())
    }

    /// `/public/{store}/{key}` and the hub-signed `/s/{store}/{key}`, without a key.
    pub(crate) fn public(&self) -> OpenApiRouter {
        access::public_router()
            .merge(signed::public_router())
            .with_state(self.clone())
    }

    /// Routes whose bodies stream for as long as they take, bounded by
    /// `storage.idle_timeout` rather than `http.request_timeout`.
    pub(crate) const STREAMING: [&'static str; 2] =
        ["/v1/storage/{store}/objects/{*key}", "/s/{store}/{*key}"];

    /// The stores, for the provider registry.
    pub(crate) fn registrant(&self) -> Arc<dyn Registrant> {
        Arc::new(stores::Registered(self.clone()))
    }

    /// Starts the sweeper of expired uploads and abandoned writes until `shutdown`.
    pub(crate) fn start(&self, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(uploads::sweep(self.clone(), shutdown))
    }

    /// Without `public_url`, the URLs the hub signs point at where it listens.
    pub(crate) fn listening_on(&self, addr: std::net::SocketAddr) {
        self.inner.signer.set_base_url(format!("http://{addr}"));
    }

    fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }
}

/// The `storage.object.created` or `storage.object.deleted` event of an object.
fn event(kind: &str, object: &views::ObjectView) -> NewEvent {
    let data = serde_json::to_value(object).unwrap_or_default();
    NewEvent::published(kind, &data, None, now_ms())
}
