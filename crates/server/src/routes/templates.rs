//! `/v1/templates`: named subject, HTML and text templates (minijinja syntax), checked
//! when saved.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use switchyard_core::apikey::Scope;
use switchyard_core::message::Template;
use switchyard_core::time::{now_ms, rfc3339};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::extract::{ApiJson, ApiQuery, List, PageQuery};
use crate::messaging::template;
use crate::problem::{ApiError, ApiResult, FieldError};
use crate::state::AppState;

/// Longest part of a template.
const MAX_PART: usize = 256 * 1024;

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    pub name: String,
    pub subject: Option<String>,
    pub html: Option<String>,
    pub text: Option<String>,
    pub created_at: String,
    pub updated_at: String,
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
pub struct TemplateBody {
    /// Letters, digits, `_`, `-` and `.`; at most 100. Only on create.
    pub name: Option<String>,
    pub subject: Option<String>,
    pub html: Option<String>,
    /// Also the body of an SMS sent with the template.
    pub text: Option<String>,
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if super::is_name(name, 100) {
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
#[utoipa::path(post, path = "/v1/templates", tag = "templates", request_body = TemplateBody, security(("bearer" = [])),
    responses((status = 201, body = TemplateView), (status = 409, body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(mut body): ApiJson<TemplateBody>,
) -> ApiResult<(StatusCode, axum::Json<TemplateView>)> {
    principal.require(Scope::Templates, true)?;
    let Some(name) = body.name.take() else {
        return Err(ApiError::invalid_field("name", "is required"));
    };
    check_name(&name)?;
    if state.store.get_template(&name).await?.is_some() {
        return Err(ApiError::conflict(format!(
            "a template named {name:?} exists; PUT /v1/templates/{name} replaces it"
        )));
    }
    let template = checked(name, body, now_ms())?;
    state.store.put_template(&template).await?;
    Ok((StatusCode::CREATED, axum::Json(template.into())))
}

/// Create or replace a template.
#[utoipa::path(put, path = "/v1/templates/{name}", tag = "templates", request_body = TemplateBody, security(("bearer" = [])),
    responses((status = 200, body = TemplateView), (status = 201, body = TemplateView),
        (status = 422, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn put(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<TemplateBody>,
) -> ApiResult<(StatusCode, axum::Json<TemplateView>)> {
    principal.require(Scope::Templates, true)?;
    check_name(&name)?;
    if body.name.as_ref().is_some_and(|n| *n != name) {
        return Err(ApiError::invalid_field(
            "name",
            "differs from the name in the path; templates cannot be renamed",
        ));
    }
    let created_at = state
        .store
        .get_template(&name)
        .await?
        .map_or_else(now_ms, |t| t.created_at);
    let template = checked(name, body, created_at)?;
    let created = state.store.put_template(&template).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(template.into())))
}

/// Templates by name.
#[utoipa::path(get, path = "/v1/templates", tag = "templates", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = inline(List<TemplateView>))))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<axum::Json<List<TemplateView>>> {
    principal.require(Scope::Templates, false)?;
    let (limit, page) = query.page()?;
    let templates = state.store.list_templates(&page).await?;
    let views = templates.into_iter().map(TemplateView::from).collect();
    Ok(axum::Json(List::from_overfetch(
        views,
        limit,
        |t: &TemplateView| t.name.clone(),
    )))
}

#[utoipa::path(get, path = "/v1/templates/{name}", tag = "templates", security(("bearer" = [])),
    responses((status = 200, body = TemplateView), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<TemplateView>> {
    principal.require(Scope::Templates, false)?;
    match state.store.get_template(&name).await? {
        Some(t) => Ok(axum::Json(t.into())),
        None => Err(ApiError::not_found("template", &name)),
    }
}

#[utoipa::path(delete, path = "/v1/templates/{name}", tag = "templates", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = crate::problem::Problem, content_type = "application/problem+json")))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(Scope::Templates, true)?;
    if state.store.delete_template(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("template", &name))
    }
}
