//! `/v1/providers`: the email and SMS providers in use, and providers configured through
//! the API, whose settings (credentials included) are sealed in the vault and never
//! shown again.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::Value;
use switchyard_core::apikey::Scope;
use switchyard_core::message::{Channel, ProviderRecord};
use switchyard_core::time::now_ms;

use crate::auth::Principal;
use crate::extract::{ApiJson, List};
use crate::messaging::{ProviderInfo, build_provider, provider_secret_id};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;

/// The email and SMS providers in use, in the order they are tried. Credentials are
/// never shown.
#[utoipa::path(get, path = "/v1/providers", tag = "messages", security(("bearer" = [])),
    responses((status = 200, body = inline(List<ProviderInfo>))))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<axum::Json<List<ProviderInfo>>> {
    principal.require(Scope::Messages, false)?;
    Ok(axum::Json(List {
        data: state.messaging.providers().await,
        next_cursor: None,
    }))
}

fn target(channel: &str, name: &str) -> Result<Channel, ApiError> {
    let channel = Channel::parse(channel).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no channel {channel:?}: expected email or sms"),
        )
    })?;
    if !super::is_name(name, 64) {
        return Err(ApiError::invalid_field(
            "name",
            "expected 1 to 64 letters, digits, _ - or .",
        ));
    }
    Ok(channel)
}

/// Create or replace a provider: the body is its settings as in `[[email.providers]]`
/// or `[[sms.providers]]` (`kind`, `priority`, credentials, `base_url`, …; `name` comes
/// from the path). Credentials not given default from the provider's usual environment
/// variables. The settings are sealed in the vault; answers never include them.
#[utoipa::path(put, path = "/v1/providers/{channel}/{name}", tag = "messages", request_body = Object, security(("bearer" = [])),
    responses((status = 200, body = ProviderInfo), (status = 201, body = ProviderInfo),
        (status = 409, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn put(
    State(state): State<AppState>,
    principal: Principal,
    Path((channel, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<serde_json::Map<String, Value>>,
) -> ApiResult<(StatusCode, axum::Json<ProviderInfo>)> {
    principal.require(Scope::Admin, true)?;
    let channel = target(&channel, &name)?;
    if state.messaging.is_configured(channel, &name) {
        return Err(ApiError::conflict(format!(
            "{name:?} is defined in the configuration file; change it there"
        )));
    }
    if body
        .get("name")
        .is_some_and(|n| n.as_str() != Some(name.as_str()))
    {
        return Err(ApiError::invalid_field(
            "name",
            "differs from the name in the path",
        ));
    }
    let mut settings = body;
    settings.insert("name".into(), Value::String(name.clone()));
    let settings = Value::Object(settings);
    let (provider, priority) = build_provider(channel, &settings, state.messaging.http())
        .map_err(|e| ApiError::invalid_field("settings", e))?;
    let id = provider_secret_id(channel, &name);
    let bytes = serde_json::to_vec(&settings).map_err(ApiError::internal)?;
    state
        .vault
        .put(&id, &bytes)
        .await
        .map_err(ApiError::internal)?;
    let now = now_ms();
    let created = state
        .store
        .put_provider(&ProviderRecord {
            channel,
            name: name.clone(),
            kind: provider.kind().into(),
            priority,
            created_at: now,
            updated_at: now,
        })
        .await?;
    state.messaging.invalidate();
    tracing::info!(channel = channel.as_str(), provider = %name, kind = provider.kind(), by = %principal.key_id,
        "provider configured through the API");
    let info = state
        .messaging
        .providers()
        .await
        .into_iter()
        .find(|p| p.channel == channel.as_str() && p.name == name)
        .ok_or_else(|| ApiError::internal("the provider was stored but is not in use"))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(info)))
}

/// Remove a provider configured through the API, and its sealed settings.
#[utoipa::path(delete, path = "/v1/providers/{channel}/{name}", tag = "messages", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path((channel, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    principal.require(Scope::Admin, true)?;
    let channel = target(&channel, &name)?;
    if state.messaging.is_configured(channel, &name) {
        return Err(ApiError::conflict(format!(
            "{name:?} is defined in the configuration file; remove it there"
        )));
    }
    if !state.store.delete_provider(channel, &name).await? {
        return Err(ApiError::not_found("provider", &name));
    }
    state
        .vault
        .delete(&provider_secret_id(channel, &name))
        .await
        .map_err(ApiError::internal)?;
    state.messaging.invalidate();
    Ok(StatusCode::NO_CONTENT)
}
