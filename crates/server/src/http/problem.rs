//! API errors as RFC 9457 `application/problem+json` documents. Every error carries a
//! stable machine-readable `code`; clients branch on it, never on `detail` text.
//!
//! A failure on the hub's side keeps its cause, which is logged once, with the request
//! id, when the answer is written; the client only learns that it happened.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use switchyard_store::StoreError;
use switchyard_store::batch::BatchError;
use switchyard_store::vault::SecretError;
use utoipa::ToSchema;

use super::request_id;

/// The problem document. `type` is `urn:switchyard:problem:<code>`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Problem {
    #[serde(rename = "type")]
    pub(crate) type_uri: String,
    pub(crate) title: &'static str,
    pub(crate) status: u16,
    pub(crate) detail: String,
    /// Stable machine-readable error code.
    pub(crate) code: &'static str,
    /// The request id, also sent as the `x-request-id` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) request_id: Option<String>,
    /// Per-field problems, when the body failed validation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) errors: Vec<FieldError>,
    /// When a provider is at the origin of the problem: which one, and what it said.
    #[serde(flatten)]
    pub(crate) provider: Option<ProviderProblem>,
}

/// What a provider said, when the problem is its answer (`provider_rejected`,
/// `provider_unavailable`, `not_supported`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct ProviderProblem {
    /// The provider's configured name.
    pub(crate) provider: String,
    /// For `not_supported`: the operation the provider cannot do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) operation: Option<String>,
    /// The provider's own error code (e.g. Stripe `card_declined`, PayPal `INSTRUMENT_DECLINED`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) provider_code: Option<String>,
    /// The provider's own message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) provider_message: Option<String>,
    /// The request parameter the provider named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) provider_param: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct FieldError {
    pub(crate) field: String,
    pub(crate) message: String,
}

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// An error that becomes a problem response.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) detail: String,
    pub(crate) errors: Vec<FieldError>,
    www_authenticate: bool,
    retry_after: Option<u64>,
    /// Boxed: most errors name no provider, and every `Result` carries this type.
    provider: Option<Box<ProviderProblem>>,
    /// What went wrong on the hub's side; logged, never shown.
    cause: Option<Cause>,
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            www_authenticate: false,
            retry_after: None,
            provider: None,
            cause: None,
        }
    }

    pub(crate) fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 422 with one entry per invalid field.
    pub(crate) fn invalid_fields(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            errors,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                detail,
            )
        }
    }

    pub(crate) fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::invalid_fields(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    pub(crate) fn unauthorized(detail: impl Into<String>) -> Self {
        Self {
            www_authenticate: true,
            ..Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
        }
    }

    pub(crate) fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub(crate) fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no {what} with id {id:?}"),
        )
    }

    pub(crate) fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", detail)
    }

    /// A failure on the hub's side: `cause` is logged with the request id when the
    /// answer is written; the client only learns that it happened.
    pub(crate) fn internal(cause: impl Into<Cause>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the hub failed to handle this request; it has been logged",
            )
        }
    }

    /// Something the hub depends on is unavailable for now; the client may retry.
    pub(crate) fn unavailable(detail: impl Into<String>) -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
        }
    }

    /// Adds `Retry-After` (seconds) to the answer.
    pub(crate) fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// Names the provider at the origin of the problem and what it said.
    pub(crate) fn naming_provider(mut self, provider: ProviderProblem) -> Self {
        self.provider = Some(Box::new(provider));
        self
    }

    /// Keeps `cause` to be logged with the answer.
    pub(crate) fn caused_by(mut self, cause: impl Into<Cause>) -> Self {
        self.cause = Some(cause.into());
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ApiError::conflict(format!("{what} already exists")),
            e if e.is_retryable() => {
                ApiError::unavailable("the store is temporarily unavailable; retry shortly")
                    .caused_by(e)
            }
            e => ApiError::internal(e),
        }
    }
}

/// The vault reads and writes through the store: an outage of either is answered alike.
impl From<SecretError> for ApiError {
    fn from(e: SecretError) -> Self {
        match e {
            SecretError::Store(e) => e.into(),
            e => ApiError::internal(e),
        }
    }
}

impl From<BatchError<StoreError>> for ApiError {
    fn from(e: BatchError<StoreError>) -> Self {
        if e.is_retryable() {
            ApiError::unavailable("the request could not be stored; retry shortly").caused_by(e)
        } else {
            ApiError::internal(e)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            if self.status.is_server_error() && self.status != StatusCode::SERVICE_UNAVAILABLE {
                tracing::error!(error = %cause, code = self.code, "request failed on the hub's side");
            } else {
                tracing::warn!(error = %cause, code = self.code, "request could not be served now");
            }
        }
        let body = Problem {
            type_uri: format!("urn:switchyard:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code,
            request_id: request_id::current(),
            errors: self.errors,
            provider: self.provider.map(|p| *p),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.www_authenticate {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"switchyard\""),
            );
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Collects field problems, so that one answer names every invalid field.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<FieldError>);

impl Problems {
    pub(crate) fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    pub(crate) fn extend(&mut self, errors: impl IntoIterator<Item = FieldError>) {
        self.0.extend(errors);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// 422 naming every problem, if there is any.
    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid_fields(self.0))
        }
    }

    pub(crate) fn into_errors(self) -> Vec<FieldError> {
        self.0
    }
}
