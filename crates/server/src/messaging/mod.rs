//! Email and SMS: `POST /v1/emails` and `/v1/sms` (validated, rendered, stored with
//! their credits reserved in one group commit, answered 202), the communications log
//! (`/v1/messages`), templates (`/v1/templates`), the email and SMS providers of the
//! provider registry, the sender that offers each message to its channel's providers
//! by priority with retries, failover and circuit breakers, and the processing stage
//! that applies providers' status reports to messages.

mod breaker;
mod config;
mod content;
mod messages;
mod providers;
mod send;
mod sender;
mod status;
mod system;
mod template;
mod templates;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Instant;

use switchyard_core::message::{Message, SendResult};
use switchyard_core::metrics::Metrics;
use switchyard_core::source::SourceKind;
use switchyard_store::batch::{BatchError, Batcher};
use switchyard_store::vault::Vault;
use switchyard_store::{Acceptance, Backend, Charge, Stage, Store, StoreError};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use utoipa_axum::router::OpenApiRouter;

pub use config::{EmailConfig, MessagesConfig, SmsConfig};
pub(crate) use system::{BuiltIn, SystemMail};

use crate::intake::SourceDirectory;
use crate::providers::Registrant;
use crate::runtime::claim_loop::{Parked, Refill};
use providers::{Route, Routes};

/// Most messages stored, or outcomes recorded, in one transaction.
const BATCH: usize = 256;

/// A provider of the configuration file could not be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MessagingError {
    #[error("{key}: {error}")]
    Provider {
        key: String,
        error: switchyard_providers::ConfigError,
    },
    #[error("{0}.providers: two providers are named {1:?}; give each a distinct `name`")]
    DuplicateName(&'static str, String),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// What messaging needs from the rest of the hub.
#[derive(Debug)]
pub(crate) struct Wiring {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) vault: Vault,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) backend: Backend,
    /// `credits.required`: refuse sends for accounts without a credit record.
    pub(crate) credits_required: bool,
    /// Where Twilio and Telnyx sources receive, for their status callbacks.
    pub(crate) sources: SourceDirectory,
}

/// The messaging capability, shared by its routes and its sender.
#[derive(Debug, Clone)]
pub(crate) struct Messaging {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    vault: Vault,
    metrics: Arc<Metrics>,
    http: reqwest::Client,
    config: MessagesConfig,
    credits_required: bool,
    /// Largest `POST /v1/emails`.
    email_limit: usize,
    /// Providers from the configuration file, built at start.
    configured: Routes,
    /// The `console` providers, used for a channel that has no other.
    fallback: Routes,
    /// What is in use now: configured and API providers by priority.
    current: RwLock<Arc<Routes>>,
    /// When the API providers were last read; `None` forces a read.
    refreshed: Mutex<Option<Instant>>,
    reloading: tokio::sync::Mutex<()>,
    /// API providers built so far, by vault id, with the version they were built from,
    /// so unchanged providers keep their connections across reloads.
    built: Mutex<HashMap<String, (i64, Route)>>,
    /// Where status reports go, by SMS provider kind.
    callbacks: RwLock<HashMap<SourceKind, String>>,
    sources: SourceDirectory,
    /// The directory's version at the last read of the callbacks.
    sources_seen: AtomicU64,
    status_callback: Option<String>,
    email_from: Option<String>,
    sms_from: Option<String>,
    /// Group commits of accepted messages and of send outcomes.
    accepts: Batcher<(Message, Option<Charge>), Acceptance>,
    records: Batcher<SendResult, bool>,
    /// Taken by the sender: the messages claimed as outcomes are recorded.
    refills: Parked<Message>,
    /// The processing stages, once processing has started: the events an outcome
    /// publishes are processed as they are stored.
    stages: Arc<OnceLock<Vec<Arc<dyn Stage>>>>,
}

impl Messaging {
    /// Builds every provider of the configuration file.
    pub(crate) fn new(
        wiring: Wiring,
        email: &EmailConfig,
        sms: &SmsConfig,
        messages: &MessagesConfig,
        body_limit: usize,
    ) -> Result<Self, MessagingError> {
        let http = switchyard_providers::http_client_builder()
            .user_agent(concat!("Switchyard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let (configured, fallback) = providers::from_config(email, sms, messages, &http)?;
        // One writer on SQLite (a single connection writes), two on PostgreSQL (fewer,
        // larger transactions cost the database less than more, smaller ones).
        let writers = match wiring.backend {
            Backend::Postgres => 2,
            Backend::Sqlite => 1,
        };
        let store = wiring.store.clone();
        let accepts = Batcher::start(
            writers,
            BATCH,
            move |batch: &[(Message, Option<Charge>)]| {
                let store = store.clone();
                Box::pin(async move { store.accept_messages(batch).await })
            },
        );
        let (store, metrics) = (wiring.store.clone(), wiring.metrics.clone());
        let stages: Arc<OnceLock<Vec<Arc<dyn Stage>>>> = Arc::default();
        let processing = stages.clone();
        let (refill, refills) = Refill::channel(messages.lease.0.as_millis() as i64);
        let records = Batcher::start(writers, BATCH, move |results: &[SendResult]| {
            let (store, metrics, refill) = (store.clone(), metrics.clone(), refill.clone());
            let stages = processing.get().cloned().unwrap_or_default();
            Box::pin(async move {
                // The slots these outcomes free are filled in the same transaction.
                let now = switchyard_core::time::now_ms();
                let next = refill.claim(results.len(), now);
                let done = store
                    .record_sends_processed(results, now, &stages, next)
                    .await?;
                metrics.events_processed.add(&[], done.processed);
                refill.hand(done.claimed);
                Ok(done.recorded)
            })
        });
        let messaging = Self {
            inner: Arc::new(Inner {
                accepts,
                records,
                refills: Parked::new(refills),
                stages,
                store: wiring.store,
                vault: wiring.vault,
                metrics: wiring.metrics,
                http,
                config: messages.clone(),
                credits_required: wiring.credits_required,
                email_limit: email.max_request.0.max(body_limit),
                current: RwLock::new(Arc::new(Routes::default())),
                configured,
                fallback,
                refreshed: Mutex::new(None),
                reloading: tokio::sync::Mutex::new(()),
                built: Mutex::new(HashMap::new()),
                callbacks: RwLock::default(),
                sources: wiring.sources,
                sources_seen: AtomicU64::new(0),
                status_callback: sms.status_callback.clone(),
                email_from: email.from.clone(),
                sms_from: sms.from.clone(),
            }),
        };
        messaging.combine(Vec::new());
        Ok(messaging)
    }

    /// The `/v1` routes: emails, SMS, messages and templates.
    pub(crate) fn api(&self) -> OpenApiRouter {
        send::router(self.inner.email_limit)
            .merge(messages::router())
            .merge(templates::router())
            .with_state(self.clone())
    }

    /// The routes whose idempotency is their own (the message keeps its key).
    pub(crate) const OWN_IDEMPOTENCY: [&'static str; 2] = ["/v1/emails", "/v1/sms"];

    /// Sends due messages until `shutdown`.
    /// From now on, the events recorded outcomes publish are processed by `stages` in
    /// the outcomes' transaction.
    pub(crate) fn process_with(&self, stages: Vec<Arc<dyn Stage>>) {
        if self.inner.stages.set(stages).is_err() {
            tracing::debug!("outcomes already process their events");
        }
    }

    pub(crate) fn start(&self, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(self.clone().run(shutdown))
    }

    /// The stage that applies providers' status reports to messages.
    pub(crate) fn stage(&self) -> Arc<dyn Stage> {
        Arc::new(status::StatusReports)
    }

    /// The email and SMS providers, for the provider registry.
    pub(crate) fn registrants(&self) -> Vec<Arc<dyn Registrant>> {
        switchyard_core::message::Channel::ALL
            .iter()
            .map(|c| Arc::new(providers::Channel(self.clone(), *c)) as Arc<dyn Registrant>)
            .collect()
    }

    /// Stores a message and reserves its credits, in a transaction shared with other
    /// messages accepted at the same moment (a group commit).
    async fn accept(
        &self,
        message: Message,
        charge: Option<Charge>,
    ) -> Result<Acceptance, BatchError<StoreError>> {
        self.inner.accepts.submit((message, charge)).await
    }
}
