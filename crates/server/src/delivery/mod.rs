//! Delivery of events to the application: endpoints (`/v1/endpoints`) with their
//! signing secrets and sealed destinations, deliveries and their attempts
//! (`/v1/deliveries`), the fan-out stage that makes one delivery per subscribed
//! endpoint as events are processed, and the dispatcher that sends them per Standard
//! Webhooks with retries, rate limits and the address guard.

mod config;
mod deliveries;
mod destination;
mod dispatcher;
mod endpoints;
mod wire;

use std::sync::Arc;

use async_trait::async_trait;
use switchyard_core::metrics::Metrics;
use switchyard_store::vault::Vault;
use switchyard_store::{Page, ProcessTx, ReceivedEvent, Stage, Store, StoreError};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use utoipa_axum::router::OpenApiRouter;

pub use config::DeliveryConfig;

use crate::intake::Publisher;
use dispatcher::Dispatcher;

/// The delivery capability.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    vault: Vault,
    config: DeliveryConfig,
    dispatcher: Dispatcher,
}

impl Delivery {
    /// `publisher` is where the hub's own delivery events (`endpoint.disabled`) go.
    pub(crate) fn new(
        store: Arc<dyn Store>,
        vault: Vault,
        metrics: Arc<Metrics>,
        publisher: Publisher,
        config: &DeliveryConfig,
    ) -> Delivery {
        let dispatcher = Dispatcher::new(
            store.clone(),
            vault.clone(),
            metrics,
            publisher,
            config.clone(),
        );
        Delivery {
            inner: Arc::new(Inner {
                store,
                vault,
                config: config.clone(),
                dispatcher,
            }),
        }
    }

    /// The `/v1` routes: endpoints and deliveries.
    pub(crate) fn api(&self) -> OpenApiRouter {
        endpoints::router()
            .merge(deliveries::router())
            .with_state(self.clone())
    }

    /// The stage that fans events out to the endpoints subscribed to them.
    pub(crate) fn stage(&self) -> Arc<dyn Stage> {
        Arc::new(FanOut)
    }

    /// Sends due deliveries until `shutdown`.
    pub(crate) fn start(&self, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(self.inner.dispatcher.clone().run(shutdown))
    }

    /// Seals the destinations of endpoints stored before destinations were sealed (a
    /// URL's password, header values), once, at start.
    pub(crate) async fn seal_stored_destinations(&self) -> Result<u64, StoreError> {
        let (store, vault) = (&self.inner.store, &self.inner.vault);
        let mut sealed = 0;
        let mut cursor = None;
        loop {
            let page = Page {
                limit: 500,
                cursor: cursor.clone(),
            };
            let endpoints = store.list_endpoints(&page).await?;
            let Some(last) = endpoints.last() else {
                return Ok(sealed);
            };
            cursor = Some(last.id.clone());
            for mut endpoint in endpoints {
                if !destination::is_unsealed(&endpoint) {
                    continue;
                }
                let private = destination::Private {
                    url: endpoint.url.clone(),
                    headers: endpoint.headers.clone(),
                };
                if let Err(e) = destination::seal(vault, &mut endpoint, &private).await {
                    tracing::error!(endpoint_id = %endpoint.id, error = %e, "sealing an endpoint's destination failed");
                    continue;
                }
                store.update_endpoint(&endpoint).await?;
                sealed += 1;
            }
        }
    }
}

/// One delivery per event and subscribed endpoint, in the processing transaction.
#[derive(Debug)]
struct FanOut;

#[async_trait]
impl Stage for FanOut {
    fn name(&self) -> &'static str {
        "delivery fan-out"
    }

    async fn run(
        &self,
        tx: &mut dyn ProcessTx,
        events: &[ReceivedEvent],
        at: i64,
    ) -> Result<(), StoreError> {
        tx.fan_out(events, at).await.map(|_| ())
    }
}
