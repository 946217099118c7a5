//! The Switchyard hub as a library: configuration, the HTTP API, background workers and
//! their wiring. The binary is a thin layer over [`Hub`]; tests start a hub on
//! `127.0.0.1:0` the same way.
#![forbid(unsafe_code)]

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use switchyard_core::metrics::Metrics;
use switchyard_store::queue::{Handlers, JobHandler, Worker, WorkerConfig};
use switchyard_store::vault::Vault;
use switchyard_store::{ConnectOptions, StoreError};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub mod auth;
mod claim_loop;
pub mod config;
pub mod delivery;
pub mod extract;
mod idempotency;
pub mod intake;
pub mod keys;
pub mod masterkey;
pub mod messaging;
mod middleware;
pub mod openapi;
pub mod problem;
mod request_id;
pub mod routes;
pub mod state;

pub use config::Config;
pub use state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Config(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("master key: {0}")]
    MasterKey(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// An opened hub: store connected and migrated, vault ready, bootstrap key made.
#[derive(Debug)]
pub struct Hub {
    state: AppState,
    bootstrap: Option<keys::CreatedKey>,
    key_origin: masterkey::Origin,
    handlers: Handlers,
}

impl Hub {
    /// Connects to the configured store, applies migrations, opens the vault and, on an
    /// empty store, creates the bootstrap admin key.
    pub async fn open(config: Config) -> Result<Hub, ServerError> {
        config
            .validate()
            .map_err(|e| ServerError::Config(e.to_string()))?;
        let keys = masterkey::load(&config).map_err(ServerError::MasterKey)?;
        let options = ConnectOptions {
            max_connections: config.database.max_connections,
            acquire_timeout: config.database.acquire_timeout.0,
        };
        let store = switchyard_store::connect(&config.database_url, &options).await?;
        store.migrate().await?;
        let bootstrap = if config.bootstrap_key {
            keys::bootstrap(store.as_ref()).await?
        } else {
            None
        };
        let vault = Vault::new(store.clone(), keys.keyring, keys.source);
        let writers = match config.intake.writers {
            0 => match switchyard_store::Backend::of(&config.database_url) {
                Ok(switchyard_store::Backend::Postgres) => 4,
                _ => 1,
            },
            n => n,
        };
        let intake = intake::Intake {
            writer: intake::Writer::start(store.clone(), writers),
            sources: Arc::new(intake::SourceCache::new(config.intake.source_cache_ttl.0)),
            paypal: Arc::new(intake::paypal::PaypalCerts::new(
                config.intake.paypal_cert_urls.clone(),
            )),
        };
        let handlers = Handlers::default();
        let metrics = Arc::new(Metrics::default());
        let delivery = delivery::Dispatcher::new(
            store.clone(),
            vault.clone(),
            metrics.clone(),
            config.delivery.clone(),
        );
        let messaging =
            messaging::Messaging::new(store.clone(), vault.clone(), metrics.clone(), &config)
                .map_err(ServerError::Config)?;
        let state = AppState {
            store,
            vault,
            delivery,
            metrics,
            config: Arc::new(config),
            intake,
            messaging,
        };
        for (i, declared) in state.config.sources.iter().enumerate() {
            let source = routes::sources::declare(&state, declared)
                .await
                .map_err(|e| {
                    let name = declared.get("name").and_then(|n| n.as_str()).unwrap_or("?");
                    ServerError::Config(format!("sources[{i}] ({name}): {e}"))
                })?;
            tracing::info!(source_id = %source.id, name = %source.name, kind = %source.kind,
                "declared source ready at /in/{}", source.id);
        }
        Ok(Hub {
            state,
            bootstrap,
            key_origin: keys.origin,
            handlers,
        })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The admin key created because the store was empty; shown once, never again.
    pub fn bootstrap_key(&self) -> Option<&keys::CreatedKey> {
        self.bootstrap.as_ref()
    }

    pub fn key_origin(&self) -> &masterkey::Origin {
        &self.key_origin
    }

    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// Adds a job handler to the ones this hub runs.
    pub fn with_handler(mut self, kind: &str, handler: Arc<dyn JobHandler>) -> Self {
        self.handlers.register(kind, handler);
        self
    }

    /// Serves HTTP on `listener` and runs background workers until `shutdown` resolves;
    /// then stops accepting connections, lets in-flight requests and running jobs finish
    /// (up to `http.shutdown_grace`), closes the store and returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let grace = self.state.config.http.shutdown_grace.0;
        let worker = self.state.config.queue.enabled.then(|| {
            let q = &self.state.config.queue;
            let config = WorkerConfig {
                concurrency: q.concurrency,
                lease: q.lease.0,
                poll_interval: q.poll_interval.0,
                backoff_base: q.backoff_base.0,
                backoff_max: q.backoff_max.0,
            };
            let worker = Worker::new(
                self.state.store.clone(),
                self.handlers.clone(),
                config,
                self.state.metrics.clone(),
            );
            tokio::spawn(worker.run(stop_rx.clone()))
        });

        let processor = self.state.config.queue.enabled.then(|| {
            tokio::spawn(intake::process::run(
                self.state.store.clone(),
                self.state.metrics.clone(),
                self.state.config.queue.poll_interval.0,
                stop_rx.clone(),
            ))
        });

        let config = &self.state.config;
        let dispatcher = (config.queue.enabled && config.delivery.enabled)
            .then(|| tokio::spawn(self.state.delivery.clone().run(stop_rx.clone())));
        let sender = (config.queue.enabled && config.messages.enabled)
            .then(|| tokio::spawn(self.state.messaging.clone().run(stop_rx.clone())));

        let mut http_stop = stop_rx.clone();
        let app = self.router();
        let server =
            axum::serve(listener, app.into_make_service()).with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|stop| *stop).await;
            });
        let server = tokio::spawn(async move { server.await });
        shutdown.await;
        tracing::info!("shutting down: no new connections; finishing in-flight requests and jobs");
        let _ = stop_tx.send(true);
        let drained = tokio::time::timeout(grace, async {
            let http = server.await;
            for task in [worker, processor, dispatcher, sender]
                .into_iter()
                .flatten()
            {
                let _ = task.await;
            }
            http
        })
        .await;
        let result = match drained {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(ServerError::Io(e)),
            Ok(Err(join)) => Err(ServerError::Io(std::io::Error::other(join))),
            Err(_) => {
                tracing::warn!(grace = ?grace, "shutdown grace elapsed; unfinished jobs will be retried after their lease");
                Ok(())
            }
        };
        self.state.store.close().await;
        result
    }
}

/// Opens a hub with `config` and serves it on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    Hub::open(config).await?.serve(listener, shutdown).await
}

/// Every route of the hub.
pub fn router(state: AppState) -> Router {
    let limit = state.config.http.body_limit.0;
    let email_limit = state.config.email.max_request.0.max(limit);
    let v1 = Router::new()
        .route("/keys", get(routes::keys::list).post(routes::keys::create))
        .route(
            "/keys/{id}",
            get(routes::keys::get).delete(routes::keys::revoke),
        )
        .route("/keys/{id}/rotate", post(routes::keys::rotate))
        .route(
            "/sources",
            get(routes::sources::list).post(routes::sources::create),
        )
        .route(
            "/sources/{id}",
            get(routes::sources::get)
                .patch(routes::sources::update)
                .delete(routes::sources::delete),
        )
        .route(
            "/endpoints",
            get(routes::endpoints::list).post(routes::endpoints::create),
        )
        .route(
            "/endpoints/{id}",
            get(routes::endpoints::get)
                .patch(routes::endpoints::update)
                .delete(routes::endpoints::delete),
        )
        .route("/endpoints/{id}/secret", get(routes::endpoints::secret))
        .route(
            "/endpoints/{id}/rotate-secret",
            post(routes::endpoints::rotate_secret),
        )
        .route(
            "/endpoints/{id}/deliveries",
            get(routes::deliveries::deliveries),
        )
        .route("/endpoints/{id}/replay", post(routes::deliveries::replay))
        .route("/deliveries/{id}", get(routes::deliveries::delivery))
        .route("/deliveries/{id}/retry", post(routes::deliveries::retry))
        .route(
            "/events",
            get(routes::events::list).post(routes::events::publish),
        )
        .route(
            "/accounts/{account}/credits",
            get(routes::accounts::get).post(routes::accounts::grant),
        )
        .route(
            "/accounts/{account}/credits/ledger",
            get(routes::accounts::ledger),
        )
        .route(
            "/emails",
            post(routes::send::email).layer(DefaultBodyLimit::max(email_limit)),
        )
        .route("/sms", post(routes::send::sms))
        .route("/messages", get(routes::messages::list))
        .route("/messages/{id}", get(routes::messages::get))
        .route("/providers", get(routes::providers::list))
        .route(
            "/providers/{channel}/{name}",
            axum::routing::put(routes::providers::put).delete(routes::providers::delete),
        )
        .route(
            "/templates",
            get(routes::templates::list).post(routes::templates::create),
        )
        .route(
            "/templates/{name}",
            get(routes::templates::get)
                .put(routes::templates::put)
                .delete(routes::templates::delete),
        )
        .route("/events/{id}", get(routes::events::get))
        .route("/events/{id}/replay", post(routes::events::replay))
        // Runs after authentication (the last route layer runs first).
        .route_layer(from_fn_with_state(state.clone(), idempotency::layer))
        .route_layer(from_fn_with_state(state.clone(), auth::require_key));
    Router::new()
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/metrics", get(routes::health::metrics))
        .route("/openapi.json", get(openapi::document))
        // Intake enforces each source's own body limit.
        .route(
            "/in/{source_id}",
            post(intake::receive).layer(DefaultBodyLimit::disable()),
        )
        .nest("/v1", v1)
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(from_fn_with_state(state.clone(), middleware::observe))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
