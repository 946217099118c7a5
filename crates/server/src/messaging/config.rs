//! `[email]`, `[sms]` and `[messages]`: how email and SMS are sent.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_providers::email::EmailProviderConfig;
use switchyard_providers::sms::SmsProviderConfig;

use crate::config::{ByteSize, HumanDuration};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailConfig {
    /// `[[email.providers]]`, tried by `priority` (lowest first). None configured: the
    /// `console` provider, which logs each message.
    pub providers: Vec<EmailProviderConfig>,
    /// The sender when a request names none and its provider has no `from`.
    pub from: Option<String>,
    /// Largest `POST /v1/emails` request (attachments are base64 inside it).
    pub max_request: ByteSize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    /// `[[sms.providers]]`, tried by `priority` (lowest first). None configured: the
    /// `console` provider.
    pub providers: Vec<SmsProviderConfig>,
    /// The sender when a request names none and its provider has no `from`.
    pub from: Option<String>,
    /// Where providers post status reports (Twilio `StatusCallback`, Telnyx
    /// `webhook_url`): the intake URL of a `twilio` or `telnyx` source, e.g.
    /// `https://hooks.example.com/in/src_…`. Unset: derived from `public_url` and the
    /// first declared source of the provider's kind.
    pub status_callback: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessagesConfig {
    /// Send messages from this process (with `queue.enabled`).
    pub enabled: bool,
    /// Keep message bodies (text, HTML, SMS text, template data, attachments) in the
    /// log after sending. Off: they are dropped once a message is sent or failed;
    /// recipients, subject and statuses stay.
    pub keep_bodies: bool,
    /// Times a message goes through its providers before it fails.
    pub max_attempts: u32,
    /// Delay before the second round; doubles each round (with jitter) up to `retry_max`.
    pub retry_base: HumanDuration,
    pub retry_max: HumanDuration,
    /// Quick retries of one provider within a round, for retryable failures, before the
    /// next provider is tried.
    pub provider_retries: u32,
    /// Longest `Retry-After` waited within a round; a longer one moves on.
    pub max_inline_wait: HumanDuration,
    /// Consecutive failures that open a provider's circuit breaker (skipped while open).
    pub breaker_failures: u32,
    /// How long an open breaker skips its provider before one probe is let through.
    pub breaker_cooldown: HumanDuration,
    /// Messages being sent at once on this node.
    pub concurrency: usize,
    /// How long a claimed message is reserved for this node; an unfinished claim is
    /// picked up again after it.
    pub lease: HumanDuration,
}

impl Default for MessagesConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            keep_bodies: true,
            max_attempts: 6,
            retry_base: HumanDuration(Duration::from_secs(10)),
            retry_max: HumanDuration(Duration::from_secs(3600)),
            provider_retries: 1,
            max_inline_wait: HumanDuration(Duration::from_secs(2)),
            breaker_failures: 5,
            breaker_cooldown: HumanDuration(Duration::from_secs(30)),
            concurrency: 128,
            lease: HumanDuration(Duration::from_secs(120)),
        }
    }
}

impl MessagesConfig {
    /// The first problem found, as `(key, what is expected)`.
    pub(crate) fn problem(&self) -> Option<(&'static str, &'static str)> {
        if self.max_attempts == 0 {
            return Some(("messages.max_attempts", "must be at least 1"));
        }
        if self.concurrency == 0 {
            return Some(("messages.concurrency", "must be at least 1"));
        }
        if self.breaker_failures == 0 {
            return Some(("messages.breaker_failures", "must be at least 1"));
        }
        if self.lease.0 < Duration::from_secs(5) {
            return Some(("messages.lease", "must be at least 5s"));
        }
        None
    }
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            providers: Vec::new(),
            from: None,
            max_request: ByteSize(10 * 1024 * 1024),
        }
    }
}
