//! `/v1/payments/checkout`: hosted checkouts (Stripe Checkout Sessions, PayPal orders
//! and subscriptions), their re-reading from the provider (`sync`), and the billing
//! portal (`/v1/payments/portal`).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use switchyard_core::apikey::Scope;
use switchyard_core::payment::{
    Checkout, CheckoutMode, CheckoutStatus, ConnectedAccount, Interval, ObjectState, Report,
};
use switchyard_core::time::now_ms;
use switchyard_providers::payments::{LineItem, Marketplace, NewCheckout};
use switchyard_store::payments;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Payments;
use super::create::keyed;
use super::errors::{not_supported, provider_error};
use super::views::{CheckoutView, LinkView};
use crate::http::{
    ApiError, ApiJson, ApiPath, ApiResult, Need, Principal, Problems, extract, require, validate,
};

pub(super) fn router() -> OpenApiRouter<Payments> {
    OpenApiRouter::new()
        .routes(require(Need::Write(Scope::Payments), routes!(create)))
        .routes(require(Need::Read(Scope::Payments), routes!(get)))
        .routes(require(Need::Write(Scope::Payments), routes!(sync)))
        .routes(require(Need::Write(Scope::Payments), routes!(portal)))
}

/// A price defined on the spot.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct InlineItem {
    name: String,
    /// Minor units (cents), above zero.
    amount: i64,
    /// ISO 4217, e.g. `usd`.
    currency: String,
    /// Default 1.
    quantity: Option<u32>,
    /// Makes the price recurring (subscription mode only).
    interval: Option<Interval>,
}

/// A price that exists at the provider (Stripe `price_…`, PayPal plan `P-…`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PriceItem {
    price: String,
    /// Default 1.
    quantity: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub(super) enum LineItemRequest {
    Inline(InlineItem),
    Price(PriceItem),
}

/// A marketplace checkout: the money goes to a connected account, less the platform's
/// fee (Stripe Connect destination charges).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MarketplaceRequest {
    /// `pacct_…`
    connected_account: String,
    /// Payment mode: the platform's fee, in minor units.
    application_fee_amount: Option<i64>,
    /// Subscription mode: the platform's share of each invoice, in percent.
    application_fee_percent: Option<f64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckoutRequest {
    mode: CheckoutMode,
    /// `pcus_…`; the checkout then uses the customer's provider.
    customer: Option<String>,
    /// Instead of `customer`: the buyer's email, prefilled.
    customer_email: Option<String>,
    line_items: Vec<LineItemRequest>,
    /// Where the buyer lands after paying; default: the provider's `success_url`.
    success_url: Option<String>,
    cancel_url: Option<String>,
    /// The application's reference (an order number); delivered with the checkout's
    /// events.
    reference: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    marketplace: Option<MarketplaceRequest>,
    /// The provider's name; default: the customer's provider, else the default one.
    provider: Option<String>,
}

const ID: &str = "A checkout id, `pchk_…`";

/// The line items as the provider is asked, naming every invalid one.
fn line_items(p: &mut Problems, mode: CheckoutMode, items: Vec<LineItemRequest>) -> Vec<LineItem> {
    if items.is_empty() || items.len() > 100 {
        p.add("line_items", "expected 1 to 100 items");
    }
    let quantity = |p: &mut Problems, i: usize, q: Option<u32>| {
        let q = q.unwrap_or(1);
        if !(1..=10_000).contains(&q) {
            p.add(format!("line_items[{i}].quantity"), "expected 1 to 10000");
        }
        q
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        out.push(match item {
            LineItemRequest::Inline(it) => {
                let name = validate::label(p, &format!("line_items[{i}].name"), &it.name, 200);
                if !(1..=99_999_999).contains(&it.amount) {
                    p.add(
                        format!("line_items[{i}].amount"),
                        "expected minor units from 1 to 99999999",
                    );
                }
                if it.currency.len() != 3 || !it.currency.bytes().all(|b| b.is_ascii_alphabetic()) {
                    p.add(
                        format!("line_items[{i}].currency"),
                        "expected a three-letter ISO 4217 code",
                    );
                }
                if it.interval.is_some() && mode == CheckoutMode::Payment {
                    p.add(
                        format!("line_items[{i}].interval"),
                        "a recurring price needs mode subscription",
                    );
                }
                LineItem::Inline {
                    name: name.unwrap_or_default(),
                    amount: it.amount,
                    currency: it.currency.to_ascii_lowercase(),
                    quantity: quantity(p, i, it.quantity),
                    interval: it.interval,
                }
            }
            LineItemRequest::Price(it) => {
                let price = validate::label(p, &format!("line_items[{i}].price"), &it.price, 255);
                LineItem::Price {
                    price: price.unwrap_or_default(),
                    quantity: quantity(p, i, it.quantity),
                }
            }
        });
    }
    let recurring = out.iter().any(|i| {
        matches!(
            i,
            LineItem::Price { .. }
                | LineItem::Inline {
                    interval: Some(_),
                    ..
                }
        )
    });
    if mode == CheckoutMode::Subscription && !out.is_empty() && !recurring {
        p.add(
            "line_items",
            "a subscription needs a recurring price (an item with an interval)",
        );
    }
    out
}

/// The total of inline prices, when they share one currency.
fn total(items: &[LineItem]) -> (Option<i64>, Option<String>) {
    let mut currency: Option<&str> = None;
    let mut sum = 0i64;
    for item in items {
        let LineItem::Inline {
            amount,
            currency: c,
            quantity,
            ..
        } = item
        else {
            return (None, None);
        };
        if currency.is_some_and(|x| x != c) {
            return (None, None);
        }
        currency = Some(c);
        sum += amount * i64::from(*quantity);
    }
    (Some(sum), currency.map(str::to_string))
}

/// Create a hosted checkout: the answer's `url` is where to send the buyer. The
/// outcome arrives by the provider's webhooks (delivered as `payment.checkout.*`), and
/// `GET` answers it from the mirror.
#[utoipa::path(post, path = "/v1/payments/checkout", tag = "payments", operation_id = "payments.checkout.create",
    request_body = CheckoutRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "A repeated key answers the original checkout (the provider object is made once); a different body with it is 409.")),
    responses((status = 201, body = CheckoutView),
        (status = 409, description = "The `Idempotency-Key` was used with a different body (`idempotency_key_reused`)", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The provider is unavailable (`provider_unavailable`); retry with the same `Idempotency-Key`", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn create(
    State(payments): State<Payments>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let keyed = keyed(&principal, &headers, "payments.checkout", &body)?;
    let req: CheckoutRequest = extract::from_value(body)?;
    let mut p = Problems::default();
    let items = line_items(&mut p, req.mode, req.line_items);
    for (field, url) in [
        ("success_url", &req.success_url),
        ("cancel_url", &req.cancel_url),
    ] {
        if let Some(u) = url {
            validate::http_url(&mut p, field, u);
        }
    }
    if let Some(email) = &req.customer_email
        && switchyard_core::message::check_email_address(email).is_err()
    {
        p.add("customer_email", "expected an email address");
    }
    if req.customer.is_some() && req.customer_email.is_some() {
        p.add(
            "customer_email",
            "give customer or customer_email, not both",
        );
    }
    let reference = req
        .reference
        .as_deref()
        .and_then(|r| validate::label(&mut p, "reference", r, 127));
    validate::metadata(&mut p, "metadata", &req.metadata);
    p.finish()?;

    let customer = match &req.customer {
        Some(id) => Some(payments.customer(id).await.map_err(|_| {
            ApiError::invalid_field("customer", format!("no customer with id {id:?}"))
        })?),
        None => None,
    };
    let provider_name = match (&req.provider, &customer) {
        (Some(named), Some(c)) if *named != c.provider => {
            return Err(ApiError::invalid_field(
                "customer",
                format!("the customer belongs to provider {:?}", c.provider),
            ));
        }
        (None, Some(c)) => Some(c.provider.clone()),
        (named, _) => named.clone(),
    };
    let provider = payments.provider(provider_name.as_deref()).await?;
    if let Some(c) = &customer {
        match c.state {
            ObjectState::Ready => {}
            ObjectState::Creating => {
                return Err(ApiError::invalid_field(
                    "customer",
                    "the customer is still being created at the provider; retry shortly",
                ));
            }
            _ => {
                return Err(ApiError::invalid_field(
                    "customer",
                    format!("the customer is {}", c.state),
                ));
            }
        }
    }
    let marketplace = match req.marketplace {
        Some(_) if provider.connect().is_none() => {
            return Err(not_supported(provider.name(), "marketplace checkouts"));
        }
        Some(m) => Some(payments.marketplace(provider.name(), req.mode, m).await?),
        None => None,
    };
    let (amount_total, currency) = total(&items);
    let id = switchyard_core::new_id("pchk");
    let request = NewCheckout {
        hub_id: id.clone(),
        mode: req.mode,
        provider_customer: customer.as_ref().and_then(|c| c.provider_id.clone()),
        hub_customer: customer.as_ref().map(|c| c.id.clone()),
        customer_email: req
            .customer_email
            .clone()
            .or_else(|| customer.as_ref().and_then(|c| c.email.clone())),
        line_items: items,
        success_url: req.success_url,
        cancel_url: req.cancel_url,
        reference: reference.clone(),
        metadata: req.metadata.clone(),
        marketplace,
    };
    let now = now_ms();
    let checkout = Checkout {
        id,
        provider: provider.name().to_string(),
        provider_id: None,
        mode: req.mode,
        status: CheckoutStatus::Creating,
        customer: customer.as_ref().map(|c| c.id.clone()),
        customer_email: request.customer_email.clone(),
        url: None,
        expires_at: None,
        reference,
        metadata: req.metadata,
        payment_id: None,
        subscription: None,
        amount_total,
        currency,
        error: None,
        request: serde_json::to_string(&request).expect("requests serialize"),
        keyed,
        as_of: 0,
        created_at: now,
        updated_at: now,
    };
    let (made, found) = payments.create(provider.as_ref(), &checkout).await?;
    Ok(found.respond(CheckoutView::from(made)))
}

impl Payments {
    /// The marketplace part of a checkout: the connected account must be the
    /// provider's and known to it; the fee takes the mode's form.
    async fn marketplace(
        &self,
        provider: &str,
        mode: CheckoutMode,
        m: MarketplaceRequest,
    ) -> Result<Marketplace, ApiError> {
        let account =
            payments::get::<ConnectedAccount>(self.inner.store.as_ref(), &m.connected_account)
                .await?
                .filter(|a| a.provider == provider)
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "marketplace.connected_account",
                        format!(
                            "no connected account {:?} at provider {provider:?}",
                            m.connected_account
                        ),
                    )
                })?;
        let Some(acct) = account.provider_id else {
            return Err(ApiError::invalid_field(
                "marketplace.connected_account",
                "the account is not known to the provider yet",
            ));
        };
        let mut p = Problems::default();
        match mode {
            CheckoutMode::Payment => {
                if m.application_fee_percent.is_some() {
                    p.add(
                        "marketplace.application_fee_percent",
                        "for subscriptions; payments take application_fee_amount",
                    );
                }
                if m.application_fee_amount.is_some_and(|a| a < 0) {
                    p.add(
                        "marketplace.application_fee_amount",
                        "expected minor units of at least 0",
                    );
                }
            }
            CheckoutMode::Subscription => {
                if m.application_fee_amount.is_some() {
                    p.add(
                        "marketplace.application_fee_amount",
                        "for payments; subscriptions take application_fee_percent",
                    );
                }
                if m.application_fee_percent
                    .is_some_and(|f| !(0.0..=100.0).contains(&f))
                {
                    p.add("marketplace.application_fee_percent", "expected 0 to 100");
                }
            }
        }
        p.finish()?;
        Ok(Marketplace {
            connected_account: acct,
            application_fee_amount: m.application_fee_amount,
            application_fee_percent: m.application_fee_percent,
        })
    }

    pub(super) async fn checkout(&self, id: &str) -> Result<Checkout, ApiError> {
        payments::get::<Checkout>(self.inner.store.as_ref(), id)
            .await?
            .ok_or_else(|| ApiError::not_found("checkout", id))
    }

    /// Re-reads a checkout (capturing an approved PayPal order) and what it started.
    pub(super) async fn resync(&self, c: Checkout) -> Result<Checkout, ApiError> {
        let provider = self.provider_of(&c.provider).await?;
        let Some(provider_id) = c.provider_id.clone() else {
            if c.status == CheckoutStatus::Creating {
                return self
                    .make_checkout(provider.as_ref(), &c)
                    .await
                    .map_err(|e| e.api(provider.name()));
            }
            return Ok(c);
        };
        let answer = provider
            .retrieve_checkout(&provider_id, c.mode, &c.id)
            .await;
        self.count(provider.name(), "retrieve_checkout", &answer);
        let mut state = answer.map_err(|e| provider_error(provider.name(), e))?;
        state.hub_id = Some(c.id.clone());
        let subscription = state.provider_subscription.clone();
        self.record(provider.name(), Report::Checkout(state))
            .await?;
        if let Some(sub) = subscription {
            let answer = provider.retrieve_subscription(&sub).await;
            self.count(provider.name(), "retrieve_subscription", &answer);
            if let Ok(s) = answer {
                self.record(provider.name(), Report::Subscription(s))
                    .await?;
            }
        }
        let now = self.checkout(&c.id).await?;
        self.schedule_recheck(&now).await?;
        Ok(now)
    }
}

/// Fetch a checkout, from the mirror.
#[utoipa::path(get, path = "/v1/payments/checkout/{id}", tag = "payments", operation_id = "payments.checkout.get",
    params(("id" = String, Path, description = ID)),
    responses((status = 200, body = CheckoutView)))]
async fn get(
    State(payments): State<Payments>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::Json<CheckoutView>> {
    Ok(axum::Json(payments.checkout(&id).await?.into()))
}

/// Re-read a checkout from the provider and update the mirror: for a buyer who paid
/// while the webhook is late or lost. A PayPal order the buyer approved is captured.
#[utoipa::path(post, path = "/v1/payments/checkout/{id}/sync", tag = "payments", operation_id = "payments.checkout.sync",
    params(("id" = String, Path, description = ID)),
    responses((status = 200, body = CheckoutView),
        (status = 503, description = "The provider is unavailable (`provider_unavailable`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn sync(
    State(payments): State<Payments>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::Json<CheckoutView>> {
    let c = payments.checkout(&id).await?;
    Ok(axum::Json(payments.resync(c).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PortalRequest {
    /// `pcus_…`
    customer: String,
    /// Where the customer comes back to.
    return_url: String,
}

/// A billing portal session where the customer manages subscriptions and payment
/// methods (Stripe). Providers without one answer 422 `not_supported`.
#[utoipa::path(post, path = "/v1/payments/portal", tag = "payments", operation_id = "payments.portal.create",
    request_body = PortalRequest,
    responses((status = 200, body = LinkView)))]
async fn portal(
    State(payments): State<Payments>,
    ApiJson(req): ApiJson<PortalRequest>,
) -> ApiResult<axum::Json<LinkView>> {
    let mut p = Problems::default();
    validate::http_url(&mut p, "return_url", &req.return_url);
    p.finish()?;
    let customer = payments.customer(&req.customer).await.map_err(|_| {
        ApiError::invalid_field(
            "customer",
            format!("no customer with id {:?}", req.customer),
        )
    })?;
    let provider = payments.provider_of(&customer.provider).await?;
    let Some(portal) = provider.portal() else {
        return Err(not_supported(provider.name(), "the billing portal"));
    };
    let Some(provider_customer) = &customer.provider_id else {
        return Err(ApiError::invalid_field(
            "customer",
            "the customer is not known to the provider yet",
        ));
    };
    let answer = portal
        .portal_session(provider_customer, &req.return_url)
        .await;
    payments.count(provider.name(), "portal_session", &answer);
    let link = answer.map_err(|e| provider_error(provider.name(), e))?;
    Ok(axum::Json(link.into()))
}
