//! Payments: provider-neutral routes under `/v1/payments` (customers, checkouts, the
//! billing portal, subscriptions, refunds, connected accounts) that call Stripe or
//! PayPal, and the local mirror of what those providers hold, kept up to date by their
//! webhooks (the processing stage), by the answers to the hub's own calls, by a
//! sweeper that re-reads what waited too long for its webhook, and by backfills.
//!
//! Every object is the hub's first: its row is committed (`creating`) before the
//! provider is called, with an idempotency key derived from its id, so a call repeated
//! for any reason makes one provider object. Objects stay bound to their provider.

mod accounts;
mod checkout;
mod config;
mod create;
mod customers;
mod errors;
mod providers;
mod refunds;
mod stage;
mod subscriptions;
mod sweeper;
mod sync;
mod views;

use std::sync::Arc;

use switchyard_core::metrics::Metrics;
use switchyard_store::queue::JobHandler;
use switchyard_store::vault::Vault;
use switchyard_store::{Stage, Store};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use utoipa_axum::router::OpenApiRouter;

pub use config::PaymentsConfig;
pub use sync::{SyncError, SyncProgress};

use crate::intake::Declarer;
use crate::providers::Registrant;

/// The job that captures an approved PayPal order.
const CAPTURE_JOB: &str = "payments.capture";

/// A provider of the configuration file could not be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PaymentsError {
    #[error("payments.providers[{index}]: {error}")]
    Provider {
        index: usize,
        error: switchyard_providers::ConfigError,
    },
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("payments.providers[{index}]: {error}")]
    Source {
        index: usize,
        error: crate::intake::DeclareError,
    },
}

/// What payments needs from the rest of the hub.
#[derive(Debug)]
pub(crate) struct Wiring {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) vault: Vault,
    pub(crate) metrics: Arc<Metrics>,
    /// Declares the webhook sources the providers' settings describe.
    pub(crate) declarer: Declarer,
}

/// The payments capability, shared by its routes, its stage and its sweeper.
#[derive(Debug, Clone)]
pub(crate) struct Payments {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    vault: Vault,
    metrics: Arc<Metrics>,
    http: reqwest::Client,
    config: PaymentsConfig,
    declarer: Declarer,
    providers: providers::Providers,
}

impl Payments {
    /// Builds every provider of the configuration file.
    pub(crate) fn new(wiring: Wiring, config: &PaymentsConfig) -> Result<Self, PaymentsError> {
        let http = switchyard_providers::http_client_builder()
            .user_agent(concat!("Switchyard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let providers = providers::Providers::from_config(&config.providers, &http)?;
        Ok(Payments {
            inner: Arc::new(Inner {
                store: wiring.store,
                vault: wiring.vault,
                metrics: wiring.metrics,
                http,
                config: config.clone(),
                declarer: wiring.declarer,
                providers,
            }),
        })
    }

    /// Creates or brings up to date the webhook sources the configured providers'
    /// settings describe (`webhook_secret`, `webhook_id`).
    pub(crate) async fn declare_sources(&self) -> Result<(), PaymentsError> {
        self.inner
            .providers
            .declare_configured(&self.inner.declarer)
            .await
    }

    /// The `/v1/payments` routes.
    pub(crate) fn api(&self) -> OpenApiRouter {
        customers::router()
            .merge(checkout::router())
            .merge(subscriptions::router())
            .merge(refunds::router())
            .merge(accounts::router())
            .with_state(self.clone())
    }

    /// Routes that keep idempotency keys with the objects they make.
    pub(crate) const OWN_IDEMPOTENCY: [&'static str; 4] = [
        "/v1/payments/customers",
        "/v1/payments/checkout",
        "/v1/payments/refunds",
        "/v1/payments/connected-accounts",
    ];

    /// The processing stage that applies provider webhooks to the mirror.
    pub(crate) fn stage(&self) -> Arc<dyn Stage> {
        Arc::new(stage::Mirror(self.clone()))
    }

    /// The payment providers, for the provider registry.
    pub(crate) fn registrant(&self) -> Arc<dyn Registrant> {
        Arc::new(providers::Registered(self.clone()))
    }

    /// The jobs payments runs: capturing approved PayPal orders.
    pub(crate) fn handlers(&self) -> Vec<(&'static str, Arc<dyn JobHandler>)> {
        vec![(CAPTURE_JOB, Arc::new(sweeper::Capture(self.clone())))]
    }

    /// Starts the sweeper until `shutdown`.
    pub(crate) fn start(&self, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(sweeper::run(self.clone(), shutdown))
    }
}
