//! Login, sessions and their refresh tokens: `POST /login`, `/token/refresh` (rotation
//! with reuse detection), `/logout`, `POST /sessions` for a user the application
//! authenticated itself, a user's sessions and their revocation, and key rotation.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use switchyard_core::apikey::Scope;
use switchyard_core::auth::{Ending, Session, User, UserStatus};
use switchyard_core::new_id;
use switchyard_core::time::now_ms;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::users::{POOL, load};
use super::views::{SessionView, TokenPair, UserView};
use super::{Auth, Pool, limits, passwords, tokens};
use crate::http::{ApiError, ApiJson, ApiPath, ApiResult, List, Need, Problems, require};

pub(super) fn router() -> OpenApiRouter<Auth> {
    OpenApiRouter::new()
        .routes(require(Need::Write(Scope::Auth), routes!(login)))
        .routes(require(Need::Write(Scope::Auth), routes!(refresh)))
        .routes(require(Need::Write(Scope::Auth), routes!(logout)))
        .routes(require(Need::Write(Scope::Auth), routes!(create_session)))
        .routes(require(Need::Read(Scope::Auth), routes!(list_sessions)))
        .routes(require(Need::Write(Scope::Auth), routes!(revoke_sessions)))
        .routes(require(Need::Write(Scope::Auth), routes!(rotate_keys)))
}

/// How long the direct predecessor of a refresh token still answers the current pair.
const GRACE_MS: i64 = 10_000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    pub(crate) email: String,
    pub(crate) password: String,
    /// The end user's IP, for the per-IP limit and the session's record.
    pub(crate) client_ip: Option<String>,
    pub(crate) user_agent: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefreshRequest {
    pub(crate) refresh_token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSession {
    pub(crate) user_id: String,
    pub(crate) client_ip: Option<String>,
    pub(crate) user_agent: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Revoked {
    /// How many sessions ended.
    pub(crate) revoked: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Rotated {
    /// The new signing key's `kid`; the previous key stays in the JWKS until every
    /// token it signed has expired.
    pub(crate) kid: String,
}

pub(super) fn limited(l: limits::Limited) -> ApiError {
    let secs = l.retry_after.as_secs_f64().ceil().max(1.0) as u64;
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        format!("too many attempts; retry in {secs} s"),
    )
    .retry_after(secs)
}

fn busy(b: passwords::Busy) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "every password-hashing permit is taken; retry shortly",
    )
    .retry_after(b.retry_after)
}

fn invalid_refresh() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
        "the refresh token is not valid",
    )
}

/// 403 for a correct password on an account that may not log in.
pub(super) fn refusal(pool: &Pool, user: &User) -> Option<ApiError> {
    let code = match user.status {
        UserStatus::Active => {
            if pool.require_verified_email && !user.email_verified {
                return Some(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "email_not_verified",
                    "the pool requires a verified email",
                ));
            }
            return None;
        }
        UserStatus::Pending => "account_pending",
        UserStatus::Suspended => "account_suspended",
        UserStatus::Rejected => "account_rejected",
    };
    Some(ApiError::new(
        StatusCode::FORBIDDEN,
        code,
        format!("the account is {}", user.status),
    ))
}

fn text(p: &mut Problems, field: &str, value: &Option<String>, max: usize) {
    if let Some(v) = value
        && (v.len() > max || v.chars().any(char::is_control))
    {
        p.add(
            field,
            format!("at most {max} bytes without control characters"),
        );
    }
}

impl Auth {
    /// Checks `password` against `user` (found by `email`, or none) under the account's
    /// limit, which is checked before any hash: the user when it matches; otherwise the
    /// failure is counted and the answer is 401 `invalid_credentials` with `detail`.
    pub(super) async fn authenticate(
        &self,
        pool: &Pool,
        email: &str,
        user: Option<User>,
        password: &str,
        detail: &'static str,
    ) -> Result<(User, passwords::Checked), ApiError> {
        let key = limits::login_key(&pool.name, email);
        let limits = &self.inner.limits;
        let failures = limits
            .account(self.store(), &key, now_ms())
            .await?
            .map_err(limited)?;
        let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let checked = self.check(password, hash).await?;
        let Some(user) = user.filter(|_| checked.matches) else {
            limits.failed(self.store(), &key, now_ms()).await?;
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                detail,
            ));
        };
        if failures {
            limits.succeeded(self.store(), &key).await?;
        }
        Ok((user, checked))
    }

    pub(super) async fn hash(&self, password: &str) -> Result<String, ApiError> {
        self.inner.hasher.hash(password).await.map_err(busy)
    }

    pub(super) async fn check(
        &self,
        password: &str,
        hash: Option<&str>,
    ) -> Result<passwords::Checked, ApiError> {
        self.inner.hasher.check(password, hash).await.map_err(busy)
    }

    /// A new session for `user` and its first token pair.
    pub(super) async fn open_session(
        &self,
        pool: &Pool,
        user: &User,
        client_ip: Option<String>,
        user_agent: Option<String>,
    ) -> Result<TokenPair, ApiError> {
        let now = now_ms();
        let session = Session {
            id: new_id("ses"),
            pool: pool.name.clone(),
            user_id: user.id.clone(),
            counter: 0,
            created_at: now,
            rotated_at: now,
            last_used_at: now,
            expires_at: now + pool.absolute_ttl.as_millis() as i64,
            revoked_at: None,
            revoked_reason: None,
            client_ip,
            user_agent,
        };
        self.store().insert_session(&session).await?;
        self.pair(pool, user, &session.id, 0).await
    }

    /// The token pair of `session` at `counter`.
    async fn pair(
        &self,
        pool: &Pool,
        user: &User,
        session: &str,
        counter: i64,
    ) -> Result<TokenPair, ApiError> {
        let keys = pool.keys.get().await;
        let now_s = now_ms() / 1000;
        let access = tokens::sign_access(
            &keys,
            &pool.issuer(),
            &pool.name,
            user,
            session,
            now_s,
            pool.access_ttl,
        )
        .map_err(|e| {
            ApiError::unavailable("the pool's signing key is not available").caused_by(e)
        })?;
        let key = pool.refresh_key(&self.inner.vault).await?;
        Ok(TokenPair {
            access_token: access,
            token_type: "Bearer",
            expires_in: pool.access_ttl.as_secs(),
            refresh_token: tokens::refresh_token(key, session, counter),
            session_id: session.to_string(),
            user: UserView::from(user),
        })
    }
}

/// Log in with email and password. A wrong email or password is the same 401
/// `invalid_credentials`, in the same time; a correct password on an account that is not
/// active is 403 `account_pending`, `account_suspended` or `account_rejected`.
#[utoipa::path(post, path = "/v1/auth/{pool}/login", tag = "auth", operation_id = "auth.login",
    params(("pool" = String, Path, description = POOL)), request_body = Login,
    responses((status = 200, body = TokenPair),
        (status = 401, description = "Wrong email or password (`invalid_credentials`)", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The account may not log in (`account_pending`, `account_suspended`, `account_rejected`, `email_not_verified`)", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this IP or on this account (`too_many_attempts`), with `Retry-After`", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Every hashing permit is taken (`busy`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn login(
    State(auth): State<Auth>,
    ApiPath(pool): ApiPath<String>,
    ApiJson(body): ApiJson<Login>,
) -> ApiResult<axum::Json<TokenPair>> {
    let pool = auth.pool(&pool)?;
    let mut p = Problems::default();
    let email = super::users::email(&mut p, "email", &body.email);
    if body.password.is_empty() || body.password.chars().count() > passwords::MAX_LENGTH {
        p.add(
            "password",
            format!("1 to {} characters", passwords::MAX_LENGTH),
        );
    }
    text(&mut p, "client_ip", &body.client_ip, 64);
    text(&mut p, "user_agent", &body.user_agent, 512);
    p.finish()?;
    auth.inner
        .limits
        .ip(&pool.name, body.client_ip.as_deref())
        .map_err(limited)?;
    let user = auth.store().find_user(&pool.name, &email).await?;
    let (mut user, checked) = auth
        .authenticate(
            &pool,
            &email,
            user,
            &body.password,
            "the email or the password is wrong",
        )
        .await?;
    if checked.rehash {
        user.password_hash = Some(auth.hash(&body.password).await?);
        user.updated_at = now_ms();
        auth.store().update_user(&user, None).await?;
        tracing::info!(pool = %pool.name, user_id = %user.id, "password hash upgraded to argon2id");
    }
    if let Some(refused) = refusal(&pool, &user) {
        return Err(refused);
    }
    let pair = auth
        .open_session(&pool, &user, body.client_ip, body.user_agent)
        .await?;
    Ok(axum::Json(pair))
}

/// Exchange a refresh token for a new pair; the old token stops working. Presenting
/// the direct predecessor again within 10 s answers the current pair (a client that
/// lost the answer); any other reuse of an old token ends the whole session.
#[utoipa::path(post, path = "/v1/auth/{pool}/token/refresh", tag = "auth", operation_id = "auth.token.refresh",
    params(("pool" = String, Path, description = POOL)), request_body = RefreshRequest,
    responses((status = 200, body = TokenPair),
        (status = 401, description = "Not a valid refresh token (`invalid_refresh_token`), an ended session (`session_ended`), or an old token reused (`refresh_token_reused`: the session is ended)", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The account may no longer log in", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn refresh(
    State(auth): State<Auth>,
    ApiPath(pool): ApiPath<String>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> ApiResult<axum::Json<TokenPair>> {
    let pool = auth.pool(&pool)?;
    let key = pool.refresh_key(&auth.inner.vault).await?;
    let (sid, counter) =
        tokens::open_refresh(key, &body.refresh_token).ok_or_else(invalid_refresh)?;
    let store = auth.store();
    let session = store
        .get_session(&pool.name, &sid)
        .await?
        .ok_or_else(invalid_refresh)?;
    let now = now_ms();
    if session.revoked_at.is_some() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "session_ended",
            "the session has ended",
        ));
    }
    if now >= session.expires_at || now >= session.last_used_at + pool.idle_ttl.as_millis() as i64 {
        store.end_session(&pool.name, &sid, "expired", now).await?;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "session_ended",
            "the session has expired",
        ));
    }
    let user = load(&auth, &pool.name, &session.user_id)
        .await
        .map_err(|_| invalid_refresh())?;
    if let Some(refused) = refusal(&pool, &user) {
        return Err(refused);
    }
    let current = if counter == session.counter {
        if store.rotate_session(&pool.name, &sid, counter, now).await? {
            counter + 1
        } else {
            // Another refresh of the same token won: it is now the direct predecessor.
            let after = store
                .get_session(&pool.name, &sid)
                .await?
                .ok_or_else(invalid_refresh)?;
            if after.revoked_at.is_none()
                && after.counter == counter + 1
                && now - after.rotated_at <= GRACE_MS
            {
                after.counter
            } else {
                return Err(reused(&auth, &pool, &sid, now).await);
            }
        }
    } else if counter + 1 == session.counter && now - session.rotated_at <= GRACE_MS {
        session.counter
    } else {
        return Err(reused(&auth, &pool, &sid, now).await);
    };
    Ok(axum::Json(auth.pair(&pool, &user, &sid, current).await?))
}

async fn reused(auth: &Auth, pool: &Pool, sid: &str, now: i64) -> ApiError {
    match auth
        .store()
        .end_session(&pool.name, sid, "reuse", now)
        .await
    {
        Ok(_) => {
            tracing::warn!(pool = %pool.name, session_id = %sid, "an old refresh token was reused: the session is ended");
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "refresh_token_reused",
                "an old refresh token was used again; the session is ended",
            )
        }
        Err(e) => e.into(),
    }
}

/// End the session of a refresh token. Answers 204 whether or not it was live.
#[utoipa::path(post, path = "/v1/auth/{pool}/logout", tag = "auth", operation_id = "auth.logout",
    params(("pool" = String, Path, description = POOL)), request_body = RefreshRequest,
    responses((status = 204, description = "The session has ended"),
        (status = 401, description = "Not a refresh token of this pool (`invalid_refresh_token`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn logout(
    State(auth): State<Auth>,
    ApiPath(pool): ApiPath<String>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> ApiResult<StatusCode> {
    let pool = auth.pool(&pool)?;
    let key = pool.refresh_key(&auth.inner.vault).await?;
    let (sid, _) = tokens::open_refresh(key, &body.refresh_token).ok_or_else(invalid_refresh)?;
    auth.store()
        .end_session(&pool.name, &sid, "logout", now_ms())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Open a session for a user the application authenticated itself (a magic link, a
/// passkey…): the same token pair as a login, for an active user.
#[utoipa::path(post, path = "/v1/auth/{pool}/sessions", tag = "auth", operation_id = "auth.sessions.create",
    params(("pool" = String, Path, description = POOL)), request_body = NewSession,
    responses((status = 201, body = TokenPair),
        (status = 403, description = "The account may not log in", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn create_session(
    State(auth): State<Auth>,
    ApiPath(pool): ApiPath<String>,
    ApiJson(body): ApiJson<NewSession>,
) -> ApiResult<(StatusCode, axum::Json<TokenPair>)> {
    let pool = auth.pool(&pool)?;
    let mut p = Problems::default();
    text(&mut p, "client_ip", &body.client_ip, 64);
    text(&mut p, "user_agent", &body.user_agent, 512);
    p.finish()?;
    let user = load(&auth, &pool.name, &body.user_id).await?;
    if let Some(refused) = refusal(&pool, &user) {
        return Err(refused);
    }
    let pair = auth
        .open_session(&pool, &user, body.client_ip, body.user_agent)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(pair)))
}

/// A user's live sessions, newest first.
#[utoipa::path(get, path = "/v1/auth/{pool}/users/{id}/sessions", tag = "auth", operation_id = "auth.sessions.list",
    params(("pool" = String, Path, description = POOL), ("id" = String, Path, description = "A user id, `usr_…`")),
    responses((status = 200, body = inline(List<SessionView>))))]
async fn list_sessions(
    State(auth): State<Auth>,
    ApiPath((pool, id)): ApiPath<(String, String)>,
) -> ApiResult<axum::Json<List<SessionView>>> {
    let pool = auth.pool(&pool)?;
    let user = load(&auth, &pool.name, &id).await?;
    let now = now_ms();
    let idle = pool.idle_ttl.as_millis() as i64;
    let live = auth
        .store()
        .live_sessions(&pool.name, &user.id, now)
        .await?;
    let views = live
        .iter()
        .filter(|s| s.last_used_at + idle > now)
        .map(|s| SessionView::new(s, idle))
        .collect();
    Ok(axum::Json(List::all(views)))
}

/// End every session of a user.
#[utoipa::path(post, path = "/v1/auth/{pool}/users/{id}/sessions/revoke", tag = "auth", operation_id = "auth.sessions.revoke",
    params(("pool" = String, Path, description = POOL), ("id" = String, Path, description = "A user id, `usr_…`")),
    responses((status = 200, body = Revoked)))]
async fn revoke_sessions(
    State(auth): State<Auth>,
    ApiPath((pool, id)): ApiPath<(String, String)>,
) -> ApiResult<axum::Json<Revoked>> {
    let pool = auth.pool(&pool)?;
    let user = load(&auth, &pool.name, &id).await?;
    let ending = Ending {
        reason: "revoked",
        at: now_ms(),
        except: None,
    };
    let revoked = auth
        .store()
        .end_user_sessions(&pool.name, &user.id, ending)
        .await?;
    Ok(axum::Json(Revoked { revoked }))
}

/// Introduce a new signing key. Tokens are signed with it from now on (within 10 s on
/// every node); the JWKS keeps the previous key until every token it signed expired.
#[utoipa::path(post, path = "/v1/auth/{pool}/keys/rotate", tag = "auth", operation_id = "auth.keys.rotate",
    params(("pool" = String, Path, description = POOL)),
    responses((status = 200, body = Rotated)))]
async fn rotate_keys(
    State(auth): State<Auth>,
    ApiPath(pool): ApiPath<String>,
) -> ApiResult<axum::Json<Rotated>> {
    let pool = auth.pool(&pool)?;
    let kid = pool.keys.rotate().await?;
    tracing::info!(pool = %pool.name, kid = %kid, "signing key rotated");
    Ok(axum::Json(Rotated { kid }))
}
