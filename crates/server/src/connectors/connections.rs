//! `/v1/connections`: create, find, read, change and delete connections. Credentials
//! (API keys, secret settings, an OAuth client of the connection's own) are sealed in
//! the vault and never shown; OAuth tokens are sealed beside them.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use switchyard_core::apikey::Scope;
use switchyard_core::connector::{Connection, ConnectionStatus};
use switchyard_core::new_id;
use switchyard_core::time::{now_ms, rfc3339};
use switchyard_store::connectors::ConnectionFilter;
use switchyard_store::vault::ids;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Connectors;
use super::catalog::Connector;
use crate::http::{
    ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, Cursor, List, Need, PageQuery, require,
};
use crate::runtime::guard;

pub(super) fn router() -> OpenApiRouter<Connectors> {
    OpenApiRouter::new()
        .routes(require(Need::Write(Scope::Connectors), routes!(create)))
        .routes(require(Need::Read(Scope::Connectors), routes!(list)))
        .routes(require(Need::Read(Scope::Connectors), routes!(get)))
        .routes(require(Need::Write(Scope::Connectors), routes!(update)))
        .routes(require(Need::Write(Scope::Connectors), routes!(delete)))
}

pub(super) const ID: &str = "A connection id, `conn_…`";
const MAX_TEXT: usize = 256;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewConnection {
    /// A connector's name (`google-calendar`, `printify`, `moodle`, `ttn`, `open-meteo`,
    /// `nominatim`, or one of `[[connectors]]`).
    pub(crate) connector: String,
    pub(crate) name: Option<String>,
    /// The application's user the connection belongs to.
    pub(crate) external_id: Option<String>,
    /// The connector's non-secret settings (`site`, `cluster`, `user_agent`…), and
    /// overrides of `base_url`, `authorization_url` and `token_url`.
    #[schema(value_type = Option<Object>)]
    pub(crate) config: Option<Map<String, Value>>,
    /// Secrets: the API key or token the connector names, secret settings, or an OAuth
    /// client of the connection's own (`client_id`, `client_secret`). Sealed, never
    /// shown.
    #[schema(value_type = Option<Object>)]
    pub(crate) credentials: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConnectionChange {
    pub(crate) name: Option<String>,
    pub(crate) external_id: Option<String>,
    /// Replaces every setting.
    #[schema(value_type = Option<Object>)]
    pub(crate) config: Option<Map<String, Value>>,
    /// Replaces every credential.
    #[schema(value_type = Option<Object>)]
    pub(crate) credentials: Option<Map<String, Value>>,
}

/// A connection, without any secret.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConnectionView {
    pub(crate) id: String,
    pub(crate) connector: String,
    pub(crate) name: Option<String>,
    pub(crate) external_id: Option<String>,
    #[schema(value_type = Object)]
    pub(crate) config: Value,
    /// `ok`, `needs_auth` (an OAuth connection not authorized, or whose grant was
    /// refused) or `error` (the last refresh failed otherwise).
    #[schema(value_type = ConnectionStatus)]
    pub(crate) status: String,
    /// The scopes granted (OAuth).
    pub(crate) scopes: Vec<String>,
    /// When the access token expires (OAuth).
    pub(crate) expires_at: Option<String>,
    pub(crate) last_error: Option<String>,
    /// The names of the credentials held (never their values).
    pub(crate) credentials: Vec<String>,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

pub(super) fn view(c: &Connection, credentials: Vec<String>) -> ConnectionView {
    ConnectionView {
        id: c.id.clone(),
        connector: c.connector.clone(),
        name: c.name.clone(),
        external_id: c.external_id.clone(),
        config: c.config.clone(),
        status: c.status.as_str().to_string(),
        scopes: c.scopes.clone(),
        expires_at: c.expires_at.map(rfc3339),
        last_error: c.last_error.clone(),
        credentials,
        created_at: rfc3339(c.created_at),
        updated_at: rfc3339(c.updated_at),
    }
}

fn text(field: &str, value: &Option<String>) -> Result<(), ApiError> {
    match value {
        Some(v)
            if v.is_empty() || v.chars().count() > MAX_TEXT || v.chars().any(char::is_control) =>
        {
            Err(ApiError::invalid_field(
                field,
                format!("1 to {MAX_TEXT} characters, no control characters"),
            ))
        }
        _ => Ok(()),
    }
}

impl Connectors {
    fn connector(&self, name: &str) -> Result<&std::sync::Arc<Connector>, ApiError> {
        self.inner.catalog.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.inner.catalog.names().collect();
            ApiError::invalid_field(
                "connector",
                format!(
                    "no connector {name:?}; the connectors are {}",
                    known.join(", ")
                ),
            )
        })
    }

    /// Checks settings and credentials against the connector, and the destinations
    /// against the private-network guard (addresses written out; names are checked
    /// when they are resolved for a call).
    async fn check(
        &self,
        connector: &Connector,
        config: &Map<String, Value>,
        credentials: &Map<String, Value>,
    ) -> Result<(), ApiError> {
        connector
            .def
            .check_connection(config, credentials)
            .map_err(|e| match e.split_once(' ') {
                Some((field, _))
                    if field.starts_with("config.") || field.starts_with("credentials.") =>
                {
                    ApiError::invalid_field(field, e.clone())
                }
                _ => ApiError::invalid_field("config", e),
            })?;
        let base = switchyard_providers::connectors::target::base_url(&connector.def, config)
            .map_err(|e| ApiError::invalid_field("config", e))?;
        let url = reqwest::Url::parse(&base).map_err(|e| {
            ApiError::invalid_field("config.base_url", format!("{base:?} is not a URL: {e}"))
        })?;
        let allow = self.allow(connector);
        let refuse = |e: guard::GuardError| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string())
        };
        guard::check_literal(&url, allow).map_err(refuse)?;
        // Overridden OAuth endpoints pass the same guard as the API.
        for field in ["authorization_url", "token_url"] {
            let Some(value) = config.get(field).and_then(Value::as_str) else {
                continue;
            };
            let url = reqwest::Url::parse(value)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        &format!("config.{field}"),
                        format!("{value:?} is not an http(s) URL"),
                    )
                })?;
            guard::check_literal(&url, allow).map_err(refuse)?;
        }
        Ok(())
    }

    async fn credential_names(&self, id: &str) -> Result<Vec<String>, ApiError> {
        Ok(self.credentials(id).await?.keys().cloned().collect())
    }

    /// The connection's sealed credentials (an empty object when it has none).
    pub(super) async fn credentials(&self, id: &str) -> Result<Map<String, Value>, ApiError> {
        let Some(sealed) = self
            .inner
            .vault
            .get(&ids::connection_credentials(id))
            .await
            .map_err(ApiError::internal)?
        else {
            return Ok(Map::new());
        };
        serde_json::from_slice(sealed.expose()).map_err(|e| ApiError::internal(e.to_string()))
    }

    async fn seal_credentials(
        &self,
        id: &str,
        credentials: &Map<String, Value>,
    ) -> Result<(), ApiError> {
        let bytes =
            serde_json::to_vec(credentials).map_err(|e| ApiError::internal(e.to_string()))?;
        self.inner
            .vault
            .put(&ids::connection_credentials(id), &bytes)
            .await
            .map_err(ApiError::internal)
    }
}

/// Create a connection. An OAuth connection starts `needs_auth` until
/// `POST /v1/connections/{id}/authorize` and the callback complete; others start `ok`.
#[utoipa::path(post, path = "/v1/connections", tag = "connectors", operation_id = "connections.create",
    request_body = NewConnection,
    responses((status = 201, body = ConnectionView)))]
async fn create(
    State(connectors): State<Connectors>,
    ApiJson(body): ApiJson<NewConnection>,
) -> ApiResult<(StatusCode, axum::Json<ConnectionView>)> {
    text("name", &body.name)?;
    text("external_id", &body.external_id)?;
    let connector = connectors.connector(&body.connector)?.clone();
    let config = connector.def.with_defaults(body.config.unwrap_or_default());
    let credentials = body.credentials.unwrap_or_default();
    connectors.check(&connector, &config, &credentials).await?;
    let now = now_ms();
    let status = if connector.oauth().is_some() {
        ConnectionStatus::NeedsAuth
    } else {
        ConnectionStatus::Ok
    };
    let connection = Connection {
        id: new_id("conn"),
        connector: body.connector,
        name: body.name,
        external_id: body.external_id,
        config: Value::Object(config),
        status,
        scopes: Vec::new(),
        expires_at: None,
        last_error: None,
        created_at: now,
        updated_at: now,
    };
    if !credentials.is_empty() {
        connectors
            .seal_credentials(&connection.id, &credentials)
            .await?;
    }
    connectors.store().insert_connection(&connection).await?;
    let names = credentials.keys().cloned().collect();
    Ok((StatusCode::CREATED, axum::Json(view(&connection, names))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only connections of this connector.
    connector: Option<String>,
    /// Only connections of this user of the application.
    external_id: Option<String>,
    /// Items per page (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// List connections, newest first, by connector and by the application's user.
#[utoipa::path(get, path = "/v1/connections", tag = "connectors", operation_id = "connections.list",
    params(ListQuery),
    responses((status = 200, body = inline(List<ConnectionView>))))]
async fn list(
    State(connectors): State<Connectors>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<axum::Json<List<ConnectionView>>> {
    let (limit, page) = PageQuery::new(query.limit, query.cursor).page(Cursor::Id("conn"))?;
    let filter = ConnectionFilter {
        connector: query.connector,
        external_id: query.external_id,
    };
    let found = connectors.store().list_connections(&filter, &page).await?;
    let mut views = Vec::with_capacity(found.len());
    for c in &found {
        views.push(view(c, connectors.credential_names(&c.id).await?));
    }
    Ok(axum::Json(List::from_overfetch(
        views,
        limit,
        |v: &ConnectionView| v.id.clone(),
    )))
}

/// Fetch a connection (without any secret).
#[utoipa::path(get, path = "/v1/connections/{id}", tag = "connectors", operation_id = "connections.get",
    params(("id" = String, Path, description = ID)),
    responses((status = 200, body = ConnectionView)))]
async fn get(
    State(connectors): State<Connectors>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<axum::Json<ConnectionView>> {
    let connection = connectors.load(&id).await?;
    let names = connectors.credential_names(&id).await?;
    Ok(axum::Json(view(&connection, names)))
}

/// Change a connection's name, user, settings or credentials. New credentials of an
/// API-key connection make it `ok` again.
#[utoipa::path(patch, path = "/v1/connections/{id}", tag = "connectors", operation_id = "connections.update",
    params(("id" = String, Path, description = ID)),
    request_body = ConnectionChange,
    responses((status = 200, body = ConnectionView)))]
async fn update(
    State(connectors): State<Connectors>,
    ApiPath(id): ApiPath<String>,
    ApiJson(change): ApiJson<ConnectionChange>,
) -> ApiResult<axum::Json<ConnectionView>> {
    text("name", &change.name)?;
    text("external_id", &change.external_id)?;
    let mut connection = connectors.load(&id).await?;
    let connector = connectors.connector(&connection.connector)?.clone();
    let config = match change.config {
        Some(c) => connector.def.with_defaults(c),
        None => connection.config.as_object().cloned().unwrap_or_default(),
    };
    let new_credentials = change.credentials.is_some();
    let credentials = match change.credentials {
        Some(c) => c,
        None => connectors.credentials(&id).await?,
    };
    connectors.check(&connector, &config, &credentials).await?;
    if let Some(name) = change.name {
        connection.name = Some(name);
    }
    if let Some(external_id) = change.external_id {
        connection.external_id = Some(external_id);
    }
    connection.config = Value::Object(config);
    if new_credentials && connector.oauth().is_none() {
        connection.status = ConnectionStatus::Ok;
        connection.last_error = None;
    }
    connection.updated_at = now_ms();
    if new_credentials {
        connectors.seal_credentials(&id, &credentials).await?;
    }
    if !connectors.store().update_connection(&connection).await? {
        return Err(ApiError::not_found("connection", &id));
    }
    connectors.forget(&id);
    Ok(axum::Json(view(
        &connection,
        credentials.keys().cloned().collect(),
    )))
}

/// Delete a connection with its credentials, tokens and call log.
#[utoipa::path(delete, path = "/v1/connections/{id}", tag = "connectors", operation_id = "connections.delete",
    params(("id" = String, Path, description = ID)),
    responses((status = 204, description = "Deleted")))]
async fn delete(
    State(connectors): State<Connectors>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    connectors.load(&id).await?;
    if !connectors.store().delete_connection(&id).await? {
        return Err(ApiError::not_found("connection", &id));
    }
    for secret in [
        ids::connection_credentials(&id),
        ids::connection_tokens(&id),
    ] {
        connectors
            .inner
            .vault
            .delete(&secret)
            .await
            .map_err(ApiError::internal)?;
    }
    connectors.forget(&id);
    Ok(StatusCode::NO_CONTENT)
}
