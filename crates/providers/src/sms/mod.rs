//! SMS and MMS: the message the hub hands to a provider, the provider trait, and the
//! configuration that chooses and builds a provider.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::config::{Ctx, Env, process_env};
use crate::{ConfigError, SendError, Sent};

pub mod console;
pub mod telnyx;
pub mod twilio;

/// A text message ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sms {
    /// The hub's id (`msg_…`).
    pub message_id: String,
    /// Sender number or id; the provider's configured sender when `None`.
    pub from: Option<String>,
    /// E.164 number.
    pub to: String,
    pub body: String,
    /// Public URLs of media to send as MMS.
    pub media_urls: Vec<String>,
    /// Where the provider reports delivery status for this message.
    pub status_callback: Option<String>,
}

/// Something that sends SMS.
#[async_trait]
pub trait SmsProvider: Send + Sync + fmt::Debug {
    /// The configured name (the kind when none was configured).
    fn name(&self) -> &str;
    /// `console`, `twilio` or `telnyx`.
    fn kind(&self) -> &'static str;
    /// Hands the message to the provider. `Ok` means the provider took it; the error says
    /// whether to retry, fail over or give up.
    async fn send(&self, sms: &Sms) -> Result<Sent, SendError>;
}

/// One configured SMS provider, chosen by `kind`:
///
/// ```toml
/// [[sms.providers]]
/// kind = "twilio"
/// priority = 0          # lower is tried first
/// messaging_service_sid = "MG…"
/// ```
///
/// Every kind takes `name` (defaults to the kind) and `priority` (default 0; providers
/// are tried in ascending priority, lower first). Network providers also take
/// `timeout_secs` (default 15). Unknown keys are refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SmsProviderConfig {
    Console(console::ConsoleConfig),
    Twilio(twilio::TwilioConfig),
    Telnyx(telnyx::TelnyxConfig),
}

impl SmsProviderConfig {
    /// The settings' OpenAPI schema: one object per kind, told apart by `kind`; and the
    /// components it refers to.
    pub fn openapi() -> (
        utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        switchyard_core::schema::Components,
    ) {
        switchyard_core::schema::TaggedUnion::new("kind", "An SMS provider's settings, by kind.")
            .variant::<console::ConsoleConfig>("console", "SmsConsoleProvider")
            .variant::<twilio::TwilioConfig>("twilio", "TwilioProvider")
            .variant::<telnyx::TelnyxConfig>("telnyx", "TelnyxProvider")
            .build()
    }

    /// The `kind` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            SmsProviderConfig::Console(_) => "console",
            SmsProviderConfig::Twilio(_) => "twilio",
            SmsProviderConfig::Telnyx(_) => "telnyx",
        }
    }

    /// The configured name, else the kind.
    pub fn name(&self) -> &str {
        let name = match self {
            SmsProviderConfig::Console(c) => c.name.as_deref(),
            SmsProviderConfig::Twilio(c) => c.name.as_deref(),
            SmsProviderConfig::Telnyx(c) => c.name.as_deref(),
        };
        name.unwrap_or(self.kind())
    }

    /// Providers are tried in ascending priority: lower first.
    pub fn priority(&self) -> i64 {
        match self {
            SmsProviderConfig::Console(c) => c.priority,
            SmsProviderConfig::Twilio(c) => c.priority,
            SmsProviderConfig::Telnyx(c) => c.priority,
        }
    }

    /// Builds the provider, reading unset credentials from the process environment.
    /// Nothing is sent or connected.
    pub fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn SmsProvider>, ConfigError> {
        self.build_with_env(http, &process_env)
    }

    /// [`SmsProviderConfig::build`] with the environment given by `env`.
    pub fn build_with_env(
        &self,
        http: &reqwest::Client,
        env: Env<'_>,
    ) -> Result<Arc<dyn SmsProvider>, ConfigError> {
        let ctx = Ctx {
            channel: "sms",
            provider: self.name(),
            env,
        };
        Ok(match self {
            SmsProviderConfig::Console(c) => Arc::new(c.build(&ctx)),
            SmsProviderConfig::Twilio(c) => Arc::new(c.build(http, &ctx)?),
            SmsProviderConfig::Telnyx(c) => Arc::new(c.build(http, &ctx)?),
        })
    }
}

/// The sender of `sms`: its own `from`, else the configured one. `None` is refused
/// unless the provider can pick a sender itself (`can_pick`, e.g. a messaging service).
pub(crate) fn sender<'a>(
    sms: &'a Sms,
    configured: Option<&'a str>,
    can_pick: bool,
) -> Result<Option<&'a str>, SendError> {
    match sms.from.as_deref().filter(|f| !f.is_empty()).or(configured) {
        Some(from) => Ok(Some(from)),
        None if can_pick => Ok(None),
        None => Err(SendError::NotSupported(
            "no sender: the message has no `from` and the provider has none configured".into(),
        )),
    }
}

#[cfg(test)]
mod tests;
