//! SendGrid v3 Mail Send: `POST {base_url}/v3/mail/send` with a bearer API key.
//!
//! The provider id is the `X-Message-Id` header of the 202 answer (the prefix of the
//! `sg_message_id` in SendGrid's event webhooks). The hub id travels in
//! `custom_args.switchyard_message_id` and the category in `categories`.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use switchyard_core::Secret;

use super::{Email, EmailProvider, mailbox};
use crate::config::Ctx;
use crate::http::{Body, HttpApi};
use crate::{ConfigError, SendError, Sent};

/// `kind = "sendgrid"`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendgridConfig {
    /// Name in logs and the message log; defaults to `sendgrid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Lower is tried first.
    #[serde(default)]
    pub priority: i64,
    /// Seconds a request may take (default 15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// API key with Mail Send permission; defaults to `SENDGRID_API_KEY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Password, write_only)]
    pub api_key: Option<Secret<String>>,
    /// Defaults to `https://api.sendgrid.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Ask SendGrid to track opens (default true).
    #[serde(default = "enabled")]
    pub track_opens: bool,
    /// Ask SendGrid to rewrite links to track clicks, in HTML and text (default true).
    #[serde(default = "enabled")]
    pub track_clicks: bool,
    /// Sender for messages that do not name one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

fn enabled() -> bool {
    true
}

impl Default for SendgridConfig {
    fn default() -> Self {
        Self {
            name: None,
            priority: 0,
            timeout_secs: None,
            api_key: None,
            base_url: None,
            track_opens: true,
            track_clicks: true,
            from: None,
        }
    }
}

impl SendgridConfig {
    pub(crate) fn build(
        &self,
        http: &reqwest::Client,
        ctx: &Ctx<'_>,
    ) -> Result<Sendgrid, ConfigError> {
        let api = ctx.bearer_api(
            http,
            (self.api_key.as_ref(), "SENDGRID_API_KEY"),
            (self.base_url.as_deref(), "https://api.sendgrid.com"),
            self.timeout_secs,
            error_detail,
        )?;
        Ok(Sendgrid {
            name: ctx.provider.to_string(),
            from: self.from.clone(),
            track_opens: self.track_opens,
            track_clicks: self.track_clicks,
            api,
        })
    }
}

#[derive(Debug)]
pub(crate) struct Sendgrid {
    name: String,
    from: Option<String>,
    track_opens: bool,
    track_clicks: bool,
    api: HttpApi,
}

#[async_trait]
impl EmailProvider for Sendgrid {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "sendgrid"
    }

    fn default_from(&self) -> Option<&str> {
        self.from.as_deref()
    }

    async fn send(&self, email: &Email) -> Result<Sent, SendError> {
        let body = Body::json(&self.request(email)?)?;
        let reply = self.api.post("/v3/mail/send", body, &[]).await?;
        Ok(Sent {
            provider_message_id: reply.header("x-message-id"),
        })
    }
}

impl Sendgrid {
    fn request<'a>(&self, email: &'a Email) -> Result<MailSend<'a>, SendError> {
        // SendGrid refuses an address that appears twice across to, cc and bcc; the
        // first occurrence is kept.
        let mut seen = Vec::new();
        let mut list = |field: &str, addresses: &[String]| -> Result<Vec<Address>, SendError> {
            let mut out = Vec::new();
            for a in addresses {
                let address = Address::parse(field, a)?;
                let key = address.email.to_ascii_lowercase();
                if !seen.contains(&key) {
                    seen.push(key);
                    out.push(address);
                }
            }
            Ok(out)
        };
        let personalization = Personalization {
            to: list("to", &email.to)?,
            cc: list("cc", &email.cc)?,
            bcc: list("bcc", &email.bcc)?,
        };
        let mut content = Vec::new();
        if let Some(text) = &email.text {
            content.push(Content {
                kind: "text/plain",
                value: text,
            });
        }
        if let Some(html) = &email.html {
            content.push(Content {
                kind: "text/html",
                value: html,
            });
        }
        Ok(MailSend {
            personalizations: [personalization],
            from: Address::parse("from", &email.from)?,
            reply_to: email
                .reply_to
                .as_deref()
                .map(|r| Address::parse("reply_to", r))
                .transpose()?,
            subject: &email.subject,
            content,
            attachments: email
                .attachments
                .iter()
                .map(|a| WireAttachment {
                    content: BASE64.encode(&a.content),
                    filename: &a.filename,
                    kind: &a.content_type,
                    disposition: "attachment",
                })
                .collect(),
            categories: [email.category.as_str()],
            custom_args: CustomArgs {
                switchyard_message_id: &email.message_id,
            },
            tracking_settings: TrackingSettings {
                open_tracking: Enable {
                    enable: self.track_opens,
                },
                click_tracking: ClickTracking {
                    enable: self.track_clicks,
                    enable_text: self.track_clicks,
                },
            },
        })
    }
}

#[derive(Serialize)]
struct MailSend<'a> {
    personalizations: [Personalization; 1],
    from: Address,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_to: Option<Address>,
    subject: &'a str,
    content: Vec<Content<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<WireAttachment<'a>>,
    categories: [&'static str; 1],
    custom_args: CustomArgs<'a>,
    tracking_settings: TrackingSettings,
}

#[derive(Serialize)]
struct Personalization {
    to: Vec<Address>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cc: Vec<Address>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    bcc: Vec<Address>,
}

#[derive(Serialize)]
struct Address {
    email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

impl Address {
    fn parse(field: &str, address: &str) -> Result<Address, SendError> {
        let mb = mailbox(field, address)?;
        Ok(Address {
            email: mb.email.to_string(),
            name: mb.name,
        })
    }
}

#[derive(Serialize)]
struct Content<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    value: &'a str,
}

#[derive(Serialize)]
struct WireAttachment<'a> {
    content: String,
    filename: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    disposition: &'static str,
}

#[derive(Serialize)]
struct CustomArgs<'a> {
    switchyard_message_id: &'a str,
}

#[derive(Serialize)]
struct TrackingSettings {
    open_tracking: Enable,
    click_tracking: ClickTracking,
}

#[derive(Serialize)]
struct Enable {
    enable: bool,
}

#[derive(Serialize)]
struct ClickTracking {
    enable: bool,
    enable_text: bool,
}

/// `{"errors": [{"message": …, "field": …}]}` → `field: message; …`.
fn error_detail(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<Error>,
    }
    #[derive(Deserialize)]
    struct Error {
        message: Option<String>,
        field: Option<String>,
    }
    let parsed: Errors = serde_json::from_slice(body).ok()?;
    let parts: Vec<String> = parsed
        .errors
        .into_iter()
        .filter_map(|e| match (e.field, e.message) {
            (Some(field), Some(message)) => Some(format!("{field}: {message}")),
            (None, Some(message)) => Some(message),
            (Some(field), None) => Some(field),
            (None, None) => None,
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}
