//! The pools' public documents, without a key: `GET /auth/{pool}/.well-known/jwks.json`
//! and `…/openid-configuration`, so that off-the-shelf JWT and OIDC libraries verify
//! the hub's tokens with no hub-specific code.

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Auth;
use super::users::POOL;
use crate::http::{ApiPath, ApiResult};

pub(super) fn router() -> OpenApiRouter<Auth> {
    OpenApiRouter::new()
        .routes(routes!(jwks))
        .routes(routes!(openid_configuration))
}

/// Short enough that a rotated key is seen well before tokens signed with it arrive
/// in numbers; libraries also refetch on an unknown `kid`.
const CACHE: &str = "public, max-age=300";

fn cached(body: serde_json::Value) -> Response {
    let mut response = axum::Json(body).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static(CACHE));
    response
}

/// The pool's public signing keys (ES256), the previous ones while tokens they signed
/// are still valid.
#[utoipa::path(get, path = "/auth/{pool}/.well-known/jwks.json", tag = "auth", operation_id = "auth.jwks",
    params(("pool" = String, Path, description = POOL)),
    responses((status = 200, description = "A JWKS (RFC 7517), with `Cache-Control`", body = Object)))]
async fn jwks(State(auth): State<Auth>, ApiPath(pool): ApiPath<String>) -> ApiResult<Response> {
    let pool = auth.pool(&pool)?;
    Ok(cached(pool.keys.jwks().await))
}

/// The pool's OpenID Provider metadata: its issuer and where its keys are.
#[utoipa::path(get, path = "/auth/{pool}/.well-known/openid-configuration", tag = "auth", operation_id = "auth.openid_configuration",
    params(("pool" = String, Path, description = POOL)),
    responses((status = 200, description = "OpenID Provider metadata, with `Cache-Control`", body = Object)))]
async fn openid_configuration(
    State(auth): State<Auth>,
    ApiPath(pool): ApiPath<String>,
) -> ApiResult<Response> {
    let pool = auth.pool(&pool)?;
    let issuer = pool.issuer();
    Ok(cached(serde_json::json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": [],
        "response_types_supported": [],
        "subject_types_supported": ["public"],
        "claims_supported": ["iss", "aud", "sub", "sid", "iat", "exp", "roles", "email", "email_verified", "status"],
    })))
}
