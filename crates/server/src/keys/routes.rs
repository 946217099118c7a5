//! `/v1/keys`: API key management over HTTP (the same operations as `switchyard keys`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use switchyard_core::apikey::{self, ApiKey, KeyStatus, Scope};
use switchyard_core::time::{now_ms, parse_rfc3339, rfc3339};
use switchyard_store::Store;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ops::{self, CreatedKey};
use crate::http::{
    ApiBody, ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, Cursor, List, Need, PageQuery,
    Principal, Problems, extract, require, validate,
};

type Keys = State<Arc<dyn Store>>;

pub(super) fn router() -> OpenApiRouter<Arc<dyn Store>> {
    OpenApiRouter::new()
        .routes(require(Need::Write(Scope::Keys), routes!(create)))
        .routes(require(Need::Read(Scope::Keys), routes!(list)))
        .routes(require(Need::Read(Scope::Keys), routes!(get)))
        .routes(require(Need::Write(Scope::Keys), routes!(revoke)))
        .routes(require(Need::Write(Scope::Keys), routes!(rotate)))
}

/// An API key as listed. The raw key is never shown again after creation.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeyView {
    pub(crate) id: String,
    pub(crate) name: String,
    /// The key's last characters, to tell keys apart: `sk_…AbC1`.
    pub(crate) hint: String,
    pub(crate) scopes: Vec<Scope>,
    pub(crate) status: KeyStatus,
    pub(crate) created_at: String,
    pub(crate) expires_at: Option<String>,
    pub(crate) revoked_at: Option<String>,
    pub(crate) last_used_at: Option<String>,
    /// The key this one replaced, when created by a rotation.
    pub(crate) rotated_from: Option<String>,
}

impl From<&ApiKey> for KeyView {
    fn from(k: &ApiKey) -> Self {
        KeyView {
            id: k.id.clone(),
            name: k.name.clone(),
            hint: format!("sk_…{}", k.hint),
            scopes: k.scopes.clone(),
            status: k.status(now_ms()),
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
pub(crate) struct CreatedKeyView {
    #[serde(flatten)]
    pub(crate) meta: KeyView,
    /// The raw API key (`sk_…`). Store it now: it cannot be retrieved later.
    pub(crate) key: String,
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
pub(crate) struct CreateKey {
    /// What the key is for, e.g. `billing-service`.
    pub(crate) name: String,
    /// Default `["admin"]`. A key may only be given scopes the calling key holds
    /// (`admin` holds them all).
    #[schema(value_type = Option<Vec<Scope>>)]
    pub(crate) scopes: Option<Vec<String>>,
    /// Lifetime such as `90d`; the key stops working after it.
    pub(crate) expires_in: Option<String>,
    /// Absolute expiry (RFC 3339). Exclusive with `expires_in`.
    pub(crate) expires_at: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateKey {
    /// How long the old key keeps working, e.g. `24h` (default) or `0s`.
    pub(crate) grace: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RotatedKeyView {
    #[serde(flatten)]
    pub(crate) created: CreatedKeyView,
    /// The replaced key, now expiring at the end of the grace period.
    pub(crate) previous: KeyView,
}

fn validate_create(body: &CreateKey) -> Result<(String, Vec<Scope>, Option<i64>), ApiError> {
    let mut p = Problems::default();
    let name = validate::label(&mut p, "name", &body.name, 100);
    let mut scopes = match &body.scopes {
        None => vec![Scope::Admin],
        Some(list) if list.is_empty() => {
            p.add("scopes", "must name at least one scope");
            vec![]
        }
        Some(list) => Scope::parse_list(&list.join(" ")).unwrap_or_else(|e| {
            p.add("scopes", e);
            vec![]
        }),
    };
    scopes.sort();
    scopes.dedup();
    let now = now_ms();
    let expires_at = match (&body.expires_in, &body.expires_at) {
        (Some(_), Some(_)) => {
            p.add(
                "expires_in",
                "give either expires_in or expires_at, not both",
            );
            None
        }
        (Some(d), None) => match switchyard_core::duration::parse(d) {
            Ok(d) if !d.is_zero() => Some(now.saturating_add(d.as_millis() as i64)),
            Ok(_) => {
                p.add("expires_in", "must be longer than zero");
                None
            }
            Err(e) => {
                p.add("expires_in", e.to_string());
                None
            }
        },
        (None, Some(t)) => match parse_rfc3339(t) {
            Some(t) if t > now => Some(t),
            Some(_) => {
                p.add("expires_at", "must be in the future");
                None
            }
            None => {
                p.add(
                    "expires_at",
                    "expected an RFC 3339 timestamp such as 2030-01-31T00:00:00Z",
                );
                None
            }
        },
        (None, None) => None,
    };
    p.finish()?;
    Ok((name.unwrap_or_default(), scopes, expires_at))
}

/// 403 unless the caller holds every scope of `scopes`: a key never hands on, rotates
/// or revokes more than it may do itself.
fn check_holds(principal: &Principal, scopes: &[Scope], doing: &str) -> Result<(), ApiError> {
    if apikey::holds_all(&principal.scopes, scopes) {
        return Ok(());
    }
    let missing: Vec<&str> = scopes
        .iter()
        .filter(|s| !principal.scopes.contains(s))
        .map(|s| s.as_str())
        .collect();
    Err(ApiError::forbidden(format!(
        "this API key cannot {doing} a key with scopes it does not hold itself: {}",
        missing.join(", ")
    )))
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if switchyard_core::id::has_prefix(id, "key") {
        Ok(())
    } else {
        Err(ApiError::not_found("API key", id))
    }
}

/// Create an API key, with at most the scopes the calling key holds.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", operation_id = "keys.create", request_body = CreateKey,
    responses((status = 201, body = CreatedKeyView)))]
async fn create(
    State(store): Keys,
    principal: Principal,
    ApiJson(body): ApiJson<CreateKey>,
) -> ApiResult<(StatusCode, axum::Json<CreatedKeyView>)> {
    let (name, scopes, expires_at) = validate_create(&body)?;
    check_holds(&principal, &scopes, "create")?;
    let created = ops::create(store.as_ref(), &name, &scopes, expires_at).await?;
    tracing::info!(key_id = %created.key.id, by = %principal.key_id, "API key created");
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedKeyView::from(&created)),
    ))
}

/// List API keys, newest first.
#[utoipa::path(get, path = "/v1/keys", tag = "keys", operation_id = "keys.list", params(PageQuery),
    responses((status = 200, body = inline(List<KeyView>))))]
async fn list(
    State(store): Keys,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<List<KeyView>>> {
    let (limit, page) = query.page(Cursor::Id("key"))?;
    let keys = store.list_keys(&page).await?;
    let views = keys.iter().map(KeyView::from).collect();
    Ok(axum::Json(List::from_overfetch(
        views,
        limit,
        |k: &KeyView| k.id.clone(),
    )))
}

/// Fetch one API key.
#[utoipa::path(get, path = "/v1/keys/{id}", tag = "keys", operation_id = "keys.get",
    params(("id" = String, Path, description = "A key id, `key_…`")),
    responses((status = 200, body = KeyView)))]
async fn get(State(store): Keys, ApiPath(id): ApiPath<String>) -> ApiResult<axum::Json<KeyView>> {
    Ok(axum::Json(KeyView::from(&load(&store, &id).await?)))
}

async fn load(store: &Arc<dyn Store>, id: &str) -> Result<ApiKey, ApiError> {
    check_id(id)?;
    store
        .get_key(id)
        .await?
        .ok_or_else(|| ApiError::not_found("API key", id))
}

/// Revoke an API key at once; it needs every scope of the revoked key. Repeating the
/// call is harmless.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys", operation_id = "keys.revoke",
    params(("id" = String, Path, description = "A key id, `key_…`")),
    responses((status = 200, body = KeyView)))]
async fn revoke(
    State(store): Keys,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::Json<KeyView>> {
    let target = load(&store, &id).await?;
    check_holds(&principal, &target.scopes, "revoke")?;
    let key = store
        .revoke_key(&id, now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found("API key", &id))?;
    super::keys_changed();
    tracing::info!(key_id = %id, by = %principal.key_id, "API key revoked");
    Ok(axum::Json(KeyView::from(&key)))
}

/// Replace a key: a new key with the same name and scopes is issued; the old one keeps
/// working until the grace period ends. It needs every scope of the rotated key. The
/// body is optional.
#[utoipa::path(post, path = "/v1/keys/{id}/rotate", tag = "keys", operation_id = "keys.rotate",
    params(("id" = String, Path, description = "A key id, `key_…`")),
    request_body(content = Option<RotateKey>, description = "Optional; without it the grace is 24h."),
    responses((status = 201, body = RotatedKeyView)))]
async fn rotate(
    State(store): Keys,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiBody(body): ApiBody,
) -> ApiResult<(StatusCode, axum::Json<RotatedKeyView>)> {
    let request: RotateKey = extract::optional_json(&body)?.unwrap_or(RotateKey { grace: None });
    let target = load(&store, &id).await?;
    check_holds(&principal, &target.scopes, "rotate")?;
    let grace = match request.grace.as_deref() {
        None => std::time::Duration::from_secs(86_400),
        Some(g) => switchyard_core::duration::parse(g)
            .map_err(|e| ApiError::invalid_field("grace", e.to_string()))?,
    };
    let (created, previous) = ops::rotate(store.as_ref(), &id, grace)
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
