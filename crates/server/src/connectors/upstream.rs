//! The proxy's side of the upstream: sending with the connector's retries, the answer
//! passed back to the caller (or the problem that took its place), and an error inside
//! a 2xx answer read as the error it is.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use switchyard_providers::connectors::forward::{
    BeforeRetry, Forward, ForwardError, Forwarded, forward,
};

use super::catalog::Connector;
use crate::http::ApiError;

pub(super) const CACHE_HEADER: &str = "x-switchyard-cache";

/// Headers of the upstream's answer not passed back.
const DROPPED_RESPONSE: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "set-cookie",
    "x-request-id",
];

pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    pub(super) attempts: u32,
    /// `hit`, `miss` or `none`.
    pub(super) cache: &'static str,
    pub(super) error: Option<String>,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        // No type of the hub's own: the upstream's, if it gave one.
        let mut response = Response::new(axum::body::Body::from(self.body));
        *response.status_mut() = self.status;
        let out = response.headers_mut();
        for (name, value) in &self.headers {
            if !DROPPED_RESPONSE.contains(&name.as_str()) {
                out.append(name.clone(), value.clone());
            }
        }
        if self.cache != "none" {
            out.insert(
                HeaderName::from_static(CACHE_HEADER),
                HeaderValue::from_static(self.cache),
            );
        }
        response
    }
}

pub(super) struct Failure {
    pub(super) problem: ApiError,
    pub(super) attempts: u32,
    pub(super) cache: &'static str,
}

impl From<ApiError> for Failure {
    fn from(problem: ApiError) -> Self {
        Self {
            problem,
            attempts: 0,
            cache: "none",
        }
    }
}

pub(super) async fn send(
    client: &reqwest::Client,
    request: &Forward,
    connector: &Connector,
    cache: &'static str,
    before_retry: &dyn BeforeRetry,
) -> Result<Forwarded, Failure> {
    forward(
        client,
        request,
        &connector.policy,
        &connector.def.name,
        before_retry,
    )
    .await
    .map_err(|e| match e {
        ForwardError::Transport {
            timed_out,
            detail,
            attempts,
        } => Failure {
            problem: if timed_out {
                ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream_timeout",
                    format!("{} did not answer in time: {detail}", connector.def.name),
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "upstream_unreachable",
                    format!("{} could not be reached: {detail}", connector.def.name),
                )
            },
            attempts,
            cache,
        },
        ForwardError::Build(detail) => Failure {
            problem: ApiError::bad_request("invalid_request", detail),
            attempts: 0,
            cache,
        },
    })
}

pub(super) fn set_secret_header(
    headers: &mut HeaderMap,
    name: &str,
    value: &str,
) -> Result<(), ApiError> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|e| ApiError::internal(format!("header {name}: {e}")))?;
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        ApiError::new(
            StatusCode::CONFLICT,
            "invalid_connection",
            format!("the connection's credential is not valid in the {name} header"),
        )
    })?;
    value.set_sensitive(true);
    headers.insert(name, value);
    Ok(())
}

/// The error a 2xx answer carries, described: `code: message`.
pub(super) fn error_in_body(
    body: &[u8],
    rule: &switchyard_providers::connectors::ErrorInBody,
) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object()?;
    let flag = object.get(&rule.field)?;
    if flag.is_null() || flag == &Value::Bool(false) {
        return None;
    }
    let text = |name: &Option<String>| {
        name.as_ref()
            .and_then(|n| object.get(n))
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
    };
    let message = text(&rule.message).unwrap_or_else(|| {
        flag.as_str()
            .map_or_else(|| flag.to_string(), str::to_string)
    });
    Some(match text(&rule.code) {
        Some(code) => format!("{code}: {message}"),
        None => message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moodle_errors_inside_a_200_are_read() {
        let rule = switchyard_providers::connectors::ErrorInBody {
            field: "exception".into(),
            message: Some("message".into()),
            code: Some("errorcode".into()),
        };
        let body = br#"{"exception":"moodle_exception","errorcode":"invalidtoken","message":"Invalid token - token not found"}"#;
        assert_eq!(
            error_in_body(body, &rule).unwrap(),
            "invalidtoken: Invalid token - token not found"
        );
        assert_eq!(error_in_body(br#"[{"id":1}]"#, &rule), None);
        assert_eq!(error_in_body(br#"{"courses":[]}"#, &rule), None);
    }
}
