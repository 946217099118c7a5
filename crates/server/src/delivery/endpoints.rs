//! `/v1/endpoints`: where the application receives events, and their signing secrets.
//! What is secret in a destination (the URL's password, the extra headers' values) is
//! sealed and shown masked.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use switchyard_core::apikey::Scope;
use switchyard_core::delivery::{Endpoint, valid_pattern};
use switchyard_core::time::{now_ms, rfc3339};
use switchyard_signatures::standard;
use switchyard_store::vault::ids;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Delivery;
use super::destination::{self, Private};
use crate::http::{
    ApiBody, ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, Cursor, List, Need, PageQuery,
    Principal, Problems, extract, require, validate,
};
use crate::runtime::guard;

pub(super) fn router() -> OpenApiRouter<Delivery> {
    OpenApiRouter::new()
        .routes(require(Need::Write(Scope::Endpoints), routes!(create)))
        .routes(require(Need::Read(Scope::Endpoints), routes!(list)))
        .routes(require(Need::Read(Scope::Endpoints), routes!(get)))
        .routes(require(Need::Write(Scope::Endpoints), routes!(update)))
        .routes(require(Need::Write(Scope::Endpoints), routes!(delete)))
        .routes(require(Need::Write(Scope::Endpoints), routes!(secret)))
        .routes(require(
            Need::Write(Scope::Endpoints),
            routes!(rotate_secret),
        ))
}

/// Request headers an endpoint may not override: the hub sets them.
const RESERVED_HEADERS: &[&str] = &[
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "transfer-encoding",
    "connection",
];

/// An endpoint as shown. The secret appears only when created, through
/// `GET /v1/endpoints/{id}/secret`, and on rotation; a URL's password and the headers'
/// values only masked.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EndpointView {
    pub(crate) id: String,
    /// With its password, if any, masked.
    pub(crate) url: String,
    pub(crate) description: Option<String>,
    /// Subscribed types (`*` matches a dot segment); empty: every event.
    pub(crate) event_types: Vec<String>,
    /// The extra headers, their values masked.
    pub(crate) headers: BTreeMap<String, String>,
    /// Deliveries per second across all nodes.
    pub(crate) rate_limit: Option<i64>,
    pub(crate) ordered: bool,
    pub(crate) enabled: bool,
    /// Why the hub disabled it: `gone` (answered 410) or `failing`.
    pub(crate) disabled_reason: Option<String>,
    /// Until when deliveries are also signed with the previous secret.
    pub(crate) previous_secret_until: Option<String>,
    /// Since when every attempt has failed.
    pub(crate) failing_since: Option<String>,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    /// Only in the answer that creates the endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) secret: Option<String>,
}

fn view(e: &Endpoint, secret: Option<String>) -> EndpointView {
    EndpointView {
        id: e.id.clone(),
        url: destination::mask_url(&e.url),
        description: e.description.clone(),
        event_types: e.event_types.clone(),
        headers: destination::mask_headers(&e.headers),
        rate_limit: e.rate_limit,
        ordered: e.ordered,
        enabled: e.enabled,
        disabled_reason: e.disabled_reason.clone(),
        previous_secret_until: e.secret_grace_until.filter(|t| *t > now_ms()).map(rfc3339),
        failing_since: e.failing_since.map(rfc3339),
        created_at: rfc3339(e.created_at),
        updated_at: rfc3339(e.updated_at),
        secret,
    }
}

/// The fields of an endpoint (every one optional when changing it). The routes read
/// them field by field, so that one answer names every invalid field; this type is what
/// the document shows (kept in step with [`apply`] by a test).
#[allow(dead_code, reason = "the schema of a body read field by field")]
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EndpointFields {
    /// An absolute `http://` or `https://` URL; loopback, private and link-local
    /// destinations are refused unless `delivery.allow_private_networks`. A password in
    /// it is sealed.
    pub(crate) url: Option<String>,
    /// At most 500 characters.
    pub(crate) description: Option<String>,
    /// Type patterns such as `payment.*` or `message.delivered`; none: every event.
    pub(crate) event_types: Option<Vec<String>>,
    /// Extra request headers; their values are sealed.
    pub(crate) headers: Option<BTreeMap<String, String>>,
    /// Deliveries per second across all nodes, 1 to 100000; `null`: no limit.
    #[schema(minimum = 1, maximum = 100_000)]
    pub(crate) rate_limit: Option<i64>,
    /// One delivery at a time, in event order.
    pub(crate) ordered: Option<bool>,
    /// `true` re-enables an endpoint the hub disabled.
    pub(crate) enabled: Option<bool>,
    /// On creation only: `whsec_` followed by base64 of 24 to 64 bytes; default: one is
    /// generated.
    pub(crate) secret: Option<String>,
}

/// Applies the fields of a create or update request to `endpoint` and its destination;
/// every problem is collected, so one answer names them all. Returns a secret given in
/// the request.
async fn apply(
    delivery: &Delivery,
    endpoint: &mut Endpoint,
    private: &mut Private,
    body: Map<String, Value>,
    creating: bool,
) -> Result<Option<String>, ApiError> {
    let mut p = Problems::default();
    let mut secret = None;
    if creating && !body.contains_key("url") {
        p.add("url", "is required");
    }
    let allow = guard::Allow::delivery(delivery.inner.config.allow_private_networks);
    for (key, value) in body {
        match key.as_str() {
            "url" => match value.as_str().map(reqwest::Url::parse) {
                Some(Ok(url))
                    if matches!(url.scheme(), "http" | "https") && url.host().is_some() =>
                {
                    match guard::check_host(&url, allow).await {
                        Ok(()) => private.url = url.to_string(),
                        Err(e) => p.add("url", e.to_string()),
                    }
                }
                _ => p.add("url", "expected an absolute http:// or https:// URL"),
            },
            "description" => match value {
                Value::Null => endpoint.description = None,
                Value::String(s) => {
                    if validate::text(&mut p, "description", &s, 500) {
                        endpoint.description = Some(s);
                    }
                }
                _ => p.add("description", "expected a string of at most 500 characters"),
            },
            "event_types" => match value {
                Value::Null => endpoint.event_types = Vec::new(),
                Value::Array(items) => {
                    let mut types = Vec::new();
                    for item in items {
                        match item.as_str() {
                            Some(t) if t.len() <= 200 && valid_pattern(t) => types.push(t.to_string()),
                            _ => p.add(
                                "event_types",
                                format!("{item} is not a type pattern such as payment.* or message.delivered"),
                            ),
                        }
                    }
                    types.sort();
                    types.dedup();
                    endpoint.event_types = types;
                }
                _ => p.add("event_types", "expected an array of type patterns"),
            },
            "headers" => match value {
                Value::Null => private.headers = BTreeMap::new(),
                Value::Object(map) => private.headers = headers(&mut p, map),
                _ => p.add("headers", "expected an object of header names to values"),
            },
            "rate_limit" => match value {
                Value::Null => endpoint.rate_limit = None,
                Value::Number(n) if n.as_i64().is_some_and(|n| (1..=100_000).contains(&n)) => {
                    endpoint.rate_limit = n.as_i64()
                }
                _ => p.add(
                    "rate_limit",
                    "expected deliveries per second, 1 to 100000, or null",
                ),
            },
            "ordered" => match value {
                Value::Bool(b) => endpoint.ordered = b,
                _ => p.add("ordered", "expected true or false"),
            },
            "enabled" => match value {
                Value::Bool(b) => {
                    endpoint.enabled = b;
                    if b {
                        endpoint.disabled_reason = None;
                        endpoint.failing_since = None;
                    }
                }
                _ => p.add("enabled", "expected true or false"),
            },
            "secret" if creating => match value.as_str() {
                Some(s) if s.starts_with("whsec_") && standard::decode_secret(s).is_ok() => {
                    secret = Some(s.to_string())
                }
                _ => p.add(
                    "secret",
                    "expected whsec_ followed by base64 of 24 to 64 bytes",
                ),
            },
            "secret" => p.add("secret", "use POST /v1/endpoints/{id}/rotate-secret"),
            other => p.add(other, "unknown field"),
        }
    }
    p.finish()?;
    Ok(secret)
}

fn headers(p: &mut Problems, map: Map<String, Value>) -> BTreeMap<String, String> {
    let mut headers = BTreeMap::new();
    for (name, value) in map {
        let lower = name.to_ascii_lowercase();
        let valid_name = reqwest::header::HeaderName::try_from(lower.as_str()).is_ok();
        match value.as_str() {
            _ if !valid_name => p.add("headers", format!("{name:?} is not a header name")),
            _ if RESERVED_HEADERS.contains(&lower.as_str()) => p.add(
                "headers",
                format!("{name} is set by the hub and cannot be overridden"),
            ),
            Some(v) if reqwest::header::HeaderValue::try_from(v).is_ok() => {
                headers.insert(lower, v.to_string());
            }
            _ => p.add("headers", format!("{name}: expected a string header value")),
        }
    }
    headers
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if switchyard_core::id::has_prefix(id, "ep") {
        Ok(())
    } else {
        Err(ApiError::not_found("endpoint", id))
    }
}

pub(super) async fn load(delivery: &Delivery, id: &str) -> Result<Endpoint, ApiError> {
    check_id(id)?;
    delivery
        .inner
        .store
        .get_endpoint(id)
        .await?
        .ok_or_else(|| ApiError::not_found("endpoint", id))
}

const ID: &str = "An endpoint id, `ep_…`";

/// Create an endpoint. The answer carries its signing secret (`whsec_…`).
#[utoipa::path(post, path = "/v1/endpoints", tag = "endpoints", operation_id = "endpoints.create",
    request_body(content = EndpointFields, description = "`url` is required."),
    responses((status = 201, body = EndpointView)))]
async fn create(
    State(delivery): State<Delivery>,
    principal: Principal,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<(StatusCode, axum::Json<EndpointView>)> {
    let now = now_ms();
    let mut endpoint = Endpoint::new(switchyard_core::new_id("ep"), String::new(), now);
    let mut private = Private::default();
    let secret = apply(&delivery, &mut endpoint, &mut private, body, true)
        .await?
        .unwrap_or_else(standard::generate_secret);
    let vault = &delivery.inner.vault;
    // The secrets are sealed first: an endpoint row never exists without them.
    vault
        .put(&ids::endpoint_secret(&endpoint.id), secret.as_bytes())
        .await?;
    destination::seal(vault, &mut endpoint, &private).await?;
    delivery.inner.store.insert_endpoint(&endpoint).await?;
    tracing::info!(endpoint_id = %endpoint.id, by = %principal.key_id, "endpoint created");
    Ok((
        StatusCode::CREATED,
        axum::Json(view(&endpoint, Some(secret))),
    ))
}

/// List endpoints, newest first.
#[utoipa::path(get, path = "/v1/endpoints", tag = "endpoints", operation_id = "endpoints.list", params(PageQuery),
    responses((status = 200, body = inline(List<EndpointView>))))]
async fn list(
    State(delivery): State<Delivery>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<List<EndpointView>>> {
    let (limit, page) = query.page(Cursor::Id("ep"))?;
    let views = delivery
        .inner
        .store
        .list_endpoints(&page)
        .await?
        .iter()
        .map(|e| view(e, None))
        .collect();
    Ok(axum::Json(List::from_overfetch(
        views,
        limit,
        |e: &EndpointView| e.id.clone(),
    )))
}

/// Fetch one endpoint (without its secret).
#[utoipa::path(get, path = "/v1/endpoints/{id}", tag = "endpoints", operation_id = "endpoints.get",
    params(("id" = String, Path, description = ID)),
    responses((status = 200, body = EndpointView)))]
async fn get(
    State(delivery): State<Delivery>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::Json<EndpointView>> {
    Ok(axum::Json(view(&load(&delivery, &id).await?, None)))
}

/// Change an endpoint. `enabled: true` re-enables a disabled one.
#[utoipa::path(patch, path = "/v1/endpoints/{id}", tag = "endpoints", operation_id = "endpoints.update",
    params(("id" = String, Path, description = ID)),
    request_body(content = EndpointFields, description = "Fields to change; `secret` is changed by rotation."),
    responses((status = 200, body = EndpointView)))]
async fn update(
    State(delivery): State<Delivery>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<axum::Json<EndpointView>> {
    let mut endpoint = load(&delivery, &id).await?;
    let vault = &delivery.inner.vault;
    let mut private = destination::open(vault, &endpoint).await?;
    apply(&delivery, &mut endpoint, &mut private, body, false).await?;
    destination::seal(vault, &mut endpoint, &private).await?;
    endpoint.updated_at = now_ms();
    if !delivery.inner.store.update_endpoint(&endpoint).await? {
        return Err(ApiError::not_found("endpoint", &id));
    }
    delivery.inner.dispatcher.invalidate(&id);
    tracing::info!(endpoint_id = %id, by = %principal.key_id, "endpoint updated");
    Ok(axum::Json(view(&endpoint, None)))
}

/// Delete an endpoint, its secrets and its pending deliveries.
#[utoipa::path(delete, path = "/v1/endpoints/{id}", tag = "endpoints", operation_id = "endpoints.delete",
    params(("id" = String, Path, description = ID)),
    responses((status = 204, description = "Deleted")))]
async fn delete(
    State(delivery): State<Delivery>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    check_id(&id)?;
    if !delivery.inner.store.delete_endpoint(&id).await? {
        return Err(ApiError::not_found("endpoint", &id));
    }
    for record in [
        ids::endpoint_secret(&id),
        ids::endpoint_previous(&id),
        ids::endpoint_private(&id),
    ] {
        delivery.inner.vault.delete(&record).await?;
    }
    delivery.inner.dispatcher.invalidate(&id);
    tracing::info!(endpoint_id = %id, by = %principal.key_id, "endpoint deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SecretView {
    pub(crate) secret: String,
    /// During a rotation: until when the previous secret still signs deliveries.
    pub(crate) previous_secret_until: Option<String>,
}

/// The endpoint's current signing secret.
#[utoipa::path(get, path = "/v1/endpoints/{id}/secret", tag = "endpoints", operation_id = "endpoints.secret",
    params(("id" = String, Path, description = ID)),
    responses((status = 200, body = SecretView)))]
async fn secret(
    State(delivery): State<Delivery>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::Json<SecretView>> {
    let endpoint = load(&delivery, &id).await?;
    let secret = delivery
        .inner
        .vault
        .get(&ids::endpoint_secret(&id))
        .await?
        .ok_or_else(|| ApiError::internal("the endpoint has no secret"))?;
    Ok(axum::Json(SecretView {
        secret: String::from_utf8_lossy(secret.expose()).into_owned(),
        previous_secret_until: endpoint
            .secret_grace_until
            .filter(|t| *t > now_ms())
            .map(rfc3339),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateRequest {
    /// How long deliveries are also signed with the replaced secret (default `24h`;
    /// `0s` stops it at once).
    pub(crate) grace: Option<String>,
}

/// Replace the signing secret. During the grace period every delivery carries a
/// signature from each secret, so receivers can switch without rejecting any.
#[utoipa::path(post, path = "/v1/endpoints/{id}/rotate-secret", tag = "endpoints", operation_id = "endpoints.rotate_secret",
    params(("id" = String, Path, description = ID)),
    request_body(content = Option<RotateRequest>, description = "Optional; without it the grace is 24h."),
    responses((status = 200, body = SecretView)))]
async fn rotate_secret(
    State(delivery): State<Delivery>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiBody(body): ApiBody,
) -> ApiResult<axum::Json<SecretView>> {
    let request: RotateRequest =
        extract::optional_json(&body)?.unwrap_or(RotateRequest { grace: None });
    let mut endpoint = load(&delivery, &id).await?;
    let grace = match request.grace {
        None => std::time::Duration::from_secs(24 * 3600),
        Some(g) => switchyard_core::duration::parse(&g)
            .map_err(|_| ApiError::invalid_field("grace", "expected a duration such as 24h"))?,
    };
    let fresh = standard::generate_secret();
    endpoint.secret_grace_until = delivery
        .inner
        .vault
        .rotate(
            &ids::endpoint_secret(&id),
            &ids::endpoint_previous(&id),
            fresh.as_bytes(),
            grace,
        )
        .await?;
    endpoint.updated_at = now_ms();
    delivery.inner.store.update_endpoint(&endpoint).await?;
    delivery.inner.dispatcher.invalidate(&id);
    tracing::info!(endpoint_id = %id, by = %principal.key_id, "endpoint secret rotated");
    Ok(axum::Json(SecretView {
        secret: fresh,
        previous_secret_until: endpoint.secret_grace_until.map(rfc3339),
    }))
}
