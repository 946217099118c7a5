//! `/v1/events`: the event log.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use switchyard_core::apikey::Scope;
use switchyard_core::event::{Event, EventFilter};
use switchyard_core::time::{parse_rfc3339, rfc3339};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::extract::{ApiQuery, List};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub id: String,
    /// The hub's type (e.g. `payment.checkout.completed`), or the provider's type when
    /// the hub has no name for it.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The provider's own type (e.g. `checkout.session.completed`).
    pub provider_type: Option<String>,
    pub source_id: Option<String>,
    pub source_kind: Option<String>,
    /// `received` (waiting for processing), `processed` or `failed`.
    pub state: String,
    /// The provider's identity of the event, used for de-duplication.
    pub provider_event_id: Option<String>,
    /// The payload: JSON when the body was JSON, else the body as text (or base64 with
    /// `payload_encoding: "base64"` when it is not UTF-8).
    pub payload: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_encoding: Option<&'static str>,
    /// The request headers worth keeping (identity, type, timing).
    pub headers: serde_json::Value,
    pub received_at: String,
    pub processed_at: Option<String>,
}

impl From<&Event> for EventView {
    fn from(e: &Event) -> Self {
        let (payload, payload_encoding) = match serde_json::from_slice(&e.payload) {
            Ok(v) => (v, None),
            Err(_) => match std::str::from_utf8(&e.payload) {
                Ok(text) => (serde_json::Value::String(text.into()), Some("text")),
                Err(_) => (
                    serde_json::Value::String(
                        base64::engine::general_purpose::STANDARD.encode(&e.payload),
                    ),
                    Some("base64"),
                ),
            },
        };
        EventView {
            id: e.id.clone(),
            event_type: e.event_type.clone(),
            provider_type: e.provider_type.clone(),
            source_id: e.source_id.clone(),
            source_kind: e.source_kind.clone(),
            state: e.state.clone(),
            provider_event_id: e.dedupe_key.clone().filter(|k| !k.starts_with("sha256:")),
            payload,
            payload_encoding,
            headers: serde_json::from_str(&e.headers).unwrap_or_default(),
            received_at: rfc3339(e.received_at),
            processed_at: e.processed_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only events of this source.
    pub source: Option<String>,
    /// Only events of this (hub or, before processing, provider) type.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// Received at or after (RFC 3339).
    pub since: Option<String>,
    /// Received before (RFC 3339).
    pub until: Option<String>,
    /// Items per page, 1–100 (default 20).
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

pub(crate) fn instant(field: &str, value: &Option<String>) -> Result<Option<i64>, ApiError> {
    value
        .as_deref()
        .map(|v| {
            parse_rfc3339(v).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("{field}: expected an RFC 3339 timestamp"),
                )
            })
        })
        .transpose()
}

/// List events, newest first.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventQuery), security(("bearer" = [])),
    responses((status = 200, body = inline(List<EventView>))))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<EventQuery>,
) -> ApiResult<axum::Json<List<EventView>>> {
    principal.require(Scope::Events, false)?;
    let (limit, page) = crate::extract::PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .page()?;
    let filter = EventFilter {
        source_id: query.source.clone(),
        event_type: query.event_type.clone(),
        since: instant("since", &query.since)?,
        until: instant("until", &query.until)?,
    };
    let events = state.store.list_events(&filter, &page).await?;
    let views = events.iter().map(EventView::from).collect();
    Ok(axum::Json(List::from_overfetch(
        views,
        limit,
        |e: &EventView| e.id.clone(),
    )))
}

/// Fetch one event with its payload.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "events", security(("bearer" = [])),
    responses((status = 200, body = EventView), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<EventView>> {
    principal.require(Scope::Events, false)?;
    let event = state
        .store
        .get_event(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("event", &id))?;
    Ok(axum::Json(EventView::from(&event)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    pub id: String,
    pub state: &'static str,
}

/// Process an event again.
#[utoipa::path(post, path = "/v1/events/{id}/replay", tag = "events", security(("bearer" = [])),
    responses((status = 202, body = Replayed), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn replay(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<Replayed>)> {
    principal.require(Scope::Events, true)?;
    if !state.store.requeue_event(&id).await? {
        return Err(ApiError::not_found("event", &id));
    }
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Replayed {
            id,
            state: "received",
        }),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Published {
    pub id: String,
}

/// Publish an application event: `{"type": "order.shipped", "data": {…}}`. It is fanned
/// out to subscribed endpoints like provider events. With an `Idempotency-Key` header,
/// a repeated request answers the first event's id and stores nothing new.
#[utoipa::path(post, path = "/v1/events", tag = "events", request_body = Object, security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "makes retries of the same publication safe")),
    responses((status = 202, body = Published), (status = 400, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn publish(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    crate::extract::ApiJson(body): crate::extract::ApiJson<
        serde_json::Map<String, serde_json::Value>,
    >,
) -> ApiResult<(StatusCode, axum::Json<Published>)> {
    principal.require(Scope::Events, true)?;
    let mut errors = Vec::new();
    let mut field = |name: &str, message: &str| {
        errors.push(crate::problem::FieldError {
            field: name.into(),
            message: message.into(),
        })
    };
    let event_type = match body.get("type") {
        Some(serde_json::Value::String(t))
            if t.len() <= 200
                && !t.contains('*')
                && switchyard_core::delivery::valid_pattern(t) =>
        {
            Some(t.clone())
        }
        Some(_) => {
            field(
                "type",
                "expected dot-separated words of letters, digits, '_' or '-', e.g. order.shipped",
            );
            None
        }
        None => {
            field("type", "is required");
            None
        }
    };
    let data = match body.get("data") {
        Some(d @ serde_json::Value::Object(_)) => Some(d.clone()),
        Some(_) => {
            field("data", "expected a JSON object");
            None
        }
        None => {
            field("data", "is required");
            None
        }
    };
    for key in body
        .keys()
        .filter(|k| !matches!(k.as_str(), "type" | "data"))
    {
        field(key, "unknown field; expected type and data");
    }
    let key = match crate::idempotency::key(&headers) {
        Ok(k) => k.map(|k| format!("idempotency:{k}")),
        Err(e) => {
            for problem in e.errors {
                field(&problem.field, &problem.message);
            }
            None
        }
    };
    let (Some(event_type), Some(data), true) = (event_type, data, errors.is_empty()) else {
        return Err(ApiError::invalid_fields(errors));
    };
    let event = crate::delivery::app_event(&event_type, &data, key);
    let stored = state.intake.writer.store(vec![event]).await.map_err(|e| {
        tracing::error!(error = %e, "storing an application event failed");
        ApiError::unavailable("the event could not be stored; retry")
    })?;
    let id = stored
        .first()
        .map(|s| s.id().to_string())
        .ok_or_else(|| ApiError::internal("no event stored"))?;
    Ok((StatusCode::ACCEPTED, axum::Json(Published { id })))
}
