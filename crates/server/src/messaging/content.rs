//! What a message's `content` holds in the store: the request as accepted, with any
//! template already rendered, and its form once bodies are dropped.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_core::message::{Category, Channel};
use switchyard_providers::email::{Attachment, Email};
use switchyard_providers::sms::Sms;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailContent {
    pub from: String,
    pub to: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bcc: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<StoredAttachment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAttachment {
    pub filename: String,
    pub content_type: String,
    pub size: usize,
    /// Base64; empty once bodies are dropped.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmsContent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub to: String,
    /// Empty once bodies are dropped.
    #[serde(default)]
    pub body: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A message ready for a provider.
#[derive(Debug)]
pub enum Payload {
    Email(Email),
    Sms(Sms),
}

/// Builds what providers are given from stored content.
pub fn payload(
    channel: Channel,
    message_id: &str,
    category: Category,
    content: &Value,
) -> Result<Payload, String> {
    let corrupt = |e: serde_json::Error| format!("the stored message cannot be read: {e}");
    match channel {
        Channel::Email => {
            let c: EmailContent = Deserialize::deserialize(content).map_err(corrupt)?;
            let attachments = c
                .attachments
                .into_iter()
                .map(|a| {
                    Ok(Attachment {
                        content: STANDARD
                            .decode(a.content.as_bytes())
                            .map_err(|e| format!("attachment {}: {e}", a.filename))?,
                        filename: a.filename,
                        content_type: a.content_type,
                    })
                })
                .collect::<Result<_, String>>()?;
            Ok(Payload::Email(Email {
                message_id: message_id.to_string(),
                from: c.from,
                to: c.to,
                cc: c.cc,
                bcc: c.bcc,
                reply_to: c.reply_to,
                subject: c.subject,
                text: c.text,
                html: c.html,
                attachments,
                category,
            }))
        }
        Channel::Sms => {
            let c: SmsContent = Deserialize::deserialize(content).map_err(corrupt)?;
            Ok(Payload::Sms(Sms {
                message_id: message_id.to_string(),
                from: c.from,
                to: c.to,
                body: c.body,
                media_urls: c.media_urls,
                status_callback: None,
            }))
        }
    }
}

/// The content without bodies: recipients, subject, attachment names and sizes stay.
pub fn without_bodies(channel: Channel, content: &Value) -> Option<Value> {
    match channel {
        Channel::Email => {
            let mut c: EmailContent = Deserialize::deserialize(content).ok()?;
            c.text = None;
            c.html = None;
            c.data = None;
            for a in &mut c.attachments {
                a.content.clear();
            }
            serde_json::to_value(c).ok()
        }
        Channel::Sms => {
            let mut c: SmsContent = Deserialize::deserialize(content).ok()?;
            c.body.clear();
            c.data = None;
            serde_json::to_value(c).ok()
        }
    }
}
