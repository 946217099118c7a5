//! `POST /v1/auth/verify`: checks a token from a configured issuer or one of the hub's
//! pools and answers who it names.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use switchyard_core::apikey::Scope;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{KEYS_UNAVAILABLE, Refusal, Verified, Verifier, retry_after_secs};
use crate::http::{ApiError, ApiJson, ApiResult, Need, Problems, require};

pub(super) fn router() -> OpenApiRouter<Verifier> {
    OpenApiRouter::new().routes(require(Need::Write(Scope::Auth), routes!(verify)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    /// The JWT (compact serialization), without `Bearer `.
    token: String,
    /// The name of the issuer (`[[auth.issuers]]`) or pool whose token it must be.
    /// Default: the one whose `iss` the token claims.
    issuer: Option<String>,
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        if r.reason == KEYS_UNAVAILABLE {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, KEYS_UNAVAILABLE, r.detail)
                .retry_after(retry_after_secs())
        } else {
            ApiError::new(StatusCode::UNAUTHORIZED, r.reason, r.detail)
        }
    }
}

/// Verify a token: its signature with the issuer's keys (pinned algorithms, keys only
/// from the issuer's configured source), then `typ`, `exp` and `nbf` (30 s leeway),
/// `iss`, `aud` and `azp`. The answer names the subject, email and roles, with every
/// claim.
#[utoipa::path(post, path = "/v1/auth/verify", tag = "auth", operation_id = "auth.verify",
    request_body = VerifyRequest,
    responses((status = 200, body = Verified),
        (status = 401, description = "The token is refused; `code` says why: `malformed`, `algorithm_not_allowed`, `unknown_key`, `bad_signature`, `wrong_type`, `expired`, `not_yet_valid`, `wrong_issuer`, `wrong_audience`, `wrong_party`, `unknown_issuer` (no issuer has the token's `iss`)"),
        (status = 422, description = "`issuer` names no configured issuer or pool (`validation_failed`)"),
        (status = 503, description = "The issuer's keys could not be fetched and none are cached (`keys_unavailable`, with `Retry-After`)")))]
async fn verify(
    State(verifier): State<Verifier>,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> ApiResult<Json<Verified>> {
    let mut p = Problems::default();
    if req.token.trim().is_empty() {
        p.add("token", "expected a JWT");
    }
    if let Some(name) = &req.issuer
        && !verifier.knows(name)
    {
        p.add("issuer", format!("no issuer or pool is named {name:?}"));
    }
    p.finish()?;
    let verified = verifier.verify(&req.token, req.issuer.as_deref()).await?;
    Ok(Json(verified))
}
