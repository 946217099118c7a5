//! `/v1/payments/connected-accounts`: marketplace sellers' accounts (Stripe Connect),
//! their onboarding links, and their state as `account.updated` webhooks report it.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use switchyard_core::apikey::Scope;
use switchyard_core::payment::{AccountKind, ConnectedAccount, ObjectState};
use switchyard_core::time::now_ms;
use switchyard_store::payments;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Payments;
use super::create::keyed;
use super::errors::{not_supported, provider_error};
use super::views::{AccountView, LinkView};
use crate::http::{
    ApiError, ApiJson, ApiPath, ApiResult, Need, Principal, Problems, extract, require, validate,
};

pub(super) fn router() -> OpenApiRouter<Payments> {
    OpenApiRouter::new()
        .routes(require(Need::Write(Scope::Payments), routes!(create)))
        .routes(require(Need::Read(Scope::Payments), routes!(get)))
        .routes(require(
            Need::Write(Scope::Payments),
            routes!(onboarding_link),
        ))
}

const ID: &str = "A connected account id, `pacct_…`";
const OPERATION: &str = "connected accounts";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AccountRequest {
    kind: AccountKind,
    email: String,
    /// ISO 3166-1 alpha-2, e.g. `US`.
    country: String,
    /// The provider's name; default: the default provider.
    provider: Option<String>,
}

/// Create a connected account for a marketplace seller. Providers without marketplace
/// accounts answer 422 `not_supported`.
#[utoipa::path(post, path = "/v1/payments/connected-accounts", tag = "payments", operation_id = "payments.accounts.create",
    request_body = AccountRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A repeated key answers the original account; a different body with it is 409.")),
    responses((status = 201, body = AccountView),
        (status = 409, description = "The `Idempotency-Key` was used with a different body (`idempotency_key_reused`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn create(
    State(payments): State<Payments>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let keyed = keyed(&principal, &headers, "payments.accounts", &body)?;
    let req: AccountRequest = extract::from_value(body)?;
    let mut p = Problems::default();
    if switchyard_core::message::check_email_address(&req.email).is_err() {
        p.add("email", "expected an email address");
    }
    if req.country.len() != 2 || !req.country.bytes().all(|b| b.is_ascii_alphabetic()) {
        p.add("country", "expected a two-letter ISO 3166-1 code, e.g. US");
    }
    p.finish()?;
    let provider = payments.provider(req.provider.as_deref()).await?;
    if provider.connect().is_none() {
        return Err(not_supported(provider.name(), OPERATION));
    }
    let now = now_ms();
    let account = ConnectedAccount {
        id: switchyard_core::new_id("pacct"),
        provider: provider.name().to_string(),
        provider_id: None,
        kind: req.kind,
        email: Some(req.email),
        country: Some(req.country.to_ascii_uppercase()),
        charges_enabled: false,
        payouts_enabled: false,
        details_submitted: false,
        requirements_due: Vec::new(),
        state: ObjectState::Creating,
        error: None,
        keyed,
        as_of: 0,
        created_at: now,
        updated_at: now,
    };
    let (made, found) = payments.create(provider.as_ref(), &account).await?;
    Ok(found.respond(AccountView::from(made)))
}

impl Payments {
    async fn account(&self, id: &str) -> Result<ConnectedAccount, ApiError> {
        payments::get::<ConnectedAccount>(self.inner.store.as_ref(), id)
            .await?
            .ok_or_else(|| ApiError::not_found("connected account", id))
    }
}

/// Fetch a connected account with what it can do (`charges_enabled`,
/// `payouts_enabled`) and what the provider still needs, from the mirror.
#[utoipa::path(get, path = "/v1/payments/connected-accounts/{id}", tag = "payments", operation_id = "payments.accounts.get",
    params(("id" = String, Path, description = ID)),
    responses((status = 200, body = AccountView)))]
async fn get(
    State(payments): State<Payments>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::Json<AccountView>> {
    Ok(axum::Json(payments.account(&id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OnboardingRequest {
    /// Where the seller goes when the link has expired or was used.
    refresh_url: String,
    /// Where the seller comes back to.
    return_url: String,
}

/// A link where the seller completes onboarding at the provider. Links are short-lived
/// and single-use: make a new one each time.
#[utoipa::path(post, path = "/v1/payments/connected-accounts/{id}/onboarding-link", tag = "payments", operation_id = "payments.accounts.onboarding_link",
    params(("id" = String, Path, description = ID)),
    request_body = OnboardingRequest,
    responses((status = 200, body = LinkView)))]
async fn onboarding_link(
    State(payments): State<Payments>,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<OnboardingRequest>,
) -> ApiResult<axum::Json<LinkView>> {
    let mut p = Problems::default();
    validate::http_url(&mut p, "refresh_url", &req.refresh_url);
    validate::http_url(&mut p, "return_url", &req.return_url);
    p.finish()?;
    let account = payments.account(&id).await?;
    let provider = payments.provider_of(&account.provider).await?;
    let Some(connect) = provider.connect() else {
        return Err(not_supported(provider.name(), OPERATION));
    };
    let Some(acct) = &account.provider_id else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "the account is not known to the provider yet; retry shortly",
        ));
    };
    let answer = connect
        .onboarding_link(acct, &req.refresh_url, &req.return_url)
        .await;
    payments.count(provider.name(), "onboarding_link", &answer);
    let link = answer.map_err(|e| provider_error(provider.name(), e))?;
    Ok(axum::Json(link.into()))
}
