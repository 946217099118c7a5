//! `/v1/payments/customers`: the application's users as payment customers, with their
//! subscriptions and whether they are subscribed, answered from the mirror.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use switchyard_core::apikey::Scope;
use switchyard_core::payment::{Customer, ObjectKind, ObjectState, Subscription};
use switchyard_core::time::now_ms;
use switchyard_store::Page;
use switchyard_store::payments::{self, ObjectFilter};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Payments;
use super::create::keyed;
use super::views::CustomerView;
use crate::http::{
    ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, Cursor, List, Need, PageQuery, Principal,
    Problems, extract, require, validate,
};

pub(super) fn router() -> OpenApiRouter<Payments> {
    OpenApiRouter::new()
        .routes(require(Need::Write(Scope::Payments), routes!(create)))
        .routes(require(Need::Read(Scope::Payments), routes!(list)))
        .routes(require(Need::Read(Scope::Payments), routes!(get)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CustomerRequest {
    email: String,
    name: Option<String>,
    /// The application's id for this user: at most one customer per provider has it,
    /// and creating another answers the existing one.
    external_id: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    /// The provider's name; default: the default provider.
    provider: Option<String>,
}

const ID: &str = "A customer id, `pcus_…`";

/// Create a customer (or answer the existing one with the same `external_id` at the
/// same provider, 200). PayPal keeps no customers: the customer is the hub's, and
/// checkouts carry its email.
#[utoipa::path(post, path = "/v1/payments/customers", tag = "payments", operation_id = "payments.customers.create",
    request_body = CustomerRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A repeated key answers the original customer; a different body with it is 409.")),
    responses((status = 201, body = CustomerView), (status = 200, description = "A customer with this `external_id` exists at this provider", body = CustomerView),
        (status = 409, description = "The `Idempotency-Key` was used with a different body (`idempotency_key_reused`)", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The provider is unavailable (`provider_unavailable`); retry with the same `Idempotency-Key`", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn create(
    State(payments): State<Payments>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let keyed = keyed(&principal, &headers, "payments.customers", &body)?;
    let req: CustomerRequest = extract::from_value(body)?;
    let mut p = Problems::default();
    if switchyard_core::message::check_email_address(&req.email).is_err() {
        p.add("email", "expected an email address");
    }
    let name = req
        .name
        .as_deref()
        .and_then(|n| validate::label(&mut p, "name", n, 200));
    let external_id = req
        .external_id
        .as_deref()
        .and_then(|e| validate::label(&mut p, "external_id", e, 255));
    validate::metadata(&mut p, "metadata", &req.metadata);
    p.finish()?;
    let provider = payments.provider(req.provider.as_deref()).await?;
    let now = now_ms();
    let customer = Customer {
        id: switchyard_core::new_id("pcus"),
        provider: provider.name().to_string(),
        provider_id: None,
        email: Some(req.email),
        name,
        external_id,
        metadata: req.metadata,
        state: ObjectState::Creating,
        error: None,
        keyed,
        as_of: 0,
        created_at: now,
        updated_at: now,
    };
    let (made, found) = payments.create(provider.as_ref(), &customer).await?;
    Ok(found.respond(payments.customer_view(made).await?))
}

impl Payments {
    /// `c` with its subscriptions, newest first.
    pub(super) async fn customer_view(&self, c: Customer) -> Result<CustomerView, ApiError> {
        let mut filter = ObjectFilter::of(ObjectKind::Subscription);
        filter.customer = Some(c.id.clone());
        let page = Page {
            limit: 100,
            cursor: None,
        };
        let subs: Vec<Subscription> =
            payments::list(self.inner.store.as_ref(), &filter, &page).await?;
        Ok(CustomerView::new(c, subs))
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct CustomerQuery {
    /// Only the customers with this `external_id` (one per provider).
    external_id: Option<String>,
    /// Only this provider's customers.
    provider: Option<String>,
    /// Items per page (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// List customers, newest first, each with its subscriptions and `subscribed`, from the
/// mirror (no provider call).
#[utoipa::path(get, path = "/v1/payments/customers", tag = "payments", operation_id = "payments.customers.list",
    params(CustomerQuery),
    responses((status = 200, body = inline(List<CustomerView>))))]
async fn list(
    State(payments): State<Payments>,
    ApiQuery(q): ApiQuery<CustomerQuery>,
) -> ApiResult<axum::Json<List<CustomerView>>> {
    let (limit, page) = PageQuery::new(q.limit, q.cursor).page(Cursor::Id("pcus"))?;
    let mut filter = ObjectFilter::of(ObjectKind::Customer);
    filter.external_id = q.external_id;
    filter.provider = q.provider;
    let found: Vec<Customer> =
        payments::list(payments.inner.store.as_ref(), &filter, &page).await?;
    let page = List::from_overfetch(found, limit, |c: &Customer| c.id.clone());
    let mut views = Vec::with_capacity(page.data.len());
    for c in page.data {
        views.push(payments.customer_view(c).await?);
    }
    Ok(axum::Json(List {
        data: views,
        next_cursor: page.next_cursor,
    }))
}

/// Fetch a customer with its subscriptions and whether it is `subscribed` (any
/// subscription `active` or `trialing`), from the mirror.
#[utoipa::path(get, path = "/v1/payments/customers/{id}", tag = "payments", operation_id = "payments.customers.get",
    params(("id" = String, Path, description = ID)),
    responses((status = 200, body = CustomerView)))]
async fn get(
    State(payments): State<Payments>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::Json<CustomerView>> {
    let c = payments.customer(&id).await?;
    Ok(axum::Json(payments.customer_view(c).await?))
}

impl Payments {
    /// The customer `id`, or 404.
    pub(super) async fn customer(&self, id: &str) -> Result<Customer, ApiError> {
        payments::get::<Customer>(self.inner.store.as_ref(), id)
            .await?
            .ok_or_else(|| ApiError::not_found("customer", id))
    }
}
