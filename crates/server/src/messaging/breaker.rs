//! A circuit breaker per provider: after `failures` consecutive failures the provider
//! is skipped for `cooldown`; then one probe is let through, and its outcome closes the
//! breaker or opens it for another cooldown.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(super) struct Breaker {
    failures: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    consecutive: u32,
    open_until: Option<Instant>,
    probing: bool,
}

impl Breaker {
    pub(super) fn new(failures: u32, cooldown: Duration) -> Self {
        Self {
            failures: failures.max(1),
            cooldown,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a send may go to the provider now. While open, `false` until the
    /// cooldown ends; then `true` for exactly one caller (the probe).
    pub(super) fn allow(&self, now: Instant) -> bool {
        let mut s = self.state();
        match s.open_until {
            None => true,
            Some(until) if now >= until && !s.probing => {
                s.probing = true;
                true
            }
            Some(_) => false,
        }
    }

    /// Whether the breaker is open (the provider is being skipped).
    pub(super) fn is_open(&self) -> bool {
        self.state().open_until.is_some()
    }

    pub(super) fn success(&self) {
        let mut s = self.state();
        *s = State::default();
    }

    /// Records a failure; returns `true` when this failure opened the breaker.
    pub(super) fn failure(&self, now: Instant) -> bool {
        let mut s = self.state();
        s.consecutive = s.consecutive.saturating_add(1);
        let was_open = s.open_until.is_some();
        if s.probing || s.consecutive >= self.failures {
            s.open_until = Some(now + self.cooldown);
            s.probing = false;
            return !was_open;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_probes_once_after_cooldown() {
        let b = Breaker::new(3, Duration::from_secs(10));
        let t = Instant::now();
        assert!(b.allow(t));
        assert!(!b.failure(t));
        b.success();
        assert!(!b.failure(t));
        assert!(!b.failure(t));
        assert!(b.failure(t), "the third consecutive failure opens it");
        assert!(!b.allow(t + Duration::from_secs(9)));
        let later = t + Duration::from_secs(10);
        assert!(b.allow(later), "one probe after the cooldown");
        assert!(!b.allow(later), "only one");
        b.failure(later);
        assert!(
            !b.allow(later + Duration::from_secs(9)),
            "a failed probe reopens it"
        );
        let again = later + Duration::from_secs(10);
        assert!(b.allow(again));
        b.success();
        assert!(b.allow(again) && b.allow(again) && !b.is_open());
    }
}
