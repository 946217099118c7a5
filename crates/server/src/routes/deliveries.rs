//! `/v1/deliveries` and an endpoint's delivery history: every attempt, retry and replay.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use switchyard_core::apikey::Scope;
use switchyard_core::delivery::{Attempt, Delivery};
use switchyard_core::time::{now_ms, parse_rfc3339, rfc3339};
use switchyard_store::DeliveryFilter;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::extract::{ApiJson, ApiQuery, List, PageQuery};
use crate::problem::{ApiError, ApiResult};
use crate::routes::endpoints::load;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Also the `webhook-id` of every attempt.
    pub id: String,
    pub event_id: String,
    pub endpoint_id: String,
    /// `pending`, `succeeded` or `failed` (dead letter).
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_log: Option<Vec<AttemptView>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    pub attempt: i64,
    pub started_at: String,
    pub duration_ms: i64,
    pub status_code: Option<i64>,
    /// The first 4 KiB of the answer.
    pub response_body: Option<String>,
    /// Why there was no answer: `timeout`, `connect`, `dns`, `tls`,
    /// `refused_destination`, …
    pub error_kind: Option<String>,
}

fn delivery_view(d: &Delivery, attempts: Option<Vec<Attempt>>) -> DeliveryView {
    DeliveryView {
        id: d.id.clone(),
        event_id: d.event_id.clone(),
        endpoint_id: d.endpoint_id.clone(),
        state: d.state.clone(),
        attempts: d.attempts,
        next_attempt_at: d
            .next_attempt_at
            .filter(|_| d.state == "pending")
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
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// `pending`, `succeeded` or `failed`.
    pub state: Option<String>,
    pub event_id: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// An endpoint's deliveries, newest first.
#[utoipa::path(get, path = "/v1/endpoints/{id}/deliveries", tag = "endpoints", params(DeliveryQuery), security(("bearer" = [])),
    responses((status = 200, body = inline(List<DeliveryView>)), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn deliveries(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<DeliveryQuery>,
) -> ApiResult<axum::Json<List<DeliveryView>>> {
    principal.require(Scope::Endpoints, false)?;
    load(&state, &id).await?;
    if let Some(s) = &query.state
        && !matches!(s.as_str(), "pending" | "succeeded" | "failed")
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            "state: expected pending, succeeded or failed",
        ));
    }
    let (limit, page) = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .page()?;
    let filter = DeliveryFilter {
        endpoint_id: Some(id),
        event_id: query.event_id.clone(),
        state: query.state.clone(),
    };
    let views = state
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
#[utoipa::path(get, path = "/v1/deliveries/{id}", tag = "endpoints", security(("bearer" = [])),
    responses((status = 200, body = DeliveryView), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn delivery(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<DeliveryView>> {
    principal.require(Scope::Endpoints, false)?;
    let d = state
        .store
        .get_delivery(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery", &id))?;
    let attempts = state.store.list_attempts(&id).await?;
    Ok(axum::Json(delivery_view(&d, Some(attempts))))
}

/// Attempt a delivery again now, whatever its state; it gets the remaining retries.
#[utoipa::path(post, path = "/v1/deliveries/{id}/retry", tag = "endpoints", security(("bearer" = [])),
    responses((status = 202, body = DeliveryView), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn retry(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<DeliveryView>)> {
    principal.require(Scope::Endpoints, true)?;
    if !state.store.retry_delivery(&id, now_ms()).await? {
        return Err(ApiError::not_found("delivery", &id));
    }
    let d = state
        .store
        .get_delivery(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery", &id))?;
    Ok((StatusCode::ACCEPTED, axum::Json(delivery_view(&d, None))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Replay failed deliveries created at or after this time (RFC 3339).
    pub since: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayView {
    /// How many failed deliveries are due again.
    pub replayed: u64,
}

/// Attempt again every failed delivery of an endpoint created since a time.
#[utoipa::path(post, path = "/v1/endpoints/{id}/replay", tag = "endpoints", request_body = ReplayRequest, security(("bearer" = [])),
    responses((status = 202, body = ReplayView), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn replay(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReplayRequest>,
) -> ApiResult<(StatusCode, axum::Json<ReplayView>)> {
    principal.require(Scope::Endpoints, true)?;
    load(&state, &id).await?;
    let since = parse_rfc3339(&body.since)
        .ok_or_else(|| ApiError::invalid_field("since", "expected an RFC 3339 timestamp"))?;
    let replayed = state.store.retry_failed(&id, since, now_ms()).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(ReplayView { replayed })))
}
