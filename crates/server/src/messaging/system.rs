//! Mails the hub sends on its own behalf (the auth pools' verification, reset and
//! notice mails): a template — the one stored under its name through `/v1/templates`,
//! else the built-in default — rendered with the mail's data, then accepted and sent
//! like any `POST /v1/emails`, so it shows in the communications log and fails over.

use serde_json::Value;
use switchyard_core::message::{
    Category, Channel, EmailContent, Message, MessageContent, Status, check_email_address,
};
use switchyard_core::new_id;
use switchyard_core::time::now_ms;
use switchyard_store::Acceptance;

use super::{Messaging, template};
use crate::http::ApiError;

/// The metadata key that marks a mail whose bodies carry a secret (a single-use link):
/// they are dropped once the mail is sent or has failed, whatever `messages.keep_bodies`.
const DROP_BODIES: &str = "switchyard_drop_bodies";

/// Whether `message`'s bodies are dropped once it is done.
pub(super) fn drops_bodies(message: &Message) -> bool {
    message
        .metadata
        .as_ref()
        .and_then(|m| m.get(DROP_BODIES))
        .and_then(Value::as_bool)
        == Some(true)
}

/// A built-in template: used while none of its name is stored.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BuiltIn {
    pub(crate) name: &'static str,
    pub(crate) subject: &'static str,
    pub(crate) text: &'static str,
    pub(crate) html: &'static str,
}

/// One mail of the hub's own.
#[derive(Debug)]
pub(crate) struct SystemMail<'a> {
    pub(crate) template: &'a BuiltIn,
    /// Default: `email.from`, else the provider's.
    pub(crate) from: Option<String>,
    pub(crate) to: String,
    pub(crate) data: Value,
    /// Kept with the message (never the mail's secrets).
    pub(crate) metadata: Value,
    /// The bodies carry a secret: drop them once the mail is done.
    pub(crate) secret: bool,
}

impl Messaging {
    /// Stores each built-in template not stored yet, so that it shows in
    /// `/v1/templates` and can be changed there. A deleted one falls back to the
    /// built-in until the next start stores it again.
    pub(crate) async fn seed_templates(
        &self,
        built_in: &[BuiltIn],
    ) -> Result<(), switchyard_store::StoreError> {
        for b in built_in {
            if self.inner.store.get_template(b.name).await?.is_none() {
                let now = now_ms();
                let template = switchyard_core::message::Template {
                    name: b.name.to_string(),
                    subject: Some(b.subject.to_string()),
                    html: Some(b.html.to_string()),
                    text: Some(b.text.to_string()),
                    created_at: now,
                    updated_at: now,
                };
                self.inner.store.put_template(&template).await?;
            }
        }
        Ok(())
    }

    /// Renders and queues `mail`; the message id.
    pub(crate) async fn send_system(&self, mail: SystemMail<'_>) -> Result<String, ApiError> {
        let stored = self.inner.store.get_template(mail.template.name).await?;
        let (subject, html, text) = match &stored {
            Some(t) => (t.subject.clone(), t.html.clone(), t.text.clone()),
            None => (
                Some(mail.template.subject.to_string()),
                Some(mail.template.html.to_string()),
                Some(mail.template.text.to_string()),
            ),
        };
        let render = |part: &'static str, source: Option<String>| {
            source
                .map(|s| template::render(part, &s, &mail.data))
                .transpose()
                .map_err(|e| {
                    ApiError::unavailable(format!(
                        "the template {:?} does not render: {e}",
                        mail.template.name
                    ))
                })
        };
        let subject = render("subject", subject)?
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| mail.template.subject.to_string());
        let html = render("html", html)?;
        let text = render("text", text)?;
        let from = match mail.from {
            Some(f) => f,
            None => self.default_email_from().await.ok_or_else(|| {
                ApiError::unavailable("no sender is configured for the hub's mails (email.from, the pool's from, or a provider's from)")
            })?,
        };
        let mut metadata = mail.metadata;
        if mail.secret
            && let Value::Object(m) = &mut metadata
        {
            m.insert(DROP_BODIES.into(), Value::Bool(true));
        }
        check_email_address(&from)
            .map_err(|e| ApiError::unavailable(format!("the sender {from:?}: {e}")))?;
        let now = now_ms();
        let message = Message {
            id: new_id("msg"),
            channel: Channel::Email,
            category: Category::Transactional,
            account: None,
            status: Status::Queued,
            provider: None,
            provider_message_id: None,
            recipients: vec![mail.to.clone()],
            subject: Some(subject.clone()),
            content: MessageContent::Email(EmailContent {
                from,
                to: vec![mail.to],
                cc: Vec::new(),
                bcc: Vec::new(),
                reply_to: None,
                subject,
                text,
                html,
                attachments: Vec::new(),
                template: Some(mail.template.name.to_string()),
                data: None,
            }),
            metadata: Some(metadata),
            idempotency_key: None,
            request_digest: None,
            credits: 0,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
            updated_at: now,
        };
        match self.accept(message, None).await? {
            Acceptance::Accepted(m) | Acceptance::Existing(m) => Ok(m.id),
            Acceptance::Insufficient { .. } => {
                Err(ApiError::internal("a mail without an account was charged"))
            }
        }
    }
}
