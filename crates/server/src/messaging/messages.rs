//! `/v1/messages`: the communications log — every email and SMS with its status
//! history and provider attempts.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_core::apikey::Scope;
use switchyard_core::message::{
    AttemptOutcome, Category, Channel, Message, MessageContent, SendAttempt, Status, StatusEntry,
};
use switchyard_core::time::rfc3339;
use switchyard_store::MessageFilter;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Messaging;
use crate::http::{ApiError, ApiPath, ApiQuery, ApiResult, Cursor, List, Need, PageQuery, require};

pub(super) fn router() -> OpenApiRouter<Messaging> {
    OpenApiRouter::new()
        .routes(require(Need::Read(Scope::Messages), routes!(list)))
        .routes(require(Need::Read(Scope::Messages), routes!(get)))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MessageView {
    pub(crate) id: String,
    pub(crate) channel: Channel,
    pub(crate) category: Category,
    pub(crate) account: Option<String>,
    pub(crate) status: Status,
    /// The configured provider that took the message.
    pub(crate) provider: Option<String>,
    /// The provider's id, which its status reports name.
    pub(crate) provider_message_id: Option<String>,
    pub(crate) recipients: Vec<String>,
    pub(crate) subject: Option<String>,
    pub(crate) metadata: Option<Value>,
    /// Credits reserved (0 when the account is not metered).
    pub(crate) credits: i64,
    /// Rounds through the providers so far.
    pub(crate) rounds: i64,
    /// When the next round is due, while the message is `queued` or `sending`.
    pub(crate) next_attempt_at: Option<String>,
    pub(crate) last_error: Option<String>,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

impl From<&Message> for MessageView {
    fn from(m: &Message) -> Self {
        MessageView {
            id: m.id.clone(),
            channel: m.channel,
            category: m.category,
            account: m.account.clone(),
            status: m.status,
            provider: m.provider.clone(),
            provider_message_id: m.provider_message_id.clone(),
            recipients: m.recipients.clone(),
            subject: m.subject.clone(),
            metadata: m.metadata.clone(),
            credits: m.credits,
            rounds: m.attempts,
            next_attempt_at: (!m.status.is_sent_or_final()).then(|| rfc3339(m.next_attempt_at)),
            last_error: m.last_error.clone(),
            created_at: rfc3339(m.created_at),
            updated_at: rfc3339(m.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatusView {
    pub(crate) status: Status,
    pub(crate) at: String,
    pub(crate) detail: Option<String>,
    /// The provider event that reported it.
    pub(crate) event_id: Option<String>,
}

impl From<&StatusEntry> for StatusView {
    fn from(s: &StatusEntry) -> Self {
        StatusView {
            status: s.status,
            at: rfc3339(s.at),
            detail: s.detail.clone(),
            event_id: s.event_id.clone(),
        }
    }
}

/// One call to a provider while sending a message.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SendAttemptView)]
pub(crate) struct AttemptView {
    pub(crate) provider: String,
    pub(crate) at: String,
    pub(crate) duration_ms: i64,
    pub(crate) outcome: AttemptOutcome,
    pub(crate) error: Option<String>,
}

impl From<&SendAttempt> for AttemptView {
    fn from(a: &SendAttempt) -> Self {
        AttemptView {
            provider: a.provider.clone(),
            at: rfc3339(a.at),
            duration_ms: a.duration_ms,
            outcome: a.outcome,
            error: a.error.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MessageDetail {
    #[serde(flatten)]
    pub(crate) message: MessageView,
    /// The request as accepted, templates rendered; bodies are absent when
    /// `messages.keep_bodies` is off and the message is done.
    #[schema(value_type = Object)]
    pub(crate) content: MessageContent,
    pub(crate) history: Vec<StatusView>,
    pub(crate) attempts: Vec<AttemptView>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct MessageQuery {
    #[param(value_type = Option<Channel>)]
    pub(crate) channel: Option<String>,
    #[param(value_type = Option<Status>)]
    pub(crate) status: Option<String>,
    pub(crate) account: Option<String>,
    /// Created at or after (RFC 3339).
    pub(crate) since: Option<String>,
    /// Created before (RFC 3339).
    pub(crate) until: Option<String>,
    /// Items per page (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub(crate) limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
}

/// List messages, newest first.
#[utoipa::path(get, path = "/v1/messages", tag = "messages", operation_id = "messages.list", params(MessageQuery),
    responses((status = 200, body = inline(List<MessageView>))))]
async fn list(
    State(messaging): State<Messaging>,
    ApiQuery(query): ApiQuery<MessageQuery>,
) -> ApiResult<axum::Json<List<MessageView>>> {
    let bad = |field: &str, expected: &str| {
        ApiError::bad_request("invalid_query", format!("{field}: expected {expected}"))
    };
    let filter = MessageFilter {
        channel: query
            .channel
            .as_deref()
            .map(|c| Channel::parse(c).ok_or_else(|| bad("channel", "email or sms")))
            .transpose()?,
        status: query
            .status
            .as_deref()
            .map(|s| {
                Status::parse(s).ok_or_else(|| bad("status", "a message status such as delivered"))
            })
            .transpose()?,
        account: query.account.clone(),
        since: crate::http::extract::instant("since", &query.since)?,
        until: crate::http::extract::instant("until", &query.until)?,
    };
    let (limit, page) =
        PageQuery::new(query.limit, query.cursor.clone()).page(Cursor::Id("msg"))?;
    let messages = messaging.inner.store.list_messages(&filter, &page).await?;
    let views = messages.iter().map(MessageView::from).collect();
    Ok(axum::Json(List::from_overfetch(
        views,
        limit,
        |m: &MessageView| m.id.clone(),
    )))
}

/// One message with its status history and provider attempts.
#[utoipa::path(get, path = "/v1/messages/{id}", tag = "messages", operation_id = "messages.get",
    params(("id" = String, Path, description = "A message id, `msg_…`")),
    responses((status = 200, body = MessageDetail)))]
async fn get(
    State(messaging): State<Messaging>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::Json<MessageDetail>> {
    let store = &messaging.inner.store;
    let Some(m) = store.get_message(&id).await? else {
        return Err(ApiError::not_found("message", &id));
    };
    let history = store.message_history(&id).await?;
    let attempts = store.message_attempts(&id).await?;
    Ok(axum::Json(MessageDetail {
        message: MessageView::from(&m),
        content: m.content.clone(),
        history: history.iter().map(StatusView::from).collect(),
        attempts: attempts.iter().map(AttemptView::from).collect(),
    }))
}
