//! `[queue]`: the background job queue of this process.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::HumanDuration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Run background jobs in this process.
    pub enabled: bool,
    /// Jobs run at once by this process.
    pub concurrency: usize,
    /// How long a claimed job stays leased before another node may take it over.
    pub lease: HumanDuration,
    /// Safety-net poll interval; wake-ups normally arrive at once.
    pub poll_interval: HumanDuration,
    /// First retry delay of a failed job (doubles per attempt, with jitter).
    pub backoff_base: HumanDuration,
    /// Longest retry delay.
    pub backoff_max: HumanDuration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            concurrency: 32,
            lease: HumanDuration(Duration::from_secs(60)),
            poll_interval: HumanDuration(Duration::from_secs(1)),
            backoff_base: HumanDuration(Duration::from_secs(1)),
            backoff_max: HumanDuration(Duration::from_secs(3600)),
        }
    }
}
