//! `/v1/auth/{pool}/users`: create (with a password, or an imported bcrypt hash), read,
//! find by email, change roles, status, email and metadata, delete. Leaving `active`
//! and deletion end every session of the user.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use switchyard_core::apikey::Scope;
use switchyard_core::auth::{Ending, User, UserStatus};
use switchyard_core::message::check_email_address;
use switchyard_core::new_id;
use switchyard_core::time::now_ms;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::UserView;
use super::{Auth, Pool, passwords};
use crate::http::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, List, Need, Problems, require};

pub(super) fn router() -> OpenApiRouter<Auth> {
    OpenApiRouter::new()
        .routes(require(Need::Write(Scope::Auth), routes!(create)))
        .routes(require(Need::Read(Scope::Auth), routes!(find)))
        .routes(require(Need::Read(Scope::Auth), routes!(get)))
        .routes(require(Need::Write(Scope::Auth), routes!(update)))
        .routes(require(Need::Write(Scope::Auth), routes!(delete)))
}

const MAX_METADATA: usize = 16 * 1024;
pub(super) const POOL: &str = "The pool's name (`default` exists without configuration)";
const USER_ID: &str = "A user id, `usr_…`";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    pub(crate) email: String,
    /// 8 to 256 characters; the most common passwords are refused.
    pub(crate) password: Option<String>,
    /// An existing bcrypt hash (`$2a$`, `$2b$`, `$2y$`), checked at the next login and
    /// then replaced by argon2id.
    pub(crate) password_hash: Option<String>,
    /// Default: the pool's `default_roles`.
    pub(crate) roles: Option<Vec<String>>,
    /// Default: the pool's `signup_status`.
    #[schema(value_type = Option<UserStatus>)]
    pub(crate) status: Option<String>,
    pub(crate) email_verified: Option<bool>,
    /// A JSON object, at most 16 KiB.
    pub(crate) metadata: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserChange {
    pub(crate) email: Option<String>,
    pub(crate) email_verified: Option<bool>,
    pub(crate) roles: Option<Vec<String>>,
    #[schema(value_type = Option<UserStatus>)]
    pub(crate) status: Option<String>,
    /// Replaces the metadata.
    pub(crate) metadata: Option<Value>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct FindQuery {
    /// The user's email (any case).
    pub(crate) email: String,
}

/// An email as stored: trimmed and lowercased, a bare address.
pub(super) fn email(p: &mut Problems, field: &str, value: &str) -> String {
    let e = value.trim().to_lowercase();
    if e.len() > 254 || e.contains(['<', '>', ' ', ',']) || check_email_address(&e).is_err() {
        p.add(field, "expected an email address such as ada@example.com");
    }
    e
}

pub(super) fn roles(p: &mut Problems, pool: &Pool, roles: &[String]) {
    if roles.len() > 50 {
        p.add("roles", "at most 50 roles");
    }
    for (i, r) in roles.iter().enumerate() {
        if !super::role_ok(r) {
            p.add(format!("roles[{i}]"), "1 to 64 of a-z, 0-9, - _ : .");
        } else if !pool.roles.is_empty() && !pool.roles.contains(r) {
            p.add(
                format!("roles[{i}]"),
                format!(
                    "{r:?} is not a role of this pool; expected one of {}",
                    pool.roles.join(", ")
                ),
            );
        }
    }
}

fn status(p: &mut Problems, value: Option<&str>) -> Option<UserStatus> {
    let s = value?;
    let parsed = UserStatus::parse(s);
    if parsed.is_none() {
        p.add("status", format!("expected one of {}", UserStatus::names()));
    }
    parsed
}

fn metadata(p: &mut Problems, value: &Value) {
    if !value.is_object() {
        p.add("metadata", "expected a JSON object");
    } else if value.to_string().len() > MAX_METADATA {
        p.add("metadata", "at most 16 KiB of JSON");
    }
}

/// The user, or 404.
pub(super) async fn load(auth: &Auth, pool: &str, id: &str) -> Result<User, ApiError> {
    if !switchyard_core::id::has_prefix(id, "usr") {
        return Err(ApiError::not_found("user", id));
    }
    auth.store()
        .get_user(pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found("user", id))
}

/// Create a user with a password, an imported bcrypt hash, or neither (the user then
/// signs in with Google or through `POST /sessions`).
#[utoipa::path(post, path = "/v1/auth/{pool}/users", tag = "auth", operation_id = "auth.users.create",
    params(("pool" = String, Path, description = POOL)), request_body = NewUser,
    responses((status = 201, body = UserView),
        (status = 409, description = "The pool has a user with this email (`email_taken`)", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Every hashing permit is taken (`busy`); retry after `Retry-After`", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn create(
    State(auth): State<Auth>,
    ApiPath(pool): ApiPath<String>,
    ApiJson(body): ApiJson<NewUser>,
) -> ApiResult<(StatusCode, axum::Json<UserView>)> {
    let pool = auth.pool(&pool)?;
    let mut p = Problems::default();
    let email = email(&mut p, "email", &body.email);
    let user_roles = body.roles.unwrap_or_else(|| pool.default_roles.clone());
    roles(&mut p, &pool, &user_roles);
    let status = status(&mut p, body.status.as_deref()).unwrap_or(pool.signup_status);
    let metadata = body
        .metadata
        .unwrap_or_else(|| Value::Object(Default::default()));
    self::metadata(&mut p, &metadata);
    match (&body.password, &body.password_hash) {
        (Some(_), Some(_)) => p.add("password_hash", "give password or password_hash, not both"),
        (Some(pw), None) => {
            if let Some(why) = passwords::policy_problem(pw) {
                p.add("password", why);
            }
        }
        (None, Some(h)) if !passwords::is_bcrypt(h) => p.add(
            "password_hash",
            "expected a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters)",
        ),
        _ => {}
    }
    p.finish()?;
    let password_hash = match (body.password, body.password_hash) {
        (Some(pw), _) => Some(auth.hash(&pw).await?),
        (None, h) => h,
    };
    let now = now_ms();
    let user = User {
        id: new_id("usr"),
        pool: pool.name.clone(),
        email,
        email_verified: body.email_verified.unwrap_or(false),
        password_hash,
        roles: user_roles,
        status,
        metadata,
        created_at: now,
        updated_at: now,
    };
    if !auth.store().insert_user(&user, None).await? {
        return Err(email_taken());
    }
    tracing::info!(pool = %pool.name, user_id = %user.id, "user created");
    Ok((StatusCode::CREATED, axum::Json(UserView::from(&user))))
}

pub(super) fn email_taken() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "email_taken",
        "the pool has a user with this email",
    )
}

/// Find a user by email: a list of zero or one user.
#[utoipa::path(get, path = "/v1/auth/{pool}/users", tag = "auth", operation_id = "auth.users.find",
    params(("pool" = String, Path, description = POOL), FindQuery),
    responses((status = 200, body = inline(List<UserView>))))]
async fn find(
    State(auth): State<Auth>,
    ApiPath(pool): ApiPath<String>,
    ApiQuery(query): ApiQuery<FindQuery>,
) -> ApiResult<axum::Json<List<UserView>>> {
    let pool = auth.pool(&pool)?;
    let email = query.email.trim().to_lowercase();
    let found = auth.store().find_user(&pool.name, &email).await?;
    Ok(axum::Json(List::all(
        found.iter().map(UserView::from).collect(),
    )))
}

/// A user.
#[utoipa::path(get, path = "/v1/auth/{pool}/users/{id}", tag = "auth", operation_id = "auth.users.get",
    params(("pool" = String, Path, description = POOL), ("id" = String, Path, description = USER_ID)),
    responses((status = 200, body = UserView)))]
async fn get(
    State(auth): State<Auth>,
    ApiPath((pool, id)): ApiPath<(String, String)>,
) -> ApiResult<axum::Json<UserView>> {
    let pool = auth.pool(&pool)?;
    let user = load(&auth, &pool.name, &id).await?;
    Ok(axum::Json(UserView::from(&user)))
}

/// Change a user's roles, status, email, `email_verified` or metadata. A status other
/// than `active` ends every session of the user; a new email is unverified unless
/// `email_verified` says otherwise.
#[utoipa::path(patch, path = "/v1/auth/{pool}/users/{id}", tag = "auth", operation_id = "auth.users.update",
    params(("pool" = String, Path, description = POOL), ("id" = String, Path, description = USER_ID)),
    request_body = UserChange,
    responses((status = 200, body = UserView),
        (status = 409, description = "Another user of the pool has this email (`email_taken`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn update(
    State(auth): State<Auth>,
    ApiPath((pool, id)): ApiPath<(String, String)>,
    ApiJson(change): ApiJson<UserChange>,
) -> ApiResult<axum::Json<UserView>> {
    let pool = auth.pool(&pool)?;
    let mut p = Problems::default();
    let new_email = change.email.as_deref().map(|e| email(&mut p, "email", e));
    if let Some(r) = &change.roles {
        roles(&mut p, &pool, r);
    }
    let new_status = status(&mut p, change.status.as_deref());
    if let Some(m) = &change.metadata {
        metadata(&mut p, m);
    }
    p.finish()?;
    let mut user = load(&auth, &pool.name, &id).await?;
    if let Some(e) = new_email
        && e != user.email
    {
        user.email = e;
        user.email_verified = false;
    }
    if let Some(v) = change.email_verified {
        user.email_verified = v;
    }
    if let Some(r) = change.roles {
        user.roles = r;
    }
    if let Some(m) = change.metadata {
        user.metadata = m;
    }
    let was_active = user.status == UserStatus::Active;
    if let Some(s) = new_status {
        user.status = s;
    }
    let now = now_ms();
    user.updated_at = now;
    let ending = (was_active && user.status != UserStatus::Active).then_some(Ending {
        reason: "status",
        at: now,
        except: None,
    });
    match auth.store().update_user(&user, ending).await? {
        None => Err(ApiError::not_found("user", &id)),
        Some(false) => Err(email_taken()),
        Some(true) => Ok(axum::Json(UserView::from(&user))),
    }
}

/// Delete a user, with its sessions, linked identities and pending link tokens.
#[utoipa::path(delete, path = "/v1/auth/{pool}/users/{id}", tag = "auth", operation_id = "auth.users.delete",
    params(("pool" = String, Path, description = POOL), ("id" = String, Path, description = USER_ID)),
    responses((status = 204, description = "Deleted")))]
async fn delete(
    State(auth): State<Auth>,
    ApiPath((pool, id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let pool = auth.pool(&pool)?;
    if !switchyard_core::id::has_prefix(&id, "usr")
        || !auth.store().delete_user(&pool.name, &id).await?
    {
        return Err(ApiError::not_found("user", &id));
    }
    tracing::info!(pool = %pool.name, user_id = %id, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}
