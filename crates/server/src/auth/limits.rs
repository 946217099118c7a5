//! Brute-force limits, checked before any hash is computed: a token bucket per client
//! IP (in memory, per node) and, per account, a delay that doubles from 1 s up to
//! `account_max_delay` after `account_failures` failures in a row (in the store, so
//! every node sees it). Nothing locks an account for good: the delay always ends.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use switchyard_store::Store;

use super::config::LimitsConfig;

/// The attempt must wait this long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limited {
    pub(crate) retry_after: Duration,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
pub(crate) struct Limits {
    config: LimitsConfig,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Buckets kept before full ones are dropped.
const MAX_BUCKETS: usize = 100_000;

impl Limits {
    pub(crate) fn new(config: &LimitsConfig) -> Self {
        Limits {
            config: config.clone(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn rate(&self) -> f64 {
        f64::from(self.config.ip_per_minute) / 60.0
    }

    /// Takes one attempt from the bucket of `ip` in `pool`.
    pub(crate) fn ip(&self, pool: &str, ip: Option<&str>) -> Result<(), Limited> {
        let (true, Some(ip)) = (self.config.enabled, ip) else {
            return Ok(());
        };
        let burst = f64::from(self.config.ip_burst);
        let rate = self.rate();
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS {
            buckets.retain(|_, b| b.tokens + b.at.elapsed().as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(format!("{pool}\n{ip}")).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Limited {
                retry_after: Duration::from_secs_f64((1.0 - bucket.tokens) / rate),
            })
        }
    }

    /// The wait after `count` failures in a row, the last at `last_at`.
    fn delay(&self, count: i64) -> Option<Duration> {
        let over = count - i64::from(self.config.account_failures);
        if over < 0 {
            return None;
        }
        let secs = 1u64.checked_shl(over.min(40) as u32).unwrap_or(u64::MAX);
        Some(Duration::from_secs(secs).min(self.config.account_max_delay.0))
    }

    /// Whether the account `key` may try now, and if so whether it has failures on
    /// record (which a success then clears).
    pub(crate) async fn account(
        &self,
        store: &dyn Store,
        key: &str,
        now: i64,
    ) -> Result<Result<bool, Limited>, switchyard_store::StoreError> {
        if !self.config.enabled {
            return Ok(Ok(false));
        }
        let Some((count, last_at)) = store.limit_get(key).await? else {
            return Ok(Ok(false));
        };
        let Some(delay) = self.delay(count) else {
            return Ok(Ok(true));
        };
        let until = last_at + delay.as_millis() as i64;
        Ok(if now < until {
            Err(Limited {
                retry_after: Duration::from_millis((until - now) as u64),
            })
        } else {
            Ok(true)
        })
    }

    pub(crate) async fn failed(
        &self,
        store: &dyn Store,
        key: &str,
        now: i64,
    ) -> Result<(), switchyard_store::StoreError> {
        if self.config.enabled {
            store.limit_count(key, now).await?;
        }
        Ok(())
    }

    pub(crate) async fn succeeded(
        &self,
        store: &dyn Store,
        key: &str,
    ) -> Result<(), switchyard_store::StoreError> {
        if self.config.enabled {
            store.limit_clear(key).await?;
        }
        Ok(())
    }

    /// Takes the cooldown of `key` (one reset mail per address per `reset_cooldown`).
    pub(crate) async fn cooldown(
        &self,
        store: &dyn Store,
        key: &str,
        now: i64,
    ) -> Result<bool, switchyard_store::StoreError> {
        let before = now - self.config.reset_cooldown.0.as_millis() as i64;
        store.limit_take(key, now, before).await
    }
}

/// The account key of login attempts.
pub(crate) fn login_key(pool: &str, email: &str) -> String {
    format!("login:{pool}:{email}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_one_second_and_stop_at_the_maximum() {
        let l = Limits::new(&LimitsConfig::default());
        assert_eq!(l.delay(4), None);
        assert_eq!(l.delay(5), Some(Duration::from_secs(1)));
        assert_eq!(l.delay(6), Some(Duration::from_secs(2)));
        assert_eq!(l.delay(9), Some(Duration::from_secs(16)));
        assert_eq!(l.delay(500), Some(Duration::from_secs(900)));
    }

    #[test]
    fn an_ip_bucket_empties_after_its_burst() {
        let l = Limits::new(&LimitsConfig {
            ip_burst: 3,
            ..LimitsConfig::default()
        });
        for _ in 0..3 {
            assert!(l.ip("p", Some("10.0.0.1")).is_ok());
        }
        let refused = l.ip("p", Some("10.0.0.1")).unwrap_err();
        assert!(refused.retry_after <= Duration::from_secs(1));
        assert!(l.ip("p", Some("10.0.0.2")).is_ok(), "per IP");
        assert!(l.ip("p", None).is_ok(), "no IP given: no bucket");
    }
}
