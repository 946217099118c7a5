//! `/v1/endpoints`: where the application receives events, and their signing secrets.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use switchyard_core::apikey::Scope;
use switchyard_core::delivery::{Endpoint, valid_pattern};
use switchyard_core::time::{now_ms, rfc3339};
use switchyard_signatures::standard;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::delivery::{guard, previous_secret_id, secret_id};
use crate::extract::{ApiJson, ApiQuery, List, PageQuery};
use crate::problem::{ApiError, ApiResult, FieldError};
use crate::state::AppState;

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
/// `GET /v1/endpoints/{id}/secret`, and on rotation.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    pub description: Option<String>,
    /// Subscribed types (`*` matches a dot segment); empty: every event.
    pub event_types: Vec<String>,
    pub headers: BTreeMap<String, String>,
    /// Deliveries per second across all nodes.
    pub rate_limit: Option<i64>,
    pub ordered: bool,
    pub enabled: bool,
    /// Why the hub disabled it: `gone` (answered 410) or `failing`.
    pub disabled_reason: Option<String>,
    /// Until when deliveries are also signed with the previous secret.
    pub previous_secret_until: Option<String>,
    /// Since when every attempt has failed.
    pub failing_since: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn view(e: &Endpoint, secret: Option<String>) -> EndpointView {
    EndpointView {
        id: e.id.clone(),
        url: e.url.clone(),
        description: e.description.clone(),
        event_types: e.event_types.clone(),
        headers: serde_json::from_str(&e.headers).unwrap_or_default(),
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

/// Applies the fields of a create or update request to `endpoint`; every problem is
/// collected, so one answer names them all. Returns a secret given in the request.
async fn apply(
    state: &AppState,
    endpoint: &mut Endpoint,
    body: Map<String, Value>,
    creating: bool,
) -> Result<Option<String>, ApiError> {
    let mut errors = Vec::new();
    let mut error = |field: &str, message: String| {
        errors.push(FieldError {
            field: field.into(),
            message,
        })
    };
    let mut secret = None;
    if creating && !body.contains_key("url") {
        error("url", "is required".into());
    }
    for (key, value) in body {
        match key.as_str() {
            "url" => match value.as_str().map(reqwest::Url::parse) {
                Some(Ok(url))
                    if matches!(url.scheme(), "http" | "https") && url.host().is_some() =>
                {
                    match guard::check_host(&url, state.config.delivery.allow_private_networks)
                        .await
                    {
                        Ok(()) => endpoint.url = url.to_string(),
                        Err(e) => error("url", e.to_string()),
                    }
                }
                _ => error("url", "expected an absolute http:// or https:// URL".into()),
            },
            "description" => match value {
                Value::Null => endpoint.description = None,
                Value::String(s) if s.len() <= 500 => endpoint.description = Some(s),
                _ => error(
                    "description",
                    "expected a string of at most 500 characters".into(),
                ),
            },
            "event_types" => match value {
                Value::Null => endpoint.event_types = Vec::new(),
                Value::Array(items) => {
                    let mut types = Vec::new();
                    for item in items {
                        match item.as_str() {
                            Some(t) if t.len() <= 200 && valid_pattern(t) => {
                                types.push(t.to_string())
                            }
                            _ => {
                                error(
                                    "event_types",
                                    format!(
                                        "{item} is not a type pattern such as payment.* or message.delivered"
                                    ),
                                );
                            }
                        }
                    }
                    types.sort();
                    types.dedup();
                    endpoint.event_types = types;
                }
                _ => error("event_types", "expected an array of type patterns".into()),
            },
            "headers" => match value {
                Value::Null => endpoint.headers = "{}".into(),
                Value::Object(map) => {
                    let mut headers = BTreeMap::new();
                    for (name, value) in map {
                        let lower = name.to_ascii_lowercase();
                        let valid_name =
                            reqwest::header::HeaderName::try_from(lower.as_str()).is_ok();
                        match value.as_str() {
                            _ if !valid_name => {
                                error("headers", format!("{name:?} is not a header name"))
                            }
                            _ if RESERVED_HEADERS.contains(&lower.as_str()) => error(
                                "headers",
                                format!("{name} is set by the hub and cannot be overridden"),
                            ),
                            Some(v) if reqwest::header::HeaderValue::try_from(v).is_ok() => {
                                headers.insert(lower, v.to_string());
                            }
                            _ => {
                                error("headers", format!("{name}: expected a string header value"))
                            }
                        }
                    }
                    endpoint.headers =
                        serde_json::to_string(&headers).map_err(ApiError::internal)?;
                }
                _ => error(
                    "headers",
                    "expected an object of header names to values".into(),
                ),
            },
            "rate_limit" => match value {
                Value::Null => endpoint.rate_limit = None,
                Value::Number(n) if n.as_i64().is_some_and(|n| (1..=100_000).contains(&n)) => {
                    endpoint.rate_limit = n.as_i64()
                }
                _ => error(
                    "rate_limit",
                    "expected deliveries per second, 1 to 100000, or null".into(),
                ),
            },
            "ordered" => match value {
                Value::Bool(b) => endpoint.ordered = b,
                _ => error("ordered", "expected true or false".into()),
            },
            "enabled" => match value {
                Value::Bool(b) => {
                    endpoint.enabled = b;
                    if b {
                        endpoint.disabled_reason = None;
                        endpoint.failing_since = None;
                    }
                }
                _ => error("enabled", "expected true or false".into()),
            },
            "secret" if creating => match value.as_str() {
                Some(s) if s.starts_with("whsec_") && standard::decode_secret(s).is_ok() => {
                    secret = Some(s.to_string())
                }
                _ => error(
                    "secret",
                    "expected whsec_ followed by base64 of 24 to 64 bytes".into(),
                ),
            },
            "secret" => error("secret", "use POST /v1/endpoints/{id}/rotate-secret".into()),
            other => error(other, "unknown field".into()),
        }
    }
    if errors.is_empty() {
        Ok(secret)
    } else {
        Err(ApiError::invalid_fields(errors))
    }
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if switchyard_core::id::has_prefix(id, "ep") {
        Ok(())
    } else {
        Err(ApiError::not_found("endpoint", id))
    }
}

pub(crate) async fn load(state: &AppState, id: &str) -> Result<Endpoint, ApiError> {
    check_id(id)?;
    state
        .store
        .get_endpoint(id)
        .await?
        .ok_or_else(|| ApiError::not_found("endpoint", id))
}

/// Create an endpoint. The answer carries its signing secret (`whsec_…`).
#[utoipa::path(post, path = "/v1/endpoints", tag = "endpoints", request_body = Object, security(("bearer" = [])),
    responses((status = 201, body = EndpointView), (status = 400, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<(StatusCode, axum::Json<EndpointView>)> {
    principal.require(Scope::Endpoints, true)?;
    let now = now_ms();
    let mut endpoint = Endpoint {
        id: switchyard_core::new_id("ep"),
        url: String::new(),
        description: None,
        event_types: Vec::new(),
        headers: "{}".into(),
        rate_limit: None,
        ordered: false,
        enabled: true,
        disabled_reason: None,
        secret_grace_until: None,
        failing_since: None,
        created_at: now,
        updated_at: now,
    };
    let secret = apply(&state, &mut endpoint, body, true)
        .await?
        .unwrap_or_else(standard::generate_secret);
    // The secret is sealed first: an endpoint row never exists without it.
    state
        .vault
        .put(&secret_id(&endpoint.id), secret.as_bytes())
        .await
        .map_err(ApiError::internal)?;
    state.store.insert_endpoint(&endpoint).await?;
    tracing::info!(endpoint_id = %endpoint.id, by = %principal.key_id, "endpoint created");
    Ok((
        StatusCode::CREATED,
        axum::Json(view(&endpoint, Some(secret))),
    ))
}

/// List endpoints, newest first.
#[utoipa::path(get, path = "/v1/endpoints", tag = "endpoints", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = inline(List<EndpointView>))))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<List<EndpointView>>> {
    principal.require(Scope::Endpoints, false)?;
    let (limit, page) = query.page()?;
    let views = state
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
#[utoipa::path(get, path = "/v1/endpoints/{id}", tag = "endpoints", security(("bearer" = [])),
    responses((status = 200, body = EndpointView), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<EndpointView>> {
    principal.require(Scope::Endpoints, false)?;
    Ok(axum::Json(view(&load(&state, &id).await?, None)))
}

/// Change an endpoint. `enabled: true` re-enables a disabled one.
#[utoipa::path(patch, path = "/v1/endpoints/{id}", tag = "endpoints", request_body = Object, security(("bearer" = [])),
    responses((status = 200, body = EndpointView), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<axum::Json<EndpointView>> {
    principal.require(Scope::Endpoints, true)?;
    let mut endpoint = load(&state, &id).await?;
    apply(&state, &mut endpoint, body, false).await?;
    endpoint.updated_at = now_ms();
    if !state.store.update_endpoint(&endpoint).await? {
        return Err(ApiError::not_found("endpoint", &id));
    }
    state.delivery.invalidate(&id);
    tracing::info!(endpoint_id = %id, by = %principal.key_id, "endpoint updated");
    Ok(axum::Json(view(&endpoint, None)))
}

/// Delete an endpoint, its secrets and its pending deliveries.
#[utoipa::path(delete, path = "/v1/endpoints/{id}", tag = "endpoints", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(Scope::Endpoints, true)?;
    check_id(&id)?;
    if !state.store.delete_endpoint(&id).await? {
        return Err(ApiError::not_found("endpoint", &id));
    }
    for record in [secret_id(&id), previous_secret_id(&id)] {
        state
            .vault
            .delete(&record)
            .await
            .map_err(ApiError::internal)?;
    }
    state.delivery.invalidate(&id);
    tracing::info!(endpoint_id = %id, by = %principal.key_id, "endpoint deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretView {
    pub secret: String,
    /// During a rotation: until when the previous secret still signs deliveries.
    pub previous_secret_until: Option<String>,
}

/// The endpoint's current signing secret.
#[utoipa::path(get, path = "/v1/endpoints/{id}/secret", tag = "endpoints", security(("bearer" = [])),
    responses((status = 200, body = SecretView), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn secret(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<SecretView>> {
    principal.require(Scope::Endpoints, true)?;
    let endpoint = load(&state, &id).await?;
    let secret = state
        .vault
        .get(&secret_id(&id))
        .await
        .map_err(ApiError::internal)?
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
pub struct RotateRequest {
    /// How long deliveries are also signed with the replaced secret (default `24h`;
    /// `0s` stops it at once).
    pub grace: Option<String>,
}

/// Replace the signing secret. During the grace period every delivery carries a
/// signature from each secret, so receivers can switch without rejecting any.
#[utoipa::path(post, path = "/v1/endpoints/{id}/rotate-secret", tag = "endpoints", request_body = Option<RotateRequest>, security(("bearer" = [])),
    responses((status = 200, body = SecretView), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<axum::Json<SecretView>> {
    principal.require(Scope::Endpoints, true)?;
    let mut endpoint = load(&state, &id).await?;
    // The body is optional: none (or `{}`) rotates with the default grace.
    let request: RotateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RotateRequest { grace: None }
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(
                "invalid_body",
                format!("expected {{\"grace\": \"24h\"}}: {e}"),
            )
        })?
    };
    let grace = match request.grace {
        None => std::time::Duration::from_secs(24 * 3600),
        Some(g) => switchyard_core::duration::parse(&g)
            .map_err(|_| ApiError::invalid_field("grace", "expected a duration such as 24h"))?,
    };
    let vault = &state.vault;
    let current = vault
        .get(&secret_id(&id))
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal("the endpoint has no secret"))?;
    let now = now_ms();
    if grace.is_zero() {
        vault
            .delete(&previous_secret_id(&id))
            .await
            .map_err(ApiError::internal)?;
        endpoint.secret_grace_until = None;
    } else {
        vault
            .put(&previous_secret_id(&id), current.expose())
            .await
            .map_err(ApiError::internal)?;
        endpoint.secret_grace_until = Some(now.saturating_add(grace.as_millis() as i64));
    }
    let fresh = standard::generate_secret();
    vault
        .put(&secret_id(&id), fresh.as_bytes())
        .await
        .map_err(ApiError::internal)?;
    endpoint.updated_at = now;
    state.store.update_endpoint(&endpoint).await?;
    state.delivery.invalidate(&id);
    tracing::info!(endpoint_id = %id, by = %principal.key_id, "endpoint secret rotated");
    Ok(axum::Json(SecretView {
        secret: fresh,
        previous_secret_until: endpoint.secret_grace_until.map(rfc3339),
    }))
}
