//! `/v1/events`: the event log, and events the application publishes.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use switchyard_core::apikey::Scope;
use switchyard_core::event::{Event, EventFilter, EventState, NewEvent, Stored};
use switchyard_core::source::SourceKind;
use switchyard_core::time::{now_ms, rfc3339};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Intake;
use crate::http::{
    ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, Cursor, List, Need, PageQuery, Principal,
    Problems, idempotency, require,
};

pub(super) fn router() -> OpenApiRouter<Intake> {
    OpenApiRouter::new()
        .routes(require(Need::Read(Scope::Events), routes!(list)))
        .routes(require(Need::Write(Scope::Events), routes!(publish)))
        .routes(require(Need::Read(Scope::Events), routes!(get)))
        .routes(require(Need::Write(Scope::Events), routes!(replay)))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventView {
    pub(crate) id: String,
    /// The hub's type (e.g. `payment.checkout.completed`), or the provider's type when
    /// the hub has no name for it.
    #[serde(rename = "type")]
    pub(crate) event_type: String,
    /// The provider's own type (e.g. `checkout.session.completed`).
    pub(crate) provider_type: Option<String>,
    pub(crate) source_id: Option<String>,
    pub(crate) source_kind: Option<SourceKind>,
    pub(crate) state: EventState,
    /// The provider's identity of the event, used for de-duplication.
    pub(crate) provider_event_id: Option<String>,
    /// The payload: JSON when the body was JSON, else the body as text (or base64 with
    /// `payload_encoding: "base64"` when it is not UTF-8).
    pub(crate) payload: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) payload_encoding: Option<&'static str>,
    /// The request headers worth keeping (identity, type, timing).
    pub(crate) headers: serde_json::Value,
    pub(crate) received_at: String,
    pub(crate) processed_at: Option<String>,
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
            source_kind: e.source_kind,
            state: e.state,
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
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventQuery {
    /// Only events of this source.
    pub(crate) source: Option<String>,
    /// Only events of this (hub or, before processing, provider) type.
    #[serde(rename = "type")]
    pub(crate) event_type: Option<String>,
    /// Received at or after (RFC 3339).
    pub(crate) since: Option<String>,
    /// Received before (RFC 3339).
    pub(crate) until: Option<String>,
    /// Items per page (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub(crate) limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
}

/// List events, newest first.
#[utoipa::path(get, path = "/v1/events", tag = "events", operation_id = "events.list", params(EventQuery),
    responses((status = 200, body = inline(List<EventView>))))]
async fn list(
    State(intake): State<Intake>,
    ApiQuery(query): ApiQuery<EventQuery>,
) -> ApiResult<axum::Json<List<EventView>>> {
    let (limit, page) =
        PageQuery::new(query.limit, query.cursor.clone()).page(Cursor::Id("evt"))?;
    let filter = EventFilter {
        source_id: query.source.clone(),
        event_type: query.event_type.clone(),
        since: crate::http::extract::instant("since", &query.since)?,
        until: crate::http::extract::instant("until", &query.until)?,
    };
    let events = intake.inner.store.list_events(&filter, &page).await?;
    let views = events.iter().map(EventView::from).collect();
    Ok(axum::Json(List::from_overfetch(
        views,
        limit,
        |e: &EventView| e.id.clone(),
    )))
}

const ID: &str = "An event id, `evt_…`";

/// Fetch one event with its payload.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "events", operation_id = "events.get",
    params(("id" = String, Path, description = ID)),
    responses((status = 200, body = EventView)))]
async fn get(
    State(intake): State<Intake>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::Json<EventView>> {
    let event = intake
        .inner
        .store
        .get_event(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("event", &id))?;
    Ok(axum::Json(EventView::from(&event)))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Replayed {
    pub(crate) id: String,
    pub(crate) state: EventState,
}

/// Process an event again: it is fanned out to the endpoints subscribed now.
#[utoipa::path(post, path = "/v1/events/{id}/replay", tag = "events", operation_id = "events.replay",
    params(("id" = String, Path, description = ID)),
    responses((status = 202, body = Replayed)))]
async fn replay(
    State(intake): State<Intake>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, axum::Json<Replayed>)> {
    if !intake.inner.store.requeue_event(&id).await? {
        return Err(ApiError::not_found("event", &id));
    }
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Replayed {
            id,
            state: EventState::Received,
        }),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Published {
    pub(crate) id: String,
}

/// An event the application publishes. The route reads it field by field, so that one
/// answer names every invalid field; this type is what the document shows.
#[allow(dead_code, reason = "the schema of a body read field by field")]
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishRequest {
    /// Dot-separated words of letters, digits, `_` or `-` (at most 200), e.g.
    /// `order.shipped`.
    #[serde(rename = "type")]
    #[schema(max_length = 200)]
    pub(crate) event_type: String,
    /// The event's data, delivered as the envelope's `data`.
    pub(crate) data: serde_json::Map<String, serde_json::Value>,
}

/// Publish an application event: `{"type": "order.shipped", "data": {…}}`. It is fanned
/// out to subscribed endpoints like provider events. With an `Idempotency-Key` header,
/// a repeated request answers the first event's id (with `Idempotent-Replayed: true`)
/// and stores nothing new; the same key with another type or data is 409
/// `idempotency_key_reused`. The key is stored as the event's identity, in the event's
/// own write: no bookkeeping of its own.
#[utoipa::path(post, path = "/v1/events", tag = "events", operation_id = "events.publish", request_body = PublishRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries of the same publication safe: a repeat answers the first event's id.")),
    responses((status = 202, body = Published), (status = 409, description = "the Idempotency-Key was used for a different event")))]
async fn publish(
    State(intake): State<Intake>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse as _;
    let mut p = Problems::default();
    let event_type = match body.get("type") {
        Some(serde_json::Value::String(t))
            if t.len() <= 200
                && !t.contains('*')
                && switchyard_core::delivery::valid_pattern(t) =>
        {
            Some(t.clone())
        }
        Some(_) => {
            p.add(
                "type",
                "expected dot-separated words of letters, digits, '_' or '-', e.g. order.shipped",
            );
            None
        }
        None => {
            p.add("type", "is required");
            None
        }
    };
    let data = match body.get("data") {
        Some(d @ serde_json::Value::Object(_)) => Some(d.clone()),
        Some(_) => {
            p.add("data", "expected a JSON object");
            None
        }
        None => {
            p.add("data", "is required");
            None
        }
    };
    for key in body
        .keys()
        .filter(|k| !matches!(k.as_str(), "type" | "data"))
    {
        p.add(key.as_str(), "unknown field; expected type and data");
    }
    let key = match idempotency::key(&headers) {
        Ok(k) => k.map(|k| idempotency::scoped_key(&principal, "idempotency", k)),
        Err(e) => {
            p.extend(e.errors);
            None
        }
    };
    p.finish()?;
    let (Some(event_type), Some(data)) = (event_type, data) else {
        return Err(ApiError::internal("validated fields are missing"));
    };
    let event = NewEvent::published(&event_type, &data, key, now_ms());
    let payload = event.payload.clone();
    let stored = intake.publisher().publish(event).await?;
    let mut response = (
        StatusCode::ACCEPTED,
        axum::Json(Published {
            id: stored.id().to_string(),
        }),
    )
        .into_response();
    if let Stored::Duplicate(id) = &stored {
        // The key is the event's identity: the repeat is answered from the event itself,
        // and differs from it only if the key was used for another event.
        let first = intake
            .inner
            .store
            .get_event(id)
            .await?
            .ok_or_else(|| ApiError::internal("the event a key names is missing"))?;
        if first.event_type != event_type || first.payload != payload {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                "the Idempotency-Key was used for a different event (type or data)",
            ));
        }
        idempotency::mark_replayed(&mut response);
    }
    Ok(response)
}
