//! `/v1/deliveries` and an endpoint's delivery history: every attempt, retry and replay.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use switchyard_core::apikey::Scope;
use switchyard_core::delivery::{Attempt, Delivery as Stored, DeliveryState};
use switchyard_core::time::{now_ms, parse_rfc3339, rfc3339};
use switchyard_store::DeliveryFilter;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Delivery;
use super::endpoints::load;
use crate::http::{
    ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, Cursor, List, Need, PageQuery, require,
};

pub(super) fn router() -> OpenApiRouter<Delivery> {
    OpenApiRouter::new()
        .routes(require(Need::Read(Scope::Endpoints), routes!(deliveries)))
        .routes(require(Need::Write(Scope::Endpoints), routes!(replay)))
        .routes(require(Need::Read(Scope::Endpoints), routes!(delivery)))
        .routes(require(Need::Write(Scope::Endpoints), routes!(retry)))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveryView {
    /// Also the `webhook-id` of every attempt.
    pub(crate) id: String,
    pub(crate) event_id: String,
    pub(crate) endpoint_id: String,
    pub(crate) state: DeliveryState,
    pub(crate) attempts: i64,
    pub(crate) next_attempt_at: Option<String>,
    pub(crate) last_status: Option<i64>,
    pub(crate) last_error: Option<String>,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) attempt_log: Option<Vec<AttemptView>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AttemptView {
    pub(crate) attempt: i64,
    pub(crate) started_at: String,
    pub(crate) duration_ms: i64,
    pub(crate) status_code: Option<i64>,
    /// The first 4 KiB of the answer.
    pub(crate) response_body: Option<String>,
    /// Why there was no answer: `timeout`, `connect`, `dns`, `tls`,
    /// `refused_destination`, …
    pub(crate) error_kind: Option<String>,
}

fn delivery_view(d: &Stored, attempts: Option<Vec<Attempt>>) -> DeliveryView {
    DeliveryView {
        id: d.id.clone(),
        event_id: d.event_id.clone(),
        endpoint_id: d.endpoint_id.clone(),
        state: d.state,
        attempts: d.attempts,
        next_attempt_at: d
            .next_attempt_at
            .filter(|_| d.state == DeliveryState::Pending)
            .map(rfc3339),
        last_status: d.last_status,
        last_error: d.last_error.clone(),
        created_at: rfc3339(d.created_at),
        updated_at: rfc3339(d.updated_at),
        attempt_log: attempts.map(|list| {
            list.into_iter()
                .map(|a| AttemptView {
                    attempt: a.attempt,
                    started_at: rfc3339(a.started_at),
                    duration_ms: a.duration_ms,
                    status_code: a.status_code,
                    response_body: a.response_body,
                    error_kind: a.error_kind,
                })
                .collect()
        }),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveryQuery {
    #[param(value_type = Option<DeliveryState>)]
    pub(crate) state: Option<String>,
    /// Only deliveries of this event.
    pub(crate) event_id: Option<String>,
    /// Items per page (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub(crate) limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
}

const ID: &str = "An endpoint id, `ep_…`";
const DELIVERY_ID: &str = "A delivery id, `dlv_…` (also the `webhook-id` of its attempts)";

/// An endpoint's deliveries, newest first.
#[utoipa::path(get, path = "/v1/endpoints/{id}/deliveries", tag = "endpoints", operation_id = "endpoints.deliveries",
    params(("id" = String, Path, description = ID), DeliveryQuery),
    responses((status = 200, body = inline(List<DeliveryView>))))]
async fn deliveries(
    State(delivery): State<Delivery>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<DeliveryQuery>,
) -> ApiResult<axum::Json<List<DeliveryView>>> {
    load(&delivery, &id).await?;
    let state = query
        .state
        .as_deref()
        .map(|s| {
            DeliveryState::parse(s).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("state: expected {}", DeliveryState::names()),
                )
            })
        })
        .transpose()?;
    let (limit, page) =
        PageQuery::new(query.limit, query.cursor.clone()).page(Cursor::Id("dlv"))?;
    let filter = DeliveryFilter {
        endpoint_id: Some(id),
        event_id: query.event_id.clone(),
        state,
    };
    let views = delivery
        .inner
        .store
        .list_deliveries(&filter, &page)
        .await?
        .iter()
        .map(|d| delivery_view(d, None))
        .collect();
    Ok(axum::Json(List::from_overfetch(
        views,
        limit,
        |d: &DeliveryView| d.id.clone(),
    )))
}

/// One delivery with every attempt.
#[utoipa::path(get, path = "/v1/deliveries/{id}", tag = "endpoints", operation_id = "deliveries.get",
    params(("id" = String, Path, description = DELIVERY_ID)),
    responses((status = 200, body = DeliveryView)))]
async fn delivery(
    State(delivery): State<Delivery>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::Json<DeliveryView>> {
    let store = &delivery.inner.store;
    let d = store
        .get_delivery(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery", &id))?;
    let attempts = store.list_attempts(&id).await?;
    Ok(axum::Json(delivery_view(&d, Some(attempts))))
}

/// Attempt a delivery again now, whatever its state; it gets the remaining retries.
#[utoipa::path(post, path = "/v1/deliveries/{id}/retry", tag = "endpoints", operation_id = "deliveries.retry",
    params(("id" = String, Path, description = DELIVERY_ID)),
    responses((status = 202, body = DeliveryView)))]
async fn retry(
    State(delivery): State<Delivery>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, axum::Json<DeliveryView>)> {
    let store = &delivery.inner.store;
    if !store.retry_delivery(&id, now_ms()).await? {
        return Err(ApiError::not_found("delivery", &id));
    }
    let d = store
        .get_delivery(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery", &id))?;
    Ok((StatusCode::ACCEPTED, axum::Json(delivery_view(&d, None))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReplayRequest {
    /// Replay failed deliveries created at or after this time (RFC 3339).
    pub(crate) since: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReplayView {
    /// How many failed deliveries are due again.
    pub(crate) replayed: u64,
}

/// Attempt again every failed delivery of an endpoint created since a time.
#[utoipa::path(post, path = "/v1/endpoints/{id}/replay", tag = "endpoints", operation_id = "endpoints.replay",
    params(("id" = String, Path, description = ID)),
    request_body = ReplayRequest,
    responses((status = 202, body = ReplayView)))]
async fn replay(
    State(delivery): State<Delivery>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReplayRequest>,
) -> ApiResult<(StatusCode, axum::Json<ReplayView>)> {
    load(&delivery, &id).await?;
    let since = parse_rfc3339(&body.since)
        .ok_or_else(|| ApiError::invalid_field("since", "expected an RFC 3339 timestamp"))?;
    let replayed = delivery
        .inner
        .store
        .retry_failed(&id, since, now_ms())
        .await?;
    Ok((StatusCode::ACCEPTED, axum::Json(ReplayView { replayed })))
}
