//! `/v1/providers`: the providers in use, and providers configured through the API.

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;
use switchyard_core::apikey::Scope;
use switchyard_core::provider::Capability;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ProviderInfo, Registrant, Registry};
use crate::http::{
    ApiError, ApiJson, ApiPath, ApiResult, List, Need, Principal, require, validate,
};

pub(super) fn router() -> OpenApiRouter<Registry> {
    OpenApiRouter::new()
        .routes(require(Need::Read(Scope::Messages), routes!(list)))
        .routes(require(Need::Admin, routes!(put)))
        .routes(require(Need::Admin, routes!(delete)))
}

/// The providers in use, by capability, in the order they are tried. Settings are never
/// shown.
#[utoipa::path(get, path = "/v1/providers", tag = "providers", operation_id = "providers.list",
    responses((status = 200, body = inline(List<ProviderInfo>))))]
async fn list(State(registry): State<Registry>) -> ApiResult<axum::Json<List<ProviderInfo>>> {
    let mut all = Vec::new();
    for r in registry.registrants.iter() {
        all.extend(r.in_use().await);
    }
    Ok(axum::Json(List::all(all)))
}

fn target<'r>(
    registry: &'r Registry,
    capability: &str,
    name: &str,
) -> Result<&'r std::sync::Arc<dyn Registrant>, ApiError> {
    let registrant = Capability::parse(capability)
        .and_then(|c| registry.registrant(c))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!(
                    "no capability {capability:?} has providers: expected one of {}",
                    Capability::names()
                ),
            )
        })?;
    if !validate::is_name(name, 64) {
        return Err(ApiError::invalid_field(
            "name",
            "expected 1 to 64 letters, digits, _ - or .",
        ));
    }
    Ok(registrant)
}

const CAPABILITY: &str = "What the provider is for: `email`, `sms`, `payments` or `storage`";
const NAME: &str = "The provider's name: 1 to 64 letters, digits, `_ - .`";

/// Create or replace a provider: the body is its settings as in `[[email.providers]]`,
/// `[[sms.providers]]`, `[[payments.providers]]` or `[[storage.stores]]` (`kind`, `priority` or `default`,
/// credentials, `base_url`, …; `name` comes from the path). Credentials not given default from the provider's usual environment
/// variables. The settings are sealed in the vault; answers never include them.
#[utoipa::path(put, path = "/v1/providers/{capability}/{name}", tag = "providers", operation_id = "providers.put",
    params(("capability" = Capability, Path, description = CAPABILITY), ("name" = String, Path, description = NAME)),
    request_body = ProviderSettings,
    responses((status = 200, body = ProviderInfo), (status = 201, body = ProviderInfo),
        (status = 409, description = "The provider is defined in the configuration file (`conflict`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn put(
    State(registry): State<Registry>,
    principal: Principal,
    ApiPath((capability, name)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<serde_json::Map<String, Value>>,
) -> ApiResult<(StatusCode, axum::Json<ProviderInfo>)> {
    let registrant = target(&registry, &capability, &name)?;
    let created = super::configure(
        registry.store.as_ref(),
        &registry.vault,
        registrant.as_ref(),
        &name,
        body,
        &principal,
    )
    .await?;
    let info = registrant
        .in_use()
        .await
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| ApiError::internal("the provider was stored but is not in use"))?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(info)))
}

/// Remove a provider configured through the API, and its sealed settings.
#[utoipa::path(delete, path = "/v1/providers/{capability}/{name}", tag = "providers", operation_id = "providers.delete",
    params(("capability" = Capability, Path, description = CAPABILITY), ("name" = String, Path, description = NAME)),
    responses((status = 204, description = "Deleted"),
        (status = 409, description = "The provider is defined in the configuration file (`conflict`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn delete(
    State(registry): State<Registry>,
    ApiPath((capability, name)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let registrant = target(&registry, &capability, &name)?;
    super::remove(
        registry.store.as_ref(),
        &registry.vault,
        registrant.as_ref(),
        &name,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body of `PUT /v1/providers/{capability}/{name}`: a provider's settings as in the
/// configuration file (`kind`, `priority`, the kind's credentials and options), for the
/// capability in the path.
pub(crate) struct ProviderSettings;

impl utoipa::PartialSchema for ProviderSettings {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::Ref;
        utoipa::openapi::schema::OneOfBuilder::new()
            .description(Some(
                "The settings of an `email`, `sms` or `payments` provider, or of a `storage` store, as the path's capability says.",
            ))
            .item(Ref::from_schema_name("EmailProviderSettings"))
            .item(Ref::from_schema_name("SmsProviderSettings"))
            .item(Ref::from_schema_name("PaymentProviderSettings"))
            .item(Ref::from_schema_name("StoreConfig"))
            .into()
    }
}

impl utoipa::ToSchema for ProviderSettings {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use switchyard_providers::email::EmailProviderConfig;
        use switchyard_providers::payments::PaymentProviderConfig;
        use switchyard_providers::sms::SmsProviderConfig;
        for (name, (union, components)) in [
            ("EmailProviderSettings", EmailProviderConfig::openapi()),
            ("SmsProviderSettings", SmsProviderConfig::openapi()),
            ("PaymentProviderSettings", PaymentProviderConfig::openapi()),
        ] {
            schemas.push((name.to_string(), union));
            schemas.extend(components);
        }
        <switchyard_providers::storage::StoreConfig as utoipa::ToSchema>::schemas(schemas);
        schemas.push((
            "StoreConfig".to_string(),
            <switchyard_providers::storage::StoreConfig as utoipa::PartialSchema>::schema(),
        ));
    }
}
