//! `/v1/sources`: where providers send webhooks. Credentials are sealed in the vault and
//! never returned.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value};
use switchyard_core::apikey::Scope;
use switchyard_core::source::{Source, SourceKind, SourceSettings};
use switchyard_core::time::{now_ms, rfc3339};
use switchyard_store::vault::ids;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Intake;
use super::source_input::{self, SourceInput};
use super::source_schema::{SourceChange, SourceCreate};
use crate::http::{
    ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, Cursor, List, Need, PageQuery, Principal,
    Problems, require,
};

pub(super) fn router() -> OpenApiRouter<Intake> {
    OpenApiRouter::new()
        .routes(require(Need::Write(Scope::Sources), routes!(create)))
        .routes(require(Need::Read(Scope::Sources), routes!(list)))
        .routes(require(Need::Read(Scope::Sources), routes!(get)))
        .routes(require(Need::Write(Scope::Sources), routes!(update)))
        .routes(require(Need::Write(Scope::Sources), routes!(delete)))
}

/// A source as shown; never includes credentials.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SourceView {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) kind: SourceKind,
    /// Where the provider must send webhooks.
    pub(crate) intake_url: String,
    pub(crate) enabled: bool,
    pub(crate) settings: SourceSettings,
    /// While set and in the future, the previous credential is still accepted.
    pub(crate) previous_credential_until: Option<String>,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

impl Intake {
    fn view(&self, s: &Source) -> SourceView {
        SourceView {
            id: s.id.clone(),
            name: s.name.clone(),
            kind: s.kind,
            intake_url: self.intake_url(&s.id),
            enabled: s.enabled,
            settings: s.settings.clone(),
            previous_credential_until: s.previous_until.filter(|t| *t > now_ms()).map(rfc3339),
            created_at: rfc3339(s.created_at),
            updated_at: rfc3339(s.updated_at),
        }
    }

    /// Seals `credential` as the source's current one. With a `grace`, the replaced
    /// one is kept as the previous credential until the grace ends; without, it stops
    /// at once.
    pub(super) async fn replace_credential(
        &self,
        source: &mut Source,
        credential: &str,
        grace: Option<std::time::Duration>,
    ) -> Result<(), ApiError> {
        source.previous_until = self
            .inner
            .vault
            .rotate(
                &ids::source_credential(&source.id),
                &ids::source_previous(&source.id),
                credential.as_bytes(),
                grace.unwrap_or_default(),
            )
            .await?;
        Ok(())
    }

    /// Checks a creation's input; the settings and credential it makes.
    pub(super) fn checked_new(
        &self,
        input: &mut SourceInput,
    ) -> Result<(String, SourceKind, SourceSettings), ApiError> {
        let mut p = Problems::default();
        if input.name.is_none() {
            p.add("name", "is required");
        }
        let Some(kind) = input.kind else {
            p.add("kind", "is required");
            return Err(ApiError::invalid_fields(p.into_errors()));
        };
        let settings = source_input::merge_settings(
            &SourceSettings::default(),
            std::mem::take(&mut input.settings),
        )?;
        source_input::require_credential(kind, input.credential.as_deref(), &mut p);
        p.extend(source_input::check(
            kind,
            &settings,
            input.credential.as_deref(),
            &self.inner.verify,
        ));
        p.finish()?;
        Ok((input.name.take().unwrap_or_default(), kind, settings))
    }
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if switchyard_core::id::has_prefix(id, "src") {
        Ok(())
    } else {
        Err(ApiError::not_found("source", id))
    }
}

const ID: &str = "A source id, `src_…`";

/// Create a source: `name`, `kind`, the kind's credential (`secret`, `auth_token` or
/// `public_key`) and the settings the kind takes.
#[utoipa::path(post, path = "/v1/sources", tag = "sources", operation_id = "sources.create", request_body = SourceCreate,
    responses((status = 201, body = SourceView)))]
async fn create(
    State(intake): State<Intake>,
    principal: Principal,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<(StatusCode, axum::Json<SourceView>)> {
    let mut input = source_input::parse(body, None)?;
    let (name, kind, settings) = intake.checked_new(&mut input)?;
    let now = now_ms();
    let mut source = Source {
        id: switchyard_core::new_id("src"),
        name,
        kind,
        settings,
        enabled: input.enabled.unwrap_or(true),
        previous_until: None,
        created_at: now,
        updated_at: now,
    };
    // The credential is sealed first: a source row never exists without it.
    if let Some(credential) = &input.credential {
        intake
            .replace_credential(&mut source, credential, None)
            .await?;
    }
    intake.inner.store.insert_source(&source).await?;
    intake.source_changed(&source.id);
    tracing::info!(source_id = %source.id, kind = kind.as_str(), by = %principal.key_id, "source created");
    Ok((StatusCode::CREATED, axum::Json(intake.view(&source))))
}

/// List sources, newest first.
#[utoipa::path(get, path = "/v1/sources", tag = "sources", operation_id = "sources.list", params(PageQuery),
    responses((status = 200, body = inline(List<SourceView>))))]
async fn list(
    State(intake): State<Intake>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<List<SourceView>>> {
    let (limit, page) = query.page(Cursor::Id("src"))?;
    let sources = intake.inner.store.list_sources(&page).await?;
    let views = sources.iter().map(|s| intake.view(s)).collect();
    Ok(axum::Json(List::from_overfetch(
        views,
        limit,
        |s: &SourceView| s.id.clone(),
    )))
}

async fn load(intake: &Intake, id: &str) -> Result<Source, ApiError> {
    check_id(id)?;
    intake
        .inner
        .store
        .get_source(id)
        .await?
        .ok_or_else(|| ApiError::not_found("source", id))
}

/// Fetch one source.
#[utoipa::path(get, path = "/v1/sources/{id}", tag = "sources", operation_id = "sources.get",
    params(("id" = String, Path, description = ID)),
    responses((status = 200, body = SourceView)))]
async fn get(
    State(intake): State<Intake>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::Json<SourceView>> {
    Ok(axum::Json(intake.view(&load(&intake, &id).await?)))
}

/// Change a source. A new credential replaces the current one; with
/// `previous_credential_grace` (e.g. `"24h"`) the replaced credential is still accepted
/// for that long, so a rotation drops no events. A setting set to `null` is removed.
#[utoipa::path(patch, path = "/v1/sources/{id}", tag = "sources", operation_id = "sources.update",
    params(("id" = String, Path, description = ID)),
    request_body = SourceChange,
    responses((status = 200, body = SourceView)))]
async fn update(
    State(intake): State<Intake>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<axum::Json<SourceView>> {
    let mut source = load(&intake, &id).await?;
    let kind = source.kind;
    let input = source_input::parse(body, Some(kind))?;
    if input.kind.is_some_and(|k| k != kind) {
        return Err(ApiError::invalid_field(
            "kind",
            "cannot be changed; create a new source",
        ));
    }
    if input.grace.is_some() && input.credential.is_none() {
        return Err(ApiError::invalid_field(
            "previous_credential_grace",
            "only applies together with a new credential",
        ));
    }
    let settings = source_input::merge_settings(&source.settings, input.settings)?;
    let errors = source_input::check(
        kind,
        &settings,
        input.credential.as_deref(),
        &intake.inner.verify,
    );
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    if let Some(credential) = &input.credential {
        intake
            .replace_credential(&mut source, credential, input.grace)
            .await?;
    }
    if let Some(name) = input.name {
        source.name = name;
    }
    if let Some(enabled) = input.enabled {
        source.enabled = enabled;
    }
    source.settings = settings;
    source.updated_at = now_ms();
    if !intake.inner.store.update_source(&source).await? {
        return Err(ApiError::not_found("source", &id));
    }
    intake.source_changed(&id);
    tracing::info!(source_id = %id, by = %principal.key_id, "source updated");
    Ok(axum::Json(intake.view(&source)))
}

/// Delete a source and its credentials. Its events stay.
#[utoipa::path(delete, path = "/v1/sources/{id}", tag = "sources", operation_id = "sources.delete",
    params(("id" = String, Path, description = ID)),
    responses((status = 204, description = "Deleted")))]
async fn delete(
    State(intake): State<Intake>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    check_id(&id)?;
    if !intake.inner.store.delete_source(&id).await? {
        return Err(ApiError::not_found("source", &id));
    }
    intake.source_changed(&id);
    for record in [ids::source_credential(&id), ids::source_previous(&id)] {
        intake.inner.vault.delete(&record).await?;
    }
    tracing::info!(source_id = %id, by = %principal.key_id, "source deleted");
    Ok(StatusCode::NO_CONTENT)
}
