//! `[delivery]`: how events reach the application's endpoints.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::HumanDuration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Send deliveries from this process (with `queue.enabled`). Off, the node still
    /// takes webhooks and creates deliveries; other nodes send them.
    pub enabled: bool,
    /// Allow endpoints on loopback, private, link-local and metadata addresses. Off by
    /// default: such destinations are refused, when an endpoint is created and at
    /// every attempt (the checked address is the one connected to).
    pub allow_private_networks: bool,
    /// Longest time one attempt may take (connect, send, answer).
    pub timeout: HumanDuration,
    /// Delays before each retry; the first attempt is immediate. After the last retry
    /// a delivery is `failed` (a dead letter, replayable).
    pub schedule: Vec<HumanDuration>,
    /// An endpoint whose every attempt failed for this long is disabled, and an
    /// `endpoint.disabled` event is emitted.
    pub disable_after: HumanDuration,
    /// Deliveries in flight at once on this node.
    pub concurrency: usize,
    /// Deliveries in flight at once to one endpoint on this node, so one slow endpoint
    /// cannot take every slot.
    pub endpoint_concurrency: usize,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_private_networks: false,
            timeout: HumanDuration(Duration::from_secs(15)),
            schedule: switchyard_core::delivery::DEFAULT_SCHEDULE_SECS
                .iter()
                .map(|s| HumanDuration(Duration::from_secs(*s)))
                .collect(),
            disable_after: HumanDuration(Duration::from_secs(5 * 24 * 3600)),
            concurrency: 256,
            endpoint_concurrency: 32,
        }
    }
}

impl DeliveryConfig {
    /// The first problem found, as `(key, what is expected)`.
    pub(crate) fn problem(&self) -> Option<(&'static str, &'static str)> {
        if self.timeout.0.is_zero() {
            return Some(("delivery.timeout", "must be longer than 0"));
        }
        if self.concurrency == 0 {
            return Some(("delivery.concurrency", "must be at least 1"));
        }
        if self.endpoint_concurrency == 0 {
            return Some(("delivery.endpoint_concurrency", "must be at least 1"));
        }
        if self.schedule.len() > 50 {
            return Some(("delivery.schedule", "must have at most 50 retries"));
        }
        None
    }

    /// The retry delays.
    pub(crate) fn delays(&self) -> Vec<Duration> {
        self.schedule.iter().map(|d| d.0).collect()
    }
}
