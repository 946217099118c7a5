//! The Switchyard hub as a library: configuration, the HTTP API, background workers and
//! their wiring. The binary is a thin layer over [`Hub`]; tests start a hub on
//! `127.0.0.1:0` the same way.
//!
//! Each capability is one module that owns its routes, workers and configuration
//! section; this file only puts them together (see `ARCHITECTURE.md`).
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use switchyard_core::metrics::Metrics;
use switchyard_store::queue::{Handlers, JobHandler, Worker, WorkerConfig};
use switchyard_store::vault::Vault;
use switchyard_store::{ConnectOptions, Store, StoreError};
use tokio::net::TcpListener;
use tokio::sync::watch;
use utoipa_axum::router::OpenApiRouter;

mod auth;
pub mod config;
mod connectors;
mod credits;
mod delivery;
mod health;
mod http;
mod intake;
pub mod keys;
pub mod masterkey;
mod messaging;
mod payments;
mod providers;
mod runtime;
mod storage;

pub use config::Config;
pub use payments::{SyncError, SyncProgress};

use auth::Auth;
use connectors::Connectors;
use delivery::Delivery;
use http::access::{self, AccessTable};
use http::{idempotency, limits, observe, openapi};
use intake::Intake;
use messaging::Messaging;
use payments::Payments;
use providers::Registry;
use storage::Storage;

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

/// What the hub is built on: the store, the vault and the metrics registry.
#[derive(Debug, Clone)]
pub struct Services {
    pub store: Arc<dyn Store>,
    pub vault: Vault,
    pub metrics: Arc<Metrics>,
}

/// An opened hub: store connected and migrated, vault ready, bootstrap key made, every
/// capability built from its configuration section.
#[derive(Debug)]
pub struct Hub {
    services: Services,
    config: Arc<Config>,
    bootstrap: Option<keys::CreatedKey>,
    key_origin: masterkey::Origin,
    handlers: Handlers,
    intake: Intake,
    delivery: Delivery,
    messaging: Messaging,
    payments: Payments,
    storage: Storage,
    auth: Auth,
    connectors: Connectors,
    registry: Registry,
}

impl Hub {
    /// Connects to the configured store, applies migrations, opens the vault, creates
    /// the bootstrap admin key on an empty store, builds the capabilities and brings
    /// declared sources up to date.
    pub async fn open(config: Config) -> Result<Hub, ServerError> {
        config
            .validate()
            .map_err(|e| ServerError::Config(e.to_string()))?;
        let keyring = masterkey::load(&config).map_err(ServerError::MasterKey)?;
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
        let vault = Vault::new(store.clone(), keyring.keyring, keyring.source);
        let metrics = Arc::new(Metrics::default());
        let backend = config.backend();
        let body_limit = config.http.body_limit.0;
        let address = intake::Address {
            public_url: config.public_url.clone(),
            listen: config.listen,
        };
        let intake = Intake::new(
            store.clone(),
            vault.clone(),
            metrics.clone(),
            &config.intake,
            address,
            body_limit,
            backend,
        );
        let delivery = Delivery::new(
            store.clone(),
            vault.clone(),
            metrics.clone(),
            intake.publisher(),
            &config.delivery,
        );
        let wiring = messaging::Wiring {
            store: store.clone(),
            vault: vault.clone(),
            metrics: metrics.clone(),
            backend,
            credits_required: config.credits.required,
            sources: intake.directory(),
        };
        let messaging = Messaging::new(
            wiring,
            &config.email,
            &config.sms,
            &config.messages,
            body_limit,
        )
        .map_err(|e| ServerError::Config(e.to_string()))?;
        let payments = Payments::new(
            payments::Wiring {
                store: store.clone(),
                vault: vault.clone(),
                metrics: metrics.clone(),
                declarer: intake.declarer(),
            },
            &config.payments,
        )
        .map_err(|e| ServerError::Config(e.to_string()))?;
        let storage = Storage::new(
            storage::Wiring {
                store: store.clone(),
                vault: vault.clone(),
                data_dir: config.data_dir(),
                base_url: config.base_url(),
            },
            &config.storage,
        )
        .map_err(|e| ServerError::Config(e.to_string()))?;
        let auth = Auth::new(
            auth::Wiring {
                store: store.clone(),
                vault: vault.clone(),
                messaging: messaging.clone(),
                base_url: config.base_url(),
                fixed_base_url: config.public_url.is_some(),
            },
            &config.auth,
        );
        auth.prepare().await?;
        let connectors = Connectors::new(
            connectors::Wiring {
                store: store.clone(),
                vault: vault.clone(),
                metrics: metrics.clone(),
                publisher: intake.publisher(),
                base_url: config.base_url(),
            },
            &config.connectors,
        )
        .map_err(ServerError::Config)?;
        let mut registrants = messaging.registrants();
        registrants.push(payments.registrant());
        registrants.push(storage.registrant());
        let registry = Registry::new(store.clone(), vault.clone(), registrants);
        intake
            .declare_all(&config.sources)
            .await
            .map_err(|e| ServerError::Config(e.to_string()))?;
        payments
            .declare_sources()
            .await
            .map_err(|e| ServerError::Config(e.to_string()))?;
        let mut handlers = Handlers::default();
        for (kind, handler) in payments.handlers() {
            handlers.register(kind, handler);
        }
        let sealed = delivery.seal_stored_destinations().await?;
        if sealed > 0 {
            tracing::info!(
                endpoints = sealed,
                "sealed the destinations of endpoints stored in the clear"
            );
        }
        Ok(Hub {
            services: Services {
                store,
                vault,
                metrics,
            },
            config: Arc::new(config),
            bootstrap,
            key_origin: keyring.origin,
            handlers,
            intake,
            delivery,
            messaging,
            payments,
            storage,
            auth,
            connectors,
            registry,
        })
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The admin key created because the store was empty; shown once, never again.
    pub fn bootstrap_key(&self) -> Option<&keys::CreatedKey> {
        self.bootstrap.as_ref()
    }

    pub fn key_origin(&self) -> &masterkey::Origin {
        &self.key_origin
    }

    /// Imports a payment provider's existing customers and subscriptions into the
    /// mirror (`switchyard payments sync`), calling `progress` after each page.
    pub async fn payments_sync(
        &self,
        provider: &str,
        progress: &mut (dyn FnMut(&SyncProgress) + Send),
    ) -> Result<SyncProgress, SyncError> {
        self.payments.sync(provider, progress).await
    }

    /// Adds a job handler to the ones this hub runs.
    pub fn with_handler(mut self, kind: &str, handler: Arc<dyn JobHandler>) -> Self {
        self.handlers.register(kind, handler);
        self
    }

    /// Every route of the hub, and the OpenAPI document describing them.
    pub fn router(&self) -> Router {
        let store = self.services.store.clone();
        let api = OpenApiRouter::new()
            .merge(keys::router(store.clone()))
            .merge(self.intake.api())
            .merge(self.delivery.api())
            .merge(credits::router(store.clone()))
            .merge(self.messaging.api())
            .merge(self.payments.api())
            .merge(self.storage.api())
            .merge(self.auth.api())
            .merge(self.connectors.api())
            .merge(self.registry.api());
        let public = health::router(store.clone(), self.services.metrics.clone())
            .merge(self.intake.public())
            .merge(self.storage.public())
            .merge(self.auth.public())
            .merge(self.connectors.public());
        let (api, api_paths) = api.split_for_parts();
        let (public, mut paths) = public.split_for_parts();
        paths.merge(api_paths);
        let own_idempotency: Vec<&'static str> = ["/v1/events"]
            .into_iter()
            .chain(Messaging::OWN_IDEMPOTENCY)
            .chain(Payments::OWN_IDEMPOTENCY)
            .chain(Connectors::PASS_THROUGH)
            .collect();
        let doc = openapi::document(paths, &own_idempotency);
        let table = AccessTable::from_document(&doc, &Connectors::PASS_THROUGH)
            .expect("every route declares its access");
        let idempotency = idempotency::Idempotency {
            store: store.clone(),
            vault: self.services.vault.clone(),
            own: own_idempotency.into(),
        };
        // Route layers run last-added first: authentication, then the route's access
        // rule, then idempotency, then the route.
        let api = api
            .route_layer(from_fn_with_state(idempotency, idempotency::layer))
            .route_layer(from_fn_with_state(Arc::new(table), access::authorize))
            .route_layer(from_fn_with_state(
                keys::Gate::new(store),
                keys::require_key,
            ));
        let app = Router::new()
            .merge(api)
            .merge(public)
            .merge(openapi::routes(&doc))
            .fallback(observe::not_found)
            .method_not_allowed_fallback(observe::method_not_allowed);
        let observer = observe::Observer {
            metrics: self.services.metrics.clone(),
            timeout: self.config.http.request_timeout.0,
            streaming: Arc::new(Storage::STREAMING.into_iter().collect()),
        };
        limits::cap(app, self.config.http.body_limit.0)
            .layer(from_fn_with_state(observer, observe::observe))
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
        let config = self.config.clone();
        let grace = config.http.shutdown_grace.0;
        let working = config.queue.enabled;
        let mut tasks = Vec::new();
        if working {
            let q = &config.queue;
            let worker = Worker::new(
                self.services.store.clone(),
                self.handlers.clone(),
                WorkerConfig {
                    concurrency: q.concurrency,
                    lease: q.lease.0,
                    poll_interval: q.poll_interval.0,
                    backoff_base: q.backoff_base.0,
                    backoff_max: q.backoff_max.0,
                },
                self.services.metrics.clone(),
            );
            tasks.push(tokio::spawn(worker.run(stop_rx.clone())));
            let stages = vec![
                self.delivery.stage(),
                self.messaging.stage(),
                self.payments.stage(),
            ];
            self.messaging.process_with(stages.clone());
            tasks.push(
                self.intake
                    .start(stages, q.poll_interval.0, stop_rx.clone()),
            );
            if config.delivery.enabled {
                tasks.push(self.delivery.start(stop_rx.clone()));
            }
            if config.messages.enabled {
                tasks.push(self.messaging.start(stop_rx.clone()));
            }
            if config.payments.enabled {
                tasks.push(self.payments.start(stop_rx.clone()));
            }
            if config.storage.enabled {
                tasks.push(self.storage.start(stop_rx.clone()));
            }
            tasks.push(self.auth.start(stop_rx.clone()));
        }
        // The call log is written wherever calls are proxied.
        tasks.push(self.connectors.start(stop_rx.clone()));

        if config.public_url.is_none()
            && let Ok(addr) = listener.local_addr()
        {
            self.storage.listening_on(addr);
            self.auth.listening_on(addr);
            self.connectors.listening_on(addr);
        }
        let mut http_stop = stop_rx.clone();
        let app = self.router();
        let listener = http::listener::ProblemListener(listener);
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
            for task in tasks {
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
        self.services.store.close().await;
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
