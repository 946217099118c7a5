//! `/v1/keys`: API key management over HTTP (the same operations as `switchyard keys`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use switchyard_core::apikey::{ApiKey, Scope};
use switchyard_core::time::{now_ms, parse_rfc3339, rfc3339};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::extract::{ApiJson, ApiQuery, List, PageQuery};
use crate::keys::{self, CreatedKey};
use crate::problem::{ApiError, ApiResult, FieldError};
use crate::state::AppState;

/// An API key as listed. The raw key is never shown again after creation.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    /// The key's last characters, to tell keys apart: `sk_…AbC1`.
    pub hint: String,
    pub scopes: Vec<String>,
    /// `active`, `expired` or `revoked`.
    pub status: &'static str,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
    /// The key this one replaced, when created by a rotation.
    pub rotated_from: Option<String>,
}

impl From<&ApiKey> for KeyView {
    fn from(k: &ApiKey) -> Self {
        KeyView {
            id: k.id.clone(),
            name: k.name.clone(),
            hint: format!("sk_…{}", k.hint),
            scopes: k.scopes.iter().map(|s| s.as_str().to_string()).collect(),
            status: keys::status(k, now_ms()),
            created_at: rfc3339(k.created_at),
            expires_at: k.expires_at.map(rfc3339),
            revoked_at: k.revoked_at.map(rfc3339),
            last_used_at: k.last_used_at.map(rfc3339),
            rotated_from: k.rotated_from.clone(),
        }
    }
}

/// A key just created; `key` holds the raw secret and is shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKeyView {
    #[serde(flatten)]
    pub meta: KeyView,
    /// The raw API key (`sk_…`). Store it now: it cannot be retrieved later.
    pub key: String,
}

impl From<&CreatedKey> for CreatedKeyView {
    fn from(c: &CreatedKey) -> Self {
        CreatedKeyView {
            meta: KeyView::from(&c.key),
            key: c.raw.expose().clone(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// What the key is for, e.g. `billing-service`.
    pub name: String,
    /// Default `["admin"]`. One or more of `admin`, `read`, `keys`, `sources`, `events`,
    /// `endpoints`, `messages`, `templates`, `accounts`.
    pub scopes: Option<Vec<String>>,
    /// Lifetime such as `90d`; the key stops working after it.
    pub expires_in: Option<String>,
    /// Absolute expiry (RFC 3339). Exclusive with `expires_in`.
    pub expires_at: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    /// How long the old key keeps working, e.g. `24h` (default) or `0s`.
    pub grace: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedKeyView {
    #[serde(flatten)]
    pub created: CreatedKeyView,
    /// The replaced key, now expiring at the end of the grace period.
    pub previous: KeyView,
}

fn validate_create(body: &CreateKey) -> Result<(Vec<Scope>, Option<i64>), ApiError> {
    let mut errors = Vec::new();
    let mut error = |field: &str, message: String| {
        errors.push(FieldError {
            field: field.into(),
            message,
        })
    };
    let name = body.name.trim();
    if name.is_empty() || name.len() > 100 {
        error("name", "must be 1 to 100 characters".into());
    }
    let scopes = match &body.scopes {
        None => vec![Scope::Admin],
        Some(list) if list.is_empty() => {
            error("scopes", "must name at least one scope".into());
            vec![]
        }
        Some(list) => Scope::parse_list(&list.join(" ")).unwrap_or_else(|e| {
            error("scopes", e);
            vec![]
        }),
    };
    let now = now_ms();
    let expires_at = match (&body.expires_in, &body.expires_at) {
        (Some(_), Some(_)) => {
            error(
                "expires_in",
                "give either expires_in or expires_at, not both".into(),
            );
            None
        }
        (Some(d), None) => match switchyard_core::duration::parse(d) {
            Ok(d) if !d.is_zero() => Some(now.saturating_add(d.as_millis() as i64)),
            Ok(_) => {
                error("expires_in", "must be longer than zero".into());
                None
            }
            Err(e) => {
                error("expires_in", e.to_string());
                None
            }
        },
        (None, Some(t)) => match parse_rfc3339(t) {
            Some(t) if t > now => Some(t),
            Some(_) => {
                error("expires_at", "must be in the future".into());
                None
            }
            None => {
                error(
                    "expires_at",
                    "expected an RFC 3339 timestamp such as 2030-01-31T00:00:00Z".into(),
                );
                None
            }
        },
        (None, None) => None,
    };
    if errors.is_empty() {
        Ok((scopes, expires_at))
    } else {
        Err(ApiError::invalid_fields(errors))
    }
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if switchyard_core::id::has_prefix(id, "key") {
        Ok(())
    } else {
        Err(ApiError::not_found("API key", id))
    }
}

/// Create an API key.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = CreateKey,
    security(("bearer" = [])),
    responses((status = 201, body = CreatedKeyView), (status = 422, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<CreateKey>,
) -> ApiResult<(StatusCode, axum::Json<CreatedKeyView>)> {
    principal.require(Scope::Keys, true)?;
    let (scopes, expires_at) = validate_create(&body)?;
    if !principal.scopes.contains(&Scope::Admin) && scopes.contains(&Scope::Admin) {
        return Err(ApiError::forbidden(
            "only an admin key may create admin keys",
        ));
    }
    let created = keys::create(state.store.as_ref(), body.name.trim(), &scopes, expires_at).await?;
    tracing::info!(key_id = %created.key.id, by = %principal.key_id, "API key created");
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedKeyView::from(&created)),
    ))
}

/// List API keys, newest first.
#[utoipa::path(get, path = "/v1/keys", tag = "keys", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = inline(List<KeyView>))))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<List<KeyView>>> {
    principal.require(Scope::Keys, false)?;
    let (limit, page) = query.page()?;
    let keys = state.store.list_keys(&page).await?;
    let views = keys.iter().map(KeyView::from).collect();
    Ok(axum::Json(List::from_overfetch(
        views,
        limit,
        |k: &KeyView| k.id.clone(),
    )))
}

/// Fetch one API key.
#[utoipa::path(get, path = "/v1/keys/{id}", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = KeyView), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<KeyView>> {
    principal.require(Scope::Keys, false)?;
    check_id(&id)?;
    let key = state
        .store
        .get_key(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("API key", &id))?;
    Ok(axum::Json(KeyView::from(&key)))
}

/// Revoke an API key at once. Repeating the call is harmless.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = KeyView), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<KeyView>> {
    principal.require(Scope::Keys, true)?;
    check_id(&id)?;
    let key = state
        .store
        .revoke_key(&id, now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found("API key", &id))?;
    tracing::info!(key_id = %id, by = %principal.key_id, "API key revoked");
    Ok(axum::Json(KeyView::from(&key)))
}

/// Replace a key: a new key with the same name and scopes is issued; the old one keeps
/// working until the grace period ends. The body is optional.
#[utoipa::path(post, path = "/v1/keys/{id}/rotate", tag = "keys", request_body(content = RotateKey, description = "optional"),
    security(("bearer" = [])),
    responses((status = 201, body = RotatedKeyView), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn rotate(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, axum::Json<RotatedKeyView>)> {
    principal.require(Scope::Keys, true)?;
    check_id(&id)?;
    let request: RotateKey = if body.iter().all(u8::is_ascii_whitespace) {
        RotateKey { grace: None }
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                e.to_string(),
            )
        })?
    };
    let grace = match request.grace.as_deref() {
        None => std::time::Duration::from_secs(86_400),
        Some(g) => switchyard_core::duration::parse(g)
            .map_err(|e| ApiError::invalid_field("grace", e.to_string()))?,
    };
    let (created, previous) = keys::rotate(state.store.as_ref(), &id, grace)
        .await?
        .ok_or_else(|| ApiError::not_found("active API key", &id))?;
    tracing::info!(key_id = %id, new_key_id = %created.key.id, by = %principal.key_id, "API key rotated");
    Ok((
        StatusCode::CREATED,
        axum::Json(RotatedKeyView {
            created: CreatedKeyView::from(&created),
            previous: KeyView::from(&previous),
        }),
    ))
}
