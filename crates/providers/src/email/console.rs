//! The console provider: logs each message (recipients, subject, size; never the body)
//! and reports it sent. For development.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Email, EmailProvider};
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
    /// Sender for messages that do not name one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

impl ConsoleConfig {
    pub(crate) fn build(&self, ctx: &Ctx<'_>) -> Console {
        Console {
            name: ctx.provider.to_string(),
            from: self.from.clone(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Console {
    name: String,
    from: Option<String>,
}

#[async_trait]
impl EmailProvider for Console {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "console"
    }

    fn default_from(&self) -> Option<&str> {
        self.from.as_deref()
    }

    /// Always succeeds with provider id `console-<message_id>`.
    async fn send(&self, email: &Email) -> Result<Sent, SendError> {
        tracing::info!(
            provider = %self.name,
            message_id = %email.message_id,
            from = %email.from,
            to = ?email.to,
            cc = ?email.cc,
            bcc = email.bcc.len(),
            subject = %email.subject,
            attachments = email.attachments.len(),
            bytes = email.content_size(),
            "email (console provider, not delivered)"
        );
        Ok(Sent {
            provider_message_id: Some(format!("console-{}", email.message_id)),
        })
    }
}
