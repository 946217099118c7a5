//! Connectors: third-party REST APIs described declaratively (built in: Google
//! Calendar, Printify, Moodle, The Things Network, Open-Meteo, Nominatim; more in
//! `[[connectors]]`), connections holding one set of credentials each (API keys, or
//! OAuth 2.0 tokens obtained through `/oauth/callback` and refreshed one at a time across
//! nodes), and `/v1/proxy/{connection}/…`, which injects the credentials, keeps to the
//! upstream's rate limits through the store, caches successful GETs, retries, and logs
//! every call.

mod catalog;
mod config;
mod connections;
mod log;
mod oauth;
mod pacing;
mod proxy;
mod tokens;
mod upstream;

use std::sync::Arc;
use std::time::Duration;

use switchyard_core::connector::Connection;
use switchyard_core::event::NewEvent;
use switchyard_core::metrics::Metrics;
use switchyard_core::time::now_ms;
use switchyard_store::Store;
use switchyard_store::vault::Vault;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use utoipa_axum::router::OpenApiRouter;

pub use config::ConnectorsConfig;

use crate::http::ApiError;
use crate::intake::Publisher;
use crate::runtime::guard;

/// What connectors need from the rest of the hub.
#[derive(Debug)]
pub(crate) struct Wiring {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) vault: Vault,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) publisher: Publisher,
    /// The hub's base URL as browsers reach it: the OAuth redirect URI is
    /// `{base_url}/oauth/callback`.
    pub(crate) base_url: String,
}

/// The connectors capability, shared by its routes and its workers.
#[derive(Debug, Clone)]
pub(crate) struct Connectors {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    vault: Vault,
    metrics: Arc<Metrics>,
    publisher: Publisher,
    config: ConnectorsConfig,
    catalog: catalog::Catalog,
    base_url: std::sync::RwLock<String>,
    /// Proxied calls: no redirects, no proxy, private destinations refused by the
    /// resolver unless allowed.
    client: reqwest::Client,
    /// The same for connectors (or a hub) that allow private destinations.
    private_client: reqwest::Client,
    targets: proxy::Targets,
    tokens: tokens::Tokens,
    log: log::CallLog,
}

impl Connectors {
    pub(crate) fn new(wiring: Wiring, config: &ConnectorsConfig) -> Result<Self, String> {
        let catalog = catalog::Catalog::build(&config.define, config.timeout.0, |name| {
            std::env::var(name).ok()
        })?;
        let client = |allow: guard::Allow| {
            switchyard_providers::http_client_builder()
                .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .dns_resolver(Arc::new(guard::GuardedResolver::new(allow)))
                .build()
                .expect("a TLS backend is compiled in")
        };
        let allow = |private| guard::Allow {
            private,
            setting: "connectors.allow_private_networks",
        };
        Ok(Connectors {
            inner: Arc::new(Inner {
                client: client(allow(config.allow_private_networks)),
                private_client: client(allow(true)),
                targets: proxy::Targets::new(config.cache_entries),
                tokens: tokens::Tokens::default(),
                log: log::CallLog::new(wiring.store.clone()),
                store: wiring.store,
                vault: wiring.vault,
                metrics: wiring.metrics,
                publisher: wiring.publisher,
                config: config.clone(),
                catalog,
                base_url: std::sync::RwLock::new(wiring.base_url),
            }),
        })
    }

    /// `/v1/connections` and `/v1/proxy/{connection}/…`.
    pub(crate) fn api(&self) -> OpenApiRouter {
        connections::router()
            .merge(oauth::router())
            .merge(proxy::router())
            .merge(log::router())
            .with_state(self.clone())
    }

    /// `/oauth/callback`, where providers send the browser back.
    pub(crate) fn public(&self) -> OpenApiRouter {
        oauth::public_router().with_state(self.clone())
    }

    /// Routes that forward the caller's `Idempotency-Key` to the upstream rather than
    /// having the hub replay answers, and that take any query parameter: as routed
    /// (`{*path}`) and as the document writes it (`{path}`).
    pub(crate) const PASS_THROUGH: [&'static str; 2] = [proxy::PATH, proxy::DOCUMENTED_PATH];

    /// Starts the writer of the call log and the sweeper until `shutdown`.
    pub(crate) fn start(&self, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let writer = tokio::spawn(this.inner.log.clone().run(shutdown.clone()));
            sweep(this, shutdown).await;
            let _ = writer.await;
        })
    }

    /// Without `public_url`, the redirect URI points at where the hub listens.
    pub(crate) fn listening_on(&self, addr: std::net::SocketAddr) {
        *self
            .inner
            .base_url
            .write()
            .unwrap_or_else(|e| e.into_inner()) = format!("http://{addr}");
    }

    fn redirect_uri(&self) -> String {
        let base = self
            .inner
            .base_url
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        format!("{}/oauth/callback", base.trim_end_matches('/'))
    }

    fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    /// The client for calls of `connector` (to its API and its token endpoint).
    fn client(&self, connector: &catalog::Connector) -> &reqwest::Client {
        if self.allow(connector).private {
            &self.inner.private_client
        } else {
            &self.inner.client
        }
    }

    /// Whether calls of `connector` may reach private addresses.
    fn allow(&self, connector: &catalog::Connector) -> guard::Allow {
        guard::Allow {
            private: self.inner.config.allow_private_networks
                || connector.def.allow_private_networks,
            setting: "connectors.allow_private_networks",
        }
    }

    async fn load(&self, id: &str) -> Result<Connection, ApiError> {
        if !switchyard_core::id::has_prefix(id, "conn") {
            return Err(ApiError::not_found("connection", id));
        }
        self.store()
            .get_connection(id)
            .await?
            .ok_or_else(|| ApiError::not_found("connection", id))
    }

    /// Publishes `connection.needs_auth` for a connection whose grant was refused.
    async fn needs_auth(&self, connection: &Connection, reason: &str) {
        let now = now_ms();
        let payload = serde_json::json!({
            "connection_id": connection.id,
            "connector": connection.connector,
            "external_id": connection.external_id,
            "reason": reason,
        });
        let event = NewEvent::published(
            "connection.needs_auth",
            &payload,
            Some(format!("connection.needs_auth:{}:{now}", connection.id)),
            now,
        );
        if let Err(e) = self.inner.publisher.publish(event).await {
            tracing::error!(connection_id = %connection.id, error = %e, "publishing connection.needs_auth failed");
        }
    }
}

/// How often expired OAuth states, old calls and idle rate windows are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

async fn sweep(connectors: Connectors, mut shutdown: watch::Receiver<bool>) {
    let ttl = i64::try_from(connectors.inner.config.call_log_ttl.0.as_millis()).unwrap_or(i64::MAX);
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            () = tokio::time::sleep(SWEEP_EVERY) => {}
        }
        let now = now_ms();
        match connectors
            .store()
            .sweep_connectors(now, now.saturating_sub(ttl))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "swept connector states, calls and rate windows"),
            Err(e) => tracing::warn!(error = %e, "sweeping connector rows failed"),
        }
    }
}
