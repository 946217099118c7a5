//! `/v1/storage/stores`: the stores in use, and stores configured through the API,
//! whose settings (credentials included) are sealed in the vault and never shown.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;
use switchyard_core::apikey::Scope;
use switchyard_providers::storage::StoreConfig;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Storage;
use super::stores::{Registered, StoreView, name_problem};
use crate::http::{ApiError, ApiJson, ApiPath, ApiResult, List, Need, Principal, require};

pub(super) fn router() -> OpenApiRouter<Storage> {
    OpenApiRouter::new()
        .routes(require(Need::Read(Scope::Storage), routes!(list)))
        .routes(require(Need::Admin, routes!(put)))
        .routes(require(Need::Admin, routes!(delete)))
}

/// The stores in use. Credentials are never shown.
#[utoipa::path(get, path = "/v1/storage/stores", tag = "storage", operation_id = "storage.stores.list",
    responses((status = 200, body = inline(List<StoreView>))))]
async fn list(State(storage): State<Storage>) -> ApiResult<axum::Json<List<StoreView>>> {
    let all = storage
        .entries()
        .await
        .iter()
        .map(StoreView::from)
        .collect();
    Ok(axum::Json(List::all(all)))
}

fn checked_name(name: &str) -> Result<(), ApiError> {
    match name_problem(name) {
        None => Ok(()),
        Some(why) => Err(ApiError::invalid_field("name", why)),
    }
}

/// Create or replace a store: the body is its settings as in `[[storage.stores]]`
/// (`kind`, `bucket` or `path`, `endpoint`, credentials, limits…; `name` comes from the
/// path). Credentials not given default from the kind's usual environment variables.
/// The settings are sealed in the vault; answers never include credentials.
#[utoipa::path(put, path = "/v1/storage/stores/{name}", tag = "storage", operation_id = "storage.stores.put",
    params(("name" = String, Path, description = "The store's name: 1 to 64 letters, digits, `_ - .`")),
    request_body = StoreConfig,
    responses((status = 200, body = StoreView), (status = 201, body = StoreView),
        (status = 409, description = "The store is defined in the configuration file (`conflict`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn put(
    State(storage): State<Storage>,
    principal: Principal,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<serde_json::Map<String, Value>>,
) -> ApiResult<(StatusCode, axum::Json<StoreView>)> {
    checked_name(&name)?;
    let registrant = Registered(storage.clone());
    let created = crate::providers::configure(
        storage.store(),
        &storage.inner.vault,
        &registrant,
        &name,
        body,
        &principal,
    )
    .await?;
    let entry = storage.entry(&name).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(StoreView::from(&entry))))
}

/// Remove a store configured through the API, and its sealed settings. Its objects'
/// bytes stay in the backend; the hub's records of them stay too, and are served
/// again if a store of the same name comes back.
#[utoipa::path(delete, path = "/v1/storage/stores/{name}", tag = "storage", operation_id = "storage.stores.delete",
    params(("name" = String, Path, description = "The store's name")),
    responses((status = 204, description = "Deleted"),
        (status = 409, description = "The store is defined in the configuration file (`conflict`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn delete(
    State(storage): State<Storage>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    checked_name(&name)?;
    let registrant = Registered(storage.clone());
    crate::providers::remove(storage.store(), &storage.inner.vault, &registrant, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
