//! The sender: queued messages are claimed with a lease and offered to their channel's
//! providers by priority. A retryable failure is retried briefly and then the next
//! provider is tried; when every provider failed, the message waits (exponential
//! backoff) for another round, until `messages.max_attempts` rounds have failed. A
//! rejection (bad recipient, invalid content) fails the message at once with the
//! provider's reason. A circuit breaker per provider skips one that keeps failing.

use std::time::{Duration, Instant};

use rand::Rng as _;
use switchyard_core::message::{AttemptOutcome, Message, SendAttempt, SendOutcome, SendResult};
use switchyard_core::time::now_ms;
use switchyard_providers::SendError;
use switchyard_store::StoreError;
use tokio::sync::watch;

use super::Messaging;
use super::content::{self, Payload};

impl Messaging {
    /// Claims and sends due messages until `shutdown` turns true, then lets the ones in
    /// flight finish.
    pub(super) async fn run(self, shutdown: watch::Receiver<bool>) {
        let notify = self
            .inner
            .store
            .work_notifier(switchyard_store::Work::Messages);
        let concurrency = self.inner.config.concurrency;
        if let Some(refills) = self.inner.refills.take("message") {
            crate::runtime::claim_loop::run(self, notify, concurrency, refills, shutdown).await;
        }
    }

    /// Offers one claimed message to its channel's providers and records the outcome.
    async fn send(&self, message: Message) {
        let c = &self.inner.config;
        let (tries, outcome) =
            match content::payload(&message.id, message.category, &message.content) {
                Ok(payload) => {
                    self.holding_lease(&message, self.offer(&message, payload))
                        .await
                }
                Err(reason) => (Vec::new(), SendOutcome::Failed { reason }),
            };
        let label = match &outcome {
            SendOutcome::Sent { .. } => "sent",
            SendOutcome::Retry { .. } => "retrying",
            SendOutcome::Failed { .. } => "failed",
        };
        self.inner
            .metrics
            .messages
            .inc(&[message.channel.as_str(), label]);
        let keep_bodies = c.keep_bodies && !super::system::drops_bodies(&message);
        let keep_content = match (&outcome, keep_bodies) {
            (SendOutcome::Retry { .. }, _) | (_, true) => None,
            _ => Some(message.content.without_bodies()),
        };
        let result = SendResult {
            message_id: message.id.clone(),
            attempt: message.attempts,
            tries,
            outcome,
            keep_content,
        };
        // A failed record leaves the claim to expire; the message is then sent again.
        for wait in [100, 500, 2000] {
            match self.inner.records.submit(result.clone()).await {
                Ok(true) => return,
                Ok(false) => {
                    tracing::warn!(message_id = %message.id, "the claim on a message ended before its outcome was recorded");
                    return;
                }
                Err(e) => {
                    tracing::error!(message_id = %message.id, error = %e, "recording a message outcome failed");
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
            }
        }
    }

    /// Runs a round while extending the message's lease every third of it, so that a
    /// long round (several slow providers) is not claimed and sent again meanwhile.
    async fn holding_lease<T>(&self, message: &Message, round: impl Future<Output = T>) -> T {
        let lease = self.inner.config.lease.0;
        tokio::pin!(round);
        loop {
            tokio::select! {
                out = &mut round => return out,
                _ = tokio::time::sleep(lease / 3) => {
                    let until = now_ms() + lease.as_millis() as i64;
                    let held = self.inner.store.extend_message_lease(&message.id, message.attempts, until);
                    match held.await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(message_id = %message.id,
                            "the claim on a message ended during its round; its outcome will be ignored"),
                        Err(e) => tracing::warn!(message_id = %message.id, error = %e,
                            "extending the claim on a message failed"),
                    }
                }
            }
        }
    }

    async fn offer(
        &self,
        message: &Message,
        mut payload: Payload,
    ) -> (Vec<SendAttempt>, SendOutcome) {
        let c = &self.inner.config;
        let current = self.routes().await;
        let routes = current.of(message.channel);
        let mut tries = Vec::new();
        let mut last_error = None;
        let mut wait_at_least = Duration::ZERO;
        for route in routes {
            if !route.breaker.allow(Instant::now()) {
                continue;
            }
            let name = route.provider.name().to_string();
            if let Payload::Sms(sms) = &mut payload {
                sms.status_callback = self.status_callback(route.kind);
                if sms.from.is_none() {
                    sms.from = self.default_sms_from();
                }
            }
            for round in 0..=c.provider_retries {
                let started = Instant::now();
                let at = now_ms();
                let result = route.provider.send(&payload).await;
                let duration_ms = started.elapsed().as_millis() as i64;
                let kind = match &result {
                    Ok(_) => "sent",
                    Err(e) => e.kind(),
                };
                self.inner
                    .metrics
                    .provider_sends
                    .inc(&[message.channel.as_str(), &name, kind]);
                let error = result.as_ref().err().map(ToString::to_string);
                tries.push(SendAttempt {
                    provider: name.clone(),
                    at,
                    duration_ms,
                    outcome: match &result {
                        Ok(_) => AttemptOutcome::Sent,
                        Err(SendError::Rejected(_)) => AttemptOutcome::Rejected,
                        Err(_) => AttemptOutcome::Retryable,
                    },
                    error: error.clone(),
                });
                let e = match result {
                    Ok(sent) => {
                        route.breaker.success();
                        return (
                            tries,
                            SendOutcome::Sent {
                                provider: name,
                                provider_message_id: sent.provider_message_id,
                            },
                        );
                    }
                    Err(SendError::Rejected(reason)) => {
                        // The provider works; the message is what it refused.
                        route.breaker.success();
                        return (
                            tries,
                            SendOutcome::Failed {
                                reason: format!("{name} rejected the message: {reason}"),
                            },
                        );
                    }
                    Err(e) => e,
                };
                if route.breaker.failure(Instant::now()) {
                    tracing::warn!(provider = %name, channel = message.channel.as_str(),
                        "provider keeps failing; skipping it for {:?}", c.breaker_cooldown.0);
                }
                tracing::info!(message_id = %message.id, provider = %name, error = %e, "provider send failed");
                last_error = Some(format!("{name}: {e}"));
                let pause = match &e {
                    SendError::RateLimited { retry_after, .. } => {
                        let after = retry_after.unwrap_or(Duration::from_secs(1));
                        if after > c.max_inline_wait.0 {
                            wait_at_least = wait_at_least.max(after);
                            break;
                        }
                        after
                    }
                    SendError::Transient(_) => Duration::from_millis(200 << round.min(4)),
                    _ => break,
                };
                if round == c.provider_retries || route.breaker.is_open() {
                    break;
                }
                tokio::time::sleep(pause).await;
            }
        }
        let error = last_error.unwrap_or_else(|| {
            "every provider of the channel is being skipped after repeated failures".into()
        });
        if message.attempts >= i64::from(c.max_attempts) {
            return (
                tries,
                SendOutcome::Failed {
                    reason: format!(
                        "no provider accepted the message in {} attempts; last error: {error}",
                        message.attempts
                    ),
                },
            );
        }
        let delay = self.backoff(message.attempts).max(wait_at_least);
        (
            tries,
            SendOutcome::Retry {
                at: now_ms() + delay.as_millis() as i64,
                error,
            },
        )
    }

    /// The wait after `attempts` failed rounds: `retry_base · 2^(attempts-1)`, at most
    /// `retry_max`, less up to a fifth at random so retries spread out.
    fn backoff(&self, attempts: i64) -> Duration {
        let c = &self.inner.config;
        let exp = attempts.clamp(1, 30) as u32 - 1;
        let full = c
            .retry_base
            .0
            .saturating_mul(2u32.saturating_pow(exp))
            .min(c.retry_max.0);
        let jitter = rand::rng().random_range(0.0..0.2);
        full.mul_f64(1.0 - jitter)
    }
}

impl crate::runtime::claim_loop::Claimer for Messaging {
    type Item = Message;
    const WHAT: &'static str = "messages";

    async fn claim(&self, free: usize) -> Result<Vec<Message>, StoreError> {
        let now = now_ms();
        let lease = self.inner.config.lease.0.as_millis() as i64;
        self.inner
            .store
            .claim_messages(free as u32, now, now + lease)
            .await
    }

    async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        self.inner.store.next_message_due().await
    }

    async fn work(&self, message: Message) {
        self.send(message).await;
    }
}
