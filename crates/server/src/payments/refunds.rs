//! `/v1/payments/refunds`: refunds of a checkout's payment or of a provider's payment,
//! in full or in part.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use switchyard_core::apikey::Scope;
use switchyard_core::payment::{Checkout, CheckoutStatus, ObjectKind, Refund, RefundStatus};
use switchyard_core::time::now_ms;
use switchyard_store::Page;
use switchyard_store::payments::{self, ObjectFilter};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Payments;
use super::create::keyed;
use super::views::RefundView;
use crate::http::{
    ApiError, ApiJson, ApiPath, ApiResult, Need, Principal, Problems, extract, require, validate,
};

pub(super) fn router() -> OpenApiRouter<Payments> {
    OpenApiRouter::new()
        .routes(require(Need::Write(Scope::Payments), routes!(create)))
        .routes(require(Need::Read(Scope::Payments), routes!(get)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RefundRequest {
    /// A checkout (`pchk_…`), or the provider's id of a payment (Stripe `pi_…` or
    /// `ch_…`, PayPal capture id).
    payment: String,
    /// Minor units; default: what is left of the payment.
    amount: Option<i64>,
    /// Stripe's `duplicate`, `fraudulent` or `requested_by_customer`, or free text.
    reason: Option<String>,
    /// For a provider's payment id: the provider's name; default: the default provider.
    provider: Option<String>,
}

/// Refund a payment. The answer's `status` is the provider's (`succeeded`, `pending`,
/// `failed`); later changes arrive by webhook as `payment.refunded`.
#[utoipa::path(post, path = "/v1/payments/refunds", tag = "payments", operation_id = "payments.refunds.create",
    request_body = RefundRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A repeated key answers the original refund (the provider refunds once); a different body with it is 409.")),
    responses((status = 201, body = RefundView),
        (status = 409, description = "The `Idempotency-Key` was used with a different body (`idempotency_key_reused`)", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The provider is unavailable (`provider_unavailable`); retry with the same `Idempotency-Key`", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn create(
    State(payments): State<Payments>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let keyed = keyed(&principal, &headers, "payments.refunds", &body)?;
    let req: RefundRequest = extract::from_value(body)?;
    let mut p = Problems::default();
    let payment = validate::label(&mut p, "payment", &req.payment, 255);
    if req.amount.is_some_and(|a| a < 1) {
        p.add("amount", "expected minor units above zero");
    }
    if let Some(r) = &req.reason {
        validate::text(&mut p, "reason", r, 500);
    }
    p.finish()?;
    let payment = payment.unwrap_or_default();

    let (provider, checkout, provider_payment, currency) = if payment.starts_with("pchk_") {
        let c = payments.checkout(&payment).await.map_err(|_| {
            ApiError::invalid_field("payment", format!("no checkout with id {payment:?}"))
        })?;
        if req.provider.as_ref().is_some_and(|p| *p != c.provider) {
            return Err(ApiError::invalid_field(
                "provider",
                format!("the checkout belongs to provider {:?}", c.provider),
            ));
        }
        let Some(paid) = c
            .payment_id
            .clone()
            .filter(|_| c.status == CheckoutStatus::Complete)
        else {
            return Err(ApiError::invalid_field(
                "payment",
                format!("the checkout has no payment to refund (it is {})", c.status),
            ));
        };
        if let (Some(asked), Some(total)) = (req.amount, c.amount_total)
            && asked > total
        {
            return Err(ApiError::invalid_field(
                "amount",
                format!("more than the checkout's total of {total}"),
            ));
        }
        (
            payments.provider_of(&c.provider).await?,
            Some(c.id),
            paid,
            c.currency,
        )
    } else {
        let provider = payments.provider(req.provider.as_deref()).await?;
        let mut filter = ObjectFilter::of(ObjectKind::Checkout);
        filter.provider = Some(provider.name().to_string());
        filter.external_id = Some(payment.clone());
        let one = Page {
            limit: 1,
            cursor: None,
        };
        let paid_by: Vec<Checkout> =
            payments::list(payments.inner.store.as_ref(), &filter, &one).await?;
        let (checkout, currency) = match paid_by.into_iter().next() {
            Some(c) => (Some(c.id), c.currency),
            None => (None, None),
        };
        (provider, checkout, payment, currency)
    };
    let now = now_ms();
    let refund = Refund {
        id: switchyard_core::new_id("pref"),
        provider: provider.name().to_string(),
        provider_id: None,
        checkout,
        payment: provider_payment,
        amount: req.amount,
        currency,
        reason: req.reason,
        status: RefundStatus::Creating,
        error: None,
        keyed,
        as_of: 0,
        created_at: now,
        updated_at: now,
    };
    let (made, found) = payments.create(provider.as_ref(), &refund).await?;
    Ok(found.respond(RefundView::from(made)))
}

/// Fetch a refund, from the mirror.
#[utoipa::path(get, path = "/v1/payments/refunds/{id}", tag = "payments", operation_id = "payments.refunds.get",
    params(("id" = String, Path, description = "A refund id, `pref_…`")),
    responses((status = 200, body = RefundView)))]
async fn get(
    State(payments): State<Payments>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::Json<RefundView>> {
    let r = payments::get::<Refund>(payments.inner.store.as_ref(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("refund", &id))?;
    Ok(axum::Json(r.into()))
}
