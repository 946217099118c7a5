//! `/v1/templates`: named subject, HTML and text templates (minijinja syntax), checked
//! when saved.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use switchyard_core::apikey::Scope;
use switchyard_core::message::Template;
use switchyard_core::time::{now_ms, rfc3339};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Messaging, template};
use crate::http::{
    ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, Cursor, FieldError, List, Need, PageQuery,
    require, validate,
};

pub(super) fn router() -> OpenApiRouter<Messaging> {
    OpenApiRouter::new()
        .routes(require(Need::Write(Scope::Templates), routes!(create)))
        .routes(require(Need::Write(Scope::Templates), routes!(put)))
        .routes(require(Need::Read(Scope::Templates), routes!(list)))
        .routes(require(Need::Read(Scope::Templates), routes!(get)))
        .routes(require(Need::Write(Scope::Templates), routes!(delete)))
}

/// Longest part of a template.
const MAX_PART: usize = 256 * 1024;

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TemplateView {
    pub(crate) name: String,
    pub(crate) subject: Option<String>,
    pub(crate) html: Option<String>,
    pub(crate) text: Option<String>,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

impl From<Template> for TemplateView {
    fn from(t: Template) -> Self {
        TemplateView {
            name: t.name,
            subject: t.subject,
            html: t.html,
            text: t.text,
            created_at: rfc3339(t.created_at),
            updated_at: rfc3339(t.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplateBody {
    /// Letters, digits, `_`, `-` and `.`; at most 100. Only on create.
    pub(crate) name: Option<String>,
    pub(crate) subject: Option<String>,
    pub(crate) html: Option<String>,
    /// Also the body of an SMS sent with the template.
    pub(crate) text: Option<String>,
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if validate::is_name(name, 100) {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            "name",
            "expected 1 to 100 letters, digits, _ - or .",
        ))
    }
}

fn checked(name: String, body: TemplateBody, created_at: i64) -> Result<Template, ApiError> {
    let mut errors = Vec::new();
    for (part, source) in template::PARTS
        .into_iter()
        .zip([&body.subject, &body.html, &body.text])
    {
        let Some(source) = source else { continue };
        let problem = if source.len() > MAX_PART {
            Some(format!("at most {MAX_PART} bytes"))
        } else {
            template::check(part, source).err()
        };
        if let Some(message) = problem {
            errors.push(FieldError {
                field: part.into(),
                message,
            });
        }
    }
    if body.html.is_none() && body.text.is_none() {
        errors.push(FieldError {
            field: "text".into(),
            message: "a template needs html or text".into(),
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    Ok(Template {
        name,
        subject: body.subject,
        html: body.html,
        text: body.text,
        created_at,
        updated_at: now_ms(),
    })
}

/// Create a template. 409 when the name is taken (use `PUT` to replace).
#[utoipa::path(post, path = "/v1/templates", tag = "templates", operation_id = "templates.create", request_body = TemplateBody,
    responses((status = 201, body = TemplateView),
        (status = 409, description = "A template has this name (`conflict`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn create(
    State(messaging): State<Messaging>,
    ApiJson(mut body): ApiJson<TemplateBody>,
) -> ApiResult<(StatusCode, axum::Json<TemplateView>)> {
    let store = &messaging.inner.store;
    let Some(name) = body.name.take() else {
        return Err(ApiError::invalid_field("name", "is required"));
    };
    check_name(&name)?;
    if store.get_template(&name).await?.is_some() {
        return Err(ApiError::conflict(format!(
            "a template named {name:?} exists; PUT /v1/templates/{name} replaces it"
        )));
    }
    let template = checked(name, body, now_ms())?;
    store.put_template(&template).await?;
    Ok((StatusCode::CREATED, axum::Json(template.into())))
}

/// Create or replace a template.
#[utoipa::path(put, path = "/v1/templates/{name}", tag = "templates", operation_id = "templates.put",
    params(("name" = String, Path, description = NAME)),
    request_body = TemplateBody,
    responses((status = 200, body = TemplateView), (status = 201, body = TemplateView)))]
async fn put(
    State(messaging): State<Messaging>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<TemplateBody>,
) -> ApiResult<(StatusCode, axum::Json<TemplateView>)> {
    let store = &messaging.inner.store;
    check_name(&name)?;
    if body.name.as_ref().is_some_and(|n| *n != name) {
        return Err(ApiError::invalid_field(
            "name",
            "differs from the name in the path; templates cannot be renamed",
        ));
    }
    let created_at = store
        .get_template(&name)
        .await?
        .map_or_else(now_ms, |t| t.created_at);
    let template = checked(name, body, created_at)?;
    let created = store.put_template(&template).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(template.into())))
}

/// Templates by name.
#[utoipa::path(get, path = "/v1/templates", tag = "templates", operation_id = "templates.list", params(PageQuery),
    responses((status = 200, body = inline(List<TemplateView>))))]
async fn list(
    State(messaging): State<Messaging>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<List<TemplateView>>> {
    let (limit, page) = query.page(Cursor::Name)?;
    let templates = messaging.inner.store.list_templates(&page).await?;
    let views = templates.into_iter().map(TemplateView::from).collect();
    Ok(axum::Json(List::from_overfetch(
        views,
        limit,
        |t: &TemplateView| t.name.clone(),
    )))
}

const NAME: &str = "A template name: letters, digits, `_`, `-` and `.`, at most 100";

/// Fetch one template.
#[utoipa::path(get, path = "/v1/templates/{name}", tag = "templates", operation_id = "templates.get",
    params(("name" = String, Path, description = NAME)),
    responses((status = 200, body = TemplateView)))]
async fn get(
    State(messaging): State<Messaging>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<axum::Json<TemplateView>> {
    check_name(&name).map_err(|_| ApiError::not_found("template", &name))?;
    match messaging.inner.store.get_template(&name).await? {
        Some(t) => Ok(axum::Json(t.into())),
        None => Err(ApiError::not_found("template", &name)),
    }
}

/// Delete a template.
#[utoipa::path(delete, path = "/v1/templates/{name}", tag = "templates", operation_id = "templates.delete",
    params(("name" = String, Path, description = NAME)),
    responses((status = 204, description = "Deleted")))]
async fn delete(
    State(messaging): State<Messaging>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    check_name(&name).map_err(|_| ApiError::not_found("template", &name))?;
    if messaging.inner.store.delete_template(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("template", &name))
    }
}
