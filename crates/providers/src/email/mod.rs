//! Email: the message the hub hands to a provider, the provider trait, and the
//! configuration that chooses and builds a provider.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};
use switchyard_core::message::Category;

use crate::config::{Ctx, Env, process_env};
use crate::{ConfigError, SendError, Sent};

pub mod console;
pub mod file;
pub(crate) mod mime;
pub mod resend;
pub mod sendgrid;
pub mod smtp;

/// An email ready to send: templates rendered, sender chosen, addresses validated by the
/// hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// The hub's id (`msg_…`). Also given to the provider for correlation: SMTP header
    /// `X-Switchyard-Message-Id`, SendGrid `custom_args.switchyard_message_id`, Resend
    /// `Idempotency-Key` and tag.
    pub message_id: String,
    /// `a@b.c` or `Name <a@b.c>`.
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// Receive the message without appearing in its headers.
    pub bcc: Vec<String>,
    pub reply_to: Option<String>,
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    pub category: Category,
}

impl Email {
    /// Bytes of content (bodies and attachments), for logs.
    pub fn content_size(&self) -> usize {
        self.text.as_ref().map_or(0, String::len)
            + self.html.as_ref().map_or(0, String::len)
            + self
                .attachments
                .iter()
                .map(|a| a.content.len())
                .sum::<usize>()
    }
}

/// A file attached to an email.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    /// A MIME type such as `application/pdf`.
    pub content_type: String,
    pub content: Vec<u8>,
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("bytes", &self.content.len())
            .finish()
    }
}

/// Something that sends email.
#[async_trait]
pub trait EmailProvider: Send + Sync + fmt::Debug {
    /// The configured name (the kind when none was configured).
    fn name(&self) -> &str;
    /// `console`, `file`, `smtp`, `sendgrid` or `resend`.
    fn kind(&self) -> &'static str;
    /// The configured sender, for messages that do not name one.
    fn default_from(&self) -> Option<&str>;
    /// Hands the message to the provider. `Ok` means the provider took it; the error says
    /// whether to retry, fail over or give up.
    async fn send(&self, email: &Email) -> Result<Sent, SendError>;
}

/// One configured email provider, chosen by `kind`:
///
/// ```toml
/// [[email.providers]]
/// kind = "sendgrid"
/// priority = 0          # lower is tried first
/// from = "Acme <no-reply@acme.test>"
/// ```
///
/// Every kind takes `name` (defaults to the kind) and `priority` (default 0; providers
/// are tried in ascending priority, lower first). Network providers also take
/// `timeout_secs` (default 15). Unknown keys are refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EmailProviderConfig {
    Console(console::ConsoleConfig),
    File(file::FileConfig),
    Smtp(smtp::SmtpConfig),
    Sendgrid(sendgrid::SendgridConfig),
    Resend(resend::ResendConfig),
}

impl EmailProviderConfig {
    /// The settings' OpenAPI schema: one object per kind, told apart by `kind`; and the
    /// components it refers to.
    pub fn openapi() -> (
        utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        switchyard_core::schema::Components,
    ) {
        switchyard_core::schema::TaggedUnion::new("kind", "An email provider's settings, by kind.")
            .variant::<console::ConsoleConfig>("console", "EmailConsoleProvider")
            .variant::<file::FileConfig>("file", "FileProvider")
            .variant::<smtp::SmtpConfig>("smtp", "SmtpProvider")
            .variant::<sendgrid::SendgridConfig>("sendgrid", "SendgridProvider")
            .variant::<resend::ResendConfig>("resend", "ResendProvider")
            .build()
    }

    /// The `kind` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            EmailProviderConfig::Console(_) => "console",
            EmailProviderConfig::File(_) => "file",
            EmailProviderConfig::Smtp(_) => "smtp",
            EmailProviderConfig::Sendgrid(_) => "sendgrid",
            EmailProviderConfig::Resend(_) => "resend",
        }
    }

    /// The configured name, else the kind.
    pub fn name(&self) -> &str {
        let name = match self {
            EmailProviderConfig::Console(c) => c.name.as_deref(),
            EmailProviderConfig::File(c) => c.name.as_deref(),
            EmailProviderConfig::Smtp(c) => c.name.as_deref(),
            EmailProviderConfig::Sendgrid(c) => c.name.as_deref(),
            EmailProviderConfig::Resend(c) => c.name.as_deref(),
        };
        name.unwrap_or(self.kind())
    }

    /// Providers are tried in ascending priority: lower first.
    pub fn priority(&self) -> i64 {
        match self {
            EmailProviderConfig::Console(c) => c.priority,
            EmailProviderConfig::File(c) => c.priority,
            EmailProviderConfig::Smtp(c) => c.priority,
            EmailProviderConfig::Sendgrid(c) => c.priority,
            EmailProviderConfig::Resend(c) => c.priority,
        }
    }

    /// Builds the provider, reading unset credentials from the process environment.
    /// Nothing is sent or connected.
    pub fn build(&self, http: &reqwest::Client) -> Result<Arc<dyn EmailProvider>, ConfigError> {
        self.build_with_env(http, &process_env)
    }

    /// [`EmailProviderConfig::build`] with the environment given by `env`.
    pub fn build_with_env(
        &self,
        http: &reqwest::Client,
        env: Env<'_>,
    ) -> Result<Arc<dyn EmailProvider>, ConfigError> {
        let ctx = Ctx {
            channel: "email",
            provider: self.name(),
            env,
        };
        Ok(match self {
            EmailProviderConfig::Console(c) => Arc::new(c.build(&ctx)),
            EmailProviderConfig::File(c) => Arc::new(c.build(&ctx)?),
            EmailProviderConfig::Smtp(c) => Arc::new(c.build(&ctx)?),
            EmailProviderConfig::Sendgrid(c) => Arc::new(c.build(http, &ctx)?),
            EmailProviderConfig::Resend(c) => Arc::new(c.build(http, &ctx)?),
        })
    }
}

/// Parses `a@b.c` or `Name <a@b.c>`; a bad address rejects the message.
pub(crate) fn mailbox(field: &str, address: &str) -> Result<Mailbox, SendError> {
    address
        .parse()
        .map_err(|e| SendError::Rejected(format!("invalid {field} address {address:?}: {e}")))
}

/// Hub message ids go into file names and headers: only ASCII letters, digits, `_` and
/// `-` are accepted.
pub(crate) fn check_message_id(id: &str) -> Result<(), SendError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(SendError::Rejected(format!("invalid message id {id:?}")))
    }
}

#[cfg(test)]
mod tests;
