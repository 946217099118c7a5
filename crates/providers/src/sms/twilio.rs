//! Twilio Programmable Messaging: `POST {base_url}/2010-04-01/Accounts/{sid}/Messages.json`,
//! form-encoded, HTTP Basic with the account SID and auth token.
//!
//! The provider id is the message `sid` (`SM…`), which Twilio's status callbacks name
//! as `MessageSid`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchyard_core::Secret;

use super::{Sms, SmsProvider, sender};
use crate::config::Ctx;
use crate::http::{Auth, Body, HttpApi};
use crate::{ConfigError, SendError, Sent};

/// `kind = "twilio"`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    /// Name in logs and the message log; defaults to `twilio`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Lower is tried first.
    #[serde(default)]
    pub priority: i64,
    /// Seconds a request may take (default 15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// `AC…`; defaults to `TWILIO_ACCOUNT_SID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_sid: Option<String>,
    /// Defaults to `TWILIO_AUTH_TOKEN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub auth_token: Option<Secret<String>>,
    /// Sender number for messages that do not name one; defaults to
    /// `TWILIO_PHONE_NUMBER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `MG…`: lets Twilio pick the sender from a messaging service when no `from` is
    /// known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_service_sid: Option<String>,
    /// Defaults to `https://api.twilio.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
}

impl TwilioConfig {
    pub(crate) fn build(
        &self,
        http: &reqwest::Client,
        ctx: &Ctx<'_>,
    ) -> Result<Twilio, ConfigError> {
        let account_sid = ctx.required(
            self.account_sid.as_deref(),
            "account_sid",
            "TWILIO_ACCOUNT_SID",
        )?;
        if !account_sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ctx.invalid("account_sid", "must be letters and digits (AC…)"));
        }
        let auth_token =
            ctx.required_secret(self.auth_token.as_ref(), "auth_token", "TWILIO_AUTH_TOKEN")?;
        let api = HttpApi::new(
            http,
            ctx.provider,
            ctx.base_url(self.base_url.as_deref(), "https://api.twilio.com")?,
            Auth::Basic {
                user: account_sid.clone(),
                password: auth_token,
            },
            ctx.timeout(self.timeout_secs)?,
            error_detail,
        );
        Ok(Twilio {
            name: ctx.provider.to_string(),
            path: format!("/2010-04-01/Accounts/{account_sid}/Messages.json"),
            from: ctx.or_env(self.from.as_deref(), "TWILIO_PHONE_NUMBER"),
            messaging_service_sid: self.messaging_service_sid.clone().filter(|s| !s.is_empty()),
            api,
        })
    }
}

#[derive(Debug)]
pub(crate) struct Twilio {
    name: String,
    path: String,
    from: Option<String>,
    messaging_service_sid: Option<String>,
    api: HttpApi,
}

#[async_trait]
impl SmsProvider for Twilio {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "twilio"
    }

    async fn send(&self, sms: &Sms) -> Result<Sent, SendError> {
        let from = sender(
            sms,
            self.from.as_deref(),
            self.messaging_service_sid.is_some(),
        )?;
        let mut form = vec![("To", sms.to.clone())];
        if let Some(from) = from {
            form.push(("From", from.to_string()));
        }
        if let Some(service) = &self.messaging_service_sid {
            form.push(("MessagingServiceSid", service.clone()));
        }
        form.push(("Body", sms.body.clone()));
        for url in &sms.media_urls {
            form.push(("MediaUrl", url.clone()));
        }
        if let Some(callback) = &sms.status_callback {
            form.push(("StatusCallback", callback.clone()));
        }
        let reply = self.api.post(&self.path, Body::form(form), &[]).await?;
        #[derive(Deserialize)]
        struct Created {
            sid: String,
        }
        Ok(Sent {
            provider_message_id: reply.json::<Created>(&self.name).map(|c| c.sid),
        })
    }
}

/// `{"code": 21211, "message": …, "more_info": …, "status": 400}` → `21211: message`.
fn error_detail(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Error {
        code: Option<serde_json::Value>,
        message: Option<String>,
    }
    let e: Error = serde_json::from_slice(body).ok()?;
    let message = e.message?;
    Some(match e.code {
        Some(serde_json::Value::Number(code)) => format!("{code}: {message}"),
        Some(serde_json::Value::String(code)) => format!("{code}: {message}"),
        _ => message,
    })
}
