//! `/v1/messages`: the communications log — every email and SMS with its status
//! history and provider attempts.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_core::apikey::Scope;
use switchyard_core::message::{Channel, Message, SendAttempt, Status, StatusEntry};
use switchyard_core::time::rfc3339;
use switchyard_store::MessageFilter;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::extract::{ApiQuery, List, PageQuery};
use crate::problem::{ApiError, ApiResult};
use crate::routes::events::instant;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: String,
    /// `email` or `sms`.
    pub channel: &'static str,
    pub category: &'static str,
    pub account: Option<String>,
    /// `queued`, `sending`, `sent`, `delivered`, `bounced`, `failed`, `opened` or
    /// `clicked`.
    pub status: &'static str,
    /// The configured provider that took the message.
    pub provider: Option<String>,
    /// The provider's id, which its status reports name.
    pub provider_message_id: Option<String>,
    pub recipients: Vec<String>,
    pub subject: Option<String>,
    pub metadata: Option<Value>,
    /// Credits reserved (0 when the account is not metered).
    pub credits: i64,
    /// Rounds through the providers so far.
    pub rounds: i64,
    /// When the next round is due, while the message is `queued` or `sending`.
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Message> for MessageView {
    fn from(m: &Message) -> Self {
        MessageView {
            id: m.id.clone(),
            channel: m.channel.as_str(),
            category: m.category.as_str(),
            account: m.account.clone(),
            status: m.status.as_str(),
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
pub struct StatusView {
    pub status: &'static str,
    pub at: String,
    pub detail: Option<String>,
    /// The provider event that reported it.
    pub event_id: Option<String>,
}

impl From<&StatusEntry> for StatusView {
    fn from(s: &StatusEntry) -> Self {
        StatusView {
            status: s.status.as_str(),
            at: rfc3339(s.at),
            detail: s.detail.clone(),
            event_id: s.event_id.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub provider: String,
    pub at: String,
    pub duration_ms: i64,
    /// `sent`, `retryable` or `rejected`.
    pub outcome: String,
    pub error: Option<String>,
}

impl From<&SendAttempt> for AttemptView {
    fn from(a: &SendAttempt) -> Self {
        AttemptView {
            provider: a.provider.clone(),
            at: rfc3339(a.at),
            duration_ms: a.duration_ms,
            outcome: a.outcome.clone(),
            error: a.error.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageDetail {
    #[serde(flatten)]
    pub message: MessageView,
    /// The request as accepted, templates rendered; bodies are absent when
    /// `messages.keep_bodies` is off and the message is done.
    pub content: Value,
    pub history: Vec<StatusView>,
    pub attempts: Vec<AttemptView>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    /// `email` or `sms`.
    pub channel: Option<String>,
    pub status: Option<String>,
    pub account: Option<String>,
    /// Created at or after (RFC 3339).
    pub since: Option<String>,
    /// Created before (RFC 3339).
    pub until: Option<String>,
    /// Items per page, 1–100 (default 20).
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// List messages, newest first.
#[utoipa::path(get, path = "/v1/messages", tag = "messages", params(MessageQuery), security(("bearer" = [])),
    responses((status = 200, body = inline(List<MessageView>))))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<MessageQuery>,
) -> ApiResult<axum::Json<List<MessageView>>> {
    principal.require(Scope::Messages, false)?;
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
        since: instant("since", &query.since)?,
        until: instant("until", &query.until)?,
    };
    let (limit, page) = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .page()?;
    let messages = state.store.list_messages(&filter, &page).await?;
    let views = messages.iter().map(MessageView::from).collect();
    Ok(axum::Json(List::from_overfetch(
        views,
        limit,
        |m: &MessageView| m.id.clone(),
    )))
}

/// One message with its status history and provider attempts.
#[utoipa::path(get, path = "/v1/messages/{id}", tag = "messages", security(("bearer" = [])),
    responses((status = 200, body = MessageDetail), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<MessageDetail>> {
    principal.require(Scope::Messages, false)?;
    let Some(m) = state.store.get_message(&id).await? else {
        return Err(ApiError::not_found("message", &id));
    };
    let history = state.store.message_history(&id).await?;
    let attempts = state.store.message_attempts(&id).await?;
    Ok(axum::Json(MessageDetail {
        message: MessageView::from(&m),
        content: m.content.clone(),
        history: history.iter().map(StatusView::from).collect(),
        attempts: attempts.iter().map(AttemptView::from).collect(),
    }))
}
