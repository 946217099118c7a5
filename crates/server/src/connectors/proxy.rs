//! `ANY /v1/proxy/{connection}/{*path}`: the path (and query) extend the connector's
//! base URL and nothing else; the caller's `Authorization`, `Cookie` and hop-by-hop
//! headers are dropped and the connection's credentials put in; the destination passes
//! the private-network guard. Then a cached answer of a GET, or a slot under every rate
//! limit that applies (through the store, so every node shares it; a short wait, else
//! 429 with `Retry-After`), the call with retries, an error inside a 2xx answer turned
//! into the error it is, and one line in the call log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use switchyard_core::Secret;
use switchyard_core::apikey::Scope;
use switchyard_core::connector::{Call, Connection, ConnectionStatus};
use switchyard_core::time::now_ms;
use switchyard_providers::connectors::forward::{BeforeRetry, Forward, Forwarded};
use switchyard_providers::connectors::{AuthDef, target};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Connectors;
use super::catalog::Connector;
use super::connections::ID;
use super::pacing::wait_for_slots;
use super::upstream::{Answer, Failure, error_in_body, send, set_secret_header};
use crate::http::{ApiError, ApiPath, Need, require};
use crate::runtime::guard;
use crate::runtime::ttl::TtlCache;

pub(super) const PATH: &str = "/v1/proxy/{connection}/{*path}";
pub(super) const DOCUMENTED_PATH: &str = "/v1/proxy/{connection}/{path}";
const PREFIX: &str = "/v1/proxy/";
/// How long a node keeps a connection with its credentials.
const TARGET_TTL: Duration = Duration::from_secs(1);

pub(super) fn router() -> OpenApiRouter<Connectors> {
    OpenApiRouter::new().routes(require(Need::Write(Scope::Connectors), routes!(proxy)))
}

/// A connection ready to call: its row, connector, base URL and credentials.
#[derive(Debug)]
pub(super) struct Target {
    pub(super) connection: Connection,
    pub(super) connector: Arc<Connector>,
    base: String,
    credentials: Map<String, Value>,
}

/// An answer kept for GETs.
#[derive(Debug)]
struct Kept {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// This node's connections and answers.
#[derive(Debug)]
pub(super) struct Targets {
    targets: TtlCache<Arc<Target>>,
    answers: TtlCache<Arc<Kept>>,
}

impl Targets {
    pub(super) fn new(answers: usize) -> Self {
        Self {
            targets: TtlCache::new(10_000),
            answers: TtlCache::new(answers),
        }
    }

    pub(super) fn forget(&self, id: &str) {
        self.targets.remove(id);
    }
}

impl Connectors {
    /// Drops what this node keeps of a connection that changed.
    pub(super) fn forget(&self, id: &str) {
        self.inner.targets.forget(id);
        self.inner.tokens.forget(id);
    }

    pub(super) fn connector_of(&self, c: &Connection) -> Result<Arc<Connector>, ApiError> {
        self.inner
            .catalog
            .get(&c.connector)
            .cloned()
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "unknown_connector",
                    format!(
                        "the connector {} of this connection is no longer defined",
                        c.connector
                    ),
                )
            })
    }

    async fn target(&self, id: &str) -> Result<Arc<Target>, ApiError> {
        if let Some(t) = self.inner.targets.targets.get(id) {
            return Ok(t);
        }
        let connection = self.load(id).await?;
        let connector = self.connector_of(&connection)?;
        let config = connection.config.as_object().cloned().unwrap_or_default();
        let base = target::base_url(&connector.def, &config)
            .map_err(|e| ApiError::new(StatusCode::CONFLICT, "invalid_connection", e))?;
        let credentials = self.credentials(id).await?;
        let t = Arc::new(Target {
            connection,
            connector,
            base,
            credentials,
        });
        self.inner.targets.targets.insert(id, t.clone(), TARGET_TTL);
        Ok(t)
    }
}

/// Headers never forwarded upstream: hop-by-hop ones, the caller's credentials, and
/// what the hub sets itself.
const DROPPED_REQUEST: &[&str] = &[
    "authorization",
    "cookie",
    "host",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "accept-encoding",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "x-request-id",
];

/// Call the connector's API with the connection's credentials: `{*path}` (and the
/// query) extend the connector's base URL. The answer is the upstream's, with
/// `X-Switchyard-Cache: hit | miss` on cacheable GETs; the hub's own problems are 429
/// (a rate limit's wait is too long, with `Retry-After`), 409 (`connection_needs_auth`),
/// 400 (`invalid_path`), 422 (`private_destination`) and 502/504 (the upstream could not
/// be reached, or answered an error inside a 2xx answer: `upstream_error`).
#[utoipa::path(method(get, post, put, patch, delete), path = "/v1/proxy/{connection}/{*path}", tag = "connectors", operation_id = "connections.proxy",
    params(("connection" = String, Path, description = ID),
        ("path" = String, Path, description = "The path under the connector's base URL; the query string is forwarded as given")),
    request_body(content = Vec<u8>, description = "Forwarded as given", content_type = "application/octet-stream"),
    responses((status = 200, description = "The upstream's answer, whatever its status")))]
async fn proxy(
    State(connectors): State<Connectors>,
    ApiPath((id, _path)): ApiPath<(String, String)>,
    OriginalUri(uri): OriginalUri,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let limit = connectors.inner.config.max_body.0;
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        let detail = format!(
            "the request body is larger than connectors.max_body ({limit} bytes) or was cut off"
        );
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", detail)
            .into_response();
    };
    let target = match connectors.target(&id).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let path = raw_path(uri.path(), &id);
    let query = uri.query();
    let logged = target::redact(
        &match query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        },
        &target.connector.def.redact_query,
    );
    let mut record = Record {
        connectors: &connectors,
        target: &target,
        method: &method,
        path: logged,
        started,
    };
    match call(&connectors, &target, &method, &headers, path, query, body).await {
        Ok(answer) => {
            record.done(
                Some(answer.status.as_u16()),
                answer.attempts,
                answer.cache,
                answer.body.len(),
                answer.error.clone(),
                None,
            );
            answer.into_response()
        }
        Err(failure) => {
            let (status, error) = (failure.problem.status, failure.problem.detail.clone());
            record.done(
                Some(status.as_u16()),
                failure.attempts,
                failure.cache,
                0,
                Some(error),
                Some(failure.problem.code),
            );
            failure.problem.into_response()
        }
    }
}

/// Takes a slot under the rate limits before each retry.
struct Pacer<'a> {
    connectors: &'a Connectors,
    target: &'a Target,
    path: &'a str,
}

impl BeforeRetry for Pacer<'_> {
    fn before_retry(&self) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(async move {
            wait_for_slots(self.connectors, self.target, self.path)
                .await
                .is_ok()
        })
    }
}

/// The path after `/v1/proxy/{connection}`, still percent-encoded as the caller sent it.
fn raw_path<'a>(full: &'a str, id: &str) -> &'a str {
    full.strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_prefix(id))
        .unwrap_or("/")
}

struct Record<'a> {
    connectors: &'a Connectors,
    target: &'a Target,
    method: &'a Method,
    path: String,
    started: Instant,
}

impl Record<'_> {
    fn done(
        &mut self,
        status: Option<u16>,
        attempts: u32,
        cache: &'static str,
        bytes: usize,
        error: Option<String>,
        code: Option<&'static str>,
    ) {
        let elapsed = self.started.elapsed();
        let connector = self.target.connection.connector.as_str();
        let outcome = match (cache, status) {
            ("hit", _) => "cache_hit",
            _ if code == Some("upstream_error") => "upstream_error",
            (_, Some(429)) if attempts == 0 => "rate_limited",
            (_, Some(s)) if attempts == 0 && s >= 400 => "refused",
            (_, Some(s)) if s < 300 => "2xx",
            (_, Some(s)) if s < 400 => "3xx",
            (_, Some(s)) if s < 500 => "4xx",
            (_, Some(s)) if error.is_some() && (s == 502 || s == 504) => "unreachable",
            _ => "5xx",
        };
        let metrics = &self.connectors.inner.metrics;
        metrics.connector_calls.inc(&[connector, outcome]);
        metrics
            .connector_duration
            .observe(&[connector], elapsed.as_secs_f64());
        self.connectors.inner.log.push(Call {
            id: switchyard_core::new_id("call"),
            connection_id: self.target.connection.id.clone(),
            connector: connector.to_string(),
            method: self.method.as_str().to_string(),
            path: std::mem::take(&mut self.path),
            status,
            attempts,
            cache: cache.to_string(),
            duration_ms: i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX),
            bytes: i64::try_from(bytes).unwrap_or(i64::MAX),
            error,
            at: now_ms(),
        });
    }
}

async fn call(
    connectors: &Connectors,
    target: &Target,
    method: &Method,
    caller: &HeaderMap,
    path: &str,
    query: Option<&str>,
    body: Bytes,
) -> Result<Answer, Failure> {
    let connector = &target.connector;
    let def = &connector.def;
    if def.auth != AuthDef::None
        && matches!(def.auth, AuthDef::Oauth2(_))
        && target.connection.status == ConnectionStatus::NeedsAuth
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "connection_needs_auth",
            target.connection.last_error.clone().unwrap_or_else(|| {
                "the connection is not authorized: POST /v1/connections/{id}/authorize".into()
            }),
        )
        .into());
    }
    let url = target::join(&target.base, path, query)
        .map_err(|e| ApiError::bad_request("invalid_path", e.to_string()))?;
    let mut url = reqwest::Url::parse(&url)
        .map_err(|e| ApiError::bad_request("invalid_path", format!("not a URL: {e}")))?;
    guard::check_literal(&url, connectors.allow(connector))
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string()))?;

    let cacheable = *method == Method::GET && connector.cache.is_some();
    let key = cacheable.then(|| cache_key(&target.connection.id, path, query, caller));
    if let Some(key) = &key
        && let Some(kept) = connectors.inner.targets.answers.get(key)
    {
        return Ok(Answer {
            status: kept.status,
            headers: kept.headers.clone(),
            body: kept.body.clone(),
            attempts: 0,
            cache: "hit",
            error: None,
        });
    }
    let cache = if cacheable { "miss" } else { "none" };
    let with_cache = |problem: ApiError| Failure {
        problem,
        attempts: 0,
        cache,
    };

    wait_for_slots(connectors, target, path)
        .await
        .map_err(with_cache)?;

    let config = target
        .connection
        .config
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    for (name, value) in caller {
        if !DROPPED_REQUEST.contains(&name.as_str()) && !name.as_str().starts_with("x-switchyard-")
        {
            headers.append(name.clone(), value.clone());
        }
    }
    for (name, template) in &def.headers {
        let value = target::fill(template, &config).map_err(|e| {
            with_cache(ApiError::new(StatusCode::CONFLICT, "invalid_connection", e))
        })?;
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| with_cache(ApiError::internal(format!("header {name}: {e}"))))?;
        let value = HeaderValue::from_str(&value).map_err(|_| {
            with_cache(ApiError::new(
                StatusCode::CONFLICT,
                "invalid_connection",
                format!("the value of header {name} is not valid in a header"),
            ))
        })?;
        headers.insert(name, value);
    }
    {
        let mut pairs = url.query_pairs_mut();
        for (name, template) in &def.query {
            let value = target::fill(template, &config).map_err(|e| {
                with_cache(ApiError::new(StatusCode::CONFLICT, "invalid_connection", e))
            })?;
            pairs.append_pair(name, &value);
        }
    }
    let mut secret_query: Vec<String> = def.redact_query.clone();
    let mut token: Option<Secret<String>> = None;
    match &def.auth {
        AuthDef::None => {}
        AuthDef::ApiKey {
            credential,
            header,
            format,
            query,
        } => {
            let key = target
                .credentials
                .get(credential)
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    with_cache(ApiError::new(
                        StatusCode::CONFLICT,
                        "invalid_connection",
                        format!("the connection has no credential {credential}"),
                    ))
                })?;
            if let Some(param) = query {
                url.query_pairs_mut().append_pair(param, key);
                secret_query.push(param.clone());
            }
            if let Some(header) = header {
                let value = format.as_deref().unwrap_or("{key}").replace("{key}", key);
                set_secret_header(&mut headers, header, &value).map_err(with_cache)?;
            }
        }
        AuthDef::Basic => {
            use base64::Engine as _;
            let user = target
                .credentials
                .get("username")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let password = target
                .credentials
                .get("password")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let value = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            );
            set_secret_header(&mut headers, "authorization", &value).map_err(with_cache)?;
        }
        AuthDef::Oauth2(_) => {
            let t = connectors
                .access_token(&target.connection, connector, None)
                .await
                .map_err(with_cache)?;
            set_secret_header(
                &mut headers,
                "authorization",
                &format!("Bearer {}", t.expose()),
            )
            .map_err(with_cache)?;
            token = Some(t);
        }
    }
    let client = if connectors.allow(connector).private {
        &connectors.inner.private_client
    } else {
        &connectors.inner.client
    };
    let mut request = Forward {
        method: method.clone(),
        log_url: target::redact(url.as_str(), &secret_query),
        url: url.to_string(),
        headers,
        body: body.to_vec(),
    };
    // Every attempt takes its own slot under the rate limits; no slot soon enough, and
    // the last answer is the caller's.
    let pace = Pacer {
        connectors,
        target,
        path,
    };
    let mut answer = send(client, &request, connector, cache, &pace).await?;
    if answer.status == StatusCode::UNAUTHORIZED
        && let Some(used) = &token
    {
        // Once more with a new token: the upstream may have revoked the one it had.
        let fresh = connectors
            .access_token(&target.connection, connector, Some(used.expose()))
            .await
            .map_err(with_cache)?;
        set_secret_header(
            &mut request.headers,
            "authorization",
            &format!("Bearer {}", fresh.expose()),
        )
        .map_err(with_cache)?;
        wait_for_slots(connectors, target, path)
            .await
            .map_err(with_cache)?;
        let again = send(client, &request, connector, cache, &pace).await?;
        answer = Forwarded {
            attempts: answer.attempts + again.attempts,
            ..again
        };
    }
    let attempts = answer.attempts;
    if answer.status.is_success()
        && let Some(rule) = &def.error_in_body
        && let Some(detail) = error_in_body(&answer.body, rule)
    {
        return Err(Failure {
            problem: ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                format!("{} answered an error: {detail}", def.name),
            ),
            attempts,
            cache,
        });
    }
    let body = Bytes::from(answer.body);
    if let (Some(key), Some(ttl)) = (&key, connector.cache)
        && answer.status.is_success()
        && body.len() <= connectors.inner.config.cache_max_body.0
    {
        let kept = Kept {
            status: answer.status,
            headers: answer.headers.clone(),
            body: body.clone(),
        };
        connectors
            .inner
            .targets
            .answers
            .insert(key, Arc::new(kept), ttl);
    }
    Ok(Answer {
        status: answer.status,
        headers: answer.headers,
        body,
        attempts,
        cache,
        error: None,
    })
}

/// Connection, path, the query's pairs sorted, and `Accept`.
fn cache_key(connection: &str, path: &str, query: Option<&str>, headers: &HeaderMap) -> String {
    let mut pairs: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    pairs.sort();
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let accept = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    format!("{connection}\u{1f}{path}\u{1f}{query}\u{1f}{accept}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_key_sorts_the_query_and_keeps_accept() {
        let mut h = HeaderMap::new();
        h.insert("accept", HeaderValue::from_static("application/json"));
        let a = cache_key("conn_1", "/search", Some("q=a&format=json"), &h);
        let b = cache_key("conn_1", "/search", Some("format=json&q=a"), &h);
        assert_eq!(a, b);
        assert_ne!(
            a,
            cache_key(
                "conn_1",
                "/search",
                Some("format=json&q=a"),
                &HeaderMap::new()
            )
        );
        assert_ne!(
            a,
            cache_key("conn_2", "/search", Some("format=json&q=a"), &h)
        );
    }

    #[test]
    fn the_raw_path_keeps_its_encoding() {
        assert_eq!(raw_path("/v1/proxy/conn_1/a%2Fb/c", "conn_1"), "/a%2Fb/c");
    }
}
