//! The RFC 5322 message built from an [`Email`], shared by the SMTP and file providers.
//!
//! Layout: text only or HTML only is a single part; both are `multipart/alternative`
//! (text first); attachments wrap the body in `multipart/mixed`. The message carries
//! `Message-ID: <message_id@from-domain>` and `X-Switchyard-Message-Id: message_id`.

use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, MultiPart, SinglePart};

use super::{Email, check_message_id, mailbox};
use crate::SendError;

/// Header naming the hub's message id in every message sent over SMTP or written to disk.
pub(crate) const HUB_ID_HEADER: &str = "X-Switchyard-Message-Id";

/// Whether the `Bcc` header stays in the message. It is dropped for SMTP (the envelope
/// carries the recipients) and kept in files, which have no envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bcc {
    Drop,
    Keep,
}

/// A built message and its `Message-ID` header value (with angle brackets).
#[derive(Debug)]
pub(crate) struct Built {
    pub message: Message,
    pub message_id: String,
}

/// Builds the message; an address, content type or id that cannot be encoded rejects
/// it.
pub(crate) fn build(email: &Email, bcc: Bcc) -> Result<Built, SendError> {
    check_message_id(&email.message_id)?;
    let from = mailbox("from", &email.from)?;
    let message_id = format!("<{}@{}>", email.message_id, from.email.domain());

    let mut builder = Message::builder()
        .message_id(Some(message_id.clone()))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(HUB_ID_HEADER),
            email.message_id.clone(),
        ))
        .from(from)
        .subject(email.subject.as_str());
    for to in &email.to {
        builder = builder.to(mailbox("to", to)?);
    }
    for cc in &email.cc {
        builder = builder.cc(mailbox("cc", cc)?);
    }
    for bcc in &email.bcc {
        builder = builder.bcc(mailbox("bcc", bcc)?);
    }
    if let Some(reply_to) = &email.reply_to {
        builder = builder.reply_to(mailbox("reply_to", reply_to)?);
    }
    if bcc == Bcc::Keep {
        builder = builder.keep_bcc();
    }

    let body = match (&email.text, &email.html) {
        (Some(text), Some(html)) => Body::Multi(MultiPart::alternative_plain_html(
            text.clone(),
            html.clone(),
        )),
        (None, Some(html)) => Body::Single(SinglePart::html(html.clone())),
        (text, None) => Body::Single(SinglePart::plain(text.clone().unwrap_or_default())),
    };

    let message = if email.attachments.is_empty() {
        match body {
            Body::Single(part) => builder.singlepart(part),
            Body::Multi(part) => builder.multipart(part),
        }
    } else {
        let mut mixed = match body {
            Body::Single(part) => MultiPart::mixed().singlepart(part),
            Body::Multi(part) => MultiPart::mixed().multipart(part),
        };
        for a in &email.attachments {
            let content_type = ContentType::parse(&a.content_type).map_err(|e| {
                SendError::Rejected(format!(
                    "attachment {:?}: invalid content type {:?}: {e}",
                    a.filename, a.content_type
                ))
            })?;
            mixed = mixed.singlepart(
                Attachment::new(a.filename.clone()).body(a.content.clone(), content_type),
            );
        }
        builder.multipart(mixed)
    }
    .map_err(|e| SendError::Rejected(format!("the message cannot be built: {e}")))?;

    Ok(Built {
        message,
        message_id,
    })
}

enum Body {
    Single(SinglePart),
    Multi(MultiPart),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::Attachment as EmailAttachment;
    use switchyard_core::message::Category;

    fn email() -> Email {
        Email {
            message_id: "msg_01abc".into(),
            from: "Acme <no-reply@acme.test>".into(),
            to: vec!["ann@example.test".into()],
            cc: vec![],
            bcc: vec!["hidden@example.test".into()],
            reply_to: None,
            subject: "Hello".into(),
            text: Some("plain".into()),
            html: None,
            attachments: vec![],
            category: Category::Transactional,
        }
    }

    fn text(built: &Built) -> String {
        String::from_utf8(built.message.formatted()).expect("utf-8")
    }

    #[test]
    fn ids_come_from_the_hub_id_and_the_sender_domain() {
        let built = build(&email(), Bcc::Drop).expect("built");
        assert_eq!(built.message_id, "<msg_01abc@acme.test>");
        let out = text(&built);
        assert!(
            out.contains("Message-ID: <msg_01abc@acme.test>\r\n"),
            "{out}"
        );
        assert!(
            out.contains("X-Switchyard-Message-Id: msg_01abc\r\n"),
            "{out}"
        );
        assert!(out.contains("Content-Type: text/plain"), "{out}");
    }

    #[test]
    fn bcc_reaches_the_envelope_and_only_kept_messages_show_it() {
        let dropped = build(&email(), Bcc::Drop).expect("built");
        let recipients: Vec<String> = dropped
            .message
            .envelope()
            .to()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(recipients, ["ann@example.test", "hidden@example.test"]);
        assert!(!text(&dropped).contains("hidden@example.test"));
        let kept = build(&email(), Bcc::Keep).expect("built");
        assert!(text(&kept).contains("Bcc: hidden@example.test"));
    }

    #[test]
    fn layouts_follow_the_parts_present() {
        let mut e = email();
        e.text = None;
        e.html = Some("<p>hi</p>".into());
        assert!(text(&build(&e, Bcc::Drop).expect("built")).contains("Content-Type: text/html"));
        e.text = Some("hi".into());
        let both = text(&build(&e, Bcc::Drop).expect("built"));
        assert!(both.contains("multipart/alternative"), "{both}");
        assert!(!both.contains("multipart/mixed"), "{both}");
        e.attachments.push(EmailAttachment {
            filename: "a.txt".into(),
            content_type: "text/plain".into(),
            content: b"data".to_vec(),
        });
        let mixed = text(&build(&e, Bcc::Drop).expect("built"));
        assert!(mixed.contains("multipart/mixed"), "{mixed}");
        assert!(mixed.contains("multipart/alternative"), "{mixed}");
        assert!(mixed.contains("filename=\"a.txt\""), "{mixed}");
    }

    #[test]
    fn bad_input_rejects_the_message() {
        let mut e = email();
        e.to = vec!["not an address".into()];
        assert!(
            matches!(build(&e, Bcc::Drop), Err(SendError::Rejected(m)) if m.contains("to address"))
        );
        let mut e = email();
        e.message_id = "../../etc/passwd".into();
        assert!(matches!(build(&e, Bcc::Drop), Err(SendError::Rejected(_))));
        let mut e = email();
        e.attachments.push(EmailAttachment {
            filename: "a".into(),
            content_type: "no type".into(),
            content: vec![],
        });
        assert!(
            matches!(build(&e, Bcc::Drop), Err(SendError::Rejected(m)) if m.contains("content type"))
        );
    }
}
