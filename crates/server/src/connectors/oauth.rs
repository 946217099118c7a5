//! The OAuth 2.0 authorization-code flow of a connection: `POST
//! /v1/connections/{id}/authorize` makes a single-use state (10 minutes, its digest
//! stored with the PKCE verifier and where to return) and the provider's authorization
//! URL; `GET /oauth/callback` takes the state once, exchanges the code, seals the
//! tokens and sends the browser back to `return_to`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use switchyard_core::apikey::Scope;
use switchyard_core::connector::{Connection, ConnectionStatus};
use switchyard_core::time::{now_ms, rfc3339};
use switchyard_store::connectors::ConnectionState;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Connectors;
use super::connections::ID;
use super::tokens::{Grant, split_scopes};
use crate::auth::{random_token, token_digest};
use crate::http::{ApiError, ApiJson, ApiPath, ApiResult, Need, require};

/// How long an authorization may take, from its URL to the callback.
const STATE_TTL_MS: i64 = 10 * 60 * 1000;

pub(super) fn router() -> OpenApiRouter<Connectors> {
    OpenApiRouter::new().routes(require(Need::Write(Scope::Connectors), routes!(authorize)))
}

pub(super) fn public_router() -> OpenApiRouter<Connectors> {
    OpenApiRouter::new().routes(routes!(callback))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Authorize {
    /// Where the browser goes after the callback, with `connection` and `status` (or
    /// `error`) added to its query. Must start with one of `connectors.return_to`.
    pub(crate) return_to: Option<String>,
    /// Scopes to ask for instead of the connector's.
    pub(crate) scopes: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Authorization {
    /// Send the user's browser here.
    pub(crate) authorize_url: String,
    /// The authorization must complete before this.
    pub(crate) expires_at: String,
}

/// What the store keeps with a state's digest.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    verifier: Option<String>,
    return_to: Option<String>,
    redirect_uri: String,
    scopes: Vec<String>,
}

/// Start the OAuth flow of a connection: the URL to send the user's browser to.
#[utoipa::path(post, path = "/v1/connections/{id}/authorize", tag = "connectors", operation_id = "connections.authorize",
    params(("id" = String, Path, description = ID)),
    request_body = Authorize,
    responses((status = 200, body = Authorization)))]
async fn authorize(
    State(connectors): State<Connectors>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Authorize>,
) -> ApiResult<axum::Json<Authorization>> {
    let connection = connectors.load(&id).await?;
    let connector = connectors.connector_of(&connection)?;
    let Some(oauth) = connector.oauth() else {
        return Err(ApiError::bad_request(
            "not_oauth",
            format!(
                "the connector {} does not use OAuth 2.0",
                connector.def.name
            ),
        ));
    };
    if let Some(to) = &body.return_to {
        let allowed = &connectors.inner.config.return_to;
        if !allowed.iter().any(|prefix| to.starts_with(prefix.as_str())) {
            let why = if allowed.is_empty() {
                "connectors.return_to allows no URL".to_string()
            } else {
                format!(
                    "it must start with one of connectors.return_to ({})",
                    allowed.join(", ")
                )
            };
            return Err(ApiError::invalid_field("return_to", why));
        }
    }
    let (client_id, _, _) = connectors.oauth_client(&connection, &connector).await?;
    let scopes = body.scopes.unwrap_or_else(|| oauth.scopes.clone());
    let config = connection.config.as_object().cloned().unwrap_or_default();
    let authorization_url = config
        .get("authorization_url")
        .and_then(|v| v.as_str())
        .map_or_else(|| oauth.authorization_url.clone(), str::to_string);
    let authorization_url =
        switchyard_providers::connectors::target::fill(&authorization_url, &config)
            .map_err(|e| ApiError::invalid_field("config.authorization_url", e))?;
    let (verifier, challenge) = if oauth.pkce {
        let (v, c) = switchyard_providers::connectors::oauth::pkce_pair();
        (Some(v), Some(c))
    } else {
        (None, None)
    };
    let state = random_token();
    let redirect_uri = connectors.redirect_uri();
    let url = switchyard_providers::connectors::oauth::authorize_url(
        &authorization_url,
        &client_id,
        &redirect_uri,
        &scopes,
        &state,
        challenge.as_deref(),
        &oauth.authorization_params,
    )
    .map_err(|e| ApiError::invalid_field("config.authorization_url", e))?;
    let pending = Pending {
        verifier,
        return_to: body.return_to,
        redirect_uri,
        scopes,
    };
    let expires_at = now_ms() + STATE_TTL_MS;
    let data = serde_json::to_string(&pending).map_err(|e| ApiError::internal(e.to_string()))?;
    connectors
        .store()
        .insert_connection_state(&token_digest(&state), &id, &data, expires_at)
        .await?;
    Ok(axum::Json(Authorization {
        authorize_url: url,
        expires_at: rfc3339(expires_at),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Callback {
    /// The state of the authorization URL.
    state: Option<String>,
    /// The authorization code.
    code: Option<String>,
    /// The provider's refusal (`access_denied`…).
    error: Option<String>,
    error_description: Option<String>,
    /// Providers add more (Google: `scope`, `authuser`, `prompt`); they are ignored.
    #[serde(flatten)]
    #[param(ignore)]
    _rest: std::collections::HashMap<String, String>,
}

/// Where the provider sends the browser back: exchanges the code for tokens, seals them,
/// and redirects to the authorization's `return_to` (with `connection` and `status`, or
/// `error`), or answers JSON when there is none.
#[utoipa::path(get, path = "/oauth/callback", tag = "connectors", operation_id = "connections.oauth_callback",
    params(Callback),
    responses((status = 303, description = "Back to `return_to`"),
        (status = 200, description = "The outcome, when the authorization had no `return_to`"),
        (status = 400, description = "An unknown, used or expired state", body = crate::http::problem::Problem, content_type = "application/problem+json")))]
async fn callback(State(connectors): State<Connectors>, Query(query): Query<Callback>) -> Response {
    match complete(&connectors, query).await {
        Ok(outcome) => outcome.into_response(),
        Err(e) => e.into_response(),
    }
}

struct Outcome {
    connection: String,
    return_to: Option<String>,
    /// `None` when the connection is now `ok`.
    error: Option<(String, String)>,
}

impl IntoResponse for Outcome {
    fn into_response(self) -> Response {
        let status = if self.error.is_none() {
            "ok"
        } else {
            "needs_auth"
        };
        match self.return_to {
            Some(to) => {
                let mut pairs = vec![("connection", self.connection.as_str()), ("status", status)];
                if let Some((code, _)) = &self.error {
                    pairs.push(("error", code.as_str()));
                }
                let query: String = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish();
                let sep = if to.contains('?') { '&' } else { '?' };
                (
                    StatusCode::SEE_OTHER,
                    [
                        (LOCATION, format!("{to}{sep}{query}")),
                        (CACHE_CONTROL, "no-store".to_string()),
                    ],
                )
                    .into_response()
            }
            None => {
                let body = serde_json::json!({
                    "connection": self.connection,
                    "status": status,
                    "error": self.error.as_ref().map(|(c, _)| c),
                    "detail": self.error.as_ref().map(|(_, d)| d),
                });
                ([(CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
            }
        }
    }
}

async fn complete(connectors: &Connectors, query: Callback) -> Result<Outcome, ApiError> {
    let Some(state) = query.state.filter(|s| !s.is_empty() && s.len() <= 256) else {
        return Err(ApiError::bad_request(
            "invalid_state",
            "the callback has no state",
        ));
    };
    let now = now_ms();
    let Some((id, data)) = connectors
        .store()
        .take_connection_state(&token_digest(&state), now)
        .await?
    else {
        return Err(ApiError::bad_request(
            "invalid_state",
            "the state is unknown, used or expired: start the authorization again",
        ));
    };
    let pending: Pending =
        serde_json::from_str(&data).map_err(|e| ApiError::internal(e.to_string()))?;
    let connection = connectors.load(&id).await?;
    let outcome = |error: Option<(String, String)>| Outcome {
        connection: id.clone(),
        return_to: pending.return_to.clone(),
        error,
    };
    // The flow did not give a usable grant: `needs_auth`, with why, and back.
    let refuse = |code: &str, detail: String| {
        let (connection, outcome) = (&connection, &outcome);
        let code = code.to_string();
        async move {
            set_state(
                connectors,
                connection,
                ConnectionStatus::NeedsAuth,
                Some(&detail),
                None,
                None,
            )
            .await?;
            Ok(outcome(Some((code, detail))))
        }
    };
    if let Some(error) = query.error {
        let detail = query.error_description.unwrap_or_else(|| error.clone());
        let detail = format!("the authorization was refused: {detail}");
        return refuse(&clip(&error), detail).await;
    }
    let Some(code) = query.code.filter(|c| !c.is_empty()) else {
        return Err(ApiError::bad_request(
            "invalid_callback",
            "the callback has neither code nor error",
        ));
    };
    let connector = connectors.connector_of(&connection)?;
    let oauth = connector.oauth().cloned().ok_or_else(|| {
        ApiError::bad_request("not_oauth", "the connector does not use OAuth 2.0")
    })?;
    let (client_id, client_secret, token_url) =
        connectors.oauth_client(&connection, &connector).await?;
    let exchange = switchyard_providers::auth::oidc::CodeExchange {
        client_id: &client_id,
        client_secret: &client_secret,
        code: &code,
        redirect_uri: &pending.redirect_uri,
        code_verifier: pending.verifier.as_deref(),
    };
    let answer = switchyard_providers::auth::oidc::exchange_code(
        connectors.client(&connector),
        &token_url,
        &exchange,
        connector.policy.timeout,
    )
    .await;
    let answer = match answer {
        Ok(a) => a,
        Err(e) => {
            let detail = format!("exchanging the code failed: {}", e.detail);
            let code = e.error.unwrap_or_else(|| "exchange_failed".into());
            return refuse(&clip(&code), detail).await;
        }
    };
    let offline = oauth.require_refresh_token.unwrap_or_else(|| {
        oauth
            .authorization_params
            .get("access_type")
            .is_some_and(|v| v == "offline")
            || pending.scopes.iter().any(|s| s == "offline_access")
    });
    if offline && answer.refresh_token.is_none() {
        let detail = "the provider granted no refresh token although offline access was asked for \
                      (for Google: remove the app's access at myaccount.google.com/permissions and authorize again)";
        return refuse("no_refresh_token", detail.into()).await;
    }
    let Some(grant) = Grant::from_answer(&answer, None, now_ms()) else {
        let detail = "the token endpoint answered no access_token";
        return refuse("exchange_failed", detail.into()).await;
    };
    connectors.save_grant(&id, &grant).await?;
    let scopes = answer
        .scope
        .as_deref()
        .map_or_else(|| pending.scopes.clone(), split_scopes);
    set_state(
        connectors,
        &connection,
        ConnectionStatus::Ok,
        None,
        Some(&scopes),
        Some(grant.expires_at),
    )
    .await?;
    connectors.forget(&id);
    tracing::info!(connection_id = %id, connector = %connection.connector, "connection authorized");
    Ok(outcome(None))
}

async fn set_state(
    connectors: &Connectors,
    connection: &Connection,
    status: ConnectionStatus,
    last_error: Option<&str>,
    scopes: Option<&[String]>,
    expires_at: Option<Option<i64>>,
) -> Result<(), ApiError> {
    let state = ConnectionState {
        status,
        scopes,
        expires_at,
        last_error,
        now: now_ms(),
    };
    connectors
        .store()
        .set_connection_state(&connection.id, &state)
        .await?;
    Ok(())
}

/// A provider's error code, short and printable, for a query string.
fn clip(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}
