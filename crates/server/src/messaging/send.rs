//! `POST /v1/emails` and `POST /v1/sms`: validate, render the template, reserve credits
//! and store the queued message in one transaction, answer 202.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use switchyard_core::apikey::Scope;
use switchyard_core::credit::valid_account;
use switchyard_core::message::{
    Category, Channel, EmailContent, Message, MessageContent, SmsContent, Status, StoredAttachment,
    check_e164, check_email_address,
};
use switchyard_core::new_id;
use switchyard_core::time::now_ms;
use switchyard_store::{Acceptance, Charge};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Messaging, template};
use crate::http::{
    ApiError, ApiJson, ApiResult, Need, Principal, Problems, idempotency, limits, require,
};

pub(super) fn router(email_limit: usize) -> OpenApiRouter<Messaging> {
    OpenApiRouter::new()
        .routes(limits::cap_routes(
            require(Need::Write(Scope::Messages), routes!(email)),
            email_limit,
        ))
        .routes(require(Need::Write(Scope::Messages), routes!(sms)))
}

/// Most recipients (`to`, `cc` and `bcc` together) of one email.
const MAX_RECIPIENTS: usize = 50;
const MAX_SUBJECT: usize = 998;
const MAX_SMS_BODY: usize = 1600;
const MAX_MEDIA: usize = 10;
const MAX_METADATA: usize = 4096;

/// One address or a list of them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum Addresses {
    /// `a@example.com` or `Name <a@example.com>`.
    One(String),
    Many(Vec<String>),
}

impl Addresses {
    fn into_vec(self) -> Vec<String> {
        match self {
            Addresses::One(a) => vec![a],
            Addresses::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AttachmentIn {
    pub(crate) filename: String,
    /// Base64 of the file.
    pub(crate) content: String,
    /// Default `application/octet-stream`.
    pub(crate) content_type: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmailRequest {
    /// `a@example.com` or `Name <a@example.com>`; default `email.from` or the provider's.
    pub(crate) from: Option<String>,
    pub(crate) to: Addresses,
    pub(crate) cc: Option<Addresses>,
    pub(crate) bcc: Option<Addresses>,
    pub(crate) reply_to: Option<String>,
    /// Required unless the template has one.
    pub(crate) subject: Option<String>,
    pub(crate) text: Option<String>,
    pub(crate) html: Option<String>,
    /// A template name (`/v1/templates`); its parts fill what the request leaves out.
    pub(crate) template: Option<String>,
    /// Variables for the template.
    pub(crate) data: Option<Value>,
    pub(crate) attachments: Option<Vec<AttachmentIn>>,
    /// Default `transactional`.
    #[schema(value_type = Option<Category>)]
    pub(crate) category: Option<String>,
    /// The account charged one email credit per recipient.
    pub(crate) account: Option<String>,
    /// Kept with the message and included in its events (a JSON object, at most 4 KiB).
    pub(crate) metadata: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SmsRequest {
    /// E.164, e.g. `+14155550123`.
    pub(crate) to: String,
    /// E.164 or an alphanumeric sender id; default `sms.from` or the provider's.
    pub(crate) from: Option<String>,
    /// Required unless a template gives it (its `text` part).
    pub(crate) body: Option<String>,
    /// MMS media (http or https URLs).
    pub(crate) media_urls: Option<Vec<String>>,
    pub(crate) template: Option<String>,
    pub(crate) data: Option<Value>,
    /// Default `transactional`.
    #[schema(value_type = Option<Category>)]
    pub(crate) category: Option<String>,
    /// The account charged one SMS credit.
    pub(crate) account: Option<String>,
    pub(crate) metadata: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Queued {
    pub(crate) id: String,
    /// `queued` for a new message; the current status for a repeated idempotency key.
    pub(crate) status: Status,
}

/// What both channels share: category, account, metadata and the template's parts.
struct Common {
    category: Category,
    account: Option<String>,
    metadata: Option<Value>,
}

fn common(
    p: &mut Problems,
    category: Option<&str>,
    account: Option<String>,
    metadata: Option<Value>,
) -> Common {
    let category = match category {
        None => Category::default(),
        Some(c) => Category::parse(c).unwrap_or_else(|| {
            p.add("category", format!("expected one of {}", Category::names()));
            Category::default()
        }),
    };
    if let Some(a) = &account
        && !valid_account(a)
    {
        p.add(
            "account",
            "an account is 1 to 100 letters, digits or _ - . : @",
        );
    }
    match &metadata {
        None | Some(Value::Object(_)) => {}
        Some(_) => p.add("metadata", "expected a JSON object"),
    }
    if metadata
        .as_ref()
        .is_some_and(|m| m.to_string().len() > MAX_METADATA)
    {
        p.add("metadata", "at most 4 KiB of JSON");
    }
    Common {
        category,
        account,
        metadata,
    }
}

/// A template's parts rendered with `data`; `None` parts are absent from the template.
async fn render(
    messaging: &Messaging,
    p: &mut Problems,
    name: Option<&str>,
    data: Option<&Value>,
) -> Result<[Option<String>; 3], ApiError> {
    let Some(name) = name else {
        if data.is_some() {
            p.add("data", "is only used with a template");
        }
        return Ok([None, None, None]);
    };
    let Some(t) = messaging.inner.store.get_template(name).await? else {
        p.add("template", format!("no template is named {name:?}"));
        return Ok([None, None, None]);
    };
    let empty = Value::Object(Default::default());
    let data = data.unwrap_or(&empty);
    if !data.is_object() {
        p.add("data", "expected a JSON object");
        return Ok([None, None, None]);
    }
    let mut out = [None, None, None];
    for (i, (part, source)) in template::PARTS
        .into_iter()
        .zip([&t.subject, &t.html, &t.text])
        .enumerate()
    {
        if let Some(source) = source {
            match template::render(part, source, data) {
                Ok(s) => out[i] = Some(s),
                Err(e) => p.add("data", e),
            }
        }
    }
    Ok(out)
}

fn check_addresses(p: &mut Problems, field: &str, list: &[String]) {
    for (i, a) in list.iter().enumerate() {
        if let Err(e) = check_email_address(a) {
            p.add(format!("{field}[{i}]"), e);
        }
    }
}

/// The request's idempotency key, scoped to the caller and the channel.
fn idempotency_key(
    principal: &Principal,
    headers: &HeaderMap,
    channel: Channel,
) -> Result<Option<String>, ApiError> {
    let key = idempotency::key(headers)?;
    Ok(key.map(|k| idempotency::scoped_key(principal, channel.as_str(), k)))
}

/// How a request is told apart: its idempotency key (per channel), and the digest of
/// its body, which tells a repeat from a different request reusing the key.
struct Identity {
    key: Option<String>,
    digest: String,
}

/// What both send routes start with: the scope check, the request's [`Identity`] and
/// the request itself.
fn request<T: serde::de::DeserializeOwned>(
    principal: &Principal,
    headers: &HeaderMap,
    body: Value,
    channel: Channel,
) -> Result<(T, Identity), ApiError> {
    let key = idempotency_key(principal, headers, channel)?;
    let digest = hex::encode(Sha256::digest(body.to_string().as_bytes()));
    let request = crate::http::extract::from_value(body)?;
    Ok((request, Identity { key, digest }))
}

/// Send an email. Answers 202 once the message is stored; it is sent in the
/// background and its progress shows in `GET /v1/messages/{id}`.
#[utoipa::path(post, path = "/v1/emails", tag = "messages", operation_id = "messages.send_email", request_body = EmailRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A repeated key answers the original message; a different body with it is 409.")),
    responses((status = 202, body = Queued),
        (status = 402, description = "The account has too few email credits (`insufficient_credits`)", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The `Idempotency-Key` was used with a different body (`idempotency_key_reused`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn email(
    State(messaging): State<Messaging>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let (req, identity) = request::<EmailRequest>(&principal, &headers, body, Channel::Email)?;
    let mut p = Problems::default();
    let common = common(&mut p, req.category.as_deref(), req.account, req.metadata);
    let to = req.to.into_vec();
    let cc = req.cc.map(Addresses::into_vec).unwrap_or_default();
    let bcc = req.bcc.map(Addresses::into_vec).unwrap_or_default();
    if to.is_empty() {
        p.add("to", "at least one recipient is required");
    }
    if to.len() + cc.len() + bcc.len() > MAX_RECIPIENTS {
        p.add(
            "to",
            format!("at most {MAX_RECIPIENTS} recipients in to, cc and bcc together"),
        );
    }
    check_addresses(&mut p, "to", &to);
    check_addresses(&mut p, "cc", &cc);
    check_addresses(&mut p, "bcc", &bcc);
    let from = match req.from {
        Some(f) => Some(f),
        None => messaging.default_email_from().await,
    };
    match &from {
        None => p.add(
            "from",
            "is required: no default sender is configured (email.from or the provider's from)",
        ),
        Some(f) => {
            if let Err(e) = check_email_address(f) {
                p.add("from", e);
            }
        }
    }
    if let Some(r) = &req.reply_to
        && let Err(e) = check_email_address(r)
    {
        p.add("reply_to", e);
    }
    let [t_subject, t_html, t_text] = render(
        &messaging,
        &mut p,
        req.template.as_deref(),
        req.data.as_ref(),
    )
    .await?;
    let subject = req.subject.or(t_subject);
    let html = req.html.or(t_html);
    let text = req.text.or(t_text);
    match &subject {
        None => p.add("subject", "is required (or a template with a subject)"),
        Some(s) if s.trim().is_empty() => p.add("subject", "must not be empty"),
        Some(s) if s.chars().count() > MAX_SUBJECT => {
            p.add("subject", format!("at most {MAX_SUBJECT} characters"))
        }
        Some(s) if s.contains(['\r', '\n']) => p.add("subject", "must not contain line breaks"),
        Some(_) => {}
    }
    if text.as_deref().is_none_or(str::is_empty) && html.as_deref().is_none_or(str::is_empty) {
        p.add(
            "text",
            "a body is required: text, html, or a template with one",
        );
    }
    let mut attachments = Vec::new();
    for (i, a) in req.attachments.unwrap_or_default().into_iter().enumerate() {
        let field = format!("attachments[{i}]");
        if a.filename.is_empty()
            || a.filename.len() > 255
            || a.filename.contains(['/', '\\', '\r', '\n', '"'])
        {
            p.add(
                format!("{field}.filename"),
                "expected a file name without / \\ \" or line breaks, at most 255 bytes",
            );
        }
        let size = match STANDARD.decode(a.content.as_bytes()) {
            Ok(bytes) => bytes.len(),
            Err(e) => {
                p.add(format!("{field}.content"), format!("expected base64: {e}"));
                0
            }
        };
        let content_type = a
            .content_type
            .unwrap_or_else(|| "application/octet-stream".into());
        if content_type.parse::<HeaderValue>().is_err() || !content_type.contains('/') {
            p.add(
                format!("{field}.content_type"),
                "expected a media type such as application/pdf",
            );
        }
        attachments.push(StoredAttachment {
            filename: a.filename,
            content_type,
            size,
            content: a.content,
        });
    }
    p.finish()?;
    let (Some(from), Some(subject)) = (from, subject) else {
        return Err(ApiError::internal("validated fields missing"));
    };
    let recipients: Vec<String> = to.iter().chain(&cc).chain(&bcc).cloned().collect();
    let content = EmailContent {
        from,
        to,
        cc,
        bcc,
        reply_to: req.reply_to,
        subject: subject.clone(),
        text,
        html,
        attachments,
        template: req.template,
        data: req.data,
    };
    accept(
        &messaging,
        Channel::Email,
        common,
        recipients,
        Some(subject),
        MessageContent::Email(content),
        identity,
    )
    .await
}

/// Send an SMS (or MMS with `media_urls`). Answers 202 once the message is stored.
#[utoipa::path(post, path = "/v1/sms", tag = "messages", operation_id = "messages.send_sms", request_body = SmsRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A repeated key answers the original message; a different body with it is 409.")),
    responses((status = 202, body = Queued),
        (status = 402, description = "The account has too few SMS credits (`insufficient_credits`)", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The `Idempotency-Key` was used with a different body (`idempotency_key_reused`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn sms(
    State(messaging): State<Messaging>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let (req, identity) = request::<SmsRequest>(&principal, &headers, body, Channel::Sms)?;
    let mut p = Problems::default();
    let common = common(&mut p, req.category.as_deref(), req.account, req.metadata);
    if let Err(e) = check_e164(&req.to) {
        p.add("to", e);
    }
    if let Some(from) = &req.from {
        let alphanumeric = (1..=11).contains(&from.len())
            && from.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ')
            && from.chars().any(|c| c.is_ascii_alphabetic());
        if !alphanumeric && check_e164(from).is_err() {
            p.add(
                "from",
                "expected an E.164 number or an alphanumeric sender id of at most 11 characters",
            );
        }
    }
    let [_, _, t_text] = render(
        &messaging,
        &mut p,
        req.template.as_deref(),
        req.data.as_ref(),
    )
    .await?;
    let body = req.body.or(t_text).unwrap_or_default();
    let media_urls = req.media_urls.unwrap_or_default();
    if body.trim().is_empty() && media_urls.is_empty() {
        p.add(
            "body",
            "is required (or media_urls, or a template with a text part)",
        );
    }
    if body.chars().count() > MAX_SMS_BODY {
        p.add("body", format!("at most {MAX_SMS_BODY} characters"));
    }
    if media_urls.len() > MAX_MEDIA {
        p.add("media_urls", format!("at most {MAX_MEDIA} URLs"));
    }
    for (i, u) in media_urls.iter().enumerate() {
        let ok = (u.starts_with("https://") || u.starts_with("http://"))
            && u.len() <= 2048
            && u.parse::<http::Uri>().is_ok_and(|u| u.host().is_some());
        if !ok {
            p.add(format!("media_urls[{i}]"), "expected an http or https URL");
        }
    }
    p.finish()?;
    let content = SmsContent {
        from: req.from,
        to: req.to.clone(),
        body,
        media_urls,
        template: req.template,
        data: req.data,
    };
    accept(
        &messaging,
        Channel::Sms,
        common,
        vec![req.to],
        None,
        MessageContent::Sms(content),
        identity,
    )
    .await
}

async fn accept(
    messaging: &Messaging,
    channel: Channel,
    common: Common,
    recipients: Vec<String>,
    subject: Option<String>,
    content: MessageContent,
    identity: Identity,
) -> ApiResult<Response> {
    let Identity {
        key: idempotency_key,
        digest: request_digest,
    } = identity;
    let now = now_ms();
    let charge = common.account.as_ref().map(|account| Charge {
        account: account.clone(),
        credits: recipients.len() as i64,
        required: messaging.inner.credits_required,
    });
    let message = Message {
        id: new_id("msg"),
        channel,
        category: common.category,
        account: common.account,
        status: Status::Queued,
        provider: None,
        provider_message_id: None,
        recipients,
        subject,
        content,
        metadata: common.metadata,
        idempotency_key,
        request_digest: Some(request_digest.clone()),
        credits: 0,
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        created_at: now,
        updated_at: now,
    };
    let acceptance = messaging.accept(message, charge.clone()).await?;
    match acceptance {
        Acceptance::Accepted(m) => {
            tracing::info!(message_id = %m.id, channel = channel.as_str(), recipients = m.recipients.len(), "message queued");
            Ok(queued(&m, false))
        }
        Acceptance::Existing(m) if m.request_digest.as_deref() == Some(request_digest.as_str()) => {
            Ok(queued(&m, true))
        }
        Acceptance::Existing(m) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_reused",
            format!(
                "the Idempotency-Key was used for message {} with a different request body",
                m.id
            ),
        )),
        Acceptance::Insufficient { balance } => {
            let (account, needed) = charge.map(|c| (c.account, c.credits)).unwrap_or_default();
            Err(ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_credits",
                format!(
                    "account {account:?} has {balance} {} credits; this message needs {needed}",
                    channel.as_str()
                ),
            ))
        }
    }
}

fn queued(m: &Message, replayed: bool) -> Response {
    let body = axum::Json(Queued {
        id: m.id.clone(),
        status: m.status,
    });
    let mut response = (StatusCode::ACCEPTED, body).into_response();
    if replayed {
        idempotency::mark_replayed(&mut response);
    }
    response
}
