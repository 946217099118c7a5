//! What a message's `content` holds: the request as accepted, with any template
//! already rendered, and its form once bodies are dropped.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Channel;

/// A message's content, by channel. Stored (and shown) as the channel's object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MessageContent {
    Email(EmailContent),
    Sms(SmsContent),
}

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

impl MessageContent {
    /// Content as stored, read as `channel`'s.
    pub fn from_json(channel: Channel, text: &str) -> Result<Self, serde_json::Error> {
        Ok(match channel {
            Channel::Email => MessageContent::Email(serde_json::from_str(text)?),
            Channel::Sms => MessageContent::Sms(serde_json::from_str(text)?),
        })
    }

    /// The content as stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("content serializes")
    }

    pub fn channel(&self) -> Channel {
        match self {
            MessageContent::Email(_) => Channel::Email,
            MessageContent::Sms(_) => Channel::Sms,
        }
    }

    /// The content without bodies: recipients, subject, attachment names and sizes stay.
    pub fn without_bodies(&self) -> MessageContent {
        match self {
            MessageContent::Email(c) => {
                let mut c = c.clone();
                c.text = None;
                c.html = None;
                c.data = None;
                for a in &mut c.attachments {
                    a.content.clear();
                }
                MessageContent::Email(c)
            }
            MessageContent::Sms(c) => {
                let mut c = c.clone();
                c.body.clear();
                c.data = None;
                MessageContent::Sms(c)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_round_trips_by_channel_and_drops_bodies() {
        let email = MessageContent::Email(EmailContent {
            from: "a@example.com".into(),
            to: vec!["b@example.com".into()],
            cc: vec![],
            bcc: vec![],
            reply_to: None,
            subject: "Hi".into(),
            text: Some("secret body".into()),
            html: None,
            attachments: vec![StoredAttachment {
                filename: "a.txt".into(),
                content_type: "text/plain".into(),
                size: 3,
                content: "YWJj".into(),
            }],
            template: None,
            data: None,
        });
        let back = MessageContent::from_json(Channel::Email, &email.to_json()).unwrap();
        assert_eq!(back, email);
        let kept = email.without_bodies().to_json();
        assert!(
            !kept.contains("secret body") && !kept.contains("YWJj"),
            "{kept}"
        );
        assert!(kept.contains("a.txt") && kept.contains("Hi"), "{kept}");
        assert!(MessageContent::from_json(Channel::Sms, &email.to_json()).is_err());
    }
}
