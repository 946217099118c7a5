//! The dispatcher: each pending delivery is claimed with a lease, signed per Standard
//! Webhooks, POSTed, and its outcome recorded (attempt log, retry schedule, dead letter,
//! endpoint disabling).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use switchyard_core::delivery::{Attempt, Claimed, Endpoint, Next, Outcome};
use switchyard_core::event::NewEvent;
use switchyard_core::metrics::Metrics;
use switchyard_core::time::{now_ms, rfc3339};
use switchyard_signatures::standard;
use switchyard_store::batch::Batcher;
use switchyard_store::vault::{SecretError, Vault, ids};
use switchyard_store::{Store, StoreError};
use tokio::sync::{Semaphore, watch};

use super::config::DeliveryConfig;
use super::destination;
use super::wire::{envelope, error_kind, read_prefix, retry_after};
use crate::intake::Publisher;
use crate::runtime::claim_loop::{self, Parked, Refill};
use crate::runtime::guard;
use crate::runtime::ttl::TtlCache;

/// The `user-agent` of every delivery.
pub(crate) const USER_AGENT: &str = concat!("Switchyard-Webhooks/", env!("CARGO_PKG_VERSION"));

/// How long a node keeps an endpoint (and its secrets) before reading it again.
const ENDPOINT_TTL: Duration = Duration::from_secs(2);
/// Most outcomes recorded in one transaction.
const RECORD_BATCH: usize = 512;
/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Rate limits count sends per slot of this length, shared by every node.
const RATE_SLOT_MS: i64 = 100;
/// Longest a delivery waits for a rate-limit token before being handed back.
const RATE_WAIT: Duration = Duration::from_secs(2);

/// Sends allowed in `slot` for `limit` per second: a tenth each, spread so that every
/// ten consecutive slots allow exactly `limit`. Any 10-second window then sees at most
/// `10 · limit` plus one slot's share.
pub(crate) fn slot_quota(limit: i64, slot: i64) -> i64 {
    let s = slot.rem_euclid(10);
    (s + 1) * limit / 10 - s * limit / 10
}

/// An endpoint that cannot be sent to now, on the hub's side.
#[derive(Debug, thiserror::Error)]
enum NotReady {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] SecretError),
    #[error("the endpoint has no signing secret")]
    NoSecret,
    #[error("a signing secret cannot be read: {0}")]
    BadSecret(String),
}

/// An endpoint ready to send to: its settings, destination, signing keys and extra
/// headers.
#[derive(Debug)]
struct Ready {
    endpoint: Endpoint,
    /// The URL, with its password.
    url: String,
    /// `whsec_…` secrets: the current one first, then the previous one while its grace
    /// lasts.
    secrets: Vec<String>,
    headers: HeaderMap,
}

/// The shared HTTP client for deliveries: keep-alive, no redirects (a redirect could
/// lead past the address guard), no proxy from the environment, and destinations
/// resolved through the guard so the checked address is the one connected to.
fn client(config: &DeliveryConfig) -> reqwest::Client {
    switchyard_providers::http_client_builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(config.timeout.0)
        .pool_max_idle_per_host(config.endpoint_concurrency)
        .dns_resolver(Arc::new(guard::GuardedResolver::new(
            guard::Allow::delivery(config.allow_private_networks),
        )))
        .build()
        .expect("a TLS backend is compiled in")
}

/// How long a claim lasts (milliseconds): long enough for a wait on the endpoint's slot
/// (at most one timeout), one on its rate limit and one attempt, recorded. A node that
/// dies leaves its deliveries to others after this.
fn lease(config: &DeliveryConfig) -> i64 {
    (config.timeout.0 * 2 + RATE_WAIT + Duration::from_secs(5)).as_millis() as i64
}

#[derive(Debug, Clone)]
pub(crate) struct Dispatcher {
    store: Arc<dyn Store>,
    vault: Vault,
    metrics: Arc<Metrics>,
    publisher: Publisher,
    config: DeliveryConfig,
    client: reqwest::Client,
    endpoints: Arc<TtlCache<Arc<Ready>>>,
    /// Per-endpoint slots on this node.
    slots: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    /// Per-endpoint turns at taking rate-limit tokens on this node.
    rate_gates: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    outcomes: Batcher<Outcome, bool>,
    /// Taken by [`Dispatcher::run`]: the deliveries claimed as outcomes are recorded.
    refills: Arc<Parked<Claimed>>,
}

impl Dispatcher {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        vault: Vault,
        metrics: Arc<Metrics>,
        publisher: Publisher,
        config: DeliveryConfig,
    ) -> Self {
        let recorder = store.clone();
        let (refill, refills) = Refill::channel(lease(&config));
        let outcomes = Batcher::start(1, RECORD_BATCH, move |outcomes: &[Outcome]| {
            let (store, refill) = (recorder.clone(), refill.clone());
            Box::pin(async move {
                // The slots these outcomes free are filled in the same transaction.
                let now = now_ms();
                let next = refill.claim(outcomes.len(), now);
                let (recorded, claimed) =
                    store.record_outcomes_and_claim(outcomes, now, next).await?;
                refill.hand(claimed);
                Ok(recorded)
            })
        });
        Self {
            client: client(&config),
            store,
            vault,
            metrics,
            publisher,
            config,
            endpoints: Arc::new(TtlCache::new(10_000)),
            slots: Arc::default(),
            rate_gates: Arc::default(),
            outcomes,
            refills: Arc::new(Parked::new(refills)),
        }
    }

    /// Forgets what this node knows of an endpoint (after a change through the API).
    pub(crate) fn invalidate(&self, endpoint_id: &str) {
        self.endpoints.remove(endpoint_id);
    }

    /// Claims and sends due deliveries until `shutdown` turns true, then lets the ones
    /// in flight finish.
    pub(crate) async fn run(self, shutdown: watch::Receiver<bool>) {
        let notify = self.store.work_notifier(switchyard_store::Work::Deliveries);
        let concurrency = self.config.concurrency;
        if let Some(refills) = self.refills.take("delivery") {
            claim_loop::run(self, notify, concurrency, refills, shutdown).await;
        }
    }

    async fn ready(&self, endpoint_id: &str) -> Result<Option<Arc<Ready>>, NotReady> {
        if let Some(r) = self.endpoints.get(endpoint_id) {
            return Ok(Some(r));
        }
        let Some(endpoint) = self.store.get_endpoint(endpoint_id).await? else {
            return Ok(None);
        };
        let mut secrets = Vec::new();
        let mut records = vec![ids::endpoint_secret(endpoint_id)];
        if endpoint.secret_grace_until.is_some_and(|t| t > now_ms()) {
            records.push(ids::endpoint_previous(endpoint_id));
        }
        for record in records {
            if let Some(s) = self.vault.get(&record).await? {
                let text = String::from_utf8_lossy(s.expose()).into_owned();
                standard::decode_secret(&text).map_err(|e| NotReady::BadSecret(e.to_string()))?;
                secrets.push(text);
            }
        }
        if secrets.is_empty() {
            return Err(NotReady::NoSecret);
        }
        let private = destination::open(&self.vault, &endpoint).await?;
        let mut headers = HeaderMap::new();
        for (name, value) in &private.headers {
            match (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                (Ok(n), Ok(v)) => {
                    headers.insert(n, v);
                }
                _ => {
                    tracing::warn!(endpoint_id, header = %name, "a stored header cannot be sent; left out")
                }
            }
        }
        // Keep the entry no longer than the rotation grace, so the previous secret stops
        // signing when it ends.
        let mut ttl = ENDPOINT_TTL;
        if let Some(until) = endpoint.secret_grace_until {
            let left = until - now_ms();
            if left > 0 {
                ttl = ttl.min(Duration::from_millis(left as u64));
            }
        }
        let ready = Arc::new(Ready {
            endpoint,
            url: private.url,
            secrets,
            headers,
        });
        self.endpoints.insert(endpoint_id, ready.clone(), ttl);
        Ok(Some(ready))
    }

    /// Waits (briefly) for one send of `endpoint_id`'s allowance of `limit` per second,
    /// shared with every node through the store. `false` if none came.
    async fn rate_token(&self, endpoint_id: &str, limit: i64) -> bool {
        let deadline = Instant::now() + RATE_WAIT;
        // One delivery per endpoint and node asks at a time: the others wait here
        // rather than all contending for the same counter row at each slot.
        let gate = self.gate(endpoint_id);
        let Ok(_turn) = tokio::time::timeout_at(deadline.into(), gate.lock()).await else {
            return false;
        };
        loop {
            let now = now_ms();
            let slot = now / RATE_SLOT_MS;
            let quota = slot_quota(limit, slot);
            match self.store.take_rate_token(endpoint_id, slot, quota).await {
                Ok(true) => return true,
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(endpoint_id, error = %e, "taking a rate-limit token failed");
                    return false;
                }
            }
            if Instant::now() >= deadline {
                return false;
            }
            let next = (slot + 1) * RATE_SLOT_MS - now;
            tokio::time::sleep(Duration::from_millis(next.max(1) as u64)).await;
        }
    }

    fn gate(&self, endpoint_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.rate_gates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(endpoint_id.to_string())
            .or_default()
            .clone()
    }

    fn slot(&self, endpoint_id: &str) -> Arc<Semaphore> {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(endpoint_id.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.config.endpoint_concurrency)))
            .clone()
    }

    /// Hands a claimed delivery back without counting its attempt, due at `until`.
    async fn hand_back(&self, c: &Claimed, until: i64) {
        if let Err(e) = self.store.defer_delivery(&c.id, c.attempt, until).await {
            tracing::error!(delivery_id = %c.id, error = %e, "handing back a delivery failed");
        }
    }

    async fn deliver(&self, c: Claimed) {
        let slot = self.slot(&c.endpoint_id);
        // A busy endpoint's deliveries wait at most one timeout for a slot, then are
        // handed back for later: the lease never ends while one waits, and they do not
        // hold this node's other work up.
        let wait = self.config.timeout.0;
        let Ok(permit) = tokio::time::timeout(wait, slot.acquire()).await else {
            self.hand_back(&c, now_ms() + wait.as_millis() as i64).await;
            return;
        };
        let started_at = now_ms();
        let t0 = Instant::now();
        let attempt = |status: Option<u16>, body: Option<String>, error: Option<&str>| Attempt {
            delivery_id: c.id.clone(),
            attempt: c.attempt,
            started_at,
            duration_ms: t0.elapsed().as_millis() as i64,
            status_code: status.map(i64::from),
            response_body: body,
            error_kind: error.map(str::to_string),
        };
        let (attempt, next) = match self.ready(&c.endpoint_id).await {
            Ok(Some(ready)) => {
                if let Some(limit) = ready.endpoint.rate_limit
                    && !self.rate_token(&c.endpoint_id, limit).await
                {
                    // Over the limit for a while: hand it back uncounted, due in the
                    // next slot, instead of holding a slot and a lease.
                    let until = (now_ms() / RATE_SLOT_MS + 1) * RATE_SLOT_MS;
                    self.hand_back(&c, until).await;
                    return;
                }
                self.send(&c, &ready, attempt).await
            }
            Ok(None) => (attempt(None, None, Some("endpoint_deleted")), Next::Failed),
            Err(e) => {
                tracing::error!(endpoint_id = %c.endpoint_id, error = %e, "loading the endpoint failed");
                let a = attempt(None, None, Some("internal"));
                (a, self.after_failure(c.attempt, None))
            }
        };
        // The endpoint's slot is free once it has answered; recording is the hub's work.
        drop(permit);
        let outcome_label = match &next {
            Next::Succeeded => "succeeded",
            Next::RetryAt(_) => "retrying",
            Next::Failed => "failed",
            Next::Gone => "gone",
        };
        self.metrics
            .deliveries
            .inc(&[&c.endpoint_id, outcome_label]);
        let failed = !matches!(next, Next::Succeeded);
        let outcome = Outcome {
            attempt,
            endpoint_id: c.endpoint_id.clone(),
            next,
        };
        match self.outcomes.submit(outcome).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(delivery_id = %c.id, "delivery was claimed again meanwhile; outcome dropped")
            }
            Err(e) => {
                tracing::error!(delivery_id = %c.id, error = %e, "recording a delivery outcome failed; it will be attempted again after its lease")
            }
        }
        if failed {
            self.disable_if_failing_too_long(&c.endpoint_id).await;
        }
    }

    async fn send(
        &self,
        c: &Claimed,
        ready: &Ready,
        attempt: impl Fn(Option<u16>, Option<String>, Option<&str>) -> Attempt,
    ) -> (Attempt, Next) {
        let url = match reqwest::Url::parse(&ready.url) {
            Ok(u) => u,
            Err(_) => return (attempt(None, None, Some("invalid_url")), Next::Failed),
        };
        if let Err(e) = guard::check_literal(
            &url,
            guard::Allow::delivery(self.config.allow_private_networks),
        ) {
            tracing::warn!(endpoint_id = %c.endpoint_id, "delivery refused: {e}");
            let a = attempt(None, None, Some("refused_destination"));
            return (a, self.after_failure(c.attempt, None));
        }
        let body = envelope(
            &c.event_type,
            c.received_at,
            &c.payload,
            c.object.as_deref(),
        );
        let timestamp = now_ms() / 1000;
        let signature = match standard::sign_all(&ready.secrets, &c.id, timestamp, &body) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(endpoint_id = %c.endpoint_id, error = %e, "signing failed");
                let a = attempt(None, None, Some("internal"));
                return (a, self.after_failure(c.attempt, None));
            }
        };
        let request = self
            .client
            .post(url)
            .headers(ready.headers.clone())
            .header("webhook-id", &c.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header("content-type", "application/json")
            .body(body);
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                let retry_after = retry_after(response.headers());
                let text = read_prefix(response).await;
                let next = if status.is_success() {
                    Next::Succeeded
                } else if status == reqwest::StatusCode::GONE {
                    Next::Gone
                } else if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                    self.after_failure(c.attempt, retry_after)
                } else {
                    self.after_failure(c.attempt, None)
                };
                (attempt(Some(status.as_u16()), Some(text), None), next)
            }
            Err(e) => {
                let kind = error_kind(&e);
                (
                    attempt(None, None, Some(kind)),
                    self.after_failure(c.attempt, None),
                )
            }
        }
    }

    /// The retry that follows failed attempt `attempt`, or `Failed` when the schedule is
    /// spent. `Retry-After` replaces the scheduled delay when given.
    fn after_failure(&self, attempt: i64, retry_after: Option<Duration>) -> Next {
        let delays = self.config.delays();
        match switchyard_core::delivery::retry_delay_ms(&delays, attempt) {
            Some(scheduled) => {
                let delay =
                    retry_after.map_or(scheduled, |d| d.min(MAX_RETRY_AFTER).as_millis() as i64);
                Next::RetryAt(now_ms() + delay)
            }
            None => Next::Failed,
        }
    }

    /// Disables an endpoint whose attempts have all failed for longer than
    /// `delivery.disable_after`, and emits `endpoint.disabled`.
    async fn disable_if_failing_too_long(&self, endpoint_id: &str) {
        let window = self.config.disable_after.0.as_millis() as i64;
        let now = now_ms();
        let Ok(Some(mut endpoint)) = self.store.get_endpoint(endpoint_id).await else {
            return;
        };
        let Some(since) = endpoint.failing_since else {
            return;
        };
        if !endpoint.enabled || now - since < window {
            return;
        }
        endpoint.enabled = false;
        endpoint.disabled_reason = Some("failing".into());
        endpoint.updated_at = now;
        match self.store.update_endpoint(&endpoint).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::error!(endpoint_id, error = %e, "disabling a failing endpoint failed");
                return;
            }
        }
        self.invalidate(endpoint_id);
        tracing::warn!(endpoint_id, failing_since = %rfc3339(since), "endpoint disabled after failing for too long");
        let payload = serde_json::json!({
            "endpoint_id": endpoint_id,
            "url": destination::mask_url(&endpoint.url),
            "reason": "failing",
            "failing_since": rfc3339(since),
        });
        let event = NewEvent::published(
            "endpoint.disabled",
            &payload,
            Some(format!("endpoint.disabled:{endpoint_id}:{since}")),
            now,
        );
        if let Err(e) = self.publisher.publish(event).await {
            tracing::error!(endpoint_id, error = %e, "emitting endpoint.disabled failed");
        }
    }
}

impl claim_loop::Claimer for Dispatcher {
    type Item = Claimed;
    const WHAT: &'static str = "deliveries";

    async fn claim(&self, free: usize) -> Result<Vec<Claimed>, StoreError> {
        let now = now_ms();
        self.store
            .claim_deliveries(free as u32, now, now + lease(&self.config))
            .await
    }

    async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        self.store.next_delivery_due().await
    }

    async fn work(&self, claimed: Claimed) {
        self.deliver(claimed).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_quotas_add_up_to_the_limit_each_second() {
        for limit in [1, 3, 7, 10, 25, 1000] {
            for start in [0, 3, 17] {
                let total: i64 = (start..start + 10).map(|s| slot_quota(limit, s)).sum();
                assert_eq!(total, limit, "limit {limit} from slot {start}");
            }
            assert!((0..10).all(|s| slot_quota(limit, s) <= limit / 10 + 1));
        }
    }
}
