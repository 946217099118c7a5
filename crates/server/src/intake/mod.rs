//! Intake: provider webhooks taken in at `POST /in/{source_id}` (verified against their
//! source, split into events, de-duplicated, committed before the answer), the sources
//! they arrive at (`/v1/sources`), the event log with events the application publishes
//! (`/v1/events`), and processing: received events are the queue, and the stages other
//! capabilities register run in each batch's transaction.
//!
//! What other capabilities may use: [`Publisher`] (put an event into the log),
//! [`SourceDirectory`] (where a kind's sources receive, and when sources change),
//! [`Declarer`] and [`declared_id`] (sources another capability's settings describe),
//! [`message_ref`] (the message a provider's status report names), and [`Stage`]s they
//! register with [`Intake::start`].

mod config;
mod declare;
mod events;
mod kinds;
mod loaded;
mod paypal;
mod process;
mod receive;
mod source_input;
mod source_schema;
mod sources;
mod writer;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use switchyard_core::event::{NewEvent, Stored};
use switchyard_core::metrics::Metrics;
use switchyard_core::source::{Source, SourceKind};
use switchyard_store::batch::BatchError;
use switchyard_store::vault::Vault;
use switchyard_store::{Backend, Page, Stage, Store, StoreError};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use utoipa_axum::router::OpenApiRouter;

pub use config::{DeclaredSource, IntakeConfig};
pub(crate) use declare::DeclareError;

use kinds::VerifyContext;
use loaded::SourceCache;
use writer::Writer;

/// Where the hub is reached, for the URLs it tells providers.
#[derive(Debug, Clone)]
pub(crate) struct Address {
    /// `public_url`, when configured.
    pub(crate) public_url: Option<String>,
    pub(crate) listen: SocketAddr,
}

/// The intake capability: its routes, its writer and its processor.
#[derive(Debug, Clone)]
pub(crate) struct Intake {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    vault: Vault,
    metrics: Arc<Metrics>,
    address: Address,
    /// `http.body_limit`: a source's default limit.
    body_limit: usize,
    writer: Writer,
    sources: SourceCache,
    verify: VerifyContext,
    /// Counts changes to sources made on this node.
    changes: Arc<AtomicU64>,
}

impl Intake {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        vault: Vault,
        metrics: Arc<Metrics>,
        config: &IntakeConfig,
        address: Address,
        body_limit: usize,
        backend: Backend,
    ) -> Intake {
        let writers = match (config.writers, backend) {
            (0, Backend::Postgres) => 2,
            (0, Backend::Sqlite) => 1,
            (n, _) => n,
        };
        Intake {
            inner: Arc::new(Inner {
                writer: Writer::start(store.clone(), metrics.clone(), writers),
                sources: SourceCache::new(config.source_cache_ttl.0),
                verify: VerifyContext {
                    paypal: Arc::new(paypal::PaypalCerts::new(config.paypal_cert_urls.clone())),
                },
                store,
                vault,
                metrics,
                address,
                body_limit,
                changes: Arc::default(),
            }),
        }
    }

    /// The `/v1` routes: sources and events.
    pub(crate) fn api(&self) -> OpenApiRouter {
        sources::router()
            .merge(events::router())
            .with_state(self.clone())
    }

    /// `POST /in/{source_id}`, authenticated by the provider's signature.
    pub(crate) fn public(&self) -> OpenApiRouter {
        receive::router().with_state(self.clone())
    }

    /// Creates or brings up to date the sources declared in the configuration file.
    pub(crate) async fn declare_all(
        &self,
        declared: &[DeclaredSource],
    ) -> Result<(), DeclareError> {
        for (i, d) in declared.iter().enumerate() {
            let source = declare::declare(self, d)
                .await
                .map_err(|e| e.at(i, &d.name))?;
            tracing::info!(source_id = %source.id, name = %source.name, kind = %source.kind,
                "declared source ready at /in/{}", source.id);
        }
        Ok(())
    }

    /// Starts processing events until `shutdown`, running `stages` in each batch's
    /// transaction: the writer's batches as they are stored, and received events
    /// (stored before, by a writer whose stages failed, or requeued) by the processor.
    pub(crate) fn start(
        &self,
        stages: Vec<Arc<dyn Stage>>,
        poll_interval: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let inner = &self.inner;
        inner.writer.process_with(stages.clone());
        tokio::spawn(process::run(
            inner.store.clone(),
            inner.metrics.clone(),
            stages,
            poll_interval,
            shutdown,
        ))
    }

    /// Puts events into the log, as the application's `POST /v1/events` does.
    pub(crate) fn publisher(&self) -> Publisher {
        Publisher {
            writer: self.inner.writer.clone(),
        }
    }

    /// Declares sources for other capabilities (a payment provider's webhook source).
    pub(crate) fn declarer(&self) -> Declarer {
        Declarer {
            intake: self.clone(),
        }
    }

    /// Where sources receive, for capabilities that tell providers.
    pub(crate) fn directory(&self) -> SourceDirectory {
        SourceDirectory {
            store: self.inner.store.clone(),
            public_url: self.inner.address.public_url.clone(),
            changes: self.inner.changes.clone(),
        }
    }

    /// Forgets what this node knows of a source and tells the directory's users.
    fn source_changed(&self, id: &str) {
        self.inner.sources.invalidate(id);
        self.inner.changes.fetch_add(1, Ordering::Relaxed);
    }

    /// The URL providers send a source's webhooks to, as shown to people.
    fn intake_url(&self, id: &str) -> String {
        let base = self
            .inner
            .address
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.inner.address.listen));
        format!("{}/in/{id}", base.trim_end_matches('/'))
    }
}

/// Puts events into the event log (group-committed with intake), where they are
/// processed and delivered like provider events.
#[derive(Debug, Clone)]
pub(crate) struct Publisher {
    writer: Writer,
}

impl Publisher {
    /// Stores `event` and answers once it is committed; an event whose key was used
    /// before answers the earlier event.
    pub(crate) async fn publish(&self, event: NewEvent) -> Result<Stored, BatchError<StoreError>> {
        self.writer.store_one(event).await
    }
}

/// Creates or brings up to date sources another capability's configuration describes,
/// as `[[sources]]` entries are.
#[derive(Debug, Clone)]
pub(crate) struct Declarer {
    intake: Intake,
}

impl Declarer {
    /// Declares `d` and answers its id.
    pub(crate) async fn declare(&self, d: &DeclaredSource) -> Result<String, DeclareError> {
        let source = declare::declare(&self.intake, d).await?;
        tracing::info!(source_id = %source.id, name = %source.name, kind = %source.kind,
            "declared source ready at /in/{}", source.id);
        Ok(source.id)
    }
}

/// The id of the source declared as `name` (without a fixed `id`).
pub(crate) fn declared_id(name: &str) -> String {
    declare::derived_id(name)
}

/// Where the sources of a kind receive webhooks, for capabilities that give providers
/// a URL to report to (SMS status callbacks).
#[derive(Debug, Clone)]
pub(crate) struct SourceDirectory {
    store: Arc<dyn Store>,
    public_url: Option<String>,
    changes: Arc<AtomicU64>,
}

impl SourceDirectory {
    /// Counts the changes to sources made on this node: a user reads again when it
    /// moved (other nodes' changes are seen at the next periodic read).
    pub(crate) fn version(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }

    /// The intake URL of the oldest enabled source of each of `kinds` that has a public
    /// URL (its own `public_url`, or the hub's): providers cannot reach a local address.
    pub(crate) async fn intake_urls(
        &self,
        kinds: &[SourceKind],
    ) -> Result<HashMap<SourceKind, String>, StoreError> {
        let page = Page {
            limit: 1000,
            cursor: None,
        };
        let sources: Vec<Source> = self.store.list_sources(&page).await?;
        let mut urls = HashMap::new();
        // Listed newest first.
        for source in sources.iter().rev() {
            if !source.enabled || !kinds.contains(&source.kind) {
                continue;
            }
            let url = source.settings.public_url.clone().or_else(|| {
                let base = self.public_url.as_deref()?;
                Some(format!("{}/in/{}", base.trim_end_matches('/'), source.id))
            });
            if let Some(url) = url {
                urls.entry(source.kind).or_insert(url);
            }
        }
        Ok(urls)
    }
}

/// The provider's id of the message a status report is about, for kinds of providers
/// the hub sends messages through.
pub(crate) fn message_ref(kind: SourceKind, payload: &[u8]) -> Option<String> {
    kinds::kind(kind).message_ref(payload)
}
