//! Telnyx Messaging v2: `POST {base_url}/v2/messages`, JSON, bearer API key.
//!
//! The provider id is `data.id`, which Telnyx's `message.sent` / `message.finalized`
//! webhooks name as `data.payload.id`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchyard_core::Secret;

use super::{Sms, SmsProvider, sender};
use crate::config::Ctx;
use crate::http::{Body, HttpApi};
use crate::{ConfigError, SendError, Sent};

/// `kind = "telnyx"`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TelnyxConfig {
    /// Name in logs and the message log; defaults to `telnyx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Lower is tried first.
    #[serde(default)]
    pub priority: i64,
    /// Seconds a request may take (default 15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// API key (v2); defaults to `TELNYX_API_KEY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub api_key: Option<Secret<String>>,
    /// Sender number for messages that do not name one; defaults to
    /// `TELNYX_PHONE_NUMBER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Sent with every message; lets Telnyx pick the sender from the profile's number
    /// pool when no `from` is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_profile_id: Option<String>,
    /// Defaults to `https://api.telnyx.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
}

impl TelnyxConfig {
    pub(crate) fn build(
        &self,
        http: &reqwest::Client,
        ctx: &Ctx<'_>,
    ) -> Result<Telnyx, ConfigError> {
        let api = ctx.bearer_api(
            http,
            (self.api_key.as_ref(), "TELNYX_API_KEY"),
            (self.base_url.as_deref(), "https://api.telnyx.com"),
            self.timeout_secs,
            error_detail,
        )?;
        Ok(Telnyx {
            name: ctx.provider.to_string(),
            from: ctx.or_env(self.from.as_deref(), "TELNYX_PHONE_NUMBER"),
            messaging_profile_id: self.messaging_profile_id.clone().filter(|s| !s.is_empty()),
            api,
        })
    }
}

#[derive(Debug)]
pub(crate) struct Telnyx {
    name: String,
    from: Option<String>,
    messaging_profile_id: Option<String>,
    api: HttpApi,
}

#[async_trait]
impl SmsProvider for Telnyx {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "telnyx"
    }

    async fn send(&self, sms: &Sms) -> Result<Sent, SendError> {
        let request = SendMessage {
            from: sender(
                sms,
                self.from.as_deref(),
                self.messaging_profile_id.is_some(),
            )?,
            to: &sms.to,
            text: &sms.body,
            media_urls: &sms.media_urls,
            webhook_url: sms.status_callback.as_deref(),
            messaging_profile_id: self.messaging_profile_id.as_deref(),
        };
        let reply = self
            .api
            .post("/v2/messages", Body::json(&request)?, &[])
            .await?;
        #[derive(Deserialize)]
        struct Created {
            data: Data,
        }
        #[derive(Deserialize)]
        struct Data {
            id: String,
        }
        Ok(Sent {
            provider_message_id: reply.json::<Created>(&self.name).map(|c| c.data.id),
        })
    }
}

#[derive(Serialize)]
struct SendMessage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'a str>,
    to: &'a str,
    text: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    media_urls: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    messaging_profile_id: Option<&'a str>,
}

/// `{"errors": [{"code": "40310", "title": …, "detail": …}]}` → `40310 title: detail; …`.
fn error_detail(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<Error>,
    }
    #[derive(Deserialize)]
    struct Error {
        code: Option<serde_json::Value>,
        title: Option<String>,
        detail: Option<String>,
    }
    let parsed: Errors = serde_json::from_slice(body).ok()?;
    let parts: Vec<String> = parsed
        .errors
        .into_iter()
        .filter_map(|e| {
            let text = match (e.title, e.detail) {
                (Some(t), Some(d)) => format!("{t}: {d}"),
                (Some(t), None) => t,
                (None, Some(d)) => d,
                (None, None) => return None,
            };
            Some(match e.code {
                Some(serde_json::Value::String(c)) => format!("{c} {text}"),
                Some(serde_json::Value::Number(c)) => format!("{c} {text}"),
                _ => text,
            })
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}
