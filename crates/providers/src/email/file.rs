//! The file provider: writes each message to `<dir>/<message_id>.eml` (RFC 5322, `Bcc`
//! kept since a file has no envelope). For development and for inspecting what SMTP
//! would send.

use std::io;
use std::path::PathBuf;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::mime::{self, Bcc};
use super::{Email, EmailProvider};
use crate::config::Ctx;
use crate::{ConfigError, SendError, Sent};

/// `kind = "file"`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Name in logs and the message log; defaults to `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Lower is tried first.
    #[serde(default)]
    pub priority: i64,
    /// Directory the `.eml` files are written to; created when missing.
    #[schema(value_type = String)]
    pub dir: PathBuf,
    /// Sender for messages that do not name one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

impl FileConfig {
    pub(crate) fn build(&self, ctx: &Ctx<'_>) -> Result<FileProvider, ConfigError> {
        if self.dir.as_os_str().is_empty() {
            return Err(ctx.missing("dir", None));
        }
        Ok(FileProvider {
            name: ctx.provider.to_string(),
            dir: self.dir.clone(),
            from: self.from.clone(),
        })
    }
}

#[derive(Debug)]
pub(crate) struct FileProvider {
    name: String,
    dir: PathBuf,
    from: Option<String>,
}

#[async_trait]
impl EmailProvider for FileProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "file"
    }

    fn default_from(&self) -> Option<&str> {
        self.from.as_deref()
    }

    /// The provider id is the `Message-ID` header. The file appears complete or not at
    /// all (written beside it, then renamed).
    async fn send(&self, email: &Email) -> Result<Sent, SendError> {
        let built = mime::build(email, Bcc::Keep)?;
        let path = self.dir.join(format!("{}.eml", email.message_id));
        let partial = self.dir.join(format!(".{}.eml.partial", email.message_id));
        let write = async {
            tokio::fs::create_dir_all(&self.dir).await?;
            tokio::fs::write(&partial, built.message.formatted()).await?;
            tokio::fs::rename(&partial, &path).await
        };
        write.await.map_err(|e| self.io_error(&e))?;
        tracing::info!(provider = %self.name, message_id = %email.message_id, path = %path.display(), "email written");
        Ok(Sent {
            provider_message_id: Some(built.message_id),
        })
    }
}

impl FileProvider {
    /// A directory the hub may not write to will not heal by retrying: the provider is
    /// unusable until it is reconfigured.
    fn io_error(&self, e: &io::Error) -> SendError {
        let text = format!("cannot write to {}: {e}", self.dir.display());
        match e.kind() {
            io::ErrorKind::PermissionDenied
            | io::ErrorKind::NotADirectory
            | io::ErrorKind::ReadOnlyFilesystem => SendError::Unauthorized(text),
            _ => SendError::Transient(text),
        }
    }
}
