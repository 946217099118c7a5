//! Google sign-in: the authorization-code flow with PKCE (S256), a single-use `state`
//! valid 10 minutes and a `nonce`, all kept by the hub; the `id_token` checked against
//! the issuer's keys (`iss`, `aud`, `exp`, `nonce`); identities keyed on `sub`, and an
//! existing account linked by email only when both sides have verified it. The issuer
//! is configurable (`google_issuer`), so any OpenID provider can stand in for Google.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use switchyard_core::apikey::Scope;
use switchyard_core::auth::User;
use switchyard_core::new_id;
use switchyard_core::time::now_ms;
use switchyard_providers::auth::oidc::{self, CodeExchange};
use switchyard_store::auth::Identity;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::users::{POOL, email_taken};
use super::views::TokenPair;
use super::{Auth, GoogleClient, Pool, verify};
use crate::http::{ApiError, ApiJson, ApiPath, ApiResult, Need, Problems, require, validate};

pub(super) fn router() -> OpenApiRouter<Auth> {
    OpenApiRouter::new()
        .routes(require(Need::Write(Scope::Auth), routes!(start)))
        .routes(require(Need::Write(Scope::Auth), routes!(callback)))
}

const STATE_TTL_MS: i64 = 10 * 60 * 1000;
const PROVIDER: &str = "google";
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a discovery document is used before it is read again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Start {
    /// The application's page Google sends the browser back to (registered with the
    /// Google client); it passes `code` and `state` to `/oauth/google/callback`.
    pub(crate) redirect_uri: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Started {
    /// Send the browser here.
    pub(crate) authorize_url: String,
    pub(crate) state: String,
    pub(crate) expires_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Callback {
    pub(crate) code: String,
    pub(crate) state: String,
    pub(crate) client_ip: Option<String>,
    pub(crate) user_agent: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SignedIn {
    #[serde(flatten)]
    pub(crate) tokens: TokenPair,
    /// A new user was made for this Google account.
    pub(crate) created: bool,
    /// The Google account was linked to an existing user (same verified email).
    pub(crate) linked: bool,
}

/// What the hub keeps of a started sign-in.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    verifier: String,
    nonce: String,
    redirect_uri: String,
}

fn client(pool: &Pool) -> Result<&GoogleClient, ApiError> {
    pool.google.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "not_configured",
            "the pool has no Google client: set google_client_id and google_client_secret (or GOOGLE_CLIENT_ID / GOOGLE_CLIENT_SECRET)",
        )
    })
}

fn upstream(detail: String) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "provider_error",
        "the identity provider could not be used",
    )
    .caused_by(detail)
}

impl Auth {
    /// The issuer's discovery document, read again after [`DISCOVERY_TTL`].
    async fn discovery(&self, google: &GoogleClient) -> Result<oidc::Discovery, ApiError> {
        if let Some(found) = self.inner.discovery.get(&google.issuer) {
            return Ok(found);
        }
        let found = oidc::discover(&self.inner.client, &google.issuer, TIMEOUT)
            .await
            .map_err(upstream)?;
        self.inner
            .discovery
            .insert(&google.issuer, found.clone(), DISCOVERY_TTL);
        Ok(found)
    }
}

/// Start a Google sign-in: the URL to send the browser to.
#[utoipa::path(post, path = "/v1/auth/{pool}/oauth/google/start", tag = "auth", operation_id = "auth.google.start",
    params(("pool" = String, Path, description = POOL)), request_body = Start,
    responses((status = 200, body = Started),
        (status = 409, description = "The pool has no Google client (`not_configured`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn start(
    State(auth): State<Auth>,
    ApiPath(pool): ApiPath<String>,
    ApiJson(body): ApiJson<Start>,
) -> ApiResult<axum::Json<Started>> {
    let pool = auth.pool(&pool)?;
    let mut p = Problems::default();
    validate::http_url(&mut p, "redirect_uri", &body.redirect_uri);
    p.finish()?;
    let google = client(&pool)?;
    let found = auth.discovery(google).await?;
    let (state, verifier, nonce) = (
        super::random_token(),
        super::random_token(),
        super::random_token(),
    );
    let challenge = oidc::pkce_challenge(&verifier);
    let pending = Pending {
        verifier,
        nonce: nonce.clone(),
        redirect_uri: body.redirect_uri.clone(),
    };
    let expires_at = now_ms() + STATE_TTL_MS;
    let data = serde_json::to_string(&pending).map_err(ApiError::internal)?;
    auth.store()
        .insert_oauth_state(&super::token_digest(&state), &pool.name, &data, expires_at)
        .await?;
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &google.client_id)
        .append_pair("redirect_uri", &body.redirect_uri)
        .append_pair("scope", "openid email profile")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let sep = if found.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    Ok(axum::Json(Started {
        authorize_url: format!("{}{sep}{query}", found.authorization_endpoint),
        state,
        expires_at: switchyard_core::time::rfc3339(expires_at),
    }))
}

/// Finish a Google sign-in with the `code` and `state` the browser came back with: the
/// token pair, and whether the user was `created` or `linked`.
#[utoipa::path(post, path = "/v1/auth/{pool}/oauth/google/callback", tag = "auth", operation_id = "auth.google.callback",
    params(("pool" = String, Path, description = POOL)), request_body = Callback,
    responses((status = 200, body = SignedIn),
        (status = 400, description = "Unknown, used or expired `state` (`invalid_state`), or a code the provider refused (`invalid_code`)", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "The `id_token` failed a check (`invalid_id_token`)", body = crate::http::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A user has this email but one side has not verified it (`email_taken`)", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn callback(
    State(auth): State<Auth>,
    ApiPath(pool): ApiPath<String>,
    ApiJson(body): ApiJson<Callback>,
) -> ApiResult<axum::Json<SignedIn>> {
    let pool = auth.pool(&pool)?;
    let google = client(&pool)?;
    let invalid_state = || {
        ApiError::bad_request(
            "invalid_state",
            "the state is unknown, used or expired; start again",
        )
    };
    let data = auth
        .store()
        .take_oauth_state(&super::token_digest(&body.state), &pool.name, now_ms())
        .await?
        .ok_or_else(invalid_state)?;
    let pending: Pending = serde_json::from_str(&data).map_err(|_| invalid_state())?;
    let found = auth.discovery(google).await?;
    let exchange = CodeExchange {
        client_id: &google.client_id,
        client_secret: &google.client_secret,
        code: &body.code,
        redirect_uri: &pending.redirect_uri,
        code_verifier: Some(&pending.verifier),
    };
    let tokens = oidc::exchange_code(
        &auth.inner.client,
        &found.token_endpoint,
        &exchange,
        TIMEOUT,
    )
    .await
    .map_err(|e| match e.error.as_deref() {
        Some("invalid_grant") => ApiError::bad_request(
            "invalid_code",
            "the provider refused the code (used, expired or for another client)",
        ),
        _ => upstream(e.detail),
    })?;
    let id_token = tokens
        .id_token
        .ok_or_else(|| upstream("the token endpoint answered no id_token".into()))?;
    let mut issuers = vec![found.issuer.clone()];
    if found.issuer == "https://accounts.google.com" {
        issuers.push("accounts.google.com".into());
    }
    let spec = verify::Spec {
        name: format!("{}:google", pool.name),
        issuers,
        audiences: vec![google.client_id.clone()],
        authorized_parties: Vec::new(),
        algorithms: vec![
            jsonwebtoken::Algorithm::RS256,
            jsonwebtoken::Algorithm::ES256,
        ],
        keys: verify::Keys::Remote {
            jwks_url: found.jwks_uri.clone(),
        },
        token_type: None,
        roles_claims: Vec::new(),
    };
    let bad = |detail: String| ApiError::new(StatusCode::UNAUTHORIZED, "invalid_id_token", detail);
    let verified = auth
        .inner
        .verifier
        .verify_with(&spec, &id_token)
        .await
        .map_err(|r| {
            bad(format!(
                "the id_token was refused: {} ({})",
                r.reason, r.detail
            ))
        })?;
    let nonce = verified.claims.get("nonce").and_then(|n| n.as_str());
    if nonce != Some(pending.nonce.as_str()) {
        return Err(bad(
            "the id_token's nonce is not the one of this sign-in".into()
        ));
    }
    let (user, created, linked) = account(&auth, &pool, &verified).await?;
    if let Some(refused) = super::sessions::refusal(&pool, &user) {
        return Err(refused);
    }
    let tokens = auth
        .open_session(&pool, &user, body.client_ip, body.user_agent)
        .await?;
    tracing::info!(pool = %pool.name, user_id = %user.id, created, linked, "signed in with Google");
    Ok(axum::Json(SignedIn {
        tokens,
        created,
        linked,
    }))
}

/// The user of a verified Google identity: found by `sub`, linked by verified email, or
/// made. Returns `(user, created, linked)`.
async fn account(
    auth: &Auth,
    pool: &Pool,
    v: &verify::Verified,
) -> Result<(User, bool, bool), ApiError> {
    let identity = Identity {
        provider: PROVIDER,
        subject: &v.sub,
    };
    let store = auth.store();
    if let Some(id) = store.find_identity(&pool.name, identity).await? {
        let user = super::users::load(auth, &pool.name, &id).await?;
        return Ok((user, false, false));
    }
    let verified_email = v.email_verified == Some(true);
    let mut p = Problems::default();
    let email = super::users::email(&mut p, "email", v.email.as_deref().unwrap_or(""));
    if !p.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_id_token",
            "the id_token has no usable email",
        ));
    }
    if let Some(existing) = store.find_user(&pool.name, &email).await? {
        if !(verified_email && existing.email_verified) {
            return Err(email_taken());
        }
        store
            .link_identity(&pool.name, identity, &existing.id, now_ms())
            .await?;
        return Ok((existing, false, true));
    }
    let now = now_ms();
    let user = User {
        id: new_id("usr"),
        pool: pool.name.clone(),
        email,
        email_verified: verified_email,
        password_hash: None,
        roles: pool.default_roles.clone(),
        status: pool.signup_status,
        metadata: serde_json::json!({}),
        created_at: now,
        updated_at: now,
    };
    if !store.insert_user(&user, Some(identity)).await? {
        return Err(email_taken());
    }
    Ok((user, true, false))
}
