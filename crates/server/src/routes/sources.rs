//! `/v1/sources`: where providers send webhooks. Credentials are sealed in the vault and
//! never returned.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value};
use switchyard_core::apikey::Scope;
use switchyard_core::event::Source;
use switchyard_core::provider::SourceKind;
use switchyard_core::time::{now_ms, rfc3339};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::extract::{ApiJson, ApiQuery, List, PageQuery};
use crate::intake::sources::{credential_id, previous_credential_id};
use crate::intake::spec::{self, Settings};
use crate::problem::{ApiError, ApiResult, FieldError};
use crate::state::AppState;

/// A source as shown; never includes credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceView {
    pub id: String,
    pub name: String,
    pub kind: String,
    /// Where the provider must send webhooks.
    pub intake_url: String,
    pub enabled: bool,
    pub settings: Settings,
    /// While set and in the future, the previous credential is still accepted.
    pub previous_credential_until: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

fn view(state: &AppState, s: &Source) -> SourceView {
    let base = state
        .config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", state.config.listen));
    SourceView {
        id: s.id.clone(),
        name: s.name.clone(),
        kind: s.kind.clone(),
        intake_url: format!("{}/in/{}", base.trim_end_matches('/'), s.id),
        enabled: s.enabled,
        settings: serde_json::from_str(&s.settings).unwrap_or_default(),
        previous_credential_until: s.previous_until.filter(|t| *t > now_ms()).map(rfc3339),
        created_at: rfc3339(s.created_at),
        updated_at: rfc3339(s.updated_at),
    }
}

const CREDENTIAL_FIELDS: [&str; 3] = ["secret", "auth_token", "public_key"];
const COMMON_FIELDS: [&str; 4] = ["name", "kind", "enabled", "previous_credential_grace"];

/// The request body, checked field by field so unknown fields are named in the error.
struct SourceRequest {
    name: Option<String>,
    kind: Option<SourceKind>,
    enabled: Option<bool>,
    credential: Option<String>,
    grace: Option<std::time::Duration>,
    settings: Map<String, Value>,
}

fn parse_request(
    body: Map<String, Value>,
    kind_hint: Option<SourceKind>,
) -> Result<SourceRequest, ApiError> {
    let mut errors = Vec::new();
    let mut error = |field: &str, message: String| {
        errors.push(FieldError {
            field: field.into(),
            message,
        })
    };
    let mut request = SourceRequest {
        name: None,
        kind: None,
        enabled: None,
        credential: None,
        grace: None,
        settings: Map::new(),
    };
    let settings_fields: Vec<String> = match serde_json::to_value(Settings {
        tolerance_secs: Some(0),
        body_limit: Some(0),
        public_url: Some(String::new()),
        webhook_id: Some(String::new()),
        header: Some(String::new()),
        algorithm: Some(String::new()),
        encoding: Some(String::new()),
        prefix: Some(String::new()),
        timestamp_header: Some(String::new()),
        template: Some(String::new()),
    }) {
        Ok(Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    };
    for (key, value) in body {
        match key.as_str() {
            "name" => match value {
                Value::String(s) if !s.trim().is_empty() && s.len() <= 100 => {
                    request.name = Some(s.trim().into())
                }
                _ => error(
                    "name",
                    "expected a non-empty string of at most 100 characters".into(),
                ),
            },
            "kind" => match value.as_str().and_then(SourceKind::parse) {
                Some(k) => request.kind = Some(k),
                None => {
                    let known: Vec<_> = SourceKind::ALL.iter().map(|k| k.as_str()).collect();
                    error("kind", format!("expected one of {}", known.join(", ")));
                }
            },
            "enabled" => match value {
                Value::Bool(b) => request.enabled = Some(b),
                _ => error("enabled", "expected true or false".into()),
            },
            "previous_credential_grace" => {
                match value.as_str().map(switchyard_core::duration::parse) {
                    Some(Ok(d)) => request.grace = Some(d),
                    _ => error(
                        "previous_credential_grace",
                        "expected a duration such as 24h".into(),
                    ),
                }
            }
            field if CREDENTIAL_FIELDS.contains(&field) => match value {
                Value::String(s) => {
                    let kind = request.kind.or(kind_hint);
                    match kind.and_then(spec::credential_field) {
                        Some(expected) if expected != field => error(
                            field,
                            format!("this kind takes its credential as {expected:?}"),
                        ),
                        _ => request.credential = Some(s),
                    }
                }
                _ => error(field, "expected a string".into()),
            },
            field if settings_fields.iter().any(|f| f == field) => {
                request.settings.insert(key, value);
            }
            _ => error(
                &key,
                format!(
                    "unknown field; expected one of {}, {}, {}",
                    COMMON_FIELDS.join(", "),
                    CREDENTIAL_FIELDS.join(", "),
                    settings_fields.join(", ")
                ),
            ),
        }
    }
    if errors.is_empty() {
        Ok(request)
    } else {
        Err(ApiError::invalid_fields(errors))
    }
}

fn merge_settings(base: &Settings, changes: Map<String, Value>) -> Result<Settings, ApiError> {
    let mut value = serde_json::to_value(base).map_err(ApiError::internal)?;
    if let Value::Object(map) = &mut value {
        for (k, v) in changes {
            if v.is_null() {
                map.remove(&k);
            } else {
                map.insert(k, v);
            }
        }
    }
    serde_json::from_value(value).map_err(|e| ApiError::invalid_field("settings", e.to_string()))
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if switchyard_core::id::has_prefix(id, "src") {
        Ok(())
    } else {
        Err(ApiError::not_found("source", id))
    }
}

/// Create a source. The body holds `name`, `kind`, the kind's credential (`secret`,
/// `auth_token` or `public_key`) and optional settings.
#[utoipa::path(post, path = "/v1/sources", tag = "sources", request_body = Object, security(("bearer" = [])),
    responses((status = 201, body = SourceView), (status = 422, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<(StatusCode, axum::Json<SourceView>)> {
    principal.require(Scope::Sources, true)?;
    let hint = body
        .get("kind")
        .and_then(Value::as_str)
        .and_then(SourceKind::parse);
    let request = parse_request(body, hint)?;
    let mut errors = Vec::new();
    if request.name.is_none() {
        errors.push(FieldError {
            field: "name".into(),
            message: "is required".into(),
        });
    }
    let Some(kind) = request.kind else {
        errors.push(FieldError {
            field: "kind".into(),
            message: "is required".into(),
        });
        return Err(ApiError::invalid_fields(errors));
    };
    let settings = merge_settings(&Settings::default(), request.settings)?;
    errors.extend(spec::validate(
        kind,
        &settings,
        request.credential.as_deref(),
    ));
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    let now = now_ms();
    let source = Source {
        id: switchyard_core::new_id("src"),
        name: request.name.unwrap_or_default(),
        kind: kind.as_str().into(),
        settings: serde_json::to_string(&settings).map_err(ApiError::internal)?,
        enabled: request.enabled.unwrap_or(true),
        previous_until: None,
        created_at: now,
        updated_at: now,
    };
    // The credential is sealed first: a source row never exists without it.
    if let Some(credential) = &request.credential {
        state
            .vault
            .put(&credential_id(&source.id), credential.as_bytes())
            .await
            .map_err(ApiError::internal)?;
    }
    state.store.insert_source(&source).await?;
    tracing::info!(source_id = %source.id, kind = kind.as_str(), by = %principal.key_id, "source created");
    state.messaging.invalidate();
    Ok((StatusCode::CREATED, axum::Json(view(&state, &source))))
}

/// List sources, newest first.
#[utoipa::path(get, path = "/v1/sources", tag = "sources", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = inline(List<SourceView>))))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<List<SourceView>>> {
    principal.require(Scope::Sources, false)?;
    let (limit, page) = query.page()?;
    let sources = state.store.list_sources(&page).await?;
    let views = sources.iter().map(|s| view(&state, s)).collect();
    Ok(axum::Json(List::from_overfetch(
        views,
        limit,
        |s: &SourceView| s.id.clone(),
    )))
}

/// Fetch one source.
#[utoipa::path(get, path = "/v1/sources/{id}", tag = "sources", security(("bearer" = [])),
    responses((status = 200, body = SourceView), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<SourceView>> {
    principal.require(Scope::Sources, false)?;
    check_id(&id)?;
    let source = state
        .store
        .get_source(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("source", &id))?;
    Ok(axum::Json(view(&state, &source)))
}

/// Change a source. A new credential replaces the current one; with
/// `previous_credential_grace` (e.g. `"24h"`) the replaced credential is still accepted
/// for that long, so a rotation drops no events. A setting set to `null` is removed.
#[utoipa::path(patch, path = "/v1/sources/{id}", tag = "sources", request_body = Object, security(("bearer" = [])),
    responses((status = 200, body = SourceView), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<axum::Json<SourceView>> {
    principal.require(Scope::Sources, true)?;
    check_id(&id)?;
    let mut source = state
        .store
        .get_source(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("source", &id))?;
    let kind = SourceKind::parse(&source.kind)
        .ok_or_else(|| ApiError::internal("stored source has an unknown kind"))?;
    let request = parse_request(body, Some(kind))?;
    if request.kind.is_some_and(|k| k != kind) {
        return Err(ApiError::invalid_field(
            "kind",
            "cannot be changed; create a new source",
        ));
    }
    let current: Settings = serde_json::from_str(&source.settings).map_err(ApiError::internal)?;
    let settings = merge_settings(&current, request.settings)?;
    let errors: Vec<FieldError> =
        spec::validate(kind, &settings, request.credential.as_deref().or(Some("x")))
            .into_iter()
            .filter(|e| {
                request.credential.is_some() || !CREDENTIAL_FIELDS.contains(&e.field.as_str())
            })
            .collect();
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    if request.grace.is_some() && request.credential.is_none() {
        return Err(ApiError::invalid_field(
            "previous_credential_grace",
            "only applies together with a new credential",
        ));
    }
    let now = now_ms();
    if let Some(credential) = &request.credential {
        replace_credential(&state, &mut source, credential, request.grace)
            .await
            .map_err(ApiError::internal)?;
    }
    if let Some(name) = request.name {
        source.name = name;
    }
    if let Some(enabled) = request.enabled {
        source.enabled = enabled;
    }
    source.settings = serde_json::to_string(&settings).map_err(ApiError::internal)?;
    source.updated_at = now;
    if !state.store.update_source(&source).await? {
        return Err(ApiError::not_found("source", &id));
    }
    state.intake.sources.invalidate(&id);
    // The source may be where SMS providers report status.
    state.messaging.invalidate();
    tracing::info!(source_id = %id, by = %principal.key_id, "source updated");
    Ok(axum::Json(view(&state, &source)))
}

/// Seals `credential` as the source's current one. With `grace`, the replaced one is
/// kept as the previous credential until the grace ends; without, it stops at once.
async fn replace_credential(
    state: &AppState,
    source: &mut Source,
    credential: &str,
    grace: Option<std::time::Duration>,
) -> Result<(), switchyard_store::vault::SecretError> {
    let vault = &state.vault;
    let current = credential_id(&source.id);
    let previous = previous_credential_id(&source.id);
    match grace {
        Some(grace) => {
            if let Some(old) = vault.get(&current).await? {
                vault.put(&previous, old.expose()).await?;
                source.previous_until = Some(now_ms().saturating_add(grace.as_millis() as i64));
            }
        }
        None => {
            vault.delete(&previous).await?;
            source.previous_until = None;
        }
    }
    vault.put(&current, credential.as_bytes()).await
}

/// Delete a source and its credentials. Its events stay.
#[utoipa::path(delete, path = "/v1/sources/{id}", tag = "sources", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(Scope::Sources, true)?;
    check_id(&id)?;
    if !state.store.delete_source(&id).await? {
        return Err(ApiError::not_found("source", &id));
    }
    state.intake.sources.invalidate(&id);
    // The source may be where SMS providers report status.
    state.messaging.invalidate();
    for record in [credential_id(&id), previous_credential_id(&id)] {
        state
            .vault
            .delete(&record)
            .await
            .map_err(ApiError::internal)?;
    }
    tracing::info!(source_id = %id, by = %principal.key_id, "source deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Creates or brings up to date a source declared in the configuration file
/// (`[[sources]]`). Its id is fixed (`id`) or derived from its name, so it keeps its
/// intake URL across restarts and nodes. Errors name the offending field.
pub async fn declare(state: &AppState, declared: &Map<String, Value>) -> Result<Source, String> {
    let mut body = declared.clone();
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let id = match body.remove("id") {
        Some(Value::String(id)) if switchyard_core::id::has_prefix(&id, "src") => id,
        Some(other) => {
            return Err(format!(
                "id: expected \"src_\" followed by 26 lowercase base32 characters, got {other}"
            ));
        }
        None => switchyard_core::id::derived_id("src", &format!("source:{name}")),
    };
    // A credential may come from the environment instead of the file.
    for field in CREDENTIAL_FIELDS {
        let from = format!("{field}_env");
        if let Some(var) = body.remove(&from) {
            let var = var
                .as_str()
                .ok_or(format!("{from}: expected a variable name"))?;
            let value = std::env::var(var).map_err(|_| format!("{from}: {var} is not set"))?;
            body.insert(field.into(), Value::String(value));
        }
    }
    let hint = body
        .get("kind")
        .and_then(Value::as_str)
        .and_then(SourceKind::parse);
    let describe = |e: ApiError| e.detail;
    let request = parse_request(body, hint).map_err(describe)?;
    let (Some(name), Some(kind)) = (request.name, request.kind) else {
        return Err("name and kind are required".into());
    };
    let settings = merge_settings(&Settings::default(), request.settings).map_err(describe)?;
    let errors = spec::validate(kind, &settings, request.credential.as_deref());
    if !errors.is_empty() {
        let described: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        return Err(described.join("; "));
    }
    let unavailable = |e: &dyn std::fmt::Display| format!("storing source {id}: {e}");
    let now = now_ms();
    let existing = state
        .store
        .get_source(&id)
        .await
        .map_err(|e| unavailable(&e))?;
    if let Some(existing) = &existing
        && existing.kind != kind.as_str()
    {
        return Err(format!(
            "kind: source {id} exists with kind {:?}; give this one another name or id",
            existing.kind
        ));
    }
    let mut source = existing.clone().unwrap_or(Source {
        id: id.clone(),
        name: name.clone(),
        kind: kind.as_str().into(),
        settings: String::new(),
        enabled: true,
        previous_until: None,
        created_at: now,
        updated_at: now,
    });
    if let Some(credential) = &request.credential {
        let current = state
            .vault
            .get(&credential_id(&id))
            .await
            .map_err(|e| unavailable(&e))?;
        if current.is_none_or(|c| c.expose().as_slice() != credential.as_bytes()) {
            replace_credential(state, &mut source, credential, request.grace)
                .await
                .map_err(|e| unavailable(&e))?;
        }
    }
    source.name = name;
    source.enabled = request.enabled.unwrap_or(true);
    source.settings = serde_json::to_string(&settings).map_err(|e| unavailable(&e))?;
    source.updated_at = now;
    let stored = if existing.is_some() {
        state.store.update_source(&source).await.map(|_| ())
    } else {
        // Another node may declare it at the same moment: then it exists; update it.
        match state.store.insert_source(&source).await {
            Err(switchyard_store::StoreError::Conflict(_)) => {
                state.store.update_source(&source).await.map(|_| ())
            }
            other => other,
        }
    };
    stored.map_err(|e| unavailable(&e))?;
    state.intake.sources.invalidate(&id);
    // The source may be where SMS providers report status.
    state.messaging.invalidate();
    Ok(source)
}
