//! Endpoints (where the application receives events), deliveries (one per event and
//! matching endpoint) and their attempts, as stored; subscription matching and the
//! retry schedule.

use std::collections::BTreeMap;

crate::text_enum! {
    /// Where a delivery is.
    pub enum DeliveryState {
        /// Waiting for its next attempt (or being attempted).
        Pending = "pending",
        Succeeded = "succeeded",
        /// No attempts left: a dead letter, replayable.
        Failed = "failed",
    }
}

/// An endpoint as stored. Its signing secret lives sealed in the vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    pub description: Option<String>,
    /// Subscribed types; empty means every event. `*` matches one dot segment, a final
    /// `*` also matches any deeper ones (`payment.*` matches `payment.invoice.paid`).
    pub event_types: Vec<String>,
    /// Extra request headers, by lowercase name. The hub stores their values sealed
    /// and keeps only a mask here (see the delivery capability).
    pub headers: BTreeMap<String, String>,
    /// Deliveries per second across all nodes; `None` for no limit.
    pub rate_limit: Option<i64>,
    /// One delivery at a time, in event order; a failing one holds back the rest.
    pub ordered: bool,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Until when deliveries are also signed with the previous secret (rotation).
    pub secret_grace_until: Option<i64>,
    /// Since when every attempt has failed; `None` once one succeeds.
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Endpoint {
    /// A new, enabled endpoint for `url` subscribing to every event, created at `now`.
    pub fn new(id: String, url: String, now: i64) -> Self {
        Self {
            id,
            url,
            description: None,
            event_types: Vec::new(),
            headers: BTreeMap::new(),
            rate_limit: None,
            ordered: false,
            enabled: true,
            disabled_reason: None,
            secret_grace_until: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether this endpoint subscribes to events of `event_type`.
    pub fn subscribes(&self, event_type: &str) -> bool {
        self.event_types.is_empty() || self.event_types.iter().any(|p| matches(p, event_type))
    }
}

/// Whether `pattern` matches `event_type`, segment by segment: `*` stands for one
/// segment, and a trailing `*` for one or more.
pub fn matches(pattern: &str, event_type: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let segments: Vec<&str> = event_type.split('.').collect();
    for (i, p) in pattern.iter().enumerate() {
        let last = i == pattern.len() - 1;
        match segments.get(i) {
            None => return false,
            Some(_) if *p == "*" && last => return true,
            Some(s) if *p == "*" || p == s => {}
            Some(_) => return false,
        }
    }
    pattern.len() == segments.len()
}

/// Whether `pattern` is a valid subscription: dot-separated non-empty segments of
/// letters, digits, `_`, `-`, or a lone `*`.
pub fn valid_pattern(pattern: &str) -> bool {
    !pattern.is_empty()
        && pattern.split('.').all(|s| {
            s == "*"
                || (!s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        })
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    pub event_id: String,
    pub endpoint_id: String,
    pub state: DeliveryState,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A delivery claimed for an attempt, with what the request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub id: String,
    pub endpoint_id: String,
    pub event_id: String,
    /// This attempt's number (1 for the first); fences the outcome.
    pub attempt: i64,
    pub event_type: String,
    pub payload: Vec<u8>,
    pub received_at: i64,
    /// The mirror's view of the object a payment event is about (JSON), if any.
    pub object: Option<String>,
}

/// One attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub delivery_id: String,
    pub attempt: i64,
    pub started_at: i64,
    pub duration_ms: i64,
    pub status_code: Option<i64>,
    /// The first 4 KiB of the response body.
    pub response_body: Option<String>,
    /// `timeout`, `connect`, `dns`, `tls`, `refused_destination`, `http` …
    pub error_kind: Option<String>,
}

/// What an attempt leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Succeeded,
    /// Try again at this time (epoch ms).
    RetryAt(i64),
    /// No attempts left: a dead letter.
    Failed,
    /// The endpoint answered 410 Gone: the delivery fails and the endpoint is disabled.
    Gone,
}

/// The outcome of one attempt, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub attempt: Attempt,
    pub endpoint_id: String,
    pub next: Next,
}

/// Delays between attempts: the first attempt is immediate, then one entry per retry.
pub const DEFAULT_SCHEDULE_SECS: &[u64] = &[5, 300, 1800, 7200, 18000, 36000, 36000];

/// When attempt `attempt` (1-based, just made) should be followed by another, per
/// `schedule` (delays after attempts 1, 2, …); `None` when the schedule is spent.
pub fn retry_delay_ms(schedule: &[std::time::Duration], attempt: i64) -> Option<i64> {
    let i = usize::try_from(attempt.checked_sub(1)?).ok()?;
    schedule.get(i).map(|d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_by_dot_segment() {
        assert!(matches("payment.*", "payment.invoice.paid"));
        assert!(matches("payment.*", "payment.refunded"));
        assert!(!matches("payment.*", "payment"));
        assert!(!matches("payment.*", "message.delivered"));
        assert!(matches("message.delivered", "message.delivered"));
        assert!(!matches("message.delivered", "message.delivered.late"));
        assert!(matches("*.delivered", "message.delivered"));
        assert!(!matches("*.delivered", "message.bounced"));
        assert!(matches("payment.*.paid", "payment.invoice.paid"));
        assert!(!matches("payment.*.paid", "payment.invoice.failed"));
        assert!(matches("*", "anything.at.all"));
    }

    #[test]
    fn no_subscriptions_means_everything() {
        let mut e = Endpoint::new("ep_x".into(), "https://example.com".into(), 0);
        assert!(e.subscribes("whatever"));
        e.event_types = vec!["payment.*".into(), "message.delivered".into()];
        assert!(e.subscribes("payment.checkout.completed"));
        assert!(e.subscribes("message.delivered"));
        assert!(!e.subscribes("message.bounced"));
    }

    #[test]
    fn patterns_are_validated() {
        assert!(valid_pattern("payment.*"));
        assert!(valid_pattern("invoice.payment_failed"));
        assert!(!valid_pattern(""));
        assert!(!valid_pattern("payment..paid"));
        assert!(!valid_pattern("pay ment"));
        assert!(!valid_pattern("payment.x*"));
    }

    #[test]
    fn the_schedule_runs_out() {
        let s: Vec<_> = [5u64, 300]
            .iter()
            .map(|s| std::time::Duration::from_secs(*s))
            .collect();
        assert_eq!(retry_delay_ms(&s, 1), Some(5000));
        assert_eq!(retry_delay_ms(&s, 2), Some(300_000));
        assert_eq!(retry_delay_ms(&s, 3), None);
    }
}
