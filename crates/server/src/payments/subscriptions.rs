//! `/v1/payments/subscriptions`: subscriptions as the mirror has them, and their
//! cancellation (now, or at the end of the paid period where the provider can).

use axum::extract::State;
use serde::Deserialize;
use switchyard_core::apikey::Scope;
use switchyard_core::payment::{ObjectKind, Report, Subscription, SubscriptionStatus};
use switchyard_store::payments::{self, ObjectFilter};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Payments;
use super::errors::provider_error;
use super::views::SubscriptionView;
use crate::http::{
    ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, Cursor, List, Need, PageQuery, require,
};

pub(super) fn router() -> OpenApiRouter<Payments> {
    OpenApiRouter::new()
        .routes(require(Need::Read(Scope::Payments), routes!(list)))
        .routes(require(Need::Read(Scope::Payments), routes!(get)))
        .routes(require(Need::Write(Scope::Payments), routes!(cancel)))
}

const ID: &str = "A subscription id, `psub_…`";

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct SubscriptionQuery {
    /// Only this customer's (`pcus_…`).
    customer: Option<String>,
    /// Only those in this status.
    status: Option<SubscriptionStatus>,
    /// Only this provider's.
    provider: Option<String>,
    /// Items per page (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// List subscriptions, newest first, from the mirror.
#[utoipa::path(get, path = "/v1/payments/subscriptions", tag = "payments", operation_id = "payments.subscriptions.list",
    params(SubscriptionQuery),
    responses((status = 200, body = inline(List<SubscriptionView>))))]
async fn list(
    State(payments): State<Payments>,
    ApiQuery(q): ApiQuery<SubscriptionQuery>,
) -> ApiResult<axum::Json<List<SubscriptionView>>> {
    let (limit, page) = PageQuery::new(q.limit, q.cursor).page(Cursor::Id("psub"))?;
    let mut filter = ObjectFilter::of(ObjectKind::Subscription);
    filter.customer = q.customer;
    filter.status = q.status.map(|s| s.as_str().to_string());
    filter.provider = q.provider;
    let found: Vec<Subscription> =
        payments::list(payments.inner.store.as_ref(), &filter, &page).await?;
    Ok(axum::Json(
        List::from_overfetch(found, limit, |s: &Subscription| s.id.clone())
            .map(SubscriptionView::from),
    ))
}

impl Payments {
    pub(super) async fn subscription(&self, id: &str) -> Result<Subscription, ApiError> {
        payments::get::<Subscription>(self.inner.store.as_ref(), id)
            .await?
            .ok_or_else(|| ApiError::not_found("subscription", id))
    }
}

/// Fetch a subscription, from the mirror.
#[utoipa::path(get, path = "/v1/payments/subscriptions/{id}", tag = "payments", operation_id = "payments.subscriptions.get",
    params(("id" = String, Path, description = ID)),
    responses((status = 200, body = SubscriptionView)))]
async fn get(
    State(payments): State<Payments>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::Json<SubscriptionView>> {
    Ok(axum::Json(payments.subscription(&id).await?.into()))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CancelRequest {
    /// End at the end of the paid period instead of now (Stripe; PayPal answers 422
    /// `not_supported`). Default false.
    #[serde(default)]
    at_period_end: bool,
}

/// Cancel a subscription at the provider and update the mirror with its answer.
#[utoipa::path(post, path = "/v1/payments/subscriptions/{id}/cancel", tag = "payments", operation_id = "payments.subscriptions.cancel",
    params(("id" = String, Path, description = ID)),
    request_body = CancelRequest,
    responses((status = 200, body = SubscriptionView),
        (status = 503, description = "The provider is unavailable (`provider_unavailable`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn cancel(
    State(payments): State<Payments>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<CancelRequest>,
) -> ApiResult<axum::Json<SubscriptionView>> {
    let sub = payments.subscription(&id).await?;
    if sub.status == SubscriptionStatus::Canceled {
        return Ok(axum::Json(sub.into()));
    }
    let provider = payments.provider_of(&sub.provider).await?;
    let answer = provider
        .cancel_subscription(&sub.provider_id, req.at_period_end)
        .await;
    payments.count(provider.name(), "cancel_subscription", &answer);
    let state = answer.map_err(|e| provider_error(provider.name(), e))?;
    payments
        .record(provider.name(), Report::Subscription(state))
        .await?;
    Ok(axum::Json(payments.subscription(&id).await?.into()))
}
