//! Email verification and password reset: random single-use link tokens, kept only as
//! digests, consumed atomically, mailed through the hub's own email with the templates
//! `auth.verify_email`, `auth.password_reset` and `auth.password_changed` (built in,
//! replaceable through `/v1/templates`); and password change.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use switchyard_core::apikey::Scope;
use switchyard_core::auth::{Ending, LinkPurpose, User};
use switchyard_core::time::now_ms;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::sessions::limited;
use super::users::{POOL, load};
use super::views::UserView;
use super::{Auth, Pool, limits, passwords};
use crate::http::{ApiError, ApiJson, ApiPath, ApiResult, Need, Problems, require};
use crate::messaging::{BuiltIn, SystemMail};

pub(super) fn router() -> OpenApiRouter<Auth> {
    OpenApiRouter::new()
        .routes(require(Need::Write(Scope::Auth), routes!(verify_send)))
        .routes(require(Need::Write(Scope::Auth), routes!(verify_confirm)))
        .routes(require(Need::Write(Scope::Auth), routes!(reset)))
        .routes(require(Need::Write(Scope::Auth), routes!(reset_confirm)))
        .routes(require(Need::Write(Scope::Auth), routes!(change)))
}

const RESET_TTL_MS: i64 = 30 * 60 * 1000;
const VERIFY_TTL_MS: i64 = 24 * 3600 * 1000;

pub(crate) const VERIFY_EMAIL: BuiltIn = BuiltIn {
    name: "auth.verify_email",
    subject: "Confirm your email address",
    text: "Confirm your email address by opening this link:\n\n{{ link }}\n\nThe link works once and expires in 24 hours. If you did not ask for it, ignore this mail.\n",
    html: "<p>Confirm your email address by opening this link:</p><p><a href=\"{{ link }}\">{{ link }}</a></p><p>The link works once and expires in 24 hours. If you did not ask for it, ignore this mail.</p>",
};

pub(crate) const PASSWORD_RESET: BuiltIn = BuiltIn {
    name: "auth.password_reset",
    subject: "Reset your password",
    text: "Choose a new password by opening this link:\n\n{{ link }}\n\nThe link works once and expires in 30 minutes. If you did not ask for it, ignore this mail: your password stays as it is.\n",
    html: "<p>Choose a new password by opening this link:</p><p><a href=\"{{ link }}\">{{ link }}</a></p><p>The link works once and expires in 30 minutes. If you did not ask for it, ignore this mail: your password stays as it is.</p>",
};

pub(crate) const PASSWORD_CHANGED: BuiltIn = BuiltIn {
    name: "auth.password_changed",
    subject: "Your password was changed",
    text: "The password of {{ email }} was just changed, and every session was signed out. If this was not you, reset your password now.\n",
    html: "<p>The password of {{ email }} was just changed, and every session was signed out. If this was not you, reset your password now.</p>",
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserRef {
    pub(crate) user_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenRef {
    pub(crate) token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetRequest {
    pub(crate) email: String,
    pub(crate) client_ip: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetConfirm {
    pub(crate) token: String,
    pub(crate) password: String,
    pub(crate) client_ip: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordChange {
    pub(crate) user_id: String,
    pub(crate) current_password: String,
    pub(crate) new_password: String,
    pub(crate) client_ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Sent {
    /// The mail's message id (`GET /v1/messages/{id}`).
    pub(crate) message_id: String,
    pub(crate) expires_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Accepted {
    /// Always `accepted`: the answer is the same whether or not the account exists.
    pub(crate) status: &'static str,
}

fn invalid_token() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_token",
        "the token is unknown, used or expired",
    )
}

/// The application's page with `token` added to its query.
fn link(base: &str, token: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}token={token}")
}

impl Auth {
    /// Makes a link token for `user`, stores its digest and mails the link.
    async fn mail_link(
        &self,
        pool: &Pool,
        user: &User,
        purpose: LinkPurpose,
        page: &str,
        template: &BuiltIn,
        ttl_ms: i64,
    ) -> Result<(String, i64), ApiError> {
        let token = super::random_token();
        let expires_at = now_ms() + ttl_ms;
        self.store()
            .insert_link(
                &super::token_digest(&token),
                &pool.name,
                purpose,
                &user.id,
                expires_at,
            )
            .await?;
        let mail = SystemMail {
            template,
            from: pool.from.clone(),
            to: user.email.clone(),
            data: serde_json::json!({ "link": link(page, &token), "email": user.email, "pool": pool.name }),
            metadata: serde_json::json!({ "auth_pool": pool.name, "auth_user_id": user.id, "auth_purpose": purpose.as_str() }),
            secret: true,
        };
        let message_id = self.inner.messaging.send_system(mail).await?;
        Ok((message_id, expires_at))
    }

    async fn notify_changed(&self, pool: &Pool, user: &User) {
        let mail = SystemMail {
            template: &PASSWORD_CHANGED,
            from: pool.from.clone(),
            to: user.email.clone(),
            data: serde_json::json!({ "email": user.email, "pool": pool.name }),
            metadata: serde_json::json!({ "auth_pool": pool.name, "auth_user_id": user.id, "auth_purpose": "password_changed" }),
            secret: false,
        };
        if let Err(e) = self.inner.messaging.send_system(mail).await {
            tracing::warn!(pool = %pool.name, user_id = %user.id, error = %e.detail, "the password-changed notice was not queued");
        }
    }

    /// Replaces the password and ends the user's sessions (but `except`) in one write.
    async fn set_password(
        &self,
        user: &mut User,
        password: &str,
        reason: &str,
        except: Option<&str>,
    ) -> Result<(), ApiError> {
        user.password_hash = Some(self.hash(password).await?);
        let now = now_ms();
        user.updated_at = now;
        let ending = Ending {
            reason,
            at: now,
            except,
        };
        self.store().update_user(user, Some(ending)).await?;
        Ok(())
    }
}

fn page<'a>(url: &'a Option<String>, key: &str) -> Result<&'a str, ApiError> {
    url.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "not_configured",
            format!("the pool has no {key}: set it in [[auth.pools]]"),
        )
    })
}

fn password_problem(p: &mut Problems, field: &str, password: &str) {
    if let Some(why) = passwords::policy_problem(password) {
        p.add(field, why);
    }
}

/// Mail the user a link to confirm their email (the pool's `verify_url` with `?token=`).
/// Earlier verification links stop working.
#[utoipa::path(post, path = "/v1/auth/{pool}/verify-email/send", tag = "auth", operation_id = "auth.verify_email.send",
    params(("pool" = String, Path, description = POOL)), request_body = UserRef,
    responses((status = 202, body = Sent),
        (status = 409, description = "The pool has no `verify_url` (`not_configured`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn verify_send(
    State(auth): State<Auth>,
    ApiPath(pool): ApiPath<String>,
    ApiJson(body): ApiJson<UserRef>,
) -> ApiResult<(StatusCode, axum::Json<Sent>)> {
    let pool = auth.pool(&pool)?;
    let page = page(&pool.verify_url, "verify_url")?;
    let user = load(&auth, &pool.name, &body.user_id).await?;
    let (message_id, expires_at) = auth
        .mail_link(
            &pool,
            &user,
            LinkPurpose::VerifyEmail,
            page,
            &VERIFY_EMAIL,
            VERIFY_TTL_MS,
        )
        .await?;
    let expires_at = switchyard_core::time::rfc3339(expires_at);
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Sent {
            message_id,
            expires_at,
        }),
    ))
}

/// Confirm an email with the token of its link (once).
#[utoipa::path(post, path = "/v1/auth/{pool}/verify-email/confirm", tag = "auth", operation_id = "auth.verify_email.confirm",
    params(("pool" = String, Path, description = POOL)), request_body = TokenRef,
    responses((status = 200, body = UserView),
        (status = 400, description = "Unknown, used or expired token (`invalid_token`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn verify_confirm(
    State(auth): State<Auth>,
    ApiPath(pool): ApiPath<String>,
    ApiJson(body): ApiJson<TokenRef>,
) -> ApiResult<axum::Json<UserView>> {
    let pool = auth.pool(&pool)?;
    let user_id = auth
        .store()
        .consume_link(
            &super::token_digest(&body.token),
            &pool.name,
            LinkPurpose::VerifyEmail,
            now_ms(),
        )
        .await?
        .ok_or_else(invalid_token)?;
    let mut user = load(&auth, &pool.name, &user_id).await?;
    user.email_verified = true;
    user.updated_at = now_ms();
    auth.store().update_user(&user, None).await?;
    Ok(axum::Json(UserView::from(&user)))
}

/// Mail a password-reset link (the pool's `reset_url` with `?token=`). Always 202,
/// whether or not the account exists; one mail per address per `reset_cooldown`.
#[utoipa::path(post, path = "/v1/auth/{pool}/password/reset", tag = "auth", operation_id = "auth.password.reset",
    params(("pool" = String, Path, description = POOL)), request_body = ResetRequest,
    responses((status = 202, body = Accepted),
        (status = 409, description = "The pool has no `reset_url` (`not_configured`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn reset(
    State(auth): State<Auth>,
    ApiPath(pool): ApiPath<String>,
    ApiJson(body): ApiJson<ResetRequest>,
) -> ApiResult<(StatusCode, axum::Json<Accepted>)> {
    let pool = auth.pool(&pool)?;
    let page = page(&pool.reset_url, "reset_url")?.to_string();
    let mut p = Problems::default();
    let email = super::users::email(&mut p, "email", &body.email);
    p.finish()?;
    auth.inner
        .limits
        .ip(&pool.name, body.client_ip.as_deref())
        .map_err(limited)?;
    let accepted = (
        StatusCode::ACCEPTED,
        axum::Json(Accepted { status: "accepted" }),
    );
    let key = format!("reset:{}:{email}", pool.name);
    if !auth
        .inner
        .limits
        .cooldown(auth.store(), &key, now_ms())
        .await?
    {
        return Ok(accepted);
    }
    // Only an account that could use the link gets one; the answer is the same.
    if let Some(user) = auth.store().find_user(&pool.name, &email).await? {
        auth.mail_link(
            &pool,
            &user,
            LinkPurpose::PasswordReset,
            &page,
            &PASSWORD_RESET,
            RESET_TTL_MS,
        )
        .await?;
    }
    Ok(accepted)
}

/// Set a new password with the token of a reset link (once). Every session of the
/// user ends, and a notice is mailed.
#[utoipa::path(post, path = "/v1/auth/{pool}/password/reset/confirm", tag = "auth", operation_id = "auth.password.reset_confirm",
    params(("pool" = String, Path, description = POOL)), request_body = ResetConfirm,
    responses((status = 200, body = UserView),
        (status = 400, description = "Unknown, used or expired token (`invalid_token`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn reset_confirm(
    State(auth): State<Auth>,
    ApiPath(pool): ApiPath<String>,
    ApiJson(body): ApiJson<ResetConfirm>,
) -> ApiResult<axum::Json<UserView>> {
    let pool = auth.pool(&pool)?;
    let mut p = Problems::default();
    password_problem(&mut p, "password", &body.password);
    p.finish()?;
    auth.inner
        .limits
        .ip(&pool.name, body.client_ip.as_deref())
        .map_err(limited)?;
    let user_id = auth
        .store()
        .consume_link(
            &super::token_digest(&body.token),
            &pool.name,
            LinkPurpose::PasswordReset,
            now_ms(),
        )
        .await?
        .ok_or_else(invalid_token)?;
    let mut user = load(&auth, &pool.name, &user_id).await?;
    // The link reached the mailbox: the address is verified.
    user.email_verified = true;
    auth.set_password(&mut user, &body.password, "password_reset", None)
        .await?;
    auth.inner
        .limits
        .succeeded(auth.store(), &limits::login_key(&pool.name, &user.email))
        .await?;
    auth.notify_changed(&pool, &user).await;
    tracing::info!(pool = %pool.name, user_id = %user.id, "password reset");
    Ok(axum::Json(UserView::from(&user)))
}

/// Change a password knowing the current one. The user's sessions end; log in again
/// for a new pair.
#[utoipa::path(post, path = "/v1/auth/{pool}/password/change", tag = "auth", operation_id = "auth.password.change",
    params(("pool" = String, Path, description = POOL)), request_body = PasswordChange,
    responses((status = 200, body = UserView),
        (status = 401, description = "The current password is wrong (`invalid_credentials`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn change(
    State(auth): State<Auth>,
    ApiPath(pool): ApiPath<String>,
    ApiJson(body): ApiJson<PasswordChange>,
) -> ApiResult<axum::Json<UserView>> {
    let pool = auth.pool(&pool)?;
    let mut p = Problems::default();
    password_problem(&mut p, "new_password", &body.new_password);
    if body.current_password.is_empty()
        || body.current_password.chars().count() > passwords::MAX_LENGTH
    {
        p.add(
            "current_password",
            format!("1 to {} characters", passwords::MAX_LENGTH),
        );
    }
    p.finish()?;
    auth.inner
        .limits
        .ip(&pool.name, body.client_ip.as_deref())
        .map_err(limited)?;
    let user = load(&auth, &pool.name, &body.user_id).await?;
    let email = user.email.clone();
    let (mut user, _) = auth
        .authenticate(
            &pool,
            &email,
            Some(user),
            &body.current_password,
            "the current password is wrong",
        )
        .await?;
    auth.set_password(&mut user, &body.new_password, "password_change", None)
        .await?;
    auth.notify_changed(&pool, &user).await;
    Ok(axum::Json(UserView::from(&user)))
}
