//! What providers are given for a stored message.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use switchyard_core::message::{Category, MessageContent};
use switchyard_providers::email::{Attachment, Email};
use switchyard_providers::sms::Sms;

/// A message ready for a provider.
#[derive(Debug)]
pub(super) enum Payload {
    Email(Email),
    Sms(Sms),
}

/// Builds what providers are given from stored content; an attachment that cannot be
/// decoded fails the message with the reason.
pub(super) fn payload(
    message_id: &str,
    category: Category,
    content: &MessageContent,
) -> Result<Payload, String> {
    match content {
        MessageContent::Email(c) => {
            let attachments = c
                .attachments
                .iter()
                .map(|a| {
                    Ok(Attachment {
                        content: STANDARD
                            .decode(a.content.as_bytes())
                            .map_err(|e| format!("attachment {}: {e}", a.filename))?,
                        filename: a.filename.clone(),
                        content_type: a.content_type.clone(),
                    })
                })
                .collect::<Result<_, String>>()?;
            Ok(Payload::Email(Email {
                message_id: message_id.to_string(),
                from: c.from.clone(),
                to: c.to.clone(),
                cc: c.cc.clone(),
                bcc: c.bcc.clone(),
                reply_to: c.reply_to.clone(),
                subject: c.subject.clone(),
                text: c.text.clone(),
                html: c.html.clone(),
                attachments,
                category,
            }))
        }
        MessageContent::Sms(c) => Ok(Payload::Sms(Sms {
            message_id: message_id.to_string(),
            from: c.from.clone(),
            to: c.to.clone(),
            body: c.body.clone(),
            media_urls: c.media_urls.clone(),
            status_callback: None,
        })),
    }
}
