//! Resend: `POST {base_url}/emails` with a bearer API key.
//!
//! The hub id is the `Idempotency-Key` (a retried send within Resend's 24 hours is not
//! sent twice), a `switchyard_message_id` tag and an `X-Switchyard-Message-Id` header;
//! the category is a `category` tag. The provider id is the `id` of the answer.

use std::collections::BTreeMap;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use switchyard_core::Secret;

use super::mime::HUB_ID_HEADER;
use super::{Email, EmailProvider, check_message_id};
use crate::config::Ctx;
use crate::http::{Body, HttpApi};
use crate::{ConfigError, SendError, Sent};

/// `kind = "resend"`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendConfig {
    /// Name in logs and the message log; defaults to `resend`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Lower is tried first.
    #[serde(default)]
    pub priority: i64,
    /// Seconds a request may take (default 15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// API key; defaults to `RESEND_API_KEY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub api_key: Option<Secret<String>>,
    /// Defaults to `https://api.resend.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Sender for messages that do not name one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

impl ResendConfig {
    pub(crate) fn build(
        &self,
        http: &reqwest::Client,
        ctx: &Ctx<'_>,
    ) -> Result<Resend, ConfigError> {
        let api = ctx.bearer_api(
            http,
            (self.api_key.as_ref(), "RESEND_API_KEY"),
            (self.base_url.as_deref(), "https://api.resend.com"),
            self.timeout_secs,
            error_detail,
        )?;
        Ok(Resend {
            name: ctx.provider.to_string(),
            from: self.from.clone(),
            api,
        })
    }
}

#[derive(Debug)]
pub(crate) struct Resend {
    name: String,
    from: Option<String>,
    api: HttpApi,
}

#[async_trait]
impl EmailProvider for Resend {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "resend"
    }

    fn default_from(&self) -> Option<&str> {
        self.from.as_deref()
    }

    async fn send(&self, email: &Email) -> Result<Sent, SendError> {
        check_message_id(&email.message_id)?;
        let body = Body::json(&request(email))?;
        let reply = self
            .api
            .post("/emails", body, &[("Idempotency-Key", &email.message_id)])
            .await?;
        #[derive(Deserialize)]
        struct Created {
            id: String,
        }
        Ok(Sent {
            provider_message_id: reply.json::<Created>(&self.name).map(|c| c.id),
        })
    }
}

fn request(email: &Email) -> SendEmail<'_> {
    SendEmail {
        from: &email.from,
        to: &email.to,
        cc: &email.cc,
        bcc: &email.bcc,
        reply_to: email.reply_to.as_deref(),
        subject: &email.subject,
        html: email.html.as_deref(),
        text: email.text.as_deref(),
        attachments: email
            .attachments
            .iter()
            .map(|a| WireAttachment {
                filename: &a.filename,
                content: BASE64.encode(&a.content),
                content_type: &a.content_type,
            })
            .collect(),
        headers: BTreeMap::from([(HUB_ID_HEADER, email.message_id.as_str())]),
        tags: [
            Tag {
                name: "category",
                value: email.category.as_str(),
            },
            Tag {
                name: "switchyard_message_id",
                value: &email.message_id,
            },
        ],
    }
}

#[derive(Serialize)]
struct SendEmail<'a> {
    from: &'a str,
    to: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    cc: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    bcc: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_to: Option<&'a str>,
    subject: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    html: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<WireAttachment<'a>>,
    headers: BTreeMap<&'static str, &'a str>,
    tags: [Tag<'a>; 2],
}

#[derive(Serialize)]
struct WireAttachment<'a> {
    filename: &'a str,
    content: String,
    /// Resend derives it from the file name when absent; the request's own is kept.
    content_type: &'a str,
}

#[derive(Serialize)]
struct Tag<'a> {
    name: &'static str,
    value: &'a str,
}

/// `{"statusCode": 422, "name": "validation_error", "message": …}` → `name: message`.
fn error_detail(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Error {
        message: Option<String>,
        name: Option<String>,
    }
    let e: Error = serde_json::from_slice(body).ok()?;
    match (e.name, e.message) {
        (Some(name), Some(message)) => Some(format!("{name}: {message}")),
        (None, Some(message)) => Some(message),
        (Some(name), None) => Some(name),
        (None, None) => None,
    }
}
