//! The console provider: logs each message (recipient and length; never the body) and
//! reports it sent. For development. MMS media is not supported.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Sms, SmsProvider};
use crate::config::Ctx;
use crate::{SendError, Sent};

/// `kind = "console"`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Name in logs and the message log; defaults to `console`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Lower is tried first.
    #[serde(default)]
    pub priority: i64,
}

impl ConsoleConfig {
    pub(crate) fn build(&self, ctx: &Ctx<'_>) -> Console {
        Console {
            name: ctx.provider.to_string(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Console {
    name: String,
}

#[async_trait]
impl SmsProvider for Console {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "console"
    }

    /// Succeeds with provider id `console-<message_id>`; a message with media is not
    /// supported, so the hub tries a provider that can send MMS.
    async fn send(&self, sms: &Sms) -> Result<Sent, SendError> {
        if !sms.media_urls.is_empty() {
            return Err(SendError::NotSupported(
                "the console provider does not send MMS media".into(),
            ));
        }
        tracing::info!(
            provider = %self.name,
            message_id = %sms.message_id,
            from = sms.from.as_deref().unwrap_or(""),
            to = %sms.to,
            chars = sms.body.chars().count(),
            "sms (console provider, not delivered)"
        );
        Ok(Sent {
            provider_message_id: Some(format!("console-{}", sms.message_id)),
        })
    }
}
